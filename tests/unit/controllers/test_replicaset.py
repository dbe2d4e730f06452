"""ReplicaSet decisions without a server: expectations, slow-start batches, status, and
what a refused create leaves behind (an in-process fake client, unit tests only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIError
from kubeedge.controllers.replicaset import (
    Expectations,
    ReplicaSetController,
    calculate_status,
    next_availability,
    slow_start_batch,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str, ready_since: datetime | None = None, **labels: str) -> dict:
    status: dict = {"phase": "Running" if ready_since else "Pending"}
    if ready_since:
        status["conditions"] = [{"type": "Ready", "status": "True",
                                 "lastTransitionTime": meta.rfc3339(ready_since)}]
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels or {"app": "web"}},
            "status": status}


def replica_set(replicas: int = 3, min_ready: int = 0) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": 2,
                         "resourceVersion": "7"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "f"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_expectations_block_until_every_create_is_seen() -> None:
    clock = FakeClock()
    exp = Expectations(clock, timeout=300)
    assert exp.satisfied("ns/web")  # nothing asked yet
    exp.expect_creations("ns/web", 2)
    assert not exp.satisfied("ns/web")
    exp.creation_observed("ns/web")
    assert not exp.satisfied("ns/web")
    exp.creation_observed("ns/web")
    assert exp.satisfied("ns/web")


def test_deletions_are_tracked_by_pod_so_a_repeat_counts_once() -> None:
    exp = Expectations(FakeClock())
    exp.expect_deletions("ns/web", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/web", "ns/a")
    exp.deletion_observed("ns/web", "ns/a")
    assert not exp.satisfied("ns/web")
    exp.deletion_observed("ns/web", "ns/b")
    assert exp.satisfied("ns/web")


async def test_expectations_expire() -> None:
    clock = FakeClock()
    exp = Expectations(clock, timeout=300)
    exp.expect_creations("ns/web", 5)
    await clock.advance(299)
    assert not exp.satisfied("ns/web")
    await clock.advance(2)
    assert exp.satisfied("ns/web")


async def test_slow_start_doubles_batches_and_stops_at_a_failure() -> None:
    calls = 0

    async def ok() -> None:
        nonlocal calls
        calls += 1

    assert await slow_start_batch(10, 1, ok) == (10, None)
    assert calls == 10

    calls = 0

    async def fails_from_the_third() -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            raise RuntimeError("quota")

    done, error = await slow_start_batch(10, 1, fails_from_the_third)
    # Batches of 1 and 2: the second batch holds the first failure, nothing more is sent.
    assert calls == 3 and done == 2 and isinstance(error, RuntimeError)


def test_status_counts_labels_readiness_and_availability() -> None:
    rs = replica_set(3, min_ready=10)
    pods = [pod("a", NOW - timedelta(seconds=30), app="web", tier="f"),
            pod("b", NOW - timedelta(seconds=3), app="web", tier="f"),
            pod("c", None, app="web")]
    status = calculate_status(rs, pods, None, NOW)
    assert (status["replicas"], status["fullyLabeledReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (3, 2, 2, 1)
    assert "conditions" not in status
    assert next_availability(pods, 10, NOW) == 7


def test_replica_failure_condition_comes_and_goes() -> None:
    rs = replica_set(3)
    error = APIError({"code": 403, "reason": "Forbidden",
                      "message": 'pods "web-" is forbidden: exceeded quota'})
    status = calculate_status(rs, [], error, NOW)
    [cond] = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True",
                                                              "FailedCreate")
    assert cond["message"] == 'pods "web-" is forbidden: exceeded quota'
    rs["status"] = status
    assert "conditions" not in calculate_status(rs, [], None, NOW)


class FakeClient:
    """Refuses every pod create as a quota would; records status writes."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.creates = 0
        self.statuses: list[dict] = []

    async def create(self, ref: Any, obj: dict, namespace: str | None = None) -> dict:
        self.creates += 1
        raise APIError({"code": 403, "reason": "Forbidden",
                        "message": 'pods "web-" is forbidden: exceeded quota: q'})

    async def update_status(self, ref: Any, obj: dict) -> dict:
        self.statuses.append(obj["status"])
        return obj


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))


async def test_refused_create_is_reported_once_per_sync() -> None:
    client, recorder = FakeClient(), FakeRecorder()
    controller = ReplicaSetController(client, recorder=recorder)  # type: ignore[arg-type]
    controller.setup()
    controller.replicasets.store.put(replica_set(5))
    try:
        await controller.reconcile("ns/web")
    except APIError as exc:
        assert exc.is_forbidden
    else:
        raise AssertionError("the refused create must fail the sync (it is retried)")
    # Slow start: one create tried, not five.
    assert client.creates == 1
    assert recorder.events == [
        ("Warning", "FailedCreate", 'Error creating: pods "web-" is forbidden: exceeded quota: q')]
    [status] = client.statuses
    assert status["replicas"] == 0 and status["observedGeneration"] == 2
    assert status["conditions"][0]["reason"] == "FailedCreate"
    # The create that was refused is not waited for.
    assert controller.expectations.satisfied("ns/web")
