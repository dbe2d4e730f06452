"""Field ownership as kube's structured-merge-diff keeps it (specs/k8s-api.md §4):
field sets and their FieldsV1 form, merging by list keys, pruning what an applier
stopped specifying, conflicts, forced takeover and Update entries."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeedge.api import managedfields as mf
from kubeedge.api.schema import builtin_schema_name

DEPLOYMENT = mf.builtin_shape(builtin_schema_name("apps", "v1", "Deployment"))
CONFIGMAP = mf.builtin_shape(builtin_schema_name("", "v1", "ConfigMap"))
SERVICE = mf.builtin_shape(builtin_schema_name("", "v1", "Service"))
T0, T1, T2 = "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", "2025-01-01T00:00:02Z"


def deployment(**spec: Any) -> dict[str, Any]:
    container = {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
    base: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [container]}},
        },
    }
    base["spec"].update(spec)
    return base


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def fields_of(entries: list[dict[str, Any]], manager: str, operation: str = "Apply",
              subresource: str = "") -> dict[str, Any] | None:
    for e in entries:
        if (e["manager"], e["operation"], e.get("subresource", "")) == (
                manager, operation, subresource):
            return e["fieldsV1"]
    return None


def applied(live: dict[str, Any] | None, config: dict[str, Any], manager: str = "kubectl",
            *, force: bool = False, now: str = T1, shape: mf.Shape = DEPLOYMENT,
            api_version: str = "apps/v1", **kw: Any) -> dict[str, Any]:
    """Apply and return the stored object (managedFields inside)."""
    result = mf.apply(live, config, manager=manager, api_version=api_version, shape=shape,
                      now=now, force=force, **kw)
    obj = copy.deepcopy(result.obj)
    obj.setdefault("metadata", {})["managedFields"] = result.managed_fields
    return obj


def updated(live: dict[str, Any] | None, new: dict[str, Any], manager: str, *,
            now: str = T2, shape: mf.Shape = DEPLOYMENT, api_version: str = "apps/v1",
            **kw: Any) -> dict[str, Any]:
    new = copy.deepcopy(new)
    new.setdefault("metadata", {})["managedFields"] = mf.update(
        live, new, manager=manager, api_version=api_version, shape=shape, now=now, **kw)
    return new


# --- field sets and FieldsV1 ---------------------------------------------------------


def test_fieldset_of_a_deployment_config_serializes_like_kube() -> None:
    fields = mf.fields_v1(mf.fieldset(deployment(), DEPLOYMENT))
    assert fields == {
        "f:apiVersion": {},
        "f:kind": {},
        "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                        ".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }
    # kube's key order: "." first, then field names, keys, values, each sorted
    assert list(fields["f:spec"]) == ["f:replicas", "f:selector", "f:template"]


def test_ports_are_keyed_by_container_port_and_protocol() -> None:
    config = deployment()
    containers(config)[0]["ports"] = [{"containerPort": 443, "protocol": "UDP"},
                                      {"containerPort": 80}]
    ports = mf.fields_v1(mf.fieldset(config, DEPLOYMENT))["f:spec"]["f:template"]["f:spec"][
        "f:containers"]['k:{"name":"nginx"}']["f:ports"]
    assert list(ports) == ['k:{"containerPort":80,"protocol":"TCP"}',
                           'k:{"containerPort":443,"protocol":"UDP"}']


def test_finalizers_are_a_set_of_values() -> None:
    config = {"metadata": {"finalizers": ["b.io/x", "a.io/y"]}}
    assert mf.fields_v1(mf.fieldset(config, CONFIGMAP)) == {
        "f:metadata": {"f:finalizers": {'v:"a.io/y"': {}, 'v:"b.io/x"': {}}}}


def test_nested_maps_own_their_keys_and_empty_maps_and_atomic_lists_are_leaves() -> None:
    config = deployment()
    containers(config)[0].update({"resources": {}, "args": ["-v", "2"],
                                  "env": [{"name": "A", "value": "1"}]})
    config["metadata"]["annotations"] = {"a.io/b": "x"}
    fields = mf.fields_v1(mf.fieldset(config, DEPLOYMENT))
    assert fields["f:metadata"]["f:annotations"] == {"f:a.io/b": {}}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container["f:resources"] == {} and container["f:args"] == {}
    assert container["f:env"] == {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}


def test_service_ports_are_keyed_by_port_and_protocol() -> None:
    config = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    assert mf.fields_v1(mf.fieldset(config, SERVICE)) == {"f:spec": {"f:ports": {
        'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:targetPort": {}}}}}


def test_item_without_its_key_cannot_be_placed() -> None:
    config = deployment()
    del containers(config)[0]["name"]
    with pytest.raises(mf.FieldPathError, match="omits all key fields"):
        mf.fieldset(config, DEPLOYMENT)


def test_fields_v1_round_trip_canonicalizes_keys() -> None:
    sent = {"f:spec": {"f:ports": {'k:{"protocol":"TCP", "containerPort":80.0}': {
        ".": {}, "f:containerPort": {}}}}, "x:unknown": {}}
    paths = mf.parse_fields_v1(sent)
    assert paths == {
        ("f:spec", "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:containerPort"),
    }
    assert mf.parse_fields_v1(mf.fields_v1(paths)) == paths


@pytest.mark.parametrize("bad", [
    {"f:spec": 1}, {"k:[1]": {}}, {"v:nope": {}}, {"i:x": {}}, {"fspec": {}}, [],
])
def test_malformed_fields_v1_is_refused(bad: Any) -> None:
    with pytest.raises(mf.FieldPathError):
        mf.parse_fields_v1(bad)


def test_path_strings_print_like_kube() -> None:
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}',
            "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:containerPort")
    assert mf.path_string(path) == (
        '.spec.template.spec.containers[name="nginx"]'
        '.ports[containerPort=80,protocol="TCP"].containerPort')
    assert mf.path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'


def test_custom_resource_schema_gives_list_map_keys_and_key_defaults() -> None:
    shape = mf.custom_resource_shape({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {
            "size": {"type": "integer"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name", "proto"],
                      "items": {"type": "object", "properties": {
                          "name": {"type": "string"},
                          "proto": {"type": "string", "default": "TCP"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set",
                     "items": {"type": "string"}},
            "blob": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }}}})
    config = {"apiVersion": "x/v1", "kind": "Gadget",
              "metadata": {"name": "g", "labels": {"a": "b"}},
              "spec": {"size": 1, "ports": [{"name": "http"}], "tags": ["t"],
                       "blob": {"any": {"thing": 1}}}}
    assert mf.fields_v1(mf.fieldset(config, shape))["f:spec"] == {
        "f:blob": {"f:any": {".": {}, "f:thing": {}}},
        "f:ports": {'k:{"name":"http","proto":"TCP"}': {".": {}, "f:name": {}}},
        "f:size": {},
        "f:tags": {'v:"t"': {}},
    }


def test_schemaless_custom_resource_owns_every_key_as_a_member() -> None:
    shape = mf.custom_resource_shape(None)
    assert mf.fields_v1(mf.fieldset({"spec": {"x": 1}}, shape)) == {
        "f:spec": {".": {}, "f:x": {}}}


def test_manager_from_user_agent_takes_the_program_name() -> None:
    assert mf.manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == (
        "kubectl")
    assert mf.manager_from_user_agent("kube\x00ctl") == "kubectl"
    assert len(mf.manager_from_user_agent("x" * 300)) == 128


# --- merge ----------------------------------------------------------------------------


@pytest.mark.parametrize(("live", "config", "merged"), [
    (["a", "b", "c"], ["c", "d"], ["a", "b", "c", "d"]),
    (["a", "b"], ["b", "a"], ["b", "a"]),
    (["x", "a", "y"], ["n", "a"], ["x", "n", "a", "y"]),
    ([], ["a"], ["a"]),
])
def test_set_lists_merge_in_kubes_order(live: list[str], config: list[str],
                                         merged: list[str]) -> None:
    result = mf.merge({"metadata": {"finalizers": live}},
                      {"metadata": {"finalizers": config}}, CONFIGMAP)
    assert result["metadata"]["finalizers"] == merged


def test_keyed_items_merge_field_by_field_and_atomic_values_are_replaced() -> None:
    live = deployment()
    containers(live)[0].update({"args": ["a", "b"], "imagePullPolicy": "Always"})
    config = deployment()
    containers(config)[0].update({"args": ["c"], "image": "nginx:1.26"})
    del containers(config)[0]["ports"]
    [container] = containers(mf.merge(live, config, DEPLOYMENT))
    assert container == {"name": "nginx", "image": "nginx:1.26", "args": ["c"],
                         "imagePullPolicy": "Always", "ports": [{"containerPort": 80}]}


def test_duplicate_keys_in_an_applied_configuration_are_refused() -> None:
    config = deployment()
    containers(config).append(dict(containers(config)[0]))
    with pytest.raises(mf.FieldPathError, match="duplicate entries"):
        mf.apply(None, config, manager="m", api_version="apps/v1", shape=DEPLOYMENT, now=T0)


# --- apply: ownership, removal, conflicts ---------------------------------------------


def test_apply_create_owns_exactly_the_config_without_type_and_identity() -> None:
    obj = applied(None, deployment())
    [entry] = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time",
                                  "fieldsType")} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1"}
    assert "subresource" not in entry
    fields = entry["fieldsV1"]
    assert "f:apiVersion" not in fields and "f:kind" not in fields
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_reapply_without_a_field_or_item_removes_it() -> None:
    config = deployment()
    containers(config)[0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    containers(config).append({"name": "sidecar", "image": "busybox"})
    config["metadata"]["labels"]["team"] = "a"
    live = applied(None, config, now=T0)
    again = deployment()
    containers(again)[0]["env"] = [{"name": "B", "value": "2"}]
    obj = applied(live, again)
    assert [c["name"] for c in containers(obj)] == ["nginx"]
    assert containers(obj)[0]["env"] == [{"name": "B", "value": "2"}]
    assert obj["metadata"]["labels"] == {"app": "web"}
    fields = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert fields is not None
    assert list(fields["f:spec"]["f:template"]["f:spec"]["f:containers"]) == [
        'k:{"name":"nginx"}']
    assert obj["metadata"]["managedFields"][0]["time"] == T1


def test_removed_field_stays_while_another_applier_owns_it() -> None:
    live = applied(None, deployment(), now=T0)
    live = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web"}, "spec": {"replicas": 2}}, "other")
    config = deployment()
    del config["spec"]["replicas"]
    obj = applied(live, config, now=T2)
    assert obj["spec"]["replicas"] == 2
    kubectl = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert kubectl is not None and "f:replicas" not in kubectl["f:spec"]


def test_unowned_and_defaulted_fields_survive_pruning() -> None:
    live = applied(None, deployment(), now=T0)
    live["spec"]["progressDeadlineSeconds"] = 600  # a default: nobody owns it
    config = deployment()
    del config["spec"]["replicas"]
    obj = applied(live, config)
    assert "replicas" not in obj["spec"]
    assert obj["spec"]["progressDeadlineSeconds"] == 600


def test_conflict_names_the_manager_and_the_field() -> None:
    live = updated(None, deployment(), "kubectl-client-side-apply")
    with pytest.raises(mf.ApplyConflict) as err:
        mf.apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                        "spec": {"replicas": 3}},
                 manager="other", api_version="apps/v1", shape=DEPLOYMENT, now=T2)
    assert str(err.value) == ('Apply failed with 1 conflict: conflict with '
                              '"kubectl-client-side-apply" using apps/v1: .spec.replicas')
    status = mf.conflict_error(err.value).to_status()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["details"] == {"causes": [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
        "field": ".spec.replicas"}]}


def test_many_conflicts_are_grouped_by_manager() -> None:
    live = applied(None, deployment(), now=T0)
    live = updated(live, {**live, "metadata": {**live["metadata"],
                                                "labels": {"app": "web", "x": "1"}}},
                   "kubectl-label")
    config = deployment(replicas=9)
    config["metadata"]["labels"] = {"app": "other", "x": "2"}
    with pytest.raises(mf.ApplyConflict) as err:
        mf.apply(live, config, manager="b", api_version="apps/v1", shape=DEPLOYMENT, now=T2)
    assert str(err.value) == (
        "Apply failed with 3 conflicts: conflicts with \"kubectl\":\n"
        "- .metadata.labels.app\n- .spec.replicas\n"
        "conflicts with \"kubectl-label\" using apps/v1:\n- .metadata.labels.x")


def test_same_value_is_shared_without_conflict() -> None:
    live = applied(None, deployment(), now=T0)
    obj = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "spec": {"replicas": 2}}, "other")
    for manager in ("kubectl", "other"):
        fields = fields_of(obj["metadata"]["managedFields"], manager)
        assert fields is not None and "f:replicas" in fields["f:spec"]


def test_force_moves_the_field_to_the_applier() -> None:
    live = applied(None, deployment(), now=T0)
    obj = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "spec": {"replicas": 7}}, "other", force=True)
    assert obj["spec"]["replicas"] == 7
    assert fields_of(obj["metadata"]["managedFields"], "other") == {
        "f:spec": {"f:replicas": {}}}
    kubectl = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert kubectl is not None and "f:replicas" not in kubectl["f:spec"]
    # entries: Apply ones first, then by time
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["kubectl", "other"]


def test_applier_that_specifies_nothing_but_identity_has_no_entry() -> None:
    live = applied(None, deployment(), now=T0)
    obj = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web"}}, "nobody")
    assert fields_of(obj["metadata"]["managedFields"], "nobody") is None


def test_null_in_a_config_removes_the_value_but_conflicts_like_a_change() -> None:
    live = applied(None, deployment(), now=T0)
    with pytest.raises(mf.ApplyConflict):
        mf.apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                        "spec": {"replicas": None}},
                 manager="other", api_version="apps/v1", shape=DEPLOYMENT, now=T2)
    config = deployment(replicas=None)
    obj = applied(live, config)
    assert "replicas" not in obj["spec"]


def test_status_is_not_owned_through_the_main_resource() -> None:
    config = deployment()
    config["status"] = {"replicas": 3}
    obj = applied(None, config, ignored=frozenset({("f:status",)}))
    fields = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert fields is not None and "f:status" not in fields


def test_kubectl_upgrade_from_client_side_apply_takes_last_applied_fields() -> None:
    import json

    last = deployment()
    live = copy.deepcopy(last)
    live["metadata"]["annotations"] = {mf.LAST_APPLIED: json.dumps(last)}
    live = updated(None, live, "kubectl-client-side-apply")
    config = deployment(replicas=3)
    obj = applied(live, config)
    assert obj["spec"]["replicas"] == 3
    assert json.loads(obj["metadata"]["annotations"][mf.LAST_APPLIED])["spec"]["replicas"] == 3
    # another manager gets no such pass
    with pytest.raises(mf.ApplyConflict):
        mf.apply(live, config, manager="other", api_version="apps/v1", shape=DEPLOYMENT,
                 now=T2)


def test_first_apply_to_an_untracked_object_meets_before_first_apply() -> None:
    live = deployment()  # stored without managedFields
    with pytest.raises(mf.ApplyConflict, match=re.escape(
            'conflict with "before-first-apply" using apps/v1: .spec.replicas')):
        mf.apply(live, deployment(replicas=3), manager="kubectl", api_version="apps/v1",
                 shape=DEPLOYMENT, now=T1)
    obj = applied(live, deployment())
    assert [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]] == [
        ("kubectl", "Apply"), ("before-first-apply", "Update")]


# --- update: create, update, patch, scale ---------------------------------------------


def test_create_entry_marks_added_maps_like_kube() -> None:
    obj = updated(None, deployment(), "kubectl-create")
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["time"]) == (
        "kubectl-create", "Update", T2)
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "." not in fields["f:spec"] and "." not in fields["f:spec"]["f:template"]
    spec = fields["f:spec"]["f:template"]["f:spec"]
    assert "." not in spec["f:containers"]  # a required list: present in the zero value
    assert spec["f:containers"]['k:{"name":"nginx"}']["f:ports"]["."] == {}


def test_update_takes_changed_fields_from_an_applier_without_conflict() -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 5
    obj = updated(live, new, "kubectl", subresource="scale")
    assert fields_of(obj["metadata"]["managedFields"], "kubectl", "Update", "scale") == {
        "f:spec": {"f:replicas": {}}}
    kubectl = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert kubectl is not None and "f:replicas" not in kubectl["f:spec"]


def test_update_records_only_what_changed_and_merges_with_its_earlier_entry() -> None:
    live = updated(None, deployment(), "kubectl-create", now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["tier"] = "fe"
    once = updated(live, new, "kubectl-label", now=T1)
    assert fields_of(once["metadata"]["managedFields"], "kubectl-label", "Update") == {
        "f:metadata": {"f:labels": {"f:tier": {}}}}
    again = copy.deepcopy(once)
    again["metadata"]["labels"]["zone"] = "b"
    twice = updated(once, again, "kubectl-label", now=T2)
    assert fields_of(twice["metadata"]["managedFields"], "kubectl-label", "Update") == {
        "f:metadata": {"f:labels": {"f:tier": {}, "f:zone": {}}}}


def test_removed_fields_leave_every_entry() -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    del new["spec"]["replicas"]
    obj = updated(live, new, "kubectl-edit")
    kubectl = fields_of(obj["metadata"]["managedFields"], "kubectl")
    assert kubectl is not None and "f:replicas" not in kubectl["f:spec"]
    assert fields_of(obj["metadata"]["managedFields"], "kubectl-edit", "Update") is None


def test_a_write_that_changes_nothing_keeps_managed_fields_stable() -> None:
    live = applied(None, deployment(), now=T0)
    obj = updated(live, copy.deepcopy(live), "kubectl-edit")
    assert obj["metadata"]["managedFields"] == live["metadata"]["managedFields"]


@pytest.mark.parametrize("reset", [[], [{}]])
def test_client_can_reset_managed_fields(reset: list[Any]) -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = reset
    assert updated(live, new, "kubectl-replace")["metadata"]["managedFields"] == []


@pytest.mark.parametrize("sent", [
    [{"manager": "x", "operation": "Bogus", "apiVersion": "v1", "fieldsType": "FieldsV1"}],
    [{"manager": "x", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
      "fieldsV1": {"f:spec": 3}}],
    "not a list",
])
def test_malformed_managed_fields_from_a_client_fall_back_to_the_live_ones(sent: Any) -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = sent
    assert updated(live, new, "kubectl-edit")["metadata"]["managedFields"] == (
        live["metadata"]["managedFields"])


def test_client_sent_managed_fields_replace_ownership() -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{
        "manager": "mine", "operation": "Apply", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    entries = updated(live, new, "kubectl-edit")["metadata"]["managedFields"]
    assert [e["manager"] for e in entries] == ["mine"]


def test_a_subresource_write_ignores_managed_fields_it_was_sent() -> None:
    live = applied(None, deployment(), now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = []
    new["status"] = {"replicas": 1}
    entries = updated(live, new, "kubelet", subresource="status",
                      ignored=frozenset({("f:spec",), ("f:metadata",)}))["metadata"][
        "managedFields"]
    assert fields_of(entries, "kubectl") == fields_of(live["metadata"]["managedFields"],
                                                      "kubectl")
    assert fields_of(entries, "kubelet", "Update", "status") == {
        "f:status": {".": {}, "f:replicas": {}}}


def test_update_entries_are_capped_at_ten() -> None:
    obj = updated(None, {"metadata": {"name": "c"}, "data": {"k0": "0"}}, "m0",
                  now="2025-01-01T00:00:00Z", shape=CONFIGMAP, api_version="v1")
    for i in range(1, 12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = str(i)
        obj = updated(obj, new, f"m{i}", now=f"2025-01-01T00:00:{i:02d}Z", shape=CONFIGMAP,
                      api_version="v1")
    entries = obj["metadata"]["managedFields"]
    assert len(entries) == 10
    # the oldest three went into one bucket per version (kube's capManagers)
    ancient = fields_of(entries, "ancient-changes", "Update")
    assert ancient == {"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}}
    assert {e["manager"] for e in entries} == {"ancient-changes", *(f"m{i}" for i in
                                                                    range(3, 12))}


# --- properties -------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c", "d"])
_env = st.lists(st.fixed_dictionaries({"name": _names, "value": st.sampled_from(["1", "2"])}),
                max_size=3, unique_by=lambda e: e["name"])
_ports = st.lists(st.fixed_dictionaries({"containerPort": st.sampled_from([80, 443, 8080])}),
                  max_size=2, unique_by=lambda p: p["containerPort"])
_container = st.fixed_dictionaries(
    {"name": _names, "image": st.sampled_from(["nginx", "busybox"])},
    optional={"env": _env, "ports": _ports, "args": st.lists(_names, max_size=2)})


@st.composite
def _deployments(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["replicas"] = draw(st.integers(0, 5))
    spec["template"] = {"spec": {"containers": draw(
        st.lists(_container, min_size=1, max_size=3, unique_by=lambda c: c["name"]))}}
    md: dict[str, Any] = {"name": "web"}
    labels = draw(st.dictionaries(_names, st.sampled_from(["x", "y"]), max_size=3))
    if labels:
        md["labels"] = labels
    finalizers = draw(st.lists(st.sampled_from(["f/a", "f/b"]), max_size=2, unique=True))
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": md, "spec": spec}


def _subset(draw: st.DrawFn, value: Any, keep_keys: tuple[str, ...] = ()) -> Any:
    """A random part of a configuration: keys, list items and subtrees dropped."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            if key in keep_keys or draw(st.booleans()):
                out[key] = _subset(draw, child, ("name",))
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_subset(draw, item, ("name", "containerPort"))
                for item in value if draw(st.booleans())]
    return value


@st.composite
def _object_and_part(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    obj = draw(_deployments())
    part = _subset(draw, obj, ("apiVersion", "kind", "metadata"))
    part["metadata"]["name"] = "web"
    return obj, part


@settings(max_examples=150, deadline=None)
@given(_deployments(), _deployments())
def test_applying_the_same_config_twice_changes_nothing(live: dict[str, Any],
                                                        config: dict[str, Any]) -> None:
    first = applied(applied(None, live, "creator", now=T0), config, force=True, now=T1)
    second = mf.apply(first, config, manager="kubectl", api_version="apps/v1",
                      shape=DEPLOYMENT, now=T2, force=True)
    assert not second.changed
    assert second.managed_fields == first["metadata"]["managedFields"]
    expected = {k: v for k, v in first.items()}
    expected["metadata"] = {k: v for k, v in first["metadata"].items() if k != "managedFields"}
    assert second.obj == expected


def _covered(path: mf.Path, paths: frozenset[mf.Path]) -> bool:
    return any(p[: len(path)] == path for p in paths)


@settings(max_examples=150, deadline=None)
@given(_object_and_part())
def test_object_fieldset_contains_the_fieldset_of_any_part_applied(
        pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    obj, part = pair
    live = applied(None, obj, "creator", now=T0)
    result = mf.apply(live, part, manager="kubectl", api_version="apps/v1",
                      shape=DEPLOYMENT, now=T1)
    have = mf.fieldset(result.obj, DEPLOYMENT)
    wanted = mf.fieldset(part, DEPLOYMENT)
    assert all(_covered(p, have) for p in wanted), sorted(
        p for p in wanted if not _covered(p, have))
    # a part of what is there changes nothing and conflicts with nobody
    assert not result.changed
    mine = fields_of(result.managed_fields, "kubectl") or {}
    assert mf.parse_fields_v1(mine) == wanted - {
        ("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name")}


@settings(max_examples=100, deadline=None)
@given(_deployments(), _deployments())
def test_every_owned_field_exists_after_a_forced_apply(first: dict[str, Any],
                                                       second: dict[str, Any]) -> None:
    live = applied(None, first, "a", now=T0)
    obj = applied(live, second, "b", force=True, now=T1)
    have = mf.fieldset({k: v for k, v in obj.items()}, DEPLOYMENT)
    for entry in obj["metadata"]["managedFields"]:
        for path in mf.parse_fields_v1(entry["fieldsV1"]):
            assert _covered(path, have), (entry["manager"], path)
