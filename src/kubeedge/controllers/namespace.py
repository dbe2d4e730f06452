"""The namespace controller: empties a Terminating namespace and then lets it go
(kube's namespace lifecycle controller, pkg/controller/namespace/deletion).

A namespace with a deletionTimestamp stays while `spec.finalizers` holds `kubernetes`.
This controller deletes every namespaced resource in it (found through discovery:
deletecollection where the resource allows it, else list and delete one by one),
reports progress in the namespace's status conditions the way kube does, waits for
what remains (pods on nodes wait for their node to confirm; objects with finalizers
wait for their finalizers), and finally removes `kubernetes` through the
`namespaces/{name}/finalize` subresource, after which the API server removes it.

Must never finalize a namespace that still has content, and never touch a namespace
that is not terminating.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef, split_api_version
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
FINALIZER = "kubernetes"

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
# kube's order, and what each condition says when nothing is wrong (status False).
CONDITION_TYPES = (DISCOVERY_FAILURE, PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING,
                   FINALIZERS_REMAINING)
OK_CONDITIONS = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted",
                      "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers",
                           "All content-preserving finalizers finished"),
}


@dataclass
class Remaining:
    """What a deletion pass left behind, and how long it is expected to take."""

    resources: dict[str, int] = field(default_factory=dict)  # "pods." -> count
    finalizers: dict[str, int] = field(default_factory=dict)  # finalizer -> count
    estimate_seconds: int = 0

    @property
    def empty(self) -> bool:
        return not self.resources


@dataclass
class Pass:
    """One pass over a namespace's content."""

    remaining: Remaining = field(default_factory=Remaining)
    discovery_errors: list[str] = field(default_factory=list)
    content_errors: list[str] = field(default_factory=list)


def conditions_for(result: Pass) -> dict[str, tuple[str, str, str]]:
    """type → (status, reason, message), in kube's words (status_condition_utils.go)."""
    found: dict[str, tuple[str, str, str]] = {}
    if result.discovery_errors:
        found[DISCOVERY_FAILURE] = (
            "True", "DiscoveryFailed",
            f"Discovery failed for some groups, {len(result.discovery_errors)} failing: "
            + ", ".join(result.discovery_errors))
    if result.content_errors:
        found[CONTENT_FAILURE] = (
            "True", "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(result.content_errors)} remaining: "
            + ", ".join(result.content_errors))
    left = result.remaining
    if left.resources:
        parts = sorted(f"{gr} has {n} resource instances" for gr, n in left.resources.items()
                       if n)
        found[CONTENT_REMAINING] = ("True", "SomeResourcesRemain",
                                    f"Some resources are remaining: {', '.join(parts)}")
    if any(left.finalizers.values()):
        parts = sorted(f"{f} in {n} resource instances" for f, n in left.finalizers.items()
                       if n)
        found[FINALIZERS_REMAINING] = (
            "True", "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {', '.join(parts)}")
    result_all = {}
    for ctype in CONDITION_TYPES:
        reason, message = OK_CONDITIONS[ctype]
        result_all[ctype] = found.get(ctype, ("False", reason, message))
    return result_all


def apply_conditions(ns: Obj, wanted: dict[str, tuple[str, str, str]]) -> bool:
    """Write `wanted` into the namespace's status; True when anything changed.
    lastTransitionTime moves only when a condition's status does."""
    changed = False
    for ctype in CONDITION_TYPES:
        status, reason, message = wanted[ctype]
        changed = meta.set_condition(ns, ctype, status, reason, message) or changed
    return changed


def grace_estimate(pods: list[Obj]) -> int:
    """The longest grace period among unfinished pods (kube's estimate of how long
    graceful pod termination takes)."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is not None and int(grace) > estimate:
            estimate = int(grace)
    return estimate


def requeue_delay(estimate_seconds: int) -> float:
    """kube waits half the estimate (plus a second) before looking again."""
    return estimate_seconds // 2 + 1


class NamespaceController(Controller):
    name = "namespace"
    component = "namespace-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 sync_period_seconds: float | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_namespace_syncs
        # kube's --namespace-sync-period: terminating namespaces are revisited this often
        # even without events.
        self.sync_period_seconds = (sync_period_seconds or
                                    self.config.namespace_sync_period_seconds)
        self._resync_task: asyncio.Task[None] | None = None

    def setup(self) -> None:
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(**self.enqueue_by(
            lambda ns: meta.name_of(ns) if meta.is_terminating(ns) else None))

    async def start(self) -> None:
        await super().start()
        self._resync_task = asyncio.create_task(self._resync(), name=f"{self.name} resync")

    async def stop(self) -> None:
        task, self._resync_task = self._resync_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.sync_period_seconds)
            for ns in self.namespaces.store.list():
                if meta.is_terminating(ns):
                    self.queue.add(meta.name_of(ns))

    async def reconcile(self, name: str) -> None:
        # The cache may lag behind a namespace that is already gone: ask the server.
        try:
            ns = await self.client.get(NAMESPACES, name)
        except APIError as exc:
            if exc.is_not_found:
                return
            raise
        if not meta.is_terminating(ns):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return  # already finalized; other finalizers are someone else's
        result = await self.delete_content(name)
        ns = await self._report(ns, result)
        if result.discovery_errors or result.content_errors:
            raise RuntimeError(
                f"namespace {name}: deletion incomplete: "
                + "; ".join([*result.discovery_errors, *result.content_errors]))
        if not result.remaining.empty:
            self.queue.add_after(name, requeue_delay(result.remaining.estimate_seconds))
            return
        await self._finalize(ns)

    # -- content ----------------------------------------------------------------------

    async def _namespaced_resources(self, result: Pass) -> list[tuple[ResourceRef, set[str]]]:
        """Every namespaced resource that can be deleted, each group's preferred
        version, with its verbs."""
        try:
            versions = await self.client.api_versions()
        except APIError as exc:
            result.discovery_errors.append(str(exc))
            return []
        seen_groups: set[str] = set()
        found: list[tuple[ResourceRef, set[str]]] = []
        for gv in versions:
            group, version = split_api_version(gv)
            if group in seen_groups:
                continue
            seen_groups.add(group)
            try:
                entries = await self.client.api_resources(gv, refresh=True)
            except APIError as exc:
                result.discovery_errors.append(f"{gv}: {exc}")
                continue
            for entry in entries:
                plural = str(entry.get("name") or "")
                verbs = {str(v) for v in entry.get("verbs") or ()}
                if "/" in plural or not entry.get("namespaced") or "delete" not in verbs:
                    continue
                found.append((ResourceRef(group, version, plural, True,
                                          str(entry.get("kind") or "")), verbs))
        return found

    async def delete_content(self, namespace: str) -> Pass:
        result = Pass()
        for ref, verbs in await self._namespaced_resources(result):
            try:
                await self._delete_all_of(ref, verbs, namespace, result.remaining)
            except APIError as exc:
                if exc.is_not_found:
                    continue  # the resource went away (a CRD removed meanwhile)
                result.content_errors.append(f"{ref.qualified}: {exc}")
        return result

    async def _delete_all_of(self, ref: ResourceRef, verbs: set[str], namespace: str,
                             remaining: Remaining) -> None:
        estimate = 0
        if (ref.group, ref.plural) == ("", "pods") and "list" in verbs:
            pods = (await self.client.list(ref, namespace)).get("items") or []
            estimate = grace_estimate(pods)
        if "deletecollection" in verbs:
            await self.client.delete_collection(ref, namespace, propagation_policy="Background")
        elif "list" in verbs:
            for obj in (await self.client.list(ref, namespace)).get("items") or []:
                if meta.is_terminating(obj):
                    continue
                try:
                    await self.client.delete(ref, meta.name_of(obj), namespace,
                                             propagation_policy="Background")
                except APIError as exc:
                    if not exc.is_not_found:
                        raise
        if "list" not in verbs:
            return
        left = (await self.client.list(ref, namespace)).get("items") or []
        if not left:
            return
        remaining.resources[f"{ref.plural}.{ref.group}"] = len(left)
        for obj in left:
            for finalizer in (obj.get("metadata") or {}).get("finalizers") or ():
                remaining.finalizers[finalizer] = remaining.finalizers.get(finalizer, 0) + 1
        remaining.estimate_seconds = max(remaining.estimate_seconds, estimate)

    # -- status and finalize ----------------------------------------------------------

    async def _report(self, ns: Obj, result: Pass) -> Obj:
        updated = copy.deepcopy(ns)
        changed = apply_conditions(updated, conditions_for(result))
        status = updated.setdefault("status", {})
        if status.get("phase") != "Terminating":
            status["phase"] = "Terminating"
            changed = True
        if not changed:
            return ns
        try:
            return await self.client.update_status(NAMESPACES, updated)
        except APIError as exc:
            if exc.is_not_found:
                return ns
            raise

    async def _finalize(self, ns: Obj) -> None:
        updated = copy.deepcopy(ns)
        spec = updated.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.update(NAMESPACES, updated, subresource="finalize")
        except APIError as exc:
            if not exc.is_not_found:
                raise
        log.info("%s: namespace %s finalized", self.name, meta.name_of(ns))
