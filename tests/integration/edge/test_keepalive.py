"""An edge that goes silent (issue 6): CloudHub drops its session after
`keepaliveInterval`, and the node lifecycle controller turns its Node NotReady after
`nodeMonitorGracePeriod`; once the edge speaks again it reconnects and is Ready again.
Also the Lease the edge renews is owned by its Node, as kubelet's lease controller makes
it, so deleting the Node lets the garbage collector take the Lease.

Real processes: `keadm init` (API server and cloudcore with the node lifecycle
controller and the garbage collector) and an edgecore from `keadm join`. The edge is
made silent with SIGSTOP, which freezes everything it sends, keepalives included, while
its TCP connection stays open: the cloud can only find out through the keepalive
timeout. Timings are shortened through their config fields.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.cloud import setup_edge
from tests.fixtures.cluster import Cloud, eventually, keadm, running_cloud
from tests.integration.edge.test_edgecore_process import FAST

KEEPALIVE = 2  # modules.cloudHub.keepaliveInterval (KubeEdge: 30 s)
GRACE = 3  # modules.controllerManager.nodeMonitorGracePeriodSeconds (kube: 40 s)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    sets = (f"modules.cloudHub.keepaliveInterval={KEEPALIVE}",
            "modules.controllerManager.nodeMonitorPeriodSeconds=0.5",
            f"modules.controllerManager.nodeMonitorGracePeriodSeconds={GRACE}")
    with running_cloud(tmp_path_factory.mktemp("keepalive"),
                       *[a for s in sets for a in ("--set", s)],
                       controllers=("node-lifecycle", "garbage-collector")) as c:
        yield c


def _node(cloud: Cloud, name: str) -> dict[str, Any] | None:
    proc = cloud.kubectl("get", "node", name, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _status_column(cloud: Cloud, name: str) -> str:
    """STATUS as `kubectl get node` prints it (Ready, NotReady, ...)."""
    proc = cloud.kubectl("get", "node", name, "--no-headers", check=False)
    fields = proc.stdout.split()
    return fields[1] if proc.returncode == 0 and len(fields) > 1 else ""


def _lease(cloud: Cloud, name: str) -> dict[str, Any] | None:
    proc = cloud.kubectl("get", "lease", name, "-n", "kube-node-lease", "-o", "json",
                         check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _cloudcore_log(cloud: Cloud) -> str:
    return (cloud.root / "var/log/kubeedge/cloudcore.log").read_text(errors="replace")


async def _join(cloud: Cloud, root: Path, name: str) -> int:
    token = (await asyncio.to_thread(keadm, "gettoken", "--root", str(cloud.root))
             ).stdout.strip()
    joined = await asyncio.to_thread(
        keadm, "join", f"--cloudcore-ipport={cloud.hub_server}", f"--token={token}",
        f"--edgenode-name={name}", f"--certport={cloud.cert_port}", "--root", str(root),
        *[a for s in FAST for a in ("--set", s)], "--timeout", "30",
        check=False, timeout=120)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    pid = setup_edge.edgecore_pid(root)
    assert pid is not None
    return pid


async def test_a_silent_edge_is_dropped_turns_not_ready_and_comes_back(
        cloud: Cloud, tmp_path: Path) -> None:
    root, name = tmp_path / "edge", "edge-silent"
    pid = await _join(cloud, root, name)
    stopped = False
    try:
        await eventually(lambda: _status_column(cloud, name) == "Ready", timeout=10,
                         what=f"{name} Ready")
        disconnect = f"edge node {name} disconnected (keepalive timeout)"
        assert disconnect not in _cloudcore_log(cloud)

        os.kill(pid, signal.SIGSTOP)
        stopped = True
        loop = asyncio.get_running_loop()
        silent_since = loop.time()
        # CloudHub notices by the keepalive deadline alone (the TCP connection is open).
        await eventually(lambda: disconnect in _cloudcore_log(cloud),
                         timeout=KEEPALIVE + 5, what="CloudHub dropping the silent edge")
        assert loop.time() - silent_since >= KEEPALIVE - 0.5
        # Then the node lifecycle controller marks it NotReady (Ready=Unknown).
        await eventually(lambda: _status_column(cloud, name) == "NotReady",
                         timeout=GRACE + 10, what=f"{name} NotReady")
        ready = next(c for c in (_node(cloud, name) or {})["status"]["conditions"]
                     if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
        assert ready["reason"] == "NodeStatusUnknown"

        os.kill(pid, signal.SIGCONT)
        stopped = False
        # The edge finds its connection closed, dials again and reports: Ready again.
        await eventually(lambda: _status_column(cloud, name) == "Ready", timeout=15,
                         what=f"{name} Ready again after reconnecting")
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root), "--force",
                                check=False)


async def test_the_lease_is_owned_by_the_node_and_goes_with_it(
        cloud: Cloud, tmp_path: Path) -> None:
    root, name = tmp_path / "edge", "edge-leased"
    pid = await _join(cloud, root, name)
    try:
        node = _node(cloud, name)
        assert node is not None
        lease = await eventually(
            lambda: (_lease(cloud, name) or {}).get("metadata", {}).get("ownerReferences")
            and _lease(cloud, name), timeout=10, what="an owned Lease")
        assert lease["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Node", "name": name,
             "uid": node["metadata"]["uid"]}]
        # Renewals keep going (each an update of the Lease the cloud returned).
        renewed = lease["spec"]["renewTime"]
        await eventually(lambda: (_lease(cloud, name) or {}).get("spec", {})
                         .get("renewTime", renewed) != renewed,
                         timeout=10, what="a renewal")

        # The edge stops first (else it would register again), then the Node goes:
        # the garbage collector deletes the Lease it owned.
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(cloud.kubectl, "delete", "node", name)
        await eventually(lambda: _lease(cloud, name) is None, timeout=15,
                         what="the Lease collected with its Node")
    finally:
        await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root), "--force",
                                check=False)
