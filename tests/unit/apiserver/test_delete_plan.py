"""DELETE's garbage-collection finalizers (kube's deletionFinalizersForGarbageCollection)
and the deprecated orphanDependents option."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from kubeedge.api.errors import StatusError
from kubeedge.api.registry import Registry
from kubeedge.apiserver.request import delete_options
from kubeedge.apiserver.strategy import plan_delete

CONFIG_MAPS = Registry().lookup("", "v1", "configmaps")


def _cm(*finalizers: str) -> dict:
    return {"metadata": {"name": "owner", "namespace": "d", "finalizers": list(finalizers)}}


@pytest.mark.parametrize(("finalizers", "policy", "expected"), [
    ((), None, None),
    ((), "Background", None),
    ((), "Orphan", ["orphan"]),
    ((), "Foreground", ["foregroundDeletion"]),
    # Another finalizer present: the policy still gets its own (the bug this pins).
    (("example.com/hold",), "Orphan", ["example.com/hold", "orphan"]),
    (("example.com/hold",), "Foreground", ["example.com/hold", "foregroundDeletion"]),
    # A repeated delete with another policy swaps; without a policy the choice stays.
    (("orphan",), "Foreground", ["foregroundDeletion"]),
    (("foregroundDeletion",), "Orphan", ["orphan"]),
    (("foregroundDeletion",), "Background", None),
    (("orphan", "example.com/hold"), None, ["example.com/hold", "orphan"]),
])
def test_policy_decides_the_gc_finalizers(finalizers: tuple[str, ...], policy: str | None,
                                          expected: list[str] | None) -> None:
    options = {"propagationPolicy": policy} if policy else {}
    plan = plan_delete(CONFIG_MAPS, _cm(*finalizers), options)
    if expected is None:
        assert plan.remove_now
    else:
        assert not plan.remove_now
        assert plan.updated["metadata"]["finalizers"] == expected
        assert plan.updated["metadata"]["deletionTimestamp"]


def test_orphan_dependents_maps_to_a_policy() -> None:
    assert delete_options(MultiDict(), {"orphanDependents": True})["propagationPolicy"] == (
        "Orphan")
    assert delete_options(MultiDict(orphanDependents="false"), None)[
        "propagationPolicy"] == "Background"
    with pytest.raises(StatusError) as both:
        delete_options(MultiDict(), {"orphanDependents": True,
                                     "propagationPolicy": "Foreground"})
    assert both.value.code == 422
