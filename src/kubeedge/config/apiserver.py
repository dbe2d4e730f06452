"""Typed configuration of the embedded API server (ARCHITECTURE.md rule 7 and 8).

Every path hangs off `root`; every timing is a field with the Kubernetes default so
tests can shorten it. A bad value is refused at load with the field's name and why.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

import msgspec
import yaml


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and the fix."""


class StorageConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    backend: Literal["sqlite", "etcd"] = "sqlite"
    # sqlite: relative to the root unless absolute.
    sqlite_path: str = "var/lib/kubeedge/apiserver/state.db"
    etcd_servers: list[str] = msgspec.field(default_factory=list)
    # Key prefix inside etcd, so several clusters can share one etcd.
    etcd_prefix: str = "/registry"
    # kine's compaction defaults (specs/k8s-api.md §8): every 5 min, keep 1000 revisions.
    compaction_interval_seconds: float = 300.0
    compaction_retain_revisions: int = 1000


class APIServerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    root: str = "/"
    bind_address: str = "0.0.0.0"
    advertise_address: str = "127.0.0.1"
    port: int = 6443
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    # Kubernetes' default service range.
    service_cluster_ip_range: str = "10.96.0.0/12"
    # PKI and credentials, relative to the root.
    pki_dir: str = "etc/kubeedge/pki"
    token_auth_file: str = "etc/kubeedge/pki/tokens.csv"
    # Watches without timeoutSeconds end after a random time in [min, 2*min), as
    # kube-apiserver's --min-request-timeout (1800 s) does.
    min_request_timeout_seconds: float = 1800.0
    bookmark_interval_seconds: float = 60.0
    # kube-apiserver's --max-request-body-bytes default is 3 MiB plus overhead.
    max_request_body_bytes: int = 3 * 1024 * 1024
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Service account tokens (kube-apiserver's --service-account-* flags).
    service_account_key_file: str = "etc/kubeedge/pki/sa.key"
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    # Audiences the API server accepts; empty means [service_account_issuer].
    api_audiences: list[str] = msgspec.field(default_factory=list)
    # kube refuses TokenRequests shorter than 10 minutes; 0 means no upper bound.
    service_account_min_token_seconds: int = 600
    service_account_max_token_seconds: int = 0
    # In-process controllers that keep every namespace's `default` ServiceAccount and
    # `kube-root-ca.crt` ConfigMap (kube-controller-manager's, until the controller
    # manager runs in cloudcore).
    namespace_controllers: bool = True
    controller_kubeconfig: str = "etc/kubeedge/controller-manager.kubeconfig"
    # How pods/log|exec|attach|portforward and nodes/proxy reach a node's kubelet-style
    # server (kube-apiserver's --kubelet-client-certificate, --kubelet-client-key and
    # --kubelet-certificate-authority; relative to the root unless absolute). Unset,
    # those subresources answer 503. Unlike kube-apiserver, which skips verifying
    # kubelets without a CA, a client certificate here always comes with the CA that
    # kubelet (stream server) certificates must chain to.
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_certificate_authority: str = ""
    # kube-apiserver's --kubelet-timeout (5 s): connecting to a kubelet and waiting for
    # its response head. Bodies (logs -f, exec and port-forward sessions) run unbounded.
    # Also bounds one /stats/summary scrape for metrics.k8s.io.
    kubelet_timeout_seconds: float = 5.0
    # metrics.k8s.io answers are computed from the nodes' /stats/summary and reused for
    # this long; also reported as each item's `window`. metrics-server scrapes every
    # --metric-resolution (15 s); we scrape on demand, at most once per window per node.
    metrics_resolution_seconds: float = 15.0

    def path(self, relative: str) -> Path:
        """A path under the root (absolute paths are taken as they are)."""
        if os.path.isabs(relative):
            return Path(relative)
        return Path(self.root) / relative

    def validate(self) -> APIServerConfig:
        if not 0 <= self.port <= 65535:
            # 0 asks for any free port (in-process tests); the bound one is reported.
            raise ConfigError(f"port: {self.port} is not a TCP port (1-65535)")
        try:
            net = ipaddress.ip_network(self.service_cluster_ip_range, strict=True)
        except ValueError as exc:
            raise ConfigError(f"service_cluster_ip_range: {exc}") from None
        if net.num_addresses < 8:
            raise ConfigError("service_cluster_ip_range: the range needs at least 8 addresses")
        try:
            ipaddress.ip_address(self.advertise_address)
        except ValueError:
            raise ConfigError(
                f"advertise_address: {self.advertise_address!r} is not an IP address"
            ) from None
        if self.storage.backend == "etcd" and not self.storage.etcd_servers:
            raise ConfigError("storage.etcd_servers: required when storage.backend is etcd")
        if self.storage.compaction_retain_revisions < 1:
            raise ConfigError("storage.compaction_retain_revisions: must be at least 1")
        if bool(self.kubelet_client_certificate) != bool(self.kubelet_client_key):
            missing = ("kubelet_client_key" if self.kubelet_client_certificate
                       else "kubelet_client_certificate")
            raise ConfigError(f"{missing}: required with the other kubelet client file "
                              "(--kubelet-client-certificate and --kubelet-client-key go "
                              "together)")
        if self.kubelet_client_certificate and not self.kubelet_certificate_authority:
            raise ConfigError("kubelet_certificate_authority: required with "
                              "kubelet_client_certificate (--kubelet-certificate-authority: "
                              "the CA kubelet serving certificates are verified against)")
        for name in ("min_request_timeout_seconds", "bookmark_interval_seconds",
                     "kubelet_timeout_seconds", "metrics_resolution_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be greater than zero")
        return self


def load_apiserver_config(path: str | Path) -> APIServerConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        config = msgspec.convert(raw, APIServerConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config.validate()


def dump_config(config: APIServerConfig) -> str:
    return yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False)
