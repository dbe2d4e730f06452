"""One node's downstream queues: which messages need an ACK, and the stores that hold them.

Owns KubeEdge's `NodeMessagePool` and the dispatcher's enqueue rules
(cloudhub/common/message_pool.go, dispatcher/message_dispatcher.go; specs/kubeedge.md §3
"Per-node queues", "Enqueue rule"): an ack store keyed by object UID that keeps only the
newest version of each object, a FIFO of keys ready to send with client-go's rate-limited
re-queue after a message ran out of resends, and a no-ack FIFO. Must never write to the
network or the bus: `session.py` drains it.

Differences from KubeEdge, on purpose:
- The ObjectSync lookup at enqueue (rule 3 of spec §3) is not done here: CloudHub has no
  API access of its own. It keeps the acknowledged resourceVersion of each key for the
  pool's lifetime instead, and SyncController's reconcile covers the rest.
- An acknowledged message leaves the store (only its resourceVersion is kept), so a
  node's memory is one RV string per object rather than one whole object.
- Ack-path messages whose content has no `metadata.uid` (lists, non-resource groups)
  are keyed by msg_id rather than dropped.
- A pool outlives its session (see `SessionManager`), and both stores are bounded by
  `nodeMessageQueueSize`: the oldest no-ack message is dropped, a new ack key is refused.
"""

from __future__ import annotations

import collections
import enum
from typing import Any

from kubeedge.cloud.hub import protocol
from kubeedge.cloud.synccontroller.objectsync import parse_resource_version
from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    GROUP_USER,
    MESSAGE_OK,
    MODULE_EDGECONTROLLER,
    OP_CONTROLLER_PUBLISH_VOLUME,
    OP_CONTROLLER_UNPUBLISH_VOLUME,
    OP_CREATE_VOLUME,
    OP_DELETE,
    OP_DELETE_VOLUME,
    OP_DELETED,
    OP_DELTA,
    OP_DOCUMENT,
    OP_ERROR,
    OP_GET,
    OP_RESPONSE,
    OP_UPDATE,
    SOURCE_EDGE_MANAGER,
    Message,
)
from kubeedge.messaging.resource import (
    RESOURCE_CSR,
    RESOURCE_K8S_CA,
    RESOURCE_LEASE,
    RESOURCE_MEMBERSHIP,
    RESOURCE_NODE,
    RESOURCE_NODEPATCH,
    RESOURCE_POD,
    RESOURCE_PODLIST,
    RESOURCE_PODPATCH,
    RESOURCE_PODSTATUS,
    RESOURCE_SERVICEACCOUNTTOKEN,
    RESOURCE_TWIN_CLOUD_UPDATED,
)

__all__ = [
    "Enqueued",
    "NodeMessagePool",
    "RateLimiter",
    "compare_resource_version",
    "is_delete_message",
    "is_node_stopped",
    "is_to_edge",
    "needs_ack",
    "object_meta",
    "resource_type_of",
]

_VOLUME_OPS = frozenset({OP_CREATE_VOLUME, OP_DELETE_VOLUME, OP_CONTROLLER_PUBLISH_VOLUME,
                         OP_CONTROLLER_UNPUBLISH_VOLUME})
# EdgeController resource types that never need an ACK (dispatcher `noAckRequired`).
_EDGECONTROLLER_NOACK = frozenset({RESOURCE_LEASE, RESOURCE_NODEPATCH, RESOURCE_PODPATCH,
                                   RESOURCE_PODSTATUS, RESOURCE_CSR})


def object_meta(msg: Message) -> dict[str, Any]:
    """`metadata` of the object a message carries, or {} when it carries none."""
    content = msg.content
    if isinstance(content, dict):
        meta = content.get("metadata")
        if isinstance(meta, dict):
            return meta
    return {}


def resource_type_of(resource: str) -> str:
    """messagelayer.GetResourceType: the type segment of `node/<n>/<ns>/<type>[/<name>]`
    ("" when the resource is not of that form)."""
    parts = resource.split("/")
    return parts[3] if len(parts) >= 4 and parts[0] == RESOURCE_NODE else ""


def _edge_part(resource: str) -> str:
    """The resource with `node/<n>/` removed (model.IsToEdge does the same)."""
    if resource.startswith(RESOURCE_NODE):
        parts = resource.split("/")
        if len(parts) >= 3:
            return "/".join(parts[2:])
    return resource


def is_to_edge(msg: Message) -> bool:
    """cloudhub model `IsToEdge`: a few edge-manager messages stay in the cloud."""
    if msg.route.source != SOURCE_EDGE_MANAGER:
        return True
    resource = _edge_part(msg.route.resource)
    operation = msg.route.operation
    held = ((RESOURCE_MEMBERSHIP, (OP_GET,)), ("twin", (OP_DELTA, OP_DOCUMENT, OP_GET)),
            ("auth_info", (OP_GET,)), (RESOURCE_NODE, (OP_DELETED,)))
    return not any(operation in ops and res in resource for res, ops in held)


def is_delete_message(msg: Message) -> bool:
    """dispatcher `isDeleteMessage`: a delete, or an object with a deletionTimestamp."""
    return msg.route.operation == OP_DELETE or bool(object_meta(msg).get("deletionTimestamp"))


def is_node_stopped(msg: Message) -> bool:
    """cloudhub model `IsNodeStopped`: the Node itself was deleted."""
    return (resource_type_of(msg.route.resource) == RESOURCE_NODE
            and msg.route.operation == OP_DELETE)


def needs_ack(msg: Message) -> bool:
    """The negation of KubeEdge's `noAckRequired` (spec §3 "NoAck store")."""
    resource = msg.route.resource
    operation = msg.route.operation
    if (RESOURCE_PODLIST in resource or RESOURCE_MEMBERSHIP in resource
            or RESOURCE_TWIN_CLOUD_UPDATED in resource
            or RESOURCE_SERVICEACCOUNTTOKEN in resource or RESOURCE_K8S_CA in resource):
        return False
    if operation in _VOLUME_OPS or operation == protocol.OP_APPLICATION_RESPONSE:
        return False
    if msg.route.group == GROUP_USER or msg.route.source in (
            protocol.SOURCE_TASKMANAGER, protocol.SOURCE_NODEUPGRADEJOBCONTROLLER):
        return False
    if operation == OP_RESPONSE and msg.content == MESSAGE_OK:
        return False
    if operation == OP_ERROR:
        # KubeEdge: an `error` value as content is never acknowledged.
        return False
    if msg.route.source == MODULE_EDGECONTROLLER:
        rtype = resource_type_of(resource)
        if ((rtype == RESOURCE_NODE and operation != OP_UPDATE)
                or rtype in _EDGECONTROLLER_NOACK
                or (rtype == RESOURCE_POD and operation == OP_RESPONSE)):
            return False
    return True


def compare_resource_version(a: str, b: str) -> int:
    """synccontroller `CompareResourceVersion` (uint64 RVs, parsed as SyncController
    parses them); 1, 0 or -1.

    KubeEdge panics on a non-number; here a non-number sorts before every number and
    two non-numbers compare as text, so a bad RV can never displace a good one.
    """
    try:
        ia = parse_resource_version(a)
    except ValueError:
        ia = -1
    try:
        ib = parse_resource_version(b)
    except ValueError:
        ib = -1
    if ia == ib == -1:
        return (a > b) - (a < b)
    return (ia > ib) - (ia < ib)


class Enqueued(enum.Enum):
    QUEUED = "queued"
    STALE = "stale"  # not newer than what is queued or already acknowledged
    NO_RESOURCE_VERSION = "no-resource-version"  # ack path, not a delete, no RV
    FULL = "full"  # nodeMessageQueueSize reached
    REPLACED_OLDEST = "replaced-oldest"  # no-ack: queued, the oldest was dropped


class RateLimiter:
    """client-go's DefaultControllerRateLimiter: the larger of a per-key exponential
    back-off (base * 2^failures, capped) and an overall token bucket (qps, burst)."""

    def __init__(self, base: float, cap: float, qps: float, burst: int) -> None:
        self.base = base
        self.cap = cap
        self.qps = qps
        self.burst = burst
        self._failures: dict[str, int] = {}
        self._tokens = float(burst)
        self._last = 0.0

    def when(self, key: str, now: float) -> float:
        """Seconds until `key` may go out again, counting this failure."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        backoff = min(self.base * (2.0 ** min(n, 64)), self.cap)
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        bucket = -self._tokens / self.qps if self._tokens < 0 else 0.0
        return max(backoff, bucket)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)


class NodeMessagePool:
    """A node's ack store with its ready queue, and its no-ack queue.

    `limit` bounds each store (0 = unbounded). The session takes one ack message at a
    time (`next_ack`), and reports back with `acked`, `gave_up` or `returned`.
    """

    def __init__(self, node: str, limit: int, limiter: RateLimiter) -> None:
        self.node = node
        self.limit = limit
        self.limiter = limiter
        # key -> newest message for it
        self.ack_store: dict[str, Message] = {}
        # keys waiting to go out, in order, with the earliest time each may (0 = now)
        self.ack_ready: collections.OrderedDict[str, float] = collections.OrderedDict()
        # key -> resourceVersion the edge acknowledged (dropped when a delete is acked)
        self.acked_rv: dict[str, str] = {}
        self.in_flight: str | None = None
        self.noack: collections.deque[Message] = collections.deque()
        self.dropped = 0

    # -- enqueue (dispatcher enqueueAckMessage / enqueueNoAckMessage) --

    @staticmethod
    def ack_key(msg: Message) -> str:
        """AckMessageKeyFunc: the object's UID for group `resource`; else the msg_id."""
        if msg.route.group == GROUP_RESOURCE:
            uid = object_meta(msg).get("uid")
            if isinstance(uid, str) and uid:
                return uid
        return msg.header.msg_id

    def add_ack(self, msg: Message) -> Enqueued:
        rv = msg.header.resource_version
        deleting = is_delete_message(msg)
        if not rv and not deleting:
            return Enqueued.NO_RESOURCE_VERSION
        key = self.ack_key(msg)
        existing = self.ack_store.get(key)
        # Deletes and responses always go (the edge asked, or the object is gone).
        if not deleting and msg.route.operation != OP_RESPONSE:
            if existing is not None:
                if (is_delete_message(existing) or compare_resource_version(
                        rv, existing.header.resource_version) <= 0):
                    return Enqueued.STALE
            else:
                acked = self.acked_rv.get(key)
                if acked is not None and compare_resource_version(rv, acked) <= 0:
                    return Enqueued.STALE
        if existing is None and self.limit and len(self.ack_store) >= self.limit:
            self.dropped += 1
            return Enqueued.FULL
        self.ack_store[key] = msg
        if key != self.in_flight:
            # A newer version makes a key waiting out its back-off ready at once, as
            # workqueue.Add does for a key in AddRateLimited's delay.
            self.ack_ready[key] = 0.0
        return Enqueued.QUEUED

    def add_noack(self, msg: Message) -> Enqueued:
        outcome = Enqueued.QUEUED
        if self.limit and len(self.noack) >= self.limit:
            self.noack.popleft()
            self.dropped += 1
            outcome = Enqueued.REPLACED_OLDEST
        self.noack.append(msg)
        return outcome

    # -- the session's side --

    def next_ack(self, now: float) -> tuple[str | None, float | None]:
        """(key, None) for the first key ready to go (it is now in flight), else
        (None, the earliest time one will be, or None when nothing waits)."""
        if self.in_flight is not None:
            return None, None
        earliest: float | None = None
        for key, not_before in self.ack_ready.items():
            if not_before <= now:
                del self.ack_ready[key]
                self.in_flight = key
                return key, None
            earliest = not_before if earliest is None else min(earliest, not_before)
        return None, earliest

    def message(self, key: str) -> Message | None:
        return self.ack_store.get(key)

    def acked(self, key: str, sent: Message) -> None:
        """The edge acknowledged `sent` (the message in flight for `key`)."""
        self.in_flight = None
        self.limiter.forget(key)
        current = self.ack_store.get(key)
        if sent.route.operation == OP_DELETE:
            self.acked_rv.pop(key, None)
        elif sent.header.resource_version:
            self.acked_rv[key] = sent.header.resource_version
        if current is sent:
            del self.ack_store[key]
        elif current is not None:
            self.ack_ready[key] = 0.0  # a newer version came while this one was out

    def gave_up(self, key: str, now: float) -> float:
        """Resends ran out: back to the queue after the rate limiter's delay, which is
        returned (workqueue AddRateLimited)."""
        self.in_flight = None
        delay = self.limiter.when(key, now)
        if key in self.ack_store:
            self.ack_ready[key] = now + delay
        return delay

    def returned(self, key: str) -> None:
        """The session ended with `key` in flight: first in line for the next one."""
        if self.in_flight == key:
            self.in_flight = None
        if key in self.ack_store:
            self.ack_ready[key] = 0.0
            self.ack_ready.move_to_end(key, last=False)

    def clear(self) -> None:
        self.ack_store.clear()
        self.ack_ready.clear()
        self.acked_rv.clear()
        self.noack.clear()
        self.in_flight = None

    @property
    def ack_depth(self) -> int:
        return len(self.ack_store)

    @property
    def noack_depth(self) -> int:
        return len(self.noack)
