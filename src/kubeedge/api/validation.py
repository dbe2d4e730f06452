"""Object validation with kube-apiserver 1.32's field errors.

Owns the checks users commonly hit on create and update, worded exactly as kube words
them (`k8s.io/apimachinery/pkg/util/validation`, `.../validation/field` and
`pkg/apis/*/validation`), so `kubectl` prints the same `The Pod "web" is invalid: ...`
(specs/k8s-api.md §3, 422 Invalid with `details.causes`). Each problem is one `Cause`
whose message is field.Error's body (`Required value`, `Invalid value: "x": detail`, ...);
`errors.invalid` joins them into kube's sentence.

Never does: defaulting (call `defaults.apply_defaults` first, and for a new Job
`defaults.job_selector_defaults`, as kube validates defaulted objects), schema or
unknown-field checks, anything that needs other objects (quota, admission lookups).
It is not the whole of kube's validation, only the common part.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from kubeedge.api.defaults import parse_quantity
from kubeedge.api.errors import Cause

__all__ = [
    "Cause",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "validate",
    "validate_pod_template",
]

Obj = dict[str, Any]

# ------------------------------------------------------------------- field.Error bodies

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
NOT_FOUND = "FieldValueNotFound"


class GoValue:
    """A value already rendered the way Go's `%#v` prints it (maps, structs, slices)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _go_quote(value: str) -> str:
    """Go's `%q` for the strings that appear in practice."""
    return json.dumps(value, ensure_ascii=False)


def _go_value(value: Any) -> str:
    """field.Error's rendering of a bad value: `%q` for strings, `%v` for numbers."""
    if isinstance(value, GoValue):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, int | float):
        return str(value)
    return _go_quote(json.dumps(value, sort_keys=True, separators=(",", ":")))


def _with_detail(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, _with_detail("Required value", detail), REQUIRED)


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, _with_detail(f"Invalid value: {_go_value(value)}", detail), INVALID)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    quoted = ", ".join(_go_quote(v) for v in supported)
    detail = f"supported values: {quoted}" if quoted else ""
    return Cause(
        path, _with_detail(f"Unsupported value: {_go_value(value)}", detail), NOT_SUPPORTED
    )


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, f"Duplicate value: {_go_value(value)}", DUPLICATE)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, _with_detail("Forbidden", detail), FORBIDDEN)


def too_long(path: str, max_length: int) -> Cause:
    return Cause(path, f"Too long: may not be more than {max_length} bytes", TOO_LONG)


def not_found(path: str, value: Any) -> Cause:
    return Cause(path, f"Not found: {_go_value(value)}", NOT_FOUND)


def _child(path: str, *names: str) -> str:
    return ".".join([p for p in (path, *names) if p])


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


# ------------------------------------------------ k8s.io/apimachinery/pkg/util/validation


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including its double space before each "or"."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    listed = "".join((" or " if i else "") + f"'{e}', " for i, e in enumerate(examples))
    return f"{msg} (e.g. {listed}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_CONFIG_MAP_KEY = re.compile(f"^{_CONFIG_MAP_KEY_FMT}$")
_PORT_NAME_CHARSET = re.compile("^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile("[a-z]")


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _DNS1035_LABEL.match(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """validation.IsQualifiedName: label and annotation keys, finalizers."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QUALIFIED_NAME.match(name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE.match(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def _is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append(_max_len_error(15))
    if not _PORT_NAME_CHARSET.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _is_valid_port_num(port: Any) -> list[str]:
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return [_range_error(1, 65535)]


def _is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(_max_len_error(253))
    if not _CONFIG_MAP_KEY.match(value):
        errs.append(
            _regex_error(
                _CONFIG_MAP_KEY_MSG, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


# --------------------------------------------------------------------- name validators

NameFn = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    """generateName prefixes may end in '-': validate them as if a letter followed."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def _name_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def _name_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def _name_dns1035(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def _name_path_segment(name: str, prefix: bool) -> list[str]:
    """path.ValidatePathSegmentName, used by RBAC kinds."""
    if not prefix:
        if name == ".":
            return ["may not be '.'"]
        if name == "..":
            return ["may not be '..'"]
    errs = []
    for illegal in ("/", "%"):
        if illegal in name:
            errs.append(f"may not contain '{illegal}'")
    return errs


_NAME_FNS: dict[tuple[str, str], NameFn] = {
    ("", "Namespace"): _name_label,
    ("", "Service"): _name_dns1035,
    ("rbac.authorization.k8s.io", "Role"): _name_path_segment,
    ("rbac.authorization.k8s.io", "ClusterRole"): _name_path_segment,
    ("rbac.authorization.k8s.io", "RoleBinding"): _name_path_segment,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _name_path_segment,
}


# ------------------------------------------------------------------------- metadata


def _validate_labels(labels: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(labels, dict):
        return errs
    for key in sorted(labels):
        value = labels[key]
        errs.extend(invalid(path, key, m) for m in is_qualified_name(str(key)))
        text = value if isinstance(value, str) else str(value)
        errs.extend(invalid(path, text, m) for m in is_valid_label_value(text))
    return errs


TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)


def _validate_annotations(annotations: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(annotations, dict):
        return errs
    total = 0
    for key in sorted(annotations):
        errs.extend(invalid(path, key, m) for m in is_qualified_name(str(key).lower()))
        value = annotations[key]
        total += len(str(key).encode()) + len(str(value if value is not None else "").encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _validate_object_meta(meta: Any, name_fn: NameFn, path: str = "metadata") -> list[Cause]:
    """ValidateObjectMetaAccessor, without the namespace rules the server already enforces."""
    errs: list[Cause] = []
    if not isinstance(meta, dict):
        meta = {}
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errs.extend(
            invalid(_child(path, "generateName"), generate_name, m)
            for m in name_fn(generate_name, True)
        )
    name = meta.get("name") or ""
    if not name and not generate_name:
        # kube names the object from generateName before validating; so do our callers.
        errs.append(required(_child(path, "name"), "name or generateName is required"))
    elif name:
        errs.extend(invalid(_child(path, "name"), name, m) for m in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespace:
        errs.extend(
            invalid(_child(path, "namespace"), namespace, m) for m in _name_label(namespace, False)
        )
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        errs.append(
            invalid(_child(path, "generation"), generation, "must be greater than or equal to 0")
        )
    errs.extend(_validate_labels(meta.get("labels"), _child(path, "labels")))
    errs.extend(_validate_annotations(meta.get("annotations"), _child(path, "annotations")))
    for finalizer in meta.get("finalizers") or []:
        if isinstance(finalizer, str):
            errs.extend(
                invalid(_child(path, "finalizers"), finalizer, m)
                for m in is_qualified_name(finalizer)
            )
    for ref in meta.get("ownerReferences") or []:
        if not isinstance(ref, dict):
            continue
        refs = _child(path, "ownerReferences")
        api_version = ref.get("apiVersion") or ""
        if not api_version or api_version.endswith("/"):
            errs.append(
                invalid(_child(refs, "apiVersion"), api_version, "version must not be empty")
            )
        for key, what in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not ref.get(key):
                errs.append(
                    invalid(_child(refs, key), ref.get(key) or "", f"{what} must not be empty")
                )
    return errs


def _validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(new, dict) or not isinstance(old, dict):
        return errs
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if old.get(key) and new.get(key) and new.get(key) != old.get(key):
            errs.append(invalid(_child(path, key), new.get(key), "field is immutable"))
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if added:
            listed = ", ".join(_go_quote(f) for f in added)
            errs.append(
                forbidden(
                    _child(path, "finalizers"),
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers []string{{{listed}}}",
                )
            )
    return errs


# ------------------------------------------------------------------ Go %#v renderings


def _go_string_map(value: Any) -> GoValue:
    if not isinstance(value, dict):
        return GoValue("map[string]string(nil)")
    pairs = ", ".join(f"{_go_quote(str(k))}:{_go_quote(str(v))}" for k, v in sorted(value.items()))
    return GoValue(f"map[string]string{{{pairs}}}")


def _go_string_slice(value: Any) -> GoValue:
    if not isinstance(value, list):
        return GoValue("[]string(nil)")
    return GoValue("[]string{" + ", ".join(_go_quote(str(v)) for v in value) + "}")


def _go_label_selector(selector: Any) -> GoValue:
    """metav1.LabelSelector as `%#v` prints it in `field is immutable` messages."""
    selector = selector if isinstance(selector, dict) else {}
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{"
            f"Key:{_go_quote(str(e.get('key', '')))}, "
            f"Operator:{_go_quote(str(e.get('operator', '')))}, "
            f"Values:{_go_string_slice(e.get('values')).text}}}"
            for e in expressions
            if isinstance(e, dict)
        )
        exprs = f"[]v1.LabelSelectorRequirement{{{rendered}}}"
    else:
        exprs = "[]v1.LabelSelectorRequirement(nil)"
    labels = _go_string_map(selector.get("matchLabels")).text
    return GoValue(f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")


# -------------------------------------------------------------------- label selectors


def _selector_matches(selector: Any, labels: Any) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels)."""
    labels = labels if isinstance(labels, dict) else {}
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _selector_empty(selector: Any) -> bool:
    if not isinstance(selector, dict):
        return True
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def _validate_label_selector(selector: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(selector, dict):
        return errs
    errs.extend(_validate_labels(selector.get("matchLabels"), _child(path, "matchLabels")))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        expr_path = _index(_child(path, "matchExpressions"), i)
        if not isinstance(expr, dict):
            continue
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    required(
                        _child(expr_path, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    forbidden(
                        _child(expr_path, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(
                invalid(_child(expr_path, "operator"), op or "", "not a valid selector operator")
            )
        errs.extend(
            invalid(_child(expr_path, "key"), str(expr.get("key") or ""), m)
            for m in is_qualified_name(str(expr.get("key") or ""))
        )
    return errs


# ------------------------------------------------------------------------- pod specs

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_RELAXED_ENV_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters "
    "other than '='"
)


def _quantity_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _checked_quantity(raw: Any, key_path: str, errs: list[Cause]) -> Fraction | None:
    """The parsed quantity (negative ones included), recording kube's errors for a
    malformed or negative value; None when it does not parse."""
    quantity = parse_quantity(raw)
    if quantity is None:
        errs.append(
            invalid(
                key_path,
                _quantity_text(raw),
                "quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )
        )
    elif quantity < 0:
        errs.append(invalid(key_path, _quantity_text(raw), "must be greater than or equal to 0"))
    return quantity


def _validate_resources(resources: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(resources, dict):
        return errs
    limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
    requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
    parsed_limits: dict[str, Fraction] = {}
    for name, raw in sorted(limits.items()):
        quantity = _checked_quantity(raw, _key(_child(path, "limits"), name), errs)
        if quantity is not None and quantity >= 0:
            parsed_limits[name] = quantity
    for name, raw in sorted(requests.items()):
        quantity = _checked_quantity(raw, _key(_child(path, "requests"), name), errs)
        if quantity is None:
            continue
        limit = parsed_limits.get(name)
        if limit is not None and quantity > limit:
            errs.append(
                invalid(
                    _child(path, "requests"),
                    _quantity_text(raw),
                    f"must be less than or equal to {name} limit of {_quantity_text(limits[name])}",
                )
            )
    return errs


def _validate_ports(ports: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        if not isinstance(port, dict):
            continue
        idx = _index(path, i)
        name = port.get("name") or ""
        if name:
            msgs = _is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(_child(idx, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(_child(idx, "name"), name))
            else:
                names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            errs.append(required(_child(idx, "containerPort")))
        else:
            errs.extend(
                invalid(_child(idx, "containerPort"), container_port, m)
                for m in _is_valid_port_num(container_port)
            )
        host_port = port.get("hostPort")
        if host_port:
            errs.extend(
                invalid(_child(idx, "hostPort"), host_port, m)
                for m in _is_valid_port_num(host_port)
            )
        protocol = port.get("protocol") or ""
        if not protocol:
            errs.append(required(_child(idx, "protocol")))
        elif protocol not in _PORT_PROTOCOLS:
            errs.append(not_supported(_child(idx, "protocol"), protocol, _PORT_PROTOCOLS))
    return errs


def _validate_env(env: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, var in enumerate(env if isinstance(env, list) else []):
        if not isinstance(var, dict):
            continue
        idx = _index(path, i)
        name = var.get("name") or ""
        if not name:
            errs.append(required(_child(idx, "name")))
        elif any(ord(c) > 126 or ord(c) < 32 or c == "=" for c in name):
            errs.append(invalid(_child(idx, "name"), name, _RELAXED_ENV_MSG))
        value_from = var.get("valueFrom")
        if isinstance(value_from, dict):
            if var.get("value"):
                errs.append(
                    invalid(
                        _child(idx, "valueFrom"),
                        "",
                        "may not be specified when `value` is not empty",
                    )
                )
            sources = [
                k
                for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                if value_from.get(k) is not None
            ]
            if not sources:
                errs.append(
                    invalid(
                        _child(idx, "valueFrom"),
                        "",
                        "must specify one of: `fieldRef`, `resourceFieldRef`, "
                        "`configMapKeyRef` or `secretKeyRef`",
                    )
                )
            elif len(sources) > 1:
                errs.append(
                    invalid(
                        _child(idx, "valueFrom"),
                        "",
                        "may not have more than one field specified at a time",
                    )
                )
    return errs


def _validate_container(container: Obj, path: str, volumes: set[str], *, init: bool) -> list[Cause]:
    errs: list[Cause] = []
    image = container.get("image")
    if not image:
        errs.append(required(_child(path, "image")))
    elif isinstance(image, str) and image != image.strip():
        errs.append(
            invalid(_child(path, "image"), image, "must not have leading or trailing whitespace")
        )
    policy = container.get("imagePullPolicy") or ""
    if policy and policy not in _PULL_POLICIES:
        errs.append(not_supported(_child(path, "imagePullPolicy"), policy, _PULL_POLICIES))
    message_policy = container.get("terminationMessagePolicy") or ""
    if message_policy and message_policy not in _TERMINATION_MESSAGE_POLICIES:
        errs.append(
            not_supported(
                _child(path, "terminationMessagePolicy"),
                message_policy,
                _TERMINATION_MESSAGE_POLICIES,
            )
        )
    errs.extend(_validate_ports(container.get("ports"), _child(path, "ports")))
    errs.extend(_validate_env(container.get("env"), _child(path, "env")))
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        idx = _index(_child(path, "volumeMounts"), i)
        name = mount.get("name") or ""
        if not name:
            errs.append(required(_child(idx, "name")))
        elif name not in volumes:
            errs.append(not_found(_child(idx, "name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            errs.append(required(_child(idx, "mountPath")))
        elif mount_path in mount_paths:
            errs.append(invalid(_child(idx, "mountPath"), mount_path, "must be unique"))
        mount_paths.add(mount_path)
    errs.extend(_validate_resources(container.get("resources"), _child(path, "resources")))
    if init and container.get("restartPolicy") not in (None, "", "Always"):
        errs.append(
            not_supported(_child(path, "restartPolicy"), container["restartPolicy"], ("Always",))
        )
    return errs


def _validate_containers(spec: Obj, path: str, volumes: set[str]) -> list[Cause]:
    """Regular containers, then init containers, whose names may not repeat either."""
    errs: list[Cause] = []
    seen: set[str] = set()
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errs.append(required(_child(path, "containers")))
    for i, container in enumerate(containers if isinstance(containers, list) else []):
        if isinstance(container, dict):
            idx = _index(_child(path, "containers"), i)
            errs.extend(_container_name(container, idx, seen))
            errs.extend(_validate_container(container, idx, volumes, init=False))
    init_containers = spec.get("initContainers")
    for i, container in enumerate(init_containers if isinstance(init_containers, list) else []):
        if isinstance(container, dict):
            idx = _index(_child(path, "initContainers"), i)
            errs.extend(_container_name(container, idx, seen))
            errs.extend(_validate_container(container, idx, volumes, init=True))
    return errs


def _container_name(container: Obj, path: str, seen: set[str]) -> list[Cause]:
    name = container.get("name") or ""
    if not name:
        return [required(_child(path, "name"))]
    msgs = is_dns1123_label(name)
    if msgs:
        return [invalid(_child(path, "name"), name, m) for m in msgs]
    if name in seen:
        return [duplicate(_child(path, "name"), name)]
    seen.add(name)
    return []


def _validate_volumes(spec: Obj, path: str) -> tuple[list[Cause], set[str]]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict):
            continue
        idx = _index(path, i)
        name = volume.get("name") or ""
        if not name:
            errs.append(required(_child(idx, "name")))
        else:
            msgs = is_dns1123_label(name)
            if msgs:
                errs.extend(invalid(_child(idx, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(_child(idx, "name"), name))
            names.add(name)
        sources = [k for k, v in volume.items() if k != "name" and v is not None]
        if len(sources) > 1:
            errs.append(
                forbidden(_child(idx, sources[1]), "may not specify more than 1 volume type")
            )
    return errs, names


def _validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(spec, dict):
        return [required(_child(path, "containers"))]
    volume_errs, volumes = _validate_volumes(spec, _child(path, "volumes"))
    errs.extend(volume_errs)
    errs.extend(_validate_containers(spec, path, volumes))
    restart = spec.get("restartPolicy") or ""
    if not restart:
        errs.append(required(_child(path, "restartPolicy")))
    elif restart not in _RESTART_POLICIES:
        errs.append(not_supported(_child(path, "restartPolicy"), restart, _RESTART_POLICIES))
    dns = spec.get("dnsPolicy") or ""
    if not dns:
        errs.append(required(_child(path, "dnsPolicy")))
    elif dns not in _DNS_POLICIES:
        errs.append(not_supported(_child(path, "dnsPolicy"), dns, _DNS_POLICIES))
    errs.extend(_validate_labels(spec.get("nodeSelector"), _child(path, "nodeSelector")))
    deadline = spec.get("activeDeadlineSeconds")
    is_int = isinstance(deadline, int) and not isinstance(deadline, bool)
    if is_int and not 1 <= deadline <= 2147483647:
        errs.append(
            invalid(_child(path, "activeDeadlineSeconds"), deadline, _range_error(1, 2147483647))
        )
    node_name = spec.get("nodeName") or ""
    if node_name:
        errs.extend(
            invalid(_child(path, "nodeName"), node_name, m) for m in is_dns1123_subdomain(node_name)
        )
    sa = spec.get("serviceAccountName") or ""
    if sa:
        errs.extend(
            invalid(_child(path, "serviceAccountName"), sa, m) for m in is_dns1123_subdomain(sa)
        )
    return errs


def _validate_pod_template(template: Any, path: str) -> list[Cause]:
    if not isinstance(template, dict):
        return [required(path)]
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    errs = _validate_labels(meta.get("labels"), _child(path, "metadata", "labels"))
    errs.extend(
        _validate_annotations(meta.get("annotations"), _child(path, "metadata", "annotations"))
    )
    errs.extend(_validate_pod_spec(template.get("spec"), _child(path, "spec")))
    return errs


def validate_pod_template(template: Any, path: str) -> list[Cause]:
    """A PodTemplateSpec embedded elsewhere (a custom resource's task template), with
    its causes under `path`; apply the pod template defaults first, as kube does."""
    return _validate_pod_template(template, path)


def _template_labels(spec: Obj) -> Any:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        return template["metadata"].get("labels")
    return None


# ---------------------------------------------------------------------------- pods

_UPDATABLE_POD_FIELDS = ",".join(
    (
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)",
    )
)


def _semantic(value: Any) -> Any:
    """Drop what Go's zero values make indistinguishable (nil, "", empty lists and maps)."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {}, False, 0)}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _spec_diff(old: Obj, new: Obj) -> str:
    """A short cmp.Diff-like listing of the PodSpec fields that differ."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        field = key[:1].upper() + key[1:]
        if key in old:
            lines.append(f"- \t{field}: {json.dumps(old[key], sort_keys=True)},")
        if key in new:
            lines.append(f"+ \t{field}: {json.dumps(new[key], sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    errs: list[Cause] = []
    new_spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
    new_containers = new_spec.get("containers") or []
    old_containers = old_spec.get("containers") or []
    if len(new_containers) != len(old_containers):
        return [forbidden("spec.containers", "pod updates may not add or remove containers")]
    deadline = new_spec.get("activeDeadlineSeconds")
    old_deadline = old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        if not isinstance(deadline, int) or not 0 <= deadline <= 2147483647:
            return [invalid("spec.activeDeadlineSeconds", deadline, _range_error(0, 2147483647))]
        if old_deadline is not None and old_deadline < deadline:
            return [
                invalid(
                    "spec.activeDeadlineSeconds",
                    deadline,
                    "must be less than or equal to previous value",
                )
            ]
    elif old_deadline is not None:
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    munged = json.loads(json.dumps(new_spec))
    for key in ("containers", "initContainers"):
        for i, container in enumerate(munged.get(key) or []):
            olds = old_spec.get(key) or []
            if isinstance(container, dict) and i < len(olds) and isinstance(olds[i], dict):
                container["image"] = olds[i].get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if key in old_spec:
            munged[key] = old_spec[key]
        else:
            munged.pop(key, None)
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and munged.get("terminationGracePeriodSeconds") == 1
    ):
        munged["terminationGracePeriodSeconds"] = old_grace
    if _semantic(munged) != _semantic(old_spec):
        errs.append(
            forbidden(
                "spec",
                f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n"
                + _spec_diff(_semantic(old_spec), _semantic(munged)),
            )
        )
    # Tolerations: only additions, and changes to tolerationSeconds.
    new_tolerations = [t for t in new_spec.get("tolerations") or [] if isinstance(t, dict)]
    for toleration in old_spec.get("tolerations") or []:
        if not isinstance(toleration, dict):
            continue
        stripped = {k: v for k, v in toleration.items() if k != "tolerationSeconds"}
        if not any(
            {k: v for k, v in t.items() if k != "tolerationSeconds"} == stripped
            for t in new_tolerations
        ):
            errs.append(
                forbidden(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            )
            break
    return errs


def _validate_pod(pod: Obj, old: Obj | None) -> list[Cause]:
    errs = _validate_pod_spec(pod.get("spec"), "spec")
    if old is not None:
        errs.extend(_validate_pod_update(pod, old))
    return errs


# ---------------------------------------------------------------------- workloads


def _validate_replicas(spec: Obj, path: str, key: str = "replicas") -> list[Cause]:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(_child(path, key), value, "must be greater than or equal to 0")]
    return []


def _validate_workload(obj: Obj, old: Obj | None, *, what: str) -> list[Cause]:
    """Deployment, ReplicaSet, DaemonSet and StatefulSet specs (apps/v1)."""
    errs: list[Cause] = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if what != "daemonset":
        errs.extend(_validate_replicas(spec, "spec"))
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        errs.append(required("spec.selector"))
    else:
        errs.extend(_validate_label_selector(selector, "spec.selector"))
        if _selector_empty(selector):
            errs.append(
                invalid(
                    "spec.selector",
                    _go_label_selector(selector),
                    f"empty selector is invalid for {what}",
                )
            )
    template = spec.get("template")
    if isinstance(selector, dict) and not _selector_empty(selector) and isinstance(template, dict):
        labels = _template_labels(spec)
        if not _selector_matches(selector, labels):
            errs.append(
                invalid(
                    "spec.template.metadata.labels",
                    _go_string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
    errs.extend(_validate_pod_template(template, "spec.template"))
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        restart = template["spec"].get("restartPolicy") or ""
        if restart and restart != "Always":
            errs.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
        deadline = template["spec"].get("activeDeadlineSeconds")
        if deadline is not None and what == "daemonset":
            errs.append(
                invalid(
                    "spec.template.spec.activeDeadlineSeconds",
                    deadline,
                    "activeDeadlineSeconds must be nil for daemons",
                )
            )
        elif deadline is not None:
            errs.append(
                forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    f"activeDeadlineSeconds in {_KIND_WORD[what]} is not Supported",
                )
            )
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        errs.extend(_validate_replicas(spec, "spec", key))
    if old is not None:
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        if what == "statefulset":
            # The selector is among the fields a StatefulSet update may not touch.
            errs.extend(_validate_statefulset_update(spec, old_spec))
        elif old_spec.get("selector") is not None and _semantic(selector) != _semantic(
            old_spec.get("selector")
        ):
            errs.append(
                invalid("spec.selector", _go_label_selector(selector), "field is immutable")
            )
    return errs


_KIND_WORD = {"deployment": "ReplicaSet", "replicaset": "ReplicaSet", "statefulset": "StatefulSet"}

_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _validate_statefulset_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    new_rest = {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}
    old_rest = {k: v for k, v in old_spec.items() if k not in _STATEFULSET_MUTABLE}
    if _semantic(new_rest) != _semantic(old_rest):
        return [
            forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                "'minReadySeconds' are forbidden",
            )
        ]
    return []


# --------------------------------------------------------------------------- batch

_CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")


def _validate_job_spec(spec: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not isinstance(spec, dict):
        return [required(_child(path, "template"))]
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        value = spec.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if key == "activeDeadlineSeconds" and value <= 0:
                errs.append(invalid(_child(path, key), value, "must be greater than 0"))
            elif value < 0:
                errs.append(invalid(_child(path, key), value, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    if selector is None:
        if spec.get("manualSelector") is True:
            errs.append(required(_child(path, "selector")))
    else:
        errs.extend(_validate_label_selector(selector, _child(path, "selector")))
        labels = _template_labels(spec)
        if not _selector_matches(selector, labels):
            errs.append(
                invalid(
                    _child(path, "template", "metadata", "labels"),
                    _go_string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
    mode = spec.get("completionMode")
    if mode not in (None, "NonIndexed", "Indexed"):
        errs.append(not_supported(_child(path, "completionMode"), mode, ("NonIndexed", "Indexed")))
    template = spec.get("template")
    errs.extend(_validate_pod_template(template, _child(path, "template")))
    restart = ""
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        restart = template["spec"].get("restartPolicy") or ""
    if restart not in ("OnFailure", "Never"):
        errs.append(
            required(
                _child(path, "template", "spec", "restartPolicy"),
                'valid values: "OnFailure", "Never"',
            )
        )
    return errs


def _validate_job(job: Obj, old: Obj | None) -> list[Cause]:
    errs = []
    name = (job.get("metadata") or {}).get("name") or ""
    if len(name) > 63:
        # The name is copied into the `job-name` label on every pod.
        errs.append(invalid("metadata.name", name, _max_len_error(63)))
    errs.extend(_validate_job_spec(job.get("spec"), "spec"))
    if old is not None:
        spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        if old_spec.get("selector") is not None and _semantic(spec.get("selector")) != _semantic(
            old_spec.get("selector")
        ):
            errs.append(
                invalid(
                    "spec.selector", _go_label_selector(spec.get("selector")), "field is immutable"
                )
            )
        if spec.get("completionMode") != old_spec.get("completionMode"):
            errs.append(
                invalid("spec.completionMode", spec.get("completionMode"), "field is immutable")
            )
    return errs


def _validate_cronjob(cron: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    name = (cron.get("metadata") or {}).get("name") or ""
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = cron.get("spec") if isinstance(cron.get("spec"), dict) else {}
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    elif not schedule.startswith("@"):
        fields = schedule.split()
        if len(fields) != 5:
            errs.append(
                invalid(
                    "spec.schedule",
                    schedule,
                    f"expected exactly 5 fields, found {len(fields)}: {schedule}",
                )
            )
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in _CONCURRENCY_POLICIES:
        errs.append(not_supported("spec.concurrencyPolicy", policy, _CONCURRENCY_POLICIES))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs.extend(_validate_replicas(spec, "spec", key))
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict):
        errs.append(required("spec.jobTemplate"))
    else:
        meta = (
            job_template.get("metadata") if isinstance(job_template.get("metadata"), dict) else {}
        )
        errs.extend(_validate_labels(meta.get("labels"), "spec.jobTemplate.metadata.labels"))
        errs.extend(_validate_job_spec(job_template.get("spec"), "spec.jobTemplate.spec"))
    return errs


# -------------------------------------------------------------------------- services

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_SESSION_AFFINITIES = ("ClientIP", "None")


def _go_int_or_string(value: int | str) -> GoValue:
    if isinstance(value, str):
        return GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_go_quote(value)}}}")
    return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{value}, StrVal:""}}')


def _go_service_port_key(protocol: str, port: Any) -> GoValue:
    return GoValue(
        'core.ServicePort{Name:"", Protocol:' + _go_quote(protocol) + ", "
        f"AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, "
        'IntVal:0, StrVal:""}, NodePort:0}'
    )


def _validate_service(svc: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    spec = svc.get("spec") if isinstance(svc.get("spec"), dict) else {}
    svc_type = spec.get("type") or ""
    if not svc_type:
        errs.append(required("spec.type"))
    elif svc_type not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", svc_type, _SERVICE_TYPES))
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") if isinstance(spec.get("ports"), list) else []
    if svc_type == "ExternalName":
        external = spec.get("externalName") or ""
        if not external:
            errs.append(required("spec.externalName"))
    elif not ports and not headless:
        errs.append(required("spec.ports"))
    names: set[str] = set()
    seen_ports: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        idx = _index("spec.ports", i)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(_child(idx, "name")))
        elif name:
            msgs = is_dns1123_label(name)
            if msgs:
                errs.extend(invalid(_child(idx, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(_child(idx, "name"), name))
            names.add(name)
        number = port.get("port")
        errs.extend(
            invalid(_child(idx, "port"), number if number is not None else 0, m)
            for m in _is_valid_port_num(number)
        )
        protocol = port.get("protocol") or ""
        if not protocol:
            errs.append(required(_child(idx, "protocol")))
        elif protocol not in _PORT_PROTOCOLS:
            errs.append(not_supported(_child(idx, "protocol"), protocol, _PORT_PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            errs.extend(
                invalid(_child(idx, "targetPort"), _go_int_or_string(target), m)
                for m in _is_valid_port_name(target)
            )
        elif isinstance(target, int) and not isinstance(target, bool):
            errs.extend(
                invalid(_child(idx, "targetPort"), _go_int_or_string(target), m)
                for m in _is_valid_port_num(target)
            )
        node_port = port.get("nodePort")
        if node_port:
            if svc_type == "ClusterIP":
                errs.append(
                    forbidden(_child(idx, "nodePort"), "may not be used when `type` is 'ClusterIP'")
                )
            else:
                errs.extend(
                    invalid(_child(idx, "nodePort"), node_port, m)
                    for m in _is_valid_port_num(node_port)
                )
        key = (protocol, number)
        if key in seen_ports:
            errs.append(duplicate(idx, _go_service_port_key(protocol, number)))
        seen_ports.add(key)
    affinity = spec.get("sessionAffinity") or ""
    if affinity and affinity not in _SESSION_AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, _SESSION_AFFINITIES))
    errs.extend(_validate_labels(spec.get("selector"), "spec.selector"))
    if old is not None and svc_type != "ExternalName":
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        old_ips = old_spec.get("clusterIPs") or (
            [old_spec["clusterIP"]] if old_spec.get("clusterIP") else []
        )
        new_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if (
            old_spec.get("type") != "ExternalName"
            and old_ips
            and new_ips
            and old_ips[0] != new_ips[0]
        ):
            errs.append(
                invalid("spec.clusterIPs[0]", _go_string_slice(new_ips), "may not change once set")
            )
    return errs


# ----------------------------------------------------------------- config and secrets

MAX_SECRET_SIZE = 1 * 1024 * 1024


def _validate_data_keys(obj: Obj, keys: Iterable[str]) -> list[Cause]:
    errs: list[Cause] = []
    for bag in keys:
        data = obj.get(bag)
        if not isinstance(data, dict):
            continue
        for key in sorted(data):
            errs.extend(invalid(_key(bag, key), key, m) for m in _is_config_map_key(key))
    return errs


def _validate_immutable_data(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is None or old.get("immutable") is not True:
        return []
    errs = []
    if obj.get("immutable") is not True:
        errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for bag in ("data", "binaryData", "stringData"):
        if (obj.get(bag) or {}) != (old.get(bag) or {}):
            errs.append(forbidden(bag, "field is immutable when `immutable` is set"))
    return errs


def _validate_config_map(cm: Obj, old: Obj | None) -> list[Cause]:
    errs = _validate_data_keys(cm, ("data", "binaryData"))
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    if isinstance(data, dict) and isinstance(binary, dict):
        for key in sorted(set(data) & set(binary)):
            errs.append(invalid(_key("data", key), key, "duplicate of key present in binaryData"))
    errs.extend(_validate_immutable_data(cm, old))
    return errs


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _validate_secret(secret: Obj, old: Obj | None) -> list[Cause]:
    errs = _validate_data_keys(secret, ("data", "stringData"))
    data = dict(secret.get("data") or {})
    data.update(secret.get("stringData") or {})
    secret_type = secret.get("type") or "Opaque"
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            errs.append(required(_key("data", key)))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    if secret_type == "kubernetes.io/basic-auth" and not ("username" in data or "password" in data):
        errs.append(required(_key("data", "username")))
    if old is not None and (old.get("type") or "Opaque") != secret_type:
        errs.append(invalid("type", secret_type, "field is immutable"))
    errs.extend(_validate_immutable_data(secret, old))
    return errs


# ------------------------------------------------------------------------ the rest


def _validate_priority_class(pc: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    name = (pc.get("metadata") or {}).get("name") or ""
    value = pc.get("value")
    if not name.startswith("system-") and isinstance(value, int) and value > 1000000000:
        errs.append(
            forbidden("value", "maximum allowed value of a user defined priority is 1000000000")
        )
    policy = pc.get("preemptionPolicy")
    if policy not in (None, "PreemptLowerPriority", "Never"):
        errs.append(not_supported("preemptionPolicy", policy, ("Never", "PreemptLowerPriority")))
    if old is not None:
        if value != old.get("value"):
            errs.append(forbidden("value", "may not be changed in an update."))
        if policy != old.get("preemptionPolicy"):
            errs.append(invalid("preemptionPolicy", policy, "field is immutable"))
    return errs


def _validate_binding(binding: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    role_ref = binding.get("roleRef") if isinstance(binding.get("roleRef"), dict) else {}
    if not role_ref.get("name"):
        errs.append(required("roleRef.name"))
    kind = role_ref.get("kind") or ""
    allowed = (
        ("ClusterRole",) if binding.get("kind") == "ClusterRoleBinding" else ("ClusterRole", "Role")
    )
    if kind not in allowed:
        errs.append(not_supported("roleRef.kind", kind, allowed))
    for i, subject in enumerate(binding.get("subjects") or []):
        if not isinstance(subject, dict):
            continue
        idx = _index("subjects", i)
        if not subject.get("name"):
            errs.append(required(_child(idx, "name")))
        if subject.get("kind") not in ("ServiceAccount", "User", "Group"):
            errs.append(
                not_supported(
                    _child(idx, "kind"),
                    subject.get("kind") or "",
                    ("ServiceAccount", "User", "Group"),
                )
            )
    if old is not None:
        old_ref = old.get("roleRef") if isinstance(old.get("roleRef"), dict) else {}
        if old_ref and old_ref != role_ref:
            value = GoValue(
                "rbac.RoleRef{APIGroup:"
                + _go_quote(str(role_ref.get("apiGroup", "")))
                + ", Kind:"
                + _go_quote(str(kind))
                + ", Name:"
                + _go_quote(str(role_ref.get("name", "")))
                + "}"
            )
            errs.append(invalid("roleRef", value, "cannot change roleRef"))
    return errs


def _validate_crd(crd: Obj, old: Obj | None) -> list[Cause]:
    from kubeedge.api.schema import validate_crd

    errs = validate_crd(crd)
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    group = str(spec.get("group") or "")
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    # Groups under k8s.io and kubernetes.io belong to Kubernetes' own APIs; kube asks
    # for an approval annotation before a CRD may use one (and our built-in kinds live
    # there, so a CRD must never shadow them).
    protected = group in ("k8s.io", "kubernetes.io") or group.endswith(
        (".k8s.io", ".kubernetes.io"))
    if protected and not annotations.get("api-approved.kubernetes.io"):
        errs.append(invalid(
            "metadata.annotations[api-approved.kubernetes.io]", "",
            'protected groups must have approval annotation "api-approved.kubernetes.io", '
            "see https://github.com/kubernetes/enhancements/pull/1111"))
    if old is not None:
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        for field in ("scope", "group"):
            if spec.get(field) != old_spec.get(field):
                errs.append(invalid(f"spec.{field}", spec.get(field), "field is immutable"))
        old_names = old_spec.get("names") if isinstance(old_spec.get("names"), dict) else {}
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        if names.get("plural") != old_names.get("plural"):
            errs.append(invalid("spec.names.plural", names.get("plural"), "field is immutable"))
    return errs


def _validate_node(node: Obj, old: Obj | None) -> list[Cause]:
    """spec.podCIDR(s): valid CIDRs, at most one per IP family, podCIDR the first, and
    set once (kube's ValidateNode and ValidateNodeUpdate)."""
    errs: list[Cause] = []
    spec = node.get("spec") if isinstance(node.get("spec"), dict) else {}
    cidrs = spec.get("podCIDRs") or []
    if not isinstance(cidrs, list):
        return [invalid("spec.podCIDRs", cidrs, "must be a list of CIDRs")]
    families = []
    for i, cidr in enumerate(cidrs):
        try:
            families.append(ipaddress.ip_network(str(cidr), strict=False).version)
        except ValueError:
            errs.append(invalid(f"spec.podCIDRs[{i}]", cidr, "must be a valid CIDR"))
    if len(cidrs) > 2 or (len(families) == 2 and families[0] == families[1]):
        errs.append(invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for "
                            "each IP family"))
    pod_cidr = spec.get("podCIDR") or ""
    if pod_cidr and cidrs and cidrs[0] != pod_cidr:
        errs.append(invalid("spec.podCIDR", pod_cidr, "must match the first element of "
                            "spec.podCIDRs"))
    if old is not None:
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        old_cidrs = old_spec.get("podCIDRs") or []
        if old_cidrs and old_cidrs != cidrs:
            errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR '
                                  'except from "" to valid'))
    return errs


Validator = Callable[[Obj, Obj | None], list[Cause]]

_VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): _validate_pod,
    ("", "Service"): _validate_service,
    ("", "ConfigMap"): _validate_config_map,
    ("", "Secret"): _validate_secret,
    ("", "Node"): _validate_node,
    ("apps", "Deployment"): lambda o, old: _validate_workload(o, old, what="deployment"),
    ("apps", "ReplicaSet"): lambda o, old: _validate_workload(o, old, what="replicaset"),
    ("apps", "DaemonSet"): lambda o, old: _validate_workload(o, old, what="daemonset"),
    ("apps", "StatefulSet"): lambda o, old: _validate_workload(o, old, what="statefulset"),
    ("batch", "Job"): _validate_job,
    ("batch", "CronJob"): _validate_cronjob,
    ("scheduling.k8s.io", "PriorityClass"): _validate_priority_class,
    ("rbac.authorization.k8s.io", "RoleBinding"): _validate_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _validate_binding,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _validate_crd,
}


def validate(
    group: str, version: str, kind: str, obj: Obj, *, old: Obj | None = None
) -> list[Cause]:
    """Everything wrong with `obj` (and, given `old`, with changing `old` into it).

    Returns kube's causes in kube's order (metadata first), duplicates dropped as
    field.ErrorList.ToAggregate drops them; an empty list means valid.
    """
    name_fn = _NAME_FNS.get((group, kind), _name_subdomain)
    errs = _validate_object_meta(obj.get("metadata"), name_fn)
    if old is not None:
        errs.extend(_validate_object_meta_update(obj.get("metadata"), old.get("metadata")))
    validator = _VALIDATORS.get((group, kind))
    if validator is not None:
        errs.extend(validator(obj, old))
    unique: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for cause in errs:
        if (cause.field, cause.message) not in seen:
            seen.add((cause.field, cause.message))
            unique.append(cause)
    return unique
