"""Resource stats of the node and its pods: kubelet's Summary API (`/stats/summary`,
stats/v1alpha1) and its resource metrics (`/metrics/resource`), what metrics.k8s.io
(`kubectl top`) is made from (specs/kubeedge.md §9).

A sampler wakes every `modules.edged.housekeepingInterval` (cAdvisor's housekeeping, 10 s
by default), reads the node's cumulative CPU time and memory from /proc and every
running container's from the runtime (`container_stats`: its cgroup, or its processes),
and keeps the last two CPU samples of each: `usageNanoCores` is the rate between them,
as cAdvisor computes it, so it exists from the second sample on (kubelet omits it
before). Readers (`summary`, `resource_metrics`) only format what was sampled; they
never touch /proc or the runtime.

Never does I/O on the request path; never imports the runtime's implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeedge.client.clock import Clock, RealClock
from kubeedge.edge.runtime import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_UID,
    ContainerFilter,
    ContainerState,
    Runtime,
)
from kubeedge.edge.runtime import procfs as _procfs

__all__ = ["CpuSample", "StatsProvider"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class CpuSample:
    """A cumulative CPU reading: `at_ns` when it was taken (ns, the rate's time base),
    `usage_ns` the CPU time consumed so far, `wall_ns` the wall clock for display."""

    at_ns: int
    usage_ns: int
    wall_ns: int


def _rate(prev: CpuSample | None, cur: CpuSample) -> int | None:
    """Nanocores between two samples (cAdvisor: delta usage / delta time); None without
    an earlier sample, or when the counter went back (a restarted container)."""
    if prev is None or cur.at_ns <= prev.at_ns or cur.usage_ns < prev.usage_ns:
        return None
    return (cur.usage_ns - prev.usage_ns) * 1_000_000_000 // (cur.at_ns - prev.at_ns)


def _time(ns: int) -> str:
    """metav1.Time as JSON: RFC 3339 in UTC, seconds precision."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


@dataclass
class _Container:
    name: str
    pod_uid: str
    started_ns: int
    prev: CpuSample | None = None
    cur: CpuSample | None = None
    working_set: int = 0
    nano_cores: int | None = None


class StatsProvider:
    """Samples the node and its pods' containers (see the module docstring).

    `pods()` gives this node's pod objects (Edged's view); a container belongs to a pod
    by the kubelet label `io.kubernetes.pod.uid`. `clock` drives the sampling schedule
    (a FakeClock in tests, with the time base of the node's CPU rate taken from it
    too); `procfs` reads the node (node_cpu_ns, node_memory, boot_time_ns).
    """

    def __init__(self, runtime: Runtime, pods: Callable[[], list[Obj]], *, node_name: str,
                 interval: float, clock: Clock | None = None, procfs: Any = _procfs,
                 wall: Callable[[], int] = time.time_ns) -> None:
        if interval <= 0:
            raise ValueError(f"housekeepingInterval must be greater than 0, not {interval}")
        self.runtime = runtime
        self.pods = pods
        self.node_name = node_name
        self.interval = interval
        self.clock: Clock = clock or RealClock()
        self.procfs = procfs
        self.wall = wall
        self._containers: dict[str, _Container] = {}
        self._node_prev: CpuSample | None = None
        self._node_cur: CpuSample | None = None
        self._node_nano_cores: int | None = None
        self._node_memory: dict[str, int] = {}
        self._node_memory_ns = 0
        self._boot_ns = 0
        self._pods: dict[str, Obj] = {}
        self._error = False
        self._task: asyncio.Task[None] | None = None
        self.samples = 0  # completed sampling passes (tests wait on it)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._error = True
                log.exception("sampling resource stats failed")
            await self.clock.sleep(self.interval)

    # --- sampling -------------------------------------------------------------------------

    async def sample(self) -> None:
        """One pass: the node, then every running container of a known pod."""
        error = False
        at = int(self.clock.now() * 1_000_000_000)
        wall = self.wall()
        try:
            if not self._boot_ns:
                self._boot_ns = self.procfs.boot_time_ns()
            cur = CpuSample(at, self.procfs.node_cpu_ns(), wall)
            self._node_prev, self._node_cur = self._node_cur, cur
            self._node_nano_cores = _rate(self._node_prev, cur)
            self._node_memory = self.procfs.node_memory()
            self._node_memory_ns = wall
        except OSError:
            error = True
            log.warning("reading the node's CPU and memory from /proc failed", exc_info=True)

        pods = {}
        for pod in self.pods():
            uid = (pod.get("metadata") or {}).get("uid")
            if uid:
                pods[uid] = pod
        self._pods = pods
        seen: set[str] = set()
        try:
            statuses = await self.runtime.list_containers(
                ContainerFilter(state=ContainerState.RUNNING))
        except Exception:
            statuses = []
            error = True
            log.warning("listing containers for stats failed", exc_info=True)
        for s in statuses:
            uid = s.labels.get(LABEL_POD_UID, "")
            if uid not in pods:
                continue
            try:
                st = await self.runtime.container_stats(s.id)
            except Exception:
                error = True
                continue
            if st.source == "none":
                continue
            seen.add(s.id)
            c = self._containers.get(s.id)
            if c is None:
                c = self._containers[s.id] = _Container(
                    name=s.labels.get(LABEL_CONTAINER_NAME, s.metadata.name), pod_uid=uid,
                    started_ns=s.started_at or s.created_at)
            # The container's own reading time is the rate's time base: CPU read at
            # t from the cgroup, divided by the time between two such reads.
            sample = CpuSample(st.timestamp, st.cpu_usage_core_ns, st.timestamp)
            c.prev, c.cur = c.cur, sample
            c.nano_cores = _rate(c.prev, sample)
            c.working_set = st.memory_working_set_bytes
        for gone in set(self._containers) - seen:
            del self._containers[gone]
        self._error = error
        self.samples += 1

    # --- the Summary API ------------------------------------------------------------------

    def _node_stats(self) -> Obj:
        node: Obj = {"nodeName": self.node_name}
        if self._boot_ns:
            node["startTime"] = _time(self._boot_ns)
        cur = self._node_cur
        if cur is not None:
            cpu: Obj = {"time": _time(cur.wall_ns), "usageCoreNanoSeconds": cur.usage_ns}
            if self._node_nano_cores is not None:
                cpu["usageNanoCores"] = self._node_nano_cores
            node["cpu"] = cpu
        m = self._node_memory
        if m.get("MemTotal"):
            total = m["MemTotal"]
            usage = max(0, total - m.get("MemFree", 0))
            working_set = max(0, usage - m.get("Inactive(file)", 0))
            node["memory"] = {
                "time": _time(self._node_memory_ns),
                # kubelet: capacity minus the working set (what eviction counts).
                "availableBytes": max(0, total - working_set),
                "usageBytes": usage, "workingSetBytes": working_set,
                "rssBytes": m.get("AnonPages", 0), "pageFaults": 0, "majorPageFaults": 0,
            }
        return node

    @staticmethod
    def _container_stats(c: _Container) -> Obj:
        out: Obj = {"name": c.name, "startTime": _time(c.started_ns)}
        if c.cur is not None:
            cpu: Obj = {"time": _time(c.cur.wall_ns), "usageCoreNanoSeconds": c.cur.usage_ns}
            if c.nano_cores is not None:
                cpu["usageNanoCores"] = c.nano_cores
            out["cpu"] = cpu
            out["memory"] = {"time": _time(c.cur.wall_ns), "workingSetBytes": c.working_set}
        return out

    def summary(self) -> Obj:
        """kubelet's `/stats/summary` (stats/v1alpha1 Summary): the node, and for each
        pod with running containers its containers and their sums."""
        by_pod: dict[str, list[_Container]] = {}
        for c in self._containers.values():
            by_pod.setdefault(c.pod_uid, []).append(c)
        pods = []
        for uid, containers in sorted(by_pod.items()):
            pod = self._pods.get(uid)
            if pod is None:
                continue
            md = pod.get("metadata") or {}
            containers.sort(key=lambda c: c.name)
            entry: Obj = {
                "podRef": {"name": md.get("name", ""), "namespace": md.get("namespace", ""),
                           "uid": uid},
                "startTime": (pod.get("status") or {}).get("startTime")
                or _time(min(c.started_ns for c in containers)),
                "containers": [self._container_stats(c) for c in containers],
            }
            sampled = [c for c in containers if c.cur is not None]
            if sampled:
                latest = max(c.cur.wall_ns for c in sampled if c.cur is not None)
                cpu: Obj = {"time": _time(latest), "usageCoreNanoSeconds": sum(
                    c.cur.usage_ns for c in sampled if c.cur is not None)}
                if all(c.nano_cores is not None for c in sampled):
                    cpu["usageNanoCores"] = sum(c.nano_cores or 0 for c in sampled)
                entry["cpu"] = cpu
                entry["memory"] = {"time": _time(latest), "workingSetBytes": sum(
                    c.working_set for c in sampled)}
            pods.append(entry)
        return {"node": self._node_stats(), "pods": pods}

    # --- /metrics/resource ----------------------------------------------------------------

    def resource_metrics(self) -> str:
        """kubelet's `/metrics/resource` in the Prometheus text format: the names, help
        texts and labels of pkg/kubelet/metrics/collectors/resource_metrics.go, each
        sample with its reading time in milliseconds."""
        s = self.summary()
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str,
                   samples: list[tuple[dict[str, str], float, str | None]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value, at in samples:
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                stamp = f" {_ms(at)}" if at else ""
                lines.append(f"{name}{{{label_text}}} {_num(value)}{stamp}" if label_text
                             else f"{name} {_num(value)}{stamp}")

        node = s["node"]
        cs: list[tuple[dict[str, str], float, str | None]] = []
        cm: list[tuple[dict[str, str], float, str | None]] = []
        starts: list[tuple[dict[str, str], float, str | None]] = []
        ps: list[tuple[dict[str, str], float, str | None]] = []
        pm: list[tuple[dict[str, str], float, str | None]] = []
        # Each container's start, by pod and name (the first one sampled, as listed).
        started: dict[tuple[str, str], int] = {}
        for sampled in self._containers.values():
            started.setdefault((sampled.pod_uid, sampled.name), sampled.started_ns)
        for pod in s["pods"]:
            ref = {"namespace": pod["podRef"]["namespace"], "pod": pod["podRef"]["name"]}
            for c in pod["containers"]:
                labels = {**ref, "container": c["name"]}
                by_name = started.get((pod["podRef"]["uid"], c["name"]), 0)
                if by_name:
                    starts.append((labels, by_name / 1e9, None))
                if "cpu" in c:
                    cs.append((labels, c["cpu"]["usageCoreNanoSeconds"] / 1e9,
                               c["cpu"]["time"]))
                if "memory" in c:
                    cm.append((labels, c["memory"]["workingSetBytes"], c["memory"]["time"]))
            if "cpu" in pod:
                ps.append((ref, pod["cpu"]["usageCoreNanoSeconds"] / 1e9, pod["cpu"]["time"]))
            if "memory" in pod:
                pm.append((ref, pod["memory"]["workingSetBytes"], pod["memory"]["time"]))
        family("container_cpu_usage_seconds_total", "counter",
               "[STABLE] Cumulative cpu time consumed by the container in core-seconds", cs)
        family("container_memory_working_set_bytes", "gauge",
               "[STABLE] Current working set of the container in bytes", cm)
        family("container_start_time_seconds", "gauge",
               "[STABLE] Start time of the container since unix epoch in seconds", starts)
        family("node_cpu_usage_seconds_total", "counter",
               "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
               [({}, node["cpu"]["usageCoreNanoSeconds"] / 1e9, node["cpu"]["time"])]
               if "cpu" in node else [])
        family("node_memory_working_set_bytes", "gauge",
               "[STABLE] Current working set of the node in bytes",
               [({}, node["memory"]["workingSetBytes"], node["memory"]["time"])]
               if "memory" in node else [])
        family("pod_cpu_usage_seconds_total", "counter",
               "[STABLE] Cumulative cpu time consumed by the pod in core-seconds", ps)
        family("pod_memory_working_set_bytes", "gauge",
               "[STABLE] Current working set of the pod in bytes", pm)
        error = 1 if self._error else 0
        family("resource_scrape_error", "gauge",
               "[STABLE] 1 if there was an error while getting container metrics, "
               "0 otherwise", [({}, error, None)])
        family("scrape_error", "gauge",
               "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting "
               "container metrics, 0 otherwise", [({}, error, None)])
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _ms(stamp: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 (seconds) time."""
    import calendar

    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) * 1000
