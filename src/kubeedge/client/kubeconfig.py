"""Kubeconfig files: the one way every component and user finds an API server.

The format is kubectl's (specs/k8s-api.md §7): clusters, users, contexts and the
current context; certificate material inline (`*-data`, base64) or as file paths
relative to the kubeconfig's own directory. Files are written with mode 0600 because
they hold private keys or tokens.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeedge.durable import atomic_write


class KubeconfigError(ValueError):
    """The kubeconfig is missing, unreadable or does not name what is needed."""


# Where kubelet mounts a pod's service-account credentials, and how often a token file
# is read again (client-go's rest.InClusterConfig and its cached token source).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE_REREAD_SECONDS = 60.0


@dataclass
class ClusterAccess:
    """Everything needed to reach one API server as one user."""

    server: str
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str = ""
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str = ""
    namespace: str = "default"
    # A bearer token kept in a file and re-read as it rotates (a pod's projected
    # service-account token, a kubeconfig user's `tokenFile`); wins over `token`.
    token_file: str = ""
    _tmp: list[str] = field(default_factory=list, repr=False)
    _file_token: tuple[float, str] = field(default=(-1e18, ""), repr=False)

    def bearer_token(self, now: float | None = None) -> str:
        """The token to send: `token`, or `token_file`'s content, read again once it is
        a minute old (client-go's cached file token source; kubelet rotates projected
        tokens well before they expire). A file that cannot be read keeps the last
        token."""
        if not self.token_file:
            return self.token
        read_at, token = self._file_token
        now = time.monotonic() if now is None else now
        if now - read_at >= TOKEN_FILE_REREAD_SECONDS:
            try:
                token = Path(self.token_file).read_text().strip()
            except OSError:
                if not token:
                    raise
            self._file_token = (now, token)
        return token

    def ssl_context(self) -> ssl.SSLContext:
        if self.ca_data and not self.insecure_skip_tls_verify:
            # Trust exactly the cluster's CA; loading the system store as well costs about
            # a megabyte per context (hollow nodes and benchmarks build hundreds).
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                             cadata=self.ca_data.decode())
        else:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert_data and self.client_key_data:
            # ssl only loads key pairs from files: use private temp files, removed at once.
            with tempfile.TemporaryDirectory() as tmp:
                cert = Path(tmp) / "client.crt"
                key = Path(tmp) / "client.key"
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(self.client_key_data)
                cert.write_bytes(self.client_cert_data)
                ctx.load_cert_chain(cert, key)
        return ctx


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render(
    server: str,
    ca_pem: bytes,
    *,
    user: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str = "",
    cluster: str = "kubeedge",
    namespace: str = "default",
) -> dict[str, Any]:
    creds: dict[str, Any] = {}
    if client_cert_pem is not None and client_key_pem is not None:
        creds["client-certificate-data"] = _b64(client_cert_pem)
        creds["client-key-data"] = _b64(client_key_pem)
    if token:
        creds["token"] = token
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": context, "context": {
            "cluster": cluster, "user": user, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }


def write(path: str | os.PathLike[str], config: dict[str, Any]) -> None:
    atomic_write(path, yaml.safe_dump(config, sort_keys=False).encode(), 0o600)


def _data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    inline = entry.get(f"{key}-data")
    if inline:
        return base64.b64decode(inline)
    ref = entry.get(key)
    if ref:
        path = Path(os.path.expanduser(ref))
        if not path.is_absolute():
            path = base / path
        return path.read_bytes()
    return None


def load(path: str | os.PathLike[str] | None = None, context: str = "") -> ClusterAccess:
    """Read a kubeconfig ($KUBECONFIG or ~/.kube/config when no path is given)."""
    if path is None:
        env = os.environ.get("KUBECONFIG", "")
        path = env.split(os.pathsep)[0] if env else os.path.expanduser("~/.kube/config")
    file = Path(path)
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {file} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"kubeconfig {file} cannot be read: {exc}") from None
    name = context or doc.get("current-context", "")

    def find(section: str, wanted: str) -> dict[str, Any]:
        for item in doc.get(section) or []:
            if item.get("name") == wanted:
                return item.get(section[:-1]) or {}
        raise KubeconfigError(f"kubeconfig {file}: no {section[:-1]} named {wanted!r}")

    ctx = find("contexts", name)
    cluster = find("clusters", ctx.get("cluster", ""))
    user = find("users", ctx.get("user", "")) if ctx.get("user") else {}
    base = file.parent
    try:
        return ClusterAccess(
            server=str(cluster.get("server", "")).rstrip("/"),
            ca_data=_data(cluster, "certificate-authority", base),
            insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
            tls_server_name=str(cluster.get("tls-server-name", "")),
            client_cert_data=_data(user, "client-certificate", base),
            client_key_data=_data(user, "client-key", base),
            token=str(user.get("token", "")),
            token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else "",
            namespace=str(ctx.get("namespace") or "default"),
        )
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {file}: {exc}") from None


def load_in_cluster(env: Mapping[str, str] | None = None,
                    directory: Path | None = None) -> ClusterAccess:
    """Access from inside a pod, as client-go's InClusterConfig: the API at
    `KUBERNETES_SERVICE_HOST`:`KUBERNETES_SERVICE_PORT`, the cluster CA and the pod's
    service-account token (re-read as it rotates) from `directory`."""
    env = os.environ if env is None else env
    directory = SERVICE_ACCOUNT_DIR if directory is None else directory
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError(
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT must be defined (outside a pod, give a kubeconfig)")
    if ":" in host:
        host = f"[{host}]"
    try:
        ca = (directory / "ca.crt").read_bytes()
        (directory / "token").read_text()
    except OSError as exc:
        raise KubeconfigError(f"in-cluster credentials under {directory}: {exc}") from None
    try:
        namespace = (directory / "namespace").read_text().strip() or "default"
    except OSError:
        namespace = "default"
    return ClusterAccess(server=f"https://{host}:{port}", ca_data=ca,
                         token_file=str(directory / "token"), namespace=namespace)
