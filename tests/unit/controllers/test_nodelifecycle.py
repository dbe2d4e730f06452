"""Node lifecycle decisions without a server: heartbeats judged on the controller's own
(fake) clock, the conditions and taints it writes, the taint manager's timing, and
zone disruption. A stub API applies writes straight to the caches."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIError
from kubeedge.client.informer import ObjectCache, object_key
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.nodelifecycle import (
    EDGE_ROLE_LABEL,
    NODE_LEASE_NAMESPACE,
    POD_NODE_INDEX,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    HealthTracker,
    NodeLifecycleController,
    NoExecutePolicy,
    ZoneState,
    _indexed_node,
    eviction_delay,
    merge_taints,
    no_execute_policy,
    unknown_conditions,
    wanted_taints,
    zone_states,
)

Obj = dict[str, Any]
GRACE, STARTUP = 40.0, 60.0
NS, NE = "NoSchedule", "NoExecute"


def node(name: str = "n1", ready: str | None = "True", heartbeat: str = "2024-01-01T00:00:00Z",
         *, edge: bool = False, zone: str = "", taints: list[Obj] | None = None,
         unschedulable: bool = False) -> Obj:
    labels = {EDGE_ROLE_LABEL: ""} if edge else {}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    conditions = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                           "lastTransitionTime": heartbeat, "reason": "KubeletReady"})
        conditions.append({"type": "MemoryPressure", "status": "False",
                           "lastHeartbeatTime": heartbeat})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "uid": f"uid-{name}",
                         "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"conditions": conditions}}


def lease(name: str, renew: str) -> Obj:
    return {"metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
            "spec": {"renewTime": renew}}


def pod(name: str, node_name: str, tolerations: list[Obj] | None = None,
        ready: str = "True") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"nodeName": node_name, "tolerations": tolerations or []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}}


def unreachable(seconds: int | None) -> Obj:
    toleration: Obj = {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": NE}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return toleration


def pairs(obj: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in obj["spec"].get("taints") or []}


# -- heartbeats -------------------------------------------------------------------------


async def test_a_node_is_stale_only_after_the_grace_period_on_our_clock() -> None:
    clock = FakeClock()
    health = HealthTracker(clock)
    n = node()
    health.observe(n, lease("n1", "2024-01-01T00:00:00.000001Z"))
    await clock.advance(GRACE - clock.now())
    assert not health.is_stale(n, GRACE, STARTUP)
    await clock.advance(GRACE + 0.1 - clock.now())
    assert health.is_stale(n, GRACE, STARTUP)


async def test_a_lease_renewal_is_a_heartbeat_even_when_the_node_clock_is_far_behind() -> None:
    clock = FakeClock()
    health = HealthTracker(clock)
    n = node()
    health.observe(n, lease("n1", "1999-01-01T00:00:00.000001Z"))
    await clock.advance(30.0 - clock.now())
    # Stamped 25 years ago, but newer than the last one we saw: alive now.
    health.observe(n, lease("n1", "1999-01-01T00:00:30.000001Z"))
    await clock.advance(60.0 - clock.now())
    assert not health.is_stale(n, GRACE, STARTUP)
    await clock.advance(70.1 - clock.now())
    assert health.is_stale(n, GRACE, STARTUP)


async def test_a_heartbeat_stamped_in_the_future_buys_no_extra_time() -> None:
    clock = FakeClock()
    health = HealthTracker(clock)
    health.observe(node(heartbeat="2999-01-01T00:00:00Z"), None)
    await clock.advance(GRACE + 1 - clock.now())
    # Same stamp seen again: no sign of life, however late the stamp claims to be.
    n = node(heartbeat="2999-01-01T00:00:00Z")
    health.observe(n, None)
    assert health.is_stale(n, GRACE, STARTUP)


async def test_a_status_heartbeat_counts_like_a_lease_renewal() -> None:
    clock = FakeClock()
    health = HealthTracker(clock)
    health.observe(node(heartbeat="2024-01-01T00:00:00Z"), None)
    await clock.advance(35.0 - clock.now())
    health.observe(node(heartbeat="2024-01-01T00:00:35Z"), None)
    await clock.advance(70.0 - clock.now())
    assert not health.is_stale(node(), GRACE, STARTUP)


async def test_a_node_that_never_reported_ready_gets_the_startup_grace() -> None:
    clock = FakeClock()
    health = HealthTracker(clock)
    fresh = node(ready=None)
    health.observe(fresh, None)
    await clock.advance(50.0 - clock.now())
    assert not health.is_stale(fresh, GRACE, STARTUP)
    await clock.advance(60.5 - clock.now())
    assert health.is_stale(fresh, GRACE, STARTUP)


def test_unknown_conditions_say_the_kubelet_stopped_posting() -> None:
    n = node()
    conditions = unknown_conditions(n, "2024-01-02T00:00:00Z")
    assert conditions is not None
    by_type = {c["type"]: c for c in conditions}
    assert set(by_type) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    assert by_type["Ready"]["status"] == "Unknown"
    assert by_type["Ready"]["reason"] == "NodeStatusUnknown"
    assert by_type["Ready"]["message"] == "Kubelet stopped posting node status."
    assert by_type["Ready"]["lastHeartbeatTime"] == "2024-01-01T00:00:00Z"
    assert by_type["Ready"]["lastTransitionTime"] == "2024-01-02T00:00:00Z"
    assert by_type["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert n["status"]["conditions"][0]["status"] == "True"  # the input is not changed
    n["status"]["conditions"] = conditions
    assert unknown_conditions(n, "2024-01-03T00:00:00Z") is None


# -- taints -----------------------------------------------------------------------------


def test_an_unknown_cloud_node_gets_unreachable_as_no_schedule_and_no_execute() -> None:
    n = node(ready="Unknown")
    assert wanted_taints(n, NoExecutePolicy.APPLY) == {
        (TAINT_UNREACHABLE, NS), (TAINT_UNREACHABLE, NE)}
    merged = merge_taints([], wanted_taints(n, NoExecutePolicy.APPLY), "T")
    assert merged is not None
    by_effect = {t["effect"]: t for t in merged}
    assert by_effect[NE]["timeAdded"] == "T" and "timeAdded" not in by_effect[NS]


def test_a_false_ready_node_is_not_ready_and_the_unreachable_taint_is_swapped() -> None:
    old = [{"key": TAINT_UNREACHABLE, "effect": NS},
           {"key": TAINT_UNREACHABLE, "effect": NE, "timeAdded": "T0"}]
    n = node(ready="False", taints=old)
    merged = merge_taints(old, wanted_taints(n, NoExecutePolicy.APPLY), "T1")
    assert merged is not None
    assert {(t["key"], t["effect"]) for t in merged} == {(TAINT_NOT_READY, NS),
                                                          (TAINT_NOT_READY, NE)}


def test_taints_of_others_and_kept_taints_are_untouched() -> None:
    foreign = {"key": "dedicated", "value": "db", "effect": NE}
    kept = {"key": TAINT_UNREACHABLE, "effect": NE, "timeAdded": "T0"}
    current = [foreign, {"key": TAINT_UNREACHABLE, "effect": NS}, kept]
    n = node(ready="Unknown", taints=current)
    assert merge_taints(current, wanted_taints(n, NoExecutePolicy.APPLY), "T1") is None
    back = node(ready="True", taints=current)
    assert merge_taints(current, wanted_taints(back, NoExecutePolicy.APPLY), "T1") == [foreign]


def test_cordon_and_pressure_conditions_become_no_schedule_taints() -> None:
    n = node(unschedulable=True)
    n["status"]["conditions"][1]["status"] = "True"  # MemoryPressure
    assert wanted_taints(n, NoExecutePolicy.APPLY) == {
        (TAINT_UNSCHEDULABLE, NS), ("node.kubernetes.io/memory-pressure", NS)}


def test_edge_nodes_get_no_no_execute_taint_unless_edge_eviction_is_on() -> None:
    edge = node(ready="Unknown", edge=True)
    assert no_execute_policy(edge, {}, {}, edge_eviction=False) is NoExecutePolicy.REMOVE
    assert wanted_taints(edge, NoExecutePolicy.REMOVE) == {(TAINT_UNREACHABLE, NS)}
    assert no_execute_policy(edge, {}, {}, edge_eviction=True) is NoExecutePolicy.APPLY
    cloud = node(ready="Unknown")
    assert no_execute_policy(cloud, {}, {}, edge_eviction=False) is NoExecutePolicy.APPLY


# -- zones ------------------------------------------------------------------------------


def test_zone_states_follow_kube_thresholds() -> None:
    assert set(zone_states([node("a", "Unknown"), node("b", "False")]).values()) == {
        ZoneState.FULL_DISRUPTION}
    many = [node(f"d{i}", "Unknown") for i in range(3)] + [node("ok")]
    assert set(zone_states(many).values()) == {ZoneState.PARTIAL_DISRUPTION}
    two = [node("d1", "Unknown"), node("d2", "Unknown"), node("ok")]
    assert set(zone_states(two).values()) == {ZoneState.NORMAL}


def test_full_disruption_everywhere_lifts_no_execute_partial_adds_none() -> None:
    silent = node("a", "Unknown", zone="z1")
    full = zone_states([silent, node("b", "Unknown", zone="z2")])
    assert no_execute_policy(silent, full, {}, False) is NoExecutePolicy.REMOVE
    # One zone down, another healthy: the down zone is evicted as usual.
    mixed = zone_states([silent, node("b", zone="z2")])
    assert no_execute_policy(silent, mixed, {}, False) is NoExecutePolicy.APPLY
    partial = zone_states([node(f"d{i}", "Unknown") for i in range(3)] + [node("ok")])
    zone = next(iter(partial))
    held = node("d0", "Unknown")
    assert no_execute_policy(held, partial, {zone: 4}, False) is NoExecutePolicy.HOLD
    assert wanted_taints(held, NoExecutePolicy.HOLD) == {(TAINT_UNREACHABLE, NS)}
    already = node("d0", "Unknown", taints=[{"key": TAINT_UNREACHABLE, "effect": NE}])
    assert (TAINT_UNREACHABLE, NE) in wanted_taints(already, NoExecutePolicy.HOLD)


# -- tolerations ------------------------------------------------------------------------


@pytest.mark.parametrize(("tolerations", "delay"), [
    ([], 0.0),
    ([unreachable(300)], 300.0),
    ([unreachable(300), unreachable(5)], 300.0),  # the first match is the one used
    ([unreachable(None)], None),
    ([{"operator": "Exists"}], None),
    ([{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": NS}], 0.0),
    ([{"key": TAINT_UNREACHABLE, "operator": "Equal", "value": "x", "effect": NE}], 0.0),
    ([unreachable(-3)], 0.0),
])
def test_eviction_delay(tolerations: list[Obj], delay: float | None) -> None:
    taints = [{"key": TAINT_UNREACHABLE, "effect": NE}]
    assert eviction_delay(taints, tolerations) == delay


def test_the_shortest_toleration_of_several_taints_wins() -> None:
    taints = [{"key": TAINT_UNREACHABLE, "effect": NE}, {"key": "x", "effect": NE}]
    tolerations = [unreachable(30), {"key": "x", "operator": "Exists", "tolerationSeconds": 7}]
    assert eviction_delay(taints, tolerations) == 7.0
    assert eviction_delay(taints, [unreachable(30)]) == 0.0


# -- the controller on a stub API -------------------------------------------------------


def conflict() -> APIError:
    return APIError({"code": 409, "reason": "Conflict", "message": "conflict"})


class StubAPI:
    """Writes land in the caches at once, as if the watch delivered them instantly."""

    def __init__(self, nodes: ObjectCache, pods: ObjectCache) -> None:
        self.nodes, self.pods = nodes, pods
        self.clock = FakeClock()
        self.deleted: list[str] = []
        self.writes = 0
        self.ctrl: NodeLifecycleController | None = None

    def _delivered(self, old: Obj | None, new: Obj) -> None:
        """What the informers' handlers would do with the write."""
        assert self.ctrl is not None
        if new.get("kind") == "Node":
            self.ctrl._node_updated(old or new, new)
        else:
            self.ctrl._pod_changed(new)

    def _store(self, obj: Obj) -> ObjectCache:
        return self.nodes if obj.get("kind") == "Node" else self.pods

    async def update_status(self, ref: Any, obj: Obj, *args: Any, **kw: Any) -> Obj:
        return await self.update(ref, obj)

    async def update(self, ref: Any, obj: Obj, *args: Any, **kw: Any) -> Obj:
        store = self._store(obj)
        current = store.get_by_key(object_key(obj))
        assert current is not None
        if current["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise conflict()
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        store.put(stored)
        self.writes += 1
        self._delivered(current, stored)
        return copy.deepcopy(stored)

    async def get(self, ref: Any, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        return copy.deepcopy(self.nodes.get("", name))

    async def patch(self, ref: Any, name: str, patch: Obj, namespace: str | None = None,
                    **kw: Any) -> Obj:
        stored = copy.deepcopy(self.pods.get(namespace, name))
        for cond in patch["status"]["conditions"]:
            meta.set_condition(stored, cond["type"], cond["status"], cond.get("reason", ""),
                               cond.get("message", ""))
        self.pods.put(stored)
        self.writes += 1
        self._delivered(None, stored)
        return stored

    async def delete(self, ref: Any, name: str, namespace: str | None = None,
                     **kw: Any) -> Obj:
        stored = copy.deepcopy(self.pods.get(namespace, name))
        stored["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        self.pods.put(stored)
        self.deleted.append(f"{namespace}/{name}")
        self._delivered(None, stored)
        return stored


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        self.events.append((meta.name_of(obj), reason, message))


def make_controller(clock: FakeClock, *, edge_eviction: bool = False
                    ) -> tuple[NodeLifecycleController, StubAPI, Recorder]:
    nodes, pods, leases = ObjectCache(), ObjectCache(), ObjectCache()
    pods.add_index(POD_NODE_INDEX, _indexed_node)
    api = StubAPI(nodes, pods)
    recorder = Recorder()
    config = ControllerManagerConfig(node_monitor_grace_period_seconds=GRACE,
                                     edge_node_eviction=edge_eviction)
    ctrl = NodeLifecycleController(api, recorder=recorder, config=config,  # type: ignore[arg-type]
                                   clock=clock)
    ctrl.nodes = SimpleNamespace(store=nodes)  # type: ignore[assignment]
    ctrl.pods = SimpleNamespace(store=pods)  # type: ignore[assignment]
    ctrl.leases = SimpleNamespace(store=leases)  # type: ignore[assignment]
    api.ctrl = ctrl
    return ctrl, api, recorder


async def settle(ctrl: NodeLifecycleController) -> None:
    """Run every queued key, as the workers would."""
    while len(ctrl.queue):
        key = await ctrl.queue.get()
        assert key is not None
        try:
            await ctrl.reconcile(key)
        finally:
            ctrl.queue.done(key)


async def test_silent_cloud_node_goes_unknown_tainted_and_pods_evicted_on_time() -> None:
    clock = FakeClock()
    ctrl, api, recorder = make_controller(clock)
    for n in (node("cloud"), node("steady")):
        ctrl.nodes.store.put(n)
    ctrl.leases.store.put(lease("steady", "2024-01-01T00:00:00.000001Z"))
    ctrl.pods.store.put(pod("now", "cloud"))
    ctrl.pods.store.put(pod("later", "cloud", [unreachable(30)]))
    ctrl.pods.store.put(pod("forever", "cloud", [unreachable(None)]))
    await ctrl.monitor_pass()
    await settle(ctrl)
    assert ("cloud", "RegisteredNode", "Node cloud event: Registered Node cloud in Controller"
            ) in recorder.events

    # The steady node renews its lease; the cloud node is silent.
    await clock.advance(GRACE)
    ctrl.leases.store.put(lease("steady", "2024-01-01T00:00:40.000001Z"))
    await ctrl.monitor_pass()
    assert ready(ctrl, "cloud") == "True"  # exactly the grace period: not yet
    await clock.advance(1)
    await ctrl.monitor_pass()
    await settle(ctrl)
    assert ready(ctrl, "cloud") == "Unknown" and ready(ctrl, "steady") == "True"
    assert pairs(ctrl.nodes.store.get("", "cloud")) == {(TAINT_UNREACHABLE, NS),
                                                        (TAINT_UNREACHABLE, NE)}
    assert ("cloud", "NodeNotReady", "Node cloud status is now: NodeNotReady") in recorder.events
    await settle(ctrl)
    assert api.deleted == ["default/now"]
    assert ("now", "TaintManagerEviction", "Marking for deletion Pod default/now"
            ) in recorder.events
    later = ctrl.pods.store.get("default", "later")
    assert (meta.condition(later, "Ready") or {})["status"] == "False"
    assert ctrl.queue.waiting == 1  # "later" waits for its 30 s

    await clock.advance(29)
    await settle(ctrl)
    assert api.deleted == ["default/now"]
    await clock.advance(1)
    await settle(ctrl)
    assert api.deleted == ["default/now", "default/later"]
    evicted = ctrl.pods.store.get("default", "later")
    assert (meta.condition(evicted, "DisruptionTarget") or {})["reason"] == (
        "DeletionByTaintManager")


async def test_edge_pods_stay_and_keep_their_status_while_the_edge_is_offline() -> None:
    clock = FakeClock()
    ctrl, api, recorder = make_controller(clock)
    ctrl.nodes.store.put(node("edge", edge=True))
    ctrl.nodes.store.put(node("steady"))
    ctrl.pods.store.put(pod("app", "edge"))
    await ctrl.monitor_pass()
    await clock.advance(GRACE + 1)
    ctrl.nodes.store.put(node("steady", heartbeat="2024-01-01T00:00:41Z"))
    await ctrl.monitor_pass()
    await settle(ctrl)
    await clock.advance(600)
    await settle(ctrl)
    assert ready(ctrl, "edge") == "Unknown"
    assert pairs(ctrl.nodes.store.get("", "edge")) == {(TAINT_UNREACHABLE, NS)}
    assert api.deleted == []
    assert (meta.condition(ctrl.pods.store.get("default", "app"), "Ready") or {}
            )["status"] == "True"
    assert not [e for e in recorder.events if e[0] == "app"]


async def test_a_returning_node_loses_its_taints_and_waiting_evictions_are_cancelled() -> None:
    clock = FakeClock()
    ctrl, api, recorder = make_controller(clock)
    ctrl.nodes.store.put(node("cloud"))
    ctrl.nodes.store.put(node("steady"))
    ctrl.pods.store.put(pod("later", "cloud", [unreachable(30)]))
    await ctrl.monitor_pass()
    await clock.advance(GRACE + 1)
    ctrl.nodes.store.put(node("steady", heartbeat="2024-01-01T00:00:41Z"))
    await ctrl.monitor_pass()
    await settle(ctrl)
    await settle(ctrl)
    assert "default/later" in ctrl.evictions
    # The kubelet posts Ready again.
    back = copy.deepcopy(ctrl.nodes.store.get("", "cloud"))
    back["status"]["conditions"] = node("cloud", heartbeat="2024-01-01T00:01:00Z")[
        "status"]["conditions"]
    ctrl.nodes.store.put(back)
    ctrl.queue.add("node/cloud")
    await settle(ctrl)
    assert pairs(ctrl.nodes.store.get("", "cloud")) == set()
    ctrl.queue.add("pod/default/later")
    await settle(ctrl)
    assert "default/later" not in ctrl.evictions
    assert ("later", "TaintManagerEviction", "Cancelling deletion of Pod default/later"
            ) in recorder.events
    await clock.advance(60)
    await settle(ctrl)
    assert api.deleted == []


async def test_no_eviction_when_every_node_falls_silent_together() -> None:
    clock = FakeClock()
    ctrl, api, _ = make_controller(clock)
    for name in ("a", "b"):
        ctrl.nodes.store.put(node(name))
        ctrl.pods.store.put(pod(f"app-{name}", name))
    await ctrl.monitor_pass()
    await clock.advance(GRACE + 1)
    await ctrl.monitor_pass()
    await settle(ctrl)
    await settle(ctrl)
    assert set(ctrl.zone_states.values()) == {ZoneState.FULL_DISRUPTION}
    for name in ("a", "b"):
        assert pairs(ctrl.nodes.store.get("", name)) == {(TAINT_UNREACHABLE, NS)}
    assert api.deleted == []


def ready(ctrl: NodeLifecycleController, name: str) -> str:
    return str((meta.condition(ctrl.nodes.store.get("", name), "Ready") or {}).get("status"))
