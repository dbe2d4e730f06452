"""The certificate authority: a CA key pair that issues server, client and edge certificates.

Owns: making a self-signed CA (ECDSA P-256 by default, as KubeEdge does; RSA 2048 on
request), loading it from PEM or DER (KubeEdge keeps it as DER in Secret
`kubeedge/casecret`, specs/kubeedge.md §4), issuing server certificates whose SANs carry
every name a client may dial (Go ignores the CN, specs/k8s-api.md §7), issuing client
certificates whose CN is the user and whose O values are the groups (specs/k8s-api.md §7),
signing an edge node's CSR the way CloudCore's `/edge.crt` does (CN and O copied, extended
key usages from the request), and writing PEM pairs to disk atomically with private keys
created 0600 from the first byte.

Never does: HTTP, Secrets, tokens, or deciding *who* may get a certificate; callers (the
:10002 handler, `keadm`, the API server start-up) check identities first. The edge does not
import this module (ARCHITECTURE.md rule 9); it only makes CSRs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge.durable import atomic_write

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
KeyType = Literal["ec", "rsa"]
IPLike: TypeAlias = str | ipaddress.IPv4Address | ipaddress.IPv6Address

# specs/kubeedge.md §4: the CA (CN "KubeEdge") and CloudCore's server certificate live
# about 100 years; edge certificates live `edgeCertSigningDuration` days (365).
KUBEEDGE_CA_NAME = "KubeEdge"
DEFAULT_CA_VALIDITY = dt.timedelta(days=365 * 100)
CLOUDCORE_CERT_VALIDITY = dt.timedelta(days=365 * 100)
# Leaf default: one year, as KubeEdge's edge certificates and kubeadm's leaf certificates.
DEFAULT_CERT_VALIDITY = dt.timedelta(days=365)
# NotBefore is set this far in the past so a peer whose clock is a little behind accepts it.
CLOCK_SKEW = dt.timedelta(minutes=5)

# Go's `x509.ExtKeyUsage` numbers, which KubeEdge's `ExtKeyUsages` header carries as a JSON
# int array (specs/kubeedge.md §4), and the names Kubernetes CSRs use for the same usages.
_GO_EXT_KEY_USAGES: dict[int, x509.ObjectIdentifier] = {
    0: ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    1: ExtendedKeyUsageOID.SERVER_AUTH,
    2: ExtendedKeyUsageOID.CLIENT_AUTH,
    3: ExtendedKeyUsageOID.CODE_SIGNING,
    4: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    8: ExtendedKeyUsageOID.TIME_STAMPING,
    9: ExtendedKeyUsageOID.OCSP_SIGNING,
}
_NAMED_EXT_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}
SERVER_AUTH = 1
CLIENT_AUTH = 2

Usage: TypeAlias = int | str | x509.ObjectIdentifier


class CertificateError(ValueError):
    """A certificate, key or CSR that cannot be used: wrong format, bad signature, mismatch."""


# --------------------------------------------------------------------------- helpers


def generate_private_key(key_type: KeyType = "ec") -> PrivateKey:
    """A fresh key: ECDSA P-256 (KubeEdge's choice, fine for Go and OpenSSL) or RSA 2048."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}: use 'ec' or 'rsa'")


def ext_key_usage(usage: Usage) -> x509.ObjectIdentifier:
    """Map a Go `ExtKeyUsage` number, a Kubernetes usage name or an OID to the OID."""
    if isinstance(usage, x509.ObjectIdentifier):
        return usage
    if isinstance(usage, bool):  # bool is an int; never a usage
        raise ValueError(f"unsupported extended key usage {usage!r}")
    if isinstance(usage, int):
        if usage in _GO_EXT_KEY_USAGES:
            return _GO_EXT_KEY_USAGES[usage]
        raise ValueError(f"unsupported extended key usage {usage}")
    oid = _NAMED_EXT_KEY_USAGES.get(usage.strip().lower())
    if oid is None:
        raise ValueError(f"unsupported extended key usage {usage!r}")
    return oid


def load_certificate(data: bytes | str) -> x509.Certificate:
    """Parse one certificate, PEM or DER."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise CertificateError(f"cannot parse certificate: {exc}") from None


def load_private_key(data: bytes | str, password: bytes | None = None) -> PrivateKey:
    """Parse a private key, PEM (PKCS#8, SEC1 or PKCS#1) or DER."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(raw, password=password)
        else:
            key = serialization.load_der_private_key(raw, password=password)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot parse private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError(f"unsupported private key type {type(key).__name__}")
    return key


def load_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a CSR, PEM or DER (KubeEdge's edge sends DER, specs/kubeedge.md §4)."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except ValueError as exc:
        raise CertificateError(f"cannot parse certificate request: {exc}") from None


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    """PEM in the traditional form: `EC PRIVATE KEY` (SEC1) as KubeEdge writes it, or PKCS#1."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def key_der(key: PrivateKey) -> bytes:
    """DER in the traditional form, the bytes KubeEdge stores in `cakeydata` and keys the
    edge token's HS256 with (specs/kubeedge.md §4: Go's `x509.MarshalECPrivateKey`)."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_fingerprint(cert: x509.Certificate | bytes, algorithm: str = "sha256") -> str:
    """Lower-case hex digest of the certificate's DER (KubeEdge's token part 0 for the CA)."""
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    return hashlib.new(algorithm, der).hexdigest()


def cert_expiry(cert: x509.Certificate) -> dt.datetime:
    """NotAfter as an aware UTC datetime."""
    return cert.not_valid_after_utc


def cert_remaining(cert: x509.Certificate, now: dt.datetime | None = None) -> dt.timedelta:
    """How long until the certificate expires (negative once it has)."""
    return cert.not_valid_after_utc - (now or _utcnow())


def cert_identity(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """(CN, O values): the Kubernetes user and groups a client certificate stands for."""
    subject = cert.subject
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cns[0].value) if cns else "", tuple(str(o.value) for o in orgs))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _serial() -> int:
    # RFC 5280 §4.1.2.2: positive, at most 20 octets; 127 random bits as Go's crypto does.
    return secrets.randbits(127) | 1


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _sans(dns_names: Iterable[str], ip_addresses: Iterable[IPLike]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for dns in dns_names:
        if dns and dns not in seen:
            seen.add(dns)
            names.append(x509.DNSName(dns))
    for ip in ip_addresses:
        addr = ipaddress.ip_address(ip)
        if str(addr) not in seen:
            seen.add(str(addr))
            names.append(x509.IPAddress(addr))
    return names


def _leaf_key_usage(public_key: PublicKey) -> x509.KeyUsage:
    # keyEncipherment only means something for RSA key transport; ECDSA signs only.
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


# --------------------------------------------------------------------------- writers


def write_pem_pair(
    cert: x509.Certificate | bytes,
    key: PrivateKey | bytes,
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
) -> None:
    """Write a certificate (0644) and its private key (0600) as PEM, each atomically.

    `cert` and `key` may be objects or PEM bytes. The key is written first so a reader
    that finds the new certificate also finds its key.
    """
    key_bytes = key if isinstance(key, bytes) else key_pem(key)
    cert_bytes = cert if isinstance(cert, bytes) else cert_pem(cert)
    atomic_write(key_path, key_bytes, 0o600)
    atomic_write(cert_path, cert_bytes, 0o644)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CertKeyPair:
    """An issued certificate with the private key that goes with it."""

    certificate: x509.Certificate
    private_key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.certificate)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.private_key)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key_der(self) -> bytes:
        return key_der(self.private_key)

    def write(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> None:
        write_pem_pair(self.certificate, self.private_key, cert_path, key_path)


# --------------------------------------------------------------------------- the CA


class CertificateAuthority(CertKeyPair):
    """A CA certificate and key that issues and signs leaf certificates."""

    def __init__(self, certificate: x509.Certificate, private_key: PrivateKey) -> None:
        if certificate.public_key().public_numbers() != private_key.public_key().public_numbers():
            raise CertificateError("the CA private key does not match the CA certificate")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            raise CertificateError("the CA certificate has no basicConstraints") from None
        if not constraints.value.ca:
            raise CertificateError("the certificate is not a CA (basicConstraints CA:FALSE)")
        super().__init__(certificate, private_key)

    # -- making and loading

    @classmethod
    def create(
        cls,
        common_name: str = KUBEEDGE_CA_NAME,
        validity: dt.timedelta = DEFAULT_CA_VALIDITY,
        *,
        organizations: Sequence[str] = (),
        key_type: KeyType = "ec",
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """A new self-signed CA (specs/kubeedge.md §4: ECDSA P-256, CN KubeEdge, 100 years)."""
        key = generate_private_key(key_type)
        now = now or _utcnow()
        name = _name(common_name, organizations)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def from_pem(
        cls, cert_data: bytes | str, key_data: bytes | str, password: bytes | None = None
    ) -> CertificateAuthority:
        return cls(load_certificate(cert_data), load_private_key(key_data, password))

    # PEM and DER are told apart by content, so DER (Secret `kubeedge/casecret`) loads too.
    from_der = from_pem

    @classmethod
    def load(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        password: bytes | None = None,
    ) -> CertificateAuthority:
        """Load from files, e.g. `/etc/kubeedge/ca/rootCA.{crt,key}` (specs/kubeedge.md §4)."""
        return cls.from_pem(Path(cert_path).read_bytes(), Path(key_path).read_bytes(), password)

    @classmethod
    def load_or_create(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        **create_options: object,
    ) -> CertificateAuthority:
        """Load the CA from the two files, or create and write it if neither exists.

        One file without the other is an error, never silently replaced.
        """
        has_cert, has_key = Path(cert_path).exists(), Path(key_path).exists()
        if has_cert and has_key:
            return cls.load(cert_path, key_path)
        if has_cert or has_key:
            missing = key_path if has_cert else cert_path
            raise CertificateError(f"CA file {os.fspath(missing)} is missing")
        ca = cls.create(**create_options)  # type: ignore[arg-type]
        ca.write(cert_path, key_path)
        return ca

    # -- what it is

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the CA's DER: part 0 of a KubeEdge join token (specs/kubeedge.md §4)."""
        return cert_fingerprint(self.certificate)

    # -- issuing

    def _leaf(
        self,
        subject: x509.Name,
        public_key: PublicKey,
        usages: Sequence[x509.ObjectIdentifier],
        validity: dt.timedelta,
        sans: Sequence[x509.GeneralName],
        now: dt.datetime | None,
    ) -> x509.Certificate:
        now = now or _utcnow()
        # A leaf never outlives its issuer (as Kubernetes' CSR signer clamps it).
        not_after = min(now + validity, self.certificate.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(public_key), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        if sans:
            # RFC 5280 §4.2.1.6: critical when the subject is empty.
            builder = builder.add_extension(
                x509.SubjectAlternativeName(list(sans)), critical=len(subject) == 0
            )
        return builder.sign(self.private_key, hashes.SHA256())

    def issue_server_cert(
        self,
        common_name: str,
        dns_names: Iterable[str] = (),
        ip_addresses: Iterable[IPLike] = (),
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        *,
        organizations: Sequence[str] = (),
        client_auth: bool = False,
        private_key: PrivateKey | None = None,
        key_type: KeyType = "ec",
        now: dt.datetime | None = None,
    ) -> CertKeyPair:
        """A serving certificate whose SANs are exactly `dns_names` and `ip_addresses`.

        Clients (Go, Python with check_hostname) match only SANs, never the CN, so pass
        every name and address the server is dialled by: at least `127.0.0.1` for local
        kubectl (specs/k8s-api.md §7). `client_auth` adds ClientAuth too, for certificates
        that serve and also dial out (CloudCore's, KubeEdge's stream certificates).
        """
        sans = _sans(dns_names, ip_addresses)
        if not sans:
            raise ValueError("a server certificate needs at least one DNS name or IP address")
        key = private_key or generate_private_key(key_type)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH]
        if client_auth:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        cert = self._leaf(
            _name(common_name, organizations), key.public_key(), usages, validity, sans, now
        )
        return CertKeyPair(cert, key)

    def issue_client_cert(
        self,
        common_name: str,
        organizations: Sequence[str] = (),
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        *,
        private_key: PrivateKey | None = None,
        key_type: KeyType = "ec",
        now: dt.datetime | None = None,
    ) -> CertKeyPair:
        """A client certificate: Kubernetes user = CN, groups = the O values
        (e.g. `kubernetes-admin` in `system:masters`; specs/k8s-api.md §7)."""
        if not common_name:
            raise ValueError("a client certificate needs a common name (the user name)")
        key = private_key or generate_private_key(key_type)
        cert = self._leaf(
            _name(common_name, organizations),
            key.public_key(),
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            validity,
            (),
            now,
        )
        return CertKeyPair(cert, key)

    def sign_csr(
        self,
        csr: bytes | str | x509.CertificateSigningRequest,
        usages: Iterable[Usage] = (CLIENT_AUTH,),
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        *,
        copy_sans: bool = False,
        now: dt.datetime | None = None,
    ) -> x509.Certificate:
        """Sign an edge node's CSR as CloudCore's `/edge.crt` does (specs/kubeedge.md §4).

        The CSR's signature must verify. As in KubeEdge, only the subject's CN and O are
        copied (C, L, ST are dropped) and the extended key usages come from `usages`
        (Go numbers such as the `ExtKeyUsages` header's, names such as "server auth", or
        OIDs; default ClientAuth). SANs are copied only with `copy_sans`. The caller checks
        that the CN/O are what the requester may have, e.g. `system:node:<NodeName>`.
        """
        request = csr if isinstance(csr, x509.CertificateSigningRequest) else load_csr(csr)
        if not request.is_signature_valid:
            raise CertificateError("the certificate request's signature is invalid")
        public_key = request.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CertificateError(f"unsupported public key type {type(public_key).__name__}")
        oids: list[x509.ObjectIdentifier] = []
        for usage in usages:
            oid = ext_key_usage(usage)
            if oid not in oids:
                oids.append(oid)
        common_name, organizations = _csr_identity(request)
        sans: list[x509.GeneralName] = []
        if copy_sans:
            with contextlib.suppress(x509.ExtensionNotFound):
                ext = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                sans = [n for n in ext.value if isinstance(n, x509.DNSName | x509.IPAddress)]
        return self._leaf(_name(common_name, organizations), public_key, oids, validity, sans, now)


def _csr_identity(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cns[0].value) if cns else "", [str(o.value) for o in orgs])
