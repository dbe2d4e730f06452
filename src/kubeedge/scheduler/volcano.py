"""The Volcano path of the `Scheduler` (specs/volcano.md §2.1): every
`schedulePeriodSeconds`, a `JobSession` over a snapshot of the PodGroups (each with the
pods naming it in `scheduling.k8s.io/group-name`), the Queues and the PriorityClasses;
the configured actions in order; then the writes: binds for what Statements committed
(through the `Scheduler`'s binding path), PodGroup status where it changed, and the
events users read (`FailedScheduling` on pods left pending, `Unschedulable` on the
PodGroup), each recorded once per distinct message rather than once per period.

Preempt and reclaim (specs/volcano.md §2.3) add the evictions, written as Volcano's
evictor writes them: a Warning `Evict` event on the victim ("Pod is evicted, because
of preempt"), its `DisruptionTarget` condition as kube-scheduler sets it when it
preempts (and Ready=False, reason `Evict`), then a DELETE with the pod's own grace
period (its uid as precondition, so a namesake is never hit); a Normal `Evict` event on
the victim's PodGroup. A pipelined task is not bound: it is told why it waits ("can
possibly be assigned to <node>, once resource is released and minAvailable is
satisfied") and, when victims were evicted for it, nominated to the node
(`status.nominatedNodeName`); a pending pod no session pipelines any more loses its
nomination.

Reads only informer caches and the `Scheduler`'s cache; writes only through
`kubeedge.client`. Never changes an informer's objects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kubeedge.api import meta
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.events import NORMAL, WARNING
from kubeedge.client.informer import Informer
from kubeedge.client.resources import ResourceRef
from kubeedge.config.scheduler import SchedulerConfig, parse_actions
from kubeedge.scheduler.actions.allocate import allocate
from kubeedge.scheduler.actions.backfill import backfill
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.actions.preempt import preempt
from kubeedge.scheduler.actions.reclaim import reclaim
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import (
    GROUP_NAME_ANNOTATION,
    JobInfo,
    PodGroupPhase,
    QueueInfo,
)
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.statement import Eviction
from kubeedge.scheduler.plugins import build_tiers
from kubeedge.scheduler.queue_status import QueueStatusWriter

if TYPE_CHECKING:
    from kubeedge.scheduler.scheduler import Scheduler

__all__ = ["PODGROUPS", "PRIORITY_CLASSES", "QUEUES", "VolcanoPath", "podgroup_status"]

log = logging.getLogger(__name__)

PODGROUPS = ResourceRef("scheduling.volcano.sh", "v1beta1", "podgroups", True, "PodGroup")
QUEUES = ResourceRef("scheduling.volcano.sh", "v1beta1", "queues", False, "Queue")
PRIORITY_CLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", False,
                               "PriorityClass")
PODS = ResourceRef("", "v1", "pods", True, "Pod")

# allocate's switch for Volcano's predicate error cache (on unless set false).
PREDICATE_ERROR_CACHE = "enablePredicateErrorCache"

EVICT = "Evict"
# kube's PodReasonPreemptionByScheduler, the DisruptionTarget reason when a scheduler
# preempts.
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"

GROUP_INDEX = "volcano/group-name"
UNSCHEDULABLE = "Unschedulable"
SCHEDULED = "Scheduled"
GANG_CONDITIONS = (UNSCHEDULABLE, SCHEDULED)

Obj = dict[str, Any]


def _group_of(pod: Obj) -> list[str]:
    md = pod.get("metadata") or {}
    group = (md.get("annotations") or {}).get(GROUP_NAME_ANNOTATION)
    return [f"{md.get('namespace') or ''}/{group}"] if group else []


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"


def _with_kind(obj: Obj, ref: ResourceRef) -> Obj:
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    return {**obj, "apiVersion": ref.api_version, "kind": ref.kind}


def _action_flag(config: SchedulerConfig, action: str, name: str, default: bool) -> bool:
    """A boolean of `configurations[name=action].arguments`; a value that is not one
    leaves the default, as Volcano's Arguments.GetBool does."""
    for entry in config.configurations:
        if entry.name == action and name in entry.arguments:
            value = entry.arguments[name]
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
    return default


def podgroup_status(job: JobInfo, session_uid: str, now: str) -> Obj | None:
    """The PodGroup status this session computed, or None when nothing a user reads
    changed (phase, counts, the gang condition's status, reason and message)."""
    current = job.podgroup.get("status") or {}
    unschedulable = bool(job.condition and job.condition.get("type") == UNSCHEDULABLE)
    statuses = job.status_counts()
    phase = job.next_phase(unschedulable, statuses)
    counts = {
        "running": statuses.get(TaskStatus.RUNNING, 0),
        "succeeded": statuses.get(TaskStatus.SUCCEEDED, 0),
        "failed": statuses.get(TaskStatus.FAILED, 0),
    }
    conditions = [c for c in current.get("conditions") or [] if isinstance(c, dict)]
    changed = (current.get("phase") or "") != phase.value or any(
        int(current.get(name) or 0) != value for name, value in counts.items())
    if job.condition is not None:
        wanted = job.condition
        old = next((c for c in conditions if c.get("type") == wanted["type"]), None)
        same = old is not None and all(
            (old.get(f) or "") == wanted[f] for f in ("status", "reason", "message"))
        stale = [c for c in conditions if c.get("type") in GANG_CONDITIONS
                 and c.get("type") != wanted["type"]]
        if not same or stale:
            changed = True
            kept = [c for c in conditions if c.get("type") not in GANG_CONDITIONS]
            since = (old.get("lastTransitionTime") if old is not None
                     and old.get("status") == wanted["status"] else None)
            conditions = [*kept, {**wanted, "transitionID": session_uid,
                                  "lastTransitionTime": since or now}]
    if not changed:
        return None
    return {"phase": phase.value, **counts, "conditions": conditions}


class VolcanoPath:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        config = scheduler.config
        self.names = frozenset(config.volcano_scheduler_names)
        self.period = config.schedule_period_seconds
        self.podgroups: Informer | None = None
        self.queues: Informer | None = None
        self.priorities: Informer | None = None
        # Pending pods parsed once per resourceVersion.
        self._parsed: dict[str, tuple[str, TaskInfo]] = {}
        # The last FailedScheduling message recorded per pod, and the last events per
        # PodGroup, so a stuck gang does not log an event every period.
        self._reported: dict[str, str] = {}
        self._pg_events: set[tuple[str, str, str]] = set()
        self._status_writes: set[str] = set()
        # Status this scheduler wrote, by PodGroup uid, with the resourceVersion it was
        # computed from: until the watch brings the written version, sessions read
        # ours, so a job admitted a moment ago is not admitted (or counted) afresh.
        self._written: dict[str, tuple[str, Obj]] = {}
        # Pipelined tasks of the last session (key -> node), and nominations being
        # written (key -> node, "" to clear).
        self._pipelined: dict[str, str] = {}
        self._nominating: dict[str, str] = {}
        self.queue_status = QueueStatusWriter(scheduler.client)
        self.sessions = 0
        self.last_session: JobSession | None = None

    def start(self, podgroups: Informer, queues: Informer, priorities: Informer) -> None:
        self.podgroups, self.queues, self.priorities = podgroups, queues, priorities
        pods = self.scheduler.pods
        assert pods is not None
        try:
            pods.store.add_index(GROUP_INDEX, _group_of)
        except ValueError:
            pass  # a previous leadership term added it
        for informer in (podgroups, queues, priorities):
            informer.start()

    def responsible_for(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("schedulerName") in self.names

    def pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") or meta.is_terminating(pod):
            key = _key(pod)
            self._parsed.pop(key, None)
            self._reported.pop(key, None)

    def pod_deleted(self, pod: Obj) -> None:
        key = _key(pod)
        self._parsed.pop(key, None)
        self._reported.pop(key, None)

    def synced(self) -> bool:
        return all(i is not None and i.has_synced
                   for i in (self.podgroups, self.queues, self.priorities))

    async def run(self) -> None:
        clock = self.scheduler.clock
        while True:
            await clock.sleep(self.period)
            try:
                if self.synced():
                    self.run_once()
            except Exception:
                log.exception("scheduler: Volcano session failed")

    # -- one session ------------------------------------------------------------------

    def _task(self, pod: Obj) -> TaskInfo:
        key = _key(pod)
        placed = self.scheduler.cache.tasks.get(key)
        if placed is not None:
            return placed
        version = str((pod.get("metadata") or {}).get("resourceVersion") or "")
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == version and cached[1].status in (
                TaskStatus.PENDING, TaskStatus.SUCCEEDED, TaskStatus.FAILED,
                TaskStatus.RELEASING):
            return cached[1]
        task = TaskInfo.from_pod(pod)
        self._parsed[key] = (version, task)
        return task

    def snapshot(self) -> tuple[list[JobInfo], list[QueueInfo]]:
        assert self.podgroups is not None and self.queues is not None
        assert self.priorities is not None and self.scheduler.pods is not None
        priorities: dict[str, int] = {}
        for pc in self.priorities.store.list():
            try:
                priorities[meta.name_of(pc)] = int(pc.get("value") or 0)
            except (TypeError, ValueError):
                continue
        pods = self.scheduler.pods.store
        jobs = []
        live: set[str] = set()
        for pg in self.podgroups.store.list():
            md = pg.get("metadata") or {}
            uid = str(md.get("uid") or "")
            live.add(uid)
            written = self._written.get(uid)
            if written is not None:
                if written[0] == str(md.get("resourceVersion") or ""):
                    pg = {**pg, "status": written[1]}
                else:
                    del self._written[uid]
            members = [self._task(pod) for pod in pods.by_index(GROUP_INDEX, _key(pg))
                       if self.responsible_for(pod)]
            jobs.append(JobInfo.from_podgroup(pg, members, priorities))
        for uid in [uid for uid in self._written if uid not in live]:
            del self._written[uid]
        self._pg_events = {e for e in self._pg_events if e[0] in live}
        queues = [QueueInfo.from_queue(q) for q in self.queues.store.list()]
        return jobs, queues

    def run_once(self) -> JobSession:
        jobs, queues = self.snapshot()
        # Read per session: a reloaded configuration applies from the next one.
        config = self.scheduler.config
        actions = parse_actions(config.actions)
        ssn = JobSession(self.scheduler.cache, build_tiers(config.tiers), jobs, queues,
                         self.scheduler.rng)
        for action in actions:
            if action == "enqueue":
                enqueue(ssn)
            elif action == "allocate":
                allocate(ssn, enqueue_configured="enqueue" in actions,
                         percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
                         predicate_error_cache=_action_flag(
                             config, "allocate", PREDICATE_ERROR_CACHE, True))
            elif action == "backfill":
                backfill(ssn)
            elif action == "preempt":
                preempt(ssn)
            elif action == "reclaim":
                reclaim(ssn)
        ssn.close()
        self.sessions += 1
        self.last_session = ssn
        self._write(ssn)
        return ssn

    # -- writes -----------------------------------------------------------------------

    def _write(self, ssn: JobSession) -> None:
        scheduler = self.scheduler
        for task, node_name in ssn.committed:
            self._reported.pop(task.key, None)
            scheduler._spawn(scheduler.bind_committed(task, node_name))
        now = meta.rfc3339(meta.now())
        for eviction in ssn.evictions:
            self._evict(ssn, eviction, now)
        self._pipelined = {task.key: node for task, node in ssn.pipelined}
        nominated = {task.key: node for task, node in ssn.nominated}
        for job in ssn.jobs.values():
            for task in job.pending_tasks():
                self._nominate(task, nominated.get(task.key, ""), task.key in self._pipelined)
        # FailedScheduling messages by FitErrors (tasks of one shape share theirs).
        messages: dict[tuple[int, bool], str] = {}
        for job in ssn.jobs.values():
            status = podgroup_status(job, ssn.uid, now)
            if status is not None and job.key not in self._status_writes:
                self._status_writes.add(job.key)
                version = str((job.podgroup.get("metadata") or {}).get("resourceVersion") or "")
                self._written[job.uid] = (version, status)
                scheduler._spawn(self._write_status(job, status))
            self._explain(job, messages)
        for job, event_type, reason, message in ssn.events:
            self._podgroup_event(job, event_type, reason, message)
        # Computed now, from the session as it closed (§2.1: status.allocated is
        # written each session); sent only when a queue's allocation changed.
        write = self.queue_status.update(ssn)
        if write is not None:
            scheduler._spawn(write)

    def _evict(self, ssn: JobSession, eviction: Eviction, now: str) -> None:
        task = eviction.task
        message = f"Pod is evicted, because of {eviction.reason}"
        self.scheduler.recorder.event(_with_kind(task.pod, PODS), WARNING, EVICT, message)
        job = ssn.job_of_task.get(task.key)
        if job is not None:
            self._podgroup_event(job, NORMAL, EVICT, eviction.reason)
        scheduler_name = (task.pod.get("spec") or {}).get("schedulerName") or "volcano"
        conditions = [
            {"type": "Ready", "status": "False", "reason": EVICT, "message": message,
             "lastProbeTime": None, "lastTransitionTime": now},
            {"type": "DisruptionTarget", "status": "True", "reason": PREEMPTION_BY_SCHEDULER,
             "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
             "lastProbeTime": None, "lastTransitionTime": now},
        ]
        self.scheduler._spawn(self._delete_victim(task, conditions))

    async def _delete_victim(self, task: TaskInfo, conditions: list[Obj]) -> None:
        client = self.scheduler.client
        try:
            try:
                await client.patch(PODS, task.name, {"status": {"conditions": conditions}},
                                   task.namespace, patch_type="strategic",
                                   subresource="status")
            except APIError as exc:
                if exc.is_not_found:
                    return
                # The condition is a courtesy; the eviction is the deletion.
                log.info("scheduler: marking victim %s: %s", task.key, exc)
            await client.delete(PODS, task.name, task.namespace,
                                preconditions={"uid": task.uid} if task.uid else None)
        except APIError as exc:
            if exc.is_not_found or exc.is_conflict:
                return  # gone already, or a namesake: nothing of ours to evict
            log.warning("scheduler: evicting %s: %s", task.key, exc)
            self.scheduler.cache.eviction_failed(task)
        except (APIConnectionError, TimeoutError, OSError) as exc:
            log.warning("scheduler: evicting %s: %s", task.key, exc)
            self.scheduler.cache.eviction_failed(task)

    def _nominate(self, task: TaskInfo, node: str, pipelined: bool) -> None:
        """`status.nominatedNodeName`: set when victims were evicted for the task,
        kept while a session still pipelines it (its victims are still going), and
        cleared once none does (the preemption no longer holds)."""
        current = str((task.pod.get("status") or {}).get("nominatedNodeName") or "")
        wanted = node or (current if pipelined else "")
        if wanted == current or self._nominating.get(task.key) == wanted:
            return
        self._nominating[task.key] = wanted
        self.scheduler._spawn(self._write_nomination(task, wanted))

    async def _write_nomination(self, task: TaskInfo, node: str) -> None:
        try:
            await self.scheduler.client.patch(
                PODS, task.name, {"status": {"nominatedNodeName": node or None}},
                task.namespace, subresource="status")
        except (APIError, APIConnectionError, TimeoutError, OSError) as exc:
            log.info("scheduler: nominating %s: %s", task.key, exc)
        finally:
            self._nominating.pop(task.key, None)

    def _podgroup_event(self, job: JobInfo, event_type: str, reason: str,
                        message: str) -> None:
        if (job.uid, reason, message) in self._pg_events:
            return
        self._pg_events.add((job.uid, reason, message))
        self.scheduler.recorder.event(_with_kind(job.podgroup, PODGROUPS), event_type, reason,
                                      message)

    def _explain(self, job: JobInfo, messages: dict[tuple[int, bool], str]) -> None:
        """Why pending tasks of this job stay pending: a FailedScheduling event and the
        PodScheduled condition on each pod, kube-scheduler's message for a task that
        fit nowhere, the gang's for the others; an Unschedulable event on the PodGroup
        while it waits. `messages`: the words of each FitErrors met in this write
        (by id and preemption policy), each worded once."""
        condition = job.condition or {}
        gang_message = str(condition.get("message") or "")
        if condition.get("type") == UNSCHEDULABLE and job.phase != PodGroupPhase.COMPLETED:
            self._podgroup_event(job, WARNING, UNSCHEDULABLE, gang_message)
        if job.phase == PodGroupPhase.PENDING and job.min_resources is not None:
            return  # not admitted: nothing was tried for its pods
        for task in job.pending_tasks():
            errors = job.fit_errors.get(task.key)
            if errors is None:
                message = gang_message
            else:
                worded = (id(errors), task.preempt_never)
                message = messages.get(worded) or ""
                if not message:
                    message = messages[worded] = errors.message(task.preempt_never)
            node = self._pipelined.get(task.key)
            if node:
                # Volcano's words for a task waiting on releasing resources.
                message = (f"Pod {task.namespace}/{task.name} can possibly be assigned to "
                           f"{node}, once resource is released and minAvailable is "
                           "satisfied")
            if not message or self._reported.get(task.key) == message:
                continue
            self._reported[task.key] = message
            self.scheduler.recorder.event(_with_kind(task.pod, PODS),
                                          WARNING, "FailedScheduling", message)
            current = meta.condition(task.pod, "PodScheduled") or {}
            if (current.get("status"), current.get("message")) != ("False", message):
                self.scheduler._spawn(
                    self.scheduler._mark_unschedulable(task, current, message))

    async def _write_status(self, job: JobInfo, status: Obj) -> None:
        try:
            await self.scheduler.client.patch(PODGROUPS, job.name, {"status": status},
                                              job.namespace, subresource="status")
        except APIError as exc:
            self._written.pop(job.uid, None)
            if not exc.is_not_found:
                log.info("scheduler: PodGroup %s status: %s", job.key, exc)
        except (APIConnectionError, TimeoutError, OSError) as exc:
            self._written.pop(job.uid, None)
            log.info("scheduler: PodGroup %s status: %s", job.key, exc)
        finally:
            self._status_writes.discard(job.key)
        await asyncio.sleep(0)
