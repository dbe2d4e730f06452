"""The per-node queues and the ack/no-ack rules (specs/kubeedge.md §3 "Per-node queues",
"Enqueue rule")."""

from __future__ import annotations

import pytest

from kubeedge.cloud.hub.pool import (
    Enqueued,
    NodeMessagePool,
    RateLimiter,
    compare_resource_version,
    is_to_edge,
    needs_ack,
)
from kubeedge.cloud.hub.server import upstream_scope_error
from kubeedge.messaging.message import build_message
from tests.unit.cloud.hub.helpers import noack, pod


def _pool(limit: int = 0) -> NodeMessagePool:
    return NodeMessagePool("edge-1", limit, RateLimiter(0.005, 1000, 10, 100))


@pytest.mark.parametrize(
    ("source", "group", "resource", "op", "content", "ack"),
    [
        ("edgecontroller", "resource", "node/n/default/pod/p", "insert", {}, True),
        ("edgecontroller", "resource", "node/n/default/configmap/c", "update", {}, True),
        ("edgecontroller", "resource", "node/n/default/podlist/x", "response", [], False),
        ("edgecontroller", "resource", "node/n/default/lease/n", "response", {}, False),
        ("edgecontroller", "resource", "node/n/default/podstatus/p", "update", {}, False),
        ("edgecontroller", "resource", "node/n/default/node/n", "insert", {}, False),
        ("edgecontroller", "resource", "node/n/default/node/n", "update", {}, True),
        ("edgecontroller", "resource", "node/n/default/pod/p", "response", {}, False),
        ("edgecontroller", "resource", "node/n/default/serviceaccounttoken/t", "update", {},
         False),
        ("devicecontroller", "twin", "node/n/membership", "update", {}, False),
        ("router", "user", "node/n/topic", "publish", "x", False),
        ("edgecontroller", "resource", "node/n/default/configmap/c", "response", "OK", False),
        ("edgecontroller", "resource", "node/n/default/configmap/c", "response", {}, True),
    ],
)
def test_ack_rules_follow_kubeedges_noack_list(source: str, group: str, resource: str,
                                               op: str, content: object, ack: bool) -> None:
    msg = build_message(group, "", source, resource, op, content)
    assert needs_ack(msg) is ack


def test_edge_manager_queries_stay_in_the_cloud() -> None:
    held = build_message("twin", "", "edgemgr", "node/n/twin/x", "get")
    sent = build_message("twin", "", "edgemgr", "node/n/twin/x", "update")
    assert not is_to_edge(held)
    assert is_to_edge(sent)


def test_resource_versions_compare_as_numbers() -> None:
    assert compare_resource_version("10", "9") == 1
    assert compare_resource_version("9", "10") == -1
    assert compare_resource_version("7", "7") == 0
    assert compare_resource_version("junk", "1") == -1


def test_only_the_newest_version_of_an_object_is_kept() -> None:
    pool = _pool()
    assert pool.add_ack(pod("edge-1", "p", "u1", "5")) is Enqueued.QUEUED
    assert pool.add_ack(pod("edge-1", "p", "u1", "4")) is Enqueued.STALE
    newer = pod("edge-1", "p", "u1", "6")
    assert pool.add_ack(newer) is Enqueued.QUEUED
    assert pool.ack_depth == 1
    key, _ = pool.next_ack(0.0)
    assert key == "u1"
    assert pool.message("u1") is newer


def test_ack_path_message_without_resource_version_is_dropped_unless_delete() -> None:
    pool = _pool()
    assert pool.add_ack(pod("edge-1", "p", "u1", "")) is Enqueued.NO_RESOURCE_VERSION
    assert pool.add_ack(pod("edge-1", "p", "u1", "", op="delete")) is Enqueued.QUEUED


def test_a_queued_delete_is_not_replaced_by_an_update() -> None:
    pool = _pool()
    pool.add_ack(pod("edge-1", "p", "u1", "5", deleting=True))
    assert pool.add_ack(pod("edge-1", "p", "u1", "9")) is Enqueued.STALE


def test_acknowledged_version_is_not_sent_again() -> None:
    pool = _pool()
    sent = pod("edge-1", "p", "u1", "5")
    pool.add_ack(sent)
    key, _ = pool.next_ack(0.0)
    assert key == "u1"
    pool.acked("u1", sent)
    assert pool.ack_depth == 0
    assert pool.add_ack(pod("edge-1", "p", "u1", "5")) is Enqueued.STALE
    assert pool.add_ack(pod("edge-1", "p", "u1", "6")) is Enqueued.QUEUED


def test_newer_version_arriving_in_flight_goes_out_after_the_ack() -> None:
    pool = _pool()
    first = pod("edge-1", "p", "u1", "5")
    pool.add_ack(first)
    assert pool.next_ack(0.0)[0] == "u1"
    pool.add_ack(pod("edge-1", "p", "u1", "6"))
    assert pool.next_ack(0.0) == (None, None)  # one at a time
    pool.acked("u1", first)
    key, _ = pool.next_ack(0.0)
    assert key == "u1"
    assert pool.message("u1").header.resource_version == "6"


def test_gave_up_key_waits_out_exponential_backoff() -> None:
    pool = _pool()
    pool.add_ack(pod("edge-1", "p", "u1", "5"))
    pool.next_ack(0.0)
    delay1 = pool.gave_up("u1", 100.0)
    assert delay1 == pytest.approx(0.005)
    assert pool.next_ack(100.0) == (None, pytest.approx(100.005))
    assert pool.next_ack(100.006)[0] == "u1"
    delay2 = pool.gave_up("u1", 200.0)
    assert delay2 == pytest.approx(0.01)


def test_rate_limiter_caps_backoff() -> None:
    limiter = RateLimiter(0.005, 1.0, 1000, 1000)
    delays = [limiter.when("k", 0.0) for _ in range(12)]
    assert delays[:3] == pytest.approx([0.005, 0.01, 0.02])
    assert delays[-1] == 1.0
    limiter.forget("k")
    assert limiter.when("k", 0.0) == pytest.approx(0.005)


def test_rate_limiter_token_bucket_spaces_a_burst() -> None:
    limiter = RateLimiter(0.0001, 1.0, qps=10, burst=2)
    delays = [limiter.when(f"k{i}", 0.0) for i in range(4)]
    assert delays[2] == pytest.approx(0.1)
    assert delays[3] == pytest.approx(0.2)


def test_bounded_stores_refuse_new_ack_keys_and_drop_oldest_noack() -> None:
    pool = _pool(limit=2)
    assert pool.add_ack(pod("edge-1", "a", "u1", "1")) is Enqueued.QUEUED
    assert pool.add_ack(pod("edge-1", "b", "u2", "1")) is Enqueued.QUEUED
    assert pool.add_ack(pod("edge-1", "c", "u3", "1")) is Enqueued.FULL
    # a newer version of a key already held still fits
    assert pool.add_ack(pod("edge-1", "a", "u1", "2")) is Enqueued.QUEUED
    first, second, third = noack("edge-1"), noack("edge-1"), noack("edge-1")
    pool.add_noack(first)
    pool.add_noack(second)
    assert pool.add_noack(third) is Enqueued.REPLACED_OLDEST
    assert list(pool.noack) == [second, third]


def test_returned_in_flight_key_goes_first() -> None:
    pool = _pool()
    pool.add_ack(pod("edge-1", "a", "u1", "1"))
    pool.add_ack(pod("edge-1", "b", "u2", "1"))
    assert pool.next_ack(0.0)[0] == "u1"
    pool.returned("u1")
    assert pool.next_ack(0.0)[0] == "u1"


@pytest.mark.parametrize(
    ("resource", "refused"),
    [
        ("default/pod/p", False),
        ("default/node/edge-1", False),
        ("default/lease/edge-1", False),
        ("default/nodestatus/edge-1", False),
        ("default/node/edge-2", True),
        ("default/lease/edge-2", True),
        ("default/nodepatch/edge-2", True),
        ("node/edge-2/default/pod/p", True),
        ("node/edge-1/membership/detail", False),
        ("default/pod", False),
    ],
)
def test_an_edge_speaks_only_for_its_own_node(resource: str, refused: bool) -> None:
    assert bool(upstream_scope_error("edge-1", resource)) is refused
