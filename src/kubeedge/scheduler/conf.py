"""`volcano-scheduler.conf`: Volcano's scheduler configuration file, read as Volcano
reads it and followed while the scheduler runs (specs/volcano.md §2.1 "config
hot-reloads", §3).

Owns two things. `parse_scheduler_conf` turns the file's text into the `actions`,
`tiers` and `configurations` of a `SchedulerConfig`, refusing what Volcano refuses (no
actions, an unknown action) and what our typed configuration refuses (ARCHITECTURE.md
rule 7: unknown plugins and fields, plugin arguments of the wrong type), with the field
path in the reason. `SchedulerConfWatcher` reads the file at start and polls it every
`schedulerConfPollSeconds` on a `Clock` (Volcano uses fsnotify; polling a few bytes
needs no dependency and works on every filesystem and ConfigMap volume): a changed file
that validates goes to `Scheduler.reconfigure`, one that does not is refused with the
reason and the configuration in force keeps running, as in Volcano's
`loadSchedulerConf`. A file that disappears also leaves the configuration in force.

Never writes the file, and changes the scheduler only through `reconfigure`. Sessions
are synchronous, so a swap from this module's task always falls between two sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import yaml

from kubeedge.client.clock import Clock, RealClock
from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import (
    ActionConfiguration,
    SchedulerConfig,
    Tier,
    validate_policy,
)
from kubeedge.scheduler.plugins import PLUGINS

if TYPE_CHECKING:
    from kubeedge.scheduler.scheduler import Scheduler

__all__ = ["SchedulerConfWatcher", "VolcanoSchedulerConf", "parse_scheduler_conf"]

log = logging.getLogger(__name__)


class VolcanoSchedulerConf(msgspec.Struct, kw_only=True, forbid_unknown_fields=True,
                           rename="camel"):
    """The file's top level (Volcano's conf.SchedulerConfiguration)."""

    actions: str = ""
    tiers: list[Tier] = msgspec.field(default_factory=list)
    configurations: list[ActionConfiguration] = msgspec.field(default_factory=list)
    # Volcano's metrics source settings (type, address, interval) feed its usage-based
    # plugins, which we do not have: accepted so Volcano's files load, not used.
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)


_AT = re.compile(r"^(?P<reason>.*) - at `\$\.?(?P<path>[^`]*)`$")


def _validation_reason(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `bool`, got `str` - at `$.tiers[0]...`" as
    "tiers[0]...: Expected `bool`, got `str`", the field first as in our other errors."""
    text = str(exc)
    match = _AT.match(text)
    if match is None:
        return text
    return f"{match['path']}: {match['reason']}" if match['path'] else match['reason']


def parse_scheduler_conf(text: str, base: SchedulerConfig) -> SchedulerConfig:
    """`base` with the file's actions, tiers and configurations, or ConfigError with
    the reason (the field path in the file first)."""
    # Volcano trims the file and unmarshals it; an empty one has no actions and is
    # refused by its action lookup, as it is here.
    try:
        raw = yaml.safe_load(text.strip())
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
    if raw is None:
        raise ConfigError("the file is empty: it names no actions")
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping with actions, tiers and configurations, got "
                          f"{type(raw).__name__} {raw!r:.60}")
    try:
        conf = msgspec.convert(raw, VolcanoSchedulerConf)
    except msgspec.ValidationError as exc:
        raise ConfigError(_validation_reason(exc)) from None
    validate_policy(conf.actions, conf.tiers, "")
    # Plugins read their arguments when built: build each once so a wrong type is
    # refused now, not at the next session.
    for i, tier in enumerate(conf.tiers):
        for j, option in enumerate(tier.plugins):
            factory = PLUGINS.get(option.name)
            if factory is None:
                raise ConfigError(f"tiers[{i}].plugins[{j}].name: plugin {option.name!r} "
                                  "is not available in this scheduler")
            try:
                factory(option.arguments)
            except (ConfigError, TypeError, ValueError) as exc:
                raise ConfigError(f"tiers[{i}].plugins[{j}].arguments: {exc}") from None
    return msgspec.structs.replace(base, actions=conf.actions, tiers=conf.tiers,
                                   configurations=conf.configurations)


class SchedulerConfWatcher:
    """`SchedulerConfWatcher(path, base)`; `load()` gives the configuration to start
    the scheduler with, `start(scheduler)` follows the file, `await stop()` ends.

    `base` is the CloudCore config's scheduler section: while no file was ever read,
    its actions, tiers and configurations (by default the Helm chart's) are in force.
    `reloads` (file versions put in force, the one read at start included), `refusals`
    and `last_error` (None once a valid version is in force) say what became of them.
    """

    def __init__(self, path: Path, base: SchedulerConfig, *, clock: Clock | None = None,
                 period: float | None = None) -> None:
        self.path = path
        self.base = base
        self.clock: Clock = clock or RealClock()
        self.period = period if period is not None else base.scheduler_conf_poll_seconds
        self.current = base
        self.reloads = 0
        self.refusals = 0
        self.last_error: str | None = None
        # The digest of the content last looked at (applied or refused), so one file
        # version is parsed, and refused, once; None once the file is gone.
        self._seen: bytes | None = None
        self._unreadable: str | None = None
        self._scheduler: Scheduler | None = None
        self._task: asyncio.Task[None] | None = None

    def load(self) -> SchedulerConfig:
        """Read the file once (before the scheduler exists) and give the configuration
        it should start with: the file's when it validates, else `base`."""
        if not self.path.exists():
            log.info("scheduler: no %s; using the configured actions and tiers", self.path)
            self._unreadable = "missing"
        else:
            self.check()
        return self.current

    def start(self, scheduler: Scheduler) -> None:
        """Follow the file, applying changes to `scheduler` (which should run `current`)."""
        self._scheduler = scheduler
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="scheduler-conf")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._scheduler = None

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.period)
            try:
                self.check()
            except Exception:
                log.exception("scheduler: checking %s failed", self.path)

    def check(self) -> bool:
        """Look at the file once; True when a new configuration was put in force."""
        try:
            content = self.path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self._unreadable != reason:
                # Volcano: "Failed to read the Scheduler config ..., using previous
                # configuration". Said once per cause, not once per poll.
                log.warning("scheduler: cannot read %s (%s); keeping the configuration "
                            "in force", self.path, reason)
                self._unreadable = reason
            self._seen = None
            return False
        self._unreadable = None
        digest = hashlib.sha256(content).digest()
        if digest == self._seen:
            return False
        self._seen = digest
        try:
            config = parse_scheduler_conf(content.decode("utf-8", errors="replace"),
                                          self.base)
        except ConfigError as exc:
            self.refusals += 1
            self.last_error = f"{self.path}: {exc}"
            log.error("scheduler: configuration refused, the previous one keeps running: "
                      "%s", self.last_error)
            return False
        if self._scheduler is not None:
            self._scheduler.reconfigure(config)
        self.current = config
        self.reloads += 1
        self.last_error = None
        log.info("scheduler configuration %s from %s: actions %r, plugins %s",
                 "reloaded" if self._scheduler is not None else "loaded", self.path,
                 config.actions,
                 [[plugin.name for plugin in tier.plugins] for tier in config.tiers])
        return True
