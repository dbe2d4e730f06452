"""Strict decoding of built-in kinds: unknown fields and JSON type mismatches.

Owns (specs/k8s-api.md §2, "Server side"):
- `unknown_fields(schema_name, obj)`: dotted paths of fields the schema does not know,
  in kube's notation (`spec.template.spec.containers[0].imagee`, map entries as
  `.key`), recursing through refs, lists and maps and stopping at free-form values.
- `prune_unknown(schema_name, obj)`: the same, removing them (fieldValidation=Ignore/Warn).
- `strict_error(kind, name, paths, group_version)`: the 400 kube-apiserver returns
  for Strict:
  `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error:
  unknown field "spec.foo", unknown field "spec.bar"`.
- `unknown_field_warnings(paths)`: the texts of the Warn-mode warnings.
- `type_errors(schema_name, obj)`: `json: cannot unmarshal string into Go struct field
  PodSpec.spec.containers of type []v1.Container`-style messages (approximate), plus the
  Quantity and IntOrString parse errors; `decode_error` wraps one into the 400.

Never: checks semantic validity (names, ranges, required fields); that belongs to the
per-kind validators. Never mutates unless asked to prune.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

from kubeedge.api.errors import StatusError, bad_request
from kubeedge.api.schema.dsl import (
    FIELDS_V1,
    INT_OR_STRING,
    MICRO_TIME,
    QUANTITY,
    RAW_EXTENSION,
    REGISTRY,
    TIME,
    Field,
    Struct,
    go_struct_name,
    go_type,
)
from kubeedge.api.schema.registry import struct

# kube-apiserver stops collecting strict errors after this many (sigs.k8s.io/json).
MAX_STRICT_ERRORS = 100


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- unknown fields ---------------------------------------------------------------------


def _walk_struct(s: Struct, obj: dict[str, Any], path: str, out: list[str], prune: bool) -> None:
    if s.preserve_unknown:
        return
    for key in list(obj):
        f = s.fields.get(key)
        p = _child(path, key)
        if f is None:
            out.append(p)
            if prune:
                del obj[key]
            continue
        _walk_field(f, obj[key], p, out, prune)


def _walk_field(f: Field, value: Any, path: str, out: list[str], prune: bool) -> None:
    if value is None:
        return
    if f.kind == "ref":
        node = REGISTRY.get(f.ref or "")
        if isinstance(node, Struct) and isinstance(value, dict):
            _walk_struct(node, value, path, out, prune)
    elif f.kind == "list":
        if isinstance(value, list) and f.item is not None:
            for i, item in enumerate(value):
                _walk_field(f.item, item, f"{path}[{i}]", out, prune)
    elif f.kind == "map" and isinstance(value, dict) and f.item is not None:
        for key, item in value.items():
            _walk_field(f.item, item, _child(path, key), out, prune)


def unknown_fields(schema_name: str, obj: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths of fields of `obj` unknown to the schema, in document order.

    `prefix` is prepended to every path (e.g. "metadata" when checking a sub-object).
    """
    out: list[str] = []
    if isinstance(obj, dict):
        _walk_struct(struct(schema_name), obj, prefix, out, prune=False)
    return out


def prune_unknown(schema_name: str, obj: dict[str, Any], prefix: str = "") -> list[str]:
    """Remove the unknown fields from `obj` in place and return their paths."""
    out: list[str] = []
    if isinstance(obj, dict):
        _walk_struct(struct(schema_name), obj, prefix, out, prune=True)
    return out


def strict_decoding_message(paths: Sequence[str]) -> str:
    """`strict decoding error: unknown field "a", unknown field "b"` (at most 100)."""
    return "strict decoding error: " + ", ".join(
        f'unknown field "{p}"' for p in paths[:MAX_STRICT_ERRORS]
    )


def decode_error(kind: str, version: str, detail: str) -> StatusError:
    """The 400 kube-apiserver returns when a request body cannot be decoded."""
    return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}')


def strict_error(
    kind: str, name: str, paths: Sequence[str], group_version: str = "v1"
) -> StatusError:
    """400 BadRequest for fieldValidation=Strict with unknown fields, worded like kube:
    `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: ...`.

    `name` (the object's name) is accepted for symmetry with `errors.invalid`; kube's
    message does not contain it. The version is taken from `group_version`.
    """
    del name
    version = group_version.rsplit("/", 1)[-1]
    return decode_error(kind, version, strict_decoding_message(paths))


def unknown_field_warnings(paths: Sequence[str]) -> list[str]:
    """Warning texts for fieldValidation=Warn, one per field: `unknown field "spec.foo"`."""
    return [f'unknown field "{p}"' for p in paths[:MAX_STRICT_ERRORS]]


# --- JSON type errors ---------------------------------------------------------------------

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Quantity grammar, as in k8s.io/apimachinery resource.ParseQuantity.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)
_QUANTITY_SUFFIX_RE = re.compile(r"^(|[numkMGTPE]|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?[0-9]+)$")
QUANTITY_FORMAT_ERROR = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_text(value: Any) -> str:
    return f"number {value}" if isinstance(value, int | float) else _json_kind(value)


class _Ctx:
    __slots__ = ("out", "stack", "struct_name")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.stack: list[str] = []
        self.struct_name = ""

    def field_error(self, what: str, type_name: str) -> None:
        field = ".".join(self.stack)
        self.out.append(
            f"json: cannot unmarshal {what} into Go struct field "
            f"{self.struct_name}.{field} of type {type_name}"
        )


def quantity_error(value: Any) -> str | None:
    """Why `value` is not a valid Quantity, in kube's words, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return QUANTITY_FORMAT_ERROR
    if isinstance(value, int | float):
        return None
    text = value.strip()
    m = _QUANTITY_RE.match(text)
    if not m or text.count(".") > 1 or m.group(1) in ("", "+", "-", "."):
        return QUANTITY_FORMAT_ERROR
    if not _QUANTITY_SUFFIX_RE.match(m.group(2)):
        return QUANTITY_SUFFIX_ERROR
    return None


def _leaf_error(name: str, value: Any, ctx: _Ctx) -> None:
    if name == QUANTITY:
        err = quantity_error(value)
        if err:
            ctx.out.append(err)
    elif name == INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            ctx.out.append(
                f"json: cannot unmarshal {_json_kind(value)} into Go value of type int32"
            )
        elif isinstance(value, float) and not value.is_integer():
            ctx.out.append(f"json: cannot unmarshal number {value} into Go value of type int32")
    elif name in (TIME, MICRO_TIME):
        if not isinstance(value, str):
            ctx.out.append(
                f"json: cannot unmarshal {_json_kind(value)} into Go value of type string"
            )
        elif value and not _RFC3339_RE.match(value):
            ctx.out.append(
                f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse '
                f'"{value}" as "2006"'
            )
    elif name in (RAW_EXTENSION, FIELDS_V1):
        return


def _check_value(f: Field, value: Any, ctx: _Ctx) -> None:
    if value is None:
        return
    kind = f.kind
    if kind == "ref":
        node = REGISTRY.get(f.ref or "")
        if isinstance(node, Struct):
            if not isinstance(value, dict):
                ctx.field_error(_json_kind(value), go_type(f))
                return
            _check_struct(node, value, ctx)
        elif node is not None:
            _leaf_error(node.name, value, ctx)
    elif kind == "list":
        if not isinstance(value, list):
            ctx.field_error(_json_kind(value), go_type(f))
            return
        assert f.item is not None
        for item in value:
            _check_value(f.item, item, ctx)
    elif kind in ("map", "free"):
        if not isinstance(value, dict):
            ctx.field_error(_json_kind(value), go_type(f))
            return
        if kind == "map":
            assert f.item is not None
            for item in value.values():
                _check_value(f.item, item, ctx)
    elif kind == "string":
        if not isinstance(value, str):
            ctx.field_error(_json_kind(value), go_type(f))
        elif f.format == "byte":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                bad = next(
                    (i for i, c in enumerate(value) if not (c.isalnum() or c in "+/=")),
                    len(value),
                )
                ctx.out.append(f"illegal base64 data at input byte {bad}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            ctx.field_error(_json_kind(value), "bool")
    elif kind == "integer":
        low, high = _INT_RANGES[f.format or "int32"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.field_error(_json_kind(value), go_type(f))
        elif isinstance(value, float) or not low <= value <= high:
            ctx.field_error(_number_text(value), go_type(f))
    elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        ctx.field_error(_json_kind(value), "float64")


def _check_struct(s: Struct, obj: dict[str, Any], ctx: _Ctx) -> None:
    if s.preserve_unknown:
        return
    outer = ctx.struct_name
    for key, value in obj.items():
        f = s.fields.get(key)
        if f is None:
            continue
        ctx.stack.append(key)
        ctx.struct_name = go_struct_name(s.name)
        _check_value(f, value, ctx)
        ctx.stack.pop()
    ctx.struct_name = outer


def type_errors(schema_name: str, obj: Any) -> list[str]:
    """Messages for values of the wrong JSON type, first one first (kube reports it).

    Wrap the first in `decode_error(kind, version, msg)` for the 400 response.
    """
    ctx = _Ctx()
    s = struct(schema_name)
    if not isinstance(obj, dict):
        return [
            f"json: cannot unmarshal {_json_kind(obj)} into Go value of type "
            f"{go_struct_name(s.name, qualified=True)}"
        ]
    _check_struct(s, obj, ctx)
    return ctx.out
