"""`keadm manifest` against a real API server (issue 6): every document it prints is
accepted by `kubectl apply --dry-run=server` and then created by a real apply;
`--skip-crds` leaves the CRDs out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from kubeedge.cloud.synccontroller import crds as reliablesyncs
from tests.fixtures.cluster import Cloud, keadm, running_cloud

pytestmark = pytest.mark.kubectl

KINDS = ["Namespace", "CustomResourceDefinition", "CustomResourceDefinition",
         "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Service",
         "Deployment"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("manifest"), controllers=()) as c:
        yield c


def _manifest(*args: str) -> tuple[str, list[dict]]:
    text = keadm("manifest", "--advertise-address=127.0.0.1", *args).stdout
    return text, [d for d in yaml.safe_load_all(text) if d is not None]


def test_every_document_is_accepted_then_created(cloud: Cloud) -> None:
    text, docs = _manifest("--set", "cloudCore.image.tag=v9.9.9",
                           "--set", "cloudCore.modules.cloudHub.nodeLimit=1000")
    assert [d["kind"] for d in docs] == KINDS
    crd_names = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert crd_names == {c["metadata"]["name"] for c in reliablesyncs.CRDS}

    dry = cloud.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert dry.stdout.count("(server dry run)") == len(docs), dry.stdout
    assert cloud.kubectl("get", "configmap", "cloudcore", "-n", "kubeedge",
                         check=False).returncode != 0  # a dry run writes nothing

    cloud.kubectl("apply", "-f", "-", input=text)
    deployment = cloud.kubectl_json("get", "deployment", "cloudcore", "-n", "kubeedge")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubeedge-py/cloudcore:v9.9.9"
    assert container["command"][0] == "cloudcore"
    service = cloud.kubectl_json("get", "service", "cloudcore", "-n", "kubeedge")
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [10000, 10001, 10002,
                                                                   10003, 10004]
    config = yaml.safe_load(cloud.kubectl_json(
        "get", "configmap", "cloudcore", "-n", "kubeedge")["data"]["cloudcore.yaml"])
    hub = config["modules"]["cloudHub"]
    assert hub["nodeLimit"] == 1000 and hub["advertiseAddress"] == ["127.0.0.1"]
    assert config["modules"]["controllerManager"]["enable"] is False
    assert config["kubeAPIConfig"]["kubeConfig"] == ""
    binding = cloud.kubectl_json("get", "clusterrolebinding", "cloudcore")
    [subject] = binding["subjects"]
    assert (subject["kind"], subject["name"], subject["namespace"]) == (
        "ServiceAccount", "cloudcore", "kubeedge")
    # The ClusterRole grants what it says: the ServiceAccount may read cloudcore's
    # Secrets and impersonate nodes, and nothing like deleting namespaces.
    sa = "system:serviceaccount:kubeedge:cloudcore"
    for verb, resource, expected in (("get", "secrets", "yes"),
                                     ("impersonate", "groups/system:nodes", "yes"),
                                     ("update", "objectsyncs.reliablesyncs.kubeedge.io/status",
                                      "yes"),
                                     ("delete", "namespaces", "no"),
                                     ("impersonate", "groups/system:masters", "no")):
        answer = cloud.kubectl("auth", "can-i", verb, resource, "-n", "kubeedge",
                               f"--as={sa}", check=False).stdout.strip()
        assert answer == expected, (verb, resource, answer)


def test_skip_crds_leaves_the_crds_out(cloud: Cloud) -> None:
    _, docs = _manifest("--skip-crds")
    kinds = [d["kind"] for d in docs]
    assert "CustomResourceDefinition" not in kinds
    assert kinds == [k for k in KINDS if k != "CustomResourceDefinition"]


def test_the_cluster_role_is_enough_for_cloudcore(cloud: Cloud, tmp_path) -> None:
    """cloudcore as the manifest's ServiceAccount (its token, the manifest's RBAC) starts,
    serves the certificates and CloudHub, and brings an edge to Ready."""
    import json

    from kubeedge.client import kubeconfig
    from tests.fixtures.cluster import free_ports, wait_until

    text, _ = _manifest("--skip-crds")
    cloud.kubectl("apply", "-f", "-", input=text)
    token = cloud.kubectl("create", "token", "cloudcore", "-n", "kubeedge").stdout.strip()
    sa_config = tmp_path / "cloudcore-sa.kubeconfig"
    kubeconfig.write(sa_config, kubeconfig.render(
        cloud.server, cloud.ca_file.read_bytes(), user="cloudcore", token=token))
    root, edge_root = tmp_path / "cc", tmp_path / "edge"
    hub_port, cert_port = free_ports(2)
    sets = [f"modules.cloudHub.websocket.port={hub_port}",
            "modules.cloudHub.websocket.address=127.0.0.1",
            f"modules.cloudHub.https.port={cert_port}",
            "modules.cloudHub.https.address=127.0.0.1"]
    try:
        keadm("init", "--kube-config", str(sa_config), "--root", str(root),
              "--advertise-address", "127.0.0.1", *[a for s in sets for a in ("--set", s)])
        join_token = keadm("gettoken", "--root", str(root)).stdout.strip()
        joined = keadm("join", f"--cloudcore-ipport=127.0.0.1:{hub_port}",
                       f"--certport={cert_port}", f"--token={join_token}",
                       "--edgenode-name=edge-sa", "--root", str(edge_root),
                       "--set", "modules.edgeHub.heartbeat=1",
                       "--set", "modules.edged.detectNvidiaGPUs=false",
                       "--set",
                       "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency=1s",
                       "--timeout", "30", check=False, timeout=60)
        assert joined.returncode == 0, joined.stdout + joined.stderr

        def ready() -> bool:
            node = cloud.kubectl("get", "node", "edge-sa", "-o", "json", check=False)
            conditions = (json.loads(node.stdout).get("status", {}).get("conditions")
                          if node.returncode == 0 else None) or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait_until(ready, 15, "edge-sa Ready through the ServiceAccount's cloudcore")
        keadm("reset", "edge", "--root", str(edge_root), "--force")
        wait_until(lambda: cloud.kubectl("get", "node", "edge-sa", check=False
                                         ).returncode != 0, 10, "edge-sa's Node deleted")
        log = (root / "var/log/kubeedge/cloudcore.log").read_text()
        assert "forbidden" not in log.lower(), log[-3000:]
    finally:
        keadm("reset", "edge", "--root", str(edge_root), "--force", check=False)
        keadm("reset", "--root", str(root), "--force", check=False)
