"""`keadm debug check` against a real cloud on loopback (issue 6): each common join
failure is named with its fix and makes the command exit 1, and a good setup passes.

One `running_cloud` serves every test: cloudcore's CloudHub and certificate service on
free ports, its serving certificate for 127.0.0.1 only (`advertiseAddress`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge.cloud.certs.token import create_token
from tests.fixtures.cluster import Cloud, free_port, keadm, running_cloud

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("debug-check"), controllers=()) as c:
        yield c


@pytest.fixture(scope="module")
def token(cloud: Cloud) -> str:
    return keadm("gettoken", "--root", str(cloud.root)).stdout.strip()


def _check(cloud: Cloud, token: str, *extra: str, hub: str = "",
           cert_port: int = 0) -> subprocess.CompletedProcess[str]:
    return keadm("debug", "check", "join",
                 f"--cloudcore-ipport={hub or cloud.hub_server}",
                 f"--certport={cert_port or cloud.cert_port}", f"--token={token}",
                 "--timeout", "2", *extra, check=False)


def _lines(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """check name -> its status line ("PASS"/"FAIL"/"SKIP" and the detail)."""
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("[") and "] " in line:
            status, rest = line[1:].split("] ", 1)
            name, _, detail = rest.partition(": ")
            out[name] = f"{status} {detail}"
    return out


def test_a_good_setup_passes_every_join_check(cloud: Cloud, token: str) -> None:
    proc = _check(cloud, token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _lines(proc)
    assert set(lines) == {"cloudhub-port", "cert-port", "token", "clock", "ca-hash",
                          "cert-sans"}
    assert all(v.startswith("PASS") for v in lines.values()), lines
    assert "127.0.0.1" in lines["cert-sans"] and "signed by the CA" in lines["cert-sans"]


def test_a_closed_port_fails_with_what_to_open(cloud: Cloud, token: str) -> None:
    proc = _check(cloud, token, hub=f"127.0.0.1:{free_port()}")
    assert proc.returncode == 1
    lines = _lines(proc)
    assert lines["cloudhub-port"].startswith("FAIL") and "refused" in lines["cloudhub-port"]
    assert lines["cert-sans"].startswith("SKIP")
    assert lines["cert-port"].startswith("PASS")  # the other port still answers
    assert "fix: start cloudcore" in proc.stdout
    assert "1 check(s) failed: cloudhub-port" in proc.stdout


def test_an_expired_token_fails_naming_when_it_expired(cloud: Cloud, token: str) -> None:
    secret = cloud.kubectl_json("get", "secret", "casecret", "-n", "kubeedge")
    ca_der = base64.b64decode(secret["data"]["cadata"])
    ca_key = base64.b64decode(secret["data"]["cakeydata"])
    expired = create_token(ca_der, ca_key, dt.timedelta(hours=1), now=time.time() - 7200)
    assert expired.split(".")[0] == token.split(".")[0]  # same CA: only `exp` differs
    proc = _check(cloud, expired)
    assert proc.returncode == 1
    lines = _lines(proc)
    assert lines["token"].startswith("FAIL expired at"), lines
    assert "keadm gettoken" in proc.stdout
    assert lines["ca-hash"].startswith("PASS")


def test_a_token_of_another_cloud_fails_the_ca_hash(cloud: Cloud, token: str) -> None:
    _, jwt = token.split(".", 1)
    foreign = f"{'ab' * 32}.{jwt}"
    proc = _check(cloud, foreign)
    assert proc.returncode == 1
    assert _lines(proc)["ca-hash"].startswith("FAIL failed to validate CA certificate")


def test_a_skewed_clock_fails(cloud: Cloud, token: str) -> None:
    ahead = str(time.time() + 90)
    proc = _check(cloud, token, "--now", ahead)
    assert proc.returncode == 1
    assert "(--now)" in proc.stdout  # never silently: the output says the clock is not real
    line = _lines(proc)["clock"]
    assert line.startswith("FAIL this host is ") and "ahead of the cloud" in line, line
    # 90 s less the time keadm took to start (the given clock starts with the command).
    assert 60 < float(line.split()[4]) <= 91, line
    assert "fix: synchronise" in proc.stdout
    # The same skew within a wider limit passes.
    wide = _check(cloud, token, "--now", str(time.time() + 90), "--max-clock-skew", "120")
    assert _lines(wide)["clock"].startswith("PASS"), wide.stdout


def test_an_address_the_certificate_does_not_name_fails(cloud: Cloud, token: str) -> None:
    # cloudcore's certificate names its advertiseAddress, 127.0.0.1, and not `localhost`.
    proc = _check(cloud, token, hub=f"localhost:{cloud.hub_port}")
    assert proc.returncode == 1
    line = _lines(proc)["cert-sans"]
    assert line.startswith("FAIL CloudHub's certificate is not valid for localhost"), line
    assert "127.0.0.1" in line
    assert "dnsNames" in proc.stdout


def test_a_joined_edge_is_checked_from_its_edgecore_yaml(cloud: Cloud, token: str,
                                                         tmp_path: Path) -> None:
    from kubeedge.cloud import setup_edge

    flags = setup_edge.JoinFlags(cloudcore_ipport=cloud.hub_server, token=token,
                                 root=str(tmp_path), edgenode_name="checked",
                                 certport=cloud.cert_port)
    setup_edge.write_config(setup_edge.join_config(flags))
    proc = keadm("debug", "check", "join", "--root", str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "edgecore.yaml" in proc.stdout
    assert json.dumps(sorted(_lines(proc))) == json.dumps(sorted(
        ["ca-hash", "cert-port", "cert-sans", "clock", "cloudhub-port", "token"]))
