"""The EdgeCore configuration (`edgecore.config.kubeedge.io/v1alpha2`, kind `EdgeCore`;
specs/kubeedge.md §8), typed and validated (ARCHITECTURE.md rule 7).

The structure, field names and defaults are KubeEdge's: `database`, then one section per
module under `modules` (`edged`, `edgeHub`, `eventBus`, `metaManager`, `serviceBus`,
`deviceTwin`, `dbTest`, `edgeStream`, `taskManager`). As in KubeEdge, the kubelet-style
flags of `edged` (`hostnameOverride`, `nodeIP`, `podSandboxImage`, `nodeLabels`, ...)
sit directly in `modules.edged`, and `modules.edged.tailoredKubeletConfig` holds the
kubelet configuration subset.

What is ours, and documented where it appears:
- `root` (rule 8): every relative path hangs off it, so the defaults are relative
  (`var/lib/kubeedge/edgecore.db`, `etc/kubeedge/ca/rootCA.crt`); an absolute path is
  taken as it is.
- timings KubeEdge hard-codes (EdgeHub's connect retries, reconnect wait, certificate
  rotation back-off) are fields here with KubeEdge's values, so tests can shorten them.
- `modules.edged.runtimeType` (`process`, the default, or `remote` for CRI, the value
  keadm's `--runtimetype` and KubeEdge's v1alpha1 used), `extraCapacity` and
  `detectNvidiaGPUs`.
- `eventBus.mqttMode` defaults to 0 (the internal broker on 1884) instead of KubeEdge's 2
  (an external broker on 1883): a fresh machine has no broker (ARCHITECTURE.md
  "Defaults that make it run anywhere"; spec §11 item 14).

kubelet fields of KubeEdge's `tailoredKubeletConfig` that this edge does not act on are
accepted and ignored with a warning, so a KubeEdge edgecore.yaml still loads; any other
unknown field is refused with its path.

Rule 9: the edge imports this module, so it imports only msgspec, PyYAML and the
standard library (measure with `python -X importtime -c "import kubeedge.config.edgecore"`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from kubeedge.config.checks import (
    ConfigError,
    Seconds,
    check_choice,
    check_dns_label,
    check_dns_subdomain,
    check_go_duration,
    check_host_port,
    check_ip,
    check_label_key,
    check_label_value,
    check_non_negative,
    check_port,
    check_positive,
    check_quantity,
    check_resource_name,
    check_url,
    decode,
    go_duration_seconds,
    host_name,
    primary_ip,
    read_yaml,
    under_root,
)

API_VERSION = "edgecore.config.kubeedge.io/v1alpha2"
KIND = "EdgeCore"
DEFAULT_CONFIG_PATH = "/etc/kubeedge/config/edgecore.yaml"

# KubeEdge's defaults (staging/.../apis/common/constants), relative to the root.
DEFAULT_CA_FILE = "etc/kubeedge/ca/rootCA.crt"
DEFAULT_CERT_FILE = "etc/kubeedge/certs/server.crt"
DEFAULT_KEY_FILE = "etc/kubeedge/certs/server.key"
DEFAULT_PROJECT_ID = "e632aba927ea4ac2b575ec1603d56f10"
DEFAULT_RUNTIME_ENDPOINT = "unix:///run/containerd/containerd.sock"
DEFAULT_SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Every section: camelCase names, unknown fields refused."""


def _default_eviction_hard() -> dict[str, str]:
    # kubelet's eviction.DefaultEvictionHard (Linux), which KubeEdge keeps.
    return {"memory.available": "100Mi", "nodefs.available": "10%",
            "nodefs.inodesFree": "5%", "imagefs.available": "15%",
            "imagefs.inodesFree": "5%"}


class Taint(_Section):
    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    value: str = ""


class TailoredKubeletConfig(_Section):
    """The kubelet configuration subset edged acts on, with KubeEdge's defaults
    (`SetDefaultsKubeletConfiguration`, spec §6). Durations are Go duration strings as
    in a kubelet config file; `seconds(name)` reads one."""

    static_pod_path: str = "etc/kubeedge/manifests"
    pod_logs_dir: str = "var/log/pods"
    sync_frequency: str = "1m0s"
    file_check_frequency: str = "20s"
    # The edged server (logs, exec, metrics for EdgeStream, spec §9).
    address: str = "127.0.0.1"
    read_only_port: int = 10350
    cluster_domain: str = "cluster.local"
    cluster_dns: list[str] = msgspec.field(default_factory=list, name="clusterDNS")
    registry_pull_qps: int = msgspec.field(default=5, name="registryPullQPS")
    registry_burst: int = 10
    event_record_qps: int = msgspec.field(default=50, name="eventRecordQPS")
    event_burst: int = 100
    enable_debugging_handlers: bool = True
    node_status_update_frequency: str = "10s"
    node_status_report_frequency: str = "5m0s"
    node_lease_duration_seconds: int = 40
    image_minimum_gc_age: str = msgspec.field(default="2m0s", name="imageMinimumGCAge")
    image_gc_high_threshold_percent: int = msgspec.field(
        default=85, name="imageGCHighThresholdPercent")
    image_gc_low_threshold_percent: int = msgspec.field(
        default=80, name="imageGCLowThresholdPercent")
    volume_stats_agg_period: str = "1m0s"
    cgroup_driver: Literal["cgroupfs", "systemd"] = "cgroupfs"
    cgroup_root: str = ""
    cgroups_per_qos: bool = msgspec.field(default=True, name="cgroupsPerQOS")
    runtime_request_timeout: str = "2m0s"
    max_pods: int = 110
    pod_pids_limit: int = -1
    resolv_conf: str = "/etc/resolv.conf"
    serialize_image_pulls: bool = True
    eviction_hard: dict[str, str] = msgspec.field(default_factory=_default_eviction_hard)
    eviction_soft: dict[str, str] = msgspec.field(default_factory=dict)
    eviction_soft_grace_period: dict[str, str] = msgspec.field(default_factory=dict)
    eviction_pressure_transition_period: str = "5m0s"
    eviction_max_pod_grace_period: int = 0
    fail_swap_on: bool = False
    container_log_max_size: str = "10Mi"
    container_log_max_files: int = 5
    system_reserved: dict[str, str] = msgspec.field(default_factory=dict)
    kube_reserved: dict[str, str] = msgspec.field(default_factory=dict)
    register_node: bool = True
    register_with_taints: list[Taint] = msgspec.field(default_factory=list)
    # The CRI endpoints for the `remote` runtime (keadm join's --remote-runtime-endpoint).
    container_runtime_endpoint: str = DEFAULT_RUNTIME_ENDPOINT
    image_service_endpoint: str = DEFAULT_RUNTIME_ENDPOINT

    def log_max_size_bytes(self) -> int:
        """containerLogMaxSize in bytes (a quantity: 10Mi, 500Ki, 1G)."""
        text = self.container_log_max_size.strip()
        for suffix, factor in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30),
                               ("Ti", 1 << 40), ("k", 10**3), ("M", 10**6), ("G", 10**9),
                               ("T", 10**12)):
            if text.endswith(suffix):
                return int(float(text[: -len(suffix)]) * factor)
        return int(float(text))

    def seconds(self, name: str) -> float:
        """A duration field (snake_case name) in seconds."""
        value = go_duration_seconds(getattr(self, name))
        assert value is not None, "validated at load"
        return value


# Durations checked > 0 (the rest may be 0 in kubelet).
_KUBELET_DURATIONS = ("sync_frequency", "file_check_frequency",
                      "node_status_update_frequency", "node_status_report_frequency",
                      "volume_stats_agg_period", "runtime_request_timeout",
                      "eviction_pressure_transition_period")

# The rest of KubeEdge's TailoredKubeletConfiguration: accepted so KubeEdge's files
# load, ignored (with a warning) because this edge does not act on them.
IGNORED_KUBELET_FIELDS = frozenset({
    "enableContentionProfiling", "oomScoreAdj", "streamingConnectionIdleTimeout",
    "imageMaximumGCAge", "kubeletCgroups", "systemCgroups", "singleProcessOOMKill",
    "cpuManagerPolicy", "cpuManagerPolicyOptions", "cpuManagerReconcilePeriod",
    "memoryManagerPolicy", "topologyManagerPolicy", "topologyManagerScope",
    "topologyManagerPolicyOptions", "qosReserved", "hairpinMode", "podCIDR",
    "cpuCFSQuota", "cpuCFSQuotaPeriod", "nodeStatusMaxImages", "maxOpenFiles",
    "contentType", "maxParallelImagePulls", "evictionMinimumReclaim", "podsPerCore",
    "enableControllerAttachDetach", "protectKernelDefaults", "makeIPTablesUtilChains",
    "iptablesMasqueradeBit", "iptablesDropBit", "featureGates", "memorySwap",
    "containerLogMaxWorkers", "containerLogMonitorInterval",
    "configMapAndSecretChangeDetectionStrategy", "reservedSystemCPUs",
    "showHiddenMetricsForVersion", "systemReservedCgroup", "kubeReservedCgroup",
    "enforceNodeAllocatable", "allowedUnsafeSysctls", "volumePluginDir",
    "kernelMemcgNotification", "logging", "enableSystemLogHandler", "enableSystemLogQuery",
    "shutdownGracePeriod", "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority", "crashLoopBackOff", "reservedMemory",
    "enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault",
    "memoryThrottlingFactor", "localStorageCapacityIsolation", "failCgroupV1",
})
# KubeEdge's TailoredKubeletFlag fields (inline in `edged`) this edge ignores likewise.
IGNORED_EDGED_FIELDS = frozenset({
    "windowsService", "windowsPriorityClass", "experimentalMounterPath",
    "experimentalNodeAllocatableIgnoreEvictionThreshold", "seccompDefault",
    # The process runtime writes its own CNI network configuration list (bridge +
    # host-local over the node's podCIDR) and keeps CNI's cached results under the
    # edge's root, so these two have nothing to point at.
    "cniConfDir", "cniCacheDirs",
})


class ImageSpec(_Section):
    """One entry of the process runtime's image table (ours; `edge/runtime/images.py`):
    what the image would run (ENTRYPOINT, CMD, ENV) and which host executables stand
    in for the programs it ships (`programs`: name -> host path; `appletRunner`: a
    multi-call binary such as busybox running any other name)."""

    entrypoint: list[str] = msgspec.field(default_factory=list)
    cmd: list[str] = msgspec.field(default_factory=list)
    programs: dict[str, str] = msgspec.field(default_factory=dict)
    applet_runner: str = ""
    env: dict[str, str] = msgspec.field(default_factory=dict)


class Edged(_Section):
    """`modules.edged`: KubeEdge's fields with its TailoredKubeletFlag inline, plus
    ours at the end."""

    enable: bool = True
    report_event: bool = False
    tailored_kubelet_config: TailoredKubeletConfig = msgspec.field(
        default_factory=TailoredKubeletConfig)
    # The node name; KubeEdge defaults it to the host name (keadm join --edgenode-name).
    hostname_override: str = msgspec.field(default_factory=host_name)
    # Empty: the address the edge reaches the cloud from.
    node_ip: str = msgspec.field(default="", name="nodeIP")
    runtime_cgroups: str = ""
    pod_sandbox_image: str = "kubeedge/pause:3.6"
    root_directory: str = "var/lib/kubelet"
    node_labels: dict[str, str] = msgspec.field(default_factory=dict)
    minimum_gc_age: str = msgspec.field(default="0s", name="minimumGCAge")
    max_per_pod_container_count: int = 1
    max_container_count: int = -1
    register_schedulable: bool = True
    custom_interface_name: str = ""
    register_node_namespace: str = "default"
    # Ours. The container runtime: `process` runs containers as supervised host
    # processes (no container engine needed); `remote` talks CRI to
    # tailoredKubeletConfig.containerRuntimeEndpoint (containerd).
    runtime_type: Literal["process", "remote"] = "process"
    # Ours. Capacity the node reports beyond what the host shows, e.g.
    # {"nvidia.com/gpu": 2} (extended resource name -> quantity).
    extra_capacity: dict[str, str | int] = msgspec.field(default_factory=dict)
    # Ours. Count NVIDIA GPUs with `nvidia-smi` when it is installed and report them as
    # `nvidia.com/gpu` (an extraCapacity entry wins).
    detect_nvidia_gpus: bool = msgspec.field(default=True, name="detectNvidiaGPUs")
    # Ours. Seconds `keadm reset` gives the edge to delete its Lease and Node through the
    # cloud before it stops anyway (KubeEdge's reset leaves both; no upstream default).
    deregister_timeout: float = 10.0
    # Ours. The process runtime's image table, added to (or overriding) its defaults
    # for busybox, python/python3 and sh (image reference -> entry).
    image_table: dict[str, ImageSpec] = msgspec.field(default_factory=dict)
    # Ours. Host directories a hostPath volume may name (a path under one of them);
    # kubelet allows any path, which "/" keeps. Narrow it on a shared edge.
    allowed_host_paths: list[str] = msgspec.field(default_factory=lambda: ["/"])
    # Ours. kubelet's container restart back-off (CrashLoopBackOff): the first wait,
    # doubled per crash up to the max, forgotten after 2 x max of running (kubelet
    # hard-codes 10s and 5m; kubelet 1.32's alpha crashLoopBackOff.maxContainerRestartPeriod
    # is the max).
    crash_loop_back_off_initial: str = "10s"
    crash_loop_back_off_max: str = "5m0s"
    # Ours. How often the runtime is relisted for container state changes (kubelet's
    # PLEG relist period, hard-coded 1 s).
    pleg_relist_period: str = msgspec.field(default="1s", name="plegRelistPeriod")
    # Pod networking (KubeEdge's TailoredKubeletFlag names, kubelet's old network flags).
    # `cni`: each pod of the process runtime gets its own network namespace and an IP
    # from the node's podCIDR through CNI's bridge and host-local plugins (needs root);
    # "": every pod uses the host's network. Either way the node's Ready condition says
    # when pods fall back to the host network, and why.
    network_plugin_name: Literal["cni", ""] = "cni"
    # Where the CNI plugins are. KubeEdge's default is /opt/cni/bin (where the upstream
    # release tarball goes); ours is /usr/lib/cni, where Debian's and Ubuntu's
    # containernetworking-plugins package installs them, the way the issue tells users
    # to get them. A relative path hangs off `root`.
    cni_bin_dir: str = "/usr/lib/cni"
    # The pods' interface MTU; 0 leaves it to the bridge plugin (the bridge's own).
    network_plugin_mtu: int = msgspec.field(default=0, name="networkPluginMTU")
    # Ours. How often container and node CPU/memory are sampled for /stats/summary and
    # /metrics/resource (usageNanoCores is the rate between two samples); cAdvisor's
    # --housekeeping_interval default, 10 s.
    housekeeping_interval: str = "10s"
    # Ours. How long edged's server waits for a client's exec/attach/port-forward
    # streams after the upgrade (kubelet's streaming server, 30 s).
    stream_creation_timeout: str = "30s"

    def seconds(self, name: str) -> float:
        """One of this section's duration fields (snake_case name) in seconds."""
        value = go_duration_seconds(getattr(self, name))
        assert value is not None, "validated at load"
        return value

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_positive(f"{where}.deregisterTimeout", self.deregister_timeout)
        if self.network_plugin_name == "cni" and not self.cni_bin_dir:
            raise ConfigError(f"{where}.cniBinDir: must not be empty when "
                              "networkPluginName is cni")
        if self.network_plugin_mtu != 0 and not 68 <= self.network_plugin_mtu <= 65535:
            # 68: the smallest MTU IPv4 allows (RFC 791); 65535: the largest a link takes.
            raise ConfigError(f"{where}.networkPluginMTU: {self.network_plugin_mtu} is not "
                              "0 (the plugin's default) or between 68 and 65535")
        for name in ("crash_loop_back_off_initial", "crash_loop_back_off_max",
                     "pleg_relist_period", "housekeeping_interval",
                     "stream_creation_timeout"):
            check_go_duration(f"{where}.{_camel(name)}", getattr(self, name))
        if self.seconds("crash_loop_back_off_initial") > self.seconds(
                "crash_loop_back_off_max"):
            raise ConfigError(f"{where}.crashLoopBackOffInitial: must not exceed "
                              f"crashLoopBackOffMax ({self.crash_loop_back_off_max})")
        for i, root in enumerate(self.allowed_host_paths):
            if not root.startswith("/"):
                raise ConfigError(f"{where}.allowedHostPaths[{i}]: {root!r} must be an "
                                  "absolute path")
        for image, spec in self.image_table.items():
            from kubeedge.edge.runtime.contract import ImageError
            from kubeedge.edge.runtime.images import normalize

            try:
                normalize(image)
            except ImageError as exc:
                raise ConfigError(f"{where}.imageTable[{image}]: {exc}") from None
            if not (spec.entrypoint or spec.cmd):
                raise ConfigError(f"{where}.imageTable[{image}]: give an entrypoint or a "
                                  "cmd (what the image runs without a command)")
        # KubeEdge validates the node name as Kubernetes' ValidateNodeName does.
        check_dns_subdomain(f"{where}.hostnameOverride", self.hostname_override)
        if self.node_ip:
            check_ip(f"{where}.nodeIP", self.node_ip)
        check_dns_label(f"{where}.registerNodeNamespace", self.register_node_namespace)
        for key, value in self.node_labels.items():
            check_label_key(f"{where}.nodeLabels", key)
            check_label_value(f"{where}.nodeLabels[{key}]", value)
        for name, quantity in self.extra_capacity.items():
            check_resource_name(f"{where}.extraCapacity", name)
            check_quantity(f"{where}.extraCapacity[{name}]", str(quantity))
        check_go_duration(f"{where}.minimumGCAge", self.minimum_gc_age, allow_zero=True)
        if not self.pod_sandbox_image:
            raise ConfigError(f"{where}.podSandboxImage: must not be empty")
        kc, at = self.tailored_kubelet_config, f"{where}.tailoredKubeletConfig"
        for name in _KUBELET_DURATIONS:
            check_go_duration(f"{at}.{_camel(name)}", getattr(kc, name))
        check_go_duration(f"{at}.imageMinimumGCAge", kc.image_minimum_gc_age,
                          allow_zero=True)
        check_port(f"{at}.readOnlyPort", kc.read_only_port, allow_zero=True)
        check_quantity(f"{at}.containerLogMaxSize", kc.container_log_max_size)
        if kc.log_max_size_bytes() < 1024:
            raise ConfigError(f"{at}.containerLogMaxSize: {kc.container_log_max_size!r} "
                              "is too small (at least 1Ki)")
        if kc.container_log_max_files < 2:
            # kubelet's own check: rotation keeps the current file and at least one.
            raise ConfigError(f"{at}.containerLogMaxFiles: must be at least 2, got "
                              f"{kc.container_log_max_files}")
        if not kc.static_pod_path:
            raise ConfigError(f"{at}.staticPodPath: must not be empty")
        check_ip(f"{at}.address", kc.address)
        # Pods' FQDNs in their /etc/hosts end in it (`<host>.<subdomain>.<ns>.svc.<domain>`).
        check_dns_subdomain(f"{at}.clusterDomain", kc.cluster_domain)
        for i, server in enumerate(kc.cluster_dns):
            check_ip(f"{at}.clusterDNS[{i}]", server)
        check_positive(f"{at}.nodeLeaseDurationSeconds", kc.node_lease_duration_seconds)
        check_positive(f"{at}.maxPods", kc.max_pods)
        for name in ("registry_pull_qps", "registry_burst", "event_record_qps",
                     "event_burst", "eviction_max_pod_grace_period"):
            check_non_negative(f"{at}.{_camel(name)}", getattr(kc, name))
        if not (0 <= kc.image_gc_low_threshold_percent
                <= kc.image_gc_high_threshold_percent <= 100):
            raise ConfigError(f"{at}.imageGCLowThresholdPercent: need 0 <= "
                              "imageGCLowThresholdPercent <= imageGCHighThresholdPercent <= 100")
        for name in ("system_reserved", "kube_reserved"):
            for resource, quantity in getattr(kc, name).items():
                check_quantity(f"{at}.{_camel(name)}[{resource}]", quantity)
        if self.runtime_type == "remote":
            _check_cri_endpoint(f"{at}.containerRuntimeEndpoint",
                                kc.container_runtime_endpoint)
            if kc.image_service_endpoint:
                _check_cri_endpoint(f"{at}.imageServiceEndpoint", kc.image_service_endpoint)


def _check_cri_endpoint(where: str, value: str) -> None:
    """A CRI endpoint as kubelet takes it: `unix:///path/to.sock` or `tcp://host:port`."""
    if value.startswith("unix://"):
        if not value.removeprefix("unix://").startswith("/"):
            raise ConfigError(f"{where}: {value!r} needs an absolute socket path "
                              f"(e.g. {DEFAULT_RUNTIME_ENDPOINT})")
        return
    if value.startswith("tcp://"):
        check_url(where, value, ("tcp",))
        return
    raise ConfigError(f"{where}: {value!r} must start with unix:// or tcp:// "
                      f"(e.g. {DEFAULT_RUNTIME_ENDPOINT}); required when runtimeType is remote")


# KubeEdge defaults the cloud's addresses to this host's own address; keadm join
# writes the real ones (--cloudcore-ipport, --certport).
def _quic_server() -> str:
    return f"{primary_ip()}:10001"


def _websocket_server() -> str:
    return f"{primary_ip()}:10000"


def _https_server() -> str:
    return f"https://{primary_ip()}:10002"


class EdgeHubQUIC(_Section):
    enable: bool = False
    handshake_timeout: Seconds = 30
    read_deadline: Seconds = 15
    server: str = msgspec.field(default_factory=_quic_server)
    write_deadline: Seconds = 15


class EdgeHubWebSocket(_Section):
    enable: bool = True
    handshake_timeout: Seconds = 30
    read_deadline: Seconds = 15
    # CloudHub's address (keadm join --cloudcore-ipport).
    server: str = msgspec.field(default_factory=_websocket_server)
    write_deadline: Seconds = 15


class EdgeHub(_Section):
    """`modules.edgeHub` (spec §3, §4). Timings in seconds."""

    enable: bool = True
    heartbeat: Seconds = 15
    message_qps: int = msgspec.field(default=30, name="messageQPS")
    message_burst: int = 60
    project_id: str = msgspec.field(default=DEFAULT_PROJECT_ID, name="projectID")
    tls_ca_file: str = DEFAULT_CA_FILE
    tls_cert_file: str = DEFAULT_CERT_FILE
    tls_private_key_file: str = DEFAULT_KEY_FILE
    quic: EdgeHubQUIC = msgspec.field(default_factory=EdgeHubQUIC)
    websocket: EdgeHubWebSocket = msgspec.field(default_factory=EdgeHubWebSocket)
    # The bootstrap token (keadm gettoken); removed from the file after bootstrap.
    token: str = ""
    # CloudHub's certificate server.
    http_server: str = msgspec.field(default_factory=_https_server)
    rotate_certificates: bool = True
    # Ours: timings KubeEdge hard-codes (spec §3 "Reconnect", §4 "Rotation").
    # The first connection is tried this many times, this far apart.
    connect_retries: int = 5
    connect_retry_interval: Seconds = 5
    # The wait before reconnecting after a failure; unset means KubeEdge's 2 x heartbeat.
    reconnect_interval: Seconds | None = None
    # Certificate renewal back-off: base x 2^n for `steps` tries, then every `cap`.
    cert_rotation_backoff_base: Seconds = 2
    cert_rotation_backoff_steps: int = 5
    cert_rotation_backoff_cap: Seconds = 32

    @property
    def reconnect_seconds(self) -> float:
        if self.reconnect_interval is not None:
            return self.reconnect_interval
        return 2 * self.heartbeat

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        if self.websocket.enable == self.quic.enable:
            # KubeEdge's rule: exactly one transport.
            raise ConfigError(f"{where}.websocket.enable and {where}.quic.enable: exactly "
                              "one must be true")
        check_positive(f"{where}.heartbeat", self.heartbeat)
        check_non_negative(f"{where}.messageQPS", self.message_qps)
        check_non_negative(f"{where}.messageBurst", self.message_burst)
        if not self.project_id:
            raise ConfigError(f"{where}.projectID: must not be empty")
        for name in ("tls_ca_file", "tls_cert_file", "tls_private_key_file"):
            if not getattr(self, name):
                raise ConfigError(f"{where}.{_camel(name)}: must not be empty")
        for section, transport in (("websocket", self.websocket), ("quic", self.quic)):
            if not transport.enable:
                continue
            at = f"{where}.{section}"
            check_host_port(f"{at}.server", transport.server)
            for name in ("handshake_timeout", "read_deadline", "write_deadline"):
                check_positive(f"{at}.{_camel(name)}", getattr(transport, name))
        check_url(f"{where}.httpServer", self.http_server, ("https",))
        check_positive(f"{where}.connectRetries", self.connect_retries)
        check_positive(f"{where}.connectRetryInterval", self.connect_retry_interval)
        if self.reconnect_interval is not None:
            check_positive(f"{where}.reconnectInterval", self.reconnect_interval)
        check_positive(f"{where}.certRotationBackoffBase", self.cert_rotation_backoff_base)
        check_non_negative(f"{where}.certRotationBackoffSteps",
                           self.cert_rotation_backoff_steps)
        check_positive(f"{where}.certRotationBackoffCap", self.cert_rotation_backoff_cap)


class EventBusTLS(_Section):
    enable: bool = False
    tls_mqtt_ca_file: str = msgspec.field(default=DEFAULT_CA_FILE, name="tlsMqttCAFile")
    tls_mqtt_cert_file: str = DEFAULT_CERT_FILE
    tls_mqtt_private_key_file: str = DEFAULT_KEY_FILE


class EventBus(_Section):
    """`modules.eventBus` (spec §6 "EventBus"). mqttMode: 0 internal broker, 1 both,
    2 external broker."""

    enable: bool = True
    mqtt_qos: int = msgspec.field(default=0, name="mqttQOS")
    mqtt_retain: bool = False
    mqtt_session_queue_size: int = 100
    mqtt_server_internal: str = "tcp://127.0.0.1:1884"
    mqtt_server_external: str = "tcp://127.0.0.1:1883"
    mqtt_sub_client_id: str = msgspec.field(default="", name="mqttSubClientID")
    mqtt_pub_client_id: str = msgspec.field(default="", name="mqttPubClientID")
    mqtt_username: str = ""
    mqtt_password: str = ""
    # KubeEdge defaults to 2; see the module docstring for why ours is 0.
    mqtt_mode: int = 0
    event_bus_tls: EventBusTLS = msgspec.field(default_factory=EventBusTLS,
                                               name="eventBusTLS")

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_choice(f"{where}.mqttMode", self.mqtt_mode, (0, 1, 2))
        check_choice(f"{where}.mqttQOS", self.mqtt_qos, (0, 1, 2))
        check_positive(f"{where}.mqttSessionQueueSize", self.mqtt_session_queue_size)
        schemes = ("tcp", "ssl", "tls", "ws", "wss")
        if self.mqtt_mode in (0, 1):
            check_url(f"{where}.mqttServerInternal", self.mqtt_server_internal, schemes)
        if self.mqtt_mode in (1, 2):
            check_url(f"{where}.mqttServerExternal", self.mqtt_server_external, schemes)


class MetaServer(_Section):
    """MetaServer: a Kubernetes REST API for edge pods served from the edge database
    (spec §6 "MetaServer"); off by default."""

    enable: bool = False
    server: str = "127.0.0.1:10550"
    tls_ca_file: str = DEFAULT_CA_FILE
    tls_cert_file: str = DEFAULT_CERT_FILE
    tls_private_key_file: str = DEFAULT_KEY_FILE
    service_account_issuers: list[str] = msgspec.field(
        default_factory=lambda: [DEFAULT_SERVICE_ACCOUNT_ISSUER])
    api_audiences: list[str] = msgspec.field(default_factory=list)
    service_account_key_files: list[str] = msgspec.field(default_factory=list)
    dummy_server: str = "169.254.30.10:10550"


class MetaManager(_Section):
    """`modules.metaManager` (spec §6). Where it sends to the cloud, and how long a
    remote query waits (seconds)."""

    enable: bool = True
    context_send_group: str = "hub"
    context_send_module: str = "websocket"
    remote_query_timeout: Seconds = 60
    meta_server: MetaServer = msgspec.field(default_factory=MetaServer)

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        if not self.context_send_group or not self.context_send_module:
            raise ConfigError(f"{where}.contextSendGroup and {where}.contextSendModule: "
                              "must not be empty (KubeEdge's are hub and websocket)")
        check_positive(f"{where}.remoteQueryTimeout", self.remote_query_timeout)
        if self.meta_server.enable:
            check_host_port(f"{where}.metaServer.server", self.meta_server.server)
            check_host_port(f"{where}.metaServer.dummyServer", self.meta_server.dummy_server)


class ServiceBus(_Section):
    """`modules.serviceBus`: HTTP proxy from the cloud to local apps; off by default."""

    enable: bool = False
    server: str = "127.0.0.1"
    port: int = 9060
    timeout: Seconds = 60
    tls_cert_file: str = ""
    tls_private_key_file: str = ""

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_ip(f"{where}.server", self.server)
        check_port(f"{where}.port", self.port)
        check_positive(f"{where}.timeout", self.timeout)


class DeviceTwin(_Section):
    enable: bool = True
    # The directory of the DMI socket `dmi.sock` mappers register on (spec §5, §7).
    dmi_sock_path: str = "etc/kubeedge/"


class DBTest(_Section):
    enable: bool = False


class EdgeStream(_Section):
    """`modules.edgeStream`: the tunnel for kubectl logs/exec/metrics (spec §9); off by
    default. `server` is CloudStream's tunnel address (keadm join sets <cloud>:10004)."""

    enable: bool = False
    tls_tunnel_ca_file: str = msgspec.field(default=DEFAULT_CA_FILE, name="tlsTunnelCAFile")
    tls_tunnel_cert_file: str = DEFAULT_CERT_FILE
    tls_tunnel_private_key_file: str = DEFAULT_KEY_FILE
    handshake_timeout: Seconds = 30
    read_deadline: Seconds = 15
    server: str = "127.0.0.1:10004"
    write_deadline: Seconds = 15
    # Ours: the edge dials the tunnel again this often while it is down (KubeEdge's 2 s).
    reconnect_interval: Seconds = 2
    # Ours: the edge pings the tunnel this often (KubeEdge's edgestream startPing, 5 s);
    # no pong within `readDeadline` ends the tunnel and every session on it.
    ping_interval: Seconds = 5
    # Ours: a session whose local connection takes none of its buffered data (4 MiB)
    # for this long is ended, so it cannot hold the tunnel (streaming/tunnel.py).
    session_stall_timeout: Seconds = 5

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_host_port(f"{where}.server", self.server)
        for name in ("handshake_timeout", "read_deadline", "write_deadline",
                     "reconnect_interval", "ping_interval", "session_stall_timeout"):
            check_positive(f"{where}.{_camel(name)}", getattr(self, name))


class TaskManager(_Section):
    enable: bool = False


class Modules(_Section):
    edged: Edged = msgspec.field(default_factory=Edged)
    edge_hub: EdgeHub = msgspec.field(default_factory=EdgeHub)
    event_bus: EventBus = msgspec.field(default_factory=EventBus)
    meta_manager: MetaManager = msgspec.field(default_factory=MetaManager)
    service_bus: ServiceBus = msgspec.field(default_factory=ServiceBus)
    device_twin: DeviceTwin = msgspec.field(default_factory=DeviceTwin)
    db_test: DBTest = msgspec.field(default_factory=DBTest)
    edge_stream: EdgeStream = msgspec.field(default_factory=EdgeStream)
    task_manager: TaskManager = msgspec.field(default_factory=TaskManager)


class DataBase(_Section):
    """The edge SQLite database (spec §6), MetaManager's durable store."""

    driver_name: str = "sqlite3"
    alias_name: str = "default"
    data_source: str = "var/lib/kubeedge/edgecore.db"

    def validate(self, where: str) -> None:
        check_choice(f"{where}.driverName", self.driver_name, ("sqlite3",))
        if not self.data_source:
            raise ConfigError(f"{where}.dataSource: must not be empty")


class EdgeCoreConfig(_Section):
    api_version: str = API_VERSION
    kind: str = KIND
    # Ours: every relative path hangs off this root (ARCHITECTURE.md rule 8).
    root: str = "/"
    database: DataBase = msgspec.field(default_factory=DataBase)
    modules: Modules = msgspec.field(default_factory=Modules)
    feature_gates: dict[str, bool] = msgspec.field(default_factory=dict)
    # Edgecore records the version that last ran with this file (spec §8).
    edgecore_version: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def path(self, relative: str) -> Path:
        """A configured path under the root (absolute paths are taken as they are)."""
        return under_root(self.root, relative)

    @property
    def node_name(self) -> str:
        return self.modules.edged.hostname_override

    def validate(self) -> EdgeCoreConfig:
        if self.api_version != API_VERSION:
            raise ConfigError(f"apiVersion: {self.api_version!r} is not {API_VERSION!r}")
        if self.kind != KIND:
            raise ConfigError(f"kind: {self.kind!r} is not {KIND!r}")
        if not self.root:
            raise ConfigError("root: must not be empty (use / for the host's root)")
        self.database.validate("database")
        m = self.modules
        m.edged.validate("modules.edged")
        m.edge_hub.validate("modules.edgeHub")
        m.event_bus.validate("modules.eventBus")
        m.meta_manager.validate("modules.metaManager")
        m.service_bus.validate("modules.serviceBus")
        m.edge_stream.validate("modules.edgeStream")
        return self


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


def _drop_ignored(raw: Any) -> list[str]:
    """Remove the KubeEdge fields this edge accepts but ignores; their paths."""
    dropped: list[str] = []
    edged = (raw.get("modules") or {}).get("edged") if isinstance(raw, dict) else None
    if not isinstance(edged, dict):
        return dropped
    for name in sorted(IGNORED_EDGED_FIELDS & edged.keys()):
        del edged[name]
        dropped.append(f"modules.edged.{name}")
    kubelet = edged.get("tailoredKubeletConfig")
    if isinstance(kubelet, dict):
        for name in sorted(IGNORED_KUBELET_FIELDS & kubelet.keys()):
            del kubelet[name]
            dropped.append(f"modules.edged.tailoredKubeletConfig.{name}")
    return dropped


def from_builtins(raw: Any) -> EdgeCoreConfig:
    """Parsed YAML (a dict) to a validated config; fields a file leaves out take their
    defaults, as KubeEdge overlays a file on its defaults."""
    dropped = _drop_ignored(raw)
    if dropped:
        import logging

        logging.getLogger(__name__).warning(
            "edgecore ignores these kubelet settings: %s", ", ".join(dropped))
    return decode(raw, EdgeCoreConfig).validate()


def load(path: str | Path) -> EdgeCoreConfig:
    """Read and validate an EdgeCore config file; errors name the file and the field."""
    if not Path(path).exists():
        # KubeEdge's wording (edgecore options.Validate).
        raise ConfigError(f"config file {path} not exist. For the configuration file "
                          "format, please refer to --minconfig and --defaultconfig command")
    raw = read_yaml(path)
    try:
        return from_builtins(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def dump(config: EdgeCoreConfig) -> str:
    return yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False)


def default_yaml() -> str:
    """`edgecore --defaultconfig`: every field at its default, with this host's name and
    address filled in as KubeEdge does."""
    return ("# With --defaultconfig, edgecore prints the full configuration with every "
            "field at its default.\n"
            "# Copy it to /etc/kubeedge/config/edgecore.yaml and change what you need; "
            "relative paths hang off `root`.\n"
            + dump(EdgeCoreConfig()))


def min_yaml() -> str:
    """`edgecore --minconfig`: the fields an installation usually sets (KubeEdge's
    NewMinEdgeCoreConfig); everything else keeps its default."""
    full = msgspec.to_builtins(EdgeCoreConfig())
    edged, hub, bus = (full["modules"][k] for k in ("edged", "edgeHub", "eventBus"))
    kubelet = edged["tailoredKubeletConfig"]
    minimal = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "root": full["root"],
        "database": {"dataSource": full["database"]["dataSource"]},
        "modules": {
            "edged": {
                "enable": True,
                "hostnameOverride": edged["hostnameOverride"],
                "registerNodeNamespace": edged["registerNodeNamespace"],
                "nodeLabels": edged["nodeLabels"],
                "runtimeType": edged["runtimeType"],
                "tailoredKubeletConfig": {
                    "cgroupDriver": kubelet["cgroupDriver"],
                    "containerRuntimeEndpoint": kubelet["containerRuntimeEndpoint"],
                },
            },
            "edgeHub": {
                "heartbeat": hub["heartbeat"],
                "tlsCaFile": hub["tlsCaFile"],
                "tlsCertFile": hub["tlsCertFile"],
                "tlsPrivateKeyFile": hub["tlsPrivateKeyFile"],
                "websocket": hub["websocket"],
                "httpServer": hub["httpServer"],
                "token": hub["token"],
            },
            "eventBus": {k: bus[k] for k in ("mqttMode", "mqttServerInternal",
                                             "mqttServerExternal", "mqttQOS",
                                             "mqttRetain")},
        },
    }
    return ("# With --minconfig, edgecore prints the fields most installations set;\n"
            "# everything else keeps its default (see `edgecore --defaultconfig`).\n"
            + yaml.safe_dump(minimal, sort_keys=False))
