"""The PodGroup controller's pure decisions: which pods need a group, the group's
name, and the group it creates (specs/volcano.md §1.4)."""

from __future__ import annotations

from typing import Any

from kubeedge.controllers.podgroup import needs_group, podgroup_for, podgroup_name

Obj = dict[str, Any]
VOLCANO = frozenset({"volcano"})


def pod(*, owner: Obj | None = None, annotations: dict[str, str] | None = None,
        scheduler: str = "volcano", requests: dict[str, str] | None = None) -> Obj:
    md: Obj = {"name": "p", "namespace": "ns", "uid": "pod-uid",
               "annotations": annotations or {}}
    if owner is not None:
        md["ownerReferences"] = [owner]
    return {"metadata": md, "spec": {
        "schedulerName": scheduler, "priorityClassName": "high",
        "containers": [{"name": "a", "resources": {"requests": requests or {}}},
                       {"name": "b", "resources": {"requests": {"cpu": "250m"}}}]}}


RS_OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs-uid",
            "controller": True}


def test_only_volcano_pods_without_a_group_need_one() -> None:
    assert needs_group(pod(), VOLCANO)
    assert not needs_group(pod(scheduler="default-scheduler"), VOLCANO)
    assert not needs_group(pod(annotations={"scheduling.k8s.io/group-name": "g"}), VOLCANO)


def test_group_is_named_for_the_controller_else_the_pod() -> None:
    assert podgroup_name(pod()) == "podgroup-pod-uid"
    assert podgroup_name(pod(owner=RS_OWNER)) == "podgroup-rs-uid"


def test_group_of_a_lone_pod_is_owned_by_the_pod() -> None:
    group = podgroup_for(pod(requests={"cpu": "500m", "nvidia.com/gpu": "1"}))
    assert group["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "pod-uid", "controller": True}]
    assert group["spec"] == {"minMember": 1, "queue": "default",
                             "minResources": {"cpu": "750m", "nvidia.com/gpu": "1"},
                             "priorityClassName": "high"}


def test_min_member_multiplies_requests_and_queue_comes_from_the_pod() -> None:
    group = podgroup_for(pod(owner=RS_OWNER, requests={"cpu": "750m", "memory": "1Gi"},
                             annotations={"scheduling.volcano.sh/queue-name": "research"}),
                         min_member=2)
    assert group["metadata"]["ownerReferences"] == [RS_OWNER]
    assert group["spec"]["minMember"] == 2
    assert group["spec"]["queue"] == "research"
    assert group["spec"]["minResources"] == {"cpu": "2", "memory": str(2 * 1024 ** 3)}
