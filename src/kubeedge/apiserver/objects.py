"""Kubernetes objects over the storage contract.

Owns the key layout (`/registry/<group>/<resource>/<namespace>/<name>`), the JSON
encoding, the mapping of store revisions to resourceVersions, continue tokens, and the
read-modify-write loop every update uses. It never decides what a valid object is:
that is the handlers' and strategies' job.

resourceVersion is the key's mod revision (specs/k8s-api.md §3, kine §8), so it is
never stored inside the value; it is set on every object read.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeedge.api import errors
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.store import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Store,
    StoreError,
    StoreUnavailable,
    WatchEvent,
    WatchOverflow,
)

# How many keys one storage read fetches while filling a selector-filtered page.
SCAN_BATCH = 500
# How many decoded changes the watch path keeps for watchers that are a little behind.
RECENT_CHANGES = 1024
# Compare-and-swap retries before an update gives up with 409 (kube-apiserver's
# GuaranteedUpdate loops until success; a bound keeps a hot key from starving a request).
MAX_UPDATE_ATTEMPTS = 64


def encode(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        meta = {k: v for k, v in meta.items() if k != "resourceVersion"}
        obj = {**obj, "metadata": meta}
    return orjson.dumps(obj)


def decode(value: bytes, revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    revision: int
    continue_token: str
    remaining: int | None


@dataclass(frozen=True)
class Change:
    """One stored change as every watcher of its resource sees it. Shared between
    watchers (see `ObjectStore.watch`): treat `obj` and `prev` as read-only."""

    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    revision: int
    # Encoded watch lines by event type, filled by the first watcher that writes one.
    lines: dict[str, bytes] = field(default_factory=dict, compare=False)


def too_large_resource_version(requested: int, current: int) -> errors.StatusError:
    return errors.StatusError(
        504, "Timeout", f"Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge",
                     "message": "Too large resource version"}], "retryAfterSeconds": 1},
    )


def store_errors(exc: Exception) -> errors.StatusError:
    if isinstance(exc, Compacted):
        return errors.expired(
            f"too old resource version: {exc.requested} ({exc.compacted})"
        )
    if isinstance(exc, FutureRevision):
        return too_large_resource_version(exc.requested, exc.current)
    if isinstance(exc, StoreUnavailable):
        return errors.service_unavailable(f"storage is unavailable: {exc}")
    return errors.internal(str(exc))


def encode_continue(revision: int, after_key: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": after_key})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        revision, after = int(data["rv"]), str(data["start"])
    except Exception as exc:  # any malformed token is the client's fault
        raise errors.bad_request(f"continue key is not valid: {exc}") from None
    if revision <= 0:
        raise errors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        )
    return revision, after


class ObjectStore:
    """Objects of every resource type, keyed as kube-apiserver keys them in etcd."""

    def __init__(self, store: Store, registry: Registry, root: str = "/registry",
                 max_object_bytes: int = 3 * 1024 * 1024) -> None:
        self.store = store
        self.registry = registry
        self.root = root.rstrip("/")
        self.max_object_bytes = max_object_bytes
        # Recent changes by (key, revision, served version): a change reaching a hundred
        # watchers is decoded, and its line encoded, once rather than a hundred times.
        self._recent: OrderedDict[tuple[str, int, str], Change] = OrderedDict()

    def _encode_checked(self, obj: dict[str, Any]) -> bytes:
        """A stored object may not outgrow what a request may carry (a small YAML or
        patch body can describe a much larger object)."""
        value = encode(obj)
        if len(value) > self.max_object_bytes:
            raise errors.too_large(
                f"Request entity too large: the object is {len(value)} bytes, the limit is "
                f"{self.max_object_bytes}"
            )
        return value

    # -- keys -------------------------------------------------------------------------

    def prefix(self, rt: ResourceType, namespace: str | None = None) -> str:
        base = f"{self.root}/{self.registry.storage_group_resource(rt)}/"
        if rt.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, rt: ResourceType, namespace: str, name: str) -> str:
        if rt.namespaced:
            return f"{self.prefix(rt, namespace)}{name}"
        return f"{self.prefix(rt)}{name}"

    # -- reads ------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = await self.find(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    async def find(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            kv = await self.store.get(self.key(rt, namespace, name))
        except Exception as exc:
            raise store_errors(exc) from exc
        if kv is None:
            return None
        return self._adapt(rt, decode(kv.value, kv.mod_revision))

    def _adapt(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Objects are stored in the version they were written in; CRDs with several
        versions and no conversion webhook convert by relabelling (conversion None)."""
        if rt.crd:
            obj["apiVersion"] = rt.group_version
        return obj

    async def current_revision(self) -> int:
        try:
            return await self.store.current_revision()
        except Exception as exc:
            raise store_errors(exc) from exc

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        limit: int = 0,
        continue_token: str = "",
        revision: int = 0,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Page:
        """A consistent page: every read of a paged list uses the first page's revision,
        so a client following `continue` sees one snapshot (specs/k8s-api.md §3)."""
        prefix = self.prefix(rt, namespace)
        after = ""
        if continue_token:
            revision, after = decode_continue(continue_token)
            if not after.startswith(prefix):
                raise errors.bad_request("continue key is not valid: it belongs to another list")
        items: list[dict[str, Any]] = []
        try:
            while True:
                if not limit:
                    batch = 0  # everything in one read
                elif match is None:
                    batch = limit - len(items)
                else:
                    batch = SCAN_BATCH
                result = await self.store.range(
                    prefix, start_after=after, limit=batch, revision=revision
                )
                revision = result.revision
                for index, kv in enumerate(result.kvs):
                    obj = self._adapt(rt, decode(kv.value, kv.mod_revision))
                    if match is not None and not match(obj):
                        continue
                    items.append(obj)
                    if limit and len(items) >= limit:
                        more = result.more or index + 1 < len(result.kvs)
                        if not more:
                            return Page(items, revision, "", None)
                        remaining = (
                            result.count - len(result.kvs) + (len(result.kvs) - index - 1)
                            if match is None
                            else None
                        )
                        return Page(items, revision, encode_continue(revision, kv.key), remaining)
                if not result.more or not result.kvs:
                    return Page(items, revision, "", None)
                after = result.kvs[-1].key
        except Compacted as exc:
            if continue_token:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                ) from exc
            raise store_errors(exc) from exc
        except errors.StatusError:
            raise
        except Exception as exc:
            raise store_errors(exc) from exc

    # -- writes -----------------------------------------------------------------------

    async def create(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = self.key(rt, meta.get("namespace", ""), meta["name"])
        value = self._encode_checked(obj)
        try:
            revision = await self.store.create(key, value)
        except KeyExists:
            raise errors.already_exists(rt.plural, meta["name"], rt.group) from None
        except Exception as exc:
            raise store_errors(exc) from exc
        meta["resourceVersion"] = str(revision)
        return obj

    async def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        mutate: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Read, let `mutate` produce the new object, write guarded by the read's revision.

        `mutate` gets a fresh copy each attempt and may raise a StatusError (including a
        409 for a stale resourceVersion precondition). Returning None means "no change".
        Returns (old, new).
        """
        key = self.key(rt, namespace, name)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            try:
                kv = await self.store.get(key)
            except Exception as exc:
                raise store_errors(exc) from exc
            if kv is None:
                raise errors.not_found(rt.plural, name, rt.group)
            old = self._adapt(rt, decode(kv.value, kv.mod_revision))
            new = await mutate(self._adapt(rt, decode(kv.value, kv.mod_revision)))
            if new is None:
                return old, old
            value = self._encode_checked(new)
            # Stored bytes are this same encoding, so equal bytes mean no change.
            if value == kv.value:
                return old, old
            try:
                revision = await self.store.update(key, value, mod_revision=kv.mod_revision)
            except RevisionMismatch:
                continue
            except KeyNotFound:
                raise errors.not_found(rt.plural, name, rt.group) from None
            except Exception as exc:
                raise store_errors(exc) from exc
            new.setdefault("metadata", {})["resourceVersion"] = str(revision)
            return old, new
        raise errors.conflict(rt.plural, name, rt.group, "too many concurrent updates")

    async def delete(
        self, rt: ResourceType, namespace: str, name: str, *, mod_revision: int = 0
    ) -> dict[str, Any]:
        """Remove the key; returns the last state with the deletion's resourceVersion."""
        try:
            revision, kv = await self.store.delete(
                self.key(rt, namespace, name), mod_revision=mod_revision
            )
        except KeyNotFound:
            raise errors.not_found(rt.plural, name, rt.group) from None
        except RevisionMismatch:
            raise errors.conflict(rt.plural, name, rt.group) from None
        except Exception as exc:
            raise store_errors(exc) from exc
        obj = self._adapt(rt, decode(kv.value, revision))
        return obj

    # -- raw keys (allocations, bookkeeping) ---------------------------------------

    async def claim(self, key: str, value: bytes) -> bool:
        """Create-if-absent on a bookkeeping key (e.g. an allocated ClusterIP)."""
        try:
            await self.store.create(f"{self.root}/{key}", value)
        except KeyExists:
            return False
        except Exception as exc:
            raise store_errors(exc) from exc
        return True

    async def claim_owner(self, key: str) -> bytes | None:
        try:
            kv = await self.store.get(f"{self.root}/{key}")
        except Exception as exc:
            raise store_errors(exc) from exc
        return None if kv is None else kv.value

    async def release(self, key: str, owner: bytes) -> None:
        """Drop a bookkeeping key, but only while `owner` still holds it."""
        full = f"{self.root}/{key}"
        try:
            kv = await self.store.get(full)
            if kv is not None and kv.value == owner:
                await self.store.delete(full, mod_revision=kv.mod_revision)
        except (KeyNotFound, RevisionMismatch):
            pass
        except Exception as exc:
            raise store_errors(exc) from exc

    # -- watch --------------------------------------------------------------------------

    def _change(self, rt: ResourceType, event: WatchEvent) -> Change:
        cache_key = (event.key, event.revision, rt.group_version)
        change = self._recent.get(cache_key)
        if change is not None:
            return change
        obj = self._adapt(rt, decode(event.value, event.revision))
        prev = (
            self._adapt(rt, decode(event.prev_value, event.revision))
            if event.prev_value is not None
            else None
        )
        if event.type is EventType.DELETE:
            change = Change("DELETED", obj, prev, event.revision)
        elif event.is_create or prev is None:
            change = Change("ADDED", obj, None, event.revision)
        else:
            change = Change("MODIFIED", obj, prev, event.revision)
        self._recent[cache_key] = change
        if len(self._recent) > RECENT_CHANGES:
            self._recent.popitem(last=False)
        return change

    async def watch(
        self, rt: ResourceType, namespace: str | None, start_revision: int
    ) -> AsyncIterator[Change]:
        """Changes after `start_revision - 1`; raises StatusError 410 when compacted."""
        stream = self.store.watch(self.prefix(rt, namespace), start_revision=start_revision)
        try:
            async for event in stream:
                yield self._change(rt, event)
        except Compacted as exc:
            raise store_errors(exc) from exc
        except WatchOverflow:
            # This watcher fell too far behind; ending the stream makes the client
            # re-watch from the last resourceVersion it saw, which replays the gap.
            return
        except StoreError as exc:
            raise store_errors(exc) from exc
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
