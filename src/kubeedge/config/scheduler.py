"""Configuration of the scheduler cloudcore runs (the `scheduler` module of the
CloudCore config, ARCHITECTURE.md rule 7).

Field names are camelCase like the rest of KubeEdge's CloudCore config. Timings carry
kube-scheduler's and Volcano's defaults (specs/volcano.md §2.1, §3), so tests can
shorten them. `tiers` has the shape of Volcano's `volcano-scheduler.conf`; the plugins
known today are the ones the default-scheduler fast path uses.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.controllermanager import LeaderElection

# Plugins the framework knows (scheduler/plugins). Grows with the Volcano issue.
KNOWN_PLUGINS = ("predicates", "nodeorder", "binpack")


class PluginOption(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """One `tiers[].plugins[]` entry of volcano-scheduler.conf: a name and its
    `arguments` (e.g. `binpack.weight: 10`, `leastrequested.weight: 1`)."""

    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


class Tier(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    plugins: list[PluginOption] = msgspec.field(default_factory=list)


def _default_tiers() -> list[Tier]:
    return [Tier(plugins=[PluginOption(name="predicates"), PluginOption(name="nodeorder")])]


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
    tiers: list[Tier] = msgspec.field(default_factory=_default_tiers)
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
        for i, tier in enumerate(self.tiers):
            for j, plugin in enumerate(tier.plugins):
                if plugin.name not in KNOWN_PLUGINS:
                    raise ConfigError(
                        f"{where}.tiers[{i}].plugins[{j}].name: unknown plugin "
                        f"{plugin.name!r}; known: {', '.join(KNOWN_PLUGINS)}")
        self.leader_election.validate(where)
        return self
