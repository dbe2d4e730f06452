"""EdgeController's downstream decisions without an API server: which node gets which
message, with which resource string, operation, version and content (specs/kubeedge.md
§2), and the reference tracking behind configmaps and secrets."""

from __future__ import annotations

from typing import Any

from kubeedge.api.podrefs import pod_references
from kubeedge.cloud.edgecontroller.downstream import Downstream, pod_spec_changed
from kubeedge.cloud.edgecontroller.locations import (
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    LocationCache,
    Reference,
    references_of,
)
from kubeedge.messaging.codec import decode_message, encode_message
from kubeedge.messaging.message import Message


class Store:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.items = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}

    def get(self, namespace: str | None, name: str) -> Any:
        return self.items.get((namespace or "", name))


def node(name: str, rv: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": rv,
                         "labels": {"node-role.kubernetes.io/edge": ""}}}


def pod(name: str, node_name: str, *, cm: str = "", secret: str = "", rv: str = "10",
        ns: str = "ns") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "nginx"}
    if cm:
        container["envFrom"] = [{"configMapRef": {"name": cm}}]
    volumes = [{"name": "s", "secret": {"secretName": secret}}] if secret else []
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "resourceVersion": rv},
            "spec": {"nodeName": node_name, "containers": [container], "volumes": volumes}}


def configmap(name: str, rv: str = "5", ns: str = "ns") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "resourceVersion": rv}, "data": {"k": "v"}}


def secret(name: str, rv: str = "6", ns: str = "ns") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "resourceVersion": rv}, "data": {"k": "dg=="}}


class Harness:
    def __init__(self, *objs: dict[str, Any], pods_on: dict[str, list[Any]] | None = None
                 ) -> None:
        self.sent: list[Message] = []
        self.locations = LocationCache()
        self.down = Downstream(
            self.locations, self.sent.append,
            pods=lambda n: (pods_on or {}).get(n, []),
            config_maps=Store(*[o for o in objs if o["kind"] == "ConfigMap"]),
            secrets=Store(*[o for o in objs if o["kind"] == "Secret"]),
        )

    def take(self) -> list[tuple[str, str, str]]:
        out = [(m.route.operation, m.route.resource, m.header.resource_version)
               for m in self.sent]
        self.sent.clear()
        return out


def test_pod_on_edge_node_is_inserted_after_its_configmap_and_secret() -> None:
    h = Harness(configmap("cfg"), secret("sec"))
    h.down.on_node_add(node("edge-a"))
    assert h.take() == [("update", "node/edge-a/null/node/edge-a", "1")]
    h.down.on_pod_add(pod("web", "edge-a", cm="cfg", secret="sec"))
    sent = list(h.sent)
    assert h.take() == [
        ("insert", "node/edge-a/ns/configmap/cfg", "5"),
        ("insert", "node/edge-a/ns/secret/sec", "6"),
        ("insert", "node/edge-a/ns/pod/web", "10"),
    ]
    msg = sent[-1]
    assert (msg.route.source, msg.route.group) == ("edgecontroller", "resource")
    assert msg.content["metadata"]["uid"] == "uid-web"
    assert msg.content["kind"] == "Pod"
    # On the wire as KubeEdge writes it.
    wire = decode_message(encode_message(msg))
    assert wire.header.resource_version == "10"
    assert wire.content["spec"]["nodeName"] == "edge-a"


def test_pods_on_cloud_nodes_send_nothing() -> None:
    h = Harness(configmap("cfg"))
    h.down.on_node_add(node("edge-a"))
    h.take()
    h.down.on_pod_add(pod("web", "cloud-1", cm="cfg"))
    h.down.on_pod_add(pod("pending", "", cm="cfg"))
    assert h.take() == []


def test_configmap_used_on_two_nodes_goes_to_both_and_only_them() -> None:
    h = Harness(configmap("cfg"))
    for n in ("edge-a", "edge-b", "edge-c"):
        h.down.on_node_add(node(n))
    h.down.on_pod_add(pod("p1", "edge-a", cm="cfg"))
    h.down.on_pod_add(pod("p2", "edge-b", cm="cfg"))
    h.down.on_pod_add(pod("p3", "edge-c"))
    h.take()
    h.down.on_configmap_update(configmap("cfg", "5"), configmap("cfg", "7"))
    assert h.take() == [("update", "node/edge-a/ns/configmap/cfg", "7"),
                        ("update", "node/edge-b/ns/configmap/cfg", "7")]
    # A resync (same version) sends nothing.
    h.down.on_configmap_update(configmap("cfg", "7"), configmap("cfg", "7"))
    assert h.take() == []


def test_deleted_pod_removes_its_reference_and_the_node_drops_the_configmap() -> None:
    h = Harness(configmap("cfg"))
    h.down.on_node_add(node("edge-a"))
    h.down.on_node_add(node("edge-b"))
    h.down.on_pod_add(pod("p1", "edge-a", cm="cfg"))
    h.down.on_pod_add(pod("p2", "edge-b", cm="cfg"))
    h.take()
    h.down.on_pod_delete(pod("p1", "edge-a", cm="cfg", rv="11"))
    sent = list(h.sent)
    assert h.take() == [("delete", "node/edge-a/ns/pod/p1", "11"),
                        ("delete", "node/edge-a/ns/configmap/cfg", "")]
    assert sent[0].content["metadata"]["uid"] == "uid-p1"
    assert sent[1].content["metadata"] == {"name": "cfg", "namespace": "ns", "uid": "uid-cfg"}
    assert h.locations.nodes_for(Reference(CONFIGMAP, "ns", "cfg")) == ["edge-b"]
    h.down.on_configmap_update(configmap("cfg", "5"), configmap("cfg", "8"))
    assert h.take() == [("update", "node/edge-b/ns/configmap/cfg", "8")]


def test_two_pods_on_one_node_share_a_reference_until_the_last_goes() -> None:
    h = Harness(configmap("cfg"))
    h.down.on_node_add(node("edge-a"))
    h.down.on_pod_add(pod("p1", "edge-a", cm="cfg"))
    h.down.on_pod_add(pod("p2", "edge-a", cm="cfg"))
    assert [r for _, r, _ in h.take()].count("node/edge-a/ns/configmap/cfg") == 1
    h.down.on_pod_delete(pod("p1", "edge-a", cm="cfg"))
    assert h.take() == [("delete", "node/edge-a/ns/pod/p1", "10")]
    h.down.on_pod_delete(pod("p2", "edge-a", cm="cfg"))
    assert ("delete", "node/edge-a/ns/configmap/cfg", "") in h.take()


def test_pod_update_sends_update_only_for_spec_or_metadata_changes() -> None:
    h = Harness()
    h.down.on_node_add(node("edge-a"))
    old = pod("web", "edge-a")
    h.down.on_pod_add(old)
    h.take()
    status_only = pod("web", "edge-a", rv="11")
    status_only["status"] = {"phase": "Running"}
    h.down.on_pod_update(old, status_only)
    assert h.take() == []
    labelled = pod("web", "edge-a", rv="12")
    labelled["metadata"]["labels"] = {"tier": "web"}
    h.down.on_pod_update(status_only, labelled)
    assert h.take() == [("update", "node/edge-a/ns/pod/web", "12")]


def test_pod_changing_its_configmap_gets_the_new_one_and_drops_the_old() -> None:
    h = Harness(configmap("one"), configmap("two"))
    h.down.on_node_add(node("edge-a"))
    first = pod("web", "edge-a", cm="one")
    h.down.on_pod_add(first)
    h.take()
    h.down.on_pod_update(first, pod("web", "edge-a", cm="two", rv="12"))
    assert h.take() == [("insert", "node/edge-a/ns/configmap/two", "5"),
                        ("update", "node/edge-a/ns/pod/web", "12"),
                        ("delete", "node/edge-a/ns/configmap/one", "")]


def test_pod_bound_later_is_an_insert_and_terminating_pod_first_seen_is_an_update() -> None:
    h = Harness()
    h.down.on_node_add(node("edge-a"))
    h.take()
    pending = pod("web", "")
    h.down.on_pod_add(pending)
    h.down.on_pod_update(pending, pod("web", "edge-a", rv="11"))
    assert h.take() == [("insert", "node/edge-a/ns/pod/web", "11")]
    going = pod("old", "edge-a")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    h.down.on_pod_add(going)
    assert h.take() == [("update", "node/edge-a/ns/pod/old", "10")]


def test_node_becoming_edge_gets_pods_already_bound_and_deleted_node_a_delete() -> None:
    bound = pod("web", "edge-a", cm="cfg")
    h = Harness(configmap("cfg"), pods_on={"edge-a": [bound]})
    h.down.on_node_add(node("edge-a"))
    assert h.take() == [("update", "node/edge-a/null/node/edge-a", "1"),
                        ("insert", "node/edge-a/ns/configmap/cfg", "5"),
                        ("insert", "node/edge-a/ns/pod/web", "10")]
    h.down.on_node_update(node("edge-a", "1"), node("edge-a", "1"))
    assert h.take() == []
    h.down.on_node_update(node("edge-a", "1"), node("edge-a", "2"))
    assert h.take() == [("update", "node/edge-a/null/node/edge-a", "2")]
    h.down.on_node_delete(node("edge-a", "3"))
    sent = list(h.sent)
    assert h.take() == [("delete", "node/edge-a/null/node/edge-a", "3")]
    assert sent[0].content["metadata"]["uid"] == "uid-edge-a"
    assert not h.locations.is_edge_node("edge-a")
    assert h.locations.nodes_for(Reference(CONFIGMAP, "ns", "cfg")) == []


def test_secret_events_follow_kubeedge_operations() -> None:
    h = Harness()
    h.down.on_node_add(node("edge-a"))
    h.down.on_pod_add(pod("web", "edge-a", secret="sec"))
    h.take()
    h.down.on_secret_add(secret("sec", "20"))
    h.down.on_secret_delete(secret("sec", "21"))
    assert h.take() == [("update", "node/edge-a/ns/secret/sec", "20"),
                        ("delete", "node/edge-a/ns/secret/sec", "21")]


def test_pod_references_cover_every_place_a_pod_names_them() -> None:
    p = {"metadata": {"name": "p", "namespace": "ns"},
         "spec": {
             "serviceAccountName": "robot",
             "imagePullSecrets": [{"name": "pull"}],
             "initContainers": [{"name": "i", "env": [
                 {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "init-cm",
                                                                 "key": "k"}}}]}],
             "containers": [{"name": "c",
                             "env": [{"name": "B", "valueFrom": {
                                 "secretKeyRef": {"name": "env-sec", "key": "k"}}},
                                 {"name": "C", "value": "plain"}],
                             "envFrom": [{"configMapRef": {"name": "from-cm"}},
                                         {"secretRef": {"name": "from-sec"}}]}],
             "volumes": [{"name": "v1", "configMap": {"name": "vol-cm"}},
                         {"name": "v2", "secret": {"secretName": "vol-sec"}},
                         {"name": "v3", "projected": {"sources": [
                             {"configMap": {"name": "proj-cm"}},
                             {"secret": {"name": "proj-sec"}},
                             {"serviceAccountToken": {"path": "t"}}]}}]}}
    refs = pod_references(p)
    assert refs.config_maps == {"init-cm", "from-cm", "vol-cm", "proj-cm"}
    assert refs.secrets == {"pull", "env-sec", "from-sec", "vol-sec", "proj-sec"}
    assert refs.service_accounts == {"robot"}
    assert pod_references({"spec": {}}).service_accounts == {"default"}
    assert Reference(SERVICEACCOUNT, "ns", "robot") in references_of(p)
    assert Reference(SECRET, "ns", "pull") in references_of(p)


def test_spec_changed_ignores_resource_version_and_status() -> None:
    a = pod("web", "edge-a", rv="1")
    b = pod("web", "edge-a", rv="2")
    b["status"] = {"phase": "Running"}
    assert not pod_spec_changed(a, b)
    b["spec"]["containers"][0]["image"] = "nginx:2"
    assert pod_spec_changed(a, b)
