"""MetaManager on a FakeClock with a fake cloud on the bus (STYLE.md "time you can
control"): forwarding to edged, queries online/offline/cached, pod status kept
newest-per-pod while offline and flushed on reconnect, deletes and the uid rule, retry
back-off. The same flows against a real cloud: tests/integration/edge/test_metamanager.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.edge.hub.hub import connection_event
from kubeedge.edge.metamanager.client import MetaClient, MetaUnavailable
from kubeedge.edge.metamanager.manager import (
    MetaManager,
    MetaManagerSettings,
    requires_refresh,
    token_key,
)
from kubeedge.edge.metamanager.store import MetaStore
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import Message, build_message, new_message

NODE = "edge-u1"
WALL = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)

Reply = Callable[[Message], Any]


def pod(name: str, uid: str, rv: int, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "resourceVersion": str(rv), **extra},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}


def configmap(name: str, rv: int, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "resourceVersion": str(rv)}, "data": data}


def cloud_message(op: str, kind: str, obj: dict[str, Any]) -> Message:
    """What EdgeHub hands group meta: the cloud's message, already stored."""
    meta = obj["metadata"]
    msg = build_message("resource", "", "edgecontroller",
                        f"{meta['namespace']}/{kind}/{meta['name']}", op, obj)
    msg.header.resource_version = str(meta.get("resourceVersion") or "")
    return msg


async def until(cond: Callable[[], Any], what: str, timeout: float = 5.0) -> None:
    """Wait (real time, bounded) for work on the store's threads to land."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@dataclass
class FakeCloud:
    """Module `websocket` (group `hub`): records what MetaManager sends up and answers
    with `answer(msg)`: a content (response), an `Err(...)`, or None (no answer)."""

    bus: ModuleBus
    clock: FakeClock
    answer: Reply = lambda msg: "OK"
    received: list[tuple[float, Message]] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.bus.add_module("websocket", "hub")
        self.task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            msg = await self.bus.receive("websocket")
            self.received.append((self.clock.now(), msg))
            answer = self.answer(msg)
            if answer is None or not msg.header.sync:
                continue
            reply = new_message(msg.header.msg_id).build_router(
                "edgecontroller", "resource", msg.route.resource, "response")
            if isinstance(answer, Err):
                reply.route.operation = "error"
                answer = answer.text
            self.replies.append(reply.fill_body(answer))
            self.bus.send_resp(reply)

    def sent(self, resource: str | None = None, op: str | None = None) -> list[Message]:
        return [m for _, m in self.received
                if (resource is None or m.route.resource == resource)
                and (op is None or m.route.operation == op)]


@dataclass
class Err:
    text: str


@dataclass
class Edge:
    bus: ModuleBus
    clock: FakeClock
    store: MetaStore
    cloud: FakeCloud
    manager: MetaManager
    client: MetaClient

    async def connect(self, online: bool = True) -> None:
        await self.bus.send_to_group("meta", connection_event("meta", online))
        await until(lambda: self.manager.online is online, "the connection event")
        await self.clock.settle()

    async def from_cloud(self, msg: Message) -> None:
        await self.bus.send_to_group("meta", msg)

    async def edged_receives(self) -> Message:
        return await asyncio.wait_for(self.bus.receive("edged"), 5)

    async def stored(self, key: str) -> Any:
        row = await self.store.get(key)
        return None if row is None else json.loads(row.value)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    clock = FakeClock()
    bus = ModuleBus(clock=clock)
    bus.add_module("edged", "edged")
    store = await MetaStore.open(tmp_path / "edgecore.db")
    cloud = FakeCloud(bus, clock)
    cloud.start()
    settings = MetaManagerSettings(remote_query_timeout=5, retry_base=1, retry_cap=8)
    manager = MetaManager(bus, store, settings, clock=clock, wall=lambda: WALL)
    await manager.start()
    client = MetaClient(bus, timeout=30)
    yield Edge(bus, clock, store, cloud, manager, client)
    await manager.stop()
    assert cloud.task is not None
    cloud.task.cancel()
    await store.close()


def in_back_off(edge: Edge) -> bool:
    return bool(edge.manager._sleeping)


async def settle_store(edge: Edge) -> None:
    """Let queued store work finish (real time) and the loop catch up."""
    for _ in range(3):
        await edge.store.get("flush")
        await edge.clock.settle()


# ---- downstream ----------------------------------------------------------------------


async def test_stored_pod_and_configmap_go_to_edged_as_stored_not_as_sent(edge: Edge) -> None:
    newer = pod("web", "uid-a", 7, labels={"v": "new"})
    await edge.store.apply_update("default/pod/web", "pod", json.dumps(newer), 7)
    # A stale resend (rv 5) that EdgeHub acknowledged without storing.
    await edge.from_cloud(cloud_message("update", "pod", pod("web", "uid-a", 5)))
    got = await edge.edged_receives()
    assert got.route.resource == "default/pod/web"
    assert got.route.operation == "update"
    assert got.content["metadata"]["resourceVersion"] == "7"
    assert got.content["metadata"]["labels"] == {"v": "new"}

    cm = configmap("conf", 3, {"k": "v"})
    await edge.store.apply_update("default/configmap/conf", "configmap", json.dumps(cm), 3)
    await edge.from_cloud(cloud_message("insert", "configmap", cm))
    got = await edge.edged_receives()
    assert (got.route.resource, got.route.operation) == ("default/configmap/conf", "insert")
    assert got.content["data"] == {"k": "v"}

    # Other types stay in the database only.
    node = {"metadata": {"name": NODE, "namespace": "default", "resourceVersion": "9"}}
    await edge.from_cloud(cloud_message("update", "node", node))
    await settle_store(edge)
    assert edge.bus.pending("edged") == 0
    assert edge.manager.forwarded == 2


async def test_pod_delete_reaches_edged_only_when_that_uid_is_gone(edge: Edge) -> None:
    key = "default/pod/web"
    await edge.store.apply_update(key, "pod", json.dumps(pod("web", "uid-new", 10)), 10)
    # A delete of an older incarnation: MetaStore.apply_delete keeps the stored one...
    old = pod("web", "uid-old", 4)
    assert await edge.store.apply_delete(key, None, "uid-old") is False
    await edge.from_cloud(cloud_message("delete", "pod", old))
    got = await edge.edged_receives()
    # ...and edged hears that the old incarnation is gone, with the cloud's content.
    assert got.route.operation == "delete"
    assert got.content["metadata"]["uid"] == "uid-old"
    assert (await edge.stored(key))["metadata"]["uid"] == "uid-new"

    # A delete the store refused for the stored uid (it holds a newer version): no delete.
    stale = pod("web", "uid-new", 8)
    assert await edge.store.apply_delete(key, 8) is False
    await edge.from_cloud(cloud_message("delete", "pod", stale))
    await settle_store(edge)
    assert edge.bus.pending("edged") == 0

    # The stored incarnation's delete applies: edged hears, its kept status row goes.
    await edge.client.update_pod_status(pod("web", "uid-new", 10), {"phase": "Running"})
    assert await edge.stored("default/podstatus/web") is not None
    assert await edge.store.apply_delete(key, 11) is True
    await edge.from_cloud(cloud_message("delete", "pod", pod("web", "uid-new", 11)))
    got = await edge.edged_receives()
    assert (got.route.operation, got.content["metadata"]["uid"]) == ("delete", "uid-new")
    await until(lambda: edge.manager.pending_upstream() == {}, "the status dropped")
    assert await edge.stored("default/podstatus/web") is None


# ---- queries -------------------------------------------------------------------------


async def test_configmap_query_online_cached_then_served_offline_and_on_timeout(
        edge: Edge) -> None:
    cm = configmap("conf", 12, {"greeting": "hello"})
    edge.cloud.answer = lambda msg: cm
    await edge.connect()
    got = await edge.client.get_configmap("default", "conf")
    assert got is not None and got["data"] == {"greeting": "hello"}
    [asked] = edge.cloud.sent("default/configmap/conf", "query")
    assert asked.route.group == "meta" and asked.route.source == "edged"
    assert (await edge.stored("default/configmap/conf"))["data"] == {"greeting": "hello"}
    # The answer is acknowledged, once cached (KubeEdge's feedbackResponse), or CloudHub
    # holds back this node's later objects.
    await until(lambda: edge.cloud.sent(op="response"), "the ACK")
    [ack] = edge.cloud.sent(op="response")
    assert ack.header.parent_msg_id == edge.cloud.replies[0].header.msg_id
    assert ack.content == "OK" and ack.route.resource == "default/configmap/conf"

    # Offline: from the cache, the cloud not asked.
    await edge.connect(False)
    assert (await edge.client.get_configmap("default", "conf"))["data"]["greeting"] == "hello"  # type: ignore[index]
    assert len(edge.cloud.sent("default/configmap/conf", "query")) == 1
    # Offline and never cached: unavailable, not "does not exist".
    with pytest.raises(MetaUnavailable, match="not connected"):
        await edge.client.get_configmap("default", "other")

    # Online but the cloud does not answer within remoteQueryTimeout: the cache.
    await edge.connect()
    edge.cloud.answer = lambda msg: None
    query = asyncio.create_task(edge.client.get_configmap("default", "conf"))
    await until(lambda: len(edge.cloud.sent("default/configmap/conf", "query")) == 2,
                "the query")
    await edge.clock.advance(5)
    got = await asyncio.wait_for(query, 5)
    assert got is not None and got["data"] == {"greeting": "hello"}
    assert edge.manager.cache_answers == 2


async def test_configmap_the_cloud_says_is_gone_is_none_and_leaves_the_cache(
        edge: Edge) -> None:
    await edge.store.apply_update("default/configmap/conf", "configmap",
                                  json.dumps(configmap("conf", 3, {})), 3)
    edge.cloud.answer = lambda msg: Err('configmaps "conf" not found')
    await edge.connect()
    assert await edge.client.get_configmap("default", "conf") is None
    assert await edge.stored("default/configmap/conf") is None
    # Offline the edge still knows it does not exist (a tombstone), so None again.
    await edge.connect(False)
    assert await edge.client.get_configmap("default", "conf") is None

    # A refusal is not "not found": nothing cached, so unavailable with the reason.
    await edge.connect()
    edge.cloud.answer = lambda msg: Err('secrets "s" is forbidden: no relationship found')
    with pytest.raises(MetaUnavailable, match="forbidden"):
        await edge.client.get_secret("default", "s")


async def test_answer_older_than_the_cache_does_not_replace_it(edge: Edge) -> None:
    await edge.store.apply_update("default/secret/s", "secret",
                                  json.dumps(configmap("s", 20, {"v": "new"})), 20)
    edge.cloud.answer = lambda msg: configmap("s", 15, {"v": "old"})
    await edge.connect()
    got = await edge.client.get_secret("default", "s")
    assert got is not None and got["data"] == {"v": "new"}


async def test_list_pods_comes_from_the_database(edge: Edge) -> None:
    for i, ns in enumerate(("default", "team")):
        p = pod(f"p{i}", f"uid-{i}", 3)
        p["metadata"]["namespace"] = ns
        await edge.store.apply_update(f"{ns}/pod/p{i}", "pod", json.dumps(p), 3)
    await edge.store.upsert("default/podstatus/p0", "podstatus", "{}")
    pods = await edge.client.list_pods()
    assert sorted(p["metadata"]["name"] for p in pods) == ["p0", "p1"]
    assert edge.cloud.received == []


async def test_service_account_token_cached_until_it_needs_refresh(edge: Edge) -> None:
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"audiences": ["api"], "expirationSeconds": 3600,
                        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                           "name": "web", "uid": "uid-a"}}}

    def issued(expiry: dt.datetime) -> dict[str, Any]:
        return {**request, "status": {"token": f"tok-{expiry.minute}",
                                      "expirationTimestamp": expiry.strftime(
                                          "%Y-%m-%dT%H:%M:%SZ")}}

    fresh = issued(WALL + dt.timedelta(minutes=59))
    edge.cloud.answer = lambda msg: fresh
    await edge.connect()
    got = await edge.client.get_service_account_token("default", "default", request)
    assert got["status"]["token"] == "tok-59"
    [asked] = edge.cloud.sent("default/serviceaccounttoken/default", "query")
    assert asked.content["spec"]["boundObjectRef"]["uid"] == "uid-a"
    key = token_key("default", "default", request)
    assert key.startswith('"default"/"default"/[]string{"api"}/3600/v1.BoundObjectReference{')
    assert (await edge.stored(key))["status"]["token"] == "tok-59"
    # Fresh in the cache: not asked again.
    await edge.client.get_service_account_token("default", "default", request)
    assert len(edge.cloud.sent("default/serviceaccounttoken/default", "query")) == 1

    # Within the last 20% of its life: refreshed from the cloud when online...
    old = issued(WALL + dt.timedelta(minutes=5))
    assert requires_refresh(old, WALL) and not requires_refresh(fresh, WALL)
    await edge.store.upsert(key, "serviceaccounttoken", json.dumps(old))
    assert (await edge.client.get_service_account_token(
        "default", "default", request))["status"]["token"] == "tok-59"
    # ...served while offline as long as it has not expired...
    await edge.store.upsert(key, "serviceaccounttoken", json.dumps(old))
    await edge.connect(False)
    assert (await edge.client.get_service_account_token(
        "default", "default", request))["status"]["token"] == "tok-5"
    # ...and never once expired.
    expired = issued(WALL - dt.timedelta(minutes=1))
    await edge.store.upsert(key, "serviceaccounttoken", json.dumps(expired))
    with pytest.raises(MetaUnavailable, match="no valid token"):
        await edge.client.get_service_account_token("default", "default", request)

    # The pod's deletion confirmed: its cached tokens go (KubeEdge's
    # DeleteServiceAccountToken).
    await edge.client.confirm_pod_deleted(pod("web", "uid-a", 3))
    await until(lambda: edge.manager._tasks == set(), "the token cleanup")
    assert await edge.stored(key) is None


# ---- pod status ------------------------------------------------------------------------


async def test_status_kept_newest_per_pod_offline_and_sent_on_reconnect(edge: Edge) -> None:
    for phase in ("Pending", "Running", "Succeeded"):
        await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": phase})
    await edge.client.update_pod_status(pod("b", "uid-b", 1), {"phase": "Running"})
    await settle_store(edge)
    assert edge.cloud.received == []
    # Stored in the meta table as KubeEdge keeps it.
    assert await edge.stored("default/podstatus/a") == {
        "UID": "uid-a", "Name": "a", "Status": {"phase": "Succeeded"}}

    await edge.connect()
    await until(lambda: edge.manager.statuses_sent == 2, "two statuses sent")
    sent = {m.route.resource: m for m in edge.cloud.sent(op="update")}
    assert set(sent) == {"default/podstatus/a", "default/podstatus/b"}
    a = sent["default/podstatus/a"]
    assert a.content == {"UID": "uid-a", "Name": "a", "Status": {"phase": "Succeeded"}}
    assert (a.route.group, a.route.source) == ("meta", "edged")
    assert edge.manager.pending_upstream() == {}

    # Online: each status goes straight up.
    await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": "Failed"})
    await until(lambda: edge.manager.statuses_sent == 3, "the online status")
    assert edge.cloud.sent("default/podstatus/a")[-1].content["Status"] == {"phase": "Failed"}


async def test_cloud_error_is_retried_with_doubling_back_off(edge: Edge) -> None:
    answers = [Err("etcdserver: request timed out"), Err("etcdserver: request timed out"),
               Err("etcdserver: request timed out"), "OK"]
    edge.cloud.answer = lambda msg: answers.pop(0)
    await edge.store.apply_update("default/pod/a", "pod", json.dumps(pod("a", "uid-a", 1)), 1)
    await edge.connect()
    await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": "Running"})
    await until(lambda: len(edge.cloud.received) == 1, "the first try")
    for tries, step in ((1, 1), (2, 2), (3, 4)):
        await until(lambda n=tries: len(edge.cloud.received) == n and in_back_off(edge),
                    "the back-off wait")
        await edge.clock.advance(step)
    await until(lambda: edge.manager.statuses_sent == 1, "the status accepted")
    times = [t for t, _ in edge.cloud.received]
    assert times == [0, 1, 3, 7]
    assert edge.manager.upstream_errors == 3
    assert edge.manager.pending_upstream() == {}


async def test_a_newer_status_replaces_one_waiting_in_back_off(edge: Edge) -> None:
    answers = [Err("boom"), "OK"]
    edge.cloud.answer = lambda msg: answers.pop(0)
    await edge.store.apply_update("default/pod/a", "pod", json.dumps(pod("a", "uid-a", 1)), 1)
    await edge.connect()
    await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": "Pending"})
    await until(lambda: in_back_off(edge), "the back-off wait")
    await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": "Running"})
    await edge.clock.advance(1)
    await until(lambda: edge.manager.statuses_sent == 1, "the retry")
    assert [m.content["Status"]["phase"] for _, m in edge.cloud.received] == [
        "Pending", "Running"]


async def test_errors_for_a_pod_the_cloud_removed_are_not_retried(edge: Edge) -> None:
    edge.cloud.answer = lambda msg: Err('node "edge-u1" can only delete pods with '
                                        "spec.nodeName set to itself")
    await edge.connect()
    # No pod row: the cloud already removed this pod, so the refusal is final.
    await edge.client.confirm_pod_deleted(pod("gone", "uid-g", 1))
    await until(lambda: edge.manager.upstream_errors == 1, "the refusal")
    await until(lambda: edge.manager.pending_upstream() == {}, "the delete dropped")
    await edge.clock.advance(60)
    assert len(edge.cloud.received) == 1


async def test_lost_answer_while_disconnecting_waits_for_the_reconnect(edge: Edge) -> None:
    edge.cloud.answer = lambda msg: None
    await edge.store.apply_update("default/pod/a", "pod", json.dumps(pod("a", "uid-a", 1)), 1)
    await edge.connect()
    await edge.client.update_pod_status(pod("a", "uid-a", 1), {"phase": "Running"})
    await until(lambda: len(edge.cloud.received) == 1, "the first try")
    await edge.connect(False)
    await edge.clock.advance(5)  # remoteQueryTimeout: no answer
    await edge.clock.advance(60)
    assert len(edge.cloud.received) == 1  # nothing sent while offline
    edge.cloud.answer = lambda msg: "OK"
    await edge.connect()
    await until(lambda: edge.manager.statuses_sent == 1, "sent after reconnect")
    assert edge.manager.upstream_lost == 1


# ---- pod deletes and events ---------------------------------------------------------------


async def test_confirmed_delete_queued_offline_goes_up_with_the_uid_precondition(
        edge: Edge) -> None:
    terminating = pod("web", "uid-w", 4, deletionTimestamp="2026-01-01T12:00:00Z")
    await edge.store.apply_update("default/pod/web", "pod", json.dumps(terminating), 4)
    await edge.client.confirm_pod_deleted(terminating)
    await settle_store(edge)
    assert edge.cloud.received == []
    assert list(edge.manager.pending_upstream()) == ["delete:default/pod/web:uid-w"]
    await edge.connect()
    await until(lambda: edge.manager.deletes_sent == 1, "the delete sent")
    [sent] = edge.cloud.sent("default/pod/web", "delete")
    assert sent.content == {"kind": "DeleteOptions", "apiVersion": "v1",
                            "gracePeriodSeconds": 0, "preconditions": {"uid": "uid-w"}}
    # The local row stays until the cloud's own delete arrives (EdgeHub applies it).
    assert await edge.stored("default/pod/web") is not None


async def test_events_go_up_best_effort_and_are_counted_when_dropped(edge: Edge) -> None:
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": "web.1", "namespace": "default"}, "reason": "Started"}
    await edge.client.send_event(event)
    await settle_store(edge)
    assert edge.manager.events_dropped == 1 and edge.cloud.received == []
    await edge.connect()
    await edge.client.send_event(event)
    await until(lambda: len(edge.cloud.received) == 1, "the event")
    [sent] = edge.cloud.sent("default/event/web.1", "insert")
    assert sent.content["reason"] == "Started" and not sent.header.sync
    assert edge.manager.events_sent == 1


async def test_bad_requests_get_a_clear_error(edge: Edge) -> None:
    with pytest.raises(MetaUnavailable, match=r"preconditions\.uid"):
        await edge.client.confirm_pod_deleted({"metadata": {"name": "x"}})
    with pytest.raises(MetaUnavailable, match="not supported"):
        await edge.client._ask("default/node/x", "update", {})


async def test_metamanager_gone_is_unavailable(tmp_path: Path) -> None:
    bus = ModuleBus()
    with pytest.raises(MetaUnavailable, match="metamanager did not answer"):
        await MetaClient(bus, timeout=0.1).list_pods()


# ---- the node's own network, mirror pods (issue 7 pod networking, static pods) --------


async def test_own_node_and_noderoutes_go_to_nodenetwork_as_stored(edge: Edge) -> None:
    edge.bus.add_module("nodenetwork", "nodenetwork")
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "resourceVersion": "12"},
            "spec": {"podCIDR": "10.244.3.0/24"}}
    await edge.store.apply_update(f"null/node/{NODE}", "node", json.dumps(node), 12)
    msg = build_message("resource", "", "edgecontroller", f"null/node/{NODE}", "update",
                        {**node, "spec": {}})  # what was sent; the stored one wins
    await edge.from_cloud(msg)
    got = await asyncio.wait_for(edge.bus.receive("nodenetwork"), 5)
    assert (got.route.resource, got.route.operation) == (f"null/node/{NODE}", "update")
    assert got.content["spec"]["podCIDR"] == "10.244.3.0/24"

    routes = {"apiVersion": "v1", "kind": "NodeRoutes",
              "metadata": {"name": NODE, "resourceVersion": "15"},
              "routes": [{"nodeName": "b", "podCIDR": "10.244.4.0/24", "nodeIP": "10.0.0.2"}]}
    await edge.store.apply_update(f"null/noderoutes/{NODE}", "noderoutes",
                                  json.dumps(routes), 15)
    await edge.from_cloud(build_message("resource", "", "edgecontroller",
                                        f"null/noderoutes/{NODE}", "update", routes))
    got = await asyncio.wait_for(edge.bus.receive("nodenetwork"), 5)
    assert got.content["routes"][0]["podCIDR"] == "10.244.4.0/24"
    assert edge.bus.pending("edged") == 0


def mirror(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"kubernetes.io/config.mirror": "h1"}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}


def edged_mirror_request(name: str) -> Message:
    """Edged's mirror pod create: group `resource`, source edged (kubelet's mirror
    client), a request it waits on."""
    msg = build_message("resource", "", "edged", f"default/pod/{name}", "insert",
                        mirror(name))
    msg.header.sync = True
    return msg


async def test_mirror_pod_goes_up_and_edged_gets_the_clouds_answer(edge: Edge) -> None:
    created = {**mirror("st-edge"), "metadata": {**mirror("st-edge")["metadata"],
                                                 "uid": "u-1", "resourceVersion": "30"}}
    edge.cloud.answer = lambda msg: {"Object": created, "Err": None}
    await edge.connect()
    reply = await edge.bus.send_sync("metamanager", edged_mirror_request("st-edge"), 5)
    assert reply.content == {"Object": created, "Err": None}
    up = edge.cloud.sent("default/pod/st-edge", "insert")
    assert len(up) == 1 and up[0].route.group == "meta" and up[0].route.source == "edged"
    assert up[0].content["metadata"]["annotations"]["kubernetes.io/config.mirror"] == "h1"
    assert edge.manager.mirrors_sent == 1 and edge.manager.pending_upstream() == {}

    # A refusal reaches edged as the cloud's answer and is not retried.
    refused = {"Object": None, "Err": {"ErrStatus": {
        "kind": "Status", "code": 409, "reason": "AlreadyExists",
        "message": 'pods "st-edge" already exists'}}}
    edge.cloud.answer = lambda msg: refused
    reply = await edge.bus.send_sync("metamanager", edged_mirror_request("st-edge"), 5)
    assert reply.content == refused
    await edge.clock.advance(60)
    assert len(edge.cloud.sent("default/pod/st-edge", "insert")) == 2
    assert edge.manager.pending_upstream() == {}


async def test_mirror_pod_taken_offline_and_created_on_reconnect(edge: Edge) -> None:
    reply = await edge.bus.send_sync("metamanager", edged_mirror_request("st-edge"), 5)
    assert reply.route.operation == "response" and reply.content == "OK"
    # edged asks again (its next look at the manifests): still one request kept.
    await edge.bus.send_sync("metamanager", edged_mirror_request("st-edge"), 5)
    assert list(edge.manager.pending_upstream()) == ["create:default/pod/st-edge"]
    assert edge.cloud.received == []
    answers: list[Any] = [None, {"Object": mirror("st-edge"), "Err": None}]
    edge.cloud.answer = lambda msg: answers.pop(0)
    edge.manager.settings = MetaManagerSettings(remote_query_timeout=1, retry_base=1,
                                                retry_cap=8)
    await edge.connect()
    await until(lambda: len(edge.cloud.received) == 1, "the first try")
    # No answer: kept and tried again after the back-off.
    await edge.clock.advance(1)
    await until(lambda: in_back_off(edge), "the back-off wait")
    await edge.clock.advance(1)
    await until(lambda: edge.manager.mirrors_sent == 1, "the mirror pod created")
    assert len(edge.cloud.sent("default/pod/st-edge", "insert")) == 2
    assert edge.manager.pending_upstream() == {}


# ---- the cluster's names for the pods' /etc/hosts (ours: clusterhosts) -----------------


async def test_clusterhosts_go_to_edged_as_stored_and_are_answered_from_the_db(
        edge: Edge) -> None:
    summary = {"apiVersion": "v1", "kind": "ClusterHosts",
               "metadata": {"name": NODE, "resourceVersion": "21"},
               "services": [{"namespace": "default", "name": "web",
                             "addresses": [{"ip": "10.244.1.2", "hostname": "web-0"}]}]}
    key = f"null/clusterhosts/{NODE}"
    # EdgeHub stored the newer summary before an older resend reached MetaManager.
    await edge.store.apply_update(key, "clusterhosts", json.dumps(summary), 21)
    await edge.from_cloud(build_message("resource", "", "edgecontroller", key, "update",
                                        {**summary, "services": []}))
    got = await edge.edged_receives()
    assert (got.route.resource, got.route.operation) == (key, "update")
    assert got.content == summary and got.header.resource_version == "21"

    # Edged's query at start (by key) is answered from the database, offline too.
    query = build_message("meta", "", "edged", key, "query", None)
    reply = await edge.bus.send_sync("metamanager", query, 5)
    assert [json.loads(v) for v in reply.content] == [summary]
    assert edge.cloud.sent(key) == []
