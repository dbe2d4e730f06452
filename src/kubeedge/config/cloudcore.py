"""The CloudCore configuration (`cloudcore.config.kubeedge.io/v1alpha1`, kind
`CloudCore`; specs/kubeedge.md §8), typed and validated (ARCHITECTURE.md rule 7).

The structure follows KubeEdge's: `kubeAPIConfig` says how cloudcore reaches the
Kubernetes API, `modules` holds one section per module with KubeEdge's names and
defaults (`cloudHub`, `edgeController`, `deviceController`, `syncController`,
`dynamicController`, `cloudStream`, `router`, `iptablesManager`, `taskManager`). Ours adds
`controllerManager` and `scheduler`, the modules that replace kube-controller-manager and
kube-scheduler beside the embedded API server, and `root` (rule 8: relative paths such
as `etc/kubeedge/ca/rootCA.crt` hang off it). Timings KubeEdge hard-codes (CloudHub's
resend interval and queue back-off, SyncController's period) are fields here with
KubeEdge's values. Unknown fields are refused with their path, as are invalid values
(the message names the field and the fix).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import yaml

from kubeedge.config.checks import (
    ConfigError,
    Seconds,
    check_choice,
    check_host_port,
    check_ip,
    check_port,
    check_positive,
    decode,
    primary_ip,
    read_yaml,
    under_root,
)
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
    # KubeEdge's default (its edged server port): the tunnel ports cloudcore negotiates
    # for kubectl logs/exec start just above it, at 10351 (specs/kubeedge.md §5, §9).
    tunnel_port: int = 10350
    monitor_server: MonitorServer = msgspec.field(default_factory=MonitorServer)


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """A KubeEdge module section: camelCase names, unknown fields refused."""


# KubeEdge's certificate paths (staging/.../apis/common/constants), under the root.
CA_FILE = "etc/kubeedge/ca/rootCA.crt"
CA_KEY_FILE = "etc/kubeedge/ca/rootCA.key"
CERT_FILE = "etc/kubeedge/certs/server.crt"
KEY_FILE = "etc/kubeedge/certs/server.key"
DEFAULT_NODE_LIMIT = 500


class CloudHubQUIC(_Section):
    enable: bool = False
    address: str = "0.0.0.0"
    port: int = 10001
    max_incoming_streams: int = 10000


class CloudHubUnixSocket(_Section):
    enable: bool = True
    # A relative socket path (unix://var/...) hangs off the root; see `socket_path`.
    address: str = "unix://var/lib/kubeedge/kubeedge.sock"


class CloudHubWebSocket(_Section):
    enable: bool = True
    address: str = "0.0.0.0"
    port: int = 10000


class CloudHubHTTPS(_Section):
    enable: bool = True
    address: str = "0.0.0.0"
    port: int = 10002


class NodeAuthorization(_Section):
    enable: bool = True


class AuthorizationMode(_Section):
    node: NodeAuthorization = msgspec.field(default_factory=NodeAuthorization)


class CloudHubAuthorization(_Section):
    """Node authorization of edge connections and messages (spec §3 "TLS"). KubeEdge
    ships it off (`enable: false`, `debug: true` only logs); here it is enforced by
    default: the client certificate's CN must be `system:node:<node_id>`."""

    enable: bool = True
    debug: bool = False
    modes: list[AuthorizationMode] = msgspec.field(
        default_factory=lambda: [AuthorizationMode()])


class CloudHub(_Section):
    """`modules.cloudHub` (spec §3, §4). Timings in seconds unless the name says."""

    enable: bool = True
    # The session is closed after this long without a keepalive from the edge.
    keepalive_interval: Seconds = 30
    node_limit: int = DEFAULT_NODE_LIMIT
    tls_ca_file: str = msgspec.field(default=CA_FILE, name="tlsCAFile")
    tls_ca_key_file: str = msgspec.field(default=CA_KEY_FILE, name="tlsCAKeyFile")
    tls_cert_file: str = CERT_FILE
    tls_private_key_file: str = KEY_FILE
    write_timeout: Seconds = 30
    quic: CloudHubQUIC = msgspec.field(default_factory=CloudHubQUIC)
    unixsocket: CloudHubUnixSocket = msgspec.field(default_factory=CloudHubUnixSocket)
    websocket: CloudHubWebSocket = msgspec.field(default_factory=CloudHubWebSocket)
    https: CloudHubHTTPS = msgspec.field(default_factory=CloudHubHTTPS)
    # The addresses edges reach cloudcore at; the server certificate's IP SANs. KubeEdge
    # defaults to this host's address (keadm init --advertise-address sets it).
    advertise_address: list[str] = msgspec.field(default_factory=lambda: [primary_ip()])
    dns_names: list[str] = msgspec.field(default_factory=list)
    # Validity of the edge certificates cloudcore signs, in days.
    edge_cert_signing_duration: Seconds = 365
    # The join token is refreshed this often, in hours; it expires after twice that.
    token_refresh_duration: Seconds = 12
    authorization: CloudHubAuthorization = msgspec.field(
        default_factory=CloudHubAuthorization)
    # Ours: what KubeEdge hard-codes (spec §3 "ACK"). An unacknowledged message is
    # written again every `messageResendInterval` seconds, `messageResendRetries` times
    # after the first write; then its key goes back to the node's queue with client-go's
    # default controller rate limiter: exponential from `messageQueueBackoffBase` to
    # `messageQueueBackoffMax` seconds, and overall `messageQueueQPS`/`messageQueueBurst`.
    message_resend_interval: Seconds = 5
    message_resend_retries: int = 4
    message_queue_backoff_base: Seconds = 0.005
    message_queue_backoff_max: Seconds = 1000
    message_queue_qps: Seconds = msgspec.field(default=10, name="messageQueueQPS")
    message_queue_burst: int = 100
    # Ours: most messages one node's queues hold (ack and no-ack stores each); the
    # oldest no-ack message is dropped beyond it. 0 means unbounded, as in KubeEdge.
    node_message_queue_size: int = 0

    def socket_path(self, root: str) -> Path:
        """The unix socket's file, under `root` unless the address is absolute."""
        return under_root(root, self.unixsocket.address.removeprefix("unix://"))

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        for section, server in (("websocket", self.websocket), ("https", self.https),
                                ("quic", self.quic)):
            check_port(f"{where}.{section}.port", server.port, allow_zero=True)
            check_ip(f"{where}.{section}.address", server.address)
        if not self.unixsocket.address.startswith("unix://"):
            raise ConfigError(f"{where}.unixsocket.address: "
                              f"{self.unixsocket.address!r} must start with unix://")
        for i, address in enumerate(self.advertise_address):
            check_ip(f"{where}.advertiseAddress[{i}]", address)
        check_positive(f"{where}.nodeLimit", self.node_limit)
        for name in ("keepalive_interval", "write_timeout", "edge_cert_signing_duration",
                     "token_refresh_duration", "message_resend_interval",
                     "message_queue_backoff_base", "message_queue_backoff_max",
                     "message_queue_qps", "message_queue_burst"):
            check_positive(f"{where}.{_camel(name)}", getattr(self, name))
        if self.message_queue_backoff_base > self.message_queue_backoff_max:
            raise ConfigError(f"{where}.messageQueueBackoffBase: must not exceed "
                              "messageQueueBackoffMax")
        if self.message_resend_retries < 0 or self.node_message_queue_size < 0:
            raise ConfigError(f"{where}.messageResendRetries and "
                              f"{where}.nodeMessageQueueSize: must not be negative")
        if self.quic.enable:
            check_positive(f"{where}.quic.maxIncomingStreams", self.quic.max_incoming_streams)


class EdgeControllerBuffer(_Section):
    """Channel sizes of EdgeController's upstream and downstream handlers (KubeEdge's
    names and defaults; the node- and lease-sized ones grow with cloudHub.nodeLimit)."""

    process_event: int = 1024
    update_pod_status: int = 1024
    update_node_status: int = 1024
    query_config_map: int = 1024
    query_secret: int = 1024
    pod_event: int = 1
    config_map_event: int = 1
    secret_event: int = 1
    rules_event: int = 1
    rule_endpoints_event: int = 1
    query_persistent_volume: int = 1024
    query_persistent_volume_claim: int = 1024
    query_volume_attachment: int = 1024
    create_node: int = 1024
    patch_node: int = 1024 + DEFAULT_NODE_LIMIT // 2
    query_node: int = 1024 + DEFAULT_NODE_LIMIT
    update_node: int = 1024
    patch_pod: int = 1024
    delete_pod: int = 1024
    create_lease: int = 1024 + DEFAULT_NODE_LIMIT
    query_lease: int = 1024
    service_account_token: int = 1024
    create_pod: int = 1024
    certificate_signing_request: int = 1024


class EdgeControllerLoad(_Section):
    """Worker counts of EdgeController's handlers (KubeEdge's names, including its
    capitalised `UpdateRuleStatusWorkers`, `ServiceAccountTokenWorkers` and
    `CreatePodWorks`, and defaults)."""

    process_event_workers: int = 4
    update_pod_status_workers: int = 1
    update_node_status_workers: int = 1
    query_config_map_workers: int = 100
    query_secret_workers: int = 100
    query_persistent_volume_workers: int = 4
    query_persistent_volume_claim_workers: int = 4
    query_volume_attachment_workers: int = 4
    create_node_workers: int = 100
    patch_node_workers: int = 100 + DEFAULT_NODE_LIMIT // 50
    query_node_workers: int = DEFAULT_NODE_LIMIT
    update_node_workers: int = 4
    patch_pod_workers: int = 100
    delete_pod_workers: int = 100
    create_lease_workers: int = DEFAULT_NODE_LIMIT
    query_lease_workers: int = 100
    update_rule_status_workers: int = msgspec.field(default=4,
                                                    name="UpdateRuleStatusWorkers")
    service_account_token_workers: int = msgspec.field(default=100,
                                                       name="ServiceAccountTokenWorkers")
    create_pod_works: int = msgspec.field(default=4, name="CreatePodWorks")
    certificate_signing_request_workers: int = 4


class EdgeController(_Section):
    """`modules.edgeController` (spec §1, §3)."""

    enable: bool = True
    # Seconds: a node's LastHeartbeatTime older than this is refreshed from edge reports.
    node_update_frequency: Seconds = 10
    buffer: EdgeControllerBuffer = msgspec.field(default_factory=EdgeControllerBuffer)
    load: EdgeControllerLoad = msgspec.field(default_factory=EdgeControllerLoad)

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_positive(f"{where}.nodeUpdateFrequency", self.node_update_frequency)
        for part, values in (("buffer", self.buffer), ("load", self.load)):
            for name, value in msgspec.structs.asdict(values).items():
                if value < 1:
                    field = values.__struct_encode_fields__[
                        values.__struct_fields__.index(name)]
                    raise ConfigError(f"{where}.{part}.{field}: {value} must be at least 1")

    def grow_for(self, node_limit: int) -> None:
        """KubeEdge's AdjustCloudCoreConfig: the node- and lease-sized buffers and
        workers are raised to what `node_limit` edges need (never lowered)."""
        b, w = self.buffer, self.load
        b.patch_node = max(b.patch_node, 1024 + node_limit // 2)
        b.query_node = max(b.query_node, 1024 + node_limit)
        b.create_lease = max(b.create_lease, 1024 + node_limit)
        w.patch_node_workers = max(w.patch_node_workers, 100 + node_limit // 50)
        w.query_node_workers = max(w.query_node_workers, node_limit)
        w.create_lease_workers = max(w.create_lease_workers, node_limit)


class DeviceControllerBuffer(_Section):
    update_device_twins: int = 1024
    update_device_states: int = msgspec.field(default=1024, name="updateDeviceStatus")
    device_event: int = 1
    device_model_event: int = 1
    device_status_event: int = 1


class DeviceControllerLoad(_Section):
    update_device_status_workers: int = 1


class DeviceController(_Section):
    """`modules.deviceController` (spec §7); devices land with a later issue."""

    enable: bool = True
    buffer: DeviceControllerBuffer = msgspec.field(default_factory=DeviceControllerBuffer)
    load: DeviceControllerLoad = msgspec.field(default_factory=DeviceControllerLoad)


class SyncController(_Section):
    """`modules.syncController` (spec §3 "SyncController"): ObjectSync bookkeeping and
    the periodic repair of what an edge missed."""

    enable: bool = True
    # Ours (KubeEdge hard-codes 5 s): every (Cluster)ObjectSync is compared with the
    # object this often, sending an update or a delete the edge missed.
    reconcile_period: Seconds = 5
    # Ours: acknowledged resourceVersions are written to ObjectSyncs coalesced (the
    # newest per object) at most this often, so ACKs do not become API writes one by
    # one. KubeEdge writes on every ACK.
    object_sync_flush_interval: Seconds = 1

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_positive(f"{where}.reconcilePeriod", self.reconcile_period)
        check_positive(f"{where}.objectSyncFlushInterval", self.object_sync_flush_interval)


class DynamicController(_Section):
    """Generic list-watch for the edge MetaServer (spec §1); off by default."""

    enable: bool = False


class CloudStream(_Section):
    """`modules.cloudStream` (spec §9): the stream server kube-apiserver reaches
    (10003) and the tunnel server edges dial (10004). Off by default, as in KubeEdge
    (`keadm init` turns it on). The tunnel files fall back to CloudHub's certificates
    and the stream files to KubeEdge's CA when they do not exist."""

    enable: bool = False
    tls_tunnel_ca_file: str = msgspec.field(default=CA_FILE, name="tlsTunnelCAFile")
    tls_tunnel_cert_file: str = CERT_FILE
    tls_tunnel_private_key_file: str = KEY_FILE
    tunnel_port: int = 10004
    tls_stream_ca_file: str = msgspec.field(default="etc/kubeedge/ca/streamCA.crt",
                                            name="tlsStreamCAFile")
    tls_stream_cert_file: str = "etc/kubeedge/certs/stream.crt"
    tls_stream_private_key_file: str = "etc/kubeedge/certs/stream.key"
    stream_port: int = 10003
    # Ours: the address both servers listen on (KubeEdge listens on every address).
    address: str = "0.0.0.0"
    # Ours: a tunnel silent this long is pinged, and closed (with every session on it)
    # when no pong comes within half of it, so a partitioned edge's sessions end too. A
    # killed edge's socket closes at once; the edge pings on its own (edgeStream).
    keepalive_interval: Seconds = 30
    # Ours: a session whose client takes none of its buffered data (4 MiB) for this long
    # is ended, so a stuck client cannot hold its edge's tunnel (streaming/tunnel.py).
    session_stall_timeout: Seconds = 5

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_port(f"{where}.tunnelPort", self.tunnel_port, allow_zero=True)
        check_port(f"{where}.streamPort", self.stream_port, allow_zero=True)
        check_ip(f"{where}.address", self.address)
        check_positive(f"{where}.keepaliveInterval", self.keepalive_interval)
        check_positive(f"{where}.sessionStallTimeout", self.session_stall_timeout)


class Router(_Section):
    """Rule/RuleEndpoint routing with a REST server (spec §1); off by default."""

    enable: bool = False
    address: str = "0.0.0.0"
    port: int = 9443
    # Seconds a REST request waits for the edge.
    rest_timeout: Seconds = 60

    def validate(self, where: str) -> None:
        if not self.enable:
            return
        check_ip(f"{where}.address", self.address)
        check_port(f"{where}.port", self.port)
        check_positive(f"{where}.restTimeout", self.rest_timeout)


class IptablesManager(_Section):
    """The DNAT rules that send tunnel ports to the stream server (spec §9)."""

    enable: bool = True
    mode: str = "internal"

    def validate(self, where: str) -> None:
        check_choice(f"{where}.mode", self.mode, ("internal", "external"))


class TaskManagerBuffer(_Section):
    task_status: int = 1024
    task_event: int = 1


class TaskManagerLoad(_Section):
    task_workers: int = 1


class TaskManager(_Section):
    """Node upgrade and image pre-pull tasks; off by default."""

    enable: bool = False
    buffer: TaskManagerBuffer = msgspec.field(default_factory=TaskManagerBuffer)
    load: TaskManagerLoad = msgspec.field(default_factory=TaskManagerLoad)


class Modules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    cloud_hub: CloudHub = msgspec.field(default_factory=CloudHub)
    edge_controller: EdgeController = msgspec.field(default_factory=EdgeController)
    device_controller: DeviceController = msgspec.field(default_factory=DeviceController)
    task_manager: TaskManager = msgspec.field(default_factory=TaskManager)
    sync_controller: SyncController = msgspec.field(default_factory=SyncController)
    dynamic_controller: DynamicController = msgspec.field(
        default_factory=DynamicController)
    cloud_stream: CloudStream = msgspec.field(default_factory=CloudStream)
    router: Router = msgspec.field(default_factory=Router)
    iptables_manager: IptablesManager = msgspec.field(default_factory=IptablesManager)
    controller_manager: ControllerManagerConfig = msgspec.field(
        default_factory=ControllerManagerConfig)
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


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
        """A configured path under the root (absolute paths are taken as they are)."""
        return under_root(self.root, relative)

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
        check_host_port("commonConfig.monitorServer.bindAddress",
                        self.common_config.monitor_server.bind_address)
        check_port("commonConfig.tunnelPort", self.common_config.tunnel_port)
        m = self.modules
        m.cloud_hub.validate("modules.cloudHub")
        m.edge_controller.validate("modules.edgeController")
        m.sync_controller.validate("modules.syncController")
        m.cloud_stream.validate("modules.cloudStream")
        m.router.validate("modules.router")
        m.iptables_manager.validate("modules.iptablesManager")
        # KubeEdge raises these at start (and rewrites its ConfigMap), spec §3 nodeLimit.
        m.edge_controller.grow_for(m.cloud_hub.node_limit)
        m.controller_manager.validate()
        m.scheduler.validate()
        return self


def load(path: str | Path) -> CloudCoreConfig:
    """Read and validate a CloudCore config file; errors name the file and field."""
    raw = read_yaml(path)
    try:
        return decode(raw, CloudCoreConfig).validate()
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
    hub = full["modules"]["cloudHub"]
    minimal = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "kubeAPIConfig": {"kubeConfig": full["kubeAPIConfig"]["kubeConfig"]},
        "modules": {
            # KubeEdge's NewMinCloudCoreConfig prints nodeLimit 1000 (spec §3).
            "cloudHub": {
                "nodeLimit": 1000,
                **{k: hub[k] for k in ("tlsCAFile", "tlsCAKeyFile", "tlsCertFile",
                                       "tlsPrivateKeyFile", "advertiseAddress",
                                       "unixsocket", "websocket", "https")},
            },
            "router": full["modules"]["router"],
            "iptablesManager": full["modules"]["iptablesManager"],
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
