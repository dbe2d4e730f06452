"""ControllerRevisions: the template history DaemonSets and StatefulSets keep (kube's
controller/history package and the DaemonSet controller's snapshots).

A revision's `data` is the strategic merge patch kubectl applies on `rollout undo`:
`{"spec": {"template": {..., "$patch": "replace"}}}`; its `revision` number orders the
history. Revisions are named `<parent>-<hash>`; a hash already taken by a revision
with other data is a collision, which the owner resolves by bumping its
`status.collisionCount` (that changes the hash). Pure helpers plus a few writes
through `APIClient`; never touches pods.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.pods import controller_ref, new_controller_ref, template_hash

Obj = dict[str, Any]

CONTROLLER_REVISIONS = ResourceRef("apps", "v1", "controllerrevisions", True,
                                   "ControllerRevision")
# The label pods and revisions carry with their revision (DaemonSets: the hash;
# StatefulSets: the revision name).
CONTROLLER_REVISION_HASH = "controller-revision-hash"
# The label kube's history package puts on every revision it makes (StatefulSets).
REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
# kube keeps revision names short enough to leave room for the hash.
MAX_PARENT_NAME = 223


class HashCollision(Exception):
    """A revision with our name but other data exists: bump collisionCount and retry."""

    def __init__(self, name: str) -> None:
        super().__init__(f"controller revision {name} exists with different data")
        self.name = name


def template_patch(template: Obj) -> Obj:
    """The revision data for a pod template (kubectl's getDaemonSetPatch and
    getStatefulSetPatch produce the same shape, so `rollout undo` can compare)."""
    body = copy.deepcopy(template)
    body["$patch"] = "replace"
    return {"spec": {"template": body}}


def template_of(revision: Obj) -> Obj:
    """The pod template a revision restores."""
    template = ((revision.get("data") or {}).get("spec") or {}).get("template") or {}
    return {k: v for k, v in template.items() if k != "$patch"}


def revision_name(parent: str, hash_: str) -> str:
    return f"{parent[:MAX_PARENT_NAME]}-{hash_}"


def revision_number(revision: Obj) -> int:
    try:
        return int(revision.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name (kube's
    byRevision)."""
    return sorted(revisions, key=lambda r: (
        revision_number(r), (r.get("metadata") or {}).get("creationTimestamp") or "",
        meta.name_of(r)))


def max_revision(revisions: Iterable[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0)


def equal_data(a: Obj, b: Obj) -> bool:
    return (a.get("data") or {}) == (b.get("data") or {})


def data_hash(data: Obj, collision_count: int = 0) -> str:
    return template_hash(data, collision_count)


def new_revision(parent: Obj, data: Obj, revision: int, hash_: str, *,
                 template_labels: dict[str, str] | None = None,
                 extra_labels: dict[str, str] | None = None,
                 annotations: dict[str, str] | None = None) -> Obj:
    """A ControllerRevision owned by `parent` (labels: the template's, so the parent's
    selector finds it, plus `extra_labels`)."""
    labels = dict(template_labels or {})
    labels.update(extra_labels or {})
    md: Obj = {
        "name": revision_name(meta.name_of(parent), hash_),
        "namespace": meta.namespace_of(parent),
        "labels": labels,
        "ownerReferences": [new_controller_ref(parent)],
    }
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": md,
            "data": data, "revision": revision}


def owned_by(parent: Obj, revisions: Iterable[Obj]) -> list[Obj]:
    uid = (parent.get("metadata") or {}).get("uid")
    return [r for r in revisions if (controller_ref(r) or {}).get("uid") == uid]


async def create(client: APIClient, revision: Obj) -> Obj:
    """Create `revision`; an existing one with the same name and data (and owner) is
    returned instead; one with other data raises `HashCollision`."""
    md = revision["metadata"]
    try:
        return await client.create(CONTROLLER_REVISIONS, revision, md["namespace"])
    except APIError as exc:
        if not exc.is_already_exists:
            raise
    existing = await client.get(CONTROLLER_REVISIONS, md["name"], md["namespace"])
    owner_uid = md["ownerReferences"][0]["uid"]
    if equal_data(existing, revision) and (controller_ref(existing) or {}).get("uid") == owner_uid:
        return existing
    raise HashCollision(md["name"])


async def renumber(client: APIClient, revision: Obj, number: int) -> Obj:
    """Move an old revision to the head of the history (a rollback to it)."""
    return await client.patch(CONTROLLER_REVISIONS, meta.name_of(revision),
                              {"revision": number}, meta.namespace_of(revision),
                              patch_type="merge")


async def truncate(client: APIClient, revisions: Iterable[Obj], live: set[str],
                   limit: int) -> None:
    """Delete the oldest revisions no live pod or status names, keeping `limit` of them
    (kube's revisionHistoryLimit)."""
    history = [r for r in sort_revisions(revisions) if meta.name_of(r) not in live]
    excess = len(history) - max(limit, 0)
    for revision in history[:max(excess, 0)]:
        try:
            await client.delete(CONTROLLER_REVISIONS, meta.name_of(revision),
                                meta.namespace_of(revision),
                                preconditions={"uid": meta.metadata(revision).get("uid", "")})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
