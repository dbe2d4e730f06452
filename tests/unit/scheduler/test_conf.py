"""volcano-scheduler.conf without I/O beyond a temp file: the file parsed as Volcano
reads it and refused with the field path when it does not validate; the watcher on a
fake clock (a changed file put in force, a bad one refused once while the previous one
keeps running, a vanished one leaving the configuration in force); and
`Scheduler.reconfigure` swapping the fast path's plugins."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.scheduler.conf import SchedulerConfWatcher, parse_scheduler_conf
from kubeedge.scheduler.scheduler import Scheduler

# Volcano's Helm chart file with a few arguments, configurations and metrics added.
HELM_LIKE = """
actions: "enqueue, allocate, backfill"
tiers:
- plugins:
  - name: priority
  - name: gang
    enablePreemptable: false
  - name: conformance
- plugins:
  - name: overcommit
    arguments:
      overcommit-factor: 1.5
  - name: drf
    enablePreemptable: false
  - name: predicates
  - name: proportion
  - name: nodeorder
    enabledClusterOrder: false
  - name: binpack
    arguments:
      binpack.weight: 10
configurations:
- name: allocate
  arguments:
    enablePredicateErrorCache: false
metrics:
  type: prometheus
  address: http://prometheus.example:9090
  interval: 30s
"""

ALLOCATE_ONLY = 'actions: "allocate"\ntiers:\n- plugins:\n  - name: gang\n'


def names(config: SchedulerConfig) -> list[list[str]]:
    return [[plugin.name for plugin in tier.plugins] for tier in config.tiers]


def test_a_volcano_file_replaces_actions_tiers_and_configurations() -> None:
    base = SchedulerConfig(schedule_period_seconds=0.5, volcano_scheduler_names=["batch"])
    config = parse_scheduler_conf(HELM_LIKE, base)
    assert config.actions == "enqueue, allocate, backfill"
    assert names(config) == [["priority", "gang", "conformance"],
                             ["overcommit", "drf", "predicates", "proportion", "nodeorder",
                              "binpack"]]
    gang = config.tiers[0].plugins[1]
    assert not gang.enabled("enable_preemptable") and gang.enabled("enable_job_ready")
    assert config.tiers[1].plugins[0].arguments == {"overcommit-factor": 1.5}
    assert config.tiers[1].plugins[4].enable_cluster_order is False
    assert [(c.name, c.arguments) for c in config.configurations] == [
        ("allocate", {"enablePredicateErrorCache": False})]
    # What the file does not hold stays as the CloudCore config said.
    assert config.schedule_period_seconds == 0.5
    assert config.volcano_scheduler_names == ["batch"]
    assert base.tiers != config.tiers  # the base is not changed


@pytest.mark.parametrize(("text", "reason"), [
    (HELM_LIKE.replace("name: proportion", "name: capacityy"),
     r"^tiers\[1\]\.plugins\[3\]\.name: unknown plugin 'capacityy'; known: priority"),
    ('actions: "enqueue, allocate, preemt"\n',
     r"^actions: unknown action 'preemt'; known: enqueue, allocate, backfill"),
    # Volcano looks up every comma-separated name: an empty one fails the lookup.
    ('actions: "enqueue, allocate,"\n', r"^actions: 'enqueue, allocate,' has an empty"),
    ("tiers:\n- plugins:\n  - name: gang\n", r"^actions: '' has an empty action name"),
    ("", r"^the file is empty"),
    ("  \n\n", r"^the file is empty"),
    ("actions: [enqueue\n", r"^not valid YAML"),
    ("actions: 'enqueue'\n  tiers: - x\n", r"^not valid YAML"),
    ("just words\n",
     r"^expected a mapping with actions, tiers and configurations, got str 'just words'"),
    ('actions: "allocate"\ntier:\n- plugins: []\n', r"unknown field `tier`"),
    ('actions: "allocate"\ntiers:\n- plugins:\n  - name: gang\n    enablePreemptable: maybe\n',
     r"^tiers\[0\]\.plugins\[0\]\.enablePreemptable: Expected `bool | null`, got `str`"),
    ('actions: ["allocate"]\n', r"^actions: Expected `str`, got `array`"),
    ('actions: "allocate"\ntiers:\n- plugins:\n  - name: binpack\n    arguments:\n'
     '      binpack.weight: heavy\n',
     r"^tiers\[0\]\.plugins\[0\]\.arguments: plugin argument binpack.weight: 'heavy' is "
     r"not a number"),
    ('actions: "allocate"\ntiers:\n- plugins:\n  - name: predicates\n    arguments:\n'
     '      predicate.NodeAffinityEnable: sometimes\n',
     r"^tiers\[0\]\.plugins\[0\]\.arguments: plugin argument predicate.NodeAffinityEnable"),
    ('actions: "allocate"\ntiers:\n- plugins:\n  - name: drf\n    enableHierarchy: true\n'
     '  - name: proportion\n',
     r"^tiers\[0\]\.plugins\[0\]\.enableHierarchy: proportion and drf with hierarchy"),
    ('actions: "allocate"\nconfigurations:\n- arguments: {}\n',
     r"missing required field `name`"),
])
def test_bad_files_are_refused_with_the_field_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_scheduler_conf(text, SchedulerConfig())


def test_the_cloudcore_config_refuses_what_the_file_refuses() -> None:
    with pytest.raises(ConfigError, match=r"modules.scheduler.actions: 'allocate,' has an "
                                          r"empty action name"):
        SchedulerConfig(actions="allocate,").validate()
    raw = {"tiers": [{"plugins": [{"name": "drf", "enableHierarchy": True}]}]}
    with pytest.raises(ConfigError, match="hierarchical DRF is not supported"):
        msgspec.convert(raw, SchedulerConfig).validate()
    with pytest.raises(ConfigError, match="schedulerConfPollSeconds"):
        SchedulerConfig(scheduler_conf_poll_seconds=0).validate()
    # Volcano spells this switch "enabled…"; the config reads and prints it that way.
    raw = {"tiers": [{"plugins": [{"name": "gang", "enabledClusterOrder": False}]}]}
    config = msgspec.convert(raw, SchedulerConfig).validate()
    assert msgspec.to_builtins(config)["tiers"][0]["plugins"][0] == {
        "name": "gang", "enabledClusterOrder": False}


class Recorder:
    """Stands in for the Scheduler: what `reconfigure` was given."""

    def __init__(self) -> None:
        self.configs: list[SchedulerConfig] = []

    def reconfigure(self, config: SchedulerConfig) -> None:
        self.configs.append(config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def started(path: Path, clock: FakeClock, base: SchedulerConfig | None = None
                  ) -> tuple[SchedulerConfWatcher, Recorder, SchedulerConfig]:
    watcher = SchedulerConfWatcher(path, base or SchedulerConfig(), clock=clock, period=2.0)
    initial = watcher.load()
    target = Recorder()
    watcher.start(target)  # type: ignore[arg-type]
    await clock.wait_for_sleepers()
    return watcher, target, initial


async def test_without_a_file_the_configured_default_runs_until_one_appears(
        tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    watcher, target, initial = await started(path, clock)
    try:
        assert initial == SchedulerConfig()  # the Helm chart's file (specs/volcano.md §3)
        await clock.advance(10)
        assert (target.configs, watcher.reloads, watcher.refusals) == ([], 0, 0)
        path.write_text(ALLOCATE_ONLY)
        await clock.advance(1.9)
        assert target.configs == []  # not yet polled
        await clock.advance(0.1)
        [config] = target.configs
        assert config.actions == "allocate" and names(config) == [["gang"]]
        assert watcher.current is config and watcher.reloads == 1
    finally:
        await watcher.stop()


async def test_a_changed_file_is_put_in_force_and_an_unchanged_one_is_not_reread(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text(HELM_LIKE)
    watcher, target, initial = await started(path, clock)
    try:
        assert initial.tiers[1].plugins[5].arguments == {"binpack.weight": 10}
        assert watcher.reloads == 1
        await clock.advance(6)
        assert target.configs == []
        # Same size, different content: the digest sees it even where mtime is coarse.
        path.write_text(HELM_LIKE.replace("binpack.weight: 10", "binpack.weight: 20"))
        with caplog.at_level(logging.INFO, logger="kubeedge.scheduler.conf"):
            await clock.advance(2)
        [config] = target.configs
        assert config.tiers[1].plugins[5].arguments == {"binpack.weight": 20}
        assert "scheduler configuration reloaded" in caplog.text
        assert watcher.reloads == 2
    finally:
        await watcher.stop()


async def test_a_bad_file_is_refused_once_and_the_previous_configuration_keeps_running(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text(ALLOCATE_ONLY)
    watcher, target, initial = await started(path, clock)
    try:
        assert initial.actions == "allocate"
        path.write_text('actions: "allocate, preemptt"\n')
        with caplog.at_level(logging.ERROR, logger="kubeedge.scheduler.conf"):
            await clock.advance(2)
        assert target.configs == [] and watcher.current is initial
        assert watcher.refusals == 1
        assert watcher.last_error == (f"{path}: actions: unknown action 'preemptt'; known: "
                                      "enqueue, allocate, backfill, preempt, reclaim")
        assert "previous one keeps running" in caplog.text and "preemptt" in caplog.text
        # The same bad content is not refused again at every poll.
        await clock.advance(10)
        assert watcher.refusals == 1
        # Fixed: in force, and the error cleared.
        path.write_text('actions: "enqueue, allocate"\n')
        await clock.advance(2)
        assert [c.actions for c in target.configs] == ["enqueue, allocate"]
        assert watcher.last_error is None and watcher.refusals == 1
    finally:
        await watcher.stop()


async def test_a_file_that_is_bad_at_start_leaves_the_configured_default(
        tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text("actions: [\n")
    base = SchedulerConfig(actions="enqueue, allocate")
    watcher, _, initial = await started(path, clock, base)
    try:
        assert initial is base and watcher.refusals == 1
        assert watcher.last_error is not None and "not valid YAML" in watcher.last_error
    finally:
        await watcher.stop()


async def test_a_vanished_file_leaves_the_configuration_in_force(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text(ALLOCATE_ONLY)
    watcher, target, _ = await started(path, clock)
    try:
        path.unlink()
        with caplog.at_level(logging.WARNING, logger="kubeedge.scheduler.conf"):
            await clock.advance(10)
        assert target.configs == [] and watcher.current.actions == "allocate"
        assert caplog.text.count("cannot read") == 1
        # Back (a ConfigMap volume swaps its files): read again.
        path.write_text(ALLOCATE_ONLY)
        await clock.advance(2)
        assert [c.actions for c in target.configs] == ["allocate"]
    finally:
        await watcher.stop()


async def test_stop_ends_the_polling(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    watcher, target, _ = await started(path, clock)
    await watcher.stop()
    path.write_text(ALLOCATE_ONLY)
    await clock.advance(10)
    assert target.configs == [] and clock.sleepers == 0


class NoClient:
    clock = FakeClock()


def test_reconfigure_swaps_the_policy_and_the_fast_path_plugins() -> None:
    base = SchedulerConfig(scheduler_names=["default-scheduler", "mine"], bind_concurrency=3)
    sched = Scheduler(NoClient(), None, None, base)  # type: ignore[arg-type]
    assert [p.name for p in sched.session.plugins] == ["predicates", "nodeorder", "binpack"]
    sched.session.next_start_index = 7
    new = parse_scheduler_conf(
        'actions: "allocate"\ntiers:\n- plugins:\n  - name: gang\n  - name: binpack\n'
        '    arguments:\n      binpack.weight: 5\n', SchedulerConfig())
    sched.reconfigure(new)
    plugins: list[Any] = sched.session.plugins
    assert [p.name for p in plugins] == ["binpack"] and plugins[0].weight == 5
    assert sched.session.cache is sched.cache and sched.session.next_start_index == 7
    assert sched.config.actions == "allocate" and names(sched.config) == [["gang", "binpack"]]
    # Only the policy moves: names and limits stay as the scheduler started.
    assert sched.config.scheduler_names == ["default-scheduler", "mine"]
    assert sched.config.bind_concurrency == 3
