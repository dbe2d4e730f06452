"""Label and field selectors: parsing, matching and the field tables per resource.

Owns the grammar of `labelSelector` / `fieldSelector` query parameters and of
`metav1.LabelSelector` objects (specs/k8s-api.md §3 "Selectors"), worded like
k8s.io/apimachinery `labels.Parse` and `fields.ParseSelector` so kubectl prints the
messages it would print against kube-apiserver. Also owns which fields each resource
lets clients select on and how their values are read from a stored object.

Never does I/O, never touches storage, never knows about HTTP: the query string arrives
already URL-decoded (`+` is a space there). Every parse error is a `StatusError` 400
from `kubeedge.api.errors`; callers validating a selector *inside an object* (a
Deployment's `spec.selector`) may re-wrap its message into an `invalid(...)` cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeedge.api.errors import StatusError, bad_request

__all__ = [
    "DEFAULT_FIELD_SELECTORS",
    "FIELD_SELECTORS",
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Requirement",
    "allowed_field_selectors",
    "field_values",
]

# ---------------------------------------------------------------------------------------
# Label keys and values (apimachinery validation.IsQualifiedName / IsValidLabelValue)
# ---------------------------------------------------------------------------------------

_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME_FMT}$")
_VALUE_FMT = f"({_NAME_FMT})?"
_VALUE_RE = re.compile(f"^{_VALUE_FMT}$")
_DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")

_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    f"regex used for validation is '{_NAME_FMT}')"
)
_QUALIFIED_MSG = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
    f"'123-abc', regex used for validation is '{_NAME_FMT}') with an optional DNS subdomain "
    "prefix and '/' (e.g. 'example.com/MyName')"
)
_PREFIX_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    f"'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN_FMT}')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_VALUE_FMT}')"
)


def _quote(value: str) -> str:
    """Go's %q for the strings we print (good enough: escapes quotes and backslashes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key_problem(key: str) -> str | None:
    """Why `key` is not a qualified name (IsQualifiedName), or None when it is."""
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > 253:
            return "prefix part must be no more than 253 characters"
        if not _DNS1123_SUBDOMAIN_RE.match(prefix):
            return _PREFIX_MSG
    else:
        return _QUALIFIED_MSG
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return _NAME_MSG
    return None


def _value_problem(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _VALUE_RE.match(value):
        return _VALUE_MSG
    return None


# ---------------------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------------------

# Operator spellings are apimachinery's `selection.Operator` values.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `key op values` term; `values` are sorted and de-duplicated."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """Validate like `labels.NewRequirement`; 400 on any problem."""
        vals = tuple(sorted(set(values)))
        errors: list[str] = []
        problem = _key_problem(key)
        if problem:
            errors.append(f"key: Invalid value: {_quote(key)}: {problem}")
        shown = "[" + ",".join(_quote(v) for v in vals) + "]"
        if operator in (IN, NOT_IN):
            if not vals:
                errors.append(
                    f"values: Invalid value: {shown}: for 'in', 'notin' operators, "
                    "values set can't be empty"
                )
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errors.append(
                    f"values: Invalid value: {shown}: exact-match compatibility requires one "
                    "single value"
                )
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                errors.append(
                    f"values: Invalid value: {shown}: values set must be empty for exists and "
                    "does not exist"
                )
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errors.append(
                    f"values: Invalid value: {shown}: for 'Gt', 'Lt' operators, exactly one "
                    "value is required"
                )
            for i, v in enumerate(vals):
                if not re.fullmatch(r"[+-]?[0-9]+", v):
                    errors.append(
                        f"values[{i}]: Invalid value: {_quote(v)}: for 'Gt', 'Lt' operators, "
                        "the value must be an integer"
                    )
        else:
            errors.append(f"operator: Unsupported value: {_quote(operator)}")
        for i, v in enumerate(vals):
            problem = _value_problem(v)
            if problem:
                errors.append(f"values[{i}]: Invalid value: {_quote(v)}: {problem}")
        if errors:
            raise bad_request(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        # gt / lt: the label must hold an integer (labels.Requirement.Matches)
        if self.key not in labels:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except (TypeError, ValueError):
            return False
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{joined}"


# ---------------------------------------------------------------------------------------
# Label selector lexer and parser (labels/selector.go)
# ---------------------------------------------------------------------------------------

_SPECIAL = frozenset("=!(),<>")
_SYMBOLS = frozenset({"!", "!=", "=", "==", "(", ")", ",", ">", "<"})
_WHITESPACE = frozenset(" \t\r\n")
# token kinds
_ID, _END = "identifier", "end of string"


def _lex(text: str) -> list[tuple[str, str]]:
    """Split into (kind, literal); kind is _ID, a keyword (`in`/`notin`), a symbol or _END."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif c in _SPECIAL:
            # longest run of special characters that still spells a symbol
            j, best = i, i + 1
            while j < n and text[j] in _SPECIAL and text[i : j + 1] in _SYMBOLS:
                best = j + 1
                j += 1
            tokens.append((text[i:best], text[i:best]))
            i = best
        else:
            j = i
            while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
                j += 1
            word = text[i:j]
            tokens.append((word if word in (IN, NOT_IN) else _ID, word))
            i = j
    tokens.append((_END, ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        # in a value position the keywords `in` / `notin` are plain identifiers
        return (_ID if values and kind in (IN, NOT_IN) else kind), lit

    def take(self, values: bool = True) -> tuple[str, str]:
        tok = self.peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_ID, "!"):
                raise bad_request(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _RequirementError as err:
                raise bad_request(f"unable to parse requirement: {err}") from None
            kind, lit = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise bad_request(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in (_ID, "!"):
                raise bad_request(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, lit = self.take()
        negated = kind == "!"
        if negated:
            kind, lit = self.take()
        if kind != _ID:
            raise _RequirementError(f"found '{lit}', expected: identifier")
        key = lit
        problem = _key_problem(key)
        if problem:
            raise _RequirementError(f"key: Invalid value: {_quote(key)}: {problem}")
        if negated or self.peek()[0] in (_END, ","):
            return _checked(key, DOES_NOT_EXIST if negated else EXISTS, ())
        kind, lit = self.take(values=False)
        operator = {
            IN: IN,
            NOT_IN: NOT_IN,
            "=": EQUALS,
            "==": DOUBLE_EQUALS,
            "!=": NOT_EQUALS,
            ">": GREATER_THAN,
            "<": LESS_THAN,
        }.get(kind)
        if operator is None:
            raise _RequirementError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return _checked(key, operator, values)

    def exact_value(self) -> list[str]:
        kind, lit = self.peek()
        if kind in (_END, ","):
            return [""]
        kind, lit = self.take()
        if kind == _ID:
            return [lit]
        raise _RequirementError(f"found '{lit}', expected: identifier")

    def value_set(self) -> list[str]:
        kind, lit = self.take()
        if kind != "(":
            raise _RequirementError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return [""]
        if kind not in (_ID, ","):
            raise _RequirementError(f"found '{lit}', expected: ',', ')' or identifier")
        values: list[str] = []
        while True:
            kind, lit = self.take()
            if kind == _ID:
                values.append(lit)
                nxt, nlit = self.peek()
                if nxt == ",":
                    self.take()
                    if self.peek()[0] == ")":  # trailing comma: `(a,)` also selects ""
                        values.append("")
                    continue
                if nxt == ")":
                    self.take()
                    return values
                raise _RequirementError(f"found '{nlit}', expected: ',' or ')'")
            if kind == ",":  # `(,a)` or `(a,,b)`: an empty value
                values.append("")
                if self.peek()[0] == ")":
                    self.take()
                    return values
                continue
            if kind == ")" and values:
                return values
            raise _RequirementError(f"found '{lit}', expected: ',', or identifier")


class _RequirementError(Exception):
    """Internal: becomes `unable to parse requirement: <message>`."""


def _checked(key: str, operator: str, values: Iterable[str]) -> Requirement:
    try:
        return Requirement.new(key, operator, values)
    except StatusError as err:
        raise _RequirementError(str(err)) from None


# ---------------------------------------------------------------------------------------
# LabelSelector
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of requirements. `nothing` is the selector of a null metav1.LabelSelector."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the `labelSelector` query form (specs/k8s-api.md §3): `a=b,c!=d,e in (f,g),
        h notin (i),j,!k`; keys may carry a DNS prefix. Empty or blank text selects all."""
        if not text or not text.strip():
            return cls()
        requirements = _Parser(text).parse()
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Convert a metav1.LabelSelector object (`LabelSelectorAsSelector`): None selects
        nothing, `{}` selects everything; operators In/NotIn/Exists/DoesNotExist."""
        if selector is None:
            return cls(nothing=True)
        if not isinstance(selector, Mapping):
            raise bad_request("label selector must be an object")
        match_labels = selector.get("matchLabels")
        expressions = selector.get("matchExpressions")
        match_labels = {} if match_labels is None else match_labels
        expressions = [] if expressions is None else expressions
        if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
            raise bad_request("matchLabels must be an object and matchExpressions a list")
        requirements: list[Requirement] = []
        for key, value in match_labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise bad_request(f"matchLabels entries must be strings: {key!r}: {value!r}")
            requirements.append(Requirement.new(key, EQUALS, [value]))
        operators = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
        for expr in expressions:
            if not isinstance(expr, Mapping):
                raise bad_request("matchExpressions entries must be objects")
            op = expr.get("operator")
            if op not in operators:
                raise bad_request(f"{_quote(str(op))} is not a valid label selector operator")
            key, values = expr.get("key"), expr.get("values") or []
            if not isinstance(key, str) or not isinstance(values, list):
                raise bad_request("matchExpressions need a string key and a list of values")
            if not all(isinstance(v, str) for v in values):
                raise bad_request(f"matchExpressions values must be strings: {values!r}")
            requirements.append(Requirement.new(key, operators[op], values))
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """True when the selector matches everything (no requirements)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def to_string(self) -> str:
        """Canonical query form, e.g. `app=web,tier in (a,b)` (Scale `status.selector`)."""
        return ",".join(str(r) for r in self.requirements)

    __str__ = to_string


# ---------------------------------------------------------------------------------------
# Field selectors (fields/selector.go)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldTerm:
    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


def _split_terms(text: str) -> list[str]:
    """Split on commas that a backslash does not escape."""
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    out, in_slash = [], False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            raise bad_request(f"invalid field selector: unescaped character in value: {c!r}")
        else:
            out.append(c)
    if in_slash:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of `field=value` / `field!=value` terms."""

    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def parse(cls, text: str | None, allowed: Iterable[str] | None = None) -> FieldSelector:
        """Parse `fieldSelector` (`=`, `==`, `!=`; `\\,` `\\=` `\\\\` escape values).
        A field outside `allowed` is 400 `field label not supported: <f>` (specs §3);
        `allowed=None` skips that check."""
        if not text:
            return cls()
        allowed_set = None if allowed is None else frozenset(allowed)
        terms: list[FieldTerm] = []
        for term in sorted(_split_terms(text)):
            if not term:
                continue
            for i in range(len(term)):
                op = next((o for o in ("!=", "==", "=") if term.startswith(o, i)), None)
                if op:
                    field, raw = term[:i].strip(), term[i + len(op) :]
                    break
            else:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
            if allowed_set is not None and field not in allowed_set:
                raise bad_request(f"field label not supported: {field}")
            terms.append(FieldTerm(field, _unescape(raw), negated=op == "!="))
        return cls(tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Missing fields compare as ""."""
        return all(t.matches(fields) for t in self.terms)

    def exact_value(self, field: str) -> str | None:
        """The value `field` must equal (`field=v` / `field==v`), or None if not pinned:
        lets the server turn `metadata.name=x` into a point lookup."""
        for t in self.terms:
            if t.field == field and not t.negated:
                return t.value
        return None

    def to_string(self) -> str:
        return ",".join(str(t) for t in self.terms)

    __str__ = to_string


# ---------------------------------------------------------------------------------------
# Selectable fields per resource (the field label conversion funcs of each API group)
# ---------------------------------------------------------------------------------------

DEFAULT_FIELD_SELECTORS: frozenset[str] = frozenset({"metadata.name", "metadata.namespace"})


def _with_defaults(*fields: str) -> frozenset[str]:
    return DEFAULT_FIELD_SELECTORS | frozenset(fields)


# Keyed by plural resource name (specs/k8s-api.md §3 "Selectors").
FIELD_SELECTORS: dict[str, frozenset[str]] = {
    "pods": _with_defaults(
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": _with_defaults(
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "secrets": _with_defaults("type"),
    "nodes": _with_defaults("spec.unschedulable"),
    # "name" is a historical alias kube-apiserver still accepts for namespaces
    "namespaces": _with_defaults("status.phase", "name"),
    "replicasets": _with_defaults("status.replicas"),
    "jobs": _with_defaults("status.successful"),
}


def allowed_field_selectors(resource: str) -> frozenset[str]:
    """Fields selectable on `resource` (plural); every other resource has the defaults."""
    return FIELD_SELECTORS.get(resource, DEFAULT_FIELD_SELECTORS)


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool_text(value: Any) -> str:
    """Go prints a missing bool as `false` (fmt.Sprint / strconv.FormatBool)."""
    return "true" if value is True else "false"


def _int_text(value: Any) -> str:
    """Go prints a missing int32 as `0`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "0"
    return str(int(value))


def field_values(resource: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of `obj` as strings, matching kube-apiserver's field sets:
    missing strings are "", missing booleans "false" and missing counts "0" (so that
    `spec.unschedulable=false` selects nodes that never set the field, as in Kubernetes)."""
    meta = obj.get("metadata") or {}
    out = {
        "metadata.name": _text(_get(meta, "name")),
        "metadata.namespace": _text(_get(meta, "namespace")),
    }
    if resource == "pods":
        pod_ips = _get(obj, "status", "podIPs")
        pod_ip = _get(pod_ips[0], "ip") if isinstance(pod_ips, list) and pod_ips else None
        out.update(
            {
                "spec.nodeName": _text(_get(obj, "spec", "nodeName")),
                "spec.restartPolicy": _text(_get(obj, "spec", "restartPolicy")),
                "spec.schedulerName": _text(_get(obj, "spec", "schedulerName")),
                "spec.serviceAccountName": _text(_get(obj, "spec", "serviceAccountName")),
                "spec.hostNetwork": _bool_text(_get(obj, "spec", "hostNetwork")),
                "status.phase": _text(_get(obj, "status", "phase")),
                "status.podIP": _text(pod_ip or _get(obj, "status", "podIP")),
                "status.nominatedNodeName": _text(_get(obj, "status", "nominatedNodeName")),
            }
        )
    elif resource == "events":
        involved = obj.get("involvedObject") or {}
        reporting = _text(obj.get("reportingComponent"))
        out.update(
            {
                f"involvedObject.{f}": _text(_get(involved, f))
                for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
            }
        )
        out["involvedObject.fieldPath"] = _text(_get(involved, "fieldPath"))
        out["reason"] = _text(obj.get("reason"))
        out["type"] = _text(obj.get("type"))
        out["reportingComponent"] = reporting
        out["source"] = _text(_get(obj, "source", "component")) or reporting
    elif resource == "secrets":
        out["type"] = _text(obj.get("type"))
    elif resource == "nodes":
        out["spec.unschedulable"] = _bool_text(_get(obj, "spec", "unschedulable"))
    elif resource == "namespaces":
        out["status.phase"] = _text(_get(obj, "status", "phase"))
        out["name"] = out["metadata.name"]
    elif resource == "replicasets":
        out["status.replicas"] = _int_text(_get(obj, "status", "replicas"))
    elif resource == "jobs":
        out["status.successful"] = _int_text(_get(obj, "status", "succeeded"))
    return out
