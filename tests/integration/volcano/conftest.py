"""Fixtures for the Volcano suites: the controllers suites' api/ns fixtures, plus
Volcano's CRDs installed once per module through the API."""

from __future__ import annotations

import asyncio

import pytest

from kubeedge.client.rest import APIClient
from kubeedge.controllers import volcano_crds
from tests.fixtures.cluster import Cloud
from tests.fixtures.volcano import ensure_queue
from tests.integration.controllers.conftest import api, nodes, ns

__all__ = ["api", "crds", "nodes", "ns"]


async def _install(cloud: Cloud) -> None:
    async with APIClient(cloud.kubeconfig) as client:
        await volcano_crds.install(client)
        await ensure_queue(client)


@pytest.fixture(scope="module")
def crds(cloud: Cloud) -> Cloud:
    """The module's cloud with Volcano's CRDs Established (installed once per module)."""
    asyncio.run(_install(cloud))
    return cloud
