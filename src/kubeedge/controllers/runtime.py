"""The loop every controller shares: informers feed keys into a rate-limited work
queue; workers reconcile one key at a time; a failed reconcile is retried with
back-off (STYLE.md: read the world, decide, then write).

Controllers in one process share informers through a `SharedInformerFactory` (one
watch per resource, however many controllers read it). The `ControllerManager` starts
and stops them together; cloudcore runs it under a Lease, so two control planes on one
store never both act.

Controllers talk to the API only through `client/` (ARCHITECTURE.md rule 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import HandlerRegistration, Informer, SharedInformerFactory
from kubeedge.client.rest import APIClient
from kubeedge.client.workqueue import RateLimitingQueue
from kubeedge.config.controllermanager import ControllerManagerConfig

log = logging.getLogger(__name__)

# A reconcile that lost a write race (409 Conflict) looks again after this long.
CONFLICT_RETRY_SECONDS = 0.1


class Controller:
    """Subclasses set `name`, build their informers in `setup()`, and implement
    `reconcile(key)`. Keys are whatever the subclass enqueues (usually a namespace or a
    `namespace/name`).

    `informers` is the process's shared factory (a private one when not given),
    `recorder` the process's event recorder (a private one when not given) and `config`
    the controller manager's configuration (defaults when not given). Subclasses that
    take the worker count from the config set `workers` in `__init__`."""

    name = "controller"
    # `source.component` of the Events it records (kube's names, e.g.
    # "deployment-controller"); defaults to "<name>-controller".
    component = ""
    workers = 1

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None) -> None:
        self.client = client
        self.factory = informers or SharedInformerFactory(client)
        self._owns_recorder = recorder is None
        self.recorder = recorder or EventRecorder(client, self.component or (
            self.name if self.name.endswith("-controller") else f"{self.name}-controller"))
        self.config = config or ControllerManagerConfig()
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(name=self.name)
        self.informers: list[Informer] = []
        self._registrations: list[tuple[Informer, HandlerRegistration]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def informer(self, *args: Any, **kwargs: Any) -> Informer:
        """The factory's shared informer for this resource. Handlers this controller
        adds to it are removed when it stops, so the informer can serve a successor
        (the next leadership term) without feeding a stopped queue."""
        informer = self.factory.informer(*args, **kwargs)
        if informer not in self.informers:
            self.informers.append(informer)
        return _TrackedInformer(informer, self._registrations)  # type: ignore[return-value]

    def enqueue_by(self, key_of: Callable[[dict[str, Any]], str | None]
                   ) -> dict[str, Callable[..., None]]:
        """Handlers that enqueue `key_of(obj)` on add, update and delete."""

        def add(obj: dict[str, Any]) -> None:
            key = key_of(obj)
            if key:
                self.queue.add(key)

        return {"on_add": add, "on_update": lambda _old, new: add(new), "on_delete": add}

    def setup(self) -> None:
        raise NotImplementedError

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self.setup()
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            await informer.wait_synced()
        self._tasks = [asyncio.create_task(self._work(), name=f"{self.name} worker")
                       for _ in range(self.workers)]

    async def stop(self) -> None:
        """Stop the workers. Informers belong to the factory: whoever made the factory
        stops them (`ControllerManager.stop`, or `stop_informers` for a private one)."""
        self.queue.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for informer, registration in self._registrations:
            informer.remove_event_handler(registration)
        self._registrations = []
        if self._owns_recorder:
            await self.recorder.stop()

    async def stop_informers(self) -> None:
        for informer in self.informers:
            await informer.stop()

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.reconcile(key)
            except APIError as exc:
                if exc.is_conflict:
                    # The cache was behind a write someone else made: it is catching up,
                    # so look again shortly. Conflicts are not failures; counting them
                    # into the exponential back-off could park a busy key for minutes.
                    log.debug("%s: %s changed under us, retrying: %s", self.name, key, exc)
                    self.queue.add_after(key, CONFLICT_RETRY_SECONDS)
                else:
                    log.warning("%s: reconciling %s failed, will retry: %s", self.name, key,
                                exc)
                    self.queue.add_rate_limited(key)
            except (ConnectionError, TimeoutError) as exc:
                log.warning("%s: reconciling %s failed, will retry: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: reconciling %s failed, will retry", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)


class _TrackedInformer:
    """An informer as one controller sees it: every handler it adds is remembered, so
    the controller can take them all back when it stops."""

    def __init__(self, informer: Informer,
                 registrations: list[tuple[Informer, HandlerRegistration]]) -> None:
        self._informer = informer
        self._registrations = registrations

    def add_event_handler(self, *args: Any, **kwargs: Any) -> HandlerRegistration:
        registration = self._informer.add_event_handler(*args, **kwargs)
        self._registrations.append((self._informer, registration))
        return registration

    def __getattr__(self, name: str) -> Any:
        return getattr(self._informer, name)


class ControllerManager:
    """Runs a set of controllers on one client, sharing informers and the event
    recorder; starts and stops them together (cloudcore runs it under a Lease,
    `cloud/cloudcore.py`).

    `owns_informers=False` leaves a process-wide factory running at stop (cloudcore's
    modules share one, so each pod is cached once)."""

    def __init__(self, client: APIClient, controllers: Iterable[Controller],
                 informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None, *,
                 owns_informers: bool = True) -> None:
        self.client = client
        self.controllers = list(controllers)
        self.informers = informers
        self.recorder = recorder
        self.owns_informers = owns_informers

    async def start(self) -> None:
        for controller in self.controllers:
            await controller.start()

    async def stop(self) -> None:
        for controller in reversed(self.controllers):
            await controller.stop()
        if self.owns_informers and self.informers is not None:
            await self.informers.stop()
        elif self.owns_informers:
            for controller in self.controllers:
                await controller.stop_informers()
        if self.recorder is not None:
            await self.recorder.stop()
