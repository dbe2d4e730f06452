"""The namespace controller's status conditions and timing: pure decisions, no I/O."""

from __future__ import annotations

from kubeedge.controllers.namespace import (
    CONDITION_TYPES,
    Pass,
    Remaining,
    apply_conditions,
    conditions_for,
    grace_estimate,
    requeue_delay,
)


def test_a_clean_pass_reports_every_condition_false_in_kube_words() -> None:
    conds = conditions_for(Pass())
    assert list(conds) == list(CONDITION_TYPES)
    assert all(status == "False" for status, _, _ in conds.values())
    assert conds["NamespaceContentRemaining"] == (
        "False", "ContentRemoved", "All content successfully removed")
    assert conds["NamespaceDeletionContentFailure"] == (
        "False", "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization")


def test_remaining_content_and_finalizers_are_listed_sorted() -> None:
    result = Pass(remaining=Remaining(
        resources={"pods.": 2, "widgets.example.com": 1},
        finalizers={"example.com/b": 1, "example.com/a": 2}))
    conds = conditions_for(result)
    assert conds["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain",
        "Some resources are remaining: pods. has 2 resource instances, "
        "widgets.example.com has 1 resource instances")
    assert conds["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/a in 2 "
        "resource instances, example.com/b in 1 resource instances")


def test_failures_are_counted() -> None:
    result = Pass(discovery_errors=["metrics.k8s.io/v1beta1: 503"],
                  content_errors=["configmaps: 500", "secrets: 500"])
    conds = conditions_for(result)
    assert conds["NamespaceDeletionDiscoveryFailure"] == (
        "True", "DiscoveryFailed",
        "Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: 503")
    assert conds["NamespaceDeletionContentFailure"][:2] == ("True", "ContentDeletionFailed")
    assert conds["NamespaceDeletionContentFailure"][2].startswith(
        "Failed to delete all resource types, 2 remaining: ")


def test_conditions_change_only_when_something_changed() -> None:
    ns: dict = {"metadata": {"name": "x"}}
    assert apply_conditions(ns, conditions_for(Pass()))
    stamps = [c["lastTransitionTime"] for c in ns["status"]["conditions"]]
    assert not apply_conditions(ns, conditions_for(Pass()))
    assert [c["lastTransitionTime"] for c in ns["status"]["conditions"]] == stamps


def test_pods_grace_period_sets_how_long_to_wait() -> None:
    pods = [
        {"spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}},
        {"spec": {"terminationGracePeriodSeconds": 90}, "status": {"phase": "Succeeded"}},
        {"spec": {}, "status": {"phase": "Pending"}},
    ]
    assert grace_estimate(pods) == 30
    assert requeue_delay(30) == 16
    assert requeue_delay(0) == 1
