"""The Job controller (kube's job controller for batch/v1, with the TTL-after-finished
controller folded in): runs a Job's pods to `completions` successes with at most
`parallelism` at a time, NonIndexed or Indexed, retries failures with back-off up to
`backoffLimit`, honours `activeDeadlineSeconds`, `suspend`, `podFailurePolicy`
(FailJob, Ignore, Count) and `ttlSecondsAfterFinished`, and keeps the Job's status.

Counting never loses a pod, across controller restarts too (kube's job tracking with
finalizers): every pod is created with the `batch.kubernetes.io/job-tracking`
finalizer; a finished pod's uid is first written to `status.uncountedTerminatedPods`,
then its finalizer is removed, then it moves into `succeeded`/`failed`. A uid is
counted once it is in that list and its pod no longer holds the finalizer.

Owns Job status and the Job's pods; never touches pods another controller owns.
Talks to the API only through `client/` (ARCHITECTURE.md rule 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.events import NORMAL, WARNING, EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, split_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.client.workqueue import WorkQueue
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import pods as podutil
from kubeedge.controllers.ownership import claim
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

JOBS = ResourceRef("batch", "v1", "jobs", True, "Job")
PODS = ResourceRef("", "v1", "pods", True, "Pod")

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"

# kube's job controller: pod failure back-off 10 s doubling, capped at 6 minutes; pods
# created in batches of 1, 2, 4, ... ("slow start"); expectations expire after 5 min.
DEFAULT_POD_FAILURE_BACKOFF = 10.0
MAX_POD_FAILURE_BACKOFF = 360.0
EXPECTATIONS_TIMEOUT = 300.0
# Pods whose uids one status write may carry in uncountedTerminatedPods (kube: 500).
MAX_UNCOUNTED = 500

MSG_BACKOFF_LIMIT = "Job has reached the specified backoff limit"
MSG_DEADLINE = "Job was active longer than specified deadline"
MSG_COMPLETIONS = "Reached expected number of succeeded pods"


class Outcome(enum.Enum):
    """What a pod's end means for its Job's counters."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IGNORED = "ignored"  # finished, but counted nowhere (podFailurePolicy Ignore, suspend)


# ------------------------------------------------------------------------- time


class WallClock:
    """A `Clock` whose `now()` is Unix time: schedules, deadlines and TTLs are wall-clock
    facts. Tests inject a `FakeClock` started at a Unix time instead."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


def wall_time(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)


class WakeUps:
    """Adds keys to a work queue at later times measured on `clock` (the queue's own
    delays run on the real clock, so retries never wait for a test's fake time)."""

    def __init__(self, clock: Clock, queue: WorkQueue[str]) -> None:
        self.clock = clock
        self.queue = queue
        self._timers: dict[str, tuple[float, asyncio.Task[None]]] = {}

    def after(self, key: str, seconds: float) -> None:
        """Queue `key` once `seconds` have passed; the earliest request wins."""
        if seconds <= 0:
            self.queue.add(key)
            return
        due = self.clock.now() + seconds
        current = self._timers.get(key)
        if current is not None and not current[1].done() and current[0] <= due:
            return
        if current is not None:
            current[1].cancel()
        task = asyncio.get_running_loop().create_task(self._fire(key, seconds),
                                                      name=f"wake {key}")
        self._timers[key] = (due, task)

    async def _fire(self, key: str, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self._timers.pop(key, None)
        self.queue.add(key)

    def forget(self, key: str) -> None:
        current = self._timers.pop(key, None)
        if current is not None:
            current[1].cancel()

    async def stop(self) -> None:
        timers, self._timers = self._timers, {}
        for _, task in timers.values():
            task.cancel()
        for _, task in timers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task


# ------------------------------------------------------------------ expectations


@dataclass
class _Expect:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    """Pods this controller created or deleted that its informer has not shown yet
    (kube's ControllerExpectations): while any are outstanding the Job's pod list is
    stale, so no new decision about pod counts is made from it."""

    def __init__(self, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._by_key: dict[str, _Expect] = {}

    def expect(self, key: str, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        entry = self._by_key.setdefault(key, _Expect())
        entry.adds += adds
        entry.deletes.update(deletes)
        entry.since = self.clock.now()

    def created(self, key: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None and entry.adds > 0:
            entry.adds -= 1

    def deleted(self, key: str, uid: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None:
            entry.deletes.discard(uid)

    def satisfied(self, key: str) -> bool:
        entry = self._by_key.get(key)
        if entry is None or (entry.adds <= 0 and not entry.deletes):
            return True
        return self.clock.now() - entry.since > self.timeout

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)


# ----------------------------------------------------------- pure decision logic


def job_key(job: Obj) -> str:
    return f"{meta.namespace_of(job)}/{meta.name_of(job)}"


def is_true(obj: Obj, ctype: str) -> bool:
    cond = meta.condition(obj, ctype)
    return bool(cond and cond.get("status") == "True")


def finished_condition(job: Obj) -> str:
    """`Complete` or `Failed` when the Job has finished, else ""."""
    for ctype in ("Complete", "Failed"):
        if is_true(job, ctype):
            return ctype
    return ""


def is_indexed(spec: Obj) -> bool:
    return spec.get("completionMode") == "Indexed"


def completion_index(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    for source in (md.get("annotations") or {}, md.get("labels") or {}):
        value = source.get(COMPLETION_INDEX)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def parse_indexes(text: str | None) -> set[int]:
    """`"1,3-5"` → {1, 3, 4, 5} (status.completedIndexes)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        with contextlib.suppress(ValueError):
            out.update(range(int(low), int(high or low) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} → `"1,3-5"`: ascending, runs as intervals."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def want_active(spec: Obj, succeeded: int, active: int) -> int:
    """How many pods should be running now: never more than `parallelism`, never more
    than the completions still missing; a Job without `completions` starts no new pods
    once one has succeeded."""
    parallelism = max(int(spec.get("parallelism") if spec.get("parallelism") is not None
                          else 1), 0)
    completions = spec.get("completions")
    if completions is None:
        return min(active, parallelism) if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def indexes_to_create(completions: int, succeeded: set[int], active: set[int],
                      count: int) -> list[int]:
    """The lowest `count` indexes neither succeeded nor running."""
    out: list[int] = []
    for index in range(completions):
        if len(out) >= count:
            break
        if index not in succeeded and index not in active:
            out.append(index)
    return out


def failure_backoff(failures: int, base: float = DEFAULT_POD_FAILURE_BACKOFF,
                    maximum: float = MAX_POD_FAILURE_BACKOFF) -> float:
    """Delay before replacing pods after `failures` failures since the last success."""
    if failures <= 0:
        return 0.0
    return min(base * (2 ** min(failures - 1, 32)), maximum)


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... adding up to `count` (kube creates pods this way so a
    Job that cannot create pods fails after one request, not after hundreds)."""
    out: list[int] = []
    size = initial
    while count > 0:
        take = min(size, count)
        out.append(take)
        count -= take
        size *= 2
    return out


def pod_finish_time(pod: Obj) -> datetime | None:
    """When a finished pod ended: its containers' last `finishedAt`, else its latest
    condition transition."""
    status = pod.get("status") or {}
    latest: datetime | None = None
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            term = ((cs or {}).get("state") or {}).get("terminated") or {}
            moment = meta.parse_time(term.get("finishedAt"))
            if moment is not None and (latest is None or moment > latest):
                latest = moment
    if latest is not None:
        return latest
    for cond in status.get("conditions") or []:
        moment = meta.parse_time((cond or {}).get("lastTransitionTime"))
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return latest


@dataclass(frozen=True)
class PolicyMatch:
    action: str  # FailJob, Ignore, Count, FailIndex
    message: str


def match_failure_policy(policy: Obj | None, pod: Obj) -> PolicyMatch | None:
    """The first `podFailurePolicy` rule a failed pod matches (kube's
    matchPodFailurePolicy): exit codes of terminated containers (0 never matches), or
    pod conditions."""
    if not policy:
        return None
    status = pod.get("status") or {}
    where = f"{meta.namespace_of(pod)}/{meta.name_of(pod)}"
    for i, rule in enumerate(policy.get("rules") or []):
        action = str(rule.get("action") or "")
        on_codes = rule.get("onExitCodes")
        if on_codes:
            wanted = set(on_codes.get("values") or [])
            only = on_codes.get("containerName")
            in_op = on_codes.get("operator") == "In"
            statuses = [*(status.get("initContainerStatuses") or []),
                        *(status.get("containerStatuses") or [])]
            for cs in statuses:
                if only and cs.get("name") != only:
                    continue
                term = ((cs or {}).get("state") or {}).get("terminated")
                if not term:
                    continue
                code = int(term.get("exitCode") or 0)
                if code == 0:
                    continue
                if (code in wanted) == in_op:
                    return PolicyMatch(action, (
                        f"Container {cs.get('name')} for pod {where} failed with exit code "
                        f"{code} matching {action} rule at index {i}"))
        for wanted_cond in rule.get("onPodConditions") or []:
            ctype = wanted_cond.get("type")
            want_status = wanted_cond.get("status") or "True"
            cond = meta.condition(pod, str(ctype))
            if cond and cond.get("status") == want_status:
                return PolicyMatch(action, (
                    f"Pod {where} has condition {ctype} matching {action} rule at index {i}"))
    return None


def restarts_of(pod: Obj) -> int:
    status = pod.get("status") or {}
    return sum(int((cs or {}).get("restartCount") or 0)
               for key in ("initContainerStatuses", "containerStatuses")
               for cs in status.get(key) or [])


def set_job_condition(status: Obj, ctype: str, value: str, reason: str, message: str,
                      stamp: str) -> bool:
    """Set a Job condition as kube does (lastProbeTime and lastTransitionTime move when
    the condition changes); True when anything changed."""
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == ctype:
            if (cond.get("status"), cond.get("reason"), cond.get("message")) == (
                    value, reason, message):
                return False
            if cond.get("status") != value:
                cond["lastTransitionTime"] = stamp
            cond.update(status=value, reason=reason, message=message, lastProbeTime=stamp)
            return True
    conditions.append({"type": ctype, "status": value, "lastProbeTime": stamp,
                       "lastTransitionTime": stamp, "reason": reason, "message": message})
    return True


def newer_copy(a: Obj, b: Obj | None) -> Obj:
    """The later of two copies of one object by resourceVersion (the cache can lag a
    write this controller just made). resourceVersions are etcd revisions here; when
    either is not a number the cache's copy `a` wins."""
    if b is None or meta.metadata(b).get("uid") != meta.metadata(a).get("uid"):
        return a
    try:
        rv_a = int(meta.metadata(a).get("resourceVersion") or 0)
        rv_b = int(meta.metadata(b).get("resourceVersion") or 0)
    except ValueError:
        return a
    return b if rv_b > rv_a else a


# ------------------------------------------------------------------- controller


class JobController(Controller):
    """kube's job controller, plus the TTL-after-finished controller for Jobs.

    `pod_failure_backoff` and `max_pod_failure_backoff` (seconds) set the replacement
    back-off after pod failures; `clock` (Unix time) drives deadlines, back-off and
    TTLs, so tests can move time."""

    name = "job-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 clock: Clock | None = None,
                 pod_failure_backoff: float = DEFAULT_POD_FAILURE_BACKOFF,
                 max_pod_failure_backoff: float = MAX_POD_FAILURE_BACKOFF) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_job_syncs
        self.clock: Clock = clock or WallClock()
        self.backoff_base = pod_failure_backoff
        self.backoff_max = max_pod_failure_backoff
        self.expectations = Expectations(self.clock)
        self.wakeups = WakeUps(self.clock, self.queue)
        # uids of pods whose finalizer this controller removed, per Job key, until the
        # informer shows the removal.
        self._finalizers_removed: dict[str, set[str]] = {}
        # The Job as this controller last wrote it, per key (the cache may lag).
        self._written: dict[str, Obj] = {}
        # When this controller first saw a pod finished, for pods that carry no time.
        self._first_seen_finished: dict[str, datetime] = {}

    # -- wiring ----------------------------------------------------------------------

    def setup(self) -> None:
        self.jobs = self.informer(JOBS)
        self.pods = self.informer(PODS)
        self.jobs.add_event_handler(on_add=self._job_changed,
                                    on_update=lambda _old, new: self._job_changed(new),
                                    on_delete=self._job_deleted)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    async def stop(self) -> None:
        await self.wakeups.stop()
        await super().stop()

    def _job_changed(self, job: Obj) -> None:
        self.queue.add(job_key(job))

    def _job_deleted(self, job: Obj) -> None:
        key = job_key(job)
        self.expectations.forget(key)
        self._finalizers_removed.pop(key, None)
        self._written.pop(key, None)
        self.wakeups.forget(key)
        # Its pods may still hold our finalizer: release them.
        for pod in self.pods.store.by_index(NAMESPACE_INDEX, meta.namespace_of(job)):
            ref = podutil.controller_ref(pod)
            if ref and ref.get("uid") == meta.metadata(job).get("uid"):
                self._check_orphan(pod)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = podutil.controller_ref(pod)
        if not ref or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith(
                "batch/"):
            return None
        return f"{meta.namespace_of(pod)}/{ref.get('name')}"

    def _check_orphan(self, pod: Obj) -> None:
        """A pod holding our finalizer whose Job is gone (or that no Job controls) is
        queued on its own so the finalizer comes off."""
        if TRACKING_FINALIZER not in (meta.metadata(pod).get("finalizers") or []):
            return
        key = self._owner_key(pod)
        ref = podutil.controller_ref(pod)
        job = self.jobs.store.get_by_key(key) if key else None
        if job is None or (ref and meta.metadata(job).get("uid") != ref.get("uid")):
            self.queue.add(f"pod:{meta.namespace_of(pod)}/{meta.name_of(pod)}")

    def _enqueue_matching_jobs(self, pod: Obj) -> None:
        """An orphan pod: every Job whose selector matches may adopt it."""
        labels = meta.labels_of(pod)
        for job in self.jobs.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            selector = (job.get("spec") or {}).get("selector")
            if selector and LabelSelector.from_dict(selector).matches(labels):
                self.queue.add(job_key(job))

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            if podutil.controller_ref(pod) is None:
                self._enqueue_matching_jobs(pod)
            self._check_orphan(pod)
            return
        if meta.is_terminating(pod):
            self.expectations.deleted(key, str(meta.metadata(pod).get("uid")))
        else:
            self.expectations.created(key)
        self._check_orphan(pod)
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        old_key = self._owner_key(old)
        uid = str(meta.metadata(new).get("uid"))
        if old_key and old_key != key:
            self.queue.add(old_key)
        if key is None:
            if podutil.controller_ref(new) is None:
                self._enqueue_matching_jobs(new)
            self._check_orphan(new)
            return
        if meta.is_terminating(new) and not meta.is_terminating(old):
            self.expectations.deleted(key, uid)
        if TRACKING_FINALIZER not in (meta.metadata(new).get("finalizers") or []):
            self._finalizers_removed.get(key, set()).discard(uid)
        self._check_orphan(new)
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        uid = str(meta.metadata(pod).get("uid"))
        self._first_seen_finished.pop(uid, None)
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deleted(key, uid)
        self._finalizers_removed.get(key, set()).discard(uid)
        self.queue.add(key)

    # -- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith("pod:"):
            await self._release_orphan(key.removeprefix("pod:"))
            return
        namespace, name = split_key(key)
        cached = self.jobs.store.get(namespace, name)
        if cached is None:
            return
        job = copy.deepcopy(newer_copy(cached, self._written.get(key)))
        spec = job.get("spec") or {}
        manager = spec.get("managedBy")
        if manager and manager != JOB_CONTROLLER_NAME:
            return  # another controller runs this Job (kube's spec.managedBy)
        await JobSync(self, key, job).run()

    async def _release_orphan(self, pod_key: str) -> None:
        namespace, name = split_key(pod_key)
        pod = self.pods.store.get(namespace, name)
        if pod is None or TRACKING_FINALIZER not in (meta.metadata(pod).get("finalizers") or []):
            return
        ref = podutil.controller_ref(pod)
        if ref and ref.get("kind") == "Job":
            try:
                job = await self.client.get(JOBS, str(ref.get("name")), namespace)
            except APIError as exc:
                if not exc.is_not_found:
                    raise
            else:
                if meta.metadata(job).get("uid") == ref.get("uid"):
                    self.queue.add(f"{namespace}/{ref.get('name')}")
                    return
        await self.remove_finalizer(pod)

    # -- writes shared with JobSync --------------------------------------------------

    async def remove_finalizer(self, pod: Obj) -> bool:
        md = meta.metadata(pod)
        finalizers = list(md.get("finalizers") or [])
        if TRACKING_FINALIZER not in finalizers:
            return True
        index = finalizers.index(TRACKING_FINALIZER)
        ops = [{"op": "test", "path": "/metadata/uid", "value": md.get("uid")},
               {"op": "test", "path": f"/metadata/finalizers/{index}",
                "value": TRACKING_FINALIZER},
               {"op": "remove", "path": f"/metadata/finalizers/{index}"}]
        try:
            await self.client.patch(PODS, str(md.get("name")), ops, meta.namespace_of(pod),
                                    patch_type="json")
        except APIError as exc:
            if exc.is_not_found:
                return True
            if exc.is_invalid or exc.is_conflict:
                return False  # changed under us; the informer brings the new pod
            raise
        return True


class JobSync:
    """One pass over one Job: mirror the world (pods, counts, deadlines), decide, write
    (STYLE.md "Reconcile in two phases")."""

    def __init__(self, ctl: JobController, key: str, job: Obj) -> None:
        self.ctl = ctl
        self.key = key
        self.job = job
        self.spec: Obj = job.get("spec") or {}
        self.status: Obj = copy.deepcopy(job.get("status") or {})
        self.now = wall_time(ctl.clock)
        self.stamp = meta.rfc3339(self.now)
        self.events: list[tuple[str, str, str]] = []
        self.uid = str(meta.metadata(job).get("uid"))

    # -- mirror ----------------------------------------------------------------------

    async def _claimed_pods(self) -> list[Obj]:
        namespace = meta.namespace_of(self.job)
        selector_dict = self.spec.get("selector")
        selector = LabelSelector.from_dict(selector_dict) if selector_dict else None
        candidates = []
        for pod in self.ctl.pods.store.by_index(NAMESPACE_INDEX, namespace):
            ref = podutil.controller_ref(pod)
            if ref is None or ref.get("uid") == self.uid:
                candidates.append(pod)

        def matches(pod: Obj) -> bool:
            if selector is None:
                # The API server did not default a selector: own only what we created.
                ref = podutil.controller_ref(pod)
                return bool(ref and ref.get("uid") == self.uid)
            return selector.matches(meta.labels_of(pod))

        if selector is None:
            return [p for p in candidates if matches(p)]
        return await claim(self.ctl.client, PODS, self.job, candidates, matches)

    def _outcome(self, pod: Obj, failing: bool) -> tuple[Outcome | None, PolicyMatch | None]:
        """How a pod's end counts, or None while it has not ended."""
        phase = podutil.phase_of(pod)
        if phase == "Succeeded":
            return Outcome.SUCCEEDED, None
        terminating = meta.is_terminating(pod)
        if phase == "Failed":
            if terminating and self.spec.get("suspend"):
                return Outcome.IGNORED, None
            match = match_failure_policy(self.spec.get("podFailurePolicy"), pod)
            if match and match.action == "Ignore":
                return Outcome.IGNORED, match
            return Outcome.FAILED, match
        if not terminating:
            return None, None
        if failing:
            return Outcome.FAILED, None  # the Job gave up: every pod left counts as failed
        if self.spec.get("suspend"):
            return Outcome.IGNORED, None
        if self.spec.get("podReplacementPolicy") == "Failed" or self.spec.get(
                "podFailurePolicy"):
            return None, None  # wait for the pod to reach Failed
        return Outcome.FAILED, None

    # -- the pass --------------------------------------------------------------------

    async def run(self) -> None:
        ctl = self.ctl
        pods = await self._claimed_pods()
        if meta.is_terminating(self.job):
            # Deleted: let go of every pod so the garbage collector can remove them.
            for pod in pods:
                await ctl.remove_finalizer(pod)
            return

        finished = finished_condition(self.job)
        failing = is_true(self.job, "FailureTarget") or finished == "Failed"
        self.status.setdefault("uncountedTerminatedPods", {})
        policy_fail: PolicyMatch | None = None

        # 1. Count finished pods still holding the finalizer (uncounted first).
        uncounted = self.status["uncountedTerminatedPods"]
        unc_succeeded: list[str] = list(uncounted.get("succeeded") or [])
        unc_failed: list[str] = list(uncounted.get("failed") or [])
        removed = ctl._finalizers_removed.setdefault(self.key, set())
        indexed = is_indexed(self.spec)
        completions = self.spec.get("completions")
        completed = parse_indexes(self.status.get("completedIndexes"))
        to_release: list[Obj] = []
        needs_flush = False
        new_failures = 0
        for pod in pods:
            uid = str(meta.metadata(pod).get("uid"))
            if podutil.is_terminal(pod) and uid not in ctl._first_seen_finished:
                ctl._first_seen_finished[uid] = self.now
            if TRACKING_FINALIZER not in (meta.metadata(pod).get("finalizers") or []):
                continue
            if uid in removed:
                continue  # released in an earlier pass; the informer lags
            outcome, match = self._outcome(pod, failing)
            if outcome is None:
                continue
            if len(unc_succeeded) + len(unc_failed) >= MAX_UNCOUNTED:
                break
            to_release.append(pod)
            if outcome is Outcome.SUCCEEDED and uid not in unc_failed:
                if indexed:
                    ix = completion_index(pod)
                    if ix is not None and completions is not None and ix < int(completions) \
                            and ix not in completed:
                        completed.add(ix)
                        needs_flush = True
                elif uid not in unc_succeeded:
                    unc_succeeded.append(uid)
                    needs_flush = True
            elif outcome is Outcome.FAILED and uid not in unc_failed:
                unc_failed.append(uid)
                needs_flush = True
                new_failures += 1
                if match is not None and match.action == "FailJob" and policy_fail is None:
                    policy_fail = match

        if needs_flush:
            self.status["uncountedTerminatedPods"] = self._uncounted(unc_succeeded, unc_failed)
            if indexed:
                self.status["completedIndexes"] = format_indexes(completed)
                self.status["succeeded"] = len(completed)
            await self._write_status()
        released: set[str] = set()
        for pod in to_release:
            if await ctl.remove_finalizer(pod):
                uid = str(meta.metadata(pod).get("uid"))
                removed.add(uid)
                released.add(uid)
        holding = {str(meta.metadata(p).get("uid")) for p in pods
                   if TRACKING_FINALIZER in (meta.metadata(p).get("finalizers") or [])}
        holding -= removed
        succeeded = int(self.status.get("succeeded") or 0)
        failed = int(self.status.get("failed") or 0)
        keep_s = [u for u in unc_succeeded if u in holding]
        keep_f = [u for u in unc_failed if u in holding]
        succeeded += len(unc_succeeded) - len(keep_s)
        failed += len(unc_failed) - len(keep_f)
        if indexed:
            succeeded = len(completed)
        self.status["succeeded"] = succeeded
        self.status["failed"] = failed
        self.status["uncountedTerminatedPods"] = self._uncounted(keep_s, keep_f)
        # Counted for decisions: what is final plus what is on its way.
        total_succeeded = succeeded + len(keep_s)
        total_failed = failed + len(keep_f)

        if finished:
            await self._write_if_changed()
            await self._ttl(finished)
            return

        # 2. Mirror the live pods.
        active_pods = [p for p in pods if podutil.is_active(p)]
        terminating = [p for p in pods if meta.is_terminating(p) and not podutil.is_terminal(p)]
        suspended = bool(self.spec.get("suspend"))

        # 3. Decide whether the Job is done.
        if not suspended and self.status.get("startTime") is None:
            self.status["startTime"] = self.stamp
        target = self._failure_target(total_failed, active_pods, policy_fail)
        if target is not None and not is_true(self.job, "FailureTarget"):
            reason, message = target
            set_job_condition(self.status, "FailureTarget", "True", reason, message, self.stamp)
            failing = True
        elif is_true(self.job, "FailureTarget"):
            failing = True
        success = is_true(self.job, "SuccessCriteriaMet")
        if not failing and not success and not suspended:
            if completions is None:
                success = total_succeeded > 0 and not active_pods
            else:
                success = total_succeeded >= int(completions)
            if success:
                set_job_condition(self.status, "SuccessCriteriaMet", "True",
                                  "CompletionsReached", MSG_COMPLETIONS, self.stamp)

        # 4. Act on pods.
        if failing or success:
            if active_pods:
                await self._delete_pods(active_pods)
                terminating, active_pods = terminating + active_pods, []
            elif not terminating and not self._status_uncounted():
                self._finish(failing)
        else:
            self._suspend_or_resume(suspended)
            if not suspended:
                active_pods, doomed = await self._manage(active_pods, terminating, pods,
                                                         total_succeeded, completed)
                terminating = terminating + doomed
            elif active_pods:
                await self._delete_pods(active_pods)
                terminating, active_pods = terminating + active_pods, []

        # 5. Status.
        self.status["active"] = len(active_pods)
        self.status["ready"] = sum(1 for p in active_pods if podutil.is_ready(p))
        self.status["terminating"] = len(terminating)
        await self._write_if_changed()
        self._schedule_deadline(suspended or failing or success)

    def _uncounted(self, succeeded: list[str], failed: list[str]) -> Obj:
        out: Obj = {}
        if succeeded:
            out["succeeded"] = succeeded
        if failed:
            out["failed"] = failed
        return out

    def _status_uncounted(self) -> bool:
        unc = self.status.get("uncountedTerminatedPods") or {}
        return bool(unc.get("succeeded") or unc.get("failed"))

    def _failure_target(self, failed: int, active_pods: list[Obj],
                        policy_fail: PolicyMatch | None) -> tuple[str, str] | None:
        if policy_fail is not None:
            return "PodFailurePolicy", policy_fail.message
        limit = self.spec.get("backoffLimit")
        limit = 6 if limit is None else int(limit)
        if failed > limit:
            return "BackoffLimitExceeded", MSG_BACKOFF_LIMIT
        template_spec = ((self.spec.get("template") or {}).get("spec") or {})
        if template_spec.get("restartPolicy") == "OnFailure":
            restarts = sum(restarts_of(p) for p in active_pods
                           if podutil.phase_of(p) in ("Pending", "Running"))
            if (limit == 0 and restarts > 0) or (limit > 0 and restarts >= limit):
                return "BackoffLimitExceeded", MSG_BACKOFF_LIMIT
        deadline = self._deadline()
        if deadline is not None and self.now >= deadline and not self.spec.get("suspend"):
            return "DeadlineExceeded", MSG_DEADLINE
        return None

    def _deadline(self) -> datetime | None:
        seconds = self.spec.get("activeDeadlineSeconds")
        start = meta.parse_time(self.status.get("startTime"))
        if seconds is None or start is None:
            return None
        return start + timedelta(seconds=int(seconds))

    def _schedule_deadline(self, idle: bool) -> None:
        deadline = self._deadline()
        if deadline is not None and not idle:
            self.ctl.wakeups.after(self.key, (deadline - self.now).total_seconds() + 0.01)

    def _finish(self, failing: bool) -> None:
        if failing:
            target = meta.condition({"status": self.status}, "FailureTarget") or {}
            reason = str(target.get("reason") or "BackoffLimitExceeded")
            message = str(target.get("message") or MSG_BACKOFF_LIMIT)
            set_job_condition(self.status, "Failed", "True", reason, message, self.stamp)
            self.events.append((WARNING, reason, message))
        else:
            set_job_condition(self.status, "Complete", "True", "CompletionsReached",
                              MSG_COMPLETIONS, self.stamp)
            self.status["completionTime"] = self.stamp
            self.events.append((NORMAL, "Completed", "Job completed"))

    def _suspend_or_resume(self, suspended: bool) -> None:
        cond = meta.condition({"status": self.status}, "Suspended")
        if suspended and not (cond and cond.get("status") == "True"):
            set_job_condition(self.status, "Suspended", "True", "JobSuspended", "Job suspended",
                              self.stamp)
            self.events.append((NORMAL, "Suspended", "Job suspended"))
            # The deadline counts only while the Job runs: it restarts on resume.
            self.status.pop("startTime", None)
        elif not suspended and cond and cond.get("status") == "True":
            set_job_condition(self.status, "Suspended", "False", "JobResumed", "Job resumed",
                              self.stamp)
            self.events.append((NORMAL, "Resumed", "Job resumed"))
            self.status["startTime"] = self.stamp

    async def _manage(self, active_pods: list[Obj], terminating: list[Obj], pods: list[Obj],
                      succeeded: int, completed: set[int]) -> tuple[list[Obj], list[Obj]]:
        """Create or delete pods toward the wanted number; returns the active pods left
        and the pods deleted."""
        ctl = self.ctl
        if not ctl.expectations.satisfied(self.key):
            return active_pods, []
        indexed = is_indexed(self.spec)
        completions = self.spec.get("completions")
        doomed: list[Obj] = []
        if indexed and completions is not None:
            # Pods for indexes out of range, already done, or running twice go.
            seen: set[int] = set()
            keep: list[Obj] = []
            for pod in sorted(active_pods, key=lambda p: (podutil.is_ready(p) is False,
                                                          meta.name_of(p))):
                ix = completion_index(pod)
                if ix is None or ix >= int(completions) or ix in completed or ix in seen:
                    doomed.append(pod)
                else:
                    seen.add(ix)
                    keep.append(pod)
            active_pods = keep
        active = len(active_pods)
        busy = active
        if self.spec.get("podReplacementPolicy") == "Failed" or self.spec.get(
                "podFailurePolicy"):
            busy += len(terminating)  # replace only pods that have reached Failed
        want = want_active(self.spec, succeeded, active)
        if active > want:
            ranked = sorted(active_pods, key=podutil.deletion_rank)
            doomed.extend(ranked[: active - want])
            active_pods = ranked[active - want:]
        if doomed:
            await self._delete_pods(doomed)
            return active_pods, doomed
        missing = want - busy
        if missing <= 0:
            return active_pods, []
        delay = self._backoff_remaining(pods)
        if delay > 0:
            ctl.wakeups.after(self.key, delay)
            return active_pods, []
        if indexed and completions is not None:
            running = {ix for p in active_pods + terminating
                       if (ix := completion_index(p)) is not None}
            indexes: list[int | None] = list(indexes_to_create(int(completions), completed,
                                                                running, missing))
        else:
            indexes = [None] * missing
        await self._create_pods(indexes)
        return active_pods, []

    def _backoff_remaining(self, pods: list[Obj]) -> float:
        """Seconds until failed pods may be replaced: back-off doubles with each failure
        since the last success (kube's backoffRecord, rebuilt from the pods)."""
        finished: list[tuple[datetime, bool]] = []
        for pod in pods:
            if not podutil.is_terminal(pod):
                continue
            uid = str(meta.metadata(pod).get("uid"))
            moment = pod_finish_time(pod) or self.ctl._first_seen_finished.get(uid) or self.now
            finished.append((moment, podutil.phase_of(pod) == "Failed"))
        finished.sort(key=lambda item: item[0])
        failures = 0
        last_failure: datetime | None = None
        for moment, failed in finished:
            if failed:
                failures += 1
                last_failure = moment
            else:
                failures, last_failure = 0, None
        if not failures or last_failure is None:
            return 0.0
        wait = failure_backoff(failures, self.ctl.backoff_base, self.ctl.backoff_max)
        return (last_failure + timedelta(seconds=wait) - self.now).total_seconds()

    # -- writes ----------------------------------------------------------------------

    def _pod_for(self, index: int | None) -> Obj:
        name = meta.name_of(self.job)
        template = self.spec.get("template") or {}
        generate = f"{name}-{index}-" if index is not None else f"{name}-"
        extra: dict[str, str] = {}
        if not self.spec.get("selector"):
            # No server-made selector: label the pods the way the server would have.
            extra = {LEGACY_JOB_NAME_LABEL: name, JOB_NAME_LABEL: name,
                     LEGACY_CONTROLLER_UID_LABEL: self.uid, CONTROLLER_UID_LABEL: self.uid}
        if index is not None:
            extra[COMPLETION_INDEX] = str(index)
        pod = podutil.pod_from_template(template, self.job, generate_name=generate,
                                        extra_labels=extra)
        md = pod["metadata"]
        md["namespace"] = meta.namespace_of(self.job)
        finalizers = md.setdefault("finalizers", [])
        if TRACKING_FINALIZER not in finalizers:
            finalizers.append(TRACKING_FINALIZER)
        if index is not None:
            md.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
            spec = pod["spec"]
            if not spec.get("hostname"):
                spec["hostname"] = f"{name}-{index}"
            env_var = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
            for key in ("initContainers", "containers"):
                for container in spec.get(key) or []:
                    env = container.setdefault("env", [])
                    if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                        env.append(copy.deepcopy(env_var))
        return pod

    async def _create_pods(self, indexes: list[int | None]) -> None:
        ctl = self.ctl
        namespace = meta.namespace_of(self.job)
        remaining = list(indexes)
        for size in slow_start_batches(len(remaining)):
            batch, remaining = remaining[:size], remaining[size:]
            ctl.expectations.expect(self.key, adds=len(batch))
            results = await asyncio.gather(
                *(ctl.client.create(PODS, self._pod_for(ix), namespace) for ix in batch),
                return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if isinstance(result, dict):
                    ctl.recorder.event(self.job, NORMAL, "SuccessfulCreate",
                                       f"Created pod: {meta.name_of(result)}")
            if errors:
                # Those pods never came: expect fewer, and skip the later batches.
                for _ in errors:
                    ctl.expectations.created(self.key)
                err = errors[0]
                ctl.recorder.event(self.job, WARNING, "FailedCreate", f"Error creating: {err}")
                if isinstance(err, APIError) and err.is_forbidden and "being terminated" in str(
                        err):
                    return  # the namespace is going away with the Job
                raise err

    async def _delete_pods(self, doomed: list[Obj]) -> None:
        ctl = self.ctl
        uids = [str(meta.metadata(p).get("uid")) for p in doomed
                if not meta.is_terminating(p)]
        if not uids:
            return
        ctl.expectations.expect(self.key, deletes=uids)
        for pod in doomed:
            if meta.is_terminating(pod):
                continue
            uid = str(meta.metadata(pod).get("uid"))
            try:
                await ctl.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod),
                                        preconditions={"uid": uid})
            except APIError as exc:
                ctl.expectations.deleted(self.key, uid)
                if exc.is_not_found or exc.is_conflict:
                    continue
                ctl.recorder.event(self.job, WARNING, "FailedDelete",
                                   f"Error deleting: {exc}")
                raise
            ctl.recorder.event(self.job, NORMAL, "SuccessfulDelete",
                               f"Deleted pod: {meta.name_of(pod)}")

    async def _write_status(self) -> None:
        """PUT the status as it stands; a stale Job is a conflict, retried later."""
        body = copy.deepcopy(self.job)
        body["status"] = copy.deepcopy(self.status)
        written = await self.ctl.client.update_status(JOBS, body)
        self.ctl._written[self.key] = written
        self.job = written

    async def _write_if_changed(self) -> None:
        if self.status != (self.job.get("status") or {}):
            await self._write_status()
        for event_type, reason, message in self.events:
            self.ctl.recorder.event(self.job, event_type, reason, message)
        self.events = []

    async def _ttl(self, finished: str) -> None:
        """kube's TTL-after-finished controller: delete a finished Job once
        `ttlSecondsAfterFinished` has passed since it finished."""
        ttl = self.spec.get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        cond = meta.condition(self.job, finished) or {}
        done = (meta.parse_time(self.status.get("completionTime"))
                or meta.parse_time(cond.get("lastTransitionTime")))
        if done is None:
            return
        remaining = (done + timedelta(seconds=int(ttl)) - self.now).total_seconds()
        if remaining > 0:
            self.ctl.wakeups.after(self.key, remaining + 0.01)
            return
        # Confirm against the server: the TTL may have been changed or removed.
        namespace, name = meta.namespace_of(self.job), meta.name_of(self.job)
        try:
            fresh = await self.ctl.client.get(JOBS, name, namespace)
        except APIError as exc:
            if exc.is_not_found:
                return
            raise
        fresh_ttl = (fresh.get("spec") or {}).get("ttlSecondsAfterFinished")
        if fresh_ttl is None or meta.metadata(fresh).get("uid") != self.uid:
            return
        if int(fresh_ttl) != int(ttl):
            self.ctl.queue.add(self.key)
            return
        try:
            await self.ctl.client.delete(JOBS, name, namespace, propagation_policy="Background",
                                         preconditions={"uid": self.uid})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
