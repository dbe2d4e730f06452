"""The session's memo of feasibility and scores per task shape and node generation
(framework/session.py): random pods over random clusters that change under them choose
the same nodes, with the same scores, fit errors and random tie-breaks, as sessions
that memoize nothing; every path that changes a node gives it a new generation; a
node is scored again only once it changed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate_task, resource_fit
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.framework.session import (
    MEMO_SHAPES,
    FitErrors,
    NodeOrderFn,
    PredicateFn,
    Session,
    ShapeFn,
)
from kubeedge.scheduler.plugins import build_plugins
from kubeedge.scheduler.plugins.nodeorder import NodeOrderPlugin
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"
GPU_MEM = "volcano.sh/gpu-memory"
GPU_NUM = "volcano.sh/gpu-number"
ZONES = ("a", "b", "c")


class Unmemoized(Session):
    """The plugins' callbacks registered without their shapes: nothing is memoized,
    every answer is computed afresh (the session as it was before the memo)."""

    def add_predicate_fn(self, name: str, fn: PredicateFn,
                         shape: ShapeFn | None = None) -> None:
        super().add_predicate_fn(name, fn)

    def add_node_order_fn(self, name: str, fn: NodeOrderFn,
                          shape: ShapeFn | None = None) -> None:
        super().add_node_order_fn(name, fn)


def _config(rnd: random.Random) -> SchedulerConfig:
    nodeorder: dict[str, Any] = {"mostrequested.weight": rnd.choice([0, 0, 2]),
                                 "leastrequested.weight": rnd.choice([1, 1, 3])}
    binpack: dict[str, Any] = {"binpack.weight": rnd.choice([0, 1, 5]),
                               "binpack.resources": GPU,
                               f"binpack.resources.{GPU}": 2, "binpack.cpu": 3}
    plugins = [PluginOption(name="predicates"),
               PluginOption(name="nodeorder", arguments=nodeorder),
               PluginOption(name="binpack", arguments=binpack)]
    if rnd.random() < 0.5:
        plugins.append(PluginOption(name="deviceshare", arguments={
            "deviceshare.GPUSharingEnable": True, "deviceshare.ScheduleWeight": 2,
            "deviceshare.SchedulePolicy": rnd.choice(["binpack", "spread"])}))
    return SchedulerConfig(tiers=[Tier(plugins=plugins)])


def _node(rnd: random.Random, name: str) -> Obj:
    extra: dict[str, str] = {}
    if rnd.random() < 0.3:
        extra[GPU] = str(rnd.randint(1, 4))
    if rnd.random() < 0.2:
        extra.update({GPU_MEM: "16000", GPU_NUM: "2"})
    taints: list[Obj] = []
    if rnd.random() < 0.15:
        taints.append({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})
    if rnd.random() < 0.2:
        taints.append({"key": "spot", "value": "", "effect": "PreferNoSchedule"})
    return node(name, cpu=rnd.choice(["2", "4", "8", "3500m"]),
                memory=rnd.choice(["4Gi", "8Gi", "16Gi", "0"]),
                pods=rnd.choice(["3", "10", "110"]),
                labels={"zone": rnd.choice(ZONES)} if rnd.random() < 0.8 else {},
                taints=taints, ready=rnd.choice(["True"] * 8 + ["False", None]),
                unschedulable=rnd.random() < 0.05, extra=extra)


def _pod(rnd: random.Random, name: str) -> Obj:
    spec: dict[str, Any] = {}
    if rnd.random() < 0.2:
        spec["tolerations"] = [rnd.choice([
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"},
            {"operator": "Exists"}])]
    if rnd.random() < 0.15:
        spec["nodeSelector"] = {"zone": rnd.choice(ZONES)}
    affinity: Obj = {}
    if rnd.random() < 0.2:
        affinity["nodeAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": rnd.randint(1, 50), "preference": {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": [rnd.choice(ZONES)]}]}}]}
    if rnd.random() < 0.1:
        affinity.setdefault("nodeAffinity", {})[
            "requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "NotIn",
                                       "values": [rnd.choice(ZONES)]}]}]}
    if rnd.random() < 0.04:
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}
    if affinity:
        spec["affinity"] = affinity
    extra: dict[str, str] = {}
    if rnd.random() < 0.15:
        extra[GPU] = "1"
    if rnd.random() < 0.1:
        extra[GPU_MEM] = rnd.choice(["4000", "9000"])
    # Few distinct shapes, as replicas of a handful of templates.
    # "0" asks for nothing yet scores as asked (no non-zero default), unlike "".
    cpu = rnd.choice(["", "0", "100m", "100m", "500m", "1", "1500m"])
    memory = rnd.choice(["", "0", "128Mi", "128Mi", "1Gi", "3Gi"])
    return pod(name, cpu=cpu, memory=memory, labels={"app": rnd.choice(["web", "db"])},
               extra_requests=extra, host_port=rnd.choice([0] * 9 + [8080]), **spec)


class Twin:
    """One cache and session with the memo, one without, fed the same changes."""

    def __init__(self, config: SchedulerConfig, seed: int) -> None:
        self.caches = (SchedulerCache(), SchedulerCache())
        self.sessions = (
            Session(self.caches[0], build_plugins(config.tiers), random.Random(seed)),
            Unmemoized(self.caches[1], build_plugins(config.tiers), random.Random(seed)))
        self.placed: dict[str, tuple[TaskInfo, TaskInfo]] = {}

    def set_node(self, body: Obj) -> None:
        for cache in self.caches:
            cache.set_node(body)

    def remove_node(self, name: str) -> None:
        for cache in self.caches:
            cache.remove_node(name)

    def schedule(self, body: Obj, percentage: int) -> None:
        tasks = (TaskInfo.from_pod(body), TaskInfo.from_pod(body))
        results = [allocate_task(ssn, task, percentage)
                   for ssn, task in zip(self.sessions, tasks, strict=True)]
        memo, plain = results
        if isinstance(memo, FitErrors):
            assert isinstance(plain, FitErrors)
            assert memo.statuses == plain.statuses
            assert memo.message() == plain.message()
            return
        assert isinstance(plain, NodeInfo)
        assert memo.name == plain.name
        assert self.sessions[0].next_start_index == self.sessions[1].next_start_index
        for cache, task in zip(self.caches, tasks, strict=True):
            cache.assume(task, memo.name)
        self.placed[tasks[0].key] = tasks

    def compare_scores(self, body: Obj) -> None:
        """Scores of every node that passes the predicates, memo against none."""
        answers = []
        for ssn in self.sessions:
            task = TaskInfo.from_pod(body)
            state: dict[str, Any] = {}
            if ssn.pre_predicate(state, task) is not None:
                return
            fits = ssn.fit_check(state, task, resource_fit)
            nodes = [n for n in ssn.nodes if fits(n) is None]
            answers.append(([n.name for n in nodes], ssn.scores(state, task, nodes)))
        assert answers[0] == answers[1]

    def forget(self, key: str) -> None:
        for cache, task in zip(self.caches, self.placed.pop(key), strict=True):
            cache.forget(task)

    def bound(self, key: str, phase: str) -> None:
        """The watch shows the pod bound (then Running, or finished)."""
        task = self.placed[key][0]
        body = {**task.pod, "spec": {**task.pod["spec"], "nodeName": task.node_name},
                "status": {"phase": phase}}
        for cache in self.caches:
            cache.update_pod(body)

    def deleted(self, key: str) -> None:
        body = self.placed.pop(key)[0].pod
        for cache in self.caches:
            cache.delete_pod(body)

    def pipeline_and_back(self, key: str) -> None:
        """A preemptor's reservation on a node, taken back when the session ends."""
        for cache, task in zip(self.caches, self.placed.pop(key), strict=True):
            node_name = task.node_name
            cache.forget(task)
            cache.pipeline(task, node_name)
        self.compare_scores(self.caches[0].tasks[key].pod)
        for cache in self.caches:
            cache.unpipeline(cache.tasks[key])


@pytest.mark.parametrize("seed", range(12))
def test_memo_chooses_as_a_session_without_it(seed: int) -> None:
    rnd = random.Random(seed)
    twin = Twin(_config(rnd), seed)
    names = [f"node-{i:03d}" for i in range(rnd.choice([8, 40, 130]))]
    for name in names:
        twin.set_node(_node(rnd, name))
    templates = [_pod(rnd, f"t{i}") for i in range(4)]
    # Variants of a template that differ in one thing, so a shape that left out what
    # one of the plugins reads would mix them up.
    for base in list(templates):
        for _ in range(2):
            variant = _pod(rnd, "v")
            spec = {**base["spec"]}
            part = rnd.choice(["tolerations", "nodeSelector", "affinity", "containers",
                               "zero"])
            if part == "zero":
                # Asking for "0" memory (or cpu) rather than naming none: the same
                # requests, other non-zero scoring requests.
                container = spec["containers"][0]
                requests = dict((container.get("resources") or {}).get("requests") or {})
                name = rnd.choice(["cpu", "memory"])
                if requests.pop(name, None) is None:
                    requests[name] = "0"
                spec["containers"] = [{**container, "resources": {"requests": requests}}]
            elif part in variant["spec"]:
                spec[part] = variant["spec"][part]
            else:
                spec.pop(part, None)
            templates.append({**base, "spec": spec})
    for step in range(300):
        roll = rnd.random()
        keys = list(twin.placed)
        # Pods with inter-pod terms turn the memo off while they are placed: let them
        # come and go.
        anti = [k for k in keys if twin.placed[k][0].anti_affinity_terms]
        if anti and rnd.random() < 0.3:
            twin.deleted(anti[0])
            continue
        if roll < 0.6 or not keys:
            body = dict(rnd.choice(templates))
            body["metadata"] = {**body["metadata"], "name": f"p{step}", "uid": f"u{step}"}
            twin.schedule(body, rnd.choice([0, 0, 10, 50]))
            if step % 25 == 0:
                twin.compare_scores(body)
        elif roll < 0.68:
            twin.forget(rnd.choice(keys))
        elif roll < 0.76:
            twin.bound(rnd.choice(keys), rnd.choice(["Running", "Running", "Succeeded"]))
        elif roll < 0.82:
            twin.deleted(rnd.choice(keys))
        elif roll < 0.85:
            key = rnd.choice(keys)
            if twin.caches[0].tasks.get(key) is twin.placed[key][0]:
                twin.pipeline_and_back(key)
        elif roll < 0.93:
            twin.set_node(_node(rnd, rnd.choice(names)))
        elif roll < 0.96:
            name = f"node-new-{step}"
            names.append(name)
            twin.set_node(_node(rnd, name))
        else:
            twin.remove_node(rnd.choice(names))
    # The memo was used: feasibility and scores of at least one shape are remembered.
    assert twin.sessions[0]._fit_memo
    assert not twin.sessions[1]._fit_memo and not twin.sessions[1]._score_memo


def _generation(cache: SchedulerCache, name: str) -> int:
    return cache.nodes[name].generation


def test_every_change_to_a_node_gives_it_a_new_generation() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    seen = [_generation(cache, "n1")]

    def changed() -> None:
        now = _generation(cache, "n1")
        assert now not in seen
        seen.append(now)

    cache.set_node(node("n1", labels={"zone": "a"}))
    changed()
    task = TaskInfo.from_pod(pod("p", cpu="1"))
    cache.assume(task, "n1")
    changed()
    cache.forget(task)
    changed()
    cache.pipeline(task, "n1")
    changed()
    cache.unpipeline(task)
    changed()
    cache.update_pod(pod("q", cpu="1", node_name="n1", phase="Running"))
    changed()
    cache.update_pod(pod("q", cpu="2", node_name="n1", phase="Running"))
    changed()
    cache.delete_pod(pod("q", node_name="n1"))
    changed()
    cache.update_pod(pod("r", node_name="n1", phase="Running"))
    cache.remove_node("n1")
    changed()
    # A node of the same name made again never reuses a generation.
    cache.delete_pod(pod("r", node_name="n1"))
    cache.set_node(node("n1"))
    changed()


def test_a_node_is_scored_again_only_once_it_changed() -> None:
    cache = SchedulerCache()
    for i in range(5):
        cache.set_node(node(f"n{i}"))
    calls: list[str] = []
    plugin = NodeOrderPlugin()
    inner = plugin.node_order

    def counted(state: dict[str, Any], task: TaskInfo, info: NodeInfo) -> float:
        calls.append(info.name)
        return inner(state, task, info)

    plugin.node_order = counted  # type: ignore[method-assign]
    ssn = Session(cache, [plugin], random.Random(0))
    body = pod("p", cpu="500m", memory="1Gi")
    first = ssn.scores({}, TaskInfo.from_pod(body), ssn.nodes)
    assert sorted(calls) == ["n0", "n1", "n2", "n3", "n4"]
    calls.clear()
    # A replica of the same template: nothing to score.
    assert ssn.scores({}, TaskInfo.from_pod(pod("p2", cpu="500m", memory="1Gi")),
                      ssn.nodes) == first
    assert calls == []
    cache.assume(TaskInfo.from_pod(pod("x", cpu="1")), "n3")
    after = ssn.scores({}, TaskInfo.from_pod(body), ssn.nodes)
    assert calls == ["n3"]
    assert after[3] < first[3] and after[:3] == first[:3]
    # Another shape is scored afresh.
    calls.clear()
    ssn.scores({}, TaskInfo.from_pod(pod("big", cpu="2")), ssn.nodes)
    assert len(calls) == 5


def test_inter_pod_terms_turn_the_feasibility_memo_off() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1", labels={"zone": "a"}))
    cache.set_node(node("n2", labels={"zone": "b"}))
    ssn = Session(cache, build_plugins(SchedulerConfig().tiers), random.Random(0))
    # Both nodes remembered feasible for this shape.
    assert isinstance(allocate_task(ssn, TaskInfo.from_pod(pod("db", labels={"app": "db"}))),
                      NodeInfo)
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}
    guard = TaskInfo.from_pod(pod("guard", labels={"app": "guard"}, affinity=anti))
    placed = allocate_task(ssn, guard)
    assert isinstance(placed, NodeInfo)
    cache.assume(guard, placed.name)
    # Same shape as "db", and the other node did not change; but the guard's
    # anti-affinity now keeps web pods out of its zone.
    for i in range(10):
        web = allocate_task(ssn, TaskInfo.from_pod(pod(f"web{i}", labels={"app": "web"})))
        assert isinstance(web, NodeInfo) and web.name != placed.name


def test_the_memo_keeps_a_bounded_number_of_shapes() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1", cpu="1000"))
    ssn = Session(cache, build_plugins(SchedulerConfig().tiers), random.Random(0))
    for i in range(MEMO_SHAPES + 20):
        assert isinstance(allocate_task(ssn, TaskInfo.from_pod(pod(f"p{i}", cpu=f"{i + 1}m"))),
                          NodeInfo)
    assert len(ssn._fit_memo) == MEMO_SHAPES
