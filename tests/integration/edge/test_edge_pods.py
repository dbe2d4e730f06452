"""Pods on an edge, end to end (issue 7 "Must show"): a real cloud (`keadm init` with the
workload controllers, the Endpoints controller and our scheduler), one edge joined with
the real `keadm join`, and the real kubectl. What runs is checked where it runs: the
edge runtime's state files under the edge root give each container's pid and log.

Edged's timings are shortened through config (`edgepods.EDGED_FAST`): back-off 1 s
doubling to 8 s, relist every 200 ms, static pods read every 500 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.cloud import setup_edge
from kubeedge.cloud.setup import process_running
from tests.fixtures.cluster import Cloud, eventually, running_cloud
from tests.integration.edge import edgepods as ep

NODE = "edge-pods"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("edge-pods"), controllers=ep.CONTROLLERS,
                       scheduler=True) as c:
        yield c


@pytest.fixture(scope="module")
def edge(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("edge") / "root"
    try:
        # Two GPUs from configuration (edges also count them with nvidia-smi).
        ep.join_edge(cloud, root, NODE,
                     'modules.edged.extraCapacity={"nvidia.com/gpu": 2}')
        yield root
    finally:
        ep.reset_edge(root, cloud)


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    d = tmp_path / "marks"
    d.mkdir()
    return d


def _edgecore_alive(root: Path, pid: int) -> None:
    assert setup_edge.edgecore_pid(root) == pid and process_running(pid), (
        "edgecore died:\n" + ep.edgecore_log(root))


# A program with a SIGTERM handler that leaves a marker named after its pod.
TERM_SCRIPT = """
import os, signal, sys, time
def term(*_):
    with open(os.path.join(os.environ["MARKS"], os.environ["POD_NAME"]), "w") as f:
        f.write("SIGTERM handled")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print("serving", flush=True)
while True:
    time.sleep(1)
"""


async def test_deployment_runs_ready_in_3s_and_delete_is_graceful(
        cloud: Cloud, edge: Path, marks: Path) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"node-role.kubernetes.io/edge": ""},
                    "terminationGracePeriodSeconds": 10,
                    "volumes": [{"name": "marks",
                                 "hostPath": {"path": str(marks), "type": "Directory"}}],
                    "containers": [{
                        "name": "app", "image": "python:3.11",
                        "command": ["python3", "-u", "-c", TERM_SCRIPT],
                        "env": [{"name": "MARKS", "value": str(marks)},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {
                                    "fieldPath": "metadata.name"}}}],
                        "volumeMounts": [{"name": "marks", "mountPath": str(marks)}]}]}}}}
    try:
        started = time.monotonic()
        await asyncio.to_thread(ep.apply, cloud, deployment)

        async def all_ready() -> list[dict[str, Any]] | None:
            items = await asyncio.to_thread(ep.pods, cloud, "app=web")
            return items if len(items) == 2 and all(map(ep.is_ready, items)) else None

        items = await eventually(all_ready, timeout=30, what="2 web pods Ready",
                                 interval=0.05)
        elapsed = time.monotonic() - started
        print(f"kubectl apply -> 2 pods Running and Ready (kubectl): {elapsed:.2f}s")
        assert all(p["spec"]["nodeName"] == NODE for p in items)
        assert elapsed <= 3.0, f"{elapsed:.2f}s from kubectl apply to Ready"
        wide = await asyncio.to_thread(cloud.kubectl, "get", "pods", "-l", "app=web",
                                       "-o", "wide")
        assert wide.stdout.count("Running") == 2 and NODE in wide.stdout

        # kubectl delete pod: SIGTERM reaches the program, its handler runs, and the
        # ReplicaSet's replacement runs on the edge.
        victim = items[0]
        name, uid = victim["metadata"]["name"], victim["metadata"]["uid"]
        proc = await asyncio.to_thread(ep.running, edge, uid)
        assert proc is not None and proc.pid
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", name, "--wait=true",
                                timeout=30)
        assert (marks / name).read_text() == "SIGTERM handled"
        assert not process_running(proc.pid)
        assert await asyncio.to_thread(ep.running, edge, uid) is None

        async def replaced() -> list[dict[str, Any]] | None:
            now = await asyncio.to_thread(ep.pods, cloud, "app=web")
            names = {p["metadata"]["name"] for p in now}
            return now if (len(now) == 2 and name not in names
                           and all(map(ep.is_ready, now))) else None

        now = await eventually(replaced, timeout=15, what="the replacement Ready")
        new = next(p for p in now if p["metadata"]["name"] != items[1]["metadata"]["name"])
        assert await asyncio.to_thread(ep.running, edge, new["metadata"]["uid"]) is not None
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "deployment", "web",
                                "--ignore-not-found", check=False)


# Appends when it started to a file, then exits 3 after a moment.
CRASH_SCRIPT = """
import os, sys, time
with open(os.environ["STARTS"], "a") as f:
    f.write(f"{time.time()}\\n")
time.sleep(0.1)
sys.exit(3)
"""


async def test_crash_loop_backs_off_longer_each_time(cloud: Cloud, edge: Path,
                                                     marks: Path) -> None:
    pid = setup_edge.edgecore_pid(edge)
    starts = marks / "starts"
    await asyncio.to_thread(ep.apply, cloud, ep.python_pod(
        "crasher", CRASH_SCRIPT, env=[{"name": "STARTS", "value": str(starts)}]))
    try:
        def started() -> list[float]:
            try:
                return [float(x) for x in starts.read_text().split()]
            except (OSError, ValueError):
                return []

        # kubectl shows CrashLoopBackOff while it waits.
        crashing = await ep.wait_pod(
            cloud, "crasher", lambda p: ep.waiting_reason(p) == "CrashLoopBackOff",
            timeout=20, what="CrashLoopBackOff")
        cs = ep.container_status(crashing)
        assert "back-off" in cs["state"]["waiting"]["message"]
        assert cs["lastState"]["terminated"]["exitCode"] == 3
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        await eventually(lambda: "CrashLoopBackOff" in cloud.kubectl(
            "get", "pod", "crasher").stdout, timeout=10, what="kubectl get pod's STATUS")

        # Restarts at once, then after 1 s, 2 s, 4 s (+ the 0.1 s run each time).
        times = await eventually(lambda: (lambda t: t if len(t) >= 5 else None)(started()),
                                 timeout=20, what="5 starts", interval=0.1)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        print("gaps between starts:", [f"{g:.2f}" for g in gaps])
        assert gaps[0] < 1.0
        assert 0.9 <= gaps[1] < gaps[2] < gaps[3]
        assert gaps[2] >= 1.9 and gaps[3] >= 3.8

        # The API's restart count follows (4 restarts at least) and grows.
        p = await ep.wait_pod(cloud, "crasher",
                              lambda p: ep.container_status(p).get("restartCount", 0) >= 4,
                              timeout=10, what="restartCount >= 4")
        assert p["status"]["phase"] == "Running"
        reasons = [e["reason"] for e in await asyncio.to_thread(ep.events_for, cloud,
                                                                "crasher")]
        assert "BackOff" in reasons and "Started" in reasons
        _edgecore_alive(edge, pid or 0)
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "crasher",
                                "--grace-period=0", "--ignore-not-found", check=False)


LONG_RUNNING = "import time\nprint('up', flush=True)\nwhile True: time.sleep(1)\n"


def _file_probe(path: Path) -> dict[str, Any]:
    return {"exec": {"command": ["sh", "-c", f"test -f {path}"]},
            "periodSeconds": 1, "failureThreshold": 1, "successThreshold": 1}


async def test_failing_liveness_probe_restarts_the_container(cloud: Cloud, edge: Path,
                                                             marks: Path) -> None:
    healthy = marks / "healthy"
    healthy.touch()
    await asyncio.to_thread(ep.apply, cloud, ep.python_pod(
        "lively", LONG_RUNNING, livenessProbe=_file_probe(healthy)))
    try:
        p = await ep.wait_pod(cloud, "lively", ep.is_ready, timeout=15, what="Ready")
        uid = p["metadata"]["uid"]
        first = await asyncio.to_thread(ep.running, edge, uid)
        assert first is not None and ep.container_status(p)["restartCount"] == 0

        healthy.unlink()  # the probe fails from now on
        p = await ep.wait_pod(cloud, "lively",
                              lambda p: ep.container_status(p).get("restartCount", 0) >= 1,
                              timeout=15, what="a restart by the liveness probe")
        healthy.touch()
        assert not process_running(first.pid or 0)
        again = await eventually(lambda: ep.running(edge, uid), timeout=10,
                                 what="the restarted container")
        assert again.id != first.id and again.pid != first.pid
        last = ep.container_status(p)["lastState"]["terminated"]
        assert last["exitCode"] in (137, 143), last
        events = await asyncio.to_thread(ep.events_for, cloud, "lively")
        assert any(e["reason"] == "Unhealthy" and "Liveness probe failed" in e["message"]
                   for e in events), events
        assert any(e["reason"] == "Killing" and "failed liveness probe" in e["message"]
                   for e in events), events
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "lively",
                                "--grace-period=0", "--ignore-not-found", check=False)


def _endpoint_addresses(cloud: Cloud, name: str) -> tuple[list[str], list[str]]:
    """(ready, not ready) pod names of Endpoints `name`."""
    proc = cloud.kubectl("get", "endpoints", name, "-o", "json", check=False)
    if proc.returncode != 0:
        return [], []
    ready, not_ready = [], []
    for subset in json.loads(proc.stdout).get("subsets") or []:
        ready += [(a.get("targetRef") or {}).get("name", "")
                  for a in subset.get("addresses") or []]
        not_ready += [(a.get("targetRef") or {}).get("name", "")
                      for a in subset.get("notReadyAddresses") or []]
    return ready, not_ready


async def test_failing_readiness_takes_the_pod_out_of_its_endpoints(
        cloud: Cloud, edge: Path, marks: Path) -> None:
    ready_file = marks / "ready"
    ready_file.touch()
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "ready-svc", "namespace": "default"},
               "spec": {"selector": {"app": "ready"},
                        "ports": [{"port": 80, "targetPort": 8080}]}}
    await asyncio.to_thread(ep.apply, cloud, service, ep.python_pod(
        "readyish", LONG_RUNNING, labels={"app": "ready"},
        readinessProbe=_file_probe(ready_file)))
    try:
        await ep.wait_pod(cloud, "readyish", ep.is_ready, timeout=15, what="Ready")
        await eventually(lambda: _endpoint_addresses(cloud, "ready-svc")[0] == ["readyish"],
                         timeout=10, what="readyish in the Endpoints")

        ready_file.unlink()
        p = await ep.wait_pod(cloud, "readyish", lambda p: not ep.is_ready(p), timeout=10,
                              what="not Ready")
        assert p["status"]["phase"] == "Running"
        assert ep.container_status(p)["ready"] is False
        assert ep.container_status(p)["restartCount"] == 0  # readiness never restarts
        await eventually(lambda: _endpoint_addresses(cloud, "ready-svc") == (
            [], ["readyish"]), timeout=10, what="readyish moved to notReadyAddresses")

        ready_file.touch()
        await ep.wait_pod(cloud, "readyish", ep.is_ready, timeout=10, what="Ready again")
        await eventually(lambda: _endpoint_addresses(cloud, "ready-svc")[0] == ["readyish"],
                         timeout=10, what="readyish back in the Endpoints")
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "readyish",
                                "--grace-period=0", "--ignore-not-found", check=False)
        await asyncio.to_thread(cloud.kubectl, "delete", "service", "ready-svc",
                                "--ignore-not-found", check=False)


# Prints the mounted file's content whenever it changes; the mount is found through the
# process runtime's path map (the process sees the host's filesystem).
WATCH_SCRIPT = """
import json, os, time
paths = json.load(open(os.environ["KUBEEDGE_PATH_MAP"]))
path = os.path.join(paths["/config"], "greeting")
last = None
while True:
    try:
        text = open(path).read()
    except OSError:
        text = None
    if text != last:
        print(f"greeting={text}", flush=True)
        last = text
    time.sleep(0.1)
"""


def _configmap(value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "greeting", "namespace": "default"},
            "data": {"greeting": value}}


async def test_configmap_update_reaches_the_mounted_file(cloud: Cloud, edge: Path) -> None:
    await asyncio.to_thread(ep.apply, cloud, _configmap("hello"), ep.python_pod(
        "reader", WATCH_SCRIPT, volumes=[{"name": "cfg", "configMap": {"name": "greeting"}}],
        volumeMounts=[{"name": "cfg", "mountPath": "/config"}]))
    try:
        p = await ep.wait_pod(cloud, "reader", ep.is_ready, timeout=15, what="Ready")
        uid = p["metadata"]["uid"]
        c = await asyncio.to_thread(ep.running, edge, uid)
        assert c is not None
        await eventually(lambda: "greeting=hello" in ep.log_text(c), timeout=5,
                         what="the first content")
        started = time.monotonic()
        await asyncio.to_thread(ep.apply, cloud, _configmap("bonjour"))
        await eventually(lambda: "greeting=bonjour" in ep.log_text(c), timeout=10,
                         what="the updated content in the pod", interval=0.05)
        elapsed = time.monotonic() - started
        print(f"configmap update -> mounted file: {elapsed:.2f}s")
        assert elapsed <= 10
        # The file changed under the running process: no restart.
        now = await asyncio.to_thread(ep.running, edge, uid)
        assert now is not None and now.id == c.id and now.pid == c.pid
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "reader",
                                "--grace-period=0", "--ignore-not-found", check=False)
        await asyncio.to_thread(cloud.kubectl, "delete", "configmap", "greeting",
                                "--ignore-not-found", check=False)


def _reason_and_message(p: dict[str, Any] | None) -> tuple[str, str]:
    waiting = (ep.container_status(p).get("state") or {}).get("waiting") or {}
    return str(waiting.get("reason", "")), str(waiting.get("message", ""))


async def _warned(cloud: Cloud, name: str, reason: str, text: str) -> None:
    """A Warning Event `reason` about pod `name` whose message has `text`."""
    def found() -> bool:
        return any(e["reason"] == reason and e["type"] == "Warning" and text in e["message"]
                   for e in ep.events_for(cloud, name))
    await eventually(found, timeout=10, what=f"a {reason} event of {name}")


async def test_failures_reach_the_pod_and_events_and_edgecore_lives(
        cloud: Cloud, edge: Path) -> None:
    pid = setup_edge.edgecore_pid(edge)
    assert pid is not None
    broken = [
        ep.python_pod("no-config", LONG_RUNNING, env=[{"name": "X", "valueFrom": {
            "configMapKeyRef": {"name": "missing-config", "key": "x"}}}]),
        ep.python_pod("no-binary", LONG_RUNNING),
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "no-image", "namespace": "default"},
         "spec": {"nodeSelector": {"node-role.kubernetes.io/edge": ""},
                  "containers": [{"name": "app", "image": "registry.example/nothing:1"}]}},
    ]
    broken[1]["spec"]["containers"][0]["command"] = ["/nonexistent/server", "--port=1"]
    await asyncio.to_thread(ep.apply, cloud, *broken)
    try:
        p = await ep.wait_pod(cloud, "no-config",
                              lambda p: _reason_and_message(p)[0] ==
                              "CreateContainerConfigError", timeout=15,
                              what="CreateContainerConfigError")
        assert 'configmap "missing-config" not found' in _reason_and_message(p)[1]
        assert p["status"]["phase"] == "Pending"

        p = await ep.wait_pod(
            cloud, "no-binary",
            lambda p: _reason_and_message(p)[0] in ("RunContainerError", "CrashLoopBackOff")
            and ep.container_status(p).get("lastState", {}).get("terminated"),
            timeout=15, what="RunContainerError")
        last = ep.container_status(p)["lastState"]["terminated"]
        assert last["reason"] == "StartError" and last["exitCode"] == 128, last
        assert "/nonexistent/server" in last["message"] + _reason_and_message(p)[1]

        p = await ep.wait_pod(cloud, "no-image",
                              lambda p: _reason_and_message(p)[0] in ("ErrImagePull",
                                                                      "ImagePullBackOff"),
                              timeout=15, what="ErrImagePull")
        assert "registry.example/nothing:1" in _reason_and_message(p)[1]

        await _warned(cloud, "no-config", "Failed", "missing-config")
        await _warned(cloud, "no-binary", "Failed", "/nonexistent/server")
        await _warned(cloud, "no-image", "Failed", "registry.example/nothing:1")
        table = await asyncio.to_thread(cloud.kubectl, "get", "events")
        assert "missing-config" in table.stdout and "Warning" in table.stdout
        _edgecore_alive(edge, pid)
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "no-config", "no-binary",
                                "no-image", "--grace-period=0", "--ignore-not-found",
                                check=False)


def _static_manifest(edge: Path, name: str) -> Path:
    """A static pod whose volume has a type no edge knows."""
    manifests = edge / "etc/kubeedge/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    path = manifests / f"{name}.json"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"volumes": [{"name": "data", "madeUpVolume": {"size": 1}}],
                 "containers": [{"name": "app", "image": "busybox",
                                 "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}}))
    return path


async def test_static_pod_with_an_unknown_volume_type_is_reported(
        cloud: Cloud, edge: Path) -> None:
    pid = setup_edge.edgecore_pid(edge)
    assert pid is not None
    path = _static_manifest(edge, "oddvol")
    mirror = f"oddvol-{NODE}"
    try:
        await _warned(cloud, mirror, "FailedMount",
                      'volume type "madeUpVolume" is not supported')
        # Its mirror in the API shows it waiting, never started.
        p = await ep.wait_pod(cloud, mirror, lambda p: p.get("status", {}).get("phase"),
                              timeout=10, what="the mirror pod's status")
        assert p["metadata"]["annotations"].get("kubernetes.io/config.mirror")
        assert p["status"]["phase"] == "Pending"
        assert ep.waiting_reason(p) == "ContainerCreating"
        assert not [c for c in await asyncio.to_thread(ep.containers, edge)
                    if c.labels.get("io.kubernetes.pod.name") == mirror]
        _edgecore_alive(edge, pid)
    finally:
        path.unlink(missing_ok=True)


async def test_kubectl_run_with_the_busybox_and_python_images(cloud: Cloud,
                                                              edge: Path) -> None:
    """Issue 7: `kubectl run x --image=busybox -- sleep 1d` and `--image=python --
    python3 -c ...` work with the process runtime's image table."""
    try:
        await asyncio.to_thread(cloud.kubectl, "run", "sleeper", "--image=busybox",
                                "--", "sleep", "1d")
        await asyncio.to_thread(cloud.kubectl, "run", "answer", "--image=python",
                                "--restart=Never", "--", "python3", "-c", "print(6 * 7)")
        sleeper = await ep.wait_pod(cloud, "sleeper", ep.is_ready, 15, "Running")
        assert sleeper["spec"]["nodeName"] == NODE
        answer = await ep.wait_pod(
            cloud, "answer", lambda p: (p.get("status") or {}).get("phase") == "Succeeded",
            15, "Succeeded")
        state = ep.container_status(answer, "answer")["state"]["terminated"]
        assert state["exitCode"] == 0 and state["reason"] == "Completed"
        [done] = await asyncio.to_thread(ep.containers, edge, answer["metadata"]["uid"])
        assert ep.log_text(done).strip() == "42"
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", "sleeper", "answer",
                                "--grace-period=1", "--ignore-not-found", check=False)


GPU_SCRIPT = """
import os, time
print(os.environ.get("NVIDIA_VISIBLE_DEVICES"), os.environ.get("CUDA_VISIBLE_DEVICES"),
      flush=True)
time.sleep(1000)
"""


async def test_gpu_pods_get_their_own_gpus(cloud: Cloud, edge: Path) -> None:
    """Issue 7: a pod bound with nvidia.com/gpu gets NVIDIA_VISIBLE_DEVICES and
    CUDA_VISIBLE_DEVICES naming the GPUs the edge assigned it; no two running pods
    share one; a third finds none free and is not scheduled."""
    names = ["gpu-a", "gpu-b", "gpu-c"]
    limits = {"resources": {"limits": {"nvidia.com/gpu": "1"}}}
    try:
        await asyncio.to_thread(ep.apply, cloud, *[
            ep.python_pod(name, GPU_SCRIPT, **limits) for name in names])
        seen = {}
        for name in names[:2]:
            running = await ep.wait_pod(cloud, name, ep.is_ready, 15, "Running")
            container = await eventually(
                lambda uid=running["metadata"]["uid"]: ep.running(edge, uid), timeout=10,
                what=f"{name}'s container")
            line = await eventually(lambda c=container: ep.log_text(c).strip(),
                                    timeout=10, what=f"{name}'s output")
            nvidia, cuda = line.split()
            assert nvidia == cuda and nvidia.isdigit(), line
            seen[name] = nvidia
        assert sorted(seen.values()) == ["0", "1"], seen
        # Both GPUs are taken: the scheduler leaves the third pod Pending.
        third = await ep.wait_pod(
            cloud, "gpu-c", lambda p: any(c.get("reason") == "Unschedulable" for c in
                                          (p.get("status") or {}).get("conditions") or []),
            15, "Unschedulable")
        assert not third["spec"].get("nodeName")
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "pod", *names, "--grace-period=1",
                                "--ignore-not-found", check=False)
