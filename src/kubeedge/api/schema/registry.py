"""The built-in kinds and the lookups over their schemas (specs/k8s-api.md §2).

Owns: `BUILTIN_KINDS` ((group, version, kind) -> schema name, List kinds included),
`schema_for` (alias `builtin_schema_name`), `struct`, and the patch-metadata lookup
`patch_meta` the strategic-merge patcher can use. Importing this module loads every
type definition exactly once.
Never: serves HTTP or builds documents (see openapi.py).
"""

from __future__ import annotations

from functools import cache

from kubeedge.api.schema import types_cluster, types_core, types_meta, types_workloads
from kubeedge.api.schema.dsl import REGISTRY, Field, Leaf, Struct

# Loaded for their side effect of registering schemas.
_MODULES = (types_meta, types_core, types_workloads, types_cluster)

GVK = tuple[str, str, str]

BUILTIN_KINDS: dict[GVK, str] = {
    node.gvk: name
    for name, node in sorted(REGISTRY.items())
    if isinstance(node, Struct) and node.gvk is not None
}


def schema_for(group: str, version: str, kind: str) -> str | None:
    """Schema name of a built-in kind, or None."""
    return BUILTIN_KINDS.get((group, version, kind))


builtin_schema_name = schema_for


def struct(name: str) -> Struct:
    node = REGISTRY[name]
    if not isinstance(node, Struct):
        raise KeyError(f"{name} is not an object schema")
    return node


def is_struct(name: str) -> bool:
    return isinstance(REGISTRY.get(name), Struct)


def is_leaf(name: str) -> bool:
    return isinstance(REGISTRY.get(name), Leaf)


@cache
def patch_meta(schema_name: str, path: tuple[str, ...]) -> Field | None:
    """The field at `path` (field names only, list items are stepped through), or None.

    For the strategic-merge patcher: `patch_meta("io.k8s.api.apps.v1.Deployment",
    ("spec", "template", "spec", "containers")).merge_key == "name"`.
    """
    node: Struct | None = struct(schema_name) if is_struct(schema_name) else None
    field: Field | None = None
    for step in path:
        if node is None:
            return None
        field = node.fields.get(step)
        if field is None:
            return None
        target = field
        while target.kind in ("list", "map") and target.item is not None:
            target = target.item
        node = (
            struct(target.ref)
            if target.kind == "ref" and target.ref and is_struct(target.ref)
            else None
        )
    return field
