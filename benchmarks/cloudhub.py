"""CloudHub with thousands of simulated edges: memory per connection, acknowledged
messages per second beside a bare WebSocket round trip over the same TLS, and the time
for every edge to reconnect after the server process is killed and started again.

    .venv/bin/python benchmarks/cloudhub.py --quick       # 500 edges, ~1 min
    .venv/bin/python benchmarks/cloudhub.py               # 5,000 edges, ~5 min
    .venv/bin/python benchmarks/cloudhub.py --profile DIR # + py-spy of the servers
    .venv/bin/python benchmarks/cloudhub.py --plot        # results JSON -> docs/img/cloudhub.png

The server is the real `CloudHub` module (`kubeedge.cloud.hub.CloudHub`) in a process of
its own, built as `cloud/cloudcore.py` builds it (a ModuleBus, `modules.cloudHub` with
its defaults, KubeEdge's CA and the cloudcore serving certificate, cloudcore's GC
setting) but without the API server: EdgeController and SyncController are replaced by
two bus modules that only drain what CloudHub sends them (connect events, ACK reports).
`nodeLimit` is raised to the number of edges (its default is 500).

The edges are simulated in `--clients` processes (2 by default), one asyncio loop each:
every edge has its own client certificate `CN=system:node:<id>` from that CA and the
edge's TLS context (`edge/hub/transport.edge_tls_context`), dials
`wss://127.0.0.1:<port>/<project>/<id>/events` with the `node_id`/`project_id` headers,
sends EdgeHub's keepalive and a WebSocket ping every `heartbeat`, answers every object
message with EdgeHub's ACK (`response` "OK", `parent_msg_id` = the message's id), and
reconnects as EdgeHub does: after a lost session it waits `reconnectInterval`, then dials
up to `connectRetries` times `connectRetryInterval` apart, forever. Those timings are
EdgeCore's defaults (`config/edgecore.EdgeHub()`: heartbeat 15 s, reconnect 2 x
heartbeat = 30 s, 5 tries 5 s apart, handshake timeout 30 s) unless flags change them.

Figures:
1. Memory: edges connect in steps (500, 1,000, 2,000, 5,000), and the server's RSS is
   read at each step (after a `gc.collect()`); KiB per connection is the least-squares
   slope over the steps (the RSS before any edge included). The same steps are taken
   against the baseline server, whose slope is what aiohttp and TLS cost alone.
2. Messages: the server puts M ConfigMap updates per connected edge on the bus for
   module `cloudhub`, as EdgeController builds them (`edgecontroller.messages.
   object_message`, a distinct ConfigMap and uid each, so none coalesce), and counts the
   ACK reports CloudHub sends to SyncController's group: ACKs/s from the first message
   to the last report. The baseline, in the same run with the same client processes and
   edges: a bare aiohttp WebSocket server with the same TLS context, socket and
   WebSocketResponse settings and TLS read buffer, which writes the same frames (encoded
   in advance) one at a time per connection and writes the next when the edge's answer
   arrives. Runs alternate between the two; medians; baseline / ours is the cost of our
   protocol (routing, queues, ACK tracking, the reports).
3. Reconnect: the CloudHub process is killed (SIGKILL) and a new one started on the same
   port; the time from the kill until every edge has a new session, read from the
   clients' connect times (monotonic clock, shared by the processes) and checked against
   the new server's session count.

Every sample goes to `--json` (default benchmarks/results/cloudhub-<mode>.json). Bounded
in time, and always ends with every process it started stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import platform
import resource
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.apiserver import (  # noqa: E402
    BenchError,
    Worker,
    arm_deadline,
    log,
    peak_rss,
    serve_commands,
    source_state,
    summarize_profile,
)
from benchmarks.controllers import profiled  # noqa: E402

KiB = 1024
MB = 1024 * 1024
PROJECT = "e632aba927ea4ac2b575ec1603d56f10"  # EdgeCore's default projectID
# The issue's aims.
AIM_KIB_PER_EDGE = 64.0
AIM_ACKS_PER_S = 5000.0
AIM_RECONNECT_S = 60.0
# Edges dialling at once per client process while stepping up (reconnects are not
# gated: every edge dials when its own timer says, as real edges do).
RAMP_CONCURRENCY = 64
# The clients' TLS read buffer: asyncio allocates 256 KiB per connection by default,
# which is client memory only (the server's is CloudHub's own setting).
CLIENT_TLS_BUFFER = 16 * KiB
NOFILE = 1 << 17
# A ConfigMap's data: about what a small application config is.
CM_DATA = {"app.properties": "\n".join(f"setting.{i}=value-{i:04d}" for i in range(16)),
           "log.level": "info"}


@dataclass(frozen=True)
class Mode:
    name: str
    steps: tuple[int, ...]
    messages_per_edge: int
    throughput_runs: int
    reconnect_runs: int
    deadline_seconds: int


MODES = {
    "quick": Mode("quick", (100, 250, 500), messages_per_edge=4, throughput_runs=3,
                  reconnect_runs=1, deadline_seconds=420),
    "full": Mode("full", (500, 1000, 2000, 5000), messages_per_edge=4, throughput_runs=5,
                 reconnect_runs=3, deadline_seconds=1800),
}


@dataclass(frozen=True)
class EdgeTimings:
    """The simulated EdgeHub's timings, in seconds (EdgeCore's `modules.edgeHub`)."""

    heartbeat: float
    reconnect_interval: float
    connect_retries: int
    connect_retry_interval: float
    handshake_timeout: float

    @classmethod
    def defaults(cls) -> EdgeTimings:
        from kubeedge.config.edgecore import EdgeHub

        hub = EdgeHub()
        return cls(heartbeat=float(hub.heartbeat), reconnect_interval=hub.reconnect_seconds,
                   connect_retries=int(hub.connect_retries),
                   connect_retry_interval=float(hub.connect_retry_interval),
                   handshake_timeout=float(hub.websocket.handshake_timeout))


def raise_nofile() -> None:
    """Thousands of sockets per process: raise RLIMIT_NOFILE (root may raise the hard
    limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def own_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configmap(index: int, resource_version: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"bench-{index}", "namespace": "default",
                         "uid": f"6b1c0000-0000-4000-8000-{index:012d}",
                         "resourceVersion": resource_version,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "data": CM_DATA}


# ---- the servers (one process each) --------------------------------------------------


class HubServer:
    """The real CloudHub on a bus whose controllers only drain what it sends them."""

    def __init__(self, certs: Any, port: int, node_limit: int) -> None:
        from kubeedge.cloud.hub import CloudHub
        from kubeedge.config.cloudcore import CloudHub as CloudHubConfig
        from kubeedge.config.cloudcore import CloudHubWebSocket
        from kubeedge.messaging.bus import ModuleBus
        from kubeedge.messaging.message import MODULE_EDGECONTROLLER, MODULE_SYNCCONTROLLER

        self.bus = ModuleBus()
        self.sinks = (MODULE_EDGECONTROLLER, MODULE_SYNCCONTROLLER)
        for name in self.sinks:
            self.bus.add_module(name, name)
        config = CloudHubConfig(websocket=CloudHubWebSocket(address="127.0.0.1", port=port),
                                advertise_address=["127.0.0.1"], node_limit=node_limit)
        self.hub = CloudHub(self.bus, config, certs)
        self.reports: Counter[str] = Counter()
        self.acks = 0
        self.ack_target = 0
        self.acked = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        port = await self.hub.start()
        self.tasks = [asyncio.create_task(self._sink(name)) for name in self.sinks]
        return port

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.hub.stop()

    async def _sink(self, module: str) -> None:
        from kubeedge.cloud.hub.protocol import OP_OBJECT_ACKED
        from kubeedge.messaging.bus import ModuleClosedError

        while True:
            try:
                msg = await self.bus.receive(module)
            except ModuleClosedError:
                return
            operation = msg.route.operation
            self.reports[operation] += 1
            if operation == OP_OBJECT_ACKED:
                self.acks += 1
                if self.acks >= self.ack_target:
                    self.acked.set()

    @property
    def connected(self) -> int:
        return int(self.hub.manager.connected)

    async def push(self, per_edge: int, run: int, timeout: float) -> dict[str, Any]:
        """`per_edge` ConfigMap updates to every connected edge, through the bus, as
        EdgeController sends them; returns when CloudHub has reported every ACK."""
        from kubeedge.cloud.edgecontroller.messages import object_message
        from kubeedge.messaging.message import OP_UPDATE

        nodes = sorted(self.hub.manager.sessions)
        objects = [configmap(j, str(1000 + run)) for j in range(per_edge)]
        # Built before the clock starts: EdgeController's work, not CloudHub's.
        msgs = [object_message(node, "configmap", obj, OP_UPDATE)
                for obj in objects for node in nodes]
        metrics = self.hub.metrics
        before = {"resends": metrics.resends, "acks": metrics.acks,
                  "latency": metrics.ack_latency_sum, "sent": metrics.messages_sent}
        self.ack_target = self.acks + len(msgs)
        self.acked.clear()
        cpu = time.process_time()
        start = time.monotonic()
        for msg in msgs:
            await self.bus.send(msg, "cloudhub")
        queued = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                await self.acked.wait()
        except TimeoutError:
            return {"error": f"push: {self.ack_target - self.acks} of {len(msgs)} ACKs "
                             f"missing after {timeout:.0f}s"}
        end = time.monotonic()
        acks = metrics.acks - before["acks"]
        return {"messages": len(msgs), "edges": len(nodes), "seconds": end - start,
                "queued_seconds": queued - start, "server_cpu": time.process_time() - cpu,
                "resends": metrics.resends - before["resends"],
                "frames_written": metrics.messages_sent - before["sent"],
                "ack_latency_mean": (metrics.ack_latency_sum - before["latency"]) / max(acks, 1),
                "frame_bytes": _frame_size(msgs[0])}

    def details(self) -> dict[str, Any]:
        m = self.hub.metrics
        return {"connects": m.connects, "disconnects": m.disconnects, "replaced": m.replaced,
                "keepalive_timeouts": m.keepalive_timeouts, "refused": dict(m.refused),
                "acks": m.acks, "resends": m.resends, "gave_up": m.gave_up,
                "dropped": m.dropped, "write_failures": m.write_failures,
                "reports": dict(self.reports)}


def _frame_size(msg: Any) -> int:
    from kubeedge.messaging.codec import encode_message
    from kubeedge.messaging.resource import strip_node_prefix

    out = msg.copy()
    out.route.resource = strip_node_prefix(msg.route.resource)
    return len(encode_message(out))


class _EchoConn:
    __slots__ = ("frames", "remaining", "ws")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[bytes] = []
        self.remaining = 0


class EchoServer:
    """The baseline: aiohttp WebSocket over CloudHub's TLS, settings and buffer; writes
    a frame, waits for the edge's answer, writes the next. No bus, queues or parsing."""

    RESPONSE = b'"operation":"response"'

    def __init__(self, certs: Any, port: int) -> None:
        self.certs = certs
        self.port = port
        self.conns: dict[str, _EchoConn] = {}
        self.runner: Any = None
        self.acks = 0
        self.ack_target = 0
        self.acked = asyncio.Event()

    async def start(self) -> int:
        from aiohttp import web

        from kubeedge.cloud.hub import server as hub_server

        hub_server.limit_tls_read_buffer()
        server = web.Server(self._handle, access_log=None, handler_cancellation=True)
        self.runner = web.ServerRunner(server, handle_signals=False)
        await self.runner.setup()
        # CloudHub's own context (it reads only `certs`): the same TLS settings.
        owner: Any = SimpleNamespace(certs=self.certs)
        ctx = hub_server.CloudHub.ssl_context(owner)
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=ctx,
                           reuse_address=True, backlog=1024)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        from kubeedge.cloud.hub import server as hub_server

        node = request.headers.get("node_id", "")
        ws = web.WebSocketResponse(timeout=hub_server.CLOSE_TIMEOUT, autoping=True,
                                   heartbeat=None, compress=False,
                                   max_msg_size=hub_server.MAX_MESSAGE_BYTES,
                                   decode_text=False)
        await ws.prepare(request)
        conn = self.conns[node] = _EchoConn(ws)
        try:
            while True:
                frame = await ws.receive()
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if conn.remaining and self.RESPONSE in frame.data:
                        conn.remaining -= 1
                        self.acks += 1
                        if conn.remaining:
                            await ws.send_frame(conn.frames[-conn.remaining], WSMsgType.TEXT)
                        if self.acks >= self.ack_target:
                            self.acked.set()
                elif frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                    WSMsgType.ERROR):
                    return ws
        finally:
            if self.conns.get(node) is conn:
                del self.conns[node]

    @property
    def connected(self) -> int:
        return len(self.conns)

    async def push(self, per_edge: int, run: int, timeout: float) -> dict[str, Any]:
        from aiohttp import WSMsgType

        from kubeedge.cloud.edgecontroller.messages import object_message
        from kubeedge.messaging.codec import encode_message
        from kubeedge.messaging.message import OP_UPDATE
        from kubeedge.messaging.resource import strip_node_prefix

        objects = [configmap(j, str(1000 + run)) for j in range(per_edge)]
        conns = list(self.conns.items())
        for node, conn in conns:  # encoded in advance: the bare wire cost only
            frames = []
            for obj in objects:
                msg = object_message(node, "configmap", obj, OP_UPDATE)
                msg.route.resource = strip_node_prefix(msg.route.resource)
                frames.append(encode_message(msg))
            conn.frames = frames
        total = per_edge * len(conns)
        self.ack_target = self.acks + total
        self.acked.clear()
        cpu = time.process_time()
        start = time.monotonic()
        for _, conn in conns:
            conn.remaining = per_edge
            await conn.ws.send_frame(conn.frames[0], WSMsgType.TEXT)
        try:
            async with asyncio.timeout(timeout):
                await self.acked.wait()
        except TimeoutError:
            return {"error": f"push: {self.ack_target - self.acks} of {total} answers "
                             f"missing after {timeout:.0f}s"}
        end = time.monotonic()
        return {"messages": total, "edges": len(conns), "seconds": end - start,
                "server_cpu": time.process_time() - cpu,
                "frame_bytes": len(conns[0][1].frames[0]) if conns else 0}

    def details(self) -> dict[str, Any]:
        return {}


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.seen[type(exc).__name__ if exc else record.getMessage()[:80]] += 1


def server_main(conn: multiprocessing.connection.Connection, kind: str, ca_pem: bytes,
                ca_key_pem: bytes, port: int, node_limit: int) -> None:
    raise_nofile()
    logging.basicConfig(level=logging.ERROR)
    errors = _ErrorCounter()
    # aiohttp logs a traceback for every handshake whose client gave up (a reconnect
    # storm has thousands): counted and reported instead.
    logging.getLogger("aiohttp.server").addHandler(errors)
    logging.getLogger("aiohttp.server").propagate = False
    gc.set_threshold(50_000, 20, 100)  # as cloudcore's main (cli/cloudcore.py)

    async def setup() -> Any:
        from kubeedge.cloud.certs.authority import CertificateAuthority
        from kubeedge.cloud.certs.edge_ca import EdgeCertificates, issue_cloudcore_cert

        ca = CertificateAuthority.from_pem(ca_pem, ca_key_pem)
        certs = EdgeCertificates(ca, issue_cloudcore_cert(ca, ["127.0.0.1"]))
        server: Any = (HubServer(certs, port, node_limit) if kind == "hub"
                       else EchoServer(certs, port))
        await server.start()
        return server

    def commands(server: Any) -> dict[str, Any]:
        async def hello() -> dict[str, Any]:
            return {"port": server.port if kind == "echo" else server.hub.port,
                    "pid": os.getpid(), "cpu_total": time.process_time()}

        async def status() -> dict[str, Any]:
            return {"connected": server.connected, "rss": own_rss(),
                    "peak_rss": peak_rss(os.getpid()), "cpu_total": time.process_time(),
                    "details": {**server.details(), "aiohttp_errors": dict(errors.seen)}}

        async def memory() -> dict[str, Any]:
            gc.collect()
            return {"connected": server.connected, "rss": own_rss(),
                    "peak_rss": peak_rss(os.getpid())}

        async def push(per_edge: int, run: int, deadline: float) -> dict[str, Any]:
            return await server.push(per_edge, run, deadline)

        return {"hello": hello, "status": status, "memory": memory, "push": push}

    serve_commands(conn, setup, commands, lambda server: server.stop())


# ---- the simulated edges (a few processes, many edges each) --------------------------


class SimEdge:
    __slots__ = ("connected_at", "connects", "ctx", "failures", "node", "task", "ws")

    def __init__(self, node: str, ctx: Any) -> None:
        self.node = node
        self.ctx = ctx
        self.ws: Any = None
        self.connected_at = 0.0
        self.connects = 0
        self.failures = 0
        self.task: asyncio.Task[None] | None = None


class ClientState:
    def __init__(self, nodes: list[str], certs_dir: str, timings: EdgeTimings) -> None:
        from kubeedge.edge.hub.transport import edge_tls_context

        self.timings = timings
        ca = Path(certs_dir) / "rootCA.crt"
        key = Path(certs_dir) / "edge.key"
        self.ctxs = {node: edge_tls_context(ca, Path(certs_dir) / f"{node}.crt", key)
                     for node in nodes}
        self.nodes = nodes
        self.edges: dict[str, list[SimEdge]] = {}
        self.acks: Counter[str] = Counter()
        self.gate = asyncio.Semaphore(RAMP_CONCURRENCY)
        self.session: Any = None
        self.last_error = ""

    async def open(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True))

    async def close(self) -> None:
        for target in list(self.edges):
            await self.stop(target)
        if self.session is not None:
            await self.session.close()

    async def stop(self, target: str) -> None:
        edges = self.edges.pop(target, [])
        for edge in edges:
            if edge.task is not None:
                edge.task.cancel()
        await asyncio.gather(*(e.task for e in edges if e.task is not None),
                             return_exceptions=True)

    # -- one edge's life: EdgeHub's connection loop (edge/hub/hub.py `_run`, `_dial`) --

    async def life(self, target: str, port: int, edge: SimEdge) -> None:
        t = self.timings
        first = True
        while True:
            ws = None
            for _ in range(t.connect_retries):
                try:
                    if first:
                        async with self.gate:
                            ws = await self._dial(port, edge)
                    else:
                        ws = await self._dial(port, edge)
                    break
                except Exception as exc:  # refused, TLS, handshake: EdgeHub retries all
                    edge.failures += 1
                    self.last_error = repr(exc)[:200]
                    await asyncio.sleep(t.connect_retry_interval)
            first = False
            if ws is not None:
                edge.ws = ws
                edge.connected_at = time.monotonic()
                edge.connects += 1
                try:
                    await self._serve(target, ws)
                finally:
                    edge.ws = None
                    with contextlib.suppress(Exception):
                        await ws.close()
            await asyncio.sleep(t.reconnect_interval)

    async def _dial(self, port: int, edge: SimEdge) -> Any:
        async with asyncio.timeout(self.timings.handshake_timeout):
            return await self.session.ws_connect(
                f"wss://127.0.0.1:{port}/{PROJECT}/{edge.node}/events", ssl=edge.ctx,
                headers={"node_id": edge.node, "project_id": PROJECT,
                         "ConnectionUse": "msg"},
                autoping=True, heartbeat=None, compress=0, max_msg_size=64 * MB,
                decode_text=False)

    async def _serve(self, target: str, ws: Any) -> None:
        from aiohttp import WSMsgType

        from kubeedge.messaging.codec import decode_message, encode_message
        from kubeedge.messaging.message import (
            MESSAGE_OK,
            OP_ERROR,
            OP_KEEPALIVE,
            OP_RESPONSE,
            new_respond_message,
        )

        keepalive = asyncio.create_task(self._keepalive(ws))
        try:
            while True:
                frame = await ws.receive()
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    msg = decode_message(frame.data)
                    if msg.route.operation in (OP_RESPONSE, OP_ERROR, OP_KEEPALIVE):
                        continue
                    # EdgeHub's ACK (NewRespByMessage with "OK"); the real edge writes
                    # the object to its database first.
                    await ws.send_frame(encode_message(new_respond_message(msg, MESSAGE_OK)),
                                        WSMsgType.TEXT)
                    self.acks[target] += 1
                elif frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                    WSMsgType.ERROR):
                    return
        finally:
            keepalive.cancel()

    async def _keepalive(self, ws: Any) -> None:
        from aiohttp import WSMsgType

        from kubeedge.edge.hub.hub import keepalive_message
        from kubeedge.messaging.codec import encode_message

        with contextlib.suppress(Exception):
            while True:
                await ws.send_frame(encode_message(keepalive_message()), WSMsgType.TEXT)
                await ws.ping()
                await asyncio.sleep(self.timings.heartbeat)

    # -- commands --

    async def connect(self, target: str, port: int, upto: int, timeout: float
                      ) -> dict[str, Any]:
        edges = self.edges.setdefault(target, [])
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        while len(edges) < min(upto, len(self.nodes)):
            node = self.nodes[len(edges)]
            edge = SimEdge(node, self.ctxs[node])
            edge.task = loop.create_task(self.life(target, port, edge))
            edges.append(edge)
        deadline = start + timeout
        while sum(e.ws is not None for e in edges) < len(edges):
            if time.monotonic() > deadline:
                return {"error": f"{sum(e.ws is not None for e in edges)} of {len(edges)} "
                                 f"edges connected after {timeout:.0f}s ({self.last_error})"}
            await asyncio.sleep(0.05)
        return {"seconds": time.monotonic() - start, "connected": len(edges)}

    async def state(self, target: str, since: float = 0.0, times: bool = False
                    ) -> dict[str, Any]:
        edges = self.edges.get(target, [])
        back = [e.connected_at - since for e in edges
                if e.ws is not None and e.connected_at >= since]
        return {"edges": len(edges), "connected": sum(e.ws is not None for e in edges),
                "reconnected": len(back), "times": back if times else [],
                "failures": sum(e.failures for e in edges), "acks": self.acks[target],
                "proc_cpu": time.process_time(), "rss": own_rss(),
                "last_error": self.last_error}


def client_main(conn: multiprocessing.connection.Connection, nodes: list[str],
                certs_dir: str, timings: dict[str, Any]) -> None:
    from asyncio import sslproto

    raise_nofile()
    sslproto.SSLProtocol.max_size = CLIENT_TLS_BUFFER
    gc.set_threshold(50_000, 20, 100)
    state: list[ClientState] = []

    async def setup() -> ClientState:
        st = ClientState(nodes, certs_dir, EdgeTimings(**timings))
        await st.open()
        state.append(st)
        return st

    def commands(st: ClientState) -> dict[str, Any]:
        async def stop(target: str) -> dict[str, Any]:
            await st.stop(target)
            return {}

        return {"connect": st.connect, "state": st.state, "close": stop}

    serve_commands(conn, setup, commands, lambda st: st.close())


# ---- the parent ----------------------------------------------------------------------


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares bytes per connection over (connections, RSS) points."""
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, mode: Mode, edges: int, clients: int, timings: EdgeTimings,
                 profile: Path | None, log: Any) -> None:
        self.mode = mode
        self.steps = (*(s for s in mode.steps if s < edges), edges)
        self.edges = edges
        self.clients_n = clients
        self.timings = timings
        self.profile = profile
        self.log = log
        self.ctx = multiprocessing.get_context("spawn")
        self.servers: dict[str, Worker] = {}
        self.server_pids: dict[str, int] = {}
        self.server_cpu_at_start: dict[str, float] = {}
        self.ports: dict[str, int] = {}
        self.clients: list[Worker] = []
        self.result: dict[str, Any] = {"memory": {}, "connect_seconds": {}, "throughput": {},
                                       "reconnect": [], "profiles": {}}
        self.ca_pem = b""
        self.ca_key_pem = b""

    # -- set-up --

    def make_certs(self, tmp: Path) -> None:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        from kubeedge.cloud.certs.authority import generate_private_key
        from kubeedge.cloud.certs.edge_ca import create_kubeedge_ca

        start = time.monotonic()
        ca = create_kubeedge_ca()
        self.ca_pem, self.ca_key_pem = ca.cert_pem, ca.key_pem
        (tmp / "rootCA.crt").write_bytes(ca.cert_pem)
        # One key for every edge (the handshake's cost is the same; issuing is faster).
        key = generate_private_key("ec")
        key_path = tmp / "edge.key"
        key_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                               NoEncryption()))
        key_path.chmod(0o600)
        for i in range(self.edges):
            node = f"edge-{i:05d}"
            pair = ca.issue_client_cert(f"system:node:{node}", ["system:nodes"],
                                        private_key=key)
            (tmp / f"{node}.crt").write_bytes(pair.cert_pem)
        self.log(f"issued {self.edges:,} edge certificates in "
                 f"{time.monotonic() - start:.1f}s")

    def start_server(self, kind: str, port: int) -> None:
        worker = Worker(self.ctx, server_main, kind, self.ca_pem, self.ca_key_pem, port,
                        self.edges + 100, name=f"{kind}-server")
        hello = worker.call("hello", timeout=60)
        self.servers[kind] = worker
        self.server_pids[kind] = int(hello["pid"])
        self.server_cpu_at_start[kind] = float(hello["cpu_total"])
        self.ports[kind] = int(hello["port"])

    def start_clients(self, tmp: Path) -> None:
        nodes = [f"edge-{i:05d}" for i in range(self.edges)]
        for p in range(self.clients_n):
            self.clients.append(Worker(self.ctx, client_main, nodes[p::self.clients_n],
                                       str(tmp), asdict(self.timings), name=f"edges-{p}"))

    def stop(self) -> None:
        for worker in self.clients:
            worker.close()
        for worker in self.servers.values():
            worker.close()

    def all_clients(self, cmd: str, timeout: float = 300, **args: Any) -> list[dict[str, Any]]:
        for worker in self.clients:
            worker.send(cmd, **args)
        return [worker.recv(timeout) for worker in self.clients]

    # -- 1. memory --

    def memory_steps(self, kind: str) -> None:
        server = self.servers[kind]
        time.sleep(1.0)
        points = [(0, int(server.call("memory")["rss"]))]
        seconds = []
        for step in self.steps:
            # edges are dealt round-robin: process p holds edges p, p+P, ...
            answers = []
            for p, worker in enumerate(self.clients):
                worker.send("connect", target=kind, port=self.ports[kind],
                            upto=len(range(p, step, self.clients_n)), timeout=300)
            answers = [worker.recv(330) for worker in self.clients]
            seconds.append(max(a["seconds"] for a in answers))
            deadline = time.monotonic() + 30
            while (got := server.call("status"))["connected"] < step:
                if time.monotonic() > deadline:
                    raise BenchError(f"{kind}: the server sees {got['connected']} of {step} "
                                     "edges")
                time.sleep(0.2)
            time.sleep(2.0)  # every edge's first keepalive and ping answered
            mem = server.call("memory")
            points.append((step, int(mem["rss"])))
            self.log(f"  {kind}: {step:,} edges, server RSS {mem['rss'] / MB:,.1f} MB "
                     f"(connected in {seconds[-1]:.1f}s)")
        self.result["memory"][kind] = {
            "points": points, "kib_per_edge": slope(points) / KiB,
            "kib_per_edge_top": (points[-1][1] - points[0][1]) / points[-1][0] / KiB,
            "peak_rss": server.call("status")["peak_rss"]}
        self.result["connect_seconds"][kind] = dict(zip(self.steps, seconds, strict=True))

    # -- 2. messages --

    def push(self, kind: str, run: int, per_edge: int, timed: bool) -> dict[str, Any]:
        server = self.servers[kind]
        before = self.all_clients("state", target=kind)
        pids = {f"{kind}-server": self.server_pids[kind]}
        prof_dir = self.profile / f"push-{kind}" if (self.profile and timed and run == 1) \
            else None
        with profiled(pids, prof_dir) as outs:
            got = server.call("push", timeout=600, per_edge=per_edge, run=run, deadline=300)
        after = self.all_clients("state", target=kind)
        got["client_cpu"] = sum(a["proc_cpu"] - b["proc_cpu"]
                                for a, b in zip(after, before, strict=True))
        got["client_acks"] = sum(a["acks"] - b["acks"] for a, b in zip(after, before,
                                                                       strict=True))
        got["rate"] = got["messages"] / got["seconds"]
        if outs:
            for name, path in outs.items():
                self.result["profiles"][f"push {name}"] = summarize_profile(
                    path, got["seconds"])
        return got

    def throughput(self) -> None:
        per_edge = self.mode.messages_per_edge
        for kind in ("hub", "echo"):
            self.push(kind, 0, 1, timed=False)  # warm-up
        samples: dict[str, list[dict[str, Any]]] = {"hub": [], "echo": []}
        for run in range(1, self.mode.throughput_runs + 1):
            order = ("hub", "echo") if run % 2 else ("echo", "hub")
            for kind in order:
                got = self.push(kind, run, per_edge, timed=True)
                samples[kind].append(got)
                self.log(f"  run {run} {kind}: {got['messages']:,} messages in "
                         f"{got['seconds']:.2f}s = {got['rate']:,.0f}/s (server CPU "
                         f"{got['server_cpu']:.1f}s, clients {got['client_cpu']:.1f}s)")
        self.result["throughput"] = samples
        for kind in ("hub", "echo"):
            self.result["memory"][kind]["after_messages"] = self.servers[kind].call("status")

    # -- 3. reconnect --

    def reconnect(self, run: int) -> None:
        old = self.servers.pop("hub")
        clients_cpu = [s["proc_cpu"] for s in self.all_clients("state", target="hub")]
        killed = time.monotonic()
        old.proc.kill()
        old.proc.join(10)
        old.conn.close()
        self.start_server("hub", self.ports["hub"])
        ready = time.monotonic()
        pids = {"hub-server": self.server_pids["hub"]}
        prof_dir = self.profile / "reconnect" if (self.profile and run == 1) else None
        limit = (self.timings.reconnect_interval + self.timings.connect_retries
                 * (self.timings.handshake_timeout + self.timings.connect_retry_interval)
                 + 120)
        with profiled(pids, prof_dir) as outs:
            while True:
                states = self.all_clients("state", target="hub", since=killed)
                back = sum(s["reconnected"] for s in states)
                if back >= self.edges:
                    break
                if time.monotonic() - killed > limit:
                    raise BenchError(f"reconnect: {back} of {self.edges} edges after "
                                     f"{limit:.0f}s ({states[0]['last_error']})")
                time.sleep(0.5)
        states = self.all_clients("state", target="hub", since=killed, times=True)
        times = [t for s in states for t in s["times"]]
        server = self.servers["hub"].call("status")
        client_cpu = sum(s["proc_cpu"] for s in states) - sum(clients_cpu)
        sample = {"seconds": max(times), "first": min(times),
                  "server_cpu": server["cpu_total"] - self.server_cpu_at_start["hub"],
                  "client_cpu": client_cpu,
                  "median": statistics.median(times), "p99": percentile(times, 0.99),
                  "server_ready": ready - killed, "server_connected": server["connected"],
                  "dial_failures": sum(s["failures"] for s in states),
                  "server_details": server["details"]}
        self.result["reconnect"].append(sample)
        if outs:
            for name, path in outs.items():
                self.result["profiles"][f"reconnect {name}"] = summarize_profile(
                    path, sample["seconds"] - sample["first"])
        self.log(f"  reconnect {run}: all {self.edges:,} edges back {sample['seconds']:.1f}s "
                 f"after the kill (first {sample['first']:.1f}s, median "
                 f"{sample['median']:.1f}s; new server up after {ready - killed:.1f}s; "
                 f"{sample['dial_failures']} failed dials; CPU: new server "
                 f"{sample['server_cpu']:.1f}s, clients {client_cpu:.1f}s)")

    # -- the whole run --

    def run(self, tmp: Path) -> None:
        self.make_certs(tmp)
        self.start_server("hub", free_port())
        self.start_clients(tmp)
        self.log(f"1. memory: CloudHub, steps {self.steps}")
        self.memory_steps("hub")
        self.start_server("echo", 0)
        self.log(f"1. memory: baseline server, steps {self.steps}")
        self.memory_steps("echo")
        self.log(f"2. messages: {self.mode.messages_per_edge} per edge, "
                 f"{self.mode.throughput_runs} runs each, alternating")
        self.throughput()
        self.all_clients("close", target="echo")
        self.servers.pop("echo").close()
        self.log(f"3. reconnect: kill -9 CloudHub, start a new one on port "
                 f"{self.ports['hub']} ({self.mode.reconnect_runs} runs)")
        for run in range(1, self.mode.reconnect_runs + 1):
            self.reconnect(run)
        self.result["clients_rss"] = [s["rss"] for s in
                                      self.all_clients("state", target="hub")]

    def summary(self) -> dict[str, Any]:
        r = self.result
        tp = r["throughput"]
        hub_rate = statistics.median(s["rate"] for s in tp["hub"])
        echo_rate = statistics.median(s["rate"] for s in tp["echo"])
        return {
            "mode": self.mode.name, "edges": self.edges, "steps": self.steps,
            "clients": self.clients_n, "edge_timings": asdict(self.timings),
            "mode_settings": asdict(self.mode),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(),
                        "load_at_end": os.getloadavg()},
            "info": {"source": source_state()},
            "kib_per_edge": r["memory"]["hub"]["kib_per_edge"],
            "kib_per_edge_baseline": r["memory"]["echo"]["kib_per_edge"],
            "acks_per_s": hub_rate, "acks_per_s_baseline": echo_rate,
            "protocol_cost": echo_rate / hub_rate,
            "reconnect_seconds": statistics.median(s["seconds"] for s in r["reconnect"]),
            **r,
        }


def report(s: dict[str, Any]) -> str:
    tp = s["throughput"]

    def med(kind: str, key: str) -> float:
        return statistics.median(x[key] for x in tp[kind])

    hub_mem, echo_mem = s["memory"]["hub"], s["memory"]["echo"]
    lines = [
        f"kubeedge-py CloudHub vs bare aiohttp WebSocket over the same TLS ({s['mode']}): "
        f"{s['edges']:,} edges in {s['clients']} client processes; "
        f"{s['machine']['cores']} cores, Python {s['machine']['python']}; "
        f"source {s['info']['source']}",
        "",
        f"{'edges':>8} {'CloudHub RSS':>14} {'baseline RSS':>14}",
    ]
    for (n, rss), (_, base) in zip(hub_mem["points"], echo_mem["points"], strict=True):
        lines.append(f"{n:>8,} {rss / MB:>11,.1f} MB {base / MB:>11,.1f} MB")
    lines += [
        f"KiB per connection (slope): CloudHub {s['kib_per_edge']:.1f}, baseline "
        f"{s['kib_per_edge_baseline']:.1f} "
        f"(ratio {s['kib_per_edge'] / s['kib_per_edge_baseline']:.2f}x); "
        f"(RSS at {s['edges']:,} - fresh) / edges: {hub_mem['kib_per_edge_top']:.1f} vs "
        f"{echo_mem['kib_per_edge_top']:.1f}",
        f"after the message runs: CloudHub RSS {hub_mem['after_messages']['rss'] / MB:,.1f} MB"
        f" (peak {hub_mem['after_messages']['peak_rss'] / MB:,.1f} MB), baseline "
        f"{echo_mem['after_messages']['rss'] / MB:,.1f} MB "
        f"(peak {echo_mem['after_messages']['peak_rss'] / MB:,.1f} MB)",
        "connect time per step (s): " + ", ".join(
            f"{kind} " + " ".join(f"{v:.1f}" for v in s["connect_seconds"][kind].values())
            for kind in ("hub", "echo")),
        "",
        f"messages ({s['mode_settings']['messages_per_edge']} ConfigMap updates per edge, "
        f"{tp['hub'][0]['frame_bytes']} B frames, {len(tp['hub'])} runs each, medians):",
        f"  CloudHub, ACKs reported/s: {s['acks_per_s']:>9,.0f}   (runs: "
        + ", ".join(f"{x['rate']:,.0f}" for x in tp["hub"]) + ")",
        f"  bare WebSocket, answers/s: {s['acks_per_s_baseline']:>9,.0f}   (runs: "
        + ", ".join(f"{x['rate']:,.0f}" for x in tp["echo"]) + ")",
        f"  baseline / CloudHub: {s['protocol_cost']:.2f}x; server CPU per message: "
        f"CloudHub {med('hub', 'server_cpu') / tp['hub'][0]['messages'] * 1e6:,.0f} us, "
        f"baseline {med('echo', 'server_cpu') / tp['echo'][0]['messages'] * 1e6:,.0f} us; "
        f"client CPU per message {med('hub', 'client_cpu') / tp['hub'][0]['messages'] * 1e6:,.0f}"
        f" us vs {med('echo', 'client_cpu') / tp['echo'][0]['messages'] * 1e6:,.0f} us",
        f"  CloudHub: mean ACK latency {med('hub', 'ack_latency_mean') * 1000:,.0f} ms, "
        f"resends {sum(x['resends'] for x in tp['hub'])}",
        "",
        "reconnect after kill -9 (edge timings " + json.dumps(s["edge_timings"]) + "):",
    ]
    for i, r in enumerate(s["reconnect"], 1):
        lines.append(f"  run {i}: all back after {r['seconds']:.1f}s (first {r['first']:.1f}s,"
                     f" median {r['median']:.1f}s, p99 {r['p99']:.1f}s; new server up "
                     f"{r['server_ready']:.1f}s; server sees {r['server_connected']:,}; "
                     f"{r['dial_failures']} failed dials; CPU s: server {r['server_cpu']:.1f}, "
                     f"clients {r['client_cpu']:.1f})")
    top = s["reconnect_seconds"]
    lines += [
        "",
        f"aims: <= {AIM_KIB_PER_EDGE:.0f} KiB per edge at 5,000: "
        f"{'met' if s['kib_per_edge'] <= AIM_KIB_PER_EDGE else 'OVER'} "
        f"({s['kib_per_edge']:.1f}); >= {AIM_ACKS_PER_S:,.0f} ACKs/s: "
        f"{'met' if s['acks_per_s'] >= AIM_ACKS_PER_S else 'SHORT'} ({s['acks_per_s']:,.0f}); "
        f"all reconnected within {AIM_RECONNECT_S:.0f}s: "
        f"{'met' if top <= AIM_RECONNECT_S else 'OVER'} ({top:.1f}s median)"
        + ("" if s["edges"] >= 5000 else " [the aims are for 5,000 edges: run the full mode]"),
    ]
    for phase, prof in s.get("profiles", {}).items():
        busy = ", ".join(f"{role} {share * 100:.0f}%" for role, share in prof["busy"].items())
        lines += ["", f"profile of {phase} ({prof['seconds']:.1f} s; busy: {busy}); the "
                  "event loop's time, self and with callees:"]
        for (name, own), (iname, incl) in zip(prof["self"][:14], prof["inclusive"][:14],
                                              strict=False):
            lines.append(f"  self {own * 100:5.1f}%  {name:<58.58} incl {incl * 100:5.1f}%  "
                         f"{iname}")
    return "\n".join(lines)


def plot(path: Path, out: Path) -> None:
    """docs/img/cloudhub.png from a results file (matplotlib: not a project dependency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = json.loads(path.read_text())
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4.2))
    for kind, color, label in (("hub", "#1f6fb4", "CloudHub"),
                               ("echo", "#9aa5b1", "bare aiohttp WebSocket")):
        pts = s["memory"][kind]["points"]
        ax1.plot([p[0] for p in pts], [p[1] / MB for p in pts], "o-", color=color,
                 label=f"{label}: {s['memory'][kind]['kib_per_edge']:.0f} KiB/edge")
    n = s["edges"]
    base = s["memory"]["hub"]["points"][0][1] / MB
    ax1.plot([0, n], [base, base + n * AIM_KIB_PER_EDGE / 1024], "--", color="#c0392b",
             label=f"aim: {AIM_KIB_PER_EDGE:.0f} KiB/edge")
    ax1.set(xlabel="connected edges", ylabel="server RSS (MB)", title="memory")
    ax1.legend(fontsize=8)
    tp = s["throughput"]
    for i, (kind, color) in enumerate((("hub", "#1f6fb4"), ("echo", "#9aa5b1"))):
        rates = [x["rate"] for x in tp[kind]]
        ax2.bar(i, statistics.median(rates), color=color)
        ax2.scatter([i] * len(rates), rates, s=10, color="black", zorder=3)
        ax2.annotate(f"{statistics.median(rates):,.0f}", (i, statistics.median(rates)),
                     ha="center", va="bottom")
    ax2.axhline(AIM_ACKS_PER_S, ls="--", color="#c0392b", label="aim")
    ax2.set_xticks([0, 1], ["CloudHub\nACKs/s", "bare WebSocket\nanswers/s"])
    ax2.set(title=f"messages, {n:,} edges (ratio {s['protocol_cost']:.2f}x)")
    ax2.legend(fontsize=8)
    for i, r in enumerate(s["reconnect"]):
        ax3.barh(i, r["seconds"] - r["first"], left=r["first"], color="#1f6fb4")
        ax3.plot([r["median"]], [i], "k|", ms=14)
    ax3.axvline(s["edge_timings"]["reconnect_interval"], color="#9aa5b1", ls=":",
                label="edges' reconnect wait")
    ax3.axvline(AIM_RECONNECT_S, ls="--", color="#c0392b", label="aim")
    ax3.set(xlabel="seconds after kill -9", title="reconnect (first to last edge)",
            yticks=range(len(s["reconnect"])),
            yticklabels=[f"run {i + 1}" for i in range(len(s["reconnect"]))])
    ax3.set_xlim(0, max(AIM_RECONNECT_S, max(r["seconds"] for r in s["reconnect"])) + 5)
    ax3.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 edges, 1 reconnect")
    parser.add_argument("--edges", type=int, default=None,
                        help="edges at the last step (5,000 full, 500 quick)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (2)")
    parser.add_argument("--runs", type=int, default=None, help="message runs per server")
    parser.add_argument("--reconnects", type=int, default=None, help="reconnect runs")
    parser.add_argument("--reconnect-interval", type=float, default=None,
                        help="the edges' wait before redialling (EdgeHub: 2 x heartbeat)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the samples (default benchmarks/results/"
                             "cloudhub-<mode>.json)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy the servers in the first message run and the first "
                             "reconnect; raw stacks go to DIR")
    parser.add_argument("--plot", nargs="?", const="", default=None, metavar="JSON",
                        help="only plot a results file (default the full one) to "
                             "docs/img/cloudhub.png")
    args = parser.parse_args(argv)
    if args.plot is not None:
        plot(Path(args.plot) if args.plot else REPO / "benchmarks/results/cloudhub-full.json",
             REPO / "docs/img/cloudhub.png")
        return 0
    mode = MODES["quick" if args.quick else "full"]
    if args.runs or args.reconnects:
        mode = Mode(mode.name, mode.steps, mode.messages_per_edge,
                    args.runs or mode.throughput_runs, args.reconnects or mode.reconnect_runs,
                    mode.deadline_seconds)
    edges = args.edges or mode.steps[-1]
    timings = EdgeTimings.defaults()
    if args.reconnect_interval is not None:
        timings = EdgeTimings(**{**asdict(timings),
                                 "reconnect_interval": args.reconnect_interval})
    out = args.json or REPO / f"benchmarks/results/cloudhub-{mode.name}.json"
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    raise_nofile()
    arm_deadline(mode.deadline_seconds)
    started = time.monotonic()
    bench = Bench(mode, edges, args.clients, timings, args.profile, log)
    with tempfile.TemporaryDirectory(prefix="kubeedge-cloudhub-bench-") as tmp:
        try:
            bench.run(Path(tmp))
            summary = bench.summary()
        finally:
            signal.alarm(0)
            log("stopping the servers and the edges ...")
            bench.stop()
    summary["info"]["total_seconds"] = time.monotonic() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print(report(summary))
    print(f"\nall samples: {out}  ({summary['info']['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
