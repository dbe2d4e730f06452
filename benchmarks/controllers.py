"""The controller manager and scheduler at scale: a Deployment of R replicas on N hollow
nodes, beside the bare cost of running the same pods, in the same run.

    .venv/bin/python benchmarks/controllers.py --quick     # 300 pods on 30 nodes
    .venv/bin/python benchmarks/controllers.py             # 3,000 pods on 300 nodes

The cloud is the real one (`keadm init`: the API server and cloudcore, each its own
process, SQLite storage); the hollow nodes are a third process (`python -m
kubeedge.hollow`) that turns each bound pod Running and Ready after `--ready-delay`.

Each run measures, in order:
- baseline: R pods created directly with `spec.nodeName` set, spread over the nodes
  (no controller, no scheduler): seconds from the first create to all Ready. This is
  the floor the API server and the hollow nodes set;
- rollout: seconds from `kubectl apply` of the Deployment to `kubectl rollout status`
  succeeding (ReplicaSet creates, scheduler binds, hollow nodes report Ready);
- update: seconds from `kubectl set image` to `rollout status` succeeding again (a full
  rolling update with the default 25 % surge);
- cloudcore CPU seconds and resident memory over the rollout and update, and the API
  server's CPU beside them.

Prints the medians over `--runs` and the ratio of rollout to baseline (the cost of the
control loop on top of the floor). Writes every sample to `--json`; `--profile DIR`
py-spies the API server and cloudcore through the first rollout and update and prints
where their event loops spent the time. Always ends with the hollow nodes stopped and
`keadm reset`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

from benchmarks.apiserver import PROFILE_RATE, summarize_profile  # noqa: E402
from tests.fixtures.cluster import Cloud, start_cloud  # noqa: E402

MB = 1024 * 1024
NS = "bench"
AIM_SECONDS = 30.0  # the aim: 3,000 pods Ready in 30 s


@dataclass
class Run:
    baseline_s: float = 0.0
    rollout_s: float = 0.0
    update_s: float = 0.0
    cloudcore_cpu_s: float = 0.0
    apiserver_cpu_s: float = 0.0
    hollow_cpu_s: float = 0.0
    cloudcore_rss_mb: float = 0.0
    apiserver_rss_mb: float = 0.0


@dataclass
class Report:
    replicas: int
    nodes: int
    ready_delay: float
    machine: str
    runs: list[Run] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


def pid_of(root: Path, name: str) -> int:
    return int((root / f"var/run/kubeedge/{name}.pid").read_text().strip())


def deployment(replicas: int, image: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{
                                  "name": "web", "image": image,
                                  "resources": {"requests": {"cpu": "10m",
                                                             "memory": "16Mi"}}}]}}},
    })


async def baseline(cloud: Cloud, replicas: int, nodes: list[str]) -> float:
    """Create `replicas` pods bound by name and wait until every one is Ready."""
    from kubeedge.client.informer import Informer
    from kubeedge.client.resources import Resource
    from kubeedge.client.rest import APIClient

    pods = Resource.of("v1", "pods")
    async with APIClient(cloud.kubeconfig, qps=5000, burst=5000) as api:
        ready: set[str] = set()
        done = asyncio.Event()

        def seen(pod: dict[str, Any]) -> None:
            conds = (pod.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                ready.add(pod["metadata"]["name"])
                if len(ready) >= replicas:
                    done.set()

        informer = Informer(api, pods, NS, label_selector="bench=baseline")
        informer.add_event_handler(seen, lambda _old, new: seen(new))
        async with informer:
            await informer.wait_synced()
            started = time.perf_counter()
            gate = asyncio.Semaphore(64)

            async def create(i: int) -> None:
                async with gate:
                    await api.create(pods, {
                        "metadata": {"name": f"base-{i}", "labels": {"bench": "baseline"}},
                        "spec": {"nodeName": nodes[i % len(nodes)],
                                 "containers": [{"name": "c", "image": "nginx"}]}}, NS)

            await asyncio.gather(*(create(i) for i in range(replicas)))
            await asyncio.wait_for(done.wait(), 600)
            elapsed = time.perf_counter() - started
        await api.delete_collection(pods, NS, label_selector="bench=baseline")
        # The hollow nodes confirm each deletion; wait until they have.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            left = await api.list(pods, NS, label_selector="bench=baseline", limit=1)
            if not left["items"]:
                break
            await asyncio.sleep(0.5)
    return elapsed


def timed(cloud: Cloud, *args: str, input: str | None = None) -> float:
    started = time.perf_counter()
    cloud.kubectl(*args, input=input, timeout=900)
    return time.perf_counter() - started


@contextlib.contextmanager
def profiled(pids: dict[str, int], out_dir: Path | None) -> Iterator[dict[str, Path]]:
    """py-spy each named process while the block runs (raw stacks to OUT/<name>.txt)."""
    if out_dir is None:
        yield {}
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    outs = {name: out_dir / f"{name}.txt" for name in pids}
    procs = [subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--format", "raw",
         "--nonblocking", "--threads", "--output", str(outs[name])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]
    try:
        yield outs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def print_profiles(outs: dict[str, Path], seconds: float, top: int = 15) -> None:
    for name, path in outs.items():
        if not path.exists():
            continue
        summary = summarize_profile(path, seconds)
        busy = ", ".join(f"{role} {share:.0%}" for role, share in summary["busy"].items())
        print(f"\n{name}: busy {busy}; event loop, inclusive share of its work:")
        for frame, share in summary["inclusive"][:top]:
            print(f"  {share:6.1%}  {frame}")


def one_run(cloud: Cloud, hollow_pid: int, replicas: int, nodes: list[str],
            profile_dir: Path | None = None) -> Run:
    run = Run()
    run.baseline_s = asyncio.run(baseline(cloud, replicas, nodes))
    core, api = pid_of(cloud.root, "cloudcore"), pid_of(cloud.root, "apiserver")
    with profiled({"apiserver": api, "cloudcore": core}, profile_dir) as outs:
        rollout(cloud, run, core, api, hollow_pid, replicas)
    print_profiles(outs, run.rollout_s + run.update_s)
    cloud.kubectl("delete", "deployment", "web", "-n", NS, "--wait=false")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if not cloud.kubectl_json("get", "pods", "-n", NS)["items"]:
            break
        time.sleep(1)
    return run


def rollout(cloud: Cloud, run: Run, core: int, api: int, hollow_pid: int,
            replicas: int) -> None:
    core_cpu, api_cpu, hollow_cpu = cpu_seconds(core), cpu_seconds(api), cpu_seconds(hollow_pid)
    started = time.perf_counter()
    cloud.kubectl("apply", "-f", "-", input=deployment(replicas, "nginx:1.25"))
    cloud.kubectl("rollout", "status", "deployment/web", "-n", NS, "--timeout=900s",
                  timeout=960)
    run.rollout_s = time.perf_counter() - started
    started = time.perf_counter()
    cloud.kubectl("set", "image", "deployment/web", "web=nginx:1.26", "-n", NS)
    cloud.kubectl("rollout", "status", "deployment/web", "-n", NS, "--timeout=900s",
                  timeout=960)
    run.update_s = time.perf_counter() - started
    run.cloudcore_cpu_s = cpu_seconds(core) - core_cpu
    run.apiserver_cpu_s = cpu_seconds(api) - api_cpu
    run.hollow_cpu_s = cpu_seconds(hollow_pid) - hollow_cpu
    run.cloudcore_rss_mb = rss_mb(core)
    run.apiserver_rss_mb = rss_mb(api)


def start_hollow(cloud: Cloud, nodes: int, ready_delay: float,
                 *extra: str) -> subprocess.Popen[str]:
    """`python -m kubeedge.hollow` against the cloud, once its nodes are registered."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeedge.hollow", "--root", str(cloud.root),
         "--nodes", str(nodes), "--ready-delay", str(ready_delay), "--cpu", "32",
         "--memory", "128Gi", "--pods", "110", "--connections", "64", "--cleanup", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "registered" in line:
            print(line.strip())
            return proc
    raise RuntimeError(f"hollow nodes exited early ({proc.wait()})")


def stop_hollow(proc: subprocess.Popen[str] | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(rep: Report) -> str:
    runs = rep.runs
    base = median([r.baseline_s for r in runs])
    roll = median([r.rollout_s for r in runs])
    rows = [
        ("pods Ready, bare (baseline)", f"{base:.1f} s", f"{rep.replicas / base:.0f} pods/s"),
        ("Deployment apply → rollout status", f"{roll:.1f} s",
         f"{rep.replicas / roll:.0f} pods/s, {roll / base:.2f}x baseline"),
        ("rolling update → rollout status", f"{median([r.update_s for r in runs]):.1f} s", ""),
        ("cloudcore CPU (rollout + update)", f"{median([r.cloudcore_cpu_s for r in runs]):.1f} s",
         ""),
        ("API server CPU (rollout + update)",
         f"{median([r.apiserver_cpu_s for r in runs]):.1f} s", ""),
        ("hollow nodes CPU (rollout + update)",
         f"{median([r.hollow_cpu_s for r in runs]):.1f} s", ""),
        ("cloudcore RSS", f"{median([r.cloudcore_rss_mb for r in runs]):.0f} MB", ""),
        ("API server RSS", f"{median([r.apiserver_rss_mb for r in runs]):.0f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{rep.replicas} replicas on {rep.nodes} hollow nodes, ready delay "
             f"{rep.ready_delay} s, median of {len(runs)} run(s) ({rep.machine})"]
    lines += [f"  {name:<{width}}  {value:>9}  {extra}" for name, value, extra in rows]
    verdict = "meets" if roll <= AIM_SECONDS * rep.replicas / 3000 else "misses"
    lines.append(f"  aim: {rep.replicas} pods Ready within "
                 f"{AIM_SECONDS * rep.replicas / 3000:.0f} s — {verdict} it")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 pods on 30 nodes")
    parser.add_argument("--replicas", type=int, default=3000)
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--ready-delay", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy the API server and cloudcore through the first run's "
                             "rollout and update; raw stacks go to DIR")
    args = parser.parse_args()
    if args.quick:
        args.replicas, args.nodes = 300, 30
    rep = Report(args.replicas, args.nodes, args.ready_delay,
                 f"{platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-controllers-") as tmp:
        cloud = start_cloud(Path(tmp), controllers=("*",), scheduler=True)
        hollow = None
        try:
            cloud.kubectl("create", "namespace", NS)
            hollow = start_hollow(cloud, args.nodes, args.ready_delay)
            nodes = [f"hollow-{i}" for i in range(args.nodes)]
            for i in range(args.runs):
                run = one_run(cloud, hollow.pid, args.replicas, nodes,
                              args.profile if i == 0 else None)
                print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in asdict(run).items()),
                      flush=True)
                rep.runs.append(run)
        finally:
            stop_hollow(hollow)
            cloud.stop()
    print(report(rep))
    if args.json:
        args.json.write_text(json.dumps(asdict(rep), indent=2))


if __name__ == "__main__":
    main()
