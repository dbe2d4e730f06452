"""Service accounts as kubectl users meet them: every namespace gets `default` and
`kube-root-ca.crt`; `kubectl create token` gives a bearer token the API server accepts
until it expires or its service account goes away."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubeedge.client import kubeconfig as kc
from tests.fixtures.cluster import Cloud, running_cloud, wait_until


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Tokens may be as short as one second here, so expiry is quick to see."""
    with running_cloud(tmp_path_factory.mktemp("sa"), service_account_min_token_seconds=1) as c:
        yield c


@pytest.fixture
def ns(cloud: Cloud) -> str:
    name = f"sa-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "namespace", name)
    return name


def _token_kubeconfig(cloud: Cloud, token: str) -> Path:
    path = cloud.home / f"token-{uuid.uuid4().hex[:6]}.kubeconfig"
    path.write_text(yaml.safe_dump(kc.render(cloud.server, cloud.ca_file.read_bytes(),
                                             user="sa", token=token)))
    return path


def _whoami(cloud: Cloud, kubeconfig: Path) -> tuple[int, str]:
    proc = cloud.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig, check=False)
    if proc.returncode != 0:
        return proc.returncode, proc.stderr
    return 0, json.loads(proc.stdout)["status"]["userInfo"]["username"]


def test_every_namespace_gets_a_default_account_and_the_root_ca(cloud: Cloud, ns: str) -> None:
    wait_until(lambda: cloud.kubectl("get", "sa", "default", "-n", ns,
                                     check=False).returncode == 0,
               what="the default ServiceAccount")
    wait_until(lambda: cloud.kubectl("get", "cm", "kube-root-ca.crt", "-n", ns,
                                     check=False).returncode == 0,
               what="the kube-root-ca.crt ConfigMap")
    cm = cloud.kubectl_json("get", "cm", "kube-root-ca.crt", "-n", ns)
    assert cm["data"]["ca.crt"] == cloud.ca_file.read_text()
    # A deleted default account comes back.
    cloud.kubectl("delete", "sa", "default", "-n", ns)
    wait_until(lambda: cloud.kubectl("get", "sa", "default", "-n", ns,
                                     check=False).returncode == 0,
               what="the default ServiceAccount to be recreated")


def test_created_token_authenticates_as_the_service_account(cloud: Cloud, ns: str) -> None:
    wait_until(lambda: cloud.kubectl("get", "sa", "default", "-n", ns,
                                     check=False).returncode == 0, what="default account")
    token = cloud.kubectl("create", "token", "default", "-n", ns, "--duration=10m").stdout
    kubeconfig = _token_kubeconfig(cloud, token.strip())
    assert _whoami(cloud, kubeconfig) == (0, f"system:serviceaccount:{ns}:default")
    # Its permissions are its own: by default a service account may read nothing.
    proc = cloud.kubectl("get", "pods", "-n", ns, kubeconfig=kubeconfig, check=False)
    assert proc.returncode != 0 and "Forbidden" in proc.stderr
    # Deleting the account revokes the token.
    cloud.kubectl("delete", "sa", "default", "-n", ns)
    code, err = _whoami(cloud, kubeconfig)
    assert code != 0 and "Unauthorized" in err


def test_token_stops_working_when_it_expires(cloud: Cloud, ns: str) -> None:
    wait_until(lambda: cloud.kubectl("get", "sa", "default", "-n", ns,
                                     check=False).returncode == 0, what="default account")
    issued = time.monotonic()
    token = cloud.kubectl("create", "token", "default", "-n", ns, "--duration=3s").stdout
    kubeconfig = _token_kubeconfig(cloud, token.strip())
    code, who = _whoami(cloud, kubeconfig)
    if time.monotonic() - issued < 2:
        assert (code, who) == (0, f"system:serviceaccount:{ns}:default")
    wait_until(lambda: _whoami(cloud, kubeconfig)[0] != 0, timeout=30,
               what="the token to expire")
    assert time.monotonic() - issued >= 2
    assert "Unauthorized" in _whoami(cloud, kubeconfig)[1]


def test_a_token_shorter_than_the_minimum_is_refused(tmp_path: Path) -> None:
    with running_cloud(tmp_path) as cloud:
        wait_until(lambda: cloud.kubectl("get", "sa", "default", "-n", "default",
                                         check=False).returncode == 0, what="default account")
        proc = cloud.kubectl("create", "token", "default", "-n", "default", "--duration=5m",
                             check=False)
        assert proc.returncode != 0
        assert "may not specify a duration less than 10 minutes" in proc.stderr
