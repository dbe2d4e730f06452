"""Probe workers on a FakeClock (kubelet's worker.go semantics) and the probes themselves
against real local HTTP and TCP servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.edge.edged.probes import ProbeManager, ProbeResult, run_probe
from kubeedge.edge.runtime import ExecSyncResult, ExecTimeout, RuntimeServiceError

Obj = dict[str, Any]


class FakeRuntime:
    """exec_sync answers from a per-command script: an int exit code, or an exception."""

    def __init__(self) -> None:
        self.answers: dict[str, Callable[[], int | BaseException]] = {}
        self.calls: list[tuple[str, list[str], float]] = []

    def answer(self, program: str, value: int | BaseException) -> None:
        self.answers[program] = lambda: value

    async def exec_sync(self, container_id: str, cmd: Sequence[str],
                        timeout: float) -> ExecSyncResult:
        self.calls.append((container_id, list(cmd), timeout))
        got = self.answers.get(cmd[0], lambda: 0)()
        if isinstance(got, BaseException):
            raise got
        return ExecSyncResult(f"out:{cmd[0]}".encode(), b"", got)

    def count(self, program: str) -> int:
        return sum(1 for _, cmd, _ in self.calls if cmd[0] == program)


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.runtime = FakeRuntime()
        self.changes: list[tuple[str, str, str, bool]] = []
        self.events: list[tuple[str, str]] = []
        self.manager = ProbeManager(
            self.runtime, self.clock, lambda *a: self.changes.append(a),  # type: ignore[arg-type]
            on_event=lambda uid, c, typ, reason, msg: self.events.append((reason, msg)))

    async def tick(self, seconds: float, workers: int = 1) -> None:
        """Advance fake time, then wait (bounded, real time) until every worker is parked
        again, i.e. any probe the tick started has finished."""
        await self.clock.advance(seconds)
        await self.clock.wait_for_sleepers(workers)

    def kinds(self, kind: str) -> list[bool]:
        return [r for _, _, k, r in self.changes if k == kind]


POD: Obj = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"}}


def exec_probe(program: str, **fields: Any) -> Obj:
    return {"exec": {"command": [program]}, **fields}


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.manager.close()


# ---------------------------------------------------------------------------- workers


async def test_readiness_starts_false_and_follows_thresholds(h: Harness) -> None:
    container = {"name": "app", "readinessProbe": exec_probe(
        "ready", periodSeconds=5, successThreshold=2, failureThreshold=2)}
    h.manager.add(POD, container, "c1", "10.0.0.1")
    assert not h.manager.ready("u1", "app")
    await h.clock.wait_for_sleepers(1)          # first probe ran at once: 1 success of 2
    assert h.runtime.count("ready") == 1
    assert h.changes == []
    await h.tick(5)
    assert h.manager.ready("u1", "app")
    assert h.changes == [("u1", "app", "readiness", True)]

    h.runtime.answer("ready", 1)
    await h.tick(5)
    assert h.manager.ready("u1", "app")         # 1 failure of 2
    await h.tick(5)
    assert not h.manager.ready("u1", "app")
    await h.tick(5)
    assert h.kinds("readiness") == [True, False]  # reported once per change
    assert h.manager.result("u1", "app", "readiness") == ProbeResult(False, "out:ready")
    assert ("Unhealthy", "Readiness probe failed: out:ready") in h.events


async def test_liveness_failure_reported_once_then_held_until_new_container(h: Harness) -> None:
    container = {"name": "app", "livenessProbe": exec_probe("alive", periodSeconds=10)}
    h.runtime.answer("alive", 1)
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(1)
    await h.tick(10)
    assert h.changes == []                      # 2 failures < failureThreshold 3
    await h.tick(10)
    assert h.changes == [("u1", "app", "liveness", False)]
    calls = h.runtime.count("alive")
    for _ in range(3):
        await h.tick(10)
    assert h.runtime.count("alive") == calls    # on hold: the caller restarts it
    assert h.changes == [("u1", "app", "liveness", False)]

    h.runtime.answer("alive", 0)
    h.manager.add(POD, container, "c2", "")     # the restarted container
    assert h.changes[-1] == ("u1", "app", "liveness", True)
    await h.tick(10)
    assert h.runtime.calls[-1][0] == "c2"


async def test_initial_delay_counts_from_container_start(h: Harness) -> None:
    container = {"name": "app", "readinessProbe": exec_probe(
        "ready", initialDelaySeconds=15, periodSeconds=10)}
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(1)
    await h.tick(10)
    assert h.runtime.count("ready") == 0        # t=0 and t=10 are inside the delay
    await h.tick(10)
    assert h.runtime.count("ready") == 1
    assert h.manager.ready("u1", "app")


async def test_startup_gates_liveness_and_readiness(h: Harness) -> None:
    container = {"name": "app",
                 "startupProbe": exec_probe("startup", periodSeconds=1, failureThreshold=30),
                 "livenessProbe": exec_probe("alive", periodSeconds=1),
                 "readinessProbe": exec_probe("ready", periodSeconds=1)}
    h.runtime.answer("startup", 1)
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(3)
    for _ in range(3):
        await h.tick(1, workers=3)
    assert not h.manager.started("u1", "app")
    assert not h.manager.ready("u1", "app")
    assert h.runtime.count("alive") == h.runtime.count("ready") == 0
    assert h.changes == []

    h.runtime.answer("startup", 0)
    await h.tick(1, workers=3)
    assert h.manager.started("u1", "app")
    assert ("u1", "app", "startup", True) in h.changes
    await h.tick(1, workers=3)
    assert h.runtime.count("alive") >= 1 and h.runtime.count("ready") >= 1
    assert h.manager.ready("u1", "app")
    startup_calls = h.runtime.count("startup")
    await h.tick(1, workers=3)
    assert h.runtime.count("startup") == startup_calls  # no probing once started


async def test_startup_failure_threshold_asks_for_restart(h: Harness) -> None:
    container = {"name": "app", "startupProbe": exec_probe("startup", failureThreshold=2,
                                                           periodSeconds=3)}
    h.runtime.answer("startup", ExecTimeout("slow"))
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(1)
    await h.tick(3)
    assert h.changes == [("u1", "app", "startup", False)]
    assert h.manager.result("u1", "app", "startup") == ProbeResult(
        False, 'command "startup" timed out')
    await h.tick(3)
    await h.tick(3)
    assert h.changes == [("u1", "app", "startup", False)]
    # a new container starts unknown again; that is no new "False" for the caller
    h.manager.add(POD, container, "c2", "")
    assert h.changes == [("u1", "app", "startup", False)]


async def test_probe_that_errors_is_thrown_away(h: Harness) -> None:
    container = {"name": "app", "livenessProbe": exec_probe("alive", failureThreshold=1)}
    h.runtime.answer("alive", RuntimeServiceError("container c1 is not running"))
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(1)
    await h.tick(10)
    assert h.changes == []                      # an error is not a failure
    assert h.runtime.count("alive") == 6        # 3 tries per run, as maxProbeRetries
    assert ("Unhealthy", "Liveness probe errored: container c1 is not running") in h.events


async def test_exec_probe_gets_default_timeout_and_static_env(h: Harness) -> None:
    container = {"name": "app", "env": [{"name": "PORT", "value": "8080"},
                                        {"name": "FROM", "valueFrom": {"fieldRef": {}}}],
                 "readinessProbe": {"exec": {"command": ["check", "$(PORT)", "$(FROM)x",
                                                         "$(NOPE)"]}}}
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(1)
    assert h.runtime.calls == [("c1", ["check", "8080", "x", "$(NOPE)"], 1.0)]


async def test_remove_stops_workers(h: Harness) -> None:
    container = {"name": "app", "readinessProbe": exec_probe("ready"),
                 "livenessProbe": exec_probe("alive")}
    h.manager.add(POD, container, "c1", "")
    await h.clock.wait_for_sleepers(2)
    h.manager.remove("u1", "app")
    await h.clock.settle()
    assert h.clock.sleepers == 0
    calls = len(h.runtime.calls)
    await h.clock.advance(60)
    assert len(h.runtime.calls) == calls
    assert h.manager.ready("u1", "app")         # no probes known: kubelet's "ready"


# ------------------------------------------------------------------ real HTTP and TCP


class HTTPServer:
    def __init__(self) -> None:
        self.status = 200
        self.location = ""
        self.requests: list[str] = []
        self.hang = False
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head.decode())
            if self.hang:
                await asyncio.sleep(30)
            path = head.split(b" ")[1].decode()
            status = 500 if path == "/broken" else self.status
            extra = f"Location: {self.location}\r\n" if self.location and path != "/broken" \
                else ""
            body = b"ok-body"
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HTTPServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PROBE_FIELDS = ("periodSeconds", "failureThreshold", "successThreshold", "timeoutSeconds",
                 "initialDelaySeconds")


def http_probe(port: Any, **fields: Any) -> Obj:
    probe = {k: fields.pop(k) for k in _PROBE_FIELDS if k in fields}
    return {"httpGet": {"port": port, "path": "/healthz", **fields}, **probe}


async def test_http_probe_status_codes_headers_and_named_port() -> None:
    runtime = FakeRuntime()
    async with HTTPServer() as srv:
        container = {"name": "app", "ports": [{"name": "http", "containerPort": srv.port}]}
        got = await run_probe(runtime, http_probe("http", httpHeaders=[
            {"name": "X-Probe", "value": "yes"}]), container, "c1", "127.0.0.1")
        assert got == ProbeResult(True, "ok-body")
        request = srv.requests[-1]
        assert request.startswith("GET /healthz HTTP/1.1")
        assert "X-Probe: yes" in request and "User-Agent: kube-probe/1.32" in request

        srv.status = 503
        got = await run_probe(runtime, http_probe(srv.port), container, "c1", "127.0.0.1")
        assert got == ProbeResult(False, "HTTP probe failed with statuscode: 503")

        srv.status, srv.location = 302, "http://elsewhere.example/"
        got = await run_probe(runtime, http_probe(srv.port), container, "c1", "127.0.0.1")
        assert got.ok and got.warning and got.output.startswith("Probe terminated redirects")

        srv.location = "/broken"                # same host: followed, and 500 there fails
        got = await run_probe(runtime, http_probe(srv.port), container, "c1", "127.0.0.1")
        assert got == ProbeResult(False, "HTTP probe failed with statuscode: 500")


async def test_http_probe_connection_refused_and_timeout() -> None:
    runtime = FakeRuntime()
    port = free_port()
    got = await run_probe(runtime, http_probe(port), {}, "c1", "127.0.0.1")
    assert not got.ok
    assert got.output == (f'Get "http://127.0.0.1:{port}/healthz": dial tcp '
                          f"127.0.0.1:{port}: connect: connection refused")
    async with HTTPServer() as srv:
        srv.hang = True
        got = await run_probe(runtime, http_probe(srv.port, host="127.0.0.1"), {}, "c1", "")
        assert not got.ok and "context deadline exceeded" in got.output


async def test_named_port_that_does_not_exist_is_an_error() -> None:
    from kubeedge.edge.edged.probes import ProbeError

    with pytest.raises(ProbeError, match="port web not found"):
        await run_probe(FakeRuntime(), http_probe("web"), {"ports": []}, "c1", "127.0.0.1")


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        got = await run_probe(FakeRuntime(), {"tcpSocket": {"port": port}}, {}, "c1",
                              "127.0.0.1")
        assert got == ProbeResult(True, "")
    finally:
        server.close()
        await server.wait_closed()
    closed = free_port()
    got = await run_probe(FakeRuntime(), {"tcpSocket": {"port": closed, "host": "127.0.0.1"}},
                          {}, "c1", "")
    assert got == ProbeResult(False, f"dial tcp 127.0.0.1:{closed}: connect: connection refused")


async def test_grpc_probe_is_reported_unsupported() -> None:
    got = await run_probe(FakeRuntime(), {"grpc": {"port": 9000}}, {}, "c1", "127.0.0.1")
    assert not got.ok and "gRPC probes are not supported" in got.output


async def test_manager_with_real_http_server(h: Harness) -> None:
    async with HTTPServer() as srv:
        container = {"name": "web", "readinessProbe": http_probe(srv.port, periodSeconds=2,
                                                                 failureThreshold=1)}
        h.manager.add(POD, container, "c1", "127.0.0.1")
        await h.clock.wait_for_sleepers(1)
        assert h.manager.ready("u1", "web")
        srv.status = 500
        await h.tick(2)
        assert not h.manager.ready("u1", "web")
        assert h.kinds("readiness") == [True, False]
