"""Label and field selectors (specs/k8s-api.md §3 "Selectors")."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeedge.api.errors import StatusError
from kubeedge.api.selectors import (
    DEFAULT_FIELD_SELECTORS,
    FIELD_SELECTORS,
    FieldSelector,
    LabelSelector,
    Requirement,
    allowed_field_selectors,
    field_values,
)

# ---------------------------------------------------------------------------------------
# Label selectors: parsing and matching
# ---------------------------------------------------------------------------------------


def test_query_string_from_the_wire_parses_after_url_decoding() -> None:
    raw = "labelSelector=app+in+%28web%29%2Ctier%21%3Dx%2C%21foo%2Cenv"
    text = parse_qs(raw)["labelSelector"][0]
    selector = LabelSelector.parse(text)
    assert selector.to_string() == "app in (web),env,!foo,tier!=x"
    assert selector.matches({"app": "web", "env": "prod"})
    assert selector.matches({"app": "web", "env": "", "tier": "y"})
    assert not selector.matches({"app": "web"})  # env missing
    assert not selector.matches({"app": "web", "env": "p", "foo": "1"})
    assert not selector.matches({"app": "web", "env": "p", "tier": "x"})
    assert not selector.matches({"app": "api", "env": "p"})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "api"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "api"}, True),
        ("app!=web", {"app": "web"}, False),
        ("app in (a,b)", {"app": "b"}, True),
        ("app in (a,b)", {"app": "c"}, False),
        ("app in (a,b)", {}, False),
        ("app notin (a,b)", {}, True),
        ("app notin (a,b)", {"app": "a"}, False),
        ("app notin (a,b)", {"app": "c"}, True),
        ("app", {"app": ""}, True),
        ("app", {"other": "x"}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("app=", {"app": ""}, True),
        ("app=", {"app": "x"}, False),
        ("app in ()", {"app": ""}, True),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas>2", {"replicas": "2"}, False),
        ("replicas<2", {"replicas": "1"}, True),
        ("replicas<2", {"replicas": "x"}, False),
        ("replicas<2", {}, False),
    ],
)
def test_each_operator_matches_like_kubernetes(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    assert LabelSelector.parse(text).matches(labels) is expected


def test_whitespace_is_tolerated_around_every_token() -> None:
    selector = LabelSelector.parse("  app  =  web ,  tier in ( a , b ) , ! canary  ")
    assert selector.to_string() == "app=web,!canary,tier in (a,b)"
    assert selector.matches({"app": "web", "tier": "a"})


def test_keys_may_carry_a_dns_prefix() -> None:
    selector = LabelSelector.parse(
        "app.kubernetes.io/name=web,training.kubeflow.org/job-name in (j1)"
    )
    assert selector.matches(
        {"app.kubernetes.io/name": "web", "training.kubeflow.org/job-name": "j1"}
    )
    assert not selector.matches({"app.kubernetes.io/name": "web"})


def test_in_and_notin_are_ordinary_words_as_keys_and_values() -> None:
    selector = LabelSelector.parse("in=notin,notin in (in)")
    assert selector.matches({"in": "notin", "notin": "in"})


def test_empty_text_selects_everything() -> None:
    for text in ("", "   ", None):
        selector = LabelSelector.parse(text)
        assert selector.empty
        assert selector.matches({})
        assert selector.matches(None)
        assert selector.to_string() == ""


def test_values_in_a_set_are_sorted_and_deduplicated() -> None:
    assert LabelSelector.parse("a in (c,b,c)").to_string() == "a in (b,c)"
    assert LabelSelector.parse("a in (x,)").requirements[0].values == ("", "x")
    assert LabelSelector.parse("a in (,x)").requirements[0].values == ("", "x")


def test_requirements_are_sorted_by_key() -> None:
    assert LabelSelector.parse("z=1,a=2,m").to_string() == "a=2,m,z=1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ],
)
def test_syntax_errors_are_400_with_kube_wording(text: str, message: str) -> None:
    with pytest.raises(StatusError) as err:
        LabelSelector.parse(text)
    assert err.value.code == 400
    assert err.value.reason == "BadRequest"
    assert err.value.message == message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-bad=x", 'key: Invalid value: "-bad": name part must consist of'),
        ("Example.com/a=x", 'key: Invalid value: "Example.com/a": prefix part a lowercase'),
        ("a/b/c=x", "a qualified name must consist of"),
        ("/a=x", "prefix part must be non-empty"),
        ("a/=x", "name part must be non-empty"),
        ("a=" + "v" * 64, "must be no more than 63 characters"),
        ("a=-v", 'values[0]: Invalid value: "-v": a valid label must be an empty string'),
        ("n>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("k" * 64 + "=v", "name part must be no more than 63 characters"),
    ],
)
def test_invalid_keys_and_values_are_400_unable_to_parse_requirement(
    text: str, fragment: str
) -> None:
    with pytest.raises(StatusError) as err:
        LabelSelector.parse(text)
    assert err.value.code == 400
    assert err.value.message.startswith("unable to parse requirement: ")
    assert fragment in err.value.message


def test_requirement_rejects_operator_value_mismatches() -> None:
    for key, op, values, fragment in [
        ("a", "in", [], "values set can't be empty"),
        ("a", "=", ["x", "y"], "exact-match compatibility requires one single value"),
        ("a", "exists", ["x"], "values set must be empty"),
        ("a", "gt", [], "exactly one value is required"),
        ("a", "like", ["x"], 'operator: Unsupported value: "like"'),
    ]:
        with pytest.raises(StatusError) as err:
            Requirement.new(key, op, values)
        assert fragment in err.value.message


# ---------------------------------------------------------------------------------------
# metav1.LabelSelector objects
# ---------------------------------------------------------------------------------------


def test_from_dict_combines_match_labels_and_expressions() -> None:
    selector = LabelSelector.from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "track", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.to_string() == "app=web,!canary,env notin (dev),tier in (be,fe),track"
    assert selector.matches({"app": "web", "tier": "fe", "track": "x"})
    assert not selector.matches({"app": "web", "tier": "fe", "track": "x", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "fe", "track": "x", "env": "dev"})


def test_match_labels_give_the_scale_status_selector_form() -> None:
    selector = LabelSelector.from_dict({"matchLabels": {"app": "dep", "tier": "web"}})
    assert selector.to_string() == "app=dep,tier=web"
    assert LabelSelector.parse(selector.to_string()) == selector


def test_null_selector_selects_nothing_and_empty_selects_everything() -> None:
    nothing = LabelSelector.from_dict(None)
    assert not nothing.matches({})
    assert not nothing.empty
    everything = LabelSelector.from_dict({})
    assert everything.empty
    assert everything.matches({"a": "b"})


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, '"Gt" is not'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "can't be empty"),
        ({"matchLabels": {"a": 1}}, "must be strings"),
        ({"matchLabels": {"bad key": "x"}}, 'key: Invalid value: "bad key"'),
        ({"matchLabels": []}, "matchLabels must be an object"),
        ("app=web", "label selector must be an object"),
    ],
)
def test_from_dict_rejects_invalid_selectors_with_400(selector: object, fragment: str) -> None:
    with pytest.raises(StatusError) as err:
        LabelSelector.from_dict(selector)  # type: ignore[arg-type]
    assert err.value.code == 400
    assert fragment in err.value.message


_label_part = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)
_prefix = st.from_regex(r"[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){0,2}", fullmatch=True)
_key = st.one_of(_label_part, st.tuples(_prefix, _label_part).map("/".join))
_value = st.one_of(st.just(""), _label_part)


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!"]))
    key = draw(_key)
    if op in ("in", "notin"):
        return Requirement.new(key, op, draw(st.lists(_value, min_size=1, max_size=3)))
    if op in ("exists", "!"):
        return Requirement.new(key, op)
    return Requirement.new(key, op, [draw(_value)])


@settings(max_examples=150, deadline=None)
@given(st.lists(_requirements(), max_size=5))
def test_to_string_round_trips_through_parse(requirements: list[Requirement]) -> None:
    selector = LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))
    assert LabelSelector.parse(selector.to_string()) == selector


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab=!(), inotx-./_", max_size=25))
def test_parse_fails_only_with_400(text: str) -> None:
    try:
        LabelSelector.parse(text)
    except StatusError as err:
        assert err.code == 400


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_requirements(), max_size=4),
    st.dictionaries(_key, _value, max_size=4),
)
def test_selector_matches_iff_every_requirement_does(
    requirements: list[Requirement], labels: dict[str, str]
) -> None:
    selector = LabelSelector(tuple(requirements))
    assert selector.matches(labels) == all(r.matches(labels) for r in requirements)


# ---------------------------------------------------------------------------------------
# Field selectors
# ---------------------------------------------------------------------------------------


def test_describe_node_field_selector_on_pods() -> None:
    selector = FieldSelector.parse(
        "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed", FIELD_SELECTORS["pods"]
    )
    running = field_values("pods", {"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    done = field_values("pods", {"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}})
    elsewhere = field_values("pods", {"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}})
    assert selector.matches(running)
    assert not selector.matches(done)
    assert not selector.matches(elsewhere)
    assert selector.exact_value("spec.nodeName") == "n1"
    assert selector.exact_value("status.phase") is None


def test_exact_value_pins_metadata_name_for_kubectl_wait_and_delete() -> None:
    selector = FieldSelector.parse("metadata.name==web", DEFAULT_FIELD_SELECTORS)
    assert selector.exact_value("metadata.name") == "web"
    assert selector.exact_value("metadata.namespace") is None
    assert FieldSelector.parse("metadata.name!=web").exact_value("metadata.name") is None


def test_unknown_field_is_400_field_label_not_supported() -> None:
    with pytest.raises(StatusError) as err:
        FieldSelector.parse("spec.foo=bar", allowed_field_selectors("pods"))
    assert err.value.code == 400
    assert err.value.message == "field label not supported: spec.foo"
    with pytest.raises(StatusError):
        FieldSelector.parse("spec.nodeName=x", allowed_field_selectors("configmaps"))


def test_missing_field_compares_as_empty_string() -> None:
    selector = FieldSelector.parse("involvedObject.namespace=", FIELD_SELECTORS["events"])
    assert selector.matches(field_values("events", {"involvedObject": {"kind": "Node"}}))
    assert selector.matches({})


def test_empty_field_selector_selects_everything() -> None:
    for text in ("", None, ","):
        selector = FieldSelector.parse(text, set())
        assert selector.matches({"metadata.name": "x"})
    assert FieldSelector.parse("").empty


def test_escaped_commas_and_equals_belong_to_the_value() -> None:
    selector = FieldSelector.parse(r"metadata.name=a\,b\=c\\d")
    assert selector.exact_value("metadata.name") == "a,b=c\\d"
    assert selector.to_string() == r"metadata.name=a\,b\=c\\d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (r"metadata.name=a\b", "invalid field selector: invalid escape sequence: \\b"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: '='"),
    ],
)
def test_malformed_field_selectors_are_400(text: str, message: str) -> None:
    with pytest.raises(StatusError) as err:
        FieldSelector.parse(text, DEFAULT_FIELD_SELECTORS)
    assert err.value.code == 400
    assert err.value.message == message


def test_field_selector_terms_are_sorted_in_canonical_form() -> None:
    selector = FieldSelector.parse("status.phase!=Failed,metadata.name=a", None)
    assert selector.to_string() == "metadata.name=a,status.phase!=Failed"


def test_field_selector_tables_cover_the_spec() -> None:
    for fields in FIELD_SELECTORS.values():
        assert fields >= DEFAULT_FIELD_SELECTORS
    assert {
        "spec.nodeName",
        "status.phase",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
    } <= FIELD_SELECTORS["pods"]
    assert {
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "type",
        "source",
        "reportingComponent",
    } <= FIELD_SELECTORS["events"]
    assert "type" in FIELD_SELECTORS["secrets"]
    assert "spec.unschedulable" in FIELD_SELECTORS["nodes"]
    assert "status.phase" in FIELD_SELECTORS["namespaces"]
    assert "status.replicas" in FIELD_SELECTORS["replicasets"]
    assert "status.successful" in FIELD_SELECTORS["jobs"]
    assert allowed_field_selectors("widgets") == DEFAULT_FIELD_SELECTORS


def test_field_values_of_a_pod() -> None:
    pod = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5"},
    }
    assert field_values("pods", pod) == {
        "metadata.name": "web",
        "metadata.namespace": "default",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default",
        "spec.hostNetwork": "false",
        "status.phase": "Running",
        "status.podIP": "10.0.0.5",
        "status.nominatedNodeName": "",
    }
    assert field_values("pods", {"status": {"podIP": "10.1.1.1"}})["status.podIP"] == "10.1.1.1"
    assert set(field_values("pods", {})) == FIELD_SELECTORS["pods"]


def test_field_values_of_an_event_fall_back_to_the_reporting_component() -> None:
    event = {
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
        "reason": "Started",
        "type": "Normal",
        "reportingComponent": "kopf",
    }
    values = field_values("events", event)
    assert values["involvedObject.kind"] == "Pod"
    assert values["involvedObject.uid"] == "u1"
    assert values["involvedObject.fieldPath"] == ""
    assert values["source"] == "kopf"
    assert values["reportingComponent"] == "kopf"
    event["source"] = {"component": "kubelet"}
    assert field_values("events", event)["source"] == "kubelet"
    assert set(values) == FIELD_SELECTORS["events"]


def test_field_values_print_missing_booleans_and_counts_like_go() -> None:
    assert field_values("nodes", {"metadata": {"name": "n"}})["spec.unschedulable"] == "false"
    assert field_values("nodes", {"spec": {"unschedulable": True}})["spec.unschedulable"] == "true"
    assert field_values("replicasets", {})["status.replicas"] == "0"
    assert field_values("replicasets", {"status": {"replicas": 3}})["status.replicas"] == "3"
    assert field_values("jobs", {"status": {"succeeded": 1}})["status.successful"] == "1"
    assert field_values("secrets", {"type": "Opaque"})["type"] == "Opaque"
    ns = field_values("namespaces", {"metadata": {"name": "a"}, "status": {"phase": "Active"}})
    assert ns == {
        "metadata.name": "a",
        "metadata.namespace": "",
        "status.phase": "Active",
        "name": "a",
    }
    selector = FieldSelector.parse("spec.unschedulable=false", FIELD_SELECTORS["nodes"])
    assert selector.matches(field_values("nodes", {"metadata": {"name": "n"}}))


def test_every_listed_field_has_a_value_for_its_resource() -> None:
    for resource, fields in FIELD_SELECTORS.items():
        assert set(field_values(resource, {})) == fields, resource
