"""Volcano's admission rules that need nothing but the object (specs/volcano.md §1).

Owns what Volcano's mutating webhooks set on create (`default_job`, `default_queue`)
and what its validating webhooks and ValidatingAdmissionPolicies refuse
(`validate_job`, `validate_queue`, `validate_podgroup`) for `batch.volcano.sh/v1alpha1`
Job and `scheduling.volcano.sh/v1beta1` Queue and PodGroup, worded as Volcano words
them and shaped as kube's field causes (a 422 Invalid, specs/k8s-api.md §3).

Rules the CRD schema already enforces (`controllers/volcano_crds.py`: minimums on
replicas, minAvailable, maxRetry, ttlSecondsAfterFinished, weight; the task name
pattern; the event enum) are not repeated here, so a cause is reported once.

Never does lookups: whether the queue exists and is Open, queue trees and deletes need
other objects and live in `apiserver/volcano_admission.py`. Imports only `api`.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any

from kubeedge.api.defaults import apply_pod_template_defaults, parse_quantity
from kubeedge.api.errors import Cause
from kubeedge.api.goflags import FlagValue, parse_flags
from kubeedge.api.validation import (
    duplicate,
    forbidden,
    invalid,
    is_dns1123_subdomain,
    is_qualified_name,
    not_supported,
    required,
    validate_pod_template,
)

__all__ = [
    "DEFAULT_QUEUE",
    "JOB_PLUGINS",
    "ROOT_QUEUE",
    "default_job",
    "default_queue",
    "mpi_master",
    "quantity_map",
    "validate_job",
    "validate_podgroup",
    "validate_queue",
]

Obj = dict[str, Any]

BATCH_GROUP = "batch.volcano.sh"
SCHEDULING_GROUP = "scheduling.volcano.sh"
DEFAULT_QUEUE = "default"
ROOT_QUEUE = "root"
DEFAULT_SCHEDULER = "volcano"
DEFAULT_MAX_RETRY = 3
DEFAULT_TASK_PREFIX = "default"  # batch/v1alpha1 DefaultTaskSpec

# The plugin builders Volcano's job controller registers; any other name is refused.
JOB_PLUGINS = ("env", "svc", "ssh", "tensorflow", "mpi", "pytorch", "hcclrank", "ray")
# Distributed-framework plugins need the svc plugin's hosts; mpi also needs ssh keys.
NEEDS_SVC = ("tensorflow", "mpi", "pytorch", "ray")
# The mpi plugin's flags and defaults (Volcano's job plugin distributed-framework/mpi).
MPI_FLAGS: dict[str, FlagValue] = {"master": "master", "worker": "worker", "port": 22}

# Events and actions a user may name in a LifecyclePolicy (the others are internal).
POLICY_EVENTS = ("*", "PodFailed", "PodEvicted", "PodPending", "Unknown", "TaskCompleted",
                 "TaskFailed", "JobUpdated")
POLICY_ACTIONS = ("AbortJob", "RestartJob", "RestartTask", "RestartPod", "RestartPartition",
                  "TerminateJob", "CompleteJob", "ResumeJob")

UPDATABLE_JOB_FIELDS = ("job updates may not change fields other than `minAvailable`, "
                        "`tasks[*].replicas under spec` and `PriorityClassName`")

HIERARCHY = "volcano.sh/hierarchy"
HIERARCHY_WEIGHTS = "volcano.sh/hierarchy-weights"
QUEUE_USER_STATES = ("Open", "Closed")

# Resources whose quantities must be whole numbers (kube's IsIntegerResourceName).
_INTEGER_RESOURCES = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
    "requests.storage",
})
_WEIGHT = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    """A Go int32 field's value: 0 when unset or not a number (the schema refuses those)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _zero(value: Any) -> bool:
    """Unset as Go sees an int32 field: absent, null or 0 (a value of another type is
    left for the schema to refuse)."""
    return value is None or (type(value) is int and value == 0)


def _tasks(spec: Obj) -> list[Obj]:
    return [t if isinstance(t, dict) else {} for t in _list(spec.get("tasks"))]


# ------------------------------------------------------------------------ defaulting


def default_job(job: Obj, scheduler_name: str = DEFAULT_SCHEDULER) -> None:
    """Volcano's job mutating webhook, on create only. Like Volcano, a zero maxRetry or
    minAvailable counts as unset (Go's zero value): maxRetry 3, minAvailable the sum of
    the tasks' minAvailable."""
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return
    if not spec.get("queue"):
        spec["queue"] = DEFAULT_QUEUE
    if not spec.get("schedulerName"):
        spec["schedulerName"] = scheduler_name
    if _zero(spec.get("maxRetry")):
        spec["maxRetry"] = DEFAULT_MAX_RETRY
    for i, task in enumerate(_list(spec.get("tasks"))):
        if isinstance(task, dict):
            _default_task(task, i)
    if _zero(spec.get("minAvailable")):
        spec["minAvailable"] = sum(_int(t.get("minAvailable")) for t in _tasks(spec))
    plugins = spec.get("plugins")
    if isinstance(plugins, dict):
        if any(name in plugins for name in NEEDS_SVC):
            plugins.setdefault("svc", [])
        if "mpi" in plugins:
            plugins.setdefault("ssh", [])


def _default_task(task: Obj, index: int) -> None:
    if not task.get("name"):
        task["name"] = f"{DEFAULT_TASK_PREFIX}{index}"
    pod_spec = _dict(_dict(task.get("template")).get("spec"))
    if pod_spec.get("hostNetwork") is True and not pod_spec.get("dnsPolicy"):
        # A host-network pod keeps cluster DNS only with this policy.
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if task.get("minAvailable") is None:
        partition = _dict(task.get("partitionPolicy"))
        if _int(partition.get("minPartitions")) > 0:
            task["minAvailable"] = (_int(partition.get("minPartitions"))
                                    * _int(partition.get("partitionSize")))
        else:
            task["minAvailable"] = _int(task.get("replicas"))
    if _zero(task.get("maxRetry")):
        task["maxRetry"] = DEFAULT_MAX_RETRY


def default_queue(queue: Obj) -> None:
    """Volcano's queue mutating webhook, on create only: reclaimable true, weight 1, and
    a hierarchy not starting at `root` put under it. An explicit weight 0 is left for
    the schema to refuse (spec.weight minimum 1) rather than rewritten to 1."""
    spec = queue.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("reclaimable") is None:
        spec["reclaimable"] = True
    if spec.get("weight") is None:
        spec["weight"] = 1
    annotations = _dict(_dict(queue.get("metadata")).get("annotations"))
    hierarchy = annotations.get(HIERARCHY)
    weights = annotations.get(HIERARCHY_WEIGHTS)
    if (isinstance(hierarchy, str) and isinstance(weights, str) and hierarchy and weights
            and not hierarchy.startswith(ROOT_QUEUE)):
        annotations[HIERARCHY] = f"{ROOT_QUEUE}/{hierarchy}"
        annotations[HIERARCHY_WEIGHTS] = f"1/{weights}"


# ------------------------------------------------------------------------------ jobs


def mpi_master(plugins: Obj) -> str | None:
    """The master task the mpi plugin's arguments name (`--master=<task>`), or None
    without the mpi plugin: parsed as the controller's mpi plugin parses them (Volcano's
    webhook builds the plugin with `mpi.NewInstance`, which logs a parse error and keeps
    what it parsed)."""
    if "mpi" not in plugins:
        return None
    flags = parse_flags("mpi", _list(plugins.get("mpi")), MPI_FLAGS, strict=False)
    return str(flags["master"])


def validate_job(job: Obj, old: Obj | None) -> list[Cause]:
    """Everything wrong with a Job (create) or with changing `old` into it (update)."""
    spec = _dict(job.get("spec"))
    if old is not None:
        return _validate_job_update(job, spec, _dict(old.get("spec")))
    name = str(_dict(job.get("metadata")).get("name") or "")
    errs: list[Cause] = []
    tasks = _tasks(spec)
    if not tasks:
        return [required("spec.tasks", "No task specified in job spec")]
    master = mpi_master(_dict(spec.get("plugins")))
    if master is not None and master not in {t.get("name") for t in tasks}:
        errs.append(invalid("spec.plugins[mpi]", master,
                            "The specified mpi master task was not found"))
    errs.extend(_network_topology(spec.get("networkTopology"), "spec.networkTopology"))
    names: set[str] = set()
    for i, task in enumerate(tasks):
        path = f"spec.tasks[{i}]"
        task_name = str(task.get("name") or "")
        if task_name in names:
            errs.append(duplicate(f"{path}.name", task_name))
        names.add(task_name)
        errs.extend(_task_counts(task, path, name, create=True))
        errs.extend(_policies(task.get("policies"), f"{path}.policies"))
        pod = f"{name}-{task_name}-{i}"  # Volcano checks the name with the task's index
        errs.extend(invalid(f"{path}.name", task_name,
                            f"create pod with name {pod} validate failed: {m}")
                    for m in is_qualified_name(pod))
        errs.extend(_task_template(task, path, i))
        errs.extend(_partition_policy(task, path, name))
    errs.extend(invalid("metadata.name", name, f"create job with name {name} validate failed: {m}")
                for m in is_qualified_name(name))
    total = sum(_int(t.get("replicas")) for t in tasks)
    min_available = _int(spec.get("minAvailable"))
    if min_available > total:
        errs.append(invalid("spec.minAvailable", min_available,
                            "job 'minAvailable' should not be greater than total replicas "
                            "in tasks"))
    errs.extend(_policies(spec.get("policies"), "spec.policies"))
    for plugin in _dict(spec.get("plugins")):
        if plugin not in JOB_PLUGINS:
            errs.append(not_supported(f"spec.plugins[{plugin}]", plugin, JOB_PLUGINS))
    errs.extend(_volumes(spec.get("volumes")))
    if any(_dict(t.get("dependsOn")).get("name") for t in tasks) and not _is_dag(tasks):
        errs.append(forbidden("spec.tasks", "job has dependencies between tasks, but doesn't "
                                            "form a directed acyclic graph(DAG)"))
    return errs


def _task_counts(task: Obj, path: str, job: str, *, create: bool) -> list[Cause]:
    min_available = task.get("minAvailable")
    replicas = _int(task.get("replicas"))
    if _int(min_available) <= replicas or _int(min_available) < 0:
        return []
    detail = (f"'minAvailable' is greater than 'replicas' in task: {task.get('name')}, "
              f"job: {job}" if create
              else f"'minAvailable' must be <= 'replicas' in task: {task.get('name')}")
    return [invalid(f"{path}.minAvailable", min_available, detail)]


def _network_topology(topology: Any, path: str) -> list[Cause]:
    topology = _dict(topology)
    if topology.get("highestTierAllowed") is not None and topology.get("highestTierName"):
        return [forbidden(path, "must not specify 'highestTierAllowed' and 'highestTierName' "
                                "in networkTopology simultaneously")]
    return []


def _partition_policy(task: Obj, path: str, job: str) -> list[Cause]:
    partition = task.get("partitionPolicy")
    if not isinstance(partition, dict):
        return []
    path = f"{path}.partitionPolicy"
    where = f"in task: {task.get('name')}, job: {job}"
    total = _int(partition.get("totalPartitions"))
    size = _int(partition.get("partitionSize"))
    min_partitions = _int(partition.get("minPartitions"))
    errs: list[Cause] = []
    if total <= 0:
        errs.append(invalid(f"{path}.totalPartitions", total,
                            f"'TotalPartitions' must be greater than 0 {where}"))
    elif size <= 0:
        errs.append(invalid(f"{path}.partitionSize", size,
                            f"'PartitionSize' must be greater than 0 {where}"))
    elif _int(task.get("replicas")) != total * size:
        errs.append(invalid(f"{path[:-len('.partitionPolicy')]}.replicas",
                            _int(task.get("replicas")),
                            f"'Replicas' are not equal to TotalPartitions*PartitionSize {where}"))
    elif (task.get("minAvailable") is not None and min_partitions > 0
          and min_partitions * size != _int(task.get("minAvailable"))):
        errs.append(invalid(f"{path[:-len('.partitionPolicy')]}.minAvailable",
                            _int(task.get("minAvailable")),
                            f"'MinAvailable' is not equal to MinPartitions*PartitionSize {where}"))
    errs.extend(_network_topology(partition.get("networkTopology"), f"{path}.networkTopology"))
    return errs


def _task_template(task: Obj, path: str, index: int) -> list[Cause]:
    """The template checked as kube checks a PodTemplate, after kube's defaults, on a
    copy: Volcano validates the defaulted template but stores the job as written."""
    template = copy.deepcopy(task.get("template"))
    if not isinstance(template, dict):
        template = {}
    apply_pod_template_defaults(template)
    errs = validate_pod_template(template, f"{path}.template")
    policy = task.get("topologyPolicy")
    if errs or not policy or policy == "none":
        return errs
    # A NUMA topology policy pins whole CPUs: every container asks for an integer count.
    pod_spec = _dict(template.get("spec"))
    containers = [("containers", j, c) for j, c in enumerate(_list(pod_spec.get("containers")))]
    containers += [("initContainers", j, c)
                   for j, c in enumerate(_list(pod_spec.get("initContainers")))]
    for n, (key, j, container) in enumerate(containers):
        resources = _dict(_dict(container).get("resources"))
        requests = _dict(resources.get("requests")) or _dict(resources.get("limits"))
        cpu = parse_quantity(requests.get("cpu", 0))
        if not cpu or cpu.denominator != 1:
            return [invalid(f"{path}.template.spec.{key}[{j}].resources.requests[cpu]",
                            str(requests.get("cpu", "")),
                            f"the cpu request isn't an integer in spec.task[{index}] "
                            f"container[{n}]")]
    return errs


def _policies(policies: Any, path: str) -> list[Cause]:
    """LifecyclePolicies: an event (or events) or an exitCode, never both; known events
    and actions; no event or exit code twice across the list; `*` alone."""
    errs: list[Cause] = []
    seen_events: set[str] = set()
    seen_codes: set[int] = set()
    for i, policy in enumerate(_list(policies)):
        policy = _dict(policy)
        at = f"{path}[{i}]"
        events = [e for e in [*_list(policy.get("events")), policy.get("event")] if e]
        exit_code = policy.get("exitCode")
        if events and exit_code is not None:
            errs.append(forbidden(at, "must not specify event and exitCode simultaneously"))
            continue
        if not events and exit_code is None:
            errs.append(required(at, "either event and exitCode should be specified"))
            continue
        action = policy.get("action")
        if action and action not in POLICY_ACTIONS:
            errs.append(not_supported(f"{at}.action", action, POLICY_ACTIONS))
        if exit_code is not None:
            if exit_code == 0:
                errs.append(invalid(f"{at}.exitCode", 0, "0 is not a valid error code"))
            elif exit_code in seen_codes:
                errs.append(duplicate(f"{at}.exitCode", exit_code))
            seen_codes.add(exit_code)
            continue
        field = f"{at}.event" if policy.get("event") else f"{at}.events"
        for event in dict.fromkeys(events):
            if event not in POLICY_EVENTS:
                errs.append(not_supported(field, event, POLICY_EVENTS))
            elif event in seen_events:
                errs.append(duplicate(field, event))
            seen_events.add(event)
    if "*" in seen_events and len(seen_events) > 1:
        errs.append(forbidden(path, "if there's * here, no other policy should be here"))
    return errs


def _volumes(volumes: Any) -> list[Cause]:
    errs: list[Cause] = []
    mount_paths: set[str] = set()
    for i, volume in enumerate(_list(volumes)):
        volume = _dict(volume)
        at = f"spec.volumes[{i}]"
        mount_path = volume.get("mountPath") or ""
        claim_name = volume.get("volumeClaimName") or ""
        if not mount_path:
            errs.append(required(f"{at}.mountPath", "mountPath is required"))
        elif mount_path in mount_paths:
            errs.append(duplicate(f"{at}.mountPath", mount_path))
        mount_paths.add(mount_path)
        if volume.get("volumeClaim") is None and not claim_name:
            errs.append(required(at, "either VolumeClaim or VolumeClaimName must be specified"))
        elif claim_name and volume.get("volumeClaim") is not None:
            errs.append(forbidden(f"{at}.volumeClaimName",
                                  "conflict: If you want to use an existing PVC, just specify "
                                  "VolumeClaimName.If you want to create a new PVC, you do not "
                                  "need to specify VolumeClaimName"))
        elif claim_name:
            errs.extend(invalid(f"{at}.volumeClaimName", claim_name,
                                f"invalid VolumeClaimName {claim_name} : {m}")
                        for m in is_dns1123_subdomain(str(claim_name)))
    return errs


def _is_dag(tasks: list[Obj]) -> bool:
    """Kahn's sort over dependsOn edges; a dependency on a task the job lacks never
    resolves, so it breaks the graph as it does in Volcano."""
    names = [str(t.get("name") or "") for t in tasks]
    indegree = dict.fromkeys(names, 0)
    edges: dict[str, list[str]] = {}
    for task, name in zip(tasks, names, strict=True):
        for dep in _list(_dict(task.get("dependsOn")).get("name")):
            edges.setdefault(str(dep), []).append(name)
            indegree[name] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    done = 0
    while ready:
        current = ready.pop()
        done += 1
        for nxt in edges.pop(current, []):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return done == len(names)


def _go_zero_free(value: Any, *, keyed: bool = False) -> Any:
    """A spec as Go's semantic equality sees it: unset, null and empty lists or maps
    alike. In a map of data (`keyed`: the plugins) a key with an empty value still
    counts."""
    if isinstance(value, dict):
        out = {k: _go_zero_free(v, keyed=k == "plugins") for k, v in value.items()}
        if keyed:
            return out
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_go_zero_free(v) for v in value]
    return value


def _validate_job_update(job: Obj, spec: Obj, old_spec: Obj) -> list[Cause]:
    """Only minAvailable, priorityClassName and the tasks' replicas and minAvailable may
    change (Volcano's validateJobUpdate, plus its policy's queue rule)."""
    tasks = _tasks(spec)
    errs: list[Cause] = []
    for i, task in enumerate(tasks):
        path = f"spec.tasks[{i}]"
        errs.extend(_task_counts(task, path, "", create=False))
        errs.extend(_partition_policy(task, path, str(_dict(job.get("metadata")).get("name"))))
    total = sum(_int(t.get("replicas")) for t in tasks)
    min_available = _int(spec.get("minAvailable"))
    if min_available > total:
        errs.append(invalid("spec.minAvailable", min_available,
                            "job 'minAvailable' must not be greater than total replicas"))
    errs.extend(_network_topology(spec.get("networkTopology"), "spec.networkTopology"))
    if errs:
        return errs
    old_tasks = _tasks(old_spec)
    if len(old_tasks) != len(tasks):
        return [forbidden("spec.tasks", "job updates may not add or remove tasks")]
    mine, theirs = copy.deepcopy(spec), copy.deepcopy(old_spec)
    for one in (mine, theirs):
        one.pop("minAvailable", None)
        one.pop("priorityClassName", None)
        for task in _tasks(one):
            task.pop("replicas", None)
            task.pop("minAvailable", None)
        # The job controller names the claims it creates.
        for volume in _list(one.get("volumes")):
            if isinstance(volume, dict) and volume.get("volumeClaim") is not None:
                volume.pop("volumeClaimName", None)
    if _go_zero_free(mine) != _go_zero_free(theirs):
        return [forbidden("spec", UPDATABLE_JOB_FIELDS)]
    return []


# ---------------------------------------------------------------------------- queues


def quantity_map(value: Any) -> dict[str, Fraction]:
    """A ResourceList's parseable quantities."""
    out: dict[str, Fraction] = {}
    for name, raw in _dict(value).items():
        quantity = parse_quantity(raw)
        if quantity is not None:
            out[str(name)] = quantity
    return out


def _is_integer_resource(name: str) -> bool:
    if name in _INTEGER_RESOURCES:
        return True
    # An extended resource: a domain-prefixed name outside kubernetes.io.
    return ("/" in name and not name.startswith("requests.")
            and "kubernetes.io/" not in name)


def _resource_values(resources: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for name, raw in sorted(_dict(resources).items()):
        quantity = parse_quantity(raw)
        if quantity is None:
            continue  # the schema's quantity pattern reports it
        at = f"{path}[{name}]"
        if quantity < 0:
            errs.append(invalid(at, str(raw), "must be greater than or equal to 0"))
        elif _is_integer_resource(str(name)) and quantity.denominator != 1:
            errs.append(invalid(at, str(raw), "must be an integer"))
    return errs


def validate_queue(queue: Obj) -> list[Cause]:
    """A Queue's quantities (guarantee ≤ deserved ≤ capability), user state and
    hierarchy annotations (create and update)."""
    spec = _dict(queue.get("spec"))
    errs = _resource_values(spec.get("capability"), "spec.capability")
    errs += _resource_values(spec.get("deserved"), "spec.deserved")
    guarantee_raw = _dict(_dict(spec.get("guarantee")).get("resource"))
    errs += _resource_values(guarantee_raw, "spec.guarantee.resource")
    capability = quantity_map(spec.get("capability"))
    deserved = quantity_map(spec.get("deserved"))
    deserved_raw = _dict(spec.get("deserved"))
    for name, guarantee in sorted(quantity_map(guarantee_raw).items()):
        raw = guarantee_raw[name]
        if name not in deserved:
            errs.append(invalid(f"spec.deserved[{name}]", "<nil>",
                                f"deserved[{name}] must be >= guarantee[{name}]={raw}"))
        elif deserved[name] < guarantee:
            errs.append(invalid(f"spec.deserved[{name}]", str(deserved_raw[name]),
                                f"deserved[{name}]={deserved_raw[name]} must be >= "
                                f"guarantee[{name}]={raw}"))
    for name, amount in sorted(deserved.items()):
        if name in capability and amount > capability[name]:
            cap = _dict(spec.get("capability"))[name]
            errs.append(invalid(f"spec.deserved[{name}]", str(deserved_raw[name]),
                                f"deserved[{name}]={deserved_raw[name]} must be <= "
                                f"capability[{name}]={cap}"))
    state = _dict(queue.get("status")).get("state")
    if state and state not in QUEUE_USER_STATES:
        errs.append(invalid("status.state", state,
                            f"queue state must be in [{' '.join(QUEUE_USER_STATES)}]"))
    errs.extend(_hierarchy_annotations(queue))
    return errs


def _hierarchy_annotations(queue: Obj) -> list[Cause]:
    annotations = _dict(_dict(queue.get("metadata")).get("annotations"))
    hierarchy = str(annotations.get(HIERARCHY) or "")
    weights = str(annotations.get(HIERARCHY_WEIGHTS) or "")
    if not hierarchy and not weights:
        return []
    path = "metadata.annotations"
    if len(hierarchy.split("/")) != len(weights.split("/")):
        return [invalid(path, hierarchy,
                        f"{HIERARCHY} must have the same length with {HIERARCHY_WEIGHTS}")]
    for weight in weights.split("/"):
        if not _WEIGHT.match(weight):
            return [invalid(path, weights,
                            f"{weight} in the {weights} is invalid number")]
        if float(weight) <= 0:
            return [invalid(path, weights, f"{weight} in the {weights} must be larger than 0")]
    return []


# ------------------------------------------------------------------------- podgroups


def validate_podgroup(podgroup: Obj) -> list[Cause]:
    """What a PodGroup may not say whatever the queues (create)."""
    spec = _dict(podgroup.get("spec"))
    errs = _network_topology(spec.get("networkTopology"), "spec.networkTopology")
    for i, policy in enumerate(_list(spec.get("subGroupPolicy"))):
        errs.extend(_network_topology(_dict(policy).get("networkTopology"),
                                      f"spec.subGroupPolicy[{i}].networkTopology"))
    return errs
