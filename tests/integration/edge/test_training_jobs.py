"""Kubeflow training jobs on real edges (issue 9 "Must show"): the example TFJob and
PyTorchJob of examples/training/ run through the real API server, cloudcore's training
operator, PodGroup and Queue controllers and Volcano-compatible scheduler, on two real
edgecores, each on a host (network namespace) of its own with pod networking, like
test_multi_edge.py: every pod has its own IP from its node's podCIDR, the edges route
each other's podCIDRs, and the headless Services the operator makes reach every pod's
/etc/hosts (`<job>-<type>-<i>.<ns>.svc`, the names in TF_CONFIG and MASTER_ADDR).

What a pod printed is read from the edge runtime's own log files (`edgepods.containers`,
read-only), so these tests do not depend on `kubectl logs`.

- the PS x1 + Worker x2 TFJob trains to its target and Succeeds: the PS's log has pushes
  from both workers, worker 0's held-out accuracy reaches the target, and every pod
  printed the TF_CONFIG the spec gives it (specs/volcano.md §6);
- success policy: worker 0 succeeding completes a job by default while worker 1 still
  runs; with `successPolicy: AllWorkers` the job waits for worker 1;
- the Master x1 + Worker x1 PyTorchJob trains with DDP (gloo) across the two edges and
  Succeeds, both ranks printing the same final loss;
- the GPU scenario of §4: edges with 2+2 GPUs (`modules.edged.extraCapacity`), two
  TFJobs of 4 one-GPU workers submitted together: sampled through the API every 100 ms,
  never both jobs hold GPUs; the one waiting has no pods at all; both Succeed;
- the contrast without gang scheduling: the same pods created interleaved (A0, B0, A1,
  B1, ...) and bound one by one split the GPUs 2+2 and neither job finishes; the workers
  give up after a short PEER_TIMEOUT (the program's own), so it ends, not hangs;
- a malformed TFJob is refused with 422 and field causes through `kubectl apply`.

Needs root, iproute2, util-linux, containernetworking-plugins and torch (the training
extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib.util
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeedge.api.training import TENSORFLOW, default_job, replica_specs
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.training.crds import PYTORCHJOBS, TFJOBS
from kubeedge.controllers.training.tfjob import TFJobController
from kubeedge.controllers.volcano_crds import PODGROUPS
from tests.fixtures.cluster import Cloud, eventually, wait_until
from tests.fixtures.netns import Lan, lan_with_host
from tests.integration.edge import edgepods as ep
from tests.integration.edge import lanedges
from tests.integration.edge.lanedges import Edge

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "training"
# The operator and what gang scheduling needs (PodGroups for pods, Queues), node-ipam
# and Endpoints for the pods' addresses and names, the garbage collector for owned
# objects, namespace defaults (service accounts).
CONTROLLERS = ("namespace-defaults", "node-ipam", "endpoints", "garbage-collector",
               "tfjob", "pytorchjob", "podgroup", "queue")
GPUS_PER_EDGE = 2
GPU = "nvidia.com/gpu"
PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
JOB_NAME = "training.kubeflow.org/job-name"
GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
# Training runs in the budget (20 s) once its pods run; starting the pods on
# two edges, names reaching /etc/hosts and torch's import come on top.
JOB_TIMEOUT = 120.0

Obj = dict[str, Any]


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="multi-edge networking needs root")


@pytest.fixture(scope="module", autouse=True)
def _require_parts() -> None:
    lanedges.require_parts()
    if importlib.util.find_spec("torch") is None:
        pytest.fail("torch is not installed: `pip install '.[training]'` (torch==2.13.0)")


# --- the cluster: one cloud, two edges with two GPUs each -------------------------------

@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with lan_with_host(2) as lan:
        yield lan


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, lan: Lan) -> Iterator[Cloud]:
    with lanedges.lan_cloud(tmp_path_factory.mktemp("training-edges"), lan,
                            CONTROLLERS) as c:
        yield c


@pytest.fixture(scope="module")
def edges(cloud: Cloud, lan: Lan, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Edge]]:
    gpus = f'modules.edged.extraCapacity={{"{GPU}": {GPUS_PER_EDGE}}}'
    with lanedges.joined_edges(cloud, lan, tmp_path_factory.mktemp("edges"),
                               ["gpu-edge-a", "gpu-edge-b"], gpus) as found:

        def ready() -> bool:
            nodes = {n["metadata"]["name"]: n
                     for n in cloud.kubectl_json("get", "nodes")["items"]}
            return all(
                e.name in nodes
                and nodes[e.name]["status"].get("allocatable", {}).get(GPU) == str(
                    GPUS_PER_EDGE)
                and any(c["type"] == "Ready" and c["status"] == "True"
                        for c in nodes[e.name]["status"].get("conditions") or [])
                for e in found)

        wait_until(ready, 30, "both edges Ready with their GPUs")
        a, b = found
        # Each edge routes the other's podCIDR: the pods of one job talk across edges.
        wait_until(lambda: a.pod_cidr() and b.pod_cidr()
                   and a.routes() == [[b.pod_cidr(), b.host.address]]
                   and b.routes() == [[a.pod_cidr(), a.host.address]], 30,
                   "each edge routing the other's podCIDR")
        yield {e.name: e for e in found}


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


async def namespace(api: APIClient, name: str) -> str:
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": name}})
    return name


# --- jobs from the examples ------------------------------------------------------------

def example(file: str, name: str, ns: str) -> Obj:
    job: Obj = yaml.safe_load((EXAMPLES / file).read_text())
    job["metadata"] = {"name": name, "namespace": ns}
    # The YAML aliases share one template between replica types: unshare them.
    return copy.deepcopy(job)


def specs_of(job: Obj) -> Obj:
    key = "tfReplicaSpecs" if job["kind"] == "TFJob" else "pytorchReplicaSpecs"
    return dict(job["spec"][key])


def container_of(job: Obj, rtype: str) -> Obj:
    return dict(specs_of(job)[rtype]["template"]["spec"]["containers"][0])


def set_env(job: Obj, **env: str) -> None:
    """Add or replace environment variables of every replica type's container."""
    for spec in specs_of(job).values():
        c = spec["template"]["spec"]["containers"][0]
        kept = [v for v in c.get("env") or [] if v["name"] not in env]
        c["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]


def expected_tf_config(job: str, ns: str, replicas: dict[str, int], rtype: str,
                       index: int) -> str:
    """TF_CONFIG as specs/volcano.md §6 gives it, written out from the spec (not from
    the operator's code): sorted lowercase keys, `<job>-<type>-<i>.<ns>.svc:2222`,
    compact JSON as Go's json.Marshal writes it."""
    cluster = {t.lower(): [f"{job}-{t.lower()}-{i}.{ns}.svc:2222" for i in range(n)]
               for t, n in sorted(replicas.items(), key=lambda x: x[0].lower())}
    return json.dumps({"cluster": cluster, "task": {"type": rtype.lower(), "index": index},
                       "environment": "cloud"}, separators=(",", ":"))


async def job_status(api: APIClient, ref: ResourceRef, ns: str, name: str) -> Obj:
    return dict((await api.get(ref, name, ns)).get("status") or {})


def condition(status: Obj, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in status.get("conditions") or [])


async def wait_finished(api: APIClient, ref: ResourceRef, ns: str, name: str,
                        timeout: float = JOB_TIMEOUT) -> Obj:
    async def done() -> Obj | None:
        status = await job_status(api, ref, ns, name)
        return status if condition(status, "Succeeded") or condition(status, "Failed") \
            else None

    return await eventually(done, timeout, f"{ns}/{name} finished", interval=0.2)


async def job_pods(api: APIClient, ns: str, name: str) -> dict[str, Obj]:
    items = (await api.list(PODS, ns, label_selector=f"{JOB_NAME}={name}"))["items"]
    return {p["metadata"]["name"]: p for p in items}


def pod_log(edges: dict[str, Edge], pod: Obj, container: str) -> str:
    """What `container` of `pod` printed, every attempt in order, from the runtime's
    log files on the pod's edge."""
    edge = edges[pod["spec"]["nodeName"]]
    found = [c for c in ep.containers(edge.root, pod["metadata"]["uid"])
             if c.metadata.name == container]
    found.sort(key=lambda c: (c.metadata.attempt, c.created_at))
    return "\n".join(ep.log_text(c) for c in found)


async def logs(edges: dict[str, Edge], pods: dict[str, Obj], container: str
               ) -> dict[str, str]:
    return {name: await asyncio.to_thread(pod_log, edges, p, container)
            for name, p in pods.items() if p["spec"].get("nodeName")}


def describe(cloud: Cloud, ns: str) -> str:
    proc = cloud.kubectl("get", "tfjobs,pytorchjobs,podgroups,pods", "-n", ns, "-o", "wide",
                         check=False)
    return proc.stdout + proc.stderr


# --- 422 ---------------------------------------------------------------------------------

def test_a_malformed_tfjob_is_refused_with_field_causes(cloud: Cloud) -> None:
    job = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
           "metadata": {"name": "broken", "namespace": "default"},
           "spec": {"tfReplicaSpecs": {
               "Launcher": {"replicas": 1, "template": {"spec": {"containers": [
                   {"name": "tensorflow", "image": "python:3.11"}]}}},
               "Worker": {"replicas": -1, "template": {"spec": {"containers": []}}}}}}
    proc = cloud.kubectl("apply", "-f", "-", input=yaml.safe_dump(job), check=False)
    if proc.returncode == 0:  # not refused: leave no half-valid job behind
        cloud.kubectl("delete", "tfjob", "broken", "--wait=false", check=False)
    assert proc.returncode != 0, proc.stdout
    # kubectl prints the Status message: kind, name, and every field cause.
    assert 'TFJob.kubeflow.org "broken" is invalid' in proc.stderr, proc.stderr
    for field in ("spec.tfReplicaSpecs", "Launcher", "Worker", "replicas", "containers"):
        assert field in proc.stderr, proc.stderr
    raw = cloud.kubectl("create", "-f", "-", "-o", "json", "-v=6",
                        input=yaml.safe_dump(job), check=False)
    assert "422" in raw.stderr, raw.stderr
    assert cloud.kubectl("get", "tfjob", "broken", check=False).returncode != 0


# --- TFJob: PS x1 + Worker x2 -------------------------------------------------------------

async def test_tfjob_ps_trains_to_target_and_succeeds(
        cloud: Cloud, edges: dict[str, Edge], api: APIClient) -> None:
    ns = await namespace(api, "train-ps")
    job = example("tfjob-ps.yaml", "ps-train", ns)
    started = time.monotonic()
    await api.create(TFJOBS, job, ns)
    status = await wait_finished(api, TFJOBS, ns, "ps-train")
    elapsed = time.monotonic() - started

    # cleanPodPolicy None: every pod kept; the PS, which exits once it has served worker
    # 0's final pull, may still be on its way out when worker 0's success completes the
    # job (default success policy), so its log is read once it has ended too.
    async def all_succeeded() -> dict[str, Obj] | None:
        pods = await job_pods(api, ns, "ps-train")
        return pods if {p["status"].get("phase") for p in pods.values()} == {"Succeeded"} \
            else None

    pods = await eventually(all_succeeded, 30, "every replica Succeeded")
    out = await logs(edges, pods, "tensorflow")
    print(describe(cloud, ns))
    for name, text in out.items():
        print(f"--- {name} on {pods[name]['spec']['nodeName']}\n{text}")
    assert condition(status, "Succeeded"), status
    print(f"submit -> Succeeded: {elapsed:.1f}s")
    assert set(pods) == {"ps-train-ps-0", "ps-train-worker-0", "ps-train-worker-1"}

    # Every pod saw the TF_CONFIG of the spec, for its own type and index.
    replicas = {"PS": 1, "Worker": 2}
    for rtype, n in replicas.items():
        for i in range(n):
            name = f"ps-train-{rtype.lower()}-{i}"
            want = expected_tf_config("ps-train", ns, replicas, rtype, i)
            assert f"{rtype.lower()}-{i}: TF_CONFIG {want}\n" in out[name] + "\n", out[name]

    # The parameters live on the PS, which logged pushes from both workers.
    ps = out["ps-train-ps-0"]
    assert {int(w) for w in re.findall(r"ps: push from worker (\d+) ", ps)} == {0, 1}, ps
    assert re.search(r"ps: all 2 workers done after 80 pushes \{0: 40, 1: 40\}", ps), ps
    m = re.search(r"worker-0: held-out accuracy ([0-9.]+) >= target ([0-9.]+)",
                  out["ps-train-worker-0"])
    assert m, out["ps-train-worker-0"]
    assert float(m.group(1)) >= float(m.group(2)) == 0.90
    assert "worker-1: done" in out["ps-train-worker-1"]
    # Workers reached the PS through its Service's name, on whichever edge it ran.
    assert "worker-0: connected to ps ps-train-ps-0." in out["ps-train-worker-0"]

    # Once finished, the operator counts replicas still active as succeeded (worker 1
    # may still have been running when worker 0's success completed the job).
    async def counted() -> Obj | None:
        st = await job_status(api, TFJOBS, ns, "ps-train")
        return st if st["replicaStatuses"]["Worker"].get("succeeded") == 2 else None

    status = await eventually(counted, 10, "both workers counted as succeeded")
    assert status.get("completionTime") and status.get("startTime")
    # Gang scheduling: the job's PodGroup (all 3 replicas) was made, then deleted once
    # the job finished (§6 step 2).
    await eventually(lambda: _absent(api, PODGROUPS, ns, "ps-train"), 10,
                     "the finished job's PodGroup deleted")


async def _absent(api: APIClient, ref: ResourceRef, ns: str, name: str) -> bool:
    try:
        await api.get(ref, name, ns)
    except Exception as exc:  # APIError: 404 means gone
        return getattr(exc, "is_not_found", False)
    return False


# Worker 0 ends at once; worker 1 runs until the test creates its gate file (the pods'
# processes see the host's files), so "worker 0 finished first" is a fact, not a race.
GATED = """
import json, os, time
task = json.loads(os.environ["TF_CONFIG"])["task"]
print(f"worker-{task['index']}: started", flush=True)
if task["index"] != 0:
    while not os.path.exists(os.environ["GATE"]):
        time.sleep(0.05)
print(f"worker-{task['index']}: done", flush=True)
"""


def gated_job(name: str, ns: str, gate: Path, policy: str) -> Obj:
    job = example("tfjob-ps.yaml", name, ns)
    specs = specs_of(job)
    del specs["PS"]
    job["spec"]["tfReplicaSpecs"] = specs
    c = container_of(job, "Worker")
    c["command"] = ["python3", "-c", GATED]
    specs["Worker"]["template"]["spec"]["containers"] = [c]
    set_env(job, GATE=str(gate))
    if policy:
        job["spec"]["successPolicy"] = policy
    return job


@pytest.mark.parametrize("policy", ["", "AllWorkers"])
async def test_success_policy(cloud: Cloud, edges: dict[str, Edge], api: APIClient,
                              tmp_path: Path, policy: str) -> None:
    ns = await namespace(api, f"policy-{policy.lower() or 'default'}")
    gate = tmp_path / "gate"
    await api.create(TFJOBS, gated_job("gated", ns, gate, policy), ns)

    async def worker0_counted() -> Obj | None:
        status = await job_status(api, TFJOBS, ns, "gated")
        pods = await job_pods(api, ns, "gated")
        w0, w1 = pods.get("gated-worker-0"), pods.get("gated-worker-1")
        if not (w0 and w1 and w0["status"].get("phase") == "Succeeded"
                and w1["status"].get("phase") == "Running"):
            return None
        # The operator has seen worker 0's success once it counts it, or decided.
        seen = (status.get("replicaStatuses") or {}).get("Worker", {}).get("succeeded")
        return status if seen or condition(status, "Succeeded") else None

    status = await eventually(worker0_counted, JOB_TIMEOUT,
                              "worker 0 Succeeded and counted, worker 1 Running",
                              interval=0.1)
    if policy == "":
        # Default success policy: worker 0 succeeding with exit 0 completes the job,
        # worker 1 still running (§6 step 7).
        assert condition(status, "Succeeded"), status
    else:
        assert not condition(status, "Succeeded"), status
        assert condition(status, "Running"), status
    gate.touch()
    status = await wait_finished(api, TFJOBS, ns, "gated")
    assert condition(status, "Succeeded"), status
    pods = await job_pods(api, ns, "gated")

    async def all_done() -> bool:
        return all(p["status"].get("phase") == "Succeeded"
                   for p in (await job_pods(api, ns, "gated")).values())

    await eventually(all_done, 30, "both workers Succeeded")
    if policy == "AllWorkers":
        done = (await job_status(api, TFJOBS, ns, "gated"))["replicaStatuses"]["Worker"]
        assert done.get("succeeded") == 2, done
    assert len(pods) == 2


# --- PyTorchJob: DDP across the two edges -------------------------------------------------

async def test_pytorchjob_ddp_across_two_edges(
        cloud: Cloud, edges: dict[str, Edge], api: APIClient) -> None:
    ns = await namespace(api, "train-ddp")
    job = example("pytorchjob-ddp.yaml", "ddp", ns)
    started = time.monotonic()
    await api.create(PYTORCHJOBS, job, ns)
    status = await wait_finished(api, PYTORCHJOBS, ns, "ddp")
    elapsed = time.monotonic() - started
    pods = await job_pods(api, ns, "ddp")
    out = await logs(edges, pods, "pytorch")
    print(describe(cloud, ns))
    for name, text in out.items():
        print(f"--- {name} on {pods[name]['spec']['nodeName']}\n{text}")
    assert condition(status, "Succeeded"), status
    print(f"submit -> Succeeded: {elapsed:.1f}s")
    assert set(pods) == {"ddp-master-0", "ddp-worker-0"}
    nodes = {p["spec"]["nodeName"] for p in pods.values()}
    assert nodes == set(edges), "the two ranks ran on different edges"
    ips = {p["status"].get("podIP") for p in pods.values()}
    assert len(ips) == 2, ips

    finals = {}
    for name, rank in (("ddp-master-0", 0), ("ddp-worker-0", 1)):
        assert f"rank {rank}/2: rendezvous at ddp-master-0:23456" in out[name], out[name]
        m = re.search(rf"rank {rank}: trained 8 epochs in [0-9.]+s, final loss (\S+)",
                      out[name])
        assert m, out[name]
        finals[rank] = m.group(1)
        acc = re.search(rf"rank {rank}: held-out accuracy ([0-9.]+) >= target ([0-9.]+)",
                        out[name])
        assert acc and float(acc.group(1)) >= float(acc.group(2)), out[name]
    # DDP keeps one model on both ranks: the same final loss, to all 17 digits.
    assert finals[0] == finals[1], finals
    epochs = [re.findall(rf"rank {r}: epoch \d+ loss ([0-9.]+)", out[n])
              for n, r in (("ddp-master-0", 0), ("ddp-worker-0", 1))]
    assert len(epochs[0]) == 8 and epochs[0] == epochs[1], epochs


# --- the GPU scenario (§4) ----------------------------------------------------------------

def gpu_job(name: str, ns: str, **env: str) -> Obj:
    job = example("tfjob-gpu.yaml", name, ns)
    set_env(job, **env)
    return job


def holds_gpu(pod: Obj) -> bool:
    """Bound to a node and not finished: the pod holds its GPU there."""
    return bool(pod["spec"].get("nodeName")) and \
        pod["status"].get("phase") not in ("Succeeded", "Failed")


@dataclass
class Sample:
    at: float
    pods: dict[str, int]      # job -> pods that exist
    holding: dict[str, int]   # job -> pods bound to a node and not finished
    groups: dict[str, str]    # job -> its PodGroup's phase ("" when there is none)


async def sampler(api: APIClient, ns: str, jobs: list[str], stop: asyncio.Event,
                  out: list[Sample], period: float = 0.1) -> None:
    start = time.monotonic()
    while not stop.is_set():
        items = (await api.list(PODS, ns))["items"]
        groups = {g["metadata"]["name"]: (g.get("status") or {}).get("phase") or ""
                  for g in (await api.list(PODGROUPS, ns))["items"]}
        mine = {j: [p for p in items
                    if p["metadata"].get("labels", {}).get(JOB_NAME) == j] for j in jobs}
        out.append(Sample(time.monotonic() - start,
                          {j: len(ps) for j, ps in mine.items()},
                          {j: sum(map(holds_gpu, ps)) for j, ps in mine.items()},
                          {j: groups.get(j, "") for j in jobs}))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


async def test_two_gpu_jobs_never_share_the_gpus_with_gang_scheduling(
        cloud: Cloud, edges: dict[str, Edge], api: APIClient) -> None:
    ns = await namespace(api, "gpu-gang")
    jobs = ["gpu-a", "gpu-b"]
    samples: list[Sample] = []
    stop = asyncio.Event()
    task = asyncio.create_task(sampler(api, ns, jobs, stop, samples))
    try:
        # Submitted together (one kubectl apply), like the demo.
        await asyncio.to_thread(ep.apply, cloud, *(gpu_job(j, ns, STEPS="150")
                                                   for j in jobs))
        statuses = {}
        for j in jobs:
            statuses[j] = await wait_finished(api, TFJOBS, ns, j, timeout=2 * JOB_TIMEOUT)
    finally:
        stop.set()
        await task
    print(describe(cloud, ns))
    timeline = [(round(s.at, 1), s.pods, s.holding, s.groups) for s in samples]
    # The sampled timeline, compressed to its changes.
    shown = [t for i, t in enumerate(timeline) if i == 0 or t[1:] != timeline[i - 1][1:]]
    print("\n".join(map(str, shown)))
    for j in jobs:
        assert condition(statuses[j], "Succeeded"), (j, statuses[j])
    assert len(samples) > 20, "too few samples to say anything"

    # Never both jobs holding GPUs at once.
    both = [s for s in samples if all(s.holding[j] for j in jobs)]
    assert not both, both[:3]
    # The job admitted first ran whole (all 4 GPUs) while the other had no pod at all,
    # its PodGroup not admitted (Pending: enqueue refused it, §4); the other got its
    # pods only once the first held no GPU, then ran whole too.
    first = min(jobs, key=lambda j: next(s.at for s in samples if s.pods[j]))
    second = next(x for x in jobs if x != first)
    alone = [s for s in samples if s.holding[first] == 4 and s.pods[second] == 0]
    assert alone, f"{first} never ran whole while {second} waited without pods"
    assert all(s.groups[second] == "Pending" for s in alone), alone
    assert all(s.pods[second] == 0 for s in samples if s.holding[first]), \
        f"{second} had pods while {first} held GPUs"
    assert any(s.holding[second] == 4 for s in samples), f"{second} never ran whole"

    # Each worker trained on a GPU of its own: the two pods of a job on one edge saw
    # different GPU indices.
    for j in jobs:
        pods = await job_pods(api, ns, j)
        out = await logs(edges, pods, "tensorflow")
        per_node: dict[str, set[str]] = {}
        for name, text in out.items():
            m = re.search(r"worker-\d: GPU (\S+) \(NVIDIA_VISIBLE_DEVICES\), 4 workers", text)
            assert m, f"{name}:\n{text}"
            per_node.setdefault(pods[name]["spec"]["nodeName"], set()).add(m.group(1))
        assert sum(len(v) for v in per_node.values()) == 4, per_node
        assert "worker-0: all 4 workers joined" in out[f"{j}-worker-0"]


# --- the contrast: no gang, pods bound one by one, interleaved ---------------------------

# Short enough to end the contrast quickly, long enough for a peer on the other edge to
# resolve worker 0's name and join (the program's own timeout; default 600 s).
PEER_TIMEOUT = "8"


def ungated_pods(api: APIClient, job: Obj) -> tuple[list[Obj], list[Obj]]:
    """The pods and Services the operator makes for `job` with gang scheduling off
    (`gangSchedulerName: ""`: no PodGroup, no group annotation, the template's scheduler),
    rendered by the operator's own code, minus the owner reference (no operator may
    manage them: the test creates them in its own order) and with the default scheduler,
    which binds pod by pod as kube-scheduler does (§4)."""
    ctl = TFJobController(api, gang_scheduler_name="")
    job = default_job(TENSORFLOW, copy.deepcopy(job))
    job["metadata"]["uid"] = "not-a-real-job"
    specs = replica_specs(TENSORFLOW, job)
    pods, services = [], []
    for i in range(4):
        pod = ctl.build_pod(job, specs, "Worker", i)
        del pod["metadata"]["ownerReferences"]
        pod["spec"].pop("schedulerName", None)
        pods.append(pod)
        service = ctl.build_service(job, specs["Worker"], "Worker", i)
        del service["metadata"]["ownerReferences"]
        services.append(service)
    return pods, services


async def test_without_gang_interleaved_pods_split_the_gpus_and_neither_job_finishes(
        cloud: Cloud, edges: dict[str, Edge], api: APIClient) -> None:
    ns = await namespace(api, "gpu-nogang")
    rendered = {j: ungated_pods(api, gpu_job(j, ns, PEER_TIMEOUT=PEER_TIMEOUT))
                for j in ("nogang-a", "nogang-b")}
    for pods, services in rendered.values():
        assert all(GROUP_ANNOTATION not in (p["metadata"].get("annotations") or {})
                   for p in pods), "gang off: no PodGroup membership"
        for s in services:
            await api.create(SERVICES, s, ns)
    a, b = rendered["nogang-a"][0], rendered["nogang-b"][0]
    order = [p for pair in zip(a, b, strict=True) for p in pair]  # A0, B0, A1, B1, ...

    async def bound(name: str) -> bool:
        return bool((await api.get(PODS, name, ns))["spec"].get("nodeName"))

    # The first four are created and bound one at a time, so the split is the order's,
    # not a race's; the other four find no GPU left.
    for pod in order[:4]:
        await api.create(PODS, pod, ns)
        await eventually(lambda n=pod["metadata"]["name"]: bound(n), 20,
                         f"{pod['metadata']['name']} bound")
    for pod in order[4:]:
        await api.create(PODS, pod, ns)

    async def unschedulable(name: str) -> bool:
        p = await api.get(PODS, name, ns)
        return any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                   for c in (p.get("status") or {}).get("conditions") or [])

    for pod in order[4:]:
        await eventually(lambda n=pod["metadata"]["name"]: unschedulable(n), 20,
                         f"{pod['metadata']['name']} unschedulable")
    placed = {p["metadata"]["name"]: p["spec"].get("nodeName")
              for p in (await api.list(PODS, ns))["items"]}
    print("placement:", placed)
    assert {n for n, node in placed.items() if node} == {
        "nogang-a-worker-0", "nogang-b-worker-0", "nogang-a-worker-1", "nogang-b-worker-1"}

    # 2+2: each job's half waits for peers that cannot start, then gives up.
    running_half = [p["metadata"]["name"] for p in order[:4]]

    async def all_failed() -> bool:
        phases = [(await api.get(PODS, n, ns))["status"].get("phase") for n in running_half]
        return phases == ["Failed"] * len(running_half)

    started = time.monotonic()
    await eventually(all_failed, float(PEER_TIMEOUT) + 40, "the running halves give up")
    print(f"the running halves gave up after {time.monotonic() - started:.1f}s")
    pods = {p["metadata"]["name"]: p for p in (await api.list(PODS, ns))["items"]}
    out = await logs(edges, {n: pods[n] for n in running_half}, "tensorflow")
    for name, text in out.items():
        print(f"--- {name}\n{text}")
    for j in ("nogang-a", "nogang-b"):
        w0 = out[f"{j}-worker-0"]
        assert f"error: only 2 of 4 workers joined within {PEER_TIMEOUT}s" in w0, w0
        assert "worker-0: step" not in w0 and "held-out accuracy" not in w0
        assert "error: lost worker 0" in out[f"{j}-worker-1"], out[f"{j}-worker-1"]
    # Nothing of either job succeeded.
    assert not [n for n, p in pods.items() if p["status"].get("phase") == "Succeeded"]
    # Ended by the programs' timeout; remove what is left (the waiting halves would
    # now start and wait in vain too).
    await asyncio.to_thread(cloud.kubectl, "delete", "pods,services", "--all", "-n", ns,
                            "--wait=false")

