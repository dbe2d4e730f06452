"""The task-topology plugin without I/O (specs/volcano.md §4): reading the PodGroup's
annotations, dealing a job's pods into buckets, the task order and the node scores it
gives, and a whole session that puts one ps and two workers on each node."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.statement import Statement
from kubeedge.scheduler.plugins import build_tiers
from kubeedge.scheduler.plugins.task_topology import (
    AFFINITY_ANNOTATION,
    ANTI_AFFINITY_ANNOTATION,
    TASK_ORDER_ANNOTATION,
    TaskTopologyPlugin,
    read_topology,
)
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]

PS_WORKER = {AFFINITY_ANNOTATION: "ps,worker", ANTI_AFFINITY_ANNOTATION: "ps"}


def podgroup(name: str, min_member: int, annotations: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": annotations or {}},
            "spec": {"minMember": min_member, "queue": "default"},
            "status": {"phase": "Inqueue"}}


def member(name: str, role: str, *, cpu: str = "1", by_label: bool = False,
           node_name: str = "", phase: str = "Pending") -> TaskInfo:
    body = pod(name, cpu=cpu, node_name=node_name, phase=phase,
               labels={"volcano.sh/task-spec": role} if by_label else {})
    body["metadata"]["annotations"] = {"scheduling.k8s.io/group-name": "tf"}
    if not by_label:
        body["metadata"]["annotations"]["volcano.sh/task-spec"] = role
    return TaskInfo.from_pod(body)


def tf_job(annotations: dict[str, str] | None = None, *, ps: int = 2, workers: int = 4,
           cpu: str = "1") -> JobInfo:
    tasks = [member(f"ps{i}", "ps", cpu=cpu) for i in range(ps)]
    tasks += [member(f"w{i}", "worker", cpu=cpu) for i in range(workers)]
    return JobInfo.from_podgroup(podgroup("tf", ps + workers, annotations), tasks)


def queue() -> QueueInfo:
    return QueueInfo.from_queue({"metadata": {"name": "default"}, "spec": {"weight": 1},
                                 "status": {"state": "Open"}})


def topology_tiers(weight: float = 10, *, with_topology: bool = True) -> list[Tier]:
    """The configuration Volcano's task-topology user guide shows: task-topology (weight
    10) in the second tier, beside drf, predicates, proportion, nodeorder and binpack."""
    second = [PluginOption(name="drf"), PluginOption(name="predicates")]
    if with_topology:
        second.append(PluginOption(name="task-topology",
                                   arguments={"task-topology.weight": weight}))
    second += [PluginOption(name="proportion"), PluginOption(name="nodeorder"),
               PluginOption(name="binpack")]
    return [Tier(plugins=[PluginOption(name="priority"), PluginOption(name="gang"),
                          PluginOption(name="conformance")]),
            Tier(plugins=second)]


def session(job: JobInfo, nodes: list[Obj], tiers: list[Tier], seed: int = 0
            ) -> tuple[JobSession, TaskTopologyPlugin | None]:
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    for task in job.tasks.values():
        if task.node_name and task.status in (TaskStatus.BOUND, TaskStatus.RUNNING):
            cache.update_pod(task.pod)
    built = build_tiers(SchedulerConfig(tiers=tiers).tiers)
    plugin = next((p for tier in built for _, p in tier
                   if isinstance(p, TaskTopologyPlugin)), None)
    return JobSession(cache, built, [job], [queue()], random.Random(seed)), plugin


def buckets(plugin: TaskTopologyPlugin, job: JobInfo) -> list[set[str]]:
    topology = plugin.jobs[job.uid]
    return [{t.name for t in b.pending.values()} for b in topology.buckets]


# -- reading the annotations ----------------------------------------------------------

def test_topology_is_read_from_the_podgroup_annotations() -> None:
    job = tf_job({AFFINITY_ANNOTATION: "ps,worker", ANTI_AFFINITY_ANNOTATION: "ps",
                  TASK_ORDER_ANNOTATION: "worker,ps"})
    topology = read_topology(job)
    assert topology is not None
    assert topology.affinity == (("ps", "worker"),)
    assert topology.anti_affinity == (("ps",),)
    assert topology.task_order == ("worker", "ps")


@pytest.mark.parametrize("annotations", [
    {AFFINITY_ANNOTATION: "ps,chief"},            # no chief in the job
    {ANTI_AFFINITY_ANNOTATION: "ps,ps"},          # twice in one group
    {AFFINITY_ANNOTATION: "ps,worker", TASK_ORDER_ANNOTATION: "ps,evaluator"},
])
def test_a_topology_naming_roles_wrongly_is_ignored(annotations: dict[str, str]) -> None:
    job = tf_job(annotations)
    assert read_topology(job) is None
    ssn, plugin = session(job, [node("n1"), node("n2")], topology_tiers())
    assert plugin is not None and plugin.jobs == {}
    assert "task-topology" not in ssn.task_order_fns


def test_a_job_without_topology_annotations_has_none() -> None:
    assert read_topology(tf_job()) is None


def test_role_comes_from_the_label_when_the_annotation_is_absent() -> None:
    tasks = [member("ps0", "ps", by_label=True), member("w0", "worker", by_label=True)]
    job = JobInfo.from_podgroup(podgroup("tf", 2, PS_WORKER), tasks)
    assert read_topology(job) is not None


# -- buckets --------------------------------------------------------------------------

def test_design_example_buckets_one_ps_with_half_the_workers_each() -> None:
    """Volcano's design doc: ps0, ps1, w0..w3, affinity ps,worker and anti-affinity ps
    give buckets {ps0, w0, w2} and {ps1, w1, w3}."""
    job = tf_job(PS_WORKER)
    _, plugin = session(job, [node("n1"), node("n2")], topology_tiers())
    assert plugin is not None
    assert buckets(plugin, job) == [{"ps0", "w0", "w2"}, {"ps1", "w1", "w3"}]
    assert plugin.jobs[job.uid].max_bucket_size == 3


def test_without_anti_affinity_everything_shares_one_bucket() -> None:
    job = tf_job({AFFINITY_ANNOTATION: "ps,worker"})
    _, plugin = session(job, [node("n1"), node("n2")], topology_tiers())
    assert plugin is not None
    assert buckets(plugin, job) == [{"ps0", "ps1", "w0", "w1", "w2", "w3"}]


def test_self_anti_affinity_gives_each_pod_its_own_bucket() -> None:
    job = tf_job({ANTI_AFFINITY_ANNOTATION: "worker"}, ps=0, workers=3)
    _, plugin = session(job, [node("n1")], topology_tiers())
    assert plugin is not None
    assert buckets(plugin, job) == [{"w0"}, {"w1"}, {"w2"}]


def test_pods_already_on_a_node_form_that_nodes_bucket() -> None:
    tasks = [member("ps0", "ps", node_name="n1", phase="Running"), member("ps1", "ps"),
             member("w0", "worker"), member("w1", "worker")]
    job = JobInfo.from_podgroup(podgroup("tf", 4, PS_WORKER), tasks)
    _, plugin = session(job, [node("n1"), node("n2")], topology_tiers())
    assert plugin is not None
    topology = plugin.jobs[job.uid]
    first = topology.buckets[0]
    assert first.nodes == {"n1": 1} and first.placed == 1
    # ps1 cannot join ps0's bucket (anti-affinity); w0 joins the lighter of the two
    # equal-affinity buckets (the node's, nothing left to place in it), and w1 the
    # first of two now equally heavy: Volcano's ties.
    assert buckets(plugin, job) == [{"w0", "w1"}, {"ps1"}]


def test_a_job_with_nothing_pending_gets_no_buckets() -> None:
    tasks = [member("ps0", "ps", node_name="n1", phase="Running"),
             member("w0", "worker", node_name="n1", phase="Running")]
    job = JobInfo.from_podgroup(podgroup("tf", 2, PS_WORKER), tasks)
    _, plugin = session(job, [node("n1")], topology_tiers())
    assert plugin is not None and plugin.jobs == {}


# -- order and scores -----------------------------------------------------------------

def test_task_order_takes_a_bucket_at_a_time_ps_first() -> None:
    """The design doc's order: ps0, worker0, worker2, ps1, worker1, worker3."""
    job = tf_job(PS_WORKER)
    ssn, _ = session(job, [node("n1"), node("n2")], topology_tiers())
    order = [t.name for t in ssn.sorted_tasks(job.pending_tasks())]
    assert order == ["ps0", "w0", "w2", "ps1", "w1", "w3"]


def test_task_order_follows_the_task_order_annotation_within_a_bucket() -> None:
    job = tf_job({AFFINITY_ANNOTATION: "ps,worker", TASK_ORDER_ANNOTATION: "worker,ps"},
                 ps=1, workers=2)
    ssn, _ = session(job, [node("n1")], topology_tiers())
    order = [t.name for t in ssn.sorted_tasks(job.pending_tasks())]
    assert order == ["w0", "w1", "ps0"]


def test_bucketed_pods_go_before_pods_outside_every_bucket() -> None:
    tasks = [member("a-chief", "chief"), member("ps0", "ps"), member("w0", "worker")]
    job = JobInfo.from_podgroup(podgroup("tf", 3, PS_WORKER), tasks)
    ssn, _ = session(job, [node("n1")], topology_tiers())
    order = [t.name for t in ssn.sorted_tasks(job.pending_tasks())]
    assert order[-1] == "a-chief"


def test_node_score_pulls_a_bucket_together_and_pushes_anti_affinity_apart() -> None:
    job = tf_job(PS_WORKER)
    ssn, plugin = session(job, [node("n1"), node("n2")], topology_tiers(weight=1))
    assert plugin is not None
    n1, n2 = ssn.cache.nodes["n1"], ssn.cache.nodes["n2"]
    tasks = {t.name: t for t in job.tasks.values()}
    # Empty nodes: the whole bucket (3 pods) fits either: 3 * 100 / 3.
    assert plugin.node_order({}, tasks["ps0"], n1) == plugin.node_order({}, tasks["ps0"],
                                                                        n2) == 100
    stmt = Statement(ssn)
    stmt.allocate(tasks["ps0"], n1)
    # w0 shares ps0's bucket: n1 has one of it (1 + 2 left) against n2 (2 left).
    assert plugin.node_order({}, tasks["w0"], n1) == 100
    assert plugin.node_order({}, tasks["w0"], n2) == pytest.approx(200 / 3)
    stmt.allocate(tasks["w0"], n1)
    stmt.allocate(tasks["w2"], n1)
    # ps1 on n1: -1 for ps0 there, +3 for its bucket, -2 for the two workers that
    # would not fit beside it on the one CPU left; on n2 the bucket fits whole.
    assert plugin.jobs[job.uid].bucket_score(tasks["ps1"], n1) == 0
    assert plugin.node_order({}, tasks["ps1"], n2) == 100
    # Weighted: weight * 100 / the largest bucket.
    ssn10, plugin10 = session(tf_job(PS_WORKER), [node("n1")], topology_tiers(weight=10))
    assert plugin10 is not None
    some = next(iter(ssn10.jobs.values())).pending_tasks()[0]
    assert plugin10.node_order({}, some, ssn10.cache.nodes["n1"]) == 1000


def test_a_node_the_pod_does_not_fit_scores_nothing() -> None:
    job = tf_job(PS_WORKER, cpu="3")
    ssn, plugin = session(job, [node("n1", cpu="2")], topology_tiers(weight=1))
    assert plugin is not None
    assert plugin.node_order({}, job.pending_tasks()[0], ssn.cache.nodes["n1"]) == 0


def test_a_discarded_placement_leaves_the_buckets_as_they_were() -> None:
    job = tf_job(PS_WORKER)
    ssn, plugin = session(job, [node("n1"), node("n2")], topology_tiers(weight=1))
    assert plugin is not None
    tasks = {t.name: t for t in job.tasks.values()}
    n1 = ssn.cache.nodes["n1"]
    before = plugin.node_order({}, tasks["ps1"], n1)
    stmt = Statement(ssn)
    stmt.allocate(tasks["ps0"], n1)
    assert plugin.node_order({}, tasks["ps1"], n1) < before
    stmt.discard()
    assert plugin.node_order({}, tasks["ps1"], n1) == before
    assert buckets(plugin, job) == [{"ps0", "w0", "w2"}, {"ps1", "w1", "w3"}]


# -- a whole session ------------------------------------------------------------------

def _per_node(ssn: JobSession) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task, node_name in ssn.committed:
        out.setdefault(node_name, []).append(task.name)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_one_ps_and_two_workers_per_node(seed: int) -> None:
    """The user guide's configuration (task-topology weight 10 beside nodeorder and
    binpack): ps x2 and worker x4 of 1 CPU on two 4-CPU nodes land as the buckets."""
    job = tf_job(PS_WORKER)
    ssn, _ = session(job, [node("n1"), node("n2")], topology_tiers(), seed)
    enqueue(ssn)
    allocate(ssn)
    placed = _per_node(ssn)
    assert sorted(sorted(names) for names in placed.values()) == [
        ["ps0", "w0", "w2"], ["ps1", "w1", "w3"]]


@pytest.mark.parametrize("seed", range(12))
def test_default_weight_also_splits_the_roles(seed: int) -> None:
    """task-topology.weight 1 with the Helm tiers' scorers (nodeorder, binpack)."""
    job = tf_job(PS_WORKER)
    ssn, _ = session(job, [node("n1"), node("n2")], topology_tiers(weight=1), seed)
    enqueue(ssn)
    allocate(ssn)
    assert sorted(sorted(names) for names in _per_node(ssn).values()) == [
        ["ps0", "w0", "w2"], ["ps1", "w1", "w3"]]


def test_without_the_plugin_the_split_is_left_to_chance() -> None:
    """The control: the same job and scorers without task-topology do not always give
    each node one ps and two workers."""
    shapes = set()
    for seed in range(12):
        job = tf_job(PS_WORKER)
        ssn, _ = session(job, [node("n1"), node("n2")],
                         topology_tiers(with_topology=False), seed)
        enqueue(ssn)
        allocate(ssn)
        shapes.add(tuple(sorted((sum(n.startswith("ps") for n in names), len(names))
                                for names in _per_node(ssn).values())))
    assert shapes != {((1, 3), (1, 3))}
