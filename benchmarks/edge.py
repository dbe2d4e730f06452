"""An edge running pods: edgecore's memory idle and with pods (with and without the
per-container supervisors), pod start latency from an API create to Ready through the
real cloud and edge, and the CPU an idle edge uses per minute.

    .venv/bin/python benchmarks/edge.py --quick          # 40 pods, ~1.5 min
    .venv/bin/python benchmarks/edge.py                  # 200 pods, ~6 min
    .venv/bin/python benchmarks/edge.py --profile DIR    # + py-spy of edgecore, cloudcore
                                                         #   and the API server while pods start
    .venv/bin/python benchmarks/edge.py --plot           # results JSON -> docs/img/edge.png
    .venv/bin/python benchmarks/edge.py --quick --cloud-set KEY=VALUE --json OUT
                                                         # an experiment with a config change

The cloud is the real `keadm init` in a temporary root on free loopback ports, with the
controllers the pod tests use plus node-ipam (so the edge gets a podCIDR and, as root,
every pod its own network namespace through CNI) and the scheduler. The edge is the real
`keadm join` under its own root, with EdgeCore's default timings (heartbeat 15 s, node
status every 10 s, PLEG relist every 1 s) and the process runtime; only `maxPods` is
raised above kubelet's 110 so that every pod of the latency phase fits on the one edge.

Figures:
1. Memory. edgecore's RSS, PSS and USS (/proc/<pid>/smaps_rollup: USS = private clean +
   dirty) after the join settled, sampled once a second through the idle CPU window
   (medians); then with N pods running (50 in full mode; each a `busybox` pod running
   `sleep`), and with all the latency phase's pods. The supervisors (one Python process
   per container) are summed apart, and the containers' own processes apart again.
   Baselines in the same run, each a process of the same interpreter measured after it
   settled: a bare interpreter; `asyncio, ssl, sqlite3, json, websockets, msgspec,
   orjson, yaml` imported with an idle event loop; every module edgecore has loaded when
   idle (its `sys.modules`, read from it through a SIGUSR2 hook installed by a
   `sitecustomize` on PYTHONPATH, which edgecore removes from its environment so
   neither supervisors nor containers see it) imported with an idle loop. The last is
   what edgecore's code costs before it does anything; edgecore minus it is its state.
   Supervisor alternatives, measured the same way: the supervisor's imports alone, a
   Python with only the standard modules it uses (`-I -S`), children forked from one
   process that imported the supervisor module (a fork server), and a C shim under /tmp
   (a fork, a pipe and a poll loop, what conmon does) when gcc is there.
2. Pod start latency. Individual pods (`nodeSelector` kubernetes.io/hostname = the edge,
   bound by the scheduler), created with `POST` through one keep-alive aiohttp session
   with the admin certificate, in batches (20 concurrent creates; the next batch once
   every pod of this one is Ready). Pods stay running, so later batches start beside
   more pods. Per pod: the time from just before its POST to the watch event that shows
   it Ready (a watch opened before the first create), and when the watch first showed
   it bound. p50/p99 over all pods. Baseline in the same run: as many pods started
   straight on a `ProcessRuntime` of its own (sandbox, with the same network mode the
   edge's pods got, then create and start of the container), the same batches, without
   cloud or edge: what the runtime costs, so the ratio is what the control path costs.
3. CPU. edgecore's CPU time (user + system, its own and its reaped children's) over a
   window while idle (120 s full) and with N pods running, per minute; the supervisors'
   CPU over the same window. During the latency phase the CPU of every process (API
   server, cloudcore, edgecore, supervisors) shows which was the limit.

Samples go to `--json` (default benchmarks/results/edge-<mode>.json). Bounded in time;
always ends with `keadm reset` of the edge and the cloud and the temporary roots removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the test fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

from benchmarks.apiserver import arm_deadline, log  # noqa: E402

NODE = "bench-edge"
NAMESPACE = "default"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SUPERVISOR_MARK = b"kubeedge.edge.runtime.supervisor"
PY = sys.executable

# The standard modules the supervisor uses at run time (supervisor.py's imports, less
# the kubeedge package).
SUPERVISOR_STDLIB = "contextlib, errno, fcntl, json, os, selectors, signal, sys, time"
LIBS = "asyncio, ssl, sqlite3, json, websockets, msgspec, orjson, yaml"

HOOK = '''
import os
try:
    with open("/proc/self/cmdline", "rb") as _f:
        _cmd = _f.read()
except OSError:
    _cmd = b""
if b"kubeedge.cli.edgecore" in _cmd and os.environ.get("KEBENCH_MODULES"):
    import signal as _signal
    import sys as _sys
    _out = os.environ.pop("KEBENCH_MODULES")
    os.environ.pop("PYTHONPATH", None)

    def _dump(*_args):
        with open(_out, "w") as f:
            f.write("\\n".join(sorted(_sys.modules)))

    _signal.signal(_signal.SIGUSR2, _dump)
    if os.environ.pop("KEBENCH_INDEX", ""):
        _index_containers()
'''

# `--prototype-index`: what an in-memory index of containers by pod would save. A
# container's config.json never changes after create, so it is read once, and
# list_containers with a label filter reads the state files of matching containers only
# (today it reads config, supervisor and exit records of every container on the node).
INDEX_PATCH = '''
def _index_containers():
    from kubeedge.edge.runtime import process as _p
    from kubeedge.edge.runtime.contract import ContainerNotFound

    cache = {}
    read_config = _p.ProcessRuntime._config
    remove = _p.ProcessRuntime.remove_container

    def _config(self, cid):
        c = cache.get(cid)
        if c is None:
            c = cache[cid] = read_config(self, cid)
        return c

    async def remove_container(self, cid):
        try:
            await remove(self, cid)
        finally:
            cache.pop(cid, None)

    async def list_containers(self, filter=None):
        f = filter or _p.ContainerFilter()
        out = []
        dirs = sorted(self.container_dir.glob("*")) if self.container_dir.exists() else []
        for d in dirs:
            if f.id and d.name != f.id:
                continue
            try:
                if not _p._labels_match(self._config(d.name).get("labels") or {}, f.labels):
                    continue
                s = self._status(d.name)
            except ContainerNotFound:
                continue
            if f.sandbox_id and s.sandbox_id != f.sandbox_id:
                continue
            if f.state is not None and s.state != f.state:
                continue
            if f.name and s.metadata.name != f.name:
                continue
            if f.attempt is not None and s.metadata.attempt != f.attempt:
                continue
            out.append(s)
        return sorted(out, key=lambda s: s.created_at)

    _p.ProcessRuntime._config = _config
    _p.ProcessRuntime.remove_container = remove_container
    _p.ProcessRuntime.list_containers = list_containers
'''

# A conmon-sized shim: forks the container with its stdout on a pipe, then polls.
C_SHIM = r'''
#include <poll.h>
#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    int p[2]; if (pipe(p)) return 1;
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1); dup2(p[1], 2); close(p[0]); execvp(argv[1], argv + 1); _exit(127);
    }
    close(p[1]);
    struct pollfd fd = {p[0], POLLIN, 0}; char buf[4096];
    for (;;) { if (poll(&fd, 1, -1) > 0) { if (read(p[0], buf, sizeof buf) <= 0) break; } }
    int st; waitpid(c, &st, 0); return 0;
}
'''


@dataclass(frozen=True)
class Mode:
    name: str
    settle: float          # seconds after the join (or after pods started) before sampling
    idle_window: float     # seconds of the idle CPU window
    pods_window: float     # seconds of the CPU window with `memory_pods` running
    memory_pods: int       # the "with N pods" point
    latency_pods: int
    batch: int
    deadline_seconds: int


MODES = {
    "quick": Mode("quick", 5, 20, 10, 20, 40, 10, 420),
    "full": Mode("full", 30, 120, 60, 50, 200, 20, 1500),
}


# --- /proc readers ---------------------------------------------------------------------


def proc_mem(pid: int) -> dict[str, int]:
    """rss, anon, pss, uss (bytes) of one process; {} if it is gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "VmHWM"):
                out[{"VmRSS": "rss", "RssAnon": "anon", "VmHWM": "hwm"}[key]] = \
                    int(value.split()[0]) * 1024
        rollup: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                rollup[key.strip()] = int(parts[0]) * 1024
        out["pss"] = rollup.get("Pss", 0)
        out["uss"] = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    except (OSError, ValueError):
        return {}
    return out


def proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own cpu seconds, reaped children's cpu seconds)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = raw[raw.rindex(")") + 2:].split()
    return (int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK,
            (int(f[13]) + int(f[14])) / CLK_TCK)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def edge_processes(root: Path) -> tuple[list[int], list[int]]:
    """(supervisor pids, container pids incl. their descendants) of the edge at `root`."""
    mark = str(root).encode()
    parents: dict[int, int] = {}
    sups: list[int] = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is None:
            continue
        parents[pid] = st[0]
        cmd = cmdline(pid)
        if SUPERVISOR_MARK in cmd and mark in cmd:
            sups.append(pid)
    sup_set = set(sups)
    containers = []
    for pid in parents:
        p, seen = parents.get(pid, 0), 0
        while p > 1 and seen < 64:
            if p in sup_set:
                containers.append(pid)
                break
            p, seen = parents.get(p, 0), seen + 1
    return sorted(sups), sorted(containers)


def summed(pids: Iterable[int]) -> dict[str, Any]:
    mems = [m for m in (proc_mem(p) for p in pids) if m]
    keys = ("rss", "anon", "pss", "uss")
    total = {k: sum(m.get(k, 0) for m in mems) for k in keys}
    total["count"] = len(mems)
    total["per_process_median"] = {k: statistics.median([m.get(k, 0) for m in mems])
                                   for k in keys} if mems else {}
    return total


def cpu_of(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        st = proc_stat(pid)
        if st is not None:
            out[pid] = st[1]
    return out


def mb(n: float) -> float:
    return round(n / 1e6, 2)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


# --- baseline processes ----------------------------------------------------------------


def measure_process(argv: list[str], settle: float, env: dict[str, str] | None = None
                    ) -> dict[str, int]:
    """Memory of a process started with `argv`, `settle` seconds after it started (it
    must keep running)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(settle)
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[:3]} exited: {proc.stderr.read().decode()[-2000:]}"
                               if proc.stderr else "exited")
        samples = []
        for _ in range(3):
            samples.append(proc_mem(proc.pid))
            time.sleep(0.2)
        return {k: int(statistics.median(s[k] for s in samples)) for k in samples[0]}
    finally:
        proc.kill()
        proc.wait()


ZYGOTE = """
import gc, os, selectors, sys, time
import kubeedge.edge.runtime.supervisor
gc.collect(); gc.freeze()
pids = []
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        # What a supervisor does while its container runs: a few objects, then a select.
        sel = selectors.DefaultSelector(); r, w = os.pipe()
        sel.register(r, selectors.EVENT_READ)
        state = {"pid": os.getpid(), "buf": bytearray(65536)}
        sel.select()
        os._exit(0)
    pids.append(pid)
print(" ".join(map(str, pids)), flush=True)
time.sleep(1e6)
"""


def zygote_children(settle: float, env: dict[str, str]) -> dict[str, int]:
    """A prototype of supervisors forked from one process that imported the supervisor
    module (a fork server, as a zygote): the median child's memory, 10 children."""
    proc = subprocess.Popen([PY, "-c", ZYGOTE], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, env=env)
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        pids = [int(x) for x in proc.stdout.readline().split()]
        time.sleep(settle)
        mems = [proc_mem(p) for p in pids]
        parent = proc_mem(proc.pid)
        out = {k: int(statistics.median(m[k] for m in mems)) for k in mems[0]}
        out["parent_rss"] = parent.get("rss", 0)
        out["parent_uss"] = parent.get("uss", 0)
        return out
    finally:
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        proc.kill()
        proc.wait()


def idle_loop(imports: str) -> str:
    return f"{imports}\nimport asyncio as _a\n_a.run(_a.sleep(1e6))\n"


def baselines(modules: list[str], work: Path, settle: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KEBENCH_MODULES")}
    out: dict[str, Any] = {}
    out["bare_interpreter"] = measure_process(
        [PY, "-c", "import time; time.sleep(1e6)"], settle, env)
    out["libraries"] = measure_process([PY, "-c", idle_loop(f"import {LIBS}")], settle, env)
    if modules:
        wanted = [m for m in modules if m not in ("__main__", "sitecustomize")
                  and not m.startswith("_distutils")]
        script = ("import importlib\n"
                  f"for _m in {wanted!r}:\n"
                  "    try:\n        importlib.import_module(_m)\n"
                  "    except Exception:\n        pass\n")
        out["edgecore_imports"] = measure_process([PY, "-c", idle_loop(script)], settle, env)
        out["edgecore_modules"] = len(wanted)
        out["edgecore_third_party"] = sorted({m.split(".")[0] for m in wanted
                                              if m.split(".")[0] not in sys.stdlib_module_names
                                              and not m.startswith("_")})
    # Supervisor alternatives.
    out["supervisor_imports"] = measure_process(
        [PY, "-c", "import kubeedge.edge.runtime.supervisor, time; time.sleep(1e6)"],
        settle, env)
    out["stdlib_supervisor"] = measure_process(
        [PY, "-I", "-S", "-c", f"import {SUPERVISOR_STDLIB}\n"
         "sel = selectors.DefaultSelector(); r, w = os.pipe()\n"
         "sel.register(r, selectors.EVENT_READ); sel.select()"], settle, env)
    out["zygote_children"] = zygote_children(settle, env)
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc:
        src, binary = work / "shim.c", work / "shim"
        src.write_text(C_SHIM)
        built = subprocess.run([gcc, "-O2", "-o", str(binary), str(src)],
                               capture_output=True, text=True)
        if built.returncode == 0:
            out["c_shim"] = measure_process([str(binary), "sleep", "1000000"], settle, env)
    return out


# --- the benchmark ---------------------------------------------------------------------


def pod_manifest(name: str, label: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"bench": label}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE},
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "app", "image": "busybox",
                                     "command": ["sleep", "86400"]}]}}


def pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or [])


class Bench:
    def __init__(self, mode: Mode, profile: Path | None, log: Callable[[str], None],
                 cloud_sets: list[str] | None = None, edge_sets: list[str] | None = None
                 ) -> None:
        self.mode, self.profile, self.log = mode, profile, log
        self.cloud_sets, self.edge_sets = list(cloud_sets or []), list(edge_sets or [])
        self.prototype_index = False
        self.cloud: Any = None
        self.edge_root: Path | None = None
        self.results: dict[str, Any] = {"info": {}, "memory": {}, "cpu": {},
                                        "latency": {}, "baselines": {}, "load": {}}
        self.spies: list[tuple[subprocess.Popen[bytes], Path, str]] = []

    # helpers

    def load(self, what: str) -> None:
        self.results["load"][what] = [round(x, 2) for x in os.getloadavg()]

    def edgecore_pid(self) -> int:
        from kubeedge.cloud import setup_edge

        assert self.edge_root is not None
        pid = setup_edge.edgecore_pid(self.edge_root)
        if pid is None:
            raise RuntimeError("edgecore is not running")
        return pid

    def cloud_pids(self) -> dict[str, int]:
        from kubeedge.cloud import setup

        api = setup.pid_alive(self.cloud.root / "var/run/kubeedge/apiserver.pid")
        return {"apiserver": int(api or 0), "cloudcore": int(self.cloud.cloudcore_pid() or 0)}

    def window(self, seconds: float, what: str) -> dict[str, Any]:
        """edgecore's and the supervisors' CPU over `seconds`, memory sampled each second."""
        assert self.edge_root is not None
        pid = self.edgecore_pid()
        sups, _ = edge_processes(self.edge_root)
        st0, sup0, t0 = proc_stat(pid), cpu_of(sups), time.monotonic()
        samples = []
        while time.monotonic() - t0 < seconds:
            samples.append(proc_mem(pid))
            time.sleep(1.0)
        st1, sup1, t1 = proc_stat(pid), cpu_of(sups), time.monotonic()
        assert st0 is not None and st1 is not None
        elapsed = t1 - t0
        own, children = st1[1] - st0[1], st1[2] - st0[2]
        sup_cpu = sum(sup1[p] - sup0[p] for p in sup1 if p in sup0)
        self.load(what)
        return {
            "seconds": round(elapsed, 1),
            "edgecore_cpu_s": round(own, 3), "edgecore_children_cpu_s": round(children, 3),
            "edgecore_cpu_s_per_min": round((own + children) * 60 / elapsed, 3),
            "supervisors": len(sups),
            "supervisors_cpu_s_per_min": round(sup_cpu * 60 / elapsed, 3),
            "edgecore_mem": {k: int(statistics.median(s[k] for s in samples if s))
                             for k in ("rss", "anon", "pss", "uss", "hwm")},
        }

    def snapshot(self, what: str) -> dict[str, Any]:
        assert self.edge_root is not None
        sups, ctrs = edge_processes(self.edge_root)
        out = {"edgecore": proc_mem(self.edgecore_pid()), "supervisors": summed(sups),
               "containers": summed(ctrs)}
        self.log(f"[{what}] edgecore RSS {mb(out['edgecore']['rss'])} MB, "
                 f"{out['supervisors']['count']} supervisors RSS "
                 f"{mb(out['supervisors']['rss'])} MB (PSS {mb(out['supervisors']['pss'])}), "
                 f"containers RSS {mb(out['containers']['rss'])} MB")
        return out

    # phases

    def start(self, base: Path) -> None:
        from tests.fixtures.cluster import keadm, start_cloud
        from tests.integration.edge import edgepods as ep

        hook = base / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(INDEX_PATCH + HOOK)
        self.modules_file = base / "edgecore-modules.txt"
        self.log("keadm init (API server, cloudcore with the scheduler and node-ipam) ...")
        self.cloud = start_cloud(base / "cloud",
                                 *[a for x in self.cloud_sets for a in ("--set", x)],
                                 controllers=(*ep.CONTROLLERS, "node-ipam"), scheduler=True)
        self.edge_root = base / "edge" / "root"
        token = keadm("gettoken", "--root", str(self.cloud.root)).stdout.strip()
        self.log(f"keadm join {NODE} (EdgeCore's default timings) ...")
        env = {**os.environ, "PYTHONPATH": str(hook), "KEBENCH_MODULES": str(self.modules_file)}
        if self.prototype_index:
            env["KEBENCH_INDEX"] = "1"
        t0 = time.monotonic()
        joined = subprocess.run(
            [PY, "-m", "kubeedge.cli.keadm", "join",
             f"--cloudcore-ipport=127.0.0.1:{self.cloud.hub_port}", f"--token={token}",
             f"--edgenode-name={NODE}", f"--certport={self.cloud.cert_port}",
             "--root", str(self.edge_root), "--set", "modules.edged.detectNvidiaGPUs=false",
             # kubelet's maxPods (110) would leave the latency phase's last pods Pending.
             "--set", f"modules.edged.tailoredKubeletConfig.maxPods="
                      f"{max(110, self.mode.latency_pods + 10)}",
             *[a for x in self.edge_sets for a in ("--set", x)],
             "--timeout", "60"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        if joined.returncode != 0:
            raise RuntimeError(f"keadm join failed: {joined.stdout}\n{joined.stderr}")
        self.results["info"]["join_seconds"] = round(time.monotonic() - t0, 2)
        # The node's podCIDR reaches the edge once node-ipam allocated it.
        node = self.cloud.kubectl_json("get", "node", NODE)
        self.results["info"]["pod_cidr"] = node["spec"].get("podCIDR", "")
        self.results["info"]["node_ready"] = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node["status"].get("conditions", []))

    def idle(self) -> None:
        m = self.mode
        self.log(f"settling {m.settle:.0f} s, then the idle window ({m.idle_window:.0f} s) ...")
        time.sleep(m.settle)
        pid = self.edgecore_pid()
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 5
        while not self.modules_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.modules = self.modules_file.read_text().split() \
            if self.modules_file.exists() else []
        self.results["cpu"]["idle"] = self.window(m.idle_window, "idle")
        self.results["memory"]["idle"] = self.snapshot("idle")
        self.results["memory"]["idle"]["window_median"] = \
            self.results["cpu"]["idle"]["edgecore_mem"]
        self.log(f"idle: edgecore {self.results['cpu']['idle']['edgecore_cpu_s_per_min']} "
                 f"CPU s/min, RSS {mb(self.results['cpu']['idle']['edgecore_mem']['rss'])} MB")

    def run_baselines(self, work: Path) -> None:
        self.log("baseline processes (bare interpreter, libraries, edgecore's imports, "
                 "supervisor alternatives) ...")
        self.results["baselines"]["processes"] = baselines(self.modules, work, 2.0)
        self.load("baselines")

    async def _session(self) -> Any:
        import aiohttp

        from kubeedge.client import kubeconfig as kc

        access = kc.load(self.cloud.kubeconfig)
        return aiohttp.ClientSession(
            base_url=self.cloud.server,
            connector=aiohttp.TCPConnector(ssl=access.ssl_context(), limit=64),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))

    async def latency(self) -> None:
        """Pods created in batches through one keep-alive session; the memory and CPU
        with `memory_pods` running are taken when that many are Ready."""
        import aiohttp
        import orjson

        m = self.mode
        session = await self._session()
        created: dict[str, float] = {}
        posted: dict[str, float] = {}
        bound: dict[str, float] = {}
        ready: dict[str, float] = {}
        uids: dict[str, str] = {}
        offsets: dict[str, float] = {}  # wall clock - monotonic, when Ready was seen
        waiters: dict[str, asyncio.Event] = {}
        base = f"/api/v1/namespaces/{NAMESPACE}/pods"
        try:
            async with session.get(base, params={"labelSelector": "bench=lat"}) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]

            def seen(pod: dict[str, Any], now: float) -> None:
                name = (pod.get("metadata") or {}).get("name", "")
                if not name:
                    return
                uids[name] = pod["metadata"].get("uid", "")
                if (pod.get("spec") or {}).get("nodeName") and name not in bound:
                    bound[name] = now
                if name not in ready and pod_ready(pod):
                    ready[name] = now
                    offsets[name] = time.time() - now
                    if name in waiters:
                        waiters[name].set()

            async def watch(rv: str) -> None:
                while True:
                    params = {"watch": "1", "labelSelector": "bench=lat",
                              "resourceVersion": rv, "allowWatchBookmarks": "false"}
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with session.get(base, params=params) as resp:
                            async for line in resp.content:
                                now = time.monotonic()
                                pod = orjson.loads(line).get("object") or {}
                                seen(pod, now)
                                rv = (pod.get("metadata") or {}).get("resourceVersion", rv)
                    # The stream ended (a server-side timeout): list, then watch again.
                    self.results["latency"].setdefault("watch_restarts", 0)
                    self.results["latency"]["watch_restarts"] += 1
                    async with session.get(base, params={"labelSelector": "bench=lat"}) as r:
                        listed = await r.json()
                    now = time.monotonic()
                    for pod in listed.get("items") or []:
                        seen(pod, now)
                    rv = listed["metadata"]["resourceVersion"]

            watcher = asyncio.create_task(watch(rv))
            await asyncio.sleep(0.5)
            cpu_pids = {**self.cloud_pids(), "edgecore": self.edgecore_pid()}
            stats0 = {k: proc_stat(v) for k, v in cpu_pids.items()}
            sup_cpu0 = 0.0
            self.spy_start(cpu_pids)
            t_start = time.monotonic()
            paused = 0.0

            async def create(name: str) -> None:
                waiters[name] = asyncio.Event()
                body = orjson.dumps(pod_manifest(name, "lat"))
                created[name] = time.monotonic()
                async with session.post(base, data=body,
                                        headers={"Content-Type": "application/json"}) as r:
                    if r.status != 201:
                        raise RuntimeError(f"create {name}: {r.status} {await r.text()}")
                posted[name] = time.monotonic()
                try:
                    await asyncio.wait_for(waiters[name].wait(), 90)
                except TimeoutError:
                    async with session.get(f"{base}/{name}") as r:
                        pod = await r.json()
                    raise RuntimeError(f"pod {name} not Ready after 90 s: "
                                       f"nodeName={pod['spec'].get('nodeName')} status="
                                       f"{json.dumps(pod.get('status'))[:1500]}") from None

            index = 0
            while index < m.latency_pods:
                # A batch ends at `memory_pods` too, so that point is exactly N pods.
                end = min(index + m.batch, m.latency_pods)
                if index < m.memory_pods < end:
                    end = m.memory_pods
                names = [f"lat-{i:03d}" for i in range(index, end)]
                await asyncio.gather(*(create(n) for n in names))
                index += len(names)
                self.log(f"  {index} pods Ready; batch p50 "
                         f"{statistics.median(ready[n] - created[n] for n in names):.3f} s")
                if index == m.memory_pods:
                    p0 = time.monotonic()
                    self.spy_pause()
                    await asyncio.sleep(m.settle / 3)
                    self.results["memory"][f"pods_{index}"] = await asyncio.to_thread(
                        self.snapshot, f"{index} pods")
                    self.results["cpu"][f"pods_{index}"] = await asyncio.to_thread(
                        self.window, m.pods_window, f"{index} pods")
                    self.spy_resume(cpu_pids)
                    paused += time.monotonic() - p0
            wall = time.monotonic() - t_start - paused
            stats1 = {k: proc_stat(v) for k, v in cpu_pids.items()}
            self.spy_stop()
            assert self.edge_root is not None
            sups, _ = edge_processes(self.edge_root)
            sup_cpu = sum(c for c in cpu_of(sups).values()) - sup_cpu0
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        finally:
            await session.close()
        lat = [ready[n] - created[n] for n in created]
        to_bound = [bound[n] - created[n] for n in created if n in bound]
        bound_to_ready = [ready[n] - bound[n] for n in created if n in bound]
        post = [posted[n] - created[n] for n in posted]
        cpu = {}
        for k in cpu_pids:
            a, b = stats0[k], stats1[k]
            if a and b:
                cpu[k] = {"own_s": round(b[1] - a[1], 2), "children_s": round(b[2] - a[2], 2)}
        cpu["supervisors_total_s"] = round(sup_cpu, 2)  # their whole lives so far
        self.results["latency"]["edge"] = {
            "pods": len(lat), "batch": m.batch, "how": "POST per pod, one keep-alive "
            "session, scheduler binds (nodeSelector hostname), batches wait for Ready",
            "p50": percentile(lat, 50), "p90": percentile(lat, 90),
            "p99": percentile(lat, 99), "max": max(lat),
            "post_p50": percentile(post, 50),
            "create_to_bound_p50": percentile(to_bound, 50),
            "create_to_bound_p99": percentile(to_bound, 99),
            "bound_to_ready_p50": percentile(bound_to_ready, 50),
            "bound_to_ready_p99": percentile(bound_to_ready, 99),
            "wall_s": round(wall, 2), "pods_per_s": round(len(lat) / wall, 2),
            "cpu_s": cpu, "samples": [round(x, 4) for x in lat],
            "sandbox_network": self.sandbox_network(),
        }
        self.results["latency"]["edge"].update(self.timeline(uids, bound, ready, offsets))
        self.load("latency")
        self.results["memory"][f"pods_{m.latency_pods}"] = self.snapshot(
            f"{m.latency_pods} pods")

    def timeline(self, uids: dict[str, str], bound: dict[str, float],
                 ready: dict[str, float], offsets: dict[str, float]) -> dict[str, Any]:
        """Where each pod's time went, from the edge's own records (wall clock, ns):
        bound (watch) -> sandbox record created (the edge acts) -> container started
        (the supervisor's startedAt) -> Ready seen in the watch."""
        from tests.integration.edge import edgepods as ep

        assert self.edge_root is not None
        sandbox_at: dict[str, float] = {}
        for p in (self.edge_root / "var/lib/kubeedge/runtime/sandboxes").glob(
                "*/sandbox.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                d = json.loads(p.read_text())
                sandbox_at[d["metadata"]["uid"]] = d["createdAt"] / 1e9
        started_at = {c.labels.get("io.kubernetes.pod.uid", ""): c.started_at / 1e9
                      for c in ep.containers(self.edge_root) if c.started_at}
        parts: dict[str, list[float]] = {"bound_to_edge_sandbox": [],
                                         "sandbox_to_container_started": [],
                                         "container_started_to_ready_seen": []}
        for name, uid in uids.items():
            if name not in offsets or name not in bound or uid not in sandbox_at \
                    or uid not in started_at:
                continue
            offset = offsets[name]  # wall = monotonic + offset
            b, r_ = bound[name] + offset, ready[name] + offset
            parts["bound_to_edge_sandbox"].append(sandbox_at[uid] - b)
            parts["sandbox_to_container_started"].append(started_at[uid] - sandbox_at[uid])
            parts["container_started_to_ready_seen"].append(r_ - started_at[uid])
        return {"timeline": {k: {"p50": round(percentile(v, 50), 4),
                                 "p99": round(percentile(v, 99), 4), "n": len(v)}
                             for k, v in parts.items()}}

    def sandbox_network(self) -> dict[str, int]:
        assert self.edge_root is not None
        counts: dict[str, int] = {}
        for p in (self.edge_root / "var/lib/kubeedge/runtime/sandboxes").glob(
                "*/sandbox.json"):
            with contextlib.suppress(OSError, ValueError):
                d = json.loads(p.read_text())
                key = "pod network" if d.get("ip") else f"host ({d.get('networkReason')})"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def delete_pods(self) -> None:
        self.log("deleting the pods ...")
        t0 = time.monotonic()
        self.cloud.kubectl("delete", "pods", "-n", NAMESPACE, "-l", "bench=lat",
                           "--wait=false", timeout=120)
        assert self.edge_root is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            left = self.cloud.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "bench=lat")
            sups, _ = edge_processes(self.edge_root)
            if not left["items"] and not sups:
                break
            time.sleep(1)
        self.results["info"]["delete_all_seconds"] = round(time.monotonic() - t0, 1)

    async def runtime_baseline(self, work: Path) -> None:
        """The same number of pods straight on a ProcessRuntime of its own."""
        from kubeedge.edge.runtime import (
            ContainerConfig,
            ContainerMetadata,
            PodSandboxConfig,
            PodSandboxMetadata,
        )
        from kubeedge.edge.runtime.contract import (
            kubelet_container_labels,
            kubelet_sandbox_labels,
        )
        from kubeedge.edge.runtime.process import ProcessRuntime

        m = self.mode
        net = self.results["latency"]["edge"]["sandbox_network"]
        use_net = "pod network" in net
        rt = ProcessRuntime(work / "rt-root", network=use_net, pod_cidr="10.251.0.0/24",
                            node_name="rtbase", cgroup_parent="kubeedge-rtbase")
        started: list[tuple[str, str]] = []
        lat: list[float] = []

        async def one(i: int) -> None:
            t0 = time.monotonic()
            uid = f"00000000-0000-4000-8000-{i:012d}"
            name = f"base-{i:03d}"
            sid = await rt.run_pod_sandbox(PodSandboxConfig(
                PodSandboxMetadata(name, NAMESPACE, uid),
                labels=kubelet_sandbox_labels(NAMESPACE, name, uid)))
            await rt.pull_image("busybox")
            cid = await rt.create_container(sid, ContainerConfig(
                ContainerMetadata("app"), image="busybox", command=["sleep", "86400"],
                labels=kubelet_container_labels(NAMESPACE, name, uid, "app"),
                log_path="app/0.log"))
            await rt.start_container(cid)
            lat.append(time.monotonic() - t0)
            started.append((sid, cid))

        self.log(f"baseline: {m.latency_pods} pods straight on ProcessRuntime "
                 f"(network {'on' if use_net else 'off'}) ...")
        t_start = time.monotonic()
        try:
            for index in range(0, m.latency_pods, m.batch):
                await asyncio.gather(*(one(i) for i in range(
                    index, min(index + m.batch, m.latency_pods))))
            wall = time.monotonic() - t_start
            self.results["latency"]["runtime"] = {
                "pods": len(lat), "batch": m.batch, "network": use_net,
                "p50": percentile(lat, 50), "p90": percentile(lat, 90),
                "p99": percentile(lat, 99), "max": max(lat),
                "wall_s": round(wall, 2), "pods_per_s": round(len(lat) / wall, 2),
                "samples": [round(x, 4) for x in lat]}
            self.load("runtime baseline")
            # What one Edged status pass pays for listing a pod's containers with this
            # many on the node (list_containers reads every container's state files).
            from kubeedge.edge.runtime import ContainerFilter

            one_uid = {"io.kubernetes.pod.uid": f"00000000-0000-4000-8000-{0:012d}"}
            times = []
            for _ in range(7):
                t0 = time.perf_counter()
                await rt.list_containers(ContainerFilter(labels=one_uid))
                times.append(time.perf_counter() - t0)
            self.results["latency"]["runtime"]["list_containers_one_pod_ms"] = round(
                statistics.median(times) * 1000, 2)
            sups, _ = edge_processes(work / "rt-root")
            self.results["memory"]["runtime_baseline_supervisors"] = summed(sups)
        finally:
            self.log("baseline: stopping its pods ...")

            async def stop(sid: str, cid: str) -> None:
                with contextlib.suppress(Exception):
                    await rt.stop_container(cid, 2)
                    await rt.remove_container(cid)
                with contextlib.suppress(Exception):
                    await rt.stop_pod_sandbox(sid)
                    await rt.remove_pod_sandbox(sid)

            for i in range(0, len(started), 20):
                await asyncio.gather(*(stop(s, c) for s, c in started[i:i + 20]))
            with contextlib.suppress(Exception):
                await rt.net.reset()

    # py-spy (only with --profile)

    def spy_start(self, pids: dict[str, int]) -> None:
        if self.profile is None:
            return
        spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        part = len([s for s in self.spies if s[2] == "edgecore"])
        for name, pid in pids.items():
            out = self.profile / f"{name}-{part}.txt"
            proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "100",
                                     "--format", "raw", "--nonblocking",
                                     "-o", str(out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.spies.append((proc, out, name))

    def spy_pause(self) -> None:
        self.spy_stop()

    def spy_resume(self, pids: dict[str, int]) -> None:
        self.spy_start(pids)

    def spy_stop(self) -> None:
        for proc, _, _ in self.spies:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _, _ in self.spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)

    def profiles(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in sorted({s[2] for s in self.spies}):
            files = [s[1] for s in self.spies if s[2] == name]
            out[name] = summarize_profile(files)
        return out

    def keep_logs(self, dest: Path) -> None:
        keep_logs(dest, self.edge_root, self.cloud)

    def stop(self) -> None:
        stop_all(self.spies, self.edge_root, self.cloud)

    def run(self, base: Path) -> None:
        self.results["info"].update(
            mode=self.mode.name, mode_settings=asdict(self.mode), python=sys.version.split()[0],
            cores=os.cpu_count(), root=os.geteuid() == 0, source=git_rev(),
            cloud_sets=self.cloud_sets, edge_sets=self.edge_sets,
            prototype_index=self.prototype_index)
        self.load("start")
        self.start(base)
        self.idle()
        self.run_baselines(base)
        asyncio.run(self.latency())
        self.delete_pods()
        asyncio.run(self.runtime_baseline(base))
        if self.profile is not None:
            self.results["profile"] = self.profiles()


def keep_logs(dest: Path, edge_root: Path | None, cloud: Any) -> None:
    """edgecore's and cloudcore's logs, copied out before the roots are removed."""
    dest.mkdir(parents=True, exist_ok=True)
    pairs = []
    if edge_root is not None:
        pairs.append((edge_root / "var/log/kubeedge/edgecore.log", "edgecore.log"))
    if cloud is not None:
        pairs += [(cloud.root / "var/log/kubeedge" / n, n)
                  for n in ("cloudcore.log", "apiserver.log")]
    for src, name in pairs:
        with contextlib.suppress(OSError):
            shutil.copyfile(src, dest / name)


def stop_all(spies: list[Any], edge_root: Path | None, cloud: Any) -> None:
    """The profilers killed, the edge reset and the cloud stopped (a benchmark's end)."""
    from tests.fixtures.cluster import keadm

    for proc, _, _ in spies:
        if proc.poll() is None:
            proc.kill()
    if edge_root is not None:
        keadm("reset", "edge", "--root", str(edge_root), "--force", check=False, timeout=180)
    if cloud is not None:
        cloud.stop()


def summarize_profile(files: list[Path], top: int = 25) -> dict[str, Any]:
    """py-spy raw (collapsed) stacks -> sample count, idle share, and the functions with
    the largest inclusive and self shares of the non-idle samples."""
    incl: dict[str, int] = {}
    own: dict[str, int] = {}
    total = idle = 0
    for f in files:
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit():
                    continue
                n = int(count)
                frames = [x.rsplit(":", 1)[0] for x in stack.split(";")]
                # Frames are "func (file.py:line)"; keep "func (file.py)".
                frames = [fr + ")" if "(" in fr and not fr.endswith(")") else fr
                          for fr in frames]
                total += n
                leaf = frames[-1] if frames else ""
                if leaf.startswith(("select (", "poll (", "epoll", "_run_once")) or \
                        "selectors.py" in leaf or "wait (threading.py" in leaf:
                    idle += n
                    continue
                for fr in set(frames):
                    if "kubeedge/" in fr and "kubeedge/cli/" not in fr:
                        incl[fr] = incl.get(fr, 0) + n
                own[leaf] = own.get(leaf, 0) + n
    busy = max(1, total - idle)
    return {"samples": total, "idle_share": round(idle / max(1, total), 3),
            "inclusive": [(k, round(v / busy, 3)) for k, v in
                          sorted(incl.items(), key=lambda kv: -kv[1])[:top]],
            "self": [(k, round(v / busy, 3)) for k, v in
                     sorted(own.items(), key=lambda kv: -kv[1])[:top]]}


def git_rev() -> str:
    proc = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                           capture_output=True, text=True).stdout.strip()
    return proc.stdout.strip() + (" + uncommitted src changes" if dirty else "")


# --- report ------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> str:
    lines = []
    info = r["info"]
    lines.append(f"edge benchmark ({info['mode']}), Python {info['python']}, "
                 f"{info['cores']} cores, root={info['root']}, source {info['source']}")
    lines.append(f"load averages: {r['load']}")
    if info.get("prototype_index"):
        lines.append("edgecore ran with the list_containers index prototype (INDEX_PATCH)")
    if info.get("cloud_sets") or info.get("edge_sets"):
        lines.append(f"config changes: cloud {info.get('cloud_sets')}, "
                     f"edge {info.get('edge_sets')}")
    b = r["baselines"]["processes"]
    e = r["cpu"]["idle"]["edgecore_mem"]
    lines.append("\nmemory (MB)                       RSS    anon    PSS    USS")

    def row(label: str, m: dict[str, Any]) -> None:
        lines.append(f"  {label:<30} {mb(m.get('rss', 0)):>6} {mb(m.get('anon', 0)):>7} "
                     f"{mb(m.get('pss', 0)):>6} {mb(m.get('uss', 0)):>6}")

    row("edgecore idle (window median)", e)
    for k in ("bare_interpreter", "libraries", "edgecore_imports"):
        if k in b:
            row(f"baseline: {k}", b[k])
    if "edgecore_imports" in b:
        lines.append(f"  edgecore idle / its imports alone: "
                     f"{e['rss'] / b['edgecore_imports']['rss']:.2f}x RSS; "
                     f"/ bare interpreter {e['rss'] / b['bare_interpreter']['rss']:.2f}x")
    for key in sorted(k for k in r["memory"] if k.startswith("pods_")):
        s = r["memory"][key]
        row(f"edgecore, {key.split('_')[1]} pods", s["edgecore"])
        row(f"  {s['supervisors']['count']} supervisors (sum)", s["supervisors"])
        if s["supervisors"]["per_process_median"]:
            row("  one supervisor (median)", s["supervisors"]["per_process_median"])
        row(f"  {s['containers']['count']} container processes", s["containers"])
    for k in ("supervisor_imports", "stdlib_supervisor", "c_shim"):
        if k in b:
            row(f"alternative: {k}", b[k])
    lines.append("\nCPU (s per minute)")
    for key, c in r["cpu"].items():
        lines.append(f"  {key:<10} edgecore {c['edgecore_cpu_s_per_min']:.3f} "
                     f"(own {c['edgecore_cpu_s']:.2f} s + children "
                     f"{c['edgecore_children_cpu_s']:.2f} s in {c['seconds']} s), "
                     f"{c['supervisors']} supervisors {c['supervisors_cpu_s_per_min']:.3f}")
    le, lr = r["latency"].get("edge"), r["latency"].get("runtime")
    if le:
        lines.append(f"\npod start latency over {le['pods']} pods (batches of {le['batch']}; "
                     f"sandboxes: {le['sandbox_network']})")
        lines.append(f"  create -> Ready   p50 {le['p50']:.3f} s  p90 {le['p90']:.3f} s  "
                     f"p99 {le['p99']:.3f} s  max {le['max']:.3f} s  "
                     f"({le['pods_per_s']} pods/s)")
        lines.append(f"  create -> bound   p50 {le['create_to_bound_p50']:.3f} s  p99 "
                     f"{le['create_to_bound_p99']:.3f} s; bound -> Ready p50 "
                     f"{le['bound_to_ready_p50']:.3f} s  p99 {le['bound_to_ready_p99']:.3f} s")
        for k, v in (le.get("timeline") or {}).items():
            lines.append(f"  {k:<34} p50 {v['p50']:.3f} s  p99 {v['p99']:.3f} s")
        lines.append(f"  CPU during the phase: {le['cpu_s']}")
    if lr:
        lines.append(f"  runtime only      p50 {lr['p50']:.3f} s  p90 {lr['p90']:.3f} s  "
                     f"p99 {lr['p99']:.3f} s  ({lr['pods_per_s']} pods/s); "
                     f"list_containers of one pod among {lr['pods']}: "
                     f"{lr.get('list_containers_one_pod_ms', float('nan'))} ms")
        if le:
            lines.append(f"  control path cost: p50 {le['p50'] / lr['p50']:.2f}x, "
                         f"p99 {le['p99'] / lr['p99']:.2f}x")
    for name, p in (r.get("profile") or {}).items():
        lines.append(f"\nprofile {name}: {p['samples']} samples, idle {p['idle_share']:.0%}")
        for fn, share in p["inclusive"][:12]:
            lines.append(f"   {share:6.1%}  {fn}")
        lines.append("   self:")
        for fn, share in p["self"][:8]:
            lines.append(f"   {share:6.1%}  {fn}")
    return "\n".join(lines)


def plot(path: Path, out: Path, extra: Path | None = None) -> None:
    """Memory (log scale), latency CDFs, and latency by pod index (pods running grow
    along it); `extra`: another results file (an experiment) drawn beside the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = json.loads(path.read_text())
    x_run = json.loads(extra.read_text()) if extra is not None and extra.exists() else None
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.4))
    b = r["baselines"]["processes"]
    labels, own, sups = [], [], []
    for key, label in (("bare_interpreter", "bare\npython"), ("libraries", "python +\nlibraries"),
                       ("edgecore_imports", "edgecore's\nimports")):
        if key in b:
            labels.append(label)
            own.append(b[key]["rss"] / 1e6)
            sups.append(0)
    labels.append("edgecore\nidle")
    own.append(r["cpu"]["idle"]["edgecore_mem"]["rss"] / 1e6)
    sups.append(0)
    for key in sorted((k for k in r["memory"] if k.startswith("pods_")),
                      key=lambda k: int(k.split("_")[1])):
        s = r["memory"][key]
        labels.append(f"edgecore\n{key.split('_')[1]} pods")
        own.append(s["edgecore"]["rss"] / 1e6)
        sups.append(s["supervisors"]["pss"] / 1e6)
    xs = list(range(len(labels)))
    ax1.bar(xs, own, label="process RSS (edgecore or baseline)", color="#4477aa")
    ax1.bar(xs, sups, bottom=own, label="+ supervisors (sum of PSS)", color="#ee8866")
    for i, (o, sp) in enumerate(zip(own, sups, strict=True)):
        ax1.text(i, o * 0.8, f"{o:.0f}", ha="center", va="top", color="white", fontsize=7)
        if sp:
            ax1.text(i, (o + sp) * 1.05, f"+{sp:.0f}", ha="center", fontsize=7)
    ax1.axhline(60, color="gray", ls="--", lw=1)
    ax1.text(-0.4, 64, "aim 60 MB", fontsize=7, color="gray")
    ax1.set_xticks(xs, labels, fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylim(1, 4000)
    ax1.set_ylabel("MB")
    ax1.set_title("Memory")
    ax1.legend(fontsize=7, loc="upper left")
    runs = [(r, "")] + ([(x_run, " (list_containers index prototype)")] if x_run else [])
    for run, suffix in runs:
        le, lr = run["latency"].get("edge"), run["latency"].get("runtime")
        # The experiment's own runtime baseline is the same unpatched runtime: not drawn.
        for data, label, style in ((le, "API create → Ready", "-"),
                                   (None if suffix else lr, "ProcessRuntime only", ":")):
            if data:
                srt = sorted(data["samples"])
                ax2.plot(srt, [i / len(srt) for i in range(1, len(srt) + 1)], style,
                         label=label + suffix)
        if le:
            ax3.plot(range(1, len(le["samples"]) + 1), le["samples"], ".", ms=3,
                     label="API create → Ready" + suffix)
    ax2.axvline(1.0, color="gray", ls="--", lw=1)
    ax2.set_xlabel("seconds")
    ax2.set_ylabel("fraction of pods")
    le = r["latency"]["edge"]
    ax2.set_title(f"Pod start latency, {le['pods']} pods in batches of {le['batch']}")
    ax2.legend(fontsize=7, loc="lower right")
    ax3.axhline(1.0, color="gray", ls="--", lw=1)
    ax3.set_xlabel("pod (in creation order = pods already running)")
    ax3.set_ylabel("seconds to Ready")
    ax3.set_title("Latency as the node fills")
    ax3.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 pods, short windows")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default benchmarks/results/edge-<mode>.json)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy (raw stacks) of edgecore, cloudcore and the API server "
                             "while pods start, summarised into the results")
    parser.add_argument("--plot", nargs="?", const="", default=None, metavar="JSON",
                        help="only plot a results file (default the full one) to "
                             "docs/img/edge.png")
    parser.add_argument("--cloud-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a `keadm init --set` for cloudcore (repeatable), e.g. "
                             "modules.edgeController.load.updatePodStatusWorkers=8")
    parser.add_argument("--edge-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a `keadm join --set` for edgecore (repeatable)")
    parser.add_argument("--pods", type=int, default=None,
                        help="pods of the latency phase (200 full, 40 quick)")
    parser.add_argument("--batch", type=int, default=None,
                        help="concurrent creates per batch (20 full, 10 quick)")
    parser.add_argument("--prototype-index", action="store_true",
                        help="run edgecore with list_containers patched (an in-memory index "
                             "of containers by pod, see INDEX_PATCH): an experiment")
    args = parser.parse_args(argv)
    if args.plot is not None:
        plot(Path(args.plot) if args.plot else REPO / "benchmarks/results/edge-full.json",
             REPO / "docs/img/edge.png",
             REPO / "benchmarks/results/edge-full-index-prototype.json")
        return 0
    mode = MODES["quick" if args.quick else "full"]
    if args.pods or args.batch:
        mode = Mode(**{**asdict(mode), "latency_pods": args.pods or mode.latency_pods,
                       "batch": args.batch or mode.batch,
                       "deadline_seconds": mode.deadline_seconds + 3 * (args.pods or 0)})
    out = args.json or REPO / f"benchmarks/results/edge-{mode.name}.json"
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    arm_deadline(mode.deadline_seconds)
    started = time.monotonic()
    bench = Bench(mode, args.profile, log, args.cloud_set, args.edge_set)
    bench.prototype_index = args.prototype_index
    return run_to_end(bench, "kubeedge-edge-bench", out, report, started)


def run_to_end(bench: Any, name: str, out: Path, report: Callable[[dict[str, Any]], str],
               started: float) -> int:
    """Run `bench` in a temp root; logs kept on failure; the edge and the cloud reset
    whatever happens; the results written to `out` and reported."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        try:
            bench.run(Path(tmp))
        except BaseException:
            logs = Path(tempfile.gettempdir()) / f"{name}-logs"
            bench.keep_logs(logs)
            log(f"failed; logs kept in {logs}")
            raise
        finally:
            signal.alarm(0)
            log("keadm reset of the edge and the cloud ...")
            bench.stop()
    r = bench.results
    r["info"]["total_seconds"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=1, default=str) + "\n")
    print(report(r))
    print(f"\nall samples: {out}  ({r['info']['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
