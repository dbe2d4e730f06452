"""The decisions of Volcano's job controller (specs/volcano.md §1.3), pure: which event a
pod change is, which action a Job's lifecycle policies pick for it, and what each
action does in each Job phase.

Volcano's controller is event driven: every pod, PodGroup, Job and Command change is a
request carrying an event (`PodFailed`, `TaskCompleted` ...) or an action (from a
Command); the Job's policies turn the event into an action, and the Job's current phase
decides what that action means (kill pods and move to `Restarting`, `Aborting` ...).
This module holds those three steps; `vcjob.py` feeds it requests and carries out the
plans. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "JOB_ACTIONS",
    "Action",
    "Event",
    "JobPhase",
    "Kill",
    "Plan",
    "Request",
    "Scope",
    "Target",
    "action_scope",
    "apply_policies",
    "exit_code",
    "finished_phase",
    "format_duration",
    "max_retry",
    "parse_duration",
    "plan",
    "pod_event",
    "restarting_phase",
    "task_failed",
]

Obj = dict[str, Any]

OUT_OF_SYNC_KEY = "volcano.sh/controller-out-of-sync"
TASK_SPEC = "volcano.sh/task-spec"
DEFAULT_MAX_RETRY = 3


class JobPhase(enum.StrEnum):
    PENDING = "Pending"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    COMPLETING = "Completing"
    COMPLETED = "Completed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    FAILED = "Failed"


class Event(enum.StrEnum):
    ANY = "*"
    POD_FAILED = "PodFailed"
    POD_EVICTED = "PodEvicted"
    POD_PENDING = "PodPending"
    POD_RUNNING = "PodRunning"
    UNKNOWN = "Unknown"
    TASK_COMPLETED = "TaskCompleted"
    TASK_FAILED = "TaskFailed"
    # Internal: never matched against policies.
    OUT_OF_SYNC = "OutOfSync"
    COMMAND_ISSUED = "CommandIssued"


class Action(enum.StrEnum):
    ABORT_JOB = "AbortJob"
    RESTART_JOB = "RestartJob"
    RESTART_TASK = "RestartTask"
    RESTART_POD = "RestartPod"
    RESTART_PARTITION = "RestartPartition"
    TERMINATE_JOB = "TerminateJob"
    COMPLETE_JOB = "CompleteJob"
    RESUME_JOB = "ResumeJob"
    # Internal: recount the pods and move the phase on.
    SYNC_JOB = "SyncJob"


# The actions a Command may ask of a Job.
JOB_ACTIONS = frozenset(a.value for a in Action) - {Action.SYNC_JOB.value}

# Events that only say "look again": policies never see them.
_INTERNAL_EVENTS = frozenset({Event.OUT_OF_SYNC, Event.COMMAND_ISSUED, Event.POD_RUNNING})

FINISHED = frozenset({JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.TERMINATED})


@dataclasses.dataclass(frozen=True)
class Request:
    """One thing that happened to a Job. `job_version` is the pod's
    `volcano.sh/job-version` (None for requests not about a pod); `job_uid` the uid of
    the Job the pod belongs to."""

    event: str = Event.OUT_OF_SYNC
    action: str = ""
    task: str = ""
    pod: str = ""
    pod_uid: str = ""
    exit_code: int = 0
    job_version: int | None = None
    job_uid: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the policies made of a request: the action, and how long to wait first."""

    action: str
    delay: float = 0.0


# --- durations (policy `timeout` is a Go duration: "90s", "1m30s", "500ms") ---------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: Any) -> float | None:
    """Seconds in a Go duration string (or a number of seconds); None when unparsable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    total, at = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != at:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    if at != len(text) or at == 0:
        return None
    return sign * total


def format_duration(seconds: float) -> str:
    """A Go-style duration string ("10s", "1m30s", "500ms") for event messages."""
    if seconds < 1 and seconds > 0:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    frac = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{secs + frac:g}s"


# --- events from pod changes ---------------------------------------------------------------

def _annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _phase(pod: Obj | None) -> str:
    return str(((pod or {}).get("status") or {}).get("phase") or "Pending")


def exit_code(pod: Obj) -> int:
    """The exit code of the pod's failed container: the first container that terminated
    with a non-zero code (Volcano reads the first container only), else 0."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        terminated = ((status or {}).get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if code:
            return int(code)
    return 0


def max_retry(value: Any) -> int:
    """A maxRetry as Volcano's webhook defaults it: unset or 0 means 3."""
    return int(value) if value else DEFAULT_MAX_RETRY


def task_failed(task: Obj | None, task_pods: Iterable[Obj]) -> bool:
    """Volcano's TaskFailed: the restarts of the task's pending and running pods'
    containers reached the task's maxRetry (default 3; -1 means no limit)."""
    if not task or not int(task.get("replicas") or 0):
        return False
    limit = int(task.get("maxRetry") or 0)
    if limit == -1:
        return False
    limit = limit or DEFAULT_MAX_RETRY
    restarts = 0
    for pod in task_pods:
        if _phase(pod) not in ("Running", "Pending"):
            continue
        status = pod.get("status") or {}
        for kind in ("initContainerStatuses", "containerStatuses"):
            restarts += sum(int((s or {}).get("restartCount") or 0) for s in status.get(kind) or [])
    return restarts >= limit


def _task_completed(task: Obj | None, task_pods: Iterable[Obj]) -> bool:
    replicas = int((task or {}).get("replicas") or 0)
    if replicas <= 0:
        return False
    return sum(1 for p in task_pods if _phase(p) == "Succeeded") >= replicas


def pod_event(old: Obj | None, new: Obj | None, task: Obj | None,
              task_pods: list[Obj]) -> Request | None:
    """The request a pod change makes (Volcano's pod handlers): `old` None is an add,
    `new` None a delete. `task` is the pod's task spec, `task_pods` the task's pods as
    the cache holds them after the change. None for pods that are not a Job's."""
    pod = new if new is not None else old
    if pod is None:
        return None
    annotations = _annotations(pod)
    task_name = annotations.get(TASK_SPEC)
    version = annotations.get("volcano.sh/job-version")
    if not task_name or version is None or not annotations.get("volcano.sh/job-name"):
        return None
    try:
        job_version = int(version)
    except ValueError:
        return None
    md = pod.get("metadata") or {}
    code = 0
    if new is None:
        event: str = Event.POD_EVICTED
    elif old is None:
        # A pod seen for the first time is pending (Volcano); one already past Pending
        # when the controller starts says nothing new.
        event = Event.POD_PENDING if _phase(new) == "Pending" else Event.OUT_OF_SYNC
    else:
        event = Event.OUT_OF_SYNC
        phase, was = _phase(new), _phase(old)
        if phase == "Failed":
            if was != "Failed":
                event = Event.POD_FAILED
                code = exit_code(new)
        elif phase == "Succeeded":
            if was != "Succeeded" and _task_completed(task, task_pods):
                event = Event.TASK_COMPLETED
        elif phase in ("Running", "Pending"):
            if task_failed(task, task_pods):
                event = Event.TASK_FAILED
            if was != phase:
                event = Event.POD_RUNNING if phase == "Running" else Event.POD_PENDING
    if OUT_OF_SYNC_KEY in annotations:
        event = Event.OUT_OF_SYNC
    return Request(event=event, task=task_name, pod=str(md.get("name") or ""),
                   pod_uid=str(md.get("uid") or ""), exit_code=code,
                   job_version=job_version)


# --- policies --------------------------------------------------------------------------

def _events_of(policy: Obj) -> list[str]:
    events = [str(e) for e in policy.get("events") or []]
    if policy.get("event"):
        events.append(str(policy["event"]))
    return events


def _match(policy: Obj, req: Request) -> Decision | None:
    events = _events_of(policy)
    if events and req.event and (req.event in events or Event.ANY in events):
        timeout = parse_duration(policy.get("timeout"))
        # PodPending is every new pod: it only means something with a timeout.
        if req.event != Event.POD_PENDING or timeout is not None:
            return Decision(str(policy.get("action") or Action.SYNC_JOB), timeout or 0.0)
    code = policy.get("exitCode")
    if code is not None and int(code) != 0 and int(code) == req.exit_code:
        return Decision(str(policy.get("action") or Action.SYNC_JOB),
                        parse_duration(policy.get("timeout")) or 0.0)
    return None


def apply_policies(job: Obj, req: Request) -> Decision:
    """The action for `req` (Volcano's applyPolicies): a Command's action as is;
    internal events, requests about another Job of the same name and requests from pods
    of an older job version sync; else the first matching policy of the event's task,
    then of the Job (events, `*`, or the failed container's exitCode), else sync."""
    if req.action:
        return Decision(req.action)
    if req.event in _INTERNAL_EVENTS:
        return Decision(Action.SYNC_JOB)
    md = job.get("metadata") or {}
    if req.job_uid and md.get("uid") and req.job_uid != md.get("uid"):
        return Decision(Action.SYNC_JOB)
    version = int(((job.get("status") or {}).get("version")) or 0)
    if req.job_version is not None and req.job_version < version:
        return Decision(Action.SYNC_JOB)
    spec = job.get("spec") or {}
    if req.task:
        for i, task in enumerate(spec.get("tasks") or []):
            if (task.get("name") or f"default{i}") != req.task:
                continue
            for policy in task.get("policies") or []:
                decision = _match(policy, req)
                if decision:
                    return decision
            break
    for policy in spec.get("policies") or []:
        decision = _match(policy, req)
        if decision:
            return decision
    return Decision(Action.SYNC_JOB)


class Scope(enum.Enum):
    JOB = "job"
    TASK = "task"
    POD = "pod"


def action_scope(action: str) -> Scope:
    """What an action acts on; delayed actions of the same scope are cancelled when one
    runs (Volcano's cleanupDelayActions)."""
    if action == Action.RESTART_TASK:
        return Scope.TASK
    if action in (Action.RESTART_POD, Action.RESTART_PARTITION):
        return Scope.POD
    return Scope.JOB


# --- what an action does in a phase (Volcano's job state machine) ------------------------

class Kill(enum.Enum):
    NONE = "none"      # sync: create missing pods, count, move the phase on
    JOB = "job"        # delete the Job's pods (and its PodGroup); bumps status.version
    TARGET = "target"  # delete the pods of one task or one pod


@dataclasses.dataclass(frozen=True)
class Target:
    task: str = ""
    pod: str = ""


@dataclasses.dataclass(frozen=True)
class Plan:
    """`kill` what; `soft` keeps Succeeded and Failed pods; `then` names the status
    update to apply after counting (see `next_phase`); `retry` adds one to retryCount;
    `enter` is the phase the action moves to (before `then`)."""

    kill: Kill
    soft: bool = False
    enter: str = ""
    retry: bool = False
    then: str = ""


_RESTART_TARGETED = (Action.RESTART_TASK, Action.RESTART_POD, Action.RESTART_PARTITION)


def plan(phase: str, action: str) -> Plan:
    """What `action` does to a Job in `phase` (Volcano's state/*.go)."""
    phase = phase or JobPhase.PENDING
    if phase in (JobPhase.PENDING, JobPhase.RUNNING):
        if action == Action.RESTART_JOB:
            return Plan(Kill.JOB, enter=JobPhase.RESTARTING, retry=True)
        if action in _RESTART_TARGETED:
            return Plan(Kill.TARGET, enter=JobPhase.RESTARTING, retry=True)
        if action == Action.ABORT_JOB:
            return Plan(Kill.JOB, soft=True, enter=JobPhase.ABORTING)
        if action == Action.COMPLETE_JOB:
            return Plan(Kill.JOB, soft=True, enter=JobPhase.COMPLETING)
        if action == Action.TERMINATE_JOB:
            return Plan(Kill.JOB, soft=True, enter=JobPhase.TERMINATING)
        return Plan(Kill.NONE, then=phase)
    if phase == JobPhase.RESTARTING:
        if action == Action.SYNC_JOB:
            return Plan(Kill.NONE, then=JobPhase.RESTARTING)
        if action in _RESTART_TARGETED:
            return Plan(Kill.TARGET, then=JobPhase.RESTARTING)
        return Plan(Kill.JOB, then=JobPhase.RESTARTING)
    if phase in (JobPhase.ABORTING, JobPhase.ABORTED):
        if action == Action.RESUME_JOB:
            return Plan(Kill.JOB, soft=True, enter=JobPhase.RESTARTING, retry=True)
        return Plan(Kill.JOB, soft=True, then=phase)
    if phase in (JobPhase.COMPLETING, JobPhase.TERMINATING):
        return Plan(Kill.JOB, soft=True, then=phase)
    # Completed, Failed, Terminated (and anything unknown): keep finished pods only.
    return Plan(Kill.JOB, soft=True)


def restarting_phase(retry_count: int, job_max_retry: int, replicas: int, terminating: int,
                     min_available: int) -> str:
    """Leaving Restarting: Failed once retries are spent, else Pending once enough of
    the old pods are gone for a new gang."""
    if retry_count >= job_max_retry:
        return JobPhase.FAILED
    if replicas - terminating >= min_available:
        return JobPhase.PENDING
    return JobPhase.RESTARTING


def finished_phase(phase: str, counts: dict[str, int]) -> str:
    """Aborting, Completing and Terminating end once no pod is pending, running or
    terminating."""
    if counts.get("terminating") or counts.get("pending") or counts.get("running"):
        return phase
    return {JobPhase.ABORTING: JobPhase.ABORTED, JobPhase.COMPLETING: JobPhase.COMPLETED,
            JobPhase.TERMINATING: JobPhase.TERMINATED}.get(JobPhase(phase), phase)
