"""Summaries cloudcore sends every connected edge: the delivery both of ours share.

`routes.py` (`noderoutes`: the other edges' pod networks) and `hosts.py`
(`clusterhosts`: the cluster's headless Service and pod names) each condense what an
edge may not list itself into one message per edge. Both go the same way, owned here:

- route: source `edgecontroller`, group `resource`, operation `update`, resource
  `node/<edge>/null/<type>/<edge>`;
- header.resourceversion: the newest API revision the summary reflects (it only grows,
  so the edge database keeps the newest summary when an older one is resent);
- content: `{"apiVersion": "v1", "kind": <kind>, "metadata": {"name": <edge>,
  "resourceVersion": <rv>}, <field>: [...]}` plus what the summary adds. No
  `metadata.uid`: not an API object, so CloudHub reports no ObjectSync for it and its
  ACK key is the message id;
- sent to an edge when it connects, and to every connected edge whose summary changed
  after a change (coalesced: computed once `delay` seconds after the first change); an
  edge that is away gets nothing until it connects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubeedge.cloud.edgecontroller.messages import object_message
from kubeedge.messaging.message import OP_UPDATE, Message
from kubeedge.messaging.resource import NULL_NAMESPACE, ResourceError

__all__ = ["EdgeSummary"]

log = logging.getLogger(__name__)


def resource_version(value: Any) -> int:
    try:
        return int(str(value or "0"))
    except ValueError:
        return 0


class EdgeSummary:
    """Informer handlers (in subclasses) plus CloudHub's connect events in, one message
    per connected edge out through `outbox`. `version()` is the informers' newest
    resourceVersion. Run `run()` as a task; `flush()` sends what changed now (tests)."""

    kind = ""           # content kind
    resource_type = ""  # the resource string's type segment
    field = ""          # the content's list

    def __init__(self, outbox: Callable[[Message], None],
                 version: Callable[[], str] = lambda: "", *, delay: float = 0.0) -> None:
        self.outbox = outbox
        self.version = version
        self.delay = delay
        self.connected: set[str] = set()
        self.sent: dict[str, Any] = {}
        self.messages = 0
        self._newest = 0
        self._dirty = asyncio.Event()

    # -- for subclasses --

    def saw(self, obj: Mapping[str, Any]) -> None:
        """An object of the summarised kinds went by (its revision counts)."""
        self._newest = max(self._newest, resource_version(
            (obj.get("metadata") or {}).get("resourceVersion")))

    def changed(self) -> None:
        self._dirty.set()

    def prepare(self) -> Any:
        """Computed once per flush, handed to every `content_for`."""
        return None

    def content_for(self, node: str, prepared: Any) -> tuple[Any, dict[str, Any]]:
        """(the summary's list for `node`, extra content fields)."""
        raise NotImplementedError

    # -- connections --

    def on_connected(self, node: str) -> None:
        self.connected.add(node)
        self.sent.pop(node, None)  # whatever it had, it gets the summary again
        self._dirty.set()

    def on_disconnected(self, node: str) -> None:
        self.connected.discard(node)
        self.sent.pop(node, None)

    # -- output --

    def flush(self) -> int:
        """Send every connected edge whose summary changed its new one; how many."""
        if not self.connected:
            return 0
        prepared = self.prepare()
        version = str(max(resource_version(self.version()), self._newest))
        count = 0
        for node in sorted(self.connected):
            items, extra = self.content_for(node, prepared)
            if self.sent.get(node) == items:
                continue
            body: dict[str, Any] = {
                "apiVersion": "v1", "kind": self.kind,
                "metadata": {"name": node, "resourceVersion": version},
                self.field: items, **extra}
            try:
                msg = object_message(node, self.resource_type, body, OP_UPDATE,
                                     namespace=NULL_NAMESPACE)
            except ResourceError as exc:
                log.warning("edgecontroller: no %s for node %s: %s", self.resource_type,
                            node, exc)
                continue
            self.outbox(msg)
            self.sent[node] = items
            self.messages += 1
            count += 1
        return count

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            # Let a burst (an informer relist, a rollout's updates) settle.
            await asyncio.sleep(self.delay)
            self._dirty.clear()
            try:
                self.flush()
            except Exception:
                log.exception("edgecontroller: %s not sent", self.resource_type)
