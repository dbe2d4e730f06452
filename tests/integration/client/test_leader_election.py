"""Lease-based leader election against the real API server: one leader at a time, a
clean stop hands over at once, a dead leader is replaced once its lease expires."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from kubeedge.client.leaderelection import LEASES, LeaderElector
from kubeedge.client.rest import APIClient
from tests.fixtures.cluster import Cloud, eventually

TIMINGS = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.2}


def _elector(client: APIClient, lease: str, identity: str, **kwargs: object) -> LeaderElector:
    return LeaderElector(client, lease, "default", identity, **{**TIMINGS, **kwargs})


async def _campaign(elector: LeaderElector, leading: set[str], log: list[set[str]]) -> None:
    async def lead() -> None:
        leading.add(elector.identity)
        log.append(set(leading))
        try:
            await asyncio.Event().wait()
        finally:
            leading.discard(elector.identity)

    await elector.run(lead)


async def test_one_leader_and_a_clean_handover(cloud: Cloud, api: APIClient) -> None:
    lease = f"le-{uuid.uuid4().hex[:6]}"
    leading: set[str] = set()
    log: list[set[str]] = []
    async with APIClient(cloud.kubeconfig) as other_client:
        first = _elector(api, lease, "first")
        second = _elector(other_client, lease, "second")
        t1 = asyncio.create_task(_campaign(first, leading, log))
        await first.is_leader.wait()
        t2 = asyncio.create_task(_campaign(second, leading, log))
        # While the first renews (its renewTime moves on twice), the second campaigns
        # in vain.
        renewals: set[str] = set()

        async def renewed_twice() -> bool:
            spec = (await api.get(LEASES, lease, "default"))["spec"]
            assert spec["holderIdentity"] == "first"
            renewals.add(spec["renewTime"])
            return len(renewals) >= 3

        await eventually(renewed_twice, timeout=10, what="two renewals by the first")
        assert not second.is_leader.is_set()
        t1.cancel()  # a clean stop releases the lease
        with contextlib.suppress(asyncio.CancelledError):
            await t1
        await asyncio.wait_for(second.is_leader.wait(), 5)
        got = await api.get(LEASES, lease, "default")
        assert got["spec"]["holderIdentity"] == "second"
        assert got["spec"]["leaseTransitions"] >= 1
        t2.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t2
    assert all(len(moment) == 1 for moment in log), log


async def test_a_dead_leader_is_replaced_after_its_lease_expires(cloud: Cloud,
                                                                   api: APIClient) -> None:
    lease = f"le-{uuid.uuid4().hex[:6]}"
    leading: set[str] = set()
    log: list[set[str]] = []
    # A leader that dies leaves its lease behind (no release on cancel).
    dead = _elector(api, lease, "dead", release_on_cancel=False)
    task = asyncio.create_task(_campaign(dead, leading, log))
    await dead.is_leader.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with APIClient(cloud.kubeconfig) as other_client:
        heir = _elector(other_client, lease, "heir")
        loop = asyncio.get_running_loop()
        started = loop.time()
        t2 = asyncio.create_task(_campaign(heir, leading, log))
        await asyncio.wait_for(heir.is_leader.wait(), 10)
        waited = loop.time() - started
        got = await api.get(LEASES, lease, "default")
        t2.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t2
    # Not before the lease ran out (less a retry period of slack)...
    assert waited >= TIMINGS["lease_duration"] - 2 * TIMINGS["retry_period"]
    assert got["spec"]["holderIdentity"] == "heir"


async def test_a_leader_that_cannot_renew_steps_down(cloud: Cloud, api: APIClient) -> None:
    """Someone else takes the lease over (as an operator's edit would): the old leader
    sees another holder at its next renewal and stops leading."""
    lease = f"le-{uuid.uuid4().hex[:6]}"
    leading: set[str] = set()
    log: list[set[str]] = []
    elector = _elector(api, lease, "holder")
    task = asyncio.create_task(_campaign(elector, leading, log))
    await elector.is_leader.wait()
    current = await api.get(LEASES, lease, "default")
    current["spec"]["holderIdentity"] = "usurper"
    current["spec"]["leaseDurationSeconds"] = 60
    await api.update(LEASES, current, "default")
    await asyncio.wait_for(task, 5)  # run() returns once leadership is lost
    assert not elector.is_leader.is_set()
    assert leading == set()
