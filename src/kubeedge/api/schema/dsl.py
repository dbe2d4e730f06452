"""A compact DSL for the type definitions of the built-in kinds.

Owns: the `Field` and `Struct` value types, their constructors (`Str`, `Int`, `L`, `M`,
`Ref`, ...), the process-wide `REGISTRY` of named schemas, and the rendering of one
named schema as an OpenAPI v3 component (specs/k8s-api.md §2).

Never: knows about HTTP, documents, CRDs or validation policy; it only describes shapes.
The definitions themselves live in the `types_*` modules, written by us; field names,
types and patch metadata are interface facts of the Kubernetes API, the descriptions are
our own.

A definition reads like this::

    core = NS("io.k8s.api.core.v1")
    Struct(core.ContainerPort, "A network port a container listens on.", {
        "containerPort": Int("Port number inside the container.", req=True),
        "protocol": Str("TCP, UDP or SCTP; TCP when unset."),
    })
    ... L(core.ContainerPort, "Ports ...", key="containerPort", strategy="merge",
          ltype="map", mkeys=("containerPort", "protocol"))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Names of the shared leaf schemas (specs/k8s-api.md §2: Time as date-time string,
# IntOrString with x-kubernetes-int-or-string, Quantity as a string).
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
TIME = META + "Time"
MICRO_TIME = META + "MicroTime"
FIELDS_V1 = META + "FieldsV1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"


class NS:
    """Attribute access that spells schema names: `NS("io.k8s.api.core.v1").Pod`."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix.rstrip(".") + "."

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._prefix + name


@dataclass(frozen=True, slots=True)
class Field:
    """One property of a struct, or the item/value type of a list/map.

    `kind` is one of: string, integer, number, boolean, ref, list, map, free.
    """

    kind: str
    desc: str = ""
    required: bool = False
    format: str | None = None
    enum: tuple[Any, ...] = ()
    ref: str | None = None
    item: Field | None = None
    merge_key: str | None = None
    strategy: str | None = None
    list_type: str | None = None
    map_keys: tuple[str, ...] = ()


@dataclass(slots=True)
class Struct:
    """A named object schema. Registers itself in `REGISTRY` on creation."""

    name: str
    desc: str
    fields: dict[str, Field]
    gvk: tuple[str, str, str] | None = None
    map_type: str | None = None  # "atomic" for x-kubernetes-map-type
    preserve_unknown: bool = False  # free-form: any fields, never reported as unknown
    required: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        self.required = tuple(k for k, f in self.fields.items() if f.required)
        if self.name in REGISTRY:
            raise ValueError(f"schema {self.name} defined twice")
        REGISTRY[self.name] = self


@dataclass(frozen=True, slots=True)
class Leaf:
    """A named schema that is not an object with fields (Time, Quantity, ...)."""

    name: str
    schema: Mapping[str, Any]
    go_type: str

    def __post_init__(self) -> None:
        if self.name in REGISTRY:
            raise ValueError(f"schema {self.name} defined twice")
        REGISTRY[self.name] = self


REGISTRY: dict[str, Struct | Leaf] = {}


# --- constructors ------------------------------------------------------------------


def Str(
    desc: str = "",
    req: bool = False,
    enum: tuple[str, ...] | list[str] = (),
    fmt: str | None = None,
) -> Field:
    return Field("string", desc, req, fmt, tuple(enum))


def Int(desc: str = "", req: bool = False) -> Field:
    return Field("integer", desc, req, "int32")


def Int64(desc: str = "", req: bool = False) -> Field:
    return Field("integer", desc, req, "int64")


def Num(desc: str = "", req: bool = False) -> Field:
    return Field("number", desc, req, "double")


def Bool(desc: str = "", req: bool = False) -> Field:
    return Field("boolean", desc, req)


def Bytes(desc: str = "", req: bool = False) -> Field:
    """Base64-encoded bytes (`format: byte`)."""
    return Field("string", desc, req, "byte")


def Ref(name: str, desc: str = "", req: bool = False, strategy: str | None = None) -> Field:
    return Field("ref", desc, req, ref=name, strategy=strategy)


def Time(desc: str = "", req: bool = False) -> Field:
    return Ref(TIME, desc, req)


def MicroTime(desc: str = "", req: bool = False) -> Field:
    return Ref(MICRO_TIME, desc, req)


def Qty(desc: str = "", req: bool = False) -> Field:
    return Ref(QUANTITY, desc, req)


def IntStr(desc: str = "", req: bool = False) -> Field:
    return Ref(INT_OR_STRING, desc, req)


def Free(desc: str = "", req: bool = False) -> Field:
    """Arbitrary JSON object whose contents are never checked."""
    return Field("free", desc, req)


def _item(x: Field | str) -> Field:
    return Ref(x) if isinstance(x, str) else x


def L(
    item: Field | str,
    desc: str = "",
    req: bool = False,
    *,
    key: str | None = None,
    strategy: str | None = None,
    ltype: str | None = None,
    mkeys: tuple[str, ...] = (),
) -> Field:
    """A list. `key`/`strategy` are the strategic-merge patch metadata, `ltype`/`mkeys`
    the server-side-apply list type (atomic, set, map) and map keys."""
    if key and not mkeys and ltype == "map":
        mkeys = (key,)
    return Field(
        "list",
        desc,
        req,
        item=_item(item),
        merge_key=key,
        strategy=strategy,
        list_type=ltype,
        map_keys=tuple(mkeys),
    )


def Atomic(item: Field | str, desc: str = "", req: bool = False) -> Field:
    """A list replaced as a whole by patches."""
    return L(item, desc, req, ltype="atomic")


def Set(item: Field | str, desc: str = "", req: bool = False) -> Field:
    """A list of scalars treated as a set."""
    return L(item, desc, req, ltype="set")


def Keyed(item: Field | str, key: str, desc: str = "", req: bool = False, **kw: Any) -> Field:
    """The common `patchStrategy=merge`, `listType=map` list keyed by one field."""
    return L(
        item,
        desc,
        req,
        key=key,
        strategy=kw.pop("strategy", "merge"),
        ltype="map",
        mkeys=kw.pop("mkeys", (key,)),
    )


def Conditions(ref: str, desc: str = "Latest observations of the object's state.") -> Field:
    """The usual `conditions` list, merged by `type`."""
    return Keyed(ref, "type", desc)


def M(value: Field | str, desc: str = "", req: bool = False) -> Field:
    """A map from string keys to `value`."""
    return Field("map", desc, req, item=_item(value))


def StrMap(desc: str = "", req: bool = False) -> Field:
    return M(Str(), desc, req)


# --- kinds -------------------------------------------------------------------------


def Kind(
    name: str,
    desc: str,
    gvk: tuple[str, str, str],
    fields: dict[str, Field],
    *,
    listable: bool = True,
    meta_required: bool = False,
) -> Struct:
    """A top-level kind: adds apiVersion/kind/metadata, and the `<Kind>List` struct."""
    group, version, kind = gvk
    full: dict[str, Field] = {
        "apiVersion": Str(
            f'Versioned schema of this object, e.g. "{(group + "/") if group else ""}{version}".'
        ),
        "kind": Str(f'Kind of this object: "{kind}".'),
        "metadata": Ref(OBJECT_META, "Standard object metadata.", meta_required),
    }
    full.update(fields)
    s = Struct(name, desc, full, gvk=gvk)
    if listable:
        Struct(
            name + "List",
            f"A list of {kind} objects.",
            {
                "apiVersion": Str("Versioned schema of this list."),
                "items": L(name, f"The {kind} objects.", req=True),
                "kind": Str(f'Kind of this list: "{kind}List".'),
                "metadata": Ref(LIST_META, "Standard list metadata."),
            },
            gvk=(group, version, kind + "List"),
        )
    return s


# --- OpenAPI rendering ---------------------------------------------------------------


def component_ref(name: str) -> str:
    return "#/components/schemas/" + name


def field_schema(f: Field, with_desc: bool = True) -> dict[str, Any]:
    """Render one field as an OpenAPI v3 schema (specs/k8s-api.md §2)."""
    out: dict[str, Any]
    if f.kind == "ref":
        assert f.ref is not None
        if with_desc and f.desc:
            # The v3 convention: a described reference wraps the $ref in allOf.
            out = {"allOf": [{"$ref": component_ref(f.ref)}]}
        else:
            out = {"$ref": component_ref(f.ref)}
    elif f.kind == "list":
        assert f.item is not None
        out = {"type": "array", "items": field_schema(f.item, with_desc=False)}
        if f.list_type:
            out["x-kubernetes-list-type"] = f.list_type
        if f.map_keys:
            out["x-kubernetes-list-map-keys"] = list(f.map_keys)
        if f.merge_key:
            out["x-kubernetes-patch-merge-key"] = f.merge_key
    elif f.kind == "map":
        assert f.item is not None
        out = {"type": "object", "additionalProperties": field_schema(f.item, with_desc=False)}
    elif f.kind == "free":
        out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    else:
        out = {"type": f.kind}
        if f.format:
            out["format"] = f.format
        if f.enum:
            out["enum"] = list(f.enum)
    if f.strategy:
        out["x-kubernetes-patch-strategy"] = f.strategy
    if with_desc and f.desc:
        out["description"] = f.desc
    return out


def struct_schema(s: Struct) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "description": s.desc}
    if s.fields:
        out["properties"] = {k: field_schema(f) for k, f in sorted(s.fields.items())}
    if s.required:
        out["required"] = sorted(s.required)
    if s.map_type:
        out["x-kubernetes-map-type"] = s.map_type
    if s.preserve_unknown:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if s.gvk:
        g, v, k = s.gvk
        out["x-kubernetes-group-version-kind"] = [{"group": g, "kind": k, "version": v}]
    return out


def component_schema(name: str) -> dict[str, Any]:
    node = REGISTRY[name]
    if isinstance(node, Leaf):
        return dict(node.schema)
    return struct_schema(node)


def refs_of(f: Field) -> list[str]:
    if f.kind == "ref" and f.ref:
        return [f.ref]
    if f.item is not None:
        return refs_of(f.item)
    return []


def closure(names: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """All schema names reachable from `names` (inclusive), sorted."""
    seen: set[str] = set()
    stack = [n for n in names if n in REGISTRY]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        node = REGISTRY[n]
        if isinstance(node, Struct):
            for f in node.fields.values():
                stack.extend(r for r in refs_of(f) if r not in seen and r in REGISTRY)
    return sorted(seen)


def go_type(f: Field) -> str:
    """The Go type name kube would print in a `cannot unmarshal` error (approximate)."""
    if f.kind == "ref":
        assert f.ref is not None
        node = REGISTRY.get(f.ref)
        if isinstance(node, Leaf):
            return node.go_type
        return go_struct_name(f.ref, qualified=True)
    if f.kind == "list":
        assert f.item is not None
        return "[]" + go_type(f.item)
    if f.kind == "map":
        assert f.item is not None
        return "map[string]" + go_type(f.item)
    if f.kind == "integer":
        return "int64" if f.format == "int64" else "int32"
    if f.kind == "number":
        return "float64"
    if f.kind == "boolean":
        return "bool"
    if f.kind == "free":
        return "map[string]interface {}"
    if f.format == "byte":
        return "[]uint8"
    return "string"


def go_struct_name(schema_name: str, qualified: bool = False) -> str:
    """`io.k8s.api.core.v1.PodSpec` -> `PodSpec` (or `v1.PodSpec` when qualified)."""
    parts = schema_name.split(".")
    return f"{parts[-2]}.{parts[-1]}" if qualified else parts[-1]
