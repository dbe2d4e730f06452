"""Fixtures for the client against our API server running as its own process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from tests.fixtures.cluster import Cloud, running_cloud

NAMESPACES = Resource.of("v1", "namespaces")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """These tests count every object in their namespaces, so the namespace defaults
    controller (kube-root-ca.crt, the default account; tested on its own) is off."""
    with running_cloud(tmp_path_factory.mktemp("client"), controllers=()) as c:
        yield c


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest.fixture
async def ns(api: APIClient) -> str:
    """A fresh namespace per test, created with JSON (`kubectl create namespace` sends
    protobuf, specs/k8s-api.md §0.3)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name
