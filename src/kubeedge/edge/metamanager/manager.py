"""MetaManager: the edge module between EdgeHub, the edge database and edged (spec §6).

Owns, as KubeEdge's edge/pkg/metamanager/process.go does (module `metamanager`, group
`meta` on the edge's ModuleBus):

- downstream: the object changes EdgeHub hands on (group `resource`, already written to
  the database and acknowledged by EdgeHub, see hub.py) go to module `edged` for pods,
  configmaps and secrets: resource `<ns>/<type>/<name>`, operation insert/update
  (a cloud `patch` goes on as `update`) with the object *as stored* (so a stale resend
  that the store refused never rolls edged back), or `delete` with the cloud's content
  (its last state or a stub with the uid);
- edged's queries (group `meta`, operation `query`): `<ns>/configmap|secret/<name>` and
  `<ns>/serviceaccounttoken/<sa>` asked of the cloud when connected (`send_sync` to
  `contextSendModule`, `remoteQueryTimeout`), the answer cached in `meta`; answered
  from the cache when offline, when the cloud does not answer in time, or when it
  fails; every other query answered from the database (by `type` without a name, by
  `key` with one), as a list of JSON strings; an answer carrying an object is
  acknowledged to the cloud once cached (KubeEdge's feedbackResponse);
- pod status from edged (`<ns>/podstatus/<name>` update, a `{"UID","Name","Status"}`
  request): stored in `meta` (key `<ns>/podstatus/<name>`, type `podstatus`, as
  KubeEdge keeps it), then sent to the cloud; kept newest-per-pod while offline and
  sent on reconnect; an `error` reply is logged and retried with back-off;
- pod deletes confirmed by edged (`<ns>/pod/<name>` delete, DeleteOptions with the uid
  precondition): sent to the cloud, queued while offline, retried like statuses;
- mirror pods from edged (`<ns>/pod/<name>` insert, content the mirror pod of a static
  pod, kubelet's mirror client): sent to the cloud (EdgeController creates it as the
  node) and edged answered with the cloud's reply (KubeEdge's ObjectResp, or `error`);
  while offline, or when the cloud does not answer, kept (newest per pod) and sent on
  reconnect with back-off like statuses, and edged answered "OK" at once (it has been
  taken; the API's mirror pod comes back down as any pod bound to the node does). A
  refusal (AlreadyExists, Forbidden) is final: edged decides what to do with it;
- the edge's own Node (`null/node/<node>`, which EdgeController sends on every change)
  and the routes to the other edges' pod networks (`null/noderoutes/<node>`, ours, see
  `RESOURCE_NODEROUTES`) go to module `nodenetwork` (edge/node.py `PodNetworkSync`)
  as stored, like pods go to edged: the node's podCIDR and those routes reach the
  container runtime from there;
- the cluster's headless Service names and pod hostnames (`null/clusterhosts/<node>`,
  ours, see `RESOURCE_CLUSTERHOSTS`) go to edged as stored, like pods: edged writes
  them into its pods' /etc/hosts; edged asks for the stored summary at start (a query
  by key, answered from the database), so an edge restarted offline keeps the names;
- events (`<ns>/event/<name>`): sent to group `contextSendGroup`, best effort; dropped
  and counted while offline.

What differs from KubeEdge, on purpose:
- EdgeHub, not MetaManager, writes cloud objects and sends the ACK (rule 5, hub.py).
  Whether a delete applied is decided once, by `MetaStore.apply_delete` (the pod uid
  rule, spec §6); here a delete goes on to edged only when the database no longer holds
  an object with the delete's uid: the incarnation edged may run is gone (KubeEdge
  forwards every delete; edged acts per uid either way);
- KubeEdge's `processRemote` has a "TODO: retry" and answers edged with the error;
  ours falls back to the cache, and retries status and deletes with back-off;
- a configmap or secret the cloud says does not exist is dropped from the cache
  (a tombstone then says "known not to exist" while offline).

Must never import anything beyond the standard library, `messaging/`, `client.clock`
and `config/` (ARCHITECTURE.md rule 9), nor write a cloud object itself (EdgeHub does).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubeedge.client.clock import Clock, RealClock
from kubeedge.edge.metamanager.store import MetaRow, MetaStore, MetaStoreError
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleExistsError
from kubeedge.messaging.message import (
    CLOUD_CONNECTED,
    GROUP_META,
    MESSAGE_OK,
    MODULE_EDGED,
    MODULE_METAMANAGER,
    OP_CONNECT,
    OP_DELETE,
    OP_ERROR,
    OP_INSERT,
    OP_PATCH,
    OP_QUERY,
    OP_UPDATE,
    Message,
    build_message,
    new_error_message,
    new_respond_message,
)
from kubeedge.messaging.resource import (
    RESOURCE_CLUSTERHOSTS,
    RESOURCE_CONFIGMAP,
    RESOURCE_EVENT,
    RESOURCE_NODE,
    RESOURCE_NODE_CONNECTION,
    RESOURCE_NODEROUTES,
    RESOURCE_POD,
    RESOURCE_PODSTATUS,
    RESOURCE_SECRET,
    RESOURCE_SERVICEACCOUNTTOKEN,
    ResourceError,
    ResourceKey,
    parse_edge_resource,
)

if TYPE_CHECKING:
    from kubeedge.config.edgecore import EdgeCoreConfig

__all__ = [
    "ERR_NOT_CONNECTED",
    "MODULE_NODE_NETWORK",
    "RESOURCE_CLUSTERHOSTS",
    "RESOURCE_NODEROUTES",
    "MetaManager",
    "MetaManagerSettings",
    "requires_refresh",
    "token_key",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Ours: the downstream message in which EdgeController tells an edge the cluster's
# headless Service names and pod hostnames with their addresses, for its pods'
# /etc/hosts (cloud/edgecontroller/hosts.py builds it and defines the same string):
# resource `null/clusterhosts/<this node>`, operation `update`, header resourceversion
# the API revision it reflects, content {"kind": "ClusterHosts", "metadata": {"name",
# "resourceVersion"}, "services": [{"namespace", "name", "addresses": [{"ip",
# "hostname"}]}]} (plus "truncated": n when the cloud's cap left n addresses out).
# Types whose cloud changes edged needs (the brief's interface 1; KubeEdge sends edged
# every type but node, edged ignores the rest).
FORWARDED_TYPES = frozenset({RESOURCE_POD, RESOURCE_CONFIGMAP, RESOURCE_SECRET,
                             RESOURCE_CLUSTERHOSTS})
# Ours: the downstream message in which EdgeController tells an edge the podCIDR and
# InternalIP of every other edge node (cloud/edgecontroller/routes.py builds it; the
# same string is defined there, since the cloud must not import the edge's modules
# nor the edge the cloud's). An edge cannot list Nodes (the node authorizer lets it
# read only its own), so the cloud sends this summary instead: resource
# `null/noderoutes/<this node>`, operation `update`, header resourceversion the API
# revision it was computed at, content {"kind": "NodeRoutes", "metadata": {"name",
# "resourceVersion"}, "routes": [{"nodeName", "podCIDR", "podCIDRs", "nodeIP"}]}.
# Where the edge's own Node and its noderoutes go (edge/node.py PodNetworkSync).
MODULE_NODE_NETWORK = "nodenetwork"
NODE_NETWORK_TYPES = frozenset({RESOURCE_NODE, RESOURCE_NODEROUTES})
# Queries answered by the cloud when connected (KubeEdge's requireRemoteQuery, the part
# of it our cloud serves: spec §6).
REMOTE_OBJECT_TYPES = frozenset({RESOURCE_CONFIGMAP, RESOURCE_SECRET})
# KubeEdge's errNotConnected, the reason edged reads when the cloud cannot be asked.
ERR_NOT_CONNECTED = "not connected"
# KubeEdge's token cache rule (client/serviceaccount.go requiresRefresh): a token older
# than a day, or in the last 20% of its lifetime, is refreshed from the cloud.
TOKEN_MAX_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True)
class MetaManagerSettings:
    """`modules.metaManager`, plus the upstream retry timings KubeEdge does not have
    (its processRemote has a "TODO: retry"): `retry_base` seconds after the first
    failure, doubling to `retry_cap`; at most `max_in_flight` status and delete
    requests wait for the cloud at once."""

    context_send_group: str = "hub"
    context_send_module: str = "websocket"
    remote_query_timeout: float = 60.0
    retry_base: float = 1.0
    retry_cap: float = 60.0
    max_in_flight: int = 16

    def __post_init__(self) -> None:
        for name in ("remote_query_timeout", "retry_base", "retry_cap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MetaManagerSettings.{name}: must be positive")
        if self.max_in_flight < 1:
            raise ValueError("MetaManagerSettings.max_in_flight: must be at least 1")

    @classmethod
    def from_config(cls, config: EdgeCoreConfig, **overrides: Any) -> MetaManagerSettings:
        m = config.modules.meta_manager
        values: dict[str, Any] = {
            "context_send_group": m.context_send_group,
            "context_send_module": m.context_send_module,
            "remote_query_timeout": float(m.remote_query_timeout),
        }
        values.update(overrides)
        return cls(**values)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones."""
        return min(self.retry_base * 2 ** max(attempts - 1, 0), self.retry_cap)


# ---- helpers ---------------------------------------------------------------------------


def _go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def token_key(name: str, namespace: str, request: Any) -> str:
    """The `meta` key of a cached TokenRequest: KubeEdge's client.KeyFunc spelled as Go's
    `%q/%q/%#v/%#v/%#v` prints it (service account, namespace, audiences, expiration,
    bound object), so our rows read like KubeEdge's and never hold the token itself."""
    spec = (request or {}).get("spec") or {} if isinstance(request, dict) else {}
    audiences = spec.get("audiences")
    if audiences is None:
        auds = "[]string(nil)"
    else:
        auds = "[]string{" + ", ".join(_go_quote(str(a)) for a in audiences) + "}"
    exp = spec.get("expirationSeconds") or 0
    ref = spec.get("boundObjectRef") or {}
    bound = (
        "v1.BoundObjectReference{"
        f"Kind:{_go_quote(str(ref.get('kind') or ''))}, "
        f"APIVersion:{_go_quote(str(ref.get('apiVersion') or ''))}, "
        f"Name:{_go_quote(str(ref.get('name') or ''))}, "
        f"UID:{_go_quote(str(ref.get('uid') or ''))}}}"
    )
    return f"{_go_quote(name)}/{_go_quote(namespace)}/{auds}/{int(exp)}/{bound}"


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _token_expiry(token: Obj) -> dt.datetime | None:
    return _parse_time((token.get("status") or {}).get("expirationTimestamp"))


def requires_refresh(token: Obj, now: dt.datetime) -> bool:
    """KubeEdge's requiresRefresh: past a day old or within 20% of the lifetime of its
    expiry. A token without expirationSeconds or expiry is never refreshed, as there."""
    seconds = (token.get("spec") or {}).get("expirationSeconds")
    expiry = _token_expiry(token)
    if not seconds or expiry is None:
        return False
    issued = expiry - dt.timedelta(seconds=int(seconds))
    if now > issued + TOKEN_MAX_TTL:
        return True
    return now > expiry - dt.timedelta(seconds=int(seconds) * 20 // 100)


def _meta_field(obj: Any, name: str) -> str:
    if isinstance(obj, dict):
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            value = metadata.get(name)
            if isinstance(value, str):
                return value
    return ""


def _stored_uid(row: MetaRow | None) -> str:
    if row is None:
        return ""
    try:
        return _meta_field(json.loads(row.value), "uid")
    except ValueError:
        return ""


def _is_not_found(text: str) -> bool:
    # The cloud's error reply carries the API's Status message: `configmaps "x" not
    # found` (upstream.py `_referenced_get`).
    return text.rstrip().endswith("not found")


def _error_text(content: Any) -> str:
    if isinstance(content, bytes | bytearray):
        return bytes(content).decode(errors="replace")
    if isinstance(content, dict):
        return str(content.get("message") or content)
    return str(content)


def _object_resp_error(content: Any) -> str | None:
    """The error of KubeEdge's ObjectResp `{"Object":..., "Err":...}`, if it is one."""
    if isinstance(content, dict) and "Object" in content and "Err" in content:
        err = content.get("Err")
        if err:
            status = err.get("ErrStatus") if isinstance(err, dict) else None
            return _error_text(status if isinstance(status, dict) else err)
    return None


class _Outcome:
    OK = "ok"
    ERROR = "error"  # the cloud answered with an error
    LOST = "lost"  # no answer: timeout, connection lost, hub gone


@dataclass
class _Upstream:
    """One request kept for the cloud: the newest status of a pod, a pod delete, or a
    mirror pod create (with the edged requests waiting for the cloud's answer)."""

    key: str
    resource: str
    operation: str
    content: Any
    source: str
    pod_key: str
    uid: str
    seq: int
    attempts: int = 0
    not_before: float = 0.0
    waiters: list[Message] = field(default_factory=list)


# ---- the module --------------------------------------------------------------------------


class MetaManager:
    """`MetaManager(bus, store, settings)`; `await start()`, `await stop()`.

    Start it before EdgeHub so it hears EdgeHub's first `cloud_connected`, or pass the
    hub's `connected` event to seed the state. Counters are plain attributes.
    """

    def __init__(
        self,
        bus: ModuleBus,
        store: MetaStore,
        settings: MetaManagerSettings | None = None,
        *,
        clock: Clock | None = None,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        connected: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings or MetaManagerSettings()
        self._bus = bus
        self._store = store
        self._clock: Clock = clock or RealClock()
        self._wall = wall
        self._connected_hint = connected
        self.online = False
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outbox: dict[str, _Upstream] = {}
        self._drainers: dict[str, asyncio.Task[None]] = {}
        self._sleeping: set[asyncio.Task[Any]] = set()
        # Cloud answers whose ACK waits for the cache write, by edged's request msg_id.
        self._unacknowledged: dict[str, Message] = {}
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        self._seq = 0
        self._registered = False
        # counters
        self.forwarded = 0
        self.remote_queries = 0
        self.cache_answers = 0
        self.statuses_sent = 0
        self.deletes_sent = 0
        self.mirrors_sent = 0
        self.upstream_errors = 0
        self.upstream_lost = 0
        self.events_sent = 0
        self.events_dropped = 0

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        try:
            self._bus.add_module(MODULE_METAMANAGER, GROUP_META)
            self._registered = True
        except ModuleExistsError:
            self._bus.add_module_group(MODULE_METAMANAGER, GROUP_META)
        if self._connected_hint is not None and self._connected_hint.is_set():
            self.online = True
        self._task = asyncio.create_task(self._run(), name="metamanager")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._tasks, *self._drainers.values()) if t]
        self._task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._drainers.clear()
        if self._registered:
            self._bus.cleanup(MODULE_METAMANAGER)
            self._registered = False

    def pending_upstream(self) -> dict[str, Any]:
        """What waits for the cloud: outbox key -> content (for tests and debugging)."""
        return {key: item.content for key, item in self._outbox.items()}

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the receive loop ----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                msg = await self._bus.receive(MODULE_METAMANAGER)
            except BusError:
                return  # cleaned up
            try:
                await self._handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("metamanager: message %s failed", msg)

    async def _handle(self, msg: Message) -> None:
        route = msg.route
        if route.resource == RESOURCE_NODE_CONNECTION and route.operation == OP_CONNECT:
            self._set_online(msg.content == CLOUD_CONNECTED)
        elif route.group == GROUP_META or route.source == MODULE_EDGED:
            # Edged's requests: group `meta` as KubeEdge's metaclient sends them; edged's
            # mirror pod create comes as group `resource` (kubelet's mirror client).
            await self._handle_local(msg)
        else:
            await self._forward_downstream(msg)

    # ---- connection ----------------------------------------------------------------

    def _set_online(self, online: bool) -> None:
        self.online = online
        if not online:
            return
        # (Re)connected: everything kept goes out now, whatever back-off it waited in.
        # Every `cloud_connected` counts, even without a `cloud_disconnected` before it
        # (a stopped EdgeHub announces nothing): a new session may answer what failed.
        now = self._clock.now()
        for item in self._outbox.values():
            item.not_before = now
        for task in list(self._sleeping):
            task.cancel()
            for key, drainer in list(self._drainers.items()):
                if drainer is task:
                    del self._drainers[key]
        for key in list(self._outbox):
            self._kick(key)

    # ---- downstream: cloud -> edged --------------------------------------------------

    async def _forward_downstream(self, msg: Message) -> None:
        route = msg.route
        if msg.header.parent_msg_id:
            return  # a reply nobody waited for; EdgeHub logged it
        parts = route.resource.split("/")
        if len(parts) != 3 or (parts[1] not in FORWARDED_TYPES
                               and parts[1] not in NODE_NETWORK_TYPES):
            return
        namespace, kind, name = parts
        op = route.operation
        out = msg.copy()
        target = MODULE_NODE_NETWORK if kind in NODE_NETWORK_TYPES else MODULE_EDGED
        if target == MODULE_NODE_NETWORK and target not in self._bus.modules():
            return  # no pod networking on this edge (edged off): nothing to tell
        out.route.destination = target
        if op in (OP_INSERT, OP_UPDATE, OP_PATCH):
            row = await self._store.get(route.resource)
            if row is None:
                return  # deleted since; its delete goes (or went) to edged
            obj = json.loads(row.value)
            out.route.operation = OP_INSERT if op == OP_INSERT else OP_UPDATE
            out.content = obj
            out.header.resource_version = _meta_field(obj, "resourceVersion")
        elif op == OP_DELETE:
            uid = _meta_field(msg.content, "uid")
            row = await self._store.get(route.resource)
            if row is not None and (not uid or _stored_uid(row) == uid):
                # MetaStore.apply_delete kept the row (a newer version, or another
                # incarnation's uid): nothing edged runs is gone.
                log.info("metamanager: %s delete not applied (stored object kept)",
                         route.resource)
                return
            if kind == RESOURCE_POD:
                await self._forget_pod(namespace, name, uid)
        else:
            return
        try:
            await self._bus.send(out, target)
            self.forwarded += 1
        except BusError as exc:
            log.warning("metamanager: %s %s not delivered to %s: %s", out.route.operation,
                        route.resource, target, exc)

    async def _forget_pod(self, namespace: str, name: str, uid: str) -> None:
        """The cloud removed the pod: nothing kept for it upstream is needed any more,
        nor its stored status (KubeEdge drops the podpatch row with the pod)."""
        for key, item in list(self._outbox.items()):
            if item.pod_key == f"{namespace}/{RESOURCE_POD}/{name}" and (
                    not uid or item.uid == uid):
                del self._outbox[key]
        status_key = f"{namespace}/{RESOURCE_PODSTATUS}/{name}"

        def drop_status(conn: Any) -> bool:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (status_key,)).fetchone()
            if row is None:
                return False
            try:
                stored = json.loads(row[0]).get("UID") or ""
            except (ValueError, AttributeError):
                stored = ""
            if uid and stored and stored != uid:
                return False
            conn.execute("DELETE FROM meta WHERE key = ?", (status_key,))
            return True

        try:
            await self._store.transaction(drop_status)
        except MetaStoreError as exc:
            log.warning("metamanager: status row %s not dropped: %s", status_key, exc)

    # ---- local requests: edged -> metamanager ------------------------------------------

    async def _handle_local(self, msg: Message) -> None:
        op = msg.route.operation
        try:
            key = parse_edge_resource(msg.route.resource, op)
        except ResourceError as exc:
            self._reply_error(msg, str(exc))
            return
        kind = key.resource_type
        if kind == RESOURCE_EVENT and op in (OP_INSERT, OP_UPDATE, OP_PATCH):
            await self._send_event(msg)
        elif op == OP_QUERY:
            if kind in REMOTE_OBJECT_TYPES and key.name:
                self._spawn(self._query_object(msg, key), "metamanager-query")
            elif kind == RESOURCE_SERVICEACCOUNTTOKEN and key.name:
                self._spawn(self._query_token(msg, key), "metamanager-token")
            else:
                self._spawn(self._query_local(msg, key), "metamanager-local-query")
        elif kind == RESOURCE_PODSTATUS and op == OP_UPDATE and key.name:
            self._pod_status(msg, key)
        elif kind == RESOURCE_POD and op == OP_DELETE and key.name:
            self._pod_delete(msg, key)
        elif kind == RESOURCE_POD and op == OP_INSERT and key.name:
            self._pod_create(msg, key)
        else:
            self._reply_error(msg, f"metamanager: {op} of {kind} from {msg.route.source} "
                                   "is not supported")

    def _reply(self, request: Message, content: Any) -> None:
        if not request.header.sync:
            return
        reply = new_respond_message(request, content)
        reply.route.source = MODULE_METAMANAGER
        self._bus.send_resp(reply)

    def _reply_error(self, request: Message, text: str) -> None:
        log.debug("metamanager: %s %s: %s", request.route.operation, request.route.resource,
                  text)
        if not request.header.sync:
            return
        reply = new_error_message(request, text)
        reply.route.source = MODULE_METAMANAGER
        reply.route.group = request.route.group
        self._bus.send_resp(reply)

    # -- queries --

    async def _query_local(self, msg: Message, key: ResourceKey) -> None:
        """KubeEdge's processQuery: by type when there is no name, else by key; the reply
        a list of JSON strings."""
        try:
            if key.name:
                row = await self._store.get(key.edge)
                rows = [row] if row is not None else []
            else:
                rows = await self._store.query(type=key.resource_type)
        except MetaStoreError as exc:
            self._reply_error(msg, f"failed to query meta in DB: {exc}")
            return
        self._reply(msg, [row.value for row in rows])

    async def _ask_cloud(self, request: Message, *, acknowledge: bool = True,
                         raw: list[Message] | None = None) -> tuple[str, Any]:
        """(outcome, content) of asking the cloud what `request` asks. The answer is
        acknowledged at once unless `acknowledge` is False: then the caller does it
        (`_acknowledge_last`) once the answer is cached. The reply itself is appended to
        `raw` when given."""
        up = build_message(GROUP_META, "", request.route.source or MODULE_EDGED,
                           request.route.resource, request.route.operation, request.content)
        try:
            reply = await self._bus.send_sync(self.settings.context_send_module, up,
                                              self.settings.remote_query_timeout)
        except BusError as exc:
            return _Outcome.LOST, str(exc)
        if raw is not None:
            raw.append(reply)
        if reply.route.operation != OP_ERROR and reply.content != MESSAGE_OK:
            if acknowledge:
                await self._acknowledge(reply)
            else:
                self._unacknowledged[request.header.msg_id] = reply
        if reply.route.operation == OP_ERROR:
            # EdgeHub answers an `error` without a source for a request whose session
            # ended (hub.py `_fail_unanswered`); the cloud's errors carry its module.
            if not reply.route.source:
                return _Outcome.LOST, _error_text(reply.content)
            return _Outcome.ERROR, _error_text(reply.content)
        failure = _object_resp_error(reply.content)
        if failure is not None:
            return _Outcome.ERROR, failure
        content = reply.content
        if isinstance(content, dict) and "Object" in content and "Err" in content:
            content = content["Object"]
        return _Outcome.OK, content

    async def _acknowledge(self, reply: Message) -> None:
        """KubeEdge's feedbackResponse: the cloud's answer is acknowledged like any
        object it sends (`response` "OK" with parent_msg_id = the answer's id). CloudHub
        keeps an answer carrying an object in its per-node ACK queue, which sends one
        message at a time: an answer never acknowledged holds back every later object
        for that node until its resends run out (spec §3 "ACK")."""
        ack = new_respond_message(reply, MESSAGE_OK)
        try:
            await self._bus.send_to_group(self.settings.context_send_group, ack)
        except BusError as exc:
            log.info("metamanager: answer %s not acknowledged: %s", reply.header.msg_id, exc)

    async def _acknowledge_last(self, request: Message) -> None:
        reply = self._unacknowledged.pop(request.header.msg_id, None)
        if reply is not None:
            await self._acknowledge(reply)

    async def _query_object(self, msg: Message, key: ResourceKey) -> None:
        resource = key.edge
        why = ERR_NOT_CONNECTED
        if self.online:
            self.remote_queries += 1
            outcome, content = await self._ask_cloud(msg, acknowledge=False)
            if outcome == _Outcome.OK and isinstance(content, dict):
                stored = await self._cache_object(resource, key.resource_type, content)
                await self._acknowledge_last(msg)  # after the cache write (rule 5)
                self._reply(msg, stored)
                return
            await self._acknowledge_last(msg)
            if outcome == _Outcome.ERROR and _is_not_found(str(content)):
                await self._forget_object(resource)
                self._reply(msg, [])
                return
            why = f"the cloud did not answer: {content}" if outcome == _Outcome.LOST else (
                f"the cloud refused: {content}")
            log.warning("metamanager: query %s: %s; answering from the edge database",
                        resource, why)
        try:
            row = await self._store.get(resource)
            if row is not None:
                self.cache_answers += 1
                self._reply(msg, [row.value])
                return
            known = await self._store.version(resource)
        except MetaStoreError as exc:
            self._reply_error(msg, f"failed to query meta in DB: {exc}")
            return
        if known is not None and known.deleted:
            self._reply(msg, [])  # the edge knows it was deleted
            return
        self._reply_error(msg, f"{resource} is not in the edge database and cannot be "
                               f"fetched: {why}")

    async def _cache_object(self, resource: str, kind: str, obj: Obj) -> Obj:
        """Store a query answer (newest resourceVersion wins, as for EdgeHub's writes);
        the object the database then holds."""
        value = json.dumps(obj, separators=(",", ":"))
        rv = _meta_field(obj, "resourceVersion")
        try:
            if rv:
                stored = await self._store.apply_update(resource, kind, value, rv)
                if not stored:
                    row = await self._store.get(resource)
                    if row is not None:
                        return json.loads(row.value)
            else:
                await self._store.upsert(resource, kind, value)
        except (MetaStoreError, ValueError) as exc:
            log.warning("metamanager: answer for %s not cached: %s", resource, exc)
        return obj

    async def _forget_object(self, resource: str) -> None:
        try:
            await self._store.apply_delete(resource)
        except (MetaStoreError, ValueError) as exc:
            log.warning("metamanager: %s not dropped from the cache: %s", resource, exc)

    async def _query_token(self, msg: Message, key: ResourceKey) -> None:
        request = msg.content if isinstance(msg.content, dict) else {}
        cache_key = token_key(key.name, key.namespace, request)
        now = self._wall()
        cached: Obj | None = None
        cached_text = ""
        try:
            row = await self._store.get(cache_key)
        except MetaStoreError as exc:
            log.warning("metamanager: token cache read failed: %s", exc)
            row = None
        if row is not None:
            with contextlib.suppress(ValueError):
                cached, cached_text = json.loads(row.value), row.value
        if cached is not None and not requires_refresh(cached, now):
            self.cache_answers += 1
            self._reply(msg, [cached_text])
            return
        why = ERR_NOT_CONNECTED
        if self.online:
            self.remote_queries += 1
            outcome, content = await self._ask_cloud(msg, acknowledge=False)
            if outcome == _Outcome.OK and isinstance(content, dict):
                try:
                    await self._store.upsert(cache_key, RESOURCE_SERVICEACCOUNTTOKEN,
                                             json.dumps(content, separators=(",", ":")))
                except MetaStoreError as exc:
                    log.warning("metamanager: token for %s not cached: %s", key.edge, exc)
                await self._acknowledge_last(msg)
                self._reply(msg, content)
                return
            await self._acknowledge_last(msg)
            why = str(content)
        expiry = _token_expiry(cached) if cached is not None else None
        if cached is not None and expiry is not None and expiry > now:
            # Offline: a token past its refresh point but not expired beats none.
            self.cache_answers += 1
            self._reply(msg, [cached_text])
            return
        self._reply_error(msg, f"service account token {key.edge}: no valid token in the "
                               f"edge database and none from the cloud: {why}")

    # -- pod status --

    def _pod_status(self, msg: Message, key: ResourceKey) -> None:
        content = msg.content
        if not isinstance(content, dict) or not isinstance(content.get("Status"), dict):
            self._reply_error(msg, f"{key.edge}: content must be a pod status request "
                                   '{"UID", "Name", "Status"}')
            return
        self._seq += 1
        item = _Upstream(
            key=f"status:{key.edge}", resource=key.edge, operation=OP_UPDATE,
            content=content, source=msg.route.source or MODULE_EDGED,
            pod_key=f"{key.namespace}/{RESOURCE_POD}/{key.name}",
            uid=str(content.get("UID") or ""), seq=self._seq)
        # Started now, so status writes commit in the order edged sent them.
        write = asyncio.ensure_future(self._store.upsert(
            key.edge, RESOURCE_PODSTATUS, json.dumps(content, separators=(",", ":"))))
        self._spawn(self._status_stored(msg, item, write), "metamanager-status")

    async def _status_stored(self, msg: Message, item: _Upstream,
                             write: asyncio.Future[None]) -> None:
        try:
            await write
        except MetaStoreError as exc:
            # Not stored: still worth sending (the cloud is the record), but edged hears.
            log.error("metamanager: pod status %s not stored: %s", item.resource, exc)
            self._enqueue(item)
            self._reply_error(msg, f"pod status {item.resource} not stored: {exc}")
            return
        self._enqueue(item)
        self._reply(msg, MESSAGE_OK)

    # -- pod delete --

    def _pod_delete(self, msg: Message, key: ResourceKey) -> None:
        content = msg.content if isinstance(msg.content, dict) else {}
        uid = str((content.get("preconditions") or {}).get("uid") or "")
        if not uid:
            self._reply_error(msg, f"{key.edge}: a pod delete from the edge needs the uid "
                                   "precondition (preconditions.uid)")
            return
        self._seq += 1
        self._enqueue(_Upstream(
            key=f"delete:{key.edge}:{uid}", resource=key.edge, operation=OP_DELETE,
            content=content, source=msg.route.source or MODULE_EDGED, pod_key=key.edge,
            uid=uid, seq=self._seq))
        self._spawn(self._drop_tokens(uid), "metamanager-drop-tokens")
        self._reply(msg, MESSAGE_OK)

    # -- mirror pods --

    def _pod_create(self, msg: Message, key: ResourceKey) -> None:
        content = msg.content
        if not isinstance(content, dict) or not isinstance(content.get("metadata"), dict):
            self._reply_error(msg, f"{key.edge}: content must be the pod to create")
            return
        self._seq += 1
        item = _Upstream(
            key=f"create:{key.edge}", resource=key.edge, operation=OP_INSERT,
            content=content, source=msg.route.source or MODULE_EDGED, pod_key=key.edge,
            uid="", seq=self._seq)
        current = self._outbox.get(item.key)
        if current is not None:
            item.waiters = current.waiters  # a resend of edged's: answer them all
        if self.online:
            if msg.header.sync:
                item.waiters.append(msg)
        else:
            # Taken: it goes when the cloud is back (see the module docstring).
            self._reply(msg, MESSAGE_OK)
        self._enqueue(item)

    def _answer_waiters(self, item: _Upstream, reply: Message | None) -> None:
        # The list may be shared with a newer copy of the request (`_pod_create`).
        waiters = list(item.waiters)
        item.waiters.clear()
        for request in waiters:
            if reply is None:
                self._reply(request, MESSAGE_OK)  # kept; sent on reconnect
            elif reply.route.operation == OP_ERROR:
                self._reply_error(request, _error_text(reply.content))
            else:
                self._reply(request, reply.content)

    async def _drop_tokens(self, pod_uid: str) -> None:
        """KubeEdge's DeleteServiceAccountToken: cached tokens bound to the pod go."""
        try:
            rows = await self._store.query(type=RESOURCE_SERVICEACCOUNTTOKEN)
            for row in rows:
                try:
                    token = json.loads(row.value)
                except ValueError:
                    continue
                ref = ((token.get("spec") or {}).get("boundObjectRef") or {})
                if ref.get("uid") == pod_uid:
                    await self._store.delete(row.key)
        except MetaStoreError as exc:
            log.warning("metamanager: tokens of pod %s not dropped: %s", pod_uid, exc)

    # -- events --

    async def _send_event(self, msg: Message) -> None:
        if not self.online:
            self.events_dropped += 1
            log.debug("metamanager: event %s dropped: %s", msg.route.resource,
                      ERR_NOT_CONNECTED)
        else:
            up = msg.copy()
            up.header.sync = False
            try:
                sent = await self._bus.send_to_group(self.settings.context_send_group, up)
            except BusError as exc:
                sent = 0
                log.warning("metamanager: event %s not sent: %s", msg.route.resource, exc)
            if sent:
                self.events_sent += 1
            else:
                self.events_dropped += 1
        self._reply(msg, MESSAGE_OK)

    # ---- upstream queue ------------------------------------------------------------

    def _enqueue(self, item: _Upstream) -> None:
        current = self._outbox.get(item.key)
        if current is not None:
            if current.seq > item.seq:
                return  # a newer one is already kept
            # Newest per pod; the back-off the cloud earned stays.
            item.attempts, item.not_before = current.attempts, current.not_before
        self._outbox[item.key] = item
        self._kick(item.key)

    def _kick(self, key: str) -> None:
        if not self.online or key not in self._outbox:
            return
        task = self._drainers.get(key)
        if task is not None and not task.done():
            return
        self._drainers[key] = asyncio.create_task(self._drain(key), name=f"metamanager {key}")

    async def _drain(self, key: str) -> None:
        me = asyncio.current_task()
        try:
            while self.online:
                item = self._outbox.get(key)
                if item is None:
                    return
                delay = item.not_before - self._clock.now()
                if delay > 0:
                    if me is not None:
                        self._sleeping.add(me)
                    try:
                        await self._clock.sleep(delay)
                    finally:
                        self._sleeping.discard(me)  # type: ignore[arg-type]
                    continue
                async with self._slots:
                    if not self.online or self._outbox.get(key) is not item:
                        continue
                    outcome, detail = await self._send_upstream(item)
                await self._settle(key, item, outcome, detail)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("metamanager: upstream %s failed", key)
        finally:
            if self._drainers.get(key) is me:
                del self._drainers[key]

    async def _send_upstream(self, item: _Upstream) -> tuple[str, str]:
        msg = build_message(GROUP_META, "", item.source, item.resource, item.operation,
                            item.content)
        raw: list[Message] = []
        outcome, content = await self._ask_cloud(msg, raw=raw)
        if item.operation == OP_INSERT:
            self._answer_waiters(item, raw[0] if raw and outcome != _Outcome.LOST else None)
        if outcome == _Outcome.OK and content not in (MESSAGE_OK, None) and not isinstance(
                content, dict):
            log.debug("metamanager: %s %s answered %r", item.operation, item.resource, content)
        return outcome, str(content)

    async def _settle(self, key: str, item: _Upstream, outcome: str, detail: str) -> None:
        current = self._outbox.get(key)
        if outcome == _Outcome.OK:
            if item.operation == OP_DELETE:
                self.deletes_sent += 1
            elif item.operation == OP_INSERT:
                self.mirrors_sent += 1
            else:
                self.statuses_sent += 1
            if current is item:
                del self._outbox[key]
            elif current is not None:
                current.attempts, current.not_before = 0, 0.0
            return
        if outcome == _Outcome.ERROR:
            self.upstream_errors += 1
            log.warning("metamanager: the cloud refused %s %s (try %d): %s", item.operation,
                        item.resource, item.attempts + 1, detail)
            if item.operation == OP_INSERT:
                # A refused create (it exists, or the node may not create it) is edged's
                # to judge (it was answered); trying again cannot change the answer.
                if current is item:
                    del self._outbox[key]
                return
            if current is item and await self._moot(item):
                log.info("metamanager: %s of %s dropped: pod %s is no longer on this edge",
                         item.operation, item.resource, item.uid)
                # `_moot` awaited: the entry may have been replaced or dropped meanwhile.
                if self._outbox.get(key) is item:
                    del self._outbox[key]
                return
        else:
            self.upstream_lost += 1
            log.info("metamanager: no answer to %s %s: %s", item.operation, item.resource,
                     detail)
        if current is None:
            return
        current.attempts = max(current.attempts, item.attempts) + 1
        current.not_before = self._clock.now() + self.settings.backoff(current.attempts)

    async def _moot(self, item: _Upstream) -> bool:
        """Whether the pod this request is about is gone from the edge database: the
        cloud removed it (only its delete removes a pod row), so retrying cannot help."""
        try:
            row = await self._store.get(item.pod_key)
        except MetaStoreError:
            return False
        return row is None or (bool(item.uid) and _stored_uid(row) != item.uid)

