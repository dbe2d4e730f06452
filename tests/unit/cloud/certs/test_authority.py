"""CertificateAuthority: issued certificates verify in real TLS handshakes (Python's ssl
with hostname/IP checking and X509_STRICT), carry the identity kubectl's server reads
(CN = user, O = groups), sign KubeEdge CSRs, and land on disk with private keys 0600."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge.cloud.certs import (
    DEFAULT_CA_VALIDITY,
    CertificateAuthority,
    CertificateError,
    cert_expiry,
    cert_fingerprint,
    cert_identity,
    ext_key_usage,
    write_pem_pair,
)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def _client_context(ca: CertificateAuthority) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # RFC 5280 checks, close to Go's
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


def _handshake(
    tmp_path: Path,
    server_pair: Any,
    client_ctx: ssl.SSLContext,
    server_hostname: str,
    ca: CertificateAuthority | None = None,
) -> dict[str, Any]:
    """Serve one TLS connection on loopback; return what the server saw of the client."""
    server_pair.write(tmp_path / "srv.crt", tmp_path / "srv.key")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    if ca is not None:
        server_ctx.load_verify_locations(cadata=ca.cert_pem.decode())
        server_ctx.verify_mode = ssl.CERT_OPTIONAL  # as the API server (specs §7)
    seen: dict[str, Any] = {}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = tls.getpeercert()
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            seen["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(5)
        listener.close()
    return seen


def test_ca_is_self_signed_p256_kubeedge_for_a_hundred_years(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert cert.subject == cert.issuer
    assert cert_identity(cert)[0] == "KubeEdge"
    assert isinstance(ca.private_key, ec.EllipticCurvePrivateKey)
    assert ca.private_key.curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= DEFAULT_CA_VALIDITY


def test_server_cert_verifies_over_tls_for_its_ip_and_its_hostname(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    pair = ca.issue_server_cert(
        "kube-apiserver", dns_names=["cloudcore.test"], ip_addresses=["127.0.0.1"]
    )
    # Go ignores the CN: every dialled name must be a SAN.
    sans = pair.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == ["cloudcore.test"]
    assert [str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for name in ("127.0.0.1", "cloudcore.test"):
        seen = _handshake(tmp_path, pair, _client_context(ca), name)
        assert "error" not in seen


def test_server_cert_is_refused_for_a_name_it_does_not_carry(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    pair = ca.issue_server_cert("kube-apiserver", ["cloudcore.test"], ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, pair, _client_context(ca), "other.test")


def test_server_cert_is_refused_by_a_client_trusting_another_ca(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    pair = ca.issue_server_cert("kube-apiserver", [], ["127.0.0.1"])
    stranger = CertificateAuthority.create("someone else")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, pair, _client_context(stranger), "127.0.0.1")


def test_server_cert_needs_a_san() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CertificateAuthority.create().issue_server_cert("nameless")


def test_client_cert_presents_cn_as_user_and_o_as_groups(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = ca.issue_server_cert("kube-apiserver", [], ["127.0.0.1"])
    client = ca.issue_client_cert("alice", ["devs", "system:masters"])
    client.write(tmp_path / "cli.crt", tmp_path / "cli.key")
    ctx = _client_context(ca)
    ctx.load_cert_chain(tmp_path / "cli.crt", tmp_path / "cli.key")

    seen = _handshake(tmp_path, server, ctx, "127.0.0.1", ca=ca)

    subject = [attr for rdn in seen["peer"]["subject"] for attr in rdn]
    assert ("commonName", "alice") in subject
    orgs = [value for key, value in subject if key == "organizationName"]
    assert orgs == ["devs", "system:masters"]
    assert cert_identity(client.certificate) == ("alice", ("devs", "system:masters"))
    eku = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_leaf_validity_defaults_to_a_year_and_never_outlives_the_ca() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    short_ca = CertificateAuthority.create(validity=dt.timedelta(days=30), now=now)
    leaf = short_ca.issue_client_cert("bob", now=now)
    assert cert_expiry(leaf.certificate) == cert_expiry(short_ca.certificate)
    yearly = CertificateAuthority.create(now=now).issue_client_cert("bob", now=now)
    assert cert_expiry(yearly.certificate) == now + dt.timedelta(days=365)
    # Backdated a little for peers whose clocks lag.
    assert yearly.certificate.not_valid_before_utc < now


def _edge_csr(node: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """What edgecore sends to /edge.crt (specs/kubeedge.md §4): a DER CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Hangzhou"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Zhejiang"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER), key


def test_sign_csr_keeps_cn_and_o_and_uses_requested_go_usages(
    ca: CertificateAuthority,
) -> None:
    csr_der, key = _edge_csr("edge-1")

    cert = ca.sign_csr(csr_der, usages=[1, 2])

    assert cert_identity(cert) == ("system:node:edge-1", ("system:nodes",))
    assert not cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(ca.certificate)


def test_sign_csr_defaults_to_client_auth(ca: CertificateAuthority) -> None:
    cert = ca.sign_csr(_edge_csr("edge-2")[0])
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_sign_csr_refuses_garbage_and_unknown_usages(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError):
        ca.sign_csr(b"not a csr")
    with pytest.raises(ValueError):
        ca.sign_csr(_edge_csr("edge-3")[0], usages=[42])
    assert ext_key_usage("server auth") == ExtendedKeyUsageOID.SERVER_AUTH


def test_pem_pair_written_atomically_with_private_key_0600(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    pair = ca.issue_client_cert("alice")
    cert_path = tmp_path / "deep" / "certs" / "alice.crt"
    key_path = tmp_path / "deep" / "keys" / "alice.key"

    write_pem_pair(pair.certificate, pair.private_key, cert_path, key_path)
    write_pem_pair(pair.cert_pem, pair.key_pem, cert_path, key_path)  # overwrite in place

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644 & ~umask
    assert key_path.read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert cert_path.read_bytes() == pair.cert_pem
    assert sorted(os.listdir(key_path.parent)) == ["alice.key"]  # no temp files left


def test_key_is_never_visible_with_wider_mode_even_under_a_lax_umask(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    old = os.umask(0)
    try:
        ca.write(tmp_path / "ca.crt", tmp_path / "ca.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_ca_round_trips_through_pem_files_and_der(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.write(tmp_path / "rootCA.crt", tmp_path / "rootCA.key")
    loaded = CertificateAuthority.load(tmp_path / "rootCA.crt", tmp_path / "rootCA.key")
    assert loaded.fingerprint == ca.fingerprint == cert_fingerprint(ca.cert_der)
    from_secret = CertificateAuthority.from_der(ca.cert_der, ca.key_der)
    assert from_secret.fingerprint == ca.fingerprint
    # A certificate the loaded CA issues chains to the original.
    loaded.issue_client_cert("x").certificate.verify_directly_issued_by(ca.certificate)


def test_load_or_create_makes_the_ca_once(tmp_path: Path) -> None:
    paths = (tmp_path / "ca" / "rootCA.crt", tmp_path / "ca" / "rootCA.key")
    first = CertificateAuthority.load_or_create(*paths)
    again = CertificateAuthority.load_or_create(*paths)
    assert again.fingerprint == first.fingerprint
    paths[1].unlink()
    with pytest.raises(CertificateError, match="missing"):
        CertificateAuthority.load_or_create(*paths)


def test_ca_refuses_a_key_that_is_not_its_own(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create()
    with pytest.raises(CertificateError, match="does not match"):
        CertificateAuthority(ca.certificate, other.private_key)
    leaf = ca.issue_client_cert("alice")
    with pytest.raises(CertificateError, match="not a CA"):
        CertificateAuthority(leaf.certificate, leaf.private_key)


def test_rsa_ca_also_serves_tls(tmp_path: Path) -> None:
    rsa_ca = CertificateAuthority.create("rsa-ca", key_type="rsa")
    pair = rsa_ca.issue_server_cert("srv", ["localhost"], key_type="rsa")
    assert "error" not in _handshake(tmp_path, pair, _client_context(rsa_ca), "localhost")
