"""Upstream: requests from edge nodes carried out against the API, as that node.

Owns every message CloudHub hands EdgeController from an edge (resource
`node/<node>/<ns>/<type>[/<name>]`, the `<node>` being the session's authenticated node,
specs/kubeedge.md §2-3) and what KubeEdge's `controller/upstream.go` does with it:

| type | operation | API call (as `system:node:<node>`) | reply |
|---|---|---|---|
| nodestatus | insert | register the Node if missing | "OK" / error |
| nodestatus | update | nodes/status PUT (stale heartbeats refreshed) | "OK" / error |
| node | insert | register the Node as the node | ObjectResp |
| node | update / query | labels and annotations merge-patched / get | "OK" / object |
| node | delete | delete the Node, as cloudcore once the sender is that node | ObjectResp |
| nodepatch | any | nodes/status strategic-merge PATCH | ObjectResp |
| lease | insert / update / query | Lease create / update / get in kube-node-lease | ObjectResp |
| lease | delete | Lease delete in kube-node-lease | ObjectResp |
| podstatus | update | pods/status PUT per pod; unknown pod → delete to the edge | "OK" / error |
| podpatch | any | pods/status strategic-merge PATCH | ObjectResp |
| pod | delete | delete (grace period, uid precondition) | "OK" / error |
| pod | insert / query | create a mirror pod / get | ObjectResp / object |
| event | insert / update / patch | events create / update / patch | none |
| configmap, secret | query | get | object / error |
| serviceaccounttoken | query | serviceaccounts/<sa>/token create | TokenRequest / error |
| persistentvolume(claim) | query | get | object / error |

Every request is first checked against the sending node (`access.EdgeAccess`) and then
made with the node's identity (impersonation, as KubeEdge's `context.FromMessage` does),
so the API server's Node authorizer and NodeRestriction decide too.

The two deletes are how an edge leaves the cluster (`keadm reset edge`, issue 6); KubeEdge's
upstream has neither (its reset leaves the Node and Lease). The Lease delete is made as
the node: kube's node authorizer lets a node delete its own Lease. The Node delete is
not: kube 1.32 lets a node create, update and patch its own Node but not delete it (the
node authorizer's `authorizeNode` has no delete, and ClusterRole `system:node` lost
`delete` on nodes), and our authorizer says the same. So once `EdgeAccess` has checked
that the sender, authenticated by its certificate on the session, names itself,
cloudcore deletes the Node with its own identity, as it already sets the Node's
kubernetes.io labels (`_register`). Deleting what is already gone is a success. A refused request
changes nothing and gets a refusal the edge can read (an ObjectResp with a 403 Status,
or an `error` reply). Replies carry `parent_msg_id` and go to CloudHub.

Handlers run on per-type lanes with KubeEdge's buffer sizes and worker counts
(`modules.edgeController.buffer/load`); a worker exists only while its lane has work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from kubeedge.api.placement import EDGE_ROLE_LABEL
from kubeedge.client import kubeconfig
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.resources import Resource, ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.cloud.edgecontroller.access import (
    NODE_LEASE_NAMESPACE,
    NODES_GROUP,
    EdgeAccess,
    node_user,
)
from kubeedge.cloud.edgecontroller.locations import CONFIGMAP, SECRET, SERVICEACCOUNT
from kubeedge.cloud.edgecontroller.messages import (
    error_reply,
    forbidden_status,
    object_message,
    object_response,
    ok_reply,
    status_of,
    value_reply,
)
from kubeedge.messaging.message import (
    OP_DELETE,
    OP_INSERT,
    OP_PATCH,
    OP_QUERY,
    OP_UPDATE,
    Message,
)
from kubeedge.messaging.resource import (
    RESOURCE_CONFIGMAP,
    RESOURCE_EVENT,
    RESOURCE_LEASE,
    RESOURCE_NODE,
    RESOURCE_NODEPATCH,
    RESOURCE_NODESTATUS,
    RESOURCE_PERSISTENTVOLUME,
    RESOURCE_PERSISTENTVOLUMECLAIM,
    RESOURCE_POD,
    RESOURCE_PODPATCH,
    RESOURCE_PODSTATUS,
    RESOURCE_SECRET,
    RESOURCE_SERVICEACCOUNTTOKEN,
    ResourceError,
    ResourceKey,
    build_resource,
    parse_node_resource,
)

__all__ = ["CLOUDCORE_ANNOTATION", "NodeClients", "Upstream", "refresh_heartbeats",
           "split_reserved_labels"]

log = logging.getLogger(__name__)

NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
LEASES = Resource.of("coordination.k8s.io/v1", "leases")
EVENTS = Resource.of("v1", "events")
CONFIGMAPS = Resource.of("v1", "configmaps")
SECRETS = Resource.of("v1", "secrets")
SERVICEACCOUNTS = Resource.of("v1", "serviceaccounts")
PVCS = Resource.of("v1", "persistentvolumeclaims")
PVS = Resource.of("v1", "persistentvolumes")

# The Node annotation naming the cloudcore an edge registered through
# (KubeEdge's EdgeMappingCloudKey).
CLOUDCORE_ANNOTATION = "cloudcore"
# KubeEdge records an edge's NVIDIA GPUs (NodeStatusRequest.ExtendResources) here.
GPU_RESOURCE = "nvidia.com/gpu"
GPU_STATUS_ANNOTATION = "huawei.com/gpu-status"
# Conflicting status writes are retried this often with a fresh read.
CONFLICT_RETRIES = 3

Obj = dict[str, Any]
Handler = Callable[[Message, str, ResourceKey], Awaitable[None]]


# --------------------------------------------------------------------------- node identity


@dataclass
class _SharedTLS(kubeconfig.ClusterAccess):
    """Cluster access whose TLS context is built once for every node's client (building
    one loads the trust store: about a megabyte and milliseconds per node)."""

    prepared: ssl.SSLContext | bool = False

    def ssl_context(self) -> ssl.SSLContext:  # type: ignore[override]
        return self.prepared  # type: ignore[return-value]


class NodeClients:
    """One `APIClient` per edge node, each sending `Impersonate-User: system:node:<node>`
    and `Impersonate-Group: system:nodes` over one shared pool of cloudcore's own
    connections (kube impersonation, specs/k8s-api.md §7), so the API server authorizes
    each request as that node. cloudcore's identity needs `impersonate` on users and
    groups (an administrator's kubeconfig has it)."""

    def __init__(self, admin: APIClient, connections: int = 64) -> None:
        self.admin = admin
        self.connections = connections
        tls = admin.server.startswith("https:")
        base = admin.access
        values = {f.name: getattr(base, f.name) for f in fields(base) if f.name != "_tmp"}
        self._access = _SharedTLS(**values)
        self._access.prepared = base.ssl_context() if tls else False
        self._connector: aiohttp.TCPConnector | None = None
        self._clients: dict[str, APIClient] = {}

    def for_node(self, node: str) -> APIClient:
        client = self._clients.get(node)
        if client is None:
            if self._connector is None or self._connector.closed:
                self._connector = aiohttp.TCPConnector(
                    ssl=self._access.prepared, limit=self.connections, keepalive_timeout=60)
            client = APIClient(
                self._access, connector=self._connector, qps=0, burst=0,
                clock=self.admin.clock, user_agent=f"cloudcore/edgecontroller ({node})",
                headers={"Impersonate-User": node_user(node), "Impersonate-Group": NODES_GROUP},
            )
            self._clients[node] = client
        return client

    async def forget(self, node: str) -> None:
        client = self._clients.pop(node, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
        connector, self._connector = self._connector, None
        if connector is not None:
            await connector.close()


# --------------------------------------------------------------------------- helpers


def _content(msg: Message) -> Any:
    """The content as JSON values: KubeEdge edges send objects, some send JSON text."""
    content = msg.content
    if isinstance(content, bytes | bytearray | memoryview):
        content = bytes(content).decode()
    if isinstance(content, str):
        text = content.strip()
        if text[:1] in ("{", "["):
            return orjson.loads(text)
    return content


def _json_object(msg: Message, what: str) -> Obj:
    value = _content(msg)
    if not isinstance(value, dict):
        raise ValueError(f"content of {what} must be a JSON object, got {type(value).__name__}")
    return value


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _is_reserved(label: str) -> bool:
    prefix, sep, _ = label.partition("/")
    return bool(sep) and (prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io"))


def split_reserved_labels(labels: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels a node may set on itself, labels under kubernetes.io that NodeRestriction
    keeps from it), as KubeEdge's createNode splits them."""
    own = {k: v for k, v in labels.items() if not _is_reserved(k)}
    reserved = {k: v for k, v in labels.items() if _is_reserved(k)}
    return own, reserved


def refresh_heartbeats(status: Obj, now: datetime, frequency: float) -> None:
    """KubeEdge's nodeUpdateFrequency rule (spec §3): a condition whose
    lastHeartbeatTime is older than `frequency` seconds (the edge's report sat in a queue
    or its cache) is stamped with now."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in status.get("conditions") or ():
        when = _parse_time(condition.get("lastHeartbeatTime"))
        if when is None or (now - when).total_seconds() > frequency:
            condition["lastHeartbeatTime"] = stamp


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _condition(status: Mapping[str, Any], ctype: str) -> Obj | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == ctype:
            return condition
    return None


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        return exc.message or str(exc)
    return str(exc)


def _status_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, APIError):
        return dict(exc.status)
    return status_of(500, "InternalError", str(exc))


class Refused(Exception):
    """A request the sending node may not make (our own check, before any API call)."""


# --------------------------------------------------------------------------- lanes


class _Lane:
    """A bounded queue of one request type and up to `workers` tasks draining it."""

    def __init__(self, name: str, handler: Callable[[Message], Awaitable[None]],
                 buffer: int, workers: int) -> None:
        self.name = name
        self.handler = handler
        self.queue: asyncio.Queue[Message] = asyncio.Queue(max(buffer, 1))
        self.workers = max(workers, 1)
        self.tasks: set[asyncio.Task[None]] = set()

    async def put(self, msg: Message) -> None:
        await self.queue.put(msg)
        if len(self.tasks) < self.workers:
            task = asyncio.get_running_loop().create_task(self._work(), name=f"ec {self.name}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _work(self) -> None:
        while True:
            try:
                msg = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self.handler(msg)

    async def stop(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --------------------------------------------------------------------------- upstream


@dataclass(frozen=True)
class LaneSize:
    buffer: int
    workers: int


class Upstream:
    """Carries out edge requests (see the module docstring)."""

    def __init__(
        self,
        admin: APIClient,
        nodes: NodeClients,
        access: EdgeAccess,
        reply: Callable[[Message], Awaitable[None]],
        *,
        lanes: Mapping[str, LaneSize] | None = None,
        node_update_frequency: float = 10.0,
        cloudcore_address: str = "",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.admin = admin
        self.nodes = nodes
        self.access = access
        self.reply = reply
        self.node_update_frequency = node_update_frequency
        self.cloudcore_address = cloudcore_address
        self.now = now or (lambda: datetime.now(UTC))
        sizes = dict(lanes or {})
        self._lanes: dict[str, _Lane] = {}
        self._routes: dict[tuple[str, str], str] = {}
        for lane, handler, routes in self._table():
            size = sizes.get(lane, LaneSize(1024, 4))
            self._lanes[lane] = _Lane(lane, self._guarded(handler), size.buffer, size.workers)
            for route in routes:
                self._routes[route] = lane

    def _table(self) -> list[tuple[str, Handler, list[tuple[str, str]]]]:
        any_op = "*"
        return [
            ("update_node_status", self._node_status,
             [(RESOURCE_NODESTATUS, OP_INSERT), (RESOURCE_NODESTATUS, OP_UPDATE)]),
            ("create_node", self._node_insert, [(RESOURCE_NODE, OP_INSERT)]),
            ("query_node", self._node_query, [(RESOURCE_NODE, OP_QUERY)]),
            ("update_node", self._node_update, [(RESOURCE_NODE, OP_UPDATE)]),
            ("delete_node", self._node_delete, [(RESOURCE_NODE, OP_DELETE)]),
            ("patch_node", self._node_patch, [(RESOURCE_NODEPATCH, any_op)]),
            ("create_lease", self._lease_write,
             [(RESOURCE_LEASE, OP_INSERT), (RESOURCE_LEASE, OP_UPDATE)]),
            ("query_lease", self._lease_query, [(RESOURCE_LEASE, OP_QUERY)]),
            ("delete_lease", self._lease_delete, [(RESOURCE_LEASE, OP_DELETE)]),
            ("update_pod_status", self._pod_status, [(RESOURCE_PODSTATUS, OP_UPDATE)]),
            ("patch_pod", self._pod_patch, [(RESOURCE_PODPATCH, any_op)]),
            ("delete_pod", self._pod_delete, [(RESOURCE_POD, OP_DELETE)]),
            ("create_pod", self._pod_create, [(RESOURCE_POD, OP_INSERT)]),
            ("query_pod", self._pod_query, [(RESOURCE_POD, OP_QUERY)]),
            ("process_event", self._event, [(RESOURCE_EVENT, any_op)]),
            ("query_config_map", self._configmap_query, [(RESOURCE_CONFIGMAP, OP_QUERY)]),
            ("query_secret", self._secret_query, [(RESOURCE_SECRET, OP_QUERY)]),
            ("service_account_token", self._token_query,
             [(RESOURCE_SERVICEACCOUNTTOKEN, OP_QUERY)]),
            ("query_persistent_volume", self._pv_query,
             [(RESOURCE_PERSISTENTVOLUME, OP_QUERY)]),
            ("query_persistent_volume_claim", self._pvc_query,
             [(RESOURCE_PERSISTENTVOLUMECLAIM, OP_QUERY)]),
        ]

    def lane_names(self) -> list[str]:
        return list(self._lanes)

    async def dispatch(self, msg: Message) -> None:
        """Queue one message from an edge on its lane (waits while the lane is full)."""
        if msg.route.source == "cloudhub" and msg.route.operation in (
                "connected", "disconnected"):
            return  # CloudHub's session events: nothing to do for an edge's requests
        try:
            _, key = parse_node_resource(msg.route.resource)
        except ResourceError as exc:
            log.warning("edgecontroller: dropping message %s: %s", msg.header.msg_id, exc)
            return
        op = msg.route.operation
        lane = self._routes.get((key.resource_type, op)) or self._routes.get(
            (key.resource_type, "*"))
        if lane is None:
            log.warning("edgecontroller: message %s: %s of resource type %r unsupported",
                        msg.header.msg_id, op, key.resource_type)
            await self.reply(error_reply(
                msg, f"operation {op!r} on resource type {key.resource_type!r} unsupported"))
            return
        await self._lanes[lane].put(msg)

    async def stop(self) -> None:
        for lane in self._lanes.values():
            await lane.stop()

    def _guarded(self, handler: Handler) -> Callable[[Message], Awaitable[None]]:
        async def run(msg: Message) -> None:
            try:
                sender, key = parse_node_resource(msg.route.resource)
                await handler(msg, sender, key)
            except asyncio.CancelledError:
                raise
            except Refused as exc:
                log.warning("edgecontroller: refused %s %s: %s", msg.route.operation,
                            msg.route.resource, exc)
                await self.reply(error_reply(msg, str(exc)))
            except (APIError, APIConnectionError, ValueError, ResourceError) as exc:
                log.warning("edgecontroller: %s %s failed: %s", msg.route.operation,
                            msg.route.resource, exc)
                await self.reply(error_reply(msg, _error_text(exc)))
            except Exception as exc:
                log.exception("edgecontroller: %s %s failed", msg.route.operation,
                              msg.route.resource)
                await self.reply(error_reply(msg, f"internal error: {exc}"))

        return run

    def _check(self, reason: str | None) -> None:
        if reason is not None:
            raise Refused(reason)

    def _client(self, sender: str) -> APIClient:
        return self.nodes.for_node(sender)

    # -- nodes ---------------------------------------------------------------------

    def _node_resource(self, sender: str, key: ResourceKey) -> str:
        return build_resource(sender, key.namespace, RESOURCE_NODE, key.name)

    async def _node_status(self, msg: Message, sender: str, key: ResourceKey) -> None:
        self._check(self.access.own_node(sender, key.name))
        reply_to = self._node_resource(sender, key)
        if msg.route.operation == OP_INSERT:
            # KubeEdge's registration through nodestatus: an existing Node is fine.
            node, error = await self._register(sender, key.name, _json_object(msg, "node"))
            if error is not None:
                await self.reply(error_reply(
                    msg, f"create node {key.name} error: {_error_text(error)}, register "
                    f"node failed"))
            else:
                await self.reply(ok_reply(msg, reply_to))
            return
        request = _json_object(msg, "node status")
        status = request.get("Status", request.get("status"))
        if not isinstance(status, dict):
            raise ValueError("node status request has no Status object")
        client = self._client(sender)
        for attempt in range(CONFLICT_RETRIES):
            node = await client.get(NODES, key.name)
            new_status = orjson.loads(orjson.dumps(status))
            refresh_heartbeats(new_status, self.now(), self.node_update_frequency)
            old_status = node.get("status") or {}
            # kube-controller-manager owns volumesAttached; cloudcore owns the kubelet
            # port it tunnels to (spec §5), so the edge's report does not reset them.
            if "volumesAttached" in old_status:
                new_status["volumesAttached"] = old_status["volumesAttached"]
            else:
                new_status.pop("volumesAttached", None)
            port = (((old_status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
                    .get("Port"))
            if port:
                new_status.setdefault("daemonEndpoints", {}).setdefault(
                    "kubeletEndpoint", {})["Port"] = port
            node["status"] = new_status
            try:
                updated = await client.update_status(NODES, node)
                break
            except APIError as exc:
                if not exc.is_conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
        await self._extended_resources(client, key.name, request.get("ExtendResources"))
        await self.reply(ok_reply(msg, reply_to, str(_meta(updated).get("resourceVersion", ""))))

    async def _extended_resources(self, client: APIClient, name: str, extended: Any) -> None:
        """KubeEdge keeps each extended resource list (and NVIDIA GPU health) as Node
        annotations."""
        if not isinstance(extended, dict) or not extended:
            return
        annotations: dict[str, str] = {}
        for resource, entries in extended.items():
            if resource == GPU_RESOURCE and entries:
                annotations[GPU_STATUS_ANNOTATION] = orjson.dumps(
                    [{"id": e.get("name", ""), "healthy": True} for e in entries]).decode()
            annotations[str(resource)] = orjson.dumps(entries).decode()
        await client.patch(NODES, name, {"metadata": {"annotations": annotations}})

    async def _register(self, sender: str, name: str, node: Obj
                        ) -> tuple[Obj | None, BaseException | None]:
        """Create the edge's Node as the node itself (NodeRestriction allows a node to
        create its own Node), then set the kubernetes.io labels it may not set on itself
        (the edge role among them) as cloudcore, as KubeEdge's createNode does."""
        client = self._client(sender)
        try:
            existing = await client.get(NODES, name)
            return existing, None
        except APIError as exc:
            if not exc.is_not_found:
                return None, exc
        node = orjson.loads(orjson.dumps(node))
        meta = node.setdefault("metadata", {})
        if meta.get("name") not in (None, "", name):
            return None, Refused(f'node "{sender}" is not allowed to modify node '
                                 f'"{meta.get("name")}"')
        meta["name"] = name
        for key in ("resourceVersion", "uid", "creationTimestamp"):
            meta.pop(key, None)
        labels = dict(meta.get("labels") or {})
        labels.setdefault(EDGE_ROLE_LABEL, "")
        own, reserved = split_reserved_labels(labels)
        meta["labels"] = own
        if self.cloudcore_address:
            meta.setdefault("annotations", {})[CLOUDCORE_ANNOTATION] = self.cloudcore_address
        node.setdefault("apiVersion", "v1")
        node.setdefault("kind", "Node")
        try:
            created = await client.create(NODES, node)
        except APIError as exc:
            if not exc.is_already_exists:
                return None, exc
            created = await client.get(NODES, name)
        if reserved:
            try:
                created = await self.admin.patch(NODES, name, {"metadata": {"labels": reserved}})
            except APIError as exc:
                return created, exc
        return created, None

    async def _node_insert(self, msg: Message, sender: str, key: ResourceKey) -> None:
        reason = self.access.own_node(sender, key.name)
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        node, error = await self._register(sender, key.name, _json_object(msg, "node"))
        await self.reply(object_response(msg, node if error is None else None,
                                         None if error is None else _status_of(error)))

    async def _node_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        self._check(self.access.own_node(sender, key.name, "read"))
        node = await self._client(sender).get(NODES, key.name)
        await self.reply(value_reply(msg, node, self._node_resource(sender, key)))

    async def _node_update(self, msg: Message, sender: str, key: ResourceKey) -> None:
        """Labels and annotations the edge sets on its Node (merged, as KubeEdge)."""
        self._check(self.access.own_node(sender, key.name))
        request = _json_object(msg, "node")
        meta = _meta(request)
        patch: dict[str, Any] = {}
        for field in ("labels", "annotations"):
            if meta.get(field):
                patch[field] = dict(meta[field])
        client = self._client(sender)
        if patch:
            node = await client.patch(NODES, key.name, {"metadata": patch})
        else:
            node = await client.get(NODES, key.name)
        await self.reply(ok_reply(msg, self._node_resource(sender, key),
                                  str(_meta(node).get("resourceVersion", ""))))

    async def _node_patch(self, msg: Message, sender: str, key: ResourceKey) -> None:
        reason = self.access.own_node(sender, key.name)
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        try:
            node = await self._client(sender).patch(
                NODES, key.name, _content(msg), patch_type="strategic", subresource="status")
        except APIError as exc:
            await self.reply(object_response(msg, None, _status_of(exc)))
            return
        await self.reply(object_response(msg, node, None))

    async def _node_delete(self, msg: Message, sender: str, key: ResourceKey) -> None:
        """The edge leaving the cluster: its own Node deleted, as cloudcore (see the
        module docstring). An optional DeleteOptions content may carry a uid
        precondition."""
        reason = self.access.own_node(sender, key.name, "delete")
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        try:
            await self.admin.delete(NODES, key.name,
                                    preconditions=_delete_preconditions(_content(msg)))
        except APIError as exc:
            if not exc.is_not_found:
                await self.reply(object_response(msg, None, _status_of(exc)))
                return
        log.info("edgecontroller: node %s deleted its Node (leaving the cluster)", sender)
        await self.reply(object_response(msg, None, None))

    # -- leases --------------------------------------------------------------------

    async def _lease_write(self, msg: Message, sender: str, key: ResourceKey) -> None:
        # Node leases live in kube-node-lease whatever namespace the edge put in the
        # resource (edged writes `registerNodeNamespace`, "default", spec §2).
        namespace = NODE_LEASE_NAMESPACE
        reason = self.access.own_lease(sender, namespace, key.name)
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        lease = _json_object(msg, "lease")
        meta = lease.setdefault("metadata", {})
        if meta.get("name") not in (None, "", key.name):
            await self.reply(object_response(msg, None, forbidden_status(
                f'node "{sender}" is not allowed to write lease "{meta.get("name")}"')))
            return
        meta["name"] = key.name
        meta["namespace"] = namespace
        client = self._client(sender)
        try:
            result = await self._write_lease(client, lease, msg.route.operation == OP_INSERT)
        except APIError as exc:
            await self.reply(object_response(msg, None, _status_of(exc)))
            return
        await self.reply(object_response(msg, result, None))

    async def _write_lease(self, client: APIClient, lease: Obj, insert: bool) -> Obj:
        meta = lease["metadata"]
        if insert:
            try:
                return await client.create(LEASES, lease)
            except APIError as exc:
                if not exc.is_already_exists:
                    raise
        if meta.get("resourceVersion"):
            return await client.update(LEASES, lease)
        # No version to compare against (an edge that only renews): merge its spec.
        try:
            return await client.patch(LEASES, meta["name"], {"spec": lease.get("spec") or {}},
                                      meta["namespace"])
        except APIError as exc:
            if not exc.is_not_found:
                raise
            return await client.create(LEASES, lease)

    async def _lease_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        reason = self.access.own_lease(sender, NODE_LEASE_NAMESPACE, key.name)
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        try:
            lease = await self._client(sender).get(LEASES, key.name, NODE_LEASE_NAMESPACE)
        except APIError as exc:
            await self.reply(object_response(msg, None, _status_of(exc)))
            return
        await self.reply(object_response(msg, lease, None))

    async def _lease_delete(self, msg: Message, sender: str, key: ResourceKey) -> None:
        """The edge's own Lease deleted, as the node (kube-node-lease whatever the
        resource's namespace, as for writes)."""
        reason = self.access.own_lease(sender, NODE_LEASE_NAMESPACE, key.name)
        if reason is not None:
            await self.reply(object_response(msg, None, forbidden_status(reason)))
            return
        try:
            await self._client(sender).delete(
                LEASES, key.name, NODE_LEASE_NAMESPACE,
                preconditions=_delete_preconditions(_content(msg)))
        except APIError as exc:
            if not exc.is_not_found:
                await self.reply(object_response(msg, None, _status_of(exc)))
                return
        await self.reply(object_response(msg, None, None))

    # -- pods ----------------------------------------------------------------------

    async def _bound_pod(self, sender: str, namespace: str, name: str, what: str) -> Obj:
        """The pod, if it is bound to `sender`; else `Refused` (a missing pod too: the
        edge may not learn which pods exist elsewhere)."""
        try:
            pod = await self._client(sender).get(PODS, name, namespace)
        except APIError as exc:
            if exc.is_not_found:
                pod = None
            else:
                raise
        self._check(self.access.bound_pod(sender, pod, namespace, name, what))
        assert pod is not None
        return pod

    async def _pod_status(self, msg: Message, sender: str, key: ResourceKey) -> None:
        content = _content(msg)
        requests = content if isinstance(content, list) else [content]
        if key.name and len(requests) != 1:
            raise ValueError("a podstatus message naming one pod carries one status")
        problems: list[str] = []
        for request in requests:
            if not isinstance(request, dict):
                raise ValueError("each pod status request must be a JSON object")
            name = str(request.get("Name") or key.name or "")
            if not name or (key.name and name != key.name):
                problems.append(f"pod status request names pod {name!r}, resource "
                                f"names {key.name!r}")
                continue
            try:
                await self._one_pod_status(msg, sender, key.namespace, name, request)
            except Refused as exc:
                problems.append(str(exc))
            except APIError as exc:
                problems.append(_error_text(exc))
        if problems:
            await self.reply(error_reply(msg, "; ".join(problems)))
        else:
            await self.reply(ok_reply(msg))

    async def _one_pod_status(self, msg: Message, sender: str, namespace: str, name: str,
                              request: Obj) -> None:
        client = self._client(sender)
        uid = str(request.get("UID") or "")
        for attempt in range(CONFLICT_RETRIES):
            try:
                pod = await client.get(PODS, name, namespace)
            except APIError as exc:
                if not exc.is_not_found:
                    raise
                pod = None
            if pod is None or (uid and _meta(pod).get("uid") != uid):
                # The edge reports a pod the API no longer has: tell it to drop its copy
                # (KubeEdge answers OK and sends the delete).
                stub = {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "namespace": namespace}}
                if uid:
                    stub["metadata"]["uid"] = uid
                await self.reply(object_message(sender, RESOURCE_POD, stub, OP_DELETE))
                return
            self._check(self.access.bound_pod(sender, pod, namespace, name))
            status = request.get("Status", request.get("status"))
            if not isinstance(status, dict):
                raise ValueError(f"pod status request for {namespace}/{name} has no Status")
            pod["status"] = self._merged_pod_status(pod.get("status") or {}, status)
            try:
                updated = await client.update_status(PODS, pod)
                break
            except APIError as exc:
                if not exc.is_conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
        phase = (updated.get("status") or {}).get("phase")
        if _meta(updated).get("deletionTimestamp") and phase in ("Succeeded", "Failed") \
                and _containers_stopped(updated):
            # The edge finished a pod being deleted: confirm so the API drops it.
            try:
                await client.delete(PODS, name, namespace, grace_period_seconds=0,
                                    preconditions={"uid": str(_meta(updated).get("uid"))})
            except APIError as exc:
                if exc.is_forbidden and not await self._pod_exists(client, namespace, name):
                    # Edged's own confirmation won the race: once the pod is gone the
                    # node authorizer knows no binding, so it refuses instead of 404.
                    return
                if not (exc.is_not_found or exc.is_conflict):
                    raise

    @staticmethod
    async def _pod_exists(client: APIClient, namespace: str, name: str) -> bool:
        try:
            await client.get(PODS, name, namespace)
        except APIError as exc:
            if exc.is_not_found or exc.is_forbidden:
                return False
            raise
        return True

    def _merged_pod_status(self, old: Mapping[str, Any], status: Obj) -> Obj:
        """KubeEdge's (kubelet's) rules: Ready and Initialized keep their transition time
        unless their status changed; startTime never moves once set."""
        status = orjson.loads(orjson.dumps(status))
        stamp = self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for ctype in ("Ready", "Initialized"):
            new = _condition(status, ctype)
            if new is None:
                continue
            previous = _condition(old, ctype)
            if previous is not None and previous.get("status") == new.get("status") \
                    and previous.get("lastTransitionTime"):
                new["lastTransitionTime"] = previous["lastTransitionTime"]
            else:
                new["lastTransitionTime"] = stamp
        if old.get("startTime"):
            status["startTime"] = old["startTime"]
        elif not status.get("startTime"):
            status["startTime"] = stamp
        statuses = status.get("containerStatuses")
        if isinstance(statuses, list):
            statuses.sort(key=lambda s: str(s.get("name", "")))
        return status

    async def _pod_patch(self, msg: Message, sender: str, key: ResourceKey) -> None:
        try:
            await self._bound_pod(sender, key.namespace, key.name, "update pod status for")
            pod = await self._client(sender).patch(
                PODS, key.name, _content(msg), key.namespace, patch_type="strategic",
                subresource="status")
        except Refused as exc:
            await self.reply(object_response(msg, None, forbidden_status(str(exc))))
            return
        except APIError as exc:
            await self.reply(object_response(msg, None, _status_of(exc)))
            return
        await self.reply(object_response(msg, pod, None))

    async def _pod_delete(self, msg: Message, sender: str, key: ResourceKey) -> None:
        pod = await self._bound_pod(sender, key.namespace, key.name, "delete")
        content = _content(msg)
        grace: int | None = None
        preconditions: dict[str, str] | None = None
        if isinstance(content, str) and content:
            # Older edges send only the pod's UID: delete now, only that incarnation.
            grace, preconditions = 0, {"uid": content}
        elif isinstance(content, dict):
            if content.get("gracePeriodSeconds") is not None:
                grace = int(content["gracePeriodSeconds"])
            pre = content.get("preconditions") or {}
            preconditions = {k: str(v) for k, v in pre.items() if v} or None
        if preconditions is None:
            preconditions = {"uid": str(_meta(pod).get("uid"))}
        try:
            await self._client(sender).delete(PODS, key.name, key.namespace,
                                              grace_period_seconds=grace,
                                              preconditions=preconditions)
        except APIError as exc:
            # Gone already, or a new pod of the same name: nothing of the edge's is left.
            if not (exc.is_not_found or exc.is_conflict):
                raise
        await self.reply(ok_reply(msg))

    async def _pod_create(self, msg: Message, sender: str, key: ResourceKey) -> None:
        pod = _json_object(msg, "pod")
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node != sender:
            await self.reply(object_response(msg, None, forbidden_status(
                f'node "{sender}" can only create pods with spec.nodeName set to itself')))
            return
        try:
            created = await self._client(sender).create(PODS, pod, key.namespace)
        except APIError as exc:
            await self.reply(object_response(msg, None, _status_of(exc)))
            return
        await self.reply(object_response(msg, created, None))

    async def _pod_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        if not key.name:
            raise ValueError("a pod query names one pod")
        pod = await self._bound_pod(sender, key.namespace, key.name, "read")
        await self.reply(value_reply(msg, pod))

    # -- events --------------------------------------------------------------------

    async def _event(self, msg: Message, sender: str, key: ResourceKey) -> None:
        """Events from the edge; KubeEdge sends no reply, so failures are only logged."""
        client = self._client(sender)
        op = msg.route.operation
        content = _json_object(msg, "event")
        try:
            if op == OP_PATCH:
                event = content.get("event") or {}
                namespace = _meta(event).get("namespace") or key.namespace
                data = content.get("patchData") or "{}"
                patch = orjson.loads(data) if isinstance(data, str) else data
                await client.patch(EVENTS, str(_meta(event).get("name")), patch,
                                   namespace, patch_type="strategic")
            elif op in (OP_INSERT, OP_UPDATE):
                namespace = _meta(content).get("namespace") or key.namespace
                if op == OP_INSERT:
                    await client.create(EVENTS, content, namespace)
                else:
                    await client.update(EVENTS, content, namespace)
            else:
                log.warning("edgecontroller: event operation %r unsupported", op)
        except (APIError, APIConnectionError) as exc:
            log.warning("edgecontroller: event from %s (%s) failed: %s", sender, op, exc)

    # -- queries -------------------------------------------------------------------

    async def _referenced_get(self, msg: Message, sender: str, key: ResourceKey, kind: str,
                              ref: ResourceRef) -> None:
        if not key.name:
            raise ValueError(f"a {key.resource_type} query names one object")
        self._check(self.access.referenced(sender, kind, key.namespace, key.name))
        obj = await self._client(sender).get(ref, key.name, key.namespace)
        await self.reply(value_reply(msg, obj))

    async def _configmap_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        await self._referenced_get(msg, sender, key, CONFIGMAP, CONFIGMAPS)

    async def _secret_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        await self._referenced_get(msg, sender, key, SECRET, SECRETS)

    async def _token_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        """A TokenRequest for a service account a pod on the node runs as (the API
        server also requires the token to be bound to a pod on the node)."""
        if not key.name:
            raise ValueError("a serviceaccounttoken query names the service account")
        self._check(self.access.referenced(sender, SERVICEACCOUNT, key.namespace, key.name,
                                           "create"))
        request = _json_object(msg, "token request")
        request.setdefault("apiVersion", "authentication.k8s.io/v1")
        request.setdefault("kind", "TokenRequest")
        path = SERVICEACCOUNTS.path(key.namespace, key.name, "token")
        token = await self._client(sender).request("POST", path, body=request)
        await self.reply(value_reply(msg, token))

    async def _pvc_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        # The Node authorizer (through impersonation) decides on claims and volumes.
        obj = await self._client(sender).get(PVCS, key.name, key.namespace)
        await self.reply(value_reply(msg, obj))

    async def _pv_query(self, msg: Message, sender: str, key: ResourceKey) -> None:
        obj = await self._client(sender).get(PVS, key.name)
        await self.reply(value_reply(msg, obj))


def _delete_preconditions(content: Any) -> dict[str, str] | None:
    """`preconditions` (uid, resourceVersion) of a DeleteOptions content, if any."""
    if not isinstance(content, dict):
        return None
    pre = content.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise ValueError("preconditions of a delete must be an object")
    return {k: str(v) for k, v in pre.items() if k in ("uid", "resourceVersion") and v} or None


def _containers_stopped(pod: Mapping[str, Any]) -> bool:
    """KubeEdge's isPodNotRunning: every container is terminated or waiting."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        state = status.get("state") or {}
        if "terminated" not in state and "waiting" not in state:
            return False
    return True
