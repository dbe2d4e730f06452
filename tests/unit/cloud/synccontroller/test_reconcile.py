from __future__ import annotations

from typing import Any

import pytest

from kubeedge.cloud.synccontroller.reconcile import Action, decide

UID = "1b2c"


def pod(rv: str, uid: str = UID) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "ns", "uid": uid, "resourceVersion": rv}}


def test_gone_object_is_deleted_on_the_node() -> None:
    assert decide(UID, 7, None).action is Action.DELETE


def test_object_recreated_under_the_same_name_is_deleted_on_the_node() -> None:
    decision = decide(UID, 7, pod("9", uid="other"))
    assert decision.action is Action.DELETE
    assert "other" in decision.reason


def test_newer_live_version_is_sent_as_an_update() -> None:
    assert decide(UID, 9, pod("10")).action is Action.UPDATE  # 10 > 9 numerically


def test_equal_or_older_live_version_needs_nothing() -> None:
    assert decide(UID, 10, pod("10")).action is Action.NOTHING
    assert decide(UID, 11, pod("10")).action is Action.NOTHING


def test_never_acknowledged_sync_gets_the_object_resent() -> None:
    assert decide(UID, -1, pod("1")).action is Action.UPDATE


def test_non_integer_live_version_is_an_error() -> None:
    with pytest.raises(ValueError):
        decide(UID, 1, pod("abc"))
