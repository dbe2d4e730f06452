"""Hollow nodes without a server: the objects they write, their scripts and pod IPs, and
their timers driven by a fake clock against a recording client."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIError
from kubeedge.hollow import pod as pods
from kubeedge.hollow.cluster import HollowCluster, HollowNode, HollowTimings, WorkerState
from kubeedge.hollow.identity import ClusterCredentials
from kubeedge.hollow.node import (
    HOLLOW_ANNOTATION,
    NodeProfile,
    fake_internal_ip,
    fake_pod_cidr,
    lease_object,
    lease_renewal,
    node_object,
    parse_label,
    parse_taint,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


# --------------------------------------------------------------------------- node objects


def test_node_object_carries_kubelet_labels_capacity_and_ready_conditions() -> None:
    profile = NodeProfile(cpu="4", memory="8Gi", pods=20, gpus=2, labels={"zone": "a"},
                          taints=[parse_taint("dedicated=gpu:NoSchedule")], edge=True)
    node = node_object("hollow-7", profile, "10.64.0.8", T0)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "hollow-7"
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
    assert labels["node-role.kubernetes.io/edge"] == "" and labels["zone"] == "a"
    assert node["metadata"]["annotations"][HOLLOW_ANNOTATION] == "true"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "gpu",
                                       "effect": "NoSchedule"}]
    status = node["status"]
    assert status["capacity"] == {"cpu": "4", "memory": "8Gi", "pods": "20",
                                  "ephemeral-storage": "100Gi", "nvidia.com/gpu": "2"}
    assert status["allocatable"] == status["capacity"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "KubeletReady"
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[kind]["status"] == "False"
    assert conditions["Ready"]["lastHeartbeatTime"] == "2025-01-02T03:04:05Z"
    assert {"type": "InternalIP", "address": "10.64.0.8"} in status["addresses"]
    assert {"type": "Hostname", "address": "hollow-7"} in status["addresses"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0-hollow"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "hollow://1.0"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250


def test_cloud_node_has_no_role_label_and_no_gpu() -> None:
    node = node_object("n", NodeProfile(), "10.64.0.1", T0)
    assert not any(k.startswith("node-role.kubernetes.io/") for k in node["metadata"]["labels"])
    assert "nvidia.com/gpu" not in node["status"]["capacity"]
    assert "taints" not in node["spec"]


def test_lease_is_held_by_the_node_with_micro_time() -> None:
    lease = lease_object("hollow-1", 40, T0)
    assert lease["metadata"] == {"name": "hollow-1", "namespace": "kube-node-lease"}
    assert lease["spec"]["holderIdentity"] == "hollow-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["spec"]["renewTime"] == "2025-01-02T03:04:05.678901Z"
    later = lease_renewal("hollow-1", 40, T0 + timedelta(seconds=10))
    assert later["spec"]["renewTime"] == "2025-01-02T03:04:15.678901Z"


@pytest.mark.parametrize("text, expected", [
    ("a=b", ("a", "b")), ("example.com/x=", ("example.com/x", "")), ("flag", ("flag", "")),
])
def test_parse_label(text: str, expected: tuple[str, str]) -> None:
    assert parse_label(text) == expected


def test_parse_taint_forms_and_errors() -> None:
    assert parse_taint("k:NoExecute") == {"key": "k", "effect": "NoExecute"}
    with pytest.raises(ValueError, match="Effect one of"):
        parse_taint("k=v:Sometimes")
    with pytest.raises(ValueError, match="key is empty"):
        parse_taint("=v:NoSchedule")


def test_fake_addresses_are_distinct_per_node() -> None:
    ips = {fake_internal_ip(i) for i in range(1000)}
    cidrs = {fake_pod_cidr(i) for i in range(1000)}
    assert len(ips) == len(cidrs) == 1000
    assert fake_pod_cidr(1) == "10.128.1.0/24"
    internal = ipaddress.ip_network("10.64.0.0/10")
    assert all(ipaddress.ip_address(ip) in internal for ip in ips)


# --------------------------------------------------------------------------- pod scripts


def _pod(annotations: dict[str, str] | None = None, policy: str = "Always",
         **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                     "annotations": annotations or {}},
        "spec": {"restartPolicy": policy, "nodeName": "hollow-0",
                 "containers": [{"name": "a", "image": "busybox"},
                                {"name": "b", "image": "nginx:1.27"}], **spec},
    }


def test_script_reads_exit_code_and_run_seconds() -> None:
    assert pods.script_of(_pod()) == (pods.ContainerScript(), "")
    script, problem = pods.script_of(_pod({pods.EXIT_CODE_ANNOTATION: "3",
                                           pods.RUN_SECONDS_ANNOTATION: "2.5"}))
    assert script == pods.ContainerScript(3, 2.5) and problem == ""


@pytest.mark.parametrize("annotations, script, fragment", [
    ({pods.EXIT_CODE_ANNOTATION: "x"}, pods.ContainerScript(), "not an integer"),
    ({pods.EXIT_CODE_ANNOTATION: "300"}, pods.ContainerScript(), "0..255"),
    ({pods.EXIT_CODE_ANNOTATION: "1", pods.RUN_SECONDS_ANNOTATION: "-1"},
     pods.ContainerScript(1), "must be >= 0"),
    ({pods.EXIT_CODE_ANNOTATION: "1", pods.RUN_SECONDS_ANNOTATION: "soon"},
     pods.ContainerScript(1), "not a number"),
])
def test_bad_script_annotations_are_reported_and_ignored(
        annotations: dict[str, str], script: pods.ContainerScript, fragment: str) -> None:
    got, problem = pods.script_of(_pod(annotations))
    assert got == script and fragment in problem


@pytest.mark.parametrize("policy, code, outcome", [
    ("Never", 0, pods.ExitOutcome.SUCCEEDED), ("Never", 1, pods.ExitOutcome.FAILED),
    ("OnFailure", 0, pods.ExitOutcome.SUCCEEDED), ("OnFailure", 2, pods.ExitOutcome.RESTART),
    ("Always", 0, pods.ExitOutcome.RESTART), ("Always", 1, pods.ExitOutcome.RESTART),
    ("", 0, pods.ExitOutcome.RESTART),
])
def test_exit_outcome_follows_restart_policy(policy: str, code: int,
                                             outcome: pods.ExitOutcome) -> None:
    assert pods.exit_outcome(policy, code) is outcome


def test_restart_backoff_doubles_to_five_minutes() -> None:
    assert [pods.restart_backoff(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]


def test_running_status_has_every_field_controllers_read() -> None:
    pod = _pod(initContainers=[{"name": "init", "image": "alpine"}])
    status = pods.running_status(pod, host_ip="10.64.0.1", pod_ip="10.128.0.2",
                                 started=T0, now=T0)["status"]
    assert status["phase"] == "Running"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert all(conditions[k] == "True" for k in
               ("PodScheduled", "Initialized", "ContainersReady", "Ready"))
    assert status["hostIP"] == "10.64.0.1" and status["hostIPs"] == [{"ip": "10.64.0.1"}]
    assert status["podIP"] == "10.128.0.2" and status["podIPs"] == [{"ip": "10.128.0.2"}]
    assert status["startTime"] == "2025-01-02T03:04:05Z"
    names = [c["name"] for c in status["containerStatuses"]]
    assert names == ["a", "b"]
    for c in status["containerStatuses"]:
        assert c["ready"] is True and c["started"] is True and c["restartCount"] == 0
        assert c["containerID"].startswith("hollow://")
        assert c["imageID"].startswith(c["image"] + "@sha256:")
        assert c["state"] == {"running": {"startedAt": "2025-01-02T03:04:05Z"}}
    init = status["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"


def test_restarted_status_counts_and_keeps_the_last_termination() -> None:
    later = T0 + timedelta(seconds=30)
    status = pods.running_status(_pod(), host_ip="h", pod_ip="p", started=T0, now=later,
                                 restarts=2, last_exit_code=1, last_started=T0)["status"]
    container = status["containerStatuses"][0]
    assert container["restartCount"] == 2
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert status["startTime"] == "2025-01-02T03:04:05Z"


def test_terminated_and_killed_statuses() -> None:
    done = pods.terminated_status(_pod(), host_ip="h", pod_ip="p", started=T0, run_started=T0,
                                  now=T0, exit_code=0, phase=pods.Phase.SUCCEEDED)["status"]
    assert done["phase"] == "Succeeded"
    assert {c["type"]: c["status"] for c in done["conditions"]}["Ready"] == "False"
    state = done["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0 and state["reason"] == "Completed"
    crashed = pods.terminated_status(_pod(), host_ip="h", pod_ip="p", started=T0,
                                     run_started=T0, now=T0, exit_code=1, phase=None)["status"]
    assert "phase" not in crashed
    killed = pods.killed_status(_pod(), host_ip="h", pod_ip="p", started=T0, run_started=T0,
                                now=T0)["status"]
    assert killed["phase"] == "Failed"
    assert killed["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143


def test_ip_pool_skips_network_and_gateway_and_reuses_released() -> None:
    pool = pods.PodIPPool("10.128.5.0/29")  # hosts .1-.6, .1 is the gateway
    got = [pool.allocate(f"u{i}") for i in range(5)]
    assert got == [f"10.128.5.{i}" for i in range(2, 7)]
    assert pool.allocate("u0") == "10.128.5.2"  # one owner, one address
    with pytest.raises(RuntimeError, match="no free address"):
        pool.allocate("u9")
    pool.release("u3")
    assert pool.allocate("u9") == "10.128.5.5"
    pool.reserve("old", "10.128.5.2")
    assert "10.128.5.3" in pool and "10.0.0.1" not in pool


# --------------------------------------------------------------------------- timers


class RecordingClient:
    """Stands in for a node's APIClient: records writes, answers like the server."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any, dict[str, Any]]] = []
        self.fail_next: list[APIError] = []

    async def _record(self, verb: str, plural: str, name: str, body: Any,
                      **kwargs: Any) -> dict[str, Any]:
        self.calls.append((verb, plural, name, body, kwargs))
        if self.fail_next:
            raise self.fail_next.pop(0)
        return body if isinstance(body, dict) else {}

    async def create(self, ref: Any, obj: dict[str, Any], *a: Any, **k: Any) -> dict[str, Any]:
        return await self._record("create", ref.plural, obj["metadata"]["name"], obj)

    async def patch(self, ref: Any, name: str, patch: Any, *a: Any,
                    **k: Any) -> dict[str, Any]:
        what = ref.plural + ("/" + k["subresource"] if k.get("subresource") else "")
        return await self._record("patch", what, name, patch, **k)

    async def delete(self, ref: Any, name: str, *a: Any, **k: Any) -> dict[str, Any]:
        return await self._record("delete", ref.plural, name, None, **k)

    def of(self, verb: str, what: str) -> list[Any]:
        return [c for c in self.calls if c[0] == verb and c[1] == what]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _hollow(clock: FakeClock, **timings: Any) -> tuple[HollowNode, RecordingClient]:
    cluster = HollowCluster(
        credentials=ClusterCredentials(Path("/nonexistent")),
        timings=HollowTimings(**{"ready_delay": 1.0, "renew_interval": 10.0,
                                 "status_interval": 60.0, **timings}),
        clock=clock, wall=lambda: T0 + timedelta(seconds=clock.now()),
        rng=random.Random(7),
    )
    client = RecordingClient()
    node = HollowNode(cluster, "hollow-0", 0, NodeProfile(), client)  # type: ignore[arg-type]
    cluster.nodes[node.name] = node
    return node, client


async def test_leases_renew_every_interval_and_stop_while_paused(clock: FakeClock) -> None:
    node, client = _hollow(clock)
    await node.register()
    assert [c[1] for c in client.calls] == ["nodes", "leases"]
    node.start_heartbeats()
    await clock.advance(10.0)  # the random first offset lies in [0, 10)
    assert len(client.of("patch", "leases")) == 1
    await clock.advance(30.0)
    renewals = len(client.of("patch", "leases"))
    assert renewals in (3, 4)
    node.pause()
    await clock.advance(60.0)
    assert len(client.of("patch", "leases")) == renewals
    assert len(client.of("patch", "nodes/status")) <= 1
    node.resume()
    await clock.settle()
    assert len(client.of("patch", "leases")) == renewals + 1
    statuses = client.of("patch", "nodes/status")
    ready = {c["type"]: c for c in statuses[-1][3]["status"]["conditions"]}["Ready"]
    assert ready["status"] == "True"
    await node.stop()


async def test_node_marked_not_ready_reports_at_once_with_a_new_transition(
        clock: FakeClock) -> None:
    node, client = _hollow(clock)
    await node.register()
    node.start_heartbeats()
    await clock.advance(61.0)
    before = len(client.of("patch", "nodes/status"))
    await clock.advance(5.0)
    node.observe({"metadata": {"name": "hollow-0"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}})
    await clock.settle()
    statuses = client.of("patch", "nodes/status")
    assert len(statuses) == before + 1
    ready = {c["type"]: c for c in statuses[-1][3]["status"]["conditions"]}["Ready"]
    assert ready["lastTransitionTime"] == ready["lastHeartbeatTime"]
    await node.stop()


async def test_pod_runs_after_the_ready_delay_then_deletion_is_confirmed(
        clock: FakeClock) -> None:
    node, client = _hollow(clock, ready_delay=2.0)
    pod = _pod()
    node.pod_seen(pod)
    await clock.advance(1.9)
    assert client.of("patch", "pods/status") == []
    await clock.advance(0.2)
    (write,) = client.of("patch", "pods/status")
    assert write[4]["patch_type"] == "strategic"
    status = write[3]["status"]
    assert status["phase"] == "Running" and status["podIP"] == "10.128.0.2"
    assert status["hostIP"] == "10.64.0.1"
    deleting = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}}
    node.pod_seen(deleting)
    await clock.settle()
    killed = client.of("patch", "pods/status")[-1][3]["status"]
    assert killed["phase"] == "Failed"
    (delete,) = client.of("delete", "pods")
    assert delete[4] == {"grace_period_seconds": 0, "preconditions": {"uid": "u-1"}}
    node.pod_gone(deleting)
    assert len(node.pool) == 0


async def test_pod_not_yet_started_is_deleted_without_a_status(clock: FakeClock) -> None:
    node, client = _hollow(clock)
    pod = _pod()
    node.pod_seen(pod)
    node.pod_seen({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}})
    await clock.advance(5.0)
    assert client.of("patch", "pods/status") == []
    assert len(client.of("delete", "pods")) == 1


async def test_terminal_pod_is_still_deleted(clock: FakeClock) -> None:
    node, client = _hollow(clock)
    pod = {**_pod(), "status": {"phase": "Succeeded"}}
    node.pod_seen(pod)
    node.pod_seen({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}})
    await clock.settle()
    assert client.of("patch", "pods/status") == []
    assert len(client.of("delete", "pods")) == 1


async def test_exit_code_with_never_fails_the_pod(clock: FakeClock) -> None:
    node, client = _hollow(clock)
    node.pod_seen(_pod({pods.EXIT_CODE_ANNOTATION: "4", pods.RUN_SECONDS_ANNOTATION: "3"},
                       policy="Never"))
    await clock.advance(1.0)
    assert client.of("patch", "pods/status")[-1][3]["status"]["phase"] == "Running"
    await clock.advance(3.0)
    final = client.of("patch", "pods/status")[-1][3]["status"]
    assert final["phase"] == "Failed"
    assert final["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    assert node.workers["u-1"].state is WorkerState.EXITED
    await clock.advance(100.0)
    assert len(client.of("patch", "pods/status")) == 2


async def test_exit_with_always_restarts_after_backoff(clock: FakeClock) -> None:
    node, client = _hollow(clock, restart_backoff=5.0)
    node.pod_seen(_pod({pods.EXIT_CODE_ANNOTATION: "0", pods.RUN_SECONDS_ANNOTATION: "10"}))
    await clock.advance(11.0)  # started at 1, exits at 11
    crashed = client.of("patch", "pods/status")[-1][3]["status"]
    assert "phase" not in crashed
    await clock.advance(5.0)
    restarted = client.of("patch", "pods/status")[-1][3]["status"]
    assert restarted["phase"] == "Running"
    assert restarted["containerStatuses"][0]["restartCount"] == 1
    assert restarted["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 0
    await node.stop()


async def test_status_write_refused_while_the_server_catches_up_is_retried(
        clock: FakeClock) -> None:
    node, client = _hollow(clock, ready_delay=0.0)
    client.fail_next = [APIError.from_response(403, {"kind": "Status", "reason": "Forbidden",
                                                     "message": "not bound yet"})]
    node.pod_seen(_pod())
    await clock.advance(1.0)
    writes = client.of("patch", "pods/status")
    assert len(writes) == 2 and writes[-1][3]["status"]["phase"] == "Running"


async def test_pods_adopt_the_pod_cidr_ipam_assigned(clock: FakeClock) -> None:
    node, client = _hollow(clock, ready_delay=0.0)
    node.observe({"metadata": {"name": "hollow-0"}, "spec": {"podCIDR": "10.244.3.0/24"}})
    node.pod_seen(_pod())
    await clock.settle()
    assert client.of("patch", "pods/status")[-1][3]["status"]["podIP"] == "10.244.3.2"


async def test_host_network_pod_uses_the_node_ip(clock: FakeClock) -> None:
    node, client = _hollow(clock, ready_delay=0.0)
    node.pod_seen(_pod(hostNetwork=True))
    await clock.settle()
    assert client.of("patch", "pods/status")[-1][3]["status"]["podIP"] == "10.64.0.1"
    assert len(node.pool) == 0
