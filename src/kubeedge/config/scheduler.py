"""Configuration of the scheduler cloudcore runs (the `scheduler` module of the
CloudCore config, ARCHITECTURE.md rule 7).

Field names are camelCase like the rest of KubeEdge's CloudCore config. Timings carry
kube-scheduler's and Volcano's defaults (specs/volcano.md §2.1, §3), so tests can
shorten them. `actions`, `tiers` and `configurations` have the shape of Volcano's
`volcano-scheduler.conf` and default to the one Volcano's Helm chart ships (specs/
volcano.md §3). The default-scheduler fast path uses the node-level plugins of the tiers
(`predicates`, `nodeorder`, `binpack`); the Volcano session uses every tier.

Like Volcano's `--scheduler-conf`, `schedulerConf` names a `volcano-scheduler.conf` file
(root-relative, ARCHITECTURE.md rule 8; default `<root>/etc/kubeedge/config/volcano-
scheduler.conf`, beside cloudcore.yaml). Nothing writes it: put Volcano's file there
(e.g. the `volcano-scheduler.conf` key of the Helm chart's ConfigMap) to replace the
`actions`, `tiers` and `configurations` above; while it is absent those apply. The
scheduler reads it at start and again whenever its content changes (checked every
`schedulerConfPollSeconds`); a file that does not validate is refused with the reason
and the configuration in force keeps running (scheduler/conf.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.controllermanager import LeaderElection

# Plugins the framework knows (scheduler/plugins). Grows with the Volcano issue.
KNOWN_PLUGINS = ("priority", "gang", "conformance", "overcommit", "drf", "predicates",
                 "proportion", "capacity", "nodeorder", "binpack", "task-topology",
                 "deviceshare")
# Actions the Volcano session can run (scheduler/actions), in Volcano's names.
KNOWN_ACTIONS = ("enqueue", "allocate", "backfill", "preempt", "reclaim")
DEFAULT_ACTIONS = "enqueue, allocate, backfill"


class PluginOption(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel",
                   omit_defaults=True):
    """One `tiers[].plugins[]` entry of volcano-scheduler.conf: a name and its
    `arguments` (e.g. `binpack.weight: 10`, `leastrequested.weight: 1`)."""

    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    # Volcano's per-plugin switches (unset = enabled), spelled as Volcano spells them
    # (some `enable…`, some `enabled…`).
    enable_job_order: bool | None = None
    enable_job_ready: bool | None = None
    enable_job_pipelined: bool | None = None
    enable_job_enqueued: bool | None = None
    enable_job_starving: bool | None = None
    enable_task_order: bool | None = None
    enable_preemptable: bool | None = None
    enable_reclaimable: bool | None = None
    enable_preemptive: bool | None = None
    enable_queue_order: bool | None = None
    enable_cluster_order: bool | None = msgspec.field(default=None, name="enabledClusterOrder")
    # drf's hierarchical mode (HDRF). Accepted off only: HDRF is not implemented.
    enable_hierarchy: bool | None = None
    enable_predicate: bool | None = None
    enable_node_order: bool | None = None
    enable_best_node: bool | None = None
    enable_target_job: bool | None = None
    enable_reserved_nodes: bool | None = None
    enabled_overused: bool | None = None
    enabled_allocatable: bool | None = None
    enabled_victim: bool | None = None

    def enabled(self, switch: str) -> bool:
        """Whether the callback kind `switch` (a field name, e.g. "enable_job_order")
        is on for this plugin."""
        value = getattr(self, switch)
        return value is None or bool(value)


class Tier(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    plugins: list[PluginOption] = msgspec.field(default_factory=list)


class ActionConfiguration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                          rename="camel"):
    """One `configurations[]` entry: arguments for an action (e.g. allocate's
    `enablePredicateErrorCache`)."""

    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


def _default_tiers() -> list[Tier]:
    """The Helm chart's volcano-scheduler.conf (specs/volcano.md §3)."""
    return [
        Tier(plugins=[PluginOption(name="priority"),
                      PluginOption(name="gang", enable_preemptable=False),
                      PluginOption(name="conformance")]),
        Tier(plugins=[PluginOption(name="overcommit"),
                      PluginOption(name="drf", enable_preemptable=False),
                      PluginOption(name="predicates"),
                      PluginOption(name="proportion"),
                      PluginOption(name="nodeorder"),
                      PluginOption(name="binpack")]),
    ]


def parse_actions(actions: str) -> list[str]:
    """`"enqueue, allocate, backfill"` -> ["enqueue", "allocate", "backfill"]."""
    return [part.strip() for part in actions.split(",") if part.strip()]


def validate_policy(actions: str, tiers: list[Tier], where: str) -> None:
    """Volcano's checks on a volcano-scheduler.conf (pkg/scheduler/util.go
    UnmarshalSchedulerConf), plus ours (rule 7): every comma-separated action must name
    an action we run (so an empty `actions`, or an empty name between commas, is
    refused as Volcano refuses it); every plugin must be one we have; drf's hierarchy
    conflicts with proportion in the same tier. `where` prefixes the field path
    ("modules.scheduler." in the CloudCore config, "" in the file)."""
    for action in (part.strip() for part in actions.split(",")):
        if not action:
            raise ConfigError(
                f"{where}actions: {actions!r} has an empty action name; known: "
                + ", ".join(KNOWN_ACTIONS))
        if action not in KNOWN_ACTIONS:
            raise ConfigError(
                f"{where}actions: unknown action {action!r}; known: "
                + ", ".join(KNOWN_ACTIONS))
    everywhere = {plugin.name for tier in tiers for plugin in tier.plugins}
    if {"proportion", "capacity"} <= everywhere:
        # Both keep queue shares and answer the same callbacks; Volcano's capacity
        # guide says to use one or the other.
        raise ConfigError(f"{where}tiers: proportion and capacity cannot be used "
                          "together; keep one")
    for i, tier in enumerate(tiers):
        names = {plugin.name for plugin in tier.plugins}
        for j, plugin in enumerate(tier.plugins):
            field = f"{where}tiers[{i}].plugins[{j}]"
            if plugin.name not in KNOWN_PLUGINS:
                raise ConfigError(
                    f"{field}.name: unknown plugin {plugin.name!r}; known: "
                    + ", ".join(KNOWN_PLUGINS))
            if plugin.enable_hierarchy:
                if plugin.name == "drf" and "proportion" in names:
                    raise ConfigError(f"{field}.enableHierarchy: proportion and drf with "
                                      "hierarchy enabled conflict")
                raise ConfigError(f"{field}.enableHierarchy: hierarchical DRF is not "
                                  "supported; remove it or set it to false")


class SchedulerLeaderElection(LeaderElection, kw_only=True, forbid_unknown_fields=True,
                              rename="camel"):
    """The controller manager's leader election with kube-scheduler's Lease name, so a
    partial `leaderElection:` section still names the scheduler's Lease."""

    resource_name: str = "kube-scheduler"


class SchedulerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                      rename="camel"):
    enable: bool = True
    # Pods whose spec.schedulerName is one of these are placed one by one, at once,
    # as one-pod gangs (an empty schedulerName is the API default, default-scheduler).
    scheduler_names: list[str] = msgspec.field(default_factory=lambda: ["default-scheduler"])
    # Volcano's --scheduler-name: pods for these go through PodGroups, queues and gangs
    # in a session every schedulePeriodSeconds. Empty turns the Volcano path off.
    volcano_scheduler_names: list[str] = msgspec.field(default_factory=lambda: ["volcano"])
    # Volcano's --schedule-period: how often a full session runs.
    schedule_period_seconds: float = 1.0
    # kube-scheduler's percentageOfNodesToScore; 0 means adaptive (50 - nodes/125 %,
    # at least 5 %, and never fewer than 100 nodes).
    percentage_of_nodes_to_score: int = 0
    # kube-scheduler's podInitialBackoffSeconds and podMaxBackoffSeconds.
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    # Bindings (POST pods/{name}/binding) in flight at once.
    bind_concurrency: int = 64
    # volcano-scheduler.conf: the actions in execution order, the plugin tiers, and
    # per-action arguments.
    actions: str = DEFAULT_ACTIONS
    tiers: list[Tier] = msgspec.field(default_factory=_default_tiers)
    configurations: list[ActionConfiguration] = msgspec.field(default_factory=list)
    # Volcano's --scheduler-conf: a volcano-scheduler.conf file that, when present,
    # replaces actions, tiers and configurations (relative to the root; "" = none).
    scheduler_conf: str = "etc/kubeedge/config/volcano-scheduler.conf"
    # How often that file is checked for a change (Volcano watches with fsnotify).
    scheduler_conf_poll_seconds: float = 2.0
    leader_election: SchedulerLeaderElection = msgspec.field(
        default_factory=SchedulerLeaderElection)

    def validate(self) -> SchedulerConfig:
        where = "modules.scheduler"
        if not self.scheduler_names or not all(self.scheduler_names):
            raise ConfigError(f"{where}.schedulerNames: need at least one non-empty name")
        if self.schedule_period_seconds <= 0:
            raise ConfigError(f"{where}.schedulePeriodSeconds: must be greater than 0")
        if not 0 <= self.percentage_of_nodes_to_score <= 100:
            raise ConfigError(
                f"{where}.percentageOfNodesToScore: {self.percentage_of_nodes_to_score} is "
                "not a percentage (0-100, 0 for adaptive)")
        if self.pod_initial_backoff_seconds <= 0:
            raise ConfigError(f"{where}.podInitialBackoffSeconds: must be greater than 0")
        if self.pod_max_backoff_seconds < self.pod_initial_backoff_seconds:
            raise ConfigError(
                f"{where}.podMaxBackoffSeconds: must be at least podInitialBackoffSeconds "
                f"({self.pod_initial_backoff_seconds})")
        if self.bind_concurrency < 1:
            raise ConfigError(f"{where}.bindConcurrency: must be at least 1")
        if not all(self.volcano_scheduler_names):
            raise ConfigError(f"{where}.volcanoSchedulerNames: names must not be empty")
        clash = set(self.volcano_scheduler_names) & set(self.scheduler_names)
        if clash:
            raise ConfigError(
                f"{where}.volcanoSchedulerNames: {', '.join(sorted(clash))} is also in "
                "schedulerNames; a pod has one scheduler")
        if self.scheduler_conf_poll_seconds <= 0:
            raise ConfigError(f"{where}.schedulerConfPollSeconds: must be greater than 0")
        validate_policy(self.actions, self.tiers, f"{where}.")
        self.leader_election.validate(where)
        return self
