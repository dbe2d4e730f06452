"""KubeEdge's CA, CloudCore's serving certificate and their Secrets (specs/kubeedge.md §4),
the :10002 signing checks, and the edge's pure bootstrap and rotation helpers."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import ipaddress
import itertools
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge.client.errors import APIError
from kubeedge.cloud.certs.authority import CertificateAuthority, cert_identity
from kubeedge.cloud.certs.edge_ca import (
    CA_DATA,
    CA_KEY_DATA,
    CA_SECRET,
    CLOUDCORE_CERT_DATA,
    CLOUDCORE_KEY_DATA,
    CLOUDCORE_SECRET,
    KUBEEDGE_CA_VALIDITY,
    NAMESPACE,
    EdgeCertificates,
    EdgeCertificatesError,
    create_kubeedge_ca,
    issue_cloudcore_cert,
    missing_sans,
)
from kubeedge.cloud.certs.server import (
    CertService,
    CertServiceSettings,
    RequestRefused,
    parse_ext_key_usages,
)
from kubeedge.config.apiserver import ConfigError
from kubeedge.edge import certs as edge

# --------------------------------------------------------------------------- a fake API


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "code": code, "reason": reason, "message": message}


class FakeSecretsAPI:
    """Namespaces and Secrets in memory with the API server's create/update/conflict
    answers; `on_create` runs just before a create lands (to stage a race)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = itertools.count(1)
        self.creates: list[str] = []
        self.updates: list[str] = []
        self.on_create: Any = None
        self.fail_writes = 0

    def _key(self, ref: Any, name: str, namespace: str | None) -> tuple[str, str, str]:
        return (ref.plural, namespace or "", name)

    async def get(self, ref: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        obj = self.objects.get(self._key(ref, name, namespace))
        if obj is None:
            raise APIError(_status(404, "NotFound", f'{ref.plural} "{name}" not found'))
        return copy.deepcopy(obj)

    async def create(self, ref: Any, obj: dict[str, Any], namespace: str | None = None
                     ) -> dict[str, Any]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise APIError(_status(503, "ServiceUnavailable", "try later"))
        name = obj["metadata"]["name"]
        if self.on_create is not None:
            await self.on_create(ref, name, namespace)
        key = self._key(ref, name, namespace)
        if key in self.objects:
            raise APIError(_status(409, "AlreadyExists", f'{ref.plural} "{name}" already exists'))
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self.rv))
        stored["metadata"]["uid"] = f"uid-{name}-{stored['metadata']['resourceVersion']}"
        self.objects[key] = stored
        self.creates.append(name)
        return copy.deepcopy(stored)

    async def update(self, ref: Any, obj: dict[str, Any], namespace: str | None = None
                     ) -> dict[str, Any]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise APIError(_status(503, "ServiceUnavailable", "try later"))
        name = obj["metadata"]["name"]
        key = self._key(ref, name, namespace)
        current = self.objects.get(key)
        if current is None:
            raise APIError(_status(404, "NotFound", "gone"))
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise APIError(_status(409, "Conflict", "the object has been modified"))
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self.rv))
        self.objects[key] = stored
        self.updates.append(name)
        return copy.deepcopy(stored)

    def secret(self, name: str) -> dict[str, Any]:
        return self.objects[("secrets", NAMESPACE, name)]

    def secret_data(self, name: str, key: str) -> bytes:
        return base64.b64decode(self.secret(name)["data"][key])


@pytest.fixture(scope="module")
def kubeedge_ca() -> CertificateAuthority:
    return create_kubeedge_ca()


# --------------------------------------------------------------------------- the CA


def test_ca_has_kubeedge_subject_validity_and_usages(kubeedge_ca: CertificateAuthority) -> None:
    cert = kubeedge_ca.certificate
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "KubeEdge"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert KUBEEDGE_CA_VALIDITY <= lifetime <= KUBEEDGE_CA_VALIDITY + dt.timedelta(minutes=10)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.digital_signature and usage.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    # The key is stored (and keys the token) as SEC 1 DER, Go's MarshalECPrivateKey.
    again = serialization.load_der_private_key(kubeedge_ca.key_der, None)
    assert again.private_numbers() == kubeedge_ca.private_key.private_numbers()


def test_two_cas_differ(kubeedge_ca: CertificateAuthority) -> None:
    other = create_kubeedge_ca()
    assert other.fingerprint != kubeedge_ca.fingerprint


def test_cloudcore_cert_names_every_advertised_address(
    kubeedge_ca: CertificateAuthority,
) -> None:
    pair = issue_cloudcore_cert(kubeedge_ca, ["10.0.0.5", "::1"], ["cloud.example"])
    cert = pair.certificate
    assert cert_identity(cert) == ("KubeEdge", ("KubeEdge",))
    cert.verify_directly_issued_by(kubeedge_ca.certificate)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("::1")}
    assert sans.get_values_for_type(x509.DNSName) == ["cloud.example"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > dt.timedelta(days=364 * 99)
    assert missing_sans(cert, ["10.0.0.5"], ["CLOUD.example"]) == []
    assert missing_sans(cert, ["10.0.0.6"], ["other.example"]) == ["10.0.0.6", "other.example"]


def test_host_name_in_advertise_address_is_refused_with_the_field(
    kubeedge_ca: CertificateAuthority,
) -> None:
    with pytest.raises(EdgeCertificatesError, match=r"advertiseAddress\[1\]: 'cloud.example'"):
        issue_cloudcore_cert(kubeedge_ca, ["10.0.0.5", "cloud.example"])
    with pytest.raises(EdgeCertificatesError, match="Required value"):
        issue_cloudcore_cert(kubeedge_ca, [])


# --------------------------------------------------------------------------- Secrets


async def test_secrets_are_created_once_with_kubeedge_keys_and_reused() -> None:
    api = FakeSecretsAPI()
    first = await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    assert ("namespaces", "", NAMESPACE) in api.objects
    assert api.secret_data(CA_SECRET, CA_DATA) == first.ca_der
    assert api.secret_data(CA_SECRET, CA_KEY_DATA) == first.ca_key_der
    assert api.secret_data(CLOUDCORE_SECRET, CLOUDCORE_CERT_DATA) == first.serving.cert_der
    assert api.secret_data(CLOUDCORE_SECRET, CLOUDCORE_KEY_DATA) == first.serving.key_der
    assert api.secret(CA_SECRET)["type"] == "Opaque"
    before = copy.deepcopy(api.objects)

    # A restart, even with other addresses configured, reuses both and writes nothing.
    second = await EdgeCertificates.load_or_create(api, ["10.1.1.1"])  # type: ignore[arg-type]
    assert second.ca.fingerprint == first.ca.fingerprint
    assert second.serving.cert_der == first.serving.cert_der
    assert api.objects == before
    assert api.updates == []


async def test_a_replica_that_loses_the_create_race_uses_the_winners_ca() -> None:
    api = FakeSecretsAPI()
    winner = create_kubeedge_ca()

    async def other_replica_creates_first(ref: Any, name: str, namespace: str | None) -> None:
        if name == CA_SECRET:
            api.on_create = None
            api.objects[("secrets", NAMESPACE, CA_SECRET)] = {
                "metadata": {"name": CA_SECRET, "namespace": NAMESPACE, "resourceVersion": "99"},
                "data": {CA_DATA: base64.b64encode(winner.cert_der).decode(),
                         CA_KEY_DATA: base64.b64encode(winner.key_der).decode()},
            }

    api.on_create = other_replica_creates_first
    certs = await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    assert certs.ca.fingerprint == winner.fingerprint
    certs.serving.certificate.verify_directly_issued_by(winner.certificate)


async def test_a_corrupt_ca_secret_is_reported_not_replaced() -> None:
    api = FakeSecretsAPI()
    await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    api.secret(CA_SECRET)["data"][CA_KEY_DATA] = base64.b64encode(b"garbage").decode()
    before = copy.deepcopy(api.objects)
    with pytest.raises(EdgeCertificatesError, match="Secret kubeedge/casecret"):
        await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    assert api.objects == before


async def test_a_serving_cert_from_another_ca_is_reissued() -> None:
    api = FakeSecretsAPI()
    first = await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    foreign = issue_cloudcore_cert(create_kubeedge_ca(), ["127.0.0.1"])
    api.secret(CLOUDCORE_SECRET)["data"] = {
        CLOUDCORE_CERT_DATA: base64.b64encode(foreign.cert_der).decode(),
        CLOUDCORE_KEY_DATA: base64.b64encode(foreign.key_der).decode(),
    }
    again = await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    assert again.ca.fingerprint == first.ca.fingerprint
    again.serving.certificate.verify_directly_issued_by(first.ca.certificate)
    assert api.secret_data(CLOUDCORE_SECRET, CLOUDCORE_CERT_DATA) == again.serving.cert_der


async def test_local_pem_files_override_and_are_saved_to_the_secret(tmp_path: Path) -> None:
    from kubeedge.cloud.certs.edge_ca import LocalFiles

    api = FakeSecretsAPI()
    await EdgeCertificates.load_or_create(api, ["127.0.0.1"])  # type: ignore[arg-type]
    mine = create_kubeedge_ca()
    mine.write(tmp_path / "rootCA.crt", tmp_path / "rootCA.key")
    local = LocalFiles(ca_cert=tmp_path / "rootCA.crt", ca_key=tmp_path / "rootCA.key")
    certs = await EdgeCertificates.load_or_create(api, ["127.0.0.1"], local=local)  # type: ignore[arg-type]
    assert certs.ca.fingerprint == mine.fingerprint
    assert api.secret_data(CA_SECRET, CA_DATA) == mine.cert_der
    # The serving certificate in the Secret came from the old CA: issued anew by this one.
    certs.serving.certificate.verify_directly_issued_by(mine.certificate)
    (tmp_path / "rootCA.key").unlink()
    with pytest.raises(EdgeCertificatesError, match=r"rootCA\.key is missing"):
        await EdgeCertificates.load_or_create(api, ["127.0.0.1"], local=local)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- signing


@pytest.fixture(scope="module")
def service(kubeedge_ca: CertificateAuthority) -> CertService:
    certs = EdgeCertificates(kubeedge_ca, issue_cloudcore_cert(kubeedge_ca, ["127.0.0.1"]))
    return CertService(certs, None, CertServiceSettings(edge_cert_validity=dt.timedelta(days=7)))


def _csr(cn: str, orgs: tuple[str, ...] = ("system:nodes",)) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def test_edge_csr_is_signed_as_the_node_with_client_auth(
    service: CertService, kubeedge_ca: CertificateAuthority
) -> None:
    _, csr = edge.make_key_and_csr("edge-1")
    cert = x509.load_der_x509_certificate(service.sign_node_csr(csr, "edge-1", [2]))
    cert.verify_directly_issued_by(kubeedge_ca.certificate)
    # KubeEdge's edge sends C, L and ST too; only CN and O are kept.
    assert cert_identity(cert) == ("system:node:edge-1", ("system:nodes",))
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME) == []
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=7) <= lifetime <= dt.timedelta(days=7, minutes=10)


@pytest.mark.parametrize(
    ("cn", "orgs"),
    [("system:node:edge-2", ("system:nodes",)),
     ("system:node:edge-1", ("system:masters",)),
     ("system:node:edge-1", ("system:nodes", "system:masters")),
     ("kubernetes-admin", ("system:nodes",))],
)
def test_csr_for_another_identity_is_refused(service: CertService, cn: str,
                                             orgs: tuple[str, ...]) -> None:
    with pytest.raises(RequestRefused) as refused:
        service.sign_node_csr(_csr(cn, orgs), "edge-1", [2])
    assert refused.value.status == 403
    assert "may only ask for CN=system:node:edge-1, O=system:nodes" in refused.value.message


def test_garbage_csr_is_a_bad_request(service: CertService) -> None:
    with pytest.raises(RequestRefused) as refused:
        service.sign_node_csr(b"not a csr", "edge-1", [2])
    assert refused.value.status == 400


def test_only_client_auth_may_be_asked_for() -> None:
    assert parse_ext_key_usages("") == [2]
    assert parse_ext_key_usages("[2]") == [2]
    for header, status in (("[1]", 403), ("[0]", 403), ("[2, 1]", 403), ("x", 400),
                           ('["2"]', 400), ("[true]", 400)):
        with pytest.raises(RequestRefused) as refused:
            parse_ext_key_usages(header)
        assert refused.value.status == status, header


def test_client_cert_of_another_node_or_ca_is_refused(
    service: CertService, kubeedge_ca: CertificateAuthority
) -> None:
    node_a = kubeedge_ca.issue_client_cert("system:node:edge-a", ["system:nodes"]).certificate
    service.verify_node_certificate(node_a, "edge-a")
    with pytest.raises(RequestRefused) as refused:
        service.verify_node_certificate(node_a, "edge-b")
    assert refused.value.status == 403
    assert "request node name is not match with the certificate" in refused.value.message
    foreign = create_kubeedge_ca().issue_client_cert("system:node:edge-a", ["system:nodes"])
    with pytest.raises(RequestRefused) as refused:
        service.verify_node_certificate(foreign.certificate, "edge-a")
    assert refused.value.status == 401
    # KubeEdge's old shared edge certificate no longer mints node identities.
    legacy = kubeedge_ca.issue_client_cert("kubeedge.io", ["KubeEdge"]).certificate
    with pytest.raises(RequestRefused):
        service.verify_node_certificate(legacy, "edge-a")
    server_only = kubeedge_ca.issue_server_cert("system:node:edge-a", ["edge-a"],
                                                organizations=["system:nodes"]).certificate
    with pytest.raises(RequestRefused, match="not for client auth"):
        service.verify_node_certificate(server_only, "edge-a")


def test_expired_client_cert_is_refused(kubeedge_ca: CertificateAuthority) -> None:
    certs = EdgeCertificates(kubeedge_ca, issue_cloudcore_cert(kubeedge_ca, ["127.0.0.1"]))
    issued = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    cert = kubeedge_ca.issue_client_cert("system:node:edge-a", ["system:nodes"],
                                         dt.timedelta(days=1), now=issued).certificate
    later = CertService(certs, None, wall=lambda: (issued + dt.timedelta(days=2)).timestamp())
    with pytest.raises(RequestRefused, match="expired") as refused:
        later.verify_node_certificate(cert, "edge-a")
    assert refused.value.status == 401


def test_settings_refuse_bad_values_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="edgeCertSigningDuration"):
        CertServiceSettings.from_kubeedge(edge_cert_signing_duration=0)
    with pytest.raises(ConfigError, match="tokenRefreshDuration"):
        CertServiceSettings(token_refresh=dt.timedelta(hours=2),
                            token_expiry=dt.timedelta(hours=1)).validate()
    hub = SimpleNamespace(edge_cert_signing_duration=30, token_refresh_duration=1,
                          https=SimpleNamespace(address="127.0.0.1", port=12002),
                          advertise_address=["10.0.0.1"], dns_names=["cloud"])
    settings = CertServiceSettings.from_cloudhub(hub)
    assert (settings.edge_cert_validity, settings.effective_token_expiry, settings.port,
            settings.advertise_address) == (dt.timedelta(days=30), dt.timedelta(hours=2),
                                            12002, ("10.0.0.1",))
    defaults = CertServiceSettings.from_kubeedge()
    assert defaults.port == 10002
    assert defaults.edge_cert_validity == dt.timedelta(days=365)
    assert defaults.effective_token_expiry == dt.timedelta(hours=24)


# --------------------------------------------------------------------------- edge helpers


def test_ca_hash_mismatch_fails_with_kubeedges_message(kubeedge_ca: CertificateAuthority) -> None:
    token = f"{kubeedge_ca.fingerprint}.aaa.bbb.ccc"
    assert edge.verify_ca(token, kubeedge_ca.cert_der) == "aaa.bbb.ccc"
    other = create_kubeedge_ca()
    with pytest.raises(edge.BootstrapError, match=r"^failed to validate CA certificate"):
        edge.verify_ca(token, other.cert_der)
    with pytest.raises(edge.BootstrapError, match="wrong format"):
        edge.verify_ca("abc.def", kubeedge_ca.cert_der)


def test_edge_csr_carries_kubeedges_subject() -> None:
    key_pem, csr_der = edge.make_key_and_csr("edge-9")
    assert key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    csr = x509.load_der_x509_csr(csr_der)
    assert csr.is_signature_valid
    got = {a.oid: a.value for a in csr.subject}
    assert got == {NameOID.COUNTRY_NAME: "CN", NameOID.ORGANIZATION_NAME: "system:nodes",
                   NameOID.LOCALITY_NAME: "Hangzhou", NameOID.STATE_OR_PROVINCE_NAME: "Zhejiang",
                   NameOID.COMMON_NAME: "system:node:edge-9"}
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)


def test_rotation_deadline_falls_in_the_window() -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=100)
    assert edge.rotation_deadline(start, end, rand=lambda: 0.0) == start + dt.timedelta(days=70)
    assert edge.rotation_deadline(start, end, rand=lambda: 1.0) == start + dt.timedelta(days=90)
    assert edge.rotation_deadline(start, end, (0.5, 0.5)) == start + dt.timedelta(days=50)
    with pytest.raises(ValueError, match="rotation window"):
        edge.rotation_deadline(start, end, (0.9, 0.2))


def test_needs_rotation_by_the_certificate(kubeedge_ca: CertificateAuthority) -> None:
    issued = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    cert = kubeedge_ca.issue_client_cert("system:node:e", ["system:nodes"],
                                         dt.timedelta(days=10), now=issued)
    pem = cert.cert_pem
    # NotBefore is 5 minutes early (clock skew); 80% of the lifetime is about day 8.
    assert not edge.needs_rotation(pem, issued + dt.timedelta(days=7), (0.8, 0.8))
    assert edge.needs_rotation(pem, issued + dt.timedelta(days=8, hours=1), (0.8, 0.8))


def _node_pair(ca: CertificateAuthority, node: str) -> tuple[bytes, bytes]:
    key_pem, csr = edge.make_key_and_csr(node)
    der = ca.sign_csr(csr).public_bytes(serialization.Encoding.DER)
    return der, key_pem


def test_install_pair_writes_0600_and_current_certificate_checks_it(
    tmp_path: Path, kubeedge_ca: CertificateAuthority
) -> None:
    paths = edge.EdgeCertPaths.for_root(tmp_path)
    assert paths.cert == tmp_path / "etc/kubeedge/certs/server.crt"
    assert edge.current_certificate(paths, "edge-1") is None
    der, key = _node_pair(kubeedge_ca, "edge-1")
    edge.install_pair(paths, der, key)
    for path in (paths.cert, paths.key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not paths.pending_key.exists()
    assert edge.current_certificate(paths, "edge-1") is not None
    # Another node's name: bootstrap again (certmanager.go getCurrent).
    assert edge.current_certificate(paths, "edge-2") is None
    # A key that is not the certificate's: not usable.
    _, other_key = _node_pair(kubeedge_ca, "edge-1")
    paths.key.write_bytes(other_key)
    assert edge.current_certificate(paths, "edge-1") is None


def test_a_crash_inside_install_pair_is_recovered(
    tmp_path: Path, kubeedge_ca: CertificateAuthority
) -> None:
    paths = edge.EdgeCertPaths.for_root(tmp_path)
    old_der, old_key = _node_pair(kubeedge_ca, "edge-1")
    edge.install_pair(paths, old_der, old_key)
    new_der, new_key = _node_pair(kubeedge_ca, "edge-1")

    # Crash after the new key, before the certificate: the pending key is dropped.
    paths.pending_key.write_bytes(new_key)
    assert edge.current_certificate(paths, "edge-1") is not None
    assert paths.key.read_bytes() == old_key and not paths.pending_key.exists()

    # Crash after the certificate, before the rename: the new key is put in place.
    paths.pending_key.write_bytes(new_key)
    paths.cert.write_bytes(edge._der_to_pem(new_der))
    assert edge.current_certificate(paths, "edge-1") is not None
    assert paths.key.read_bytes() == new_key and not paths.pending_key.exists()


def test_edge_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, kubeedge.edge.certs; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'cryptography', 'aiohttp', 'jwt'}), "
            "[m for m in sys.modules if m.startswith('kubeedge.cloud')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[] []"
