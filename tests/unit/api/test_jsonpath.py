"""JSONPath for CRD additionalPrinterColumns and their cells (specs/k8s-api.md §5)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeedge.api.errors import StatusError
from kubeedge.api.jsonpath import JSONPath, find, format_cell, printer_cell

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w1",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "labels": {"app": "web", "app.kubernetes.io/name": "widget"},
    },
    "spec": {
        "replicas": 3,
        "ratio": 0.5,
        "paused": False,
        "items": [{"name": "first", "size": 1}, {"name": "second", "size": 5}],
        "list": [{"name": "a"}, {"name": "b"}, {"other": "c"}],
        "empty": None,
    },
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:01:00Z"},
            {"type": "Degraded", "status": "False"},
        ]
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".spec.replicas", [3]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".metadata.labels.app", ["web"]),
        (".spec.items[0].name", ["first"]),
        (".spec.list[*].name", ["a", "b"]),
        (".spec.items[-1].name", ["second"]),
        (".spec.items[0:1].name", ["first"]),
        (".spec.items[::-1].name", ["second", "first"]),
        (".spec.items[0,1].size", [1, 5]),
        (".metadata.labels['app.kubernetes.io/name']", ["widget"]),
        ('.metadata.labels["app.kubernetes.io/name"]', ["widget"]),
        (r".metadata.labels.app\.kubernetes\.io/name", ["widget"]),
        (".metadata['name','creationTimestamp']", ["w1", "2025-01-01T00:00:00Z"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Degraded"]),
        (".spec.items[?(@.size > 2)].name", ["second"]),
        (".spec.items[?(@.size<=1)].name", ["first"]),
        (".spec.items[?(@.size>=1)].name", ["first", "second"]),
        (".spec.items[?(@.size < 1.5)].name", ["first"]),
        (".spec.list[?(@.other)].other", ["c"]),
        (".status.conditions[?(@.lastTransitionTime)].type", ["Ready"]),
        ("..name", ["w1", "first", "second", "a", "b"]),
        (".spec..size", [1, 5]),
        (".spec.items[*]['name']", ["first", "second"]),
        (".metadata.labels.*", ["web", "widget"]),
        (".spec.empty", [None]),
        ("{.spec.replicas}", [3]),
        ("$.spec.replicas", [3]),
        (".spec.paused", [False]),
    ],
)
def test_printer_column_expressions_find_their_matches(
    expression: str, expected: list[Any]
) -> None:
    assert find(expression, WIDGET) == expected


@pytest.mark.parametrize(
    "expression",
    [
        ".spec.missing",
        ".spec.replicas.deeper",
        ".spec.items[5].name",
        ".spec.items[-9]",
        '.status.conditions[?(@.type=="Nope")].status',
        ".metadata.labels[0]",
        ".spec.replicas[*]",
        ".spec.items.name",  # a field of a list needs [*] first, as in client-go
        '.spec.items[?(@.size=="1")]',  # a number never equals a string
        ".spec.items[?(@.name > 3)]",  # values of different kinds never order
    ],
)
def test_missing_paths_yield_no_match_instead_of_an_error(expression: str) -> None:
    assert find(expression, WIDGET) == []


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "spec.replicas",
        ".spec[",
        ".spec.items[?(@.size==)]",
        ".spec.items[?(3)]",
        ".spec.items[1:2:0]",
        ".spec.items[1:2:3:4]",
        ".spec.items['open",
        ".spec.items[0,1:2]",
        ".spec..",
        ".spec items",
    ],
)
def test_malformed_expressions_are_400(expression: str) -> None:
    with pytest.raises(StatusError) as err:
        find(expression, WIDGET)
    assert err.value.code == 400
    assert "invalid JSONPath expression" in err.value.message


def test_parsed_expressions_are_cached_and_reusable() -> None:
    path = JSONPath.parse(".spec.replicas")
    assert JSONPath.parse(".spec.replicas") is path
    assert path.find({"spec": {"replicas": 1}}) == [1]
    assert path.find(WIDGET) == [3]
    with pytest.raises(StatusError):
        JSONPath.parse(None)  # type: ignore[arg-type]


def test_find_never_mutates_the_object() -> None:
    obj = {"a": [{"b": 1}]}
    find("..b", obj)
    assert obj == {"a": [{"b": 1}]}


# ---------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "type_", "cell"),
    [
        ([3], "integer", 3),
        ([3.9], "integer", 3),
        (["3"], "integer", None),
        ([True], "integer", None),
        ([3], "number", 3.0),
        ([0.5], "number", 0.5),
        (["0.5"], "number", None),
        ([False], "boolean", False),
        (["true"], "boolean", None),
        (["Running"], "string", "Running"),
        ([3], "string", "3"),
        ([0.5], "string", "0.5"),
        ([100000.0], "string", "100000"),
        ([1e6], "string", "1e+06"),
        ([1.5e-5], "string", "1.5e-05"),
        ([0.0001], "string", "0.0001"),
        ([-2.5], "string", "-2.5"),
        ([True], "string", "true"),
        ([{"b": 1, "a": "<x>"}], "string", '{"a":"\\u003cx\\u003e","b":1}'),
        ([["x", 1]], "string", '["x",1]'),
        (["2025-01-01T00:00:00Z"], "date", "2025-01-01T00:00:00Z"),
        ([5], "date", None),
        ([], "string", None),
        ([None], "string", None),
        (["x"], "unknown-type", None),
    ],
)
def test_cells_follow_kube_apiserver_printer_column_rules(
    values: list[Any], type_: str, cell: Any
) -> None:
    assert format_cell(values, type_) == cell
    if cell is not None and type_ != "string":
        assert type(format_cell(values, type_)) is type(cell)


def test_only_the_first_match_becomes_the_cell_like_kube_apiserver() -> None:
    assert printer_cell(WIDGET, ".spec.list[*].name", "string") == "a"


def test_printer_cell_combines_find_and_format() -> None:
    assert printer_cell(WIDGET, ".spec.replicas", "integer") == 3
    assert printer_cell(WIDGET, '.status.conditions[?(@.type=="Ready")].status', "string") == "True"
    assert printer_cell(WIDGET, ".metadata.creationTimestamp", "date") == "2025-01-01T00:00:00Z"
    assert printer_cell(WIDGET, ".spec.missing", "string") is None
    assert printer_cell(WIDGET, ".spec.paused", "boolean") is False


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------

_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,6}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(_names, min_size=1, max_size=5), st.integers() | st.text(max_size=5))
def test_a_dotted_path_finds_the_value_nested_under_it(keys: list[str], value: Any) -> None:
    obj: Any = value
    for key in reversed(keys):
        obj = {key: obj}
    assert find("." + ".".join(keys), obj) == [value]
    assert find("".join(f"['{k}']" for k in keys), obj) == [value]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=".[]?()@=!<>*'\"-:,0123ab $\\{}", max_size=20))
def test_parsing_fails_only_with_400(expression: str) -> None:
    try:
        find(expression, WIDGET)
    except StatusError as err:
        assert err.code == 400
