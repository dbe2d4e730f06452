"""The :10002 certificate service in-process against a real API server process
(specs/kubeedge.md §4): Secrets made once and reused, readable by admins only; `/ca.crt`;
`/edge.crt` by token and by the node's own client certificate; refusals; `/node/{name}`;
and the edge's bootstrap and rotation helpers over real HTTPS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.certs.authority import CertificateAuthority, cert_identity
from kubeedge.cloud.certs.edge_ca import (
    CA_DATA,
    CA_SECRET,
    CLOUDCORE_SECRET,
    NAMESPACE,
    TOKEN_DATA,
    TOKEN_SECRET,
    create_kubeedge_ca,
)
from kubeedge.cloud.certs.server import CertModule, CertServiceSettings
from kubeedge.cloud.certs.token import create_token, split_token
from kubeedge.cloud.synccontroller.crds import CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS
from kubeedge.edge import certs as edge
from tests.fixtures.cluster import Cloud, running_cloud

SECRETS = Resource.of("v1", "secrets")
NODES = Resource.of("v1", "nodes")
LEASES = Resource.of("coordination.k8s.io/v1", "leases")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("certs"), controllers=()) as c:
        yield c


@pytest.fixture
async def admin(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


async def _start(admin: APIClient) -> CertModule:
    module = CertModule(admin, CertServiceSettings(address="127.0.0.1", port=0,
                                                   advertise_address=("127.0.0.1",)))
    await module.start()
    return module


@pytest.fixture
async def service(admin: APIClient) -> AsyncIterator[CertModule]:
    module = await _start(admin)
    try:
        yield module
    finally:
        await module.stop()


def _url(module: CertModule, path: str = "") -> str:
    return f"https://127.0.0.1:{module.port}{path}"


def _ca(module: CertModule) -> CertificateAuthority:
    assert module.certs is not None
    return module.certs.ca


def _tls(module: CertModule, cert: Path | None = None, key: Path | None = None
         ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=_ca(module).cert_pem.decode())
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


async def _get(module: CertModule, path: str, *, body: bytes | None = None,
               headers: dict[str, str] | None = None, cert: Path | None = None,
               key: Path | None = None) -> tuple[int, bytes]:
    connector = aiohttp.TCPConnector(ssl=_tls(module, cert, key))
    async with aiohttp.ClientSession(connector=connector) as session, session.get(
            _url(module, path), data=body, headers=headers or {}) as resp:
        return resp.status, await resp.read()


async def _token(admin: APIClient) -> str:
    secret = await admin.get(SECRETS, TOKEN_SECRET, NAMESPACE)
    return base64.b64decode(secret["data"][TOKEN_DATA]).decode()


def _node() -> str:
    return f"edge-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- Secrets


async def test_secrets_are_made_once_and_reused_across_restarts(admin: APIClient) -> None:
    first = await _start(admin)
    await first.stop()
    before = {name: (await admin.get(SECRETS, name, NAMESPACE))["metadata"]
              for name in (CA_SECRET, CLOUDCORE_SECRET)}
    second = await _start(admin)
    try:
        assert _ca(second).fingerprint == _ca(first).fingerprint
        assert second.certs is not None and first.certs is not None
        assert second.certs.serving.cert_der == first.certs.serving.cert_der
        for name, meta in before.items():
            now = (await admin.get(SECRETS, name, NAMESPACE))["metadata"]
            assert (now["uid"], now["resourceVersion"]) == (meta["uid"], meta["resourceVersion"])
        ca_secret = await admin.get(SECRETS, CA_SECRET, NAMESPACE)
        assert base64.b64decode(ca_secret["data"][CA_DATA]) == _ca(second).cert_der
        token = await _token(admin)
        assert split_token(token)[0] == hashlib.sha256(_ca(second).cert_der).hexdigest()
        assert token == second.refresher.current  # type: ignore[union-attr]
    finally:
        await second.stop()


async def test_kubeedge_secrets_are_not_readable_by_nodes_or_service_accounts(
    cloud: Cloud, service: CertModule
) -> None:
    node = cloud.user_kubeconfig("system:node:edge-rbac", groups=("system:nodes",))
    robot = cloud.user_kubeconfig(
        "system:serviceaccount:default:robot", token=f"tok-{uuid.uuid4().hex}",
        groups=("system:serviceaccounts", "system:serviceaccounts:default"))
    for kubeconfig in (node, robot):
        async with APIClient(kubeconfig) as client:
            for name in (CA_SECRET, CLOUDCORE_SECRET, TOKEN_SECRET):
                with pytest.raises(APIError) as err:
                    await client.get(SECRETS, name, NAMESPACE)
                assert err.value.code == 403, (kubeconfig, name)
            with pytest.raises(APIError) as err:
                await client.list(SECRETS, NAMESPACE)
            assert err.value.code == 403


# --------------------------------------------------------------------------- HTTPS


async def test_ca_crt_is_the_ca_der(service: CertModule) -> None:
    status, body = await _get(service, "/ca.crt")
    assert status == 200
    assert body == _ca(service).cert_der


async def test_edge_crt_with_the_token_signs_for_the_node(admin: APIClient,
                                                          service: CertModule) -> None:
    node = _node()
    bearer = split_token(await _token(admin))[1]
    _, csr = edge.make_key_and_csr(node)
    status, body = await _get(service, "/edge.crt", body=csr,
                              headers={"NodeName": node, "Authorization": f"Bearer {bearer}"})
    assert status == 200, body
    cert = x509.load_der_x509_certificate(body)
    cert.verify_directly_issued_by(_ca(service).certificate)
    assert cert_identity(cert) == (f"system:node:{node}", ("system:nodes",))
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 365 <= lifetime.days <= 366


async def test_bad_expired_or_missing_tokens_get_401(admin: APIClient,
                                                     service: CertModule) -> None:
    node = _node()
    _, csr = edge.make_key_and_csr(node)
    ca = _ca(service)
    expired = split_token(create_token(ca.cert_der, ca.key_der, now=time.time() - 3 * 86400))[1]
    good = split_token(await _token(admin))[1]
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for headers, detail in (
        ({"Authorization": f"Bearer {expired}"}, "token is expired"),
        ({"Authorization": f"Bearer {forged}"}, "signature"),
        ({"Authorization": "Bearer nonsense"}, "malformed"),
        ({}, "token is empty"),
    ):
        status, body = await _get(service, "/edge.crt", body=csr,
                                  headers={"NodeName": node, **headers})
        text = body.decode()
        assert status == 401, (headers, text)
        assert text.startswith("token validation failure"), text
        assert detail in text


async def test_node_certificates_rotate_over_mtls_but_not_across_nodes(
    admin: APIClient, service: CertModule, tmp_path: Path
) -> None:
    node_a, node_b = _node(), _node()
    bearer = split_token(await _token(admin))[1]
    key_pem, csr = edge.make_key_and_csr(node_a)
    status, cert_der = await _get(service, "/edge.crt", body=csr, headers={
        "NodeName": node_a, "Authorization": f"Bearer {bearer}"})
    assert status == 200
    cert_file, key_file = tmp_path / "a.crt", tmp_path / "a.key"
    cert_file.write_bytes(x509.load_der_x509_certificate(cert_der).public_bytes(
        serialization.Encoding.PEM))
    key_file.write_bytes(key_pem)

    # Node A's certificate asking for node B: refused, token or not.
    _, csr_b = edge.make_key_and_csr(node_b)
    status, body = await _get(service, "/edge.crt", body=csr_b, cert=cert_file, key=key_file,
                              headers={"NodeName": node_b, "Authorization": f"Bearer {bearer}"})
    assert status == 403
    assert "request node name is not match with the certificate" in body.decode()
    # Nor may A's certificate get a certificate naming B while claiming to be A.
    status, body = await _get(service, "/edge.crt", body=csr_b, cert=cert_file, key=key_file,
                              headers={"NodeName": node_a})
    assert status == 403 and f"system:node:{node_a}" in body.decode()

    # A certificate for A from another CA: the handshake (or the handler) refuses it.
    foreign = create_kubeedge_ca().issue_client_cert(f"system:node:{node_a}", ["system:nodes"])
    foreign.write(tmp_path / "f.crt", tmp_path / "f.key")
    try:
        status, body = await _get(service, "/edge.crt", body=csr, cert=tmp_path / "f.crt",
                                  key=tmp_path / "f.key", headers={"NodeName": node_a})
    except aiohttp.ClientError:
        pass
    else:
        assert status == 401, body

    # Node A renewing with its own certificate and no token: a new certificate.
    _, csr_a2 = edge.make_key_and_csr(node_a)
    status, renewed = await _get(service, "/edge.crt", body=csr_a2, cert=cert_file,
                                 key=key_file, headers={"NodeName": node_a})
    assert status == 200, renewed
    new = x509.load_der_x509_certificate(renewed)
    assert cert_identity(new) == (f"system:node:{node_a}", ("system:nodes",))
    assert new.serial_number != x509.load_der_x509_certificate(cert_der).serial_number
    assert new.public_key().public_numbers() == x509.load_der_x509_csr(
        csr_a2).public_key().public_numbers()


async def test_requests_are_bounded_and_checked(admin: APIClient, service: CertModule) -> None:
    bearer = split_token(await _token(admin))[1]
    auth = {"Authorization": f"Bearer {bearer}"}
    status, body = await _get(service, "/edge.crt", body=b"x" * (2 << 20),
                              headers={"NodeName": "edge-big", **auth})
    assert status == 413
    status, body = await _get(service, "/edge.crt", body=b"junk",
                              headers={"NodeName": "edge-x", **auth})
    assert status == 400
    status, body = await _get(service, "/edge.crt", body=b"junk", headers=auth)
    assert status == 400 and "NodeName" in body.decode()
    status, body = await _get(service, "/edge.crt", body=b"junk",
                              headers={"NodeName": "Bad_Name", **auth})
    assert status == 400


async def test_concurrent_requests_each_get_their_own_certificate(
    admin: APIClient, service: CertModule
) -> None:
    bearer = split_token(await _token(admin))[1]
    nodes = [_node() for _ in range(16)]

    async def one(node: str) -> x509.Certificate:
        _, csr = edge.make_key_and_csr(node)
        status, body = await _get(service, "/edge.crt", body=csr, headers={
            "NodeName": node, "Authorization": f"Bearer {bearer}"})
        assert status == 200, body
        return x509.load_der_x509_certificate(body)

    certs = await asyncio.gather(*(one(n) for n in nodes))
    assert [cert_identity(c)[0] for c in certs] == [f"system:node:{n}" for n in nodes]
    assert len({c.serial_number for c in certs}) == len(nodes)


async def test_node_route_says_whether_the_node_exists(admin: APIClient,
                                                       service: CertModule) -> None:
    name = _node()
    await admin.create(NODES, {"metadata": {"name": name}})
    try:
        assert await _get(service, f"/node/{name}") == (200, b"Node found")
        assert await _get(service, f"/node/{_node()}") == (404, b"Node not found")
    finally:
        await admin.delete(NODES, name)


# --------------------------------------------------------------------------- the edge


async def test_edge_bootstrap_writes_0600_files_and_rotates(
    admin: APIClient, service: CertModule, tmp_path: Path
) -> None:
    node = _node()
    paths = edge.EdgeCertPaths.for_root(tmp_path / "edge")
    token = await _token(admin)
    der = await asyncio.to_thread(edge.bootstrap, paths, node, token, _url(service))
    for path in (paths.cert, paths.key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert x509.load_pem_x509_certificate(paths.ca.read_bytes()) == _ca(service).certificate
    current = edge.current_certificate(paths, node)
    assert current is not None
    assert current.public_bytes(serialization.Encoding.DER) == der
    assert paths.key.read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")

    old_key = paths.key.read_bytes()
    renewed = await asyncio.to_thread(edge.rotate, paths, node, _url(service))
    assert renewed != der and paths.key.read_bytes() != old_key
    assert edge.current_certificate(paths, node) is not None
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600


async def test_edge_bootstrap_refusals_leave_no_files(
    admin: APIClient, service: CertModule, tmp_path: Path
) -> None:
    node = _node()
    root = tmp_path / "edge"
    paths = edge.EdgeCertPaths.for_root(root)
    bearer = split_token(await _token(admin))[1]
    with pytest.raises(edge.BootstrapError, match=r"^failed to validate CA certificate"):
        await asyncio.to_thread(edge.bootstrap, paths, node, "0" * 64 + "." + bearer,
                                _url(service))
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))

    ca = _ca(service)
    expired = create_token(ca.cert_der, ca.key_der, now=time.time() - 3 * 86400)
    with pytest.raises(edge.BootstrapError, match=r"code: 401.*token validation failure"):
        await asyncio.to_thread(edge.bootstrap, paths, node, expired, _url(service))
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))
    # Nor anything in the API for the node (issue 6: no Node, Lease or ObjectSync).
    assert await _api_objects_of(admin, node) == []


async def _api_objects_of(admin: APIClient, node: str) -> list[str]:
    found = []
    for ref, namespace in ((NODES, None), (LEASES, "kube-node-lease")):
        try:
            await admin.get(ref, node, namespace)
            found.append(f"{ref.plural}/{node}")
        except APIError as exc:
            assert exc.code == 404, exc
    for ref in (OBJECT_SYNCS, CLUSTER_OBJECT_SYNCS):
        items = (await admin.list(ref)).get("items") or []
        found += [f"{ref.plural}/{item['metadata']['name']}" for item in items
                  if item["metadata"]["name"].startswith(f"{node}.")]
    return found
