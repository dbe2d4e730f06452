"""The cloudcore process: every cloud module beside the API server, each reaching the
API only through `client/` (ARCHITECTURE.md "Processes", rule 1).

Two kinds of modules run here:
- The controller manager and the scheduler, each under its own Lease
  (kube-controller-manager's and kube-scheduler's leader election), so two cloudcores on
  one store elect one leader per module and the other takes over when the leader dies.
  A module that loses its Lease tears itself down (controllers, queues, recorders, its
  informer handlers) and campaigns again from a fresh start, as kube's components exit
  on a lost lease.
- The cloud-edge channel (`modules.cloudHub`, specs/kubeedge.md §1, §3, §4): the
  certificate service (KubeEdge's CA and serving certificate in Secrets, the join token
  refresher, HTTPS on `cloudHub.https.port`), EdgeController, SyncController and CloudHub
  (WebSocket on `cloudHub.websocket.port`), talking over one `ModuleBus`; and, with
  `modules.cloudStream.enable`, CloudStream (spec §9: the tunnel and stream servers for
  kubectl logs/exec), started last and stopped first. These run on
  every replica, outside leader election, as in KubeEdge: each cloudcore serves the
  edges connected to it, and ObjectSync writes are idempotent.
The informers are the process's: the controllers, the scheduler and the channel share
one cache of each resource, so a pod is held once.

Start order: the API answers; Volcano's CRDs and queues, the reliablesyncs CRDs, the
certificates and the channel are in place (so `keadm gettoken` and `keadm join` work as
soon as `keadm init` returns); then `on_ready`; then the leader-elected modules. The
channel registers `edgecontroller` and `synccontroller` on the bus before CloudHub
starts, so no connect event or ACK report finds its group empty, and stops in reverse
order (CloudHub first, the certificates last).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from kubeedge.client import kubeconfig
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.leaderelection import LeaderElector
from kubeedge.client.rest import APIClient
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.config.controllermanager import KNOWN_CONTROLLERS, LeaderElection

if TYPE_CHECKING:
    from kubeedge.cloud.certs.server import CertModule

log = logging.getLogger(__name__)

# Requests in flight to the API at once. The API server answers on one event loop, so
# more connections add no throughput; a larger pool only opens (TLS handshakes) and
# drops connections with every burst of creates.
CONNECTIONS = 64


class Module(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ControllerManagerModule:
    """Every enabled controller, on the process's informers."""

    def __init__(self, client: APIClient, config: CloudCoreConfig,
                 informers: SharedInformerFactory) -> None:
        from kubeedge.controllers.registry import controller_class
        from kubeedge.controllers.runtime import ControllerManager

        cm = config.modules.controller_manager
        controllers = [controller_class(name)(client, informers, None, cm)
                       for name in KNOWN_CONTROLLERS if cm.enabled(name)]
        self.manager = ControllerManager(client, controllers, informers=informers,
                                         owns_informers=False)

    async def start(self) -> None:
        await self.manager.start()

    async def stop(self) -> None:
        await self.manager.stop()


class SchedulerModule:
    """The scheduler, with its volcano-scheduler.conf (`schedulerConf`, under the root)
    read when the module is built and followed while it leads."""

    def __init__(self, client: APIClient, config: CloudCoreConfig,
                 informers: SharedInformerFactory) -> None:
        from kubeedge.client.events import EventRecorder
        from kubeedge.scheduler.conf import SchedulerConfWatcher
        from kubeedge.scheduler.scheduler import Scheduler

        sched = config.modules.scheduler
        self.conf: SchedulerConfWatcher | None = None
        if sched.scheduler_conf:
            self.conf = SchedulerConfWatcher(config.path(sched.scheduler_conf), sched,
                                             clock=client.clock)
            sched = self.conf.load()
        self.recorder = EventRecorder(client, "default-scheduler")
        self.scheduler = Scheduler(client, informers, self.recorder, sched)

    async def start(self) -> None:
        await self.scheduler.start()
        if self.conf is not None:
            self.conf.start(self.scheduler)

    async def stop(self) -> None:
        if self.conf is not None:
            await self.conf.stop()
        await self.scheduler.stop()  # takes its handlers back; the informers run on
        await self.recorder.stop()


class EdgeChannelModule:
    """EdgeController, SyncController and CloudHub on one ModuleBus, with the
    certificates of the (already started) certificate module (module docstring)."""

    def __init__(self, client: APIClient, config: CloudCoreConfig,
                 informers: SharedInformerFactory, cert: CertModule) -> None:
        from kubeedge.messaging.bus import ModuleBus
        from kubeedge.messaging.message import MODULE_EDGECONTROLLER, MODULE_SYNCCONTROLLER

        self.client = client
        self.config = config
        self.informers = informers
        self.cert = cert
        self.bus = ModuleBus()
        self.modules: list[tuple[str, Module]] = []  # started ones, in start order
        m = config.modules
        # Registered before CloudHub starts (module docstring); each module then finds
        # its channel there and leaves it to us to clean up.
        self._bus_modules = [name for name, on in (
            (MODULE_EDGECONTROLLER, m.edge_controller.enable),
            (MODULE_SYNCCONTROLLER, m.sync_controller.enable)) if on]
        self.hub_port = 0

    async def start(self) -> None:
        from kubeedge.cloud.edgecontroller import EdgeController, EdgeControllerSettings
        from kubeedge.cloud.hub import CloudHub
        from kubeedge.cloud.synccontroller import SyncController

        for name in self._bus_modules:
            self.bus.add_module(name, name)
        m = self.config.modules
        if m.edge_controller.enable:
            await self._start("edgecontroller", EdgeController(
                self.client, self.bus, self.informers,
                EdgeControllerSettings.from_config(self.config)))
        if m.sync_controller.enable:
            await self._start("synccontroller", SyncController(
                self.client, self.bus, m.sync_controller, informers=self.informers,
                install_crds=False))
        hub = m.cloud_hub
        if hub.websocket.enable:
            assert self.cert.certs is not None, "the certificate module starts first"
            cloudhub = CloudHub(self.bus, hub, self.cert.certs)
            await self._start("cloudhub", cloudhub)
            self.hub_port = cloudhub.port
        else:
            log.warning("modules.cloudHub.websocket.enable is false and QUIC is not "
                        "implemented: no edge can connect to this cloudcore")
        if m.cloud_stream.enable:
            # kubectl logs/exec/attach/port-forward and metrics for edge pods (spec §9),
            # on the certificates CloudHub uses (cloud/stream/cloudstream.py).
            from kubeedge.cloud.stream import CloudStream

            await self._start("cloudstream", CloudStream(
                self.client, self.config, self.cert.certs, informers=self.informers))

    def metric_families(self) -> list[Any]:
        """The started modules' metrics (CloudHub's, CloudStream's) for cloudcore's
        monitor server."""
        out: list[Any] = []
        for _, module in self.modules:
            families = getattr(module, "metric_families", None)
            if families is not None:
                out.extend(families())
        return out

    async def _start(self, name: str, module: Module) -> None:
        await module.start()
        self.modules.append((name, module))
        log.info("%s: started", name)

    async def stop(self) -> None:
        while self.modules:
            name, module = self.modules.pop()
            await _stop(name, module)
        for name in self._bus_modules:
            if name in self.bus.modules():
                self.bus.cleanup(name)


async def start_certificates(client: APIClient, config: CloudCoreConfig) -> CertModule:
    """KubeEdge's CA and serving certificate (Secrets, or the local `tls*File` PEMs),
    the token refresher and, with `cloudHub.https.enable`, HTTPS on its port."""
    from kubeedge.cloud.certs.edge_ca import LocalFiles
    from kubeedge.cloud.certs.server import CertModule, CertServiceSettings

    hub = config.modules.cloud_hub
    cert = CertModule(client, CertServiceSettings.from_cloudhub(hub),
                      local=LocalFiles.from_cloudhub(hub, config.root),
                      serve=hub.https.enable)
    await cert.start()
    return cert


async def start_monitor(config: CloudCoreConfig,
                        channel: EdgeChannelModule | None) -> Module | None:
    """Prometheus metrics on commonConfig.monitorServer (KubeEdge's 127.0.0.1:9091). A
    taken port is logged, not fatal: the metrics matter less than the edges."""
    from kubeedge.cloud.monitor import MonitorServer
    from kubeedge.monitoring import Metrics

    metrics = Metrics()
    if channel is not None:
        metrics.add(channel.metric_families)
    bind = config.common_config.monitor_server.bind_address
    server = MonitorServer(metrics, bind)
    try:
        await server.start()
    except OSError as exc:
        log.error("monitor server not started on %s: %s (set commonConfig.monitorServer."
                  "bindAddress)", bind, exc)
        return None
    return server


async def run_module(name: str, client: APIClient, election: LeaderElection,
                     build: Callable[[], Module]) -> None:
    """Run one module for as long as this process lives: under its Lease when leader
    election is on, building it afresh for every term."""

    async def serve() -> None:
        module = build()
        try:
            await module.start()
            log.info("%s: started", name)
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(_stop(name, module))

    if not election.leader_elect:
        await serve()
        return
    while True:
        elector = LeaderElector(
            client, election.resource_name, election.resource_namespace,
            lease_duration=election.lease_duration_seconds,
            renew_deadline=election.renew_deadline_seconds,
            retry_period=election.retry_period_seconds,
        )
        log.info("%s: campaigning for lease %s/%s as %s", name, election.resource_namespace,
                 election.resource_name, elector.identity)
        await elector.run(serve)
        log.warning("%s: leadership lost; stopped, campaigning again", name)


async def _stop(name: str, module: Module) -> None:
    try:
        await module.stop()
    except Exception:
        log.exception("%s: stopping failed", name)


def api_client(config: CloudCoreConfig) -> APIClient:
    """cloudcore's client for `kubeAPIConfig`: its kubeconfig, with `master` overriding
    the server; with neither (cloudcore in a pod, as `keadm manifest` deploys it) the
    pod's service account, as KubeEdge's BuildConfigFromFlags falls back to in-cluster."""
    api = config.kube_api_config
    if not api.kube_config and not api.master:
        access = kubeconfig.load_in_cluster()
    elif not api.kube_config:
        access = kubeconfig.ClusterAccess(server=api.master.rstrip("/"))
    else:
        access = kubeconfig.load(config.path(api.kube_config))
    if api.master:
        access.server = api.master
    return APIClient(access, qps=api.qps, burst=int(api.burst), user_agent="cloudcore",
                     connection_limit=CONNECTIONS)


async def wait_for_api(client: APIClient, stop: asyncio.Event | None) -> bool:
    """Poll /version until the API answers (False when stopped first). The API
    server may still be starting when cloudcore starts."""
    delay = 0.1
    while stop is None or not stop.is_set():
        try:
            await client.version()
            return True
        except Exception as exc:  # connection refused, TLS or HTTP errors while starting
            log.info("waiting for the API server at %s: %s", client.server, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
    return False


async def run(config: CloudCoreConfig, stop: asyncio.Event | None = None,
              on_ready: Callable[[], None] | None = None) -> None:
    """Run every enabled module until `stop` is set (or forever). `on_ready` runs once
    the API server answers, Volcano's CRDs and queues are in place and the cloud-edge
    channel serves (module docstring), before the leader-elected modules start."""
    client = api_client(config)
    if not await wait_for_api(client, stop):
        await client.close()
        return
    cm = config.modules.controller_manager
    training = cm.enable and (cm.enabled("tfjob") or cm.enabled("pytorchjob"))
    if config.modules.scheduler.enable or training or (cm.enable and (
            cm.enabled("queue") or cm.enabled("podgroup") or cm.enabled("vcjob"))):
        # Volcano's CRDs and its `root` and `default` queues, as its Helm chart installs
        # them, before anything reads them and before `keadm init` returns (on_ready):
        # a vcjob applied right after init finds its queue.
        from kubeedge.controllers import queue, volcano_crds

        try:
            await volcano_crds.install(client)
            await queue.create_default_queues(client)
        except Exception:
            log.exception("installing Volcano's CRDs and queues failed; the Volcano path "
                          "waits for them (the queue controller tries again)")
    if training:
        # Kubeflow's TFJob and PyTorchJob CRDs (their jobs make PodGroups, hence
        # Volcano's above), in place before `keadm init` returns like Volcano's.
        from kubeedge.controllers.training import crds as training_crds

        try:
            await training_crds.install(client)
        except Exception:
            log.exception("installing the training job CRDs failed; the training "
                          "controllers install them when they start")
    # One cache of each resource for the whole process: the controllers, the scheduler
    # and the channel read the same pods. A module that stops takes back its handlers
    # only; the informers run until the process ends.
    informers = SharedInformerFactory(client, cm.resync_period_seconds)
    cert: CertModule | None = None
    channel: EdgeChannelModule | None = None
    monitor: Module | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        if config.modules.cloud_hub.enable:
            from kubeedge.cloud.synccontroller import crds as reliablesyncs

            # The channel is up before `keadm init` returns (on_ready): `keadm gettoken`
            # right after finds the token and `keadm join` finds CloudHub listening, and
            # a failure here (a port taken) fails the start with this process's log.
            await reliablesyncs.install(client)
            cert = await start_certificates(client, config)
            # Every replica serves its own edges: no Lease (module docstring).
            channel = EdgeChannelModule(client, config, informers, cert)
            await channel.start()
        monitor = await start_monitor(config, channel)
        if on_ready is not None:
            on_ready()
        modules: list[tuple[str, LeaderElection, Callable[[], Module]]] = []
        if cm.enable:
            modules.append(("controller-manager", cm.leader_election,
                            lambda: ControllerManagerModule(client, config, informers)))
        sched = config.modules.scheduler
        if sched.enable:
            modules.append(("scheduler", sched.leader_election,
                            lambda: SchedulerModule(client, config, informers)))
        tasks = [asyncio.create_task(run_module(name, client, election, build), name=name)
                 for name, election, build in modules]
        waiter: Awaitable[object] = (stop or asyncio.Event()).wait()
        stopper = asyncio.ensure_future(waiter)
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if monitor is not None:
            await _stop("monitor server", monitor)
        # The channel in reverse order (CloudHub first), then the certificates.
        if channel is not None:
            await _stop("cloud-edge channel", channel)
        if cert is not None:
            await _stop("certificates", cert)
        await informers.stop()
        await client.close()
