"""In-cluster access (client-go's InClusterConfig), as cloudcore uses it when `keadm
manifest` runs it in a pod with neither `kubeAPIConfig.kubeConfig` nor `master`: the API
from `KUBERNETES_SERVICE_HOST`/`PORT`, the CA and a service-account token from the mounted
directory, the token read again as the kubelet rotates it. Against the real API server
with real service-account tokens (`kubectl create token`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kubeedge.client import kubeconfig
from kubeedge.client.kubeconfig import KubeconfigError, load_in_cluster
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud import cloudcore
from kubeedge.config.cloudcore import CloudCoreConfig
from tests.fixtures.cluster import Cloud

SELF_REVIEWS = Resource.of("authentication.k8s.io/v1", "selfsubjectreviews", namespaced=False)


def _mount(cloud: Cloud, directory: Path, account: str) -> None:
    """What kubelet mounts for a pod of `account` in kube-system."""
    cloud.kubectl("create", "serviceaccount", account, "-n", "kube-system", check=False)
    token = cloud.kubectl("create", "token", account, "-n", "kube-system").stdout.strip()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(cloud.ca_file.read_bytes())
    (directory / "token").write_text(token)
    (directory / "namespace").write_text("kube-system")


async def _whoami(client: APIClient) -> str:
    review = await client.create(SELF_REVIEWS, {"apiVersion": "authentication.k8s.io/v1",
                                                "kind": "SelfSubjectReview"})
    return str(review["status"]["userInfo"]["username"])


async def test_a_pod_reaches_the_api_as_its_service_account_and_follows_rotation(
        cloud: Cloud, tmp_path: Path) -> None:
    mount = tmp_path / "serviceaccount"
    await asyncio.to_thread(_mount, cloud, mount, "cloudcore-a")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(cloud.port)}
    access = load_in_cluster(env, mount)
    assert access.server == f"https://127.0.0.1:{cloud.port}"
    assert access.namespace == "kube-system"
    async with APIClient(access) as client:
        assert await _whoami(client) == "system:serviceaccount:kube-system:cloudcore-a"
        # The kubelet swaps the file for a new token; it is used once the cached one is
        # a minute old, with no new client.
        await asyncio.to_thread(_mount, cloud, mount, "cloudcore-b")
        assert await _whoami(client) == "system:serviceaccount:kube-system:cloudcore-a"
        access.bearer_token(now=time.monotonic() + kubeconfig.TOKEN_FILE_REREAD_SECONDS)
        assert await _whoami(client) == "system:serviceaccount:kube-system:cloudcore-b"


def test_outside_a_pod_in_cluster_access_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="KUBERNETES_SERVICE_HOST and "
                                              "KUBERNETES_SERVICE_PORT must be defined"):
        load_in_cluster({}, tmp_path)
    with pytest.raises(KubeconfigError, match=r"ca\.crt"):
        load_in_cluster({"KUBERNETES_SERVICE_HOST": "10.96.0.1",
                         "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)


async def test_cloudcore_without_kubeconfig_or_master_uses_the_pods_account(
        cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "serviceaccount"
    await asyncio.to_thread(_mount, cloud, mount, "cloudcore-c")
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT_DIR", mount)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(cloud.port))
    config = CloudCoreConfig()
    config.kube_api_config.kube_config = ""
    async with cloudcore.api_client(config) as client:
        assert await _whoami(client) == "system:serviceaccount:kube-system:cloudcore-c"
