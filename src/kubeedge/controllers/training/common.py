"""The job engine every Kubeflow training job shares (training-operator v1.9's
`JobController.ReconcileJobs`, specs/volcano.md §6), for `kubeflow.org/v1` TFJob and
PyTorchJob; `tfjob.py` and `pytorchjob.py` add what differs (cluster spec in the pods'
environment, which replica is the master, how replica counts become job conditions).

Per job, in the operator's order:
1. the Created condition (`<Kind>Created`);
2. a finished job (Succeeded or Failed) has its pods and Services deleted per
   `runPolicy.cleanPodPolicy` (All; Running = Running and Pending pods; None), its
   PodGroup deleted, and the job itself deleted `ttlSecondsAfterFinished` after
   completionTime;
3. `runPolicy.suspend` deletes every pod, Service and the PodGroup (Suspended=True);
   resuming sets Suspended=False and a new startTime;
4. `backoffLimit` (restarts this operator made, or container restarts of running pods
   with OnFailure/Always/ExitCode) or `activeDeadlineSeconds` (from startTime) fail the
   job (Failed, pods and Services deleted);
5. gang scheduling on (`gangSchedulerName: volcano`): the PodGroup `<job>` (job
   annotations copied, the job as owner; minMember = schedulingPolicy.minAvailable or
   the sum of replicas; queue = the existing group's, else schedulingPolicy's, else
   `default`; priorityClassName; minResources = given or the requests of the first
   minMember pods by PriorityClass value) and NO pod while it is absent or Pending;
6. per replica type and index: pod `<job>-<type>-<i>` and headless Service of the same
   name; a failed pod with OnFailure/Always, or ExitCode with exit >= 128, is deleted
   (recreated next time) with Restarting=True; ExitCode 1-127 fails the job;
7. replicaStatuses and the framework's conditions; startTime and completionTime.

Time comes from `clock` (Unix seconds; a FakeClock in tests). Conditions follow the
operator's rules: once Failed=True nothing changes; Running and Restarting replace each
other; Succeeded or Failed turn Running False. Events use the operator's reasons.

Not covered: elastic PyTorch (HPA, rendezvous env), the PyTorch workers' init container
that waits for the master's DNS name, scheduler-plugins PodGroups, adopting orphaned
pods by labels (pods are the job's by controller reference only), `enableDynamicWorker`
beyond TF_CONFIG's sparse form.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from kubeedge.api import meta
from kubeedge.api.defaults import parse_quantity
from kubeedge.api.training import OPERATOR_CONTROLLER, Framework, default_job, replica_specs
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import volcano_crds
from kubeedge.controllers.job import (
    Expectations,
    WakeUps,
    WallClock,
    newer_copy,
    restarts_of,
    wall_time,
)
from kubeedge.controllers.podgroup import GROUP_NAME_ANNOTATION
from kubeedge.controllers.pods import controller_ref, new_controller_ref, phase_of
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.training import crds
from kubeedge.controllers.volcano_crds import PODGROUPS

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
PRIORITY_CLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", False,
                               "PriorityClass")

# Labels the operator puts on pods and Services (common_types.go).
OPERATOR_NAME_LABEL = "training.kubeflow.org/operator-name"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
TASK_SPEC_ANNOTATION = "volcano.sh/task-spec"
VOLCANO = "volcano"
DEFAULT_QUEUE = "default"
# The job's own last-applied annotation describes the job, not its PodGroup.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Condition types and the operator's reason suffixes (pkg/util/status.go).
CREATED, RUNNING, RESTARTING = "Created", "Running", "Restarting"
SUCCEEDED, SUSPENDED, FAILED = "Succeeded", "Suspended", "Failed"
RESUMED = "Resumed"

BY_JOB = "training/by-job"


# --- pure helpers ---------------------------------------------------------------------

def job_labels(fw: Framework, job_name: str) -> dict[str, str]:
    """GenLabels: the operator's name and the job's."""
    return {OPERATOR_NAME_LABEL: fw.controller_name,
            JOB_NAME_LABEL: job_name.replace("/", "-")}


def replica_labels(fw: Framework, job_name: str, rtype: str, index: int) -> dict[str, str]:
    return {**job_labels(fw, job_name), REPLICA_TYPE_LABEL: rtype.lower(),
            REPLICA_INDEX_LABEL: str(index)}


def replica_name(job_name: str, rtype: str, index: int) -> str:
    """GenGeneralName: `<job>-<type lowercase>-<index>`, for pods and Services."""
    return f"{job_name}-{rtype.lower()}-{index}".replace("/", "-")


def container_port(fw: Framework, spec: Obj) -> int | None:
    """The port named `fw.port_name` on replica `spec`'s default container, if any."""
    for container in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
        if container.get("name") == fw.container:
            for port in container.get("ports") or []:
                if port.get("name") == fw.port_name and port.get("containerPort"):
                    return int(port["containerPort"])
    return None


def selector_text(labels: dict[str, str]) -> str:
    """metav1.FormatLabelSelector of matchLabels: `k=v` pairs sorted by key."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def is_true(status: Obj, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in status.get("conditions") or [])


def is_finished(status: Obj) -> bool:
    return is_true(status, SUCCEEDED) or is_true(status, FAILED)


def update_condition(status: Obj, ctype: str, cstatus: str, reason: str, message: str,
                     stamp: str) -> None:
    """UpdateJobConditions: nothing changes once Failed is True; the same status and
    reason is kept as is; Running and Restarting replace each other; Succeeded or
    Failed set Running False."""
    if is_true(status, FAILED):
        return
    conditions: list[Obj] = list(status.get("conditions") or [])
    current = next((c for c in conditions if c.get("type") == ctype), None)
    if current is not None and current.get("status") == cstatus and \
            current.get("reason") == reason:
        return
    new = {"type": ctype, "status": cstatus, "reason": reason, "message": message,
           "lastUpdateTime": stamp, "lastTransitionTime": stamp}
    if current is not None and current.get("status") == cstatus:
        new["lastTransitionTime"] = current.get("lastTransitionTime") or stamp
    kept: list[Obj] = []
    for cond in conditions:
        other = cond.get("type")
        if other == ctype or {ctype, other} == {RUNNING, RESTARTING}:
            continue
        if ctype in (FAILED, SUCCEEDED) and other == RUNNING:
            cond = {**cond, "status": "False"}
        kept.append(cond)
    status["conditions"] = [*kept, new]


def exit_code(pod: Obj, container: str) -> int | None:
    """The exit code of the default container's terminated state, if it has one."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == container and terminated:
            try:
                return int(terminated.get("exitCode"))
            except (TypeError, ValueError):
                return None
    return None


def is_retryable_exit_code(code: int | None) -> bool:
    """ExitCode policy: 128 and above (killed by a signal: OOM, preemption, eviction)
    are retried; 1-127 are the program's own failure (IsRetryableExitCode)."""
    return code is not None and code >= 128


def replica_index(obj: Obj) -> int | None:
    try:
        return int(meta.labels_of(obj).get(REPLICA_INDEX_LABEL, ""))
    except ValueError:
        return None


def slices(objs: Iterable[Obj], replicas: int) -> list[list[Obj]]:
    """GetPodSlices: objects by their replica-index label, at least `replicas` slots
    (more when an object carries a higher index, so it can be deleted)."""
    indexed = [(i, o) for o in objs if (i := replica_index(o)) is not None and i >= 0]
    size = max([replicas, *(i + 1 for i, _ in indexed)])
    out: list[list[Obj]] = [[] for _ in range(size)]
    for i, obj in indexed:
        out[i].append(obj)
    return out


def of_type(objs: Iterable[Obj], rtype: str) -> list[Obj]:
    return [o for o in objs if meta.labels_of(o).get(REPLICA_TYPE_LABEL) == rtype.lower()]


def _format(name: str, value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    if name == "cpu" or value < 1:
        return f"{math.ceil(value * 1000)}m"
    return str(math.ceil(value))


def min_resources(specs: dict[str, Obj], min_member: int, fw: Framework,
                  priorities: dict[str, int]) -> dict[str, str]:
    """CalcPGMinResources: the first `min_member` pods, replica types by their
    PriorityClass value (highest first; the framework's type order on ties); a
    container adds its requests, or its limits when it has no requests."""
    order = {t: i for i, t in enumerate(fw.replica_types)}
    types = sorted(specs, key=lambda t: (
        -priorities.get(str(((specs[t].get("template") or {}).get("spec") or {})
                            .get("priorityClassName") or ""), 0), order.get(t, len(order)), t))
    total: dict[str, Fraction] = {}
    count = 0
    for rtype in types:
        containers = (((specs[rtype].get("template") or {}).get("spec") or {})
                      .get("containers") or [])
        for _ in range(int(specs[rtype].get("replicas") or 0)):
            if count >= min_member:
                break
            count += 1
            for container in containers:
                resources = container.get("resources") or {}
                requests = resources.get("requests")
                chosen = requests if requests is not None else resources.get("limits") or {}
                for name, raw in chosen.items():
                    amount = parse_quantity(raw)
                    if amount is not None:
                        total[name] = total.get(name, Fraction(0)) + amount
    return {name: _format(name, amount) for name, amount in sorted(total.items())}


def podgroup_spec(fw: Framework, job: Obj, specs: dict[str, Obj], existing_queue: str,
                  priorities: dict[str, int]) -> Obj:
    """The PodGroup spec the operator writes for `job` (a defaulted job)."""
    policy = ((job.get("spec") or {}).get("runPolicy") or {}).get("schedulingPolicy") or {}
    total = sum(int(s.get("replicas") or 0) for s in specs.values())
    min_member = policy.get("minAvailable")
    min_member = total if min_member is None else int(min_member)
    # An existing group keeps its queue (the operator fills the spec from it).
    queue = existing_queue or policy.get("queue") or DEFAULT_QUEUE
    resources = policy.get("minResources")
    if resources is None:
        resources = min_resources(specs, min_member, fw, priorities)
    spec: Obj = {"minMember": min_member, "queue": queue}
    if policy.get("priorityClass"):
        spec["priorityClassName"] = policy["priorityClass"]
    if resources:
        spec["minResources"] = dict(resources)
    return spec


def count_replicas(pods: Iterable[Obj]) -> Obj:
    """One replica type's counts (UpdateJobReplicaStatuses): a Running pod being
    deleted counts as failed."""
    active = succeeded = failed = 0
    for pod in pods:
        phase = phase_of(pod)
        if phase == "Running":
            if meta.is_terminating(pod):
                failed += 1
            else:
                active += 1
        elif phase == "Succeeded":
            succeeded += 1
        elif phase == "Failed":
            failed += 1
    return {"active": active, "succeeded": succeeded, "failed": failed}


def replica_status_json(counts: Obj, selector: str = "") -> Obj:
    """ReplicaStatus as the operator serialises it: zero counts are omitted."""
    out = {k: v for k, v in counts.items() if k in ("active", "succeeded", "failed") and v}
    if selector:
        out["selector"] = selector
    return out


# --- the controller -------------------------------------------------------------------

class TrainingJobController(Controller):
    """Keys: `namespace/name` of jobs of `framework`. Subclasses set `master_types`
    and implement `set_cluster_spec` and `update_job_status`.

    `gang_scheduler_name` overrides the config's `gangSchedulerName`; `clock` (Unix
    seconds) drives startTime, deadlines and TTLs."""

    framework: Framework
    # The replica types that hold the master role when the job has one (else worker 0).
    master_types: tuple[str, ...]

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 clock: Clock | None = None, gang_scheduler_name: str | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.training_controller_threads
        self.gang = (self.config.gang_scheduler_name if gang_scheduler_name is None
                     else gang_scheduler_name)
        self.clock: Clock = clock or WallClock()
        self.ref = crds.ref_of(self.framework)
        self.expectations = Expectations(self.clock)
        self.wakeups = WakeUps(self.clock, self.queue)
        # The job as our last status write returned it (the cache may lag).
        self._written: dict[str, Obj] = {}
        # Per job uid: pods this operator deleted to restart them (backoffLimit).
        self._restarts: dict[str, int] = {}
        # (pod uid, exit code) already reported as ExitedWithCode.
        self._exits: set[tuple[str, int]] = set()

    # -- framework hooks -----------------------------------------------------------------

    def set_cluster_spec(self, job: Obj, pod: Obj, rtype: str, index: int) -> None:
        raise NotImplementedError

    def is_master_role(self, specs: dict[str, Obj], rtype: str, index: int) -> bool:
        if any(t in specs for t in self.master_types):
            return rtype in self.master_types
        return rtype == "Worker" and index == 0

    def update_job_status(self, job: Obj, specs: dict[str, Obj], status: Obj,
                          counts: dict[str, Obj], pods: list[Obj], stamp: str) -> None:
        """Conditions, startTime and completionTime from the replica `counts`
        ({type: {active, succeeded, failed}})."""
        raise NotImplementedError

    # -- wiring --------------------------------------------------------------------------

    async def start(self) -> None:
        # Installing the CRDs (a no-op when current) keeps a controller started on its
        # own from waiting forever on informers of resources nobody serves.
        await crds.install(self.client)
        if self.gang:
            await volcano_crds.install(self.client)
        await super().start()

    async def stop(self) -> None:
        await self.wakeups.stop()
        await super().stop()

    def _owner_key(self, obj: Obj) -> str | None:
        ref = controller_ref(obj)
        if ref and ref.get("kind") == self.framework.kind and \
                ref.get("apiVersion") == self.ref.api_version:
            return f"{meta.namespace_of(obj)}/{ref.get('name')}"
        return None

    def setup(self) -> None:
        self.jobs = self.informer(self.ref)
        self.pods = self.informer(PODS)
        self.services = self.informer(SERVICES)
        index = f"{BY_JOB}/{self.framework.kind}"
        self._index = index
        watched = [self.pods, self.services]
        if self.gang:
            self.groups = self.informer(PODGROUPS)
            self.priority_classes = self.informer(PRIORITY_CLASSES)
            watched.append(self.groups)
        for informer in watched:
            try:
                informer.store.add_index(index, lambda o: [k] if (k := self._owner_key(o)) else [])
            except ValueError:
                pass  # a previous term's index on the shared informer
        self.jobs.add_event_handler(on_add=self._job_changed,
                                    on_update=lambda _old, new: self._job_changed(new),
                                    on_delete=self._job_deleted)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)
        self.services.add_event_handler(**self.enqueue_by(self._owner_key))
        if self.gang:
            self.groups.add_event_handler(**self.enqueue_by(self._owner_key))

    def _job_changed(self, job: Obj) -> None:
        key = f"{meta.namespace_of(job)}/{meta.name_of(job)}"
        written = self._written.get(key)
        if written is not None and meta.metadata(written).get("resourceVersion") == \
                meta.metadata(job).get("resourceVersion"):
            return  # our own status write coming back: nothing new to act on
        self.queue.add(key)

    def _job_deleted(self, job: Obj) -> None:
        key = f"{meta.namespace_of(job)}/{meta.name_of(job)}"
        self.queue.add(key)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key:
            self.expectations.created(key)
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if not key:
            return
        if meta.is_terminating(new) and not meta.is_terminating(old):
            # Deleted as far as a decision is concerned: a pod with a node lingers
            # until the node confirms, and the job must not wait on that.
            self.expectations.deleted(key, str(meta.metadata(new).get("uid") or ""))
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key:
            self.expectations.deleted(key, str(meta.metadata(pod).get("uid") or ""))
            self.queue.add(key)

    # -- reconcile -----------------------------------------------------------------------

    def _job(self, key: str) -> Obj | None:
        cached = self.jobs.store.get_by_key(key)
        return None if cached is None else newer_copy(cached, self._written.get(key))

    def _forget(self, key: str) -> None:
        self._written.pop(key, None)
        self.expectations.forget(key)
        self.wakeups.forget(key)

    def _owned(self, informer: Any, key: str, uid: str) -> list[Obj]:
        return [o for o in informer.store.by_index(self._index, key)
                if (controller_ref(o) or {}).get("uid") == uid]

    async def reconcile(self, key: str) -> None:
        stored = self._job(key)
        if stored is None:
            self._forget(key)
            return
        if meta.is_terminating(stored) or not self.expectations.satisfied(key):
            return
        fw = self.framework
        job = default_job(fw, copy.deepcopy(stored))
        job["apiVersion"], job["kind"] = self.ref.api_version, fw.kind
        run_policy = (job.get("spec") or {}).get("runPolicy") or {}
        manager = run_policy.get("managedBy")
        if manager and manager != OPERATOR_CONTROLLER:
            return  # another controller (Kueue's MultiKueue) runs this job
        uid = str(meta.metadata(job).get("uid") or "")
        specs = replica_specs(fw, job)
        status: Obj = copy.deepcopy(job.get("status") or {})
        old_status = copy.deepcopy(status)
        now = wall_time(self.clock)
        stamp = meta.rfc3339(now)
        name = meta.name_of(job)
        update_condition(status, CREATED, "True", f"{fw.kind}Created",
                         f"{fw.kind} {name} is created.", stamp)
        pods = self._owned(self.pods, key, uid)
        services = self._owned(self.services, key, uid)

        if is_finished(status):
            await self._clean_up(job, run_policy, status, pods, services)
            if is_true(status, SUCCEEDED):
                for counts in (status.get("replicaStatuses") or {}).values():
                    if counts.get("active"):
                        counts["succeeded"] = int(counts.get("succeeded") or 0) + counts["active"]
                        counts.pop("active")
            await self._write(key, stored, status, old_status)
            await self._expire(key, job, run_policy, status, now)
            return

        if run_policy.get("suspend"):
            await self._clean_up(job, run_policy, status, pods, services)
            for counts in (status.get("replicaStatuses") or {}).values():
                counts.pop("active", None)
            message = f"{fw.kind} {name} is suspended."
            if is_true(status, RUNNING):
                update_condition(status, RUNNING, "False", f"{fw.kind}{SUSPENDED}", message,
                                 stamp)
            if not is_true(status, SUSPENDED):
                update_condition(status, SUSPENDED, "True", f"{fw.kind}{SUSPENDED}", message,
                                 stamp)
                self.recorder.event(job, "Normal", f"{fw.kind}{SUSPENDED}", message)
            await self._write(key, stored, status, old_status)
            return
        if is_true(status, SUSPENDED):
            message = f"{fw.kind} {name} is resumed."
            update_condition(status, SUSPENDED, "False", f"{fw.kind}{RESUMED}", message, stamp)
            status["startTime"] = stamp
            self.recorder.event(job, "Normal", f"{fw.kind}{RESUMED}", message)

        failure = self._past_limits(job, run_policy, specs, status, pods, now)
        if failure:
            status.setdefault("completionTime", stamp)
            await self._clean_up(job, run_policy, status, pods, services)
            self.recorder.event(job, "Normal", f"{fw.kind}{FAILED}", failure)
            update_condition(status, FAILED, "True", f"{fw.kind}{FAILED}", failure, stamp)
            await self._write(key, stored, status, old_status)
            await self._expire(key, job, run_policy, status, now)
            return

        if self.gang:
            admitted = await self._sync_podgroup(job, specs)
            if not admitted:
                # Gang: no pod until the scheduler admitted the group (§4, §6 step 5).
                status["lastReconcileTime"] = stamp
                await self._write(key, stored, status, old_status)
                return

        replica_statuses: Obj = {}
        for rtype in _ordered(fw, specs):
            counts = await self._reconcile_pods(job, specs, rtype, status, pods, stamp)
            replica_statuses[rtype] = counts
            await self._reconcile_services(job, specs[rtype], rtype, services)
        status["replicaStatuses"] = {
            rtype: replica_status_json(counts, selector_text(
                {**job_labels(fw, name), REPLICA_TYPE_LABEL: rtype.lower()}))
            for rtype, counts in replica_statuses.items()}
        self.update_job_status(job, specs, status, replica_statuses, pods, stamp)
        deadline = run_policy.get("activeDeadlineSeconds")
        if deadline is not None and status.get("startTime"):
            started = meta.parse_time(status["startTime"]) or now
            self.wakeups.after(key, (started + timedelta(seconds=int(deadline)) - now)
                               .total_seconds())
        await self._write(key, stored, status, old_status)
        if is_finished(status):
            self.queue.add(key)  # clean up per cleanPodPolicy, start the TTL

    # -- limits ----------------------------------------------------------------------------

    def _past_limits(self, job: Obj, run_policy: Obj, specs: dict[str, Obj], status: Obj,
                     pods: list[Obj], now: datetime) -> str:
        """The failure message when backoffLimit or activeDeadlineSeconds is passed."""
        name = meta.name_of(job)
        limit = run_policy.get("backoffLimit")
        if limit is not None:
            limit = int(limit)
            uid = str(meta.metadata(job).get("uid") or "")
            # Restarts we are about to make count against the limit before we make them.
            pending = sum(1 for rtype, spec in specs.items()
                          for pod in of_type(pods, rtype)
                          if self._restarts_pod(spec, pod))
            restarts = self._restarts.get(uid, 0)
            exceeded = pending > 0 and restarts + pending > limit
            if exceeded or _container_restarts(specs, pods, limit):
                return f"Job {name} has failed because it has reached the specified backoff limit"
        deadline = run_policy.get("activeDeadlineSeconds")
        started = meta.parse_time(status.get("startTime"))
        if deadline is not None and started is not None and \
                (now - started).total_seconds() >= int(deadline):
            return f"Job {name} has failed because it was active longer than specified deadline"
        return ""

    def _restarts_pod(self, spec: Obj, pod: Obj) -> bool:
        """Whether a failed pod is one the operator deletes to run again."""
        if phase_of(pod) != "Failed" or meta.is_terminating(pod):
            return False
        policy = spec.get("restartPolicy")
        if policy in ("OnFailure", "Always"):
            return True
        return policy == "ExitCode" and is_retryable_exit_code(
            exit_code(pod, self.framework.container))

    # -- PodGroup --------------------------------------------------------------------------

    def _priorities(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for pc in self.priority_classes.store.list():
            try:
                out[meta.name_of(pc)] = int(pc.get("value") or 0)
            except (TypeError, ValueError):
                continue
        return out

    async def _sync_podgroup(self, job: Obj, specs: dict[str, Obj]) -> bool:
        """Create or update the job's PodGroup; True once it is admitted (phase past
        Pending), when pods may be made."""
        ns, name = meta.namespace_of(job), meta.name_of(job)
        group = self.groups.store.get(ns, name)
        if group is not None and (controller_ref(group) or {}).get("uid") != \
                meta.metadata(job).get("uid"):
            # A previous job of this name's group on its way out, or someone else's.
            log.info("%s: PodGroup %s/%s is not this job's; waiting", self.name, ns, name)
            return False
        existing_queue = str(((group or {}).get("spec") or {}).get("queue") or "")
        spec = podgroup_spec(self.framework, job, specs, existing_queue, self._priorities())
        if group is None:
            annotations = {k: v for k, v in (meta.metadata(job).get("annotations") or {}).items()
                           if k != LAST_APPLIED}
            body: Obj = {"apiVersion": PODGROUPS.api_version, "kind": PODGROUPS.kind,
                         "metadata": {"name": name, "namespace": ns,
                                      "ownerReferences": [new_controller_ref(job)]},
                         "spec": spec}
            if annotations:
                body["metadata"]["annotations"] = annotations
            try:
                group = await self.client.create(PODGROUPS, body, ns)
            except APIError as exc:
                if not exc.is_already_exists:
                    raise
                return False  # the cache is behind; its event brings us back
        elif meta.is_terminating(group):
            return False
        elif _pg_spec_differs(group.get("spec") or {}, spec):
            updated = copy.deepcopy(group)
            kept = {k: v for k, v in (group.get("spec") or {}).items()
                    if k not in ("minMember", "queue", "priorityClassName", "minResources")}
            updated["spec"] = {**kept, **spec}
            group = await self.client.update(PODGROUPS, updated, ns)
        phase = str((group.get("status") or {}).get("phase") or "")
        return phase not in ("", "Pending")

    async def _delete_podgroup(self, job: Obj) -> None:
        if not self.gang:
            return
        ns, name = meta.namespace_of(job), meta.name_of(job)
        group = self.groups.store.get(ns, name)
        if group is None or meta.is_terminating(group) or \
                (controller_ref(group) or {}).get("uid") != meta.metadata(job).get("uid"):
            return
        self.recorder.event(job, "Normal", "JobTerminated",
                            "Job has been terminated. Deleting PodGroup")
        try:
            await self.client.delete(PODGROUPS, name, ns)
        except APIError as exc:
            if exc.is_not_found:
                return
            self.recorder.event(job, "Warning", "FailedDeletePodGroup", f"Error deleting: {exc}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulDeletePodGroup",
                            f"Deleted PodGroup: {name}")

    # -- pods and services -----------------------------------------------------------------

    async def _reconcile_pods(self, job: Obj, specs: dict[str, Obj], rtype: str, status: Obj,
                              pods: list[Obj], stamp: str) -> Obj:
        fw = self.framework
        spec = specs[rtype]
        replicas = int(spec.get("replicas") or 0)
        mine = of_type(pods, rtype)
        name = meta.name_of(job)
        missing: list[int] = []
        for index, group in enumerate(slices(mine, replicas)):
            if len(group) > 1:
                log.warning("%s: too many pods for %s %s %d", self.name, name, rtype, index)
                continue
            if not group:
                if index < replicas:
                    missing.append(index)
                continue
            pod = group[0]
            if meta.is_terminating(pod):
                continue
            if index >= replicas:
                await self._delete(PODS, job, pod, "Pod", "pod")
                continue
            code = exit_code(pod, fw.container)
            pod_uid = str(meta.metadata(pod).get("uid") or "")
            if code is not None and (pod_uid, code) not in self._exits:
                self._exits.add((pod_uid, code))
                self.recorder.event(job, "Normal", "ExitedWithCode",
                                    f"Pod: {meta.namespace_of(pod)}.{meta.name_of(pod)} "
                                    f"exited with code {code}")
            if phase_of(pod) != "Failed":
                continue
            if self._restarts_pod(spec, pod):
                await self._delete(PODS, job, pod, "Pod", "pod")
                uid = str(meta.metadata(job).get("uid") or "")
                self._restarts[uid] = self._restarts.get(uid, 0) + 1
                message = f"job {name} is restarting because {rtype} replica(s) failed."
                self.recorder.event(job, "Warning", f"{fw.kind}{RESTARTING}", message)
                update_condition(status, RESTARTING, "True", f"{fw.kind}{RESTARTING}", message,
                                 stamp)
            elif spec.get("restartPolicy") == "ExitCode":
                message = f'job "{name}" is failing because "{rtype}" replica(s) failed.'
                self.recorder.event(job, "Warning", f"{fw.kind}{FAILED}", message)
                update_condition(status, FAILED, "True", f"{fw.kind}{FAILED}", message, stamp)
        # A gang's pods are created together (one round trip, not one per replica): the
        # scheduler can bind none of them before all exist.
        await _all(self._create_pod(job, specs, rtype, index) for index in missing)
        return count_replicas(mine)

    def build_pod(self, job: Obj, specs: dict[str, Obj], rtype: str, index: int) -> Obj:
        """Pod `<job>-<type>-<index>` of a defaulted job (createNewPod), before the API
        server's defaults."""
        fw = self.framework
        spec = specs[rtype]
        template = copy.deepcopy(spec.get("template") or {})
        tmpl_md = template.get("metadata") or {}
        name = meta.name_of(job)
        labels = {**(tmpl_md.get("labels") or {}), **replica_labels(fw, name, rtype, index)}
        if self.is_master_role(specs, rtype, index):
            labels[JOB_ROLE_LABEL] = "master"
        md: Obj = {"name": replica_name(name, rtype, index),
                   "namespace": meta.namespace_of(job), "labels": labels,
                   "ownerReferences": [new_controller_ref(job)]}
        annotations = dict(tmpl_md.get("annotations") or {})
        if tmpl_md.get("finalizers"):
            md["finalizers"] = list(tmpl_md["finalizers"])
        pod_spec = template.get("spec") or {}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": pod_spec}
        self.set_cluster_spec(job, pod, rtype, index)
        policy = spec.get("restartPolicy") or fw.restart_policy
        pod_spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        if self.gang:
            if not pod_spec.get("schedulerName"):
                pod_spec["schedulerName"] = VOLCANO
            annotations[GROUP_NAME_ANNOTATION] = name
            annotations[TASK_SPEC_ANNOTATION] = rtype.lower()
        if annotations:
            md["annotations"] = annotations
        return pod

    async def _create_pod(self, job: Obj, specs: dict[str, Obj], rtype: str,
                          index: int) -> None:
        key = f"{meta.namespace_of(job)}/{meta.name_of(job)}"
        template_spec = (specs[rtype].get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy"):
            self.recorder.event(job, "Warning", "SetPodTemplateRestartPolicy",
                                "Restart policy in pod template will be overwritten by "
                                "restart policy in replica spec")
        if self.gang and any(
                ((s.get("template") or {}).get("spec") or {}).get("schedulerName")
                not in (None, "", VOLCANO) for s in specs.values()):
            self.recorder.event(job, "Warning", "SetPodTemplateSchedulerName",
                                "Another scheduler is specified when gang-scheduling is "
                                "enabled and it will not be overwritten")
        pod = self.build_pod(job, specs, rtype, index)
        self.expectations.expect(key, adds=1)
        try:
            await self.client.create(PODS, pod, meta.namespace_of(job))
        except APIError as exc:
            self.expectations.created(key)
            if exc.is_already_exists:
                return  # the cache has not shown it yet
            self.recorder.event(job, "Warning", "FailedCreatePod", f"Error creating: {exc}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreatePod",
                            f"Created pod: {meta.name_of(pod)}")

    def build_service(self, job: Obj, spec: Obj, rtype: str, index: int) -> Obj:
        """Headless Service `<job>-<type>-<index>` selecting that one pod, with the
        default container's named ports (CreateNewService)."""
        fw = self.framework
        labels = replica_labels(fw, meta.name_of(job), rtype, index)
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        container = next((c for c in containers if c.get("name") == fw.container), None)
        if container is None:
            raise ValueError(f"failed to find the port: no container {fw.container!r} in "
                             f"{rtype}")
        ports = [{"name": p.get("name") or "", "port": int(p["containerPort"])}
                 for p in container.get("ports") or [] if p.get("containerPort")]
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": replica_name(meta.name_of(job), rtype, index),
                             "namespace": meta.namespace_of(job), "labels": labels,
                             "ownerReferences": [new_controller_ref(job)]},
                "spec": {"clusterIP": "None", "selector": dict(labels), "ports": ports}}

    async def _reconcile_services(self, job: Obj, spec: Obj, rtype: str,
                                  services: list[Obj]) -> None:
        replicas = int(spec.get("replicas") or 0)
        missing: list[int] = []
        for index, group in enumerate(slices(of_type(services, rtype), replicas)):
            if len(group) > 1 or (group and meta.is_terminating(group[0])):
                continue
            if group:
                if index >= replicas:
                    await self._delete(SERVICES, job, group[0], "Service", "service")
                continue
            if index < replicas:
                missing.append(index)
        await _all(self._create_service(job, spec, rtype, index) for index in missing)

    async def _create_service(self, job: Obj, spec: Obj, rtype: str, index: int) -> None:
        service = self.build_service(job, spec, rtype, index)
        try:
            await self.client.create(SERVICES, service, meta.namespace_of(job))
        except APIError as exc:
            if exc.is_already_exists:
                return
            self.recorder.event(job, "Warning", "FailedCreateService",
                                f"Error creating: {exc}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreateService",
                            f"Created service: {meta.name_of(service)}")

    async def _delete(self, ref: ResourceRef, job: Obj, obj: Obj, kind: str,
                      word: str) -> None:
        key = f"{meta.namespace_of(job)}/{meta.name_of(job)}"
        uid = str(meta.metadata(obj).get("uid") or "")
        if ref is PODS:
            self.expectations.expect(key, deletes=[uid])
        try:
            await self.client.delete(ref, meta.name_of(obj), meta.namespace_of(obj),
                                     preconditions={"uid": uid} if uid else None)
        except APIError as exc:
            if ref is PODS:
                self.expectations.deleted(key, uid)
            if exc.is_not_found or exc.is_conflict:
                return
            self.recorder.event(job, "Warning", f"FailedDelete{kind}", f"Error deleting: {exc}")
            raise
        self.recorder.event(job, "Normal", f"SuccessfulDelete{kind}",
                            f"Deleted {word}: {meta.name_of(obj)}")

    async def _delete_pods_and_services(self, job: Obj, run_policy: Obj, status: Obj,
                                        pods: list[Obj], services: list[Obj]) -> None:
        """DeletePodsAndServices: a finished job keeps pods per cleanPodPolicy (None
        keeps all, Running deletes Running and Pending ones); otherwise all go. A pod's
        Service goes with it."""
        policy = run_policy.get("cleanPodPolicy") or "None"
        finished = is_finished(status)
        if finished and policy == "None":
            return
        by_name = {meta.name_of(s): s for s in services}
        for pod in pods:
            if meta.is_terminating(pod):
                continue
            if finished and policy == "Running" and phase_of(pod) not in ("Running", "Pending"):
                continue
            await self._delete(PODS, job, pod, "Pod", "pod")
            service = by_name.get(meta.name_of(pod))
            if service is not None and not meta.is_terminating(service):
                await self._delete(SERVICES, job, service, "Service", "service")

    async def _clean_up(self, job: Obj, run_policy: Obj, status: Obj, pods: list[Obj],
                        services: list[Obj]) -> None:
        await self._delete_pods_and_services(job, run_policy, status, pods, services)
        await self._delete_podgroup(job)

    # -- status and TTL --------------------------------------------------------------------

    async def _write(self, key: str, stored: Obj, status: Obj, old_status: Obj) -> None:
        if status == old_status:
            return
        body = {**stored, "apiVersion": self.ref.api_version, "kind": self.framework.kind,
                "status": status}
        written = await self.client.update_status(self.ref, body, meta.namespace_of(stored))
        self._written[key] = written

    async def _expire(self, key: str, job: Obj, run_policy: Obj, status: Obj,
                      now: datetime) -> None:
        """CleanupJob: delete the job `ttlSecondsAfterFinished` after completionTime."""
        ttl = run_policy.get("ttlSecondsAfterFinished")
        if ttl is None or run_policy.get("suspend"):
            return
        done = meta.parse_time(status.get("completionTime"))
        if done is None:
            return
        left = (done + timedelta(seconds=int(ttl)) - now).total_seconds()
        if left > 0:
            self.wakeups.after(key, left)
            return
        try:
            await self.client.delete(self.ref, meta.name_of(job), meta.namespace_of(job),
                                     preconditions={"uid": str(meta.metadata(job).get("uid"))})
        except APIError as exc:
            if exc.is_not_found or exc.is_conflict:
                return
            self.recorder.event(job, "Warning", "FailedDeleteJob", f"Error deleting: {exc}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulDeleteJob",
                            f"Deleted job: {meta.name_of(job)}")


def _ordered(fw: Framework, specs: dict[str, Obj]) -> list[str]:
    order = {t: i for i, t in enumerate(fw.replica_types)}
    return sorted(specs, key=lambda t: (order.get(t, len(order)), t))


def _pg_spec_differs(current: Obj, wanted: Obj) -> bool:
    for field in ("minMember", "queue", "priorityClassName"):
        if (current.get(field) or None) != (wanted.get(field) or None):
            return True
    have = {k: parse_quantity(v) for k, v in (current.get("minResources") or {}).items()}
    want = {k: parse_quantity(v) for k, v in (wanted.get("minResources") or {}).items()}
    return have != want


def _container_restarts(specs: dict[str, Obj], pods: list[Obj], limit: int) -> bool:
    """PastBackoffLimit: container restarts of Running pods of replica types that
    restart (OnFailure, Always, ExitCode) reach the limit (any restart when it is 0)."""
    total = 0
    for rtype, spec in specs.items():
        if spec.get("restartPolicy") not in ("OnFailure", "Always", "ExitCode"):
            continue
        for pod in of_type(pods, rtype):
            if phase_of(pod) == "Running":
                total += restarts_of(pod)
    return total > 0 if limit == 0 else total >= limit


async def _all(creates: Any) -> None:
    """Run the creates at once; the first failure is raised (the reconcile is retried)
    once all have finished, so none is left running behind it."""
    results = await asyncio.gather(*creates, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
