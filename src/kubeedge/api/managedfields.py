"""Server-side apply field ownership: `metadata.managedFields` (specs/k8s-api.md §4).

Owns the bookkeeping kube-apiserver's field manager (structured-merge-diff) does:
- `Shape`: what a schema says about a value — a scalar, a map (granular or atomic, with
  declared fields), a list (atomic, a set, or a map keyed by its list-map keys), or
  "deduced" from the value itself. `builtin_shape` reads our built-in type definitions
  (`api.schema`), `custom_resource_shape` a CRD's openAPIV3Schema.
- Field sets: frozensets of paths, each path a tuple of serialized path elements
  (`f:spec`, `k:{"name":"nginx"}`, `v:"a"`, `i:0`), their FieldsV1 JSON form
  (`fields_v1`, `parse_fields_v1`) and kube's printed form (`path_string`:
  `.spec.template.spec.containers[name="nginx"].image`).
- The set algebra on objects: `fieldset` (the fields a configuration specifies),
  `compare` (added / modified / removed between two objects), `merge` (an applied
  configuration onto a live object, lists by key) and `remove_items`.
- `apply` and `update`: what an Apply and any other write (create, update, patch,
  scale) do to managedFields — pruning of fields an applier stopped specifying,
  conflicts (`ApplyConflict`, rendered by `conflict_error`) and forced takeover.

Never does I/O or reads a clock (callers pass `now`), never knows HTTP or storage, and
never defaults or validates objects. Malformed input raises `FieldPathError`; the
caller decides which Status that is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Final

from kubeedge.api.errors import StatusError
from kubeedge.api.jsonvalue import copy_json, json_equal
from kubeedge.api.schema.dsl import OBJECT_META, REGISTRY, Field, Leaf, Struct

__all__ = [
    "DEDUCED",
    "LAST_APPLIED",
    "SCALAR",
    "Applied",
    "ApplyConflict",
    "Comparison",
    "FieldPathError",
    "FieldSet",
    "ListShape",
    "MapShape",
    "Path",
    "Shape",
    "apply",
    "builtin_shape",
    "compare",
    "conflict_error",
    "custom_resource_shape",
    "fields_v1",
    "fieldset",
    "manager_from_user_agent",
    "merge",
    "parse_fields_v1",
    "path_string",
    "remove_items",
    "update",
]

Path = tuple[str, ...]
FieldSet = frozenset[Path]

APPLY: Final = "Apply"
UPDATE: Final = "Update"
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
# kube keeps at most this many Update entries; older ones merge into "ancient-changes".
MAX_UPDATE_MANAGERS: Final = 10
FIELD_MANAGER_MAX_LENGTH: Final = 128

# Paths never recorded in anyone's set (kube's stripMeta manager).
_STRIPPED: Final[FieldSet] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", "f:" + name) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion")),
})


class FieldPathError(ValueError):
    """A value the schema cannot place: a keyed list item without its keys, a duplicate
    key in an applied configuration, a malformed FieldsV1 entry."""


# ---------------------------------------------------------------------------------------
# Shapes: what the schema says about a value
# ---------------------------------------------------------------------------------------


class Shape:
    """Base of the schema nodes. A plain `Shape()` is a scalar (a leaf)."""

    __slots__ = ()


class _Deduced(Shape):
    """No schema: maps are granular with deduced values, lists atomic, the rest scalars
    (structured-merge-diff's `__untyped_deduced_`)."""

    __slots__ = ()


SCALAR: Final = Shape()
DEDUCED: Final = _Deduced()


class MapShape(Shape):
    """An object. `declared` names its struct fields (resolved lazily by `lookup`);
    other keys are values of `element`. An atomic map is owned as one leaf.
    `zero_fields` are the struct fields a Go zero value already has (non-pointer
    structs, non-omitempty lists): a create does not "add" them."""

    __slots__ = ("_cache", "_lookup", "atomic", "declared", "element", "zero_fields")

    def __init__(
        self,
        declared: Iterable[str] = (),
        lookup: Callable[[str], Shape] | None = None,
        element: Shape = DEDUCED,
        *,
        atomic: bool = False,
        zero_fields: Iterable[str] = (),
    ) -> None:
        self.declared = frozenset(declared)
        self._lookup = lookup
        self.element = element
        self.atomic = atomic
        self.zero_fields = frozenset(zero_fields)
        self._cache: dict[str, Shape] = {}

    def field(self, name: str) -> tuple[Shape, bool]:
        """(shape of the value under `name`, whether `name` is a declared field)."""
        if name not in self.declared or self._lookup is None:
            return self.element, False
        shape = self._cache.get(name)
        if shape is None:
            shape = self._cache[name] = self._lookup(name)
        return shape, True


class ListShape(Shape):
    """A list. Associative lists with `keys` are maps keyed by those fields (`k:`);
    associative lists without keys are sets of scalars (`v:`); others are atomic."""

    __slots__ = ("associative", "element", "key_defaults", "keys")

    def __init__(
        self,
        element: Shape = DEDUCED,
        *,
        associative: bool = False,
        keys: Iterable[str] = (),
        key_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.element = element
        self.associative = associative
        self.keys = tuple(keys)
        self.key_defaults = dict(key_defaults or {})


_DEDUCED_MAP: Final = MapShape()
_ATOMIC_LIST: Final = ListShape()


def _resolve(shape: Shape, value: Any) -> Shape:
    """The concrete shape of `value`: deduced from the value when there is no schema, and
    a leaf when value and schema disagree (validation reports that, not us)."""
    if isinstance(shape, _Deduced):
        if isinstance(value, dict):
            return _DEDUCED_MAP
        if isinstance(value, list):
            return _ATOMIC_LIST
        return SCALAR
    if isinstance(shape, MapShape):
        return shape if isinstance(value, dict) else SCALAR
    if isinstance(shape, ListShape):
        return shape if isinstance(value, list) else SCALAR
    return SCALAR


def _is_granular_map(shape: Shape) -> bool:
    return isinstance(shape, MapShape) and not shape.atomic


def _is_associative(shape: Shape) -> bool:
    return isinstance(shape, ListShape) and shape.associative


# Go struct fields that are non-pointer structs in the built-in kinds: present (empty)
# in the zero value kube compares a create against, so a create never "adds" them.
_VALUE_STRUCT_FIELDS: Final = frozenset({
    "metadata", "spec", "status", "template", "strategy", "updateStrategy", "jobTemplate",
    "resources", "nodeInfo", "daemonEndpoints", "loadBalancer",
})
# Key fields with a schema default (`+default="TCP"` on ContainerPort / ServicePort):
# an item that omits them is keyed with the default, as kube does.
_BUILTIN_KEY_DEFAULTS: Final[Mapping[str, Any]] = {"protocol": "TCP"}


def _leaf_shape(leaf: Leaf) -> Shape:
    schema = leaf.schema
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("type") == "object":
        return DEDUCED  # RawExtension, FieldsV1
    return SCALAR  # Time, Quantity, IntOrString


def _list_shape(f: Field, element: Shape) -> ListShape:
    """x-kubernetes-list-type wins; otherwise patchStrategy merge makes a keyed list (or
    a set without a merge key); everything else is atomic (kube-openapi schemaconv)."""
    if f.list_type == "atomic":
        return ListShape(element)
    if f.list_type == "set":
        return ListShape(element, associative=True)
    if f.list_type == "map":
        keys = f.map_keys or ((f.merge_key,) if f.merge_key else ())
        return ListShape(element, associative=True, keys=keys,
                         key_defaults=_BUILTIN_KEY_DEFAULTS)
    if f.strategy and "merge" in f.strategy.split(","):
        if f.merge_key:
            return ListShape(element, associative=True, keys=(f.merge_key,),
                             key_defaults=_BUILTIN_KEY_DEFAULTS)
        return ListShape(element, associative=True)
    return ListShape(element)


@cache
def _field_shape(f: Field) -> Shape:
    if f.kind in ("string", "integer", "number", "boolean"):
        return SCALAR
    if f.kind == "ref":
        return _named_shape(f.ref or "")
    if f.kind == "list":
        return _list_shape(f, _field_shape(f.item) if f.item is not None else DEDUCED)
    if f.kind == "map":
        return MapShape(element=_field_shape(f.item) if f.item is not None else DEDUCED)
    return DEDUCED  # "free"


def _zero_present(f: Field) -> bool:
    node = REGISTRY.get(f.ref or "") if f.kind == "ref" else None
    if isinstance(node, Struct):
        return node.map_type != "atomic" and not node.preserve_unknown
    return f.kind == "list" and f.required


@cache
def _named_shape(name: str) -> Shape:
    node = REGISTRY.get(name)
    if isinstance(node, Leaf):
        return _leaf_shape(node)
    if not isinstance(node, Struct):
        return DEDUCED
    fields = node.fields
    zero = [k for k, f in fields.items()
            if _zero_present(f) and (k in _VALUE_STRUCT_FIELDS or f.required or f.kind == "list")]
    return MapShape(
        fields, lambda key: _field_shape(fields[key]), DEDUCED,
        atomic=node.map_type == "atomic", zero_fields=zero,
    )


def builtin_shape(schema_name: str | None) -> Shape:
    """The shape of a built-in kind (`builtin_schema_name(group, version, kind)`); a kind
    without a definition gets typed metadata and deduced everything else."""
    if schema_name and isinstance(REGISTRY.get(schema_name), Struct):
        return _named_shape(schema_name)
    return _generic_root()


@cache
def _generic_root() -> MapShape:
    return MapShape(
        ("apiVersion", "kind", "metadata"),
        lambda key: _named_shape(OBJECT_META) if key == "metadata" else SCALAR,
        DEDUCED, zero_fields=("metadata",),
    )


def _openapi_shape(schema: Any) -> Shape:
    """One node of a CRD structural schema (apiextensions' SMD conversion)."""
    if not isinstance(schema, Mapping):
        return DEDUCED
    if schema.get("x-kubernetes-int-or-string"):
        return SCALAR
    kind = schema.get("type")
    if kind == "object" or (kind is None and ("properties" in schema
                                              or "additionalProperties" in schema)):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        extra = schema.get("additionalProperties")
        element = _openapi_shape(extra) if isinstance(extra, Mapping) else DEDUCED
        return MapShape(props, lambda key: _openapi_shape(props[key]), element,
                        atomic=schema.get("x-kubernetes-map-type") == "atomic")
    if kind == "array":
        items = schema.get("items")
        element = _openapi_shape(items)
        list_type = schema.get("x-kubernetes-list-type") or "atomic"
        if list_type == "set":
            return ListShape(element, associative=True)
        if list_type == "map":
            keys = [k for k in schema.get("x-kubernetes-list-map-keys") or ()
                    if isinstance(k, str)]
            item_props = items.get("properties") if isinstance(items, Mapping) else None
            defaults = {k: item_props[k]["default"] for k in keys
                        if isinstance(item_props, Mapping)
                        and isinstance(item_props.get(k), Mapping)
                        and "default" in item_props[k]}
            return ListShape(element, associative=True, keys=keys, key_defaults=defaults)
        return ListShape(element)
    if kind in ("string", "integer", "number", "boolean"):
        return SCALAR
    return DEDUCED  # x-kubernetes-preserve-unknown-fields without a type


def custom_resource_shape(schema: Mapping[str, Any] | None) -> Shape:
    """The shape of a custom resource from its version's openAPIV3Schema (None: no
    schema). `metadata` is always the built-in ObjectMeta, as kube embeds it."""
    root = _openapi_shape(schema) if schema else DEDUCED
    props = root.declared if isinstance(root, MapShape) else frozenset()

    def lookup(key: str) -> Shape:
        if key == "metadata":
            return _named_shape(OBJECT_META)
        if key in ("apiVersion", "kind"):
            return SCALAR
        assert isinstance(root, MapShape)
        return root.field(key)[0]

    element = root.element if isinstance(root, MapShape) else DEDUCED
    return MapShape({"apiVersion", "kind", "metadata", *props}, lookup, element)


# ---------------------------------------------------------------------------------------
# Path elements
# ---------------------------------------------------------------------------------------


def _go_json(value: Any) -> str:
    """Compact JSON as Go's encoder writes it inside a path element: integral floats as
    integers, sorted object keys, and <, >, & escaped."""
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _go_json_any(value)


@lru_cache(maxsize=16384)
def _go_json_string(value: str) -> str:
    return _go_json_any(value)


def _go_json_any(value: Any) -> str:
    text = json.dumps(_integral(value), ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _key_element(fields: list[tuple[str, Any]]) -> str:
    fields = sorted(fields, key=lambda kv: kv[0])
    return "k:{" + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in fields) + "}"


def _item_element(shape: ListShape, item: Any) -> str:
    """The path element of one item of an associative list (`k:` or `v:`)."""
    if shape.keys:
        if not isinstance(item, dict):
            raise FieldPathError("associative list with keys may not have non-map elements")
        fields: list[tuple[str, Any]] = []
        for key in shape.keys:
            if key in item:
                fields.append((key, item[key]))
            elif key in shape.key_defaults:
                fields.append((key, shape.key_defaults[key]))
        if not fields:
            keys = json.dumps(list(shape.keys))
            raise FieldPathError(
                f"associative list with keys has an element that omits all key fields {keys} "
                "(and doesn't have default values for any key fields)"
            )
        return _key_element(fields)
    if isinstance(item, dict):
        raise FieldPathError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise FieldPathError("not supported: associative list with lists as elements")
    if item is None:
        raise FieldPathError(
            "associative list without keys has an element that's an explicit null")
    return "v:" + _go_json(item)


def _elements(shape: ListShape, items: list[Any], path: Path) -> list[str]:
    """The path elements of a list's items; errors name the list and the item."""
    out: list[str] = []
    for i, item in enumerate(items):
        try:
            out.append(_item_element(shape, item))
        except FieldPathError as exc:
            raise FieldPathError(f"{path_string(path)}: element {i}: {exc}") from None
    return out


@lru_cache(maxsize=16384)
def _canonical_element(text: str) -> str | None:
    """A FieldsV1 key in canonical form; None for element types we do not know (kube
    drops those too)."""
    if len(text) < 2 or text[1] != ":":
        raise FieldPathError(f"invalid path element {text!r}: missing colon")
    kind, body = text[0], text[2:]
    if kind == "f":
        return text
    if kind == "i":
        try:
            return f"i:{int(body)}"
        except ValueError:
            raise FieldPathError(f"invalid index in path element {text!r}") from None
    if kind not in ("k", "v"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        raise FieldPathError(f"invalid JSON in path element {text!r}") from None
    if kind == "v":
        return "v:" + _go_json(value)
    if not isinstance(value, dict):
        raise FieldPathError(f"invalid key in path element {text!r}: not an object")
    return _key_element(list(value.items()))


def _value_order(value: Any) -> tuple[Any, ...]:
    """structured-merge-diff's total order of values: numbers < strings < booleans <
    lists < maps < null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_order(value[k])) for k in sorted(value)))
    return (5,)


@cache
def _element_order(pe: str) -> tuple[Any, ...]:
    """Field names < keys < values < indexes, each in its own order (PathElement.Compare)."""
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return (0, body)
    if kind == "k":
        fields = json.loads(body)
        return (1, tuple((k, _value_order(fields[k])) for k in sorted(fields)))
    if kind == "v":
        return (2, _value_order(json.loads(body)))
    return (3, int(body))


def _go_string(value: Any) -> str:
    """value.ToString: how a key or set value is printed inside a path string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={_go_string(v)}" for k, v in value.items())
    return str(value)


def _element_string(pe: str) -> str:
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return "." + body
    if kind == "k":
        fields = json.loads(body)
        return "[" + ",".join(f"{k}={_go_string(v)}" for k, v in fields.items()) + "]"
    if kind == "v":
        return "[=" + _go_string(json.loads(body)) + "]"
    return f"[{body}]"


def path_string(path: Path) -> str:
    """kube's printed path: `.spec.template.spec.containers[name="nginx"].image`."""
    return "".join(_element_string(pe) for pe in path)


# ---------------------------------------------------------------------------------------
# Field sets: FieldsV1 and set helpers
# ---------------------------------------------------------------------------------------


def _split(paths: Iterable[Path]) -> tuple[set[str], dict[str, set[Path]]]:
    """(members at this level, element -> paths below it)."""
    members: set[str] = set()
    children: dict[str, set[Path]] = {}
    for path in paths:
        if not path:
            continue
        if len(path) == 1:
            members.add(path[0])
        else:
            children.setdefault(path[0], set()).add(path[1:])
    return members, children


class _Node:
    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, _Node] = {}


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 JSON object of a set: one key per element in kube's order, `{}` for a
    leaf, and `".": {}` first in an element that is both a member and a parent."""
    root = _Node()
    for path in paths:
        node = root
        for pe in path:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = _Node()
            node = child
        node.member = True
    return _emit(root, include_self=False)


def _emit(node: _Node, include_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if include_self and node.member and node.children:
        out["."] = {}
    for pe in sorted(node.children, key=_element_order):
        out[pe] = _emit(node.children[pe], include_self=True)
    return out


def parse_fields_v1(fields: Any) -> FieldSet:
    """The set a FieldsV1 object describes; FieldPathError if it is malformed."""
    if fields is None:
        return frozenset()
    if not isinstance(fields, dict):
        raise FieldPathError("fieldsV1 must be a JSON object")
    out: set[Path] = set()
    _read(fields, (), out)
    return frozenset(out)


def _read(node: dict[str, Any], prefix: Path, out: set[Path]) -> None:
    for key, child in node.items():
        if key == ".":
            if prefix:
                out.add(prefix)
            continue
        pe = _canonical_element(key)
        if pe is None:
            continue
        if not isinstance(child, dict):
            raise FieldPathError(f"fieldsV1 entry {key!r} must be a JSON object")
        path = (*prefix, pe)
        if child:
            _read(child, path, out)
        else:
            out.add(path)


def _iteration_order(paths: Iterable[Path]) -> list[Path]:
    """Set.Iterate's order: at each level the members, then each child's subtree."""
    out: list[Path] = []

    def walk(level: set[Path], prefix: Path) -> None:
        members, children = _split(level)
        out.extend((*prefix, pe) for pe in sorted(members, key=_element_order))
        for pe in sorted(children, key=_element_order):
            walk(children[pe], (*prefix, pe))

    walk(set(paths), ())
    return out


def _recursive_difference(paths: Iterable[Path], ignored: FieldSet) -> FieldSet:
    """Drop every path that is, or lies under, an ignored path (reset fields)."""
    if not ignored:
        return frozenset(paths)
    # Only prefixes as long as some ignored path can match: usually one or two lengths
    # (status is `f:status`), not every prefix of every path.
    lengths = sorted({len(q) for q in ignored})
    return frozenset(p for p in paths
                     if not any(p[:n] in ignored for n in lengths if n <= len(p)))


def _with_named_parents(paths: Iterable[Path], shape: Shape) -> FieldSet:
    """Add each declared struct field on the way to a path (EnsureNamedFieldsAreMembers):
    owning `.spec.replicas` also protects `.spec`, but not a map key on the way."""
    out = set(paths)
    shapes: dict[Path, Shape] = {(): shape}
    for path in list(out):
        for i in range(len(path) - 1):
            prefix = path[: i + 1]
            if prefix in shapes:
                continue
            parent = shapes[path[:i]]
            pe = path[i]
            if pe.startswith("f:"):
                if isinstance(parent, MapShape):
                    child, declared = parent.field(pe[2:])
                    if declared:
                        out.add(prefix)
                else:
                    child = DEDUCED
            else:
                child = parent.element if isinstance(parent, ListShape) else DEDUCED
            shapes[prefix] = child
    return frozenset(out)


# ---------------------------------------------------------------------------------------
# Walking objects: fieldset, compare, merge, remove
# ---------------------------------------------------------------------------------------


class _Missing:
    """An absent value (as opposed to an explicit JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()




def fieldset(value: Any, shape: Shape) -> FieldSet:
    """The fields `value` specifies (ToFieldSet): every scalar, atomic list or map,
    empty map or null, keyed/set list item (`k:`/`v:` with `.`), and every key of a
    map without declared fields."""
    out: set[Path] = set()
    _collect(value, shape, (), out)
    out.discard(())
    return frozenset(out)


def _collect(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    shape = _resolve(shape, value)
    if isinstance(shape, MapShape):
        if shape.atomic:
            out.add(path)
            return
        for key, child in value.items():
            sub, declared = shape.field(key)
            child_path = (*path, "f:" + key)
            _collect(child, sub, child_path, out)
            if child is None or child == {} or not declared:
                out.add(child_path)
        return
    if isinstance(shape, ListShape):
        if not shape.associative:
            out.add(path)
            return
        elements = _elements(shape, value, path)
        counts = Counter(elements)
        for pe, item in zip(elements, value, strict=True):
            item_path = (*path, pe)
            out.add(item_path)
            if counts[pe] == 1:
                _collect(item, shape.element, item_path, out)
        return
    out.add(path)


@dataclass(frozen=True)
class Comparison:
    """What changed from one object to another, as field sets."""

    added: FieldSet = frozenset()
    modified: FieldSet = frozenset()
    removed: FieldSet = frozenset()

    @property
    def changed(self) -> FieldSet:
        return self.added | self.modified

    def excluding(self, ignored: FieldSet) -> Comparison:
        return Comparison(_recursive_difference(self.added, ignored),
                          _recursive_difference(self.modified, ignored),
                          _recursive_difference(self.removed, ignored))


def compare(old: Any, new: Any, shape: Shape) -> Comparison:
    """Fields added, modified and removed from `old` to `new` (TypedValue.Compare):
    leaves that differ, plus every map, list or item that appeared or disappeared."""
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    _compare(old, new, shape, (), (added, modified, removed))
    for found in (added, modified, removed):
        found.discard(())
    return Comparison(frozenset(added), frozenset(modified), frozenset(removed))


_Found = tuple[set[Path], set[Path], set[Path]]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _compare(old: Any, new: Any, shape: Shape, path: Path, found: _Found) -> None:
    if old is not _MISSING and new is not _MISSING and json_equal(old, new):
        return  # nothing below an equal value can differ
    added, modified, removed = found
    probe = new if new is not _MISSING else old
    shape = _resolve(shape, probe)
    same_kind = old is _MISSING or new is _MISSING or _kind(old) == _kind(new)
    if same_kind and _is_granular_map(shape):
        before = old if isinstance(old, dict) else {}
        after = new if isinstance(new, dict) else {}
        if before or after:
            assert isinstance(shape, MapShape)
            for key in [*before, *(k for k in after if k not in before)]:
                _compare(before.get(key, _MISSING), after.get(key, _MISSING),
                         shape.field(key)[0], (*path, "f:" + key), found)
            _mark_node(old, new, path, found)
            return
    elif same_kind and _is_associative(shape):
        before_list = old if isinstance(old, list) else []
        after_list = new if isinstance(new, list) else []
        if before_list or after_list:
            assert isinstance(shape, ListShape)
            _compare_items(before_list, after_list, shape, path, found)
            _mark_node(old, new, path, found)
            return
    if old is _MISSING:
        added.add(path)
    elif new is _MISSING:
        removed.add(path)
    elif not json_equal(old, new):
        modified.add(path)


def _mark_node(old: Any, new: Any, path: Path, found: _Found) -> None:
    if old is _MISSING:
        found[0].add(path)
    elif new is _MISSING:
        found[2].add(path)


def _index(items: list[Any], shape: ListShape) -> tuple[list[str], dict[str, list[Any]]]:
    order: list[str] = []
    groups: dict[str, list[Any]] = {}
    for item in items:
        pe = _item_element(shape, item)
        if pe not in groups:
            order.append(pe)
            groups[pe] = []
        groups[pe].append(item)
    return order, groups


def _compare_items(old: list[Any], new: list[Any], shape: ListShape, path: Path,
                   found: _Found) -> None:
    old_order, old_groups = _index(old, shape)
    new_order, new_groups = _index(new, shape)
    for pe in [*old_order, *(p for p in new_order if p not in old_groups)]:
        before = old_groups.get(pe, [])
        after = new_groups.get(pe, [])
        item_path = (*path, pe)
        if len(before) <= 1 and len(after) <= 1:
            _compare(before[0] if before else _MISSING, after[0] if after else _MISSING,
                     shape.element, item_path, found)
        elif len(before) >= 2 and len(after) >= 2:
            # duplicates on both sides are compared as one atomic value
            if not json_equal(before, after):
                found[1].add(item_path)
        elif len(before) >= 2:
            if after:
                _compare(_MISSING, after[0], shape.element, item_path, found)
            found[2].add(item_path)
        else:
            if before:
                _compare(before[0], _MISSING, shape.element, item_path, found)
            found[0].add(item_path)


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """`config` merged onto `live` (TypedValue.Merge): the configuration's values win,
    maps merge key by key, keyed lists and sets item by item, everything else (atomic
    lists and maps, scalars) is replaced. Explicit nulls are kept."""
    out = _merge(live, config, shape, ())
    return {} if out is _MISSING else out


def _merge(live: Any, config: Any, shape: Shape, path: Path) -> Any:
    if config is _MISSING:
        return copy_json(live)
    shape = _resolve(shape, config)
    if live is not _MISSING and _kind(live) != _kind(config):
        return copy_json(config)
    if _is_granular_map(shape):
        assert isinstance(shape, MapShape)
        before = live if isinstance(live, dict) else {}
        if not before and not config:
            return copy_json(config)
        out: dict[str, Any] = {}
        for key in [*before, *(k for k in config if k not in before)]:
            merged = _merge(before.get(key, _MISSING), config.get(key, _MISSING),
                            shape.field(key)[0], (*path, "f:" + key))
            if merged is not _MISSING:
                out[key] = merged
        return out if out else _MISSING
    if _is_associative(shape):
        assert isinstance(shape, ListShape)
        before_list = live if isinstance(live, list) else []
        if not before_list and not config:
            return copy_json(config)
        return _merge_items(before_list, config, shape, path)
    return copy_json(config)


class _Duplicated:
    __slots__ = ()


_DUPLICATED: Final = _Duplicated()


def _merge_items(live: list[Any], config: list[Any], shape: ListShape, path: Path) -> Any:
    """Merge two associative lists. Items only in `live` keep their place; items of
    `config` come in its order, merged with their `live` counterparts (the walk of
    structured-merge-diff's visitListItems, so the order matches kube's)."""
    config_pes = _elements(shape, config, path)
    config_items: dict[str, Any] = {}
    for pe, item in zip(config_pes, config, strict=True):
        if pe in config_items:
            raise FieldPathError(
                f"{path_string(path)}: duplicate entries for key {_element_string(pe)}")
        config_items[pe] = item
    live_pes: list[str] = []
    live_items: dict[str, Any] = {}
    for i, item in enumerate(live):
        try:
            pe = _item_element(shape, item)
        except FieldPathError:
            pe = f"\0unplaceable:{i}"  # kept where it is, never matched
        live_items[pe] = _DUPLICATED if pe in live_items else item
        live_pes.append(pe)

    shared = [pe for pe in config_pes if pe in live_items]
    shared.reverse()
    next_shared = shared.pop() if shared else None
    merged_config: set[str] = set()
    out: list[Any] = []

    def take(pe: str, config_item: Any) -> None:
        before = live_items.get(pe, _MISSING)
        if before is _DUPLICATED:
            before = _MISSING
        value = _merge(before, config_item, shape.element, (*path, pe))
        if value is not _MISSING:
            out.append(value)

    li = ci = 0
    while li < len(live_pes) or ci < len(config_pes):
        if li < len(live_pes) and ci < len(config_pes):
            pe = live_pes[li]
            if pe == config_pes[ci]:
                merged_config.add(pe)
                take(pe, config_items[pe])
                li += 1
                ci += 1
                next_shared = shared.pop() if shared else None
                continue
            if pe in config_items and next_shared is not None and next_shared != pe:
                li += 1  # shared, but its turn comes with the config's order
                continue
        if li < len(live_pes):
            pe = live_pes[li]
            if pe not in config_items:
                out.append(copy_json(live[li]))
                li += 1
                continue
            if pe in merged_config:
                li += 1
        if ci < len(config_pes):
            pe = config_pes[ci]
            merged_config.add(pe)
            take(pe, config_items[pe])
            ci += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop() if shared else None
    return out if out else _MISSING


def remove_items(value: Any, paths: Iterable[Path], shape: Shape) -> Any:
    """`value` without the fields, map keys and list items in `paths` (RemoveItems). A
    map or list left empty by the removal goes too; atomic values are never entered."""
    out = _remove(value, set(paths), shape)
    return {} if out is _MISSING else out


def _remove(value: Any, paths: set[Path], shape: Shape) -> Any:
    shape = _resolve(shape, value)
    members, children = _split(paths)
    if _is_granular_map(shape):
        assert isinstance(shape, MapShape)
        out: dict[str, Any] = {}
        for key, child in value.items():
            pe = "f:" + key
            if pe in members:
                continue
            if pe in children:
                child = _remove(child, children[pe], shape.field(key)[0])
                if child is _MISSING:
                    continue
            out[key] = child
        return out if out else _MISSING
    if _is_associative(shape):
        assert isinstance(shape, ListShape)
        items: list[Any] = []
        for item in value:
            try:
                pe = _item_element(shape, item)
            except FieldPathError:
                items.append(item)
                continue
            if pe in members:
                continue
            if pe in children:
                kept = _remove(item, children[pe], shape.element)
                if kept is _MISSING:
                    # the item itself is still owned: keep at least its key
                    kept = {k: item[k] for k in shape.keys if isinstance(item, dict)
                            and k in item} or item
                item = kept
            items.append(item)
        return items if items else _MISSING
    return value


def _null_paths(config: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    """Where an applied configuration says `null`: the field is owned, its value gone."""
    shape = _resolve(shape, config)
    if _is_granular_map(shape):
        assert isinstance(shape, MapShape)
        for key, child in config.items():
            if child is None:
                out.add((*path, "f:" + key))
            else:
                _null_paths(child, shape.field(key)[0], (*path, "f:" + key), out)
    elif _is_associative(shape):
        assert isinstance(shape, ListShape)
        for item in config:
            _null_paths(item, shape.element, (*path, _item_element(shape, item)), out)


def _baseline(value: Any, shape: Shape) -> Any:
    """The part of a built-in kind's Go zero value that `value` also has: what kube
    compares a create against, so `f:spec` carries no `.` but `f:labels` does."""
    shape = _resolve(shape, value)
    if not isinstance(shape, MapShape):
        return {}
    out: dict[str, Any] = {}
    for key in shape.zero_fields:
        if key not in value:
            continue
        sub = shape.field(key)[0]
        child = value[key]
        if isinstance(child, dict) and isinstance(sub, MapShape):
            out[key] = _baseline(child, sub)
        elif isinstance(child, list) and isinstance(sub, ListShape):
            out[key] = []
    return out


# ---------------------------------------------------------------------------------------
# managedFields entries
# ---------------------------------------------------------------------------------------

# (manager, operation, subresource, apiVersion for Update entries / "" for Apply):
# kube's manager identifier, so one Apply entry per manager and subresource and one
# Update entry per manager, subresource and version.
_Key = tuple[str, str, str, str]


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet = field(default_factory=frozenset)

    @property
    def key(self) -> _Key:
        version = self.api_version if self.operation == UPDATE else ""
        return (self.manager, self.operation, self.subresource, version)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                               "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _identifier(key: _Key) -> str:
    """The JSON manager identifier kube sorts conflicts by."""
    manager, operation, subresource, version = key
    ident: dict[str, str] = {"manager": manager, "operation": operation}
    if version:
        ident["apiVersion"] = version
    if subresource:
        ident["subresource"] = subresource
    return json.dumps(ident, separators=(",", ":"))


def _printed_manager(key: _Key) -> str:
    """How a conflict names a manager: `"kubectl"`, or `"kubectl-client-side-apply"
    using apps/v1` for Update entries (printManager)."""
    manager, operation, subresource, version = key
    text = json.dumps(manager, ensure_ascii=False)
    if subresource:
        text += f" with subresource {json.dumps(subresource, ensure_ascii=False)}"
    if operation == UPDATE:
        text += f" using {version}"
    return text


def _decode(entries: Any) -> dict[_Key, _Entry]:
    """managedFields as stored; ValueError when any entry is malformed."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise FieldPathError("managedFields must be a list")
    out: dict[_Key, _Entry] = {}
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise FieldPathError(f"managed fields entry {i} must be an object")
        operation = raw.get("operation")
        if operation not in (APPLY, UPDATE):
            raise FieldPathError("operation must be `Apply` or `Update`")
        version = raw.get("apiVersion")
        if not isinstance(version, str) or not version:
            raise FieldPathError("apiVersion must not be empty")
        fields_type = raw.get("fieldsType")
        if fields_type != "FieldsV1":
            what = "missing" if not fields_type else f"invalid fieldsType {fields_type!r} in"
            raise FieldPathError(f"{what} managed fields entry {i}")
        manager = raw.get("manager") or ""
        subresource = raw.get("subresource") or ""
        time = raw.get("time")
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise FieldPathError(f"managed fields entry {i} has a non-string manager")
        entry = _Entry(manager, operation, version, subresource,
                       time if isinstance(time, str) else None,
                       parse_fields_v1(raw.get("fieldsV1") or {}))
        out[entry.key] = entry
    return out


def _epoch(time: str | None) -> int:
    if not time:
        return 0
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _encode(entries: Mapping[_Key, _Entry]) -> list[dict[str, Any]]:
    """Entries in kube's order: Apply before Update, then by time, manager, version and
    subresource."""
    ordered = sorted(entries.values(), key=lambda e: (
        e.operation, _epoch(e.time), e.manager, e.api_version, e.subresource))
    return [e.encode() for e in ordered if e.fields]


def _cap_update_entries(entries: dict[_Key, _Entry]) -> None:
    """Fold the oldest Update entries into "ancient-changes" once there are more than
    MAX_UPDATE_MANAGERS (capmanagers)."""
    updaters = [k for k, e in entries.items() if e.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda k: (_epoch(entries[k].time), _identifier(k)))
    first_of_version: dict[str, _Key] = {}
    count = len(updaters)
    for key in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        entry = entries[key]
        version = entry.api_version
        bucket = ("ancient-changes", UPDATE, "", version)
        if version not in first_of_version:
            first_of_version[version] = key
            continue
        if bucket not in entries:
            first = entries.pop(first_of_version[version])
            entries[bucket] = replace(first, manager="ancient-changes", subresource="")
        entries[bucket].fields = entries[bucket].fields | entry.fields
        entries[bucket].time = entry.time
        del entries[key]
        count -= 1


def _strip_meta(paths: FieldSet) -> FieldSet:
    return paths - _STRIPPED


def manager_from_user_agent(user_agent: str) -> str:
    """kube's manager name for a write without `?fieldManager=`: the User-Agent up to its
    first "/", printable characters only, at most 128 bytes."""
    name = user_agent.split("/", 1)[0]
    out: list[str] = []
    size = 0
    for ch in name:
        if not ch.isprintable():
            continue
        size += len(ch.encode())
        if size > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
    return "".join(out)


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        return {}
    out = dict(obj)
    md = out.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        out["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    return out


def _managed_fields_of(obj: Mapping[str, Any] | None) -> Any:
    md = obj.get("metadata") if isinstance(obj, Mapping) else None
    return md.get("managedFields") if isinstance(md, dict) else None


def _decode_or_empty(entries: Any) -> dict[_Key, _Entry]:
    try:
        return _decode(entries)
    except FieldPathError:
        return {}


def _is_reset(entries: Any) -> bool:
    """`[]` or `[{}]` sent by a client means "forget all ownership"."""
    return isinstance(entries, list) and (entries == [] or entries == [{}])


# ---------------------------------------------------------------------------------------
# Update: create, update, patch, scale
# ---------------------------------------------------------------------------------------


def update(
    live: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    shape: Shape,
    now: str,
    subresource: str = "",
    ignored: FieldSet = frozenset(),
) -> list[dict[str, Any]]:
    """The managedFields `new` gets from a non-apply write by `manager` (`live` is None on
    create). The writer's Update entry takes every field it added or changed, those
    fields leave every other entry, Apply entries included (an update never conflicts),
    and removed fields leave everyone. An entry's time moves only when it took fields;
    an empty result is `[]`. `ignored` are fields the endpoint resets (status on the
    main resource). Raises FieldPathError when an object cannot be placed on `shape`
    (kube then keeps the live entries)."""
    sent = _managed_fields_of(new)
    if subresource:
        entries = _decode_or_empty(_managed_fields_of(live))
    elif _is_reset(sent):
        entries = {}
    else:
        try:
            entries = _decode(sent)
        except FieldPathError:
            entries = {}
        if not entries:
            entries = _decode_or_empty(_managed_fields_of(live))
    after = _without_managed_fields(new)
    before = (_without_managed_fields(live) if live is not None
              else _baseline(after, shape))
    changes = compare(before, after, shape).excluding(ignored)
    changed = changes.changed
    for key in list(entries):
        entry = entries[key]
        entry.fields = entry.fields - changed - changes.removed
        if not entry.fields:
            del entries[key]
    taken = _strip_meta(_recursive_difference(changed, ignored))
    if taken:
        mine = _Entry(manager, UPDATE, api_version, subresource, now, taken)
        previous = entries.get(mine.key)
        if previous is not None:
            mine.fields = mine.fields | previous.fields
        entries[mine.key] = mine
    _cap_update_entries(entries)
    return _encode(entries)


# ---------------------------------------------------------------------------------------
# Apply
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """The merged object (without managedFields) and its new managedFields."""

    obj: dict[str, Any]
    managed_fields: list[dict[str, Any]]
    changed: bool


class ApplyConflict(Exception):
    """The applied configuration changes fields other managers own."""

    def __init__(self, conflicts: list[tuple[_Key, Path]]) -> None:
        self.conflicts = conflicts
        super().__init__(_conflict_message(conflicts))

    @property
    def paths(self) -> FieldSet:
        return frozenset(path for _, path in self.conflicts)


def _conflict_message(conflicts: list[tuple[_Key, Path]]) -> str:
    if len(conflicts) == 1:
        key, path = conflicts[0]
        return (f"Apply failed with 1 conflict: conflict with {_printed_manager(key)}: "
                f"{path_string(path)}")
    lines: list[str] = []
    for key in sorted({k for k, _ in conflicts}, key=_identifier):
        lines.append(f"conflicts with {_printed_manager(key)}:")
        lines.extend(f"- {path_string(p)}" for k, p in conflicts if k == key)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def conflict_error(conflict: ApplyConflict) -> StatusError:
    """409 Conflict with one FieldManagerConflict cause per field (NewApplyConflict)."""
    causes = [{"reason": "FieldManagerConflict",
               "message": f"conflict with {_printed_manager(key)}",
               "field": path_string(path)} for key, path in conflict.conflicts]
    return StatusError(409, "Conflict", str(conflict), {"causes": causes})


def _prune(merged: Any, entries: Mapping[_Key, _Entry], last: FieldSet,
           shape: Shape) -> Any:
    """Remove what the applier owned last time, no longer specifies, and nobody else
    owns (Updater.prune: remove, add back owned items, add back dangling items)."""
    if not last:
        return merged
    last_named = _with_named_parents(last, shape)
    pruned = remove_items(merged, last_named, shape)
    owned = frozenset().union(*(e.fields for e in entries.values()))
    merged_set = _with_named_parents(fieldset(merged, shape), shape)
    pruned_set = _with_named_parents(fieldset(pruned, shape), shape)
    pruned = remove_items(merged, merged_set - (pruned_set | _with_named_parents(owned, shape)),
                          shape)
    pruned_set = _with_named_parents(fieldset(pruned, shape), shape)
    return remove_items(merged, (merged_set - pruned_set) & last_named, shape)


def _apply_once(
    live: dict[str, Any], config: dict[str, Any], entries: dict[_Key, _Entry], key: _Key,
    *, api_version: str, force: bool, shape: Shape, ignored: FieldSet,
) -> tuple[Any, dict[_Key, _Entry]]:
    entries = {k: replace(e) for k, e in entries.items()}
    merged = merge(live, config, shape)
    previous = entries.get(key)
    last = previous.fields if previous is not None else frozenset()
    entries[key] = _Entry(key[0], APPLY, api_version, key[2],
                          previous.time if previous is not None else None,
                          _recursive_difference(fieldset(config, shape), ignored))
    merged = _prune(merged, entries, last, shape)
    changes = compare(live, merged, shape).excluding(ignored)
    changed = changes.changed
    conflicts: list[tuple[_Key, Path]] = []
    for other_key in sorted(entries, key=_identifier):
        if other_key == key:
            continue
        entry = entries[other_key]
        taken = entry.fields & changed
        conflicts.extend((other_key, p) for p in _iteration_order(taken))
        entry.fields = entry.fields - taken - changes.removed
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    mine = entries[key]
    mine.fields = _strip_meta(mine.fields)
    for other_key in [k for k, e in entries.items() if not e.fields]:
        del entries[other_key]
    return merged, entries


def _last_applied(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata")
    annotations = md.get("annotations") if isinstance(md, dict) else None
    value = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else ""


def _allowed_by_last_applied(live: dict[str, Any], api_version: str,
                             shape: Shape) -> FieldSet | None:
    """Fields client-side apply last applied with the value they still have: kubectl's
    first server-side apply may take them without a conflict (lastappliedmanager)."""
    text = _last_applied(live)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    try:
        fields = fieldset(last, shape)
        drift = compare(last, live, shape)
    except FieldPathError:
        return None
    return fields - drift.modified - drift.added - drift.removed


def _set_last_applied(obj: dict[str, Any], config: Mapping[str, Any]) -> None:
    """kubectl's server-side apply keeps an existing client-side apply annotation in
    step with what it applied (lastappliedupdater)."""
    applied = copy_json(dict(config))
    md = applied.get("metadata")
    if isinstance(md, dict) and isinstance(md.get("annotations"), dict):
        md["annotations"].pop(LAST_APPLIED, None)
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    obj.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = text


def apply(
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    shape: Shape,
    now: str,
    force: bool = False,
    subresource: str = "",
    ignored: FieldSet = frozenset(),
) -> Applied:
    """Server-side apply of `config` by `manager` onto `live` (None: the object is being
    created). The manager's Apply entry becomes exactly the fields `config` specifies;
    fields it owned before and no longer specifies are removed unless another manager
    owns them; changing a field another manager owns is an ApplyConflict unless
    `force`, which moves the field to this manager. kubectl's own first apply after
    client-side apply takes the fields its last-applied annotation recorded. Raises
    FieldPathError for a configuration the schema cannot place."""
    entries = _decode_or_empty(_managed_fields_of(live))
    before = _without_managed_fields(live)
    if live is not None and not entries:
        # An object nobody tracked yet: what it has belongs to "before-first-apply"
        # (kube's skipNonApplied manager), so the first apply can conflict with it.
        entries = _decode(update(None, before, manager="before-first-apply",
                                 api_version=api_version, shape=shape, now=now,
                                 subresource=subresource, ignored=ignored))
    applied = copy_json(dict(config))
    key: _Key = (manager, APPLY, subresource, "")
    try:
        merged, entries = _apply_once(before, applied, entries, key, api_version=api_version,
                                      force=force, shape=shape, ignored=ignored)
    except ApplyConflict as conflict:
        allowed = (_allowed_by_last_applied(before, api_version, shape)
                   if manager == "kubectl" and live is not None else None)
        if allowed is None:
            raise
        rest = [(k, p) for k, p in conflict.conflicts if p not in allowed]
        if rest:
            raise ApplyConflict(rest) from None
        merged, entries = _apply_once(before, applied, entries, key, api_version=api_version,
                                      force=True, shape=shape, ignored=ignored)
    nulls: set[Path] = set()
    _null_paths(applied, shape, (), nulls)
    result = remove_items(merged, nulls, shape) if nulls else merged
    changed = not json_equal(before, result)
    mine = entries.get(key)
    if mine is not None and changed:
        mine.time = now
    if manager == "kubectl" and live is not None and _last_applied(before):
        _set_last_applied(result, applied)
    return Applied(result, _encode(entries), changed)

