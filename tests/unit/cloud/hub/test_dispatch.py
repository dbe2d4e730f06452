"""CloudHub's routing without the network: downstream into node queues, upstream to
the cloud modules (specs/kubeedge.md §3, KubeEdge's DispatchDownstream/DispatchUpstream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.cloud.hub import protocol
from kubeedge.cloud.hub.pool import Enqueued
from kubeedge.cloud.hub.server import CloudHub
from kubeedge.config.cloudcore import CloudHub as CloudHubConfig
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.codec import encode_message
from kubeedge.messaging.message import build_message, new_message
from tests.unit.cloud.hub.helpers import FakeConnection, noack, pod


@pytest.fixture
async def hub() -> AsyncIterator[CloudHub]:
    bus = ModuleBus()
    bus.add_module("edgecontroller", "edgecontroller")
    bus.add_module("devicecontroller", "devicecontroller")
    config = CloudHubConfig(advertise_address=["127.0.0.1"], node_message_queue_size=1)
    certs: Any = None  # only start() needs them
    h = CloudHub(bus, config, certs, clock=FakeClock())
    yield h
    await h.manager.stop()


def test_ack_messages_wait_for_an_absent_node_noack_ones_are_dropped(hub: CloudHub) -> None:
    assert hub.dispatch(pod("edge-1", "web", "u1", "3")) is Enqueued.QUEUED
    assert hub.manager.pool("edge-1").ack_depth == 1
    assert hub.dispatch(noack("edge-1")) is Enqueued.STALE
    assert hub.manager.pool("edge-1").noack_depth == 0


def test_full_ack_queue_reports_the_drop_to_synccontroller(hub: CloudHub) -> None:
    hub.dispatch(pod("edge-1", "a", "u1", "3"))
    assert hub.dispatch(pod("edge-1", "b", "u2", "3")) is Enqueued.FULL
    groups, report = hub.manager.outbox.get_nowait()
    assert groups == (protocol.GROUP_SYNCCONTROLLER,)
    assert report.route.operation == protocol.OP_OBJECT_DROPPED
    assert report.content["uid"] == "u2"
    assert hub.metrics.dropped == 1


def test_message_without_a_node_is_not_queued(hub: CloudHub) -> None:
    assert hub.dispatch(build_message("resource", "", "edgecontroller", "default/pod/x",
                                      "update", {})) is None
    assert hub.manager.pools == {}


async def test_upstream_goes_to_edgecontroller_with_the_node_prefixed(hub: CloudHub) -> None:
    session = hub.manager.open("edge-1", "p", FakeConnection())
    status = build_message("resource", "", "edged", "default/podstatus/web", "update", {})
    await hub.upstream(session, encode_message(status))
    got = await hub.bus.receive("edgecontroller")
    assert got.route.resource == "node/edge-1/default/podstatus/web"


async def test_twin_messages_go_to_devicecontroller(hub: CloudHub) -> None:
    session = hub.manager.open("edge-1", "p", FakeConnection())
    twin = build_message("twin", "", "twin", "device/default/d1/twin/edge_updated",
                         "update", {})
    await hub.upstream(session, encode_message(twin))
    got = await hub.bus.receive("devicecontroller")
    assert got.route.resource == "node/edge-1/device/default/d1/twin/edge_updated"


async def test_edge_cannot_claim_a_cloud_module_as_source(hub: CloudHub) -> None:
    session = hub.manager.open("edge-1", "p", FakeConnection())
    forged = build_message("resource", "", "edgecontroller", "default/pod/web", "update", {})
    await hub.upstream(session, encode_message(forged))
    assert hub.bus.pending("edgecontroller") == 0
    assert hub.metrics.rejected_upstream == 1


async def test_garbage_frame_is_counted_not_fatal(hub: CloudHub) -> None:
    session = hub.manager.open("edge-1", "p", FakeConnection())
    await hub.upstream(session, b"{not json")
    assert hub.metrics.invalid_frames == 1
    assert not session.closed


async def test_reply_to_a_cloud_send_sync_is_routed_back(hub: CloudHub) -> None:
    hub.bus.add_module("cloudhub", "cloudhub")
    session = hub.manager.open("edge-1", "p", FakeConnection())
    request = new_message().build_router("edgecontroller", "resource",
                                         "node/edge-1/default/pod/web", "query")
    waiter = asyncio.ensure_future(hub.bus.send_sync("cloudhub", request, timeout=5))
    await asyncio.sleep(0)
    reply = build_message("resource", request.header.msg_id, "edged", "default/pod/web",
                          "response", {"answer": 1})
    await hub.upstream(session, encode_message(reply))
    got = await asyncio.wait_for(waiter, 5)
    assert got.content == {"answer": 1}
    assert got.route.resource == "node/edge-1/default/pod/web"
