"""The `capacity` plugin and drf's Preemptable without I/O (specs/volcano.md §2.4):
deserved and real capability from the Queue spec, borrowing up to the real capability,
queue order by share, enqueue against the capability with Volcano's event, Preemptive
and Reclaimable by deserved and guarantee; drf lets a poorer job preempt a richer one
and never the other way round."""

from __future__ import annotations

import random
from typing import Any

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.plugins import build_tiers
from kubeedge.scheduler.plugins.capacity import CapacityPlugin, quota_message
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


def podgroup(name: str, min_member: int = 1, *, queue: str = "default", phase: str = "",
             min_resources: dict[str, str] | None = None,
             created: str = "2026-01-01T00:00:00Z") -> Obj:
    spec: Obj = {"minMember": min_member, "queue": queue}
    if min_resources is not None:
        spec["minResources"] = min_resources
    return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": created},
            "spec": spec, "status": {"phase": phase} if phase else {}}


def queue(name: str, *, state: str = "Open", priority: int = 0, **spec: Any) -> QueueInfo:
    return QueueInfo.from_queue({"metadata": {"name": name},
                                 "spec": {"weight": 1, "priority": priority, **spec},
                                 "status": {"state": state}})


def tasks(group: str, n: int, *, gpus: int = 1, cpu: str = "", on: str = "",
          start: int = 0) -> list[TaskInfo]:
    extra = {GPU: str(gpus)} if gpus else {}
    return [TaskInfo.from_pod(pod(f"{group}-{i}", cpu=cpu, extra_requests=extra,
                                  node_name=on, phase="Running" if on else "Pending"))
            for i in range(start, start + n)]


def job(name: str, members: list[TaskInfo], **kwargs: Any) -> JobInfo:
    return JobInfo.from_podgroup(podgroup(name, **kwargs), members)


def session(nodes: list[Obj], jobs: list[JobInfo], queues: list[QueueInfo], *,
            tiers: list[Tier] | None = None, capacity: bool = True) -> JobSession:
    """Volcano's capacity configuration: the Helm tiers with proportion swapped for
    capacity (built by hand: the registry is not ours to change)."""
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    for j in jobs:
        for task in j.tasks.values():
            if task.node_name:
                cache.update_pod(task.pod)
    if tiers is None:
        tiers = SchedulerConfig().tiers
        tiers[1].plugins = [p for p in tiers[1].plugins if p.name != "proportion"]
    built = build_tiers(tiers)
    if capacity:
        built[-1].append((PluginOption(name="capacity"), CapacityPlugin()))
    return JobSession(cache, built, jobs, queues, random.Random(0))


def capacity_of(ssn: JobSession) -> CapacityPlugin:
    [plugin] = [p for p in ssn.plugins if isinstance(p, CapacityPlugin)]
    return plugin


def placed(ssn: JobSession) -> dict[str, int]:
    """Tasks committed this session, per queue."""
    out: dict[str, int] = {}
    for task, _ in ssn.committed:
        q = ssn.job_of_task[task.key].queue
        out[q] = out.get(q, 0) + 1
    return out


EIGHT_GPUS = [node("g1", extra={GPU: "4"}), node("g2", extra={GPU: "4"})]


# -- capacity ---------------------------------------------------------------------------


def test_deserved_is_cut_to_real_capability_and_raised_to_guarantee() -> None:
    queues = [queue("a", deserved={GPU: "2"}, guarantee={"resource": {GPU: "3"}}),
              queue("b", deserved={GPU: "20", "cpu": "100"}, capability={GPU: "6"})]
    jobs = [job("ja", tasks("ja", 1), queue="a"), job("jb", tasks("jb", 1), queue="b")]
    ssn = session(EIGHT_GPUS, jobs, queues)
    attrs = capacity_of(ssn).queues
    # realCapability = (total - all guarantees) + own guarantee, capped by capability.
    assert attrs["a"].real_capability[GPU] == 8
    assert attrs["b"].real_capability[GPU] == 5
    assert attrs["a"].deserved[GPU] == 3, "raised to the guarantee"
    assert attrs["b"].deserved[GPU] == 5, "cut to the real capability"
    assert attrs["b"].deserved["cpu"] == 8000, "cut to the cluster's 8 cpus"
    # cpu and memory unset in a capability do not cap.
    assert attrs["b"].real_capability["cpu"] == 8000


def test_queue_borrows_idle_gpus_up_to_its_capability() -> None:
    alone = job("j", tasks("j", 8), queue="a")
    ssn = session(EIGHT_GPUS, [alone], [queue("a", deserved={GPU: "2"})])
    enqueue(ssn)
    allocate(ssn)
    assert placed(ssn) == {"a": 8}, "deserved is lent while nobody else wants it"

    capped = job("j", tasks("j", 8), queue="a")
    ssn = session(EIGHT_GPUS, [capped],
                  [queue("a", deserved={GPU: "2"}, capability={GPU: "5"})])
    enqueue(ssn)
    allocate(ssn)
    assert placed(ssn) == {"a": 5}


def test_saturated_queues_split_by_deserved_through_queue_order() -> None:
    jobs = [job(f"s{i}", tasks(f"s{i}", 1), queue="small") for i in range(6)]
    jobs += [job(f"b{i}", tasks(f"b{i}", 1), queue="big") for i in range(10)]
    ssn = session(EIGHT_GPUS, jobs,
                  [queue("small", deserved={GPU: "2"}), queue("big", deserved={GPU: "6"})])
    enqueue(ssn)
    allocate(ssn)
    assert placed(ssn) == {"small": 2, "big": 6}


def test_best_effort_queue_goes_after_queues_under_their_share() -> None:
    jobs = [job("e0", tasks("e0", 1), queue="effort", created="2025-01-01T00:00:00Z"),
            job("d0", tasks("d0", 1), queue="deserving")]
    ssn = session(EIGHT_GPUS, jobs, [queue("effort"), queue("deserving",
                                                            deserved={GPU: "2"})])
    order = [q.name for q in ssn.sorted_queues(ssn.queues.values())]
    assert order == ["deserving", "effort"]
    assert capacity_of(ssn).queues["effort"].share == 1.0
    # Priority comes before share.
    ssn = session(EIGHT_GPUS, jobs, [queue("effort", priority=5),
                                     queue("deserving", deserved={GPU: "2"})])
    assert [q.name for q in ssn.sorted_queues(ssn.queues.values())] == ["effort", "deserving"]


def test_enqueue_refuses_beyond_capability_with_volcanos_message() -> None:
    big = job("big", tasks("big", 4), queue="a", min_resources={GPU: "4"})
    fits = job("fits", tasks("fits", 2), queue="a", min_resources={GPU: "2"},
               created="2026-01-01T00:00:01Z")
    ssn = session(EIGHT_GPUS, [big, fits], [queue("a", capability={GPU: "2"})])
    enqueue(ssn)
    assert big.phase.value == "Pending"
    assert fits.phase.value == "Inqueue"
    assert [(j.name, reason, message) for j, _, reason, message in ssn.events] == [
        ("big", "Unschedulable",
         "queue resource quota insufficient: insufficient nvidia.com/gpu")]


def test_enqueue_books_admitted_jobs_against_the_capability() -> None:
    first = job("first", tasks("first", 2), queue="a", min_resources={GPU: "2"})
    second = job("second", tasks("second", 2), queue="a", min_resources={GPU: "2"},
                 created="2026-01-01T00:00:01Z")
    ssn = session(EIGHT_GPUS, [first, second], [queue("a", capability={GPU: "3"})])
    enqueue(ssn)
    assert (first.phase.value, second.phase.value) == ("Inqueue", "Pending")


def test_closed_queue_refuses_enqueue_and_allocation() -> None:
    j = job("j", tasks("j", 1), queue="shut", min_resources={GPU: "1"})
    ssn = session(EIGHT_GPUS, [j], [queue("shut", state="Closed")])
    plugin = capacity_of(ssn)
    assert plugin.job_enqueueable(j) == -1
    [task] = j.tasks.values()
    assert not plugin.allocatable(ssn.queues["shut"], task)
    assert not plugin.preemptive(ssn.queues["shut"], task)


def test_quota_message_lists_resources_in_volcanos_order() -> None:
    assert quota_message([]) == "queue resource quota insufficient"
    assert quota_message(["cpu", GPU]) == (
        "queue resource quota insufficient: insufficient cpu, insufficient nvidia.com/gpu")


def test_preemptive_only_while_within_deserved() -> None:
    under = job("u", tasks("u", 1, on="g1") + tasks("u", 1, start=1), queue="a")
    at = job("t", tasks("t", 2, on="g2") + tasks("t", 1, start=2), queue="b")
    ssn = session(EIGHT_GPUS, [under, at], [queue("a", deserved={GPU: "2"}),
                                           queue("b", deserved={GPU: "2"})])
    plugin = capacity_of(ssn)
    assert plugin.preemptive(ssn.queues["a"], under.tasks["default/u-1"])
    assert not plugin.preemptive(ssn.queues["b"], at.tasks["default/t-2"])


def test_reclaim_takes_only_what_a_queue_holds_beyond_deserved() -> None:
    borrower = job("lend", tasks("lend", 4, on="g1") + tasks("lend", 2, on="g2", start=4),
                   queue="a")
    owner = job("own", tasks("own", 1), queue="b")
    ssn = session(EIGHT_GPUS, [borrower, owner], [queue("a", deserved={GPU: "2"}),
                                                  queue("b", deserved={GPU: "6"})])
    plugin = capacity_of(ssn)
    running = sorted(borrower.tasks.values(), key=lambda t: t.name)
    [reclaimer] = owner.tasks.values()
    victims = plugin.reclaimable(reclaimer, running)
    assert victims is not None and len(victims) == 4, "6 held, 2 deserved"
    # Through the session's dispatch, with capacity alone in its tier (in Volcano's
    # Helm tiers gang answers first, in tier 1, and its answer wins).
    alone = session(EIGHT_GPUS, [borrower, owner], [queue("a", deserved={GPU: "2"}),
                                                    queue("b", deserved={GPU: "6"})],
                    tiers=[Tier(plugins=[])])
    assert len(alone.reclaimable(reclaimer, running)) == 4


def test_reclaim_keeps_the_guarantee_and_skips_unrelated_resources() -> None:
    borrower = job("lend", tasks("lend", 4, on="g1") + tasks("lend", 2, on="g2", start=4),
                   queue="a")
    cpu_only = job("cpu", tasks("cpu", 2, gpus=0, cpu="1", on="g2"), queue="a")
    owner = job("own", tasks("own", 1), queue="b")
    queues = [queue("a", deserved={GPU: "2"}, guarantee={"resource": {GPU: "3"}}),
              queue("b", deserved={GPU: "5"})]
    ssn = session(EIGHT_GPUS, [borrower, cpu_only, owner], queues)
    [reclaimer] = owner.tasks.values()
    victims = capacity_of(ssn).reclaimable(
        reclaimer, list(cpu_only.tasks.values()) + list(borrower.tasks.values()))
    assert victims is not None
    assert {v.name for v in victims} <= {t.name for t in borrower.tasks.values()}, (
        "a cpu-only pod frees nothing a GPU pod needs")
    assert len(victims) == 3, "the queue keeps its guarantee of 3"


def test_capacity_allocation_follows_statement_discard() -> None:
    # A gang of 3 that cannot fit: its tentative placements are undone and the queue's
    # allocation with them.
    gang = job("g", tasks("g", 3, gpus=3), queue="a", min_member=3)
    ssn = session(EIGHT_GPUS, [gang], [queue("a", deserved={GPU: "4"})])
    enqueue(ssn)
    allocate(ssn)
    assert ssn.committed == []
    assert capacity_of(ssn).queues["a"].allocated.get(GPU, 0.0) == 0
    assert all(t.status == TaskStatus.PENDING for t in gang.tasks.values())


# -- drf Preemptable -----------------------------------------------------------------


def drf_session(jobs: list[JobInfo]) -> JobSession:
    tiers = [Tier(plugins=[PluginOption(name="drf")])]
    return session([node("c1", cpu="4")], jobs, [queue("default")], tiers=tiers,
                   capacity=False)


def test_drf_lets_a_poorer_job_preempt_down_to_equal_shares() -> None:
    rich = job("rich", tasks("rich", 3, gpus=0, cpu="1", on="c1"))
    poor = job("poor", tasks("poor", 1, gpus=0, cpu="1"))
    ssn = drf_session([rich, poor])
    [preemptor] = poor.tasks.values()
    running = sorted(rich.tasks.values(), key=lambda t: t.name)
    victims = ssn.preemptable(preemptor, running)
    # poor + 1 cpu = 1/4; rich - 1 = 2/4 (victim), - 2 = 1/4 (equal: victim),
    # - 3 = 0 (would leave rich poorer than poor: kept).
    assert [v.name for v in victims] == ["rich-0", "rich-1"]


def test_drf_never_lets_a_richer_job_preempt_a_poorer_one() -> None:
    rich = job("rich", tasks("rich", 2, gpus=0, cpu="1", on="c1")
               + tasks("rich", 1, gpus=0, cpu="1", start=2))
    poor = job("poor", tasks("poor", 1, gpus=0, cpu="1", on="c1"))
    ssn = drf_session([rich, poor])
    assert ssn.preemptable(rich.tasks["default/rich-2"], list(poor.tasks.values())) == []


def test_drf_preemptable_switch_off_leaves_the_decision_to_others() -> None:
    rich = job("rich", tasks("rich", 3, gpus=0, cpu="1", on="c1"))
    poor = job("poor", tasks("poor", 1, gpus=0, cpu="1"))
    tiers = [Tier(plugins=[PluginOption(name="drf", enable_preemptable=False)])]
    ssn = session([node("c1", cpu="4")], [rich, poor], [queue("default")], tiers=tiers,
                  capacity=False)
    [preemptor] = poor.tasks.values()
    assert ssn.preemptable(preemptor, list(rich.tasks.values())) == []
