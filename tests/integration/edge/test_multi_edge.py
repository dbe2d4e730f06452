"""Two edges, each a host of its own, whose pods reach each other by name (issue 7 "Must
show": "Two pods on one edge serve the same port; a pod on edge A reaches a pod on edge
B by its headless Service name").

Honest multi-host: each edge is a real edgecore from the real `keadm join`, running in a
network namespace of its own (`tests/fixtures/netns.py` `lan_with_host`: the two edges
and the host on one Ethernet segment, nothing else shared). The cloud (`keadm init`:
API server and cloudcore with the node-ipam, workload and Endpoints controllers and our
scheduler) runs on the host; its CloudHub and certificate service listen on 0.0.0.0 and
its serving certificate names the host's LAN address, which is what the edges dial.
node-ipam gives each edge Node a podCIDR, each edge's pods get IPs from it (CNI bridge
and host-local), cloudcore's `noderoutes` summary makes each edge route the other's
podCIDR via its InternalIP, and cloudcore's `clusterhosts` summary (ours,
cloud/edgecontroller/hosts.py) puts the headless Services' names and the pods' hostname
records into every pod's /etc/hosts.

What the pods do is checked from inside a pod: the test runs a command in the pod's
namespaces through the edge's own runtime (`ProcessRuntime.exec_sync`, read-only use of
the state files under the edge root; `kubectl exec` is not implemented yet).

Needs root, iproute2, util-linux and Debian's containernetworking-plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.netns import Lan, lan_with_host
from tests.integration.edge import edgepods as ep
from tests.integration.edge import lanedges
from tests.integration.edge.lanedges import Edge

CONTROLLERS = ("namespace-defaults", "node-ipam", "deployment", "replicaset",
               "statefulset", "endpoints", "garbage-collector")
PORT = 8000
DOMAIN = "cluster.local"

# Answers every GET with the pod's hostname (its UTS namespace's: spec.hostname, else
# the pod's name).
SERVE = """
import http.server, socket
class Hostname(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = socket.gethostname().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", PORT), Hostname).serve_forever()
""".replace("PORT", str(PORT))

# Run inside a pod: GET each URL, print one JSON line per URL.
FETCH = """
import json, sys, urllib.request
for url in sys.argv[1:]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            print(json.dumps([url, r.read().decode()]))
    except Exception as e:
        print(json.dumps([url, "error: %s" % e]))
"""


# Without root the namespaces cannot be made at all (a host limit); as root, a missing
# part fails the tests with how to install it (`lanedges.require_parts`).
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="multi-edge networking needs root")


@pytest.fixture(scope="module", autouse=True)
def _require_parts() -> None:
    lanedges.require_parts()


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with lan_with_host(2) as lan:
        yield lan


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, lan: Lan) -> Iterator[Cloud]:
    with lanedges.lan_cloud(tmp_path_factory.mktemp("multi-edge"), lan, CONTROLLERS) as c:
        yield c


@pytest.fixture(scope="module")
def edges(cloud: Cloud, lan: Lan, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[Edge]]:
    with lanedges.joined_edges(cloud, lan, tmp_path_factory.mktemp("edges"),
                               ["edge-a", "edge-b"]) as found:
        yield found


def _in_thread(fn: Any, *args: Any) -> Any:
    return asyncio.to_thread(fn, *args)


async def pod_fetch(edge: Edge, p: dict[str, Any], *urls: str) -> dict[str, str]:
    """GET each URL from inside pod `p` (its network, UTS and mount namespaces, where its
    /etc/hosts is): url -> body, or "error: ..."."""
    c = await _in_thread(ep.running, edge.root, p["metadata"]["uid"])
    assert c is not None, f"no running container for {p['metadata']['name']}"
    r = await ep.runtime(edge.root).exec_sync(
        c.id, ["python3", "-c", FETCH, *urls], 30)
    assert r.exit_code == 0, r
    return dict(json.loads(line) for line in r.stdout.decode().splitlines())


async def pod_hosts(edge: Edge, p: dict[str, Any]) -> str:
    c = await _in_thread(ep.running, edge.root, p["metadata"]["uid"])
    assert c is not None
    r = await ep.runtime(edge.root).exec_sync(c.id, ["cat", "/etc/hosts"], 10)
    return r.stdout.decode()


def _server(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{
                "name": "app", "image": "python:3.11",
                "command": ["python3", "-u", "-c", SERVE],
                "ports": [{"containerPort": PORT}],
                "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1}}]}}


def _headless(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": "None", "selector": {"app": app},
                     "ports": [{"name": "http", "port": PORT}]}}


async def test_a_pod_on_edge_a_reaches_pods_on_edge_b_by_name(
        cloud: Cloud, edges: list[Edge]) -> None:
    a, b = edges
    started = time.monotonic()
    # Each edge has its podCIDR (node-ipam, through its Node) and a route to the other's.
    await eventually(lambda: a.pod_cidr() and b.pod_cidr(), 20, "both edges' podCIDRs")
    assert a.pod_cidr() != b.pod_cidr()
    nodes = {n["metadata"]["name"]: n for n in (await _in_thread(
        cloud.kubectl_json, "get", "nodes"))["items"]}
    lan_ip = {e.name: next(x["address"] for x in nodes[e.name]["status"]["addresses"]
                           if x["type"] == "InternalIP") for e in edges}
    assert lan_ip == {a.name: a.host.address, b.name: b.host.address}
    await eventually(lambda: a.routes() == [[b.pod_cidr(), b.host.address]]
                     and b.routes() == [[a.pod_cidr(), a.host.address]], 20,
                     "each edge routing the other's podCIDR via its InternalIP")

    web = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"serviceName": "web", "replicas": 2, "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": _server({"app": "web"})}}
    web["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "web"}},
            "topologyKey": "kubernetes.io/hostname"}]}}
    echo = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "echo"}},
                     "template": _server({"app": "echo"})}}
    echo["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": b.name}
    await _in_thread(ep.apply, cloud, _headless("web", "web"), _headless("echo", "echo"),
                     web, echo)

    async def ready(selector: str, count: int) -> list[dict[str, Any]] | None:
        items = await _in_thread(ep.pods, cloud, selector)
        return items if len(items) == count and all(map(ep.is_ready, items)) else None

    webs = await eventually(lambda: ready("app=web", 2), 30, "2 web pods Ready")
    echoes = await eventually(lambda: ready("app=echo", 2), 30, "2 echo pods Ready")
    print(f"apply -> 4 pods Ready on two edges: {time.monotonic() - started:.1f}s")
    on = {p["spec"]["nodeName"]: p for p in webs}
    assert set(on) == {a.name, b.name}, "the web pods are spread one per edge"
    wa, wb = on[a.name], on[b.name]
    assert all(p["spec"]["nodeName"] == b.name for p in echoes)
    cidr = {e.name: ipaddress.ip_network(e.pod_cidr()) for e in edges}
    for p in [*webs, *echoes]:
        assert ipaddress.ip_address(p["status"]["podIP"]) in cidr[p["spec"]["nodeName"]], p
    echo_ips = sorted(p["status"]["podIP"] for p in echoes)
    assert len(set(echo_ips)) == 2

    # The names reach edge A's pod's /etc/hosts once the Endpoints list the pods.
    wb_name = f"{wb['metadata']['name']}.web.default.svc.{DOMAIN}"

    async def names_known() -> str | None:
        text = await pod_hosts(a, wa)
        lines = text.splitlines()
        return text if any(line.startswith(f"{wb['status']['podIP']}\t{wb_name}\t")
                           for line in lines) and all(
            any(line.startswith(f"{ip}\t") for line in lines) for ip in echo_ips) else None

    hosts = await eventually(names_known, 20, "web and echo names in wa's /etc/hosts")
    print(f"{wa['metadata']['name']}'s /etc/hosts on {a.name}:\n{hosts}")
    assert f"\techo.default.svc.{DOMAIN}\techo.default.svc\techo.default\techo" in hosts

    urls = {
        "pod": f"http://{wb_name}:{PORT}/",
        "pod-short": f"http://{wb['metadata']['name']}.web:{PORT}/",
        "svc": f"http://echo.default.svc.{DOMAIN}:{PORT}/",
        "svc-short": f"http://echo:{PORT}/",
        **{f"ip-{i}": f"http://{ip}:{PORT}/" for i, ip in enumerate(echo_ips)},
    }
    got = await pod_fetch(a, wa, *urls.values())
    answer = {k: got[u] for k, u in urls.items()}
    echo_names = {p["metadata"]["name"]: p["status"]["podIP"] for p in echoes}
    # The pod on B answers by its hostname record, from A.
    assert answer["pod"] == wb["metadata"]["name"], answer
    assert answer["pod-short"] == wb["metadata"]["name"], answer
    # The headless Service's name reaches a pod of it on B.
    assert answer["svc"] in echo_names and answer["svc-short"] in echo_names, answer
    # Two pods of one Deployment on one edge serve the same port, each on its own IP.
    by_ip = {echo_names[n]: n for n in echo_names}
    assert {answer[f"ip-{i}"] for i in range(2)} == set(echo_names), answer
    assert all(answer[f"ip-{i}"] == by_ip[ip] for i, ip in enumerate(echo_ips)), answer
    # And back: B's pod reaches A's by name.
    back = await pod_fetch(b, wb, f"http://{wa['metadata']['name']}.web.default.svc."
                                  f"{DOMAIN}:{PORT}/")
    assert list(back.values()) == [wa["metadata"]["name"]], back
    print(f"cross-edge by name checked: {time.monotonic() - started:.1f}s")

    # A change reaches running pods: echo scaled to one, its other address leaves wa's
    # /etc/hosts (the file rewritten where the container sees it).
    await _in_thread(cloud.kubectl, "scale", "deployment", "echo", "--replicas=1")
    kept = await eventually(lambda: ready("app=echo", 1), 20, "echo down to 1")

    async def dropped() -> bool:
        lines = (await pod_hosts(a, wa)).splitlines()
        return all(any(line.startswith(f"{ip}\t") for line in lines)
                   == (ip == kept[0]["status"]["podIP"]) for ip in echo_ips)

    await eventually(dropped, 20, "the removed echo pod's address gone from wa's hosts")
    print(f"total: {time.monotonic() - started:.1f}s")
    with contextlib.suppress(Exception):
        await _in_thread(cloud.kubectl, "delete", "statefulset,deployment,service",
                         "web", "echo", "--wait=false")
