"""`kubectl logs` throughput and exec round trips over the tunnel, each beside the same
operation against edged's own server in the same run (issue 8).

    .venv/bin/python benchmarks/stream.py --quick            # 16 MiB log, ~20 s
    .venv/bin/python benchmarks/stream.py                    # 64 MiB log, ~45 s
    .venv/bin/python benchmarks/stream.py --profile DIR      # + py-spy of edgecore,
                                                             #   cloudcore and the API server

The cloud is the real `keadm init` in a temporary root on free loopback ports
(`tests/fixtures/cluster.start_cloud`, with the scheduler and node-ipam, as the kubectl
stream tests run it); the edge is the real `keadm join` with EdgeStream and edged's
server on a free port. One pod runs on the edge: it writes the log (lines of 128 bytes,
`--log-mib` MiB in all) and a last line `done`, then sleeps; exec runs in it too.
The edge's `containerLogMaxSize` is raised to 1Gi so the whole log stays in one file
(kubelet's default 10Mi x 5 files would keep only the last ~50 MiB, split in 6 files).

Each figure has the same operation on up to four paths, taken in turn within a run so
all see the same machine:
- **local**: edged's server, plain HTTP on 127.0.0.1:<readOnlyPort> (kubelet paths
  `/containerLogs/...`, `/exec/...`), what a kubelet-local client gets: the floor.
- **stream server**: cloudcore's stream server (TLS, the API server's kubelet client
  certificate, `Host: <node>`), so the cloud → tunnel → EdgeStream part alone.
- **API server**: `pods/log` and `pods/exec` over HTTPS with the admin certificate.
- **kubectl**: `kubectl logs` / `kubectl exec` (the real kubectl 1.32).

Figures:
1. Log throughput (MB/s = 10^6 bytes/s of log text delivered): curl (C, so the client
   is not the limit) for local, stream server and API server; `kubectl logs pod` into a
   file. Runs alternate the paths; medians. CPU seconds of edgecore, cloudcore, the API
   server and the client in every run show which process was the limit.
2. Exec of `true`: a WebSocket v5.channel.k8s.io client (streaming.websocket) from the
   connect until the status message on channel 3 (then it closes), per path.
   `kubectl exec pod -- true` wall time, beside `kubectl get pod` (kubectl's own start
   and one API round trip) for reference.
3. stdin → stdout echo: one `cat` session per path, `--messages` messages of 16 bytes,
   each sent on channel 0 and timed until it is back on channel 1; p50 and p99.

Ratios are tunnel ÷ local (for throughput local ÷ tunnel, so > 1 always means slower).
Samples go to `--json` (default benchmarks/results/stream.json). Bounded in time; always
ends with `keadm reset` of the edge and the cloud and the temporary roots removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the test fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

from benchmarks.apiserver import arm_deadline, log  # noqa: E402
from benchmarks.edge import (  # noqa: E402
    git_rev,
    keep_logs,
    percentile,
    proc_stat,
    run_to_end,
    stop_all,
    summarize_profile,
)

NODE = "bench-stream"
POD = "streamer"
NAMESPACE = "default"
LINE_BYTES = 128
V5 = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255

# The pod: LINE_BYTES-byte lines (8-digit counter, a space, filler, newline), written in
# batches of 1,024 lines, then `done`; then it sleeps so exec has a container to run in.
LOGGER = f"""
import os, sys, time
lines = int(os.environ["LOG_MIB"]) * 1024 * 1024 // {LINE_BYTES}
filler = "x" * {LINE_BYTES - 10}
out = sys.stdout
for start in range(0, lines, 1024):
    out.write("".join(f"{{i:08d}} {{filler}}\\n" for i in range(start, min(lines, start + 1024))))
out.write("done\\n")
out.flush()
time.sleep(10 ** 9)
"""


@dataclass(frozen=True)
class Mode:
    name: str
    log_mib: int
    log_runs: int
    exec_runs: int
    kubectl_runs: int
    messages: int
    deadline_seconds: int


MODES = {
    "quick": Mode("quick", log_mib=16, log_runs=3, exec_runs=10, kubectl_runs=5,
                  messages=100, deadline_seconds=300),
    "full": Mode("full", log_mib=64, log_runs=7, exec_runs=30, kubectl_runs=10,
                 messages=200, deadline_seconds=600),
}


def cpu_seconds(pid: int) -> float:
    st = proc_stat(pid)
    return st[1] if st is not None else 0.0


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Bench:
    def __init__(self, mode: Mode, profile: Path | None, log_mib: int) -> None:
        self.mode, self.profile, self.log_mib = mode, profile, log_mib
        self.cloud: Any = None
        self.edge_root: Path | None = None
        self.base = Path()
        self.local_port = 0
        self.results: dict[str, Any] = {"info": {}, "logs": {}, "exec": {}, "echo": {},
                                        "kubectl": {}}
        self.spies: list[tuple[subprocess.Popen[bytes], Path, str]] = []

    # ---- set-up -------------------------------------------------------------------

    def start(self, base: Path) -> None:
        from tests.fixtures.cluster import start_cloud, wait_until
        from tests.integration.edge import edgepods as ep

        from kubeedge.edge.core import EdgeLayout

        self.base = base
        log("keadm init (API server, cloudcore with CloudStream) ...")
        self.cloud = start_cloud(base / "cloud", controllers=(*ep.CONTROLLERS, "node-ipam"),
                                 scheduler=True)
        self.edge_root = base / "edge" / "root"
        log(f"keadm join {NODE} (EdgeStream, edged's server) ...")
        ep.join_edge(self.cloud, self.edge_root, NODE,
                     "modules.edged.tailoredKubeletConfig.containerLogMaxSize=1Gi")
        config = yaml.safe_load(EdgeLayout(self.edge_root).config.read_text())
        self.local_port = int(config["modules"]["edged"]["tailoredKubeletConfig"]
                              ["readOnlyPort"])

        def annotated() -> bool:
            got = self.cloud.kubectl("get", "node", NODE, "-o", "json", check=False)
            return got.returncode == 0 and "kubeedge.io/stream-server" in got.stdout

        wait_until(annotated, 60, "the edge's tunnel recorded on its Node")
        self.write_credentials()
        pod = ep.python_pod(POD, LOGGER, node=NODE,
                            env=[{"name": "LOG_MIB", "value": str(self.log_mib)}])
        ep.apply(self.cloud, pod)
        log(f"pod {POD} writes {self.log_mib} MiB of log ...")
        t0 = time.monotonic()
        wait_until(self.log_complete, 180, "the pod's whole log written")
        self.results["info"]["log_written_seconds"] = round(time.monotonic() - t0, 1)

    def write_credentials(self) -> None:
        """PEM files for curl: the admin's (from the kubeconfig) and the API server's
        kubelet client certificate, and the two CAs."""
        from kubeedge.client import kubeconfig as kc

        creds = self.base / "creds"
        creds.mkdir(mode=0o700)
        access = kc.load(self.cloud.kubeconfig)
        for name, data in (("admin.crt", access.client_cert_data),
                           ("admin.key", access.client_key_data),
                           ("ca.crt", access.ca_data)):
            assert data is not None, name
            path = creds / name
            path.write_bytes(data)
            path.chmod(0o600)
        from kubeedge.cloud import setup

        layout = setup.Layout(self.cloud.root)
        self.kubelet_client = (layout.kubelet_client_cert, layout.kubelet_client_key)
        # The stream server's certificate is signed by the cluster CA (keadm init).
        self.stream_ca = self.cloud.ca_file
        self.admin_ssl = access.ssl_context()
        self.stream_ssl = ssl.create_default_context(cafile=str(self.stream_ca))
        self.stream_ssl.load_cert_chain(*map(str, self.kubelet_client))

    def log_complete(self) -> bool:
        try:
            with urllib.request.urlopen(self.local_url("/containerLogs", "app",
                                                       tailLines="1"), timeout=10) as r:
                return bool(r.read() == b"done\n")
        except OSError:
            return False

    def local_url(self, kind: str, container: str, **query: str) -> str:
        q = f"?{urlencode(query)}" if query else ""
        return f"http://127.0.0.1:{self.local_port}{kind}/{NAMESPACE}/{POD}/{container}{q}"

    def pids(self) -> dict[str, int]:
        from kubeedge.cloud import setup, setup_edge

        assert self.edge_root is not None
        api = setup.pid_alive(self.cloud.root / "var/run/kubeedge/apiserver.pid")
        return {"edgecore": int(setup_edge.edgecore_pid(self.edge_root) or 0),
                "cloudcore": int(self.cloud.cloudcore_pid() or 0),
                "apiserver": int(api or 0)}

    # ---- 1. logs ------------------------------------------------------------------

    def curl_logs(self, path: str) -> list[str]:
        creds = self.base / "creds"
        base = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"]
        if path == "local":
            return [*base, self.local_url("/containerLogs", "app")]
        if path == "stream":
            cert, key = self.kubelet_client
            return [*base, "--cert", str(cert), "--key", str(key), "--cacert",
                    str(self.stream_ca), "-H", f"Host: {NODE}",
                    f"https://127.0.0.1:{self.cloud.stream_port}/containerLogs/"
                    f"{NAMESPACE}/{POD}/app"]
        return [*base, "--cert", str(creds / "admin.crt"), "--key", str(creds / "admin.key"),
                "--cacert", str(creds / "ca.crt"),
                f"{self.cloud.server}/api/v1/namespaces/{NAMESPACE}/pods/{POD}/log"]

    def one_log_run(self, path: str) -> dict[str, Any]:
        pids = self.pids()
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        client0 = children_cpu()
        t0 = time.perf_counter()
        if path == "kubectl":
            out = self.base / "kubectl-logs.out"
            with out.open("wb") as f:
                proc = subprocess.run(["kubectl", "logs", POD], stdout=f,
                                      stderr=subprocess.PIPE, env=self.cloud.env(),
                                      timeout=300)
            elapsed = time.perf_counter() - t0
            size = out.stat().st_size
            out.unlink()
            if proc.returncode != 0:
                raise RuntimeError(f"kubectl logs failed: {proc.stderr.decode()}")
        else:
            proc2 = subprocess.run(self.curl_logs(path), capture_output=True, text=True,
                                   timeout=300)
            elapsed = time.perf_counter() - t0
            if proc2.returncode != 0:
                raise RuntimeError(f"curl ({path}) failed: {proc2.stderr}")
            size = int(proc2.stdout)
        cpu = {name: round(cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()}
        cpu["client"] = round(children_cpu() - client0, 2)
        expected = self.log_mib * 1024 * 1024 + len(b"done\n")
        if size != expected:
            raise RuntimeError(f"logs over {path}: {size} bytes, expected {expected}")
        return {"seconds": round(elapsed, 3), "bytes": size,
                "mb_per_s": round(size / elapsed / 1e6, 2), "cpu_s": cpu}

    def logs(self) -> None:
        paths = ("local", "stream", "api", "kubectl")
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        for i in range(self.mode.log_runs):
            # A different first path each run, so no path always runs on a cold cache.
            order = paths[i % len(paths):] + paths[:i % len(paths)]
            for path in order:
                r = self.one_log_run(path)
                runs[path].append(r)
                log(f"  logs run {i + 1} {path:8}: {r['mb_per_s']:7.1f} MB/s "
                    f"({r['seconds']:.2f} s)  cpu {r['cpu_s']}")
        self.results["logs"] = {
            p: {"runs": runs[p], "median_mb_per_s": med([r["mb_per_s"] for r in runs[p]]),
                "median_seconds": med([r["seconds"] for r in runs[p]]),
                "median_cpu_s": {k: med([r["cpu_s"][k] for r in runs[p]])
                                 for k in runs[p][0]["cpu_s"]}}
            for p in paths}

    # ---- 2. exec over WebSocket v5 -------------------------------------------------

    async def open_exec(self, path: str, command: list[str], *, stdin: bool) -> Any:
        from kubeedge.streaming.websocket import connect_websocket

        if path == "local":
            query = [("command", c) for c in command] + [("output", "1"), ("error", "1")]
            if stdin:
                query.append(("input", "1"))
            return await connect_websocket(
                "127.0.0.1", self.local_port,
                f"/exec/{NAMESPACE}/{POD}/app?{urlencode(query)}", [V5])
        if path == "stream":
            query = [("command", c) for c in command] + [("output", "1"), ("error", "1")]
            if stdin:
                query.append(("input", "1"))
            return await connect_websocket(
                "127.0.0.1", self.cloud.stream_port,
                f"/exec/{NAMESPACE}/{POD}/app?{urlencode(query)}", [V5],
                ssl=self.stream_ssl, headers=[("Host", NODE)])
        query = [("command", c) for c in command] + [("stdout", "true"), ("stderr", "true"),
                                                      ("container", "app")]
        if stdin:
            query.append(("stdin", "true"))
        return await connect_websocket(
            "127.0.0.1", self.cloud.port,
            f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}/exec?{urlencode(query)}", [V5],
            ssl=self.admin_ssl)

    @staticmethod
    async def wait_status(conn: Any) -> dict[str, Any]:
        while (msg := await conn.recv()) is not None:
            if msg[:1] == bytes([STATUS]):
                return dict(json.loads(msg[1:]))
        raise RuntimeError("the exec ended without a status")

    async def exec_true(self, path: str) -> float:
        t0 = time.perf_counter()
        conn = await self.open_exec(path, ["true"], stdin=False)
        status = await asyncio.wait_for(self.wait_status(conn), 30)
        elapsed = time.perf_counter() - t0
        await conn.close()  # not timed: the status is the end of the operation
        if status.get("status") != "Success":
            raise RuntimeError(f"exec true over {path}: {status}")
        return elapsed

    async def echo(self, path: str, messages: int) -> list[float]:
        conn = await self.open_exec(path, ["cat"], stdin=True)
        times: list[float] = []
        try:
            for i in range(messages + 1):  # the first one warms up and is not counted
                payload = f"m{i:06d}-abcdefg\n".encode()  # 16 bytes
                t0 = time.perf_counter()
                await conn.send(bytes([STDIN]) + payload)
                got = b""
                while len(got) < len(payload):
                    msg = await asyncio.wait_for(conn.recv(), 30)
                    if msg is None:
                        raise RuntimeError(f"cat over {path} ended early")
                    if msg[:1] == bytes([STDOUT]):
                        got += msg[1:]
                if got != payload:
                    raise RuntimeError(f"cat over {path}: sent {payload!r}, got {got!r}")
                if i:
                    times.append(time.perf_counter() - t0)
            await conn.send(bytes([CLOSE, STDIN]))  # v5: stdin EOF, cat exits 0
            status = await asyncio.wait_for(self.wait_status(conn), 30)
            if status.get("status") != "Success":
                raise RuntimeError(f"cat over {path}: {status}")
        finally:
            await conn.close()
        return times

    async def exec_phase(self) -> None:
        paths = ("local", "stream", "api")
        for path in paths:  # warm-up: TLS sessions, imports, the tunnel's first session
            await self.exec_true(path)
        runs: dict[str, list[float]] = {p: [] for p in paths}
        for i in range(self.mode.exec_runs):
            order = paths[i % len(paths):] + paths[:i % len(paths)]
            for path in order:
                runs[path].append(await self.exec_true(path))
        self.results["exec"] = {
            p: {"ms": [round(x * 1000, 2) for x in runs[p]],
                "median_ms": round(med(runs[p]) * 1000, 2),
                "p90_ms": round(percentile(runs[p], 90) * 1000, 2)} for p in paths}
        for p in paths:
            log(f"  exec true {p:8}: median {self.results['exec'][p]['median_ms']} ms")
        # What a TLS connection alone costs (TCP connect + handshake, then close): each
        # exec over the tunnel makes two (client → API server, API server → stream
        # server) where the local path makes a plain TCP connection.
        self.results["tls_connect"] = {}
        for name, port, ctx in (("local_tcp", self.local_port, None),
                                ("api_server", self.cloud.port, self.admin_ssl),
                                ("stream_server", self.cloud.stream_port, self.stream_ssl)):
            times = []
            for _ in range(self.mode.exec_runs):
                t0 = time.perf_counter()
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1" if ctx else None)
                times.append(time.perf_counter() - t0)
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
            self.results["tls_connect"][name] = {"median_ms": round(med(times) * 1000, 2)}
        log(f"  connect (+TLS): {self.results['tls_connect']}")
        for path in paths:
            times = await self.echo(path, self.mode.messages)
            self.results["echo"][path] = {
                "messages": len(times), "bytes_each": 16,
                "median_ms": round(med(times) * 1000, 3),
                "p99_ms": round(percentile(times, 99) * 1000, 3),
                "max_ms": round(max(times) * 1000, 3)}
            log(f"  cat echo {path:8}: {self.results['echo'][path]}")

    # ---- 3. kubectl exec, for reference -----------------------------------------------

    def kubectl_phase(self) -> None:
        def timed(*args: str) -> float:
            t0 = time.perf_counter()
            proc = subprocess.run(["kubectl", *args], capture_output=True, text=True,
                                  env=self.cloud.env(), timeout=60)
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr}")
            return elapsed

        timed("get", "pod", POD)  # warm kubectl's discovery cache
        execs, gets = [], []
        for _ in range(self.mode.kubectl_runs):
            execs.append(timed("exec", POD, "--", "true"))
            gets.append(timed("get", "pod", POD, "-o", "name"))
        self.results["kubectl"] = {
            "exec_true": {"ms": [round(x * 1000, 1) for x in execs],
                          "median_ms": round(med(execs) * 1000, 1)},
            "get_pod": {"ms": [round(x * 1000, 1) for x in gets],
                        "median_ms": round(med(gets) * 1000, 1)}}
        log(f"  kubectl exec -- true: {self.results['kubectl']['exec_true']['median_ms']} ms, "
            f"kubectl get pod: {self.results['kubectl']['get_pod']['median_ms']} ms")

    # ---- profile --------------------------------------------------------------------

    def start_spies(self, tag: str) -> list[tuple[subprocess.Popen[bytes], Path, str]]:
        """py-spy recording each of the three processes into `<tag>-<name>.txt`, once
        attached."""
        assert self.profile is not None
        spy = str(Path(sys.executable).parent / "py-spy")
        spies = []
        for name, pid in self.pids().items():
            out = self.profile / f"{tag}-{name}.txt"
            proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250",
                                     "--format", "raw", "--nonblocking", "-o", str(out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spies.append((proc, out, name))
            self.spies.append((proc, out, name))
        time.sleep(1.0)  # py-spy attaches
        return spies

    def stop_spies(self, spies: list[tuple[subprocess.Popen[bytes], Path, str]], tag: str,
                   r: dict[str, Any]) -> None:
        """Stop `spies` and file their summaries, with the run `r`, under profile/`tag`."""
        for proc, _, _ in spies:
            proc.send_signal(signal.SIGINT)
        for proc, _, _ in spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        self.results.setdefault("profile", {})[tag] = {
            "run": r, **{name: summarize_profile([out], top=15) for _, out, name in spies}}

    def profile_logs(self) -> None:
        """py-spy on the three processes through one more run of each tunnel path."""
        for path in ("stream", "api", "kubectl"):
            spies = self.start_spies(path)
            r = self.one_log_run(path)
            log(f"  profiled logs {path}: {r['mb_per_s']} MB/s cpu {r['cpu_s']}")
            self.stop_spies(spies, path, r)

    def profile_exec(self) -> None:
        """py-spy on the three processes through exec `true` and `cat` echoes over the
        API server."""
        spies = self.start_spies("exec")

        async def load() -> dict[str, float]:
            execs = [await self.exec_true("api") for _ in range(self.mode.exec_runs)]
            echoes = await self.echo("api", self.mode.messages * 5)
            return {"exec_true_median_ms": round(med(execs) * 1000, 2),
                    "echo_median_ms": round(med(echoes) * 1000, 3)}

        r = asyncio.run(load())
        log(f"  profiled exec over the API server: {r}")
        self.stop_spies(spies, "exec", r)

    # ---- run ------------------------------------------------------------------------

    def run(self, base: Path) -> None:
        self.results["info"].update(
            mode=self.mode.name, mode_settings=asdict(self.mode), log_mib=self.log_mib,
            line_bytes=LINE_BYTES, python=sys.version.split()[0], cores=os.cpu_count(),
            root=os.geteuid() == 0, source=git_rev(),
            kubectl=subprocess.run(["kubectl", "version", "--client"], capture_output=True,
                                   text=True).stdout.splitlines()[0],
            curl=subprocess.run(["curl", "--version"], capture_output=True,
                                text=True).stdout.split()[1])
        self.start(base)
        log("logs ...")
        self.logs()
        log("exec ...")
        asyncio.run(self.exec_phase())
        log("kubectl exec ...")
        self.kubectl_phase()
        if self.profile is not None:
            log("profiling the tunnel paths ...")
            self.profile_logs()
            self.profile_exec()
        self.results["info"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    def keep_logs(self, dest: Path) -> None:
        keep_logs(dest, self.edge_root, self.cloud)

    def stop(self) -> None:
        stop_all(self.spies, self.edge_root, self.cloud)


# --- report ------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> str:
    out: list[str] = []
    info = r["info"]
    out.append(f"stream benchmark ({info['mode']}): {info['log_mib']} MiB log of "
               f"{info['line_bytes']}-byte lines, {info['cores']} cores, Python "
               f"{info['python']}, {info['kubectl']}, source {info['source']}")
    logs = r["logs"]
    local = logs["local"]["median_mb_per_s"]
    out.append("\nlogs throughput (median MB/s; local ÷ path = how many times slower)")
    out.append(f"{'path':16} {'MB/s':>8} {'seconds':>8} {'ratio':>6}   median CPU s "
               "(edgecore, cloudcore, apiserver, client)")
    for p, label in (("local", "local (curl)"), ("stream", "stream srv (curl)"),
                     ("api", "API (curl)"), ("kubectl", "kubectl logs")):
        m = logs[p]
        c = m["median_cpu_s"]
        out.append(f"{label:16} {m['median_mb_per_s']:8.1f} {m['median_seconds']:8.2f} "
                   f"{local / m['median_mb_per_s']:6.2f}   {c['edgecore']:.2f}, "
                   f"{c['cloudcore']:.2f}, {c['apiserver']:.2f}, {c['client']:.2f}")
    ex, echo = r["exec"], r["echo"]
    out.append("\nexec `true` over WebSocket v5 (connect → status), median / p90 ms; ratio "
               "to local")
    for p in ("local", "stream", "api"):
        out.append(f"  {p:8} {ex[p]['median_ms']:8.2f} / {ex[p]['p90_ms']:8.2f}   "
                   f"{ex[p]['median_ms'] / ex['local']['median_ms']:5.2f}x")
    out.append("stdin → stdout echo through `cat` (16-byte messages), median / p99 ms; "
               "ratio of medians to local")
    for p in ("local", "stream", "api"):
        out.append(f"  {p:8} {echo[p]['median_ms']:8.3f} / {echo[p]['p99_ms']:8.3f}   "
                   f"{echo[p]['median_ms'] / echo['local']['median_ms']:5.2f}x")
    tls = r.get("tls_connect") or {}
    if tls:
        out.append("connect alone, median ms: " + ", ".join(
            f"{k} {v['median_ms']:.2f}" for k, v in tls.items()))
    k = r["kubectl"]
    out.append(f"kubectl exec pod -- true: {k['exec_true']['median_ms']:.0f} ms "
               f"(kubectl get pod: {k['get_pod']['median_ms']:.0f} ms)")
    for path, prof in (r.get("profile") or {}).items():
        what = (f"exec over the API server ({prof['run']})" if path == "exec"
                else f"logs over {path} ({prof['run']['mb_per_s']} MB/s)")
        out.append(f"\nprofile, {what}:")
        for name in ("edgecore", "cloudcore", "apiserver"):
            p = prof[name]
            top = ", ".join(f"{f} {s:.0%}" for f, s in p["self"][:6])
            out.append(f"  {name}: busy {1 - p['idle_share']:.0%} of samples; self: {top}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="16 MiB log, fewer runs")
    parser.add_argument("--log-mib", type=int, default=None,
                        help="MiB of log the pod writes (64 full, 16 quick)")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default benchmarks/results/stream.json, "
                             "stream-quick.json with --quick)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy (raw stacks) of edgecore, cloudcore and the API server "
                             "through one more logs run per tunnel path")
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    log_mib = args.log_mib or mode.log_mib
    out = args.json or REPO / ("benchmarks/results/stream-quick.json" if args.quick
                               else "benchmarks/results/stream.json")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    arm_deadline(mode.deadline_seconds + (240 if args.profile else 0))
    started = time.monotonic()
    bench = Bench(mode, args.profile, log_mib)
    return run_to_end(bench, "kubeedge-stream-bench", out, report, started)


if __name__ == "__main__":
    sys.exit(main())
