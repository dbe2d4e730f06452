"""Shared by the pod and autonomy tests of issue 7 (`test_edge_pods.py`,
`test_edge_autonomy.py`): an edge joined with the real `keadm join` to a `running_cloud`
whose scheduler places pods on it, the pods' processes as the edge's runtime sees them
(read-only, from its state files under the edge root), and kubectl helpers.

Edged's timings are shortened through their config fields (`EDGED_FAST`), so a back-off
or a probe period takes a second, not ten.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubeedge.cloud import setup_edge
from kubeedge.cloud.setup import process_running
from kubeedge.edge.core import EdgeLayout
from kubeedge.edge.runtime import ContainerFilter, ContainerState, ContainerStatus
from kubeedge.edge.runtime.contract import LABEL_POD_UID
from kubeedge.edge.runtime.process import ProcessRuntime
from tests.fixtures.cluster import Cloud, eventually, free_port, keadm

# What the pod tests need of the cloud: workloads, Endpoints, and the scheduler.
CONTROLLERS = ("namespace-defaults", "deployment", "replicaset", "endpoints",
               "garbage-collector")

# The hub's timings as test_edgecore_process.py's FAST, and Edged's.
EDGED_FAST = (
    "modules.edgeHub.heartbeat=1",
    "modules.edgeHub.reconnectInterval=0.5",
    "modules.edgeHub.connectRetryInterval=0.2",
    "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency=1s",
    "modules.edged.tailoredKubeletConfig.nodeLeaseDurationSeconds=4",
    "modules.edged.tailoredKubeletConfig.fileCheckFrequency=500ms",
    "modules.edged.tailoredKubeletConfig.syncFrequency=5s",
    "modules.edged.detectNvidiaGPUs=false",
    "modules.edged.crashLoopBackOffInitial=1s",
    "modules.edged.crashLoopBackOffMax=8s",
    "modules.edged.plegRelistPeriod=200ms",
)


def join_edge(cloud: Cloud, root: Path, name: str, *sets: str) -> int:
    """`keadm join` of node `name` under `root` to cloudcore's channel; edgecore's pid."""
    token = keadm("gettoken", "--root", str(cloud.root)).stdout.strip()
    # EdgeStream to this cloud's tunnel port, and edged's kubelet-style server on a free
    # port of its own, so several edges run side by side.
    stream = (f"modules.edgeStream.server={cloud.tunnel_server}",
              f"modules.edged.tailoredKubeletConfig.readOnlyPort={free_port()}")
    joined = keadm("join", f"--cloudcore-ipport=127.0.0.1:{cloud.hub_port}",
                   f"--token={token}", f"--edgenode-name={name}",
                   f"--certport={cloud.cert_port}", "--root", str(root),
                   *[a for s in (*EDGED_FAST, *stream, *sets) for a in ("--set", s)],
                   "--timeout", "30", check=False, timeout=60)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    pid = setup_edge.edgecore_pid(root)
    assert pid is not None
    return pid


def reset_edge(root: Path, cloud: Cloud | None = None) -> None:
    """`keadm reset edge`; the logs' ends first (pytest shows them when a test failed)."""
    print(f"--- edgecore log ({root}) ---\n{edgecore_log(root)}")
    with contextlib.suppress(OSError):  # kept beside the root for a look afterwards
        shutil.copyfile(EdgeLayout(root).log, root.parent / f"{root.name}-edgecore.log")
    if cloud is not None:
        with contextlib.suppress(OSError):
            text = (cloud.root / "var/log/kubeedge/cloudcore.log").read_text()[-4000:]
            print(f"--- cloudcore log ---\n{text}")
    keadm("reset", "edge", "--root", str(root), "--force", check=False, timeout=60)


def edgecore_log(root: Path) -> str:
    """The end of edgecore's log, without the hub's reconnect lines (the cloud may be
    down on purpose)."""
    try:
        lines = EdgeLayout(root).log.read_text().splitlines()
    except OSError:
        return ""
    return "\n".join([x for x in lines if "will reconnect" not in x
                      and "connection failed" not in x][-80:])


def kill_edgecore(root: Path) -> int:
    """SIGKILL edgecore (as a crash would); its pid."""
    import signal

    pid = setup_edge.edgecore_pid(root)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_running(pid)
    return pid


def start_edgecore(root: Path) -> subprocess.Popen[bytes]:
    """edgecore again over the same root, as a service manager would start it."""
    layout = EdgeLayout(root)
    layout.logs.mkdir(parents=True, exist_ok=True)
    with layout.log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kubeedge.cli.edgecore", "--config", str(layout.config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)


def runtime(root: Path) -> ProcessRuntime:
    """The edge's runtime, read-only: its state files say what runs (no network: the
    object only reads)."""
    return ProcessRuntime(root, network=False)


def containers(root: Path, uid: str | None = None) -> list[ContainerStatus]:
    labels = {LABEL_POD_UID: uid} if uid else {}

    def read() -> list[ContainerStatus]:
        return asyncio.run(runtime(root).list_containers(ContainerFilter(labels=labels)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return read()
    # Called from a test's event loop (an `eventually` predicate): a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(read).result()


def running(root: Path, uid: str, name: str = "app") -> ContainerStatus | None:
    """The running container `name` of pod `uid`, if there is one."""
    for c in containers(root, uid):
        if c.metadata.name == name and c.state == ContainerState.RUNNING:
            return c
    return None


def pod_pids(root: Path) -> dict[tuple[str, str], int]:
    """(pod uid, container name) -> pid of every running container of the edge."""
    return {(c.labels[LABEL_POD_UID], c.metadata.name): int(c.pid or 0)
            for c in containers(root) if c.state == ContainerState.RUNNING}


def edge_restart_counts(root: Path) -> dict[tuple[str, str], int]:
    """(pod uid, container name) -> the restart count of its newest container, as the
    edge records it (the annotation Edged puts on every container it creates)."""
    newest: dict[tuple[str, str], ContainerStatus] = {}
    for c in containers(root):
        key = (c.labels[LABEL_POD_UID], c.metadata.name)
        if key not in newest or (c.metadata.attempt, c.created_at) > (
                newest[key].metadata.attempt, newest[key].created_at):
            newest[key] = c
    return {k: int(c.annotations.get("io.kubernetes.container.restartCount",
                                      c.metadata.attempt))
            for k, c in newest.items()}


def log_text(c: ContainerStatus) -> str:
    """The container's output (CRI log lines' content)."""
    try:
        lines = Path(c.log_path).read_text().splitlines()
    except OSError:
        return ""
    return "\n".join(line.split(" ", 3)[3] if line.count(" ") >= 3 else line
                     for line in lines)


def apply(cloud: Cloud, *objects: dict[str, Any]) -> None:
    import yaml

    cloud.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def pods(cloud: Cloud, selector: str, namespace: str = "default") -> list[dict[str, Any]]:
    return list(cloud.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"])


def pod(cloud: Cloud, name: str, namespace: str = "default") -> dict[str, Any] | None:
    proc = cloud.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def is_ready(p: dict[str, Any] | None) -> bool:
    status = (p or {}).get("status") or {}
    return status.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


def container_status(p: dict[str, Any] | None, name: str = "app") -> dict[str, Any]:
    for cs in ((p or {}).get("status") or {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


def waiting_reason(p: dict[str, Any] | None, name: str = "app") -> str:
    return str((container_status(p, name).get("state") or {}).get("waiting", {})
               .get("reason", ""))


def events_for(cloud: Cloud, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    items = cloud.kubectl_json("get", "events", "-n", namespace)["items"]
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


def python_pod(name: str, script: str, *, node: str | None = None,
               labels: dict[str, str] | None = None,
               volumes: list[dict[str, Any]] | None = None, **container: Any
               ) -> dict[str, Any]:
    """A pod running `python3 -c script` on an edge node (by the edge role's
    nodeSelector, or `node`)."""
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 5,
        "containers": [{"name": "app", "image": "python:3.11",
                        "command": ["python3", "-u", "-c", script], **container}]}
    if volumes:
        spec["volumes"] = volumes
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    else:
        spec["nodeSelector"] = {"node-role.kubernetes.io/edge": ""}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": spec}


async def wait_pod(cloud: Cloud, name: str, predicate: Any, timeout: float, what: str
                   ) -> dict[str, Any]:
    """The pod once `predicate(pod)` holds (through kubectl)."""
    async def check() -> Any:
        p = await asyncio.to_thread(pod, cloud, name)
        return p if p is not None and predicate(p) else None

    return await eventually(check, timeout=timeout, what=f"{name}: {what}", interval=0.1)
