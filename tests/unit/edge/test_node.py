"""The edge's Node as edged builds it (specs/kubeedge.md §6 "Edged") and the node module's
exchange with the cloud through EdgeHub's module on the bus (spec §2)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.config.edgecore import EdgeCoreConfig, from_builtins
from kubeedge.edge.node import (
    EDGE_ROLE_LABEL,
    GPU_RESOURCE,
    KUBELET_VERSION,
    HostInfo,
    NodeModule,
    NodeSettings,
    RequestFailed,
    build_lease,
    build_node,
    detect_nvidia_gpus,
    read_host,
)
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import Message, new_error_message, new_respond_message

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
HOST = HostInfo(cpus=4, memory_bytes=8 * 1024**3, storage_bytes=100 * 1024**3,
                hostname="box", kernel_version="6.1.0", os_image="Debian GNU/Linux 12",
                architecture="amd64", machine_id="m1", boot_id="b1")


def _settings(**values: Any) -> NodeSettings:
    base: dict[str, Any] = {"name": "edge-a", "node_ip": "192.0.2.10", "detect_gpus": False}
    base.update(values)
    return NodeSettings(**base)


def test_node_carries_the_edge_role_kubelet_labels_and_node_labels() -> None:
    node = build_node(_settings(labels={"site": "lab", "kubernetes.io/os": "custom"}),
                      HOST, NOW)
    labels = node["metadata"]["labels"]
    assert labels[EDGE_ROLE_LABEL] == ""
    assert labels["node-role.kubernetes.io/agent"] == ""
    assert labels["kubernetes.io/hostname"] == "edge-a"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["site"] == "lab"
    assert labels["kubernetes.io/os"] == "custom"  # nodeLabels win
    assert node["metadata"]["name"] == "edge-a"
    assert (node["apiVersion"], node["kind"]) == ("v1", "Node")


def test_capacity_comes_from_the_host_and_max_pods() -> None:
    status = build_node(_settings(max_pods=42), HOST, NOW)["status"]
    assert status["capacity"]["cpu"] == "4"
    assert status["capacity"]["memory"] == f"{8 * 1024 * 1024}Ki"
    assert status["capacity"]["ephemeral-storage"] == f"{100 * 1024 * 1024}Ki"
    assert status["capacity"]["pods"] == "42"
    assert status["allocatable"] == status["capacity"]
    assert GPU_RESOURCE not in status["capacity"]


def test_extra_capacity_is_added_and_wins_over_detected_gpus() -> None:
    host = HostInfo(**{**HOST.__dict__, "gpus": ["gpu0", "gpu1"]})
    status = build_node(_settings(), host, NOW)["status"]
    assert status["capacity"][GPU_RESOURCE] == "2"
    status = build_node(_settings(extra_capacity={GPU_RESOURCE: "8", "example.com/fpga": "1"}),
                        host, NOW)["status"]
    assert status["capacity"][GPU_RESOURCE] == "8"
    assert status["capacity"]["example.com/fpga"] == "1"
    assert status["allocatable"]["example.com/fpga"] == "1"


def test_reserved_resources_are_taken_off_allocatable() -> None:
    status = build_node(_settings(system_reserved={"cpu": "500m", "memory": "1Gi"},
                                  kube_reserved={"cpu": "1"}), HOST, NOW)["status"]
    assert status["allocatable"]["cpu"] == "2500m"
    assert status["allocatable"]["memory"] == f"{7 * 1024 * 1024}Ki"
    assert status["capacity"]["cpu"] == "4"


def test_addresses_conditions_and_node_info() -> None:
    status = build_node(_settings(), HOST, NOW)["status"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "192.0.2.10"},
                                   {"type": "Hostname", "address": "edge-a"}]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastHeartbeatTime"] == "2026-01-02T03:04:05Z"
    assert {c["type"] for c in status["conditions"]} == {
        "Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    assert all(c["status"] == "False" for c in status["conditions"] if c["type"] != "Ready")
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == KUBELET_VERSION
    assert "-kubeedge-v1." in KUBELET_VERSION
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10350


def test_taints_and_unschedulable_follow_the_config() -> None:
    node = build_node(_settings(taints=[{"key": "edge", "effect": "NoSchedule"}],
                                schedulable=False), HOST, NOW)
    assert node["spec"] == {"taints": [{"key": "edge", "effect": "NoSchedule"}],
                            "unschedulable": True}


def test_lease_is_kubelets_node_lease() -> None:
    lease = build_lease(_settings(lease_duration=40), NOW)
    assert lease["metadata"] == {"name": "edge-a", "namespace": "kube-node-lease"}
    assert lease["spec"] == {"holderIdentity": "edge-a", "leaseDurationSeconds": 40,
                             "renewTime": "2026-01-02T03:04:05.678901Z"}


def test_lease_is_owned_by_the_node_and_renews_the_last_one_returned() -> None:
    owner = {"apiVersion": "v1", "kind": "Node", "name": "edge-a", "uid": "u-1"}
    owned = build_lease(_settings(), NOW, node_uid="u-1")
    assert owned["metadata"]["ownerReferences"] == [owner]
    # A renewal carries the stored Lease's version (an update, not a blind write) and
    # adds the owner the first Lease was made without.
    last = {"metadata": {"name": "edge-a", "namespace": "kube-node-lease",
                         "resourceVersion": "41", "uid": "l-1", "labels": {"x": "y"}},
            "spec": {"holderIdentity": "edge-a", "renewTime": "old"}}
    renewed = build_lease(_settings(), NOW, node_uid="u-1", last=last)
    assert renewed["metadata"] == {"name": "edge-a", "namespace": "kube-node-lease",
                                   "resourceVersion": "41", "uid": "l-1",
                                   "ownerReferences": [owner]}
    assert renewed["spec"]["renewTime"] == "2026-01-02T03:04:05.678901Z"
    # An owner already there is kept as it is.
    kept = build_lease(_settings(), NOW, node_uid="u-2",
                       last={"metadata": {"ownerReferences": [owner]}})
    assert kept["metadata"]["ownerReferences"] == [owner]


def test_settings_from_config_use_kubelet_defaults_and_the_config() -> None:
    config = from_builtins({"root": "/tmp/x", "modules": {
        "edged": {"hostnameOverride": "edge-b", "nodeIP": "192.0.2.7",
                  "nodeLabels": {"a": "b"}, "extraCapacity": {GPU_RESOURCE: 1},
                  "tailoredKubeletConfig": {"registerWithTaints": [
                      {"key": "k", "value": "v", "effect": "NoExecute"}]}},
        "edgeHub": {"websocket": {"server": "127.0.0.1:10000"}}}})
    s = NodeSettings.from_config(config)
    assert (s.name, s.node_ip, s.namespace) == ("edge-b", "192.0.2.7", "default")
    assert s.labels == {"a": "b"} and s.extra_capacity == {GPU_RESOURCE: "1"}
    assert s.status_update_frequency == 10 and s.lease_duration == 40
    assert s.lease_renew_interval == 10  # kubelet renews at a quarter of the duration
    assert s.taints == [{"key": "k", "value": "v", "effect": "NoExecute"}]


def test_node_ip_defaults_to_the_address_that_reaches_the_cloud() -> None:
    config = EdgeCoreConfig()
    config.modules.edge_hub.websocket.server = "127.0.0.1:10000"
    assert NodeSettings.from_config(config).node_ip == "127.0.0.1"


def test_nvidia_smi_output_is_counted_and_failures_mean_no_gpus() -> None:
    listing = ("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)\n"
               "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2)\n")
    assert detect_nvidia_gpus(lambda argv: listing) == ["gpu0", "gpu1"]

    def broken(argv: list[str]) -> str:
        raise subprocess.CalledProcessError(9, argv)

    assert detect_nvidia_gpus(broken) == []


def test_the_real_host_is_read_from_proc() -> None:
    host = read_host("/")
    assert host.cpus >= 1 and host.memory_bytes > 0 and host.storage_bytes > 0
    assert host.architecture and host.kernel_version


class FakeCloud:
    """Plays EdgeHub's module `websocket`: answers node requests as the cloud would."""

    def __init__(self, bus: ModuleBus, refuse: str = "") -> None:
        self.bus = bus
        self.refuse = refuse
        self.requests: list[Message] = []
        self.lease_version = 0
        self.connected = asyncio.Event()
        bus.add_module("websocket", "hub")
        self.task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            msg = await self.bus.receive("websocket")
            self.requests.append(msg)
            kind = msg.route.resource.split("/")[1]
            if self.refuse and kind == self.refuse:
                self.bus.send_resp(new_error_message(msg, "create node error: forbidden"))
            elif kind == "lease" and msg.route.operation == "delete":
                self.bus.send_resp(new_respond_message(msg, {"Object": None, "Err": None}))
            elif kind == "lease":
                # The API's answer: the Lease as stored, with a new resourceVersion.
                self.lease_version += 1
                lease = {**msg.content, "metadata": {
                    **msg.content["metadata"], "resourceVersion": str(self.lease_version)}}
                self.bus.send_resp(new_respond_message(msg, {"Object": lease, "Err": None}))
            elif kind == "node" and msg.route.operation == "query":
                self.bus.send_resp(new_respond_message(
                    msg, {"kind": "Node", "metadata": {"name": "edge-a", "uid": "node-uid"}}))
            else:
                self.bus.send_resp(new_respond_message(msg, "OK"))

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _settle(rounds: int = 50) -> None:
    """Let every ready task run until it blocks (scheduling rounds, not time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def _wait(cond: Any, what: str) -> None:
    async with asyncio.timeout(5):
        while not cond():
            await asyncio.sleep(0.005)


async def test_module_registers_then_reports_and_renews_on_their_periods() -> None:
    bus = ModuleBus()
    cloud = FakeCloud(bus)
    clock = FakeClock()
    changes: list[dict[str, Any]] = []
    # Status every 10 s, Lease every 10 s (a quarter of 40 s): kubelet's defaults.
    module = NodeModule(_settings(status_update_frequency=10, lease_duration=40),
                        bus, cloud, host=lambda: HOST, clock=clock,
                        on_change=changes.append)
    await module.start()
    try:
        await _settle()
        assert cloud.requests == []  # nothing while disconnected
        cloud.connected.set()
        await _wait(lambda: module.lease_acks == 1, "the first Lease")
        kinds = [(m.route.resource, m.route.operation) for m in cloud.requests]
        assert kinds == [("default/nodestatus/edge-a", "insert"),
                         ("default/node/edge-a", "query"),
                         ("default/nodestatus/edge-a", "update"),
                         ("default/lease/edge-a", "insert")]
        first = cloud.requests[0]
        assert first.route.source == "edged" and first.route.group == "resource"
        assert first.content["metadata"]["labels"][EDGE_ROLE_LABEL] == ""
        update = cloud.requests[2].content
        assert set(update) == {"UID", "Status"}
        assert update["Status"]["capacity"]["cpu"] == "4"
        assert cloud.requests[3].content["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Node", "name": "edge-a", "uid": "node-uid"}]
        # Nothing more until the periods pass on the module's clock.
        await _settle()
        assert len(cloud.requests) == 4
        await clock.advance(10)
        await _wait(lambda: module.lease_acks == 2, "the renewal")
        tail = [(m.route.resource, m.route.operation) for m in cloud.requests[4:]]
        assert tail == [("default/nodestatus/edge-a", "update"),
                        ("default/lease/edge-a", "update")]
        # The renewal updates the Lease the cloud returned, by its resourceVersion.
        assert cloud.requests[-1].content["metadata"]["resourceVersion"] == "1"
        assert module.status_acks == 2
        assert module.registered and changes[-1]["registered"]
    finally:
        await module.stop()
        await cloud.close()


async def test_a_refused_registration_is_reported_and_retried() -> None:
    bus = ModuleBus()
    cloud = FakeCloud(bus, refuse="nodestatus")
    changes: list[dict[str, Any]] = []
    module = NodeModule(_settings(status_update_frequency=0.02), bus, cloud,
                        host=lambda: HOST, on_change=changes.append)
    cloud.connected.set()
    await module.start()
    try:
        await _wait(lambda: len(cloud.requests) >= 2, "a retry")
        assert not module.registered
        assert "forbidden" in module.last_error
        assert changes and "forbidden" in changes[-1]["nodeError"]
        assert all(m.route.operation == "insert" for m in cloud.requests)
    finally:
        await module.stop()
        await cloud.close()


@pytest.mark.parametrize("gpus", [[], ["gpu0"]])
async def test_gpus_go_up_as_extended_resources(gpus: list[str]) -> None:
    bus = ModuleBus()
    cloud = FakeCloud(bus)
    host = HostInfo(**{**HOST.__dict__, "gpus": gpus})
    module = NodeModule(_settings(), bus, cloud, host=lambda: host)
    cloud.connected.set()
    try:
        await module.register()
        await module.report_status()
        update = cloud.requests[-1].content
        if gpus:
            assert update["ExtendResources"] == {
                GPU_RESOURCE: [{"name": "gpu0", "type": "nvidia", "capacity": "1"}]}
        else:
            assert "ExtendResources" not in update
    finally:
        await cloud.close()


class SlowCloud(FakeCloud):
    """Holds each reply until `release` is set, to have a report in flight."""

    def __init__(self, bus: ModuleBus) -> None:
        self.release = asyncio.Event()
        self.release.set()
        super().__init__(bus)

    async def _serve(self) -> None:
        while True:
            msg = await self.bus.receive("websocket")
            self.requests.append(msg)
            await self.release.wait()
            if msg.route.operation == "delete" or msg.route.resource.split("/")[1] == "lease":
                self.bus.send_resp(new_respond_message(msg, {"Object": None, "Err": None}))
            else:
                self.bus.send_resp(new_respond_message(msg, "OK"))


async def test_deregister_waits_for_the_report_in_flight_then_deletes_lease_then_node(
        ) -> None:
    bus = ModuleBus()
    cloud = SlowCloud(bus)
    module = NodeModule(_settings(status_update_frequency=0.01, lease_duration=1), bus,
                        cloud, host=lambda: HOST)
    cloud.connected.set()
    await module.start()
    try:
        await _wait(lambda: module.lease_acks >= 1, "the first lease")
        cloud.release.clear()
        sent = len(cloud.requests)
        await _wait(lambda: len(cloud.requests) > sent, "a report in flight")
        in_flight = cloud.requests[-1]
        leaving = asyncio.create_task(module.deregister(timeout=5))
        await _settle()
        # Nothing goes out while the report waits for its answer.
        assert cloud.requests[-1] is in_flight and not leaving.done()
        cloud.release.set()
        await leaving
        tail = [(m.route.resource, m.route.operation)
                for m in cloud.requests[cloud.requests.index(in_flight) + 1:]]
        assert tail == [("default/lease/edge-a", "delete"), ("default/node/edge-a", "delete")]
        assert cloud.requests[-1].route.source == "edged"
        assert not module.registered
        # The reports stay stopped: their task is gone, so nothing more is sent.
        assert module._task is None
        count = len(cloud.requests)
        await _settle()
        assert len(cloud.requests) == count
    finally:
        await module.stop()
        await cloud.close()


async def test_deregister_without_the_cloud_fails_within_its_deadline() -> None:
    bus = ModuleBus()
    bus.add_module("websocket", "hub")  # EdgeHub with no session: nobody answers

    class Hub:
        connected = asyncio.Event()
        last_error = "dial tcp 127.0.0.1:10000: connection refused"

    module = NodeModule(_settings(), bus, Hub(), host=lambda: HOST)
    await module.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestFailed) as failed:
        await module.deregister(timeout=0.2)
    assert loop.time() - started < 2
    assert "lease delete" in str(failed.value)
    assert "not connected to cloudcore: dial tcp" in str(failed.value)


async def test_a_refused_delete_is_reported() -> None:
    bus = ModuleBus()
    cloud = FakeCloud(bus, refuse="node")
    cloud.connected.set()
    module = NodeModule(_settings(), bus, cloud, host=lambda: HOST)
    try:
        with pytest.raises(RequestFailed) as failed:
            await module.deregister(timeout=5)
        assert "node delete refused by the cloud" in str(failed.value)
        assert [m.route.operation for m in cloud.requests] == ["delete", "delete"]
    finally:
        await cloud.close()


def test_pressure_conditions_follow_the_hosts_eviction_signals() -> None:
    hard = {"memory.available": "100Mi", "nodefs.available": "10%", "pid.available": "5%"}
    short = HostInfo(**{**HOST.__dict__, "memory_available_bytes": 50 * 1024**2,
                        "storage_available_bytes": 50 * 1024**3, "pids_max": 1000,
                        "pids_used": 990})
    transitions: dict[str, Any] = {}
    status = build_node(_settings(eviction_hard=hard), short, NOW)["status"]
    by = {c["type"]: c for c in status["conditions"]}
    assert by["MemoryPressure"]["status"] == "True"
    assert by["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
    assert by["DiskPressure"]["status"] == "False"
    assert by["PIDPressure"]["status"] == "True"
    # A change of status moves lastTransitionTime; an unchanged one keeps it.
    from kubeedge.edge.node import node_status

    later = NOW + dt.timedelta(minutes=1)
    healthy = HostInfo(**{**short.__dict__, "memory_available_bytes": 4 * 1024**3})
    node_status(_settings(eviction_hard=hard), short, NOW, NOW, transitions)
    again = node_status(_settings(eviction_hard=hard), healthy, later, NOW, transitions)
    by = {c["type"]: c for c in again["conditions"]}
    assert by["MemoryPressure"]["status"] == "False"
    assert by["MemoryPressure"]["lastTransitionTime"] == "2026-01-02T03:05:05Z"
    assert by["PIDPressure"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_read_host_reads_the_eviction_signals() -> None:
    host = read_host("/")
    assert host.memory_available_bytes > 0 and host.storage_available_bytes > 0
    assert host.pids_max > 0 and host.pids_used > 0


def test_container_runtime_version_names_the_runtime() -> None:
    from kubeedge import __version__

    info = build_node(_settings(), HOST, NOW)["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"] == f"process://{__version__}"
    named = build_node(_settings(runtime_version="process://9.9"), HOST, NOW)
    assert named["status"]["nodeInfo"]["containerRuntimeVersion"] == "process://9.9"


# ---- pod networking: the Ready condition, PodNetworkSync --------------------------------


def test_ready_condition_names_the_host_network_fallback() -> None:
    from kubeedge.edge.node import node_status

    why = "the node has no podCIDR yet: pods use the host network"
    ready = {c["type"]: c for c in node_status(
        _settings(), HOST, NOW, network=(False, why))["conditions"]}["Ready"]
    # Pods still run (on the host's network), so the node stays Ready, and says why.
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert ready["message"] == (
        "kubelet is posting ready status; container runtime network not ready: "
        f"NetworkReady=false reason:NetworkPluginNotReady message:{why}")
    fine = {c["type"]: c for c in node_status(
        _settings(), HOST, NOW, network=(True, ""))["conditions"]}["Ready"]
    assert fine["message"] == "kubelet is posting ready status"
    assert "NetworkUnavailable" not in {c["type"] for c in node_status(
        _settings(), HOST, NOW, network=(False, why))["conditions"]}


class FakeRuntime:
    def __init__(self, fail: int = 0) -> None:
        self.pod_cidrs: list[str] = []
        self.route_calls: list[list[tuple[str, str]]] = []
        self.fail = fail

    async def update_runtime_config(self, pod_cidr: str) -> None:
        self.pod_cidrs.append(pod_cidr)

    async def program_routes(self, routes: Any) -> list[tuple[str, str]]:
        self.route_calls.append(list(routes))
        if self.fail:
            self.fail -= 1
            raise OSError("RTNETLINK answers: Network is unreachable")
        return list(routes)


def _own_node(cidr: str, rv: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "edge-a", "resourceVersion": rv},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}


def _noderoutes(*entries: tuple[str, str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "NodeRoutes", "metadata": {"name": "edge-a"},
            "routes": [{"nodeName": n, "podCIDR": c, "podCIDRs": [c], "nodeIP": ip}
                       for n, c, ip in entries]}


async def test_pod_network_sync_gives_the_runtime_the_podcidr_and_routes() -> None:
    from kubeedge.edge.node import PodNetworkSync
    from kubeedge.messaging.message import build_message

    bus, clock, runtime = ModuleBus(), FakeClock(), FakeRuntime()
    # What the edge database held at start is applied before anything else.
    sync = PodNetworkSync(bus, runtime, "edge-a", initial=[_own_node("10.244.1.0/24")],
                          clock=clock)
    await sync.start()
    try:
        assert runtime.pod_cidrs == ["10.244.1.0/24"]

        async def deliver(kind: str, content: dict[str, Any]) -> None:
            sync.changed.clear()
            await bus.send(build_message("resource", "nodenetwork", "edgecontroller",
                                         f"null/{kind}/edge-a", "update", content),
                           "nodenetwork")
            await asyncio.wait_for(sync.changed.wait(), 5)

        await deliver("noderoutes", _noderoutes(("edge-b", "10.244.2.0/24", "192.0.2.11"),
                                                ("edge-a", "10.244.1.0/24", "192.0.2.10"),
                                                ("edge-c", "10.244.3.0/24", "192.0.2.12")))
        assert runtime.route_calls == [[("10.244.2.0/24", "192.0.2.11"),
                                        ("10.244.3.0/24", "192.0.2.12")]]
        # A heartbeat of the Node (same podCIDR) changes nothing.
        await bus.send(build_message("resource", "nodenetwork", "edgecontroller",
                                     "null/node/edge-a", "update", _own_node(
                                         "10.244.1.0/24", "9")), "nodenetwork")
        await deliver("noderoutes", _noderoutes(("edge-b", "10.244.2.0/24", "192.0.2.21")))
        assert runtime.pod_cidrs == ["10.244.1.0/24"]
        assert runtime.route_calls[-1] == [("10.244.2.0/24", "192.0.2.21")]
        assert len(runtime.route_calls) == 2
    finally:
        await sync.stop()
    assert "nodenetwork" not in bus.modules()


async def test_routes_that_fail_are_tried_again() -> None:
    from kubeedge.edge.node import PodNetworkSync

    clock, runtime = FakeClock(), FakeRuntime(fail=1)
    sync = PodNetworkSync(ModuleBus(), runtime, "edge-a", clock=clock, retry=10,
                          initial=[_noderoutes(("edge-b", "10.244.2.0/24", "192.0.2.11"))])
    await sync.start()
    try:
        assert sync.route_errors == 1 and "unreachable" in sync.last_error
        await _settle()
        await clock.advance(10)
        await _wait(lambda: sync.programmed == [("10.244.2.0/24", "192.0.2.11")],
                    "the retry")
        assert len(runtime.route_calls) == 2
    finally:
        await sync.stop()


async def test_routes_are_left_alone_without_root() -> None:
    from kubeedge.edge.node import PodNetworkSync

    runtime = FakeRuntime()
    sync = PodNetworkSync(ModuleBus(), runtime, "edge-a", routes=False, initial=[
        _own_node("10.244.1.0/24"), _noderoutes(("edge-b", "10.244.2.0/24", "192.0.2.11"))])
    await sync.start()
    await sync.stop()
    assert runtime.pod_cidrs == ["10.244.1.0/24"] and runtime.route_calls == []
