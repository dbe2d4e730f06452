"""Hollow nodes: many fake kubelets in one process, for tests and benchmarks.

Owns `HollowCluster`, which registers Node objects and plays kubelet for the pods bound
to them (KubeEdge's edgemark, kwok): a Lease in `kube-node-lease` renewed every
`renew_interval`, node status every `status_interval` (and at once when someone else
marked the node not Ready), pods moved to Running after `ready_delay`, scripted exits
(`hollow.kubeedge.io/exit-code`, `.../run-seconds`), restarts by restartPolicy, and
graceful deletion confirmed with `gracePeriodSeconds: 0` and a uid precondition.

Every write goes to the API as the node itself (`identity.py`), so the node authorizer
and NodeRestriction judge hollow nodes as they judge kubelets. Reads are shared: ONE
pods watch (`spec.nodeName!=`) and ONE nodes watch serve every hollow node, as the
administrator. A watch per node would cost the API server a watcher (a task woken on
every pod change) per node: 300 of them turn each pod event into 300 wake-ups.

Timers are staggered (a random first offset, then the period with ±`jitter`) so 300
Leases do not renew in the same millisecond. Time comes from an injected `Clock`
(intervals) and `wall` (timestamps written into objects). Never touches the store or
the server's internals: `client/` only (ARCHITECTURE.md rule 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.informer import Informer
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.hollow import pod as pods
from kubeedge.hollow.identity import AuthMode, ClusterCredentials, NodeClientFactory
from kubeedge.hollow.node import (
    NODE_LEASE_NAMESPACE,
    NodeProfile,
    fake_internal_ip,
    fake_pod_cidr,
    lease_object,
    lease_renewal,
    node_conditions,
    node_object,
)

__all__ = ["HollowCluster", "HollowNode", "HollowTimings", "PodWorker", "WorkerState"]

log = logging.getLogger(__name__)

NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
LEASES = Resource.of("coordination.k8s.io/v1", "leases")

Obj = dict[str, Any]
T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class HollowTimings:
    """Kubelet timings (its defaults, but status every 60 s), all shortenable by tests."""

    ready_delay: float = 1.0
    lease_seconds: int = 40
    renew_interval: float = 10.0
    status_interval: float = 60.0
    # Crash-loop back-off before restart n: initial * 2**(n-1), capped.
    restart_backoff: float = 10.0
    max_restart_backoff: float = 300.0
    # Each period varies by ±jitter of itself (the kubelet's lease jitter is 0.04).
    jitter: float = 0.04
    # Retries of a write the server refused for now (403 while its node graph catches
    # up with a binding, 429, 5xx, a lost connection).
    write_attempts: int = 6
    write_backoff: float = 0.2

    def __post_init__(self) -> None:
        for name in ("ready_delay", "renew_interval", "status_interval", "restart_backoff",
                     "max_restart_backoff", "jitter", "write_backoff"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.lease_seconds < 1:
            raise ValueError(f"lease_seconds must be >= 1, not {self.lease_seconds}")
        if self.renew_interval <= 0 or self.status_interval <= 0:
            raise ValueError("renew_interval and status_interval must be > 0")


class WorkerState(StrEnum):
    """A pod worker's view. STARTING → RUNNING → (EXITED | RUNNING after a restart);
    any → TERMINATING on deletionTimestamp → DONE once the deletion is confirmed."""

    STARTING = "Starting"
    RUNNING = "Running"
    BACKOFF = "BackOff"
    EXITED = "Exited"
    TERMINATING = "Terminating"
    DONE = "Done"


class _PodGone(Exception):
    """The pod was deleted (or replaced) under the worker: stop quietly."""


@dataclass
class RequestStats:
    """API requests the hollow nodes sent, by verb and resource."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        return {f"{verb} {what}": n for (verb, what), n in sorted(self.counts.items())}


class PodWorker:
    """Plays kubelet for one pod (one uid): start, scripted exits, restarts, deletion."""

    def __init__(self, node: HollowNode, pod: Obj) -> None:
        self.node = node
        self.pod = pod
        meta = pod.get("metadata") or {}
        self.uid = str(meta.get("uid") or "")
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta.get("name") or "")
        self.state = WorkerState.STARTING
        self.restarts = 0
        self.pod_ip = ""
        self.started: datetime | None = None
        self.run_started: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def start(self) -> None:
        pod = self.pod
        status = pod.get("status") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._terminate_soon()
        elif pods.is_terminal(pod):
            self.state = WorkerState.EXITED
            self._adopt_ip(status)
        elif self._adoptable(status):
            # Already running from an earlier hollow process: keep it, rewrite nothing.
            self.state = WorkerState.RUNNING
            self._adopt_ip(status)
            self.restarts = max((int(c.get("restartCount") or 0)
                                 for c in status.get("containerStatuses") or []), default=0)
            self.started = self.run_started = self.node.cluster.wall()
            self._spawn(self._script)
        else:
            self._spawn(self._lifecycle)

    def _adoptable(self, status: Obj) -> bool:
        containers = status.get("containerStatuses") or []
        return (status.get("phase") == pods.Phase.RUNNING and bool(containers)
                and all(str(c.get("containerID", "")).startswith("hollow://")
                        for c in containers))

    def _adopt_ip(self, status: Obj) -> None:
        ip = str(status.get("podIP") or "")
        if ip and not (self.pod.get("spec") or {}).get("hostNetwork"):
            self.pod_ip = ip
            if ip in self.node.pool:
                self.node.pool.reserve(self.uid, ip)

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if ((pod.get("metadata") or {}).get("deletionTimestamp")
                and self.state not in (WorkerState.TERMINATING, WorkerState.DONE)):
            self._terminate_soon()

    def stop(self) -> None:
        """Forget the pod (it is gone, or the node is going)."""
        terminating = self.state is WorkerState.TERMINATING
        self.state = WorkerState.DONE
        # A terminating worker is at most finishing its confirming delete (the watch
        # may report the pod gone before the response arrives): let it end by itself.
        if self._task is not None and not terminating:
            self._task.cancel()
        self.node.pool.release(self.uid)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await work()
            except _PodGone:
                pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hollow node %s: pod %s failed", self.node.name, self.key)

        self._task = asyncio.get_running_loop().create_task(
            run(), name=f"hollow pod {self.key}")

    def _terminate_soon(self) -> None:
        previous = self._task
        self.state = WorkerState.TERMINATING
        if previous is not None:
            previous.cancel()
        self._spawn(lambda: self._terminate(previous))

    # -- the pod's life

    def _host_ip(self) -> str:
        return self.node.internal_ip

    def _ip(self) -> str:
        if not self.pod_ip:
            if (self.pod.get("spec") or {}).get("hostNetwork"):
                self.pod_ip = self._host_ip()
            else:
                self.pod_ip = self.node.pool.allocate(self.uid)
        return self.pod_ip

    async def _lifecycle(self) -> None:
        timings = self.node.cluster.timings
        if timings.ready_delay > 0:
            await self.node.cluster.clock.sleep(timings.ready_delay)
        await self.node.active()
        now = self.node.cluster.wall()
        self.started = self.run_started = now
        await self._write_status(pods.running_status(
            self.pod, host_ip=self._host_ip(), pod_ip=self._ip(), started=now, now=now))
        self.state = WorkerState.RUNNING
        await self._script()

    async def _script(self) -> None:
        script, problem = pods.script_of(self.pod)
        if problem:
            log.warning("hollow node %s: pod %s: %s", self.node.name, self.key, problem)
        if script.exit_code is None:
            return
        cluster = self.node.cluster
        policy = str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")
        while True:
            if script.run_seconds > 0:
                await cluster.clock.sleep(script.run_seconds)
            await self.node.active()
            outcome = pods.exit_outcome(policy, script.exit_code)
            phase = None if outcome is pods.ExitOutcome.RESTART else pods.Phase(outcome.value)
            now = cluster.wall()
            assert self.started is not None and self.run_started is not None
            await self._write_status(pods.terminated_status(
                self.pod, host_ip=self._host_ip(), pod_ip=self._ip(), started=self.started,
                run_started=self.run_started, now=now, exit_code=script.exit_code,
                phase=phase, restarts=self.restarts))
            if phase is not None:
                self.state = WorkerState.EXITED
                return
            self.state = WorkerState.BACKOFF
            self.restarts += 1
            await cluster.clock.sleep(pods.restart_backoff(
                self.restarts, cluster.timings.restart_backoff,
                cluster.timings.max_restart_backoff))
            await self.node.active()
            last_started, now = self.run_started, cluster.wall()
            self.run_started = now
            await self._write_status(pods.running_status(
                self.pod, host_ip=self._host_ip(), pod_ip=self._ip(), started=self.started,
                now=now, restarts=self.restarts, last_exit_code=script.exit_code,
                last_started=last_started))
            self.state = WorkerState.RUNNING

    async def _terminate(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await previous
        await self.node.active()
        if (self.started is not None and self.run_started is not None
                and not pods.is_terminal(self.pod)):
            # The containers were running: report them stopped, as the kubelet does
            # before it confirms the deletion.
            now = self.node.cluster.wall()
            with contextlib.suppress(_PodGone):
                await self._write_status(pods.killed_status(
                    self.pod, host_ip=self._host_ip(), pod_ip=self._ip(),
                    started=self.started, run_started=self.run_started, now=now,
                    restarts=self.restarts))
        client = self.node.client

        async def confirm() -> Any:
            return await client.delete(PODS, self.name, self.namespace, grace_period_seconds=0,
                                       preconditions={"uid": self.uid})

        with contextlib.suppress(_PodGone):
            await asyncio.shield(self.node.call("delete", "pods", confirm))
        self.state = WorkerState.DONE

    async def _write_status(self, patch: Obj) -> None:
        client = self.node.client

        async def write() -> Any:
            return await client.patch(PODS, self.name, patch, self.namespace,
                                      patch_type="strategic", subresource="status")

        # A worker cancelled mid-write (its pod is being deleted) lets the request
        # finish: cutting it off would cost the pooled connection, and the server a
        # fresh TLS handshake for the next request.
        await asyncio.shield(self.node.call("patch", "pods/status", write))


class HollowNode:
    """One fake kubelet: its Node, its Lease, its pods. Built by `HollowCluster`."""

    def __init__(self, cluster: HollowCluster, name: str, index: int, profile: NodeProfile,
                 client: APIClient) -> None:
        self.cluster = cluster
        self.name = name
        self.index = index
        self.profile = profile
        self.client = client
        self.internal_ip = fake_internal_ip(index)
        self.pod_cidr = fake_pod_cidr(index)
        self.pool = pods.PodIPPool(self.pod_cidr)
        self.workers: dict[str, PodWorker] = {}
        self.registered = False
        self.lease_renewals = 0
        self.status_updates = 0
        self._ready_since = cluster.wall()
        self._active = asyncio.Event()
        self._active.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._status_now = asyncio.Event()
        self._lease_now = asyncio.Event()

    @property
    def paused(self) -> bool:
        return not self._active.is_set()

    async def active(self) -> None:
        """Wait while the node is paused (unreachable)."""
        if not self._active.is_set():
            await self._active.wait()

    # -- API calls as the node

    async def call(self, verb: str, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """One write as the node: counted, bounded in flight, retried while the server
        says "not now". 404 (and a failed uid precondition) mean the object is gone."""
        cluster = self.cluster
        timings = cluster.timings
        delay = timings.write_backoff
        attempt = 0
        while True:
            await self.active()
            async with cluster._in_flight:
                cluster.stats.counts[(verb, what)] += 1
                try:
                    return await send()
                except APIError as exc:
                    cluster.stats.errors[(what, exc.code)] += 1
                    if exc.is_not_found or (exc.is_conflict and what == "pods"):
                        raise _PodGone() from exc
                    retry = exc.is_forbidden or exc.code == 429 or exc.code >= 500
                    if not retry or attempt >= timings.write_attempts:
                        raise
                    problem: Exception = exc
                except APIConnectionError as exc:
                    cluster.stats.errors[(what, 0)] += 1
                    if attempt >= timings.write_attempts:
                        raise
                    problem = exc
            attempt += 1
            log.debug("hollow node %s: %s %s: %s; retrying in %.2fs",
                      self.name, verb, what, problem, delay)
            await cluster.clock.sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- registration and heartbeats

    async def register(self) -> None:
        """Create the Node (status included) and its Lease; on a restart, take over the
        existing Node as the kubelet does."""
        now = self.cluster.wall()
        body = node_object(self.name, self.profile, self.internal_ip, now)
        client = self.client
        try:
            node = await self.call("create", "nodes", lambda: client.create(NODES, body))
        except APIError as exc:
            if not exc.is_already_exists:
                raise
            meta = {"metadata": {"labels": body["metadata"]["labels"],
                                 "annotations": body["metadata"]["annotations"]}}
            node = await self.call("patch", "nodes", lambda: client.patch(
                NODES, self.name, meta, patch_type="strategic"))
            node = {**node, "status": {}}
        if not (node.get("status") or {}).get("conditions"):
            status = {"status": body["status"]}
            node = await self.call("patch", "nodes/status", lambda: client.patch(
                NODES, self.name, status, patch_type="strategic", subresource="status"))
        self.observe(node)
        lease = lease_object(self.name, self.cluster.timings.lease_seconds, now)
        try:
            await self.call("create", "leases", lambda: client.create(LEASES, lease))
        except APIError as exc:
            if not exc.is_already_exists:
                raise
            await self._renew()
        self.registered = True

    def observe(self, node: Obj) -> None:
        """The Node as the API server has it: take the pod CIDR IPAM assigned, and post
        status at once if someone (the node lifecycle controller) marked us not Ready."""
        cidr = str((node.get("spec") or {}).get("podCIDR") or "")
        if cidr and cidr != self.pool.cidr:
            fresh = pods.PodIPPool(cidr)
            for worker in self.workers.values():
                if worker.pod_ip and worker.pod_ip in fresh:
                    fresh.reserve(worker.uid, worker.pod_ip)
            self.pod_cidr, self.pool = cidr, fresh
        ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), None)
        if ready is not None and ready.get("status") != "True" and self.registered:
            self._ready_since = self.cluster.wall()
            self._status_now.set()

    async def _renew(self) -> None:
        patch = lease_renewal(self.name, self.cluster.timings.lease_seconds, self.cluster.wall())
        client = self.client
        try:
            await self.call("patch", "leases", lambda: client.patch(
                LEASES, self.name, patch, NODE_LEASE_NAMESPACE))
        except _PodGone:
            lease = lease_object(self.name, self.cluster.timings.lease_seconds,
                                 self.cluster.wall())
            await self.call("create", "leases", lambda: client.create(LEASES, lease))
        self.lease_renewals += 1

    async def _post_status(self) -> None:
        now = self.cluster.wall()
        patch = {"status": {"conditions": node_conditions(now, self._ready_since)}}
        client = self.client
        await self.call("patch", "nodes/status", lambda: client.patch(
            NODES, self.name, patch, patch_type="strategic", subresource="status"))
        self.status_updates += 1

    def _period(self, seconds: float) -> float:
        jitter = self.cluster.timings.jitter
        return seconds * (1 + self.cluster.rng.uniform(-jitter, jitter))

    async def _every(self, seconds: float, beat: Callable[[], Awaitable[None]],
                     what: str, wake: asyncio.Event | None = None) -> None:
        clock = self.cluster.clock
        # A random first offset spreads the nodes' beats over one period.
        await clock.sleep(self.cluster.rng.uniform(0, seconds))
        while True:
            await self.active()
            if wake is not None:
                wake.clear()
            try:
                await beat()
            except (APIError, APIConnectionError, _PodGone) as exc:
                log.warning("hollow node %s: %s failed: %s", self.name, what, exc)
            if wake is None:
                await clock.sleep(self._period(seconds))
                continue
            sleeper = asyncio.ensure_future(clock.sleep(self._period(seconds)))
            waker = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def start_heartbeats(self) -> None:
        timings = self.cluster.timings
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(timings.renew_interval, self._renew, "lease renewal",
                                         self._lease_now),
                             name=f"hollow lease {self.name}"),
            loop.create_task(self._every(timings.status_interval, self._post_status,
                                         "status update", self._status_now),
                             name=f"hollow status {self.name}"),
        ]

    def pause(self) -> None:
        self._active.clear()

    def resume(self) -> None:
        if not self._active.is_set():
            self._active.set()
            # Back on the network: renew and report at once, not at the next tick.
            self._lease_now.set()
            self._status_now.set()

    async def stop(self) -> None:
        tasks = self._tasks + [w._task for w in self.workers.values() if w._task is not None]
        for worker in list(self.workers.values()):
            worker.stop()
        self.workers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    # -- pods, from the shared informer

    def pod_seen(self, pod: Obj) -> None:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.start()
        else:
            worker.update(pod)

    def pod_gone(self, pod: Obj) -> None:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        worker = self.workers.pop(uid, None)
        if worker is not None:
            worker.stop()


class HollowCluster:
    """N hollow nodes in one process, sharing two watches and one connection pool.

    Give `root` (what `keadm init --root` made) or `credentials`. `start()` registers the
    nodes and returns once every Node and Lease exists and the pod watch has synced;
    `stop()` stops playing kubelet (and deletes the Nodes when `delete_on_stop`).
    `pause(name)` makes a node unreachable (no Lease, status or pod writes) until
    `resume(name)`; `add_node()` and `remove_node(name)` change the fleet while running.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        credentials: ClusterCredentials | None = None,
        nodes: int = 1,
        name_prefix: str = "hollow-",
        profile: NodeProfile | None = None,
        timings: HollowTimings | None = None,
        auth: AuthMode | str = AuthMode.IMPERSONATE,
        connections: int = 32,
        delete_on_stop: bool = False,
        clock: Clock | None = None,
        wall: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        if credentials is None:
            if root is None:
                raise ValueError("give the cloud root (keadm init --root) or credentials")
            credentials = ClusterCredentials.from_root(root)
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, not {nodes}")
        self.credentials = credentials
        self.initial_nodes = nodes
        self.name_prefix = name_prefix
        self.profile = profile or NodeProfile()
        self.timings = timings or HollowTimings()
        self.auth = AuthMode(auth)
        self.connections = connections
        self.delete_on_stop = delete_on_stop
        self.clock: Clock = clock or RealClock()
        self.wall = wall
        self.rng = rng or random.Random()
        self.stats = RequestStats()
        self.nodes: dict[str, HollowNode] = {}
        self._next_index = 0
        self._factory: NodeClientFactory | None = None
        self._admin: APIClient | None = None
        self._pod_informer: Informer | None = None
        self._node_informer: Informer | None = None
        self._in_flight = asyncio.Semaphore(max(1, connections))
        self._started_at = 0.0

    async def __aenter__(self) -> HollowCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def admin(self) -> APIClient:
        if self._admin is None:
            raise RuntimeError("the hollow cluster is not started")
        return self._admin

    def node_names(self) -> list[str]:
        return list(self.nodes)

    def request_rate(self) -> float:
        """Requests per second the hollow nodes sent since `start()`."""
        elapsed = self.clock.now() - self._started_at
        return self.stats.total / elapsed if elapsed > 0 else 0.0

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._factory = NodeClientFactory(self.credentials, self.auth,
                                          connections=self.connections)
        self._admin = self._factory.admin()
        self._started_at = self.clock.now()
        names = [self._new_name() for _ in range(self.initial_nodes)]
        for name in names:
            self._add(name, self.profile)
        await self._register(list(self.nodes.values()))
        self._node_informer = Informer(self._admin, NODES, clock=self.clock, name="hollow nodes")
        self._node_informer.add_event_handler(self._on_node, lambda _, new: self._on_node(new))
        self._pod_informer = Informer(self._admin, PODS, field_selector="spec.nodeName!=",
                                      clock=self.clock, name="hollow pods")
        self._pod_informer.add_event_handler(self._on_pod, self._on_pod_update,
                                             self._on_pod_delete)
        self._node_informer.start()
        self._pod_informer.start()
        await self._node_informer.wait_synced()
        await self._pod_informer.wait_synced()
        for node in self.nodes.values():
            node.start_heartbeats()

    async def stop(self) -> None:
        for informer in (self._pod_informer, self._node_informer):
            if informer is not None:
                await informer.stop()
        self._pod_informer = self._node_informer = None
        names = list(self.nodes)
        for node in list(self.nodes.values()):
            await node.stop()
        if self.delete_on_stop and self._admin is not None:
            await asyncio.gather(*(self._delete_node(n) for n in names),
                                 return_exceptions=True)
        for node in self.nodes.values():
            await node.client.close()
        self.nodes.clear()
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        if self._factory is not None:
            await self._factory.close()
            self._factory = None

    def _new_name(self) -> str:
        while True:
            name = f"{self.name_prefix}{self._next_index}"
            self._next_index += 1
            if name not in self.nodes:
                return name

    def _add(self, name: str, profile: NodeProfile) -> HollowNode:
        assert self._factory is not None
        node = HollowNode(self, name, self._index_of(name), profile, self._factory.node(name))
        self.nodes[name] = node
        return node

    def _index_of(self, name: str) -> int:
        """A stable index per name: `<prefix><n>` is n; other names take free slots
        after every numbered node, so fake addresses never collide."""
        suffix = name.removeprefix(self.name_prefix)
        if name.startswith(self.name_prefix) and suffix.isdigit():
            return int(suffix)
        taken = {n.index for n in self.nodes.values()}
        index = 1 << 16
        while index in taken:
            index += 1
        return index

    async def _register(self, nodes: list[HollowNode]) -> None:
        results = await asyncio.gather(*(n.register() for n in nodes), return_exceptions=True)
        failures = [(n.name, r) for n, r in zip(nodes, results, strict=True)
                    if isinstance(r, BaseException)]
        if failures:
            name, error = failures[0]
            raise RuntimeError(
                f"{len(failures)} hollow node(s) failed to register; node {name!r}: {error}"
            ) from error

    # -- the fleet at run time

    def _node(self, name: str) -> HollowNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no hollow node named {name!r}") from None

    def pause(self, name: str) -> None:
        """Stop renewing the node's Lease and status and writing its pods, as if it
        lost the network."""
        self._node(name).pause()

    def resume(self, name: str) -> None:
        self._node(name).resume()

    def paused(self, name: str) -> bool:
        return self._node(name).paused

    async def add_node(self, name: str | None = None,
                       profile: NodeProfile | None = None) -> str:
        """Register one more node (named `<prefix><next>` unless given); returns its name."""
        if self._admin is None:
            raise RuntimeError("start the hollow cluster before adding nodes")
        name = name or self._new_name()
        if name in self.nodes:
            raise ValueError(f"hollow node {name!r} already exists")
        node = self._add(name, profile or self.profile)
        try:
            await node.register()
        except BaseException:
            self.nodes.pop(name, None)
            await node.client.close()
            raise
        # Pods bound before the node joined the fleet were ignored by the watch: adopt.
        if self._pod_informer is not None:
            for pod in self._pod_informer.store.list():
                if (pod.get("spec") or {}).get("nodeName") == name:
                    node.pod_seen(pod)
        node.start_heartbeats()
        return name

    async def remove_node(self, name: str) -> None:
        """Stop the node and delete its Lease (as the node) and Node (as the admin)."""
        node = self.nodes.pop(name, None)
        if node is None:
            raise KeyError(f"no hollow node named {name!r}")
        await node.stop()
        await self._delete_node(name, node)
        await node.client.close()

    async def _delete_node(self, name: str, node: HollowNode | None = None) -> None:
        node = node or self.nodes.get(name)
        if node is not None:
            client = node.client
            with contextlib.suppress(_PodGone, APIError, APIConnectionError):
                await node.call("delete", "leases", lambda: client.delete(
                    LEASES, name, NODE_LEASE_NAMESPACE))
        # The node authorizer does not let a node delete its own Node (nor does kube's).
        with contextlib.suppress(APIError):
            await self.admin.delete(NODES, name)

    # -- informer handlers: bookkeeping only, the work happens on the pod workers

    def _on_node(self, obj: Obj) -> None:
        node = self.nodes.get(str((obj.get("metadata") or {}).get("name") or ""))
        if node is not None:
            node.observe(obj)

    def _owner(self, pod: Obj) -> HollowNode | None:
        return self.nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))

    def _on_pod(self, pod: Obj) -> None:
        node = self._owner(pod)
        if node is not None:
            node.pod_seen(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._on_pod(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        node = self._owner(pod)
        if node is not None:
            node.pod_gone(pod)

