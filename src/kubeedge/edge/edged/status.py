"""Pod status as kubelet generates it: pure functions from the pod and what the runtime
reports, so every rule here is unit-tested without processes.

Follows kubelet 1.32 (pkg/kubelet/kubelet_pods.go `generateAPIPodStatus`, `getPhase`,
`convertToAPIContainerStatuses`; pkg/kubelet/status/generate.go; the status manager's
`updateLastTransitionTime`):
- containerStatuses/initContainerStatuses from the newest two runtime containers of each
  name (the newest is `state`, the one before is `lastState`), `restartCount` from the
  newest container's attempt; a container that has not been created is waiting with
  `ContainerCreating` (`PodInitializing` for app containers of a pod with init
  containers); a container that will be restarted and failed to start (back-off, config
  or image errors: the reason cache) is waiting with that reason, its terminated state
  moved to `lastState`;
- the phase (`getPhase`), terminal phases never going back;
- the conditions in kubelet's order: PodReadyToStartContainers (beta and on by default
  since 1.29), Initialized, Ready, ContainersReady, PodScheduled; their
  lastTransitionTime kept from the previous status while the status does not change;
- qosClass (pkg/apis/core/helper/qos).

Must never touch the runtime or the bus: Edged gathers the inputs, this module decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeedge.edge.runtime.contract import ContainerState, ContainerStatus

__all__ = [
    "ANNOTATION_IMAGE_REF",
    "ANNOTATION_RESTART_COUNT",
    "PodInputs",
    "StartFailure",
    "api_time",
    "container_statuses",
    "generate_pod_status",
    "is_restartable_init",
    "pod_conditions",
    "pod_phase",
    "qos_class",
    "should_restart",
    "status_equal",
]

Obj = dict[str, Any]

# kubelet's container annotations (pkg/kubelet/kuberuntime/labels.go): the restart count
# a container was created with is how kubelet knows it after a restart of its own.
ANNOTATION_RESTART_COUNT = "io.kubernetes.container.restartCount"
ANNOTATION_HASH = "io.kubernetes.container.hash"
ANNOTATION_GRACE = "io.kubernetes.pod.terminationGracePeriod"
# Ours: what the image resolved to (status imageID), recorded at create.
ANNOTATION_IMAGE_REF = "kubeedge.io/image-ref"

# kubelet's waiting reasons (pkg/kubelet/kubelet_pods.go, kuberuntime/kuberuntime_container.go)
CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"

PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
TERMINAL_PHASES = (PHASE_SUCCEEDED, PHASE_FAILED)

# Conditions kubelet owns; the rest of an old status's conditions are carried over.
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready",
                      "ContainersReady", "PodScheduled")


def api_time(ns: int) -> str | None:
    """A CRI timestamp (ns since the epoch) as the API's RFC 3339 seconds, None for 0."""
    if not ns:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_restartable_init(container: Mapping[str, Any]) -> bool:
    """A sidecar: an init container with restartPolicy Always (KEP-753, beta in 1.29)."""
    return container.get("restartPolicy") == "Always"


def _restart_count(cs: ContainerStatus) -> int:
    raw = cs.annotations.get(ANNOTATION_RESTART_COUNT)
    try:
        return int(raw) if raw is not None else cs.metadata.attempt
    except ValueError:
        return cs.metadata.attempt


def should_restart(pod: Mapping[str, Any], container: Mapping[str, Any],
                   latest: ContainerStatus | None, *, init: bool = False) -> bool:
    """kubelet's ShouldContainerBeRestarted: never once the pod is being deleted; a
    container that never ran, or did not exit, always; an exited one by the restart
    policy (a sidecar's own `Always` wins; a regular init container that succeeded is
    done)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if latest is None or latest.state not in (ContainerState.EXITED,
                                              ContainerState.UNKNOWN):
        return True
    if init and is_restartable_init(container):
        return True
    code = latest.exit_code if latest.exit_code is not None else 137
    if init and code == 0:
        return False
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return code != 0
    return True


@dataclass(frozen=True)
class StartFailure:
    """A reason-cache entry: why the last attempt to start a container failed."""

    reason: str
    message: str = ""


@dataclass
class PodInputs:
    """What Edged knows of one pod when it generates the status.

    `containers`: every runtime container of the pod, any order; `ready`/`started`:
    the probe results by container name (only consulted for running containers);
    `failures`: the reason cache by container name.
    """

    sandbox_ready: bool = False
    containers: Sequence[ContainerStatus] = ()
    failures: Mapping[str, StartFailure] = field(default_factory=dict)
    ready: Mapping[str, bool] = field(default_factory=dict)
    started: Mapping[str, bool] = field(default_factory=dict)
    pod_ip: str = ""
    host_ip: str = ""
    runtime_name: str = "process"
    start_time: str | None = None
    # The pod has been killed (deleted, or the edge finished it): the phase is terminal
    # once every container stopped (kubelet's podIsTerminal).
    terminal: bool = False
    # kubelet's pod admission refusal: the pod is Failed with this reason and message.
    rejected: StartFailure | None = None


def _state(cs: ContainerStatus, runtime_name: str) -> Obj:
    if cs.state == ContainerState.RUNNING:
        return {"running": {"startedAt": api_time(cs.started_at) or api_time(cs.created_at)}}
    if cs.state == ContainerState.CREATED:
        return {"waiting": {"reason": CONTAINER_CREATING}}
    if cs.state == ContainerState.UNKNOWN:
        # kubelet reports a container whose state is lost as terminated 137
        # ContainerStatusUnknown.
        return {"terminated": {
            "exitCode": 137, "reason": "ContainerStatusUnknown",
            "message": cs.message or "The container could not be located when the pod "
                                     "was terminated",
            "startedAt": api_time(cs.started_at), "finishedAt": api_time(cs.finished_at),
            "containerID": f"{runtime_name}://{cs.id}"}}
    code = cs.exit_code if cs.exit_code is not None else 0
    reason = cs.reason or ("Completed" if code == 0 else "Error")
    terminated: Obj = {"exitCode": code, "reason": reason,
                       "startedAt": api_time(cs.started_at),
                       "finishedAt": api_time(cs.finished_at),
                       "containerID": f"{runtime_name}://{cs.id}"}
    if cs.message:
        terminated["message"] = cs.message
    return {"terminated": terminated}


def _by_name_newest_first(containers: Iterable[ContainerStatus]
                          ) -> dict[str, list[ContainerStatus]]:
    out: dict[str, list[ContainerStatus]] = {}
    for cs in sorted(containers, key=lambda c: (c.metadata.attempt, c.created_at),
                     reverse=True):
        out.setdefault(cs.metadata.name, []).append(cs)
    return out


def container_statuses(pod: Mapping[str, Any], specs: Sequence[Mapping[str, Any]],
                       inputs: PodInputs, *, init: bool) -> list[Obj]:
    """kubelet's convertToAPIContainerStatuses for one list (init or app containers)."""
    has_init = bool((pod.get("spec") or {}).get("initContainers")) and not init
    default_reason = POD_INITIALIZING if has_init else CONTAINER_CREATING
    by_name = _by_name_newest_first(inputs.containers)
    out = []
    for spec in specs:
        name = spec["name"]
        history = by_name.get(name, [])
        status: Obj = {"name": name, "image": spec.get("image", ""), "imageID": "",
                       "ready": False, "restartCount": 0, "started": False,
                       "state": {"waiting": {"reason": default_reason}}, "lastState": {}}
        if history:
            latest = history[0]
            status["state"] = _state(latest, inputs.runtime_name)
            status["restartCount"] = _restart_count(latest)
            status["containerID"] = f"{inputs.runtime_name}://{latest.id}"
            status["imageID"] = latest.annotations.get(ANNOTATION_IMAGE_REF, "")
            if len(history) > 1:
                status["lastState"] = _state(history[1], inputs.runtime_name)
            running = latest.state == ContainerState.RUNNING
            if running:
                status["started"] = inputs.started.get(name, True)
                status["ready"] = status["started"] and inputs.ready.get(name, True)
            elif init and not is_restartable_init(spec):
                # An init container that completed is ready (kubelet sets it so).
                status["ready"] = (latest.state == ContainerState.EXITED
                                   and latest.exit_code == 0)
        failure = inputs.failures.get(name)
        latest_cs = history[0] if history else None
        if failure is not None and (latest_cs is None or latest_cs.state
                                    != ContainerState.RUNNING) and should_restart(
                pod, spec, latest_cs, init=init):
            if "terminated" in status["state"]:
                status["lastState"] = status["state"]
            status["state"] = {"waiting": {"reason": failure.reason}}
            if failure.message:
                status["state"]["waiting"]["message"] = failure.message
            status["ready"] = False
            status["started"] = False
        if not status.get("containerID"):
            status.pop("containerID", None)
        out.append(status)
    return out


def _get(statuses: Sequence[Obj], name: str) -> Obj | None:
    for s in statuses:
        if s["name"] == name:
            return s
    return None


def _regular_started(spec: Mapping[str, Any], statuses: Sequence[Obj]) -> bool:
    """kubelet's HasAnyRegularContainerStarted."""
    for c in spec.get("containers") or []:
        s = _get(statuses, c["name"])
        if s is not None and ("running" in s["state"] or "terminated" in s["state"]
                              or "terminated" in s.get("lastState", {})):
            return True
    return False


def pod_phase(pod: Mapping[str, Any], init_statuses: Sequence[Obj],
              statuses: Sequence[Obj], terminal: bool = False) -> str:
    """kubelet's getPhase (1.32), sidecars included."""
    spec = pod.get("spec") or {}
    pending_init = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or []:
        s = _get(init_statuses, c["name"])
        if is_restartable_init(c):
            if s is None:
                unknown += 1
            elif "running" in s["state"]:
                if not s.get("started"):
                    pending_init += 1
                running += 1
            elif "waiting" in s["state"] and "terminated" not in s.get("lastState", {}):
                pending_init += 1
                waiting += 1
            continue
        if s is None or "running" in s["state"]:
            pending_init += 1
        elif "terminated" in s["state"]:
            if s["state"]["terminated"]["exitCode"] != 0:
                failed_init += 1
        elif "terminated" in s.get("lastState", {}):
            if s["lastState"]["terminated"]["exitCode"] != 0:
                failed_init += 1
        else:
            pending_init += 1
    for c in spec.get("containers") or []:
        s = _get(statuses, c["name"])
        if s is None:
            unknown += 1
        elif "running" in s["state"]:
            running += 1
        elif "terminated" in s["state"]:
            stopped += 1
            if s["state"]["terminated"]["exitCode"] == 0:
                succeeded += 1
        elif "terminated" in s.get("lastState", {}):
            stopped += 1
        else:
            waiting += 1
    policy = spec.get("restartPolicy") or "Always"
    if failed_init > 0 and policy == "Never":
        return PHASE_FAILED
    if (pending_init > 0 and not _regular_started(spec, statuses)) or waiting > 0:
        return PHASE_PENDING
    if running > 0 and unknown == 0:
        return PHASE_RUNNING
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return PHASE_SUCCEEDED if stopped == succeeded else PHASE_FAILED
        if policy == "Always":
            return PHASE_RUNNING
        if stopped == succeeded:
            return PHASE_SUCCEEDED
        if policy == "Never":
            return PHASE_FAILED
        return PHASE_RUNNING
    return PHASE_PENDING


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": kind, "status": "True" if ok else "False"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # Go's %s of a []string


def pod_conditions(pod: Mapping[str, Any], phase: str, init_statuses: Sequence[Obj],
                   statuses: Sequence[Obj], sandbox_ready: bool,
                   old_conditions: Sequence[Obj] = ()) -> list[Obj]:
    """The kubelet-owned conditions in kubelet's order, then the others of the old
    status (DisruptionTarget and readiness-gate conditions set by others)."""
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers") or []
    # Initialized
    if not inits:
        initialized = _condition("Initialized", True)
    else:
        unknown, incomplete = [], []
        for c in inits:
            s = _get(init_statuses, c["name"])
            if s is None:
                unknown.append(c["name"])
            elif not (s.get("started") if is_restartable_init(c) else s.get("ready")):
                incomplete.append(c["name"])
        if phase == PHASE_SUCCEEDED and not unknown:
            initialized = _condition("Initialized", True, "PodCompleted")
        elif _regular_started(spec, statuses):
            initialized = _condition("Initialized", True)
        else:
            parts = []
            if unknown:
                parts.append(f"containers with unknown status: {_names(unknown)}")
            if incomplete:
                parts.append(f"containers with incomplete status: {_names(incomplete)}")
            initialized = (_condition("Initialized", False, "ContainersNotInitialized",
                                      ", ".join(parts)) if parts
                           else _condition("Initialized", True))
    # ContainersReady
    unknown, unready = [], []
    for c in [*(c for c in inits if is_restartable_init(c)), *(spec.get("containers") or [])]:
        s = _get([*init_statuses, *statuses], c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == PHASE_SUCCEEDED and not unknown:
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
    elif phase == PHASE_FAILED:
        containers_ready = _condition("ContainersReady", False, "PodFailed")
    else:
        parts = []
        if unknown:
            parts.append(f"containers with unknown status: {_names(unknown)}")
        if unready:
            parts.append(f"containers with unready status: {_names(unready)}")
        containers_ready = (_condition("ContainersReady", False, "ContainersNotReady",
                                       ", ".join(parts)) if parts
                            else _condition("ContainersReady", True))
    # Ready: ContainersReady, then the readiness gates.
    others = [c for c in old_conditions if c.get("type") not in KUBELET_CONDITIONS]
    if containers_ready["status"] != "True":
        ready = {**containers_ready, "type": "Ready"}
    else:
        gates = []
        for gate in spec.get("readinessGates") or []:
            kind = gate.get("conditionType", "")
            found = next((c for c in others if c.get("type") == kind), None)
            if found is None:
                gates.append(f'corresponding condition of pod readiness gate "{kind}" '
                             "does not exist.")
            elif found.get("status") != "True":
                gates.append(f'the status of pod readiness gate "{kind}" is not "True", '
                             f"but {found.get('status')}")
        ready = (_condition("Ready", False, "ReadinessGatesNotReady", ", ".join(gates))
                 if gates else _condition("Ready", True))
    return [_condition("PodReadyToStartContainers", sandbox_ready), initialized, ready,
            containers_ready, _condition("PodScheduled", True), *others]


def _quantity(text: Any) -> float:
    from kubeedge.edge.node import parse_quantity

    return parse_quantity(str(text))


def qos_class(pod: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' cpu/memory requests and
    limits (a request defaults to its limit)."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    requests: dict[str, float] = {}
    limits: dict[str, float] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        for k, v in req.items():
            if _quantity(v) > 0:
                requests[k] = requests.get(k, 0) + _quantity(v)
        for k, v in lim.items():
            if _quantity(v) > 0:
                limits[k] = limits.get(k, 0) + _quantity(v)
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
        for k in ("cpu", "memory"):
            if k in req and k in lim and _quantity(req[k]) != _quantity(lim[k]):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def generate_pod_status(pod: Mapping[str, Any], inputs: PodInputs) -> Obj:
    """kubelet's generateAPIPodStatus; lastTransitionTime is filled by
    `keep_transition_times`."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    init_statuses = container_statuses(pod, spec.get("initContainers") or [], inputs,
                                       init=True)
    statuses = container_statuses(pod, spec.get("containers") or [], inputs, init=False)
    if inputs.rejected is not None:
        status: Obj = {"phase": PHASE_FAILED, "reason": inputs.rejected.reason,
                       "message": inputs.rejected.message,
                       "conditions": list(old.get("conditions") or []),
                       "qosClass": qos_class(pod)}
        if inputs.host_ip:
            status["hostIP"] = inputs.host_ip
            status["hostIPs"] = [{"ip": inputs.host_ip}]
        if inputs.start_time:
            status["startTime"] = inputs.start_time
        return status
    phase = pod_phase(pod, init_statuses, statuses, inputs.terminal)
    if old.get("phase") in TERMINAL_PHASES and phase != old.get("phase"):
        # A terminal phase never goes back (kubelet's status manager refuses it).
        phase = old["phase"]
    status = {
        "phase": phase,
        "conditions": pod_conditions(pod, phase, init_statuses, statuses,
                                     inputs.sandbox_ready, old.get("conditions") or ()),
        "qosClass": qos_class(pod),
    }
    if inputs.host_ip:
        status["hostIP"] = inputs.host_ip
        status["hostIPs"] = [{"ip": inputs.host_ip}]
    pod_ip = inputs.pod_ip or (inputs.host_ip if spec.get("hostNetwork") else "")
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if inputs.start_time:
        status["startTime"] = inputs.start_time
    if spec.get("initContainers"):
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    return status


def keep_transition_times(new: Obj, old: Mapping[str, Any] | None, now: str) -> Obj:
    """The status manager's updateLastTransitionTime: a condition keeps the old
    lastTransitionTime while its status is unchanged, else gets `now`. lastProbeTime
    stays null as kubelet leaves it."""
    before = {c.get("type"): c for c in (old or {}).get("conditions") or []}
    for c in new.get("conditions") or []:
        prev = before.get(c["type"])
        if prev is not None and prev.get("status") == c["status"] and \
                prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
        elif not c.get("lastTransitionTime"):
            c["lastTransitionTime"] = now
        c.setdefault("lastProbeTime", None)
    return new


def status_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two statuses say the same (kubelet's isPodStatusByKubeletEqual): the
    order of conditions does not matter."""
    if a is None or b is None:
        return a is b

    def norm(s: Mapping[str, Any]) -> Any:
        d = dict(s)
        d["conditions"] = sorted((c for c in d.get("conditions") or []),
                                 key=lambda c: c.get("type", ""))
        return d

    return norm(a) == norm(b)
