"""The endpoints and endpointslice controllers against the real API server, run
in-process. The test plays the node: it binds pods to a Node and writes their IPs and
readiness through the status subresource, as a kubelet would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.endpoints import (
    ENDPOINTS_CONTROLLER,
    ENDPOINTS_MANAGED_BY,
    LAST_CHANGE_TRIGGER_TIME,
    EndpointsController,
    endpoint_entries,
    repack_subsets,
)
from kubeedge.controllers.endpointslice import (
    CONTROLLER_NAME,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointSliceController,
    desired_groups,
    plan_slices,
)
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import Cloud, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = ResourceRef("", "v1", "namespaces", False, "Namespace")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTS = ResourceRef("", "v1", "endpoints", True, "Endpoints")
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def controllers(cloud: Cloud) -> AsyncIterator[None]:
    client = APIClient(cloud.kubeconfig)
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "endpoint-controller")
    manager = ControllerManager(
        client,
        [EndpointsController(client, factory, recorder),
         EndpointSliceController(client, factory, recorder, max_endpoints_per_slice=3)],
        informers=factory, recorder=recorder)
    await manager.start()
    yield
    await manager.stop()
    await client.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def node(api: APIClient) -> str:
    name = f"ep-node-{uuid.uuid4().hex[:6]}"
    await api.create(NODES, {"metadata": {"name": name,
                                          "labels": {"topology.kubernetes.io/zone": "z1"}}})
    return name


@pytest_asyncio.fixture(loop_scope="module")
async def ns(api: APIClient, controllers: None) -> str:
    name = f"ep-{uuid.uuid4().hex[:8]}"
    await api.create(NS, {"metadata": {"name": name}})
    return name


async def make_pod(api: APIClient, ns: str, name: str, node: str, ip: str, *,
                   ready: bool = True, labels: dict[str, str] | None = None,
                   spec: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"nodeName": node,
                     "containers": [{"name": "c", "image": "nginx",
                                     "ports": [{"name": "http", "containerPort": 8080}]}],
                     **(spec or {})}}
    await api.create(PODS, body, ns)
    return await set_ready(api, ns, name, ready, ip)


async def set_ready(api: APIClient, ns: str, name: str, ready: bool,
                    ip: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                        "lastTransitionTime": meta.rfc3339(meta.now())}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return await api.patch(PODS, name, {"status": status}, ns, subresource="status")


async def get(api: APIClient, ref: ResourceRef, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await api.get(ref, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def slices_of(api: APIClient, ns: str, service: str) -> list[dict[str, Any]]:
    listing = await api.list(SLICES, ns, label_selector=f"{SERVICE_NAME_LABEL}={service}")
    return listing["items"]


def addresses(endpoints: dict[str, Any] | None, field: str = "addresses") -> set[str]:
    return {a["ip"] for s in (endpoints or {}).get("subsets") or [] for a in s.get(field) or []}


async def web_service(api: APIClient, ns: str, **spec: Any) -> dict[str, Any]:
    return await api.create(SERVICES, {
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}}, ns)


async def test_endpoints_and_slices_list_ready_pods_with_resolved_ports(
        api: APIClient, ns: str, node: str, cloud: Cloud) -> None:
    service = await web_service(api, ns)
    await make_pod(api, ns, "web-a", node, "10.1.0.1")
    await make_pod(api, ns, "web-b", node, "10.1.0.2")
    await make_pod(api, ns, "other", node, "10.1.0.9", labels={"app": "other"})

    async def endpoints_ready() -> dict[str, Any] | None:
        ep = await get(api, ENDPOINTS, "web", ns)
        return ep if addresses(ep) == {"10.1.0.1", "10.1.0.2"} else None

    ep = await eventually(endpoints_ready, what="Endpoints listing both ready pods")
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert {a["targetRef"]["name"] for a in subset["addresses"]} == {"web-a", "web-b"}
    assert all(a["nodeName"] == node and a["targetRef"]["kind"] == "Pod"
               for a in subset["addresses"])
    assert "notReadyAddresses" not in subset
    assert ep["metadata"]["labels"]["tier"] == "front"
    assert ep["metadata"]["labels"][ENDPOINTS_MANAGED_BY] == ENDPOINTS_CONTROLLER
    assert LAST_CHANGE_TRIGGER_TIME in ep["metadata"]["annotations"]

    async def slice_ready() -> list[dict[str, Any]] | None:
        slices = await slices_of(api, ns, "web")
        ips = {e["addresses"][0] for s in slices for e in s.get("endpoints") or []}
        return slices if ips == {"10.1.0.1", "10.1.0.2"} else None

    [es] = await eventually(slice_ready, what="an EndpointSlice with both pods")
    assert es["metadata"]["name"].startswith("web-")
    assert es["metadata"]["labels"][MANAGED_BY_LABEL] == CONTROLLER_NAME
    assert es["metadata"]["labels"]["tier"] == "front"
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    [owner] = es["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Service", "web", service["metadata"]["uid"], True)
    for endpoint in es["endpoints"]:
        assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert endpoint["nodeName"] == node
        assert endpoint["zone"] == "z1"
        assert endpoint["targetRef"]["name"] in ("web-a", "web-b")

    # What the API stored is what the controllers would write again: no churn.
    service = await api.get(SERVICES, "web", ns)
    pods = [p for p in (await api.list(PODS, ns))["items"] if p["metadata"]["labels"] == {
        "app": "web"}]
    plan = plan_slices(service, [es], desired_groups(service, pods, {node: "z1"}))
    assert (plan.create, plan.update, plan.delete) == ([], [], [])
    again = repack_subsets(endpoint_entries(service, pods))
    assert again == ep["subsets"]

    described = cloud.kubectl("describe", "svc", "web", "-n", ns).stdout
    endpoints_line = next(line for line in described.splitlines()
                          if line.startswith("Endpoints:"))
    assert "10.1.0.1:8080" in endpoints_line and "10.1.0.2:8080" in endpoints_line


async def test_pod_turning_not_ready_moves_to_not_ready_in_place(
        api: APIClient, ns: str, node: str) -> None:
    await web_service(api, ns)
    await make_pod(api, ns, "web-a", node, "10.2.0.1")
    await make_pod(api, ns, "web-b", node, "10.2.0.2")
    await eventually(lambda: _ready_ips(api, ns, {"10.2.0.1", "10.2.0.2"}),
                     what="both pods ready in the Endpoints")
    [before] = await eventually(lambda: _slices_with(api, ns, 2), what="one slice")

    await set_ready(api, ns, "web-b", False)

    async def moved() -> dict[str, Any] | None:
        ep = await get(api, ENDPOINTS, "web", ns)
        ok = addresses(ep) == {"10.2.0.1"} and addresses(ep, "notReadyAddresses") == {
            "10.2.0.2"}
        return ep if ok else None

    await eventually(moved, what="web-b under notReadyAddresses")

    async def slice_not_ready() -> dict[str, Any] | None:
        for s in await slices_of(api, ns, "web"):
            for e in s.get("endpoints") or []:
                if e["targetRef"]["name"] == "web-b" and e["conditions"]["ready"] is False:
                    return s
        return None

    after = await eventually(slice_not_ready, what="web-b ready=false in its slice")
    assert after["metadata"]["name"] == before["metadata"]["name"]  # updated, not replaced
    endpoint = next(e for e in after["endpoints"] if e["targetRef"]["name"] == "web-b")
    assert endpoint["conditions"] == {"ready": False, "serving": False, "terminating": False}

    # publishNotReadyAddresses puts every pod among the ready ones.
    await api.patch(SERVICES, "web", {"spec": {"publishNotReadyAddresses": True}}, ns)
    await eventually(lambda: _ready_ips(api, ns, {"10.2.0.1", "10.2.0.2"}),
                     what="all pods ready with publishNotReadyAddresses")


async def test_slices_hold_at_most_max_endpoints_and_shrink_in_place(
        api: APIClient, ns: str, node: str) -> None:
    await web_service(api, ns)
    for i in range(5):
        await make_pod(api, ns, f"web-{i}", node, f"10.3.0.{i + 1}")
    slices = await eventually(lambda: _slices_with(api, ns, 5), what="five endpoints")
    assert sorted(len(s["endpoints"]) for s in slices) == [2, 3]
    names = {s["metadata"]["name"] for s in slices}

    await api.delete(PODS, "web-0", ns, grace_period_seconds=0)
    slices = await eventually(lambda: _slices_with(api, ns, 4), what="four endpoints")
    assert {s["metadata"]["name"] for s in slices} <= names


async def test_headless_service_publishes_pod_hostnames(
        api: APIClient, ns: str, node: str) -> None:
    await api.create(SERVICES, {"metadata": {"name": "db"},
                                "spec": {"clusterIP": "None", "selector": {"app": "db"}}}, ns)
    await make_pod(api, ns, "db-0", node, "10.4.0.1", labels={"app": "db"},
                   spec={"hostname": "db-0", "subdomain": "db"})

    async def has_hostname() -> dict[str, Any] | None:
        ep = await get(api, ENDPOINTS, "db", ns)
        for subset in (ep or {}).get("subsets") or []:
            for a in subset.get("addresses") or []:
                if a.get("hostname") == "db-0":
                    return subset
        return None

    subset = await eventually(has_hostname, what="the pod's hostname in the Endpoints")
    assert "ports" not in subset
    ep = await get(api, ENDPOINTS, "db", ns)
    assert ep is not None and ep["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    [es] = await eventually(lambda: _slices_with(api, ns, 1, "db"), what="db slice")
    assert es["endpoints"][0]["hostname"] == "db-0"


async def test_deleting_the_service_removes_endpoints_and_slices(
        api: APIClient, ns: str, node: str) -> None:
    await web_service(api, ns)
    await make_pod(api, ns, "web-a", node, "10.5.0.1")
    await eventually(lambda: _ready_ips(api, ns, {"10.5.0.1"}), what="Endpoints")
    await eventually(lambda: _slices_with(api, ns, 1), what="a slice")

    await api.delete(SERVICES, "web", ns)

    async def gone() -> bool:
        return await get(api, ENDPOINTS, "web", ns) is None and not await slices_of(
            api, ns, "web")

    await eventually(gone, what="Endpoints and slices removed")


async def test_selector_removal_drops_ours_but_user_endpoints_are_left_alone(
        api: APIClient, ns: str, node: str) -> None:
    # A selector-less service with Endpoints its user writes.
    await api.create(SERVICES, {"metadata": {"name": "ext"},
                                "spec": {"ports": [{"port": 5432}]}}, ns)
    user_ep = await api.create(ENDPOINTS, {
        "metadata": {"name": "ext"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}, ns)
    # A service that loses its selector loses the Endpoints we wrote for it.
    await web_service(api, ns)
    await make_pod(api, ns, "web-a", node, "10.6.0.1")
    await eventually(lambda: _ready_ips(api, ns, {"10.6.0.1"}), what="Endpoints")
    await api.patch(SERVICES, "web", [{"op": "remove", "path": "/spec/selector"}], ns,
                    patch_type="json")

    async def dropped() -> bool:
        return await get(api, ENDPOINTS, "web", ns) is None and not await slices_of(
            api, ns, "web")

    await eventually(dropped, what="Endpoints and slices of the selector-less web dropped")
    ep = await get(api, ENDPOINTS, "ext", ns)
    assert ep is not None
    assert ep["metadata"]["resourceVersion"] == user_ep["metadata"]["resourceVersion"]
    assert not await slices_of(api, ns, "ext")
    kubernetes = await get(api, ENDPOINTS, "kubernetes", "default")
    assert kubernetes is not None
    assert ENDPOINTS_MANAGED_BY not in meta.labels_of(kubernetes)


async def _ready_ips(api: APIClient, ns: str, ips: set[str], name: str = "web") -> bool:
    return addresses(await get(api, ENDPOINTS, name, ns)) == ips


async def _slices_with(api: APIClient, ns: str, count: int, name: str = "web"
                       ) -> list[dict[str, Any]] | None:
    slices = await slices_of(api, ns, name)
    total = sum(len(s.get("endpoints") or []) for s in slices)
    return slices if total == count and all(s.get("endpoints") for s in slices) else None
