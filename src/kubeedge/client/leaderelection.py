"""Lease-based leader election, as client-go's leaderelection package does it, so two
copies of a component on one API (two control planes on one etcd) never both act.

The holder writes `spec.holderIdentity` and `spec.renewTime` on a
`coordination.k8s.io/v1` Lease every `retry_period`; a candidate takes the Lease over
only when `renewTime + leaseDurationSeconds` has passed by its own clock. Writes are
compare-and-swap on resourceVersion, so two candidates can never both win a round. A
leader that cannot renew within `renew_deadline` steps down before the lease can
expire for the others (renew_deadline < lease_duration).

Time comes from a `Clock`, so tests drive expiry without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

log = logging.getLogger(__name__)

LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")


def default_identity() -> str:
    """client-go's convention: hostname plus a unique suffix."""
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def micro_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class LeaderElector:
    """Campaign for one Lease; run `on_started_leading` while holding it.

    `run()` returns when leadership is lost (after cancelling the leader's work) or
    when cancelled; a caller that wants to campaign again calls it again. When the
    clock is a wall clock, expiry compares renewTime with now; with a FakeClock, the
    fake's seconds are the epoch.
    """

    def __init__(
        self,
        client: APIClient,
        name: str,
        namespace: str = "kube-system",
        identity: str = "",
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
        release_on_cancel: bool = True,
    ) -> None:
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "leader election needs 0 < retryPeriod < renewDeadline < leaseDuration, "
                f"got {retry_period}, {renew_deadline}, {lease_duration}")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock: Clock = clock or client.clock
        self.release_on_cancel = release_on_cancel
        self.is_leader = asyncio.Event()
        self.transitions = 0
        self._observed: dict[str, Any] | None = None

    async def run(self, on_started_leading: Callable[[], Awaitable[None]],
                  on_stopped_leading: Callable[[], Awaitable[None]] | None = None) -> None:
        await self._acquire()
        self.is_leader.set()
        log.info("%s: became leader of %s/%s", self.identity, self.namespace, self.name)
        work = asyncio.create_task(on_started_leading(), name=f"leader {self.name}")
        try:
            await self._renew_until_lost(work)
        finally:
            self.is_leader.clear()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            if on_stopped_leading is not None:
                await on_stopped_leading()
            if self.release_on_cancel:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release())

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await self.clock.sleep(self.retry_period)

    async def _renew_until_lost(self, work: asyncio.Task[None]) -> None:
        last_renewed = self.clock.now()
        while True:
            sleeper = asyncio.ensure_future(self.clock.sleep(self.retry_period))
            done, _ = await asyncio.wait({sleeper, work}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                sleeper.cancel()
                return  # the leader's work ended by itself
            try:
                renewed = await asyncio.wait_for(self._try_acquire_or_renew(),
                                                 self.renew_deadline)
            except (TimeoutError, APIError, ConnectionError) as exc:
                log.warning("%s: renewing %s failed: %s", self.identity, self.name, exc)
                renewed = False
            if renewed:
                last_renewed = self.clock.now()
                continue
            if self._observed_holder() not in ("", self.identity):
                log.warning("%s: lost the lease %s to %s", self.identity, self.name,
                            self._observed_holder())
                return
            if self.clock.now() - last_renewed >= self.renew_deadline:
                log.warning("%s: could not renew %s within %ss; stepping down",
                            self.identity, self.name, self.renew_deadline)
                return

    def _observed_holder(self) -> str:
        spec = (self._observed or {}).get("spec") or {}
        return str(spec.get("holderIdentity") or "")

    async def _try_acquire_or_renew(self) -> bool:
        now = self.clock.now()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except APIError as exc:
            if not exc.is_not_found:
                raise
            body = {"metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(now, acquire=True, transitions=0)}
            try:
                self._observed = await self.client.create(LEASES, body, self.namespace)
            except APIError as create_exc:
                if create_exc.is_already_exists:
                    return False
                raise
            return True
        self._observed = lease
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            renewed = parse_micro_time(spec.get("renewTime")) or 0.0
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if now < renewed + duration:
                return False  # held by someone else and not expired
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != self.identity:
            transitions += 1
        new_spec = self._spec(now, acquire=holder != self.identity, transitions=transitions,
                              previous=spec)
        body = {**lease, "spec": new_spec}
        try:
            self._observed = await self.client.update(LEASES, body, self.namespace)
        except APIError as exc:
            if exc.is_conflict:
                return False  # someone else wrote first: they won this round
            raise
        if holder != self.identity:
            self.transitions += 1
        return True

    def _spec(self, now: float, *, acquire: bool, transitions: int,
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
            "acquireTime": micro_time(now) if acquire or not previous
            else previous.get("acquireTime") or micro_time(now),
        }
        return spec

    async def _release(self) -> None:
        """Give the lease up on a clean stop so a successor need not wait it out."""
        if self._observed is None or self._observed_holder() != self.identity:
            return
        lease = dict(self._observed)
        spec = dict(lease.get("spec") or {})
        spec["holderIdentity"] = ""
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = micro_time(self.clock.now())
        lease["spec"] = spec
        with contextlib.suppress(APIError):
            await self.client.update(LEASES, lease, self.namespace)
