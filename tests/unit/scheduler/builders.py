"""Pods and nodes as the API serves them, for scheduler unit tests."""

from __future__ import annotations

from typing import Any

from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.session import Session
from kubeedge.scheduler.plugins import build_plugins

Obj = dict[str, Any]


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         ready: str | None = "True", unschedulable: bool = False,
         extra: dict[str, str] | None = None) -> Obj:
    resources = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name,
                     "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"capacity": resources, "allocatable": resources,
                   "conditions": [] if ready is None else [{"type": "Ready", "status": ready}]},
    }


def pod(name: str, *, namespace: str = "default", cpu: str = "", memory: str = "",
        node_name: str = "", phase: str = "Pending", labels: dict[str, str] | None = None,
        extra_requests: dict[str, str] | None = None, host_port: int = 0,
        **spec: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    requests.update(extra_requests or {})
    container: Obj = {"name": "c", "image": "nginx",
                      "resources": {"requests": requests} if requests else {}}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "labels": labels or {}},
        "spec": {"containers": [container], **spec},
        "status": {"phase": phase},
    }
    if node_name:
        body["spec"]["nodeName"] = node_name
    return body


def session(*nodes: Obj, seed: int = 0, config: SchedulerConfig | None = None
            ) -> Session:
    import random

    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    config = config or SchedulerConfig()
    return Session(cache, build_plugins(config.tiers), random.Random(seed))
