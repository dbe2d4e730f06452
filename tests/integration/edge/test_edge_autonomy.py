"""Edge autonomy (issue 7 "Edge autonomy", specs/kubeedge.md §6 "Autonomy") with a real
cloud, a real edgecore joined with `keadm join`, and the real kubectl.

The edge talks to cloudcore only, so a killed cloudcore is the cloud gone for it. While
it is gone: the pods keep running (same pids), a SIGKILLed container and one whose
liveness probe fails restart under their policy, and an edgecore killed with -9 and
started again re-attaches to the running containers (same pids, same restart counts)
and starts what stopped meanwhile. With the cloud back the API converges within 10 s:
same pod UIDs, the edge's restart counts. And kill -9 of edgecore while pods come and go
leaves its database consistent and the edge converging.

Pids and restart counts are read where they live: the process runtime's state files
under the edge root (read-only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.cloud import setup_edge
from kubeedge.cloud.setup import process_running
from kubeedge.edge.core import EdgeLayout, read_state
from tests.fixtures.cluster import Cloud, eventually, running_cloud
from tests.integration.edge import edgepods as ep

NODE = "edge-autonomy"
LONG_RUNNING = "import time\nprint('up', flush=True)\nwhile True: time.sleep(1)\n"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("edge-autonomy"),
                       controllers=ep.CONTROLLERS, scheduler=True) as c:
        yield c


class Edge:
    """The joined edge and the edgecore processes this test started again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[subprocess.Popen[bytes]] = []

    @property
    def pid(self) -> int | None:
        return setup_edge.edgecore_pid(self.root)

    def state(self) -> dict[str, Any]:
        return read_state(EdgeLayout(self.root).state) or {}

    def kill(self) -> int:
        return ep.kill_edgecore(self.root)

    async def restart(self) -> int:
        """edgecore started again over the same root; its pid once it runs its pods'
        module (its state file is its own)."""
        proc = ep.start_edgecore(self.root)
        self.started.append(proc)
        await eventually(lambda: self.pid == proc.pid and self.state().get("pid") == proc.pid,
                         timeout=15, what="edgecore started again")
        return proc.pid


@pytest.fixture
def edge(cloud: Cloud, tmp_path: Path) -> Iterator[Edge]:
    root = tmp_path / "edge"
    e = Edge(root)
    try:
        ep.join_edge(cloud, root, NODE)
        yield e
    finally:
        if cloud.cloudcore_pid() is None:
            cloud.start_cloudcore()
        ep.reset_edge(root, cloud)
        for proc in e.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        cloud.kubectl("delete", "deployment", "--all", "--ignore-not-found", check=False)
        cloud.kubectl("delete", "pods", "--all", "--grace-period=0", "--force",
                      "--ignore-not-found", check=False)


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"nodeSelector": {"node-role.kubernetes.io/edge": ""},
                                           "terminationGracePeriodSeconds": 2,
                                           "containers": [{
                                               "name": "app", "image": "python:3.11",
                                               "command": ["python3", "-u", "-c",
                                                           LONG_RUNNING]}]}}}}


def _api_pods(cloud: Cloud) -> dict[str, dict[str, Any]]:
    """The API's pods on the edge, by uid."""
    items = cloud.kubectl_json("get", "pods", "-n", "default")["items"]
    return {p["metadata"]["uid"]: p for p in items
            if p["spec"].get("nodeName") == NODE}


def _converged(cloud: Cloud, root: Path) -> dict[str, dict[str, Any]] | None:
    """The API's pods once every one is Running and Ready and shows the edge's
    container, its id and its restart count."""
    api = _api_pods(cloud)
    if not api:
        return None
    pids = ep.pod_pids(root)
    counts = ep.edge_restart_counts(root)
    running = {(c.labels["io.kubernetes.pod.uid"], c.metadata.name): c.id
               for c in ep.containers(root) if c.state.value == "CONTAINER_RUNNING"}
    for uid, p in api.items():
        if p["metadata"].get("deletionTimestamp") or not ep.is_ready(p):
            return None
        cs = ep.container_status(p)
        if (uid, "app") not in pids or cs.get("restartCount") != counts.get((uid, "app")):
            return None
        if cs.get("containerID") != f"process://{running[(uid, 'app')]}":
            return None
    return api


async def test_cloud_down_edge_restart_cloud_back(cloud: Cloud, edge: Edge,
                                                  tmp_path: Path) -> None:
    root = edge.root
    healthy = tmp_path / "healthy"
    healthy.touch()
    probe = {"exec": {"command": ["sh", "-c", f"test -f {healthy}"]},
             "periodSeconds": 1, "failureThreshold": 1}
    await asyncio.to_thread(
        ep.apply, cloud, _deployment("steady", 2),
        ep.python_pod("lively", LONG_RUNNING, livenessProbe=probe),
        ep.python_pod("killme", LONG_RUNNING), ep.python_pod("later", LONG_RUNNING))
    api = await eventually(lambda: (lambda a: a if len(a) == 5 and all(
        map(ep.is_ready, a.values())) else None)(_api_pods(cloud)), timeout=30,
        what="5 pods Ready")
    uids = set(api)
    by_name = {p["metadata"]["name"]: uid for uid, p in api.items()}
    before = ep.pod_pids(root)
    assert len(before) == 5
    core = edge.pid

    # The cloud goes: the edge notices, and nothing it runs changes.
    await asyncio.to_thread(cloud.kill_cloudcore)
    await eventually(lambda: edge.state().get("connected") is False, timeout=10,
                     what="the edge disconnected")
    assert ep.pod_pids(root) == before

    # A container killed with SIGKILL restarts under restartPolicy Always.
    killme = (by_name["killme"], "app")
    os.kill(before[killme], signal.SIGKILL)
    await eventually(lambda: ep.pod_pids(root).get(killme, before[killme]) != before[killme],
                     timeout=10, what="killme restarted without the cloud")
    assert ep.edge_restart_counts(root)[killme] == 1

    # A failing liveness probe restarts its container (again and again, with back-off,
    # while the probe keeps failing: kubelet probes a new container at once).
    lively = (by_name["lively"], "app")
    healthy.unlink()
    await eventually(lambda: ep.edge_restart_counts(root).get(lively, 0) >= 1, timeout=15,
                     what="lively restarted by its liveness probe without the cloud")
    healthy.touch()
    assert not process_running(before[lively])

    def settled_lively() -> bool:
        # Running for longer than a probe period with the probe passing.
        c = ep.running(root, lively[0])
        return c is not None and time.time_ns() - c.started_at > 1.5e9

    await eventually(settled_lively, timeout=15, what="lively running again")

    # edgecore killed with -9; meanwhile one container stops. The new edgecore, still
    # without the cloud, re-attaches to the rest and starts that one again.
    now = ep.pod_pids(root)
    counts = ep.edge_restart_counts(root)
    edge.kill()
    later = (by_name["later"], "app")
    os.kill(now[later], signal.SIGKILL)
    new_core = await edge.restart()
    assert new_core != core
    await eventually(lambda: ep.pod_pids(root).get(later, now[later]) != now[later],
                     timeout=15, what="the stopped container started by the new edgecore")
    after = ep.pod_pids(root)
    assert {k: v for k, v in after.items() if k != later} == {
        k: v for k, v in now.items() if k != later}
    assert ep.edge_restart_counts(root) == {**counts, later: counts[later] + 1}
    assert edge.state().get("connected") is False

    # The cloud comes back: the API converges within 10 s, nothing recreated.
    back = time.monotonic()
    await asyncio.to_thread(cloud.start_cloudcore)
    api = await eventually(lambda: _converged(cloud, root), timeout=10,
                           what="the API converged with the edge", interval=0.1)
    print(f"cloudcore started -> API converged: {time.monotonic() - back:.2f}s")
    assert set(api) == uids
    assert {uid: ep.container_status(p)["restartCount"] for uid, p in api.items()} == {
        uid: n for (uid, _), n in ep.edge_restart_counts(root).items()}
    assert ep.pod_pids(root) == after
    assert edge.pid == new_core
    # The Deployment's pods, touched by nothing above, ran through it all.
    steady = {k for k in before if k[0] not in (killme[0], lively[0], later[0])}
    assert len(steady) == 2 and {k: after[k] for k in steady} == {
        k: before[k] for k in steady}


async def test_kill_9_during_pod_churn_leaves_the_database_consistent(
        cloud: Cloud, edge: Edge) -> None:
    root = edge.root
    db = root / "var/lib/kubeedge/edgecore.db"
    rng = random.Random(7)
    sizes = [3, 1, 4, 0, 2]
    for round_, replicas in enumerate(sizes):
        await asyncio.to_thread(ep.apply, cloud, _deployment("churn", replicas))
        # A random point while the edge stores, starts and stops pods (a kill point,
        # not a wait for anything).
        await asyncio.sleep(rng.uniform(0.05, 0.8))
        edge.kill()
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), round_
            conn.execute("SELECT count(*) FROM meta").fetchone()
        await edge.restart()

        async def settled(replicas: int = replicas) -> bool:
            api = await asyncio.to_thread(_api_pods, cloud)
            live = {u: p for u, p in api.items() if not p["metadata"].get("deletionTimestamp")}
            if len(api) != replicas or len(live) != replicas:
                return False
            if replicas and not await asyncio.to_thread(_converged, cloud, root):
                return False
            running = {uid for uid, _ in await asyncio.to_thread(ep.pod_pids, root)}
            return running == set(live)

        await eventually(settled, timeout=20, what=f"round {round_}: {replicas} pods",
                         interval=0.1)
    assert setup_edge.edgecore_pid(root) is not None

    # The edge database holds the pods the API has for the node, and nothing else.
    def stored_pods() -> set[str]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return {key for (key,) in conn.execute(
                "SELECT key FROM meta WHERE type = 'pod'")}

    api = {f"default/pod/{p['metadata']['name']}" for p in _api_pods(cloud).values()}
    await eventually(lambda: stored_pods() == api, timeout=10,
                     what="the edge database matching the API")
