"""metrics.k8s.io/v1beta1 (metrics-server's API), served by the API server itself, so
`kubectl top node|pod` works without installing metrics-server (issue 8).

NodeMetrics and PodMetrics are computed from each node's kubelet `/stats/summary`
(`cpu.usageNanoCores`, `memory.workingSetBytes`), fetched concurrently through the
kubelet client with its timeout, and reused for `metrics_resolution_seconds`. A node
without a kubelet location, unreachable, or whose summary lacks figures is left out,
as metrics-server leaves out nodes it could not scrape (`kubectl top node` then shows
`<unknown>` for it). Objects are shaped as metrics-server serves them. Read-only;
never stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kubeedge.api import errors, meta
from kubeedge.api.registry import METRICS_GROUP, Registry, ResourceType
from kubeedge.apiserver.handlers import json_response
from kubeedge.apiserver.nodeproxy import DialError, KubeletClient, kubelet_location
from kubeedge.apiserver.objects import ObjectStore
from kubeedge.apiserver.request import RequestInfo
from kubeedge.apiserver.selection import Selection

log = logging.getLogger(__name__)

API_VERSION = f"{METRICS_GROUP}/v1beta1"
SUMMARY_PATH = "/stats/summary"
# A summary larger than this is refused (a node with thousands of pods is far below).
MAX_SUMMARY_BYTES = 32 * 1024 * 1024


def cpu_quantity(nanocores: int) -> str:
    """Nanocores as a Quantity in canonical form (metrics-server's
    NewScaledQuantity(n, -9)): `250m`, `1`, else `<n>n`."""
    if nanocores == 0:
        return "0"
    for suffix, factor in (("", 10**9), ("m", 10**6), ("u", 10**3)):
        if nanocores % factor == 0:
            return f"{nanocores // factor}{suffix}"
    return f"{nanocores}n"


def memory_quantity(size: int) -> str:
    """Bytes as a BinarySI Quantity in canonical form: `33776Ki`, `1Gi`, else bytes."""
    if size == 0:
        return "0"
    for suffix, shift in (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20),
                          ("Ki", 10)):
        if size % (1 << shift) == 0:
            return f"{size >> shift}{suffix}"
    return str(size)


def go_duration(seconds: float) -> str:
    """A Go time.Duration string (`15s`, `1m30s`, `2.5s`), as metav1.Duration writes."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return out + f"{secs}s"


def _usage(stats: Any) -> dict[str, str] | None:
    """`{cpu, memory}` from a summary entry, or None when either figure is missing."""
    if not isinstance(stats, dict):
        return None
    cpu = (stats.get("cpu") or {}).get("usageNanoCores")
    memory = (stats.get("memory") or {}).get("workingSetBytes")
    if not isinstance(cpu, int) or not isinstance(memory, int) or cpu < 0 or memory < 0:
        return None
    return {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}


def _timestamp(stats: dict[str, Any]) -> str:
    moment = meta.parse_time((stats.get("cpu") or {}).get("time"))
    return meta.rfc3339(moment or meta.now())


@dataclass
class _Scrape:
    at: float
    summary: dict[str, Any] | None


class MetricsAPI:
    """Serves `/apis/metrics.k8s.io/v1beta1/{nodes,pods}` (get and list)."""

    def __init__(self, objects: ObjectStore, registry: Registry, kubelet: KubeletClient,
                 *, resolution_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.objects = objects
        self.kubelet = kubelet
        self.resolution = resolution_seconds
        self.clock = clock
        nodes, pods = registry.lookup("", "v1", "nodes"), registry.lookup("", "v1", "pods")
        assert nodes is not None and pods is not None
        self._nodes, self._pods = nodes, pods
        self._scrapes: dict[str, _Scrape] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def serve(self, request: web.Request, info: RequestInfo,
                    rt: ResourceType) -> web.StreamResponse:
        if info.subresource or info.verb not in ("get", "list"):
            raise errors.method_not_allowed(
                f"the server does not allow this method on the requested resource "
                f"({info.verb} {rt.qualified}{'/' + info.subresource if info.subresource else ''})")
        self.kubelet.ssl_context()  # 503 with the reason when there is no kubelet client
        if rt.plural == "nodes":
            return await self._nodes_answer(request, info, rt)
        return await self._pods_answer(request, info, rt)

    # -- scraping ---------------------------------------------------------------------

    async def summary(self, node: dict[str, Any]) -> dict[str, Any] | None:
        """The node's `/stats/summary`, at most `resolution` old; None when it cannot be
        had (also cached, so an unreachable node costs one timeout per window)."""
        name = meta.name_of(node)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cached = self._scrapes.get(name)
            if cached is not None and self.clock() - cached.at < self.resolution:
                return cached.summary
            summary = await self._scrape(node)
            self._scrapes[name] = _Scrape(self.clock(), summary)
            return summary

    async def _scrape(self, node: dict[str, Any]) -> dict[str, Any] | None:
        name = meta.name_of(node)
        try:
            location = kubelet_location(node)
        except errors.StatusError as exc:
            log.debug("no metrics for node %s: %s", name, exc.message)
            return None
        try:
            async with asyncio.timeout(self.kubelet.timeout):
                response = await self.kubelet.request(location, "GET", SUMMARY_PATH,
                                                      {"Accept": "application/json"})
                try:
                    if response.status != 200:
                        log.info("no metrics for node %s: the kubelet answered %s", name,
                                 response.status)
                        return None
                    body = await response.content.read(MAX_SUMMARY_BYTES + 1)
                finally:
                    response.release()
        except DialError as exc:
            log.info("no metrics for node %s: %s", name, exc.reason)
            return None
        except (TimeoutError, OSError) as exc:
            log.info("no metrics for node %s: %s", name, exc or "timed out")
            return None
        if len(body) > MAX_SUMMARY_BYTES:
            log.warning("no metrics for node %s: its summary is over %s bytes", name,
                        MAX_SUMMARY_BYTES)
            return None
        try:
            summary = orjson.loads(body)
        except orjson.JSONDecodeError:
            log.warning("no metrics for node %s: its summary is not JSON", name)
            return None
        return summary if isinstance(summary, dict) else None

    async def _summaries(self, nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        results = await asyncio.gather(*(self.summary(n) for n in nodes))
        return {meta.name_of(n): s for n, s in zip(nodes, results, strict=True) if s}

    # -- nodes ----------------------------------------------------------------------

    def _node_metrics(self, node: dict[str, Any], summary: dict[str, Any]
                      ) -> dict[str, Any] | None:
        stats = summary.get("node")
        usage = _usage(stats)
        if usage is None:
            return None
        metadata: dict[str, Any] = {"name": meta.name_of(node),
                                    "creationTimestamp": meta.rfc3339(meta.now())}
        labels = meta.labels_of(node)
        if labels:
            metadata["labels"] = dict(labels)
        return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": metadata,
                "timestamp": _timestamp(stats), "window": go_duration(self.resolution),
                "usage": usage}

    async def _nodes_answer(self, request: web.Request, info: RequestInfo,
                            rt: ResourceType) -> web.StreamResponse:
        if info.name:
            node = await self.objects.find(self._nodes, "", info.name)
            item = None
            if node is not None:
                summary = (await self._summaries([node])).get(info.name)
                item = summary and self._node_metrics(node, summary)
            if not item:
                raise errors.not_found("nodemetrics", info.name, METRICS_GROUP)
            return json_response(item)
        match = Selection.from_query(request.query, rt).matcher(rt)
        nodes = (await self.objects.list(self._nodes, None, match=match)).items
        summaries = await self._summaries(nodes)
        items = []
        for node in nodes:
            summary = summaries.get(meta.name_of(node))
            item = summary and self._node_metrics(node, summary)
            if item:
                items.append(item)
        return json_response({"kind": "NodeMetricsList", "apiVersion": API_VERSION,
                              "metadata": {}, "items": items})

    # -- pods -----------------------------------------------------------------------

    def _pod_metrics(self, pod: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any] | None:
        containers = []
        for container in stats.get("containers") or []:
            usage = _usage(container)
            if usage is None:
                # metrics-server leaves out a pod any of whose containers lacks figures
                # (a container just started has no CPU rate yet).
                return None
            containers.append({"name": container.get("name", ""), "usage": usage})
        if not containers:
            return None
        metadata: dict[str, Any] = {"name": meta.name_of(pod),
                                    "namespace": meta.namespace_of(pod),
                                    "creationTimestamp": meta.rfc3339(meta.now())}
        labels = meta.labels_of(pod)
        if labels:
            metadata["labels"] = dict(labels)
        first = next(iter(stats.get("containers") or []), {})
        return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": metadata,
                "timestamp": _timestamp(first), "window": go_duration(self.resolution),
                "containers": containers}

    async def _pod_items(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        node_names = sorted({(p.get("spec") or {}).get("nodeName") or "" for p in pods} - {""})
        nodes = [n for n in await asyncio.gather(
            *(self.objects.find(self._nodes, "", name) for name in node_names)) if n]
        summaries = await self._summaries(nodes)
        by_pod: dict[tuple[str, str], dict[str, Any]] = {}
        for summary in summaries.values():
            for stats in summary.get("pods") or []:
                if not isinstance(stats, dict):
                    continue
                ref = stats.get("podRef") or {}
                by_pod[(str(ref.get("namespace", "")), str(ref.get("name", "")))] = stats
        items = []
        for pod in pods:
            stats = by_pod.get((meta.namespace_of(pod), meta.name_of(pod)))
            if stats is None:
                continue
            uid = (stats.get("podRef") or {}).get("uid")
            if uid and uid != pod.get("metadata", {}).get("uid"):
                continue  # an older pod of the same name
            item = self._pod_metrics(pod, stats)
            if item:
                items.append(item)
        return items

    async def _pods_answer(self, request: web.Request, info: RequestInfo,
                           rt: ResourceType) -> web.StreamResponse:
        if info.name:
            pod = await self.objects.find(self._pods, info.namespace, info.name)
            items = await self._pod_items([pod]) if pod is not None else []
            if not items:
                raise errors.not_found("podmetrics", f"{info.namespace}/{info.name}",
                                       METRICS_GROUP)
            return json_response(items[0])
        match = Selection.from_query(request.query, rt).matcher(rt)
        pods = (await self.objects.list(self._pods, info.namespace or None,
                                        match=match)).items
        return json_response({"kind": "PodMetricsList", "apiVersion": API_VERSION,
                              "metadata": {}, "items": await self._pod_items(pods)})
