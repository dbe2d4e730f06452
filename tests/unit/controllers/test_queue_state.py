"""The queue controller's decisions: state machine, Command actions, PodGroup counts
(specs/volcano.md §1.2)."""

from __future__ import annotations

import pytest

from kubeedge.controllers.queue import (
    QueueState,
    apply_actions,
    count_podgroups,
    next_state,
    podgroup_queue,
    queue_command_target,
)


@pytest.mark.parametrize(("state", "has_podgroups", "want"), [
    ("", False, QueueState.OPEN),
    ("Open", True, QueueState.OPEN),
    ("Closed", True, QueueState.CLOSING),
    ("Closed", False, QueueState.CLOSED),
    ("Closing", True, QueueState.CLOSING),
    ("Closing", False, QueueState.CLOSED),
    ("Unknown", False, QueueState.UNKNOWN),
])
def test_next_state(state: str, has_podgroups: bool, want: QueueState) -> None:
    assert next_state(state, has_podgroups) == want


def test_the_last_command_wins() -> None:
    assert apply_actions("Open", ["CloseQueue"]) == "Closed"
    assert apply_actions("Closing", ["OpenQueue"]) == "Open"
    assert apply_actions("Open", ["CloseQueue", "OpenQueue"]) == "Open"
    assert apply_actions("Closed", ["AbortJob"]) == "Closed"
    assert apply_actions("Open", []) == "Open"


def test_count_podgroups_by_phase() -> None:
    pgs = [{"status": {"phase": p}} for p in
           ("Pending", "Running", "Running", "Inqueue", "Completed", "Unknown", "Weird")]
    pgs.append({})
    assert count_podgroups(pgs) == {"pending": 2, "running": 2, "inqueue": 1,
                                    "completed": 1, "unknown": 1}


def test_podgroup_queue_defaults_to_default() -> None:
    assert podgroup_queue({"spec": {}}) == "default"
    assert podgroup_queue({"spec": {"queue": "q1"}}) == "q1"


def test_only_queue_commands_have_a_target_queue() -> None:
    queue = {"target": {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                        "name": "q1", "uid": "u"}}
    job = {"target": {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
                      "name": "j", "uid": "u"}}
    other_queue = {"target": {"apiVersion": "example.com/v1", "kind": "Queue", "name": "x"}}
    assert queue_command_target(queue) == "q1"
    assert queue_command_target(job) is None
    assert queue_command_target(other_queue) is None
    assert queue_command_target({}) is None
