"""Scheduler plugins by Volcano's names (specs/volcano.md §2.4): each registers its
callbacks when a session opens. `build_tiers` turns the configured tiers into plugin
instances for a Volcano session (fresh ones per session: plugins keep per-session
state); `build_plugins` gives the node-level ones (`predicates`, `nodeorder`,
`binpack`, `deviceshare`) in tier order, for the default-scheduler fast path
(`task-topology` orders a job's pods, so it serves the Volcano session only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import PluginOption, Tier
from kubeedge.scheduler.framework.session import Plugin
from kubeedge.scheduler.plugins.binpack import BinpackPlugin
from kubeedge.scheduler.plugins.capacity import CapacityPlugin
from kubeedge.scheduler.plugins.conformance import ConformancePlugin
from kubeedge.scheduler.plugins.deviceshare import DeviceSharePlugin
from kubeedge.scheduler.plugins.drf import DrfPlugin
from kubeedge.scheduler.plugins.gang import GangPlugin
from kubeedge.scheduler.plugins.nodeorder import NodeOrderPlugin
from kubeedge.scheduler.plugins.overcommit import OvercommitPlugin
from kubeedge.scheduler.plugins.predicates import PredicatesPlugin
from kubeedge.scheduler.plugins.priority import PriorityPlugin
from kubeedge.scheduler.plugins.proportion import ProportionPlugin
from kubeedge.scheduler.plugins.task_topology import TaskTopologyPlugin

__all__ = ["NODE_PLUGINS", "PLUGINS", "build_plugins", "build_tiers"]

PLUGINS: dict[str, Callable[[Mapping[str, Any] | None], Plugin]] = {
    "priority": PriorityPlugin,
    "gang": GangPlugin,
    "conformance": ConformancePlugin,
    "overcommit": OvercommitPlugin,
    "drf": DrfPlugin,
    "predicates": PredicatesPlugin,
    "proportion": ProportionPlugin,
    "capacity": CapacityPlugin,
    "nodeorder": NodeOrderPlugin,
    "binpack": BinpackPlugin,
    "task-topology": TaskTopologyPlugin,
    "deviceshare": DeviceSharePlugin,
}

# Plugins that only filter and score nodes: the ones a one-pod gang needs.
NODE_PLUGINS = frozenset({"predicates", "nodeorder", "binpack", "deviceshare"})


def _make(option: PluginOption) -> Plugin:
    factory = PLUGINS.get(option.name)
    if factory is None:
        raise ConfigError(f"scheduler plugin {option.name!r} is not known; known: "
                          + ", ".join(PLUGINS))
    return factory(option.arguments)


def build_plugins(tiers: Iterable[Tier]) -> list[Plugin]:
    return [_make(option) for tier in tiers for option in tier.plugins
            if option.name in NODE_PLUGINS or option.name not in PLUGINS]


def build_tiers(tiers: Iterable[Tier]) -> list[list[tuple[PluginOption, Plugin]]]:
    return [[(option, _make(option)) for option in tier.plugins] for tier in tiers]
