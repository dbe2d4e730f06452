"""The real kubectl 1.32 against serve_port_forward, behind a minimal API stand-in that
answers discovery and the pod GET and hands `pods/portforward` to the route unchanged:
WebSocket `SPDY/3.1+portforward.k8s.io` first, and the SPDY/3.1 fallback when the
WebSocket upgrade is refused (spec k8s-api.md §6)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from kubeedge.streaming.http import read_request_head, read_response_head, response_head
from kubeedge.streaming.portforward import serve_port_forward
from tests.fixtures.cluster import KUBECTL_HINT

pytestmark = pytest.mark.kubectl


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    if shutil.which("kubectl") is None:
        pytest.fail(KUBECTL_HINT)  # not a skip: make test needs kubectl on the PATH

BIG = bytes(range(256)) * 16384  # 4 MiB
POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
       "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}}
DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                "resources": [{"name": "pods", "singularName": "pod", "namespaced": True,
                               "kind": "Pod", "verbs": ["get"]}]},
    "/api/v1/namespaces/default/pods/web": POD,
}


def _json(status: int, obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return response_head(status, [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))]) + body


async def _web_pod(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The pod's port 80: HTTP/1.1 answering /big with 4 MiB, anything else with "hi"."""
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while line := await reader.readline():
            while (await reader.readline()).strip():
                pass
            body = BIG if b"/big" in line else b"hi\n"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    writer.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, headers = await read_response_head(reader)
    assert status == 200
    body = await reader.readexactly(int(dict(headers)["Content-Length"]))
    writer.close()
    return body


@pytest.mark.parametrize("refuse_websocket", [False, True], ids=["websocket", "spdy"])
async def test_kubectl_port_forward(serve, tmp_path: Path, refuse_websocket: bool) -> None:
    pod_port = await serve(_web_pod)
    upgrades: list[str] = []

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert port == 80
        return await asyncio.open_connection("127.0.0.1", pod_port)

    async def api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await read_request_head(reader)
                if head.path.endswith("/portforward"):
                    upgrades.append(head.header("Upgrade") or "")
                    if refuse_websocket and upgrades[-1].lower() == "websocket":
                        writer.write(_json(400, {"kind": "Status", "code": 400}))
                        await writer.drain()
                        continue
                    await serve_port_forward(reader, writer, head, dial)
                    return
                found = DISCOVERY.get(head.path)
                writer.write(_json(200, found) if found else _json(404, {"kind": "Status"}))
                await writer.drain()

    api_port = await serve(api)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{api_port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                               "namespace": "default"}}]}))
    local = _free_port()
    kubectl = await asyncio.create_subprocess_exec(
        shutil.which("kubectl") or "kubectl", "--kubeconfig", str(kubeconfig),
        "port-forward", "pod/web", f"{local}:80", "--address", "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert kubectl.stdout is not None
        line = await asyncio.wait_for(kubectl.stdout.readline(), 30)
        assert b"Forwarding from" in line, line
        assert await _get(local, "/") == b"hi\n"
        assert await _get(local, "/again") == b"hi\n"
        bodies = await asyncio.wait_for(
            asyncio.gather(*(_get(local, f"/{i}") for i in range(20)),
                           *(_get(local, "/big") for i in range(3))), 60)
        assert bodies[:20] == [b"hi\n"] * 20
        assert {hashlib.sha256(b).digest() for b in bodies[20:]} == {
            hashlib.sha256(BIG).digest()}
        assert upgrades[-1] == ("SPDY/3.1" if refuse_websocket else "websocket")
    finally:
        kubectl.kill()
        await kubectl.wait()
