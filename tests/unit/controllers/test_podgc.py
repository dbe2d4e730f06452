"""Which pods the pod GC removes, and when (on a fake clock, against a stub API)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIError
from kubeedge.client.informer import ObjectCache
from kubeedge.controllers.podgc import PodGCController, terminated_to_delete


def pod(name: str, phase: str, created: str, terminating: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns", "creationTimestamp": created}
    if terminating:
        md["deletionTimestamp"] = created
    return {"metadata": md, "status": {"phase": phase}}


def test_only_terminated_pods_beyond_the_threshold_go_oldest_first() -> None:
    pods = [
        pod("new", "Succeeded", "2024-01-03T00:00:00Z"),
        pod("old", "Failed", "2024-01-01T00:00:00Z"),
        pod("running", "Running", "2023-01-01T00:00:00Z"),
        pod("mid", "Succeeded", "2024-01-02T00:00:00Z"),
        pod("going", "Succeeded", "2020-01-01T00:00:00Z", terminating=True),
    ]
    assert [p["metadata"]["name"] for p in terminated_to_delete(pods, 1)] == ["old", "mid"]
    assert terminated_to_delete(pods, 3) == []


def test_a_threshold_of_zero_turns_it_off() -> None:
    assert terminated_to_delete([pod("a", "Failed", "2024-01-01T00:00:00Z")], 0) == []


class StubAPI:
    def __init__(self, nodes: ObjectCache) -> None:
        self.nodes = nodes
        self.clock = FakeClock()
        self.deleted: list[tuple[str, int | None]] = []
        self.failed: list[str] = []

    async def get(self, ref: Any, name: str, *args: Any, **kw: Any) -> dict[str, Any]:
        found = self.nodes.get("", name)
        if found is None:
            raise APIError({"code": 404, "reason": "NotFound", "message": "not found"})
        return found

    async def patch(self, ref: Any, name: str, patch: Any, *args: Any, **kw: Any) -> None:
        self.failed.append(name)

    async def delete(self, ref: Any, name: str, *args: Any,
                     grace_period_seconds: int | None = None, **kw: Any) -> None:
        self.deleted.append((name, grace_period_seconds))


async def test_pods_of_a_missing_node_wait_out_the_quarantine() -> None:
    clock = FakeClock()
    nodes, pods = ObjectCache(), ObjectCache()
    api = StubAPI(nodes)
    ctrl = PodGCController(api, clock=clock, quarantine_seconds=40)  # type: ignore[arg-type]
    ctrl.nodes = SimpleNamespace(store=nodes)  # type: ignore[assignment]
    ctrl.pods = SimpleNamespace(store=pods)  # type: ignore[assignment]
    nodes.put({"metadata": {"name": "here"}})
    for name, node in (("orphan", "gone"), ("home", "here")):
        pods.put({"metadata": {"name": name, "namespace": "ns", "uid": name},
                  "spec": {"nodeName": node}, "status": {"phase": "Running"}})
    await ctrl.reconcile("gc")
    assert api.deleted == []
    await clock.advance(39)
    await ctrl.reconcile("gc")
    assert api.deleted == []
    await clock.advance(1)
    await ctrl.reconcile("gc")
    assert api.deleted == [("orphan", 0)]
    assert api.failed == ["orphan"]  # marked Failed first: it never finished


async def test_a_node_that_comes_back_within_the_quarantine_keeps_its_pods() -> None:
    clock = FakeClock()
    nodes, pods = ObjectCache(), ObjectCache()
    api = StubAPI(nodes)
    ctrl = PodGCController(api, clock=clock, quarantine_seconds=40)  # type: ignore[arg-type]
    ctrl.nodes = SimpleNamespace(store=nodes)  # type: ignore[assignment]
    ctrl.pods = SimpleNamespace(store=pods)  # type: ignore[assignment]
    pods.put({"metadata": {"name": "p", "namespace": "ns", "uid": "p"},
              "spec": {"nodeName": "late"}, "status": {"phase": "Running"}})
    await ctrl.reconcile("gc")
    await clock.advance(20)
    nodes.put({"metadata": {"name": "late"}})
    await ctrl.reconcile("gc")
    assert ctrl.missing_since == {}
    await clock.advance(40)
    await ctrl.reconcile("gc")
    assert api.deleted == []
