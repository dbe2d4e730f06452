"""Training jobs at scale: 100 TFJobs of 4 one-GPU workers through the real training
operator and Volcano scheduler on hollow GPU nodes, beside the same pods submitted as
plain Volcano jobs in the same run.

    .venv/bin/python benchmarks/training.py --quick    # 20 jobs, 1 run
    .venv/bin/python benchmarks/training.py            # 100 jobs, 3 runs

The cloud is the real one (`keadm init`: the API server and cloudcore with every
controller and the scheduler, each its own process, SQLite storage, the defaults a user
gets: Volcano's 1 s session period); the hollow nodes are a third process (`python -m
kubeedge.hollow`, `--gpus 8` each) that turns each bound pod Running after
`--ready-delay`.

Each run submits, in a fresh namespace each, with 16 creates in flight:
- tfjob: J TFJobs (`kubeflow.org/v1`), Worker x 4, `nvidia.com/gpu: 1` per worker,
  `schedulerName: volcano`. The operator makes the PodGroup (minMember 4), waits for
  Volcano to admit it, then makes 4 pods and 4 headless Services; the scheduler binds
  the gang; the hollow nodes run it.
- vcjob: J Volcano Jobs (`batch.volcano.sh/v1alpha1`), one task `worker` of 4 replicas
  with the same pod template and the `svc` plugin (one headless Service per job):
  Volcano's own controller, the same scheduler and nodes.
The two kinds alternate which goes first. Times are taken from watch events seen by
this process: a job is *admitted* when its PodGroup leaves Pending, *bound* when all
its pods have a node, *running* when all its pods are Running.

Prints, per kind, the medians over `--runs` of: jobs admitted per second and jobs fully
bound per second (J over the time from the first create to the last job admitted /
bound), the median and the worst job's time from its create to all its pods Running,
and the ratio tfjob / vcjob (the operator's cost). Writes every sample to `--json`.
Always ends with the hollow nodes stopped and `keadm reset`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the fixtures that run `keadm init` live in tests/
    sys.path.insert(0, str(REPO))

from benchmarks.controllers import median, start_hollow, stop_hollow  # noqa: E402
from tests.fixtures.cluster import Cloud, start_cloud  # noqa: E402

from kubeedge.client.errors import APIError  # noqa: E402
from kubeedge.client.informer import Informer  # noqa: E402
from kubeedge.client.resources import ResourceRef  # noqa: E402
from kubeedge.client.rest import APIClient  # noqa: E402

PODS = ResourceRef("", "v1", "pods", True, "Pod")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
PODGROUPS = ResourceRef("scheduling.volcano.sh", "v1beta1", "podgroups", True, "PodGroup")
TFJOBS = ResourceRef("kubeflow.org", "v1", "tfjobs", True, "TFJob")
VCJOBS = ResourceRef("batch.volcano.sh", "v1alpha1", "jobs", True, "Job")
KINDS = ("tfjob", "vcjob")
WORKERS = 4
GPUS_PER_NODE = 8
IN_FLIGHT = 16


@dataclass
class Phase:
    kind: str
    jobs: int
    admitted_per_s: float = 0.0
    bound_per_s: float = 0.0
    all_running_s: float = 0.0  # first create to the last job's pods all Running
    job_running_median_s: float = 0.0  # per job: its create to its pods all Running
    job_running_max_s: float = 0.0


@dataclass
class Report:
    jobs: int
    nodes: int
    ready_delay: float
    machine: str
    phases: list[Phase] = field(default_factory=list)


def pod_template() -> dict[str, Any]:
    return {"spec": {
        "schedulerName": "volcano",
        "containers": [{"name": "tensorflow", "image": "python:3.11",
                        "command": ["python3", "-c", "print('training')"],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                      "limits": {"nvidia.com/gpu": 1}}}]}}


def tfjob(name: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
            "spec": {"tfReplicaSpecs": {"Worker": {
                "replicas": WORKERS, "restartPolicy": "Never", "template": pod_template()}}}}


def vcjob(name: str) -> dict[str, Any]:
    template = pod_template()
    template["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": name},
            "spec": {"schedulerName": "volcano", "minAvailable": WORKERS,
                     "plugins": {"svc": []},
                     "tasks": [{"name": "worker", "replicas": WORKERS,
                                "template": template}]}}


def owner(obj: dict[str, Any]) -> str:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r["name"] for r in refs if r.get("controller")), refs[0]["name"] if refs
                else "")


async def phase(api: APIClient, kind: str, jobs: int, ns: str) -> Phase:
    """Submit `jobs` jobs of `kind` into a new namespace and time them from watch
    events."""
    await api.create(NAMESPACES, {"metadata": {"name": ns}})
    submitted: dict[str, float] = {}
    admitted: dict[str, float] = {}
    pods: dict[str, dict[str, dict[str, Any]]] = {}
    bound: dict[str, float] = {}
    running: dict[str, float] = {}
    done = asyncio.Event()

    def on_group(pg: dict[str, Any]) -> None:
        job = owner(pg)
        phase = (pg.get("status") or {}).get("phase") or "Pending"
        if job and phase != "Pending" and job not in admitted:
            admitted[job] = time.perf_counter()

    def on_pod(pod: dict[str, Any]) -> None:
        job = owner(pod)
        if not job:
            return
        mine = pods.setdefault(job, {})
        mine[pod["metadata"]["name"]] = pod
        if len(mine) < WORKERS:
            return
        now = time.perf_counter()
        if job not in bound and all(p["spec"].get("nodeName") for p in mine.values()):
            bound[job] = now
        if job not in running and all((p.get("status") or {}).get("phase") == "Running"
                                      for p in mine.values()):
            running[job] = now
            if len(running) >= jobs:
                done.set()

    groups = Informer(api, PODGROUPS, ns)
    groups.add_event_handler(on_group, lambda _old, new: on_group(new))
    pod_informer = Informer(api, PODS, ns)
    pod_informer.add_event_handler(on_pod, lambda _old, new: on_pod(new))
    ref, body = (TFJOBS, tfjob) if kind == "tfjob" else (VCJOBS, vcjob)
    async with groups, pod_informer:
        await groups.wait_synced()
        await pod_informer.wait_synced()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def create(i: int) -> None:
            name = f"train-{i:03d}"
            async with gate:
                submitted[name] = time.perf_counter()
                await api.create(ref, body(name), ns)

        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(jobs)))
        await asyncio.wait_for(done.wait(), 900)
    per_job = [running[j] - submitted[j] for j in submitted]
    return Phase(kind, jobs,
                 admitted_per_s=jobs / (max(admitted.values()) - started),
                 bound_per_s=jobs / (max(bound.values()) - started),
                 all_running_s=max(running.values()) - started,
                 job_running_median_s=statistics.median(per_job),
                 job_running_max_s=max(per_job))


async def clear(api: APIClient, ns: str) -> None:
    """Delete the namespace and wait until it is gone: its pods (the hollow nodes
    confirm each deletion), so the next phase finds every GPU free, and the Services,
    PodGroups and jobs, so their deletion does not load the next phase."""
    await api.delete(NAMESPACES, ns)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            await api.get(NAMESPACES, ns)
        except APIError as exc:
            if exc.is_not_found:
                return
            raise
        await asyncio.sleep(0.5)
    raise RuntimeError(f"namespace {ns} was not gone within 600 s")


async def one_run(cloud: Cloud, jobs: int, run: int) -> list[Phase]:
    out = []
    order = KINDS if run % 2 == 0 else KINDS[::-1]
    async with APIClient(cloud.kubeconfig, qps=5000, burst=5000) as api:
        for kind in order:
            ns = f"{kind}-{run}"
            out.append(await phase(api, kind, jobs, ns))
            await clear(api, ns)
    return out


def report(rep: Report) -> str:
    by = {k: [p for p in rep.phases if p.kind == k] for k in KINDS}
    rows = [("jobs admitted/s", "admitted_per_s", "{:.1f}", True),
            ("jobs fully bound/s", "bound_per_s", "{:.1f}", True),
            ("first create → every pod Running", "all_running_s", "{:.1f} s", False),
            ("per job: create → its pods Running, median", "job_running_median_s",
             "{:.1f} s", False),
            ("per job: create → its pods Running, worst", "job_running_max_s",
             "{:.1f} s", False)]
    width = max(len(r[0]) for r in rows)
    runs = len(by["tfjob"])
    lines = [f"{rep.jobs} jobs x {WORKERS} one-GPU pods on {rep.nodes} hollow nodes "
             f"({GPUS_PER_NODE} GPUs each), ready delay {rep.ready_delay} s, median of "
             f"{runs} run(s) ({rep.machine})",
             f"  {'':<{width}}  {'TFJob':>9}  {'vcjob':>9}  operator cost"]
    for title, attr, fmt, rate in rows:
        tf = median([getattr(p, attr) for p in by["tfjob"]])
        vc = median([getattr(p, attr) for p in by["vcjob"]])
        # The cost as a factor > 1 when the operator is slower: rates invert.
        cost = (vc / tf if rate else tf / vc) if tf and vc else 0.0
        lines.append(f"  {title:<{width}}  {fmt.format(tf):>9}  {fmt.format(vc):>9}  "
                     f"{cost:.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 jobs, 1 run")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--ready-delay", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.runs = 20, 1
    # Room for every job at once, with a spare node: gangs never wait for GPUs here,
    # so the figures are the control loop's, not the queue's.
    nodes = -(-args.jobs * WORKERS // GPUS_PER_NODE) + 1
    rep = Report(args.jobs, nodes, args.ready_delay,
                 f"{platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        cloud = start_cloud(Path(tmp), controllers=("*",), scheduler=True)
        hollow = None
        try:
            hollow = start_hollow(cloud, nodes, args.ready_delay, "--gpus", str(GPUS_PER_NODE))
            for i in range(args.runs):
                phases = asyncio.run(one_run(cloud, args.jobs, i))
                for p in phases:
                    print(f"run {i + 1} {p.kind}: " + ", ".join(
                        f"{k} {v:.2f}" for k, v in asdict(p).items()
                        if isinstance(v, float)), flush=True)
                rep.phases.extend(phases)
        finally:
            stop_hollow(hollow)
            cloud.stop()
    print(report(rep))
    if args.json:
        args.json.write_text(json.dumps(asdict(rep), indent=2))


if __name__ == "__main__":
    main()
