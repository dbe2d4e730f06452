"""Tolerations and node selection: the one implementation the scheduler, the
DaemonSet controller and the node lifecycle controller share."""

from __future__ import annotations

from kubeedge.api.placement import (
    fits_node_selection,
    node_selector_term_matches,
    tolerates_taint,
    untolerated_taints,
)

GPU = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
GONE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def test_tolerations_match_key_value_and_effect() -> None:
    assert tolerates_taint({"key": "dedicated", "value": "gpu"}, GPU)
    assert not tolerates_taint({"key": "dedicated", "value": "db"}, GPU)
    assert tolerates_taint({"key": "dedicated", "operator": "Exists"}, GPU)
    assert not tolerates_taint({"key": "dedicated", "operator": "Exists",
                                "effect": "NoExecute"}, GPU)
    assert tolerates_taint({"operator": "Exists"}, GONE)
    assert not tolerates_taint({"key": "dedicated", "operator": "Bogus"}, GPU)
    assert untolerated_taints([{"operator": "Exists", "effect": "NoExecute"}], [GPU, GONE],
                              ("NoSchedule", "NoExecute")) == [GPU]


def test_node_selector_terms_cover_labels_fields_and_numbers() -> None:
    labels = {"zone": "a", "cores": "8"}
    term = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                 {"key": "cores", "operator": "Gt", "values": ["4"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    assert node_selector_term_matches(term, labels, "n1")
    assert not node_selector_term_matches(term, labels, "n2")
    assert not node_selector_term_matches({}, labels, "n1")  # an empty term matches nothing
    assert node_selector_term_matches(
        {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, labels, "n1")


def test_pod_spec_selection_combines_name_selector_and_affinity() -> None:
    spec = {"nodeSelector": {"zone": "a"}, "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["big"]}]},
        ]}}}}
    assert fits_node_selection(spec, {"zone": "a", "cores": "2"}, "small")
    assert fits_node_selection(spec, {"zone": "a", "cores": "64"}, "big")
    assert not fits_node_selection(spec, {"zone": "a", "cores": "64"}, "other")
    assert not fits_node_selection(spec, {"zone": "b", "cores": "2"}, "small")
    assert not fits_node_selection({"nodeName": "x"}, {}, "y")
