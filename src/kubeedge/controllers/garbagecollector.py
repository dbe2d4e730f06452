"""The garbage collector: deletes objects whose owners are gone, and carries out the
foreground and orphan deletions the API server records as finalizers (kube's generic
garbage collector, pkg/controller/garbagecollector).

Owns the owner→dependents graph of every object of every listable, watchable and
deletable resource (found through discovery, re-discovered periodically and whenever a
CustomResourceDefinition is established, so custom kinds added later are covered), and
two kinds of work on it: `delete/<uid>` (is this object garbage? is this owner done
waiting for its dependents?) and `orphan/<uid>` (release this owner's dependents).

Must never delete on the strength of the cache alone: an owner is absent only when a
live GET says so (404, or an object of that name with another uid), and every delete
carries a uid precondition. Objects in the informer caches are shared: never changed.
The graph keeps only identities and owner references, not the objects, so the cost per
object beyond the shared informer cache is a few hundred bytes (kube watches metadata
only; our API server has no metadata-only list, so the informers hold full objects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import HandlerRegistration, Informer, SharedInformerFactory
from kubeedge.client.resources import ResourceRef, split_api_version
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Policy = Literal["Orphan", "Background", "Foreground"]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# kube's GC leaves events alone: they are many, short-lived and never owners.
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
ABSENT_CACHE_SIZE = 500  # kube's absentOwnerCache size
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", False,
                   "CustomResourceDefinition")


# -- the graph (pure: no I/O) -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Identity:
    """Where an object is: apiVersion, kind, namespace ("" when cluster-scoped), name
    and uid (kube's objectReference)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
                f"name: {self.name}, uid: {self.uid}]")

    def sort_key(self) -> tuple[str, ...]:
        # kind and apiVersion first, as kube orders alternate owner identities.
        return (self.kind, self.api_version, self.namespace, self.name, self.uid)


@dataclass(frozen=True, slots=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def parse(cls, ref: Obj) -> OwnerRef:
        return cls(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""),
                   str(ref.get("name") or ""), str(ref.get("uid") or ""),
                   bool(ref.get("controller")), bool(ref.get("blockOwnerDeletion")))

    def matches(self, identity: Identity) -> bool:
        """Same coordinates as `identity` (namespace aside: references carry none)."""
        return (self.uid, self.name, self.kind, self.api_version) == (
            identity.uid, identity.name, identity.kind, identity.api_version)


def owner_refs_of(obj: Obj) -> tuple[OwnerRef, ...]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return tuple(OwnerRef.parse(r) for r in refs if isinstance(r, dict) and r.get("uid"))


def finalizers_of(obj: Obj | None) -> tuple[str, ...]:
    if obj is None:
        return ()
    return tuple((obj.get("metadata") or {}).get("finalizers") or ())


def deleting(obj: Obj | None) -> bool:
    return obj is not None and bool((obj.get("metadata") or {}).get("deletionTimestamp"))


class Node:
    """One object in the graph. A virtual node stands for an owner that is referenced
    but not (yet) observed; a live lookup confirms or removes it."""

    __slots__ = ("being_deleted", "deleting_dependents", "dependents", "identity", "owners",
                 "virtual")

    def __init__(self, identity: Identity, owners: tuple[OwnerRef, ...] = (), *,
                 virtual: bool = False, being_deleted: bool = False,
                 deleting_dependents: bool = False) -> None:
        self.identity = identity
        self.owners = owners
        self.dependents: set[str] = set()
        self.virtual = virtual
        self.being_deleted = being_deleted
        self.deleting_dependents = deleting_dependents


@dataclass
class Work:
    """What a graph change asks the workers to do."""

    delete: list[str] = field(default_factory=list)
    orphan: list[str] = field(default_factory=list)
    # (dependent, uid of the owner it wrongly references across namespaces)
    invalid: list[tuple[Identity, OwnerRef]] = field(default_factory=list)
    # keys to retry later (a virtual node given another identity to check)
    retry: list[str] = field(default_factory=list)


class DependencyGraph:
    """uid → Node, kept by informer events (kube's GraphBuilder)."""

    def __init__(self, absent_cache_size: int = ABSENT_CACHE_SIZE) -> None:
        self.nodes: dict[str, Node] = {}
        self._absent: OrderedDict[Identity, None] = OrderedDict()
        self._absent_size = absent_cache_size

    # -- the absent-owner cache: owners a live lookup found missing --------------------

    def mark_absent(self, identity: Identity) -> None:
        self._absent[identity] = None
        self._absent.move_to_end(identity)
        while len(self._absent) > self._absent_size:
            self._absent.popitem(last=False)

    def known_absent(self, identity: Identity) -> bool:
        return identity in self._absent

    # -- events -----------------------------------------------------------------------

    def observe(self, identity: Identity, owners: tuple[OwnerRef, ...], obj: Obj,
                old: Obj | None) -> Work:
        """An add or update seen by an informer."""
        work = Work()
        node = self.nodes.get(identity.uid)
        if node is not None and node.virtual:
            if node.identity != identity:
                # Dependents that named this owner by other coordinates may be wrong;
                # a namespaced owner in another namespace than its dependent surely is.
                _, mismatched = self._partition(node.dependents, identity)
                for dep in mismatched:
                    if identity.namespace and dep.identity.namespace != identity.namespace:
                        ref = _ref_to(dep, identity.uid)
                        if ref is not None:
                            work.invalid.append((dep.identity, ref))
                    work.delete.append(dep.identity.uid)
                node.identity = identity
            node.virtual = False
        if node is None:
            node = Node(identity, owners, being_deleted=deleting(obj),
                        deleting_dependents=deleting(obj) and FOREGROUND in finalizers_of(obj))
            self.nodes[identity.uid] = node
            self._add_to_owners(node, owners, work)
        else:
            added, removed, changed = _diff(node.owners, owners)
            if added or removed or changed:
                # An owner waiting for its blocking dependents may be free now.
                for ref in removed:
                    if ref.block_owner_deletion and ref.uid in self.nodes:
                        work.delete.append(ref.uid)
                for before, after in changed:
                    if (before.block_owner_deletion and not after.block_owner_deletion
                            and after.uid in self.nodes):
                        work.delete.append(after.uid)
                node.owners = owners
                self._add_to_owners(node, added, work)
                for ref in removed:
                    owner = self.nodes.get(ref.uid)
                    if owner is not None:
                        owner.dependents.discard(identity.uid)
            if deleting(obj):
                node.being_deleted = True
        self._transitions(node, obj, old, work)
        return work

    def remove(self, identity: Identity) -> Work:
        """A delete seen by an informer."""
        work = Work()
        node = self.nodes.get(identity.uid)
        if node is None:
            return work
        self._remove_node(node, identity, work)
        return work

    def virtual_delete(self, identity: Identity) -> Work:
        """A live lookup found no object with this identity (kube's virtual delete
        event): drop the node unless some dependents name it by other coordinates."""
        work = Work()
        node = self.nodes.get(identity.uid)
        if node is None:
            return work
        if node.virtual:
            matching, mismatched = self._partition(node.dependents, identity)
            if mismatched:
                if matching:
                    self.mark_absent(identity)
                    work.delete.extend(d.identity.uid for d in matching)
                if node.identity == identity:
                    other = _alternate_identity(mismatched, identity)
                    if other is not None:
                        node.identity = other
                        work.retry.append(other.uid)
                return work
        elif node.identity != identity:
            matching, _ = self._partition(node.dependents, identity)
            if matching:
                self.mark_absent(identity)
                work.delete.extend(d.identity.uid for d in matching)
            return work
        self._remove_node(node, identity, work)
        return work

    def blocking_dependents(self, node: Node) -> list[Node]:
        """Dependents that hold `node` back with blockOwnerDeletion."""
        found = []
        for uid in node.dependents:
            dep = self.nodes.get(uid)
            if dep is not None and any(r.uid == node.identity.uid and r.block_owner_deletion
                                       for r in dep.owners):
                found.append(dep)
        return found

    def dependents_of(self, node: Node) -> list[Node]:
        return [d for d in (self.nodes.get(uid) for uid in node.dependents) if d is not None]

    # -- internals --------------------------------------------------------------------

    def _remove_node(self, node: Node, identity: Identity, work: Work) -> None:
        del self.nodes[node.identity.uid]
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.dependents.discard(node.identity.uid)
        if node.dependents:
            self.mark_absent(identity)
        work.delete.extend(node.dependents)
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                work.delete.append(ref.uid)

    def _add_to_owners(self, node: Node, owners: Iterable[OwnerRef], work: Work) -> None:
        suspicious = False
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is None:
                # A virtual owner, in the dependent's namespace until observed; the
                # workers look it up and drop it if it does not exist.
                owner = Node(Identity(ref.api_version, ref.kind, node.identity.namespace,
                                      ref.name, ref.uid), virtual=True)
                self.nodes[ref.uid] = owner
                owner.dependents.add(node.identity.uid)
                work.delete.append(ref.uid)
                continue
            owner.dependents.add(node.identity.uid)
            if suspicious:
                continue
            owner_ns = owner.identity.namespace
            if owner_ns and owner_ns != node.identity.namespace:
                # A namespaced owner can only own objects in its own namespace.
                if not owner.virtual:
                    work.invalid.append((node.identity, ref))
                suspicious = True
            elif not ref.matches(owner.identity):
                suspicious = True
            elif not owner_ns and owner.virtual and node.identity.namespace:
                # Perhaps a namespaced kind referenced from elsewhere: verify.
                suspicious = True
        if suspicious:
            work.delete.append(node.identity.uid)

    def _transitions(self, node: Node, obj: Obj, old: Obj | None, work: Work) -> None:
        if _starts(obj, old, ORPHAN):
            work.orphan.append(node.identity.uid)
            return
        if _starts(obj, old, FOREGROUND):
            node.deleting_dependents = True
            work.delete.extend(node.dependents)
            work.delete.append(node.identity.uid)

    def _partition(self, uids: Iterable[str], identity: Identity
                   ) -> tuple[list[Node], list[Node]]:
        """Dependents whose reference to `identity.uid` matches its coordinates, and
        those with a reference that does not (kube's partitionDependents)."""
        matching: list[Node] = []
        mismatched: list[Node] = []
        for uid in uids:
            dep = self.nodes.get(uid)
            if dep is None:
                continue
            match = mismatch = False
            if identity.namespace and identity.namespace != dep.identity.namespace:
                mismatch = True
            else:
                for ref in dep.owners:
                    if ref.uid == identity.uid:
                        if ref.matches(identity):
                            match = True
                        else:
                            mismatch = True
            if match:
                matching.append(dep)
            if mismatch:
                mismatched.append(dep)
        return matching, mismatched


def _starts(obj: Obj, old: Obj | None, finalizer: str) -> bool:
    """Deletion with `finalizer` begins with this event."""
    if not deleting(obj) or finalizer not in finalizers_of(obj):
        return False
    return old is None or not deleting(old) or finalizer not in finalizers_of(old)


def _diff(old: tuple[OwnerRef, ...], new: tuple[OwnerRef, ...]
          ) -> tuple[list[OwnerRef], list[OwnerRef], list[tuple[OwnerRef, OwnerRef]]]:
    before = {r.uid: r for r in old}
    added: list[OwnerRef] = []
    changed: list[tuple[OwnerRef, OwnerRef]] = []
    for ref in new:
        prev = before.pop(ref.uid, None)
        if prev is None:
            added.append(ref)
        elif prev != ref:
            changed.append((prev, ref))
    return added, list(before.values()), changed


def _ref_to(node: Node, uid: str) -> OwnerRef | None:
    return next((r for r in node.owners if r.uid == uid), None)


def _alternate_identity(deps: list[Node], absent: Identity) -> Identity | None:
    """Another identity the dependents give this owner uid: the first after `absent`
    in kube's order, else the first (so every candidate gets checked in turn)."""
    candidates = sorted(
        {Identity(r.api_version, r.kind, d.identity.namespace, r.name, r.uid)
         for d in deps for r in d.owners if r.uid == absent.uid} - {absent},
        key=Identity.sort_key)
    if not candidates:
        return None
    later = [c for c in candidates if c.sort_key() > absent.sort_key()]
    return (later or candidates)[0]


def invalid_namespace_message(dependent: Identity, ref: OwnerRef) -> str:
    """kube's OwnerRefInvalidNamespace event message."""
    owner = Identity(ref.api_version, ref.kind, dependent.namespace, ref.name, ref.uid)
    return f'ownerRef {owner} does not exist in namespace "{dependent.namespace}"'


# -- discovery --------------------------------------------------------------------------

@dataclass
class Discovered:
    """What discovery said: the resources to watch (preferred version of each group)
    and how to reach any served kind (every version)."""

    deletable: dict[tuple[str, str, str], ResourceRef] = field(default_factory=dict)
    kinds: dict[tuple[str, str, str], ResourceRef] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def deletable_resources(preferred: dict[str, str], lists: dict[str, list[Obj]]) -> Discovered:
    """Pure part of discovery: `preferred` maps group → preferred group version,
    `lists` group version → its APIResourceList entries."""
    found = Discovered()
    for gv, entries in lists.items():
        group, version = split_api_version(gv)
        for entry in entries:
            name = str(entry.get("name") or "")
            if not name or "/" in name:
                continue
            ref = ResourceRef(group, version, name, bool(entry.get("namespaced")),
                              str(entry.get("kind") or ""))
            found.kinds.setdefault((group, version, ref.kind), ref)
            verbs = set(entry.get("verbs") or ())
            if (preferred.get(group) == gv and {"list", "watch", "delete"} <= verbs
                    and (group, name) not in IGNORED_RESOURCES):
                found.deletable[(group, version, name)] = ref
    return found


async def discover(client: APIClient) -> Discovered:
    versions = await client.api_versions()
    preferred: dict[str, str] = {}
    lists: dict[str, list[Obj]] = {}
    failed: list[str] = []
    for gv in versions:
        group, _ = split_api_version(gv)
        preferred.setdefault(group, gv)  # each group's preferred version comes first
        try:
            lists[gv] = await client.api_resources(gv, refresh=True)
        except APIError as exc:
            failed.append(f"{gv}: {exc}")
    found = deletable_resources(preferred, lists)
    found.failed = failed
    return found


# -- the controller ---------------------------------------------------------------------

class _Absent(Exception):
    """The item's own object does not exist (a virtual delete was applied)."""


class UnknownKind(LookupError):
    """An apiVersion/kind discovery does not (yet) serve: a custom kind whose CRD is
    newer than the last discovery, or a reference to a kind that does not exist."""


RETRY_BASE_SECONDS = 0.005  # client-go's per-item back-off
RETRY_MAX_SECONDS = 1000.0


class GarbageCollector(Controller):
    name = "garbage-collector"
    component = "garbage-collector-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 discovery_period_seconds: float | None = None,
                 sync_timeout_seconds: float = 60.0) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_gc_syncs
        # kube-controller-manager re-discovers every 30 s.
        self.discovery_period_seconds = (discovery_period_seconds or
                                         self.config.gc_discovery_period_seconds)
        self.sync_timeout_seconds = sync_timeout_seconds
        self.graph = DependencyGraph()
        self.kinds: dict[tuple[str, str, str], ResourceRef] = {}
        self.monitors: dict[tuple[str, str, str], tuple[Informer, HandlerRegistration]] = {}
        self._rediscover = asyncio.Event()
        self._discovery_task: asyncio.Task[None] | None = None
        # Keys waiting for a kind to appear in discovery, retried after each discovery.
        self._unmapped: set[str] = set()
        # Per-key failures of work that must be retried without counting as an error.
        self._retries: dict[str, int] = {}

    # -- lifecycle --------------------------------------------------------------------

    def setup(self) -> None:
        """Informers come from discovery, in `start`."""

    async def start(self) -> None:
        await self.resync_monitors()
        self._tasks = [asyncio.create_task(self._work(), name=f"{self.name} worker")
                       for _ in range(self.workers)]
        self._discovery_task = asyncio.create_task(self._discovery_loop(),
                                                   name=f"{self.name} discovery")

    async def stop(self) -> None:
        task, self._discovery_task = self._discovery_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    async def _discovery_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rediscover.wait(), self.discovery_period_seconds)
            self._rediscover.clear()
            try:
                await self.resync_monitors()
            except (APIError, ConnectionError, TimeoutError) as exc:
                log.warning("%s: discovery failed, will retry: %s", self.name, exc)
            except Exception:
                # Whatever went wrong, the collector must keep re-discovering.
                log.exception("%s: discovery failed, will retry", self.name)

    async def resync_monitors(self) -> None:
        """One informer per deletable resource: start new ones, drop vanished ones,
        and wait (bounded) for new ones to fill the graph."""
        found = await discover(self.client)
        for failure in found.failed:
            log.info("%s: discovery of %s failed", self.name, failure)
        self.kinds = found.kinds
        started: list[Informer] = []
        for key, ref in found.deletable.items():
            if key in self.monitors:
                continue
            informer = self.informer(ref)
            registration = informer.add_event_handler(**self._handlers(ref))
            self.monitors[key] = (informer, registration)
            informer.start()
            started.append(informer)
        # A group whose discovery failed keeps its monitors (kube keeps them too).
        failed_groups = {split_api_version(f.split(":", 1)[0])[0] for f in found.failed}
        for key in [k for k in self.monitors if k not in found.deletable
                    and k[0] not in failed_groups]:
            informer, registration = self.monitors.pop(key)
            informer.remove_event_handler(registration)
            if informer in self.informers:
                self.informers.remove(informer)
            # The resource is gone from the server, so its watch is useless to anyone.
            await informer.stop()
        for informer in started:
            try:
                await informer.wait_synced(self.sync_timeout_seconds)
            except (TimeoutError, RuntimeError) as exc:
                log.warning("%s: %s", self.name, exc)
        parked, self._unmapped = self._unmapped, set()
        for key in parked:
            self.queue.add(key)

    def _handlers(self, ref: ResourceRef) -> dict[str, Callable[..., None]]:
        crds = (ref.group, ref.plural) == (CRDS.group, CRDS.plural)

        def identity(obj: Obj) -> Identity:
            md = obj.get("metadata") or {}
            return Identity(ref.api_version, ref.kind, str(md.get("namespace") or ""),
                            str(md.get("name") or ""), str(md.get("uid") or ""))

        def on_add(obj: Obj) -> None:
            on_update(None, obj)

        def on_update(old: Obj | None, new: Obj) -> None:
            ident = identity(new)
            if not ident.uid:
                return
            self._apply(self.graph.observe(ident, owner_refs_of(new), new, old))
            if crds and _established(new) and not (old is not None and _established(old)):
                self._rediscover.set()

        def on_delete(obj: Obj) -> None:
            ident = identity(obj)
            if ident.uid:
                self._apply(self.graph.remove(ident))
            if crds:
                self._rediscover.set()  # stop watching the kind it served

        return {"on_add": on_add, "on_update": on_update, "on_delete": on_delete}

    def _apply(self, work: Work) -> None:
        for uid in work.delete:
            self.queue.add(f"delete/{uid}")
        for uid in work.orphan:
            self.queue.add(f"orphan/{uid}")
        for uid in work.retry:
            self._retry_later(f"delete/{uid}")
        for dependent, ref in work.invalid:
            self.recorder.event(
                {"apiVersion": dependent.api_version, "kind": dependent.kind,
                 "metadata": {"name": dependent.name, "namespace": dependent.namespace,
                              "uid": dependent.uid}},
                "Warning", "OwnerRefInvalidNamespace",
                invalid_namespace_message(dependent, ref))

    # -- work -------------------------------------------------------------------------

    def _retry_later(self, key: str) -> None:
        """Requeue with a per-key exponential back-off of our own: the worker loop
        forgets the queue's back-off after every reconcile that does not raise."""
        failures = self._retries.get(key, 0)
        self._retries[key] = failures + 1
        self.queue.add_after(key, min(RETRY_BASE_SECONDS * 2 ** failures, RETRY_MAX_SECONDS))

    async def reconcile(self, key: str) -> None:
        try:
            await self._reconcile(key)
        except UnknownKind as exc:
            # Retried after the next discovery (kube retries these quietly too).
            log.debug("%s: %s: %s; waiting for discovery", self.name, key, exc)
            self._unmapped.add(key)

    async def _reconcile(self, key: str) -> None:
        action, _, uid = key.partition("/")
        if action == "orphan":
            await self._orphan(uid)
            return
        node = self.graph.nodes.get(uid)
        if node is None:
            self._retries.pop(key, None)
            return
        try:
            await self._attempt_to_delete(node)
        except _Absent:
            self._retries.pop(key, None)
            return
        if node.virtual and self.graph.nodes.get(uid) is node:
            # It exists but the informer has not shown it yet: look again later, so a
            # virtual node for an object created and deleted meanwhile cannot linger.
            self._retry_later(key)
        else:
            self._retries.pop(key, None)

    async def _attempt_to_delete(self, node: Node) -> None:
        if node.being_deleted and not node.deleting_dependents:
            return  # one-way trip; its dependents are handled when it is gone
        ident = node.identity
        latest = await self._live(ident)
        if latest is None:
            self._apply(self.graph.virtual_delete(ident))
            raise _Absent
        if node.deleting_dependents:
            await self._finish_foreground(node)
            return
        refs = owner_refs_of(latest)
        if not refs:
            return
        solid, dangling, waiting = await self._classify(node, refs)
        if solid:
            if dangling or waiting:
                # References to gone owners, and to owners waiting for this one, go;
                # otherwise those owners would wait forever.
                await self._drop_owner_refs(ident, {r.uid for r in [*dangling, *waiting]})
            return
        dependents = self.graph.dependents_of(node)
        if waiting and dependents:
            if any(d.deleting_dependents for d in dependents):
                # A cycle would block both sides: stop blocking our owners first.
                await self._unblock_owner_refs(ident)
            await self._delete(ident, "Foreground")
            return
        finalizers = finalizers_of(latest)
        policy: Policy = ("Orphan" if ORPHAN in finalizers
                          else "Foreground" if FOREGROUND in finalizers else "Background")
        await self._delete(ident, policy)

    async def _classify(self, node: Node, refs: tuple[OwnerRef, ...]
                        ) -> tuple[list[OwnerRef], list[OwnerRef], list[OwnerRef]]:
        """Owners that exist (solid), are gone (dangling), or exist and wait in
        foreground deletion for their dependents (waiting). Absence is decided by a
        live GET, never by the cache."""
        solid: list[OwnerRef] = []
        dangling: list[OwnerRef] = []
        waiting: list[OwnerRef] = []
        ident = node.identity
        for ref in refs:
            cluster_key = Identity(ref.api_version, ref.kind, "", ref.name, ref.uid)
            ns_key = Identity(ref.api_version, ref.kind, ident.namespace, ref.name, ref.uid)
            if self.graph.known_absent(cluster_key) or self.graph.known_absent(ns_key):
                dangling.append(ref)
                continue
            resource = self._resource_for(ref.api_version, ref.kind)
            if resource.namespaced and not ident.namespace:
                # A cluster-scoped object cannot have a namespaced owner: report it and
                # leave the object alone (retrying cannot fix it).
                self._apply(Work(invalid=[(ident, ref)]))
                raise _Absent
            namespace = ident.namespace if resource.namespaced else ""
            key = ns_key if resource.namespaced else cluster_key
            try:
                owner = await self.client.get(resource, ref.name, namespace or None)
            except APIError as exc:
                if not exc.is_not_found:
                    raise
                self.graph.mark_absent(key)
                dangling.append(ref)
                continue
            if (owner.get("metadata") or {}).get("uid") != ref.uid:
                self.graph.mark_absent(key)
                dangling.append(ref)
            elif deleting(owner) and FOREGROUND in finalizers_of(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _finish_foreground(self, node: Node) -> None:
        blocking = self.graph.blocking_dependents(node)
        if not blocking:
            await self._remove_finalizer(node.identity, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(f"delete/{dep.identity.uid}")

    async def _orphan(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        failures = []
        for dep in self.graph.dependents_of(node):
            try:
                await self._drop_owner_refs(dep.identity, {uid})
            except APIError as exc:
                failures.append(f"{dep.identity}: {exc}")
        if failures:
            raise RuntimeError(f"failed to orphan dependents of owner {node.identity}, got "
                               f"errors: {'; '.join(failures)}")
        await self._remove_finalizer(node.identity, ORPHAN)

    # -- API calls --------------------------------------------------------------------

    def _resource_for(self, api_version: str, kind: str) -> ResourceRef:
        group, version = split_api_version(api_version)
        ref = self.kinds.get((group, version, kind))
        if ref is None:
            raise UnknownKind(f"unable to get REST mapping for {api_version}/{kind}")
        return ref

    async def _live(self, ident: Identity) -> Obj | None:
        """The object now, or None when nothing with this uid is there."""
        resource = self._resource_for(ident.api_version, ident.kind)
        if resource.namespaced and not ident.namespace:
            return None  # a namespaced kind named from a cluster-scoped object
        try:
            obj = await self.client.get(resource, ident.name,
                                        ident.namespace if resource.namespaced else None)
        except APIError as exc:
            if exc.is_not_found:
                return None
            raise
        if (obj.get("metadata") or {}).get("uid") != ident.uid:
            return None
        return obj

    async def _delete(self, ident: Identity, policy: Policy) -> None:
        resource = self._resource_for(ident.api_version, ident.kind)
        log.info("%s: deleting %s with propagationPolicy %s", self.name, ident, policy)
        try:
            await self.client.delete(resource, ident.name, ident.namespace or None,
                                     propagation_policy=policy,
                                     preconditions={"uid": ident.uid})
        except APIError as exc:
            # Gone already, or replaced by another object of that name: not ours to delete.
            if not (exc.is_not_found or exc.is_conflict):
                raise

    async def _edit(self, ident: Identity, change: Callable[[Obj], Obj | None]) -> None:
        """Merge-patch what `change(latest)` returns (None: nothing to do), guarded by
        the object's uid and resourceVersion; re-read and retry on conflict."""
        resource = self._resource_for(ident.api_version, ident.kind)
        for _ in range(5):
            latest = await self._live(ident)
            if latest is None:
                return
            patch = change(latest)
            if patch is None:
                return
            md = latest["metadata"]
            patch["metadata"].update(uid=ident.uid, resourceVersion=md.get("resourceVersion"))
            try:
                await self.client.patch(resource, ident.name, patch, ident.namespace or None,
                                        patch_type="merge")
                return
            except APIError as exc:
                if exc.is_not_found:
                    return
                if not exc.is_conflict:
                    raise
        raise RuntimeError(f"{ident} kept changing; will retry")

    async def _drop_owner_refs(self, ident: Identity, uids: set[str]) -> None:
        def change(latest: Obj) -> Obj | None:
            refs = (latest.get("metadata") or {}).get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in uids]
            if len(kept) == len(refs):
                return None
            return {"metadata": {"ownerReferences": kept or None}}

        await self._edit(ident, change)

    async def _unblock_owner_refs(self, ident: Identity) -> None:
        def change(latest: Obj) -> Obj | None:
            refs = (latest.get("metadata") or {}).get("ownerReferences") or []
            if not any(r.get("blockOwnerDeletion") for r in refs):
                return None
            return {"metadata": {"ownerReferences": [
                {**r, "blockOwnerDeletion": False} if r.get("blockOwnerDeletion") else r
                for r in refs]}}

        await self._edit(ident, change)

    async def _remove_finalizer(self, ident: Identity, finalizer: str) -> None:
        def change(latest: Obj) -> Obj | None:
            finalizers = list(finalizers_of(latest))
            if finalizer not in finalizers:
                return None
            kept = [f for f in finalizers if f != finalizer]
            return {"metadata": {"finalizers": kept or None}}

        log.info("%s: removing finalizer %s from %s", self.name, finalizer, ident)
        await self._edit(ident, change)


def _established(crd: Obj) -> bool:
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Established":
            return cond.get("status") == "True"
    return False
