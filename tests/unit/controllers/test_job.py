"""The Job controller's decisions without I/O: how many pods, which indexes, how long
to back off, which failure-policy rule matches; and its timers on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.workqueue import WorkQueue
from kubeedge.controllers import job as jobs


@pytest.mark.parametrize(("spec", "succeeded", "active", "want"), [
    ({"completions": 5, "parallelism": 2}, 0, 0, 2),
    ({"completions": 5, "parallelism": 2}, 4, 1, 1),  # never more than what is missing
    ({"completions": 5, "parallelism": 2}, 5, 0, 0),
    ({"completions": 5, "parallelism": 10}, 1, 0, 4),
    ({"completions": 3, "parallelism": 0}, 0, 0, 0),
    ({"completions": None, "parallelism": 3}, 0, 0, 3),
    ({"completions": None, "parallelism": 3}, 1, 2, 2),  # work queue: no new pods
])
def test_want_active(spec: dict, succeeded: int, active: int, want: int) -> None:
    assert jobs.want_active(spec, succeeded, active) == want


def test_indexes_to_create_takes_the_lowest_free_ones() -> None:
    assert jobs.indexes_to_create(6, succeeded={0, 2}, active={1}, count=2) == [3, 4]
    assert jobs.indexes_to_create(3, succeeded={0, 1, 2}, active=set(), count=2) == []


@pytest.mark.parametrize(("indexes", "text"), [
    (set(), ""), ({0}, "0"), ({0, 1, 2}, "0-2"), ({1, 3, 4, 5, 9}, "1,3-5,9"),
])
def test_completed_indexes_round_trip(indexes: set[int], text: str) -> None:
    assert jobs.format_indexes(indexes) == text
    assert jobs.parse_indexes(text) == indexes


def test_failure_backoff_doubles_to_a_cap() -> None:
    assert [jobs.failure_backoff(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 320]
    assert jobs.failure_backoff(7) == 360
    assert jobs.failure_backoff(1000) == 360
    assert jobs.failure_backoff(3, base=0.1, maximum=0.25) == 0.25


def test_slow_start_batches() -> None:
    assert jobs.slow_start_batches(0) == []
    assert jobs.slow_start_batches(1) == [1]
    assert jobs.slow_start_batches(10) == [1, 2, 4, 3]


def failed_pod(code: int, container: str = "main", conditions: list | None = None) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns"}, "status": {
        "phase": "Failed", "conditions": conditions or [],
        "containerStatuses": [{"name": container, "state": {
            "terminated": {"exitCode": code}}}]}}


POLICY = {"rules": [
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                          "values": [42]}},
    {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
]}


def test_failure_policy_first_matching_rule_wins() -> None:
    match = jobs.match_failure_policy(POLICY, failed_pod(42))
    assert match is not None and match.action == "FailJob"
    assert match.message == ("Container main for pod ns/p failed with exit code 42 matching "
                             "FailJob rule at index 1")
    disrupted = failed_pod(42, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert jobs.match_failure_policy(POLICY, disrupted).action == "Ignore"


def test_failure_policy_container_name_and_not_in() -> None:
    # 42 in another container does not match the FailJob rule, but NotIn [1, 2] counts.
    assert jobs.match_failure_policy(POLICY, failed_pod(42, container="side")).action == "Count"
    assert jobs.match_failure_policy(POLICY, failed_pod(1)) is None
    assert jobs.match_failure_policy(None, failed_pod(1)) is None


def test_failure_policy_never_matches_exit_code_zero() -> None:
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "NotIn",
                                                              "values": [1]}}]}
    assert jobs.match_failure_policy(policy, failed_pod(0)) is None


def test_set_job_condition_moves_transition_time_only_on_status_change() -> None:
    status: dict = {}
    assert jobs.set_job_condition(status, "Suspended", "True", "JobSuspended", "Job suspended",
                                  "t1")
    assert not jobs.set_job_condition(status, "Suspended", "True", "JobSuspended",
                                      "Job suspended", "t2")
    assert jobs.set_job_condition(status, "Suspended", "False", "JobResumed", "Job resumed",
                                  "t3")
    (cond,) = status["conditions"]
    assert cond["lastTransitionTime"] == "t3" and cond["reason"] == "JobResumed"


def test_newer_copy_prefers_the_later_resource_version() -> None:
    cached = {"metadata": {"uid": "u", "resourceVersion": "10"}}
    written = {"metadata": {"uid": "u", "resourceVersion": "12"}}
    assert jobs.newer_copy(cached, written) is written
    assert jobs.newer_copy(written, cached) is written
    other = {"metadata": {"uid": "v", "resourceVersion": "99"}}
    assert jobs.newer_copy(cached, other) is cached


def test_pod_finish_time_prefers_container_finish() -> None:
    pod = {"status": {
        "conditions": [{"type": "Ready", "lastTransitionTime": "2024-05-01T10:00:09Z"}],
        "containerStatuses": [{"state": {"terminated": {
            "finishedAt": "2024-05-01T10:00:05Z"}}}]}}
    assert jobs.pod_finish_time(pod) == datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    del pod["status"]["containerStatuses"]
    assert jobs.pod_finish_time(pod) == datetime(2024, 5, 1, 10, 0, 9, tzinfo=UTC)


async def test_expectations_hold_until_seen_or_expired() -> None:
    clock = FakeClock()
    exp = jobs.Expectations(clock, timeout=300)
    assert exp.satisfied("ns/a")
    exp.expect("ns/a", adds=2, deletes=["u1"])
    exp.created("ns/a")
    assert not exp.satisfied("ns/a")
    exp.created("ns/a")
    exp.deleted("ns/a", "u1")
    assert exp.satisfied("ns/a")
    exp.expect("ns/a", adds=1)
    await clock.advance(301)
    assert exp.satisfied("ns/a")  # the informer never showed it: stop waiting


async def test_wakeups_fire_on_the_injected_clock_earliest_first() -> None:
    clock = FakeClock(start=1_700_000_000)
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    wake = jobs.WakeUps(clock, queue)
    wake.after("ns/a", 30)
    wake.after("ns/a", 10)  # earlier wins
    wake.after("ns/a", 50)  # later is ignored
    await clock.advance(9)
    assert len(queue) == 0
    await clock.advance(1)
    assert await queue.get() == "ns/a"
    queue.done("ns/a")
    await clock.advance(100)
    assert len(queue) == 0  # fired once
    wake.after("ns/b", 5)
    wake.forget("ns/b")
    await clock.advance(10)
    assert len(queue) == 0
    await wake.stop()
