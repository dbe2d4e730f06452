"""API server throughput, latency and memory, beside the bare store in the same run.

    .venv/bin/python benchmarks/apiserver.py --quick      # small N, under a minute
    .venv/bin/python benchmarks/apiserver.py              # full: 10,000 pods, a few minutes
    .venv/bin/python benchmarks/apiserver.py --profile DIR   # also py-spy the server per phase

The API server is the real one: `keadm init` in a temporary root on a free loopback port,
SQLite storage, reached over HTTPS with the admin client certificate from separate client
processes (aiohttp, keep-alive connection pools). The baseline is the same operations on
a bare `SqliteStore` in a process of its own (no HTTP, no JSON, no Kubernetes logic), so
"API cost" is what the API layer adds. API and store runs alternate, run by run, so both
see the same machine; figures are medians over the runs.

Figures: pod and ConfigMap creates/s, pod gets/s, the latency of listing 10,000 pods (one
full list, and limit=500 pages followed to the end), watch fan-out (100 watchers, M
creates, events/s delivered in total), and the server's resident memory holding the pods.
Server and client CPU are reported beside each figure, to show which side was the limit.

Prints a table and writes every sample to a JSON file (`--json`), which
`benchmarks/plot_apiserver.py` turns into docs/img/apiserver.png. Bounded in time (a hard
deadline, then clean-up), and always ends with `keadm reset` and the temp root removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the test fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

MB = 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
POD_NS = "bench"
# Aims for this 2-core machine (the numbers).
AIM_CREATES = 1000.0
AIM_WATCH_EVENTS = 50_000.0
AIM_RSS_MB = 300.0


@dataclass(frozen=True)
class Mode:
    name: str
    pod_runs: int  # pods are created in this many timed batches ...
    pods_per_run: int  # ... of this size; together they are the pods listed and held
    cm_runs: int
    cms_per_run: int
    get_runs: int
    gets_per_run: int
    list_runs: int
    watch_runs: int
    watchers: int
    watch_creates: int
    deadline_seconds: int

    @property
    def pods(self) -> int:
        return self.pod_runs * self.pods_per_run


MODES = {
    "quick": Mode("quick", pod_runs=3, pods_per_run=400, cm_runs=3, cms_per_run=300,
                  get_runs=3, gets_per_run=1000, list_runs=3, watch_runs=3, watchers=100,
                  watch_creates=150, deadline_seconds=120),
    "full": Mode("full", pod_runs=5, pods_per_run=2000, cm_runs=5, cms_per_run=2000,
                 get_runs=5, gets_per_run=5000, list_runs=7, watch_runs=5, watchers=100,
                 watch_creates=1000, deadline_seconds=600),
}


def pod_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench", "tier": "load"}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}}


def configmap_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"setting": "value", "payload": "x" * 64}}


BODIES = {"pods": pod_body, "configmaps": configmap_body}


def object_name(kind: str, index: int) -> str:
    return f"{'pod' if kind == 'pods' else 'cm'}-{index:05d}"


class BenchError(RuntimeError):
    pass


class Deadline(BaseException):
    """The hard time bound passed (a BaseException so no handler swallows it)."""


def log(message: str) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def arm_deadline(seconds: int) -> None:
    """Every benchmark's hard bound: `Deadline` raised in the main thread after
    `seconds`, and SIGTERM turned into KeyboardInterrupt so the cleanup runs."""
    def expire(_signum: int, _frame: Any) -> None:
        raise Deadline(f"the benchmark passed its {seconds}s bound")

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, expire)
    signal.signal(signal.SIGTERM, terminate)
    signal.alarm(seconds)


# ---- helpers shared by the worker processes ------------------------------------------


async def drive(count: int, concurrency: int,
                op: Callable[[int], Awaitable[bool]]) -> dict[str, Any]:
    """Run op(0..count-1) with `concurrency` loops pulling from one shared iterator."""
    indexes = iter(range(count))
    failed = 0

    async def loop() -> None:
        nonlocal failed
        for i in indexes:
            if not await op(i):
                failed += 1

    start = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(max(1, min(concurrency, count)))))
    return {"start": start, "end": time.monotonic(), "ok": count - failed, "failed": failed}


def peak_rss(pid: int) -> int:
    """VmHWM: the highest resident set size the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def serve_commands(conn: multiprocessing.connection.Connection,
                   setup: Callable[[], Awaitable[Any]],
                   commands: Callable[[Any], dict[str, Callable[..., Awaitable[dict[str, Any]]]]],
                   teardown: Callable[[Any], Awaitable[None]]) -> None:
    """A worker's main: one event loop, commands from the parent over a pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; Ctrl-C is its

    async def main() -> None:
        loop = asyncio.get_running_loop()
        state = await setup()
        table = commands(state)
        try:
            while True:
                try:
                    cmd, args = await loop.run_in_executor(None, conn.recv)
                except EOFError:  # the parent is gone
                    return
                if cmd == "stop":
                    return
                cpu = time.process_time()
                try:
                    result = await table[cmd](**args)
                except Exception as exc:  # reported to the parent, which stops
                    result = {"error": f"{cmd}: {exc!r}"}
                result["cpu"] = time.process_time() - cpu
                conn.send(result)
        finally:
            await teardown(state)

    asyncio.run(main())


# ---- client worker: HTTPS to the API server ----------------------------------------


class ClientState:
    def __init__(self) -> None:
        self.session: Any = None
        self.watches: list[asyncio.Task[dict[str, Any]]] = []
        self.watch_cpu = 0.0


def client_main(conn: multiprocessing.connection.Connection) -> None:
    state = ClientState()

    async def setup() -> ClientState:
        return state

    async def teardown(st: ClientState) -> None:
        for task in st.watches:
            task.cancel()
        if st.session is not None:
            await st.session.close()

    serve_commands(conn, setup, lambda st: client_commands(st), teardown)


async def open_session(server: str, kubeconfig: str, warm: int) -> tuple[Any, dict[str, Any]]:
    """A keep-alive aiohttp session to the API server as the kubeconfig's user, with
    `warm` connections opened (TLS handshakes done) before any timing; returns the
    session and `drive`'s figures for the warm-up."""
    import aiohttp

    from kubeedge.client import kubeconfig as kc

    access = kc.load(kubeconfig)
    # limit=0: the callers' concurrency bounds the pool; connections are kept alive.
    session = aiohttp.ClientSession(
        base_url=server,
        connector=aiohttp.TCPConnector(ssl=access.ssl_context(), limit=0,
                                       keepalive_timeout=120),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    )

    async def hello(_: int) -> bool:
        async with session.get("/api/v1/namespaces/default") as resp:
            await resp.read()
            return resp.status == 200

    return session, await drive(warm, warm, hello)


def client_commands(st: ClientState) -> dict[str, Callable[..., Awaitable[dict[str, Any]]]]:
    import orjson

    async def connect(server: str, kubeconfig: str, warm: int) -> dict[str, Any]:
        st.session, warmed = await open_session(server, kubeconfig, warm)
        return warmed

    async def request(method: str, path: str, body: Any = None,
                      params: dict[str, str] | None = None) -> dict[str, Any]:
        data = orjson.dumps(body) if body is not None else None
        async with st.session.request(method, path, data=data, params=params,
                                      headers=JSON_HEADERS) as resp:
            raw = await resp.read()
            return {"status": resp.status, "body": orjson.loads(raw) if raw else None}

    async def create(kind: str, namespace: str, first: int, count: int,
                     concurrency: int) -> dict[str, Any]:
        path = f"/api/v1/namespaces/{namespace}/{kind}"
        make = BODIES[kind]
        bodies = [orjson.dumps(make(object_name(kind, first + i))) for i in range(count)]
        errors: Counter[int] = Counter()

        async def op(i: int) -> bool:
            async with st.session.post(path, data=bodies[i], headers=JSON_HEADERS) as resp:
                await resp.read()
                if resp.status != 201:
                    errors[resp.status] += 1
                return resp.status == 201

        result = await drive(count, concurrency, op)
        result["errors"] = dict(errors)
        return result

    async def get(kind: str, namespace: str, population: int, count: int,
                  concurrency: int, seed: int) -> dict[str, Any]:
        rng = random.Random(seed)
        base = f"/api/v1/namespaces/{namespace}/{kind}/"
        paths = [base + object_name(kind, rng.randrange(population)) for _ in range(count)]

        async def op(i: int) -> bool:
            async with st.session.get(paths[i], headers=JSON_HEADERS) as resp:
                await resp.read()
                return resp.status == 200

        return await drive(count, concurrency, op)

    async def list_all(kind: str, namespace: str, limit: int) -> dict[str, Any]:
        """One full list (limit 0) or every page of `limit`; the time until the last
        byte arrived. Bodies are decoded afterwards, only to count the items."""
        path = f"/api/v1/namespaces/{namespace}/{kind}"
        bodies: list[bytes] = []
        token = ""
        start = time.monotonic()
        first_page = 0.0
        while True:
            params = {"limit": str(limit)} if limit else {}
            if token:
                params["continue"] = token
            async with st.session.get(path, params=params, headers=JSON_HEADERS) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise BenchError(f"list {path}: {resp.status} {raw[:200]!r}")
            bodies.append(raw)
            first_page = first_page or time.monotonic() - start
            if not limit:
                break
            # Only the continue token is needed to go on; it sits in the list metadata.
            token = orjson.loads(raw)["metadata"].get("continue", "")
            if not token:
                break
        seconds = time.monotonic() - start
        items = sum(len(orjson.loads(b)["items"]) for b in bodies)
        return {"seconds": seconds, "first_page": first_page, "pages": len(bodies),
                "items": items, "bytes": sum(len(b) for b in bodies)}

    async def watch_open(namespace: str, count: int, resource_version: str, expected: int,
                         marker: str, timeout: float) -> dict[str, Any]:
        """Open `count` watches from `resource_version`; return once all answered 200.

        Each counts the events whose object carries `marker` (a name prefix), so objects
        the server's own controllers add to the namespace are not counted; counting is a
        bytes search on the stream, to keep the client cheap.
        """
        st.watch_cpu = time.process_time()
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        params = {"watch": "1", "resourceVersion": resource_version,
                  "timeoutSeconds": str(int(timeout) + 5)}
        needle = f'"name":"{marker}'.encode()
        loop = asyncio.get_running_loop()
        ready: list[asyncio.Future[int]] = [loop.create_future() for _ in range(count)]

        async def one(opened: asyncio.Future[int]) -> dict[str, Any]:
            seen, first_at, done_at, tail = 0, 0.0, 0.0, b""
            last = b""
            try:
                async with st.session.get(path, params=params, headers=JSON_HEADERS) as resp:
                    opened.set_result(resp.status)
                    if resp.status != 200:
                        return {"seen": 0, "first": 0.0, "done": 0.0, "status": resp.status}
                    async for chunk in resp.content.iter_any():
                        data = tail + chunk
                        found = data.count(needle)
                        if found:
                            seen += found
                            first_at = first_at or time.monotonic()
                        tail = data[-(len(needle) - 1):]
                        last = data[-4096:]
                        if seen >= expected:
                            done_at = time.monotonic()
                            break
            except Exception as exc:
                if not opened.done():
                    opened.set_exception(exc)
                return {"seen": seen, "first": first_at, "done": 0.0, "error": repr(exc)}
            kind = ""
            lines = [ln for ln in last.split(b"\n") if ln.strip()]
            if lines:  # the last complete line is a whole event: check its shape
                with contextlib.suppress(ValueError):
                    event = orjson.loads(lines[-1])
                    kind = f"{event['type']} {event['object']['kind']}"
            return {"seen": seen, "first": first_at, "done": done_at, "last_event": kind}

        st.watches = [asyncio.create_task(one(f)) for f in ready]
        statuses = await asyncio.wait_for(asyncio.gather(*ready), timeout)
        bad = [s for s in statuses if s != 200]
        if bad:
            raise BenchError(f"watch answered {bad[:3]}")
        return {"opened": len(statuses)}

    async def watch_collect(timeout: float) -> dict[str, Any]:
        done, pending = await asyncio.wait(st.watches, timeout=timeout)
        for task in pending:
            task.cancel()
        results = [t.result() for t in done if not t.cancelled() and t.exception() is None]
        results += [{"seen": 0, "first": 0.0, "done": 0.0, "error": "timed out"}
                    for _ in pending]
        st.watches = []
        cpu = time.process_time() - st.watch_cpu
        return {"watchers": results, "watch_cpu": cpu}

    return {"connect": connect, "request": request, "create": create, "get": get,
            "list": list_all, "watch_open": watch_open, "watch_collect": watch_collect}


# ---- store worker: the bare SqliteStore in-process -----------------------------------


def store_main(conn: multiprocessing.connection.Connection, path: str) -> None:
    from kubeedge.store.factory import open_store

    async def setup() -> Any:
        store = open_store("sqlite", path=path)
        await store.start()
        return store

    async def teardown(store: Any) -> None:
        await store.close()

    serve_commands(conn, setup, store_commands, teardown)


def store_commands(store: Any) -> dict[str, Callable[..., Awaitable[dict[str, Any]]]]:
    async def create(prefix: str, kind: str, first: int, count: int, concurrency: int,
                     value: bytes) -> dict[str, Any]:
        keys = [prefix + object_name(kind, first + i) for i in range(count)]

        async def op(i: int) -> bool:
            await store.create(keys[i], value)
            return True

        return await drive(count, concurrency, op)

    async def get(prefix: str, kind: str, population: int, count: int, concurrency: int,
                  seed: int) -> dict[str, Any]:
        rng = random.Random(seed)
        keys = [prefix + object_name(kind, rng.randrange(population)) for _ in range(count)]

        async def op(i: int) -> bool:
            return await store.get(keys[i]) is not None

        return await drive(count, concurrency, op)

    async def range_all(prefix: str, limit: int) -> dict[str, Any]:
        start = time.monotonic()
        first_page, pages, items, after = 0.0, 0, 0, ""
        revision = 0
        while True:
            result = await store.range(prefix, start_after=after, limit=limit, revision=revision)
            revision = result.revision  # later pages read the first page's snapshot
            pages += 1
            items += len(result.kvs)
            first_page = first_page or time.monotonic() - start
            if not result.more:
                break
            after = result.kvs[-1].key
        return {"seconds": time.monotonic() - start, "first_page": first_page,
                "pages": pages, "items": items}

    async def watch(prefix: str, watchers: int, count: int, concurrency: int,
                    value: bytes) -> dict[str, Any]:
        streams = [store.watch(prefix) for _ in range(watchers)]  # registered now

        async def follow(stream: Any) -> dict[str, Any]:
            seen, first_at = 0, 0.0
            async for _event in stream:
                seen += 1
                first_at = first_at or time.monotonic()
                if seen >= count:
                    break
            await stream.aclose()
            return {"seen": seen, "first": first_at, "done": time.monotonic()}

        followers = [asyncio.create_task(follow(s)) for s in streams]
        keys = [f"{prefix}{object_name('configmaps', i)}" for i in range(count)]

        async def op(i: int) -> bool:
            await store.create(keys[i], value)
            return True

        created = await drive(count, concurrency, op)
        results = await asyncio.wait_for(asyncio.gather(*followers), 120)
        return {**created, "watchers": results}

    async def memory() -> dict[str, Any]:
        return {"rss": _rss(os.getpid()), "peak": peak_rss(os.getpid())}

    return {"create": create, "get": get, "range": range_all, "watch": watch,
            "memory": memory}


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


# ---- the parent: orchestration ---------------------------------------------------------


class Worker:
    """A spawned worker process driven over a pipe."""

    def __init__(self, ctx: Any, target: Callable[..., None], *args: Any, name: str) -> None:
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.proc.start()
        child.close()

    def send(self, cmd: str, **args: Any) -> None:
        self.conn.send((cmd, args))

    def recv(self, timeout: float) -> dict[str, Any]:
        if not self.conn.poll(timeout):
            raise BenchError(f"{self.name}: no answer within {timeout:.0f}s")
        result: dict[str, Any] = self.conn.recv()
        if "error" in result:
            raise BenchError(f"{self.name}: {result['error']}")
        return result

    def call(self, cmd: str, timeout: float = 120, **args: Any) -> dict[str, Any]:
        self.send(cmd, **args)
        return self.recv(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.conn.close()


@dataclass
class Sample:
    """One timed run of one operation."""

    value: float  # ops/s, events/s or seconds, as the figure says
    seconds: float  # wall time of the run
    server_cpu: float = 0.0  # CPU seconds of the measured server (or store process)
    client_cpu: float = 0.0  # CPU seconds of the client processes (0 in-process)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Figure:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    api: list[Sample] = field(default_factory=list)
    store: list[Sample] = field(default_factory=list)

    @staticmethod
    def median(samples: list[Sample]) -> float:
        return statistics.median(s.value for s in samples) if samples else float("nan")

    def cost(self) -> float:
        """How many times the store's figure the API's is worse (1.0: no cost)."""
        api, store = self.median(self.api), self.median(self.store)
        if not api or not store:
            return float("nan")
        return store / api if self.higher_is_better else api / store

    @staticmethod
    def cores(samples: list[Sample], attr: str) -> float:
        values = [getattr(s, attr) / s.seconds for s in samples if s.seconds > 0]
        return statistics.median(values) if values else 0.0


class Bench:
    def __init__(self, mode: Mode, clients: int, concurrency: int, profile: Path | None,
                 log: Callable[[str], None]) -> None:
        self.mode = mode
        self.clients_n = clients
        self.concurrency = concurrency
        self.profile_dir = profile
        self.log = log
        self.figures: dict[str, Figure] = {}
        self.memory: dict[str, Any] = {}
        self.profiles: dict[str, Any] = {}
        self.api_seconds: dict[str, float] = {}
        self.info: dict[str, Any] = {}
        self.clients: list[Worker] = []
        self.store: Worker | None = None
        self.cloud: Any = None
        self.server: Any = None  # psutil.Process of the API server
        self.values: dict[str, bytes] = {}

    # -- set-up and tear-down --

    def start(self, tmp: Path) -> None:
        import psutil
        from tests.fixtures.cluster import start_cloud

        ctx = multiprocessing.get_context("spawn")
        # Workers import while keadm init runs.
        self.clients = [Worker(ctx, client_main, name=f"client-{i}")
                        for i in range(self.clients_n)]
        (tmp / "store").mkdir()
        self.store = Worker(ctx, store_main, str(tmp / "store/state.db"), name="store")
        self.info["source"] = source_state()
        started = time.monotonic()
        self.cloud = start_cloud(tmp)
        self.info["keadm_init_seconds"] = time.monotonic() - started
        pid = int((self.cloud.root / "var/run/kubeedge/apiserver.pid").read_text())
        self.server = psutil.Process(pid)
        self.memory["server_fresh_rss"] = self.server.memory_info().rss  # no client yet
        per_client = self.per_client_concurrency()
        for c in self.clients:
            c.send("connect", server=self.cloud.server, kubeconfig=str(self.cloud.kubeconfig),
                   warm=per_client)
        for c in self.clients:
            c.recv(60)
        self.memory["server_idle_rss"] = self.server.memory_info().rss

    def stop(self) -> None:
        for w in [*self.clients, *([self.store] if self.store else [])]:
            with contextlib.suppress(Exception):
                w.close()
        if self.cloud is not None:
            self.cloud.stop()  # keadm reset --force

    def per_client_concurrency(self) -> int:
        return max(1, self.concurrency // self.clients_n)

    # -- measuring --

    def figure(self, key: str, title: str, unit: str, higher: bool) -> Figure:
        return self.figures.setdefault(key, Figure(key, title, unit, higher))

    def server_cpu(self) -> float:
        t = self.server.cpu_times()
        return float(t.user + t.system)

    def request(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        return self.clients[0].call("request", method=method, path=path, body=body,
                                    params=params or None)

    def namespace(self, name: str) -> None:
        answer = self.request("POST", "/api/v1/namespaces",
                              {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": name}})
        if answer["status"] not in (201, 409):
            raise BenchError(f"namespace {name}: {answer}")
        # When the server runs namespace defaults (the default service account),
        # wait for them briefly so pod admission never sees a namespace half set up.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default"
                            )["status"] == 200:
                return
            time.sleep(0.05)

    @contextlib.contextmanager
    def profiled(self, phase: str) -> Iterator[None]:
        """py-spy the server through all runs of a phase when --profile is on.

        Only the server's working samples are kept (py-spy leaves idle threads out), so
        the store runs in between add nothing; the API runs' wall time is summed in
        `self.api_seconds` to turn samples into busy shares.
        """
        self.api_seconds[phase] = 0.0
        if self.profile_dir is None:
            yield
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = self.profile_dir / f"{phase}.txt"
        proc = subprocess.Popen(
            [spy, "record", "--pid", str(self.server.pid), "--rate", str(PROFILE_RATE),
             "--format", "raw", "--nonblocking", "--threads", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 10)  # "Sampling process ..."
        if ready:
            proc.stderr.readline()
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if out.exists():
                self.profiles[phase] = summarize_profile(out, self.api_seconds[phase])

    def api_run(self, phase: str, send: Callable[[int], dict[str, Any]],
                timeout: float = 120) -> tuple[list[dict[str, Any]], float]:
        """Send one command to every client, wait for all; (answers, server CPU)."""
        cpu = self.server_cpu()
        started = time.monotonic()
        for i, c in enumerate(self.clients):
            args = send(i)
            c.send(args.pop("cmd"), **args)
        answers = [c.recv(timeout) for c in self.clients]
        self.api_seconds[phase] += time.monotonic() - started
        return answers, self.server_cpu() - cpu

    def split(self, total: int) -> list[tuple[int, int]]:
        """(first, count) of each client's share of `total`."""
        base, extra = divmod(total, self.clients_n)
        shares, first = [], 0
        for i in range(self.clients_n):
            n = base + (1 if i < extra else 0)
            shares.append((first, n))
            first += n
        return shares

    def throughput(self, answers: list[dict[str, Any]], cpu: float, what: str) -> Sample:
        start = min(a["start"] for a in answers)
        end = max(a["end"] for a in answers)
        ok = sum(a["ok"] for a in answers)
        failed = sum(a["failed"] for a in answers)
        if failed:
            errors: Counter[int] = Counter()
            for a in answers:
                errors.update({int(k): v for k, v in a.get("errors", {}).items()})
            raise BenchError(f"{what}: {failed} requests failed (statuses {dict(errors)})")
        seconds = end - start
        return Sample(ok / seconds, seconds, server_cpu=cpu,
                      client_cpu=sum(a["cpu"] for a in answers))

    def store_throughput(self, answer: dict[str, Any]) -> Sample:
        seconds = answer["end"] - answer["start"]
        return Sample(answer["ok"] / seconds, seconds, server_cpu=answer["cpu"])

    def stored_value(self, kind: str, namespace: str, name: str) -> bytes:
        """The bytes the API server stored for an object, for the store baseline."""
        import orjson

        if kind not in self.values:
            obj = self.request("GET", f"/api/v1/namespaces/{namespace}/{kind}/{name}")["body"]
            obj["metadata"].pop("resourceVersion", None)
            self.values[kind] = orjson.dumps(obj)
        return self.values[kind]

    # -- phases --

    def create_runs(self, fig: Figure, kind: str, runs: int, per_run: int,
                    namespace: Callable[[int], str], first: Callable[[int], int]) -> None:
        """Timed create runs: `per_run` objects over HTTPS, then the same on the store."""
        assert self.store is not None
        conc = self.per_client_concurrency()
        with self.profiled(fig.key):
            for r in range(runs):
                ns, base = namespace(r), first(r)
                answers, cpu = self.api_run(fig.key, lambda i, ns=ns, base=base: {
                    "cmd": "create", "kind": kind, "namespace": ns,
                    "first": base + self.split(per_run)[i][0],
                    "count": self.split(per_run)[i][1], "concurrency": conc})
                fig.api.append(self.throughput(answers, cpu, f"{kind} creates"))
                value = self.stored_value(kind, ns, object_name(kind, base))
                fig.store.append(self.store_throughput(self.store.call(
                    "create", prefix=f"/registry/{kind}/{ns}/", kind=kind, first=base,
                    count=per_run, concurrency=self.concurrency, value=value)))
                self.log(f"  {kind} run {r + 1}: API {fig.api[-1].value:,.0f}/s, "
                         f"store {fig.store[-1].value:,.0f}/s")

    def creates(self) -> None:
        m = self.mode
        assert self.store is not None
        self.namespace(POD_NS)
        pods = self.figure("pod_creates", f"pod creates/s ({m.pods_per_run:,} per run)",
                           "creates/s", True)
        # The runs add up to the pods that are listed and held afterwards.
        self.create_runs(pods, "pods", m.pod_runs, m.pods_per_run, lambda r: POD_NS,
                         lambda r: r * m.pods_per_run)
        self.memory["server_rss_with_pods"] = self.server.memory_info().rss
        self.memory["store_rss_with_pods"] = self.store.call("memory")["rss"]
        self.memory["pods"] = m.pods
        self.memory["pod_value_bytes"] = len(self.values["pods"])

        cms = self.figure("cm_creates", f"ConfigMap creates/s ({m.cms_per_run:,} per run)",
                          "creates/s", True)
        for r in range(m.cm_runs):
            self.namespace(f"bench-cm-{r}")
        self.create_runs(cms, "configmaps", m.cm_runs, m.cms_per_run,
                         lambda r: f"bench-cm-{r}", lambda r: 0)

    def gets(self) -> None:
        m, conc = self.mode, self.per_client_concurrency()
        assert self.store is not None
        gets = self.figure("pod_gets", f"pod gets/s ({m.gets_per_run:,} per run)",
                           "gets/s", True)
        with self.profiled(gets.key):
            for r in range(m.get_runs):
                answers, cpu = self.api_run(gets.key, lambda i, r=r: {
                    "cmd": "get", "kind": "pods", "namespace": POD_NS, "population": m.pods,
                    "count": self.split(m.gets_per_run)[i][1], "concurrency": conc,
                    "seed": r * 100 + i})
                gets.api.append(self.throughput(answers, cpu, "pod gets"))
                gets.store.append(self.store_throughput(self.store.call(
                    "get", prefix=f"/registry/pods/{POD_NS}/", kind="pods", population=m.pods,
                    count=m.gets_per_run, concurrency=self.concurrency, seed=r)))
                self.log(f"  gets run {r + 1}: API {gets.api[-1].value:,.0f}/s, "
                         f"store {gets.store[-1].value:,.0f}/s")

    def lists(self) -> None:
        """Sequential lists from one client process. It has a pool of keep-alive
        connections, which aiohttp hands out in turn, as it does for our own client/."""
        m = self.mode
        assert self.store is not None
        client = self.clients[0]
        for limit, title in ((0, "one response"), (500, "limit=500 pages")):
            fig = self.figure("list_paged" if limit else "list_full",
                              f"list {m.pods:,} pods, {title}", "s", False)
            with self.profiled(fig.key):
                for r in range(m.list_runs):
                    cpu = self.server_cpu()
                    began = time.monotonic()
                    answer = client.call("list", kind="pods", namespace=POD_NS, limit=limit)
                    self.api_seconds[fig.key] += time.monotonic() - began
                    cpu = self.server_cpu() - cpu
                    if answer["items"] != m.pods:
                        raise BenchError(f"{fig.key}: listed {answer['items']} pods, "
                                         f"not {m.pods}")
                    fig.api.append(Sample(answer["seconds"], answer["seconds"], cpu,
                                          answer["cpu"],
                                          {"pages": answer["pages"], "bytes": answer["bytes"],
                                           "first_page": answer["first_page"]}))
                    got = self.store.call("range", prefix=f"/registry/pods/{POD_NS}/",
                                          limit=limit)
                    if got["items"] != m.pods:
                        raise BenchError(f"store range: {got['items']} keys, not {m.pods}")
                    fig.store.append(Sample(got["seconds"], got["seconds"], got["cpu"], 0.0,
                                            {"pages": got["pages"],
                                             "first_page": got["first_page"]}))
                    self.log(f"  {fig.key} run {r + 1}: API {fig.api[-1].value * 1000:,.0f} "
                             f"ms, store {fig.store[-1].value * 1000:,.0f} ms")
            self.memory.setdefault("server_rss_after", {})[fig.key] = (
                self.server.memory_info().rss)

    def watches(self) -> None:
        m, conc = self.mode, self.per_client_concurrency()
        assert self.store is not None
        fig = self.figure("watch_events",
                          f"watch fan-out events/s ({m.watchers} watchers x "
                          f"{m.watch_creates:,} creates)", "events/s", True)
        expected_total = m.watchers * m.watch_creates
        timeout = 60.0 if self.mode.name == "full" else 30.0
        value = self.stored_value("configmaps", "bench-cm-0", object_name("configmaps", 0))
        with self.profiled(fig.key):
            for r in range(m.watch_runs):
                ns = f"bench-watch-{r}"
                self.namespace(ns)
                listed = self.request("GET", f"/api/v1/namespaces/{ns}/configmaps", limit="1")
                rv = listed["body"]["metadata"]["resourceVersion"]
                cpu = self.server_cpu()
                began = time.monotonic()
                for i, c in enumerate(self.clients):
                    c.send("watch_open", namespace=ns,
                           count=self.split(m.watchers)[i][1], resource_version=rv,
                           expected=m.watch_creates, marker="cm-", timeout=timeout)
                for c in self.clients:
                    c.recv(60)
                for i, c in enumerate(self.clients):
                    first, count = self.split(m.watch_creates)[i]
                    c.send("create", kind="configmaps", namespace=ns, first=first,
                           count=count, concurrency=conc)
                created = [c.recv(timeout) for c in self.clients]
                for c in self.clients:
                    c.send("watch_collect", timeout=timeout)
                collected = [c.recv(timeout + 10) for c in self.clients]
                cpu = self.server_cpu() - cpu
                self.api_seconds[fig.key] += time.monotonic() - began
                watchers = [w for a in collected for w in a["watchers"]]
                start = min(a["start"] for a in created)
                creates_end = max(a["end"] for a in created)
                delivered = sum(w["seen"] for w in watchers)
                finished = [w["done"] for w in watchers if w["done"]]
                end = max(finished) if len(finished) == len(watchers) else time.monotonic()
                seconds = end - start
                fig.api.append(Sample(
                    delivered / seconds, seconds, cpu, sum(a["watch_cpu"] for a in collected),
                    {"delivered": delivered, "expected": expected_total,
                     "creates_per_s": m.watch_creates / (creates_end - start),
                     "lag_after_last_create": end - creates_end,
                     "incomplete_watchers": len(watchers) - len(finished),
                     "last_events": dict(Counter(w.get("last_event", "") for w in watchers))}))
                if delivered < expected_total:
                    self.log(f"  ! API watch run {r + 1}: {delivered:,} of {expected_total:,} "
                             "events delivered before the deadline")
                answer = self.store.call("watch", prefix=f"/registry/configmaps/{ns}/",
                                         watchers=m.watchers, count=m.watch_creates,
                                         concurrency=self.concurrency, value=value,
                                         timeout=150)
                s_end = max(w["done"] for w in answer["watchers"])
                s_delivered = sum(w["seen"] for w in answer["watchers"])
                fig.store.append(Sample(s_delivered / (s_end - answer["start"]),
                                        s_end - answer["start"], answer["cpu"], 0.0,
                                        {"delivered": s_delivered,
                                         "creates_per_s": m.watch_creates
                                         / (answer["end"] - answer["start"])}))
                self.log(f"  watch run {r + 1}: API {fig.api[-1].value:,.0f} events/s "
                         f"(creates {fig.api[-1].extra['creates_per_s']:,.0f}/s meanwhile), "
                         f"store {fig.store[-1].value:,.0f} events/s")

    def finish(self) -> None:
        assert self.store is not None
        self.memory["server_rss_end"] = self.server.memory_info().rss
        self.memory["server_peak_rss"] = peak_rss(self.server.pid)
        store_mem = self.store.call("memory")
        self.memory["store_peak_rss"] = store_mem["peak"]

    def run(self) -> None:
        timeline = self.memory.setdefault("server_rss_after", {})
        timeline["start"] = self.memory["server_idle_rss"]
        for what, phase in (("creates (pods, then ConfigMaps)", self.creates),
                            ("gets", self.gets), ("lists", self.lists),
                            ("watch fan-out", self.watches)):
            self.log(what)
            phase()
            if phase != self.lists:  # lists note full and paged apart
                timeline[phase.__name__] = self.server.memory_info().rss
        self.finish()

    # -- report --

    def result(self) -> dict[str, Any]:
        return {
            "mode": self.mode.name, "mode_settings": asdict(self.mode),
            "clients": self.clients_n, "concurrency": self.concurrency,
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "info": self.info,
            "figures": {k: {"title": f.title, "unit": f.unit,
                            "higher_is_better": f.higher_is_better,
                            "api_median": Figure.median(f.api),
                            "store_median": Figure.median(f.store),
                            "api_cost": f.cost(),
                            "server_cores": Figure.cores(f.api, "server_cpu"),
                            "client_cores": Figure.cores(f.api, "client_cpu"),
                            "store_cores": Figure.cores(f.store, "server_cpu"),
                            "api": [asdict(s) for s in f.api],
                            "store": [asdict(s) for s in f.store]}
                        for k, f in self.figures.items()},
            "memory": self.memory,
            "profiles": self.profiles,
        }


def source_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False)
        return proc.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = len(git("status", "--porcelain", "--", "src").splitlines())
    return f"{commit} + {changed} uncommitted files in src/" if changed else commit


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.0f} ms"
    return f"{value:,.0f}"


def report(result: dict[str, Any]) -> str:
    m = result["mode_settings"]
    lines = [
        f"kubeedge-py API server vs bare SqliteStore ({result['mode']}): "
        f"{result['machine']['cores']} cores, Python {result['machine']['python']}, "
        f"{result['clients']} client processes x {result['concurrency'] // result['clients']}"
        f" connections; medians of runs; source {result['info']['source']}",
        "",
        f"{'figure':<50} {'API':>11} {'store':>11} {'API cost':>9} {'runs':>5} "
        f"{'server CPU':>11} {'client CPU':>11}",
    ]
    for f in result["figures"].values():
        lines.append(
            f"{f['title']:<50} {fmt(f['api_median'], f['unit']):>11} "
            f"{fmt(f['store_median'], f['unit']):>11} {f['api_cost']:>8.1f}x "
            f"{len(f['api']):>5} {f['server_cores']:>7.2f} cor {f['client_cores']:>7.2f} cor")
    mem = result["memory"]
    pods = mem["pods"]
    lines += [
        "",
        f"server RSS: fresh {mem['server_fresh_rss'] / MB:,.0f} MB, with the clients' "
        f"{result['concurrency']} connections {mem['server_idle_rss'] / MB:,.0f} MB, "
        f"holding {pods:,} pods "
        f"{mem['server_rss_with_pods'] / MB:,.0f} MB "
        f"({(mem['server_rss_with_pods'] - mem['server_idle_rss']) / pods / 1024:,.1f} KB/pod), "
        f"at the end {mem['server_rss_end'] / MB:,.0f} MB, peak {mem['server_peak_rss'] / MB:,.0f}"
        f" MB; bare store process with the same pods {mem['store_rss_with_pods'] / MB:,.0f} MB "
        f"(API cost {mem['server_rss_with_pods'] / mem['store_rss_with_pods']:.1f}x)",
    ]
    lines.append("server RSS after each phase: " + ", ".join(
        f"{k} {v / MB:,.0f} MB" for k, v in mem["server_rss_after"].items()))
    figs = result["figures"]
    creates = figs["pod_creates"]["api_median"]
    events = figs["watch_events"]["api_median"]
    # The RSS aim is stated at 10,000 pods; a quick run holds fewer.
    rss = mem["server_peak_rss"] / MB
    watch_extra = [s["extra"] for s in figs["watch_events"]["api"]]
    lines += [
        "",
        f"watch: creates ran at {statistics.median(e['creates_per_s'] for e in watch_extra):,.0f}"
        f"/s meanwhile; the last event arrived "
        f"{statistics.median(e['lag_after_last_create'] for e in watch_extra) * 1000:,.0f} ms "
        "after the last create (medians)",
        "",
        "aims (2 cores): "
        f"pod creates >= {AIM_CREATES:,.0f}/s: {'met' if creates >= AIM_CREATES else 'SHORT'} "
        f"({creates:,.0f}); "
        f"watch >= {AIM_WATCH_EVENTS:,.0f} events/s: "
        f"{'met' if events >= AIM_WATCH_EVENTS else 'SHORT'} ({events:,.0f}); "
        f"peak RSS <= {AIM_RSS_MB:,.0f} MB at {pods:,} pods: "
        f"{'met' if rss <= AIM_RSS_MB else 'OVER'} ({rss:,.0f} MB)"
        + ("" if pods >= 10_000 else " [the aim is for 10,000 pods: run the full mode]"),
        f"settings: {json.dumps(m)}",
    ]
    for phase, prof in result.get("profiles", {}).items():
        busy = ", ".join(f"{role} {share * 100:.0f}%" for role, share in prof["busy"].items())
        lines += ["", f"profile of the server during {phase} ({prof['seconds']:.1f} s of API "
                  f"runs; busy: {busy}); the event loop's time, self and with callees:"]
        for (name, own), (iname, incl) in zip(prof["self"][:14], prof["inclusive"][:14],
                                              strict=False):
            lines.append(f"  self {own * 100:5.1f}%  {name:<58.58} incl {incl * 100:5.1f}%  "
                         f"{iname}")
    return "\n".join(lines)


PROFILE_RATE = 250  # py-spy samples per second
# Frames every event-loop stack has (the entry point and the loop itself): left out of
# the inclusive ranking, which is about what the loop spends its time on.
_ENTRY_FRAMES = ("<frozen runpy>", "click/", "asyncio/runners.py", "cli/apiserver.py",
                 "run_forever (", "run_until_complete (", "_run_once (", "Handle._run (")
# Leaf frames where a thread waits rather than works.
_WAIT_LEAVES = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py)",
                "_writer_main (")


def summarize_profile(path: Path, seconds: float) -> dict[str, Any]:
    """What the server's threads did during `seconds` of API runs, from py-spy raw stacks.

    Frames are "function (file:line)"; the line is dropped so a function counts once.
    Samples are split by thread (py-spy --threads puts the thread's name first): the
    event loop (MainThread), the SQLite writer and the SQLite readers. A thread's busy
    share is its working samples over the samples the wall time allows (a thread that
    worked throughout is at 100%); the function shares are of the event loop's working
    samples, self (the function's own code and the C it calls) and inclusive.
    """
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    loop_total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        head, *frames = stack.split(";")
        thread = head.split(": ", 1)[-1]
        names = [_frame(f) for f in frames]
        if not names or names[-1].startswith(_WAIT_LEAVES):
            continue
        role = ("event loop" if thread == "MainThread" else
                "sqlite writer" if "write" in thread else
                "sqlite readers" if "read" in thread else "other threads")
        threads[role] += count
        if role != "event loop":
            continue
        loop_total += count
        self_counts[names[-1]] += count
        for name in set(names):
            if not any(mark in name for mark in _ENTRY_FRAMES):
                incl_counts[name] += count
    possible = max(1.0, seconds * PROFILE_RATE)
    share = max(1, loop_total)
    return {
        "seconds": seconds,
        "busy": {role: n / possible for role, n in threads.most_common()},
        "loop_samples": loop_total,
        "self": [(n, c / share) for n, c in self_counts.most_common(25)],
        "inclusive": [(n, c / share) for n, c in incl_counts.most_common(40)],
    }


def _frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})" if file else name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N, under a minute")
    parser.add_argument("--clients", type=int, default=2, help="client processes (2)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight in total, across client processes (64)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write all samples here (default benchmarks/results/"
                             "apiserver-<mode>.json)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy the server during each phase's first run; raw stacks "
                             "go to DIR and the top functions are printed (slows the runs)")
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    out = args.json or REPO / f"benchmarks/results/apiserver-{mode.name}.json"
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    arm_deadline(mode.deadline_seconds)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kubeedge-bench-"))
    bench = Bench(mode, args.clients, args.concurrency, args.profile, log)
    try:
        log(f"starting the API server with keadm init under {tmp} ...")
        bench.start(tmp)
        bench.run()
        result = bench.result()
    finally:
        signal.alarm(0)
        log("cleaning up (keadm reset) ...")
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["info"]["total_seconds"] = time.monotonic() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(report(result))
    print(f"\nall samples: {out}  ({result['info']['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
