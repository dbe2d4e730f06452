"""The decisions of Volcano's job controller (specs/volcano.md §1.3): pod changes into
events, policies into actions, actions into plans per phase."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.controllers.vcjob import append_condition, command_target
from kubeedge.controllers.vcjob_policy import (
    Action,
    Event,
    Kill,
    Plan,
    Request,
    apply_policies,
    exit_code,
    finished_phase,
    format_duration,
    max_retry,
    parse_duration,
    plan,
    pod_event,
    restarting_phase,
    task_failed,
)

Obj = dict[str, Any]


def _job(*, policies: list[Obj] | None = None, task_policies: list[Obj] | None = None,
         version: int = 0) -> Obj:
    return {"metadata": {"name": "j", "uid": "u1"},
            "spec": {"policies": policies or [],
                     "tasks": [{"name": "w", "replicas": 2, "policies": task_policies or []},
                               {"name": "ps", "replicas": 1}]},
            "status": {"version": version}}


def _pod(phase: str, *, task: str = "w", version: int = 0, code: int | None = None,
         restarts: int = 0, out_of_sync: bool = False) -> Obj:
    annotations = {"volcano.sh/task-spec": task, "volcano.sh/job-name": "j",
                   "volcano.sh/job-version": str(version)}
    if out_of_sync:
        annotations["volcano.sh/controller-out-of-sync"] = "true"
    status: Obj = {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}
    if code is not None:
        status["containerStatuses"] = [
            {"state": {"terminated": {"exitCode": 0}}},
            {"state": {"terminated": {"exitCode": code}}}]
    return {"metadata": {"name": f"j-{task}-0", "uid": "p1", "annotations": annotations},
            "status": status}


@pytest.mark.parametrize(("value", "seconds"), [
    ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5s", 1.5),
    ("0", 0.0), (5, 5.0), ("", None), ("ten", None), ("10", None), ("5s3", None),
])
def test_parse_duration(value: Any, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.5, 10, 90, 3600)] == ["500ms", "10s", "1m30s",
                                                                 "1h0m0s"]


def test_pod_events() -> None:
    task = {"name": "w", "replicas": 1}
    failed = pod_event(_pod("Running"), _pod("Failed", code=3), task, [])
    assert failed == Request(event=Event.POD_FAILED, task="w", pod="j-w-0", pod_uid="p1",
                             exit_code=3, job_version=0)
    assert pod_event(None, _pod("Pending"), task, []).event == Event.POD_PENDING
    assert pod_event(None, _pod("Running"), task, []).event == Event.OUT_OF_SYNC
    assert pod_event(_pod("Pending"), _pod("Running"), task, []).event == Event.POD_RUNNING
    assert pod_event(_pod("Running"), None, task, []).event == Event.POD_EVICTED
    done = _pod("Succeeded")
    assert pod_event(_pod("Running"), done, task, [done]).event == Event.TASK_COMPLETED
    assert pod_event(_pod("Running"), done, {"name": "w", "replicas": 2}, [done]).event == (
        Event.OUT_OF_SYNC)
    # Pods the controller killed say nothing the policies should act on.
    gone = pod_event(_pod("Running", out_of_sync=True), None, task, [])
    assert gone.event == Event.OUT_OF_SYNC
    assert pod_event(None, {"metadata": {"name": "x"}}, None, []) is None


def test_task_failed_counts_container_restarts() -> None:
    crashing = _pod("Running", restarts=3)
    assert task_failed({"replicas": 1}, [crashing])
    assert not task_failed({"replicas": 1, "maxRetry": 4}, [crashing])
    assert not task_failed({"replicas": 1, "maxRetry": -1}, [crashing])
    assert pod_event(_pod("Running"), crashing, {"name": "w", "replicas": 1},
                     [crashing]).event == Event.TASK_FAILED


def test_exit_code_is_the_failed_containers() -> None:
    assert exit_code(_pod("Failed", code=137)) == 137
    assert exit_code(_pod("Failed")) == 0


def test_task_policies_come_before_job_policies() -> None:
    job = _job(policies=[{"event": "PodFailed", "action": "AbortJob"}],
               task_policies=[{"event": "PodFailed", "action": "RestartTask"}])
    req = Request(event=Event.POD_FAILED, task="w", pod="j-w-0", job_version=0)
    assert apply_policies(job, req).action == Action.RESTART_TASK
    # Another task's request falls through to the job's policies.
    assert apply_policies(job, Request(event=Event.POD_FAILED, task="ps", job_version=0)
                          ).action == Action.ABORT_JOB


def test_first_matching_policy_wins_and_exit_codes_match() -> None:
    job = _job(policies=[{"exitCode": 3, "action": "TerminateJob"},
                         {"events": ["PodEvicted", "PodFailed"], "action": "RestartJob"},
                         {"event": "*", "action": "AbortJob"}])
    failed = Request(event=Event.POD_FAILED, task="w", exit_code=3, job_version=0)
    assert apply_policies(job, failed).action == Action.TERMINATE_JOB
    other = Request(event=Event.POD_FAILED, task="w", exit_code=1, job_version=0)
    assert apply_policies(job, other).action == Action.RESTART_JOB
    assert apply_policies(job, Request(event=Event.TASK_COMPLETED, task="w",
                                       job_version=0)).action == Action.ABORT_JOB


def test_requests_that_must_only_sync() -> None:
    job = _job(policies=[{"event": "*", "action": "AbortJob"}], version=2)
    # Internal events, pods of an older version, a Job of the same name with another uid.
    assert apply_policies(job, Request()).action == Action.SYNC_JOB
    assert apply_policies(job, Request(event=Event.POD_RUNNING, job_version=2)).action == (
        Action.SYNC_JOB)
    assert apply_policies(job, Request(event=Event.POD_FAILED, job_version=1)).action == (
        Action.SYNC_JOB)
    assert apply_policies(job, Request(event=Event.POD_FAILED, job_version=2,
                                       job_uid="old")).action == Action.SYNC_JOB
    assert apply_policies(job, Request(event=Event.POD_FAILED, job_version=2)).action == (
        Action.ABORT_JOB)
    # A Command's action is taken as it is.
    assert apply_policies(job, Request(event=Event.COMMAND_ISSUED, action="ResumeJob")
                          ).action == Action.RESUME_JOB


def test_pod_pending_needs_a_timeout() -> None:
    pending = Request(event=Event.POD_PENDING, task="w", job_version=0)
    assert apply_policies(_job(policies=[{"event": "PodPending", "action": "AbortJob"}]),
                          pending).action == Action.SYNC_JOB
    assert apply_policies(_job(policies=[{"event": "*", "action": "AbortJob"}]),
                          pending).action == Action.SYNC_JOB
    decision = apply_policies(
        _job(policies=[{"event": "PodPending", "action": "AbortJob", "timeout": "1m"}]),
        pending)
    assert (decision.action, decision.delay) == (Action.ABORT_JOB, 60.0)


@pytest.mark.parametrize(("phase", "action", "want"), [
    ("Running", "RestartJob", Plan(Kill.JOB, enter="Restarting", retry=True)),
    ("Pending", "RestartPod", Plan(Kill.TARGET, enter="Restarting", retry=True)),
    ("Running", "RestartTask", Plan(Kill.TARGET, enter="Restarting", retry=True)),
    ("Running", "AbortJob", Plan(Kill.JOB, soft=True, enter="Aborting")),
    ("Running", "TerminateJob", Plan(Kill.JOB, soft=True, enter="Terminating")),
    ("Running", "CompleteJob", Plan(Kill.JOB, soft=True, enter="Completing")),
    ("Running", "ResumeJob", Plan(Kill.NONE, then="Running")),
    ("Running", "SyncJob", Plan(Kill.NONE, then="Running")),
    ("Restarting", "SyncJob", Plan(Kill.NONE, then="Restarting")),
    ("Restarting", "RestartPod", Plan(Kill.TARGET, then="Restarting")),
    ("Restarting", "AbortJob", Plan(Kill.JOB, then="Restarting")),
    ("Aborted", "ResumeJob", Plan(Kill.JOB, soft=True, enter="Restarting", retry=True)),
    ("Aborting", "ResumeJob", Plan(Kill.JOB, soft=True, enter="Restarting", retry=True)),
    ("Aborting", "SyncJob", Plan(Kill.JOB, soft=True, then="Aborting")),
    ("Completing", "RestartJob", Plan(Kill.JOB, soft=True, then="Completing")),
    ("Completed", "RestartJob", Plan(Kill.JOB, soft=True)),
    ("Failed", "ResumeJob", Plan(Kill.JOB, soft=True)),
    ("", "AbortJob", Plan(Kill.JOB, soft=True, enter="Aborting")),
])
def test_plans(phase: str, action: str, want: Plan) -> None:
    assert plan(phase, action) == want


def test_restarting_and_finishing() -> None:
    assert restarting_phase(3, 3, 3, 0, 3) == "Failed"
    assert restarting_phase(1, 3, 3, 1, 3) == "Restarting"
    assert restarting_phase(1, 3, 3, 0, 3) == "Pending"
    assert restarting_phase(1, 3, 4, 1, 3) == "Pending"
    assert finished_phase("Aborting", {"running": 1}) == "Aborting"
    assert finished_phase("Aborting", {"failed": 1}) == "Aborted"
    assert finished_phase("Completing", {}) == "Completed"
    assert finished_phase("Terminating", {"terminating": 0}) == "Terminated"
    assert (max_retry(None), max_retry(0), max_retry(5)) == (3, 3, 5)


def test_command_target_and_conditions() -> None:
    cmd = {"metadata": {"namespace": "ns"}, "action": "AbortJob",
           "target": {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": "j"}}
    assert command_target(cmd) == "ns/j"
    assert command_target({**cmd, "target": {"apiVersion": "scheduling.volcano.sh/v1beta1",
                                             "kind": "Queue", "name": "q"}}) is None
    conditions = append_condition([{"status": "Pending", "lastTransitionTime": "a"},
                                   {"status": "Running", "lastTransitionTime": "b"}],
                                  "Pending", "c")
    assert [c["status"] for c in conditions] == ["Running", "Pending"]
