"""An edge leaving the cluster (`keadm reset edge`, issue 6): EdgeController deletes a
node's own Lease (as the node) and its own Node (as cloudcore, since kube's node
authorizer gives a node no delete on Nodes), and nothing of another node's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.cloud.edgecontroller.access import EdgeAccess
from kubeedge.cloud.edgecontroller.locations import LocationCache
from kubeedge.cloud.edgecontroller.upstream import Upstream
from kubeedge.messaging.message import Message, build_message


class FakeClient:
    """Records deletes; answers 404 for names in `missing`."""

    def __init__(self, who: str, calls: list[tuple[str, str, str, str | None, Any]],
                 missing: set[str]) -> None:
        self.who = who
        self.calls = calls
        self.missing = missing

    async def delete(self, ref: Any, name: str, namespace: str | None = None, *,
                     preconditions: Any = None, **_: Any) -> dict[str, Any]:
        self.calls.append((self.who, ref.plural, name, namespace, preconditions))
        if name in self.missing:
            raise APIError({"kind": "Status", "code": 404, "reason": "NotFound",
                            "message": f'"{name}" not found'})
        return {"kind": "Status", "status": "Success"}


class FakeNodes:
    def __init__(self, calls: list[Any], missing: set[str]) -> None:
        self.calls = calls
        self.missing = missing

    def for_node(self, node: str) -> FakeClient:
        return FakeClient(f"system:node:{node}", self.calls, self.missing)


class Env:
    def __init__(self, missing: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str, str, str | None, Any]] = []
        self.replies: list[Message] = []
        locations = LocationCache()
        for n in ("a", "b"):
            locations.add_edge_node(n)

        async def reply(msg: Message) -> None:
            self.replies.append(msg)

        self.upstream = Upstream(FakeClient("cloudcore", self.calls, set(missing)),  # type: ignore[arg-type]
                                 FakeNodes(self.calls, set(missing)),  # type: ignore[arg-type]
                                 EdgeAccess(locations), reply)

    async def ask(self, sender: str, resource: str, content: Any = None) -> Message:
        request = build_message("resource", "", "edged", f"node/{sender}/{resource}",
                                "delete", content)
        await self.upstream.dispatch(request)
        async with asyncio.timeout(5):
            while True:
                for m in self.replies:
                    if m.header.parent_msg_id == request.header.msg_id:
                        return m
                await asyncio.sleep(0.001)


@pytest.fixture
async def env() -> Any:
    e = Env(missing=frozenset({"gone"}))
    yield e
    await e.upstream.stop()


async def test_a_node_deletes_its_own_lease_as_itself_and_its_node_as_cloudcore(
        env: Env) -> None:
    reply = await env.ask("a", "default/lease/a")
    assert reply.route.operation == "response"
    assert reply.content == {"Object": None, "Err": None}
    reply = await env.ask("a", "default/node/a")
    assert reply.content == {"Object": None, "Err": None}
    assert reply.route.resource == "node/a/default/node/a"
    # Leases live in kube-node-lease whatever the resource's namespace.
    assert env.calls == [("system:node:a", "leases", "a", "kube-node-lease", None),
                         ("cloudcore", "nodes", "a", None, None)]


async def test_a_node_may_not_delete_another_nodes_node_or_lease(env: Env) -> None:
    reply = await env.ask("a", "default/node/b")
    status = reply.content["Err"]["ErrStatus"]
    assert (status["code"], status["message"]) == (
        403, 'node "a" is not allowed to delete node "b"')
    reply = await env.ask("a", "default/lease/b")
    status = reply.content["Err"]["ErrStatus"]
    assert status["code"] == 403 and "same name as the requesting node" in status["message"]
    reply = await env.ask("a", "kube-node-lease/lease/b")
    assert reply.content["Err"]["ErrStatus"]["code"] == 403
    assert env.calls == []  # refused before any API call


async def test_deleting_what_is_already_gone_succeeds_and_preconditions_pass_through(
        env: Env) -> None:
    env.upstream.access.locations.add_edge_node("gone")
    reply = await env.ask("gone", "default/node/gone")
    assert reply.content == {"Object": None, "Err": None}
    reply = await env.ask("gone", "default/lease/gone")
    assert reply.content == {"Object": None, "Err": None}
    reply = await env.ask("a", "default/node/a", {"preconditions": {"uid": "u-1"}})
    assert reply.content["Err"] is None
    assert env.calls[-1] == ("cloudcore", "nodes", "a", None, {"uid": "u-1"})
