"""MetaClient: how edged reads and reports through MetaManager (spec §6 "Edged").

Owns the requests edged puts on the ModuleBus for module `metamanager` (group `meta`,
source `edged`), shaped as KubeEdge's edge/pkg/metamanager/client builds them, and the
decoding of MetaManager's replies: a list of JSON strings when answered from the edge
database, the object itself when the cloud answered, operation `error` with the reason
otherwise. Edged never opens the database itself.

Must never import anything beyond `messaging/` and the standard library (rule 9).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kubeedge.messaging.bus import BusError, ModuleBus
from kubeedge.messaging.message import (
    GROUP_META,
    MODULE_EDGED,
    MODULE_METAMANAGER,
    OP_DELETE,
    OP_ERROR,
    OP_INSERT,
    OP_QUERY,
    OP_UPDATE,
    Message,
    build_message,
)
from kubeedge.messaging.resource import (
    DEFAULT_REGISTER_NODE_NAMESPACE,
    RESOURCE_CONFIGMAP,
    RESOURCE_EVENT,
    RESOURCE_POD,
    RESOURCE_PODSTATUS,
    RESOURCE_SECRET,
    RESOURCE_SERVICEACCOUNTTOKEN,
)

__all__ = ["MetaClient", "MetaUnavailable", "pod_delete_options", "pod_status_request"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class MetaUnavailable(Exception):
    """Not in the edge DB and the cloud cannot be asked now."""


def _meta(obj: Obj) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def pod_status_request(pod: Obj, status: Obj) -> Obj:
    """KubeEdge's PodStatusRequest (common/types): Go field names, no JSON tags."""
    meta = _meta(pod)
    return {"UID": str(meta.get("uid") or ""), "Name": str(meta.get("name") or ""),
            "Status": status}


def pod_delete_options(pod: Obj) -> Obj:
    """The DeleteOptions edged sends when a terminating pod is gone from the edge: now,
    and only this incarnation (kubelet's status manager deletes with grace 0 and the
    uid precondition)."""
    return {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
            "preconditions": {"uid": str(_meta(pod).get("uid") or "")}}


def _decode(content: Any) -> list[Obj]:
    """Objects of a MetaManager reply: a list of JSON strings (the database's form), a
    list of objects, one object, or KubeEdge's ObjectResp."""
    if isinstance(content, dict):
        if "Object" in content and "Err" in content:
            obj = content.get("Object")
            return [obj] if isinstance(obj, dict) else []
        return [content]
    if isinstance(content, bytes | bytearray):
        content = bytes(content).decode()
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            raise MetaUnavailable(f"unreadable reply from metamanager: {content!r}") from None
        return _decode(content)
    if content is None:
        return []
    if not isinstance(content, list):
        raise MetaUnavailable(f"unreadable reply from metamanager: {content!r}")
    objects: list[Obj] = []
    for item in content:
        if isinstance(item, str | bytes | bytearray):
            try:
                item = json.loads(item)
            except ValueError:
                raise MetaUnavailable(
                    f"unreadable object in metamanager's reply: {item!r}") from None
        if isinstance(item, dict):
            objects.append(item)
    return objects


class MetaClient:
    """edged's view of the edge database and the cloud, through MetaManager.

    Every call is a `send_sync` to module `metamanager` bounded by `timeout` seconds.
    MetaManager asks the cloud for at most `modules.metaManager.remoteQueryTimeout`, so
    give this a longer timeout than that when edged must see the cache fall-back.
    """

    def __init__(self, bus: ModuleBus, *, timeout: float = 10.0,
                 source: str = MODULE_EDGED) -> None:
        self._bus = bus
        self.timeout = timeout
        self.source = source

    async def _ask(self, resource: str, operation: str, content: Any = None) -> Message:
        msg = build_message(GROUP_META, "", self.source, resource, operation, content)
        try:
            reply = await self._bus.send_sync(MODULE_METAMANAGER, msg, self.timeout)
        except BusError as exc:
            raise MetaUnavailable(f"{operation} {resource}: metamanager did not answer: "
                                  f"{exc}") from None
        if reply.route.operation == OP_ERROR:
            raise MetaUnavailable(f"{operation} {resource}: {reply.content}")
        return reply

    async def list_pods(self) -> list[Obj]:
        """Every pod stored for this node, from the DB (edged's `default/pod` query at
        start, spec §6 "Autonomy": a list query is by type, across namespaces)."""
        reply = await self._ask(f"{DEFAULT_REGISTER_NODE_NAMESPACE}/{RESOURCE_POD}", OP_QUERY)
        return _decode(reply.content)

    async def _get(self, kind: str, namespace: str, name: str) -> Obj | None:
        reply = await self._ask(f"{namespace}/{kind}/{name}", OP_QUERY)
        objects = _decode(reply.content)
        return objects[0] if objects else None

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        """The ConfigMap; None when it does not exist (the cloud said so, or the edge
        saw it deleted); `MetaUnavailable` when offline and never cached."""
        return await self._get(RESOURCE_CONFIGMAP, namespace, name)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return await self._get(RESOURCE_SECRET, namespace, name)

    async def get_service_account_token(self, namespace: str, service_account: str,
                                        request: Obj) -> Obj:
        """A TokenRequest for `service_account` (its `status.token`): the cached one while
        it needs no refresh, else a new one from the cloud."""
        reply = await self._ask(
            f"{namespace}/{RESOURCE_SERVICEACCOUNTTOKEN}/{service_account}", OP_QUERY, request)
        objects = _decode(reply.content)
        if not objects:
            raise MetaUnavailable(f"no token for service account {namespace}/"
                                  f"{service_account}")
        return objects[0]

    async def update_pod_status(self, pod: Obj, status: Obj) -> None:
        """Stored in the DB and sent to the cloud (kept, newest per pod, while offline).
        Raises `MetaUnavailable` only if MetaManager could not take it, never because
        the cloud is unreachable."""
        meta = _meta(pod)
        namespace = str(meta.get("namespace") or "default")
        await self._ask(f"{namespace}/{RESOURCE_PODSTATUS}/{meta.get('name')}", OP_UPDATE,
                        pod_status_request(pod, status))

    async def confirm_pod_deleted(self, pod: Obj) -> None:
        """The edge stopped everything of this terminating pod: the cloud deletes it, this
        incarnation only (queued while offline)."""
        meta = _meta(pod)
        namespace = str(meta.get("namespace") or "default")
        await self._ask(f"{namespace}/{RESOURCE_POD}/{meta.get('name')}", OP_DELETE,
                        pod_delete_options(pod))

    async def send_event(self, event: Obj) -> None:
        """A core/v1 Event for the cloud, best effort: never waits for the cloud, never
        raises (KubeEdge's CreateWithEventNamespace)."""
        meta = _meta(event)
        namespace = str(meta.get("namespace") or "default")
        msg = build_message(GROUP_META, "", self.source,
                            f"{namespace}/{RESOURCE_EVENT}/{meta.get('name')}", OP_INSERT,
                            event)
        try:
            self._bus.send_nowait(msg, MODULE_METAMANAGER)
        except BusError as exc:
            log.debug("event %s/%s dropped: %s", namespace, meta.get("name"), exc)
