"""pods/log, pods/exec, pods/portforward, nodes/proxy and metrics.k8s.io through a real
API server process to a kubelet double, driven by the real kubectl (issue 8).

The double stands where cloudcore's stream server stands for an edge: the Node carries
the `kubeedge.io/stream-server` annotation naming it, and the API server dials it with
its `--kubelet-client-*` identity. The full chain with real edges is tested elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.cluster import Cloud, free_port, running_cloud, wait_until
from tests.integration.apiserver.kubelet_double import KubeletDouble

pytestmark = pytest.mark.kubectl

CLIENT_CERT = "etc/kubernetes/pki/apiserver-kubelet-client.crt"
CLIENT_KEY = "etc/kubernetes/pki/apiserver-kubelet-client.key"
CLUSTER_CA = "etc/kubeedge/pki/ca.crt"
SUMMARY = {
    "node": {"nodeName": "edge-a",
             "cpu": {"time": "2026-01-01T00:00:00Z", "usageNanoCores": 250_000_000,
                     "usageCoreNanoSeconds": 10**12},
             "memory": {"time": "2026-01-01T00:00:00Z", "workingSetBytes": 100 * 2**20}},
    "pods": [{"podRef": {"name": "web", "namespace": "default"},
              "containers": [{"name": "web", "cpu": {"usageNanoCores": 850_000_000},
                              "memory": {"workingSetBytes": 34_586_624}}]}],
}


def _node(name: str, stream_server: str, labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {"kubeedge.io/stream-server": stream_server}}}


def _pod(name: str, node: str, containers: tuple[str, ...] = ("web",),
         annotations: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name},
                         "annotations": annotations or {}},
            "spec": {"nodeName": node,
                     "containers": [{"name": c, "image": "busybox"} for c in containers]}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, KubeletDouble]]:
    from kubeedge.cloud.certs.authority import CertificateAuthority

    with running_cloud(tmp_path_factory.mktemp("nodeproxy"), controllers=(),
                       kubelet_client_certificate=CLIENT_CERT, kubelet_client_key=CLIENT_KEY,
                       kubelet_certificate_authority=CLUSTER_CA,
                       metrics_resolution_seconds=1.0) as cloud:
        pki = cloud.root / "etc/kubeedge/pki"
        ca = CertificateAuthority.load(pki / "ca.crt", pki / "ca.key")
        # What keadm init writes for the API server (issue 8 design), read lazily.
        client = ca.issue_client_cert("kube-apiserver-kubelet-client",
                                      organizations=["system:masters"])
        (cloud.root / CLIENT_CERT).parent.mkdir(parents=True, exist_ok=True)
        client.write(cloud.root / CLIENT_CERT, cloud.root / CLIENT_KEY)
        os.chmod(cloud.root / CLIENT_KEY, 0o600)
        serving = ca.issue_server_cert("stream", ip_addresses=["127.0.0.1"])
        double_dir = cloud.root / "double"
        double_dir.mkdir()
        serving.write(double_dir / "server.crt", double_dir / "server.key")
        double = KubeletDouble(double_dir / "server.crt", double_dir / "server.key",
                               pki / "ca.crt", summary=SUMMARY)
        double.start()
        try:
            objects = [_node("edge-a", f"127.0.0.1:{double.port}", {"role": "edge"}),
                       # Its stream server is gone: nothing listens there.
                       _node("edge-down", f"127.0.0.1:{free_port()}", {"role": "other"}),
                       _pod("web", "edge-a"), _pod("missing", "edge-a"),
                       _pod("duo", "edge-a", ("a", "b")),
                       _pod("anno", "edge-a", ("a", "b"),
                            {"kubectl.kubernetes.io/default-container": "b"}),
                       _pod("far", "edge-down")]
            cloud.kubectl("apply", "-f", "-", input=_documents(objects))
            for node in ("edge-a", "edge-down"):
                cloud.kubectl("patch", "node", node, "--subresource=status", "--type=merge",
                              "-p", json.dumps({"status": {
                                  "capacity": {"cpu": "2", "memory": "4Gi"},
                                  "allocatable": {"cpu": "2", "memory": "4Gi"}}}))
            yield cloud, double
        finally:
            double.stop()


def _documents(objects: list[dict]) -> str:
    import yaml

    return yaml.safe_dump_all(objects)


def _readline(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(timeout)
    if not out:
        proc.kill()
        raise AssertionError(f"no line within {timeout}s; stderr: {proc.stderr.read()}")  # type: ignore[union-attr]
    return out[0]


def test_kubectl_logs_forwards_its_options_to_the_kubelet(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    out = cloud.kubectl("logs", "web", "-c", "web", "--tail=2", "--timestamps").stdout
    assert out == "web line 1\nweb line 2\n"
    seen = double.requests_to("/containerLogs/default/web/web")[-1]
    assert seen.query == {"tailLines": ["2"], "timestamps": ["true"]}
    assert seen.headers["host"] == "edge-a"  # the stream server picks the tunnel by it


def test_kubectl_logs_follow_streams_until_the_kubelet_ends(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    double.end_follow.clear()
    proc = cloud.popen_kubectl("logs", "-f", "web")
    assert _readline(proc) == "web line 1\n"
    assert _readline(proc) == "web line 2\n"  # flushed as it came, before the end
    double.end_follow.set()
    assert proc.wait(20) == 0
    assert proc.stdout.read() == "web line 3\n"  # type: ignore[union-attr]
    assert double.requests_to("/containerLogs/default/web/web")[-1].query["follow"] == ["true"]


def test_a_client_leaving_a_followed_log_closes_the_kubelet_stream(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    double.end_follow.clear()
    double.follow_closed.clear()
    proc = cloud.popen_kubectl("logs", "-f", "web")
    assert _readline(proc) == "web line 1\n"
    proc.kill()
    wait_until(double.follow_closed.is_set, 10, "the kubelet's log stream to close")


def test_kubelet_errors_come_back_as_status(setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    proc = cloud.kubectl("logs", "missing", check=False)
    assert proc.returncode == 1
    assert ("Error from server (NotFound): the server could not find the requested resource "
            "( pods/log missing)") in proc.stderr
    proc = cloud.kubectl("logs", "far", check=False)
    assert proc.returncode == 1
    assert 'Get "https://127.0.0.1:' in proc.stderr
    assert "/containerLogs/default/far/web" in proc.stderr and "dial tcp" in proc.stderr


async def test_log_requests_are_validated_as_kube_does(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    base = "/api/v1/namespaces/default/pods"
    async with cloud.session() as api:
        for path, code, message in (
                (f"{base}/duo/log", 400,
                 "a container name must be specified for pod duo, choose one of: [a b]"),
                (f"{base}/duo/log?container=zzz", 400, "container zzz is not valid for pod duo"),
                (f"{base}/web/log?tailLines=-1", 422,
                 'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be '
                 "greater than or equal to 0"),
                (f"{base}/web/log?sinceSeconds=0", 422,
                 'PodLogOptions "web" is invalid: sinceSeconds: Invalid value: 0: must be '
                 "greater than 0"),
                (f"{base}/nope/log", 404, 'pods "nope" not found')):
            async with api.get(path) as resp:
                status = await resp.json()
                assert (resp.status, status["message"]) == (code, message), status
        async with api.get(f"{base}/anno/log") as resp:
            assert resp.status == 200
            assert await resp.text() == "b line 1\nb line 2\n"
        assert double.requests_to("/containerLogs/default/anno/b")


def test_kubectl_exec_relays_the_session_and_its_exit_code(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    proc = cloud.kubectl("exec", "web", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "sh -c echo hi; exit 3\n"
    seen = double.requests_to("/exec/default/web/web")[-1]
    assert seen.method == "GET"
    assert seen.query == {"command": ["sh", "-c", "echo hi; exit 3"], "error": ["1"],
                          "output": ["1"]}
    assert "v5.channel.k8s.io" in seen.headers["sec-websocket-protocol"]
    assert "authorization" not in seen.headers
    proc = cloud.kubectl("exec", "-i", "web", "--", "cat", input="x\n", check=False)
    assert (proc.returncode, proc.stdout) == (0, "x\n"), proc.stderr
    assert double.requests_to("/exec/default/web/web")[-1].query["input"] == ["1"]


def test_a_user_with_pods_log_but_not_pods_exec_gets_forbidden(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    name = f"reader-{uuid.uuid4().hex[:6]}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": "default"},
            # `get pods/exec` alone must not open a session (a WebSocket exec is a GET).
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                      {"apiGroups": [""], "resources": ["pods/log", "pods/exec"],
                       "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": name, "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                             "name": name}]}
    cloud.kubectl("apply", "-f", "-", input=_documents([role, binding]))
    kubeconfig = cloud.user_kubeconfig(name, token=uuid.uuid4().hex)
    out = cloud.kubectl("logs", "web", kubeconfig=kubeconfig).stdout
    assert out == "web line 1\nweb line 2\n"
    proc = cloud.kubectl("exec", "web", "--", "true", kubeconfig=kubeconfig, check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr or "forbidden" in proc.stderr, proc.stderr
    assert 'cannot create resource "pods/exec"' in proc.stderr, proc.stderr


async def test_port_forward_translates_ports_and_relays_a_refusal(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, double = setup
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}
    path = "/api/v1/namespaces/default/pods/web/portforward?ports=80,8080"
    async with cloud.session() as api, api.get(path, headers=headers) as resp:
        status = await resp.json()
    assert (resp.status, status["reason"], status["message"]) == (
        400, "BadRequest", "upgrade request required")
    seen = double.requests_to("/portForward/default/web")[-1]
    assert seen.query["port"] == ["80,8080"]
    assert seen.headers["sec-websocket-protocol"] == "v4.channel.k8s.io"


def test_node_proxy_reaches_the_kubelet(setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    out = cloud.kubectl("get", "--raw", "/api/v1/nodes/edge-a/proxy/stats/summary").stdout
    assert json.loads(out) == SUMMARY
    proc = cloud.kubectl("get", "--raw", "/api/v1/nodes/edge-down/proxy/healthz", check=False)
    assert proc.returncode == 1 and "error trying to reach service: dial tcp" in proc.stderr


async def test_node_proxy_passes_methods_bodies_and_kubelet_answers(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    async with cloud.session() as api:
        async with api.post("/api/v1/nodes/edge-a/proxy/echo", data=b"hello") as resp:
            assert (resp.status, await resp.text()) == (201, "POST hello")
        async with api.get("/api/v1/nodes/edge-a/proxy/nothing") as resp:
            assert (resp.status, await resp.text()) == (404, "404 page not found")


def test_kubectl_top_reads_the_kubelet_summary(setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    rows = {line.split()[0]: line.split()
            for line in cloud.kubectl("top", "node").stdout.splitlines()[1:]}
    assert rows["edge-a"][1:] == ["250m", "12%", "100Mi", "2%"]
    assert rows["edge-down"][1:] == ["<unknown>"] * 4  # unreachable: left out
    labelled = cloud.kubectl("top", "node", "-l", "role=edge").stdout
    assert "edge-a" in labelled and "edge-down" not in labelled
    pods = cloud.kubectl("top", "pod", "-l", "app=web").stdout.splitlines()
    assert pods[1].split() == ["web", "850m", "32Mi"]


async def test_metrics_objects_are_shaped_as_metrics_server_serves_them(
        setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    group = "/apis/metrics.k8s.io/v1beta1"
    async with cloud.session() as api:
        async with api.get(f"{group}/nodes/edge-a") as resp:
            node = await resp.json()
        async with api.get(f"{group}/namespaces/default/pods",
                           params={"fieldSelector": "metadata.name=web"}) as resp:
            pods = await resp.json()
        async with api.get(f"{group}/nodes/edge-down") as resp:
            missing = (resp.status, (await resp.json())["message"])
        async with api.get(group) as resp:
            discovery = await resp.json()
    assert node["kind"] == "NodeMetrics", node["message"]
    assert node["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert node["metadata"]["name"] == "edge-a"
    assert node["metadata"]["labels"] == {"role": "edge"}
    assert node["usage"] == {"cpu": "250m", "memory": "100Mi"}
    assert node["timestamp"] == "2026-01-01T00:00:00Z" and node["window"] == "1s"
    assert pods["kind"] == "PodMetricsList"
    [pod] = pods["items"]
    assert pod["metadata"]["namespace"] == "default" and pod["metadata"]["name"] == "web"
    assert pod["containers"] == [{"name": "web",
                                  "usage": {"cpu": "850m", "memory": "33776Ki"}}]
    assert missing == (404, 'nodemetrics.metrics.k8s.io "edge-down" not found')
    assert {r["name"]: r["verbs"] for r in discovery["resources"]} == {
        "nodes": ["get", "list"], "pods": ["get", "list"]}


def test_metrics_reader_role_lets_viewers_run_top(setup: tuple[Cloud, KubeletDouble]) -> None:
    cloud, _ = setup
    name = f"viewer-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "rolebinding", name, "--clusterrole=view", f"--user={name}",
                  "-n", "default")
    kubeconfig = cloud.user_kubeconfig(name, token=uuid.uuid4().hex)
    out = cloud.kubectl("top", "pod", "web", kubeconfig=kubeconfig).stdout
    assert "850m" in out

