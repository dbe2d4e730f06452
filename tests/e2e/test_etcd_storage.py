"""`keadm init --storage etcd`: the same API, kept in a real etcd (issue: embedded
control plane, Starting it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.cluster import start_cloud
from tests.fixtures.etcd import running_etcd


def test_control_plane_on_etcd_keeps_objects_across_a_restart(tmp_path: Path) -> None:
    with running_etcd(tmp_path / "etcd") as etcd:
        cloud = start_cloud(tmp_path / "a", "--storage", "etcd", "--etcd-servers", etcd.endpoint)
        try:
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"},
                  "data": {"a": "1"}}
            cloud.kubectl("apply", "-f", "-", input=json.dumps(cm))
            watch_rv = cloud.kubectl_json("get", "configmap", "kept")["metadata"][
                "resourceVersion"]
            out = cloud.kubectl("get", "ns", "--no-headers").stdout
            assert {line.split()[0] for line in out.splitlines()} >= {
                "default", "kube-system", "kube-public", "kube-node-lease"}
        finally:
            cloud.stop()
        # A second control plane on the same etcd (and a fresh root) sees what the first
        # stored: the state lives in etcd, not under the root.
        again = start_cloud(tmp_path / "b", "--storage", "etcd", "--etcd-servers",
                            etcd.endpoint)
        try:
            kept = again.kubectl_json("get", "configmap", "kept")
            assert kept["data"] == {"a": "1"}
            assert kept["metadata"]["resourceVersion"] == watch_rv
        finally:
            again.stop()
