"""Structural schemas of custom resources: validation, defaulting, pruning, CRD checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeedge.api.errors import invalid
from kubeedge.api.schema import CRSchema, structural_errors, validate_crd

WIDGET_CRD: dict[str, Any] = next(
    d
    for d in yaml.safe_load_all(Path(__file__).with_name("manifests.yaml").read_text())
    if d and d["kind"] == "CustomResourceDefinition"
)
WIDGET = CRSchema(WIDGET_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def widget(**spec: Any) -> dict[str, Any]:
    base = {"size": 3}
    base.update(spec)
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"},
        "spec": base,
    }


def messages(schema: CRSchema, obj: Any) -> list[str]:
    return [f"{c.field}: {c.message}" for c in schema.validate(obj)]


def S(**props: Any) -> CRSchema:
    return CRSchema(
        {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}
    )


def test_a_valid_widget_passes() -> None:
    assert WIDGET.validate(widget(color="green", port="http", labels={"a": "b"})) == []


def test_type_errors_are_worded_like_kube() -> None:
    causes = WIDGET.validate(widget(size="big"))
    assert len(causes) == 1
    cause = causes[0]
    assert cause.field == "spec.size"
    assert cause.reason == "FieldValueTypeInvalid"
    assert cause.message == (
        'Invalid value: "string": spec.size in body must be of type integer: "string"'
    )
    err = invalid("Widget.example.com", "w1", causes)
    assert err.message == (
        'Widget.example.com "w1" is invalid: spec.size: Invalid value: "string": '
        'spec.size in body must be of type integer: "string"'
    )
    assert messages(WIDGET, widget(port=1.5)) == [
        'spec.port: Invalid value: "number": spec.port in body must be of type '
        'integer,string: "number"'
    ]
    assert WIDGET.validate(widget(size=4.0)) == []  # an integral float is an integer
    assert messages(S(f={"type": "boolean"}), {"spec": {"f": "yes"}}) == [
        'spec.f: Invalid value: "string": spec.f in body must be of type boolean: "string"'
    ]
    assert messages(S(o={"type": "object"}), {"spec": {"o": []}}) == [
        'spec.o: Invalid value: "array": spec.o in body must be of type object: "array"'
    ]


def test_nullable() -> None:
    schema = S(a={"type": "string", "nullable": True}, b={"type": "string"})
    assert messages(schema, {"spec": {"a": None}}) == []
    assert messages(schema, {"spec": {"b": None}}) == [
        'spec.b: Invalid value: "null": spec.b in body must be of type string: "null"'
    ]


def test_required_and_enum() -> None:
    obj = widget()
    del obj["spec"]["size"]
    assert messages(WIDGET, obj) == ["spec.size: Required value"]
    assert WIDGET.validate(obj)[0].reason == "FieldValueRequired"
    del obj["spec"]
    assert messages(WIDGET, obj) == ["spec: Required value"]
    assert messages(WIDGET, widget(color="pink")) == [
        'spec.color: Unsupported value: "pink": supported values: "red", "green", "blue"'
    ]
    numbers = S(n={"type": "integer", "enum": [1, 2]})
    assert messages(numbers, {"spec": {"n": 3}}) == [
        'spec.n: Unsupported value: 3: supported values: "1", "2"'
    ]
    assert messages(numbers, {"spec": {"n": 2}}) == []


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        (
            {"type": "integer", "minimum": 1},
            0,
            "Invalid value: 0: spec.x in body should be greater than or equal to 1",
        ),
        (
            {"type": "integer", "maximum": 10},
            11,
            "Invalid value: 11: spec.x in body should be less than or equal to 10",
        ),
        (
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            0,
            "Invalid value: 0: spec.x in body should be greater than 0",
        ),
        (
            {"type": "number", "maximum": 1.5, "exclusiveMaximum": True},
            1.5,
            "Invalid value: 1.5: spec.x in body should be less than 1.5",
        ),
        (
            {"type": "integer", "multipleOf": 5},
            7,
            "Invalid value: 7: spec.x in body should be a multiple of 5",
        ),
        ({"type": "string", "maxLength": 3}, "abcd", "Too long: may not be more than 3 bytes"),
        (
            {"type": "string", "minLength": 2},
            "a",
            'Invalid value: "a": spec.x in body should be at least 2 chars long',
        ),
        (
            {"type": "string", "pattern": "^[a-z]+$"},
            "A1",
            "Invalid value: \"A1\": spec.x in body should match '^[a-z]+$'",
        ),
        (
            {"type": "string", "format": "date-time"},
            "yesterday",
            'Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday"',
        ),
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            ["a", "b"],
            "Too many: 2: must have at most 1 items",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 2},
            ["a"],
            "Invalid value: 1: spec.x in body should have at least 2 items",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            ["a", "a"],
            'Invalid value: "": spec.x in body shouldn\'t contain duplicates',
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
            {"a": "1", "b": "2"},
            "Too many: 2: must have at most 1 items",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
            {},
            "Invalid value: 0: spec.x in body should have at least 1 properties",
        ),
    ],
)
def test_value_validations(prop: dict[str, Any], value: Any, expected: str) -> None:
    assert messages(S(x=prop), {"spec": {"x": value}}) == [f"spec.x: {expected}"]


def test_value_validations_accept_good_values() -> None:
    schema = S(
        t={"type": "string", "format": "date-time"},
        u={"type": "string", "format": "uuid"},
        i={"type": "string", "format": "ipv4"},
        n={"type": "integer", "format": "int64", "minimum": 0, "maximum": 10},
        s={"type": "string", "maxLength": 3, "minLength": 1, "pattern": "^a"},
    )
    good = {
        "t": "2025-01-01T00:00:00Z",
        "u": "0b8f1c4e-2f11-4b3a-9f6e-1a2b3c4d5e6f",
        "i": "10.0.0.1",
        "n": 10,
        "s": "abc",
    }
    assert messages(schema, {"spec": good}) == []
    bad_ip = messages(schema, {"spec": {"i": "10.0.0.300"}})
    assert bad_ip == [
        'spec.i: Invalid value: "10.0.0.300": spec.i in body must be of type ipv4: "10.0.0.300"'
    ]


def test_nested_items_maps_and_list_types() -> None:
    assert messages(WIDGET, widget(items=[{"name": "ok"}, {"weight": 1}], labels={"a": 1})) == [
        "spec.items[1].name: Required value",
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type '
        'string: "integer"',
    ]
    assert messages(WIDGET, widget(items=[{"name": "a"}, {"name": "a"}])) == [
        'spec.items[1]: Duplicate value: map[string]interface {}{"name":"a"}'
    ]
    sets = S(tags={"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
    assert messages(sets, {"spec": {"tags": ["a", "b", "a"]}}) == [
        'spec.tags[2]: Duplicate value: "a"'
    ]


def test_combinators_and_forbidden_properties() -> None:
    schema = S(
        x={"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 3}]},
        y={
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": False,
        },
        z={"type": "string", "not": {"enum": ["no"]}},
    )
    assert messages(schema, {"spec": {"x": 4}}) == [
        "spec.x: Invalid value: 4: spec.x in body must validate one and only one schema (oneOf)"
    ]
    assert messages(schema, {"spec": {"x": 6, "z": "ok"}}) == []
    assert messages(schema, {"spec": {"z": "no"}}) == [
        'spec.z: Invalid value: "no": spec.z in body must not validate the schema (not)'
    ]
    assert messages(schema, {"spec": {"y": {"b": "1"}}}) == [
        'spec.y.b: Invalid value: "b": spec.y.b in body is a forbidden property'
    ]


def test_embedded_resources_need_apiversion_and_kind() -> None:
    assert messages(WIDGET, widget(template={"spec": {}})) == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]
    ok = widget(template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
    assert WIDGET.validate(ok) == []


def test_metadata_is_not_validated_by_the_schema() -> None:
    obj = widget()
    obj["metadata"] = {"name": "w1", "labels": {"a": "b"}}
    assert WIDGET.validate(obj) == []


# --- defaulting -----------------------------------------------------------------------------


def test_defaults_fill_missing_fields_of_existing_objects() -> None:
    obj = widget()
    WIDGET.default(obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["color"] == "red"
    assert "config" not in obj["spec"]  # a default inside an absent object is not applied
    obj = widget(config={}, color="blue")
    WIDGET.default(obj)
    assert obj["spec"]["config"] == {"mode": "fast"}
    assert obj["spec"]["color"] == "blue"


def test_defaults_replace_non_nullable_nulls_and_nulls_without_default_are_dropped() -> None:
    obj = widget(replicas=None, schedule=None, port=None)
    WIDGET.default(obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["schedule"] is None  # nullable: kept
    assert "port" not in obj["spec"]  # not nullable, no default: dropped


def test_defaults_apply_in_items_and_additional_properties_and_nest() -> None:
    schema = CRSchema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "list": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"p": {"type": "integer", "default": 80}},
                            },
                        },
                        "map": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {"on": {"type": "boolean", "default": True}},
                            },
                        },
                        "nested": {
                            "type": "object",
                            "default": {},
                            "properties": {"level": {"type": "string", "default": "info"}},
                        },
                    },
                }
            },
        }
    )
    obj: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "X", "metadata": {}}
    schema.default(obj)
    assert obj["spec"] == {"nested": {"level": "info"}}
    obj = {"spec": {"list": [{}, {"p": 1}], "map": {"a": {}, "b": {"on": False}}}}
    schema.default(obj)
    assert obj["spec"]["list"] == [{"p": 80}, {"p": 1}]
    assert obj["spec"]["map"] == {"a": {"on": True}, "b": {"on": False}}
    default = schema.schema["properties"]["spec"]["properties"]["nested"]["default"]
    assert default == {}  # defaults are copied, never aliased


# --- pruning --------------------------------------------------------------------------------


def test_prune_removes_unspecified_fields_and_reports_them() -> None:
    obj = widget(extra=1, items=[{"name": "a", "junk": True}])
    obj["status"] = {"phase": "Ready", "foo": 1}
    obj["top"] = 2
    obj["metadata"]["bogus"] = "x"
    assert WIDGET.prune(obj) == [
        "metadata.bogus",
        "spec.extra",
        "spec.items[0].junk",
        "status.foo",
        "top",
    ]
    assert obj == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"},
        "spec": {"size": 3, "items": [{"name": "a"}]},
        "status": {"phase": "Ready"},
    }


def test_prune_keeps_preserved_and_embedded_content() -> None:
    obj = widget(
        config={"mode": "slow", "anything": {"goes": [1]}},
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "x": 1}, "spec": {}},
        labels={"free": "form"},
    )
    before = copy.deepcopy(obj)
    assert WIDGET.prune(obj) == ["spec.template.metadata.x"]
    del before["spec"]["template"]["metadata"]["x"]
    assert obj == before


def test_schemaless_and_preserving_versions_keep_everything() -> None:
    for schema in (
        CRSchema(None),
        CRSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
    ):
        obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 1}}
        assert schema.prune(obj) == []
        assert obj["spec"] == {"a": 1}


def test_objects_without_properties_are_emptied() -> None:
    schema = S(o={"type": "object"})
    obj = {"spec": {"o": {"a": 1}}}
    assert schema.prune(obj) == ["spec.o.a"]
    assert obj == {"spec": {"o": {}}}


def test_unknown_fields_does_not_mutate() -> None:
    obj = widget(extra=1)
    obj["metadata"]["bogus"] = 1
    before = copy.deepcopy(obj)
    assert WIDGET.unknown_fields(obj) == ["metadata.bogus", "spec.extra"]
    assert obj == before


def test_admit_prunes_defaults_and_validates_in_order() -> None:
    obj = widget(extra=1)
    pruned, causes = WIDGET.admit(obj)
    assert pruned == ["spec.extra"]
    assert causes == []
    assert obj["spec"]["replicas"] == 1
    _, causes = WIDGET.admit(widget(size=0))
    assert [c.field for c in causes] == ["spec.size"]


# --- CRD acceptance -------------------------------------------------------------------------


def test_the_widget_crd_is_acceptable() -> None:
    assert validate_crd(WIDGET_CRD) == []


def _fields(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def test_structural_errors() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "properties": {
                    "list": {"type": "array"},
                    "items": {"type": "array", "items": {"properties": {}}},
                    "both": {
                        "type": "object",
                        "properties": {"a": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    },
                    "bad": {"type": "string", "pattern": "("},
                    "n": {"type": "integer", "default": "one"},
                    "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": False},
                },
            },
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        },
    }
    path = "spec.versions[0].schema.openAPIV3Schema"
    got = _fields(structural_errors(schema, path))
    p = f"{path}.properties[spec]"
    assert f"{p}.type: Required value: must not be empty for specified object fields" in got
    assert f"{p}.properties[list].items: Required value: must be specified" in got
    assert (
        f"{p}.properties[items].items.type: Required value: must not be empty for specified "
        "array items"
    ) in got
    assert (
        f"{p}.properties[both].additionalProperties: Forbidden: additionalProperties and "
        "properties are mutual exclusive"
    ) in got
    assert any(g.startswith(f"{p}.properties[bad].pattern: Invalid value") for g in got)
    assert (
        f'{p}.properties[n].default: Invalid value: "string": in body must be of type '
        'integer: "string"'
    ) in got
    assert (
        f"{p}.properties[keep].x-kubernetes-preserve-unknown-fields: Invalid value: false: "
        "must be true or undefined"
    ) in got
    assert (
        f"{path}.properties[metadata]: Forbidden: must not specify anything other than name "
        "and generateName, but metadata is implicitly specified"
    ) in got
    assert got == sorted(got)


def test_structural_errors_at_the_root() -> None:
    path = "spec.versions[0].schema.openAPIV3Schema"
    assert _fields(structural_errors({"type": "array", "items": {"type": "string"}}, path)) == [
        f'{path}.type: Invalid value: "array": must be object at the root'
    ]
    assert _fields(structural_errors({"properties": {}}, path)) == [
        f"{path}.type: Required value: must not be empty at the root"
    ]
    assert structural_errors({"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == []
    int_or_string = {
        "type": "object",
        "properties": {"p": {"x-kubernetes-int-or-string": True}},
    }
    assert structural_errors(int_or_string) == []


def test_validate_crd_basics() -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"]["name"] = "widgets"
    crd["spec"]["versions"][1]["storage"] = True
    del crd["spec"]["versions"][1]["schema"]
    crd["spec"]["scope"] = "Global"
    got = _fields(validate_crd(crd))
    assert (
        'metadata.name: Invalid value: "widgets": must be spec.names.plural+"."+spec.group' in got
    )
    assert (
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"' in got
    )
    assert "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required" in got
    assert any(
        g.startswith("spec.versions: Invalid value:")
        and g.endswith("must have exactly one version marked as storage version")
        for g in got
    )
