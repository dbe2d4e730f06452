"""The rolling-update arithmetic (kube's deployment/util): fenceposts, how far the new
ReplicaSet may grow and the old ones shrink, proportional scaling, template equality
and revision annotations."""

from __future__ import annotations

import pytest

from kubeedge.controllers import rollout
from kubeedge.controllers.deployment import (
    deployment_complete,
    deployment_progressing,
    find_active_or_latest,
    find_new_replica_set,
    set_condition,
)
from kubeedge.controllers.rollout import Sized


def deployment(replicas: int = 3, surge: object = "25%", unavailable: object = "25%",
               strategy: str = "RollingUpdate") -> dict:
    spec: dict = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "generation": 1}, "spec": spec}


@pytest.mark.parametrize(("value", "total", "up", "want"), [
    ("25%", 3, True, 1), ("25%", 3, False, 0), ("25%", 4, True, 1), ("25%", 10, False, 2),
    ("100%", 7, False, 7), (2, 10, True, 2), ("3", 10, False, 3), (None, 5, True, 0),
])
def test_scaled_value_rounds_surge_up_and_unavailable_down(value: object, total: int,
                                                          up: bool, want: int) -> None:
    assert rollout.scaled_value(value, total, up) == want  # type: ignore[arg-type]


def test_scaled_value_refuses_garbage() -> None:
    with pytest.raises(rollout.InvalidValue):
        rollout.scaled_value("abc%", 3, True)
    with pytest.raises(rollout.InvalidValue):
        rollout.scaled_value("abc", 3, True)


def test_fenceposts_never_both_zero() -> None:
    assert rollout.resolve_fenceposts(0, 0, 3) == (0, 1)
    assert rollout.resolve_fenceposts("25%", "25%", 3) == (1, 0)
    assert rollout.resolve_fenceposts(2, "20%", 5) == (2, 1)
    assert rollout.resolve_fenceposts("10%", "10%", 3) == (1, 0)


def test_surge_and_unavailable_of_a_deployment() -> None:
    assert (rollout.max_surge(deployment(3)), rollout.max_unavailable(deployment(3))) == (1, 0)
    assert rollout.max_unavailable(deployment(2, 0, 5)) == 2  # capped at replicas
    assert rollout.max_unavailable(deployment(0)) == 0
    recreate = deployment(3, strategy="Recreate")
    assert (rollout.max_surge(recreate), rollout.max_unavailable(recreate)) == (0, 0)


@pytest.mark.parametrize(("replicas", "surge", "pods", "new", "want"), [
    (3, 1, 3, 0, 1),   # start: one extra pod
    (3, 1, 4, 1, 1),   # at replicas + surge: wait
    (3, 1, 3, 1, 2),   # an old pod went: one more new
    (3, 5, 3, 2, 3),   # never past replicas
    (3, 1, 6, 0, 0),   # over the limit while old pods are still going: nothing
])
def test_new_replica_set_growth(replicas: int, surge: int, pods: int, new: int,
                                want: int) -> None:
    assert rollout.new_rs_target_rolling(replicas, surge, pods, new) == want


def test_old_scale_down_counts_unavailable_new_pods_as_lost() -> None:
    # 3 old + 1 new not yet available, none may be unavailable: nothing may go.
    assert rollout.old_scale_down_budget(4, 3, 0, 1, 0) <= 0
    # The new pod is available: one old pod may go.
    assert rollout.old_scale_down_budget(4, 3, 0, 1, 1) == 1
    assert rollout.available_scale_down_budget(4, 3, 0) == 1
    assert rollout.available_scale_down_budget(2, 3, 0) == 0
    assert rollout.available_scale_down_budget(5, 5, 1) == 1


def test_proportional_scale_up_keeps_the_ratio() -> None:
    sets = [Sized("old", 3, "2024-01-01T00:00:00Z", 5), Sized("new", 2, "2024-01-02T00:00:00Z", 5)]
    sizes, op = rollout.proportional_sizes(sets, 8, 2, 5)
    assert (sizes, op) == ({"old": 6, "new": 4}, "up")


def test_proportional_scale_down_keeps_the_ratio() -> None:
    sets = [Sized("old", 6, "2024-01-01T00:00:00Z", 10),
            Sized("new", 4, "2024-01-02T00:00:00Z", 10)]
    sizes, op = rollout.proportional_sizes(sets, 5, 2, 10)
    assert op == "down" and sum(sizes.values()) == 7
    assert sizes == {"old": 4, "new": 3}


def test_rounding_leftover_goes_to_the_biggest_newest() -> None:
    sets = [Sized("a", 1, "2024-01-01T00:00:00Z", 3), Sized("b", 1, "2024-01-02T00:00:00Z", 3),
            Sized("c", 1, "2024-01-03T00:00:00Z", 3)]
    sizes, _ = rollout.proportional_sizes(sets, 4, 0, 3)
    assert sizes == {"a": 1, "b": 1, "c": 2}


def test_scale_to_zero_empties_everything() -> None:
    sets = [Sized("old", 3, "1", 5), Sized("new", 2, "2", 5)]
    sizes, op = rollout.proportional_sizes(sets, 0, 0, 5)
    assert (sizes, op) == ({"old": 0, "new": 0}, "down")


def test_without_max_replicas_annotation_the_status_replicas_are_used() -> None:
    sets = [Sized("old", 2, "1", None), Sized("new", 2, "2", None)]
    sizes, _ = rollout.proportional_sizes(sets, 8, 0, 4)
    assert sizes == {"old": 4, "new": 4}


def test_templates_equal_but_for_the_hash_and_zero_values() -> None:
    a = {"metadata": {"labels": {"app": "web"}},
         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    b = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"},
                      "creationTimestamp": None},
         "spec": {"containers": [{"name": "c", "image": "nginx", "env": []}]}}
    assert rollout.equal_ignore_hash(a, b)
    c = {**a, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert not rollout.equal_ignore_hash(a, c)


def test_new_replica_set_is_the_oldest_with_the_template() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}
    other = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "d"}]}}

    def rs(name: str, created: str, tmpl: dict) -> dict:
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"template": tmpl}}

    d = {"spec": {"template": template}}
    sets = [rs("b", "2024-01-02T00:00:00Z", template), rs("a", "2024-01-01T00:00:00Z", template),
            rs("c", "2024-01-03T00:00:00Z", other)]
    found = find_new_replica_set(d, sets)
    assert found is not None and found["metadata"]["name"] == "a"
    assert find_new_replica_set({"spec": {"template": {"spec": {}}}}, sets) is None


def test_active_or_latest() -> None:
    def rs(name: str, replicas: int, created: str) -> dict:
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"replicas": replicas}}

    old1, old2 = rs("o1", 0, "1"), rs("o2", 0, "2")
    new = rs("n", 0, "3")
    assert find_active_or_latest(new, [old1, old2]) is new
    assert find_active_or_latest(None, [old1, old2]) is old2
    busy = rs("o1", 2, "1")
    assert find_active_or_latest(new, [busy, old2]) is busy
    assert find_active_or_latest(rs("n", 1, "3"), [busy]) is None


def test_revision_annotations() -> None:
    d = {"metadata": {"annotations": {
        "kubernetes.io/change-cause": "kubectl set image",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 4}}
    fresh: dict = {"metadata": {}}
    assert rollout.set_new_replica_set_annotations(d, fresh, 1, False, 1)
    assert fresh["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "kubectl set image",
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "4",
        "deployment.kubernetes.io/max-replicas": "5"}
    # Rolled back to: the old revision moves to the history, sizes are left alone.
    assert rollout.set_new_replica_set_annotations(d, fresh, 3, True, 1)
    ann = fresh["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "3"
    assert ann["deployment.kubernetes.io/revision-history"] == "1"
    # Nothing new: no change.
    assert not rollout.set_new_replica_set_annotations(d, fresh, 3, True, 1)


def test_complete_and_progressing() -> None:
    d = deployment(3)
    d["status"] = {"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}
    done = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "observedGeneration": 1}
    assert deployment_complete(d, done)
    assert not deployment_complete(d, {**done, "observedGeneration": 0})
    assert deployment_progressing(d, {"replicas": 4, "updatedReplicas": 2,
                                      "availableReplicas": 3})
    assert not deployment_progressing(d, dict(d["status"]))


def test_set_condition_keeps_transition_time_and_same_reason_is_no_change() -> None:
    status = {"conditions": [{"type": "Available", "status": "True", "reason": "A",
                              "message": "m", "lastTransitionTime": "t0",
                              "lastUpdateTime": "t0"}]}
    set_condition(status, {"type": "Available", "status": "True", "reason": "A",
                           "message": "other", "lastTransitionTime": "t1",
                           "lastUpdateTime": "t1"})
    assert status["conditions"][0]["message"] == "m"
    set_condition(status, {"type": "Available", "status": "True", "reason": "B",
                           "message": "n", "lastTransitionTime": "t2", "lastUpdateTime": "t2"})
    assert status["conditions"][0]["lastTransitionTime"] == "t0"
    assert status["conditions"][0]["lastUpdateTime"] == "t2"
