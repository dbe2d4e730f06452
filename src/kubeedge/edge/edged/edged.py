"""Edged: the edge's pod manager, a kubelet in miniature (module `edged`, group `edged`).

Owns running this node's pods on a `Runtime` and reporting them (specs/kubeedge.md §6
"Edged", "Autonomy"; kubelet's pod workers, `computePodActions`/`SyncPod`, PLEG, status
manager):
- pods arrive from MetaManager on the bus (`<ns>/pod/<name>` insert/update/delete, the
  object as stored in the edge DB), and at start from `MetaClient.list_pods()`; static
  pods come from `staticPodPath`. Edged never reads the DB itself.
- one worker task per pod UID serialises that pod's syncs (kubelet's podWorkers); a
  worker is woken by a pod change, by a container state change seen by the relist
  (kubelet's PLEG, every `pleg_relist_period`), by a probe result, by a configmap or
  secret it uses, or by its own timer (a back-off ending, `sync_frequency`).
- a sync (kubelet's computePodActions then SyncPod): admit (GPUs), a sandbox (found by
  the kubelet labels, else created), volumes, init containers in order (each must exit
  0; restartPolicy applies to them), then the app containers; a container that exited
  is restarted by the restart policy with kubelet's CrashLoopBackOff back-off
  (`backoff.py`); a failing liveness probe kills the container, which then restarts the
  same way; a changed container spec (its hash) restarts it.
- a pod with a deletionTimestamp is killed gracefully (preStop exec hooks, then the
  runtime's SIGTERM..SIGKILL within the grace period: the deletion's grace, else
  terminationGracePeriodSeconds, at least kubelet's 2 s), its terminal status sent,
  then `MetaClient.confirm_pod_deleted`; a pod deleted from the DB has its containers,
  sandbox, volumes, GPUs and logs removed.
- the pod's /etc/hosts (kubelet's managed hosts file, written by the runtime for pods
  with a network of their own): the pod's own names, `hostAliases`, and the cluster's
  headless Service names and pod hostnames from the `clusterhosts` summary the cloud
  sends (ours, cloud/edgecontroller/hosts.py; `cluster_hosts_entries` turns it into
  lines under `clusterDomain`). Given to a new sandbox in its config, and rewritten in
  the running pods' files (`update_pod_hosts`) whenever the summary changes; the summary
  kept in the edge database is asked for at start, so a restart without the cloud keeps
  the names. At most `MAX_CLUSTER_HOSTS_LINES` lines come from the summary.
- status (`status.py`) is sent through `MetaClient.update_pod_status` whenever it
  changes. Failures (image, config, volume, start) become a waiting reason and message
  and an Event (`MetaClient.send_event`), never an exception out of Edged.

The runtime holds all container state (labels, restart counts in annotations, exit
records), so a new Edged over the same runtime root re-attaches: running containers
keep their PIDs and restart counts. In memory only, as kubelet: back-off, the reason
cache, the last status sent.

Must never import from cloud/, apiserver/, store/, controllers/ or scheduler/ (rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeedge.client.clock import Clock, RealClock
from kubeedge.edge.edged.backoff import RestartBackOff
from kubeedge.edge.edged.gpu import GPUAllocator, GPUUnavailable, gpu_env
from kubeedge.edge.edged.static import (
    CONFIG_MIRROR,
    is_mirror_pod,
    is_static_pod,
    load_static_pods,
    mirror_pod,
)
from kubeedge.edge.edged.status import (
    ANNOTATION_GRACE,
    ANNOTATION_HASH,
    ANNOTATION_IMAGE_REF,
    ANNOTATION_RESTART_COUNT,
    TERMINAL_PHASES,
    PodInputs,
    StartFailure,
    generate_pod_status,
    is_restartable_init,
    keep_transition_times,
    should_restart,
    status_equal,
)
from kubeedge.edge.runtime.contract import (
    LABEL_POD_UID,
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerResources,
    ContainerState,
    ContainerStatus,
    Mount,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxMetadata,
    PodSandboxState,
    PodSandboxStatus,
    Runtime,
    RuntimeServiceError,
    kubelet_container_labels,
    kubelet_sandbox_labels,
)
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleClosedError
from kubeedge.messaging.message import (
    GROUP_EDGED,
    GROUP_META,
    GROUP_RESOURCE,
    MODULE_EDGED,
    MODULE_METAMANAGER,
    OP_DELETE,
    OP_ERROR,
    OP_INSERT,
    OP_QUERY,
    Message,
    build_message,
)
from kubeedge.messaging.resource import (
    KIND_CLUSTER_HOSTS,
    NULL_NAMESPACE,
    RESOURCE_CLUSTERHOSTS,
    RESOURCE_CONFIGMAP,
    RESOURCE_POD,
    RESOURCE_SECRET,
    ResourceError,
    parse_edge_resource,
)

__all__ = ["MAX_CLUSTER_HOSTS_LINES", "RESOURCE_CLUSTERHOSTS", "ContainerIds", "Edged",
           "EdgedSettings", "cluster_hosts_entries"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# kubelet's minimumGracePeriodInSeconds: a kill always gives the process this long.
MIN_GRACE_SECONDS = 2.0
# How soon a sync that failed for a transient reason (a mount, the DB) is retried.
RETRY_SECONDS = 2.0
# Lines a pod's /etc/hosts gets from that summary, at most: the C library reads the file
# from the top on every lookup, so a cluster with thousands of headless endpoints must
# not make every name lookup in every pod slow. 1,000 lines are about 100 KB and a
# lookup through them well under a millisecond. The cloud caps its summary alike.
MAX_CLUSTER_HOSTS_LINES = 1000


def _raise_if_cancelled() -> None:
    """Honour a cancellation a sync swallowed. Python 3.11's `asyncio.wait_for` (in the
    bus's request/response and the runtime's process waits) can drop a cancel that
    arrives as its inner future completes (gh-86296, fixed by 3.12's rewrite); a pod
    worker would then go back to waiting on its timer, and `Edged.stop` would wait for
    it forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True)
class EdgedSettings:
    """Edged's settings: `modules.edged` resolved (see `from_config`)."""

    node_name: str
    node_ip: str = "127.0.0.1"
    # kubelet's rootDirectory/pods: volumes of each pod under <uid>/volumes.
    pods_dir: Path = Path("var/lib/kubelet/pods")
    # kubelet's podLogsDir: /var/log/pods/<ns>_<name>_<uid>.
    pod_logs_dir: Path = Path("var/log/pods")
    # Edged's own state (GPU assignments).
    state_dir: Path = Path("var/lib/kubeedge/edged")
    static_pod_path: Path | None = None
    file_check_frequency: float = 20.0
    sync_frequency: float = 60.0
    pleg_relist_period: float = 1.0
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    allowed_host_paths: tuple[str, ...] = ("/",)
    # The node's GPU indices; None: ask nvidia-smi at start.
    gpus: tuple[int, ...] | None = ()
    min_grace: float = MIN_GRACE_SECONDS
    cluster_domain: str = "cluster.local"

    @classmethod
    def from_config(cls, config: Any, node_ip: str = "") -> EdgedSettings:
        edged = config.modules.edged
        kc = edged.tailored_kubelet_config
        gpus: tuple[int, ...] | None
        extra = edged.extra_capacity.get("nvidia.com/gpu")
        if extra is not None:
            gpus = tuple(range(int(str(extra))))
        elif edged.detect_nvidia_gpus:
            gpus = None
        else:
            gpus = ()
        return cls(
            node_name=config.node_name,
            node_ip=node_ip or edged.node_ip or "127.0.0.1",
            pods_dir=config.path(edged.root_directory) / "pods",
            pod_logs_dir=config.path(kc.pod_logs_dir),
            state_dir=config.path("var/lib/kubeedge/edged"),
            static_pod_path=config.path(kc.static_pod_path) if kc.static_pod_path else None,
            file_check_frequency=kc.seconds("file_check_frequency"),
            sync_frequency=kc.seconds("sync_frequency"),
            pleg_relist_period=edged.seconds("pleg_relist_period"),
            backoff_initial=edged.seconds("crash_loop_back_off_initial"),
            backoff_max=edged.seconds("crash_loop_back_off_max"),
            allowed_host_paths=tuple(edged.allowed_host_paths),
            gpus=gpus,
            cluster_domain=kc.cluster_domain,
        )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _uid(pod: Mapping[str, Any]) -> str:
    return str(_meta(pod).get("uid") or "")


def _pod_ref(pod: Mapping[str, Any]) -> str:
    """kubelet's format.Pod: name_namespace(uid)."""
    m = _meta(pod)
    return f"{m.get('name')}_{m.get('namespace')}({m.get('uid')})"


def _rv(pod: Mapping[str, Any]) -> int:
    try:
        return int(str(_meta(pod).get("resourceVersion") or 0))
    except ValueError:
        return 0


def _wall_time(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    """Go's time.Duration String for whole seconds (10s, 1m20s, 5m0s)."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"


def container_hash(container: Mapping[str, Any]) -> str:
    """kubelet's HashContainer: a change restarts the container (only the image may
    change in a running pod)."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


def _milli(text: Any) -> int:
    from kubeedge.edge.node import parse_quantity

    return round(parse_quantity(str(text)) * 1000)


def container_resources(container: Mapping[str, Any]) -> ContainerResources:
    """CRI LinuxContainerResources as kubelet derives them (kuberuntime
    calculateLinuxResources): CFS quota from limits.cpu, shares from requests.cpu
    (a request defaults to the limit), memory limit."""
    from kubeedge.edge.node import parse_quantity

    res = container.get("resources") or {}
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    memory = int(parse_quantity(str(limits["memory"]))) if "memory" in limits else 0
    quota = _milli(limits["cpu"]) * 100 if "cpu" in limits else 0
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = max(_milli(cpu_request) * 1024 // 1000, 2) if cpu_request is not None else 0
    return ContainerResources(memory_limit_in_bytes=memory, cpu_quota=quota,
                              cpu_shares=shares)


def sandbox_hostname(pod: Mapping[str, Any]) -> str:
    """kubelet's GeneratePodHostNameAndDomain: spec.hostname, else the pod's name cut
    to 63 characters without a trailing '-' or '.' (a DNS label)."""
    spec = pod.get("spec") or {}
    if spec.get("hostname"):
        return str(spec["hostname"])
    return str(_meta(pod).get("name") or "")[:63].rstrip("-.")


def host_aliases(pod: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """spec.hostAliases as the pod's extra /etc/hosts lines (kubelet's
    hostsEntriesFromHostAliases): one (IP, hostnames) per alias that names any."""
    out = []
    for alias in (pod.get("spec") or {}).get("hostAliases") or []:
        names = tuple(str(n) for n in alias.get("hostnames") or [] if n)
        if alias.get("ip") and names:
            out.append((str(alias["ip"]), names))
    return tuple(out)


def cluster_hosts_entries(summary: Mapping[str, Any] | None, namespace: str, *,
                          cluster_domain: str = "cluster.local",
                          limit: int = MAX_CLUSTER_HOSTS_LINES
                          ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The hosts lines a pod of `namespace` gets from a `clusterhosts` summary: what
    cluster DNS answers for headless Services (the DNS spec for Kubernetes), with the
    short forms the pod's search path (`<ns>.svc.<domain> svc.<domain> <domain>`) would
    complete, since a hosts file has no search path. One line per address:

        <ip>  [<host>.<svc>.<ns>.svc.<domain> <host>.<svc>.<ns>.svc <host>.<svc>.<ns>
               (<host>.<svc>)]  <svc>.<ns>.svc.<domain> <svc>.<ns>.svc <svc>.<ns> (<svc>)

    the parenthesised names only for pods of the Service's namespace; an endpoint's own
    name first (the canonical name of a reverse lookup, as DNS's PTR record). At most
    `limit` lines, in the summary's order."""
    out: list[tuple[str, tuple[str, ...]]] = []
    if not summary:
        return ()
    for service in summary.get("services") or []:
        if not isinstance(service, Mapping):
            continue
        ns, name = str(service.get("namespace") or ""), str(service.get("name") or "")
        if not ns or not name:
            continue
        svc = f"{name}.{ns}.svc"
        local = ns == namespace
        for address in service.get("addresses") or []:
            if len(out) >= limit:
                return tuple(out)
            ip = str((address or {}).get("ip") or "")
            if not ip:
                continue
            names: list[str] = []
            host = str(address.get("hostname") or "")
            if host:
                names += [f"{host}.{svc}.{cluster_domain}", f"{host}.{svc}",
                          f"{host}.{name}.{ns}"]
                if local:
                    names.append(f"{host}.{name}")
            names += [f"{svc}.{cluster_domain}", svc, f"{name}.{ns}"]
            if local:
                names.append(name)
            out.append((ip, tuple(names)))
    return tuple(out)


def _security(pod: Mapping[str, Any], container: Mapping[str, Any], key: str) -> int | None:
    for ctx in (container.get("securityContext") or {},
                (pod.get("spec") or {}).get("securityContext") or {}):
        if ctx.get(key) is not None:
            return int(ctx[key])
    return None


def _referenced(pod: Mapping[str, Any], kind: str, name: str, *,
                volumes_only: bool = False) -> bool:
    """Whether the pod uses configmap/secret `name` (volume, projection, or env unless
    `volumes_only`)."""
    spec = pod.get("spec") or {}
    vol_key, ref_key = ("configMap", "configMapKeyRef") if kind == RESOURCE_CONFIGMAP \
        else ("secret", "secretKeyRef")
    from_key = "configMapRef" if kind == RESOURCE_CONFIGMAP else "secretRef"
    for v in spec.get("volumes") or []:
        src = v.get(vol_key) or {}
        if src.get("name" if kind == RESOURCE_CONFIGMAP else "secretName") == name:
            return True
        for p in (v.get("projected") or {}).get("sources") or []:
            if (p.get(vol_key) or {}).get("name") == name:
                return True
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for e in c.get("env") or []:
            if ((e.get("valueFrom") or {}).get(ref_key) or {}).get("name") == name:
                return True
        for e in c.get("envFrom") or []:
            if (e.get(from_key) or {}).get("name") == name:
                return True
    return False


@dataclass(frozen=True)
class ContainerIds:
    """Which runtime containers a pod's container name stands for, as its API status
    shows them (edged's server: logs, exec, attach). `current` is the container of
    `state` (or of `lastState` while the container waits to restart, where kubelet
    reads the logs), `previous` that of `lastState.terminated` (`--previous`); "" when
    there is none. `waiting` is the waiting reason while nothing ran yet."""

    current: str
    previous: str
    running: bool
    waiting: str = ""


@dataclass
class _PodWorker:
    """One pod's worker state (kubelet's podSyncStatus plus what the sync remembers)."""

    uid: str
    pod: Obj
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    removed: bool = False  # deleted from the DB: remove everything, then end
    mounted: dict[str, Any] | None = None
    failures: dict[str, StartFailure] = field(default_factory=dict)
    liveness_failed: set[str] = field(default_factory=set)
    probed: dict[str, str] = field(default_factory=dict)  # container name -> id
    exit_seen: dict[str, float] = field(default_factory=dict)  # container id -> clock
    start_time: str | None = None
    last_status: Obj | None = None
    rejected: StartFailure | None = None
    killed: bool = False
    confirmed: bool = False
    finished: bool = False  # terminal phase reached, sandbox stopped
    # The extra /etc/hosts lines last written for the sandbox `hosts_sandbox`.
    hosts: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    hosts_sandbox: str = ""


class Edged:
    """`Edged(settings, bus, runtime, meta, ...)`; `await start()`, `await stop()`.

    `meta` is a MetaClient (edge/metamanager/client.py). `volumes`, `probes` (a factory
    `(runtime, clock, on_change) -> ProbeManager`) and `env` (`container_env`) default
    to edge/edged's own; tests may pass fakes. `clock` drives the relist, back-off and
    resync timers; `wall` gives the API timestamps.
    """

    name = MODULE_EDGED
    group = GROUP_EDGED

    def __init__(self, settings: EdgedSettings, bus: ModuleBus, runtime: Runtime, meta: Any,
                 *, clock: Clock | None = None,
                 wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 volumes: Any = None,
                 probes: Callable[..., Any] | None = None,
                 env: Callable[..., Awaitable[list[tuple[str, str]]]] | None = None
                 ) -> None:
        self.settings = settings
        self.bus = bus
        self.runtime = runtime
        self.meta = meta
        self.clock: Clock = clock or RealClock()
        self.wall = wall
        if volumes is None:
            from kubeedge.edge.edged.volumes import VolumeManager

            volumes = VolumeManager(settings.pods_dir, meta,
                                    allowed_host_paths=list(settings.allowed_host_paths),
                                    node_name=settings.node_name,
                                    token_source=getattr(meta, "get_service_account_token",
                                                         None))
        self.volumes = volumes
        if probes is None:
            from kubeedge.edge.edged.probes import ProbeManager

            probes = ProbeManager
        self.probes = probes(runtime, self.clock, self._probe_changed,
                             on_event=self._probe_event)
        if env is None:
            from kubeedge.edge.edged.env import container_env

            env = container_env
        self._container_env = env
        self.backoff = RestartBackOff(settings.backoff_initial, settings.backoff_max)
        self.gpus: GPUAllocator | None = None
        self.workers: dict[str, _PodWorker] = {}
        # Mirror pods the cloud sent (static pods' API view), by namespace/name.
        self.mirrors: dict[str, Obj] = {}
        self._static: dict[str, Obj] = {}  # uid -> static pod
        self._mirror_sent: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._pleg: dict[str, ContainerState] = {}
        self.started = asyncio.Event()  # the initial pod list has been handled
        # The cloud's `clusterhosts` summary (headless Service names, pod hostnames) and
        # the hosts lines it gives the pods of each namespace.
        self.cluster_hosts: Obj | None = None
        self._hosts_by_namespace: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
        self.hosts_updates = 0  # pod hosts files rewritten (tests, metrics)

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if MODULE_EDGED not in self.bus.modules():
            self.bus.add_module(MODULE_EDGED, GROUP_EDGED)
        gpus = self.settings.gpus
        if gpus is None:
            from kubeedge.edge.node import detect_nvidia_gpus

            names = await asyncio.to_thread(detect_nvidia_gpus)
            gpus = tuple(int(n[3:]) for n in names if n[3:].isdigit())
        self.gpus = GPUAllocator(gpus, self.settings.state_dir / "gpus.json")
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="edged-receive"),
            asyncio.create_task(self._initial_sync(), name="edged-initial"),
            asyncio.create_task(self._relist_loop(), name="edged-pleg"),
        ]
        if self.settings.static_pod_path is not None:
            self._tasks.append(asyncio.create_task(self._static_loop(), name="edged-static"))

    async def stop(self) -> None:
        """Stop Edged; the pods' containers keep running (an edgecore restart
        re-attaches to them)."""
        tasks = self._tasks + [w.task for w in self.workers.values() if w.task] + list(
            self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for uid in list(self.workers):
            with contextlib.suppress(Exception):
                self.probes.remove(uid)
        stop = getattr(self.probes, "close", None)
        if stop is not None:
            with contextlib.suppress(Exception):
                result = stop()
                if asyncio.iscoroutine(result):
                    await result
        self.bus.cleanup(MODULE_EDGED)

    async def remove_all(self, grace: float | None = None) -> None:
        """Kill and remove every pod's containers, sandboxes, volumes and logs: the node
        leaves the cluster (`keadm reset edge`, which in KubeEdge removes the node's
        containers through the runtime). Workers are stopped first."""
        for w in list(self.workers.values()):
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w.task
        grace = self.settings.min_grace if grace is None else grace
        boxes: dict[str, list[PodSandboxStatus]] = {}
        for sb in await self.runtime.list_pod_sandboxes():
            boxes.setdefault(sb.labels.get(LABEL_POD_UID, sb.metadata.uid), []).append(sb)
        for uid in {*boxes, *self.workers}:
            with contextlib.suppress(Exception):
                self.probes.remove(uid)
            await self._remove_runtime_pod(uid, boxes.get(uid, []), grace=grace)
        for c in await self.runtime.list_containers():
            with contextlib.suppress(RuntimeServiceError):
                await self.runtime.remove_container(c.id)
        self.workers.clear()

    # ---- inputs ----------------------------------------------------------------------

    async def _initial_sync(self) -> None:
        """List the DB's pods (retrying while MetaManager cannot answer), start a worker
        for each, then remove what the runtime holds for pods that are gone."""
        while True:
            try:
                pods = await self.meta.list_pods()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # MetaUnavailable, BusError: not up yet
                log.warning("edged: cannot list pods yet: %s", exc)
                await self.clock.sleep(RETRY_SECONDS)
        await self._load_cluster_hosts()
        for pod in pods:
            if not is_mirror_pod(pod):
                self._update_pod(pod)
            else:
                self._remember_mirror(pod)
        if self.settings.static_pod_path is not None:
            await self._load_static()
        await self._remove_orphans()
        self.started.set()

    async def _remove_orphans(self) -> None:
        """kubelet's HandlePodCleanups: sandboxes and containers of pods this node no
        longer has (deleted while edgecore was down) are killed and removed."""
        known = set(self.workers)
        try:
            sandboxes = await self.runtime.list_pod_sandboxes()
        except RuntimeServiceError as exc:
            log.warning("edged: cannot list sandboxes: %s", exc)
            return
        gone: dict[str, list[PodSandboxStatus]] = {}
        for sb in sandboxes:
            uid = sb.labels.get(LABEL_POD_UID, sb.metadata.uid)
            if uid not in known:
                gone.setdefault(uid, []).append(sb)
        for uid, boxes in gone.items():
            log.info("edged: removing the containers of pod %s, which this node no longer "
                     "has", uid)
            await self._remove_runtime_pod(uid, boxes, grace=self.settings.min_grace)

    async def _receive_loop(self) -> None:
        while True:
            try:
                msg = await self.bus.receive(MODULE_EDGED)
            except ModuleClosedError:
                return
            try:
                await self._handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("edged: message %s not handled", msg)

    async def _handle(self, msg: Message) -> None:
        if msg.is_response and self.bus.send_resp(msg):
            return
        try:
            key = parse_edge_resource(msg.route.resource, msg.route.operation)
        except ResourceError:
            log.debug("edged: ignoring %s", msg)
            return
        content = msg.content if isinstance(msg.content, dict) else None
        op = msg.route.operation
        if key.resource_type == RESOURCE_POD and content is not None:
            if is_mirror_pod(content):
                if op == OP_DELETE:
                    self.mirrors.pop(f"{key.namespace}/{key.name}", None)
                    self._mirror_sent.discard(f"{key.namespace}/{key.name}")
                else:
                    self._remember_mirror(content)
                return
            if op == OP_DELETE:
                self._delete_pod(content)
            else:
                self._update_pod(content)
        elif key.resource_type in (RESOURCE_CONFIGMAP, RESOURCE_SECRET) and op != OP_DELETE:
            self._object_changed(key.resource_type, key.namespace, key.name)
        elif key.resource_type == RESOURCE_CLUSTERHOSTS and content is not None \
                and op != OP_DELETE:
            self.set_cluster_hosts(content)

    def _remember_mirror(self, mirror: Obj) -> None:
        m = _meta(mirror)
        key = f"{m.get('namespace')}/{m.get('name')}"
        self.mirrors[key] = mirror
        self._mirror_sent.add(key)
        for w in self.workers.values():
            if is_static_pod(w.pod) and _meta(w.pod).get("name") == m.get("name") and \
                    _meta(w.pod).get("namespace") == m.get("namespace"):
                w.last_status = None  # send the status to the (new) mirror
                w.wake.set()

    def _update_pod(self, pod: Obj) -> None:
        uid = _uid(pod)
        if not uid:
            return
        w = self.workers.get(uid)
        if w is None:
            w = _PodWorker(uid, pod)
            self.workers[uid] = w
            w.task = asyncio.create_task(self._work(w), name=f"edged-pod-{uid}")
        elif w.removed:
            return
        elif _rv(pod) and _rv(pod) < _rv(w.pod):
            return  # an older copy (the initial list racing an update)
        else:
            w.pod = pod
        w.wake.set()

    def _delete_pod(self, pod: Obj) -> None:
        uid = _uid(pod)
        w = self.workers.get(uid)
        if w is None:
            # Nothing running we know of; the runtime may still hold it.
            w = _PodWorker(uid, pod)
            self.workers[uid] = w
            w.task = asyncio.create_task(self._work(w), name=f"edged-pod-{uid}")
        w.removed = True
        w.wake.set()

    def _object_changed(self, kind: str, namespace: str, name: str) -> None:
        """A configmap or secret changed: re-write the volumes of the pods that mount it
        (kubelet's AtomicWriter update) and wake them (a container waiting for it
        with CreateContainerConfigError can start now)."""
        for w in list(self.workers.values()):
            pod = w.pod
            if _meta(pod).get("namespace") != namespace or w.removed:
                continue
            if w.mounted is not None and _referenced(pod, kind, name, volumes_only=True):
                self._spawn(self._refresh(w))
            # Env is read once per container start (as kubelet): only a container still
            # waiting for its config needs the sync now.
            if w.failures and _referenced(pod, kind, name):
                w.wake.set()

    # ---- the pods' /etc/hosts --------------------------------------------------------

    async def _load_cluster_hosts(self) -> None:
        """The summary the edge database holds (a query by key to MetaManager, which
        answers from the database), so pods started before the cloud speaks, or while
        it is away, get the names already known."""
        resource = f"{NULL_NAMESPACE}/{RESOURCE_CLUSTERHOSTS}/{self.settings.node_name}"
        msg = build_message(GROUP_META, "", MODULE_EDGED, resource, OP_QUERY, None)
        try:
            reply = await self.bus.send_sync(MODULE_METAMANAGER, msg, 10.0)
        except (BusError, ValueError) as exc:
            log.debug("edged: no stored cluster hosts: %s", exc)
            return
        if reply.route.operation == OP_ERROR or not isinstance(reply.content, list):
            return
        for item in reply.content:
            try:
                obj = json.loads(item) if isinstance(item, str | bytes) else item
            except ValueError:
                continue
            if isinstance(obj, dict):
                self.set_cluster_hosts(obj)

    def set_cluster_hosts(self, summary: Obj) -> None:
        """A `clusterhosts` summary from the cloud (or the database): kept, and the
        running pods' hosts files rewritten where their lines changed. An older summary
        than the one held (a resend that lost the race) is ignored."""
        if summary.get("kind") not in (None, KIND_CLUSTER_HOSTS):
            return
        name = str(_meta(summary).get("name") or "")
        if name and name != self.settings.node_name:
            return
        if self.cluster_hosts is not None and _rv(summary) and _rv(summary) < _rv(
                self.cluster_hosts):
            return
        if self.cluster_hosts is not None and self.cluster_hosts.get(
                "services") == summary.get("services"):
            self.cluster_hosts = summary
            return
        self.cluster_hosts = summary
        self._hosts_by_namespace.clear()
        if summary.get("truncated"):
            log.warning("edged: the cloud left %s headless Service addresses out of the "
                        "cluster hosts (its cap)", summary["truncated"])
        self._spawn(self._apply_hosts())

    def _hosts_entries(self, pod: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]],
                                                                ...]:
        """The extra /etc/hosts lines of a pod: its hostAliases, then the cluster's
        names as seen from its namespace."""
        namespace = str(_meta(pod).get("namespace") or "default")
        cluster = self._hosts_by_namespace.get(namespace)
        if cluster is None:
            cluster = cluster_hosts_entries(self.cluster_hosts, namespace,
                                            cluster_domain=self.settings.cluster_domain)
            if len(cluster) >= MAX_CLUSTER_HOSTS_LINES:
                log.warning("edged: pods of namespace %s get the first %d cluster hosts "
                            "lines only", namespace, MAX_CLUSTER_HOSTS_LINES)
            self._hosts_by_namespace[namespace] = cluster
        return host_aliases(pod) + cluster

    async def _ensure_hosts(self, w: _PodWorker, sandbox_id: str) -> None:
        """Rewrite the sandbox's hosts file if its lines are not the current ones."""
        if (w.pod.get("spec") or {}).get("hostNetwork") or not sandbox_id:
            return  # the host's /etc/hosts, as kubelet leaves it
        entries = self._hosts_entries(w.pod)
        if w.hosts_sandbox == sandbox_id and w.hosts == entries:
            return
        try:
            if await self.runtime.update_pod_hosts(sandbox_id, entries):
                self.hosts_updates += 1
        except (RuntimeServiceError, OSError) as exc:
            log.debug("edged: hosts of %s not rewritten: %s", _pod_ref(w.pod), exc)
            return
        w.hosts, w.hosts_sandbox = entries, sandbox_id

    async def _apply_hosts(self) -> None:
        for w in list(self.workers.values()):
            if not w.removed and w.hosts_sandbox:
                await self._ensure_hosts(w, w.hosts_sandbox)

    async def _refresh(self, w: _PodWorker) -> None:
        try:
            await self.volumes.refresh(w.pod)
        except Exception as exc:
            log.warning("edged: refreshing the volumes of %s: %s", _pod_ref(w.pod), exc)
            await self._event(w.pod, "FailedMount", str(exc), "Warning")

    def _probe_changed(self, uid: str, container: str, kind: str, ok: bool) -> None:
        w = self.workers.get(uid)
        if w is None:
            return
        if kind == "liveness" and not ok:
            w.liveness_failed.add(container)
        w.wake.set()

    def _probe_event(self, uid: str, container: str, kind: str, reason: str,
                     message: str) -> None:
        w = self.workers.get(uid)
        if w is not None:
            self._spawn(self._event(w.pod, reason, message, kind, container))

    async def _relist_loop(self) -> None:
        """kubelet's PLEG: relist the runtime's containers and wake the pods whose
        containers changed state (an exit most of all)."""
        while True:
            await self.clock.sleep(self.settings.pleg_relist_period)
            try:
                containers = await self.runtime.list_containers()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("edged: relist failed: %s", exc)
                continue
            seen: dict[str, ContainerState] = {}
            for c in containers:
                seen[c.id] = c.state
                if self._pleg.get(c.id) != c.state:
                    w = self.workers.get(c.labels.get(LABEL_POD_UID, ""))
                    if w is not None:
                        w.wake.set()
            self._pleg = seen

    # ---- static pods -----------------------------------------------------------------

    async def _static_loop(self) -> None:
        while True:
            await self.clock.sleep(self.settings.file_check_frequency)
            if self.started.is_set():
                try:
                    await self._load_static()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("edged: static pods")

    async def _load_static(self) -> None:
        path = self.settings.static_pod_path
        assert path is not None
        pods, errors = await asyncio.to_thread(load_static_pods, path,
                                               self.settings.node_name)
        for error in errors:
            log.warning("edged: %s", error)
        current = {_uid(p): p for p in pods}
        for uid, pod in current.items():
            if uid not in self._static:
                log.info("edged: static pod %s from %s", _pod_ref(pod), path)
            self._static[uid] = pod
            if uid not in self.workers:
                self._update_pod(pod)
            key = f"{_meta(pod).get('namespace')}/{_meta(pod).get('name')}"
            if key not in self._mirror_sent:
                await self._create_mirror(pod, key)
        for uid in [u for u in self._static if u not in current]:
            pod = self._static.pop(uid)
            self._delete_pod(pod)

    async def _create_mirror(self, pod: Obj, key: str) -> None:
        """The static pod's mirror in the API: a pod insert upstream through
        MetaManager (the cloud's EdgeController creates it as the node)."""
        msg = build_message(GROUP_RESOURCE, "", MODULE_EDGED, f"{key.split('/')[0]}/"
                            f"{RESOURCE_POD}/{key.split('/')[1]}", OP_INSERT,
                            mirror_pod(pod, self.settings.node_name))
        try:
            reply = await self.bus.send_sync(MODULE_METAMANAGER, msg, 10.0)
        except BusError as exc:
            log.info("edged: mirror pod for %s not created yet: %s", key, exc)
            return
        content = reply.content
        err = content.get("Err") if isinstance(content, dict) else None
        if reply.route.operation == OP_ERROR or err:
            text = str(err or content)
            if "already exists" not in text and "AlreadyExists" not in text:
                log.info("edged: mirror pod for %s refused: %s", key, text)
                return
        self._mirror_sent.add(key)
        created = content.get("Object") if isinstance(content, dict) else None
        if isinstance(created, dict) and CONFIG_MIRROR in (
                _meta(created).get("annotations") or {}):
            self._remember_mirror(created)

    # ---- workers ---------------------------------------------------------------------

    async def _work(self, w: _PodWorker) -> None:
        """kubelet's podWorkerLoop: one sync at a time, woken by events or timers."""
        while True:
            w.wake.clear()
            try:
                delay = await self._sync(w)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("edged: sync of pod %s failed", _pod_ref(w.pod))
                await self._event(w.pod, "FailedSync", f"error syncing pod: {exc}",
                                  "Warning")
                delay = RETRY_SECONDS
            if w.removed and w.task is asyncio.current_task() and w.finished:
                self.workers.pop(w.uid, None)
                return
            _raise_if_cancelled()
            await self._sleep_or_wake(w, self.settings.sync_frequency if delay is None
                                      else delay)

    async def _sleep_or_wake(self, w: _PodWorker, delay: float) -> None:
        if w.wake.is_set():
            return
        timer = asyncio.ensure_future(self.clock.sleep(max(delay, 0.0)))
        woken = asyncio.ensure_future(w.wake.wait())
        try:
            await asyncio.wait((timer, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            woken.cancel()

    async def _sync(self, w: _PodWorker) -> float | None:
        """One pass of kubelet's SyncPod (or SyncTerminatingPod, or the cleanup of a
        removed pod). Returns when to look again (None: sync_frequency)."""
        pod = w.pod
        if w.removed:
            await self._remove(w)
            return None
        if _meta(pod).get("deletionTimestamp"):
            await self._terminate(w)
            return None
        if w.finished or (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            # Succeeded or Failed (maybe before an edgecore restart): nothing restarts.
            if not w.finished:
                boxes = await self.runtime.list_pod_sandboxes(
                    PodSandboxFilter(labels={LABEL_POD_UID: w.uid}))
                for sb in boxes:
                    if sb.state == PodSandboxState.READY:
                        await self._finish(w, sb)
                w.finished = True
                self._release(w)
            await self._report(w)
            return None
        # Admission: GPUs (kubelet's device manager admit handler).
        assert self.gpus is not None
        gpus: Mapping[str, list[int]] = {}
        if w.rejected is None:
            try:
                gpus = self.gpus.allocate(pod)
            except GPUUnavailable as exc:
                w.rejected = StartFailure(GPUUnavailable.reason, str(exc))
                await self._event(pod, GPUUnavailable.reason, str(exc), "Warning")
        if w.rejected is not None:
            w.finished = True
            await self._report(w)
            return None
        if w.start_time is None:
            w.start_time = (pod.get("status") or {}).get("startTime") or _wall_time(
                self.wall())
        uid = w.uid
        sandbox = await self._sandbox(w)
        if sandbox is None:
            return await self._report_and(w, None)
        await self._ensure_hosts(w, sandbox.id)
        pod_ip = self._pod_ip(pod, sandbox)
        # Volumes (kubelet waits for them before any container starts).
        if w.mounted is None:
            try:
                w.mounted = await self.volumes.mount(pod)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._event(pod, getattr(exc, "reason", "FailedMount"), str(exc),
                                  "Warning")
                await self._report(w, sandbox)
                return RETRY_SECONDS
        containers = await self.runtime.list_containers(
            ContainerFilter(labels={LABEL_POD_UID: uid}))
        latest = self._latest(containers)
        spec = pod.get("spec") or {}
        wait: list[float] = []
        # Init containers in order (kubelet's computeInitContainerActions).
        init_done = True
        for c in spec.get("initContainers") or []:
            cur = latest.get(c["name"])
            if is_restartable_init(c):
                if cur is not None and cur.state == ContainerState.RUNNING:
                    if await self._check_running(w, c, cur):
                        self._watch_probes(w, c, cur, pod_ip)
                        if c.get("startupProbe") and not self._started(w, c):
                            init_done = False
                            break
                        continue
                    cur = await self._status_of(cur)
                delay = await self._start(w, c, cur, sandbox, pod_ip, gpus, init=True)
                if delay is not None:
                    wait.append(delay)
                init_done = False
                break
            if cur is not None and cur.state == ContainerState.EXITED and cur.exit_code == 0:
                continue
            init_done = False
            if cur is not None and cur.state in (ContainerState.RUNNING,):
                break
            if cur is not None and cur.state == ContainerState.CREATED:
                await self._start_created(w, c, cur)
                break
            if not should_restart(pod, c, cur, init=True):
                break  # Never: the pod has failed (getPhase says so)
            delay = await self._start(w, c, cur, sandbox, pod_ip, gpus, init=True)
            if delay is not None:
                wait.append(delay)
            break
        if init_done:
            for c in spec.get("containers") or []:
                cur = latest.get(c["name"])
                if cur is not None and cur.state == ContainerState.RUNNING:
                    if await self._check_running(w, c, cur):
                        self._watch_probes(w, c, cur, pod_ip)
                        continue
                    cur = await self._status_of(cur)
                if cur is not None and cur.state == ContainerState.CREATED:
                    await self._start_created(w, c, cur)
                    continue
                self._unwatch_probes(w, c["name"])
                if not should_restart(pod, c, cur):
                    continue
                delay = await self._start(w, c, cur, sandbox, pod_ip, gpus, init=False)
                if delay is not None:
                    wait.append(delay)
        await self._prune(w, containers)
        status = await self._report(w, sandbox)
        if status is not None and status.get("phase") in TERMINAL_PHASES:
            await self._finish(w, sandbox)
            return None
        return min(wait) if wait else None

    async def _report_and(self, w: _PodWorker, sandbox: PodSandboxStatus | None) -> float:
        await self._report(w, sandbox)
        return RETRY_SECONDS

    @staticmethod
    def _latest(containers: Sequence[ContainerStatus]) -> dict[str, ContainerStatus]:
        out: dict[str, ContainerStatus] = {}
        for c in sorted(containers, key=lambda c: (c.metadata.attempt, c.created_at)):
            out[c.metadata.name] = c
        return out

    async def _status_of(self, cs: ContainerStatus) -> ContainerStatus:
        try:
            return await self.runtime.container_status(cs.id)
        except RuntimeServiceError:
            return cs

    def _pod_ip(self, pod: Mapping[str, Any], sandbox: PodSandboxStatus | None) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return self.settings.node_ip
        ip = "" if sandbox is None else str(getattr(sandbox, "ip", "")
                                             or getattr(sandbox, "pod_ip", ""))
        if not ip:
            # A finished pod's sandbox is gone, or stopped with its network torn down:
            # it keeps the IP it had, as kubelet keeps status.podIP (a new pod with no
            # sandbox yet has none to keep; sandboxes on the host's network have the
            # node's).
            previous = str((pod.get("status") or {}).get("podIP") or "")
            return previous or self.settings.node_ip
        return ip

    async def _sandbox(self, w: _PodWorker) -> PodSandboxStatus | None:
        """The pod's ready sandbox, created if there is none (kubelet creates a new one
        when the old is gone; its containers are then started again)."""
        pod = w.pod
        m = _meta(pod)
        boxes = await self.runtime.list_pod_sandboxes(
            PodSandboxFilter(labels={LABEL_POD_UID: w.uid}))
        ready = [b for b in boxes if b.state == PodSandboxState.READY]
        if ready:
            return ready[-1]
        spec = pod.get("spec") or {}
        if boxes:
            # kubelet's computePodActions: no new sandbox for a pod none of whose
            # containers would run again.
            latest = self._latest(await self.runtime.list_containers(
                ContainerFilter(labels={LABEL_POD_UID: w.uid})))
            if all(latest.get(c["name"]) is not None and not should_restart(
                    pod, c, latest[c["name"]]) for c in spec.get("containers") or []):
                return None
        name, ns = str(m.get("name")), str(m.get("namespace") or "default")
        config = PodSandboxConfig(
            metadata=PodSandboxMetadata(name, ns, w.uid, attempt=len(boxes)),
            hostname=sandbox_hostname(pod),
            log_directory=str(self.settings.pod_logs_dir / f"{ns}_{name}_{w.uid}"),
            host_network=bool(spec.get("hostNetwork")),
            labels=kubelet_sandbox_labels(ns, name, w.uid),
            annotations=dict(m.get("annotations") or {}),
            subdomain=str(spec.get("subdomain") or ""),
            hosts_entries=self._hosts_entries(pod))
        try:
            sandbox_id = await self.runtime.run_pod_sandbox(config)
            sandbox = await self.runtime.pod_sandbox_status(sandbox_id)
        except RuntimeServiceError as exc:
            await self._event(pod, "FailedCreatePodSandBox",
                              f"Failed to create pod sandbox: {exc}", "Warning")
            return None
        w.hosts, w.hosts_sandbox = tuple(config.hosts_entries), sandbox_id
        if boxes:
            # A new sandbox restarts every container (kubelet kills the old ones).
            for old in boxes:
                await self.runtime.stop_pod_sandbox(old.id, self.settings.min_grace)
        return sandbox

    async def _check_running(self, w: _PodWorker, c: Mapping[str, Any],
                             cur: ContainerStatus) -> bool:
        """A running container stays, unless its liveness probe failed or its spec
        changed: then it is killed (and restarted by the caller). True: it stays."""
        name = c["name"]
        if name in w.liveness_failed and w.probed.get(name) == cur.id:
            message = f"Container {name} failed liveness probe, will be restarted"
        elif cur.annotations.get(ANNOTATION_HASH, container_hash(c)) != container_hash(c):
            message = f"Container {name} definition changed, will be restarted"
        else:
            w.liveness_failed.discard(name)
            return True
        w.liveness_failed.discard(name)
        self._unwatch_probes(w, name)
        await self._event(w.pod, "Killing", message, "Normal", name)
        await self._kill(w.pod, c, cur, self._grace(w.pod, c, deleting=False))
        return False

    def _watch_probes(self, w: _PodWorker, c: Mapping[str, Any], cur: ContainerStatus,
                      pod_ip: str) -> None:
        name = c["name"]
        if not any(c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")):
            return
        if w.probed.get(name) == cur.id:
            return
        if name in w.probed:
            self.probes.remove(w.uid, name)
        self.probes.add(w.pod, dict(c), cur.id, pod_ip)
        w.probed[name] = cur.id

    def _unwatch_probes(self, w: _PodWorker, name: str) -> None:
        if w.probed.pop(name, None) is not None:
            self.probes.remove(w.uid, name)

    def _started(self, w: _PodWorker, c: Mapping[str, Any]) -> bool:
        if not c.get("startupProbe"):
            return True
        return c["name"] in w.probed and bool(self.probes.started(w.uid, c["name"]))

    def _ready(self, w: _PodWorker, c: Mapping[str, Any]) -> bool:
        if not self._started(w, c):
            return False
        if not c.get("readinessProbe"):
            return True
        return c["name"] in w.probed and bool(self.probes.ready(w.uid, c["name"]))

    async def _start_created(self, w: _PodWorker, c: Mapping[str, Any],
                             cur: ContainerStatus) -> None:
        """A container created but never started (edgecore stopped in between)."""
        try:
            await self.runtime.start_container(cur.id)
            w.failures.pop(c["name"], None)
        except RuntimeServiceError as exc:
            w.failures[c["name"]] = StartFailure("RunContainerError", exc.message)
            await self._event(w.pod, "Failed", f"Error: {exc.message}", "Warning", c["name"])

    async def _start(self, w: _PodWorker, c: Mapping[str, Any], cur: ContainerStatus | None,
                     sandbox: PodSandboxStatus, pod_ip: str, gpus: Mapping[str, list[int]],
                     *, init: bool) -> float | None:
        """Start a container (kubelet's startContainer), after the restart back-off
        when it ran before. Returns the seconds until a retry is due, if any."""
        pod = w.pod
        name = c["name"]
        key = f"{w.uid}/{name}"
        now = self.clock.now()
        if cur is not None:
            exited = w.exit_seen.setdefault(cur.id, now)
            if self.backoff.in_backoff_since(key, exited, now):
                back = self.backoff.get(key)
                message = (f"back-off {_duration(back)} restarting failed container={name} "
                           f"pod={_pod_ref(pod)}")
                if w.failures.get(name) != StartFailure("CrashLoopBackOff", message):
                    await self._event(pod, "BackOff", "Back-off restarting failed container "
                                      f"{name} in pod {_pod_ref(pod)}", "Warning", name)
                w.failures[name] = StartFailure("CrashLoopBackOff", message)
                return max(self.backoff.remaining(key, exited, now), 0.01)
            self.backoff.next(key, exited, now)
        restart_count = 0
        if cur is not None:
            try:
                restart_count = int(cur.annotations.get(ANNOTATION_RESTART_COUNT,
                                                        cur.metadata.attempt)) + 1
            except ValueError:
                restart_count = cur.metadata.attempt + 1
        image = str(c.get("image") or "")
        image_ref = ""
        try:
            ref = await self.runtime.pull_image(image)
            image_ref = ref.ref
        except RuntimeServiceError as exc:
            # The process runtime runs a command of an image outside its table on the
            # host as given; only an image it must resolve is an error.
            if not (self.runtime.name == "process" and c.get("command")
                    and exc.reason == "ErrImagePull"):
                return await self._failed(w, name, exc.reason, exc.message,
                                          f"Failed to pull image \"{image}\": {exc.message}")
        try:
            env_pairs = await self._container_env(
                pod, dict(c), self.meta, node_name=self.settings.node_name, pod_ip=pod_ip,
                host_ip=self.settings.node_ip)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(w, name, "CreateContainerConfigError", str(exc),
                                      f"Error: {exc}")
        env = dict(env_pairs)
        if gpus.get(name):
            env.update(gpu_env(gpus[name]))
        try:
            mounts = [Mount(container_path=cpath, host_path=str(hpath), readonly=ro)
                      for hpath, cpath, ro in self.volumes.container_mounts(
                          pod, dict(c), w.mounted or {})]
        except Exception as exc:
            return await self._failed(w, name, "CreateContainerConfigError", str(exc),
                                      f"Error: {exc}")
        m = _meta(pod)
        ns, pod_name = str(m.get("namespace") or "default"), str(m.get("name"))
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        config = ContainerConfig(
            metadata=ContainerMetadata(name, restart_count),
            image=image,
            command=tuple(c.get("command") or ()),
            args=tuple(c.get("args") or ()),
            working_dir=str(c.get("workingDir") or ""),
            env=env,
            mounts=tuple(mounts),
            labels=kubelet_container_labels(ns, pod_name, w.uid, name),
            annotations={ANNOTATION_RESTART_COUNT: str(restart_count),
                         ANNOTATION_HASH: container_hash(c),
                         ANNOTATION_GRACE: str(grace),
                         ANNOTATION_IMAGE_REF: image_ref},
            log_path=f"{name}/{restart_count}.log",
            stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")),
            tty=bool(c.get("tty")),
            resources=container_resources(c),
            run_as_user=_security(pod, c, "runAsUser"),
            run_as_group=_security(pod, c, "runAsGroup"))
        try:
            container_id = await self.runtime.create_container(sandbox.id, config)
        except RuntimeServiceError as exc:
            return await self._failed(w, name, exc.reason, exc.message, f"Error: {exc.message}")
        await self._event(pod, "Created", f"Created container {name}", "Normal", name)
        try:
            await self.runtime.start_container(container_id)
        except RuntimeServiceError as exc:
            # The runtime recorded it as exited (128, StartError): the back-off applies
            # to the next try, as with a crash.
            return await self._failed(w, name, "RunContainerError", exc.message,
                                      f"Error: {exc.message}", retry=False)
        w.failures.pop(name, None)
        await self._event(pod, "Started", f"Started container {name}", "Normal", name)
        status = await self.runtime.container_status(container_id)
        if not status.limits_enforced and status.limits_reason:
            await self._event(pod, "LimitsNotEnforced", status.limits_reason, "Warning", name)
        if not init or is_restartable_init(c):
            self._watch_probes(w, c, status, pod_ip)
        return None

    async def _failed(self, w: _PodWorker, name: str, reason: str, message: str,
                      event: str, *, retry: bool = True) -> float | None:
        """A container could not be started: the reason cache, and an Event when the
        reason is new (kubelet's recorder aggregates repeats)."""
        failure = StartFailure(reason, message)
        if w.failures.get(name) != failure:
            await self._event(w.pod, "Failed", event, "Warning", name)
        w.failures[name] = failure
        log.info("edged: pod %s container %s: %s: %s", _pod_ref(w.pod), name, reason,
                 message)
        if not retry:
            return None
        # Retried with the restart back-off's initial wait, as kubelet's pod worker
        # requeues a failed sync; a change of what was missing wakes it sooner.
        return self.settings.backoff_initial

    def _grace(self, pod: Mapping[str, Any], c: Mapping[str, Any] | None = None, *,
               deleting: bool = True) -> float:
        """kubelet's calculateEffectiveGracePeriod: the deletion's grace when the pod is
        being deleted, else terminationGracePeriodSeconds (a liveness kill may use the
        probe's own), at least the minimum."""
        spec = pod.get("spec") or {}
        grace = spec.get("terminationGracePeriodSeconds")
        grace = 30.0 if grace is None else float(grace)
        dgs = _meta(pod).get("deletionGracePeriodSeconds")
        if deleting and dgs is not None:
            grace = float(dgs)
        elif c is not None:
            probe_grace = (c.get("livenessProbe") or {}).get("terminationGracePeriodSeconds")
            if probe_grace is not None:
                grace = float(probe_grace)
        return max(grace, self.settings.min_grace)

    async def _kill(self, pod: Mapping[str, Any], c: Mapping[str, Any] | None,
                    cur: ContainerStatus, grace: float) -> None:
        """kubelet's killContainer: the preStop exec hook within the grace period, then
        the runtime's stop with what is left (at least the minimum)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        hook = ((c or {}).get("lifecycle") or {}).get("preStop") or {}
        command = (hook.get("exec") or {}).get("command")
        if command and cur.state == ContainerState.RUNNING:
            try:
                result = await self.runtime.exec_sync(cur.id, list(command), grace)
                if result.exit_code != 0:
                    await self._event(
                        pod, "FailedPreStopHook",
                        f"PreStopHook failed: command {list(command)} exited with "
                        f"{result.exit_code}: {result.stderr.decode(errors='replace')[:200]}",
                        "Warning", cur.metadata.name)
            except RuntimeServiceError as exc:
                await self._event(pod, "FailedPreStopHook", f"PreStopHook failed: {exc}",
                                  "Warning", cur.metadata.name)
        left = max(grace - (loop.time() - start), self.settings.min_grace)
        try:
            await self.runtime.stop_container(cur.id, left)
        except RuntimeServiceError as exc:
            log.warning("edged: stopping container %s: %s", cur.id, exc)

    async def _kill_pod(self, w: _PodWorker, grace: float) -> None:
        """kubelet's killPodWithSyncResult: app containers first, then sidecars in
        reverse order, then the sandbox."""
        containers = await self.runtime.list_containers(
            ContainerFilter(labels={LABEL_POD_UID: w.uid}))
        spec = w.pod.get("spec") or {}
        specs = {c["name"]: c for c in [*(spec.get("initContainers") or []),
                                        *(spec.get("containers") or [])]}
        running = [c for c in containers if c.state == ContainerState.RUNNING]
        sidecars = [c["name"] for c in reversed(spec.get("initContainers") or [])
                    if is_restartable_init(c)]
        for name in list(w.probed):
            self._unwatch_probes(w, name)
        first = [c for c in running if c.metadata.name not in sidecars]
        if first:
            for c in first:
                await self._event(w.pod, "Killing", f"Stopping container {c.metadata.name}",
                                  "Normal", c.metadata.name)
            await asyncio.gather(*(self._kill(w.pod, specs.get(c.metadata.name), c, grace)
                                   for c in first))
        for name in sidecars:
            for c in running:
                if c.metadata.name == name:
                    await self._kill(w.pod, specs.get(name), c, self.settings.min_grace)
        for sb in await self.runtime.list_pod_sandboxes(
                PodSandboxFilter(labels={LABEL_POD_UID: w.uid})):
            await self.runtime.stop_pod_sandbox(sb.id, self.settings.min_grace)

    async def _terminate(self, w: _PodWorker) -> None:
        """kubelet's SyncTerminatingPod then the status manager's deletion: kill
        gracefully, report the terminal status, confirm the deletion."""
        if not w.killed:
            await self._kill_pod(w, self._grace(w.pod))
            w.killed = True
            w.finished = True
            self._release(w)
        await self._report(w, terminal=True)
        if not w.confirmed:
            target = self._status_target(w)
            if target is not None:
                await self.meta.confirm_pod_deleted(target)
            w.confirmed = True

    async def _finish(self, w: _PodWorker, sandbox: PodSandboxStatus) -> None:
        """A pod that reached Succeeded or Failed: its sandbox is stopped and its GPUs
        released (kubelet's SyncTerminatedPod); containers stay for their status and
        logs until the pod is deleted."""
        for name in list(w.probed):
            self._unwatch_probes(w, name)
        containers = await self.runtime.list_containers(
            ContainerFilter(labels={LABEL_POD_UID: w.uid}))
        for c in containers:
            if c.state == ContainerState.RUNNING:  # sidecars
                await self._kill(w.pod, None, c, self.settings.min_grace)
        await self.runtime.stop_pod_sandbox(sandbox.id, self.settings.min_grace)
        self._release(w)
        w.finished = True

    def _release(self, w: _PodWorker) -> None:
        if self.gpus is not None:
            self.gpus.release(w.uid)

    async def _remove(self, w: _PodWorker) -> None:
        """The pod is gone from the DB: everything of it goes (kubelet's pod cleanup)."""
        boxes = await self.runtime.list_pod_sandboxes(
            PodSandboxFilter(labels={LABEL_POD_UID: w.uid}))
        if not w.killed:
            await self._kill_pod(w, self._grace(w.pod))
            w.killed = True
        await self._remove_runtime_pod(w.uid, boxes, grace=self.settings.min_grace)
        for name in list(w.probed):
            self._unwatch_probes(w, name)
        with contextlib.suppress(Exception):
            self.probes.remove(w.uid)
        self.backoff.forget(f"{w.uid}/")
        w.finished = True

    async def _remove_runtime_pod(self, uid: str, boxes: Sequence[PodSandboxStatus], *,
                                  grace: float) -> None:
        for sb in boxes:
            try:
                await self.runtime.stop_pod_sandbox(sb.id, grace)
                await self.runtime.remove_pod_sandbox(sb.id)
            except RuntimeServiceError as exc:
                log.warning("edged: removing sandbox %s: %s", sb.id, exc)
            if sb.log_directory:
                await asyncio.to_thread(shutil.rmtree, sb.log_directory, True)
        # Containers whose sandbox record is gone.
        for c in await self.runtime.list_containers(
                ContainerFilter(labels={LABEL_POD_UID: uid})):
            with contextlib.suppress(RuntimeServiceError):
                await self.runtime.remove_container(c.id)
        with contextlib.suppress(Exception):
            result = self.volumes.unmount(uid)
            if asyncio.iscoroutine(result):
                await result
        if self.gpus is not None:
            self.gpus.release(uid)

    async def _prune(self, w: _PodWorker, containers: Sequence[ContainerStatus]) -> None:
        """kubelet's container GC for a live pod: keep the newest two attempts of each
        container (state and lastState), remove older exited ones."""
        ids = {c.id for c in containers}
        for cid in [k for k in w.exit_seen if k not in ids]:
            del w.exit_seen[cid]
        by_name: dict[str, list[ContainerStatus]] = {}
        for c in containers:
            by_name.setdefault(c.metadata.name, []).append(c)
        for history in by_name.values():
            history.sort(key=lambda c: (c.metadata.attempt, c.created_at), reverse=True)
            for old in history[2:]:
                if old.state == ContainerState.EXITED:
                    with contextlib.suppress(RuntimeServiceError):
                        await self.runtime.remove_container(old.id)

    # ---- lookups (edged's server) ----------------------------------------------------

    def pods(self) -> list[Obj]:
        """The pods this node runs (kubelet's GetPods), static pods included."""
        return [w.pod for w in self.workers.values() if not w.removed]

    def find_pod(self, namespace: str, name: str, uid: str = "") -> Obj | None:
        """A pod of this node by namespace and name; with `uid`, only if it is that pod
        (a static pod also answers to its mirror's uid, the one the API shows)."""
        for w in self.workers.values():
            m = _meta(w.pod)
            if w.removed or m.get("namespace") != namespace or m.get("name") != name:
                continue
            if uid and uid != w.uid:
                mirror = self.mirrors.get(f"{namespace}/{name}")
                if not is_static_pod(w.pod) or mirror is None or _uid(mirror) != uid:
                    continue
            return w.pod
        return None

    async def pod_sandbox_id(self, pod: Mapping[str, Any]) -> str:
        """The pod's current sandbox ("" when it has none): the ready one, else the
        newest."""
        boxes = await self.runtime.list_pod_sandboxes(
            PodSandboxFilter(labels={LABEL_POD_UID: _uid(pod)}))
        if not boxes:
            return ""
        boxes.sort(key=lambda b: (b.state == PodSandboxState.READY, b.created_at))
        return boxes[-1].id

    async def container_ids(self, pod: Mapping[str, Any], container: str
                            ) -> ContainerIds | None:
        """The runtime containers behind `container` of `pod` (see ContainerIds), the
        way status.py reports them; None when the pod's spec has no such container."""
        spec = pod.get("spec") or {}
        init = False
        found: Mapping[str, Any] | None = None
        for c in spec.get("containers") or []:
            if c.get("name") == container:
                found = c
        for c in spec.get("initContainers") or []:
            if found is None and c.get("name") == container:
                found, init = c, True
        if found is None:
            return None
        uid = _uid(pod)
        history = sorted(
            await self.runtime.list_containers(
                ContainerFilter(labels={LABEL_POD_UID: uid}, name=container)),
            key=lambda c: (c.metadata.attempt, c.created_at), reverse=True)
        w = self.workers.get(uid)
        failure = w.failures.get(container) if w is not None else None
        if not history:
            waiting = failure.reason if failure is not None else (
                "PodInitializing" if spec.get("initContainers") and not init
                else "ContainerCreating")
            return ContainerIds("", "", False, waiting)
        latest = history[0]
        older = history[1].id if len(history) > 1 else ""
        if latest.state == ContainerState.RUNNING:
            return ContainerIds(latest.id, older, True)
        if failure is not None and should_restart(pod, found, latest, init=init):
            # Waiting to start again (CrashLoopBackOff): the exited one is lastState.
            return ContainerIds(latest.id, latest.id, False)
        return ContainerIds(latest.id, older, False)

    # ---- status ----------------------------------------------------------------------

    def _status_target(self, w: _PodWorker) -> Obj | None:
        """The API object the status is for: the pod, or a static pod's mirror."""
        if not is_static_pod(w.pod):
            return w.pod
        m = _meta(w.pod)
        return self.mirrors.get(f"{m.get('namespace')}/{m.get('name')}")

    async def _report(self, w: _PodWorker, sandbox: PodSandboxStatus | None = None, *,
                      terminal: bool = False) -> Obj | None:
        pod = w.pod
        if sandbox is None:
            boxes = await self.runtime.list_pod_sandboxes(
                PodSandboxFilter(labels={LABEL_POD_UID: w.uid}))
            sandbox = boxes[-1] if boxes else None
        containers = await self.runtime.list_containers(
            ContainerFilter(labels={LABEL_POD_UID: w.uid}))
        spec = pod.get("spec") or {}
        all_specs = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        inputs = PodInputs(
            sandbox_ready=sandbox is not None and sandbox.state == PodSandboxState.READY,
            containers=containers,
            failures=dict(w.failures),
            ready={c["name"]: self._ready(w, c) for c in all_specs},
            started={c["name"]: self._started(w, c) for c in all_specs},
            pod_ip=self._pod_ip(pod, sandbox) if sandbox is not None else "",
            host_ip=self.settings.node_ip,
            runtime_name=self.runtime.name,
            start_time=w.start_time,
            terminal=terminal or w.killed,
            rejected=w.rejected)
        status = generate_pod_status(pod, inputs)
        keep_transition_times(status, w.last_status or pod.get("status"),
                              _wall_time(self.wall()))
        if status_equal(status, w.last_status):
            return status
        target = self._status_target(w)
        if target is None:
            return status  # a static pod whose mirror the cloud has not sent yet
        try:
            await self.meta.update_pod_status(target, status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("edged: status of %s not sent: %s", _pod_ref(pod), exc)
            return status
        w.last_status = status
        return status

    # ---- events ----------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _event(self, pod: Mapping[str, Any], reason: str, message: str,
                     kind: str = "Normal", container: str | None = None) -> None:
        """A core/v1 Event about the pod, as kubelet's recorder writes it; sent in the
        background, best effort."""
        m = _meta(pod)
        target = pod
        if is_static_pod(pod):
            target = self.mirrors.get(f"{m.get('namespace')}/{m.get('name')}") or pod
        tm = _meta(target)
        now = self.wall()
        involved: Obj = {"apiVersion": "v1", "kind": "Pod", "name": tm.get("name"),
                         "namespace": tm.get("namespace"), "uid": tm.get("uid")}
        if container:
            spec = pod.get("spec") or {}
            init = any(c.get("name") == container for c in spec.get("initContainers") or [])
            involved["fieldPath"] = (f"spec.initContainers{{{container}}}" if init
                                     else f"spec.containers{{{container}}}")
        stamp = _wall_time(now)
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{tm.get('name')}.{secrets.token_hex(8)}",
                         "namespace": tm.get("namespace") or "default"},
            "involvedObject": involved,
            "reason": reason, "message": message, "type": kind,
            "source": {"component": "kubelet", "host": self.settings.node_name},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": self.settings.node_name,
        }
        if kind == "Warning":
            log.info("edged: %s %s: %s", _pod_ref(pod), reason, message)

        async def send() -> None:
            try:
                await self.meta.send_event(event)
            except Exception as exc:
                log.debug("edged: event not sent: %s", exc)

        self._spawn(send())
