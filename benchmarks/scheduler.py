"""The scheduler against the real API server, beside a bare "first node that fits"
binder over the same API in the same run.

    .venv/bin/python benchmarks/scheduler.py --quick     # 1,000 pods on 500 nodes, ~1-2 min
    .venv/bin/python benchmarks/scheduler.py             # 10,000 pods on 5,000 nodes, 3 runs
    .venv/bin/python benchmarks/scheduler.py --profile DIR   # + py-spy / cProfile, top entries

The API server is the real one: `keadm init` in a temporary root on a free loopback port,
SQLite storage, with neither controllers nor a scheduler (`start_cloud(controllers=())`),
so only Node objects and what this script creates exist. There are no kubelets: nodes are
Node objects with capacity and a Ready condition; a pod counts once `spec.nodeName` is set.

Figures (each scheduler is a process of its own; pods are written by two further writer
processes of 32 keep-alive HTTPS connections each, 64 creates in flight, as fast as the
API takes them; the parent only watches and counts):

(a) 5,000 nodes, 10,000 pods with the default schedulerName: pods/s from the first create
    to the last `spec.nodeName` seen by a watch, for
    - ours: `cloudcore` with only the scheduler module (`kubeedge.cli.cloudcore`, leader
      election off), which binds and records a `Scheduled` Event per pod, and
    - bare: a process of this script (`--serve-binder`) with the same client (the same
      `api_client`, QPS, burst and 64-connection pool), an informer on pending pods
      (`spec.nodeName=`), one list of the nodes, the first node in list order with room
      for the pod's requests, and `POST pods/binding`, 64 in flight, no Events.
    Each run measures both, each on a fresh namespace, in alternating order; the ratio
    bare / ours is the framework's cost. The create rate alone is reported beside them.
(b) 1,000 nodes (the others deleted), 1,000 PodGroups (minMember 10) of 10 volcano pods
    each, each writer op creating a PodGroup and then its pods: jobs/s from the first
    create to the last job with all 10 pods bound (cloudcore's Volcano path, 1 s period).
(c) 10,000 pending volcano pods (1,000 gangs of 10 pods, each pod asking for more CPU
    than any node has) in a queue of their own, timed in-process: a `Scheduler` on the
    API server (informers synced, its session loop idle), `VolcanoPath.run_once` timed
    K times after the first, median; the writes a session spawns are let land (and the
    informers quiet) between sessions. Two states: the queue Closed (jobs stay Pending:
    snapshot + enqueue), then Open (jobs admitted, each gang's first task tried on every
    node: snapshot + enqueue + allocate).

`--profile DIR` py-spies cloudcore and the API server through the first run of (a) and
(b) and the bare binder through its first run, and runs one extra session of each (c)
state under cProfile; the top entries are printed. Every sample goes to `--json`
(default benchmarks/results/scheduler-<mode>.json). Bounded in time, and always ends
with the processes stopped and `keadm reset`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

from benchmarks.apiserver import (  # noqa: E402
    JSON_HEADERS,
    BenchError,
    Worker,
    arm_deadline,
    drive,
    open_session,
    serve_commands,
    source_state,
    summarize_profile,
)
from benchmarks.controllers import cpu_seconds, profiled, rss_mb  # noqa: E402

GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
WRITERS = 2
WRITER_CONNECTIONS = 32  # per writer: 64 creates in flight, as benchmarks/apiserver.py
PROBES = 64  # warm-up pods, bound at once: as many as the binders' connection pool
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110"}
POD_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
UNFIT_REQUESTS = {"cpu": "64", "memory": "128Mi"}  # more CPU than any node has
# The aims.
AIM_PODS_PER_S = 700.0
AIM_SESSION_S = 1.0
# Frames every stack of the profiled processes has (entry points), left out of the
# inclusive ranking.
_ENTRY = ("cli/cloudcore.py", "cloud/cloudcore.py", "benchmarks/scheduler.py", "<module>",
          "Informer.run (", "Informer._reflect (", "Informer._watch (")


@dataclass(frozen=True)
class Mode:
    name: str
    nodes: int  # (a)
    pods: int  # (a)
    gang_nodes: int  # (b) and (c)
    jobs: int  # (b)
    gang_size: int
    pending_jobs: int  # (c): pending pods = pending_jobs * gang_size
    sessions: int  # (c): timed sessions per state
    deadline_seconds: int


MODES = {
    "quick": Mode("quick", nodes=500, pods=1000, gang_nodes=100, jobs=100, gang_size=10,
                  pending_jobs=100, sessions=5, deadline_seconds=600),
    "full": Mode("full", nodes=5000, pods=10_000, gang_nodes=1000, jobs=1000, gang_size=10,
                 pending_jobs=1000, sessions=5, deadline_seconds=5400),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---- bodies ----------------------------------------------------------------------------


def node_body(i: int, gang_set: bool) -> dict[str, Any]:
    name = f"node-{i:05d}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "bench-set": "gang" if gang_set else "extra"}},
            "spec": {},
            "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY,
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "KubeletReady"}]}}


def pod_body(name: str, scheduler: str, requests: dict[str, str],
             group: str = "") -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": {"bench": "scheduler"}}
    if group:
        md["annotations"] = {GROUP_ANNOTATION: group}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"schedulerName": scheduler,
                     "containers": [{"name": "main", "image": "busybox:1.36",
                                     "resources": {"requests": requests}}]}}


def podgroup_body(name: str, min_member: int, queue: str) -> dict[str, Any]:
    return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name}, "spec": {"minMember": min_member, "queue": queue}}


# ---- writer worker: creates as fast as the API takes them ------------------------------


class WriterState:
    session: Any = None


def writer_main(conn: multiprocessing.connection.Connection) -> None:
    state = WriterState()

    async def setup() -> WriterState:
        return state

    async def teardown(st: WriterState) -> None:
        if st.session is not None:
            await st.session.close()

    serve_commands(conn, setup, writer_commands, teardown)


def writer_commands(st: WriterState) -> dict[str, Callable[..., Awaitable[dict[str, Any]]]]:
    import orjson

    async def connect(server: str, kubeconfig: str, warm: int) -> dict[str, Any]:
        st.session, warmed = await open_session(server, kubeconfig, warm)
        return warmed

    async def post(path: str, body: bytes, errors: Counter[int]) -> bool:
        async with st.session.post(path, data=body, headers=JSON_HEADERS) as resp:
            await resp.read()
            if resp.status != 201:
                errors[resp.status] += 1
            return resp.status == 201

    async def pods(namespace: str, first: int, count: int, concurrency: int,
                   scheduler: str) -> dict[str, Any]:
        path = f"/api/v1/namespaces/{namespace}/pods"
        bodies = [orjson.dumps(pod_body(f"pod-{first + i:05d}", scheduler, POD_REQUESTS))
                  for i in range(count)]
        errors: Counter[int] = Counter()
        result = await drive(count, concurrency, lambda i: post(path, bodies[i], errors))
        result["errors"] = dict(errors)
        return result

    async def gangs(namespace: str, first: int, count: int, concurrency: int,
                    size: int, queue: str, unfit: bool) -> dict[str, Any]:
        """One op = a PodGroup, then its `size` pods one after the other."""
        pg_path = f"/apis/scheduling.volcano.sh/v1beta1/namespaces/{namespace}/podgroups"
        pod_path = f"/api/v1/namespaces/{namespace}/pods"
        requests = UNFIT_REQUESTS if unfit else POD_REQUESTS
        jobs = []
        for j in range(first, first + count):
            name = f"job-{j:05d}"
            jobs.append((orjson.dumps(podgroup_body(name, size, queue)),
                         [orjson.dumps(pod_body(f"{name}-{k}", "volcano", requests, name))
                          for k in range(size)]))
        errors: Counter[int] = Counter()

        async def op(i: int) -> bool:
            pg, members = jobs[i]
            ok = await post(pg_path, pg, errors)
            for body in members:
                ok = await post(pod_path, body, errors) and ok
            return ok

        result = await drive(count, concurrency, op)
        result["errors"] = dict(errors)
        return result

    return {"connect": connect, "pods": pods, "gangs": gangs}


# ---- the bare binder (a process of its own: `--serve-binder CONFIG`) --------------------


async def bare_binder(config_path: str) -> None:
    """Informer on pending pods; the first node in list order with room; POST binding.

    The same client as cloudcore (`api_client`: QPS, burst, 64 connections) and the
    same number of bindings in flight as the scheduler's `bindConcurrency`.
    """
    from kubeedge.client.errors import APIError
    from kubeedge.client.informer import Informer
    from kubeedge.client.resources import ResourceRef
    from kubeedge.cloud.cloudcore import api_client
    from kubeedge.config import cloudcore
    from kubeedge.scheduler.framework.resource import Resource, pod_requests

    config = cloudcore.load(config_path)
    pods_ref = ResourceRef("", "v1", "pods", True, "Pod")
    nodes_ref = ResourceRef("", "v1", "nodes", False, "Node")
    client = api_client(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listed = await client.list_all(nodes_ref)
    # [name, free cpu (milli), free memory, free pod slots]
    free: list[list[Any]] = []
    for node in listed["items"]:
        alloc = Resource.from_list((node.get("status") or {}).get("allocatable") or {})
        free.append([node["metadata"]["name"], alloc.milli_cpu, alloc.memory, alloc.pods])
    pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    seen: set[str] = set()
    names = frozenset(config.modules.scheduler.scheduler_names)

    def added(pod: dict[str, Any]) -> None:
        md = pod["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        if key not in seen and (pod["spec"].get("schedulerName") or
                                "default-scheduler") in names:
            seen.add(key)
            pending.put_nowait(pod)

    informer = Informer(client, pods_ref, field_selector="spec.nodeName=")
    informer.add_event_handler(added)
    informer.start()
    await informer.wait_synced()
    slots = asyncio.Semaphore(config.modules.scheduler.bind_concurrency)
    writes: set[asyncio.Task[None]] = set()

    async def bind(pod: dict[str, Any], node: str) -> None:
        md = pod["metadata"]
        try:
            await client.request("POST", pods_ref.path(md["namespace"], md["name"], "binding"),
                                 body={"apiVersion": "v1", "kind": "Binding",
                                       "metadata": {"name": md["name"],
                                                    "namespace": md["namespace"],
                                                    "uid": md.get("uid")},
                                       "target": {"apiVersion": "v1", "kind": "Node",
                                                  "name": node}})
        except APIError as exc:
            print(f"bind {md['name']}: {exc}", file=sys.stderr, flush=True)
        finally:
            slots.release()

    async def place() -> None:
        while True:
            await slots.acquire()
            pod = await pending.get()
            req = pod_requests(pod.get("spec") or {})
            for slot in free:
                if slot[3] >= 1 and slot[1] >= req.milli_cpu and slot[2] >= req.memory:
                    slot[1] -= req.milli_cpu
                    slot[2] -= req.memory
                    slot[3] -= 1
                    task = asyncio.create_task(bind(pod, slot[0]))
                    writes.add(task)
                    task.add_done_callback(writes.discard)
                    break
            else:
                slots.release()  # fits nowhere: left pending
            await asyncio.sleep(0)

    print("ready", flush=True)
    placer = asyncio.create_task(place())
    await stop.wait()
    placer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await placer
    await informer.stop()
    await client.close()


# ---- the parent ------------------------------------------------------------------------


@dataclass
class PodRun:
    """One (a) measurement: pods bound by one binder."""

    binder: str
    seconds: float  # first create -> last bound
    pods_per_s: float
    creates_per_s: float  # the writers' own rate over the same run
    lag_after_last_create: float
    scheduler_cpu_s: float
    apiserver_cpu_s: float
    writers_cpu_s: float


@dataclass
class GangRun:
    seconds: float
    jobs_per_s: float
    creates_jobs_per_s: float
    lag_after_last_create: float
    scheduler_cpu_s: float
    apiserver_cpu_s: float
    writers_cpu_s: float


@dataclass
class Report:
    mode: str
    settings: dict[str, Any]
    machine: str
    source: str
    pods: list[PodRun] = field(default_factory=list)
    gangs: list[GangRun] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)


class Bench:
    def __init__(self, mode: Mode, runs: int, profile: Path | None, tmp: Path) -> None:
        self.mode = mode
        self.runs = runs
        self.profile_dir = profile
        self.tmp = tmp
        self.cloud: Any = None
        self.api: Any = None  # the parent's APIClient
        self.writers: list[Worker] = []
        self.config_path = tmp / "cloudcore.yaml"
        self.report = Report(mode.name, asdict(mode),
                             f"{platform.machine()}, {os.cpu_count()} cores, Python "
                             f"{platform.python_version()}", source_state())
        self.apiserver_pid = 0
        self.procs: list[subprocess.Popen[str]] = []

    # -- set-up ------------------------------------------------------------------------

    def start(self) -> None:
        from tests.fixtures.cluster import start_cloud

        ctx = multiprocessing.get_context("spawn")
        self.writers = [Worker(ctx, writer_main, name=f"writer-{i}") for i in range(WRITERS)]
        log(f"starting the API server with keadm init under {self.tmp} ...")
        self.cloud = start_cloud(self.tmp, controllers=())
        self.apiserver_pid = int(
            (self.cloud.root / "var/run/kubeedge/apiserver.pid").read_text().strip())
        for w in self.writers:
            w.send("connect", server=self.cloud.server, kubeconfig=str(self.cloud.kubeconfig),
                   warm=WRITER_CONNECTIONS)
        for w in self.writers:
            w.recv(60)
        # cloudcore with the scheduler module only; the bare binder reads the same file
        # for its client settings.
        self.config_path.write_text(json.dumps({
            "apiVersion": "cloudcore.config.kubeedge.io/v1alpha1", "kind": "CloudCore",
            "root": str(self.cloud.root), "logLevel": "warning",
            "modules": {"controllerManager": {"enable": False},
                        "scheduler": {"enable": True,
                                      "leaderElection": {"leaderElect": False}}}}))

    def stop(self) -> None:
        for proc in self.procs:
            self._end(proc)
        for w in self.writers:
            with contextlib.suppress(Exception):
                w.close()
        if self.cloud is not None:
            self.cloud.stop()

    # -- processes under test ------------------------------------------------------------

    def _spawn(self, binder: str) -> subprocess.Popen[str]:
        if binder == "ours":
            cmd = [sys.executable, "-m", "kubeedge.cli.cloudcore", "--config",
                   str(self.config_path)]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-binder",
                   str(self.config_path)]
        logfile = open(self.tmp / f"{binder}.log", "a")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, text=True,
                                cwd=str(REPO))
        logfile.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def _end(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def _warm_up(self, proc: subprocess.Popen[str], volcano: bool) -> None:
        """Wait until the binder under test binds a burst of probe pods: its informers
        are synced, it is deciding, and its connection pool is open (start-up and TLS
        handshakes are not measured)."""
        from kubeedge.client.resources import ResourceRef
        from kubeedge.controllers.volcano_crds import PODGROUPS

        pods = ResourceRef("", "v1", "pods", True, "Pod")
        ns = "bench-warm"
        group = f"probe-{time.monotonic_ns()}"
        names = [f"{group}-{i}" for i in range(PROBES)]
        if volcano:
            await self.api.create(PODGROUPS, podgroup_body(group, PROBES, "default"), ns)
        await asyncio.gather(*(self.api.create(pods, pod_body(
            name, "volcano" if volcano else "default-scheduler", POD_REQUESTS,
            group if volcano else ""), ns) for name in names))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"the binder under test exited ({proc.returncode}); see "
                                 f"{self.tmp}")
            listed = await self.api.list(pods, ns)
            if sum(1 for p in listed["items"] if (p.get("spec") or {}).get("nodeName")
                   and p["metadata"]["name"].startswith(group)) >= PROBES:
                await self.api.delete_collection(pods, ns, grace_period_seconds=0)
                if volcano:
                    await self.api.delete(PODGROUPS, group, ns)
                return
            await asyncio.sleep(0.2)
        raise BenchError("the binder under test did not bind its probe pods in 300 s")

    # -- helpers -----------------------------------------------------------------------

    async def namespace(self, name: str) -> None:
        from kubeedge.client.errors import APIError
        from kubeedge.client.resources import ResourceRef

        try:
            await self.api.create(ResourceRef("", "v1", "namespaces", False, "Namespace"),
                                  {"metadata": {"name": name}})
        except APIError as exc:
            if not exc.is_already_exists:
                raise

    async def clear(self, ns: str) -> None:
        """Delete the namespace's pods (at once: no kubelet confirms), PodGroups and
        Events, and wait until no pod is left."""
        from kubeedge.client.resources import ResourceRef
        from kubeedge.controllers.volcano_crds import PODGROUPS

        pods = ResourceRef("", "v1", "pods", True, "Pod")
        await self.api.delete_collection(pods, ns, grace_period_seconds=0)
        with contextlib.suppress(Exception):
            await self.api.delete_collection(PODGROUPS, ns)
        await self.api.delete_collection(ResourceRef("", "v1", "events", True, "Event"), ns)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if not (await self.api.list(pods, ns, limit=1))["items"]:
                return
            await asyncio.sleep(0.5)
        raise BenchError(f"pods of {ns} still there after 600 s")

    async def gather_writers(self, cmd: str, total: int,
                             **args: Any) -> list[dict[str, Any]]:
        base, extra = divmod(total, WRITERS)
        first = 0
        for i, w in enumerate(self.writers):
            count = base + (1 if i < extra else 0)
            w.send(cmd, first=first, count=count, concurrency=WRITER_CONNECTIONS, **args)
            first += count
        loop = asyncio.get_running_loop()
        answers = [await loop.run_in_executor(None, w.recv, 900) for w in self.writers]
        failed = sum(a["failed"] for a in answers)
        if failed:
            raise BenchError(f"{cmd}: {failed} creates failed: "
                             f"{[a.get('errors') for a in answers]}")
        return answers

    async def measure(self, ns: str, cmd: str, total: int, done_when: Callable[[Any], bool],
                      **args: Any) -> tuple[float, float, float, float]:
        """Writers create; a watch on the namespace counts binds. Returns (seconds from
        first create to done, seconds of the creates, lag after the last create, writer
        CPU)."""
        from kubeedge.client.informer import Informer
        from kubeedge.client.resources import ResourceRef

        bound: set[str] = set()
        per_group: Counter[str] = Counter()
        done = asyncio.Event()
        finished = [0.0]

        def seen(pod: dict[str, Any]) -> None:
            if not (pod.get("spec") or {}).get("nodeName"):
                return
            md = pod["metadata"]
            if md["name"] in bound:
                return
            bound.add(md["name"])
            group = (md.get("annotations") or {}).get(GROUP_ANNOTATION)
            if group:
                per_group[group] += 1
            if done_when((bound, per_group)):
                finished[0] = time.monotonic()
                done.set()

        informer = Informer(self.api, ResourceRef("", "v1", "pods", True, "Pod"), ns)
        informer.add_event_handler(seen, lambda _old, new: seen(new))
        async with informer:
            await informer.wait_synced()
            answers = await self.gather_writers(cmd, total, namespace=ns, **args)
            try:
                await asyncio.wait_for(done.wait(), 900)
            except TimeoutError:
                raise BenchError(f"{ns}: {len(bound)} pods bound after 900 s") from None
        start = min(a["start"] for a in answers)
        creates_end = max(a["end"] for a in answers)
        return (finished[0] - start, creates_end - start, finished[0] - creates_end,
                sum(a["cpu"] for a in answers))

    # -- (a) ---------------------------------------------------------------------------

    async def create_nodes(self) -> None:
        from kubeedge.client.resources import ResourceRef

        nodes = ResourceRef("", "v1", "nodes", False, "Node")
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                body = node_body(i, i < self.mode.gang_nodes)
                created = await self.api.create(nodes, body)
                if not (created.get("status") or {}).get("conditions"):
                    created["status"] = body["status"]
                    await self.api.update_status(nodes, created)

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(self.mode.nodes)))
        log(f"{self.mode.nodes:,} nodes created in {time.monotonic() - started:.1f} s")

    async def pods_run(self, binder: str, run: int, profile: bool) -> PodRun:
        ns = f"a-{binder}-{run}"
        await self.namespace(ns)
        proc = self._spawn(binder)
        try:
            await self._warm_up(proc, volcano=False)
            pids = {"apiserver": self.apiserver_pid, binder: proc.pid}
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            with profiled(pids, self.profile_dir / f"a-{binder}" if profile
                          and self.profile_dir else None) as outs:
                total = self.mode.pods
                seconds, creates, lag, writers_cpu = await self.measure(
                    ns, "pods", total, lambda s: len(s[0]) >= total,
                    scheduler="default-scheduler")
            used = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
            self.report.rss_mb[binder] = rss_mb(proc.pid)
        finally:
            self._end(proc)
        self.keep_profiles(f"a-{binder}", outs, seconds)
        await self.clear(ns)
        return PodRun(binder, seconds, total / seconds, total / creates, lag, used[binder],
                      used["apiserver"], writers_cpu)

    # -- (b) ---------------------------------------------------------------------------

    async def gangs_run(self, run: int, profile: bool) -> GangRun:
        ns = f"b-{run}"
        await self.namespace(ns)
        proc = self._spawn("ours")
        try:
            await self._warm_up(proc, volcano=True)
            pids = {"apiserver": self.apiserver_pid, "ours": proc.pid}
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            size, jobs = self.mode.gang_size, self.mode.jobs
            with profiled(pids, self.profile_dir / "b" if profile and self.profile_dir
                          else None) as outs:
                seconds, creates, lag, writers_cpu = await self.measure(
                    ns, "gangs", jobs,
                    lambda s: len(s[0]) >= jobs * size
                    and sum(1 for n in s[1].values() if n >= size) >= jobs,
                    size=size, queue="default", unfit=False)
            used = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
        finally:
            self._end(proc)
        self.keep_profiles("b", outs, seconds)
        await self.clear(ns)
        return GangRun(seconds, jobs / seconds, jobs / creates, lag, used["ours"],
                       used["apiserver"], writers_cpu)

    # -- (c) ---------------------------------------------------------------------------

    async def sessions(self) -> None:
        from kubeedge.client.events import EventRecorder
        from kubeedge.client.informer import SharedInformerFactory
        from kubeedge.client.rest import APIClient
        from kubeedge.config.scheduler import SchedulerConfig
        from kubeedge.controllers.volcano_crds import QUEUES
        from kubeedge.scheduler.scheduler import Scheduler

        ns, queue = "c-pending", "bench-pending"
        await self.namespace(ns)
        await self.api.create(QUEUES, {"metadata": {"name": queue},
                                       "spec": {"weight": 1, "reclaimable": True}})
        jobs, size = self.mode.pending_jobs, self.mode.gang_size
        started = time.monotonic()
        await self.gather_writers("gangs", jobs, namespace=ns, size=size, queue=queue,
                                  unfit=True)
        # Closed after the PodGroups are in (admission takes them only into an Open
        # queue); the scheduler starts after, so it never sees the queue Open.
        await self.api.patch(QUEUES, queue, {"status": {"state": "Closed"}},
                             subresource="status")
        log(f"  {jobs * size:,} pending pods in {jobs:,} PodGroups created in "
            f"{time.monotonic() - started:.1f} s")
        # As cloudcore builds it (same client settings); a period no run reaches, so
        # only the timed calls run sessions.
        client = APIClient(self.cloud.kubeconfig, qps=2500, burst=5000, connection_limit=64)
        factory = SharedInformerFactory(client)
        recorder = EventRecorder(client, "default-scheduler")
        sched = Scheduler(client, factory, recorder,
                          SchedulerConfig(schedule_period_seconds=86_400.0))
        changes = [0]
        try:
            await sched.start()
            assert sched.volcano is not None and sched.pods is not None
            volcano = sched.volcano
            deadline = time.monotonic() + 300
            prefix = ns + "/"

            def seen(store: Any) -> int:
                return sum(1 for key, _ in store.items() if key.startswith(prefix))

            while not (volcano.synced() and volcano.podgroups is not None
                       and seen(sched.pods.store) >= jobs * size
                       and seen(volcano.podgroups.store) >= jobs):
                if time.monotonic() > deadline:
                    raise BenchError("the in-process scheduler did not see the pending pods")
                await asyncio.sleep(0.2)
            for informer in (sched.pods, volcano.podgroups, volcano.queues):
                informer.add_event_handler(
                    lambda _o: changes.__setitem__(0, changes[0] + 1),
                    lambda _o, _n: changes.__setitem__(0, changes[0] + 1),
                    lambda _o: changes.__setitem__(0, changes[0] + 1))

            async def settle() -> float:
                """Let the session's writes land and the informers go quiet."""
                began = time.monotonic()
                last, quiet_since = -1, time.monotonic()
                while time.monotonic() - began < 300:
                    if sched._writes or changes[0] != last:
                        last, quiet_since = changes[0], time.monotonic()
                    elif time.monotonic() - quiet_since >= 1.0:
                        break
                    await asyncio.sleep(0.1)
                return time.monotonic() - began

            async def state(name: str) -> None:
                first_started = time.perf_counter()
                ssn = volcano.run_once()
                first = time.perf_counter() - first_started
                committed = len(ssn.committed)
                settle_s = await settle()
                times = []
                for _ in range(self.mode.sessions):
                    began = time.perf_counter()
                    ssn = volcano.run_once()
                    times.append(time.perf_counter() - began)
                    await settle()
                phases = Counter(j.phase.value for j in ssn.jobs.values()
                                 if j.namespace == ns)
                entry = {"first_s": first, "first_settle_s": settle_s, "sessions_s": times,
                         "median_s": median(times), "committed": committed,
                         "pending_pods": jobs * size, "nodes": len(sched.cache.nodes),
                         "phases": dict(phases)}
                if self.profile_dir is not None:
                    prof = cProfile.Profile()
                    prof.enable()
                    volcano.run_once()
                    prof.disable()
                    path = self.profile_dir / f"c-{name}.pstats"
                    prof.dump_stats(str(path))
                    entry["profile"] = top_pstats(prof)
                    await settle()
                self.report.sessions[name] = entry
                log(f"  session, queue {name}: first {first * 1000:,.0f} ms (writes then "
                    f"took {settle_s:.1f} s to land), then median "
                    f"{median(times) * 1000:,.0f} ms over {len(times)}; phases {dict(phases)}")

            await state("closed")
            await self.api.patch(QUEUES, queue, {"status": {"state": "Open"}},
                                 subresource="status")
            deadline = time.monotonic() + 60
            while (volcano.queues is not None and ((volcano.queues.store.get(None, queue)
                                                    or {}).get("status") or {}).get("state")
                   != "Open"):
                if time.monotonic() > deadline:
                    raise BenchError("the queue did not open")
                await asyncio.sleep(0.1)
            await state("open")
        finally:
            await sched.stop()
            await recorder.stop()
            await factory.stop()
            await client.close()

    # -- profiles ----------------------------------------------------------------------

    def keep_profiles(self, phase: str, outs: dict[str, Path], seconds: float) -> None:
        for name, path in outs.items():
            if path.exists():
                summary = summarize_profile(path, seconds)
                summary["inclusive"] = [(f, s) for f, s in summary["inclusive"]
                                        if not any(m in f for m in _ENTRY)]
                self.report.profiles[f"{phase}/{name}"] = summary

    # -- the whole run -----------------------------------------------------------------

    async def run(self) -> None:
        from kubeedge.client.resources import ResourceRef
        from kubeedge.client.rest import APIClient
        from kubeedge.controllers import volcano_crds

        async with APIClient(self.cloud.kubeconfig, qps=0, connection_limit=64) as api:
            self.api = api
            await volcano_crds.install(api)
            await api.create(volcano_crds.QUEUES, {"metadata": {"name": "default"},
                                                   "spec": {"weight": 1,
                                                            "reclaimable": True}})
            await self.namespace("bench-warm")
            await self.create_nodes()
            log(f"(a) {self.mode.pods:,} pods on {self.mode.nodes:,} nodes, {self.runs} runs")
            for r in range(self.runs):
                order = ("ours", "bare") if r % 2 == 0 else ("bare", "ours")
                for binder in order:
                    sample = await self.pods_run(binder, r, profile=r == 0)
                    self.report.pods.append(sample)
                    log(f"  run {r + 1} {binder}: {sample.pods_per_s:,.0f} pods/s "
                        f"({sample.seconds:.1f} s; creates alone {sample.creates_per_s:,.0f}/s,"
                        f" last bind {sample.lag_after_last_create:.1f} s after the last "
                        f"create; CPU {binder} {sample.scheduler_cpu_s:.1f} s, API server "
                        f"{sample.apiserver_cpu_s:.1f} s)")
            await api.delete_collection(ResourceRef("", "v1", "nodes", False, "Node"),
                                        label_selector="bench-set=extra")
            log(f"(b) {self.mode.jobs:,} gangs of {self.mode.gang_size} on "
                f"{self.mode.gang_nodes:,} nodes, {self.runs} runs")
            for r in range(self.runs):
                gang = await self.gangs_run(r, profile=r == 0)
                self.report.gangs.append(gang)
                log(f"  run {r + 1}: {gang.jobs_per_s:,.1f} jobs/s ({gang.seconds:.1f} s; "
                    f"creates alone {gang.creates_jobs_per_s:,.1f} jobs/s, last job bound "
                    f"{gang.lag_after_last_create:.1f} s after the last create; CPU cloudcore "
                    f"{gang.scheduler_cpu_s:.1f} s, API server {gang.apiserver_cpu_s:.1f} s)")
            log(f"(c) session time at {self.mode.pending_jobs * self.mode.gang_size:,} "
                f"pending pods on {self.mode.gang_nodes:,} nodes")
            await self.sessions()


def top_pstats(prof: cProfile.Profile, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The top functions of one cProfile run, by own time and by cumulative time."""
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = file
        for marker in ("/src/", "site-packages/", "python3.11/"):
            if marker in where:
                where = where.split(marker, 1)[1]
                break
        rows.append((f"{func} ({where}:{line})", tt, ct))
    total = max(sum(r[1] for r in rows), 1e-9)
    return {"total_s": total,
            "self": [(n, tt / total) for n, tt, _ in sorted(rows, key=lambda r: -r[1])[:top]],
            "cumulative": [(n, ct / total) for n, _, ct in
                           sorted(rows, key=lambda r: -r[2])[:top + 5]
                           if "benchmarks/scheduler.py" not in n][:top]}


# ---- report ----------------------------------------------------------------------------


def report(rep: Report) -> str:
    m = rep.settings
    ours = [r for r in rep.pods if r.binder == "ours"]
    bare = [r for r in rep.pods if r.binder == "bare"]
    ours_rate = median([r.pods_per_s for r in ours])
    bare_rate = median([r.pods_per_s for r in bare])
    ratios = [b.pods_per_s / o.pods_per_s for o, b in zip(ours, bare, strict=False)]
    lines = [f"scheduler benchmark ({rep.mode}): {rep.machine}; source {rep.source}; "
             f"medians of {len(ours)} run(s)", "",
             f"(a) {m['pods']:,} pods on {m['nodes']:,} nodes, first create -> all bound"]
    for name, runs in (("ours (cloudcore scheduler)", ours), ("bare first-fit binder", bare)):
        lines.append(
            f"  {name:<28} {median([r.pods_per_s for r in runs]):>7,.0f} pods/s  "
            f"({median([r.seconds for r in runs]):.1f} s; creates alone "
            f"{median([r.creates_per_s for r in runs]):,.0f}/s; last bind "
            f"{median([r.lag_after_last_create for r in runs]):.1f} s after last create; "
            f"CPU binder {median([r.scheduler_cpu_s for r in runs]):.1f} s, API server "
            f"{median([r.apiserver_cpu_s for r in runs]):.1f} s)")
    lines.append(f"  framework cost: bare / ours = {median(ratios):.2f}x (median of per-run "
                 f"ratios: {', '.join(f'{x:.2f}' for x in ratios)}; ratio of medians "
                 f"{bare_rate / ours_rate:.2f}x)")
    lines.append(f"  aim >= {AIM_PODS_PER_S:.0f} pods/s at 5,000 nodes: "
                 + ("met" if ours_rate >= AIM_PODS_PER_S else "SHORT")
                 + f" ({ours_rate:,.0f})"
                 + ("" if m["nodes"] >= 5000 else " [the aim is for 5,000 nodes: full mode]"))
    if rep.gangs:
        g = rep.gangs
        lines += ["", f"(b) {m['jobs']:,} gangs of {m['gang_size']} on {m['gang_nodes']:,} "
                  "nodes, first create -> every job's pods bound",
                  f"  {median([r.jobs_per_s for r in g]):,.1f} jobs/s "
                  f"({median([r.jobs_per_s for r in g]) * m['gang_size']:,.0f} pods/s; "
                  f"{median([r.seconds for r in g]):.1f} s; creates alone "
                  f"{median([r.creates_jobs_per_s for r in g]):,.1f} jobs/s; last job "
                  f"{median([r.lag_after_last_create for r in g]):.1f} s after last create; "
                  f"CPU cloudcore {median([r.scheduler_cpu_s for r in g]):.1f} s, API server "
                  f"{median([r.apiserver_cpu_s for r in g]):.1f} s); runs: "
                  + ", ".join(f"{r.jobs_per_s:.1f}" for r in g)]
    if rep.sessions:
        lines += ["", f"(c) VolcanoPath.run_once at {m['pending_jobs'] * m['gang_size']:,} "
                  f"pending pods ({m['pending_jobs']:,} gangs) on {m['gang_nodes']:,} nodes"]
        for name, s in rep.sessions.items():
            lines.append(f"  queue {name:<6}: median {s['median_s'] * 1000:,.0f} ms over "
                         f"{len(s['sessions_s'])} (first {s['first_s'] * 1000:,.0f} ms); "
                         f"phases {s['phases']}")
        worst = max(s["median_s"] for s in rep.sessions.values())
        lines.append(f"  aim <= {AIM_SESSION_S:.0f} s at 10,000 pending pods: "
                     + ("met" if worst <= AIM_SESSION_S else "OVER")
                     + f" (worst state {worst * 1000:,.0f} ms)"
                     + ("" if m["pending_jobs"] * m["gang_size"] >= 10_000
                        else " [the aim is for 10,000 pods: full mode]"))
    for phase, prof in rep.profiles.items():
        if "self" not in prof:
            continue
        if "busy" in prof:
            busy = ", ".join(f"{k} {v:.0%}" for k, v in prof["busy"].items())
            lines += ["", f"profile {phase} (py-spy, {prof['seconds']:.1f} s; busy: {busy}); "
                      "event loop, self and inclusive:"]
            pairs = zip(prof["self"][:15], prof["inclusive"][:15], strict=False)
        else:
            continue
        for (name, own), (iname, incl) in pairs:
            lines.append(f"  self {own:6.1%}  {name:<60.60} incl {incl:6.1%}  {iname}")
    for name, s in rep.sessions.items():
        prof = s.get("profile")
        if not prof:
            continue
        lines += ["", f"profile of one session, queue {name} (cProfile, "
                  f"{prof['total_s'] * 1000:,.0f} ms under the profiler), own and cumulative:"]
        for (n, own), (cn, cum) in zip(prof["self"], prof["cumulative"], strict=False):
            lines.append(f"  own {own:6.1%}  {n:<60.60} cum {cum:6.1%}  {cn}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="500 nodes / 1,000 pods, 100 jobs, 1,000 pending pods")
    parser.add_argument("--runs", type=int, default=3, help="runs of (a) and (b) (3)")
    parser.add_argument("--json", type=Path, default=None,
                        help="default benchmarks/results/scheduler-<mode>.json")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy the binders and the API server through the first run "
                             "of (a) and (b), cProfile one session of (c); top entries "
                             "printed, raw data in DIR")
    parser.add_argument("--serve-binder", default=None, metavar="CONFIG",
                        help=argparse.SUPPRESS)  # the bare binder process
    args = parser.parse_args(argv)
    if args.serve_binder:
        asyncio.run(bare_binder(args.serve_binder))
        return 0
    mode = MODES["quick" if args.quick else "full"]
    out = args.json or REPO / f"benchmarks/results/scheduler-{mode.name}.json"
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    arm_deadline(mode.deadline_seconds)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kubeedge-bench-sched-"))
    bench = Bench(mode, args.runs, args.profile, tmp)
    try:
        bench.start()
        asyncio.run(bench.run())
    finally:
        signal.alarm(0)
        log("cleaning up (keadm reset) ...")
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rep = bench.report
    rep.settings["runs"] = args.runs
    rep.settings["total_seconds"] = time.monotonic() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(rep), indent=1, default=str) + "\n")
    print(report(rep))
    print(f"\nall samples: {out}  ({rep.settings['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
