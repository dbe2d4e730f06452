"""What the Volcano session's shortcuts must never change (specs/volcano.md §2.1-2.3):
allocate's predicate error cache (tasks of one shape that fit nowhere share one search,
and the verdict is forgotten as soon as a Statement moves anything), the job status
counts kept between comparisons (current after every Statement operation and after
close), and backfill choosing its candidates before sorting. Behaviour only: what is
placed and what the pods and PodGroups are told."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.config.scheduler import ActionConfiguration, SchedulerConfig
from kubeedge.scheduler.actions import allocate as allocate_module
from kubeedge.scheduler.actions.allocate import allocate, fit_shape
from kubeedge.scheduler.actions.backfill import backfill
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, PodGroupPhase
from kubeedge.scheduler.framework.session import FitErrors
from kubeedge.scheduler.framework.statement import Statement
from kubeedge.scheduler.volcano import _action_flag
from tests.unit.scheduler.builders import node, pod
from tests.unit.scheduler.test_volcano_session import podgroup, session

Obj = dict[str, Any]


def _tasks(group: str, n: int, cpu: str, **kwargs: Any) -> list[TaskInfo]:
    return [TaskInfo.from_pod(pod(f"{group}-{i}", cpu=cpu, **kwargs)) for i in range(n)]


def _job(name: str, min_member: int, tasks: list[TaskInfo], second: int = 0) -> JobInfo:
    return JobInfo.from_podgroup(
        podgroup(name, min_member, created=f"2026-01-01T00:00:{second:02d}Z"), tasks)


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Task keys allocate_task was asked to place, in order."""
    searched: list[str] = []
    real = allocate_module.allocate_task

    def counting(ssn: Any, task: TaskInfo, percentage: int = 0) -> Any:
        searched.append(task.key)
        return real(ssn, task, percentage)

    monkeypatch.setattr(allocate_module, "allocate_task", counting)
    return searched


def test_gangs_of_one_shape_that_fit_nowhere_share_one_search_and_its_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    searched = _count_searches(monkeypatch)
    # 5 CPUs: more than a node has, less than the queue deserves (so allocate tries).
    jobs = [_job(f"g{j}", 2, _tasks(f"g{j}", 2, "5"), second=j) for j in range(3)]
    ssn = session([node("n1"), node("n2")], jobs)
    enqueue(ssn)
    allocate(ssn)
    ssn.close()
    # One search for the first gang's first task; the others of that shape reuse it.
    assert searched == ["default/g0-0"]
    errors = [job.fit_errors["default/" + job.name + "-0"] for job in jobs]
    assert all(e is errors[0] for e in errors)
    assert errors[0].message() == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
        "available: 2 No preemption victims found for incoming pod.")
    for job in jobs:
        assert job.condition is not None
        assert job.condition["message"] == (
            "2/2 tasks in gang unschedulable: 0/2 nodes are available: 2 Insufficient cpu")


def test_without_the_cache_every_task_is_searched_and_told_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def run(cache: bool) -> tuple[list[str], list[str]]:
        searched = _count_searches(monkeypatch)
        jobs = [_job(f"g{j}", 1, _tasks(f"g{j}", 3, "5"), second=j) for j in range(2)]
        ssn = session([node("n1"), node("n2"), node("n3")], jobs)
        enqueue(ssn)
        allocate(ssn, predicate_error_cache=cache)
        ssn.close()
        words = [f"{key}: {e.message()}" for job in jobs
                 for key, e in sorted(job.fit_errors.items())]
        return list(searched), words

    cached_searches, cached_words = run(True)
    plain_searches, plain_words = run(False)
    # minMember 1 of 3: every task is tried (NeedContinueAllocating), each told why.
    assert len(plain_searches) == 6 and len(cached_searches) == 1
    assert cached_words == plain_words and len(plain_words) == 6


def test_a_discarded_gang_gives_its_node_back_to_the_next_task_of_that_shape() -> None:
    # g's first task takes 3 of n1's 4 CPUs, its second fits nowhere (n2 has 2), so
    # the gang is discarded; h's task has the second one's shape but must see n1 free
    # again.
    g = _job("g", 2, _tasks("g", 2, "3"), second=0)
    h = _job("h", 1, _tasks("h", 1, "3"), second=1)
    ssn = session([node("n1", cpu="4"), node("n2", cpu="2")], [g, h])
    enqueue(ssn)
    allocate(ssn)
    assert fit_shape(ssn, g.tasks["default/g-1"]) == fit_shape(ssn, h.tasks["default/h-0"])
    assert [(task.key, name) for task, name in ssn.committed] == [("default/h-0", "n1")]
    assert "default/g-1" in g.fit_errors and not h.fit_errors


def test_labels_join_the_shape_only_when_inter_pod_rules_are_in_play() -> None:
    a = TaskInfo.from_pod(pod("a", cpu="1", labels={"index": "0"}))
    b = TaskInfo.from_pod(pod("b", cpu="1", labels={"index": "1"}))
    ssn = session([node("n1")], [_job("g", 1, [a, b])])
    assert fit_shape(ssn, a) == fit_shape(ssn, b)
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"index": "0"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    c = TaskInfo.from_pod(pod("c", cpu="1", labels={"index": "0"}, affinity=anti))
    d = TaskInfo.from_pod(pod("d", cpu="1", labels={"index": "1"}, affinity=anti))
    assert fit_shape(ssn, c) != fit_shape(ssn, d)
    e = TaskInfo.from_pod(pod("e", cpu="2", labels={"index": "0"}))
    assert fit_shape(ssn, a) != fit_shape(ssn, e)


def test_a_placed_pods_anti_affinity_keeps_differently_labelled_tasks_apart() -> None:
    # A running pod on n1 refuses pods labelled app=web beside it. Two tasks of one
    # template but different labels: the web one fits nowhere, the other must still
    # be tried and placed.
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    running = TaskInfo.from_pod(pod("guard", cpu="1", node_name="n1", phase="Running",
                                    affinity=anti))
    web = _job("web", 1, [TaskInfo.from_pod(pod("web-0", cpu="1", labels={"app": "web"}))],
               second=0)
    db = _job("db", 1, [TaskInfo.from_pod(pod("db-0", cpu="1", labels={"app": "db"}))],
              second=1)
    guard = _job("guard", 1, [running], second=2)
    ssn = session([node("n1")], [web, db, guard])
    enqueue(ssn)
    allocate(ssn)
    assert [(task.key, name) for task, name in ssn.committed] == [("default/db-0", "n1")]
    assert web.fit_errors["default/web-0"].message().startswith(
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity")


def test_job_counts_follow_every_statement_operation_and_close() -> None:
    tasks = _tasks("g", 3, "1")
    job = _job("g", 2, tasks)
    ssn = session([node("n1", cpu="4"), node("n2", cpu="4")], [job])
    n1 = ssn.cache.nodes["n1"]
    assert (job.ready_count(), job.is_ready(), job.valid_count()) == (0, False, 3)
    stmt = Statement(ssn)
    stmt.allocate(tasks[0], n1)
    stmt.allocate(tasks[1], n1)
    assert (job.ready_count(), job.is_ready()) == (2, True)
    stmt.discard()
    assert (job.ready_count(), job.is_ready()) == (0, False)
    stmt = Statement(ssn)
    stmt.pipeline(tasks[2], n1)
    assert (job.waiting_count(), job.is_starving(), job.is_pipelined()) == (1, True, False)
    stmt.commit()
    ssn.pipelined.append((tasks[2], "n1"))
    stmt = Statement(ssn)
    stmt.allocate(tasks[0], n1)
    stmt.commit()
    stmt = Statement(ssn)
    stmt.evict(tasks[0], "preempt")
    assert job.count(frozenset({TaskStatus.RELEASING})) == 1 and job.ready_count() == 0
    stmt.discard()
    assert job.ready_count() == 1 and job.is_pipelined()
    ssn.close()
    # close gave the reservation back: the task is pending again, and counts say so.
    assert tasks[2].status == TaskStatus.PENDING
    assert (job.waiting_count(), job.count(frozenset({TaskStatus.PENDING}))) == (0, 2)
    # Past close the counts are read afresh (binds and the watch move statuses).
    tasks[0].status = TaskStatus.RUNNING
    assert job.count(frozenset({TaskStatus.RUNNING})) == 1
    assert job.next_phase(False) == PodGroupPhase.PENDING


def test_backfill_places_best_effort_tasks_of_admitted_jobs_only() -> None:
    best_effort = _job("be", 1, [TaskInfo.from_pod(pod("be-0"))], second=1)
    resourced = _job("busy", 1, _tasks("busy", 1, "1"), second=0)
    waiting = JobInfo.from_podgroup(
        podgroup("wait", 1, phase="Pending", min_resources={"cpu": "100"}),
        [TaskInfo.from_pod(pod("wait-0"))])
    ssn = session([node("n1")], [best_effort, resourced, waiting])
    enqueue(ssn)
    backfill(ssn)
    assert [task.key for task, _ in ssn.committed] == ["default/be-0"]
    assert waiting.phase == PodGroupPhase.PENDING and not resourced.fit_errors


def test_the_cache_switch_reads_volcanos_configurations_entry() -> None:
    def config(value: object) -> SchedulerConfig:
        return SchedulerConfig(configurations=[ActionConfiguration(
            name="allocate", arguments={"enablePredicateErrorCache": value})])

    name = "enablePredicateErrorCache"
    assert _action_flag(SchedulerConfig(), "allocate", name, True) is True
    assert _action_flag(config(False), "allocate", name, True) is False
    assert _action_flag(config("false"), "allocate", name, True) is False
    # Not a boolean: the default stands (Volcano's GetBool).
    assert _action_flag(config("nope"), "allocate", name, True) is True
    assert _action_flag(config(False), "backfill", name, True) is True


def test_fit_errors_of_a_cached_task_are_never_empty() -> None:
    jobs = [_job(f"g{j}", 1, _tasks(f"g{j}", 1, "64"), second=j) for j in range(2)]
    ssn = session([node("n1")], jobs)
    enqueue(ssn)
    allocate(ssn)
    for job in jobs:
        errors = job.fit_errors["default/" + job.name + "-0"]
        assert isinstance(errors, FitErrors) and errors.statuses
