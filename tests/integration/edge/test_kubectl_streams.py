"""kubectl logs, exec, attach, port-forward and top for edge pods (issue 8 "Must show").

A real cloud (`keadm init`: API server, cloudcore with CloudStream), one edge joined with
the real `keadm join` (EdgeStream and edged's server on by default), and the real
kubectl 1.32 and `kubernetes` Python client. Nothing is configured for the tunnel beyond
the test's random ports: every request goes kubectl → API server → cloudcore's stream
server → the tunnel → edged's server on the edge.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster import Cloud, eventually, free_port, running_cloud, wait_until
from tests.integration.edge import edgepods as ep

NODE = "edge-streams"

# Edged samples stats every second here (kubelet's housekeeping is 10 s), so `kubectl
# top` has a rate within a few seconds.
EDGE_SETS = ("modules.edged.housekeepingInterval=1s",)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    # node-ipam gives the edge a podCIDR: pods get their own network namespace (a web
    # server on port 80 each, exec in the pod's UTS namespace).
    with running_cloud(tmp_path_factory.mktemp("streams"),
                       controllers=(*ep.CONTROLLERS, "node-ipam"), scheduler=True) as c:
        yield c


@pytest.fixture(scope="module")
def edge(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("edge") / "root"
    try:
        ep.join_edge(cloud, root, NODE, *EDGE_SETS)
        wait_until(lambda: _stream_ready(cloud), timeout=30,
                   what="the edge's tunnel recorded on its Node")
        yield root
    finally:
        ep.reset_edge(root, cloud)


def _stream_ready(cloud: Cloud) -> bool:
    node = cloud.kubectl("get", "node", NODE, "-o", "json", check=False)
    if node.returncode != 0:
        return False
    annotations = json.loads(node.stdout)["metadata"].get("annotations") or {}
    return bool(annotations.get("kubeedge.io/stream-server"))


# A web server on port 80 in the pod's own network namespace, with a shell beside it.
WEB = """
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
print("serving", flush=True)
socketserver.ThreadingTCPServer(("0.0.0.0", 80), H).serve_forever()
"""


async def _run_pod(cloud: Cloud, pod: dict[str, Any], *, ready: bool = True) -> None:
    await asyncio.to_thread(ep.apply, cloud, pod)
    name = pod["metadata"]["name"]
    if ready:
        await ep.wait_pod(cloud, name, ep.is_ready, 30, "Ready")


@pytest.fixture(scope="module")
def web(cloud: Cloud, edge: Path) -> str:
    pod = ep.python_pod("web", WEB, node=NODE)
    asyncio.run(_run_pod(cloud, pod))
    return "web"


def kubectl(cloud: Cloud, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return cloud.kubectl(*args, check=False, **kw)


# --- logs ---------------------------------------------------------------------------


COUNT = """
import sys, time
for i in range(1, 6):
    print(f"line {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
    time.sleep(0.2)
"""


async def test_logs_follow_tail_timestamps_and_container(cloud: Cloud, edge: Path) -> None:
    pod = ep.python_pod("counter", COUNT, node=NODE)
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"].append(
        {"name": "side", "image": "python:3.11",
         "command": ["python3", "-c", "print('from the sidecar', flush=True)"]})
    await _run_pod(cloud, pod, ready=False)
    await ep.wait_pod(cloud, "counter", lambda p: p.get("status", {}).get("phase")
                      in ("Running", "Succeeded"), 30, "started")

    # -f streams while the container runs and ends when it ends (the program lasts ~1 s).
    follow = await asyncio.to_thread(kubectl, cloud, "logs", "-f", "counter", "-c", "app",
                                     timeout=30)
    assert follow.returncode == 0, follow.stderr
    lines = follow.stdout.splitlines()
    assert [x for x in lines if x.startswith("line")] == [f"line {i}" for i in range(1, 6)]
    assert [x for x in lines if x.startswith("err")] == [f"err {i}" for i in range(1, 6)]

    tail = await asyncio.to_thread(kubectl, cloud, "logs", "counter", "-c", "app",
                                   "--tail=2")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.splitlines() == ["line 5", "err 5"]

    stamped = await asyncio.to_thread(kubectl, cloud, "logs", "counter", "-c", "app",
                                      "--timestamps", "--tail=1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z err 5\n", stamped.stdout), \
        stamped.stdout

    side = await asyncio.to_thread(kubectl, cloud, "logs", "counter", "-c", "side")
    assert side.stdout == "from the sidecar\n"

    # Without -c on a two-container pod: kubectl defaults to the first container (with a
    # notice), as it does against any cluster.
    first = await asyncio.to_thread(kubectl, cloud, "logs", "counter")
    assert "line 1" in first.stdout

    missing = await asyncio.to_thread(kubectl, cloud, "logs", "counter", "-c", "nope")
    assert missing.returncode != 0
    assert "container nope is not valid for pod counter" in missing.stderr


RESTARTING = """
import os, time
path = os.path.join(os.environ["STATE"], "runs")
runs = int(open(path).read()) + 1 if os.path.exists(path) else 1
open(path, "w").write(str(runs))
print(f"run {runs}", flush=True)
if runs == 1:
    raise SystemExit(2)
time.sleep(3600)
"""


async def test_logs_previous(cloud: Cloud, edge: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    pod = ep.python_pod("again", RESTARTING, node=NODE,
                        env=[{"name": "STATE", "value": str(state)}])
    await _run_pod(cloud, pod, ready=False)
    await ep.wait_pod(cloud, "again", lambda p: ep.container_status(p).get("restartCount", 0)
                      >= 1 and ep.is_ready(p), 60, "restarted once and Ready")
    current = await asyncio.to_thread(kubectl, cloud, "logs", "again")
    previous = await asyncio.to_thread(kubectl, cloud, "logs", "again", "--previous")
    assert current.stdout == "run 2\n", current.stderr
    assert previous.stdout == "run 1\n", previous.stderr


# --- exec and attach -----------------------------------------------------------------


async def test_exec_exit_code_stdin_and_tty(cloud: Cloud, web: str) -> None:
    hi = await asyncio.to_thread(kubectl, cloud, "exec", web, "--", "sh", "-c",
                                 "echo hi; exit 3")
    assert hi.stdout == "hi\n"
    assert hi.returncode == 3, hi.stderr

    cat = await asyncio.to_thread(kubectl, cloud, "exec", "-i", web, "--", "cat", input="x\n")
    assert (cat.returncode, cat.stdout) == (0, "x\n"), cat.stderr

    # The pod's own namespaces and environment: its hostname, its env.
    env = await asyncio.to_thread(kubectl, cloud, "exec", web, "--", "sh", "-c",
                                  "hostname; echo $MARKER")
    assert env.stdout.splitlines()[0] == web

    # A TTY: kubectl needs a terminal on its side too, so it runs under script(1).
    command = " ".join(shlex.quote(a) for a in [
        "kubectl", "exec", "-it", web, "--", "sh", "-c", "tty; stty size; exit 0"])
    tty = await asyncio.to_thread(
        subprocess.run, ["script", "-qec", f"stty rows 33 cols 111; {command}", "/dev/null"],
        capture_output=True, text=True, timeout=60, env=cloud.env(), stdin=subprocess.DEVNULL)
    assert tty.returncode == 0, tty.stdout + tty.stderr
    assert "/dev/pts/" in tty.stdout
    assert "33 111" in tty.stdout


ECHO_STDIN = """
import sys
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "quit":
        break
    print(line.strip().upper(), flush=True)
"""


async def test_attach(cloud: Cloud, edge: Path) -> None:
    pod = ep.python_pod("talk", ECHO_STDIN, node=NODE, stdin=True)
    pod["spec"]["restartPolicy"] = "Never"
    await _run_pod(cloud, pod, ready=False)
    await ep.wait_pod(cloud, "talk", ep.is_ready, 30, "Ready")
    attached = await asyncio.to_thread(kubectl, cloud, "attach", "-i", "talk", "-c", "app",
                                       input="hello\nquit\n", timeout=30)
    assert "HELLO" in attached.stdout, attached.stderr


# --- port-forward --------------------------------------------------------------------


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as r:
        return r.read().decode()


async def test_port_forward(cloud: Cloud, web: str) -> None:
    local = free_port()
    proc = cloud.popen_kubectl("port-forward", f"pod/{web}", f"{local}:80")
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert f"127.0.0.1:{local}" in line, line
        # Two successive requests, then many at once.
        assert await asyncio.to_thread(_get, local, "/one") == "hello from /one"
        assert await asyncio.to_thread(_get, local, "/two") == "hello from /two"
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            got = list(pool.map(lambda i: _get(local, f"/c{i}"), range(40)))
        assert got == [f"hello from /c{i}" for i in range(40)]
    finally:
        proc.terminate()
        proc.wait(10)


# --- top -----------------------------------------------------------------------------


SPIN = """
print("spinning", flush=True)
while True:
    pass
"""


def _millicores(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


async def test_top_pod_and_node(cloud: Cloud, edge: Path) -> None:
    await _run_pod(cloud, ep.python_pod("spin", SPIN, node=NODE))

    async def busy() -> int | None:
        top = await asyncio.to_thread(kubectl, cloud, "top", "pod", "spin", "--no-headers")
        if top.returncode != 0:
            return None
        cpu = _millicores(top.stdout.split()[1])
        return cpu if cpu >= 800 else None

    started = time.monotonic()
    cpu = await eventually(busy, timeout=60, what="kubectl top pod spin ≥ 800m", interval=1)
    print(f"kubectl top pod spin: {cpu}m after {time.monotonic() - started:.1f}s")

    top = await asyncio.to_thread(kubectl, cloud, "top", "node", NODE, "--no-headers")
    assert top.returncode == 0, top.stderr
    name, cores, _, memory, _ = top.stdout.split()
    assert name == NODE and _millicores(cores) >= 800 and memory.endswith("Mi")
    await asyncio.to_thread(kubectl, cloud, "delete", "pod", "spin", "--wait=false")


# --- the Python client ---------------------------------------------------------------


async def test_python_client_logs_and_exec(cloud: Cloud, web: str) -> None:
    from kubernetes import client, config, watch
    from kubernetes.stream import stream

    api_client = config.new_client_from_config(str(cloud.kubeconfig))
    core = client.CoreV1Api(api_client)

    def follow() -> list[str]:
        lines = []
        for line in watch.Watch().stream(core.read_namespaced_pod_log, name=web,
                                         namespace="default", _request_timeout=20):
            lines.append(line)
            if line == "serving":
                break
        return lines

    assert await asyncio.to_thread(follow) == ["serving"]

    def run() -> tuple[str, int]:
        resp = stream(core.connect_get_namespaced_pod_exec, web, "default",
                      command=["sh", "-c", "echo out; echo err >&2; exit 4"],
                      stderr=True, stdin=False, stdout=True, tty=False,
                      _preload_content=False)
        resp.run_forever(timeout=20)
        out = resp.read_stdout()
        code = resp.returncode
        resp.close()
        return out, code

    out, code = await asyncio.to_thread(run)
    assert out == "out\n" and code == 4


# --- authorization -------------------------------------------------------------------


async def test_log_rights_do_not_give_exec(cloud: Cloud, web: str) -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "log-reader", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"],
                       "verbs": ["get", "list"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "log-reader", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "log-reader"},
               "subjects": [{"kind": "User", "name": "reader",
                             "apiGroup": "rbac.authorization.k8s.io"}]}
    await asyncio.to_thread(ep.apply, cloud, role, binding)
    reader = cloud.user_kubeconfig("reader")
    logs = await asyncio.to_thread(kubectl, cloud, "logs", web, kubeconfig=reader)
    assert logs.returncode == 0 and "serving" in logs.stdout, logs.stderr
    exe = await asyncio.to_thread(kubectl, cloud, "exec", web, "--", "true",
                                  kubeconfig=reader)
    assert exe.returncode != 0
    assert "Forbidden" in exe.stderr or "forbidden" in exe.stderr, exe.stderr


# --- many sessions, and the edge going away ------------------------------------------


async def test_many_sessions_and_edge_killed_mid_session(cloud: Cloud, edge: Path,
                                                         web: str) -> None:
    follows = [cloud.popen_kubectl("logs", "-f", web) for _ in range(50)]
    execs = [cloud.popen_kubectl("exec", web, "--", "sh", "-c", "echo started; sleep 3600")
             for _ in range(20)]
    everyone = follows + execs
    try:
        # Every session is open: the follows printed the pod's first line, the execs
        # their own.
        got = await asyncio.gather(*[
            asyncio.wait_for(asyncio.to_thread(p.stdout.readline), 60)  # type: ignore[union-attr]
            for p in everyone])
        assert got[:50] == ["serving\n"] * 50
        assert got[50:] == ["started\n"] * 20

        ep.kill_edgecore(edge)
        killed = time.monotonic()
        codes = await asyncio.gather(*[asyncio.wait_for(asyncio.to_thread(p.wait), 30)
                                       for p in everyone])
        ended = time.monotonic() - killed
        print(f"70 sessions ended {ended:.1f}s after edgecore was killed: {codes}")
        # Every client sees an error: the follows' bodies are cut, the execs get no
        # status.
        assert all(code != 0 for code in codes), codes
        assert ended < 15
    finally:
        for p in everyone:
            if p.poll() is None:
                p.kill()

    # The edge comes back, and so does the tunnel.
    ep.start_edgecore(edge)

    async def exec_works() -> bool:
        r = await asyncio.to_thread(kubectl, cloud, "exec", web, "--", "echo", "back")
        return r.returncode == 0 and r.stdout == "back\n"

    await eventually(exec_works, timeout=60, what="exec through the new tunnel", interval=0.5)


# --- Prometheus metrics --------------------------------------------------------------


async def test_prometheus_metrics_of_cloudcore_and_edgecore(cloud: Cloud, web: str) -> None:
    def scrape() -> str:
        url = f"http://127.0.0.1:{cloud.monitor_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    text = await asyncio.to_thread(scrape)
    assert re.search(r"^cloudhub_connected_edges 1\.0$", text, re.M), text[:2000]
    assert re.search(r"^cloudstream_tunnels 1\.0$", text, re.M)
    assert re.search(r'^cloudhub_ack_latency_seconds_count \d', text, re.M)
    assert "process_resident_memory_bytes" in text

    # edgecore's own, on edged's server, through the API server's node proxy.
    raw = await asyncio.to_thread(kubectl, cloud, "get", "--raw",
                                  f"/api/v1/nodes/{NODE}/proxy/metrics")
    assert raw.returncode == 0, raw.stderr
    assert re.search(r"^edgehub_connected 1\.0$", raw.stdout, re.M), raw.stdout[:2000]
    # (edgecore may have restarted since its pods were made: counts start again.)
    assert re.search(r'^kubelet_runtime_operations_total\{operation_type="list_containers"\} '
                     r"[1-9]", raw.stdout, re.M), raw.stdout[:4000]
    assert re.search(r'^edged_pods\{phase="Running"\} [1-9]', raw.stdout, re.M)

    summary = await asyncio.to_thread(kubectl, cloud, "get", "--raw",
                                      f"/api/v1/nodes/{NODE}/proxy/stats/summary")
    assert json.loads(summary.stdout)["node"]["nodeName"] == NODE
