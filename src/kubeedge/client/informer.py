"""Informers: a local, indexed copy of one resource kept current by list and watch.

Owns the list-then-watch loop (client-go's reflector, specs/k8s-api.md §3 Watch): list
(paged), watch from the list's resourceVersion with bookmarks, re-watch from the last
resourceVersion when a stream closes, relist after 410 Expired and hand the difference
to the handlers as adds, updates and deletes, back off while the server is unreachable,
and re-deliver every cached object as an update each resync period. Also owns the
indexed cache (`ObjectCache`) and the handler registrations.

Must never talk to the server except through `APIClient`, never let a failing handler
stop the loop, never let handlers see events out of order, and never sleep on the real
clock when a `Clock` is injected. Handlers get the cached objects themselves: treat them
as read-only (copy before changing).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.ratelimit import Backoff
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient, Selector, WatchEvent

__all__ = [
    "NAMESPACE_INDEX",
    "HandlerRegistration",
    "Informer",
    "ObjectCache",
    "SharedInformerFactory",
    "index_by_label",
    "index_by_namespace",
    "object_key",
    "split_key",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# `ObjectCache.list` shadows the builtin inside the class body; annotations use these.
ObjList = list[Obj]
KeyList = list[str]
IndexFunc = Callable[[Obj], Iterable[str]]
AddHandler = Callable[[Obj], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]
DeleteHandler = Callable[[Obj], Awaitable[None] | None]

NAMESPACE_INDEX = "namespace"


def object_key(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (client-go's
    MetaNamespaceKeyFunc): the key of the cache and of work queues."""
    md = obj.get("metadata") or {}
    name = md.get("name") or ""
    namespace = md.get("namespace") or ""
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str, str]:
    """`"ns/name"` → `("ns", "name")`; `"name"` → `("", "name")`."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def _resource_version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def index_by_namespace(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def index_by_label(label: str) -> IndexFunc:
    """An index function on one label's value (objects without it are not indexed)."""

    def values(obj: Obj) -> list[str]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return [str(labels[label])] if label in labels else []

    return values


class ObjectCache:
    """Objects by key, plus named indexes from a value to the keys that have it.

    Written only by its informer; read by anyone. Reads return the stored objects.
    """

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}

    # -- reads ------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> ObjList:
        return list(self._items.values())

    def keys(self) -> KeyList:
        return list(self._items)

    def items(self) -> Iterator[tuple[str, Obj]]:
        return iter(list(self._items.items()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # -- indexes ----------------------------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Index every object (present and future) under the values `fn` returns."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = fn
        index: dict[str, set[str]] = {}
        self._indices[name] = index
        for key, obj in self._items.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def by_index(self, name: str, value: str) -> ObjList:
        return [self._items[key] for key in sorted(self.index_keys(name, value))]

    def index_keys(self, name: str, value: str) -> set[str]:
        try:
            index = self._indices[name]
        except KeyError:
            raise KeyError(f"no index named {name!r}") from None
        return set(index.get(value, ()))

    # -- writes (the informer's) ------------------------------------------------------

    def put(self, obj: Obj) -> Obj | None:
        """Store `obj`; return what it replaced."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


@dataclass(eq=False)
class HandlerRegistration:
    """One set of handlers; `has_synced` once it has seen the initial list."""

    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None
    _synced: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()


class Informer:
    """List and watch one resource into an `ObjectCache` and tell the handlers.

    Handlers may be plain functions or coroutines; they run one at a time, in event
    order, on the informer's task, so a slow handler holds back the stream (hand work
    to a `RateLimitingQueue` instead of doing it inline).

    `resync_seconds > 0` re-delivers every cached object as `on_update(obj, obj)` each
    period, so level-triggered controllers revisit everything. Time comes from `clock`.
    """

    def __init__(
        self,
        client: APIClient,
        resource: ResourceRef,
        namespace: str | None = None,
        label_selector: Selector = None,
        field_selector: Selector = None,
        resync_seconds: float = 0.0,
        clock: Clock | None = None,
        *,
        page_size: int = 500,
        watch_timeout_seconds: float = 300.0,
        backoff: Backoff | None = None,
        short_watch_seconds: float = 1.0,
        rng: random.Random | None = None,
        name: str = "",
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_seconds = resync_seconds
        self.clock: Clock = clock or client.clock
        self.page_size = page_size
        # client-go's reflector picks a watch timeout in [5 min, 10 min) so watches of
        # many clients do not all end together.
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff = backoff or Backoff(initial=0.8, factor=2.0, maximum=30.0, jitter=1.0)
        self.short_watch_seconds = short_watch_seconds
        self.rng = rng or random.Random()
        self.name = name or resource.qualified + (f" in {namespace}" if namespace else "")
        self.store = ObjectCache()
        self.resource_version = ""
        # Counters for tests and metrics: lists done, watch requests started.
        self.relists = 0
        self.watches = 0
        self._handlers: list[HandlerRegistration] = []
        self._lock = asyncio.Lock()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replays: set[asyncio.Task[None]] = set()

    # -- public surface ---------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        """True once the first list is in the cache and delivered to the handlers."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait for the first list; raises what stopped the informer, if it stopped."""
        waiter = asyncio.ensure_future(self._synced.wait())
        waits: set[asyncio.Future[Any]] = {waiter}
        if self._task is not None:
            waits.add(self._task)
        try:
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if self.has_synced:
            return
        if self._task is not None and self._task in done:
            exc = self._task.exception() if not self._task.cancelled() else None
            raise RuntimeError(f"informer {self.name} stopped before it synced") from exc
        raise TimeoutError(f"informer {self.name} did not sync within {timeout}s")

    def add_event_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> HandlerRegistration:
        """Register handlers. Added while running, they first get `on_add` for every
        cached object, then live events, with nothing missed or seen twice."""
        registration = HandlerRegistration(on_add, on_update, on_delete)
        if self._task is None or self._task.done():
            self._handlers.append(registration)
            if self.has_synced:
                registration._synced.set()
            return registration
        task = asyncio.get_running_loop().create_task(self._join(registration))
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)
        return registration

    def remove_event_handler(self, registration: HandlerRegistration) -> None:
        with contextlib.suppress(ValueError):
            self._handlers.remove(registration)

    def start(self) -> asyncio.Task[None]:
        """Run in the background on the current loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"informer {self.name}"
            )
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        tasks = [t for t in (task, *self._replays) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def __aenter__(self) -> Informer:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """List and watch until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._reflect())
            if self.resync_seconds > 0:
                group.create_task(self._resync())

    # -- list and watch ---------------------------------------------------------------

    async def _reflect(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
            except APIError as exc:
                if exc.is_expired:
                    # §3 Watch: the history we would resume from is compacted; only a
                    # fresh list can tell us the state, and the diff what we missed.
                    log.info("informer %s: %s; relisting", self.name, exc.message)
                    need_list = True
                    continue
                need_list = True
                delay = self.backoff.next()
                log.warning(
                    "informer %s: %s %s; retrying in %.1fs", self.name, exc.code, exc, delay
                )
                await self.clock.sleep(delay)
            except APIConnectionError as exc:
                # The server is away; its history is not, so resume where we were.
                delay = self.backoff.next()
                log.warning("informer %s: %s; retrying in %.1fs", self.name, exc, delay)
                await self.clock.sleep(delay)
            except Exception:
                # A bug (a malformed object, say) must not silently end the cache every
                # controller reads: log it and start over from a fresh list.
                need_list = True
                delay = self.backoff.next()
                log.exception(
                    "informer %s: unexpected failure; relisting in %.1fs", self.name, delay
                )
                await self.clock.sleep(delay)

    async def _relist(self) -> None:
        listing = await self.client.list_all(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            limit=self.page_size,
        )
        api_version = str(listing.get("apiVersion") or self.resource.api_version)
        kind = str(listing.get("kind") or "").removesuffix("List") or self.resource.kind
        fresh: dict[str, Obj] = {}
        for obj in listing.get("items") or []:
            # List items carry no apiVersion/kind on a real kube-apiserver; watch events
            # do. Fill them in so handlers see one shape.
            obj.setdefault("apiVersion", api_version)
            if kind:
                obj.setdefault("kind", kind)
            fresh[object_key(obj)] = obj
        async with self._lock:
            for key, old in self.store.items():
                if key not in fresh:
                    self.store.remove(key)
                    await self._notify_delete(old)
            for obj in fresh.values():
                old = self.store.put(obj)
                if old is None:
                    await self._notify_add(obj)
                elif _resource_version(old) != _resource_version(obj):
                    await self._notify_update(old, obj)
            self.resource_version = str(
                (listing.get("metadata") or {}).get("resourceVersion") or ""
            )
            self.relists += 1
            if not self._synced.is_set():
                self._synced.set()
                for registration in self._handlers:
                    registration._synced.set()
        self.backoff.reset()
        log.debug(
            "informer %s: listed %d objects at resourceVersion %s",
            self.name,
            len(fresh),
            self.resource_version,
        )

    async def _watch(self) -> None:
        timeout = int(self.watch_timeout_seconds * (1 + self.rng.random()))
        started = self.clock.now()
        events = 0
        self.watches += 1
        async with self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
        ) as stream:
            async for event in stream:
                events += 1
                self.backoff.reset()
                await self._apply(event)
        if events == 0 and self.clock.now() - started < self.short_watch_seconds:
            # A watch the server ends at once, again and again, must not spin (client-go
            # calls this a "very short watch" and backs off).
            delay = self.backoff.next()
            log.info("informer %s: watch closed at once; re-watching in %.1fs", self.name, delay)
            await self.clock.sleep(delay)

    async def _apply(self, event: WatchEvent) -> None:
        kind, obj = event
        rv = _resource_version(obj)
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        async with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                old = self.store.put(obj)
                if old is None:
                    await self._notify_add(obj)
                else:
                    await self._notify_update(old, obj)
            elif kind == "DELETED":
                self.store.remove(object_key(obj))
                await self._notify_delete(obj)
            else:
                log.warning("informer %s: ignoring watch event of type %r", self.name, kind)
            if rv:
                self.resource_version = rv

    async def _resync(self) -> None:
        while True:
            await self.clock.sleep(self.resync_seconds)
            if not self.has_synced:
                continue
            async with self._lock:
                for _, obj in self.store.items():
                    await self._notify_update(obj, obj)

    # -- handlers ---------------------------------------------------------------------

    async def _join(self, registration: HandlerRegistration) -> None:
        async with self._lock:
            for _, obj in self.store.items():
                await self._call(registration.on_add, obj)
            self._handlers.append(registration)
            if self.has_synced:
                registration._synced.set()

    async def _notify_add(self, obj: Obj) -> None:
        for registration in list(self._handlers):
            await self._call(registration.on_add, obj)

    async def _notify_update(self, old: Obj, new: Obj) -> None:
        for registration in list(self._handlers):
            await self._call(registration.on_update, old, new)

    async def _notify_delete(self, obj: Obj) -> None:
        for registration in list(self._handlers):
            await self._call(registration.on_delete, obj)

    async def _call(self, handler: Callable[..., Any] | None, *args: Obj) -> None:
        if handler is None:
            return
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("informer %s: handler %r failed", self.name, handler)


class SharedInformerFactory:
    """One informer per (resource, namespace, selectors) for every controller in a
    process, as client-go's SharedInformerFactory: a Deployment controller, a ReplicaSet
    controller and the garbage collector watching pods share one watch and one cache."""

    def __init__(self, client: APIClient, resync_seconds: float = 0.0) -> None:
        self.client = client
        self.resync_seconds = resync_seconds
        self._informers: dict[tuple[Any, ...], Informer] = {}

    def informer(self, resource: ResourceRef, namespace: str | None = None,
                 label_selector: Selector = None, field_selector: Selector = None,
                 **kwargs: Any) -> Informer:
        key = (resource.qualified, resource.version, namespace, str(label_selector),
               str(field_selector))
        informer = self._informers.get(key)
        if informer is None:
            kwargs.setdefault("resync_seconds", self.resync_seconds)
            informer = Informer(self.client, resource, namespace, label_selector,
                                field_selector, **kwargs)
            self._informers[key] = informer
        return informer

    def __iter__(self) -> Iterator[Informer]:
        return iter(list(self._informers.values()))

    def start(self) -> None:
        for informer in self._informers.values():
            informer.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        for informer in list(self._informers.values()):
            await informer.wait_synced(timeout)

    async def stop(self) -> None:
        for informer in list(self._informers.values()):
            await informer.stop()
