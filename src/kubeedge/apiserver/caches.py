"""In-memory copies of the few resources the API server itself consults on every request.

The authorizers read RBAC objects and pods-by-node on each call; asking storage each
time would cost a range read per request. A `ResourceCache` lists once and then follows
the watch, relisting after a 410 like any informer. It is the API server's own reader,
so it works on storage directly (controllers use `client/` instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kubeedge.api import errors, meta
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.apiserver.objects import ObjectStore

log = logging.getLogger(__name__)


class ResourceCache:
    """`index_by`, when given, keeps the objects grouped by the value it returns (the
    node a pod is bound to), so a lookup costs the group, not the whole cache."""

    def __init__(self, objects: ObjectStore, rt: ResourceType,
                 retry_seconds: float = 1.0,
                 index_by: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.objects = objects
        self.rt = rt
        self.retry_seconds = retry_seconds
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.index_by = index_by
        self.index: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.revision = 0
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Condition()

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _relist(self) -> None:
        page = await self.objects.list(self.rt, None)
        self.items = {}
        self.index = {}
        for obj in page.items:
            self._put((meta.namespace_of(obj), meta.name_of(obj)), obj)
        await self._advance(page.revision)

    def _put(self, key: tuple[str, str], obj: dict[str, Any]) -> None:
        self._drop(key)
        self.items[key] = obj
        if self.index_by is not None:
            self.index.setdefault(self.index_by(obj), {})[key] = obj

    def _drop(self, key: tuple[str, str]) -> None:
        old = self.items.pop(key, None)
        if old is not None and self.index_by is not None:
            group = self.index.get(self.index_by(old))
            if group is not None:
                group.pop(key, None)
                if not group:
                    self.index.pop(self.index_by(old), None)

    async def _advance(self, revision: int) -> None:
        async with self._advanced:
            self.revision = max(self.revision, revision)
            self._advanced.notify_all()

    async def wait_for(self, revision: int) -> None:
        """Return once the cache has seen `revision` (a write this process just made)."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.revision >= revision)

    async def _follow(self) -> None:
        while True:
            try:
                async for change in self.objects.watch(self.rt, None, self.revision + 1):
                    key = (meta.namespace_of(change.obj), meta.name_of(change.obj))
                    if change.type == "DELETED":
                        self._drop(key)
                    else:
                        self._put(key, change.obj)
                    await self._advance(change.revision)
                # The stream ended (a slow-watcher overflow, a store restart): pick up
                # from the last revision seen; storage replays anything missed.
                continue
            except asyncio.CancelledError:
                raise
            except errors.StatusError as exc:
                if exc.code != 410:
                    log.warning("cache of %s: %s", self.rt.plural, exc)
                    await asyncio.sleep(self.retry_seconds)
                await self._relist()
            except Exception:
                log.exception("cache of %s failed; relisting", self.rt.plural)
                await asyncio.sleep(self.retry_seconds)
                await self._relist()

    def values(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            return list(self.items.values())
        return [o for (ns, _), o in self.items.items() if ns == namespace]


class ByName(Mapping[str, dict[str, Any]]):
    """A cluster-scoped cache read by name."""

    def __init__(self, cache: ResourceCache) -> None:
        self.cache = cache

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.cache.items[("", name)]

    def __iter__(self) -> Iterator[str]:
        return (name for _, name in self.cache.items)

    def __len__(self) -> int:
        return len(self.cache.items)


class RBACCache:
    """Roles, cluster roles and their bindings: the `RBACSource` the authorizer reads."""

    def __init__(self, objects: ObjectStore, registry: Registry) -> None:
        group = "rbac.authorization.k8s.io"

        def cache(plural: str) -> ResourceCache:
            rt = registry.lookup(group, "v1", plural)
            assert rt is not None
            return ResourceCache(objects, rt)

        self._roles = cache("roles")
        self._role_bindings = cache("rolebindings")
        self._cluster_roles = cache("clusterroles")
        self._cluster_role_bindings = cache("clusterrolebindings")
        self.caches = [self._roles, self._role_bindings, self._cluster_roles,
                       self._cluster_role_bindings]

    def cluster_roles(self) -> Iterable[dict[str, Any]]:
        return self._cluster_roles.values()

    def cluster_role_bindings(self) -> Iterable[dict[str, Any]]:
        return self._cluster_role_bindings.values()

    def roles(self, namespace: str) -> Iterable[dict[str, Any]]:
        return self._roles.values(namespace)

    def role_bindings(self, namespace: str) -> Iterable[dict[str, Any]]:
        return self._role_bindings.values(namespace)


class PodsByNode:
    """Pods bound to each node: the graph the node authorizer walks."""

    def __init__(self, objects: ObjectStore, registry: Registry) -> None:
        rt = registry.lookup("", "v1", "pods")
        assert rt is not None
        self.cache = ResourceCache(
            objects, rt, index_by=lambda pod: str((pod.get("spec") or {}).get("nodeName") or ""))

    def pods_on_node(self, node: str) -> list[dict[str, Any]]:
        return list(self.cache.index.get(node, {}).values()) if node else []
