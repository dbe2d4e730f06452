"""Configuration of the controller manager that cloudcore runs (the `controllerManager`
module of the CloudCore config, ARCHITECTURE.md rule 7).

Field names are camelCase like the rest of KubeEdge's CloudCore config; every timing is
a field in seconds with kube-controller-manager's default, so tests can shorten it.
"""

from __future__ import annotations

import ipaddress

import msgspec

from kubeedge.config.apiserver import ConfigError

# Every controller cloudcore knows, by kube-controller-manager's `--controllers` names
# where kube has one. "*" in `controllers` means all of them; "-name" turns one off.
KNOWN_CONTROLLERS = (
    "namespace-defaults",
    "deployment",
    "replicaset",
    "daemonset",
    "statefulset",
    "job",
    "cronjob",
    "garbage-collector",
    "namespace",
    "node-lifecycle",
    "node-ipam",
    "disruption",
    "endpoints",
    "endpointslice",
    "podgc",
    "queue",
    "podgroup",
    "vcjob",
    "tfjob",
    "pytorchjob",
)

# The training operator's --gang-scheduler-name values we serve (specs/volcano.md §6):
# "" turns gang scheduling off; "volcano" gives every job a Volcano PodGroup. Other
# names mean scheduler-plugins' coscheduling upstream, which we do not run.
GANG_SCHEDULERS = ("", "volcano")


class LeaderElection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                     rename="camel"):
    """client-go's leader election defaults (kube-controller-manager's flags)."""

    leader_elect: bool = True
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0
    resource_name: str = "kube-controller-manager"
    resource_namespace: str = "kube-system"

    def validate(self, where: str) -> None:
        if not (0 < self.retry_period_seconds < self.renew_deadline_seconds
                < self.lease_duration_seconds):
            raise ConfigError(
                f"{where}.leaderElection: need 0 < retryPeriodSeconds < "
                "renewDeadlineSeconds < leaseDurationSeconds")


class ControllerManagerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                              rename="camel"):
    enable: bool = True
    controllers: list[str] = msgspec.field(default_factory=lambda: ["*"])
    leader_election: LeaderElection = msgspec.field(default_factory=LeaderElection)
    # Workers per controller (kube's --concurrent-*-syncs defaults).
    concurrent_deployment_syncs: int = 5
    concurrent_replicaset_syncs: int = 5
    concurrent_daemonset_syncs: int = 2
    concurrent_statefulset_syncs: int = 5
    concurrent_job_syncs: int = 5
    concurrent_cronjob_syncs: int = 5
    concurrent_gc_syncs: int = msgspec.field(default=20, name="concurrentGCSyncs")
    concurrent_namespace_syncs: int = 10
    concurrent_endpoint_syncs: int = 5
    # kube's --max-endpoints-per-slice.
    max_endpoints_per_slice: int = 100
    # Node lifecycle (kube's --node-monitor-period, --node-monitor-grace-period,
    # --node-startup-grace-period).
    node_monitor_period_seconds: float = 5.0
    node_monitor_grace_period_seconds: float = 40.0
    node_startup_grace_period_seconds: float = 60.0
    # Edge autonomy: nodes labelled node-role.kubernetes.io/edge get the unreachable
    # taint as NoSchedule only, so their pods stay while the edge is offline. True
    # applies Kubernetes' NoExecute eviction to edges as well.
    edge_node_eviction: bool = False
    # Node IPAM (kube's --allocate-node-cidrs, --cluster-cidr, --node-cidr-mask-size).
    allocate_node_cidrs: bool = msgspec.field(default=True, name="allocateNodeCIDRs")
    cluster_cidr: str = msgspec.field(default="10.244.0.0/16", name="clusterCIDR")
    node_cidr_mask_size: int = msgspec.field(default=24, name="nodeCIDRMaskSize")
    # Pod garbage collection (kube's --terminated-pod-gc-threshold; its fixed 20 s
    # period and 40 s quarantine for pods of deleted nodes).
    terminated_pod_gc_threshold: int = msgspec.field(default=12500,
                                                     name="terminatedPodGCThreshold")
    pod_gc_period_seconds: float = msgspec.field(default=20.0, name="podGCPeriodSeconds")
    pod_gc_quarantine_seconds: float = msgspec.field(default=40.0,
                                                     name="podGCQuarantineSeconds")
    # The garbage collector rediscovers resources (new CRDs) this often; the namespace
    # controller revisits terminating namespaces this often (--namespace-sync-period).
    gc_discovery_period_seconds: float = msgspec.field(default=30.0,
                                                       name="gcDiscoveryPeriodSeconds")
    namespace_sync_period_seconds: float = 300.0
    # The CronJob controller checks schedules this often.
    cronjob_sync_period_seconds: float = 10.0
    # Workload controllers revisit every object this often (0: only on events).
    resync_period_seconds: float = 0.0
    # The training operator (TFJob, PyTorchJob; specs/volcano.md §6): its
    # --gang-scheduler-name ("" = off) and --controller-threads.
    gang_scheduler_name: str = "volcano"
    training_controller_threads: int = 1
    # Where the cluster CA is read from for the kube-root-ca.crt ConfigMaps, relative
    # to the root.
    root_ca_file: str = msgspec.field(default="etc/kubeedge/pki/ca.crt", name="rootCAFile")

    def enabled(self, name: str) -> bool:
        """kube-controller-manager's `--controllers` rule: a name, `*` for all
        defaults, `-name` to turn one off."""
        if f"-{name}" in self.controllers:
            return False
        return name in self.controllers or "*" in self.controllers

    def validate(self) -> ControllerManagerConfig:
        where = "modules.controllerManager"
        for name in self.controllers:
            bare = name.removeprefix("-")
            if bare != "*" and bare not in KNOWN_CONTROLLERS:
                raise ConfigError(
                    f"{where}.controllers: unknown controller {name!r}; known: "
                    + ", ".join(KNOWN_CONTROLLERS))
        self.leader_election.validate(where)
        try:
            net = ipaddress.ip_network(self.cluster_cidr, strict=True)
        except ValueError as exc:
            raise ConfigError(f"{where}.clusterCIDR: {exc}") from None
        if not net.prefixlen <= self.node_cidr_mask_size <= net.max_prefixlen:
            raise ConfigError(
                f"{where}.nodeCIDRMaskSize: {self.node_cidr_mask_size} must lie between the "
                f"cluster CIDR's prefix /{net.prefixlen} and /{net.max_prefixlen}")
        if self.gang_scheduler_name not in GANG_SCHEDULERS:
            raise ConfigError(
                f"{where}.gangSchedulerName: {self.gang_scheduler_name!r} is not supported; "
                'use "volcano" or "" (off): scheduler-plugins coscheduling is not served')
        if self.training_controller_threads < 1:
            raise ConfigError(f"{where}.trainingControllerThreads: must be at least 1")
        if not 1 <= self.max_endpoints_per_slice <= 1000:
            raise ConfigError(f"{where}.maxEndpointsPerSlice: must lie between 1 and 1000")
        for field in ("node_monitor_period_seconds", "node_monitor_grace_period_seconds",
                      "node_startup_grace_period_seconds", "cronjob_sync_period_seconds",
                      "pod_gc_period_seconds", "gc_discovery_period_seconds",
                      "namespace_sync_period_seconds"):
            if getattr(self, field) <= 0:
                camel = field.split("_")[0] + "".join(p.title() for p in field.split("_")[1:])
                raise ConfigError(f"{where}.{camel}: must be greater than 0")
        return self
