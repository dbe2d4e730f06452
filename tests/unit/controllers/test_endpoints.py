"""Endpoints and EndpointSlice decisions without I/O: which pods are endpoints, how
ports resolve, how subsets pack, how slices are planned, and that an unchanged
world writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubeedge.api import meta
from kubeedge.controllers.endpoints import (
    ENDPOINTS,
    EndpointsController,
    TriggerTimeTracker,
    endpoint_entries,
    find_port,
    repack_subsets,
    selector_of,
    selects,
    truncate,
)
from kubeedge.controllers.endpointslice import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    Desired,
    desired_groups,
    endpoint_for,
    plan_slices,
)

Obj = dict[str, Any]


def service(name: str = "web", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "creationTimestamp": "2024-05-01T12:00:00Z"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}], **spec}}


def pod(name: str, ip: str, *, ready: bool = True, port: int = 8080,
        terminating: bool = False, phase: str = "Running") -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if terminating:
        md["deletionTimestamp"] = "2024-05-01T12:05:00Z"
    return {"metadata": md,
            "spec": {"nodeName": "n1", "containers": [
                {"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": "2024-05-01T12:01:00Z"}]}}


def test_named_target_ports_resolve_per_pod_and_protocol() -> None:
    p = pod("a", "10.0.0.1", port=9000)
    assert find_port(p, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 9000
    assert find_port(p, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(p, {"port": 80, "targetPort": 81}) == 81
    assert find_port(p, {"port": 80}) == 80


def test_pods_serving_different_ports_get_their_own_subsets() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False), pod("c", "10.0.0.3",
                                                                         port=9000)]
    subsets = repack_subsets(endpoint_entries(service(), pods))
    assert len(subsets) == 2
    by_port = {s["ports"][0]["port"]: s for s in subsets}
    assert [a["ip"] for a in by_port[8080]["addresses"]] == ["10.0.0.1"]
    assert [a["ip"] for a in by_port[8080]["notReadyAddresses"]] == ["10.0.0.2"]
    assert [a["ip"] for a in by_port[9000]["addresses"]] == ["10.0.0.3"]


def test_not_ready_for_one_entry_is_not_ready() -> None:
    addr = {"ip": "10.0.0.1", "targetRef": {"uid": "u"}}
    port = {"port": 80, "protocol": "TCP"}
    [subset] = repack_subsets([(addr, port, True), (addr, port, False)])
    assert "addresses" not in subset and subset["notReadyAddresses"] == [addr]


def test_terminating_and_finished_pods_are_left_out_unless_published() -> None:
    pods = [pod("a", "10.0.0.1"), pod("t", "10.0.0.2", terminating=True),
            pod("done", "10.0.0.3", phase="Succeeded")]
    ips = {a["ip"] for a, _, _ in endpoint_entries(service(), pods)}
    assert ips == {"10.0.0.1"}
    published = endpoint_entries(service(publishNotReadyAddresses=True), pods)
    assert {(a["ip"], ready) for a, _, ready in published} == {("10.0.0.1", True),
                                                               ("10.0.0.2", True)}


def test_over_capacity_keeps_ready_addresses_first() -> None:
    entries = [({"ip": f"10.0.0.{i}"}, None, i % 2 == 0) for i in range(10)]
    kept, over = truncate(entries, capacity=4)
    assert over and all(ready for _, _, ready in kept) and len(kept) == 4


def test_trigger_time_is_the_earliest_change_not_yet_written() -> None:
    tracker = TriggerTimeTracker()
    svc = service()
    first = tracker.compute("ns/web", svc, [pod("a", "10.0.0.1")])
    assert first == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the service's creation
    # The write failed (say the Endpoints already existed): the retry keeps the time.
    assert tracker.compute("ns/web", svc, [pod("a", "10.0.0.1")]) == first
    tracker.written("ns/web")
    assert tracker.compute("ns/web", svc, [pod("a", "10.0.0.1")]) is None
    tracker.written("ns/web")
    later = pod("b", "10.0.0.2")
    later["status"]["conditions"][0]["lastTransitionTime"] = "2024-05-01T12:09:00Z"
    assert tracker.compute("ns/web", svc, [pod("a", "10.0.0.1"), later]) == datetime(
        2024, 5, 1, 12, 9, tzinfo=UTC)


# -- slices ------------------------------------------------------------------------------


def slice_of(name: str, endpoints: list[Obj], svc: Obj, ports: list[Obj] | None = None
             ) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1",
                         "labels": {SERVICE_NAME_LABEL: "web",
                                    MANAGED_BY_LABEL: "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": "web", "uid": svc["metadata"]["uid"],
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": ports if ports is not None else [
                {"name": "http", "port": 8080, "protocol": "TCP"}]}


def test_endpoint_conditions_follow_readiness_and_termination() -> None:
    svc = service()
    ep = endpoint_for(pod("t", "10.0.0.1", terminating=True), svc, "10.0.0.1", "z1")
    assert ep["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert ep["zone"] == "z1" and ep["nodeName"] == "n1"


def test_an_unchanged_service_plans_no_writes() -> None:
    svc = service()
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    groups = desired_groups(svc, pods, {})
    [desired] = groups.values()
    existing = [slice_of("web-abcde", list(desired.endpoints.values()), svc)]
    plan = plan_slices(svc, existing, groups)
    assert (plan.create, plan.update, plan.delete) == ([], [], [])


def test_new_endpoints_fill_existing_slices_before_new_ones_are_made() -> None:
    svc = service()
    pods = [pod(f"p{i}", f"10.0.0.{i}") for i in range(5)]
    groups = desired_groups(svc, pods, {})
    [desired] = groups.values()
    eps = list(desired.endpoints.values())
    existing = [slice_of("web-one", eps[:1], svc)]
    plan = plan_slices(svc, existing, groups, max_per_slice=3)
    [(old, body)] = plan.update
    assert old["metadata"]["name"] == "web-one" and len(body["endpoints"]) == 3
    assert body["endpoints"][0] == eps[0]  # what it had stays first
    [created] = plan.create
    assert len(created["endpoints"]) == 2
    assert created["metadata"]["generateName"] == "web-"
    assert created["metadata"]["ownerReferences"][0]["uid"] == "uid-web"


def test_emptied_slices_go_and_slices_of_another_service_uid_are_replaced() -> None:
    svc = service()
    groups = desired_groups(svc, [pod("a", "10.0.0.1")], {})
    [desired] = groups.values()
    keep = slice_of("web-keep", list(desired.endpoints.values()), svc)
    empty = slice_of("web-empty", [endpoint_for(pod("gone", "10.0.0.9"), svc, "10.0.0.9",
                                                None)], svc)
    stale = slice_of("web-stale", [], {"metadata": {"uid": "old-uid"}})
    plan = plan_slices(svc, [keep, empty, stale], groups)
    assert {s["metadata"]["name"] for s in plan.delete} == {"web-empty", "web-stale"}
    assert plan.update == [] and plan.create == []


def test_a_service_without_endpoints_keeps_one_placeholder() -> None:
    svc = service()
    plan = plan_slices(svc, [], {})
    [placeholder] = plan.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    existing = [slice_of("web-abc", [endpoint_for(pod("a", "10.0.0.1"), svc, "10.0.0.1",
                                                  None)], svc)]
    plan = plan_slices(svc, existing, {})
    [(old, body)] = plan.update
    assert old["metadata"]["name"] == "web-abc" and body["endpoints"] == []
    assert plan.delete == [] and plan.create == []


def test_port_sets_make_separate_groups() -> None:
    groups = desired_groups(service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2",
                                                                    port=9000)], {})
    assert sorted(len(d.endpoints) for d in groups.values()) == [1, 1]
    assert all(isinstance(d, Desired) for d in groups.values())


# -- the Endpoints controller writes only on change --------------------------------------


class RecordingClient:
    """Stands in for APIClient: records writes, answers with the object stored."""

    def __init__(self) -> None:
        from kubeedge.client.clock import FakeClock

        self.clock = FakeClock()
        self.writes: list[tuple[str, Obj]] = []

    async def create(self, ref: Any, body: Obj, namespace: str | None = None) -> Obj:
        self.writes.append(("create", body))
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": "5"}}
        return stored

    async def update(self, ref: Any, body: Obj, namespace: str | None = None) -> Obj:
        self.writes.append(("update", body))
        return body

    async def delete(self, ref: Any, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self.writes.append(("delete", {"name": name}))
        return {}


async def test_endpoints_controller_writes_only_when_something_changed() -> None:
    client = RecordingClient()
    controller = EndpointsController(client)  # type: ignore[arg-type]
    controller.setup()
    svc = service()
    controller.services.store.put(svc)
    for p in (pod("a", "10.0.0.1"), pod("b", "10.0.0.2")):
        controller.pods.store.put(p)
    await controller.reconcile("ns/web")
    [(verb, created)] = client.writes
    assert verb == "create"
    controller.endpoints.store.put(
        {**created, "metadata": {**created["metadata"], "resourceVersion": "5"}})

    await controller.reconcile("ns/web")
    assert len(client.writes) == 1  # nothing changed, nothing written

    controller.pods.store.put(pod("b", "10.0.0.2", ready=False))
    await controller.reconcile("ns/web")
    verb, updated = client.writes[-1]
    assert verb == "update" and updated["metadata"]["resourceVersion"] == "5"
    assert updated["subsets"][0]["notReadyAddresses"][0]["ip"] == "10.0.0.2"
    assert meta.name_of(updated) == "web" and ENDPOINTS.kind == "Endpoints"


@given(selector=st.dictionaries(st.sampled_from(["app", "tier", "x"]),
                                st.sampled_from(["a", "b", ""]), max_size=3),
       labels=st.dictionaries(st.sampled_from(["app", "tier", "x", "y"]),
                              st.sampled_from(["a", "b", ""]), max_size=4),
       kind=st.sampled_from(["ClusterIP", "ExternalName", "NodePort"]))
def test_selects_agrees_with_the_parsed_selector(selector: dict[str, str],
                                                 labels: dict[str, str], kind: str) -> None:
    service = {"spec": {"type": kind, "selector": selector}}
    parsed = selector_of(service)
    assert selects(service, labels) == (parsed is not None and parsed.matches(labels))
    assert not selects({"spec": {}}, labels)
