"""CloudHub's HTTPS certificate service on :10002 (specs/kubeedge.md §4, §5).

Owns the routes of KubeEdge's `cloudhub/servers/httpserver`:
- `GET /ca.crt`: KubeEdge's CA as raw DER, to anyone (the edge checks its hash against
  the token, so it fetches it without verifying the server).
- `GET /edge.crt`: the body is a CSR (DER, or PEM), the `NodeName` header names the
  node. Allowed by a client certificate of that same node (rotation over mTLS; a
  presented certificate is what counts, as in KubeEdge, not any token beside it) or by
  `Authorization: Bearer <jwt>`. Answers the certificate as DER, CN `system:node:<name>`,
  O `system:nodes`, ClientAuth, valid `edgeCertSigningDuration` days. Refusals are plain
  text: 401 for a missing or bad token (`token validation failure, …`) or a certificate
  that does not verify, 403 for a valid certificate of another node or a CSR asking for
  another identity, 400 for a malformed request, 413 past `maxBodyBytes`.
- `GET /node/{name}`: 200 `Node found` / 404 `Node not found` (keadm join uses it).

Stricter than KubeEdge, on purpose: the CSR's subject must be exactly the node's
identity (KubeEdge signs whatever CN/O it is sent), its SANs are not copied, only
ClientAuth may be asked for in `ExtKeyUsages` (a ServerAuth certificate from this CA
would let a node impersonate CloudCore to other edges), and the old shared
`O=KubeEdge, CN=kubeedge.io` edge certificate is not accepted for rotation.

Also `CertModule`, the cloudcore module that prepares the certificates, runs the token
refresher and serves. Never imported by the edge (ARCHITECTURE.md rule 9).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.certs.authority import (
    CLIENT_AUTH,
    CertificateError,
    cert_identity,
    load_csr,
)
from kubeedge.cloud.certs.edge_ca import EdgeCertificates, LocalFiles
from kubeedge.cloud.certs.token import (
    DEFAULT_RETRY,
    TokenRefresher,
    TokenValidationError,
    WallClock,
    verify_authorization,
)
from kubeedge.cloud.listen import start_site
from kubeedge.config.apiserver import ConfigError

log = logging.getLogger(__name__)

NODES = Resource.of("v1", "nodes")

# common/types/http.go.
HEADER_NODE_NAME = "NodeName"
HEADER_AUTHORIZATION = "Authorization"
HEADER_EXT_KEY_USAGES = "ExtKeyUsages"
# common/constants `MaxRespBodyLength`: KubeEdge caps the CSR body at 1 MiB.
MAX_BODY_BYTES = 1 << 20
NODE_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
# A Node's name is a DNS subdomain (RFC 1123), at most 253 characters.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class CertServiceSettings:
    """What the service needs from `modules.cloudHub` (specs/kubeedge.md §8), with
    KubeEdge's defaults; durations as timedeltas so tests can shorten them."""

    address: str = "0.0.0.0"
    port: int = 10002
    # `edgeCertSigningDuration` (days).
    edge_cert_validity: dt.timedelta = dt.timedelta(days=365)
    # `tokenRefreshDuration` (hours); the token lives twice that unless set.
    token_refresh: dt.timedelta = dt.timedelta(hours=12)
    token_expiry: dt.timedelta | None = None
    token_retry: dt.timedelta = DEFAULT_RETRY
    max_body_bytes: int = MAX_BODY_BYTES
    advertise_address: tuple[str, ...] = ("127.0.0.1",)
    dns_names: tuple[str, ...] = ()

    @classmethod
    def from_kubeedge(
        cls,
        *,
        edge_cert_signing_duration: float = 365,
        token_refresh_duration: float = 12,
        **rest: object,
    ) -> CertServiceSettings:
        """From KubeEdge's units: days and hours."""
        return cls(
            edge_cert_validity=dt.timedelta(days=edge_cert_signing_duration),
            token_refresh=dt.timedelta(hours=token_refresh_duration),
            **rest,  # type: ignore[arg-type]
        ).validate()

    @classmethod
    def from_cloudhub(cls, hub: Any) -> CertServiceSettings:
        """From the `modules.cloudHub` section of the CloudCore config (its `https`,
        `advertiseAddress`, `dnsNames`, `edgeCertSigningDuration` in days and
        `tokenRefreshDuration` in hours)."""
        return cls.from_kubeedge(
            edge_cert_signing_duration=hub.edge_cert_signing_duration,
            token_refresh_duration=hub.token_refresh_duration,
            address=hub.https.address,
            port=hub.https.port,
            advertise_address=tuple(hub.advertise_address),
            dns_names=tuple(hub.dns_names),
        )

    @property
    def effective_token_expiry(self) -> dt.timedelta:
        return 2 * self.token_refresh if self.token_expiry is None else self.token_expiry

    def validate(self) -> CertServiceSettings:
        prefix = "modules.cloudHub"
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{prefix}.https.port: {self.port} is not a port (0-65535)")
        if self.edge_cert_validity <= dt.timedelta(0):
            raise ConfigError(f"{prefix}.edgeCertSigningDuration: must be positive")
        if self.token_refresh <= dt.timedelta(0):
            raise ConfigError(f"{prefix}.tokenRefreshDuration: must be positive")
        if self.effective_token_expiry < self.token_refresh:
            raise ConfigError(
                f"{prefix}.tokenRefreshDuration: the token expiry "
                f"({self.effective_token_expiry}) must not be shorter than the refresh "
                f"interval ({self.token_refresh})"
            )
        if self.max_body_bytes < 1024:
            raise ConfigError(f"{prefix}.https.maxBodyBytes: must be at least 1024")
        return self


class RequestRefused(Exception):
    """A refusal with its HTTP status and the plain-text body the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def valid_node_name(name: str) -> bool:
    return 0 < len(name) <= 253 and _SUBDOMAIN.fullmatch(name) is not None


def node_identity(node_name: str) -> str:
    return f"{NODE_USER_PREFIX}{node_name}"


def parse_ext_key_usages(header: str) -> list[int]:
    """The `ExtKeyUsages` header (a JSON array of Go `ExtKeyUsage` numbers); default
    ClientAuth. Anything but ClientAuth is refused (see the module docstring)."""
    if not header.strip():
        return [CLIENT_AUTH]
    try:
        usages = json.loads(header)
    except ValueError:
        raise RequestRefused(
            400, f"the {HEADER_EXT_KEY_USAGES} header is not a JSON array of integers"
        ) from None
    if not isinstance(usages, list) or not all(
        isinstance(u, int) and not isinstance(u, bool) for u in usages
    ):
        raise RequestRefused(
            400, f"the {HEADER_EXT_KEY_USAGES} header is not a JSON array of integers"
        )
    if not usages:
        return [CLIENT_AUTH]
    if any(u != CLIENT_AUTH for u in usages):
        raise RequestRefused(
            403,
            f"{HEADER_EXT_KEY_USAGES} {usages}: an edge node certificate may only be a "
            f"client certificate ([{CLIENT_AUTH}])",
        )
    return [CLIENT_AUTH]


class CertService:
    """The :10002 application: routes and the checks behind them."""

    def __init__(
        self,
        certs: EdgeCertificates,
        client: APIClient | None,
        settings: CertServiceSettings | None = None,
        *,
        wall: WallClock = time.time,
    ) -> None:
        self.certs = certs
        self.client = client
        self.settings = (settings or CertServiceSettings()).validate()
        self.wall = wall
        self._ca_der = certs.ca_der
        self._ca_key_der = certs.ca_key_der
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- the application ----------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_get("/ca.crt", self.get_ca)
        app.router.add_get("/edge.crt", self.edge_cert)
        app.router.add_get("/node/{nodename}", self.check_node)
        return app

    def ssl_context(self) -> ssl.SSLContext:
        """TLS 1.2+ with CloudCore's certificate; a client certificate is requested and,
        when sent, must chain to KubeEdge's CA (Go's `RequestClientCert` would accept
        any and leave it to the handler; a foreign one fails the handshake here)."""
        return self.certs.server_ssl_context(ssl.CERT_OPTIONAL)

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Serve on `host:port` (settings by default; port 0 picks one); returns the port."""
        host = self.settings.address if host is None else host
        port = self.settings.port if port is None else port
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        self.port = await start_site(runner, host, port, ssl_context=self.ssl_context())
        self._runner = runner
        log.info("certificate service listening on https://%s:%d", host, self.port)
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- handlers -----------------------------------------------------------------

    async def get_ca(self, request: web.Request) -> web.Response:
        return web.Response(body=self._ca_der, content_type="application/octet-stream")

    async def check_node(self, request: web.Request) -> web.Response:
        name = request.match_info.get("nodename", "")
        if not name:
            return web.Response(status=400, text="nodename parameter is required")
        if self.client is None or not valid_node_name(name):
            return web.Response(status=404, text="Node not found")
        try:
            await self.client.get(NODES, name)
        except APIError as exc:
            if exc.is_not_found:
                return web.Response(status=404, text="Node not found")
            log.warning("failed to query node %s: %s", name, exc)
            return web.Response(status=500, text="Failed to query node information")
        except Exception as exc:
            log.warning("failed to query node %s: %s", name, exc)
            return web.Response(status=500, text="Failed to query node information")
        return web.Response(status=200, text="Node found")

    async def edge_cert(self, request: web.Request) -> web.Response:
        node_name = request.headers.get(HEADER_NODE_NAME, "").strip()
        try:
            der = await self._sign_for(request, node_name)
        except RequestRefused as refused:
            log.info("refused an edge certificate for %r: %s", node_name, refused.message)
            return web.Response(status=refused.status, text=refused.message)
        return web.Response(body=der, content_type="application/octet-stream")

    # -- checks -------------------------------------------------------------------

    async def _sign_for(self, request: web.Request, node_name: str) -> bytes:
        if not node_name:
            raise RequestRefused(400, f"the {HEADER_NODE_NAME} header is required")
        if not valid_node_name(node_name):
            raise RequestRefused(
                400, f"{HEADER_NODE_NAME} {node_name!r} is not a valid node name "
                "(a lower-case RFC 1123 subdomain)"
            )
        peer = self._peer_certificate(request)
        if peer is not None:
            self.verify_node_certificate(peer, node_name)
        else:
            try:
                verify_authorization(
                    request.headers.get(HEADER_AUTHORIZATION, ""),
                    self._ca_key_der,
                    now=self.wall(),
                    ca_der=self._ca_der,
                )
            except TokenValidationError as exc:
                raise RequestRefused(401, str(exc)) from None
        usages = parse_ext_key_usages(request.headers.get(HEADER_EXT_KEY_USAGES, ""))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestRefused(
                413, f"the certificate request is larger than {self.settings.max_body_bytes} "
                "bytes"
            ) from None
        return self.sign_node_csr(body, node_name, usages)

    @staticmethod
    def _peer_certificate(request: web.Request) -> x509.Certificate | None:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der) if der else None

    def verify_node_certificate(self, cert: x509.Certificate, node_name: str) -> None:
        """certs.go `verifyCert`: issued by KubeEdge's CA, in date, ClientAuth, and the
        identity of this very node."""
        prefix = f"failed to verify the certificate for edgenode: {node_name}, err:"
        try:
            cert.verify_directly_issued_by(self.certs.ca.certificate)
        except (ValueError, TypeError, InvalidSignature):
            raise RequestRefused(401, f"{prefix} not issued by KubeEdge's CA") from None
        now = dt.datetime.fromtimestamp(self.wall(), dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise RequestRefused(401, f"{prefix} the certificate has expired or is not yet valid")
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise RequestRefused(401, f"{prefix} the certificate is not for client auth")
        common_name, groups = cert_identity(cert)
        if common_name != node_identity(node_name) or groups != (NODE_GROUP,):
            raise RequestRefused(
                403, f"{prefix} request node name is not match with the certificate "
                f"(the certificate is {common_name!r})"
            )

    def sign_node_csr(self, body: bytes, node_name: str, usages: Sequence[int]) -> bytes:
        """Check the CSR asks for exactly this node's identity, then sign it."""
        if not body:
            raise RequestRefused(400, "the request body must be a certificate request (DER)")
        try:
            csr = load_csr(body)
        except CertificateError as exc:
            raise RequestRefused(400, str(exc)) from None
        cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if cns != [node_identity(node_name)] or orgs != [NODE_GROUP]:
            raise RequestRefused(
                403,
                f"the certificate request is for CN={','.join(cns) or '(none)'}, "
                f"O={','.join(orgs) or '(none)'}; node {node_name} may only ask for "
                f"CN={node_identity(node_name)}, O={NODE_GROUP}",
            )
        try:
            cert = self.certs.ca.sign_csr(
                csr,
                usages=usages,
                validity=self.settings.edge_cert_validity,
                now=dt.datetime.fromtimestamp(self.wall(), dt.UTC),
            )
        except CertificateError as exc:
            raise RequestRefused(400, f"failed to sign certs for edgenode {node_name}, err: {exc}"
                                 ) from None
        return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class CertModule:
    """The cloudcore side of §4: certificates prepared (Secrets), the token refreshed,
    the HTTPS service running (unless `serve` is off: `cloudHub.https.enable: false`,
    then edges must be given certificates some other way). `start`/`stop` as every
    cloudcore module."""

    client: APIClient
    settings: CertServiceSettings = field(default_factory=CertServiceSettings)
    local: LocalFiles | None = None
    serve: bool = True
    clock: Clock | None = None
    wall: WallClock = time.time
    certs: EdgeCertificates | None = None
    service: CertService | None = None
    refresher: TokenRefresher | None = None

    async def start(self) -> None:
        settings = self.settings.validate()
        self.certs = await EdgeCertificates.load_or_create(
            self.client, settings.advertise_address, settings.dns_names, local=self.local
        )
        self.refresher = TokenRefresher(
            self.client,
            self.certs.ca_der,
            self.certs.ca_key_der,
            refresh=settings.token_refresh,
            expiry=settings.effective_token_expiry,
            retry=settings.token_retry,
            clock=self.clock,
            wall=self.wall,
        )
        await self.refresher.start()
        if not self.serve:
            return
        self.service = CertService(self.certs, self.client, settings, wall=self.wall)
        try:
            await self.service.start()
        except BaseException:
            await self.refresher.stop()
            raise

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
        if self.refresher is not None:
            await self.refresher.stop()

    @property
    def port(self) -> int:
        return self.service.port if self.service is not None else 0

