"""The range allocator's bookkeeping: blocks handed out once, rebuilt, released."""

from __future__ import annotations

import pytest

from kubeedge.controllers.nodeipam import CIDRExhausted, CIDRSet, pod_cidrs


def test_blocks_are_distinct_until_the_range_is_exhausted() -> None:
    cidrs = CIDRSet("10.244.0.0/22", 24)
    got = [cidrs.allocate() for _ in range(4)]
    assert got == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    with pytest.raises(CIDRExhausted):
        cidrs.allocate()


def test_occupied_blocks_are_skipped_and_released_ones_come_back_last() -> None:
    cidrs = CIDRSet("10.244.0.0/22", 24)
    assert cidrs.occupy("10.244.0.0/24")
    assert cidrs.allocate() == "10.244.1.0/24"
    cidrs.release("10.244.0.0/24")
    # Round-robin: the freed block is used after the untouched ones.
    assert [cidrs.allocate() for _ in range(3)] == [
        "10.244.2.0/24", "10.244.3.0/24", "10.244.0.0/24"]


@pytest.mark.parametrize("cidr", ["10.245.0.0/24", "10.244.0.0/25", "garbage", "fd00::/64"])
def test_cidrs_that_are_not_our_blocks_are_not_counted(cidr: str) -> None:
    cidrs = CIDRSet("10.244.0.0/16", 24)
    assert not cidrs.occupy(cidr)
    assert cidrs.used == set()


def test_ipv6_cluster_cidr() -> None:
    cidrs = CIDRSet("fd00:10::/56", 64)
    assert cidrs.allocate() == "fd00:10::/64"
    assert cidrs.allocate() == "fd00:10:0:1::/64"
    assert cidrs.size == 256


def test_pod_cidrs_reads_the_list_or_the_single_field() -> None:
    assert pod_cidrs({"spec": {"podCIDR": "10.0.0.0/24"}}) == ["10.0.0.0/24"]
    assert pod_cidrs({"spec": {"podCIDRs": ["10.0.1.0/24"], "podCIDR": "10.0.1.0/24"}}) == [
        "10.0.1.0/24"]
    assert pod_cidrs({"spec": {}}) == []
