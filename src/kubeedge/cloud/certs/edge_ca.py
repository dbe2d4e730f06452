"""KubeEdge's own CA and CloudCore's serving certificate, kept as Secrets in `kubeedge`.

Owns (specs/kubeedge.md §4): making the CA exactly as CloudCore does (self-signed ECDSA
P-256, CN `KubeEdge`, 364 x 100 days, usages digitalSignature/keyEncipherment/certSign,
extended usages serverAuth and clientAuth), the serving certificate for :10000/:10002
(CN and O `KubeEdge`, serverAuth, SANs = `advertiseAddress` + `dnsNames`), and keeping
both in Secrets `kubeedge/casecret` (`cadata`, `cakeydata`) and
`kubeedge/cloudcoresecret` (`cloudcoredata`, `cloudcorekeydata`) as DER, as
`cloud/pkg/cloudhub/servers/httpserver/pre_server.go` does.

A Secret that exists is always reused, never regenerated: every edge trusts the CA and
every join token carries its hash, so a second CloudCore replica (or a restart) that made
its own would strand them (kubeedge/kubeedge#5922). Two replicas racing to create it
settle on whichever create the API server took.

This CA is separate from the API server's (`authority.py` makes both kinds of
certificate but holds no Secrets). The Secrets get no RBAC of their own: only
cluster-admin and CloudCore's own identity read Secrets in `kubeedge`. Never imported by
the edge (ARCHITECTURE.md rule 9).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.certs.authority import (
    CLOCK_SKEW,
    KUBEEDGE_CA_NAME,
    CertificateAuthority,
    CertificateError,
    CertKeyPair,
    cert_pem,
    generate_private_key,
    key_der,
    key_pem,
    load_certificate,
    load_private_key,
)
from kubeedge.durable import atomic_write

log = logging.getLogger(__name__)

# specs/kubeedge.md §4 and pre_server.go: the Secrets' names and data keys.
NAMESPACE = "kubeedge"
CA_SECRET = "casecret"
CA_DATA = "cadata"
CA_KEY_DATA = "cakeydata"
CLOUDCORE_SECRET = "cloudcoresecret"
CLOUDCORE_CERT_DATA = "cloudcoredata"
CLOUDCORE_KEY_DATA = "cloudcorekeydata"
TOKEN_SECRET = "tokensecret"
TOKEN_DATA = "tokendata"

# KubeEdge's "100 years" is `24h * 364 * 100` for both the CA and CloudCore's certificate.
KUBEEDGE_CA_VALIDITY = dt.timedelta(days=364 * 100)
CLOUDCORE_VALIDITY = dt.timedelta(days=364 * 100)
# CloudCore's serving certificate: CN and O are the project name.
CLOUDCORE_NAME = "KubeEdge"

SECRETS = Resource.of("v1", "secrets")
NAMESPACES = Resource.of("v1", "namespaces")


class EdgeCertificatesError(RuntimeError):
    """The KubeEdge CA or serving certificate cannot be loaded or stored; says which
    Secret or file and what to do."""


# --------------------------------------------------------------------------- making


def create_kubeedge_ca(now: dt.datetime | None = None) -> CertificateAuthority:
    """A new CA with KubeEdge's template (x509_ca.go `NewSelfSigned`)."""
    key = generate_private_key("ec")
    now = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KUBEEDGE_CA_NAME)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # KubeEdge starts at "now"; a few minutes back lets a peer whose clock is behind
        # accept it too.
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + KUBEEDGE_CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def split_addresses(
    advertise_addresses: Sequence[str], field: str = "modules.cloudHub.advertiseAddress"
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Parse `advertiseAddress`; a host name there is refused with where it belongs."""
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for i, addr in enumerate(advertise_addresses):
        try:
            ips.append(ipaddress.ip_address(addr.strip()))
        except ValueError:
            raise EdgeCertificatesError(
                f"{field}[{i}]: {addr!r} is not an IP address; put host names in "
                "modules.cloudHub.dnsNames"
            ) from None
    return ips


def issue_cloudcore_cert(
    ca: CertificateAuthority,
    advertise_addresses: Sequence[str],
    dns_names: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> CertKeyPair:
    """CloudCore's serving certificate (pre_server.go `createCertsToSecret`).

    Edges check the server's name against these SANs (they dial with the CA as root),
    so every address and name an edge uses must be here (kubeedge/kubeedge#2905).
    """
    ips = split_addresses(advertise_addresses)
    if not ips and not dns_names:
        raise EdgeCertificatesError(
            "modules.cloudHub.advertiseAddress: Required value: the serving certificate "
            "needs at least one address (or a name in modules.cloudHub.dnsNames) that "
            "edges dial"
        )
    return ca.issue_server_cert(
        CLOUDCORE_NAME,
        dns_names=list(dns_names),
        ip_addresses=ips,
        validity=CLOUDCORE_VALIDITY,
        organizations=[CLOUDCORE_NAME],
        now=now,
    )


def missing_sans(
    cert: x509.Certificate, advertise_addresses: Sequence[str], dns_names: Sequence[str] = ()
) -> list[str]:
    """Configured addresses and names the certificate does not cover (a reused Secret
    from before the configuration changed); edges dialling them fail the TLS check."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [*advertise_addresses, *dns_names]
    have_ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    have_dns = {d.lower() for d in ext.get_values_for_type(x509.DNSName)}
    missing = [str(ip) for ip in split_addresses(advertise_addresses) if str(ip) not in have_ips]
    missing += [d for d in dns_names if d.lower() not in have_dns]
    return missing


# --------------------------------------------------------------------------- Secrets


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret_bytes(secret: dict[str, Any], key: str) -> bytes:
    """One data value of a Secret, decoded; an absent or bad value names the key."""
    name = (secret.get("metadata") or {}).get("name", "?")
    value = (secret.get("data") or {}).get(key)
    if not value:
        raise EdgeCertificatesError(f"Secret {NAMESPACE}/{name} has no data.{key}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise EdgeCertificatesError(
            f"Secret {NAMESPACE}/{name}: data.{key} is not valid base64"
        ) from None


def secret_manifest(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {k: _b64(v) for k, v in data.items()},
    }


async def ensure_namespace(client: APIClient) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    except APIError as exc:
        if not exc.is_already_exists:
            raise


async def get_secret(client: APIClient, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(SECRETS, name, NAMESPACE)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def create_secret_once(
    client: APIClient, name: str, data: dict[str, bytes]
) -> tuple[dict[str, Any], bool]:
    """Create the Secret unless it exists; returns (the Secret in the API, created?).

    Losing a create race to another replica returns the winner's Secret.
    """
    try:
        return await client.create(SECRETS, secret_manifest(name, data), NAMESPACE), True
    except APIError as exc:
        if not exc.is_already_exists:
            raise
    existing = await get_secret(client, name)
    if existing is None:  # created and deleted again in between: try once more
        return await client.create(SECRETS, secret_manifest(name, data), NAMESPACE), True
    return existing, False


async def save_secret(client: APIClient, name: str, data: dict[str, bytes]) -> dict[str, Any]:
    """Create or replace the Secret's data (KubeEdge's `client.SaveSecret`); a write
    that loses to a concurrent one re-reads and retries."""
    for _ in range(5):
        existing = await get_secret(client, name)
        if existing is None:
            secret, created = await create_secret_once(client, name, data)
            if created:
                return secret
            continue
        updated = dict(existing)
        updated["data"] = {k: _b64(v) for k, v in data.items()}
        updated.pop("stringData", None)
        try:
            return await client.update(SECRETS, updated, NAMESPACE)
        except APIError as exc:
            if not exc.is_conflict:
                raise
    raise EdgeCertificatesError(f"Secret {NAMESPACE}/{name}: kept conflicting with other writers")


# --------------------------------------------------------------------------- the set


@dataclass(frozen=True)
class LocalFiles:
    """PEM files that override the Secrets, as CloudCore's `tlsCAFile`/`tlsCAKeyFile` and
    `tlsCertFile`/`tlsPrivateKeyFile` (specs/kubeedge.md §4). Used only when both exist."""

    ca_cert: Path | None = None
    ca_key: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_cloudhub(cls, hub: Any, root: str | Path) -> LocalFiles:
        """`modules.cloudHub.tls*File`, relative paths under the root (rule 8)."""

        def under(path: str) -> Path | None:
            return Path(root) / path if path else None

        return cls(under(hub.tls_ca_file), under(hub.tls_ca_key_file),
                   under(hub.tls_cert_file), under(hub.tls_private_key_file))

    @staticmethod
    def _pair(a: Path | None, b: Path | None) -> tuple[bytes, bytes] | None:
        if a is None or b is None:
            return None
        has_a, has_b = a.exists(), b.exists()
        if has_a and has_b:
            return a.read_bytes(), b.read_bytes()
        if has_a or has_b:
            raise EdgeCertificatesError(f"{b if has_a else a} is missing (its pair exists)")
        return None

    def ca_pair(self) -> tuple[bytes, bytes] | None:
        return self._pair(self.ca_cert, self.ca_key)

    def cert_pair(self) -> tuple[bytes, bytes] | None:
        return self._pair(self.cert, self.key)


@dataclass(frozen=True)
class EdgeCertificates:
    """KubeEdge's CA and CloudCore's serving certificate, as loaded or made at start."""

    ca: CertificateAuthority
    serving: CertKeyPair

    @property
    def ca_der(self) -> bytes:
        return self.ca.cert_der

    @property
    def ca_key_der(self) -> bytes:
        """SEC 1 DER of the CA key: what `cakeydata` holds and what keys the token's
        HS256 (Go's `x509.MarshalECPrivateKey`, specs/kubeedge.md §4)."""
        return key_der(self.ca.private_key)

    def server_ssl_context(self, verify_mode: ssl.VerifyMode, ciphers: str = ""
                           ) -> ssl.SSLContext:
        """A TLS 1.2+ server context with cloudcore's serving certificate that checks
        client certificates against KubeEdge's CA (`verify_mode` says whether one is
        required), for CloudHub and the certificate service alike."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = verify_mode
        if ciphers:
            ctx.set_ciphers(ciphers)
        ctx.load_verify_locations(cadata=self.ca_der)
        # `load_cert_chain` reads only files: hand them over through a private
        # directory that is gone as soon as they are loaded.
        with tempfile.TemporaryDirectory(prefix="kubeedge-tls-") as tmp:
            os.chmod(tmp, 0o700)
            cert_file, key_file = Path(tmp) / "server.crt", Path(tmp) / "server.key"
            atomic_write(key_file, key_pem(self.serving.private_key), 0o600)
            atomic_write(cert_file, cert_pem(self.serving.certificate), 0o600)
            ctx.load_cert_chain(cert_file, key_file)
        return ctx

    @classmethod
    async def load_or_create(
        cls,
        client: APIClient,
        advertise_addresses: Sequence[str],
        dns_names: Sequence[str] = (),
        *,
        local: LocalFiles | None = None,
    ) -> EdgeCertificates:
        """pre_server.go `PrepareAllCerts`: local files first, else the Secrets, else new
        ones stored as Secrets. Existing Secrets are never replaced by new keys."""
        await ensure_namespace(client)
        local = local or LocalFiles()
        ca = await _load_or_create_ca(client, local)
        serving = await _load_or_create_serving(client, ca, advertise_addresses, dns_names, local)
        return cls(ca, serving)


def _ca_from(cert: bytes, key: bytes, where: str) -> CertificateAuthority:
    try:
        return CertificateAuthority.from_der(cert, key)
    except CertificateError as exc:
        raise EdgeCertificatesError(
            f"{where}: {exc}; fix or delete it (deleting makes a new CA: every edge must "
            "then join again)"
        ) from None


async def _load_or_create_ca(client: APIClient, local: LocalFiles) -> CertificateAuthority:
    files = local.ca_pair()
    if files is not None:
        ca = _ca_from(*files, f"{local.ca_cert}")
        await save_secret(client, CA_SECRET, {CA_DATA: ca.cert_der, CA_KEY_DATA: ca.key_der})
        return ca
    secret = await get_secret(client, CA_SECRET)
    if secret is None:
        new = create_kubeedge_ca()
        secret, created = await create_secret_once(
            client, CA_SECRET, {CA_DATA: new.cert_der, CA_KEY_DATA: new.key_der}
        )
        if created:
            log.info("created KubeEdge's CA in Secret %s/%s", NAMESPACE, CA_SECRET)
            return new
    where = f"Secret {NAMESPACE}/{CA_SECRET}"
    return _ca_from(secret_bytes(secret, CA_DATA), secret_bytes(secret, CA_KEY_DATA), where)


class _NotFromThisCA(Exception):
    pass


def _serving_from(
    ca: CertificateAuthority, cert_data: bytes, key_data: bytes, where: str
) -> CertKeyPair:
    try:
        cert = load_certificate(cert_data)
        key = load_private_key(key_data)
    except CertificateError as exc:
        raise EdgeCertificatesError(f"{where}: {exc}") from None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise EdgeCertificatesError(f"{where}: the key does not match the certificate")
    try:
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise _NotFromThisCA(where) from None
    return CertKeyPair(cert, key)


async def _load_or_create_serving(
    client: APIClient,
    ca: CertificateAuthority,
    advertise_addresses: Sequence[str],
    dns_names: Sequence[str],
    local: LocalFiles,
) -> CertKeyPair:
    files = local.cert_pair()
    if files is not None:
        try:
            pair = _serving_from(ca, *files, f"{local.cert}")
        except _NotFromThisCA:
            raise EdgeCertificatesError(
                f"{local.cert}: the certificate was not issued by KubeEdge's CA "
                f"({local.ca_cert or 'Secret kubeedge/casecret'})"
            ) from None
        await save_secret(
            client,
            CLOUDCORE_SECRET,
            {CLOUDCORE_CERT_DATA: pair.cert_der, CLOUDCORE_KEY_DATA: pair.key_der},
        )
        return pair
    secret = await get_secret(client, CLOUDCORE_SECRET)
    if secret is None:
        new = issue_cloudcore_cert(ca, advertise_addresses, dns_names)
        secret, created = await create_secret_once(
            client,
            CLOUDCORE_SECRET,
            {CLOUDCORE_CERT_DATA: new.cert_der, CLOUDCORE_KEY_DATA: new.key_der},
        )
        if created:
            log.info("created CloudCore's certificate in Secret %s/%s", NAMESPACE,
                     CLOUDCORE_SECRET)
            return new
    try:
        pair = _serving_from(
            ca,
            secret_bytes(secret, CLOUDCORE_CERT_DATA),
            secret_bytes(secret, CLOUDCORE_KEY_DATA),
            f"Secret {NAMESPACE}/{CLOUDCORE_SECRET}",
        )
    except _NotFromThisCA:
        # The CA was replaced (local rootCA files, or casecret edited): a certificate
        # from the old one is useless to edges that trust the new one, so issue anew.
        log.warning("CloudCore's certificate in Secret %s/%s was not issued by the current "
                    "CA; issuing a new one", NAMESPACE, CLOUDCORE_SECRET)
        pair = issue_cloudcore_cert(ca, advertise_addresses, dns_names)
        await save_secret(
            client,
            CLOUDCORE_SECRET,
            {CLOUDCORE_CERT_DATA: pair.cert_der, CLOUDCORE_KEY_DATA: pair.key_der},
        )
        return pair
    missing = missing_sans(pair.certificate, advertise_addresses, dns_names)
    if missing:
        # Kept as KubeEdge keeps it; edges dialling these will fail the name check.
        log.warning(
            "CloudCore's certificate in Secret %s/%s does not cover %s; delete the Secret "
            "and restart to issue one that does",
            NAMESPACE, CLOUDCORE_SECRET, ", ".join(missing),
        )
    return pair
