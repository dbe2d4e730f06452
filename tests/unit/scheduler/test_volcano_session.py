"""The Volcano session without I/O: enqueue through overcommit and proportion, gangs
placed all or nothing by Statements, the gang condition's words, PodGroup phases, and
proportion's water-filling."""

from __future__ import annotations

import random
from typing import Any

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, PodGroupPhase, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.plugins import build_tiers
from kubeedge.scheduler.plugins.proportion import QueueAttr, water_fill
from kubeedge.scheduler.volcano import podgroup_status
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


def podgroup(name: str, min_member: int, *, queue: str = "default", phase: str = "",
             min_resources: dict[str, str] | None = None, created: str = "") -> Obj:
    spec: Obj = {"minMember": min_member, "queue": queue}
    if min_resources is not None:
        spec["minResources"] = min_resources
    return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": created or "2026-01-01T00:00:00Z"},
            "spec": spec, "status": {"phase": phase} if phase else {}}


def queue(name: str = "default", *, state: str = "Open", weight: int = 1,
          capability: dict[str, str] | None = None) -> QueueInfo:
    spec: Obj = {"weight": weight}
    if capability:
        spec["capability"] = capability
    return QueueInfo.from_queue({"metadata": {"name": name}, "spec": spec,
                                 "status": {"state": state}})


def gpu_pods(group: str, n: int) -> list[TaskInfo]:
    return [TaskInfo.from_pod(pod(f"{group}-{i}", extra_requests={GPU: "1"}))
            for i in range(n)]


def session(nodes: list[Obj], jobs: list[JobInfo], queues: list[QueueInfo] | None = None,
            config: SchedulerConfig | None = None) -> JobSession:
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    for job in jobs:
        for task in job.tasks.values():
            if task.node_name and task.status in (TaskStatus.BOUND, TaskStatus.RUNNING):
                cache.update_pod(task.pod)
    config = config or SchedulerConfig()
    return JobSession(cache, build_tiers(config.tiers), jobs, queues or [queue()],
                      random.Random(0))


def run(ssn: JobSession) -> None:
    enqueue(ssn)
    allocate(ssn)
    ssn.close()


GPU_NODES = [node("n1", extra={GPU: "2"}), node("n2", extra={GPU: "1"}),
             node("n3", extra={GPU: "1"})]


def test_two_gangs_for_four_gpus_one_gets_all_the_other_nothing() -> None:
    a = JobInfo.from_podgroup(podgroup("a", 4, created="2026-01-01T00:00:00Z"),
                              gpu_pods("a", 4))
    b = JobInfo.from_podgroup(podgroup("b", 4, created="2026-01-01T00:00:01Z"),
                              gpu_pods("b", 4))
    ssn = session(GPU_NODES, [a, b])
    run(ssn)
    placed = {task.name for task, _ in ssn.committed}
    assert placed == {f"a-{i}" for i in range(4)}, "the older gang wins, whole"
    assert all(t.status == TaskStatus.PENDING for t in b.tasks.values())
    assert b.condition == {
        "type": "Unschedulable", "status": "True", "reason": "NotEnoughResources",
        "message": "4/4 tasks in gang unschedulable: 0/3 nodes are available: "
                   "3 Insufficient nvidia.com/gpu"}
    assert a.condition is not None and a.condition["type"] == "Scheduled"
    # Nothing of the loser stays counted on a node.
    assert sum(n.requested.scalars.get(GPU, 0) for n in ssn.nodes) == 4
    assert podgroup_status(a, ssn.uid, "t")["phase"] == "Running"  # type: ignore[index]
    assert podgroup_status(b, ssn.uid, "t")["phase"] == "Inqueue"  # type: ignore[index]


def test_gang_that_half_fits_binds_nothing() -> None:
    job = JobInfo.from_podgroup(podgroup("g", 4), gpu_pods("g", 4))
    ssn = session([node("n1", extra={GPU: "2"})], [job])
    run(ssn)
    assert ssn.committed == []
    assert ssn.nodes[0].requested.scalars.get(GPU, 0) == 0
    assert job.condition is not None
    assert job.condition["message"].startswith("4/4 tasks in gang unschedulable: 0/1 nodes")


def test_min_member_three_of_four_binds_three() -> None:
    job = JobInfo.from_podgroup(podgroup("g", 3), gpu_pods("g", 4))
    ssn = session([node("n1", extra={GPU: "2"}), node("n2", extra={GPU: "1"})], [job])
    run(ssn)
    assert len(ssn.committed) == 3
    assert job.condition is not None and job.condition["type"] == "Scheduled"
    assert podgroup_status(job, ssn.uid, "t")["phase"] == "Running"  # type: ignore[index]


def test_finished_gang_frees_its_gpus_for_the_next() -> None:
    done = [TaskInfo.from_pod(pod(f"a-{i}", extra_requests={GPU: "1"}, node_name="n1",
                                  phase="Succeeded")) for i in range(4)]
    a = JobInfo.from_podgroup(podgroup("a", 4, phase="Running"), done)
    b = JobInfo.from_podgroup(podgroup("b", 4, phase="Inqueue"), gpu_pods("b", 4))
    ssn = session(GPU_NODES, [a, b])
    run(ssn)
    assert {task.name for task, _ in ssn.committed} == {f"b-{i}" for i in range(4)}
    assert podgroup_status(a, ssn.uid, "t")["phase"] == "Completed"  # type: ignore[index]


def overcommit_config(factor: float | None) -> SchedulerConfig:
    config = SchedulerConfig()
    if factor is not None:
        config.tiers[1].plugins[0] = PluginOption(
            name="overcommit", arguments={"overcommit-factor": factor})
    return config


def test_overcommit_admits_two_of_three_five_cpu_groups() -> None:
    for factor in (None, 1.0):
        jobs = [JobInfo.from_podgroup(podgroup(f"pg{i}", 1, min_resources={"cpu": "5"},
                                               created=f"2026-01-01T00:00:0{i}Z"), [])
                for i in range(3)]
        ssn = session([node("n1", cpu="10")], jobs, config=overcommit_config(factor))
        enqueue(ssn)
        assert [j.phase for j in jobs] == [PodGroupPhase.INQUEUE, PodGroupPhase.INQUEUE,
                                           PodGroupPhase.PENDING], factor
        assert any(e[3] == "resource in cluster is overused" for e in ssn.events)


def test_overcommit_factor_lets_more_in() -> None:
    jobs = [JobInfo.from_podgroup(podgroup(f"pg{i}", 1, min_resources={"cpu": "4"},
                                           created=f"2026-01-01T00:00:0{i}Z"), [])
            for i in range(3)]
    ssn = session([node("n1", cpu="10")], jobs, config=overcommit_config(1.2))
    enqueue(ssn)
    assert all(j.phase == PodGroupPhase.INQUEUE for j in jobs)  # 12 <= 12


def test_queue_capability_and_state_refuse_enqueue() -> None:
    capped = JobInfo.from_podgroup(podgroup("big", 4, queue="small",
                                            min_resources={GPU: "4"}), [])
    closed = JobInfo.from_podgroup(podgroup("late", 1, queue="shut"), [])
    ssn = session(GPU_NODES, [capped, closed],
                  [queue("small", capability={GPU: "2"}), queue("shut", state="Closed")])
    enqueue(ssn)
    assert capped.phase == PodGroupPhase.PENDING
    assert (capped, "Normal", "Unschedulable",
            "queue resource quota insufficient: insufficient nvidia.com/gpu") in ssn.events
    # No minResources needs no vote, but a closed queue admits nothing.
    assert closed.min_resources is None and closed.phase == PodGroupPhase.PENDING


def test_closed_queue_rejects_a_job_with_min_resources() -> None:
    job = JobInfo.from_podgroup(podgroup("late", 1, queue="shut", min_resources={"cpu": "1"}),
                                [])
    ssn = session([node("n1")], [job], [queue("shut", state="Closed")])
    enqueue(ssn)
    assert job.phase == PodGroupPhase.PENDING


def test_pending_group_without_pods_explains_itself() -> None:
    job = JobInfo.from_podgroup(podgroup("empty", 1), [])
    ssn = session([node("n1")], [job])
    run(ssn)
    assert job.condition is not None
    assert job.condition["message"] == (
        "1/0 tasks in gang unschedulable: pod group is not ready, 1 minAvailable")


def test_priority_class_orders_jobs() -> None:
    low = JobInfo.from_podgroup(podgroup("low", 4, created="2026-01-01T00:00:00Z"),
                                gpu_pods("low", 4))
    high = JobInfo.from_podgroup(podgroup("high", 4, created="2026-01-01T00:00:05Z"),
                                 gpu_pods("high", 4))
    high.priority = 1000
    ssn = session(GPU_NODES, [low, high])
    run(ssn)
    assert {task.name for task, _ in ssn.committed} == {f"high-{i}" for i in range(4)}


def test_status_is_written_only_when_it_changes() -> None:
    job = JobInfo.from_podgroup(podgroup("g", 4), gpu_pods("g", 4))
    ssn = session([node("n1", extra={GPU: "2"})], [job])
    run(ssn)
    status = podgroup_status(job, ssn.uid, "2026-01-01T00:00:00Z")
    assert status is not None and status["phase"] == "Inqueue"
    [condition] = status["conditions"]
    assert condition["transitionID"] == ssn.uid
    again = JobInfo.from_podgroup({**job.podgroup, "status": status}, gpu_pods("g", 4))
    ssn2 = session([node("n1", extra={GPU: "2"})], [again])
    run(ssn2)
    assert podgroup_status(again, ssn2.uid, "2026-01-01T00:00:09Z") is None


def test_water_filling_splits_by_weight() -> None:
    total = {GPU: 8.0}
    light = QueueAttr("light", 1, request={GPU: 8.0}, real_capability=dict(total))
    heavy = QueueAttr("heavy", 3, request={GPU: 8.0}, real_capability=dict(total))
    water_fill(total, [light, heavy])
    assert (light.deserved[GPU], heavy.deserved[GPU]) == (2.0, 6.0)
    small = QueueAttr("light", 1, request={GPU: 1.0}, real_capability=dict(total))
    big = QueueAttr("heavy", 3, request={GPU: 8.0}, real_capability=dict(total))
    water_fill(total, [small, big])
    assert (small.deserved[GPU], big.deserved[GPU]) == (1.0, 7.0)
    guaranteed = QueueAttr("light", 1, request={GPU: 8.0}, guarantee={GPU: 4.0},
                           real_capability=dict(total))
    rest = QueueAttr("heavy", 3, request={GPU: 8.0}, real_capability={GPU: 4.0})
    water_fill(total, [guaranteed, rest])
    assert guaranteed.deserved[GPU] >= 4.0


def test_disabled_job_ready_switch_is_honoured() -> None:
    config = SchedulerConfig(tiers=[
        Tier(plugins=[PluginOption(name="gang", enable_job_ready=False)]),
        Tier(plugins=[PluginOption(name="predicates"), PluginOption(name="nodeorder")])])
    job = JobInfo.from_podgroup(podgroup("g", 4), gpu_pods("g", 4))
    ssn = session([node("n1", extra={GPU: "2"})], [job], config=config)
    run(ssn)
    # Without gang's JobReady every placement commits (a gang of one per task).
    assert len(ssn.committed) == 2


def test_best_effort_members_are_backfilled() -> None:
    from kubeedge.scheduler.actions.backfill import backfill

    tasks = [TaskInfo.from_pod(pod("be-0")), TaskInfo.from_pod(pod("be-1")),
             TaskInfo.from_pod(pod("cpu-0", cpu="1"))]
    job = JobInfo.from_podgroup(podgroup("mixed", 3), tasks)
    ssn = session([node("n1")], [job])
    enqueue(ssn)
    allocate(ssn)
    assert [task.name for task, _ in ssn.committed] == ["cpu-0"]
    backfill(ssn)
    ssn.close()
    assert sorted(task.name for task, _ in ssn.committed) == ["be-0", "be-1", "cpu-0"]
    assert job.condition is not None and job.condition["type"] == "Scheduled"


def test_enqueue_votes_reject_beats_permit_and_abstain_admits() -> None:
    jobs = [JobInfo.from_podgroup(podgroup("free", 1), []),
            JobInfo.from_podgroup(podgroup("huge", 1, min_resources={"cpu": "100"}), [])]
    ssn = session([node("n1", cpu="4")], jobs)
    enqueue(ssn)
    assert [j.phase for j in jobs] == [PodGroupPhase.INQUEUE, PodGroupPhase.PENDING]
