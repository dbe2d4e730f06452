"""Merge patch, JSON patch and strategic merge patch (specs/k8s-api.md §4)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeedge.api.errors import StatusError
from kubeedge.api.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    KINDS,
    MERGE,
    MERGE_PATCH,
    STRATEGIC_MERGE_KEYS,
    STRATEGIC_MERGE_PATCH,
    STRUCTS,
    FieldPatch,
    MergeKeyTable,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

DEPLOYMENT = STRATEGIC_MERGE_KEYS.for_kind("Deployment")
POD = STRATEGIC_MERGE_KEYS.for_kind("Pod")
UNTYPED = STRATEGIC_MERGE_KEYS.struct("")

# JSON values for property tests: small keys so that patches hit existing members
_keys = st.sampled_from(["a", "b", "c", "0", "1", "-", "~", "/"])
_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.text(max_size=3)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(_keys, json_values, max_size=4)


def _status(fn: Any, *args: Any) -> StatusError:
    with pytest.raises(StatusError) as err:
        fn(*args)
    return err.value


# ---------------------------------------------------------------------------------------
# RFC 7386 merge patch
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_scale_and_label_commands() -> None:
    dep = {"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {"replicas": 1}}
    assert json_merge_patch(dep, {"spec": {"replicas": 3}})["spec"] == {"replicas": 3}
    labelled = json_merge_patch(dep, {"metadata": {"labels": {"tier": None, "env": "p"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "env": "p"}


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_merge_patch_is_idempotent_and_pure(target: Any, patch: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    once = json_merge_patch(target, patch)
    assert json_merge_patch(once, patch) == once
    assert target == target_before
    assert patch == patch_before


def test_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    target = {"keep": {"deep": [1]}, "x": 1}
    patch = {"new": {"deep": [2]}}
    result = json_merge_patch(target, patch)
    result["keep"]["deep"].append(9)
    result["new"]["deep"].append(9)
    assert target == {"keep": {"deep": [1]}, "x": 1}
    assert patch == {"new": {"deep": [2]}}


# ---------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [  # RFC 6902 appendix A
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
        ),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        (
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
        ),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
        ),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        (
            {"a/b": 1, "m~n": 2},
            [{"op": "remove", "path": "/a~1b"}, {"op": "remove", "path": "/m~0n"}],
            {},
        ),
        ({"a": 1}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": 1, "b": 1}),
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": {"b": 1}}),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/a"}], {"a": 1}),
        ({"a": [1.0]}, [{"op": "test", "path": "/a", "value": [1]}], {"a": [1.0]}),
        ({"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}),
    ],
)
def test_json_patch_follows_rfc_6902_examples(doc: Any, ops: list[Any], expected: Any) -> None:
    assert json_patch(doc, ops) == expected


def test_kopf_finalizer_flow_tests_the_resource_version_then_adds_and_removes() -> None:
    obj = {"metadata": {"name": "w1", "resourceVersion": "102"}}
    added = json_patch(
        obj,
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "102"},
            {
                "op": "add",
                "path": "/metadata/finalizers",
                "value": ["kopf.zalando.org/KopfFinalizerMarker"],
            },
        ],
    )
    assert added["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    removed = json_patch(
        added,
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "102"},
            {"op": "remove", "path": "/metadata/finalizers"},
        ],
    )
    assert removed == obj


def test_failed_test_operation_is_422_invalid() -> None:
    err = _status(
        json_patch,
        {"metadata": {"resourceVersion": "101"}},
        [{"op": "test", "path": "/metadata/resourceVersion", "value": "102"}],
    )
    assert (err.code, err.reason) == (422, "Invalid")
    assert "/metadata/resourceVersion" in err.message
    assert '"101"' in err.message


@pytest.mark.parametrize(
    ("doc", "op"),
    [
        ({"baz": "qux"}, {"op": "test", "path": "/baz", "value": "bar"}),
        ({"/": 9, "~1": 10}, {"op": "test", "path": "/~01", "value": "10"}),
        ({"a": True}, {"op": "test", "path": "/a", "value": 1}),
        ({"a": 1}, {"op": "test", "path": "/b", "value": None}),
        ({"foo": "bar"}, {"op": "add", "path": "/baz/bat", "value": "qux"}),
        ({"a": 1}, {"op": "remove", "path": "/b"}),
        ({"a": 1}, {"op": "replace", "path": "/b", "value": 2}),
        ({"a": [1]}, {"op": "add", "path": "/a/2", "value": 2}),
        ({"a": [1]}, {"op": "add", "path": "/a/01", "value": 2}),
        ({"a": [1]}, {"op": "remove", "path": "/a/-"}),
        ({"a": [1]}, {"op": "replace", "path": "/a/1", "value": 2}),
        ({"a": [1]}, {"op": "remove", "path": "/a/x"}),
        ({"a": "s"}, {"op": "add", "path": "/a/b", "value": 1}),
        ({"a": {"b": 1}}, {"op": "move", "from": "/a", "path": "/a/b/c"}),
        ({"a": 1}, {"op": "move", "from": "/x", "path": "/y"}),
        ({"a": 1}, {"op": "copy", "from": "/x", "path": "/y"}),
        ({"a": 1}, {"op": "remove", "path": ""}),
    ],
)
def test_operations_that_cannot_apply_are_422(doc: Any, op: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    err = _status(json_patch, doc, [op])
    assert (err.code, err.reason) == (422, "Invalid")
    assert doc == before


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ({"op": "add"}, "must be a JSON array"),
        (["add"], "operation 0 must be an object"),
        ([{"path": "/a"}], "unknown op"),
        ([{"op": "frobnicate", "path": "/a"}], "unknown op"),
        ([{"op": "add", "value": 1}], 'missing "path"'),
        ([{"op": "add", "path": "/a"}], 'missing "value"'),
        ([{"op": "replace", "path": "/a"}], 'missing "value"'),
        ([{"op": "test", "path": "/a"}], 'missing "value"'),
        ([{"op": "move", "path": "/a"}], 'missing "from"'),
        ([{"op": "copy", "path": "/a", "from": 3}], "must be a string JSON pointer"),
        ([{"op": "remove", "path": "a"}], 'must start with "/"'),
        ([{"op": "remove", "path": "/a~2"}], 'invalid "~" escape'),
        ([{"op": "remove", "path": 7}], "must be a string JSON pointer"),
    ],
)
def test_malformed_operation_lists_are_400(ops: Any, fragment: str) -> None:
    err = _status(json_patch, {"a": 1}, ops)
    assert (err.code, err.reason) == (400, "BadRequest")
    assert fragment in err.message


def test_malformed_operation_anywhere_rejects_the_whole_patch_before_applying() -> None:
    doc = {"a": 1}
    err = _status(json_patch, doc, [{"op": "remove", "path": "/a"}, {"op": "nope", "path": "/a"}])
    assert err.code == 400
    assert doc == {"a": 1}


def test_json_patch_values_are_copied_not_aliased() -> None:
    value = {"k": [1]}
    ops = [{"op": "add", "path": "/v", "value": value}]
    result = json_patch({}, ops)
    result["v"]["k"].append(2)
    assert value == {"k": [1]}
    assert ops[0]["value"] is value


_segments = st.sampled_from(["a", "b", "0", "1", "2", "-", "~0", "~1", "01", "", "~"])
_pointers = st.lists(_segments, max_size=3).map(lambda s: "".join("/" + x for x in s)) | st.text(
    alphabet="/a0~-", max_size=5
)
_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={"path": _pointers | json_values, "from": _pointers, "value": json_values},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.lists(_ops, max_size=4) | json_values)
def test_json_patch_fails_only_with_status_errors_and_never_mutates(doc: Any, ops: Any) -> None:
    doc_before, ops_before = copy.deepcopy(doc), copy.deepcopy(ops)
    try:
        json_patch(doc, ops)
    except StatusError as err:
        assert err.code in (400, 422)
    assert doc == doc_before
    assert ops == ops_before


@settings(max_examples=150, deadline=None)
@given(json_objects, st.sampled_from(["a", "b", "~", "/"]), json_values)
def test_add_then_test_then_remove_restores_a_missing_member(
    doc: dict[str, Any], key: str, value: Any
) -> None:
    doc.pop(key, None)
    path = "/" + key.replace("~", "~0").replace("/", "~1")
    added = json_patch(doc, [{"op": "add", "path": path, "value": value}])
    assert json_patch(added, [{"op": "test", "path": path, "value": value}]) == added
    assert json_patch(added, [{"op": "remove", "path": path}]) == doc


# ---------------------------------------------------------------------------------------
# Strategic merge patch: what kubectl and the Python client send
# ---------------------------------------------------------------------------------------


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "fe"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "old\n",
                "deployment.kubernetes.io/revision": "1",
            },
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "restartPolicy": "Always",
                },
            },
        },
        "status": {
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True"},
            ]
        },
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_kubectl_apply_patch_updates_image_and_env_and_keeps_the_rest() -> None:
    live = _deployment()
    del _containers(live)[1:]  # just nginx, as in the spec's example
    patch = {  # specs/k8s-api.md §4, as kubectl apply sends it
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new\n"}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"name": "A", "value": "2"}],
                            "image": "nginx:1.26",
                            "name": "nginx",
                        }
                    ],
                }
            },
        },
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "new\n",
        "deployment.kubernetes.io/revision": "1",
    }
    assert _containers(result) == [
        {
            "name": "nginx",
            "image": "nginx:1.26",
            "env": [{"name": "A", "value": "2"}, {"name": "C", "value": "3"}],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
        }
    ]
    assert result["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert result["spec"]["replicas"] == 2
    assert "$setElementOrder/containers" not in json.dumps(result)


def test_kubectl_apply_inserts_new_env_where_set_element_order_says() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                            "env": [{"name": "B", "value": "new"}],
                            "name": "nginx",
                        }
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    env = _containers(result)[0]["env"]
    assert [e["name"] for e in env] == ["A", "B", "C"]
    assert [c["name"] for c in _containers(result)] == ["nginx", "sidecar"]


def test_kubectl_apply_deletes_removed_containers_and_env_with_patch_delete() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}],
                            "env": [{"$patch": "delete", "name": "C"}],
                            "name": "nginx",
                        },
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [c["name"] for c in _containers(result)] == ["nginx"]
    assert _containers(result)[0]["env"] == [{"name": "A", "value": "1"}]


def test_kubectl_set_image_changes_one_container_in_place() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "nginx"}]}}}
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    before = _containers(_deployment())
    assert [c["name"] for c in _containers(result)] == ["nginx", "sidecar"]
    assert _containers(result)[0] == {**before[0], "image": "nginx:1.27"}
    assert _containers(result)[1] == before[1]


def test_kubectl_set_image_on_a_second_container_keeps_order() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"image": "busybox:2", "name": "sidecar"}]}}}
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [(c["name"], c["image"]) for c in _containers(result)] == [
        ("nginx", "nginx:1.25"),
        ("sidecar", "busybox:2"),
    ]


def test_rollout_restart_adds_a_template_annotation() -> None:
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"},
    }
    assert _containers(result) == _containers(_deployment())


def test_null_removes_a_label_and_ignores_absent_ones() -> None:
    patch = {"metadata": {"labels": {"tier": None, "never-there": None}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"app": "web"}


def test_finalizers_are_a_set() -> None:
    live = {"metadata": {"name": "w", "finalizers": ["a", "b", "c"]}}
    removed = strategic_merge_patch(
        live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    )
    assert removed["metadata"]["finalizers"] == ["a", "c"]
    again = strategic_merge_patch(live, {"metadata": {"finalizers": ["a", "c"]}})
    assert again["metadata"]["finalizers"] == ["a", "b", "c"]
    # without $setElementOrder, items new to a list land first, as in Kubernetes
    added = strategic_merge_patch(live, {"metadata": {"finalizers": ["d"]}})
    assert added["metadata"]["finalizers"] == ["d", "a", "b", "c"]
    applied = strategic_merge_patch(
        live,
        {
            "metadata": {
                "$setElementOrder/finalizers": ["a", "c", "d"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "finalizers": ["d"],
            }
        },
    )
    assert applied["metadata"]["finalizers"] == ["a", "c", "d"]
    cleared = strategic_merge_patch(live, {"metadata": {"finalizers": None}})
    assert "finalizers" not in cleared["metadata"]


def test_new_list_items_without_set_element_order_go_first_like_kubernetes() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "x"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [c["name"] for c in _containers(result)] == ["new", "nginx", "sidecar"]


def test_set_element_order_alone_reorders_the_live_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]}
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [c["name"] for c in _containers(result)] == ["sidecar", "nginx"]


def test_python_client_status_condition_patch_merges_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Available", "status": "True", "reason": None}]}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "True"},
    ]


def test_conditions_merge_by_type_anywhere_under_status_of_any_kind() -> None:
    live = {"status": {"nested": {"conditions": [{"type": "A", "status": "False"}]}}}
    patch = {"status": {"nested": {"conditions": [{"type": "B", "status": "True"}]}}}
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind("Widget"))
    assert result["status"]["nested"]["conditions"] == [
        {"type": "B", "status": "True"},
        {"type": "A", "status": "False"},
    ]
    # outside status, an untyped list is replaced
    replaced = strategic_merge_patch(
        {"spec": {"conditions": [{"type": "A"}]}}, {"spec": {"conditions": [{"type": "B"}]}}
    )
    assert replaced["spec"]["conditions"] == [{"type": "B"}]


def test_cronjob_pod_template_resolves_the_same_merge_keys() -> None:
    live = {
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                {"name": "b", "image": "b:1"},
                            ]
                        }
                    }
                }
            }
        }
    }
    patch = {
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]
                        }
                    }
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind("CronJob"))
    containers = result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {
            "name": "a",
            "image": "a:1",
            "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}],
        },
        {"name": "b", "image": "b:1"},
    ]


@pytest.mark.parametrize(
    "kind", ["ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController"]
)
def test_every_workload_kind_merges_template_containers_by_name(kind: str) -> None:
    live = {
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}}
    }
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}}
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind(kind))
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "1"},
        {"name": "b", "image": "2"},
    ]


def _pod() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                    "volumeMounts": [{"mountPath": "/data", "name": "data"}],
                    "volumeDevices": [{"devicePath": "/dev/x", "name": "blk"}],
                    "envFrom": [{"configMapRef": {"name": "one"}}],
                }
            ],
            "initContainers": [{"name": "init", "image": "i"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "reg"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
            "resourceClaims": [{"name": "gpu"}],
            "schedulingGates": [{"name": "wait"}],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "podIPs": [{"ip": "10.1.0.1"}],
        },
    }


@pytest.mark.parametrize(
    ("patch", "path", "expected"),
    [
        (
            {
                "spec": {
                    "containers": [
                        {"name": "c", "ports": [{"containerPort": 443, "name": "https"}]}
                    ]
                }
            },
            ("spec", "containers", 0, "ports"),
            [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}],
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "c", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}
                    ]
                }
            },
            ("spec", "containers", 0, "volumeMounts"),
            [{"mountPath": "/data", "name": "data", "readOnly": True}],
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "c", "volumeDevices": [{"devicePath": "/dev/y", "name": "b2"}]}
                    ]
                }
            },
            ("spec", "containers", 0, "volumeDevices"),
            [{"devicePath": "/dev/y", "name": "b2"}, {"devicePath": "/dev/x", "name": "blk"}],
        ),
        (
            {"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "two"}}]}]}},
            ("spec", "containers", 0, "envFrom"),
            [{"secretRef": {"name": "two"}}],
        ),
        (
            {"spec": {"initContainers": [{"name": "init", "image": "j"}]}},
            ("spec", "initContainers"),
            [{"name": "init", "image": "j"}],
        ),
        (
            {"spec": {"ephemeralContainers": [{"name": "debug2", "image": "b"}]}},
            ("spec", "ephemeralContainers"),
            [{"name": "debug2", "image": "b"}, {"name": "debug", "image": "busybox"}],
        ),
        (
            {"spec": {"volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}]}},
            ("spec", "volumes"),
            [{"name": "data", "emptyDir": {"medium": "Memory"}}],
        ),
        (
            {"spec": {"imagePullSecrets": [{"name": "reg2"}]}},
            ("spec", "imagePullSecrets"),
            [{"name": "reg2"}, {"name": "reg"}],
        ),
        (
            {"spec": {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}]}},
            ("spec", "hostAliases"),
            [{"ip": "10.0.0.1", "hostnames": ["b"]}],
        ),
        (
            {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
            ("spec", "tolerations"),
            [{"key": "b", "operator": "Exists"}],
        ),
        (
            {"spec": {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}]}},
            ("spec", "topologySpreadConstraints"),
            [{"topologyKey": "zone", "maxSkew": 2}],
        ),
        (
            {"spec": {"resourceClaims": [{"name": "fpga"}]}},
            ("spec", "resourceClaims"),
            [{"name": "fpga"}, {"name": "gpu"}],
        ),
        (
            {"spec": {"schedulingGates": [{"$patch": "delete", "name": "wait"}]}},
            ("spec", "schedulingGates"),
            [],
        ),
        (
            {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}},
            ("metadata", "ownerReferences"),
            [{"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}],
        ),
        (
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            ("status", "conditions"),
            [{"type": "Ready", "status": "True"}],
        ),
        (
            {"status": {"podIPs": [{"ip": "fd00::1"}]}},
            ("status", "podIPs"),
            [{"ip": "fd00::1"}, {"ip": "10.1.0.1"}],
        ),
    ],
)
def test_pod_merge_keys(patch: dict[str, Any], path: tuple[Any, ...], expected: Any) -> None:
    node: Any = strategic_merge_patch(_pod(), patch, POD)
    for part in path:
        node = node[part]
    assert node == expected


def test_service_ports_merge_by_port() -> None:
    live = {
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}], "selector": {"a": "b"}}
    }
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind("Service"))
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_merge_keys_compare_as_json_numbers() -> None:
    live = {"spec": {"ports": [{"port": 80.0, "name": "a"}]}}
    result = strategic_merge_patch(
        live,
        {"spec": {"ports": [{"port": 80, "name": "b"}]}},
        STRATEGIC_MERGE_KEYS.for_kind("Service"),
    )
    assert result["spec"]["ports"] == [{"port": 80.0, "name": "b"}]


def test_node_status_addresses_and_conditions_merge_by_type() -> None:
    live = {
        "spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": "n1"},
            ],
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "MemoryPressure", "status": "False"},
            ],
        },
    }
    patch = {
        "spec": {"podCIDRs": ["fd00::/64"], "taints": []},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind("Node"))
    assert result["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.2"},
        {"type": "Hostname", "address": "n1"},
    ]
    assert result["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert result["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]
    assert result["spec"]["taints"] == []


def test_service_account_secrets_merge_by_name() -> None:
    live = {"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "x"}]}
    patch = {"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "y"}]}
    result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.for_kind("ServiceAccount"))
    assert result == {
        "secrets": [{"name": "b"}, {"name": "a"}],
        "imagePullSecrets": [{"name": "y"}],
    }


# ---------------------------------------------------------------------------------------
# Strategic merge patch: directives
# ---------------------------------------------------------------------------------------


def test_patch_replace_on_a_map_replaces_it() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"only": "this"}


def test_patch_delete_on_a_map_removes_it() -> None:
    result = strategic_merge_patch(
        _deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, DEPLOYMENT
    )
    assert "strategy" not in result["spec"]
    assert strategic_merge_patch({"a": 1}, {"$patch": "delete"}) == {}


def test_patch_merge_on_a_map_is_the_default_merge() -> None:
    result = strategic_merge_patch({"m": {"a": 1}}, {"m": {"$patch": "merge", "b": 2}}, UNTYPED)
    assert result == {"m": {"a": 1, "b": 2}}


def test_patch_replace_element_replaces_the_whole_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result) == [{"name": "only", "image": "x"}]


def test_patch_replace_on_a_keyed_element_replaces_just_that_element() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace", "name": "nginx", "image": "n"}]}
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result) == [
        {"name": "nginx", "image": "n"},
        {"name": "sidecar", "image": "busybox"},
    ]


def test_patch_replace_element_on_a_primitive_set() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    result = strategic_merge_patch(live, {"metadata": {"finalizers": [{"$patch": "replace"}, "c"]}})
    assert result["metadata"]["finalizers"] == ["c"]


def test_retain_keys_clears_the_fields_not_retained() -> None:
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_new_values_are_cleaned_of_nulls_and_directives() -> None:
    live = {"metadata": {"name": "x"}}
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [
                        {"name": "a", "image": None, "env": [{"name": "E", "value": None}]},
                        {"$patch": "delete", "name": "gone"},
                    ],
                }
            },
            "selector": {"matchLabels": {"a": "b", "c": None}},
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result == {
        "metadata": {"name": "x"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "env": [{"name": "E"}]}]}},
            "selector": {"matchLabels": {"a": "b"}},
        },
    }


def test_type_changes_take_the_patch_value() -> None:
    assert strategic_merge_patch({"a": [1]}, {"a": {"b": 1, "c": None}}, UNTYPED) == {"a": {"b": 1}}
    assert strategic_merge_patch({"a": {"b": 1}}, {"a": [1]}, UNTYPED) == {"a": [1]}
    assert strategic_merge_patch({"a": {"b": 1}}, {"a": "s"}, UNTYPED) == {"a": "s"}


@pytest.mark.parametrize(
    ("patch", "code", "fragment"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            400,
            "merge key: name",
        ),
        ({"spec": {"template": {"spec": {"containers": ["nginx"]}}}}, 400, "merge key name"),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}},
            400,
            "merge key: name",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "bogus"}]}}}},
            400,
            "unknown patch type",
        ),
        ({"metadata": {"$patch": "bogus"}}, 400, "unknown patch type"),
        ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, 400, "retainKeys"),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, 400, "retainKeys"),
        ({"metadata": {"$setElementOrder/finalizers": "a"}}, 400, "$setElementOrder/finalizers"),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            400,
            "$deleteFromPrimitiveList",
        ),
        ({"metadata": {"finalizers": [["a"]]}}, 422, "lists of lists"),
        ({"metadata": {"finalizers": [{"a": 1}]}}, 400, "not identical"),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                            "containers": [{"name": "a"}, {"name": "b"}],
                        }
                    }
                }
            },
            400,
            "doesn't match $setElementOrder",
        ),
        (
            {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}}},
            400,
            "without merge key name",
        ),
    ],
)
def test_malformed_strategic_patches_are_rejected(
    patch: dict[str, Any], code: int, fragment: str
) -> None:
    err = _status(strategic_merge_patch, _deployment(), patch, DEPLOYMENT)
    assert err.code == code
    assert fragment in err.message


def test_a_strategic_patch_must_be_an_object() -> None:
    for patch in ([], "x", None, 3):
        assert _status(strategic_merge_patch, {}, patch).code == 400


def test_strategic_merge_never_mutates_and_shares_nothing() -> None:
    live, patch = (
        _deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "x", "env": [{"name": "E"}]}]}}}},
    )
    live_before, patch_before = copy.deepcopy(live), copy.deepcopy(patch)
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert (live, patch) == (live_before, patch_before)
    for container in _containers(result):
        container["mutated"] = True
        container.setdefault("env", []).append({"name": "Z"})
    result["metadata"]["labels"]["z"] = "z"
    assert (live, patch) == (live_before, patch_before)


# ---------------------------------------------------------------------------------------
# Strategic merge patch: properties
# ---------------------------------------------------------------------------------------

_plain_keys = st.sampled_from(["a", "b", "c", "d"])
_plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=2),
    # lists hold no objects: the only place the two algorithms differ is null-cleaning
    # inside objects of replaced lists
    lambda inner: (
        st.lists(inner.filter(lambda v: not isinstance(v, dict)), max_size=3)
        | st.dictionaries(_plain_keys, inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_plain_keys, _plain_values, max_size=4),
    st.dictionaries(_plain_keys, _plain_values, max_size=4),
)
def test_untyped_strategic_merge_equals_json_merge_patch(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert strategic_merge_patch(target, patch, UNTYPED) == json_merge_patch(target, patch)


_smp_keys = st.sampled_from(
    [
        "name",
        "image",
        "env",
        "value",
        "$patch",
        "$retainKeys",
        "$setElementOrder/env",
        "$deleteFromPrimitiveList/env",
        "$setElementOrder/containers",
        "containers",
        "finalizers",
    ]
)
_smp_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(0, 2)
    | st.sampled_from(["a", "b", "replace", "delete", "merge"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_smp_keys, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(_smp_keys, _smp_values, max_size=4),
    st.dictionaries(_smp_keys, _smp_values, max_size=4),
    st.sampled_from(["PodTemplateSpec", "PodSpec", "Container", "ObjectMeta", "Status", ""]),
)
def test_strategic_merge_fails_only_with_status_errors_and_never_mutates(
    live: dict[str, Any], patch: dict[str, Any], struct: str
) -> None:
    live_before, patch_before = copy.deepcopy(live), copy.deepcopy(patch)
    try:
        result = strategic_merge_patch(live, patch, STRATEGIC_MERGE_KEYS.struct(struct))
    except StatusError as err:
        assert err.code in (400, 422)
    else:
        assert isinstance(result, dict)
    assert live == live_before
    assert patch == patch_before


_names = st.sampled_from(["a", "b", "c", "d"])
_env = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["X", "Y", "Z"]), "value": st.sampled_from(["1", "2"])}
    ),
    max_size=3,
    unique_by=lambda e: e["name"],
)
_container = st.fixed_dictionaries(
    {"name": _names}, optional={"image": st.sampled_from(["i1", "i2"]), "env": _env}
)
_container_list = st.lists(_container, max_size=4, unique_by=lambda c: c["name"])


@settings(max_examples=200, deadline=None)
@given(_container_list, _container_list)
def test_container_patches_are_idempotent(
    live: list[dict[str, Any]], patch: list[dict[str, Any]]
) -> None:
    pod = {"spec": {"containers": live}}
    body = {"spec": {"containers": patch}}
    once = strategic_merge_patch(pod, body, POD)
    assert strategic_merge_patch(once, body, POD) == once
    names = [c["name"] for c in once["spec"]["containers"]]
    assert sorted(names) == sorted({c["name"] for c in live + patch})


@settings(max_examples=200, deadline=None)
@given(_container_list, _container_list)
def test_set_element_order_makes_the_result_follow_the_applied_order(
    live: list[dict[str, Any]], desired: list[dict[str, Any]]
) -> None:
    """kubectl apply: the patch names every desired container; the result's order of
    those containers is exactly the desired order."""
    gone = [
        {"$patch": "delete", "name": c["name"]}
        for c in live
        if c["name"] not in {d["name"] for d in desired}
    ]
    body = {
        "spec": {
            "$setElementOrder/containers": [{"name": c["name"]} for c in desired],
            "containers": desired + gone,
        }
    }
    result = strategic_merge_patch({"spec": {"containers": live}}, body, POD)
    assert [c["name"] for c in result["spec"]["containers"]] == [c["name"] for c in desired]


# ---------------------------------------------------------------------------------------
# Merge key table
# ---------------------------------------------------------------------------------------


def test_merge_key_table_rejects_undefined_struct_types() -> None:
    with pytest.raises(ValueError, match="Nope"):
        MergeKeyTable({"Root": {"x": FieldPatch("Nope")}}, {"Kind": "Root"})
    with pytest.raises(ValueError, match="Missing"):
        MergeKeyTable({"Root": {}}, {"Kind": "Missing"})
    with pytest.raises(KeyError):
        STRATEGIC_MERGE_KEYS.struct("Nope")


def test_merge_key_table_resolves_fields_through_the_type_graph() -> None:
    _, spec = DEPLOYMENT.field("spec")
    assert spec.name == "WorkloadSpec"
    _, template = spec.field("template")
    _, pod_spec = template.field("spec")
    containers, container = pod_spec.field("containers")
    assert (containers.merge_key, containers.strategy, container.name) == (
        "name",
        MERGE,
        "Container",
    )
    env, _ = container.field("env")
    assert env.merge_key == "name"
    untyped, nothing = container.field("command")
    assert (untyped, nothing.name) == (FieldPatch(), "")
    conditions, _ = (
        STRATEGIC_MERGE_KEYS.for_kind("Anything")
        .field("status")[1]
        .field("deep")[1]
        .field("conditions")
    )
    assert conditions.merge_key == "type"


def test_every_kind_has_a_defined_root() -> None:
    for kind, root in KINDS.items():
        assert root in STRUCTS, kind
        assert STRATEGIC_MERGE_KEYS.for_kind(kind).name == root
    assert STRATEGIC_MERGE_KEYS.for_kind("Widget").name == "Object"


# ---------------------------------------------------------------------------------------
# apply_patch dispatch
# ---------------------------------------------------------------------------------------


def test_apply_patch_dispatches_on_content_type() -> None:
    live = {
        "metadata": {"name": "w", "labels": {"a": "1"}},
        "spec": {"containers": [{"name": "c"}]},
    }
    merged = apply_patch(MERGE_PATCH, live, b'{"spec":{"containers":[{"name":"d"}]}}', POD)
    assert merged["spec"]["containers"] == [{"name": "d"}]
    strategic = apply_patch(
        STRATEGIC_MERGE_PATCH + "; charset=utf-8",
        live,
        '{"spec":{"containers":[{"name":"d"}]}}',
        POD,
    )
    assert strategic["spec"]["containers"] == [{"name": "d"}, {"name": "c"}]
    patched = apply_patch(JSON_PATCH, live, [{"op": "remove", "path": "/metadata/labels/a"}], None)
    assert patched["metadata"]["labels"] == {}
    assert live["metadata"]["labels"] == {"a": "1"}


def test_strategic_merge_on_a_custom_resource_is_415() -> None:
    err = _status(apply_patch, STRATEGIC_MERGE_PATCH, {}, b"{}", None)
    assert (err.code, err.reason) == (415, "UnsupportedMediaType")
    assert err.message.endswith(
        "accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml"
    )


def test_unknown_patch_content_type_is_415_listing_strategic_for_built_ins() -> None:
    err = _status(apply_patch, "application/json", {}, b"{}", POD)
    assert err.code == 415
    assert "application/strategic-merge-patch+json" in err.message


def test_server_side_apply_body_merges_strategically_or_as_merge_patch() -> None:
    live = {"metadata": {"name": "w"}, "spec": {"containers": [{"name": "c", "image": "1"}]}}
    body = b'{"spec":{"containers":[{"name":"c","image":"2"}]}}'
    assert apply_patch(APPLY_PATCH, live, body, POD)["spec"]["containers"] == [
        {"name": "c", "image": "2"}
    ]
    cr = apply_patch(APPLY_PATCH, {"spec": {"size": 1, "x": 1}}, "spec:\n  size: 5\n", None)
    assert cr == {"spec": {"size": 5, "x": 1}}


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        (JSON_PATCH, b"[{", "error decoding patch"),
        (MERGE_PATCH, b"NaN", "error decoding patch"),
        (MERGE_PATCH, b"[1]", "a merge patch must be a JSON object"),
        (STRATEGIC_MERGE_PATCH, b"\xff", "error decoding patch"),
        (JSON_PATCH, b'[{"op":"replace","path":"","value":3}]', "must be a JSON object"),
        (APPLY_PATCH, b"- a\n- b\n", "apply configuration must be an object"),
        (APPLY_PATCH, b"a: [\n", "error decoding YAML patch"),
    ],
)
def test_bad_bodies_are_400(content_type: str, body: bytes, fragment: str) -> None:
    err = _status(apply_patch, content_type, {"a": 1}, body, POD)
    assert err.code == 400
    assert fragment in err.message


def test_deeply_nested_input_is_a_400_not_a_crash() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    assert _status(json_merge_patch, {}, deep).code == 400
    assert _status(strategic_merge_patch, {}, deep).code == 400


def test_a_kind_name_selects_the_same_merge_keys_as_its_schema() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "n:2"}]}}}}
    by_name = strategic_merge_patch(_deployment(), patch, "Deployment")
    assert by_name == strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [c["name"] for c in _containers(by_name)] == ["nginx", "sidecar"]
    via_dispatch = apply_patch(STRATEGIC_MERGE_PATCH, _deployment(), patch, "Deployment")
    assert via_dispatch == by_name
    scale = {"kind": "Scale", "spec": {"replicas": 1}, "status": {"replicas": 1}}
    scaled = apply_patch(STRATEGIC_MERGE_PATCH, scale, b'{"spec":{"replicas":3}}', "Scale")
    assert scaled["spec"] == {"replicas": 3}
