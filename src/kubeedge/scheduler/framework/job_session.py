"""The Volcano session (specs/volcano.md §2.1-2.2): one per `schedulePeriod` over a
snapshot of the jobs (PodGroups and their pods) and queues, with the plugins of every
configured tier and Volcano's dispatch of their callbacks.

Node accounting is the scheduler's live cache: a session runs to its end without
yielding to the event loop, so nothing moves under it, and every placement it makes is
either committed (bound) or discarded by its Statement before it ends. Placements that
are committed stay assumed in the cache until the watch shows them bound. Evictions
that are committed stay Releasing in the cache until the watch shows the pod deleting;
pipelined reservations (preempt, reclaim) are given back when the session closes, so
none outlives the session that made it: the next session re-derives them from what is
still releasing (specs/volcano.md §2.3).

Dispatch (§2.2): order functions take the first non-zero answer in tier order, then
fall back to creation time and UID; JobReady and Allocatable AND; Overused ORs;
JobEnqueueable votes (any Reject refuses; a tier with a Permit admits; all abstain
admits). A plugin's `enable…` switch off skips it for that kind of callback.

Never does I/O.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeedge.config.scheduler import PluginOption
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo, task_order_key
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.framework.session import Plugin, Session

if TYPE_CHECKING:
    from kubeedge.scheduler.framework.statement import Eviction

__all__ = ["ABSTAIN", "PERMIT", "REJECT", "JobSession", "ValidateResult"]

PERMIT = 1
ABSTAIN = 0
REJECT = -1

OrderFn = Callable[[object, object], int]
JobFn = Callable[[JobInfo], bool]
VoteFn = Callable[[JobInfo], int]
QueueTaskFn = Callable[[QueueInfo, TaskInfo], bool]
QueueFn = Callable[[QueueInfo], bool]
EventFn = Callable[[TaskInfo], None]
# Victim selection (§2.2): the subset of `preemptees` the plugin lets `preemptor`
# evict, or None to abstain.
VictimFn = Callable[[TaskInfo, list[TaskInfo]], "list[TaskInfo] | None"]


@dataclass(frozen=True, slots=True)
class ValidateResult:
    passed: bool
    reason: str = ""
    message: str = ""


class JobSession(Session):
    """`tiers`: per tier, (option, plugin) in configured order."""

    def __init__(self, cache: SchedulerCache,
                 tiers: list[list[tuple[PluginOption, Plugin]]],
                 jobs: Iterable[JobInfo], queues: Iterable[QueueInfo],
                 rng: random.Random | None = None) -> None:
        self.uid = str(uuid.uuid4())
        self.tiers = [[option for option, _ in tier] for tier in tiers]
        self.jobs: dict[str, JobInfo] = {job.uid: job for job in jobs}
        for job in self.jobs.values():
            # Statement events below keep the counts current until close.
            job.track(True)
        self.queues: dict[str, QueueInfo] = {q.name: q for q in queues}
        self.committed: list[tuple[TaskInfo, str]] = []
        # Committed evictions (victims to delete) and pipelined reservations (task,
        # node), for the scheduler to write after the session.
        self.evictions: list[Eviction] = []
        self.pipelined: list[tuple[TaskInfo, str]] = []
        # Pipelined tasks that evicted to make room: nominated to their node.
        self.nominated: list[tuple[TaskInfo, str]] = []
        # Events plugins want on PodGroups, recorded by the scheduler after the session:
        # (job, type, reason, message).
        self.events: list[tuple[JobInfo, str, str, str]] = []
        # Jobs by task key, so allocate/deallocate events find their job.
        self.job_of_task: dict[str, JobInfo] = {
            key: job for job in self.jobs.values() for key in job.tasks}
        self.total = Resource()
        for node in cache.node_list():
            self.total.add(node.allocatable)
        self.job_order_fns: dict[str, OrderFn] = {}
        self.task_order_fns: dict[str, OrderFn] = {}
        self.queue_order_fns: dict[str, OrderFn] = {}
        self.job_valid_fns: dict[str, Callable[[JobInfo], ValidateResult | None]] = {}
        self.job_ready_fns: dict[str, JobFn] = {}
        self.job_enqueueable_fns: dict[str, VoteFn] = {}
        self.job_enqueued_fns: dict[str, Callable[[JobInfo], None]] = {}
        self.allocatable_fns: dict[str, QueueTaskFn] = {}
        self.overused_fns: dict[str, QueueFn] = {}
        self.preemptable_fns: dict[str, VictimFn] = {}
        self.reclaimable_fns: dict[str, VictimFn] = {}
        self.preemptive_fns: dict[str, QueueTaskFn] = {}
        self.job_pipelined_fns: dict[str, VoteFn] = {}
        self.job_starving_fns: dict[str, JobFn] = {}
        self.allocate_handlers: list[EventFn] = []
        self.deallocate_handlers: list[EventFn] = []
        self.close_fns: list[Callable[[JobSession], None]] = []
        # Per callback kind, the names of the enabled plugins in tier order, as
        # (registered count, names): the dispatch of order functions runs on every
        # comparison of a sort.
        self._chains: dict[tuple[str, int], tuple[int, list[str]]] = {}
        # Volcano's fallback task order key, per task key (parsed once per session).
        self._task_keys: dict[str, tuple[int, str, str]] = {}
        # How many Statement operations (and undoings) changed the session's tasks and
        # nodes so far: what an action found of the node state holds while it stays.
        self.changes = 0
        super().__init__(cache, [plugin for tier in tiers for _, plugin in tier], rng)

    # -- registration -----------------------------------------------------------------

    def add_job_order_fn(self, name: str, fn: OrderFn) -> None:
        self.job_order_fns[name] = fn

    def add_task_order_fn(self, name: str, fn: OrderFn) -> None:
        self.task_order_fns[name] = fn

    def add_queue_order_fn(self, name: str, fn: OrderFn) -> None:
        self.queue_order_fns[name] = fn

    def add_job_valid_fn(self, name: str, fn: Callable[[JobInfo], ValidateResult | None]
                         ) -> None:
        self.job_valid_fns[name] = fn

    def add_job_ready_fn(self, name: str, fn: JobFn) -> None:
        self.job_ready_fns[name] = fn

    def add_job_enqueueable_fn(self, name: str, fn: VoteFn) -> None:
        self.job_enqueueable_fns[name] = fn

    def add_job_enqueued_fn(self, name: str, fn: Callable[[JobInfo], None]) -> None:
        self.job_enqueued_fns[name] = fn

    def add_allocatable_fn(self, name: str, fn: QueueTaskFn) -> None:
        self.allocatable_fns[name] = fn

    def add_overused_fn(self, name: str, fn: QueueFn) -> None:
        self.overused_fns[name] = fn

    def add_preemptable_fn(self, name: str, fn: VictimFn) -> None:
        self.preemptable_fns[name] = fn

    def add_reclaimable_fn(self, name: str, fn: VictimFn) -> None:
        self.reclaimable_fns[name] = fn

    def add_preemptive_fn(self, name: str, fn: QueueTaskFn) -> None:
        self.preemptive_fns[name] = fn

    def add_job_pipelined_fn(self, name: str, fn: VoteFn) -> None:
        self.job_pipelined_fns[name] = fn

    def add_job_starving_fn(self, name: str, fn: JobFn) -> None:
        self.job_starving_fns[name] = fn

    def add_event_handler(self, allocate: EventFn | None = None,
                          deallocate: EventFn | None = None) -> None:
        if allocate is not None:
            self.allocate_handlers.append(allocate)
        if deallocate is not None:
            self.deallocate_handlers.append(deallocate)

    def add_close_fn(self, fn: Callable[[JobSession], None]) -> None:
        self.close_fns.append(fn)

    # -- dispatch ---------------------------------------------------------------------

    def _enabled(self, switch: str, fns: dict[str, object]) -> Iterable[tuple[int, str]]:
        for i, tier in enumerate(self.tiers):
            for option in tier:
                if option.name in fns and option.enabled(switch):
                    yield i, option.name

    def _chain(self, switch: str, fns: dict[str, Any]) -> list[str]:
        """The names `_enabled` yields, remembered until a plugin registers another
        callback of the kind (names, not functions: a re-registration replaces)."""
        key = (switch, id(fns))
        chain = self._chains.get(key)
        if chain is None or chain[0] != len(fns):
            chain = (len(fns), [name for _, name in self._enabled(switch, fns)])
            self._chains[key] = chain
        return chain[1]

    def _order(self, switch: str, fns: dict[str, OrderFn], left: object,
               right: object) -> int:
        for name in self._chain(switch, fns):
            answer = fns[name](left, right)
            if answer:
                return answer
        return 0

    def job_order(self, left: JobInfo, right: JobInfo) -> int:
        """< 0: `left` goes first."""
        answer = self._order("enable_job_order", self.job_order_fns, left, right)
        if answer:
            return answer
        return _compare((left.creation, left.uid), (right.creation, right.uid))

    def task_order(self, left: TaskInfo, right: TaskInfo) -> int:
        answer = self._order("enable_task_order", self.task_order_fns, left, right)
        if answer:
            return answer
        return _compare(self._task_key(left), self._task_key(right))

    def _task_key(self, task: TaskInfo) -> tuple[int, str, str]:
        key = self._task_keys.get(task.key)
        if key is None:
            key = self._task_keys[task.key] = task_order_key(task)
        return key

    def queue_order(self, left: QueueInfo, right: QueueInfo) -> int:
        answer = self._order("enable_queue_order", self.queue_order_fns, left, right)
        if answer:
            return answer
        left_md = left.queue.get("metadata") or {}
        right_md = right.queue.get("metadata") or {}
        return _compare((str(left_md.get("creationTimestamp") or ""), left.name),
                        (str(right_md.get("creationTimestamp") or ""), right.name))

    def sorted_jobs(self, jobs: Iterable[JobInfo]) -> list[JobInfo]:
        return sorted(jobs, key=functools.cmp_to_key(self.job_order))

    def sorted_tasks(self, tasks: Iterable[TaskInfo]) -> list[TaskInfo]:
        return sorted(tasks, key=functools.cmp_to_key(self.task_order))

    def sorted_queues(self, queues: Iterable[QueueInfo]) -> list[QueueInfo]:
        return sorted(queues, key=functools.cmp_to_key(self.queue_order))

    def job_valid(self, job: JobInfo) -> ValidateResult | None:
        for tier in self.tiers:
            for option in tier:
                fn = self.job_valid_fns.get(option.name)
                if fn is not None:
                    result = fn(job)
                    if result is not None and not result.passed:
                        return result
        return None

    def job_ready(self, job: JobInfo) -> bool:
        fns = self.job_ready_fns
        return all(fns[name](job) for name in self._chain("enable_job_ready", fns))

    def job_enqueueable(self, job: JobInfo) -> bool:
        return self._vote("enable_job_enqueued", self.job_enqueueable_fns, job)

    def _vote(self, switch: str, fns: dict[str, VoteFn], job: JobInfo) -> bool:
        for tier in self.tiers:
            permitted = False
            for option in tier:
                fn = fns.get(option.name)
                if fn is None or not option.enabled(switch):
                    continue
                vote = fn(job)
                if vote < 0:
                    return False
                if vote > 0:
                    permitted = True
            if permitted:
                return True
        return True

    def job_enqueued(self, job: JobInfo) -> None:
        fns = self.job_enqueued_fns
        for name in self._chain("enable_job_enqueued", fns):
            fns[name](job)

    def allocatable(self, queue: QueueInfo, task: TaskInfo) -> bool:
        fns = self.allocatable_fns
        return all(fns[name](queue, task) for name in self._chain("enabled_allocatable", fns))

    def overused(self, queue: QueueInfo) -> bool:
        fns = self.overused_fns
        return any(fns[name](queue) for name in self._chain("enabled_overused", fns))

    def _victims(self, switch: str, fns: dict[str, VictimFn], preemptor: TaskInfo,
                 preemptees: list[TaskInfo]) -> list[TaskInfo]:
        """Volcano's Preemptable/Reclaimable: within a tier, the intersection of the
        sets the non-abstaining plugins allow (an empty one vetoes the tier); the first
        tier with an answer decides."""
        for tier in self.tiers:
            victims: dict[str, TaskInfo] | None = None
            for option in tier:
                fn = fns.get(option.name)
                if fn is None or not option.enabled(switch):
                    continue
                allowed = fn(preemptor, preemptees)
                if allowed is None:
                    continue
                if not allowed:
                    victims = {}
                    break
                keys = {task.key: task for task in allowed}
                victims = keys if victims is None else {
                    key: task for key, task in victims.items() if key in keys}
            if victims is not None:
                return list(victims.values())
        return []

    def preemptable(self, preemptor: TaskInfo, preemptees: list[TaskInfo]
                    ) -> list[TaskInfo]:
        return self._victims("enable_preemptable", self.preemptable_fns, preemptor,
                             preemptees)

    def reclaimable(self, reclaimer: TaskInfo, reclaimees: list[TaskInfo]
                    ) -> list[TaskInfo]:
        return self._victims("enable_reclaimable", self.reclaimable_fns, reclaimer,
                             reclaimees)

    def preemptive(self, queue: QueueInfo, task: TaskInfo) -> bool:
        """Whether `queue` may reclaim for `task` (AND over the plugins)."""
        fns = self.preemptive_fns
        return all(fns[name](queue, task) for name in self._chain("enable_preemptive", fns))

    def job_pipelined(self, job: JobInfo) -> bool:
        """Votes as JobEnqueueable: any Reject refuses, a tier with a Permit admits."""
        return self._vote("enable_job_pipelined", self.job_pipelined_fns, job)

    def job_starving(self, job: JobInfo) -> bool:
        """AND over the first tier that registered a starving callback; False when
        none did (Volcano's JobStarving)."""
        for tier in self.tiers:
            found = False
            for option in tier:
                fn = self.job_starving_fns.get(option.name)
                if fn is None or not option.enabled("enable_job_starving"):
                    continue
                found = True
                if not fn(job):
                    return False
            if found:
                return True
        return False

    # -- statement events -------------------------------------------------------------

    def on_allocate(self, task: TaskInfo) -> None:
        self._task_changed(task)
        for handler in self.allocate_handlers:
            handler(task)

    def on_deallocate(self, task: TaskInfo) -> None:
        self._task_changed(task)
        for handler in self.deallocate_handlers:
            handler(task)

    def record_job_event(self, job: JobInfo, event_type: str, reason: str,
                         message: str) -> None:
        self.events.append((job, event_type, reason, message))

    def close(self) -> None:
        for fn in self.close_fns:
            fn(self)
        # A reservation on releasing resources holds only within its session (§2.3):
        # the next one pipelines again while the victims are still going, or binds
        # once they are gone, or gives up when preempting no longer makes sense.
        for task, _ in self.pipelined:
            self.cache.unpipeline(task)
        # Past close, statuses move without Statement events (binds, the watch).
        for job in self.jobs.values():
            job.track(False)

    def _task_changed(self, task: TaskInfo) -> None:
        """Every Statement operation (allocate, pipeline, evict and their undoing)
        announces the task whose status it just changed: its job's counts are stale,
        and so is what was found of the nodes."""
        self.changes += 1
        job = self.job_of_task.get(task.key)
        if job is not None:
            job.tasks_changed()


def _compare(left: tuple[object, ...], right: tuple[object, ...]) -> int:
    if left < right:  # type: ignore[operator]
        return -1
    if left > right:  # type: ignore[operator]
        return 1
    return 0
