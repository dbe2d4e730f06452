"""Per-kind rules applied on create, update and delete ("strategies" in kube-apiserver).

What each kind does to an object before it is stored: which parts a user may set
through which endpoint (spec vs status), when `generation` moves, API defaults,
validation, ClusterIP allocation, graceful pod deletion. Handlers call these; these
never touch HTTP and reach storage only through the `ObjectStore` they are given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubeedge.api import errors, meta
from kubeedge.api.defaults import job_selector_defaults
from kubeedge.api.registry import ResourceType

# Kinds whose status a create keeps as sent: kubelets and controllers create these with
# their status already filled in (kube-apiserver does the same for nodes and events).
KEEP_STATUS_ON_CREATE = frozenset({"Node", "Event", "Lease", "CustomResourceDefinition"})
# Kinds whose `generation` is not tracked by kube-apiserver (no spec to observe).
NO_GENERATION = frozenset(
    {"ConfigMap", "Secret", "Event", "Endpoints", "EndpointSlice", "ServiceAccount", "Lease",
     "Namespace", "Node", "ControllerRevision", "Role", "ClusterRole", "RoleBinding",
     "ClusterRoleBinding", "PriorityClass"}
)
# DELETE returns the object rather than a Status for these (specs/k8s-api.md §3).
RETURN_DELETED_OBJECT = frozenset({"Pod", "Namespace", "ServiceAccount"})

DEFAULT_POD_GRACE_SECONDS = 30
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
GC_ORPHAN = "orphan"
GC_FOREGROUND = "foregroundDeletion"


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything generation watches: the object minus metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass
class DeletePlan:
    """What a DELETE does now: remove the key, or mark the object and keep it."""

    remove_now: bool
    updated: dict[str, Any] | None = None


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Reset what a client may not set on create and fill the server-owned metadata."""
    md = meta.metadata(obj)
    md["uid"] = meta.new_uid()
    md["creationTimestamp"] = meta.rfc3339(meta.now())
    md.pop("deletionTimestamp", None)
    md.pop("deletionGracePeriodSeconds", None)
    md.pop("selfLink", None)
    if rt.kind not in NO_GENERATION or rt.crd:
        md["generation"] = 1
    else:
        md.pop("generation", None)
    if rt.has_status() and rt.kind not in KEEP_STATUS_ON_CREATE:
        # The status subresource owns status; a create may not set it (kube strategy).
        obj.pop("status", None)
    if rt.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif rt.kind == "Pod":
        obj["status"] = {"phase": "Pending"}
    elif rt.kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    elif rt.kind == "CustomResourceDefinition":
        obj["status"] = {"conditions": [], "acceptedNames": {"kind": "", "plural": ""},
                         "storedVersions": []}
    if rt.group == "batch" and rt.kind == "Job" and not rt.crd:
        # kube's job strategy: the selector and pod labels name this Job's uid.
        job_selector_defaults(obj, md["uid"])


def prepare_update(
    rt: ResourceType, new: dict[str, Any], old: dict[str, Any], subresource: str
) -> dict[str, Any]:
    """Merge what this endpoint may change into the stored object."""
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        # Status writers may also add or change labels and annotations (kubelet and
        # controllers do; the Deployment controller records its revision this way),
        # but not the rest of metadata.
        new_md = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
        result_md = meta.metadata(result)
        for key in ("labels", "annotations"):
            if key in new_md:
                if new_md[key]:
                    result_md[key] = new_md[key]
                else:
                    result_md.pop(key, None)
        return result
    result = new
    md = meta.metadata(result)
    old_md = old.get("metadata", {})
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation"):
        if key in old_md:
            md[key] = old_md[key]
        else:
            md.pop(key, None)
    md.pop("selfLink", None)
    if rt.has_status():
        if "status" in old:
            result["status"] = old["status"]
        else:
            result.pop("status", None)
    if "generation" in old_md and spec_part(result) != spec_part(old):
        md["generation"] = int(old_md["generation"]) + 1
    return result


def forbid_new_finalizers_while_deleting(new: dict[str, Any], old: dict[str, Any]) -> None:
    if not meta.is_terminating(old):
        return
    before = set(old.get("metadata", {}).get("finalizers") or [])
    after = set(new.get("metadata", {}).get("finalizers") or [])
    added = sorted(after - before)
    if added:
        raise errors.invalid(
            new.get("kind", ""),
            meta.name_of(new),
            [errors.Cause(
                "metadata.finalizers",
                f"Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {added}",
                "FieldValueForbidden",
            )],
        )


def plan_delete(rt: ResourceType, obj: dict[str, Any], options: dict[str, Any]) -> DeletePlan:
    """Finalizers and graceful pod deletion (specs/k8s-api.md §3; kube's BeforeDelete)."""
    md = obj.get("metadata", {})
    finalizers = md.get("finalizers") or []
    grace = options.get("gracePeriodSeconds")
    if rt.kind == "Pod":
        pod_grace = _pod_grace(obj, grace)
        if pod_grace > 0:
            updated = copy.deepcopy(obj)
            umd = updated["metadata"]
            current = umd.get("deletionGracePeriodSeconds")
            if current is None or pod_grace < int(current):
                umd["deletionTimestamp"] = meta.rfc3339(
                    meta.now() + timedelta(seconds=pod_grace)
                )
                umd["deletionGracePeriodSeconds"] = pod_grace
            return DeletePlan(False, updated)
        if finalizers:
            updated = copy.deepcopy(obj)
            umd = updated["metadata"]
            umd.setdefault("deletionTimestamp", meta.rfc3339(meta.now()))
            umd["deletionGracePeriodSeconds"] = 0
            return DeletePlan(False, updated)
        return DeletePlan(True)
    if rt.kind == "Namespace":
        updated = copy.deepcopy(obj)
        updated["metadata"].setdefault("deletionTimestamp", meta.rfc3339(meta.now()))
        updated["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        updated.setdefault("status", {})["phase"] = "Terminating"
        if finalizers or (updated.get("spec") or {}).get("finalizers"):
            return DeletePlan(False, updated)
        return DeletePlan(True)
    if rt.kind == "CustomResourceDefinition" and not rt.crd:
        # Custom resources go first; the CRD controller then releases this finalizer.
        updated = copy.deepcopy(obj)
        updated["metadata"].setdefault("deletionTimestamp", meta.rfc3339(meta.now()))
        updated["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        fins = updated["metadata"].setdefault("finalizers", [])
        if CRD_CLEANUP_FINALIZER not in fins:
            fins.append(CRD_CLEANUP_FINALIZER)
        meta.set_condition(updated, "Terminating", "True", "InstanceDeletionPending",
                           "CustomResourceDefinition marked for deletion")
        return DeletePlan(False, updated)
    # The garbage collector's finalizers (kube's deletionFinalizersForGarbageCollection):
    # the request's policy decides; without one, what an earlier delete chose stays.
    policy = options.get("propagationPolicy")
    orphan = policy == "Orphan" if policy else GC_ORPHAN in finalizers
    foreground = policy == "Foreground" if policy else GC_FOREGROUND in finalizers
    kept = [f for f in finalizers if f not in (GC_ORPHAN, GC_FOREGROUND)]
    wanted = kept + [GC_ORPHAN] * orphan + [GC_FOREGROUND] * foreground
    if not wanted:
        return DeletePlan(True)
    updated = copy.deepcopy(obj)
    updated["metadata"].setdefault("deletionTimestamp", meta.rfc3339(meta.now()))
    updated["metadata"].setdefault("deletionGracePeriodSeconds", 0)
    updated["metadata"]["finalizers"] = wanted
    return DeletePlan(False, updated)


def _pod_grace(pod: dict[str, Any], requested: int | None) -> int:
    """Grace period for a pod delete; 0 means remove at once.

    A pod that never reached a node, or already finished, has nothing to stop, so it
    goes at once whatever was asked (kube's pod strategy CheckGracefulDelete).
    """
    spec = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, int(requested))
    value = spec.get("terminationGracePeriodSeconds")
    if value is None:
        return DEFAULT_POD_GRACE_SECONDS
    return max(0, int(value))


def ready_to_remove(obj: dict[str, Any]) -> bool:
    """A terminating object with no finalizers left, whose grace period is over."""
    md = obj.get("metadata", {})
    if not md.get("deletionTimestamp") or md.get("finalizers"):
        return False
    if obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
        return False
    return int(md.get("deletionGracePeriodSeconds") or 0) == 0
