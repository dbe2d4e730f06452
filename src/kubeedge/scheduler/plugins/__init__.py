"""Scheduler plugins by Volcano's names (specs/volcano.md §2.4): each registers its
callbacks when a session opens. `build_plugins` turns the configured tiers into
plugin instances, in tier order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import Tier
from kubeedge.scheduler.framework.session import Plugin
from kubeedge.scheduler.plugins.binpack import BinpackPlugin
from kubeedge.scheduler.plugins.nodeorder import NodeOrderPlugin
from kubeedge.scheduler.plugins.predicates import PredicatesPlugin

__all__ = ["PLUGINS", "build_plugins"]

PLUGINS: dict[str, Callable[[Mapping[str, Any] | None], Plugin]] = {
    "predicates": PredicatesPlugin,
    "nodeorder": NodeOrderPlugin,
    "binpack": BinpackPlugin,
}


def build_plugins(tiers: Iterable[Tier]) -> list[Plugin]:
    plugins: list[Plugin] = []
    for tier in tiers:
        for option in tier.plugins:
            factory = PLUGINS.get(option.name)
            if factory is None:
                raise ConfigError(f"scheduler plugin {option.name!r} is not known; known: "
                                  + ", ".join(PLUGINS))
            plugins.append(factory(option.arguments))
    return plugins
