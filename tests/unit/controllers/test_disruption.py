"""The disruption controller's budget arithmetic, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.controllers.disruption import (
    ExpectedCountError,
    budget_status,
    count_healthy,
    disrupted_pods,
    disruptions_allowed,
    expected_and_desired,
    fail_safe_status,
    needs_scale,
    scaled_value,
    status_equal,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str, *, ready: bool = True, terminating: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns"}
    if terminating:
        md["deletionTimestamp"] = meta.rfc3339(NOW)
    return {"metadata": md, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_percentages_round_up_and_integers_stay() -> None:
    assert scaled_value("50%", 3, round_up=True) == 2
    assert scaled_value("50%", 3, round_up=False) == 1
    assert scaled_value(2, 10, round_up=True) == 2
    with pytest.raises(ExpectedCountError):
        scaled_value("half", 3, round_up=True)


def test_integer_min_available_counts_pods_and_needs_no_scale() -> None:
    spec = {"minAvailable": 2}
    assert not needs_scale(spec)
    assert expected_and_desired(spec, 5, None) == (5, 2)


def test_max_unavailable_and_percentages_use_the_scale() -> None:
    assert needs_scale({"maxUnavailable": 1})
    assert needs_scale({"minAvailable": "60%"})
    assert expected_and_desired({"maxUnavailable": 1}, 2, 4) == (4, 3)
    assert expected_and_desired({"maxUnavailable": "30%"}, 2, 4) == (4, 2)  # ceil(1.2)
    assert expected_and_desired({"minAvailable": "60%"}, 2, 4) == (4, 3)  # ceil(2.4)
    assert expected_and_desired({"maxUnavailable": 9}, 2, 4) == (4, 0)


def test_no_disruption_while_no_pods_are_expected() -> None:
    assert disruptions_allowed(3, 0, 0) == 0
    assert disruptions_allowed(3, 2, 3) == 1
    assert disruptions_allowed(1, 2, 3) == 0


def test_pods_being_evicted_are_not_counted_healthy_until_the_entry_expires() -> None:
    pods = [pod("a"), pod("b"), pod("c", terminating=True), pod("d", ready=False)]
    recorded = {"a": meta.rfc3339(NOW - timedelta(seconds=30)),
                "b": meta.rfc3339(NOW - timedelta(seconds=121)),
                "c": meta.rfc3339(NOW), "gone": meta.rfc3339(NOW)}
    result = disrupted_pods(pods, recorded, NOW)
    # c is terminating and "gone" no longer exists: their deletion shows in the pods.
    assert result.live == {"a": recorded["a"]}
    assert result.expired == ["b"]
    assert result.recheck_at == NOW + timedelta(seconds=90)
    assert count_healthy(pods, result.live) == 1  # only b: a is spent, c going, d not ready


def test_status_keeps_the_condition_time_while_its_status_holds() -> None:
    first = budget_status({}, generation=1, expected=3, desired_healthy=2, current_healthy=3,
                          disrupted={}, now=NOW)
    assert first["disruptionsAllowed"] == 1
    assert "disruptedPods" not in first
    [cond] = first["conditions"]
    assert (cond["status"], cond["reason"], cond["observedGeneration"]) == (
        "True", "SufficientPods", 1)
    later = NOW + timedelta(minutes=5)
    again = budget_status(first, generation=1, expected=3, desired_healthy=2,
                          current_healthy=3, disrupted={}, now=later)
    assert status_equal(first, again)
    flipped = budget_status(first, generation=1, expected=3, desired_healthy=2,
                            current_healthy=2, disrupted={}, now=later)
    [cond] = flipped["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
    assert cond["lastTransitionTime"] == meta.rfc3339(later)


def test_an_empty_disrupted_pods_map_is_no_map() -> None:
    base = {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 0,
            "desiredHealthy": 0, "expectedPods": 0}
    assert status_equal({**base, "disruptedPods": {}}, base)
    assert not status_equal({**base, "disruptedPods": {"a": "t"}}, base)


def test_fail_safe_allows_nothing_and_says_why() -> None:
    old = budget_status({}, generation=2, expected=3, desired_healthy=2, current_healthy=3,
                        disrupted={}, now=NOW)
    safe = fail_safe_status(old, 'found no controllers for pod "x"', NOW)
    assert safe["disruptionsAllowed"] == 0
    [cond] = safe["conditions"]
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "SyncFailed", 'found no controllers for pod "x"')
    assert status_equal(safe, fail_safe_status(safe, 'found no controllers for pod "x"', NOW))
