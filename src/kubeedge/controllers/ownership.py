"""Adopting and releasing objects by selector and controller reference (kube's
ControllerRefManager): a controller owns the objects whose controller reference names
its uid; it adopts orphans its selector matches (unless it is being deleted) and
releases owned objects its selector no longer matches. Adoption and release are
patches with a uid precondition, so a recreated owner never adopts by mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.pods import controller_ref, new_controller_ref

Obj = dict[str, Any]


async def claim(
    client: APIClient,
    ref: ResourceRef,
    owner: Obj,
    candidates: Iterable[Obj],
    matches: Callable[[Obj], bool],
) -> list[Obj]:
    """The objects `owner` controls after adopting matching orphans and releasing owned
    ones that no longer match. Objects owned by another controller are never touched."""
    owner_uid = meta.metadata(owner).get("uid")
    owner_deleting = meta.is_terminating(owner)
    claimed: list[Obj] = []
    for obj in candidates:
        ref_ = controller_ref(obj)
        if ref_ is not None:
            if ref_.get("uid") != owner_uid:
                continue  # someone else's
            if matches(obj) or owner_deleting:
                claimed.append(obj)
                continue
            if meta.is_terminating(obj):
                continue
            await _release(client, ref, owner, obj)
            continue
        # An orphan: adopt it if it matches, unless one of us is going away.
        if owner_deleting or meta.is_terminating(obj) or not matches(obj):
            continue
        adopted = await _adopt(client, ref, owner, obj)
        if adopted is not None:
            claimed.append(adopted)
    return claimed


async def _adopt(client: APIClient, ref: ResourceRef, owner: Obj, obj: Obj) -> Obj | None:
    md = meta.metadata(obj)
    patch = {"metadata": {
        "ownerReferences": [*(md.get("ownerReferences") or []), new_controller_ref(owner)],
        "uid": md.get("uid"),  # precondition: the object we saw
    }}
    try:
        return await client.patch(ref, md.get("name", ""), patch, md.get("namespace"),
                                  patch_type="merge")
    except APIError as exc:
        if exc.is_not_found or exc.is_conflict or exc.is_invalid:
            return None  # gone or changed under us: the next sync sees the new state
        raise


async def _release(client: APIClient, ref: ResourceRef, owner: Obj, obj: Obj) -> None:
    md = meta.metadata(obj)
    owner_uid = meta.metadata(owner).get("uid")
    kept = [r for r in md.get("ownerReferences") or [] if r.get("uid") != owner_uid]
    patch = {"metadata": {"ownerReferences": kept or None, "uid": md.get("uid")}}
    try:
        await client.patch(ref, md.get("name", ""), patch, md.get("namespace"),
                           patch_type="merge")
    except APIError as exc:
        if not (exc.is_not_found or exc.is_conflict or exc.is_invalid):
            raise
