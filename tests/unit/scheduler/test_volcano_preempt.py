"""Preempt and reclaim without I/O (specs/volcano.md §2.3-2.4): victim selection, the
Statement's evict/pipeline and its undo, reservations that live one session, and the
gang, priority, proportion and conformance callbacks behind them."""

from __future__ import annotations

import random
from typing import Any

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate
from kubeedge.scheduler.actions.preempt import order_victims, preempt
from kubeedge.scheduler.actions.reclaim import reclaim
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.statement import Statement
from kubeedge.scheduler.plugins import build_tiers
from kubeedge.scheduler.plugins.conformance import evictable
from kubeedge.scheduler.plugins.gang import GangPlugin
from kubeedge.scheduler.plugins.priority import PriorityPlugin
from kubeedge.scheduler.plugins.proportion import ProportionPlugin
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]

PRIORITIES = {"low": 1, "high": 1000}
CI_ACTIONS = "enqueue, allocate, backfill, reclaim, preempt"


def podgroup(name: str, min_member: int, *, queue: str = "default",
             priority_class: str = "", created: str = "2026-01-01T00:00:00Z") -> Obj:
    spec: Obj = {"minMember": min_member, "queue": queue}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": created},
            "spec": spec, "status": {"phase": "Running"}}


def queue(name: str, *, weight: int = 1, reclaimable: bool = True) -> QueueInfo:
    return QueueInfo.from_queue({"metadata": {"name": name},
                                 "spec": {"weight": weight, "reclaimable": reclaimable},
                                 "status": {"state": "Open"}})


def running(name: str, node_name: str, cpu: str = "1", **spec: Any) -> Obj:
    return pod(name, cpu=cpu, node_name=node_name, phase="Running",
               schedulerName="volcano", **spec)


def pending(name: str, cpu: str = "1", **spec: Any) -> Obj:
    return pod(name, cpu=cpu, schedulerName="volcano", **spec)


class World:
    """Nodes and jobs in one SchedulerCache that outlives sessions, as the scheduler's
    does: bound pods are the cache's own TaskInfo objects (VolcanoPath._task)."""

    def __init__(self, nodes: list[Obj], config: SchedulerConfig | None = None) -> None:
        self.cache = SchedulerCache()
        for n in nodes:
            self.cache.set_node(n)
        self.config = config or SchedulerConfig()
        self.groups: list[tuple[Obj, list[Obj]]] = []
        self.queues: list[QueueInfo] = [queue("default")]

    def job(self, group: Obj, pods: list[Obj]) -> None:
        for p in pods:
            p["metadata"].setdefault("annotations", {})[
                "scheduling.k8s.io/group-name"] = group["metadata"]["name"]
            if p["spec"].get("nodeName"):
                self.cache.update_pod(p)
        self.groups.append((group, pods))

    def gone(self, pod_names: set[str]) -> None:
        """The node confirmed these pods' deletion."""
        for _, pods in self.groups:
            for p in [p for p in pods if p["metadata"]["name"] in pod_names]:
                self.cache.delete_pod(p)
                pods.remove(p)

    def session(self) -> tuple[JobSession, dict[str, JobInfo]]:
        jobs = {}
        for group, pods in self.groups:
            tasks = []
            for p in pods:
                key = f"default/{p['metadata']['name']}"
                tasks.append(self.cache.tasks.get(key) or TaskInfo.from_pod(p))
            jobs[group["metadata"]["name"]] = JobInfo.from_podgroup(group, tasks, PRIORITIES)
        ssn = JobSession(self.cache, build_tiers(self.config.tiers), list(jobs.values()),
                         self.queues, random.Random(0))
        return ssn, jobs


def full_of_low_priority(config: SchedulerConfig | None = None, low_min: int = 2) -> World:
    """Two 2-CPU nodes full of a priority-1 job (4 x 1 CPU); a priority-1000 gang of
    two 1-CPU pods waits."""
    world = World([node("n1", cpu="2"), node("n2", cpu="2")], config)
    world.job(podgroup("low", low_min, priority_class="low"),
              [running(f"low-{i}", f"n{i // 2 + 1}") for i in range(4)])
    world.job(podgroup("high", 2, priority_class="high", created="2026-01-01T00:01:00Z"),
              [pending(f"high-{i}") for i in range(2)])
    return world


def names(tasks: Any) -> set[str]:
    return {task.name for task in tasks}


def requested_cpu(ssn: JobSession) -> dict[str, int]:
    return {n.name: n.requested.milli_cpu for n in ssn.nodes}


# -- the preempt action ------------------------------------------------------------------


def test_high_priority_gang_evicts_exactly_what_it_needs() -> None:
    world = full_of_low_priority()
    ssn, jobs = world.session()
    allocate(ssn)
    assert ssn.committed == [], "nothing fits before preemption"
    preempt(ssn)
    victims = [e.task for e in ssn.evictions]
    assert len(victims) == 2 and names(victims) <= {f"low-{i}" for i in range(4)}
    assert {e.reason for e in ssn.evictions} == {"preempt"}
    assert all(task.status == TaskStatus.RELEASING for task in victims)
    assert jobs["low"].ready_count() == 2 == jobs["low"].min_available
    assert names(t for t, _ in ssn.pipelined) == {"high-0", "high-1"}
    # Each preemptor sits where its victim was, nominated there.
    victim_nodes = sorted(t.node_name for t in victims)
    assert sorted(n for _, n in ssn.pipelined) == victim_nodes
    assert sorted(n for _, n in ssn.nominated) == victim_nodes
    assert ssn.committed == [], "pipelined tasks are never bound"
    ssn.close()
    # The reservations end with the session; the victims are still releasing.
    assert all(t.status == TaskStatus.PENDING and not t.node_name
               for t in jobs["high"].tasks.values())
    assert requested_cpu(ssn) == {"n1": 2000, "n2": 2000}
    assert world.cache.evicting == {t.key for t in victims}


def test_waiting_preemptor_does_not_evict_again_then_binds() -> None:
    world = full_of_low_priority()
    ssn, _ = world.session()
    allocate(ssn)
    preempt(ssn)
    ssn.close()
    first = names(e.task for e in ssn.evictions)

    # Next session: the victims are still terminating.
    ssn, _ = world.session()
    allocate(ssn)
    preempt(ssn)
    assert ssn.evictions == [], "its victims are still releasing: no new ones"
    assert names(t for t, _ in ssn.pipelined) == {"high-0", "high-1"}
    ssn.close()

    # The node confirms: the victims are gone, allocate binds the preemptors.
    world.gone(first)
    ssn, _ = world.session()
    allocate(ssn)
    preempt(ssn)
    assert names(t for t, _ in ssn.committed) == {"high-0", "high-1"}
    assert ssn.evictions == []


def test_preempt_discards_when_the_gang_cannot_be_pipelined() -> None:
    # Three preemptors need three slots; only the low job's extra pods (4 - min 2)
    # may go under gang protection, so the job cannot be pipelined: nothing happens.
    config = SchedulerConfig(actions=CI_ACTIONS)
    config.tiers[0].plugins[1] = PluginOption(name="gang")  # enablePreemptable on
    world = World([node("n1", cpu="2"), node("n2", cpu="2")], config)
    world.job(podgroup("low", 2, priority_class="low"),
              [running(f"low-{i}", f"n{i // 2 + 1}") for i in range(4)])
    world.job(podgroup("high", 3, priority_class="high"), [pending(f"high-{i}")
                                                           for i in range(3)])
    ssn, jobs = world.session()
    preempt(ssn)
    assert ssn.evictions == [] and ssn.pipelined == []
    assert all(t.status == TaskStatus.RUNNING for t in jobs["low"].tasks.values())
    assert all(t.status == TaskStatus.PENDING for t in jobs["high"].tasks.values())
    assert requested_cpu(ssn) == {"n1": 2000, "n2": 2000}


def test_gang_switch_decides_whether_a_victim_gang_may_break() -> None:
    # Low job minMember 3 of 4: two victims would break it.
    protected = SchedulerConfig()
    protected.tiers[0].plugins[1] = PluginOption(name="gang")
    ssn, jobs = full_of_low_priority(protected, low_min=3).session()
    preempt(ssn)
    assert ssn.evictions == [], "gang keeps the victim job at its minMember"
    assert jobs["low"].ready_count() == 4
    # Volcano's Helm tiers switch gang's Preemptable off: priority and conformance
    # decide tier 1, and the lower-priority gang is broken.
    ssn, jobs = full_of_low_priority(SchedulerConfig(), low_min=3).session()
    preempt(ssn)
    assert len(ssn.evictions) == 2
    assert jobs["low"].ready_count() == 2


def test_equal_priority_and_preemption_policy_never_evict_nothing() -> None:
    world = World([node("n1", cpu="2")])
    world.job(podgroup("a", 1, priority_class="low"),
              [running(f"a-{i}", "n1") for i in range(2)])
    world.job(podgroup("b", 1, priority_class="low"), [pending("b-0")])
    world.job(podgroup("c", 1, priority_class="high"),
              [pending("c-0", preemptionPolicy="Never")])
    ssn, _ = world.session()
    preempt(ssn)
    assert ssn.evictions == [] and ssn.pipelined == []


def test_preempt_stays_within_the_queue() -> None:
    world = World([node("n1", cpu="2")])
    world.queues.append(queue("other"))
    world.job(podgroup("low", 1, priority_class="low", queue="other"),
              [running(f"low-{i}", "n1") for i in range(2)])
    world.job(podgroup("high", 1, priority_class="high"), [pending("high-0")])
    ssn, _ = world.session()
    preempt(ssn)
    assert ssn.evictions == []


def test_not_preemptable_pods_are_spared() -> None:
    world = World([node("n1", cpu="2")])
    world.job(podgroup("low", 1, priority_class="low"), [
        running("keep", "n1", labels={"volcano.sh/preemptable": "false"}),
        running("go", "n1")])
    world.job(podgroup("high", 1, priority_class="high"), [pending("high-0")])
    ssn, _ = world.session()
    preempt(ssn)
    assert names(e.task for e in ssn.evictions) == {"go"}


def test_intra_job_preemption_evicts_lower_task_priority() -> None:
    # Starving (one of minMember 2 ready); Helm's tiers leave gang's veto off.
    world = World([node("n1", cpu="1")])
    world.job(podgroup("mixed", 2), [
        running("worker", "n1", priority=1),
        pending("master", priority=100)])
    ssn, _ = world.session()
    preempt(ssn)
    assert names(e.task for e in ssn.evictions) == {"worker"}
    assert names(t for t, _ in ssn.pipelined) == {"master"}


def test_victims_go_lowest_priority_job_first() -> None:
    world = World([node("n1", cpu="3")])
    world.job(podgroup("mid", 1, priority_class="low"), [running("mid-0", "n1")])
    world.job(podgroup("floor", 1), [running("floor-0", "n1")])
    world.job(podgroup("top", 1, priority_class="high"), [running("top-0", "n1")])
    ssn, _ = world.session()
    ordered = order_victims(ssn, list(ssn.nodes[0].tasks.values()))
    assert [t.name for t in ordered] == ["floor-0", "mid-0", "top-0"]


# -- the reclaim action ------------------------------------------------------------------


def reclaim_world(reclaimable: bool) -> World:
    world = World([node("n1", cpu="2"), node("n2", cpu="2")])
    world.queues = [queue("lender", reclaimable=reclaimable), queue("borrower")]
    world.job(podgroup("wide", 1, queue="lender"),
              [running(f"wide-{i}", f"n{i // 2 + 1}") for i in range(4)])
    world.job(podgroup("late", 2, queue="borrower", created="2026-01-01T00:01:00Z"),
              [pending(f"late-{i}") for i in range(2)])
    return world


def test_reclaim_takes_back_the_fair_share_from_a_reclaimable_queue() -> None:
    world = reclaim_world(reclaimable=True)
    ssn, jobs = world.session()
    allocate(ssn)
    reclaim(ssn)
    assert len(ssn.evictions) == 2
    assert {e.reason for e in ssn.evictions} == {"reclaim"}
    assert names(e.task for e in ssn.evictions) <= {f"wide-{i}" for i in range(4)}
    assert names(t for t, _ in ssn.pipelined) == {"late-0", "late-1"}
    assert jobs["wide"].ready_count() == 2


def test_reclaim_spares_a_queue_that_is_not_reclaimable() -> None:
    ssn, _ = reclaim_world(reclaimable=False).session()
    allocate(ssn)
    reclaim(ssn)
    assert ssn.evictions == [] and ssn.pipelined == []


def test_reclaim_leaves_a_queue_within_its_share_alone() -> None:
    # The borrower already holds its deserved half: it may not take more.
    world = World([node("n1", cpu="2"), node("n2", cpu="2")])
    world.queues = [queue("lender"), queue("borrower")]
    world.job(podgroup("wide", 1, queue="lender"),
              [running(f"wide-{i}", "n1") for i in range(2)])
    world.job(podgroup("late", 1, queue="borrower"),
              [running(f"late-{i}", "n2") for i in range(2)] + [pending("late-2")])
    ssn, _ = world.session()
    reclaim(ssn)
    assert ssn.evictions == []


# -- Statement -------------------------------------------------------------------------


def test_discard_undoes_evict_pipeline_and_allocate_in_reverse() -> None:
    world = World([node("n1", cpu="2"), node("n2", cpu="2")])
    world.job(podgroup("low", 1, priority_class="low"),
              [running("low-0", "n1"), running("low-1", "n1")])
    world.job(podgroup("high", 2, priority_class="high"),
              [pending("high-0"), pending("high-1")])
    ssn, jobs = world.session()
    proportion = next(p for p in ssn.plugins if isinstance(p, ProportionPlugin))
    before = dict(proportion.attrs["default"].allocated)
    n1, n2 = ssn.nodes
    low0, _ = jobs["low"].tasks.values()
    high0, high1 = jobs["high"].tasks.values()
    stmt = Statement(ssn)
    stmt.allocate(high0, n2)
    stmt.evict(low0, "preempt", high1)
    stmt.pipeline(high1, n1, evicted=True)
    assert (high0.status, low0.status, high1.status) == (
        TaskStatus.ALLOCATED, TaskStatus.RELEASING, TaskStatus.PIPELINED)
    assert world.cache.future_idle(n1).milli_cpu == 0
    assert world.cache.releasing(n1).milli_cpu == 1000
    assert jobs["high"].is_pipelined() and not jobs["high"].is_starving()
    stmt.discard()
    assert (high0.status, low0.status, high1.status) == (
        TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.PENDING)
    assert requested_cpu(ssn) == {"n1": 2000, "n2": 0}
    assert world.cache.releasing(n1).milli_cpu == 0
    assert proportion.attrs["default"].allocated == before
    assert world.cache.evicting == set() and ssn.evictions == []


def test_commit_returns_binds_evictions_and_pipelines() -> None:
    world = World([node("n1", cpu="2"), node("n2", cpu="2")])
    world.job(podgroup("low", 1, priority_class="low"), [running("low-0", "n1")])
    world.job(podgroup("high", 2, priority_class="high"),
              [pending("high-0"), pending("high-1")])
    ssn, jobs = world.session()
    n1, n2 = ssn.nodes
    [low0] = jobs["low"].tasks.values()
    high0, high1 = jobs["high"].tasks.values()
    stmt = Statement(ssn)
    stmt.allocate(high0, n2)
    stmt.evict(low0, "preempt", high1)
    stmt.pipeline(high1, n1, evicted=True)
    done = stmt.commit()
    assert done.binds == [(high0, "n2")] and len(done) == 1
    assert [(e.task, e.reason, e.preemptor) for e in done.evictions] == [
        (low0, "preempt", high1)]
    assert done.pipelined == [(high1, "n1")] == done.nominated
    assert world.cache.evicting == {low0.key}


# -- the eviction as the watch sees it -----------------------------------------------------


def test_evicted_pod_stays_releasing_until_the_watch_shows_it_going() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    victim = running("v", "n1")
    cache.update_pod(victim)
    task = cache.tasks["default/v"]
    cache.evicted(task)
    # A status update that still shows no deletion does not make it Running again.
    cache.update_pod({**victim, "metadata": {**victim["metadata"], "resourceVersion": "9"}})
    assert cache.tasks["default/v"].status == TaskStatus.RELEASING
    deleting = {**victim, "metadata": {**victim["metadata"],
                                       "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    cache.update_pod(deleting)
    assert cache.evicting == set()
    assert cache.tasks["default/v"].status == TaskStatus.RELEASING


def test_refused_eviction_gives_the_pod_back() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    cache.update_pod(running("v", "n1"))
    task = cache.tasks["default/v"]
    cache.evicted(task)
    cache.eviction_failed(task)
    assert task.status == TaskStatus.RUNNING and cache.evicting == set()
    assert cache.releasing(cache.nodes["n1"]).milli_cpu == 0


# -- plugin callbacks --------------------------------------------------------------------


def test_gang_victims_keep_each_job_above_min_member() -> None:
    world = World([node("n1", cpu="8")])
    world.job(podgroup("a", 2), [running(f"a-{i}", "n1") for i in range(3)])
    world.job(podgroup("b", 1), [running(f"b-{i}", "n1") for i in range(2)])
    ssn, jobs = world.session()
    tasks = [*jobs["a"].tasks.values(), *jobs["b"].tasks.values()]
    assert names(GangPlugin.victims(ssn, tasks)) == {"a-0", "b-0"}
    assert GangPlugin.job_pipelined(jobs["a"]) == 1


def test_priority_victims_by_job_then_task_priority() -> None:
    world = World([node("n1", cpu="8")])
    world.job(podgroup("low", 1, priority_class="low"), [running("low-0", "n1")])
    world.job(podgroup("peer", 1, priority_class="high"), [running("peer-0", "n1")])
    world.job(podgroup("own", 1, priority_class="high"), [
        running("own-cheap", "n1", priority=1), running("own-dear", "n1", priority=500),
        pending("own-new", priority=100)])
    ssn, jobs = world.session()
    preemptor = jobs["own"].tasks["default/own-new"]
    everyone = [t for job in jobs.values() for t in job.tasks.values() if t is not preemptor]
    assert names(PriorityPlugin.preemptable(ssn, preemptor, everyone) or []) == {
        "low-0", "own-cheap"}
    assert PriorityPlugin.job_starving(jobs["own"])
    assert not PriorityPlugin.job_starving(jobs["low"])


def test_proportion_reclaimable_and_preemptive() -> None:
    ssn, jobs = reclaim_world(reclaimable=True).session()
    proportion = next(p for p in ssn.plugins if isinstance(p, ProportionPlugin))
    lender, borrower = ssn.queues["lender"], ssn.queues["borrower"]
    # Deserved 2 CPU each; the lender holds 4: two of its tasks may go, not more.
    victims = proportion.reclaimable(jobs["late"].tasks["default/late-0"],
                                     list(jobs["wide"].tasks.values()))
    assert len(victims) == 2
    assert ssn.preemptive(borrower, jobs["late"].tasks["default/late-0"])
    assert ssn.overused(lender) and not ssn.overused(borrower)


def test_conformance_never_evicts_critical_or_system_pods() -> None:
    tasks = [TaskInfo.from_pod(running("plain", "n1")),
             TaskInfo.from_pod(running("dns", "n1", namespace="kube-system")),
             TaskInfo.from_pod(running("crit", "n1",
                                       priorityClassName="system-node-critical")),
             TaskInfo.from_pod(running("crit2", "n1",
                                       priorityClassName="system-cluster-critical"))]
    assert names(evictable(tasks[0], tasks)) == {"plain"}


def test_disabled_preemptable_switch_skips_a_plugin() -> None:
    config = SchedulerConfig(tiers=[Tier(plugins=[
        PluginOption(name="priority", enable_preemptable=False),
        PluginOption(name="gang"), PluginOption(name="conformance")])])
    world = World([node("n1", cpu="2")], config)
    # Same priority: priority alone would refuse, but it is switched off.
    world.job(podgroup("a", 1), [running(f"a-{i}", "n1") for i in range(2)])
    world.job(podgroup("b", 1, created="2026-01-01T00:01:00Z"), [pending("b-0")])
    ssn, _ = world.session()
    preempt(ssn)
    assert len(ssn.evictions) == 1
