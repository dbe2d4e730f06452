"""Where a pod may go: tolerations against taints and node selector terms against a
node (core/v1 Toleration.ToleratesTaint and kube's nodeaffinity helpers). The scheduler,
the DaemonSet controller and the node lifecycle controller all decide with these, so
they never disagree. Pure functions over plain values, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Obj = Mapping[str, Any]

# The role label `keadm join` puts on every edge node (specs/kubeedge.md §8); what
# tells the controllers and cloud modules an edge node from a cloud node.
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"


def tolerates(toleration: Obj, key: str, value: str, effect: str) -> bool:
    """Does `toleration` tolerate the taint `key=value:effect`? An empty effect or key
    on the toleration matches any; `Exists` ignores the value."""
    want_effect = toleration.get("effect") or ""
    if want_effect and want_effect != effect:
        return False
    want_key = toleration.get("key") or ""
    if want_key and want_key != key:
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == value
    return False


def tolerates_taint(toleration: Obj, taint: Obj) -> bool:
    return tolerates(toleration, str(taint.get("key") or ""), str(taint.get("value") or ""),
                     str(taint.get("effect") or ""))


def untolerated_taints(tolerations: Iterable[Obj], taints: Iterable[Obj],
                       effects: tuple[str, ...]) -> list[Obj]:
    """The taints with one of `effects` that no toleration tolerates."""
    tolerations = [t for t in tolerations if isinstance(t, Mapping)]
    return [t for t in taints if isinstance(t, Mapping) and t.get("effect") in effects
            and not any(tolerates_taint(tol, t) for tol in tolerations)]


def match_expression(expr: Obj, value: str | None) -> bool:
    """One NodeSelectorRequirement against a label's value (None: no such label)."""
    operator = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def node_selector_term_matches(term: Obj, labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: every matchExpression (labels) and matchField
    (`metadata.name`) holds; a term with neither matches nothing."""
    expressions = [e for e in term.get("matchExpressions") or [] if isinstance(e, Mapping)]
    fields = [f for f in term.get("matchFields") or [] if isinstance(f, Mapping)]
    if not expressions and not fields:
        return False
    return (all(match_expression(e, labels.get(str(e.get("key") or ""))) for e in expressions)
            and all(match_expression(f, name if f.get("key") == "metadata.name" else None)
                    for f in fields))


def required_node_terms(spec: Obj) -> list[Obj] | None:
    """The pod spec's required node affinity terms (None when it has none)."""
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return None
    return [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, Mapping)]


def fits_node_selection(spec: Obj, labels: Mapping[str, str], name: str) -> bool:
    """nodeName, nodeSelector and required node affinity of a pod spec against a node."""
    wanted = spec.get("nodeName")
    if wanted and wanted != name:
        return False
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    terms = required_node_terms(spec)
    return terms is None or any(node_selector_term_matches(t, labels, name) for t in terms)
