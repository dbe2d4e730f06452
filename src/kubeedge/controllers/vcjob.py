"""Volcano's job controller for `batch.volcano.sh/v1alpha1` Jobs (specs/volcano.md §1.3).

For each Job it creates the PodGroup `<job>-<job uid>` (minMember = minAvailable,
minTaskMember, queue, priorityClassName, minResources = the requests of the first
minAvailable pods, the Job's labels and annotations such as `volcano.sh/task-topology-*`),
owned by the Job. Pods `<job>-<task>-<index>` are created only once that PodGroup has
left Pending (the scheduler's enqueue admitted it), annotated and labelled so the
scheduler gangs them (§1.4), owned by the Job. Plugins (`vcjob_plugins` changes the
pods): `env`, `svc` (its headless Service `<job>` and ConfigMap `<job>-svc` made here),
`ssh` (its Secret `<job>-ssh` made here before any pod), `tensorflow`, `pytorch` and
`mpi`; `status.controlledResources` lists them as `plugin-<name>` while the Job lives. A
plugin argument with a bad value stops the Job before its PodGroup (PluginError).

Lifecycle (decisions in `vcjob_policy`): pod, PodGroup and `bus.volcano.sh` Command
changes become requests; the Job's and its tasks' `policies` turn events (PodFailed,
PodEvicted, Unknown, TaskCompleted, TaskFailed, `*`, PodPending with a timeout, a failed
container's exitCode) into actions (AbortJob, RestartJob, RestartTask, RestartPod,
TerminateJob, CompleteJob, ResumeJob), carried out per phase: Pending → Running →
Completed | Failed; Restarting (retryCount, maxRetry, version bumped so the new pods
carry a new `volcano.sh/job-version`); Aborting → Aborted; Terminating → Terminated;
Completing → Completed. A whole-Job kill deletes the PodGroup (re-created, and admitted
afresh, for a restart); soft kills keep Succeeded and Failed pods. Commands aimed at a Job
are deleted, then carried out. Events on the Job use Volcano's reasons (ExecuteAction,
CommandIssued, PodGroupPending, FailedCreate, FailedDelete). `ttlSecondsAfterFinished`
deletes a finished Job. Deleting a Job removes its pods, PodGroup, Service, ConfigMap
and ssh Secret through owner references (the garbage collector), as in Volcano.

Not covered: job volumes (PVCs), dependsOn, partitions (RestartPartition restarts the
pod), networkTopology, the ray / hcclrank plugins, PriorityClass ordering of tasks for
minResources, job forwarding. Unlike Volcano, a restart keeps the plugins' Service,
ConfigMap and Secret (the same hosts, and the same keys for pods still running).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import logging
import math
from fractions import Fraction
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import volcano_crds
from kubeedge.controllers.podgroup import GROUP_NAME_ANNOTATION, pod_requests
from kubeedge.controllers.pods import controller_ref, new_controller_ref, phase_of
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.vcjob_plugins import (
    PluginArgumentError,
    SSHPlugin,
    generate_key_pair,
    job_plugins,
    on_pod_create,
    pod_name,
    task_hosts,
    tasks_of,
)
from kubeedge.controllers.vcjob_policy import (
    JOB_ACTIONS,
    OUT_OF_SYNC_KEY,
    Action,
    Event,
    JobPhase,
    Kill,
    Plan,
    Request,
    Scope,
    Target,
    action_scope,
    apply_policies,
    finished_phase,
    format_duration,
    max_retry,
    plan,
    pod_event,
    restarting_phase,
)
from kubeedge.controllers.volcano_crds import COMMANDS, JOBS, PODGROUPS

__all__ = [
    "VCJobController",
    "append_condition",
    "command_target",
    "count_patch",
    "job_phase",
    "job_pod",
    "min_available",
    "min_resources",
    "pod_name",
    "podgroup_for_job",
    "podgroup_name",
    "task_counts",
    "tasks_of",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")

TASK_SPEC = "volcano.sh/task-spec"
TASK_INDEX = "volcano.sh/task-index"
JOB_NAME = "volcano.sh/job-name"
JOB_NAMESPACE = "volcano.sh/job-namespace"
QUEUE_NAME = "volcano.sh/queue-name"
JOB_VERSION = "volcano.sh/job-version"
TEMPLATE_UID = "volcano.sh/template-uid"
RETRY_COUNT = "volcano.sh/job-retry-count"
# Propagated from the Job's annotations to its pods, as Volcano does.
PROPAGATED = ("volcano.sh/preemptable", "volcano.sh/cooldown-time",
              "volcano.sh/revocable-zone")
# Labels of the Job copied onto its pods.
PROPAGATED_LABELS = ("volcano.sh/preemptable", "volcano.sh/cooldown-time")
JDB_MIN_AVAILABLE = "volcano.sh/jdb-min-available"
JDB_MAX_UNAVAILABLE = "volcano.sh/jdb-max-unavailable"
NUMA_POLICY = "volcano.sh/numa-topology-policy"
OUT_OF_SYNC = OUT_OF_SYNC_KEY

DEFAULT_SCHEDULER = "volcano"
DEFAULT_QUEUE = "default"
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


# --- pure helpers -------------------------------------------------------------------------

def min_available(job: Obj) -> int:
    """spec.minAvailable, else the sum of the tasks' minAvailable (webhook default)."""
    value = (job.get("spec") or {}).get("minAvailable")
    if value:  # the webhook replaces 0 as well as unset
        return int(value)
    return sum(int(t["minAvailable"]) for t in tasks_of(job))


def podgroup_name(job: Obj) -> str:
    md = job.get("metadata") or {}
    return f"{md.get('name', '')}-{md.get('uid', '')}"


def _format(name: str, value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    if name == "cpu" or value < 1:
        return f"{math.ceil(value * 1000)}m"
    return str(math.ceil(value))


def min_resources(job: Obj) -> dict[str, str]:
    """The requests of the first minAvailable pods: each task's minAvailable pods first,
    then further replicas in task order until minAvailable pods are counted."""
    remaining = min_available(job)
    total: dict[str, Fraction] = {}
    tasks = tasks_of(job)
    taken = [0] * len(tasks)

    def add(i: int, count: int) -> None:
        requests = pod_requests({"spec": (tasks[i].get("template") or {}).get("spec") or {}})
        for name, amount in requests.items():
            total[name] = total.get(name, Fraction(0)) + amount * count
        taken[i] += count

    for i, task in enumerate(tasks):
        count = min(int(task["minAvailable"]), task["replicas"], remaining)
        add(i, count)
        remaining -= count
    for i, task in enumerate(tasks):
        count = min(task["replicas"] - taken[i], remaining)
        if count > 0:
            add(i, count)
            remaining -= count
    return {name: _format(name, amount) for name, amount in sorted(total.items()) if amount}


def podgroup_for_job(job: Obj) -> Obj:
    """The PodGroup Volcano's job controller creates for `job` (pure)."""
    md = job.get("metadata") or {}
    spec = job.get("spec") or {}
    pg_spec: Obj = {
        "minMember": min_available(job),
        "minTaskMember": {t["name"]: int(t["minAvailable"]) for t in tasks_of(job)},
        "queue": spec.get("queue") or DEFAULT_QUEUE,
        "minResources": min_resources(job),
    }
    if spec.get("priorityClassName"):
        pg_spec["priorityClassName"] = spec["priorityClassName"]
    owner = new_controller_ref({**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind})
    pg_md: Obj = {"name": podgroup_name(job), "namespace": md.get("namespace") or "",
                  "ownerReferences": [owner]}
    if md.get("labels"):
        pg_md["labels"] = dict(md["labels"])
    if md.get("annotations"):
        pg_md["annotations"] = dict(md["annotations"])
    return {"apiVersion": PODGROUPS.api_version, "kind": PODGROUPS.kind, "metadata": pg_md,
            "spec": pg_spec, "status": {"phase": "Pending"}}


def plugins_of(job: Obj) -> dict[str, list[str]]:
    return dict((job.get("spec") or {}).get("plugins") or {})


def job_pod(job: Obj, task: Obj, index: int) -> Obj:
    """Pod `<job>-<task>-<index>` of `task` (a defaulted task from `tasks_of`), changed
    by the Job's plugins. Raises PluginArgumentError for a plugin argument with a bad
    value."""
    md = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    job_name = md.get("name") or ""
    ns = md.get("namespace") or ""
    queue = spec.get("queue") or DEFAULT_QUEUE
    template = task.get("template") or {}
    tmpl_md = template.get("metadata") or {}
    name = pod_name(job_name, task["name"], index)
    annotations = dict(tmpl_md.get("annotations") or {})
    job_annotations = md.get("annotations") or {}
    annotations.update({key: job_annotations[key] for key in PROPAGATED
                        if key in job_annotations})
    # A disruption budget: min-available wins over max-unavailable.
    for key in (JDB_MIN_AVAILABLE, JDB_MAX_UNAVAILABLE):
        if key in job_annotations:
            annotations[key] = job_annotations[key]
            break
    if task.get("topologyPolicy"):
        annotations[NUMA_POLICY] = str(task["topologyPolicy"])
    annotations.update({
        GROUP_NAME_ANNOTATION: podgroup_name(job),
        TASK_SPEC: task["name"],
        TASK_INDEX: str(index),
        JOB_NAME: job_name,
        QUEUE_NAME: queue,
        JOB_VERSION: str(int(status.get("version") or 0)),
        TEMPLATE_UID: f"{job_name}-{task['name']}",
        RETRY_COUNT: str(int(status.get("retryCount") or 0)),
    })
    labels = dict(tmpl_md.get("labels") or {})
    labels.update({JOB_NAME: job_name, TASK_SPEC: task["name"], TASK_INDEX: str(index),
                   JOB_NAMESPACE: ns, QUEUE_NAME: queue})
    job_labels = md.get("labels") or {}
    labels.update({key: job_labels[key] for key in PROPAGATED_LABELS if key in job_labels})
    pod_spec = copy.deepcopy(template.get("spec") or {})
    if not pod_spec.get("schedulerName"):
        pod_spec["schedulerName"] = spec.get("schedulerName") or DEFAULT_SCHEDULER
    if spec.get("priorityClassName") and not pod_spec.get("priorityClassName"):
        pod_spec["priorityClassName"] = spec["priorityClassName"]
    owner = new_controller_ref({**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind})
    pod_md: Obj = {"name": name, "namespace": ns, "labels": labels,
                   "annotations": annotations, "ownerReferences": [owner]}
    if tmpl_md.get("finalizers"):
        pod_md["finalizers"] = list(tmpl_md["finalizers"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_md, "spec": pod_spec}
    on_pod_create(job, task, index, pod)
    return pod


def task_counts(pods: list[Obj]) -> tuple[dict[str, int], dict[str, Obj]]:
    """Job-wide counts (pending/running/succeeded/failed/terminating/unknown) and
    `taskStatusCount` {task: {"phase": {PodPhase: n}}}."""
    counts = {k: 0 for k in ("pending", "running", "succeeded", "failed", "terminating",
                             "unknown")}
    per_task: dict[str, Obj] = {}
    for pod in pods:
        phase = phase_of(pod)
        # A pod being deleted is only terminating, whatever its phase (Volcano).
        if meta.is_terminating(pod):
            counts["terminating"] += 1
            continue
        counts[phase.lower() if phase in POD_PHASES else "unknown"] += 1
        task = ((pod.get("metadata") or {}).get("annotations") or {}).get(TASK_SPEC)
        if task:
            phases = per_task.setdefault(task, {"phase": {}})["phase"]
            phases[phase] = phases.get(phase, 0) + 1
    return counts, per_task


def job_phase(phase: str, job: Obj, counts: dict[str, int], per_task: dict[str, Obj]
              ) -> str:
    """The next `state.phase` (one transition, as Volcano's state machine)."""
    phase = phase or "Pending"
    need = min_available(job)
    tasks = tasks_of(job)
    replicas = sum(t["replicas"] for t in tasks)
    running, succeeded, failed = counts["running"], counts["succeeded"], counts["failed"]
    if phase == "Pending":
        return "Running" if need <= running + succeeded + failed else "Pending"
    if phase != "Running" or replicas == 0:
        return phase
    min_success = (job.get("spec") or {}).get("minSuccess")
    if min_success and succeeded >= int(min_success):
        return "Completed"
    if succeeded + failed == replicas:
        if need >= sum(int(t["minAvailable"]) for t in tasks):
            for task in tasks:
                done = ((per_task.get(task["name"]) or {}).get("phase") or {}).get(
                    "Succeeded", 0)
                if task.get("minAvailable") and done < int(task["minAvailable"]):
                    return "Failed"
        if min_success and succeeded < int(min_success):
            return "Failed"
        return "Completed" if succeeded >= need else "Failed"
    if replicas - need < counts["pending"]:
        return "Pending"
    return "Running"


def count_patch(old: Obj, new: Obj) -> Obj:
    """A merge patch turning taskStatusCount `old` into `new` (vanished counts nulled)."""
    patch: Obj = {}
    for task in set(old) | set(new):
        if task not in new:
            patch[task] = None
            continue
        phases = dict(new[task].get("phase") or {})
        for gone in set((old.get(task) or {}).get("phase") or {}) - set(phases):
            phases[gone] = None
        patch[task] = {"phase": phases}
    return patch


def _job_of(obj: Obj) -> str | None:
    ref = controller_ref(obj)
    if ref and ref.get("kind") == JOBS.kind and ref.get("apiVersion") == JOBS.api_version:
        return f"{meta.namespace_of(obj)}/{ref.get('name')}"
    return None


def job_key(obj: Obj) -> str:
    return f"{meta.namespace_of(obj)}/{meta.name_of(obj)}"


def command_target(cmd: Obj) -> str | None:
    """`namespace/name` of the Job a bus Command targets (Volcano's controller takes
    Commands whose target is a `batch.volcano.sh/v1alpha1` Job), else None."""
    target = cmd.get("target") or {}
    if (target.get("kind") == JOBS.kind and target.get("apiVersion") == JOBS.api_version
            and target.get("name")):
        return f"{meta.namespace_of(cmd)}/{target['name']}"
    return None


def append_condition(conditions: list[Obj], phase: str, stamp: str) -> list[Obj]:
    """Volcano's appendJobCondition: one condition per phase, the newest last."""
    return [c for c in conditions if c.get("status") != phase] + [
        {"status": phase, "lastTransitionTime": stamp}]


def map_patch(old: Obj, new: Obj) -> Obj:
    """A merge patch turning the flat map `old` into `new`."""
    return {**{k: None for k in old if k not in new}, **new}


def _resource_version(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _uid(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def _annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _ensure_index(informer: Any, name: str, fn: Any) -> None:
    try:
        informer.store.add_index(name, fn)
    except ValueError:
        pass  # a previous term's index on the shared informer


@dataclasses.dataclass
class _Delayed:
    """An action a policy `timeout` put off: `request` carries the decided action."""

    due: float
    request: Request


# Phases in which the Job's plugin resources (the svc plugin's Service and ConfigMap,
# the ssh plugin's Secret) live; once it finishes or is killed for good they are
# deleted (Volcano's OnJobDelete).
LIVE_PHASES = frozenset({JobPhase.PENDING, JobPhase.RUNNING, JobPhase.RESTARTING})
POD_EVENTS = frozenset({Event.POD_PENDING, Event.POD_RUNNING, Event.POD_FAILED,
                        Event.POD_EVICTED})
BY_TARGET = "vcjob/by-target-job"


# --- the controller -----------------------------------------------------------------------

class VCJobController(Controller):
    """Keys: `namespace/name` of Volcano Jobs.

    Like Volcano's controller, it works on requests: pod, PodGroup and Command changes
    become `Request`s (an event, or a Command's action) queued per Job, and a reconcile
    takes them in order through the lifecycle policies and the phase's plan
    (`vcjob_policy`), then syncs. A reconcile with no request (a Job change, a resync)
    just syncs. What the cache cannot know yet is remembered here: the Job as our last
    status write returned it, the pods we deleted and the PodGroup we deleted."""

    name = "vcjob"
    component = "vc-controller-manager"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *, workers: int = 5) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = workers
        # Per job key: (uid, ConfigMap data) the svc plugin last made sure of.
        self._svc_synced: dict[str, tuple[str, Obj]] = {}
        # Per job key: (uid, ssh config) the ssh plugin's Secret was last made sure of.
        self._ssh_synced: dict[str, tuple[str, str]] = {}
        # Per job key: the PluginError message last recorded.
        self._plugin_error: dict[str, str] = {}
        self._requests: dict[str, list[Request]] = {}
        # Per job key, per pod name ("" for requests about no pod): the action waiting.
        self._delayed: dict[str, dict[str, _Delayed]] = {}
        self._written: dict[str, Obj] = {}
        self._killed: dict[str, set[str]] = {}
        self._deleted_groups: dict[str, str] = {}
        self._group_message: dict[str, str] = {}

    async def start(self) -> None:
        # Installing Volcano's CRDs (a no-op when current) keeps a controller started
        # on its own from waiting forever on informers of resources nobody serves.
        await volcano_crds.install(self.client)
        await super().start()

    def setup(self) -> None:
        self.jobs = self.informer(JOBS)
        self.pods = self.informer(PODS)
        self.groups = self.informer(PODGROUPS)
        self.commands = self.informer(COMMANDS)
        for informer in (self.pods, self.groups):
            _ensure_index(informer, "vcjob", lambda o: [k] if (k := _job_of(o)) else [])
        _ensure_index(self.commands, BY_TARGET,
                      lambda c: [k] if (k := command_target(c)) else [])
        self.jobs.add_event_handler(**self.enqueue_by(job_key))
        self.pods.add_event_handler(on_add=lambda p: self._pod_changed(None, p),
                                    on_update=self._pod_changed,
                                    on_delete=lambda p: self._pod_changed(p, None))
        self.groups.add_event_handler(on_add=self._group_seen, on_update=self._group_changed,
                                      on_delete=self._group_seen)
        self.commands.add_event_handler(**self.enqueue_by(command_target))

    # -- requests from the informers ------------------------------------------------------

    def _push(self, key: str, req: Request) -> None:
        queue = self._requests.setdefault(key, [])
        # Back-to-back "look again" requests say nothing more than one.
        if not (queue and req == Request() and queue[-1] == req):
            queue.append(req)
        self.queue.add(key)

    def _pod_changed(self, old: Obj | None, new: Obj | None) -> None:
        pod = new if new is not None else old
        if pod is None:
            return
        key = _job_of(pod)
        if not key:
            return
        job = self.jobs.store.get_by_key(key)
        task_name = _annotations(pod).get(TASK_SPEC)
        task = next((t for t in tasks_of(job) if t["name"] == task_name), None) if job else None
        task_pods = [p for p in self.pods.store.by_index("vcjob", key)
                     if _annotations(p).get(TASK_SPEC) == task_name]
        req = pod_event(old, new, task, task_pods)
        if req is None:
            self.queue.add(key)
            return
        self._push(key, dataclasses.replace(req, job_uid=str((controller_ref(pod) or {})
                                                            .get("uid") or "")))

    def _group_seen(self, group: Obj) -> None:
        key = _job_of(group)
        if key:
            self.queue.add(key)

    def _group_changed(self, old: Obj, new: Obj) -> None:
        key = _job_of(new)
        if not key:
            return
        phase = (new.get("status") or {}).get("phase")
        if phase == "Unknown" and (old.get("status") or {}).get("phase") != phase:
            self._push(key, Request(event=Event.UNKNOWN))
        else:
            self.queue.add(key)

    # -- reconcile ------------------------------------------------------------------------

    def _job(self, key: str) -> Obj | None:
        """The Job as cached, or as our last status write returned it when the cache has
        not caught up with that write yet."""
        cached = self.jobs.store.get_by_key(key)
        written = self._written.get(key)
        if written is not None:
            if (cached is not None and _uid(cached) == _uid(written)
                    and _resource_version(written) > _resource_version(cached)):
                return written
            self._written.pop(key, None)
        return cached

    def _forget(self, key: str) -> None:
        for memory in (self._svc_synced, self._ssh_synced, self._plugin_error,
                       self._requests, self._delayed, self._written, self._killed,
                       self._deleted_groups, self._group_message):
            memory.pop(key, None)  # type: ignore[attr-defined]

    async def reconcile(self, key: str) -> None:
        job = self._job(key)
        await self._take_commands(key, job)
        requests = self._requests.pop(key, [])
        if job is None or meta.is_terminating(job):
            self._forget(key)
            return
        job = {**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind}
        requests += self._due_delayed(key)
        try:
            while requests:
                job = await self._handle(key, job, requests[0])
                requests.pop(0)
            job = await self._execute(job, Action.SYNC_JOB, Request())
        except BaseException:
            # Unhandled requests wait for the retry, ahead of newer ones.
            if requests:
                self._requests[key] = requests + self._requests.get(key, [])
            raise
        await self._expire(key, job)

    async def _take_commands(self, key: str, job: Obj | None) -> None:
        """Each Command aimed at the Job becomes a request; like Volcano, the Command is
        deleted first, so it is carried out at most once."""
        commands = sorted(self.commands.store.by_index(BY_TARGET, key), key=lambda c: (
            (c.get("metadata") or {}).get("creationTimestamp") or "", meta.name_of(c)))
        for cmd in commands:
            try:
                await self.client.delete(COMMANDS, meta.name_of(cmd), meta.namespace_of(cmd))
            except APIError as exc:
                if exc.is_not_found:
                    continue  # carried out already; the cache is behind
                raise
            action = str(cmd.get("action") or "")
            if job is not None:
                self.recorder.event(
                    {**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind}, "Normal",
                    "CommandIssued", f"Start to execute command {action}, and clean it up "
                    "to make sure executed not more than once.")
            self._requests.setdefault(key, []).append(
                Request(event=Event.COMMAND_ISSUED, action=action))

    async def _handle(self, key: str, job: Obj, req: Request) -> Obj:
        self._cancel_for_pod_event(key, req)
        decision = apply_policies(job, req)
        if decision.delay > 0:
            self._delay(key, job, req, decision.action, decision.delay)
            return job
        if decision.action not in JOB_ACTIONS:
            return job  # sync (done once, after every request)
        self.recorder.event(job, "Normal", "ExecuteAction",
                            f"Start to execute action {decision.action}")
        job = await self._execute(job, decision.action, req)
        self._cancel_same_scope(key, decision.action, req)
        return job

    async def _execute(self, job: Obj, action: str, req: Request) -> Obj:
        phase = ((job.get("status") or {}).get("state") or {}).get("phase") or JobPhase.PENDING
        step = plan(phase, action)
        if step.kill is Kill.NONE:
            return await self._sync(job, step)
        target = None
        if step.kill is Kill.TARGET:
            # Partitions are not modelled: RestartPartition restarts the pod.
            target = Target(req.task, "" if action == Action.RESTART_TASK else req.pod)
        return await self._kill(job, step, target, acting=action != Action.SYNC_JOB)

    # -- delayed actions (policy timeouts) ------------------------------------------------

    def _delay(self, key: str, job: Obj, req: Request, action: str, delay: float) -> None:
        slot = self._delayed.setdefault(key, {})
        old = slot.get(req.pod)
        if old is not None and old.request.action == action:
            return  # the first timer stands
        now = asyncio.get_running_loop().time()
        slot[req.pod] = _Delayed(now + delay, dataclasses.replace(req, action=action))
        self.recorder.event(job, "Normal", "ExecuteAction",
                            f"Execute action {action} after {format_duration(delay)}")
        self.queue.add_after(f"{key}", delay)

    def _due_delayed(self, key: str) -> list[Request]:
        slot = self._delayed.get(key)
        if not slot:
            return []
        now = asyncio.get_running_loop().time()
        due = [pod for pod, d in slot.items() if d.due <= now + 0.001]
        return [slot.pop(pod).request for pod in due]

    def _cancel_for_pod_event(self, key: str, req: Request) -> None:
        """A pod that moved on cancels what waited on its old state: any pod event but
        PodPending cancels that pod's PodPending timer; PodRunning cancels its PodFailed
        and PodEvicted timers (Volcano's CleanPodDelayActionsIfNeed)."""
        if req.action or req.event not in POD_EVENTS or req.event == Event.POD_PENDING:
            return
        slot = self._delayed.get(key) or {}
        waiting = slot.get(req.pod)
        if waiting is None:
            return
        if ((waiting.request.event == Event.POD_PENDING
             and waiting.request.pod_uid == req.pod_uid)
                or (waiting.request.event in (Event.POD_FAILED, Event.POD_EVICTED)
                    and req.event == Event.POD_RUNNING)):
            del slot[req.pod]

    def _cancel_same_scope(self, key: str, action: str, req: Request) -> None:
        """An action carried out makes waiting actions of its kind moot: job actions
        all, task actions of the same task, pod actions of the same pod."""
        scope = action_scope(action)
        slot = self._delayed.get(key) or {}
        for pod, waiting in list(slot.items()):
            other = waiting.request
            if action_scope(other.action) is not scope:
                continue
            if scope is Scope.TASK and other.task != req.task:
                continue
            if scope is Scope.POD and other.pod != req.pod:
                continue
            del slot[pod]

    # -- sync: PodGroup, plugins, pods, status --------------------------------------------

    def _pods_of(self, key: str, job: Obj) -> list[Obj]:
        """The Job's pods; those we deleted that the cache still shows alive count as
        terminating."""
        uid = _uid(job)
        pods = [p for p in self.pods.store.by_index("vcjob", key)
                if (controller_ref(p) or {}).get("uid") == uid]
        killed = self._killed.get(key)
        if not killed:
            return pods
        out, still = [], set()
        for pod in pods:
            if _uid(pod) in killed and not meta.is_terminating(pod):
                still.add(_uid(pod))
                pod = {**pod, "metadata": {**pod["metadata"],
                                           "deletionTimestamp": meta.rfc3339(meta.now())}}
            out.append(pod)
        self._killed[key] = still
        return out

    async def _sync(self, job: Obj, step: Plan) -> Obj:
        key = job_key(job)
        pods = self._pods_of(key, job)
        restarting = step.then == JobPhase.RESTARTING
        status = job.get("status") or {}
        replicas = sum(t["replicas"] for t in tasks_of(job))
        retry = int(status.get("retryCount") or 0)
        limit = max_retry((job.get("spec") or {}).get("maxRetry"))
        if restarting and retry >= limit:
            counts, per_task = task_counts(pods)
            return await self._write_status(job, counts, per_task, JobPhase.FAILED)
        try:
            plugins = job_plugins(job)
        except PluginArgumentError as exc:
            return await self._refuse_plugins(job, pods, str(exc))
        self._plugin_error.pop(key, None)
        group = await self._sync_podgroup(job)
        if "svc" in plugins_of(job):
            await self._sync_svc(job)
        for plugin in plugins:
            if isinstance(plugin, SSHPlugin):
                await self._sync_ssh(job, plugin)
        admitted = (group.get("status") or {}).get("phase") not in (None, "", "Pending")
        if admitted:
            pods = await self._sync_pods(job, pods)
        counts, per_task = task_counts(pods)
        if restarting:
            phase = restarting_phase(retry, limit, replicas, counts["terminating"],
                                     min_available(job))
        else:
            phase = job_phase(str((status.get("state") or {}).get("phase") or ""), job,
                              counts, per_task)
        self._group_event(job, group)
        return await self._write_status(job, counts, per_task, phase)

    async def _refuse_plugins(self, job: Obj, pods: list[Obj], message: str) -> Obj:
        """Volcano's initiateJob stops at a plugin it cannot build: no PodGroup and no
        pods, a PluginError warning (recorded once per distinct message: retrying cannot
        change the arguments; a changed Job is synced again) and no controlledResources."""
        self._plugin_warning(job, message)
        counts, per_task = task_counts(pods)
        phase = job_phase(str(((job.get("status") or {}).get("state") or {}).get("phase")
                              or ""), job, counts, per_task)
        return await self._write_status(job, counts, per_task, phase, controlled=False)

    def _plugin_warning(self, job: Obj, message: str) -> None:
        key = job_key(job)
        if self._plugin_error.get(key) != message:
            self._plugin_error[key] = message
            self.recorder.event(job, "Warning", "PluginError",
                                f"Execute plugin when job add failed, err: {message}")

    async def _sync_ssh(self, job: Obj, plugin: SSHPlugin) -> None:
        """The ssh plugin's Secret, before any pod mounts it. A Secret already there
        keeps its keys (running pods hold them); only its host list follows the Job.
        One not owned by this Job (a same-named Job's, not yet collected) is waited
        out."""
        key, ns = job_key(job), meta.namespace_of(job)
        config = plugin.config(job)
        synced = (_uid(job), config)
        if self._ssh_synced.get(key) == synced:
            return
        name = plugin.secret_name(job)
        try:
            have: Obj | None = await self.client.get(SECRETS, name, ns)
        except APIError as exc:
            if not exc.is_not_found:
                raise
            have = None
        if have is None:
            # Making an RSA key takes a while: off the event loop.
            secret = await asyncio.to_thread(plugin.secret, job, new_controller_ref(job),
                                             generate_key_pair)
            try:
                await self.client.create(SECRETS, secret, ns)
            except APIError as exc:
                if exc.is_already_exists:
                    self.queue.add(key)  # made meanwhile: look at it on the next sync
                    return
                self._plugin_warning(job, f"create secret for job <{ns}/{meta.name_of(job)}> "
                                          f"with ssh plugin failed for {exc}")
                raise
        else:
            if (controller_ref(have) or {}).get("uid") != _uid(job):
                message = (f"secret {ns}/{name} for the ssh plugin exists and is not "
                           f"owned by job {meta.name_of(job)}")
                self._plugin_warning(job, message)
                raise RuntimeError(message)
            encoded = base64.b64encode(config.encode()).decode()
            if (have.get("data") or {}).get("config") != encoded:
                await self.client.patch(SECRETS, name, {"data": {"config": encoded}}, ns)
        self._ssh_synced[key] = synced

    async def _sync_podgroup(self, job: Obj) -> Obj:
        want = podgroup_for_job(job)
        key = job_key(job)
        ns = meta.namespace_of(job)
        have = self.groups.store.get(ns, meta.name_of(want))
        if have is not None and _uid(have) == self._deleted_groups.get(key):
            have = None  # we deleted it; the cache has not seen that yet
        if have is None:
            try:
                return await self.client.create(PODGROUPS, want, ns)
            except APIError as exc:
                if not exc.is_already_exists:
                    self.recorder.event(job, "Warning", "PodGroupError",
                                        f"Failed to create PodGroup, err: {exc}")
                    raise
                return await self.client.get(PODGROUPS, meta.name_of(want), ns)
        spec = have.get("spec") or {}
        changed = {k: v for k, v in want["spec"].items() if spec.get(k) != v}
        if changed:
            return await self.client.patch(PODGROUPS, meta.name_of(want), {"spec": changed}, ns)
        return have

    async def _delete_podgroup(self, job: Obj) -> None:
        """Volcano deletes a Job's PodGroup whenever it kills the whole Job, so a
        restarted Job is admitted afresh and a finished one holds no queue share."""
        key = job_key(job)
        have = self.groups.store.get(meta.namespace_of(job), podgroup_name(job))
        if have is None or _uid(have) == self._deleted_groups.get(key):
            return
        try:
            await self.client.delete(PODGROUPS, meta.name_of(have), meta.namespace_of(have),
                                     preconditions={"uid": _uid(have)})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
        self._deleted_groups[key] = _uid(have)

    def _group_event(self, job: Obj, group: Obj) -> None:
        """Volcano's PodGroupPending warning when the group's latest true condition is
        not Scheduled (recorded once per distinct message)."""
        latest: Obj | None = None
        for cond in (group.get("status") or {}).get("conditions") or []:
            if cond.get("status") != "True":
                continue
            if latest is None or str(cond.get("lastTransitionTime") or "") > str(
                    latest.get("lastTransitionTime") or ""):
                latest = cond
        key = job_key(job)
        if latest is None or latest.get("type") == "Scheduled":
            self._group_message.pop(key, None)
            return
        message = (f"PodGroup {meta.namespace_of(job)}:{meta.name_of(job)} "
                   f"{str(latest.get('type') or '').lower()}, reason: "
                   f"{latest.get('message') or ''}")
        if self._group_message.get(key) != message:
            self._group_message[key] = message
            self.recorder.event(job, "Warning", "PodGroupPending", message)

    async def _sync_svc(self, job: Obj) -> None:
        ns = meta.namespace_of(job)
        name = meta.name_of(job)
        owner = new_controller_ref(job)
        service = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "ownerReferences": [owner]},
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": {JOB_NAME: name, JOB_NAMESPACE: ns},
                     "ports": [{"name": "placeholder-volcano", "port": 1000,
                                "protocol": "TCP", "targetPort": 1000}]},
        }
        data = {f"{task}.host": "\n".join(hosts) for task, hosts in task_hosts(job).items()}
        key = f"{ns}/{name}"
        synced = (_uid(job), data)
        if self._svc_synced.get(key) == synced:
            return
        configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{name}-svc", "ownerReferences": [owner]},
                     "data": data}
        for ref, obj in ((SERVICES, service), (CONFIGMAPS, configmap)):
            try:
                await self.client.create(ref, obj, ns)
            except APIError as exc:
                if not exc.is_already_exists:
                    raise
                if ref is CONFIGMAPS:
                    await self.client.patch(CONFIGMAPS, meta.name_of(obj), {"data": data}, ns)
        self._svc_synced[key] = synced

    async def _sync_pods(self, job: Obj, pods: list[Obj]) -> list[Obj]:
        """Create the missing pods; delete pods beyond the replicas and leftovers marked
        out of sync by a kill whose delete did not go through."""
        want: dict[str, tuple[Obj, int]] = {}
        for task in tasks_of(job):
            for index in range(task["replicas"]):
                want[pod_name(meta.name_of(job), task["name"], index)] = (task, index)
        existing = {meta.name_of(p) for p in pods}
        extra = [p for p in pods if not meta.is_terminating(p) and (
            meta.name_of(p) not in want or OUT_OF_SYNC in _annotations(p))]
        if extra:
            pods = await self._delete_pods(job, extra, pods)
        missing = [job_pod(job, task, index) for name, (task, index) in want.items()
                   if name not in existing]
        if not missing:
            return pods
        results = await asyncio.gather(*(self._create_pod(job, pod) for pod in missing),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.recorder.event(job, "Warning", "FailedCreate",
                                f"Error creating pods: {[str(e) for e in errors]}")
            raise errors[0]
        return pods + [r for r in results if isinstance(r, dict)]

    async def _create_pod(self, job: Obj, pod: Obj) -> Obj | None:
        ns = meta.namespace_of(job)
        try:
            return await self.client.create(PODS, pod, ns)
        except APIError as exc:
            if not exc.is_already_exists:
                raise
        # Made by an earlier sync and not yet in the cache: count it.
        try:
            return await self.client.get(PODS, meta.name_of(pod), ns)
        except APIError as exc:
            if not exc.is_not_found:
                raise
        return None

    # -- kill -----------------------------------------------------------------------------

    async def _kill(self, job: Obj, step: Plan, target: Target | None, *, acting: bool) -> Obj:
        """Delete the Job's pods (all but finished ones when soft, all at the last retry
        soft too) or the target's, count, and move the phase as `step` says. A whole-Job
        kill started by an action bumps status.version and deletes the PodGroup."""
        key = job_key(job)
        pods = self._pods_of(key, job)
        status = job.get("status") or {}
        spec = job.get("spec") or {}
        retry = int(status.get("retryCount") or 0)
        limit = max_retry(spec.get("maxRetry"))
        version = int(status.get("version") or 0)
        if target is not None:
            victims = [p for p in pods if not meta.is_terminating(p)
                       and _annotations(p).get(TASK_SPEC) == target.task
                       and (not target.pod or meta.name_of(p) == target.pod)]
        else:
            if acting:
                version += 1
            # At the last retry the finished pods stay, to be looked at.
            soft = step.soft or retry >= limit - 1
            victims = [p for p in pods if not meta.is_terminating(p) and not (
                soft and phase_of(p) in ("Succeeded", "Failed"))]
        pods = await self._delete_pods(job, victims, pods)
        counts, per_task = task_counts(pods)
        phase = str((status.get("state") or {}).get("phase") or JobPhase.PENDING)
        if step.retry:
            retry += 1
        if step.enter:
            phase = step.enter
        if step.then == JobPhase.RESTARTING:
            phase = restarting_phase(retry, limit, sum(t["replicas"] for t in tasks_of(job)),
                                     counts["terminating"], min_available(job))
        elif step.then:
            phase = finished_phase(step.then, counts)
        job = await self._write_status(job, counts, per_task, phase, version=version,
                                       retry=retry, guard=acting)
        if target is None:
            await self._delete_podgroup(job)
        return job

    async def _delete_pods(self, job: Obj, victims: list[Obj], pods: list[Obj]) -> list[Obj]:
        """Mark each victim out of sync (so its later events are not policy events, as
        Volcano does), delete it, and return `pods` with the victims terminating."""
        if not victims:
            return pods
        key = job_key(job)
        errors: list[str] = []
        gone: set[str] = set()

        async def kill(pod: Obj) -> None:
            name, ns = meta.name_of(pod), meta.namespace_of(pod)
            try:
                if OUT_OF_SYNC not in _annotations(pod):
                    await self.client.patch(
                        PODS, name, [{"op": "add", "path": "/metadata/annotations/"
                                      + OUT_OF_SYNC.replace("/", "~1"), "value": "true"}],
                        ns, patch_type="json")
                await self.client.delete(PODS, name, ns)
            except APIError as exc:
                if not exc.is_not_found:
                    errors.append(f"failed to delete pod {name}, err: {exc}")
                    return
            gone.add(_uid(pod))

        await asyncio.gather(*(kill(p) for p in victims))
        self._killed.setdefault(key, set()).update(gone)
        if errors:
            self.recorder.event(job, "Warning", "FailedDelete",
                                f"Error deleting pods: {errors}")
            raise RuntimeError(f"failed to kill {len(errors)} pods of {len(victims)}")
        stamp = meta.rfc3339(meta.now())
        return [{**p, "metadata": {**p["metadata"], "deletionTimestamp": stamp}}
                if _uid(p) in gone and not meta.is_terminating(p) else p for p in pods]

    async def _delete_plugin_resources(self, job: Obj) -> None:
        """The svc plugin's Service and ConfigMap and the ssh plugin's Secret go with a
        Job killed for good (Volcano's OnJobDelete)."""
        key = job_key(job)
        self._svc_synced.pop(key, None)
        self._ssh_synced.pop(key, None)
        ns, name = meta.namespace_of(job), meta.name_of(job)
        plugins = plugins_of(job)
        owned: list[tuple[ResourceRef, str]] = []
        if "svc" in plugins:
            owned += [(CONFIGMAPS, f"{name}-svc"), (SERVICES, name)]
        if "ssh" in plugins:
            owned.append((SECRETS, SSHPlugin.secret_name(job)))
        for ref, obj_name in owned:
            try:
                await self.client.delete(ref, obj_name, ns)
            except APIError as exc:
                if not exc.is_not_found:
                    raise

    # -- status ---------------------------------------------------------------------------

    async def _write_status(self, job: Obj, counts: dict[str, int], per_task: dict[str, Obj],
                            phase: str, *, version: int | None = None, retry: int | None = None,
                            guard: bool = False, controlled: bool = True) -> Obj:
        """Patch the Job's status when it changed; `guard` makes the patch fail (409) on
        a Job changed since it was read, so an action decided from a stale Job is never
        recorded (the request is retried on the fresh one). `controlled` False: the
        plugins did not start, so no `plugin-<name>` in controlledResources."""
        status = job.get("status") or {}
        old_phase = str((status.get("state") or {}).get("phase") or "")
        plugins = plugins_of(job)
        want: Obj = {
            **counts, "minAvailable": min_available(job), "taskStatusCount": per_task,
            "version": int(status.get("version") or 0) if version is None else version,
            "retryCount": int(status.get("retryCount") or 0) if retry is None else retry,
            "controlledResources": ({f"plugin-{p}": p for p in sorted(plugins)}
                                    if phase in LIVE_PHASES and controlled else {}),
        }
        state = dict(status.get("state") or {})
        conditions = list(status.get("conditions") or [])
        if phase != old_phase:
            stamp = meta.rfc3339(meta.now())
            state = {"phase": phase, "lastTransitionTime": stamp}
            conditions = append_condition(conditions, phase, stamp)
        want["state"] = state
        want["conditions"] = conditions
        if all(status.get(k, {} if k == "controlledResources" else None) == v
               for k, v in want.items()):
            return job
        if status.get("controlledResources") and not want["controlledResources"]:
            # Volcano's OnJobDelete, before the status stops listing the plugins (a
            # failed delete is retried with the write): a Job finished or killed for
            # good, however it got there, loses its plugins' Service, ConfigMap and
            # Secret.
            await self._delete_plugin_resources(job)
        body = {**want,
                "taskStatusCount": count_patch(status.get("taskStatusCount") or {}, per_task),
                "controlledResources": map_patch(status.get("controlledResources") or {},
                                                 want["controlledResources"])}
        patch: Obj = {"status": body}
        if guard:
            patch["metadata"] = {"resourceVersion": (job.get("metadata") or {}).get(
                "resourceVersion")}
        try:
            updated = await self.client.patch(JOBS, meta.name_of(job), patch,
                                              meta.namespace_of(job), subresource="status")
        except APIError as exc:
            if not exc.is_not_found:
                raise
            return job
        if phase != old_phase:
            log.debug("vcjob %s: %s -> %s", meta.name_of(job), old_phase, phase)
        self._written[job_key(job)] = updated
        return {**updated, "apiVersion": JOBS.api_version, "kind": JOBS.kind}

    # -- ttlSecondsAfterFinished ------------------------------------------------------------

    async def _expire(self, key: str, job: Obj) -> None:
        """Delete a Job `ttlSecondsAfterFinished` after it finished (Completed, Failed or
        Terminated), in the foreground as Volcano's garbage collector does."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        state = (job.get("status") or {}).get("state") or {}
        if ttl is None or state.get("phase") not in FINISHED_FOR_TTL:
            return
        finished = meta.parse_time(state.get("lastTransitionTime"))
        if finished is None:
            return
        left = (finished - meta.now()).total_seconds() + float(ttl)
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:
            await self.client.delete(JOBS, meta.name_of(job), meta.namespace_of(job),
                                     propagation_policy="Foreground",
                                     preconditions={"uid": _uid(job)})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise


FINISHED_FOR_TTL = frozenset({JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.TERMINATED})
