"""Volcano's job controller for `batch.volcano.sh/v1alpha1` Jobs (specs/volcano.md §1.3).

For each Job it creates the PodGroup `<job>-<job uid>` (minMember = minAvailable,
minTaskMember, queue, priorityClassName, minResources = the requests of the first
minAvailable pods), owned by the Job. Pods `<job>-<task>-<index>` are created only once
that PodGroup has left Pending (the scheduler's enqueue admitted it), annotated and
labelled so the scheduler gangs them (§1.4), owned by the Job. The Job's status counts
its pods per phase and per task and walks Pending → Running → Completed | Failed; a
finished Job has its still-active pods deleted. Plugins: `env` (VK_TASK_INDEX,
VC_TASK_INDEX) and `svc` (headless Service `<job>`, ConfigMap `<job>-svc` with the
hosts of each task mounted at /etc/volcano, VC_<TASK>_HOSTS / VC_<TASK>_NUM, pod
hostname and subdomain). Deleting a Job removes its pods, PodGroup, Service and
ConfigMap through owner references (the garbage collector).

Not covered: lifecycle policies and the Restart*/Abort/Terminate actions, maxRetry,
Commands, ttlSecondsAfterFinished, job volumes, dependsOn, partitions, the ssh /
tensorflow / pytorch / mpi plugins, PriorityClass ordering of tasks for minResources.
"""

from __future__ import annotations

import copy
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
from kubeedge.controllers.podgroup import GROUP_NAME_ANNOTATION, pod_requests
from kubeedge.controllers.pods import controller_ref, is_active, new_controller_ref, phase_of
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.volcano_crds import JOBS, PODGROUPS

__all__ = [
    "VCJobController",
    "count_patch",
    "job_phase",
    "job_pod",
    "min_available",
    "min_resources",
    "pod_name",
    "podgroup_for_job",
    "podgroup_name",
    "task_counts",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")

TASK_SPEC = "volcano.sh/task-spec"
TASK_INDEX = "volcano.sh/task-index"
JOB_NAME = "volcano.sh/job-name"
JOB_NAMESPACE = "volcano.sh/job-namespace"
QUEUE_NAME = "volcano.sh/queue-name"
JOB_VERSION = "volcano.sh/job-version"
TEMPLATE_UID = "volcano.sh/template-uid"
RETRY_COUNT = "volcano.sh/job-retry-count"
# Propagated from the Job's annotations to its pods, as Volcano does.
PROPAGATED = ("volcano.sh/preemptable", "volcano.sh/revocable-zone")

DEFAULT_SCHEDULER = "volcano"
DEFAULT_QUEUE = "default"
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
FINISHED = frozenset({"Completed", "Failed", "Aborted", "Terminated"})
SVC_MOUNT = "/etc/volcano"


# --- pure helpers -------------------------------------------------------------------------

def tasks_of(job: Obj) -> list[Obj]:
    """The Job's tasks with the webhook's defaults (name `default<i>`, minAvailable =
    replicas)."""
    out = []
    for i, task in enumerate((job.get("spec") or {}).get("tasks") or []):
        task = dict(task)
        task["name"] = task.get("name") or f"default{i}"
        task["replicas"] = int(task.get("replicas") or 0)
        if task.get("minAvailable") is None:
            task["minAvailable"] = task["replicas"]
        out.append(task)
    return out


def min_available(job: Obj) -> int:
    """spec.minAvailable, else the sum of the tasks' minAvailable (webhook default)."""
    value = (job.get("spec") or {}).get("minAvailable")
    if value is not None:
        return int(value)
    return sum(int(t["minAvailable"]) for t in tasks_of(job))


def podgroup_name(job: Obj) -> str:
    md = job.get("metadata") or {}
    return f"{md.get('name', '')}-{md.get('uid', '')}"


def pod_name(job_name: str, task: str, index: int) -> str:
    return f"{job_name}-{task}-{index}"


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


def _env_name(task: str) -> str:
    return task.upper().replace("-", "_")


def task_hosts(job: Obj) -> dict[str, list[str]]:
    """Per task, the DNS names of its pods behind the headless Service `<job>`."""
    name = meta.name_of(job)
    return {t["name"]: [f"{pod_name(name, t['name'], i)}.{name}" for i in range(t["replicas"])]
            for t in tasks_of(job)}


def job_pod(job: Obj, task: Obj, index: int) -> Obj:
    """Pod `<job>-<task>-<index>` of `task` (a defaulted task from `tasks_of`)."""
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
    pod_spec = copy.deepcopy(template.get("spec") or {})
    if not pod_spec.get("schedulerName"):
        pod_spec["schedulerName"] = spec.get("schedulerName") or DEFAULT_SCHEDULER
    if spec.get("priorityClassName") and not pod_spec.get("priorityClassName"):
        pod_spec["priorityClassName"] = spec["priorityClassName"]
    plugins = plugins_of(job)
    env: list[Obj] = []
    if "env" in plugins:
        env += [{"name": "VK_TASK_INDEX", "value": str(index)},
                {"name": "VC_TASK_INDEX", "value": str(index)}]
    if "svc" in plugins:
        pod_spec.setdefault("hostname", name)
        pod_spec.setdefault("subdomain", job_name)
        for task_name, hosts in task_hosts(job).items():
            env += [{"name": f"VC_{_env_name(task_name)}_HOSTS", "value": ",".join(hosts)},
                    {"name": f"VC_{_env_name(task_name)}_NUM", "value": str(len(hosts))}]
        volume = f"{job_name}-svc"
        pod_spec.setdefault("volumes", []).append(
            {"name": volume, "configMap": {"name": volume}})
    for kind in ("initContainers", "containers"):
        for container in pod_spec.get(kind) or []:
            if env:
                container.setdefault("env", []).extend(copy.deepcopy(env))
            if "svc" in plugins:
                container.setdefault("volumeMounts", []).append(
                    {"name": f"{job_name}-svc", "mountPath": SVC_MOUNT})
    owner = new_controller_ref({**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind})
    pod_md: Obj = {"name": name, "namespace": ns, "labels": labels,
                   "annotations": annotations, "ownerReferences": [owner]}
    if tmpl_md.get("finalizers"):
        pod_md["finalizers"] = list(tmpl_md["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_md, "spec": pod_spec}


def task_counts(pods: list[Obj]) -> tuple[dict[str, int], dict[str, Obj]]:
    """Job-wide counts (pending/running/succeeded/failed/terminating/unknown) and
    `taskStatusCount` {task: {"phase": {PodPhase: n}}}."""
    counts = {k: 0 for k in ("pending", "running", "succeeded", "failed", "terminating",
                             "unknown")}
    per_task: dict[str, Obj] = {}
    for pod in pods:
        phase = phase_of(pod)
        if meta.is_terminating(pod) and phase not in ("Succeeded", "Failed"):
            counts["terminating"] += 1
        elif phase in POD_PHASES:
            counts[phase.lower()] += 1
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


# --- the controller -----------------------------------------------------------------------

class VCJobController(Controller):
    """Keys: `namespace/name` of Volcano Jobs."""

    name = "vcjob"
    component = "vc-controller-manager"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *, workers: int = 5) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = workers
        # Per job key: (uid, ConfigMap data) the svc plugin last made sure of.
        self._svc_synced: dict[str, tuple[str, Obj]] = {}

    def setup(self) -> None:
        self.jobs = self.informer(JOBS)
        self.pods = self.informer(PODS)
        self.groups = self.informer(PODGROUPS)
        for informer in (self.pods, self.groups):
            try:
                informer.store.add_index("vcjob", lambda o: [k] if (k := _job_of(o)) else [])
            except ValueError:
                pass  # a previous term's index on the shared informer
        self.jobs.add_event_handler(**self.enqueue_by(
            lambda o: f"{meta.namespace_of(o)}/{meta.name_of(o)}"))
        self.pods.add_event_handler(**self.enqueue_by(_job_of))
        self.groups.add_event_handler(**self.enqueue_by(_job_of))

    async def reconcile(self, key: str) -> None:
        job = self.jobs.store.get_by_key(key)
        if job is None or meta.is_terminating(job):
            self._svc_synced.pop(key, None)
            return
        job = {**job, "apiVersion": JOBS.api_version, "kind": JOBS.kind}
        uid = (job.get("metadata") or {}).get("uid")
        pods = [p for p in self.pods.store.by_index("vcjob", key)
                if (controller_ref(p) or {}).get("uid") == uid]
        group = await self._sync_podgroup(job)
        status = job.get("status") or {}
        phase = (status.get("state") or {}).get("phase") or "Pending"
        admitted = (group.get("status") or {}).get("phase") not in (None, "", "Pending")
        plugins = plugins_of(job)
        if "svc" in plugins:
            await self._sync_svc(job)
        if phase in FINISHED:
            await self._kill_active(pods)
        elif admitted:
            pods = pods + await self._create_pods(job, pods)
        counts, per_task = task_counts(pods)
        new_phase = job_phase(phase, job, counts, per_task)
        await self._write_status(job, status, phase, new_phase, counts, per_task, plugins)

    async def _sync_podgroup(self, job: Obj) -> Obj:
        want = podgroup_for_job(job)
        ns = meta.namespace_of(job)
        have = self.groups.store.get(ns, meta.name_of(want))
        if have is None:
            try:
                return await self.client.create(PODGROUPS, want, ns)
            except APIError as exc:
                if not exc.is_already_exists:
                    raise
                return await self.client.get(PODGROUPS, meta.name_of(want), ns)
        spec = have.get("spec") or {}
        changed = {k: v for k, v in want["spec"].items() if spec.get(k) != v}
        if changed:
            return await self.client.patch(PODGROUPS, meta.name_of(want), {"spec": changed}, ns)
        return have

    async def _create_pods(self, job: Obj, pods: list[Obj]) -> list[Obj]:
        ns = meta.namespace_of(job)
        existing = {meta.name_of(p) for p in pods}
        created = []
        for task in tasks_of(job):
            for index in range(task["replicas"]):
                pod = job_pod(job, task, index)
                if meta.name_of(pod) in existing:
                    continue
                try:
                    created.append(await self.client.create(PODS, pod, ns))
                except APIError as exc:
                    if exc.is_already_exists:
                        # Made by an earlier sync, not yet in the cache: count it.
                        try:
                            created.append(await self.client.get(PODS, meta.name_of(pod), ns))
                        except APIError as again:
                            if not again.is_not_found:
                                raise
                        continue
                    self.recorder.event(job, "Warning", "FailedCreatePod",
                                        f"Error creating pod {meta.name_of(pod)}: {exc}")
                    raise
        return created

    async def _kill_active(self, pods: list[Obj]) -> None:
        for pod in pods:
            if is_active(pod):
                try:
                    await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod))
                except APIError as exc:
                    if not exc.is_not_found:
                        raise

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
        synced = (str((job.get("metadata") or {}).get("uid") or ""), data)
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

    async def _write_status(self, job: Obj, status: Obj, phase: str, new_phase: str,
                            counts: dict[str, int], per_task: dict[str, Obj],
                            plugins: dict[str, list[str]]) -> None:
        want: Obj = {**counts, "minAvailable": min_available(job), "taskStatusCount": per_task,
                     "version": int(status.get("version") or 0),
                     "retryCount": int(status.get("retryCount") or 0)}
        if plugins:
            want["controlledResources"] = {f"plugin-{p}": p for p in sorted(plugins)}
        state = dict(status.get("state") or {})
        conditions = list(status.get("conditions") or [])
        if new_phase != phase or not state.get("phase"):
            stamp = meta.rfc3339(meta.now())
            state = {"phase": new_phase, "lastTransitionTime": stamp}
            conditions.append({"status": new_phase, "lastTransitionTime": stamp})
        want["state"] = state
        want["conditions"] = conditions
        if all(status.get(k) == v for k, v in want.items()):
            return
        patch = {"status": {**want, "taskStatusCount": count_patch(
            status.get("taskStatusCount") or {}, per_task)}}
        try:
            await self.client.patch(JOBS, meta.name_of(job), patch, meta.namespace_of(job),
                                    subresource="status")
        except APIError as exc:
            if not exc.is_not_found:
                raise
        if new_phase != phase:
            log.debug("vcjob %s: %s -> %s", meta.name_of(job), phase, new_phase)
