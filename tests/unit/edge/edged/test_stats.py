"""The stats provider: usageNanoCores as the rate between two samples (driven by a
FakeClock), the Summary API's JSON shape, and /metrics/resource's text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.edge.edged.stats import StatsProvider
from kubeedge.edge.runtime import (
    ContainerFilter,
    ContainerMetadata,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    kubelet_container_labels,
)

GB = 1 << 30
WALL0 = 1_700_000_000 * 1_000_000_000


@dataclass
class FakeRuntime:
    """Containers with CPU counters the test moves; readings stamped by the clock."""

    clock: FakeClock
    cpu: dict[str, int] = field(default_factory=dict)
    statuses: list[ContainerStatus] = field(default_factory=list)

    def add(self, cid: str, pod_uid: str, name: str, pod: str = "web") -> None:
        self.cpu[cid] = 0
        self.statuses.append(ContainerStatus(
            id=cid, sandbox_id="sb", metadata=ContainerMetadata(name),
            state=ContainerState.RUNNING, image="busybox", created_at=WALL0,
            started_at=WALL0 + 1, labels=kubelet_container_labels("default", pod, pod_uid,
                                                                  name)))

    async def list_containers(self, filter: ContainerFilter | None = None
                              ) -> list[ContainerStatus]:
        return [s for s in self.statuses
                if filter is None or filter.state is None or s.state == filter.state]

    async def container_stats(self, container_id: str) -> ContainerStats:
        return ContainerStats(container_id, WALL0 + int(self.clock.now() * 1e9),
                              self.cpu[container_id], 50 << 20, "cgroup")


class FakeProc:
    def __init__(self) -> None:
        self.cpu = 0

    def node_cpu_ns(self) -> int:
        return self.cpu

    def node_memory(self) -> dict[str, int]:
        return {"MemTotal": 8 * GB, "MemFree": 5 * GB, "Inactive(file)": 1 * GB,
                "AnonPages": GB // 2}

    def boot_time_ns(self) -> int:
        return WALL0 - 3600 * 1_000_000_000


def pod(uid: str, name: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid},
            "status": {"startTime": "2023-11-14T22:13:20Z"}}


@pytest.fixture
def env() -> tuple[FakeClock, FakeRuntime, FakeProc, StatsProvider]:
    clock = FakeClock(start=100.0)
    rt = FakeRuntime(clock)
    proc = FakeProc()
    pods = [pod("u1")]
    stats = StatsProvider(rt, lambda: pods, node_name="edge-1",  # type: ignore[arg-type]
                          interval=10.0, clock=clock, procfs=proc,
                          wall=lambda: WALL0 + int(clock.now() * 1e9))
    return clock, rt, proc, stats


async def test_usage_nano_cores_is_the_rate_between_two_samples(env: Any) -> None:
    clock, rt, proc, stats = env
    rt.add("c1", "u1", "app")
    rt.add("c2", "u1", "sidecar")
    rt.add("other", "u-unknown", "x")  # a pod this node does not know: left out
    stats.start()
    await clock.wait_for_sleepers()
    first = stats.summary()
    assert "usageNanoCores" not in first["node"]["cpu"]
    assert "usageNanoCores" not in first["pods"][0]["containers"][0]["cpu"]

    # 10 s pass; the app spins one core, the sidecar a quarter, the node 1.5 cores.
    rt.cpu["c1"] += 10 * 1_000_000_000
    rt.cpu["c2"] += 2_500_000_000
    proc.cpu += 15 * 1_000_000_000
    await clock.advance(10.0)
    assert stats.samples == 2
    s = stats.summary()
    assert s["node"]["cpu"]["usageNanoCores"] == 1_500_000_000
    assert s["node"]["cpu"]["usageCoreNanoSeconds"] == 15 * 1_000_000_000
    [p] = s["pods"]
    by_name = {c["name"]: c for c in p["containers"]}
    assert by_name["app"]["cpu"]["usageNanoCores"] == 1_000_000_000
    assert by_name["sidecar"]["cpu"]["usageNanoCores"] == 250_000_000
    assert p["cpu"]["usageNanoCores"] == 1_250_000_000
    assert p["memory"]["workingSetBytes"] == 100 << 20
    await stats.stop()


async def test_summary_has_kubelets_shape(env: Any) -> None:
    _clock, rt, _proc, stats = env
    rt.add("c1", "u1", "app")
    await stats.sample()
    s = stats.summary()
    node = s["node"]
    assert node["nodeName"] == "edge-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", node["startTime"])
    assert node["memory"]["usageBytes"] == 3 * GB
    assert node["memory"]["workingSetBytes"] == 2 * GB
    assert node["memory"]["availableBytes"] == 6 * GB
    assert node["memory"]["rssBytes"] == GB // 2
    assert set(node["cpu"]) == {"time", "usageCoreNanoSeconds"}
    [p] = s["pods"]
    assert p["podRef"] == {"name": "web", "namespace": "default", "uid": "u1"}
    assert p["startTime"] == "2023-11-14T22:13:20Z"
    [c] = p["containers"]
    assert set(c) == {"name", "startTime", "cpu", "memory"}
    assert c["memory"]["workingSetBytes"] == 50 << 20


async def test_a_restarted_container_starts_its_rate_over(env: Any) -> None:
    clock, rt, _proc, stats = env
    rt.add("c1", "u1", "app")
    await stats.sample()
    rt.cpu["c1"] = 5_000_000_000
    await clock.advance(10.0)
    await stats.sample()
    rt.cpu["c1"] = 1_000  # the counter went back: no negative rate
    await clock.advance(10.0)
    await stats.sample()
    [c] = stats.summary()["pods"][0]["containers"]
    assert "usageNanoCores" not in c["cpu"]
    rt.statuses.clear()
    await stats.sample()
    assert stats.summary()["pods"] == []  # gone containers are forgotten


async def test_resource_metrics_use_kubelets_names_and_labels(env: Any) -> None:
    _clock, rt, proc, stats = env
    rt.add("c1", "u1", "app")
    proc.cpu = 2_500_000_000
    rt.cpu["c1"] = 1_500_000_000
    await stats.sample()
    text = stats.resource_metrics()
    assert "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by " \
           "the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n" in text
    assert re.search(r"^node_cpu_usage_seconds_total 2\.5 \d{13}$", text, re.M)
    assert re.search(r"^node_memory_working_set_bytes 2147483648 \d{13}$", text, re.M)
    assert re.search(r'^container_cpu_usage_seconds_total\{container="app",'
                     r'namespace="default",pod="web"\} 1\.5 \d{13}$', text, re.M)
    assert re.search(r'^container_memory_working_set_bytes\{container="app",'
                     r'namespace="default",pod="web"\} 52428800 \d{13}$', text, re.M)
    assert re.search(r'^pod_cpu_usage_seconds_total\{namespace="default",pod="web"\} 1\.5 ',
                     text, re.M)
    assert re.search(r'^pod_memory_working_set_bytes\{namespace="default",pod="web"\} ',
                     text, re.M)
    assert "\nscrape_error 0\n" in text and "\nresource_scrape_error 0\n" in text


def test_interval_must_be_positive(env: Any) -> None:
    _clock, rt, proc, _stats = env
    with pytest.raises(ValueError, match="housekeepingInterval"):
        StatsProvider(rt, list, node_name="n", interval=0, procfs=proc)
