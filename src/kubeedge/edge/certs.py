"""The edge's certificates: bootstrap from a join token, and rotation before expiry.

Owns (specs/kubeedge.md §4, KubeEdge's `edgehub/certificate/certmanager.go`):
- deciding whether the node has a usable certificate (cert and key present, matching,
  CN `system:node:<node>`); otherwise it bootstraps (KubeEdge v1.21+ `getCurrent`:
  another node's certificate is never used). `certificate_owner` names whose a
  certificate file is, for `keadm join` to refuse one of another node;
- bootstrap: fetch `/ca.crt` from the :10002 service without verifying the server
  (the token's hash is the trust anchor), compare its SHA-256 with the token's first
  part ("failed to validate CA certificate" on a mismatch), make an ECDSA P-256 key and
  a CSR (C=CN, O=system:nodes, L=Hangzhou, ST=Zhejiang, CN=system:node:<node>), send it
  to `/edge.crt` with `NodeName` and `Authorization: Bearer <jwt>` over TLS verified
  against that CA, and only then write the CA, key and certificate as PEM;
- rotation: a deadline at a random 70-90% of the certificate's lifetime, then a new
  key and CSR sent over mTLS with the current certificate, no token.

Nothing is written until the cloud has answered with a certificate, so a refused join
leaves no file behind. Keys are written 0600 from their first byte. A new key and
certificate replace the old pair in an order a crash cannot leave mismatched (see
`install_pair`).

The edge stays light (ARCHITECTURE.md rule 9): standard library only at import; the
`cryptography` package is loaded inside the functions that make keys or read
certificates, i.e. only when bootstrapping or rotating. The HTTP calls block (urllib);
EdgeHub runs them with `asyncio.to_thread`. Never imports anything from `cloud/`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge.durable import atomic_write

# common/constants: the routes, and the 1 MiB cap on what is read back.
CA_PATH = "/ca.crt"
CERT_PATH = "/edge.crt"
MAX_RESPONSE_BYTES = 1 << 20
# common/types/http.go.
HEADER_NODE_NAME = "NodeName"
HEADER_AUTHORIZATION = "Authorization"
# certmanager.go's CSR subject.
CSR_COUNTRY = "CN"
CSR_ORGANIZATION = "system:nodes"
CSR_LOCALITY = "Hangzhou"
CSR_PROVINCE = "Zhejiang"
# http.go: connect timeout 30 s.
DEFAULT_TIMEOUT = 30.0
# certmanager.go `jitteryDuration`: rotate at 70-90% of the lifetime.
ROTATION_WINDOW = (0.7, 0.9)


class BootstrapError(RuntimeError):
    """The edge could not get (or renew) its certificate; the message says why as
    KubeEdge words it, e.g. `failed to validate CA certificate. …` or
    `failed to call http, code: 401, message: token validation failure, …`."""


def node_identity(node_name: str) -> str:
    return f"system:node:{node_name}"


@dataclass(frozen=True)
class EdgeCertPaths:
    """Where the edge keeps its PEM files: edgecore's `edgeHub.tlsCaFile`,
    `tlsCertFile`, `tlsPrivateKeyFile`, KubeEdge's defaults under the root."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def for_root(cls, root: str | os.PathLike[str]) -> EdgeCertPaths:
        base = Path(root)
        return cls(
            ca=base / "etc/kubeedge/ca/rootCA.crt",
            cert=base / "etc/kubeedge/certs/server.crt",
            key=base / "etc/kubeedge/certs/server.key",
        )

    @property
    def pending_key(self) -> Path:
        """A new key written before its certificate, renamed over `key` after it."""
        return self.key.with_name(self.key.name + ".new")


# --------------------------------------------------------------------------- token


def split_token(token: str) -> tuple[str, str]:
    """(CA hash, the JWT to send as Bearer) of a `keadm gettoken` token."""
    parts = token.strip().split(".")
    if len(parts) != 4:
        raise BootstrapError(
            f"token credentials are in the wrong format: {len(parts)} dot-separated parts, "
            "not 4; copy the whole output of `keadm gettoken`"
        )
    return parts[0], ".".join(parts[1:])


def ca_hash(ca_der: bytes) -> str:
    return hashlib.sha256(ca_der).hexdigest()


def verify_ca(token: str, ca_der: bytes) -> str:
    """token.go `VerifyCAAndGetRealToken`: the CA must hash to the token's first part;
    returns the JWT to send as Bearer."""
    token_hash, bearer = split_token(token)
    current = ca_hash(ca_der)
    if current != token_hash.lower():
        raise BootstrapError(
            f"failed to validate CA certificate. tokenCAhash: {token_hash}, CAhash: {current}"
        )
    return bearer


# --------------------------------------------------------------------------- HTTP


def unverified_context() -> ssl.SSLContext:
    # KubeEdge's edge fetches the CA with InsecureSkipVerify; the token's hash is checked
    # on what comes back.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _ca_context(ca_pem: bytes, cert: Path | None = None, key: Path | None = None
                ) -> ssl.SSLContext:
    # The CSR goes to a server verified against the CA just fetched, names included, as
    # Go's RootCAs check does: the address in `httpServer` must be in CloudCore's SANs.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=ca_pem.decode())
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def _get(url: str, ctx: ssl.SSLContext, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    # A GET with a body, as KubeEdge's edge sends `/edge.crt`.
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="GET")
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=timeout) as resp:
            content: bytes = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as err:
        message = err.read(MAX_RESPONSE_BYTES).decode(errors="replace").strip()
        raise BootstrapError(
            f"failed to call http, code: {err.code}, message: {message}"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise BootstrapError(f"failed to request the cloudcore server {url}: {reason}") from None
    if len(content) > MAX_RESPONSE_BYTES:
        raise BootstrapError(f"the answer from {url} is larger than {MAX_RESPONSE_BYTES} bytes")
    return content


def fetch_ca(http_server: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The CA's DER from `<httpServer>/ca.crt`, server unverified (checked by hash next)."""
    return _get(http_server.rstrip("/") + CA_PATH, unverified_context(), timeout=timeout)


def make_key_and_csr(node_name: str) -> tuple[bytes, bytes]:
    """(key PEM `EC PRIVATE KEY`, CSR DER) for the node, as certmanager.go makes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, CSR_COUNTRY),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, CSR_ORGANIZATION),
        x509.NameAttribute(NameOID.LOCALITY_NAME, CSR_LOCALITY),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, CSR_PROVINCE),
        x509.NameAttribute(NameOID.COMMON_NAME, node_identity(node_name)),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_bytes, csr.public_bytes(serialization.Encoding.DER)


def request_certificate(
    http_server: str,
    ca_pem: bytes,
    node_name: str,
    csr_der: bytes,
    *,
    bearer: str = "",
    client_cert: tuple[Path, Path] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """Send the CSR to `<httpServer>/edge.crt`; returns the certificate's DER."""
    headers = {HEADER_NODE_NAME: node_name, "Content-Type": "application/octet-stream"}
    if bearer:
        headers[HEADER_AUTHORIZATION] = f"Bearer {bearer}"
    cert, key = client_cert if client_cert is not None else (None, None)
    ctx = _ca_context(ca_pem, cert, key)
    return _get(http_server.rstrip("/") + CERT_PATH, ctx, body=csr_der, headers=headers,
                timeout=timeout)


# --------------------------------------------------------------------------- files


def _der_to_pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


def _load_cert(data: bytes) -> Any:
    from cryptography import x509

    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _key_matches(cert: Any, key_pem: bytes) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    return bool(cert.public_key().public_numbers() == key.public_key().public_numbers())


def install_pair(paths: EdgeCertPaths, cert_der: bytes, key_pem: bytes) -> None:
    """Replace the node's key and certificate so no crash leaves them mismatched: the
    new key goes to `<key>.new`, then the certificate, then the key is renamed into
    place; `recover_pending` finishes or drops a pair a crash interrupted."""
    atomic_write(paths.pending_key, key_pem, 0o600)
    atomic_write(paths.cert, _der_to_pem(cert_der), 0o600)
    os.replace(paths.pending_key, paths.key)


def recover_pending(paths: EdgeCertPaths) -> None:
    """After a crash inside `install_pair`: keep `<key>.new` if it belongs to the
    certificate on disk, else drop it."""
    if not paths.pending_key.exists():
        return
    try:
        cert = _load_cert(paths.cert.read_bytes())
        pending = paths.pending_key.read_bytes()
    except (OSError, ValueError):
        cert, pending = None, b""
    if cert is not None and _key_matches(cert, pending):
        os.replace(paths.pending_key, paths.key)
    else:
        with contextlib.suppress(FileNotFoundError):
            paths.pending_key.unlink()


def certificate_owner(path: Path) -> str | None:
    """The CN of the certificate at `path` (PEM or DER), None when there is no file;
    `ValueError` when the file is not a certificate."""
    from cryptography.x509.oid import NameOID

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    cns = _load_cert(data).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def current_certificate(paths: EdgeCertPaths, node_name: str) -> Any | None:
    """The node's certificate if it is usable (cert and key present and matching, CN
    `system:node:<node>`, certmanager.go `getCurrent`), else None: bootstrap then."""
    from cryptography.x509.oid import NameOID

    recover_pending(paths)
    try:
        cert = _load_cert(paths.cert.read_bytes())
        key_pem = paths.key.read_bytes()
    except (OSError, ValueError):
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns or cns[0].value != node_identity(node_name):
        return None
    return cert if _key_matches(cert, key_pem) else None


# --------------------------------------------------------------------------- flows


def bootstrap(
    paths: EdgeCertPaths,
    node_name: str,
    token: str,
    http_server: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """certmanager.go `applyCerts`: the CA checked against the token, a certificate
    obtained with it, then the CA, key and certificate written. Returns the cert's DER.

    Fails with `BootstrapError` before writing anything.
    """
    split_token(token)  # a malformed token fails before any network traffic
    ca_der = fetch_ca(http_server, timeout)
    bearer = verify_ca(token, ca_der)
    ca_pem = _der_to_pem(ca_der)
    key_pem, csr_der = make_key_and_csr(node_name)
    cert_der = request_certificate(http_server, ca_pem, node_name, csr_der, bearer=bearer,
                                   timeout=timeout)
    _check_issued(cert_der, ca_der, node_name)
    atomic_write(paths.ca, ca_pem, 0o644)
    install_pair(paths, cert_der, key_pem)
    return cert_der


def rotate(paths: EdgeCertPaths, node_name: str, http_server: str, *,
           timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """certmanager.go `rotateCert`: a new key and certificate obtained over mTLS with the
    current pair (no token). The old pair stays in place if anything fails."""
    if current_certificate(paths, node_name) is None:
        raise BootstrapError(
            f"no usable certificate for node {node_name} at {paths.cert}: bootstrap with a "
            "token instead"
        )
    ca_pem = paths.ca.read_bytes()
    key_pem, csr_der = make_key_and_csr(node_name)
    cert_der = request_certificate(http_server, ca_pem, node_name, csr_der,
                                   client_cert=(paths.cert, paths.key), timeout=timeout)
    _check_issued(cert_der, ca_pem, node_name)
    install_pair(paths, cert_der, key_pem)
    return cert_der


def _check_issued(cert_der: bytes, ca: bytes, node_name: str) -> None:
    """What came back is a certificate of this node from this CA (not an error page)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import NameOID

    try:
        cert = _load_cert(cert_der)
        cert.verify_directly_issued_by(_load_cert(ca))
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise BootstrapError(
            f"the certificate from the cloudcore is not one its CA issued: {exc}"
        ) from None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns or cns[0].value != node_identity(node_name):
        raise BootstrapError(
            f"the cloudcore issued a certificate for {cns[0].value if cns else '(no CN)'}, "
            f"not {node_identity(node_name)}"
        )


# --------------------------------------------------------------------------- rotation


def rotation_deadline(
    not_before: dt.datetime,
    not_after: dt.datetime,
    window: tuple[float, float] = ROTATION_WINDOW,
    rand: Callable[[], float] = random.random,
) -> dt.datetime:
    """When to renew: NotBefore plus a random fraction of the lifetime within `window`
    (KubeEdge: 70-90%), so edges that joined together do not all renew together."""
    low, high = window
    if not 0.0 < low <= high < 1.0:
        raise ValueError(
            f"edgeHub rotation window {window}: need 0 < low <= high < 1 (fractions of the "
            "certificate's lifetime)"
        )
    fraction = low + (high - low) * rand()
    return not_before + (not_after - not_before) * fraction


def certificate_deadline(cert_pem_or_der: bytes, window: tuple[float, float] = ROTATION_WINDOW,
                         rand: Callable[[], float] = random.random) -> dt.datetime:
    cert = _load_cert(cert_pem_or_der)
    return rotation_deadline(cert.not_valid_before_utc, cert.not_valid_after_utc, window, rand)


def needs_rotation(cert_pem_or_der: bytes, now: dt.datetime,
                   window: tuple[float, float] = ROTATION_WINDOW,
                   rand: Callable[[], float] = random.random) -> bool:
    """Whether `now` has passed the certificate's rotation deadline. The deadline is
    drawn at random each call: a loop computes `certificate_deadline` once per
    certificate and sleeps until it."""
    return now >= certificate_deadline(cert_pem_or_der, window, rand)
