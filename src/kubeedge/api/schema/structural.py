"""Structural schemas of custom resources: validation, defaulting, pruning (apiextensions).

Owns (specs/k8s-api.md §2, "CRs are pruned by their schema"):
- `CRSchema(openAPIV3Schema)` with
  - `.prune(obj) -> list[str]`: drop fields the schema does not specify, unless
    `x-kubernetes-preserve-unknown-fields: true`; apiVersion/kind/metadata are kept at
    the root and in `x-kubernetes-embedded-resource` objects, and metadata is cut down
    to ObjectMeta. Returns the dropped paths (the Strict/Warn "unknown field" list).
  - `.unknown_fields(obj) -> list[str]`: the same paths, without mutating.
  - `.default(obj)`: apply `default`s to missing (or non-nullable null) fields of
    objects that exist, recursively, then drop non-nullable nulls without a default.
  - `.validate(obj) -> list[Cause]`: type, nullable, enum, format, numeric bounds,
    multipleOf, string length/pattern, items/properties counts, uniqueItems, required,
    additionalProperties, allOf/anyOf/oneOf/not, list-type set/map uniqueness,
    x-kubernetes-int-or-string and x-kubernetes-embedded-resource; each Cause worded
    like kube-apiserver (`Invalid value: "string": spec.replicas in body must be of
    type integer: "string"`, `Required value`, `Unsupported value: ...`).
  - `.admit(obj)`: prune, default, validate, the order the API server applies them.
- `structural_errors(schema, path)` and `validate_crd(crd)`: the basic checks that make
  a CRD acceptable (type at every level, items for arrays, root is an object, metadata
  restrictions, valid patterns and defaults, one storage version, names).

Never: evaluates CEL (`x-kubernetes-validations`), converts between versions, or
validates ObjectMeta contents (names, labels); those belong to the API server.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from kubeedge.api.errors import Cause
from kubeedge.api.schema.dsl import OBJECT_META
from kubeedge.api.schema.strict import prune_unknown

META_FIELDS = ("apiVersion", "kind", "metadata")
FREE_SCHEMA: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

# --- value rendering like Go's field errors ------------------------------------------


def go_value(v: Any) -> str:
    """Render a bad value the way k8s field errors do (%q for strings, %v for numbers)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[]interface {}{" + ", ".join(go_value(x) for x in v) + "}"
    if isinstance(v, dict):
        inner = ", ".join(f"{json.dumps(str(k))}:{go_value(x)}" for k, x in v.items())
        return "map[string]interface {}{" + inner + "}"
    return str(v)


def go_number(v: float | int) -> str:
    """Go's %v of a float64: 2 -> "2", 1.5 -> "1.5", 1e21 -> "1e+21"."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def _invalid(path: str, value: Any, detail: str, reason: str = "FieldValueInvalid") -> Cause:
    return Cause(path, f"Invalid value: {go_value(value)}: {detail}", reason)


def _in_body(path: str) -> str:
    return f"{path} in body" if path else "in body"


def _type_invalid(path: str, actual: str, expected: str) -> Cause:
    detail = f'{_in_body(path)} must be of type {expected}: "{actual}"'
    return _invalid(path, actual, detail, "FieldValueTypeInvalid")


def _required(path: str, detail: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def _forbidden(path: str, detail: str) -> Cause:
    return Cause(path, f"Forbidden: {detail}", "FieldValueForbidden")


def _not_supported(path: str, value: Any, allowed: list[Any]) -> Cause:
    vals = ", ".join(
        json.dumps(a if isinstance(a, str) else json.dumps(a, separators=(",", ":")))
        for a in allowed
    )
    return Cause(
        path,
        f"Unsupported value: {go_value(value)}: supported values: {vals}",
        "FieldValueNotSupported",
    )


def _too_long(path: str, limit: int) -> Cause:
    unit = "byte" if limit == 1 else "bytes"
    return Cause(path, f"Too long: may not be more than {limit} {unit}", "FieldValueTooLong")


def _too_many(path: str, actual: int, limit: int) -> Cause:
    return Cause(path, f"Too many: {actual}: must have at most {limit} items", "FieldValueTooMany")


def _duplicate(path: str, value: Any) -> Cause:
    return Cause(path, f"Duplicate value: {go_value(value)}", "FieldValueDuplicate")


# --- JSON typing ---------------------------------------------------------------------------


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _schema_types(s: Mapping[str, Any]) -> list[str]:
    if s.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    t = s.get("type")
    if isinstance(t, list):
        return [str(x) for x in t]
    return [t] if isinstance(t, str) and t else []


def _type_ok(v: Any, types: list[str]) -> bool:
    actual = json_type(v)
    if actual in types:
        return True
    if actual == "integer" and "number" in types:
        return True
    # A float with an integral value is an integer (kube-openapi's isFloatInt).
    return actual == "number" and "integer" in types and float(v).is_integer()


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# --- formats (loosely like go-openapi strfmt) ------------------------------------------

_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC_RE = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_DURATION_RE = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+$")


def _format_ok(fmt: str, v: str) -> bool:
    try:
        if fmt in ("date-time", "datetime"):
            return bool(_DATE_TIME_RE.match(v))
        if fmt == "date":
            return bool(_DATE_RE.match(v))
        if fmt == "byte":
            base64.b64decode(v, validate=True)
            return True
        if fmt in ("uuid", "uuid3", "uuid4", "uuid5"):
            u = uuid.UUID(v)
            return fmt == "uuid" or u.version == int(fmt[-1])
        if fmt == "ipv4":
            ipaddress.IPv4Address(v)
            return True
        if fmt == "ipv6":
            ipaddress.IPv6Address(v)
            return True
        if fmt == "cidr":
            ipaddress.ip_network(v, strict=False)
            return "/" in v
        if fmt == "mac":
            return bool(_MAC_RE.match(v))
        if fmt == "hostname":
            return bool(_HOSTNAME_RE.match(v))
        if fmt == "email":
            return bool(_EMAIL_RE.match(v))
        if fmt == "duration":
            return bool(_DURATION_RE.match(v))
    except (ValueError, binascii.Error):
        return False
    return True  # unknown formats are not checked


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


# --- validation --------------------------------------------------------------------------


def _is_embedded_meta(s: Mapping[str, Any], key: str, root: bool) -> bool:
    return key in META_FIELDS and (root or bool(s.get("x-kubernetes-embedded-resource")))


def _validate(s: Any, v: Any, path: str, out: list[Cause], root: bool = False) -> None:
    if not isinstance(s, Mapping):
        return
    types = _schema_types(s)
    if v is None:
        if types and not s.get("nullable"):
            out.append(_type_invalid(path, "null", ",".join(types)))
        return
    if types and not _type_ok(v, types):
        out.append(_type_invalid(path, json_type(v), ",".join(types)))
        return
    fmt = s.get("format")
    if isinstance(v, str) and isinstance(fmt, str) and fmt and not _format_ok(fmt, v):
        out.append(
            _invalid(
                path, v, f'{_in_body(path)} must be of type {fmt}: "{v}"', "FieldValueTypeInvalid"
            )
        )
    enum = s.get("enum")
    if isinstance(enum, list) and enum and not any(_json_equal(v, e) for e in enum):
        out.append(_not_supported(path, v, enum))

    if isinstance(v, str):
        _validate_string(s, v, path, out)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        _validate_number(s, v, path, out)
    elif isinstance(v, list):
        _validate_array(s, v, path, out)
    elif isinstance(v, dict):
        _validate_object(s, v, path, out, root)

    for sub in s.get("allOf") or []:
        _validate(sub, v, path, out)
    any_of = s.get("anyOf") or []
    if any_of and all(_collect(sub, v, path) for sub in any_of):
        out.append(_invalid(path, v, f"{_in_body(path)} must validate at least one schema (anyOf)"))
    one_of = s.get("oneOf") or []
    if one_of and sum(1 for sub in one_of if not _collect(sub, v, path)) != 1:
        out.append(
            _invalid(path, v, f"{_in_body(path)} must validate one and only one schema (oneOf)")
        )
    not_schema = s.get("not")
    if isinstance(not_schema, Mapping) and not _collect(not_schema, v, path):
        out.append(_invalid(path, v, f"{_in_body(path)} must not validate the schema (not)"))
    if s.get("x-kubernetes-embedded-resource") and isinstance(v, dict):
        for key in ("apiVersion", "kind"):
            if not v.get(key):
                out.append(_required(_child(path, key), "must not be empty"))


def _collect(s: Any, v: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    _validate(s, v, path, errs)
    return errs


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate_string(s: Mapping[str, Any], v: str, path: str, out: list[Cause]) -> None:
    n = len(v)
    max_len, min_len = s.get("maxLength"), s.get("minLength")
    if isinstance(max_len, int) and n > max_len:
        out.append(_too_long(path, max_len))
    if isinstance(min_len, int) and n < min_len:
        out.append(_invalid(path, v, f"{_in_body(path)} should be at least {min_len} chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        rx = _regex(pattern)
        if rx is not None and not rx.search(v):
            out.append(_invalid(path, v, f"{_in_body(path)} should match '{pattern}'"))


def _validate_number(s: Mapping[str, Any], v: float, path: str, out: list[Cause]) -> None:
    maximum, minimum = s.get("maximum"), s.get("minimum")
    if isinstance(maximum, int | float) and not isinstance(maximum, bool):
        if s.get("exclusiveMaximum") and v >= maximum:
            out.append(
                _invalid(path, v, f"{_in_body(path)} should be less than {go_number(maximum)}")
            )
        elif v > maximum:
            out.append(
                _invalid(
                    path,
                    v,
                    f"{_in_body(path)} should be less than or equal to {go_number(maximum)}",
                )
            )
    if isinstance(minimum, int | float) and not isinstance(minimum, bool):
        if s.get("exclusiveMinimum") and v <= minimum:
            out.append(
                _invalid(path, v, f"{_in_body(path)} should be greater than {go_number(minimum)}")
            )
        elif v < minimum:
            out.append(
                _invalid(
                    path,
                    v,
                    f"{_in_body(path)} should be greater than or equal to {go_number(minimum)}",
                )
            )
    multiple = s.get("multipleOf")
    if isinstance(multiple, int | float) and not isinstance(multiple, bool) and multiple > 0:
        q = v / multiple
        if abs(q - round(q)) > 1e-9:
            out.append(
                _invalid(path, v, f"{_in_body(path)} should be a multiple of {go_number(multiple)}")
            )


def _validate_array(s: Mapping[str, Any], v: list[Any], path: str, out: list[Cause]) -> None:
    n = len(v)
    max_items, min_items = s.get("maxItems"), s.get("minItems")
    if isinstance(min_items, int) and n < min_items:
        out.append(_invalid(path, n, f"{_in_body(path)} should have at least {min_items} items"))
    if isinstance(max_items, int) and n > max_items:
        out.append(_too_many(path, n, max_items))
    if s.get("uniqueItems") and any(
        _json_equal(v[i], v[j]) for i in range(n) for j in range(i + 1, n)
    ):
        out.append(_invalid(path, "", f"{_in_body(path)} shouldn't contain duplicates"))
    items = s.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(v):
            _validate(items, item, f"{path}[{i}]", out)
    elif isinstance(items, list):
        for i, (sub, item) in enumerate(zip(items, v, strict=False)):
            _validate(sub, item, f"{path}[{i}]", out)
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        for j in range(n):
            if any(_json_equal(v[i], v[j]) for i in range(j)):
                out.append(_duplicate(f"{path}[{j}]", v[j]))
    elif list_type == "map":
        keys = [k for k in s.get("x-kubernetes-list-map-keys") or [] if isinstance(k, str)]
        seen: list[dict[str, Any]] = []
        for j, item in enumerate(v):
            if not isinstance(item, dict) or not keys:
                continue
            ident = {k: item.get(k) for k in keys if k in item}
            if any(_json_equal(ident, prev) for prev in seen):
                out.append(_duplicate(f"{path}[{j}]", ident))
            seen.append(ident)


def _validate_object(
    s: Mapping[str, Any], v: dict[str, Any], path: str, out: list[Cause], root: bool
) -> None:
    n = len(v)
    max_props, min_props = s.get("maxProperties"), s.get("minProperties")
    if isinstance(min_props, int) and n < min_props:
        out.append(
            _invalid(path, n, f"{_in_body(path)} should have at least {min_props} properties")
        )
    if isinstance(max_props, int) and n > max_props:
        out.append(_too_many(path, n, max_props))
    for key in s.get("required") or []:
        if isinstance(key, str) and key not in v:
            out.append(_required(_child(path, key)))
    props = s.get("properties") or {}
    additional = s.get("additionalProperties")
    for key, value in v.items():
        if _is_embedded_meta(s, key, root) and key not in props:
            continue
        if root and key == "metadata":
            continue  # ObjectMeta is validated by the API server itself
        p = _child(path, key)
        if key in props:
            _validate(props[key], value, p, out)
        elif isinstance(additional, Mapping):
            _validate(additional, value, p, out)
        elif additional is False:
            out.append(_invalid(p, key, f"{_in_body(p)} is a forbidden property"))


# --- defaulting --------------------------------------------------------------------------


def _is_nonnullable_null(v: Any, s: Any) -> bool:
    return v is None and isinstance(s, Mapping) and not s.get("nullable")


def _default(x: Any, s: Any) -> None:
    if not isinstance(s, Mapping):
        return
    if isinstance(x, dict):
        props = s.get("properties") or {}
        for key, prop in props.items():
            if not isinstance(prop, Mapping) or "default" not in prop:
                continue
            if key not in x or _is_nonnullable_null(x[key], prop):
                x[key] = copy.deepcopy(prop["default"])
        additional = s.get("additionalProperties")
        for key, value in list(x.items()):
            if key in props:
                _default(value, props[key])
            elif isinstance(additional, Mapping):
                if _is_nonnullable_null(value, additional) and "default" in additional:
                    x[key] = copy.deepcopy(additional["default"])
                else:
                    _default(value, additional)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, Mapping):
            for i, value in enumerate(x):
                if _is_nonnullable_null(value, items) and "default" in items:
                    x[i] = copy.deepcopy(items["default"])
                else:
                    _default(value, items)


def _drop_nulls(x: Any, s: Any) -> None:
    """Remove nulls of non-nullable fields that have no default (apiextensions rule)."""
    if not isinstance(s, Mapping):
        return
    if isinstance(x, dict):
        props = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key, value in list(x.items()):
            sub = props.get(key, additional if isinstance(additional, Mapping) else None)
            if sub is None:
                continue
            if value is None and "default" not in sub and not sub.get("nullable"):
                del x[key]
            else:
                _drop_nulls(value, sub)
    elif isinstance(x, list):
        items = s.get("items")
        for value in x:
            _drop_nulls(value, items)


# --- pruning ---------------------------------------------------------------------------------


def _prune(x: Any, s: Any, path: str, out: list[str], resource_root: bool) -> None:
    if isinstance(s, Mapping) and s.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(x, s, path, out, resource_root)
        return
    if isinstance(x, dict):
        if resource_root:
            _prune_metadata(x, path, out)
        if not isinstance(s, Mapping):
            for key in list(x):
                if resource_root and key in META_FIELDS:
                    continue
                out.append(_child(path, key))
                del x[key]
            return
        props = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key in list(x):
            if (resource_root or s.get("x-kubernetes-embedded-resource")) and key in META_FIELDS:
                continue
            p = _child(path, key)
            if key in props:
                sub = props[key]
                _prune(x[key], sub, p, out, bool(_is_embedded(sub)))
            elif isinstance(additional, Mapping):
                _prune(x[key], additional, p, out, bool(_is_embedded(additional)))
            elif additional is True:
                continue
            else:
                out.append(p)
                del x[key]
    elif isinstance(x, list):
        items = s.get("items") if isinstance(s, Mapping) else None
        for i, item in enumerate(x):
            if isinstance(items, Mapping):
                _prune(item, items, f"{path}[{i}]", out, bool(_is_embedded(items)))
            else:
                _prune(item, None, f"{path}[{i}]", out, False)


def _skip_prune(x: Any, s: Mapping[str, Any], path: str, out: list[str], root: bool) -> None:
    if isinstance(x, dict):
        if root or s.get("x-kubernetes-embedded-resource"):
            _prune_metadata(x, path, out)
        props = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key, value in x.items():
            if (root or s.get("x-kubernetes-embedded-resource")) and key in META_FIELDS:
                continue
            p = _child(path, key)
            if key in props:
                _prune(value, props[key], p, out, bool(_is_embedded(props[key])))
            elif isinstance(additional, Mapping):
                _prune(value, additional, p, out, bool(_is_embedded(additional)))
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(x):
                _skip_prune(item, items, f"{path}[{i}]", out, bool(_is_embedded(items)))


def _is_embedded(s: Any) -> bool:
    return isinstance(s, Mapping) and bool(s.get("x-kubernetes-embedded-resource"))


def _prune_metadata(x: dict[str, Any], path: str, out: list[str]) -> None:
    meta = x.get("metadata")
    if isinstance(meta, dict):
        out.extend(prune_unknown(OBJECT_META, meta, _child(path, "metadata")))


# --- the schema object -------------------------------------------------------------------


class CRSchema:
    """The `openAPIV3Schema` of one served CRD version, applied to custom resources."""

    __slots__ = ("schema",)

    def __init__(self, schema: Mapping[str, Any] | None) -> None:
        self.schema: Mapping[str, Any] = schema if schema else FREE_SCHEMA

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Remove unspecified fields in place; return their paths (e.g. "spec.foo")."""
        out: list[str] = []
        _prune(obj, self.schema, "", out, resource_root=True)
        return out

    def unknown_fields(self, obj: dict[str, Any]) -> list[str]:
        """The paths `prune` would remove, without touching `obj`."""
        return self.prune(copy.deepcopy(obj))

    def default(self, obj: dict[str, Any]) -> None:
        """Apply defaults in place (apiextensions rules), then drop defaultless nulls."""
        _default(obj, self.schema)
        _drop_nulls(obj, self.schema)

    def validate(self, obj: Any) -> list[Cause]:
        """Schema violations, one Cause per problem, worded like kube-apiserver."""
        out: list[Cause] = []
        _validate(self.schema, obj, "", out, root=True)
        return out

    def admit(self, obj: dict[str, Any]) -> tuple[list[str], list[Cause]]:
        """Prune, default and validate `obj` in place: (pruned paths, causes)."""
        pruned = self.prune(obj)
        self.default(obj)
        return pruned, self.validate(obj)


# --- CRD acceptance --------------------------------------------------------------------------


def _key(path: str, name: str) -> str:
    return f"{path}.properties[{name}]"


def structural_errors(schema: Any, path: str = "openAPIV3Schema") -> list[Cause]:
    """Why a CRD schema is not structural enough to accept (basic apiextensions checks).

    `path` is the location of the schema in the CRD, used as the prefix of every field,
    e.g. "spec.versions[0].schema.openAPIV3Schema".
    """
    out: list[Cause] = []
    if not isinstance(schema, Mapping):
        return [_required(path, "schemas are required")]
    _structural(schema, "root", path, out)
    out.sort(key=lambda c: f"{c.field}: {c.message}")
    return out


def _structural(s: Mapping[str, Any], level: str, path: str, out: list[Cause]) -> None:
    typ = s.get("type")
    int_or_string = bool(s.get("x-kubernetes-int-or-string"))
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    props = s.get("properties")
    additional = s.get("additionalProperties")

    if preserve is False:
        out.append(
            _invalid(
                f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"
            )
        )
    if typ == "array" and "items" not in s:
        out.append(_required(f"{path}.items", "must be specified"))
    if embedded and typ != "object":
        if not typ:
            out.append(
                _required(
                    f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"
                )
            )
        else:
            out.append(
                _invalid(
                    f"{path}.type", typ, "must be object if x-kubernetes-embedded-resource is true"
                )
            )
    elif not typ and not int_or_string and not preserve:
        detail = {
            "root": "must not be empty at the root",
            "item": "must not be empty for specified array items",
            "field": "must not be empty for specified object fields",
        }[level]
        out.append(_required(f"{path}.type", detail))
    if level == "root" and typ and typ != "object":
        out.append(_invalid(f"{path}.type", typ, "must be object at the root"))
    if additional is not None and level == "root":
        out.append(_forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    if props and additional is not None and additional is not False:
        out.append(
            _forbidden(
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    if int_or_string and preserve:
        out.append(
            _invalid(
                f"{path}.x-kubernetes-preserve-unknown-fields",
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    if embedded and not preserve and not props:
        out.append(
            _required(
                f"{path}.properties",
                "must not be empty if "
                "x-kubernetes-embedded-resource is true without "
                "x-kubernetes-preserve-unknown-fields",
            )
        )
    pattern = s.get("pattern")
    if isinstance(pattern, str) and _regex(pattern) is None:
        out.append(
            _invalid(f"{path}.pattern", pattern, "must be a valid regular expression, but isn't")
        )
    if isinstance(props, Mapping):
        check_meta = level == "root" or embedded
        for name in ("kind", "apiVersion"):
            sub = props.get(name)
            if check_meta and isinstance(sub, Mapping) and sub.get("type") != "string":
                out.append(
                    _invalid(f"{_key(path, name)}.type", sub.get("type", ""), "must be string")
                )
        meta = props.get("metadata")
        if isinstance(meta, Mapping) and level == "root":
            extra = set(meta) - {"type", "properties", "description"}
            names = set(meta.get("properties") or {})
            if (
                extra
                or not names <= {"name", "generateName"}
                or (meta.get("type") not in (None, "object"))
            ):
                out.append(
                    _forbidden(
                        _key(path, "metadata"),
                        "must not specify anything other than name and generateName, but "
                        "metadata is implicitly specified",
                    )
                )
        for name, sub in props.items():
            if isinstance(sub, Mapping):
                _structural(sub, "field", _key(path, name), out)
    items = s.get("items")
    if isinstance(items, Mapping):
        _structural(items, "item", f"{path}.items", out)
    if isinstance(additional, Mapping):
        _structural(additional, "field", f"{path}.additionalProperties", out)
    if "default" in s and level != "root":
        # A default must itself satisfy the schema it sits in.
        value = copy.deepcopy(s["default"])
        _default(value, s)
        errs: list[Cause] = []
        _validate(s, value, "", errs)
        for cause in errs:
            where = f"{path}.default" + (f".{cause.field}" if cause.field else "")
            out.append(Cause(where, cause.message, cause.reason))


def validate_crd(crd: Mapping[str, Any]) -> list[Cause]:
    """Basic validity of a CustomResourceDefinition: names, versions and schemas."""
    out: list[Cause] = []
    spec = crd.get("spec") if isinstance(crd.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    meta = crd.get("metadata") if isinstance(crd.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    group = spec.get("group") or ""
    names = spec.get("names") if isinstance(spec.get("names"), Mapping) else {}
    assert isinstance(names, Mapping)
    plural = names.get("plural") or ""
    if not group:
        out.append(_required("spec.group"))
    elif "." not in group:
        out.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    if not plural:
        out.append(_required("spec.names.plural"))
    if not names.get("kind"):
        out.append(_required("spec.names.kind"))
    name = meta.get("name") or ""
    if group and plural and name != f"{plural}.{group}":
        out.append(_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        out.append(_not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    if spec.get("preserveUnknownFields"):
        out.append(
            _invalid(
                "spec.preserveUnknownFields",
                True,
                "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                "spec.versions[*].schema instead",
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        out.append(
            _required("spec.versions", "must have exactly one version marked as storage version")
        )
        return out
    seen: set[str] = set()
    storage = 0
    for i, ver in enumerate(versions):
        vpath = f"spec.versions[{i}]"
        if not isinstance(ver, Mapping):
            out.append(_invalid(vpath, ver, "must be an object"))
            continue
        vname = ver.get("name") or ""
        if not vname:
            out.append(_required(f"{vpath}.name"))
        elif vname in seen:
            out.append(_duplicate(f"{vpath}.name", vname))
        seen.add(vname)
        if ver.get("storage"):
            storage += 1
        schema = (
            (ver.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(ver.get("schema"), Mapping)
            else None
        )
        spath = f"{vpath}.schema.openAPIV3Schema"
        if schema is None:
            out.append(_required(spath, "schemas are required"))
        else:
            out.extend(structural_errors(schema, spath))
        scale = (
            (ver.get("subresources") or {}).get("scale")
            if isinstance(ver.get("subresources"), Mapping)
            else None
        )
        if isinstance(scale, Mapping):
            spec_path = scale.get("specReplicasPath") or ""
            if not str(spec_path).startswith(".spec."):
                out.append(
                    _invalid(
                        f"{vpath}.subresources.scale.specReplicasPath",
                        spec_path,
                        "should be a json path under .spec",
                    )
                )
            status_path = scale.get("statusReplicasPath") or ""
            if not str(status_path).startswith(".status."):
                out.append(
                    _invalid(
                        f"{vpath}.subresources.scale.statusReplicasPath",
                        status_path,
                        "should be a json path under .status",
                    )
                )
    if storage != 1:
        out.append(
            _invalid(
                "spec.versions",
                sorted(seen),
                "must have exactly one version marked as storage version",
            )
        )
    return out
