from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.kubeconfig import ClusterAccess
from kubeedge.client.ratelimit import Backoff
from kubeedge.client.rest import APIClient, RetryPolicy
from tests.unit.client.fakeapi import FakeAPI


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = await FakeAPI().start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def client(fake: FakeAPI, clock: FakeClock) -> AsyncIterator[APIClient]:
    # Unlimited QPS: the limiter has its own tests; here it would park on the fake clock.
    retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.1, maximum=1.0))
    async with APIClient(
        ClusterAccess(server=fake.url, token="t0k"),
        qps=0,
        clock=clock,
        retry=retry,
        request_timeout=10,
    ) as api:
        yield api
