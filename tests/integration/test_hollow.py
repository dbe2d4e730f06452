"""Hollow nodes against the real API server process: registration, Leases, pods bound to
them run, exit and are deleted, as the nodes' own identities."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.hollow import EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, HollowCluster
from kubeedge.hollow.cluster import HollowTimings
from kubeedge.hollow.node import NodeProfile
from tests.fixtures.cluster import Cloud, eventually, running_cloud

PODS = Resource.of("v1", "pods")
NODES = Resource.of("v1", "nodes")
LEASES = Resource.of("coordination.k8s.io/v1", "leases")
NAMESPACES = Resource.of("v1", "namespaces")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("hollow")) as c:
        yield c


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest.fixture
async def ns(api: APIClient) -> str:
    name = f"h-{uuid.uuid4().hex[:6]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name


@pytest.fixture
async def hollow(cloud: Cloud) -> AsyncIterator[HollowCluster]:
    tag = f"h{uuid.uuid4().hex[:4]}"
    prefix = f"{tag}-"
    cluster = HollowCluster(
        cloud.root, nodes=3, name_prefix=prefix, delete_on_stop=True,
        profile=NodeProfile(cpu="4", labels={"hollow-test": tag}),
        timings=HollowTimings(ready_delay=1.0, renew_interval=0.5, status_interval=2.0,
                              restart_backoff=0.2),
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


def _pod(name: str, node: str = "", annotations: dict[str, str] | None = None,
         policy: str = "Always") -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": policy,
                            "containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    else:
        spec["schedulerName"] = "nobody"  # stays unbound until the test binds it
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def test_nodes_register_ready_with_renewed_leases(
        cloud: Cloud, api: APIClient, hollow: HollowCluster) -> None:
    names = hollow.node_names()
    listing = cloud.kubectl_json("get", "nodes", "-l", f"hollow-test={hollow.name_prefix[:-1]}")
    assert sorted(n["metadata"]["name"] for n in listing["items"]) == sorted(names)
    for node in listing["items"]:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert node["status"]["capacity"]["cpu"] == "4"
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == node["metadata"]["name"]
    table = cloud.kubectl("get", "nodes", *names).stdout
    assert table.count(" Ready ") == 3
    lease = await api.get(LEASES, names[0], "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == names[0]
    first = lease["spec"]["renewTime"]

    async def renewed() -> bool:
        again = await api.get(LEASES, names[0], "kube-node-lease")
        return bool(again["spec"]["renewTime"] != first)

    await eventually(renewed, timeout=10, what="the lease to be renewed")


async def test_bound_pod_runs_after_the_delay_and_deletion_is_confirmed(
        cloud: Cloud, api: APIClient, hollow: HollowCluster, ns: str) -> None:
    node = hollow.node_names()[1]
    await api.create(PODS, _pod("web"), ns)
    await api.request("POST", PODS.path(ns, "web", "binding"), body={
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
        "target": {"kind": "Node", "name": node}})
    pod = await eventually(lambda: _running(api, ns, "web"), timeout=10, what="web Running")
    status = pod["status"]
    assert _ready(pod)
    assert status["containerStatuses"][0]["ready"] is True
    assert status["containerStatuses"][0]["containerID"].startswith("hollow://")
    assert status["hostIP"] == hollow.nodes[node].internal_ip
    cidr = ipaddress.ip_network(hollow.nodes[node].pod_cidr)
    assert ipaddress.ip_address(status["podIP"]) in cidr
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    # kubectl waits for the node to confirm the graceful deletion (off the event loop,
    # which the hollow nodes share with the test).
    await asyncio.to_thread(cloud.kubectl, "delete", "pod", "web", "-n", ns, "--wait=true",
                            "--timeout=20s")
    gone = cloud.kubectl("get", "pod", "web", "-n", ns, check=False)
    assert "NotFound" in gone.stderr


async def _running(api: APIClient, ns: str, name: str) -> dict[str, Any] | None:
    pod = await api.get(PODS, name, ns)
    return pod if (pod.get("status") or {}).get("phase") == "Running" and _ready(pod) else None


async def _phase(api: APIClient, ns: str, name: str) -> str:
    return str(((await api.get(PODS, name, ns)).get("status") or {}).get("phase") or "")


async def test_exit_code_annotation_ends_or_restarts_the_pod(
        api: APIClient, hollow: HollowCluster, ns: str) -> None:
    node = hollow.node_names()[0]
    await api.create(PODS, _pod("ok", node, {EXIT_CODE_ANNOTATION: "0"}, "Never"), ns)
    await api.create(PODS, _pod("bad", node, {EXIT_CODE_ANNOTATION: "3",
                                              RUN_SECONDS_ANNOTATION: "0.5"}, "Never"), ns)
    await api.create(PODS, _pod("loop", node, {EXIT_CODE_ANNOTATION: "1"}, "Always"), ns)
    for name, phase in (("ok", "Succeeded"), ("bad", "Failed")):
        async def ended(name: str = name, phase: str = phase) -> bool:
            return await _phase(api, ns, name) == phase
        await eventually(ended, timeout=10, what=f"{name} {phase}")
    bad = await api.get(PODS, "bad", ns)
    assert bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3

    async def restarted() -> bool:
        pod = await api.get(PODS, "loop", ns)
        counts = [c["restartCount"] for c in pod["status"].get("containerStatuses") or []]
        return bool(counts and counts[0] >= 1 and pod["status"]["phase"] == "Running")

    await eventually(restarted, timeout=10, what="loop restarted")
    # A finished pod is deleted at once by the server; the node has nothing to confirm.
    await api.delete(PODS, "ok", ns)

    async def gone() -> bool:
        listing = await api.list(PODS, ns, field_selector="metadata.name=ok")
        return not listing["items"]

    await eventually(gone, timeout=10, what="ok deleted")


async def test_paused_node_stops_renewing_until_resumed(
        api: APIClient, hollow: HollowCluster) -> None:
    paused, other = hollow.node_names()[:2]
    hollow.pause(paused)

    async def renew_times() -> tuple[str, str]:
        a = await api.get(LEASES, paused, "kube-node-lease")
        b = await api.get(LEASES, other, "kube-node-lease")
        return a["spec"]["renewTime"], b["spec"]["renewTime"]

    # Anything in flight at pause time has landed once the other node renews twice.
    _, seen = await renew_times()
    for _ in range(2):
        async def other_renewed(before: str = seen) -> str | None:
            now = (await renew_times())[1]
            return now if now != before else None
        seen = await eventually(other_renewed, timeout=10, what="the other lease renewed")
    frozen = (await renew_times())[0]
    for _ in range(2):
        async def other_renewed_again(before: str = seen) -> str | None:
            now = (await renew_times())[1]
            return now if now != before else None
        seen = await eventually(other_renewed_again, timeout=10, what="another renewal")
    assert (await renew_times())[0] == frozen
    hollow.resume(paused)

    async def thawed() -> bool:
        return (await renew_times())[0] != frozen

    await eventually(thawed, timeout=10, what="the paused lease renewed after resume")


async def test_add_and_remove_nodes(api: APIClient, hollow: HollowCluster) -> None:
    name = await hollow.add_node()
    node = await api.get(NODES, name)
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    await hollow.remove_node(name)
    listing = await api.list(NODES, field_selector=f"metadata.name={name}")
    assert listing["items"] == []
    leases = await api.list(LEASES, "kube-node-lease", field_selector=f"metadata.name={name}")
    assert leases["items"] == []


async def test_cli_registers_nodes_until_stopped(cloud: Cloud, api: APIClient) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeedge.hollow", "--root", str(cloud.root), "--nodes", "3",
         "--name-prefix", "cli-", "--edge", "--label", "tier=cli", "--ttl", "60",
         "--cleanup"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "3 nodes registered" in line, line + (proc.stderr.read() if proc.stderr else "")
        listing = cloud.kubectl_json("get", "nodes", "-l", "tier=cli")
        names = sorted(n["metadata"]["name"] for n in listing["items"])
        assert names == ["cli-0", "cli-1", "cli-2"]
        assert all("node-role.kubernetes.io/edge" in n["metadata"]["labels"]
                   for n in listing["items"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (await api.list(NODES, label_selector="tier=cli"))["items"] == []
