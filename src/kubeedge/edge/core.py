"""The edgecore process: the edge modules on one bus, started and stopped together.

Owns (specs/kubeedge.md §1 "EdgeCore modules", §6, §8):
- the process's `ModuleBus`, the edge database (`MetaStore` at `database.dataSource`,
  KubeEdge's `var/lib/kubeedge/edgecore.db` under the root), EdgeHub (certificate
  bootstrap, the session with CloudHub) and the node module (`edge/node.py`: Node
  registration, status and Lease);
- after a bootstrap from the token, the token removed from edgecore.yaml (KubeEdge does
  the same once the certificate is in place) and `edgecoreVersion` written back;
- the pid file `var/run/kubeedge/edgecore.pid` and the state file
  `var/run/kubeedge/edgecore.state` (JSON: phase, connected, registered, acknowledged
  reports, the last error). The state file is ours: `keadm join` waits on it, since the
  edge cannot read the API to see its Node Ready;
- SIGTERM/SIGINT: modules stopped, the hub closed, the database flushed and closed, the
  pid file removed;
- SIGUSR1: leave the cluster, then stop as on SIGTERM. `keadm reset edge` sends it so
  that a reset leaves no API object of the node behind (issue 6): while the session
  with the cloud is still open, the node module deletes the node's Lease and Node
  through it (`NodeModule.deregister`, bounded by its deadline), and the outcome goes
  to the state file (`deregistered`, `deregisterError`) for keadm to report. A signal
  of its own, not a marker file beside SIGTERM: a plain SIGTERM (a service manager, a
  host shutdown) must never take the Node out of the cluster, there is no file to go
  stale, and nothing need be written under the root before the process is told.

- the pods: MetaManager (`edge/metamanager/manager.py`, between EdgeHub, the database
  and edged), the container runtime (`ProcessRuntime` under the root, containers in the
  cgroup `kubeedge-<node>`, logs rotated at containerLogMaxSize/containerLogMaxFiles,
  the image table from `modules.edged.imageTable`) and Edged (`edge/edged/edged.py`).
  Stopping edgecore stops none of the containers: the next edgecore re-attaches to them.
- pod networking: the runtime gets `networkPluginName` (cni, or "" for the host
  network), `cniBinDir`, `networkPluginMTU`, `clusterDomain` and the node name (its
  bridge's name); `PodNetworkSync` (edge/node.py, bus module `nodenetwork`) gives it the
  node's podCIDR and the routes to the other edges' pods as the cloud sends them, the
  stored ones first at start; the node module shows the runtime's network_status in the
  node's Ready condition. Leaving the cluster (SIGUSR1) also removes this edge's pod
  networking (bridge, routes, namespaces, CNI state: `PodNetwork.reset`) once the pods
  are gone.

- kubectl logs/exec/attach/port-forward/top (issue 8, spec §9): the stats sampler
  (`edge/edged/stats.py`, every modules.edged.housekeepingInterval), edged's
  kubelet-style server (`edge/edged/server.py`) on tailoredKubeletConfig.address and
  readOnlyPort (KubeEdge's 127.0.0.1:10350; 0 binds an ephemeral port, for tests:
  kubelet's 0 would switch the server off), and, with modules.edgeStream.enable,
  EdgeStream (`edge/stream/`) carrying the cloud's sessions to that server's bound
  port. Started after Edged, stopped before it (tunnel, server, sampler).

Must never import anything from cloud/, apiserver/, store/, controllers/ or scheduler/
(rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from kubeedge import __version__
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.durable import atomic_write
from kubeedge.edge.node import NodeModule, NodeSettings, RequestFailed

__all__ = ["EdgeCore", "EdgeLayout", "Phase", "preflight", "read_state"]

log = logging.getLogger(__name__)


class Phase:
    """The phases edgecore reports in its state file, in order."""

    STARTING = "starting"
    BOOTSTRAPPING = "bootstrapping"  # getting a certificate with the token
    CONNECTING = "connecting"  # certificate in place, dialling CloudHub
    CONNECTED = "connected"  # session open, node not acknowledged yet
    READY = "ready"  # Node registered, status and Lease acknowledged by the cloud
    DEREGISTERING = "deregistering"  # SIGUSR1: deleting the Lease and Node, then stopping
    FAILED = "failed"  # edgecore stopped on an error it cannot retry
    STOPPED = "stopped"


class EdgeLayout:
    """Where one edge installation keeps its files under the root (rule 8)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def etc(self) -> Path:
        return self.root / "etc/kubeedge"

    @property
    def config(self) -> Path:
        return self.etc / "config/edgecore.yaml"

    @property
    def run(self) -> Path:
        return self.root / "var/run/kubeedge"

    @property
    def pid(self) -> Path:
        return self.run / "edgecore.pid"

    @property
    def state(self) -> Path:
        return self.run / "edgecore.state"

    @property
    def lib(self) -> Path:
        return self.root / "var/lib/kubeedge"

    @property
    def logs(self) -> Path:
        return self.root / "var/log/kubeedge"

    @property
    def log(self) -> Path:
        return self.logs / "edgecore.log"


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file's content, or None while there is none (or it is being replaced)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def preflight(config: EdgeCoreConfig) -> str | None:
    """Why edgecore cannot start, found before it writes anything (None: go on): no
    certificate and no token to get one with."""
    from kubeedge.edge.hub.certificates import BOOTSTRAP_TOKEN_FILE

    hub = config.modules.edge_hub
    if config.path(hub.tls_cert_file).exists() and config.path(
            hub.tls_private_key_file).exists():
        return None
    if hub.token.strip():
        return None
    token_file = config.path(BOOTSTRAP_TOKEN_FILE)
    with contextlib.suppress(OSError):
        if token_file.read_text().strip():
            return None
    return (f"no certificate for node {config.node_name} at {config.path(hub.tls_cert_file)} "
            f"and no token in modules.edgeHub.token or in {token_file}: run `keadm gettoken` "
            "on the cloud and pass it to `keadm join --token`")


class StateFile:
    """The state file, rewritten atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = {"pid": os.getpid(), "phase": Phase.STARTING,
                                      "connected": False, "registered": False,
                                      "statusAcks": 0, "leaseAcks": 0, "error": "",
                                      "deregistered": False, "deregisterError": ""}

    def update(self, **values: Any) -> None:
        changed = {k: v for k, v in values.items() if self.state.get(k) != v}
        if not changed:
            return
        self.state.update(changed)
        self.state["updated"] = time.time()
        try:
            atomic_write(self.path, json.dumps(self.state).encode(), 0o644)
        except OSError as exc:
            log.warning("state file %s not written: %s", self.path, exc)


class EdgeCore:
    """`EdgeCore(config, config_path)`; `await run()` until `stop()` or a signal."""

    def __init__(self, config: EdgeCoreConfig, config_path: str | Path | None = None) -> None:
        self.config = config
        self.config_path = Path(config_path) if config_path is not None else None
        self.layout = EdgeLayout(config.root)
        self.state = StateFile(self.layout.state)
        self.store: Any = None
        self.hub: Any = None
        self.node: NodeModule | None = None
        self.meta: Any = None
        self.runtime: Any = None
        self.edged: Any = None
        self.network: Any = None
        self.stats: Any = None
        self.server: Any = None  # edged's kubelet-style server
        self.stream: Any = None  # EdgeStream
        self._stop = asyncio.Event()
        self._leave = False
        self._watch: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, get a certificate (bootstrap from the token if needed;
        `BootstrapError` if that fails) and start the modules."""
        from kubeedge.edge.hub import EdgeHub
        from kubeedge.edge.metamanager.store import MetaStore
        from kubeedge.messaging.bus import ModuleBus

        self.layout.run.mkdir(parents=True, exist_ok=True)
        atomic_write(self.layout.pid, f"{os.getpid()}\n".encode(), 0o644)
        self.state.update(phase=Phase.STARTING)
        config = self.config
        self.store = await MetaStore.open(config.path(config.database.data_source))
        bus = ModuleBus()
        self.hub = EdgeHub(config, bus, self.store, config.root)
        runtime = self._runtime() if config.modules.edged.enable else None
        if runtime is not None and config.modules.meta_manager.enable:
            # Before MetaManager hears anything, so no podCIDR or route change is missed.
            await self._start_network(bus, runtime)
        if config.modules.meta_manager.enable:
            from kubeedge.edge.metamanager.manager import MetaManager, MetaManagerSettings

            # Before EdgeHub starts, so it hears the first cloud_connected.
            self.meta = MetaManager(bus, self.store, MetaManagerSettings.from_config(config),
                                    connected=self.hub.connected)
            await self.meta.start()
        self.state.update(phase=Phase.BOOTSTRAPPING)
        await self.hub.start()
        if self.hub.certificates.bootstrapped:
            self._forget_token()
        self.state.update(phase=Phase.CONNECTING)
        node_settings = NodeSettings.from_config(config)
        if runtime is not None:
            node_settings = dataclasses.replace(
                node_settings, runtime_version=f"{runtime.name}://{runtime.version}")
        self.node = NodeModule(node_settings, bus, self.hub, on_change=self._node_changed,
                               network=runtime.network_status if runtime is not None
                               else None)
        await self.node.start()
        if runtime is not None and self.meta is not None:
            from kubeedge.edge.edged.edged import Edged, EdgedSettings
            from kubeedge.edge.metamanager.client import MetaClient

            # Longer than MetaManager's remote query, so edged sees its cache fall-back.
            client = MetaClient(bus, timeout=float(
                config.modules.meta_manager.remote_query_timeout) + 5.0)
            self.runtime = runtime
            self.edged = Edged(EdgedSettings.from_config(config, node_settings.node_ip),
                               bus, runtime, client)
            await self.edged.start()
            await self._start_streaming(node_settings.node_ip)
        self._watch = asyncio.create_task(self._watch_hub(), name="edgecore-state")
        log.info("edgecore started for node %s (cloud %s)", config.node_name,
                 config.modules.edge_hub.websocket.server)

    async def _start_streaming(self, node_ip: str) -> None:
        """The stats sampler, edged's kubelet-style server on
        tailoredKubeletConfig.address:readOnlyPort (0: an ephemeral port), and, when
        modules.edgeStream is on, EdgeStream replaying the cloud's sessions to that
        server (specs/kubeedge.md §9)."""
        from kubeedge.edge.edged.server import EdgedServer
        from kubeedge.edge.edged.stats import StatsProvider

        config = self.config
        edged = config.modules.edged
        kc = edged.tailored_kubelet_config
        self.stats = StatsProvider(self.runtime, self.edged.pods, node_name=config.node_name,
                                   interval=edged.seconds("housekeeping_interval"))
        self.stats.start()
        self.server = EdgedServer(
            self.edged, self.runtime, self.stats, address=kc.address,
            port=kc.read_only_port,
            stream_creation_timeout=edged.seconds("stream_creation_timeout"),
            metrics_text=self._metrics_text)
        try:
            await self.server.start()
        except OSError as exc:
            # The pods matter more than their logs: edgecore runs on without the
            # server (kubelet would exit), and says why.
            log.error("edged server not started on %s:%d: %s; kubectl logs/exec/top will "
                      "not reach this node (set modules.edged.tailoredKubeletConfig."
                      "readOnlyPort to a free port, or 0 for any)", kc.address,
                      kc.read_only_port, exc)
            self.server = None
            return
        if config.modules.edge_stream.enable:
            from kubeedge.edge.stream import EdgeStream

            server = self.server
            self.stream = EdgeStream(config.modules.edge_stream, node_name=config.node_name,
                                     internal_ip=node_ip, root=Path(config.root),
                                     local_port=lambda: server.port)
            await self.stream.start()

    def _metrics_text(self) -> str:
        """edgecore's own Prometheus metrics on edged's server (/metrics), gathered now
        from the modules' counters (monitoring.py)."""
        from kubeedge.monitoring import Metrics

        metrics = Metrics()
        if self.hub is not None:
            metrics.add(self.hub.metric_families)
        metrics.add(self._module_families)
        return metrics.render().decode()

    def _module_families(self) -> list[Any]:
        from kubeedge.monitoring import gauge

        out = []
        if self.edged is not None:
            phases = gauge("edged_pods", "Pods on this node, by phase.")
            counts: dict[str, int] = {}
            containers = 0
            for pod in self.edged.pods():
                phase = (pod.get("status") or {}).get("phase") or "Pending"
                counts[phase] = counts.get(phase, 0) + 1
                containers += sum(1 for c in (pod.get("status") or {}).get(
                    "containerStatuses") or [] if "running" in (c.get("state") or {}))
            for phase, n in sorted(counts.items()):
                phases.add(n, phase=phase)
            out += [phases, gauge("edged_running_containers",
                                  "Containers running on this node.", containers)]
        if self.runtime is not None and hasattr(self.runtime, "metric_families"):
            out += self.runtime.metric_families()
        if self.stream is not None:
            tunnel = self.stream.tunnel
            out += [gauge("edgestream_connected", "1 while the tunnel to CloudStream is "
                          "up.", 1 if self.stream.connected.is_set() else 0),
                    gauge("edgestream_sessions", "kubectl logs/exec/attach/port-forward "
                          "sessions open on the tunnel.",
                          len(tunnel.relays) if tunnel is not None else 0)]
        return out

    async def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    async def deregister(self) -> bool:
        """Delete this node's Lease and Node through the cloud (SIGUSR1, see the module
        docstring); the outcome goes to the state file. True when both are gone."""
        await self._stop_watch()  # the phase stays `deregistering` meanwhile
        if self.node is None:
            self.state.update(deregisterError="edgecore had not started its node module")
            return False
        self.state.update(phase=Phase.DEREGISTERING)
        try:
            await self.node.deregister()
        except RequestFailed as exc:
            log.error("node %s not deregistered: %s", self.config.node_name, exc)
            self.state.update(deregistered=False, deregisterError=str(exc))
            return False
        self.state.update(deregistered=True, deregisterError="", registered=False)
        return True

    async def _start_network(self, bus: Any, runtime: Any) -> None:
        """PodNetworkSync over the runtime, fed first with the edge's stored Node and
        noderoutes (see the module docstring)."""
        from kubeedge.edge.metamanager.store import MetaStoreError
        from kubeedge.edge.node import PodNetworkSync
        from kubeedge.messaging.resource import (
            NULL_NAMESPACE,
            RESOURCE_NODE,
            RESOURCE_NODEROUTES,
        )

        name = self.config.node_name
        initial = []
        for kind in (RESOURCE_NODE, RESOURCE_NODEROUTES):
            try:
                row = await self.store.get(f"{NULL_NAMESPACE}/{kind}/{name}")
                if row is not None:
                    initial.append(json.loads(row.value))
            except (MetaStoreError, ValueError) as exc:
                log.warning("stored %s of node %s not read: %s", kind, name, exc)
        edged = self.config.modules.edged
        self.network = PodNetworkSync(
            bus, runtime, name, initial=initial,
            # Routes live in the host's network namespace: root, and pod networking on.
            routes=edged.network_plugin_name == "cni" and os.geteuid() == 0)
        await self.network.start()

    async def _reset_network(self) -> None:
        """This edge's pod networking removed (leaving the cluster, after its pods)."""
        from kubeedge.edge.runtime.network import PodNetwork

        try:
            await PodNetwork(self.layout.root, node_name=self.config.node_name).reset()
        except Exception as exc:  # NetworkError, OSError: keadm reset tries again
            log.warning("pod networking of node %s not fully removed: %s",
                        self.config.node_name, exc)

    def _runtime(self) -> Any:
        """The container runtime `modules.edged.runtimeType` names (only `process` is
        built; `remote`, containerd over CRI, is a later issue: edgecore then runs no
        pods and says so)."""
        edged = self.config.modules.edged
        if edged.runtime_type != "process":
            log.error("runtimeType %r is not available in this build: edged runs no pods "
                      "(use runtimeType: process)", edged.runtime_type)
            return None
        from kubeedge.edge.runtime.images import ImageEntry
        from kubeedge.edge.runtime.process import ProcessRuntime

        kc = edged.tailored_kubelet_config
        images = {name: ImageEntry(entrypoint=tuple(spec.entrypoint), cmd=tuple(spec.cmd),
                                   programs=dict(spec.programs),
                                   applet_runner=spec.applet_runner, env=dict(spec.env))
                  for name, spec in edged.image_table.items()}
        return ProcessRuntime(self.layout.root, cgroup_parent=f"kubeedge-{self.config.node_name}",
                              log_max_size=kc.log_max_size_bytes(),
                              log_max_files=kc.container_log_max_files, images=images,
                              network=edged.network_plugin_name == "cni",
                              cni_bin_dir=str(self.config.path(edged.cni_bin_dir)),
                              node_name=self.config.node_name,
                              cluster_domain=kc.cluster_domain,
                              network_mtu=edged.network_plugin_mtu)

    async def stop(self) -> None:
        """Stop the modules, close the session and the database; idempotent. The pods'
        containers keep running."""
        await self._stop_watch()
        # The tunnel first (no new sessions), then the server and its sessions.
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.stats is not None:
            await self.stats.stop()
            self.stats = None
        if self.edged is not None:
            await self.edged.stop()
            self.edged = None
        if self.meta is not None:
            await self.meta.stop()
            self.meta = None
        if self.network is not None:
            await self.network.stop()
            self.network = None
        if self.node is not None:
            await self.node.stop()
            self.node = None
        if self.hub is not None:
            await self.hub.stop()
            self.hub = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (or `request_stop`), stop. The exit code."""
        from kubeedge.edge.certs import BootstrapError

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGUSR1, self.request_leave)
        code = 0
        try:
            try:
                await self.start()
            except (BootstrapError, OSError, ValueError) as exc:
                log.error("edgecore failed to start: %s", exc)
                self.state.update(phase=Phase.FAILED, error=str(exc))
                return 1
            await self._stop.wait()
            if self._leave:
                log.info("edgecore leaving the cluster: deleting the node's Lease and Node")
                await self.deregister()
                if self.edged is not None:
                    # Leaving the cluster takes the node's pods with it (KubeEdge's
                    # `keadm reset` removes the containers through the runtime).
                    log.info("edgecore leaving the cluster: removing the node's pods")
                    await self.edged.remove_all()
                if self.config.modules.edged.enable:
                    await self._reset_network()
            log.info("edgecore stopping")
            self.state.update(phase=Phase.STOPPED, connected=False)
        finally:
            await self.stop()
            with contextlib.suppress(FileNotFoundError):
                self.layout.pid.unlink()
        return code

    def request_stop(self) -> None:
        self._stop.set()

    def request_leave(self) -> None:
        """Deregister, then stop (SIGUSR1). A SIGTERM already being handled wins."""
        if not self._stop.is_set():
            self._leave = True
        self._stop.set()

    # ---- state -----------------------------------------------------------------------

    def _node_changed(self, values: dict[str, Any]) -> None:
        ready = (values["registered"] and values["statusAcks"] > 0
                 and values["leaseAcks"] > 0 and not values["nodeError"])
        connected = self.hub is not None and self.hub.connected.is_set()
        phase = Phase.READY if ready and connected else self.state.state["phase"]
        self.state.update(registered=values["registered"], statusAcks=values["statusAcks"],
                          leaseAcks=values["leaseAcks"], error=values["nodeError"],
                          phase=phase)

    async def _watch_hub(self) -> None:
        """Mirror the hub's connection into the state file (with the reason of the last
        failed dial while it cannot connect)."""
        hub = self.hub
        while True:
            if hub.connected.is_set():
                phase = self.state.state["phase"]
                if phase not in (Phase.READY, Phase.CONNECTED):
                    phase = Phase.CONNECTED
                self.state.update(connected=True, phase=phase, error="")
                while hub.connected.is_set():
                    await asyncio.sleep(0.1)
            else:
                self.state.update(connected=False, phase=Phase.CONNECTING,
                                  error=hub.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hub.connected.wait(), 0.5)

    def _forget_token(self) -> None:
        """KubeEdge removes the bootstrap token from edgecore.yaml once the certificate
        is in place (spec §4), and records the version that ran (spec §8)."""
        path = self.config_path
        if path is None or not path.exists():
            return
        import yaml

        try:
            raw = yaml.safe_load(path.read_text()) or {}
            hub = raw.setdefault("modules", {}).setdefault("edgeHub", {})
            hub["token"] = ""
            raw["edgecoreVersion"] = __version__
            atomic_write(path, yaml.safe_dump(raw, sort_keys=False).encode(), 0o600)
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            log.warning("could not remove the token from %s: %s", path, exc)
