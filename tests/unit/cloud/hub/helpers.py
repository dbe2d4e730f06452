"""Message builders and a fake connection for CloudHub's unit tests."""

from __future__ import annotations

from typing import Any

from kubeedge.messaging.codec import decode_message
from kubeedge.messaging.message import Message, build_message


def pod(node: str, name: str, uid: str, rv: str, op: str = "update", *,
        deleting: bool = False, source: str = "edgecontroller") -> Message:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid,
                            "resourceVersion": rv}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    msg = build_message("resource", "", source, f"node/{node}/default/pod/{name}", op,
                        {"apiVersion": "v1", "kind": "Pod", "metadata": meta})
    return msg.set_resource_version(rv)


def noack(node: str, name: str = "cm") -> Message:
    """A lease reply: EdgeController's lease messages never need an ACK."""
    return build_message("resource", "", "edgecontroller", f"node/{node}/default/lease/{node}",
                         "response", {"metadata": {"name": node}})


class FakeConnection:
    """Records what the session writes and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, data: bytes) -> None:
        self.sent.append(decode_message(data))

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def ids(self) -> list[str]:
        return [m.header.msg_id for m in self.sent]
