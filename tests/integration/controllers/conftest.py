"""Fixtures for controllers run in-process against the real API server process (the
module `cloud` of tests/conftest.py: cloudcore there runs only the namespace defaults,
so the controller under test is the only one acting)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from tests.fixtures.cluster import Cloud

NAMESPACES = Resource.of("v1", "namespaces")
NODES = Resource.of("v1", "nodes")


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest.fixture
async def ns(api: APIClient) -> str:
    """A fresh namespace per test."""
    name = f"c-{uuid.uuid4().hex[:8]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name


@pytest.fixture
async def nodes(api: APIClient) -> AsyncIterator[list[str]]:
    """Names of the Nodes a test made, deleted afterwards (nodes are cluster-wide)."""
    made: list[str] = []
    yield made
    for name in made:
        try:
            await api.delete(NODES, name)
        except APIError as exc:
            if not exc.is_not_found:
                raise
