from __future__ import annotations

import pytest

from kubeedge.cloud.synccontroller.objectsync import (
    compare_resource_version,
    kind_to_resource,
    node_of,
    object_sync_name,
    parse_resource_version,
    uid_of,
)


def test_sync_name_splits_at_the_last_dot_so_node_names_may_have_dots() -> None:
    name = object_sync_name("edge.zone-a.1", "6f1c2a9e-0d1b-4f7c-9c53-2b8d1f0e7a11")
    assert name == "edge.zone-a.1.6f1c2a9e-0d1b-4f7c-9c53-2b8d1f0e7a11"
    assert node_of(name) == "edge.zone-a.1"
    assert uid_of(name) == "6f1c2a9e-0d1b-4f7c-9c53-2b8d1f0e7a11"


def test_resource_versions_compare_as_integers_not_strings() -> None:
    assert compare_resource_version("10", "9") == 1
    assert compare_resource_version("9", "10") == -1
    assert compare_resource_version("42", "42") == 0


@pytest.mark.parametrize("bad", ["", "-1", "abc", "1.5", str(2**64)])
def test_non_integer_resource_versions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="resourceVersion"):
        parse_resource_version(bad)


@pytest.mark.parametrize(("kind", "plural"), [
    ("Pod", "pods"), ("ConfigMap", "configmaps"), ("Endpoints", "endpoints"),
    ("NetworkPolicy", "networkpolicies"), ("Ingress", "ingresses"),
])
def test_kind_to_resource_follows_kubeedge_suffix_rules(kind: str, plural: str) -> None:
    assert kind_to_resource(kind) == plural
