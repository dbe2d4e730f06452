"""Edged's kubelet-style server end to end on loopback: a real Edged running real pods
on the real process runtime (the MetaClient is a stand-in that serves the pod list and
records statuses), the real StatsProvider, and clients speaking HTTP/1.1, WebSocket v5
(the real `websockets` client) and SPDY to it, as EdgeStream's replayed requests do
(issue 8; kubelet's server routes)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kubeedge.edge.edged.edged import Edged, EdgedSettings
from kubeedge.edge.edged.server import EdgedServer
from kubeedge.edge.edged.stats import StatsProvider
from kubeedge.edge.runtime import cgroups
from kubeedge.edge.runtime.process import ProcessRuntime
from kubeedge.messaging.bus import ModuleBus
from kubeedge.streaming.http import (
    header_value,
    read_chunks,
    read_response_head,
    request_head,
)
from tests.fixtures.cluster import eventually, free_port

Obj = dict[str, Any]


class Meta:
    """MetaClient's surface for Edged: the pod list, statuses kept, the rest dropped."""

    def __init__(self, pods: list[Obj]) -> None:
        self.pods = pods
        self.statuses: dict[str, Obj] = {}

    async def list_pods(self) -> list[Obj]:
        return copy.deepcopy(self.pods)

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return None

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return None

    async def get_service_account_token(self, namespace: str, sa: str, request: Obj) -> Obj:
        raise LookupError("no tokens here")

    async def update_pod_status(self, pod: Obj, status: Obj) -> None:
        self.statuses[pod["metadata"]["name"]] = copy.deepcopy(status)

    async def confirm_pod_deleted(self, pod: Obj) -> None:
        return None

    async def send_event(self, event: Obj) -> None:
        return None

    def container(self, pod: str) -> Obj:
        return ((self.statuses.get(pod) or {}).get("containerStatuses") or [{}])[0]


def make_pod(name: str, script: str, *, policy: str = "Always") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "uid": f"uid-{name}-{secrets.token_hex(3)}", "resourceVersion": "1"},
            "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sh", "-c", script]}]},
            "status": {"phase": "Pending"}}


class Node:
    def __init__(self, tmp: Path, edged: Edged, server: EdgedServer, stats: StatsProvider,
                 meta: Meta, pods: dict[str, Obj]) -> None:
        self.tmp = tmp
        self.edged = edged
        self.server = server
        self.stats = stats
        self.meta = meta
        self.pods = pods

    @property
    def port(self) -> int:
        return self.server.port

    async def running(self, pod: str, restarts: int = 0) -> None:
        await eventually(lambda: "running" in (self.meta.container(pod).get("state") or {})
                         and self.meta.container(pod).get("restartCount", 0) >= restarts,
                         timeout=30, what=f"pod {pod} running ({restarts} restarts)")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    parent = f"kubeedge-test-{secrets.token_hex(4)}"
    runtime = ProcessRuntime(tmp_path, cgroup_parent=parent, network=False)
    gate = tmp_path / "gate"
    http_port = free_port()
    counter = tmp_path / "attempts"
    pods = {
        "web": make_pod("web", "echo one; echo two; echo three; exec sleep 1000"),
        # Exits 1 on its first run only: then `previous` is attempt 1 for good.
        "crash": make_pod("crash", f'n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); '
                                   f'echo $n > {counter}; echo attempt-$n; '
                                   f'[ $n -ge 2 ] && exec sleep 1000; exit 1'),
        # Runs until the test creates the gate file.
        "short": make_pod("short", f"echo begin; while [ ! -e {gate} ]; do sleep 0.05; "
                                   "done; echo end", policy="Never"),
        # A web server for port-forward (the host's network: the runtime's pods have no
        # network of their own here).
        "http": make_pod("http", f"exec python3 -m http.server {http_port} "
                                 "--bind 127.0.0.1"),
    }
    pods["http"]["metadata"]["annotations"] = {"test/port": str(http_port)}
    meta = Meta(list(pods.values()))
    settings = EdgedSettings(
        node_name="edge-s", node_ip="127.0.0.1", pods_dir=tmp_path / "kubelet/pods",
        pod_logs_dir=tmp_path / "var/log/pods", state_dir=tmp_path / "edged",
        pleg_relist_period=0.1, sync_frequency=60, backoff_initial=0.2, backoff_max=1,
        gpus=(), min_grace=0.5)
    edged = Edged(settings, ModuleBus(), runtime, meta)
    await edged.start()
    stats = StatsProvider(runtime, edged.pods, node_name="edge-s", interval=0.2)
    stats.start()
    server = EdgedServer(edged, runtime, stats, address="127.0.0.1", port=0,
                         stream_creation_timeout=5)
    assert await server.start() == server.port != 0
    yield Node(tmp_path, edged, server, stats, meta, pods)
    await server.stop()
    await stats.stop()
    await edged.remove_all(0.5)
    await edged.stop()
    for mount in {*cgroups._v1_mounts().values(), cgroups.DEFAULT_BASE}:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(mount, parent))


# ---- plain HTTP -----------------------------------------------------------------------


async def get(port: int, target: str, *, headers: Sequence[tuple[str, str]] = ()
              ) -> tuple[int, list[tuple[str, str]], bytes]:
    """One GET; the body by its length or chunks, and the server must then close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_head("GET", target, [("Host", "edge-s"), *headers]))
        status, _, resp_headers = await read_response_head(reader)
        if (header_value(resp_headers, "Transfer-Encoding") or "").lower() == "chunked":
            body = b"".join([c async for c in read_chunks(reader)])
        else:
            body = await reader.readexactly(int(header_value(resp_headers,
                                                             "Content-Length") or 0))
        assert await asyncio.wait_for(reader.read(), 10) == b""  # Connection: close
        return status, resp_headers, body
    finally:
        writer.close()


async def test_health_pods_and_unknown_paths(node: Node) -> None:
    status, headers, body = await get(node.port, "/healthz",
                                      headers=[("Connection", "keep-alive")])
    assert (status, body) == (200, b"ok")
    assert header_value(headers, "Connection") == "close"
    status, _, body = await get(node.port, "/pods")
    names = {p["metadata"]["name"] for p in json.loads(body)["items"]}
    assert status == 200 and names == {"web", "crash", "short", "http"}
    status, _, body = await get(node.port, "/nope")
    assert (status, body) == (404, b"404 page not found\n")
    status, headers, _ = await get(node.port, "/exec/default/web/c/x/y")
    assert status == 404
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(request_head("DELETE", "/pods", [("Host", "edge-s")]))
    status, _, headers = await read_response_head(reader)
    assert status == 405 and header_value(headers, "Allow") == "GET"
    writer.close()


async def test_logs_tail_timestamps_and_errors(node: Node) -> None:
    await node.running("web")
    await eventually(lambda: _log_has(node, "web", b"three"), what="web's log")
    status, headers, body = await get(node.port, "/containerLogs/default/web/c?tailLines=2")
    assert (status, body) == (200, b"two\nthree\n")
    assert header_value(headers, "Content-Type") == "text/plain"
    _, _, body = await get(node.port, "/containerLogs/default/web/c?timestamps=true")
    first = body.splitlines()[0]
    assert first.endswith(b"Z one") and first[:4].isdigit()
    status, _, body = await get(node.port, "/containerLogs/default/nope/c")
    assert (status, body) == (404, b'pod "nope" does not exist\n')
    status, _, body = await get(node.port, "/containerLogs/default/web/x")
    assert (status, body) == (404, b'container "x" not found in pod "web"\n')
    status, _, body = await get(node.port, "/containerLogs/default/web/c?previous=true")
    assert (status, body) == (400, b'previous terminated container "c" in pod "web" '
                                   b'not found\n')
    status, _, body = await get(node.port, "/containerLogs/default/web/c?tailLines=-1")
    assert status == 400 and b"tailLines" in body


def _log_has(node: Node, pod: str, text: bytes) -> bool:
    logs = node.tmp / "var/log/pods"
    return any(text in p.read_bytes() for p in logs.rglob("*.log")
               if f"_{pod}_" in str(p))


async def test_previous_reads_the_last_terminated_attempt(node: Node) -> None:
    await node.running("crash", restarts=1)
    status, _, body = await get(node.port, "/containerLogs/default/crash/c?previous=true")
    assert (status, body) == (200, b"attempt-1\n")
    await eventually(lambda: _log_has(node, "crash", b"attempt-2"), what="attempt 2 logged")
    status, _, body = await get(node.port, "/containerLogs/default/crash/c")
    assert (status, body) == (200, b"attempt-2\n")


async def test_follow_streams_until_the_container_ends(node: Node) -> None:
    await node.running("short")
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(request_head("GET", "/containerLogs/default/short/c?follow=true",
                              [("Host", "edge-s")]))
    status, _, _ = await read_response_head(reader)
    assert status == 200
    chunks = read_chunks(reader)
    got = b""
    while b"begin\n" not in got:
        got += await asyncio.wait_for(anext(chunks), 10)
    (node.tmp / "gate").touch()
    async for chunk in chunks:  # ends (the last chunk) once the container has exited
        got += chunk
    assert got == b"begin\nend\n"
    writer.close()


async def test_follow_stops_when_the_client_leaves(node: Node) -> None:
    await node.running("web")
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(request_head("GET", "/containerLogs/default/web/c?follow=true",
                              [("Host", "edge-s")]))
    await read_response_head(reader)
    await eventually(lambda: len(node.server._connections) == 1, what="session open")
    writer.close()
    await eventually(lambda: not node.server._connections, what="follower ended")


async def test_stats_summary_and_resource_metrics(node: Node) -> None:
    await node.running("web")
    # Two samples from now: the second one started after web was running.
    seen = node.stats.samples
    await eventually(lambda: node.stats.samples >= seen + 2, what="two stats samples")
    status, headers, body = await get(node.port, "/stats/summary")
    assert status == 200 and header_value(headers, "Content-Type") == "application/json"
    summary = json.loads(body)
    assert summary["node"]["nodeName"] == "edge-s"
    web = next(p for p in summary["pods"] if p["podRef"]["name"] == "web")
    assert web["containers"][0]["name"] == "c"
    assert "usageCoreNanoSeconds" in web["containers"][0]["cpu"]
    status, _, body = await get(node.port, "/metrics/resource")
    assert status == 200 and b'container_cpu_usage_seconds_total{container="c"' in body
    assert (await get(node.port, "/metrics"))[0] == 404  # no metrics_text given


# ---- exec and attach ------------------------------------------------------------------


def exec_target(pod: str, command: Sequence[str], uid: str = "", **flags: str) -> str:
    path = f"/exec/default/{pod}/{uid}/c" if uid else f"/exec/default/{pod}/c"
    return path + "?" + urlencode([("command", c) for c in command] + list(flags.items()))


async def ws_session(port: int, target: str, stdin: Sequence[bytes] = ()
                     ) -> dict[int, bytes]:
    """A v5 session with the real websockets client: stdin sent, then closed with
    [255, 0]; every channel's bytes until the server closes."""
    async with connect(f"ws://127.0.0.1:{port}{target}",
                       subprotocols=["v5.channel.k8s.io"], ping_interval=None) as ws:
        assert ws.subprotocol == "v5.channel.k8s.io"
        for data in stdin:
            await ws.send(b"\x00" + data)
        if stdin:
            await ws.send(bytes([255, 0]))
        out: dict[int, bytes] = {}
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await asyncio.wait_for(ws.recv(), 20)
                assert isinstance(message, bytes)
                out[message[0]] = out.get(message[0], b"") + message[1:]
    return out


async def test_exec_exit_code_and_output(node: Node) -> None:
    await node.running("web")
    got = await ws_session(node.port, exec_target("web", ["sh", "-c", "echo hi; exit 3"],
                                                  output="1", error="1"))
    assert got[1] == b"hi\n"
    status = json.loads(got[3])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_exec_stdin_with_the_pod_uid(node: Node) -> None:
    await node.running("web")
    uid = node.pods["web"]["metadata"]["uid"]
    got = await ws_session(node.port, exec_target("web", ["cat"], uid=uid, input="1",
                                                  output="1", error="1"), [b"x\n"])
    assert got[1] == b"x\n"
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}


async def test_exec_with_a_tty(node: Node) -> None:
    await node.running("web")
    got = await ws_session(node.port, exec_target(
        "web", ["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty"], input="1",
        output="1", tty="1"), [])
    assert b"is-a-tty" in got[1]
    assert json.loads(got[3])["status"] == "Success"


async def test_exec_refusals(node: Node) -> None:
    await node.running("web")
    status, _, body = await get(node.port, exec_target("web", ["true"], uid="other-uid",
                                                       output="1"))
    assert (status, body) == (404, b"pod does not exist\n")
    status, _, body = await get(node.port, exec_target("web", ["true"]).replace(
        "/c?", "/x?") + "&output=1")
    assert (status, body) == (404, b'container not found ("x")\n')
    status, _, body = await get(node.port, exec_target("web", ["true"]))
    assert status == 400 and b"you must specify at least 1 of stdin" in body
    status, _, body = await get(node.port, "/exec/default/web/c?output=1")
    assert status == 400


async def test_exec_of_a_missing_program_reports_the_error(node: Node) -> None:
    await node.running("web")
    got = await ws_session(node.port, exec_target("web", ["/no/such/program"],
                                                  output="1"))
    status = json.loads(got[3])
    assert status["status"] == "Failure"
    assert status["reason"] in ("InternalError", "NonZeroExitCode")


async def test_exec_over_spdy(node: Node) -> None:
    # kubectl's fallback when the WebSocket upgrade is refused (k8s-api.md §6).
    from kubeedge.streaming.spdy import connect_spdy

    await node.running("web")
    session, chosen = await connect_spdy(
        "127.0.0.1", node.port, exec_target("web", ["sh", "-c", "read x; echo got $x"],
                                            input="1", output="1", error="1"),
        ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
         "v2.channel.k8s.io", "channel.k8s.io"])
    assert chosen == "v4.channel.k8s.io"
    error = await session.open_stream({"streamType": "error"})
    stdin = await session.open_stream({"streamType": "stdin"})
    stdout = await session.open_stream({"streamType": "stdout"})
    await session.open_stream({"streamType": "stderr"})
    await stdin.write(b"it\n")
    await stdin.close()
    out = b""
    while data := await asyncio.wait_for(stdout.read(), 20):
        out += data
    status = b""
    while data := await asyncio.wait_for(error.read(), 20):
        status += data
    assert out == b"got it\n"
    assert json.loads(status) == {"metadata": {}, "status": "Success"}
    await session.close()


async def test_port_forward_websocket_channels(node: Node) -> None:
    # The Python client's framing: v4 channels, ?ports=, [channel, port lo, port hi]
    # first on each channel.
    await node.running("http")
    port = int(node.pods["http"]["metadata"]["annotations"]["test/port"])

    async def serving() -> bool:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        w.close()
        return True

    await eventually(serving, timeout=30, what="the pod's web server")
    async with connect(f"ws://127.0.0.1:{node.port}/portForward/default/http?ports={port}",
                       subprotocols=["v4.channel.k8s.io"], ping_interval=None) as ws:
        prefix = port.to_bytes(2, "little")
        first = {await asyncio.wait_for(ws.recv(), 10), await asyncio.wait_for(ws.recv(), 10)}
        assert first == {b"\x00" + prefix, b"\x01" + prefix}
        await ws.send(b"\x00GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while b"200" not in data:
            message = await asyncio.wait_for(ws.recv(), 20)
            assert isinstance(message, bytes)
            if message[0] == 0:
                data += message[1:]
        assert data.startswith(b"HTTP/1.0 200")
