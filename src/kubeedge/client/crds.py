"""Installing CustomResourceDefinitions a component ships (Volcano's, KubeEdge's
reliablesyncs), as their Helm charts do: create each or bring its spec up to date, then
wait until every one is Established so the component can use them at once.

Idempotent: a CRD whose spec already holds everything wanted is not written, so two
processes installing the same CRDs do not fight (a create that loses the race compares
with the winner's).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

__all__ = ["CUSTOM_RESOURCE_DEFINITIONS", "established", "install_crds"]

CUSTOM_RESOURCE_DEFINITIONS = ResourceRef(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, "CustomResourceDefinition"
)
POLL_INTERVAL = 0.05


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` holds everything in `wanted` (the API server may add defaults)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in wanted.items())
    if isinstance(wanted, list):
        return (isinstance(actual, list) and len(actual) == len(wanted)
                and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True)))
    return bool(actual == wanted and type(actual) is type(wanted))


def established(crd: dict[str, Any]) -> bool:
    cond = meta.condition(crd, "Established")
    return bool(cond and cond.get("status") == "True")


async def _apply(client: APIClient, wanted: dict[str, Any]) -> None:
    name = meta.name_of(wanted)
    while True:
        try:
            current = await client.get(CUSTOM_RESOURCE_DEFINITIONS, name)
        except APIError as err:
            if not err.is_not_found:
                raise
            try:
                await client.create(CUSTOM_RESOURCE_DEFINITIONS, wanted)
                return
            except APIError as create_err:
                if create_err.is_already_exists:
                    continue  # another process made it meanwhile: compare with theirs
                raise
        if _contains(current.get("spec"), wanted["spec"]):
            return
        updated = copy.deepcopy(current)
        updated["spec"] = copy.deepcopy(wanted["spec"])
        try:
            await client.update(CUSTOM_RESOURCE_DEFINITIONS, updated)
            return
        except APIError as err:
            if not err.is_conflict:
                raise


async def install_crds(client: APIClient, crds: Iterable[dict[str, Any]],
                       timeout: float = 30.0) -> None:
    """Create or update `crds`, then wait until each is Established. Raises
    `TimeoutError` naming the CRDs still not Established after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    crds = list(crds)
    for crd in crds:
        await _apply(client, crd)
    waiting = [meta.name_of(crd) for crd in crds]
    while True:
        still = [name for name in waiting
                 if not established(await client.get(CUSTOM_RESOURCE_DEFINITIONS, name))]
        if not still:
            # Discovery cached before the install would not know the new resources.
            client.forget_discovery()
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"CustomResourceDefinitions not Established after "
                               f"{timeout:g}s: {', '.join(still)}")
        waiting = still
        await asyncio.sleep(POLL_INTERVAL)
