"""How a hollow node gets its identity: `system:node:<name>` in group `system:nodes`.

Two ways, both authorized by the API server's node authorizer and NodeRestriction
exactly as a kubelet is:

- `certificate`: each node gets a client certificate from the cluster CA and its own
  `APIClient` (one TLS connection per node, like a fleet of kubelets);
- `impersonate`: every node's client sends `Impersonate-User: system:node:<name>` and
  `Impersonate-Group: system:nodes` over ONE shared pool of the administrator's TLS
  connections (kube's impersonation, specs/k8s-api.md §7). The server authorizes each
  request as the node, so the rules are the same, but 300 nodes cost a handful of
  connections instead of 300 TLS sessions on each side.

Must never write certificates to disk: keys stay in memory (and the ssl module's
private temp files).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import aiohttp

from kubeedge.client import kubeconfig
from kubeedge.client.clock import Clock
from kubeedge.client.rest import APIClient

__all__ = ["AuthMode", "ClusterCredentials", "NodeClientFactory", "node_user"]

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"


def node_user(name: str) -> str:
    return NODE_USER_PREFIX + name


class AuthMode(StrEnum):
    CERTIFICATE = "certificate"
    IMPERSONATE = "impersonate"


@dataclass(frozen=True)
class ClusterCredentials:
    """Where the API server is and how to act on it: the admin kubeconfig, and the
    cluster CA that signs node certificates (needed for `certificate` mode only)."""

    kubeconfig: Path
    ca_cert: Path | None = None
    ca_key: Path | None = None

    @classmethod
    def from_root(cls, root: str | os.PathLike[str]) -> ClusterCredentials:
        """The layout `keadm init --root` writes."""
        etc = Path(root) / "etc/kubeedge"
        return cls(etc / "admin.kubeconfig", etc / "pki/ca.crt", etc / "pki/ca.key")


@dataclass
class _PreparedAccess(kubeconfig.ClusterAccess):
    """Cluster access whose TLS context is built once by the caller: `APIClient` asks
    for one per client, and `ClusterAccess.ssl_context` loads the whole system trust
    store each time (about 1 MB and milliseconds per node at 300 nodes)."""

    prepared: ssl.SSLContext | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        return self.prepared if self.prepared is not None else super().ssl_context()


def _tls_context(ca_pem: bytes | None, cert_pem: bytes | None, key_pem: bytes | None,
                 insecure: bool = False) -> ssl.SSLContext:
    """A client TLS context trusting only the cluster CA (no system store)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode())
    else:
        ctx.load_default_certs()
    if cert_pem and key_pem:
        # ssl loads key pairs only from files: private temp files, removed at once.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key_pem)
            cert.write_bytes(cert_pem)
            ctx.load_cert_chain(cert, key)
    return ctx


class NodeClientFactory:
    """Makes the admin client and one client per node; `close()` closes the shared pool.

    `connections` bounds the shared pool (impersonate mode) and so the requests in
    flight at once; in certificate mode each node keeps at most 2 connections.
    """

    def __init__(
        self,
        credentials: ClusterCredentials,
        mode: AuthMode = AuthMode.IMPERSONATE,
        *,
        clock: Clock | None = None,
        connections: int = 32,
        qps: float = 50.0,
        burst: int = 100,
    ) -> None:
        self.credentials = credentials
        self.mode = AuthMode(mode)
        self.clock = clock
        self.connections = connections
        self.qps = qps
        self.burst = burst
        loaded = kubeconfig.load(credentials.kubeconfig)
        self.tls = loaded.server.startswith("https:")
        self.access = _PreparedAccess(**{
            k: getattr(loaded, k) for k in loaded.__dataclass_fields__ if k != "_tmp"})
        if self.tls:
            self.access.prepared = _tls_context(
                loaded.ca_data, loaded.client_cert_data, loaded.client_key_data,
                loaded.insecure_skip_tls_verify)
        self._connector: aiohttp.TCPConnector | None = None
        self._ca = None
        if self.mode is AuthMode.CERTIFICATE:
            if credentials.ca_cert is None or credentials.ca_key is None:
                raise ValueError(
                    "certificate mode needs the cluster CA (ca_cert and ca_key) to issue "
                    "node certificates; give them or use impersonate mode"
                )
            # The certificate code is heavy; load it only when it is used.
            from kubeedge.cloud.certs.authority import CertificateAuthority

            self._ca = CertificateAuthority.load(credentials.ca_cert, credentials.ca_key)

    def admin(self) -> APIClient:
        return APIClient(
            self.access, clock=self.clock, qps=0, burst=0, user_agent="kubeedge-hollow"
        )

    def _shared_connector(self) -> aiohttp.TCPConnector:
        if self._connector is None or self._connector.closed:
            ssl_context = self.access.ssl_context() if self.tls else False
            self._connector = aiohttp.TCPConnector(ssl=ssl_context, limit=self.connections)
        return self._connector

    def node(self, name: str) -> APIClient:
        agent = f"kubelet/{name} (hollow)"
        if self.mode is AuthMode.IMPERSONATE:
            return APIClient(
                self.access,
                connector=self._shared_connector(),
                headers={"Impersonate-User": node_user(name), "Impersonate-Group": NODES_GROUP},
                clock=self.clock, qps=self.qps, burst=self.burst, user_agent=agent,
            )
        assert self._ca is not None
        pair = self._ca.issue_client_cert(node_user(name), organizations=[NODES_GROUP])
        access = replace(
            self.access, client_cert_data=pair.cert_pem, client_key_data=pair.key_pem,
            token="", _tmp=[], prepared=None,
        )
        if self.tls:
            access.prepared = _tls_context(access.ca_data, pair.cert_pem, pair.key_pem,
                                           access.insecure_skip_tls_verify)
        return APIClient(
            access, clock=self.clock, qps=self.qps, burst=self.burst, connection_limit=2,
            user_agent=agent,
        )

    async def close(self) -> None:
        connector, self._connector = self._connector, None
        if connector is not None:
            await connector.close()
