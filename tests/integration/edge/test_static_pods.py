"""Static pods and what a killed edgecore leaves behind, with a real cloud (`keadm init`
with the node-ipam controller) and an edge joined with the real `keadm join`:

- a manifest in the edge's `staticPodPath` runs on the edge and shows up in
  `kubectl get pods` as its mirror pod (`<name>-<node>`, annotation
  `kubernetes.io/config.mirror`) with the status the edge reports, including (as root)
  a pod IP from the node's podCIDR, which reached the edge's runtime from the Node the
  cloud sent down;
- edgecore SIGKILLed while that pod runs, then `keadm reset edge`: no container
  process, no namespace file, no bridge and no file of the edge is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge.cloud.setup import process_running
from kubeedge.edge.runtime import ContainerState, ContainerStatus
from kubeedge.edge.runtime.contract import LABEL_POD_NAME
from kubeedge.edge.runtime.network import bridge_name
from tests.fixtures.cluster import Cloud, running_cloud
from tests.integration.edge import edgepods as ep

NODE = "edge-static"
MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
                "name": "app", "image": "python:3.11",
                "command": ["python3", "-c", "import time; time.sleep(100000)"]}]}}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("static-pods"),
                       controllers=("node-ipam",)) as c:
        yield c


@pytest.fixture(scope="module")
def edge(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("edge") / "root"
    try:
        ep.join_edge(cloud, root, NODE)
        yield root
    finally:
        ep.reset_edge(root)


async def test_static_pod_shows_as_a_mirror_pod_with_its_status(cloud: Cloud,
                                                                edge: Path) -> None:
    root = edge
    podcidr_file = root / "var/lib/kubeedge/cni/podcidr"
    if os.geteuid() == 0:
        # The podCIDR node-ipam gave the Node reached the runtime (kept on disk).
        await ep.eventually(lambda: podcidr_file.exists(), 15, "the podCIDR at the edge")
    manifests = root / "etc/kubeedge/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "web.yaml").write_text(json.dumps(MANIFEST))

    name = f"web-{NODE}"
    mirror = await ep.wait_pod(cloud, name, ep.is_ready, 15, "mirror pod Running and Ready")
    annotations = mirror["metadata"].get("annotations") or {}
    assert "kubernetes.io/config.mirror" in annotations
    assert annotations.get("kubernetes.io/config.source") == "file"
    assert mirror["spec"]["nodeName"] == NODE
    assert [o["kind"] for o in mirror["metadata"].get("ownerReferences") or []] in (
        [], ["Node"])
    listed = cloud.kubectl("get", "pods", "-o", "wide").stdout
    assert name in listed and "Running" in listed
    if os.geteuid() == 0:
        cidr = ipaddress.ip_network(podcidr_file.read_text().strip())
        assert ipaddress.ip_address(mirror["status"]["podIP"]) in cidr, mirror["status"]
        node = cloud.kubectl_json("get", "node", NODE)
        assert node["spec"]["podCIDR"] == str(cidr)

        def network_ready() -> bool:
            # The next node status report after the podCIDR arrived drops the
            # host-network note from the Ready condition.
            conditions = cloud.kubectl_json("get", "node", NODE)["status"]["conditions"]
            ready = {c["type"]: c for c in conditions}["Ready"]
            return ready["status"] == "True" and "NetworkReady=false" not in ready["message"]

        await ep.eventually(network_ready, 15, "Ready without the host-network note")


async def test_reset_after_edgecore_was_killed_leaves_nothing(cloud: Cloud,
                                                              edge: Path) -> None:
    root = edge
    container = await ep.eventually(lambda: _running_static(root), 30, "the static pod runs")
    pid = int(container.pid or 0)
    assert pid and process_running(pid)
    ep.kill_edgecore(root)
    assert process_running(pid)  # the container outlives edgecore, as it should
    netns = sorted((root / "var/run/kubeedge/netns").glob("*"))
    if os.geteuid() == 0:
        assert netns, "the pod should have a network namespace of its own"

    reset = ep.keadm("reset", "edge", "--root", str(root), "--force", check=False,
                     timeout=60)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "leftover pod sandbox" in reset.stdout, reset.stdout
    assert not process_running(pid)
    for path in netns:
        assert not os.path.ismount(path) and not path.exists()
    if os.geteuid() == 0:
        link = subprocess.run(["ip", "link", "show", bridge_name(root, NODE)],
                              capture_output=True, text=True)
        assert link.returncode != 0, link.stdout
    left = [p for p in root.rglob("*") if not p.is_dir()] if root.exists() else []
    assert left == [], left


def _running_static(root: Path) -> ContainerStatus | None:
    for c in ep.containers(root):
        if c.labels.get(LABEL_POD_NAME) == f"web-{NODE}" and \
                c.state == ContainerState.RUNNING:
            return c
    return None
