"""What a hollow node reports about its pods: statuses, scripted exits and pod IPs.

Owns the pure parts of playing kubelet for a pod: reading the `hollow.kubeedge.io/*`
annotations that script a pod's containers, the status patches for a running, restarted,
exited or killed pod (fields as the kubelet's status manager writes them), the phase an
exit leads to under each restartPolicy, and handing out pod IPs from a node's pod CIDR.
Must never do I/O or read a clock: callers pass the time in.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from kubeedge.hollow.node import rfc3339

__all__ = [
    "EXIT_CODE_ANNOTATION",
    "RUN_SECONDS_ANNOTATION",
    "ContainerScript",
    "ExitOutcome",
    "Phase",
    "PodIPPool",
    "exit_outcome",
    "is_terminal",
    "killed_status",
    "restart_backoff",
    "running_status",
    "script_of",
    "terminated_status",
]

EXIT_CODE_ANNOTATION = "hollow.kubeedge.io/exit-code"
RUN_SECONDS_ANNOTATION = "hollow.kubeedge.io/run-seconds"
# A container stopped by SIGTERM on graceful deletion exits 128 + 15.
SIGTERM_EXIT_CODE = 143

Obj = dict[str, Any]


class Phase(StrEnum):
    """Pod phases. Pending → Running → Succeeded | Failed; terminal phases never change."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ExitOutcome(StrEnum):
    """What follows a container exit: the kubelet restarts it, or the pod ends."""

    RESTART = "Restart"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ContainerScript:
    """The annotations' script: exit with `exit_code` after `run_seconds` of running;
    `exit_code` None means run until deleted."""

    exit_code: int | None = None
    run_seconds: float = 0.0


def script_of(pod: Obj) -> tuple[ContainerScript, str]:
    """The pod's script and a problem ('' when none). A bad annotation is reported and
    ignored, as a kubelet cannot refuse a pod that is already bound."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw_code = annotations.get(EXIT_CODE_ANNOTATION)
    raw_seconds = annotations.get(RUN_SECONDS_ANNOTATION)
    if raw_code is None:
        return ContainerScript(), ""
    try:
        code = int(str(raw_code).strip())
    except ValueError:
        return ContainerScript(), (
            f"annotation {EXIT_CODE_ANNOTATION}: {raw_code!r} is not an integer exit code"
        )
    if not 0 <= code <= 255:
        return ContainerScript(), f"annotation {EXIT_CODE_ANNOTATION}: {code} is not in 0..255"
    seconds = 0.0
    if raw_seconds is not None:
        try:
            seconds = float(str(raw_seconds).strip())
        except ValueError:
            return ContainerScript(code), (
                f"annotation {RUN_SECONDS_ANNOTATION}: {raw_seconds!r} is not a number of "
                "seconds; exiting at once"
            )
        if seconds < 0 or seconds != seconds:
            return ContainerScript(code), (
                f"annotation {RUN_SECONDS_ANNOTATION}: {raw_seconds!r} must be >= 0; "
                "exiting at once"
            )
    return ContainerScript(code, seconds), ""


def exit_outcome(restart_policy: str, exit_code: int) -> ExitOutcome:
    """The kubelet's rule: Always restarts every exit, OnFailure restarts failures,
    Never restarts nothing; a pod whose containers all exited 0 Succeeded."""
    policy = restart_policy or "Always"
    if policy == "Always" or (policy == "OnFailure" and exit_code != 0):
        return ExitOutcome.RESTART
    return ExitOutcome.SUCCEEDED if exit_code == 0 else ExitOutcome.FAILED


def restart_backoff(restarts: int, initial: float = 10.0, maximum: float = 300.0) -> float:
    """The kubelet's crash-loop back-off before restart number `restarts` (1-based):
    10 s doubling to 5 min."""
    if restarts <= 0:
        return 0.0
    return float(min(initial * 2 ** (restarts - 1), maximum))


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in (Phase.SUCCEEDED, Phase.FAILED)


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{image.split('@')[0]}@sha256:{digest}"


def _container_id(uid: str, name: str, restarts: int) -> str:
    digest = hashlib.sha256(f"{uid}/{name}/{restarts}".encode()).hexdigest()
    return f"hollow://{digest[:32]}"


def _conditions(ready: bool, now: str, started: str) -> list[Obj]:
    ready_status = "True" if ready else "False"
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": started},
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "Ready", "status": ready_status, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": ready_status, "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
    ]
    if not ready:
        for condition in conditions[2:4]:
            condition["reason"] = "PodCompleted"
    return conditions


def _init_statuses(pod: Obj, started: str) -> list[Obj]:
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    out = []
    for container in (pod.get("spec") or {}).get("initContainers") or []:
        image = str(container.get("image") or "")
        out.append({
            "name": container.get("name", ""),
            "image": image,
            "imageID": _image_id(image),
            "containerID": _container_id(uid, str(container.get("name", "")), 0),
            "ready": True,
            "started": False,
            "restartCount": 0,
            "state": {"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started,
                "containerID": _container_id(uid, str(container.get("name", "")), 0),
            }},
            "lastState": {},
        })
    return out


def _base(pod: Obj, host_ip: str, pod_ip: str, started: str) -> Obj:
    status: Obj = {
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started,
    }
    init = _init_statuses(pod, started)
    if init:
        status["initContainerStatuses"] = init
    return status


def running_status(
    pod: Obj,
    *,
    host_ip: str,
    pod_ip: str,
    started: datetime,
    now: datetime,
    restarts: int = 0,
    last_exit_code: int | None = None,
    last_started: datetime | None = None,
) -> Obj:
    """The status patch of a pod whose containers all run and are ready. After a
    restart, `lastState` holds the previous run's termination."""
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    start, stamp = rfc3339(started), rfc3339(now)
    containers = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        name = str(container.get("name", ""))
        image = str(container.get("image") or "")
        last_state: Obj = {}
        if restarts and last_exit_code is not None:
            last_state = {"terminated": {
                "exitCode": last_exit_code,
                "reason": "Completed" if last_exit_code == 0 else "Error",
                "startedAt": rfc3339(last_started or started),
                "finishedAt": stamp,
                "containerID": _container_id(uid, name, restarts - 1),
            }}
        containers.append({
            "name": name,
            "image": image,
            "imageID": _image_id(image),
            "containerID": _container_id(uid, name, restarts),
            "ready": True,
            "started": True,
            "restartCount": restarts,
            "state": {"running": {"startedAt": stamp}},
            "lastState": last_state,
        })
    status = _base(pod, host_ip, pod_ip, start)
    status.update({
        "phase": str(Phase.RUNNING),
        "conditions": _conditions(True, stamp, start),
        "containerStatuses": containers,
    })
    return {"status": status}


def terminated_status(
    pod: Obj,
    *,
    host_ip: str,
    pod_ip: str,
    started: datetime,
    run_started: datetime,
    now: datetime,
    exit_code: int,
    phase: Phase | None,
    restarts: int = 0,
) -> Obj:
    """The status patch of a pod whose containers all exited with `exit_code`; `phase`
    None keeps the phase (a pod killed on deletion whose outcome the caller decides)."""
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    start, stamp = rfc3339(started), rfc3339(now)
    containers = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        name = str(container.get("name", ""))
        image = str(container.get("image") or "")
        cid = _container_id(uid, name, restarts)
        containers.append({
            "name": name,
            "image": image,
            "imageID": _image_id(image),
            "containerID": cid,
            "ready": False,
            "started": False,
            "restartCount": restarts,
            "state": {"terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": rfc3339(run_started),
                "finishedAt": stamp,
                "containerID": cid,
            }},
            "lastState": {},
        })
    status = _base(pod, host_ip, pod_ip, start)
    status.update({
        "conditions": _conditions(False, stamp, start),
        "containerStatuses": containers,
    })
    if phase is not None:
        status["phase"] = str(phase)
    return {"status": status}


def killed_status(
    pod: Obj,
    *,
    host_ip: str,
    pod_ip: str,
    started: datetime,
    run_started: datetime,
    now: datetime,
    restarts: int = 0,
) -> Obj:
    """A running pod's containers stopped on graceful deletion (SIGTERM, exit 143): the
    kubelet moves such a pod to a terminal phase before confirming the deletion."""
    return terminated_status(
        pod, host_ip=host_ip, pod_ip=pod_ip, started=started, run_started=run_started,
        now=now, exit_code=SIGTERM_EXIT_CODE, phase=Phase.FAILED, restarts=restarts,
    )


class PodIPPool:
    """Pod IPs from one pod CIDR: the network, the gateway (.1) and broadcast are never
    handed out, as with the host-local IPAM plugin. Owners are pod uids."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.cidr = str(self.network)
        self._by_owner: dict[str, str] = {}
        self._used: set[str] = set()
        self._next = 2

    def __contains__(self, ip: object) -> bool:
        try:
            return ipaddress.ip_address(str(ip)) in self.network
        except ValueError:
            return False

    def reserve(self, owner: str, ip: str) -> None:
        """Record an address a pod already has (adopted after a restart)."""
        self._by_owner[owner] = ip
        self._used.add(ip)

    def allocate(self, owner: str) -> str:
        if owner in self._by_owner:
            return self._by_owner[owner]
        size = self.network.num_addresses
        last = size - 2 if self.network.version == 4 else size - 1
        span = last - 1  # usable offsets are 2..last
        for step in range(max(span, 0)):
            offset = 2 + (self._next - 2 + step) % span
            ip = str(self.network.network_address + offset)
            if ip not in self._used:
                self._next = offset + 1
                self._used.add(ip)
                self._by_owner[owner] = ip
                return ip
        raise RuntimeError(f"pod CIDR {self.cidr} has no free address")

    def release(self, owner: str) -> None:
        ip = self._by_owner.pop(owner, None)
        if ip is not None:
            self._used.discard(ip)

    def __len__(self) -> int:
        return len(self._by_owner)
