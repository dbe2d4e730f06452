"""StatefulSet decisions without I/O: ordering, scale-down, partitioned updates, status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeedge.controllers import history
from kubeedge.controllers.statefulset import compute_status, new_pod, ordinal_of, plan_set

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def sts(replicas: int = 3, policy: str = "OrderedReady", partition: int = 0,
        strategy: str = "RollingUpdate") -> dict[str, Any]:
    update: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 2},
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "spec": {"replicas": replicas, "podManagementPolicy": policy,
                     "serviceName": "web", "updateStrategy": update,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


def pod(ordinal: int, revision: str = "r1", ready: bool = True, phase: str = "Running",
        terminating: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": f"web-{ordinal}",
                          "labels": {"controller-revision-hash": revision}}
    if terminating:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": md, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_membership_is_by_name() -> None:
    assert ordinal_of("web", {"metadata": {"name": "web-12"}}) == 12
    assert ordinal_of("web", {"metadata": {"name": "web-01"}}) is None
    assert ordinal_of("web", {"metadata": {"name": "web-x-1"}}) is None
    assert ordinal_of("web", {"metadata": {"name": "webby-1"}}) is None


def test_ordered_ready_creates_the_next_ordinal_only_after_the_previous_is_ready() -> None:
    assert plan_set(sts(), [], "r1", "r1", NOW).create == [(0, "r1")]
    assert plan_set(sts(), [pod(0, ready=False)], "r1", "r1", NOW).create == []
    assert plan_set(sts(), [pod(0)], "r1", "r1", NOW).create == [(1, "r1")]
    assert plan_set(sts(), [pod(0, terminating=True)], "r1", "r1", NOW).create == []


def test_parallel_creates_every_missing_ordinal_at_once() -> None:
    plan = plan_set(sts(policy="Parallel"), [pod(1, ready=False)], "r1", "r1", NOW)
    assert plan.create == [(0, "r1"), (2, "r1")]


def test_scale_down_removes_the_highest_ordinal_first_and_waits() -> None:
    pods = [pod(0), pod(1), pod(2), pod(3)]
    assert names(plan_set(sts(replicas=2), pods, "r1", "r1", NOW).delete) == ["web-3"]
    pods[3] = pod(3, terminating=True)
    assert plan_set(sts(replicas=2), pods, "r1", "r1", NOW).delete == []
    # An unhealthy pod below blocks scale-down in OrderedReady mode ...
    pods = [pod(0, ready=False), pod(1), pod(2)]
    assert plan_set(sts(replicas=1), pods, "r1", "r1", NOW).delete == []
    # ... but Parallel removes every condemned pod together.
    plan = plan_set(sts(replicas=1, policy="Parallel"), pods, "r1", "r1", NOW)
    assert names(plan.delete) == ["web-2", "web-1"]


def test_failed_pod_is_deleted_to_be_recreated() -> None:
    plan = plan_set(sts(), [pod(0), pod(1, phase="Failed", ready=False)], "r1", "r1", NOW)
    assert names(plan.recreate_failed) == ["web-1"] and plan.create == []


def test_rolling_update_goes_from_the_top_down_to_the_partition() -> None:
    pods = [pod(0), pod(1), pod(2), pod(3)]
    plan = plan_set(sts(replicas=4, partition=2), pods, "r1", "r2", NOW)
    assert names(plan.delete) == ["web-3"]
    pods[3] = pod(3, "r2", ready=False)  # replacement not ready: wait
    assert plan_set(sts(replicas=4, partition=2), pods, "r1", "r2", NOW).delete == []
    pods[3] = pod(3, "r2")
    assert names(plan_set(sts(replicas=4, partition=2), pods, "r1", "r2", NOW).delete) == [
        "web-2"]
    pods[2] = pod(2, "r2")
    assert plan_set(sts(replicas=4, partition=2), pods, "r1", "r2", NOW).delete == []
    # Below the partition, a recreated pod keeps the current revision.
    plan = plan_set(sts(replicas=4, partition=2), [pods[0], pods[2], pods[3]], "r1", "r2", NOW)
    assert plan.create == [(1, "r1")]


def test_on_delete_never_replaces_pods_but_recreates_at_the_update_revision() -> None:
    pods = [pod(0), pod(1), pod(2)]
    assert plan_set(sts(strategy="OnDelete"), pods, "r1", "r2", NOW).delete == []
    plan = plan_set(sts(strategy="OnDelete"), pods[:2], "r1", "r2", NOW)
    assert plan.create == [(2, "r2")]


def test_status_makes_the_update_current_once_all_pods_run_it_ready() -> None:
    status = compute_status(sts(), [pod(0, "r2"), pod(1, "r2"), pod(2, "r1")], "r1", "r2", NOW)
    assert (status["currentRevision"], status["currentReplicas"],
            status["updatedReplicas"]) == ("r1", 1, 2)
    status = compute_status(sts(), [pod(0, "r2"), pod(1, "r2"), pod(2, "r2")], "r1", "r2", NOW)
    assert (status["currentRevision"], status["currentReplicas"]) == ("r2", 3)
    assert status["observedGeneration"] == 2 and status["readyReplicas"] == 3


def test_pod_identity_and_claim_volumes() -> None:
    s = sts()
    s["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    p = new_pod(s, s["spec"]["template"], 4, "web-abc")
    assert p["metadata"]["name"] == "web-4"
    assert p["metadata"]["labels"] == {
        "app": "web", "statefulset.kubernetes.io/pod-name": "web-4",
        "apps.kubernetes.io/pod-index": "4", "controller-revision-hash": "web-abc"}
    assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == ("web-4", "web")
    assert p["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-4"}}]


def test_revision_data_is_what_kubectl_undo_patches_with() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
    data = history.template_patch(template)
    assert data == {"spec": {"template": {**template, "$patch": "replace"}}}
    assert history.template_of({"data": data}) == template
    revisions = [{"metadata": {"name": "b"}, "revision": 2},
                 {"metadata": {"name": "a"}, "revision": 1},
                 {"metadata": {"name": "c"}, "revision": 3}]
    assert [r["metadata"]["name"] for r in history.sort_revisions(revisions)] == ["a", "b", "c"]
    assert history.revision_name("x" * 300, "h") == "x" * 223 + "-h"
