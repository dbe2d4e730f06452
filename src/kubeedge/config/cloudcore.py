"""The CloudCore configuration (`cloudcore.config.kubeedge.io/v1alpha1`, kind
`CloudCore`; specs/kubeedge.md §8), typed and validated (ARCHITECTURE.md rule 7).

The structure follows KubeEdge's: `kubeAPIConfig` says how cloudcore reaches the
Kubernetes API, `modules` holds one section per module. Ours adds `controllerManager`
and `scheduler`, the modules that replace kube-controller-manager and kube-scheduler
beside the embedded API server. Unknown fields are refused with their path, as are
invalid values (the message names the field and the fix).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import yaml

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.config.scheduler import SchedulerConfig

API_VERSION = "cloudcore.config.kubeedge.io/v1alpha1"
KIND = "CloudCore"
DEFAULT_CONFIG_PATH = "/etc/kubeedge/config/cloudcore.yaml"


class KubeAPIConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                    rename="camel"):
    # An empty master takes the server from the kubeconfig.
    master: str = ""
    # Relative paths hang off the root.
    kube_config: str = "etc/kubeedge/cloudcore.kubeconfig"
    content_type: str = "application/json"
    # Client-side rate limit of cloudcore's API client. KubeEdge derives it from
    # CloudHub's nodeLimit (5x and 10x of 500, specs/kubeedge.md §3); the controllers
    # and the scheduler (Volcano runs with 2000) share it.
    qps: float = 2500.0
    burst: int = 5000


class MonitorServer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                    rename="camel"):
    bind_address: str = "127.0.0.1:9091"


class CommonConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                   rename="camel"):
    tunnel_port: int = 10004
    monitor_server: MonitorServer = msgspec.field(default_factory=MonitorServer)


class Modules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    controller_manager: ControllerManagerConfig = msgspec.field(
        default_factory=ControllerManagerConfig)
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)


class CloudCoreConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                      rename="camel"):
    api_version: str = API_VERSION
    kind: str = KIND
    # Every relative path hangs off this root (ARCHITECTURE.md rule 8).
    root: str = "/"
    common_config: CommonConfig = msgspec.field(default_factory=CommonConfig)
    kube_api_config: KubeAPIConfig = msgspec.field(default_factory=KubeAPIConfig,
                                                   name="kubeAPIConfig")
    modules: Modules = msgspec.field(default_factory=Modules)
    log_level: str = "info"

    def path(self, relative: str) -> Path:
        if os.path.isabs(relative):
            return Path(relative)
        return Path(self.root) / relative

    def validate(self) -> CloudCoreConfig:
        if self.api_version != API_VERSION:
            raise ConfigError(f"apiVersion: {self.api_version!r} is not {API_VERSION!r}")
        if self.kind != KIND:
            raise ConfigError(f"kind: {self.kind!r} is not {KIND!r}")
        if self.kube_api_config.qps <= 0 or self.kube_api_config.burst < 1:
            raise ConfigError("kubeAPIConfig.qps and kubeAPIConfig.burst: must be positive")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError(
                f"logLevel: {self.log_level!r} is not one of debug, info, warning, error")
        self.modules.controller_manager.validate()
        self.modules.scheduler.validate()
        return self


def load(path: str | Path) -> CloudCoreConfig:
    """Read and validate a CloudCore config file; errors name the file and field."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        config = msgspec.convert(raw, CloudCoreConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def dump(config: CloudCoreConfig) -> str:
    return yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False)


def default_yaml() -> str:
    """`cloudcore --defaultconfig`: every field with its default."""
    return ("# The full CloudCore configuration with every field at its default.\n"
            "# Copy it to /etc/kubeedge/config/cloudcore.yaml and change what you need.\n"
            + dump(CloudCoreConfig()))


def min_yaml() -> str:
    """`cloudcore --minconfig`: the fields a user usually changes."""
    full = msgspec.to_builtins(CloudCoreConfig())
    cm = full["modules"]["controllerManager"]
    minimal = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "kubeAPIConfig": {"kubeConfig": full["kubeAPIConfig"]["kubeConfig"]},
        "modules": {
            "controllerManager": {
                "enable": True,
                "edgeNodeEviction": cm["edgeNodeEviction"],
                "clusterCIDR": cm["clusterCIDR"],
            },
            "scheduler": {"enable": True},
        },
    }
    return ("# The CloudCore fields most installations change; everything else keeps its\n"
            "# default (see `cloudcore --defaultconfig`).\n"
            + yaml.safe_dump(minimal, sort_keys=False))
