"""The EdgeController cloudcore module: informers in, bus messages out, and back.

Owns wiring the parts together (specs/kubeedge.md §1 `edgecontroller`): the module's
channel on the `ModuleBus` (name and group `edgecontroller`), the shared informers it
reads (edge Nodes by the `node-role.kubernetes.io/edge` label; all pods, configmaps and
secrets, as KubeEdge's), the downstream handlers, the upstream lanes, and the two loops:
one moves downstream messages to CloudHub, one takes edge requests off the bus. Every
message it sends goes to module `cloudhub`, as KubeEdge's messagelayer does. Ours
besides: `routes.NodeRoutes`, the pod networks of the other edges told to each
connected edge (it hears the edge Nodes and CloudHub's connect events), and
`hosts.ClusterHosts`, the headless Service names and pod hostnames of the cluster told
to each connected edge for its pods' /etc/hosts (it hears Services and Endpoints).

Must never touch the network except through `kubeedge.client`, and never block an
informer's task (handlers only queue messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api.placement import EDGE_ROLE_LABEL
from kubeedge.client.informer import Informer, SharedInformerFactory
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.edgecontroller.access import EdgeAccess
from kubeedge.cloud.edgecontroller.downstream import Downstream
from kubeedge.cloud.edgecontroller.hosts import ClusterHosts
from kubeedge.cloud.edgecontroller.locations import LocationCache
from kubeedge.cloud.edgecontroller.routes import NodeRoutes
from kubeedge.cloud.edgecontroller.summary import resource_version
from kubeedge.cloud.edgecontroller.upstream import LaneSize, NodeClients, Upstream
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.config.cloudcore import EdgeController as EdgeControllerConfig
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleClosedError
from kubeedge.messaging.message import (
    MODULE_CLOUDHUB,
    MODULE_EDGECONTROLLER,
    OP_CONNECTED,
    OP_DISCONNECTED,
    Message,
)

__all__ = ["EdgeController", "EdgeControllerSettings"]

log = logging.getLogger(__name__)

NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
CONFIGMAPS = Resource.of("v1", "configmaps")
SECRETS = Resource.of("v1", "secrets")
SERVICES = Resource.of("v1", "services")
ENDPOINTS = Resource.of("v1", "endpoints")

# The index of the shared pod cache by `spec.nodeName` this module adds.
NODE_NAME_INDEX = "edgecontroller/spec.nodeName"


def _pod_node(pod: dict[str, Any]) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


@dataclass(frozen=True)
class EdgeControllerSettings:
    """What EdgeController takes from `modules.edgeController` (KubeEdge's names and
    defaults; see `config/cloudcore.py`) and `modules.cloudHub.advertiseAddress`."""

    node_update_frequency: float = 10.0
    lanes: dict[str, LaneSize] = field(default_factory=dict)
    # Written to a registering Node's `cloudcore` annotation ("" leaves it out).
    cloudcore_address: str = ""
    # Connections to the API shared by every node's impersonating client.
    connections: int = 64
    # Seconds to wait for the informers' first lists at start.
    sync_timeout: float = 60.0

    @classmethod
    def from_section(cls, section: EdgeControllerConfig, cloudcore_address: str = ""
                     ) -> EdgeControllerSettings:
        b, w = section.buffer, section.load
        lanes = {
            "update_node_status": LaneSize(b.update_node_status, w.update_node_status_workers),
            "create_node": LaneSize(b.create_node, w.create_node_workers),
            "query_node": LaneSize(b.query_node, w.query_node_workers),
            "update_node": LaneSize(b.update_node, w.update_node_workers),
            "patch_node": LaneSize(b.patch_node, w.patch_node_workers),
            "create_lease": LaneSize(b.create_lease, w.create_lease_workers),
            "query_lease": LaneSize(b.query_lease, w.query_lease_workers),
            "update_pod_status": LaneSize(b.update_pod_status, w.update_pod_status_workers),
            "patch_pod": LaneSize(b.patch_pod, w.patch_pod_workers),
            "delete_pod": LaneSize(b.delete_pod, w.delete_pod_workers),
            "create_pod": LaneSize(b.create_pod, w.create_pod_works),
            # KubeEdge has no pod query; it is sized like node queries.
            "query_pod": LaneSize(b.query_node, w.query_node_workers),
            "process_event": LaneSize(b.process_event, w.process_event_workers),
            "query_config_map": LaneSize(b.query_config_map, w.query_config_map_workers),
            "query_secret": LaneSize(b.query_secret, w.query_secret_workers),
            "service_account_token": LaneSize(b.service_account_token,
                                              w.service_account_token_workers),
            "query_persistent_volume": LaneSize(b.query_persistent_volume,
                                                w.query_persistent_volume_workers),
            "query_persistent_volume_claim": LaneSize(
                b.query_persistent_volume_claim, w.query_persistent_volume_claim_workers),
        }
        return cls(node_update_frequency=float(section.node_update_frequency), lanes=lanes,
                   cloudcore_address=cloudcore_address)

    @classmethod
    def from_config(cls, config: CloudCoreConfig) -> EdgeControllerSettings:
        addresses = config.modules.cloud_hub.advertise_address
        return cls.from_section(config.modules.edge_controller,
                                addresses[0] if addresses else "")


class EdgeController:
    """The module: `await start()`, `await stop()`."""

    def __init__(self, client: APIClient, bus: ModuleBus,
                 informers: SharedInformerFactory | None = None,
                 settings: EdgeControllerSettings | None = None) -> None:
        self.client = client
        self.bus = bus
        self.settings = settings or EdgeControllerSettings()
        self._owns_informers = informers is None
        self.informers = informers or SharedInformerFactory(client)
        self.locations = LocationCache()
        self.access = EdgeAccess(self.locations)
        self.node_clients = NodeClients(client, self.settings.connections)
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.upstream = Upstream(
            client, self.node_clients, self.access, self._send,
            lanes=self.settings.lanes,
            node_update_frequency=self.settings.node_update_frequency,
            cloudcore_address=self.settings.cloudcore_address,
        )
        self.downstream: Downstream | None = None
        self.routes = NodeRoutes(self._outbox.put_nowait)
        self.hosts = ClusterHosts(self._outbox.put_nowait)
        self._registrations: list[tuple[Informer, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._registered_module = False

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if MODULE_EDGECONTROLLER not in self.bus.modules():
            self.bus.add_module(MODULE_EDGECONTROLLER, MODULE_EDGECONTROLLER)
            self._registered_module = True
        timeout = self.settings.sync_timeout
        nodes = self.informers.informer(NODES, label_selector=EDGE_ROLE_LABEL)
        pods = self.informers.informer(PODS)
        config_maps = self.informers.informer(CONFIGMAPS)
        secrets = self.informers.informer(SECRETS)
        with contextlib.suppress(ValueError):  # another EdgeController added it
            pods.store.add_index(NODE_NAME_INDEX, _pod_node)
        down = Downstream(
            self.locations, self._outbox.put_nowait,
            pods=lambda node: pods.store.by_index(NODE_NAME_INDEX, node),
            config_maps=config_maps.store, secrets=secrets.store,
        )
        self.downstream = down
        self._tasks.append(asyncio.create_task(self._deliver(), name="edgecontroller send"))
        # Edge nodes first, so pods are judged against a full list of them; configmaps
        # and secrets before pods, so a pod's first message follows its configmaps'.
        self._handle(nodes, down.on_node_add, down.on_node_update, down.on_node_delete)
        self.routes.version = lambda: nodes.resource_version
        self._handle(nodes, self.routes.on_node_add, self.routes.on_node_update,
                     self.routes.on_node_delete)
        self._tasks.append(asyncio.create_task(self.routes.run(), name="edgecontroller routes"))
        services = self.informers.informer(SERVICES)
        endpoints = self.informers.informer(ENDPOINTS)
        self.hosts.version = lambda: str(max(resource_version(services.resource_version),
                                             resource_version(endpoints.resource_version)))
        self._handle(services, self.hosts.on_service_add, self.hosts.on_service_update,
                     self.hosts.on_service_delete)
        self._handle(endpoints, self.hosts.on_endpoints_add, self.hosts.on_endpoints_update,
                     self.hosts.on_endpoints_delete)
        self._tasks.append(asyncio.create_task(self.hosts.run(), name="edgecontroller hosts"))
        await nodes.wait_synced(timeout)
        self._handle(config_maps, down.on_configmap_add, down.on_configmap_update,
                     down.on_configmap_delete)
        self._handle(secrets, down.on_secret_add, down.on_secret_update, down.on_secret_delete)
        await config_maps.wait_synced(timeout)
        await secrets.wait_synced(timeout)
        self._handle(pods, down.on_pod_add, down.on_pod_update, down.on_pod_delete)
        await pods.wait_synced(timeout)
        await services.wait_synced(timeout)
        await endpoints.wait_synced(timeout)
        self._tasks.append(asyncio.create_task(self._receive(), name="edgecontroller receive"))
        log.info("edgecontroller: started (%d edge nodes)", len(self.locations.edge_nodes))

    def _handle(self, informer: Informer, on_add: Any, on_update: Any, on_delete: Any) -> None:
        registration = informer.add_event_handler(on_add, on_update, on_delete)
        self._registrations.append((informer, registration))
        informer.start()

    async def stop(self) -> None:
        for informer, registration in self._registrations:
            informer.remove_event_handler(registration)
        self._registrations.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.upstream.stop()
        await self.node_clients.close()
        if self._owns_informers:
            await self.informers.stop()
        if self._registered_module:
            self.bus.cleanup(MODULE_EDGECONTROLLER)
            self._registered_module = False

    # -- loops ---------------------------------------------------------------------

    async def _send(self, msg: Message) -> None:
        try:
            await self.bus.send(msg, MODULE_CLOUDHUB)
        except BusError as exc:
            # KubeEdge logs and goes on; SyncController resends what an edge missed.
            log.warning("edgecontroller: %s %s not sent to %s: %s", msg.route.operation,
                        msg.route.resource, MODULE_CLOUDHUB, exc)

    async def _deliver(self) -> None:
        while True:
            msg = await self._outbox.get()
            await self._send(msg)

    async def _receive(self) -> None:
        while True:
            try:
                msg = await self.bus.receive(MODULE_EDGECONTROLLER)
            except ModuleClosedError:
                return
            if msg.route.source == MODULE_CLOUDHUB and msg.route.operation in (
                    OP_CONNECTED, OP_DISCONNECTED):
                # CloudHub's session events (resource `node/<id>`, spec §2).
                node = msg.route.resource.partition("/")[2]
                if node and msg.route.operation == OP_CONNECTED:
                    self.routes.on_connected(node)
                    self.hosts.on_connected(node)
                elif node:
                    self.routes.on_disconnected(node)
                    self.hosts.on_disconnected(node)
            try:
                await self.upstream.dispatch(msg)
            except BusError as exc:
                log.warning("edgecontroller: reply to %s not sent: %s", msg.header.msg_id, exc)
