"""The cloudcore process: every cloud module beside the API server, each reaching the
API only through `client/` (ARCHITECTURE.md "Processes", rule 1).

Today's modules are the controller manager and the scheduler. Each runs under its own
Lease (kube-controller-manager's and kube-scheduler's leader election), so two
cloudcores on one store elect one leader per module and the other takes over when the
leader dies. A module that loses its Lease tears itself down (controllers, queues,
recorders, its informer handlers) and campaigns again from a fresh start, as kube's
components exit on a lost lease. The informers themselves are the process's: the
controllers and the scheduler share one cache of each resource, so a pod is held once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from kubeedge.client import kubeconfig
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.leaderelection import LeaderElector
from kubeedge.client.rest import APIClient
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.config.controllermanager import KNOWN_CONTROLLERS, LeaderElection

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
    api = config.kube_api_config
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
    the API server answers and Volcano's CRDs and queues are in place, before the
    modules start."""
    client = api_client(config)
    if not await wait_for_api(client, stop):
        await client.close()
        return
    cm = config.modules.controller_manager
    if config.modules.scheduler.enable or (cm.enable and (
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
    if on_ready is not None:
        on_ready()
    # One cache of each resource for the whole process: the controllers and the
    # scheduler read the same pods. A module that stops takes back its handlers only;
    # the informers run until the process ends.
    informers = SharedInformerFactory(client, cm.resync_period_seconds)
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
    try:
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
        await informers.stop()
        await client.close()
