from __future__ import annotations

import msgspec
import pytest

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import SchedulerConfig


def test_defaults_are_kube_and_volcano_defaults() -> None:
    config = SchedulerConfig().validate()
    assert config.scheduler_names == ["default-scheduler"]
    assert (config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (1.0, 10.0)
    assert config.schedule_period_seconds == 1.0
    assert config.leader_election.resource_name == "kube-scheduler"
    # Volcano's Helm volcano-scheduler.conf (specs/volcano.md §3).
    assert config.actions == "enqueue, allocate, backfill"
    assert [[p.name for p in tier.plugins] for tier in config.tiers] == [
        ["priority", "gang", "conformance"],
        ["overcommit", "drf", "predicates", "proportion", "nodeorder", "binpack"]]
    assert config.tiers[0].plugins[1].enable_preemptable is False
    assert config.volcano_scheduler_names == ["volcano"]


def test_volcano_scheduler_conf_shape_is_accepted() -> None:
    raw = {"actions": "enqueue, allocate, backfill",
           "tiers": [{"plugins": [{"name": "priority"},
                                  {"name": "gang", "enablePreemptable": False,
                                   "enabledOverused": True}]},
                     {"plugins": [{"name": "overcommit",
                                   "arguments": {"overcommit-factor": 1.0}}]}],
           "configurations": [{"name": "allocate",
                               "arguments": {"enablePredicateErrorCache": True}}]}
    config = msgspec.convert(raw, SchedulerConfig).validate()
    gang = config.tiers[0].plugins[1]
    assert not gang.enabled("enable_preemptable") and gang.enabled("enable_job_ready")
    assert config.configurations[0].name == "allocate"


def test_unknown_actions_and_shared_names_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"actions: unknown action 'preemptt'"):
        SchedulerConfig(actions="enqueue, preemptt").validate()
    with pytest.raises(ConfigError, match="volcanoSchedulerNames"):
        SchedulerConfig(volcano_scheduler_names=["default-scheduler"]).validate()


def test_camel_case_fields_and_unknown_fields_refused() -> None:
    raw = {"percentageOfNodesToScore": 30, "bindConcurrency": 8,
           "leaderElection": {"leaderElect": False},
           "tiers": [{"plugins": [{"name": "binpack", "arguments": {"binpack.weight": 5}}]}]}
    config = msgspec.convert(raw, SchedulerConfig).validate()
    assert config.percentage_of_nodes_to_score == 30 and config.bind_concurrency == 8
    assert config.leader_election.resource_name == "kube-scheduler"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"percentOfNodes": 1}, SchedulerConfig)


@pytest.mark.parametrize(("fields", "named"), [
    ({"percentage_of_nodes_to_score": 101}, "percentageOfNodesToScore"),
    ({"pod_initial_backoff_seconds": 0}, "podInitialBackoffSeconds"),
    ({"pod_max_backoff_seconds": 0.5}, "podMaxBackoffSeconds"),
    ({"bind_concurrency": 0}, "bindConcurrency"),
    ({"scheduler_names": []}, "schedulerNames"),
    ({"schedule_period_seconds": 0}, "schedulePeriodSeconds"),
])
def test_bad_values_name_the_field(fields: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        SchedulerConfig(**fields).validate()


def test_unknown_plugins_are_refused() -> None:
    raw = {"tiers": [{"plugins": [{"name": "gangg"}]}]}
    with pytest.raises(ConfigError, match=r"tiers\[0\].plugins\[0\].name: unknown plugin"):
        msgspec.convert(raw, SchedulerConfig).validate()
