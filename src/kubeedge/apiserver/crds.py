"""CustomResourceDefinitions: serving custom resources once their CRD is Established.

Owns the life of a CRD inside the API server, as apiextensions-apiserver does in kube:
accept its names (or refuse them on a clash), register each served version in the
registry so discovery and routing see it at once, set the NamesAccepted and Established
conditions, and on deletion remove every custom resource before letting the CRD go
(the `customresourcecleanup.apiextensions.k8s.io` finalizer).
This is the API server's own controller, so it works on storage directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from kubeedge.api import errors, meta
from kubeedge.api.registry import Registry, ResourceType, Subresource
from kubeedge.apiserver.objects import ObjectStore
from kubeedge.apiserver.strategy import CRD_CLEANUP_FINALIZER as CLEANUP_FINALIZER

log = logging.getLogger(__name__)


CRD_GROUP = "apiextensions.k8s.io"


def served_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version, in the CRD's version priority order."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    types: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subs_spec = version.get("subresources") or {}
        subresources: list[Subresource] = []
        if "status" in subs_spec:
            subresources.append(Subresource("status", names.get("kind", "")))
        if "scale" in subs_spec:
            subresources.append(Subresource("scale", "Scale", group="autoscaling",
                                            version="v1"))
        types.append(ResourceType(
            group=group,
            version=version.get("name", ""),
            plural=names.get("plural", ""),
            singular=names.get("singular") or names.get("kind", "").lower(),
            kind=names.get("kind", ""),
            namespaced=namespaced,
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=tuple(subresources),
            strategic_merge=False,
            crd=meta.name_of(crd),
        ))
    return _version_priority(types)


def storage_type(crd: dict[str, Any]) -> ResourceType:
    """A type addressing the CRD's stored objects whether or not any version is served
    (every version shares one storage key)."""
    spec = crd.get("spec") or {}
    versions = spec.get("versions") or [{}]
    storage = next((v for v in versions if v.get("storage")), versions[0])
    names = spec.get("names") or {}
    return ResourceType(
        group=spec.get("group", ""), version=storage.get("name", "v1"),
        plural=names.get("plural", ""), singular=names.get("singular", ""),
        kind=names.get("kind", ""), namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        strategic_merge=False, crd=meta.name_of(crd),
    )


def _version_priority(types: list[ResourceType]) -> list[ResourceType]:
    """Kube's version priority: GA > beta > alpha, higher numbers first, others last."""
    def key(rt: ResourceType) -> tuple[int, int, int, str]:
        m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", rt.version)
        if not m:
            return (3, 0, 0, rt.version)
        major = int(m.group(1))
        stage = {"None": 0, "beta": 1, "alpha": 2}[str(m.group(2))]
        minor = int(m.group(3) or 0)
        return (stage, -major, -minor, rt.version)

    return sorted(types, key=key)


def version_spec(crd: dict[str, Any], version: str) -> dict[str, Any]:
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return entry
    return {}


class CRDController:
    """Keeps the registry and each CRD's status in step with the stored CRDs."""

    def __init__(
        self,
        objects: ObjectStore,
        registry: Registry,
        delete_object: Callable[[ResourceType, str, str, dict[str, Any]],
                                Awaitable[tuple[dict[str, Any], bool]]],
        *,
        cleanup_retry_seconds: float = 1.0,
    ) -> None:
        self.objects = objects
        self.registry = registry
        self.delete_object = delete_object
        self.cleanup_retry_seconds = cleanup_retry_seconds
        self.crds: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._cleanups: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()
        self._crd_type = registry.lookup(CRD_GROUP, "v1", "customresourcedefinitions")
        assert self._crd_type is not None

    async def start(self) -> None:
        page = await self.objects.list(self._crd_type, None)  # type: ignore[arg-type]
        for crd in page.items:
            await self.observe(crd)
        self._task = asyncio.create_task(self._watch(page.revision + 1))

    async def stop(self) -> None:
        for task in [self._task, *self._cleanups.values()]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def crd_for(self, rt: ResourceType) -> dict[str, Any] | None:
        return self.crds.get(rt.crd or "")

    async def _watch(self, start: int) -> None:
        """Follow CRD changes made through other API server processes too."""
        while True:
            try:
                async for change in self.objects.watch(self._crd_type, None, start):  # type: ignore[arg-type]
                    start = change.revision + 1
                    if change.type == "DELETED":
                        self._forget(meta.name_of(change.obj))
                    else:
                        await self.observe(change.obj)
                continue  # the stream ended early: resume from the last revision seen
            except errors.StatusError as exc:
                if exc.code != 410:
                    raise
                page = await self.objects.list(self._crd_type, None)  # type: ignore[arg-type]
                for crd in page.items:
                    await self.observe(crd)
                start = page.revision + 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("CRD watch failed; restarting it")
                await asyncio.sleep(self.cleanup_retry_seconds)

    def _forget(self, name: str) -> None:
        self.crds.pop(name, None)
        self.registry.replace_crd(name, [])

    async def observe(self, crd: dict[str, Any]) -> None:
        """Bring the registry and the CRD's status in line with this stored version."""
        async with self._lock:
            name = meta.name_of(crd)
            if meta.is_terminating(crd):
                self.crds[name] = crd
                running = self._cleanups.get(name)
                if running is None or running.done():
                    self._cleanups[name] = asyncio.create_task(self._cleanup(name))
                return
            conflict = self._name_conflict(crd)
            if conflict:
                await self._set_status(name, accepted=False, message=conflict)
                return
            previous = self.crds.get(name)
            self.crds[name] = crd
            types = served_types(crd)
            if (previous is None or previous.get("spec") != crd.get("spec")
                    or [t for t in self.registry.all() if t.crd == name] != types):
                # Also on a schema-only change: OpenAPI documents follow the generation.
                self.registry.replace_crd(name, types)
            await self._set_status(name, accepted=True, message="")

    def _name_conflict(self, crd: dict[str, Any]) -> str:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        name = meta.name_of(crd)
        for other in self.registry.all():
            if other.group != group or other.crd == name:
                continue
            if other.plural == names.get("plural"):
                return f'"{other.plural}" is already in use'
            if other.kind == names.get("kind"):
                return f'"{other.kind}" is already in use'
        return ""

    async def _set_status(self, name: str, *, accepted: bool, message: str) -> None:
        async def mutate(current: dict[str, Any]) -> dict[str, Any] | None:
            if meta.is_terminating(current):
                return None
            new = copy.deepcopy(current)
            spec = new.get("spec") or {}
            status = new.setdefault("status", {})
            changed = False
            if accepted:
                names = copy.deepcopy(spec.get("names") or {})
                names.setdefault("singular", names.get("kind", "").lower())
                names.setdefault("listKind", names.get("kind", "") + "List")
                if status.get("acceptedNames") != names:
                    status["acceptedNames"] = names
                    changed = True
                changed |= meta.set_condition(new, "NamesAccepted", "True", "NoConflicts",
                                              "no conflicts found")
                changed |= meta.set_condition(new, "Established", "True", "InitialNamesAccepted",
                                              "the initial names have been accepted")
                stored = status.setdefault("storedVersions", [])
                for version in spec.get("versions") or []:
                    if version.get("storage") and version.get("name") not in stored:
                        stored.append(version["name"])
                        changed = True
            else:
                changed |= meta.set_condition(new, "NamesAccepted", "False", "NameConflict",
                                              message)
                changed |= meta.set_condition(new, "Established", "False", "NotAccepted",
                                              "not all names are accepted")
            return new if changed else None

        try:
            await self.objects.update(self._crd_type, "", name, mutate)  # type: ignore[arg-type]
        except errors.StatusError as exc:
            if exc.code != 404:
                raise

    async def _cleanup(self, name: str) -> None:
        """Delete every custom resource of a terminating CRD, then release the CRD.

        Objects are found by the CRD's storage key, so versions that are no longer
        served are cleaned up too. Custom resources with finalizers of their own keep
        the CRD until those are removed, as in kube.
        """
        while True:
            crd = await self.objects.find(self._crd_type, "", name)  # type: ignore[arg-type]
            if crd is None:
                self._forget(name)
                return
            rt = storage_type(crd)
            for obj in (await self.objects.list(rt, None)).items:
                try:
                    await self.delete_object(rt, meta.namespace_of(obj), meta.name_of(obj),
                                             {"propagationPolicy": "Background"})
                except errors.StatusError as exc:
                    if exc.code != 404:
                        log.warning("deleting %s/%s: %s", rt.plural, meta.name_of(obj), exc)
            if (await self.objects.list(rt, None, limit=1)).items:
                await asyncio.sleep(self.cleanup_retry_seconds)
                continue
            self.registry.replace_crd(name, [])

            async def release(current: dict[str, Any]) -> dict[str, Any]:
                new = copy.deepcopy(current)
                new["metadata"]["finalizers"] = [
                    f for f in new["metadata"].get("finalizers") or []
                    if f != CLEANUP_FINALIZER
                ]
                return new

            try:
                _, new = await self.objects.update(self._crd_type, "", name, release)  # type: ignore[arg-type]
            except errors.StatusError as exc:
                if exc.code == 404:
                    self._forget(name)
                    return
                raise
            if not new["metadata"].get("finalizers"):
                with contextlib.suppress(errors.StatusError):
                    await self.objects.delete(
                        self._crd_type, "", name,  # type: ignore[arg-type]
                        mod_revision=int(new["metadata"]["resourceVersion"]),
                    )
                self._forget(name)
            return
