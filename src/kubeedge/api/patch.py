"""PATCH bodies: JSON merge patch, JSON patch and Kubernetes strategic merge patch.

Owns the three patch algorithms of specs/k8s-api.md §4 and the table of strategic merge
keys of the built-in kinds, plus `apply_patch`, which picks the algorithm from the request
Content-Type. Every function takes JSON-shaped values (dict / list / str / int / float /
bool / None), returns a fresh object sharing nothing with its inputs, never mutates its
inputs and fails only with a `StatusError` from `kubeedge.api.errors`.

Never does I/O and never decides policy: checking `metadata.resourceVersion`
preconditions (409), defaulting, validation, managedFields and creating an absent object
on server-side apply are the caller's job.

Strategic merge keys (the `patchStrategy` / `patchMergeKey` struct tags of k8s.io/api)
are described by a small *type graph* rather than by full paths. `STRUCTS` maps a struct
type name (`"PodSpec"`, `"Container"`, ...) to its notable fields; each `FieldPatch` says
how the field merges and which struct type its value (or, for lists, each element) is.
`KINDS` maps a kind to its root struct type. A PodSpec is therefore described once and
applies wherever it is embedded: `Pod.spec`, `spec.template.spec` of Deployment /
ReplicaSet / DaemonSet / StatefulSet / Job / ReplicationController, and
`spec.jobTemplate.spec.template.spec` of CronJob, exactly as Go resolves tags by the
struct it reaches. A `"*"` field applies to every field a struct does not list; the
generic `Status` struct uses it so `conditions` merge by `type` anywhere under `status`.
Fields nobody lists are untyped: maps merge recursively, lists are replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, Final, ParamSpec, TypeVar

from kubeedge.api.errors import bad_request, unprocessable, unsupported_media_type
from kubeedge.api.jsonvalue import copy_json, json_equal

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "KINDS",
    "MERGE",
    "MERGE_PATCH",
    "REPLACE",
    "STRATEGIC_MERGE_KEYS",
    "STRATEGIC_MERGE_PATCH",
    "STRUCTS",
    "FieldPatch",
    "MergeKeyTable",
    "StructSchema",
    "apply_patch",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]

JSON_PATCH: Final = "application/json-patch+json"
MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _json_errors_only(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn pathological nesting into a 400 instead of a RecursionError."""

    @wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise bad_request("the patch or the object is nested too deeply") from None

    return wrapper


# ---------------------------------------------------------------------------------------
# JSON value helpers
# ---------------------------------------------------------------------------------------




def _brief(value: Any, limit: int = 120) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# ---------------------------------------------------------------------------------------


def _merge_into(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = target[key] = {}
            _merge_into(current, value)
        else:
            target[key] = copy_json(value)


@_json_errors_only
def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: `null` deletes a key, objects merge recursively, anything else (lists
    included) replaces (specs/k8s-api.md §4 "Merge")."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


# ---------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------

_OPS: Final = ("add", "remove", "replace", "move", "copy", "test")


def _parse_pointer(pointer: Any, where: str) -> list[str]:
    """RFC 6901: "" is the whole document; `~1` is `/` and `~0` is `~`."""
    if not isinstance(pointer, str):
        raise bad_request(f"{where} must be a string JSON pointer, got {_brief(pointer)}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise bad_request(f'{where} "{pointer}" is not a JSON pointer: it must start with "/"')
    tokens = pointer[1:].split("/")
    for token in tokens:
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise bad_request(f'{where} "{pointer}" has an invalid "~" escape')
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


@dataclass(frozen=True, slots=True)
class _Op:
    index: int
    op: str
    path: str
    tokens: list[str]
    value: Any = None
    from_path: str = ""
    from_tokens: list[str] | None = None

    def fail(self, why: str) -> Exception:
        # 422, not 400: kopf relies on a failed `test` being 422 (specs/k8s-api.md §9)
        return unprocessable(f'json patch operation {self.index} ({self.op} "{self.path}"): {why}')


def _decode_ops(ops: Any) -> list[_Op]:
    """Check the shape of the whole list first: any malformed operation is a 400."""
    if not isinstance(ops, list):
        raise bad_request(f"a json patch must be a JSON array of operations, got {_brief(ops)}")
    decoded: list[_Op] = []
    for i, raw in enumerate(ops):
        if not isinstance(raw, dict):
            raise bad_request(f"json patch operation {i} must be an object, got {_brief(raw)}")
        op = raw.get("op")
        if op not in _OPS:
            raise bad_request(
                f"json patch operation {i} has unknown op {_brief(op)}; expected one of "
                f"{', '.join(_OPS)}"
            )
        if "path" not in raw:
            raise bad_request(f'json patch operation {i} ({op}) is missing "path"')
        tokens = _parse_pointer(raw["path"], f"json patch operation {i} path")
        if op in ("add", "replace", "test") and "value" not in raw:
            raise bad_request(f'json patch operation {i} ({op}) is missing "value"')
        from_path, from_tokens = "", None
        if op in ("move", "copy"):
            if "from" not in raw:
                raise bad_request(f'json patch operation {i} ({op}) is missing "from"')
            from_path = raw["from"]
            from_tokens = _parse_pointer(from_path, f"json patch operation {i} from")
        decoded.append(_Op(i, op, raw["path"], tokens, raw.get("value"), from_path, from_tokens))
    return decoded


def _array_index(op: _Op, token: str, size: int, *, insert: bool) -> int:
    if insert and token == "-":
        return size
    if not token.isascii() or not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise op.fail(f'"{token}" is not a valid array index')
    index = int(token)
    if index > size or (index == size and not insert):
        raise op.fail(f"array index {index} is out of bounds (length {size})")
    return index


def _resolve(op: _Op, doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for depth, token in enumerate(tokens):
        if isinstance(node, dict):
            if token not in node:
                where = "/" + "/".join(tokens[: depth + 1]) if depth + 1 < len(tokens) else path
                raise op.fail(f'path "{where}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(op, token, len(node), insert=False)]
        else:
            raise op.fail(f'path "{path}" does not exist: cannot descend into {_brief(node)}')
    return node


def _add(op: _Op, doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(op, doc, tokens[:-1], op.path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(op, last, len(parent), insert=True), value)
    else:
        raise op.fail(f"cannot add a member to {_brief(parent)}")
    return doc


def _remove(op: _Op, doc: Any, tokens: list[str], path: str) -> Any:
    """Remove and return the value at `tokens`."""
    if not tokens:
        raise op.fail("cannot remove the whole document")
    parent = _resolve(op, doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise op.fail(f'path "{path}" does not exist')
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_array_index(op, last, len(parent), insert=False))
    raise op.fail(f'path "{path}" does not exist')


def _apply_op(doc: Any, op: _Op) -> Any:
    if op.op == "add":
        return _add(op, doc, op.tokens, copy_json(op.value))
    if op.op == "remove":
        _remove(op, doc, op.tokens, op.path)
        return doc
    if op.op == "replace":
        if not op.tokens:
            return copy_json(op.value)
        parent = _resolve(op, doc, op.tokens[:-1], op.path)
        last = op.tokens[-1]
        if isinstance(parent, dict):
            if last not in parent:
                raise op.fail(f'path "{op.path}" does not exist')
            parent[last] = copy_json(op.value)
        elif isinstance(parent, list):
            parent[_array_index(op, last, len(parent), insert=False)] = copy_json(op.value)
        else:
            raise op.fail(f'path "{op.path}" does not exist')
        return doc
    if op.op == "test":
        actual = _resolve(op, doc, op.tokens, op.path)
        if not json_equal(actual, op.value):
            raise op.fail(f"test failed: the value is {_brief(actual)}, not {_brief(op.value)}")
        return doc
    assert op.from_tokens is not None
    if op.op == "copy":
        value = copy_json(_resolve(op, doc, op.from_tokens, op.from_path))
        return _add(op, doc, op.tokens, value)
    # move
    if op.tokens[: len(op.from_tokens)] == op.from_tokens:
        if len(op.tokens) == len(op.from_tokens):
            _resolve(op, doc, op.from_tokens, op.from_path)  # must exist; otherwise a no-op
            return doc
        raise op.fail(f'cannot move "{op.from_path}" into one of its own children')
    value = _remove(op, doc, op.from_tokens, op.from_path)
    return _add(op, doc, op.tokens, value)


@_json_errors_only
def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 (specs/k8s-api.md §4 "JSON patch"): a malformed operation list is a 400;
    an operation that cannot be applied, or a failed `test`, is a 422. All or nothing."""
    decoded = _decode_ops(ops)
    doc = copy_json(target)
    for op in decoded:
        doc = _apply_op(doc, op)
    return doc


# ---------------------------------------------------------------------------------------
# Strategic merge keys
# ---------------------------------------------------------------------------------------

MERGE: Final = "merge"
REPLACE: Final = "replace"


@dataclass(frozen=True, slots=True)
class FieldPatch:
    """How one field merges (a Go `patchStrategy` / `patchMergeKey` tag).

    `type` names the struct in `STRUCTS` that the value is (for lists: each element is);
    "" means untyped. `strategy` "" (no tag) merges maps and replaces lists. MERGE on a
    list merges elements by `merge_key`, or as a set when there is no key (primitive lists
    such as finalizers). REPLACE on a map replaces it instead of merging it.
    """

    type: str = ""
    strategy: str = ""
    merge_key: str = ""


_UNTYPED: Final = FieldPatch()
_SET: Final = FieldPatch(strategy=MERGE)


def _keyed(key: str, type_: str = "") -> FieldPatch:
    return FieldPatch(type_, MERGE, key)


def _of(type_: str) -> FieldPatch:
    return FieldPatch(type_)


_META: Final = _of("ObjectMeta")
_STATUS: Final = _of("Status")

# struct type -> field -> FieldPatch (k8s.io/api v1.32 struct tags)
STRUCTS: dict[str, dict[str, FieldPatch]] = {
    "Object": {"metadata": _META, "status": _STATUS},
    "ObjectMeta": {"finalizers": _SET, "ownerReferences": _keyed("uid")},
    # any status: conditions merge by type at every depth (specs/k8s-api.md §4 "Keys")
    "Status": {"conditions": _keyed("type"), "*": _STATUS},
    # core/v1
    "Pod": {"metadata": _META, "spec": _of("PodSpec"), "status": _of("PodStatus")},
    "PodTemplate": {"metadata": _META, "template": _of("PodTemplateSpec")},
    "PodTemplateSpec": {"metadata": _META, "spec": _of("PodSpec")},
    "PodSpec": {
        "containers": _keyed("name", "Container"),
        "initContainers": _keyed("name", "Container"),
        "ephemeralContainers": _keyed("name", "Container"),
        "volumes": _keyed("name"),
        "imagePullSecrets": _keyed("name"),
        "hostAliases": _keyed("ip"),
        "topologySpreadConstraints": _keyed("topologyKey"),
        "resourceClaims": _keyed("name"),
        "schedulingGates": _keyed("name"),
        "tolerations": _UNTYPED,  # no key: replaced as a whole
    },
    "Container": {
        "env": _keyed("name"),
        "envFrom": _UNTYPED,  # replaced
        "ports": _keyed("containerPort"),
        "volumeMounts": _keyed("mountPath"),
        "volumeDevices": _keyed("devicePath"),
    },
    "PodStatus": {
        "conditions": _keyed("type"),
        "podIPs": _keyed("ip"),
        "hostIPs": _keyed("ip"),
        "resourceClaimStatuses": _keyed("name"),
        "*": _STATUS,
    },
    "Service": {"metadata": _META, "spec": _of("ServiceSpec"), "status": _STATUS},
    "ServiceSpec": {"ports": _keyed("port")},
    "Node": {"metadata": _META, "spec": _of("NodeSpec"), "status": _of("NodeStatus")},
    "NodeSpec": {"podCIDRs": _SET},
    "NodeStatus": {"conditions": _keyed("type"), "addresses": _keyed("type"), "*": _STATUS},
    "ServiceAccount": {"metadata": _META, "secrets": _keyed("name")},
    # apps/v1, batch/v1 and ReplicationController: a pod template under spec.template
    "Workload": {"metadata": _META, "spec": _of("WorkloadSpec"), "status": _STATUS},
    "WorkloadSpec": {"template": _of("PodTemplateSpec")},
    "CronJob": {"metadata": _META, "spec": _of("CronJobSpec"), "status": _STATUS},
    "CronJobSpec": {"jobTemplate": _of("JobTemplateSpec")},
    "JobTemplateSpec": {"metadata": _META, "spec": _of("WorkloadSpec")},
}

# kind -> root struct type; kinds not listed use "Object"
KINDS: dict[str, str] = {
    "Pod": "Pod",
    "PodTemplate": "PodTemplate",
    "Service": "Service",
    "Node": "Node",
    "ServiceAccount": "ServiceAccount",
    "Deployment": "Workload",
    "ReplicaSet": "Workload",
    "DaemonSet": "Workload",
    "StatefulSet": "Workload",
    "Job": "Workload",
    "ReplicationController": "Workload",
    "CronJob": "CronJob",
}


@dataclass(frozen=True, slots=True)
class StructSchema:
    """A position in the type graph: the struct type of the map being merged."""

    table: MergeKeyTable
    name: str

    def field(self, name: str) -> tuple[FieldPatch, StructSchema]:
        """The patch metadata of field `name` and the schema of its value / elements."""
        fields = self.table.structs.get(self.name, {})
        meta = fields.get(name) or fields.get("*") or _UNTYPED
        return meta, StructSchema(self.table, meta.type)


class MergeKeyTable:
    """Strategic merge metadata: a struct type graph plus the root type of each kind."""

    def __init__(
        self,
        structs: Mapping[str, Mapping[str, FieldPatch]],
        kinds: Mapping[str, str],
        default_root: str = "Object",
    ) -> None:
        self.structs = {name: dict(fields) for name, fields in structs.items()}
        self.kinds = dict(kinds)
        self.default_root = default_root
        referenced = {f.type for fields in self.structs.values() for f in fields.values()}
        referenced |= set(self.kinds.values()) | {default_root}
        missing = sorted(t for t in referenced if t and t not in self.structs)
        if missing:
            raise ValueError(f"struct types referenced but not defined: {missing}")

    def for_kind(self, kind: str) -> StructSchema:
        """Schema of a whole object of `kind` (unknown kinds get the generic `Object`)."""
        return StructSchema(self, self.kinds.get(kind, self.default_root))

    def struct(self, name: str) -> StructSchema:
        if name and name not in self.structs:
            raise KeyError(name)
        return StructSchema(self, name)


STRATEGIC_MERGE_KEYS: Final = MergeKeyTable(STRUCTS, KINDS)


# ---------------------------------------------------------------------------------------
# Strategic merge patch (apimachinery pkg/util/strategicpatch, MergeParallelList and
# IgnoreUnmatchedNulls on, as kube-apiserver calls it)
# ---------------------------------------------------------------------------------------

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder/"
_DELETE_PRIMITIVES: Final = "$deleteFromPrimitiveList/"


class _Deleted:
    """Result of merging a map whose patch says `$patch: delete`."""


_DELETED: Final = _Deleted()


def _hkey(value: Any) -> Any:
    """A hashable key with JSON equality (1 and 1.0 equal; true and 1 not)."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)
    if isinstance(value, str):
        return ("str", value)
    try:
        return ("json", json.dumps(value, sort_keys=True, default=repr))
    except (TypeError, ValueError):
        return ("repr", repr(value))


class _Unkeyed:
    """Key of a list element lacking the merge key: equal to nothing else."""

    __slots__ = ()


def _element_key(item: Any, merge_key: str) -> Any:
    if not merge_key:
        return _hkey(item)
    if isinstance(item, dict) and merge_key in item:
        return _hkey(item[merge_key])
    return _Unkeyed()


def _positions(items: list[Any], merge_key: str) -> dict[Any, int]:
    """First position of each key in `items`."""
    out: dict[Any, int] = {}
    for i, item in enumerate(items):
        out.setdefault(_element_key(item, merge_key), i)
    return out


def _merge_sorted(
    server_only: list[Any], patch_items: list[Any], server_order: dict[Any, int], merge_key: str
) -> list[Any]:
    """Interleave server-only items into the patch items, keeping both relative orders; a
    server item goes first only when both are in the live list and it was earlier there.
    So items new to the list land before the remaining server items, as in Go."""
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        left = server_order.get(_element_key(server_only[i], merge_key))
        right = server_order.get(_element_key(patch_items[j], merge_key))
        if left is not None and right is not None and left < right:
            out.append(server_only[i])
            i += 1
        else:
            out.append(patch_items[j])
            j += 1
    return out + server_only[i:] + patch_items[j:]


def _order(merged: list[Any], order: list[Any], original: list[Any], merge_key: str) -> list[Any]:
    """Items named in `order` come in that order; the others keep their live order and are
    interleaved by `_merge_sorted` ($setElementOrder > patch order > live order)."""
    wanted = _positions(order, merge_key)
    live = _positions(original, merge_key)
    patch_items = [m for m in merged if _element_key(m, merge_key) in wanted]
    server_only = [m for m in merged if _element_key(m, merge_key) not in wanted]
    patch_items.sort(key=lambda m: wanted[_element_key(m, merge_key)])
    server_only.sort(key=lambda m: live.get(_element_key(m, merge_key), len(live)))
    return _merge_sorted(server_only, patch_items, live, merge_key)


def _check_element_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch list must name its items in the same relative order as $setElementOrder."""
    if merge_key and not all(isinstance(o, dict) and merge_key in o for o in order):
        raise bad_request(
            f"$setElementOrder list {_brief(order)} has an item without merge key {merge_key}"
        )
    keys = [
        _element_key(p, merge_key)
        for p in patch_list
        if not (isinstance(p, dict) and _DIRECTIVE in p)
    ]
    wanted = [_element_key(o, merge_key) for o in order]
    i = 0
    for key in wanted:
        if i < len(keys) and keys[i] == key:
            i += 1
    if i < len(keys):
        raise bad_request(
            f"the order in patch list {_brief(patch_list)} doesn't match $setElementOrder "
            f"list {_brief(order)}"
        )


def _no_merge_key(item: Any, merge_key: str) -> Exception:
    return bad_request(f"map {_brief(item)} does not contain declared merge key: {merge_key}")


def _merge_list(
    original: list[Any], patch: list[Any], meta: FieldPatch, sub: StructSchema
) -> list[Any]:
    """Merge a list whose strategy is MERGE (both lists are private copies)."""
    if any(isinstance(item, list) for item in (*original, *patch)):
        raise unprocessable("strategic merge patch does not support lists of lists")
    merge_key = meta.merge_key
    if not merge_key:
        return _merge_primitive_list(original, patch)

    work = list(original)
    items: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(
                f"list element {_brief(item)} must be an object with merge key {merge_key}"
            )
        directive = item.get(_DIRECTIVE, None)
        if _DIRECTIVE not in item or (directive in (MERGE, REPLACE) and merge_key in item):
            # `$patch: replace` on an element that has its key replaces just that element
            items.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            gone = _hkey(item[merge_key])
            work = [w for w in work if _element_key(w, merge_key) != gone]
        elif directive == REPLACE:  # a bare {"$patch": "replace"} replaces the whole list
            replace = True
        elif directive != MERGE:
            raise bad_request(f"unknown patch type: {_brief(directive)} in list {_brief(patch)}")
    if replace:
        work = []

    for item in items:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        key = _hkey(item[merge_key])
        at = next((i for i, w in enumerate(work) if _element_key(w, merge_key) == key), None)
        merged = _merge_map(work[at] if at is not None else None, item, sub)
        if at is None:
            if merged is not _DELETED:
                work.append(merged)
        elif merged is _DELETED:
            del work[at]
        else:
            work[at] = merged
    return _order(work, items, original, merge_key)


def _merge_primitive_list(original: list[Any], patch: list[Any]) -> list[Any]:
    """A primitive list with strategy merge is a set (e.g. metadata.finalizers)."""
    values: list[Any] = []
    replace = False
    for item in patch:
        if isinstance(item, dict):
            if item == {_DIRECTIVE: REPLACE}:
                replace = True
                continue
            raise bad_request(f"list element types are not identical: {_brief(patch)}")
        values.append(item)
    merged: list[Any] = []
    seen: set[Any] = set()
    for item in (*([] if replace else original), *values):
        key = _hkey(item)
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return _order(merged, values, [] if replace else original, "")


def _clean(value: Any, schema: StructSchema) -> Any:
    """A patch value taken as-is: drop nulls and resolve directives, as merging it into
    nothing would."""
    if isinstance(value, dict):
        merged = _merge_map(None, value, schema)
        return {} if merged is _DELETED else merged
    if isinstance(value, list):
        cleaned = [_merge_map(None, v, schema) if isinstance(v, dict) else v for v in value]
        return [v for v in cleaned if v is not _DELETED]
    return value


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key == _DIRECTIVE or key.startswith((_SET_ORDER, _DELETE_PRIMITIVES)):
            continue
        if key not in keep:
            raise bad_request("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_map(
    original: dict[str, Any] | None, patch: dict[str, Any], schema: StructSchema
) -> dict[str, Any] | _Deleted:
    """Merge `patch` into `original` in place (both private copies) and return it."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        rest = {k: v for k, v in patch.items() if k != _DIRECTIVE}
        if directive == REPLACE:
            return _merge_map(None, rest, schema)
        if directive == "delete":
            return _DELETED
        if directive != MERGE:
            raise bad_request(f"unknown patch type: {_brief(directive)} in map {_brief(patch)}")
        patch = rest
    result: dict[str, Any] = original if original is not None else {}
    if _RETAIN_KEYS in patch:
        _retain_keys(result, patch)

    done: set[str] = set()
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        field = key[len(_SET_ORDER) :]
        order = patch[key]
        if not field or not isinstance(order, list):
            raise bad_request(f"invalid patch format of {key}: {_brief(order)}")
        live = result.get(field)
        live_list = live if isinstance(live, list) else None
        patch_value = patch.get(field)
        if field in patch and not isinstance(patch_value, list):
            continue  # null deletes, anything else replaces: the main loop handles both
        meta, sub = schema.field(field)
        _check_element_order(patch_value or [], order, meta.merge_key)
        if live_list is None and patch_value is None:
            continue
        if patch_value is None:
            merged = list(live_list or [])
        elif meta.strategy == MERGE:
            merged = _merge_list(live_list or [], patch_value, meta, sub)
        else:
            merged = _clean(patch_value, sub)
        result[field] = _order(merged, order, live_list or [], meta.merge_key)
        done.add(field)

    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            deletions.append((key, value))
            continue
        if key == _RETAIN_KEYS or key.startswith(_SET_ORDER) or key in done:
            continue
        if value is None:
            result.pop(key, None)
            continue
        meta, sub = schema.field(key)
        current = result.get(key)
        if isinstance(value, dict):
            base = current if isinstance(current, dict) and meta.strategy != REPLACE else None
            merged_map = _merge_map(base, value, sub)
            if merged_map is _DELETED:
                result.pop(key, None)
            else:
                result[key] = merged_map
        elif isinstance(value, list):
            if meta.strategy == MERGE:
                live_list = current if isinstance(current, list) else []
                result[key] = _merge_list(live_list, value, meta, sub)
            else:
                result[key] = _clean(value, sub)
        else:
            result[key] = value

    for key, value in deletions:
        field = key[len(_DELETE_PRIMITIVES) :]
        if not field or not isinstance(value, list):
            raise bad_request(f"invalid patch format of {key}: {_brief(value)}")
        current = result.get(field)
        if isinstance(current, list):
            gone = {_hkey(v) for v in value}
            result[field] = [v for v in current if _hkey(v) not in gone]
    return result


def _schema(schema: StructSchema | str | None) -> StructSchema:
    """A StructSchema, a kind name (`"Deployment"`), or None for the generic object."""
    if isinstance(schema, StructSchema):
        return schema
    return STRATEGIC_MERGE_KEYS.for_kind(schema or "")


@_json_errors_only
def strategic_merge_patch(
    original: Any, patch: Any, schema: StructSchema | str | None = None
) -> dict[str, Any]:
    """Kubernetes strategic merge patch (specs/k8s-api.md §4 "Strategic merge").

    Maps merge recursively and `null` deletes; lists whose field has a merge key merge
    element by element; primitive lists with strategy merge are sets; other lists are
    replaced. Directives: `$patch: replace|delete|merge` on maps and list elements (a bare
    `{"$patch": "replace"}` element replaces the list; `{"<key>": v, "$patch": "delete"}`
    removes that element), `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`
    and `$retainKeys`. Items new to a list without `$setElementOrder` land before the live
    items, as in Go. `schema` is a `StructSchema` or a kind name resolved through
    `STRATEGIC_MERGE_KEYS`; None means the generic object (ObjectMeta + status).
    """
    if not isinstance(patch, dict):
        raise bad_request(f"a strategic merge patch must be a JSON object, got {_brief(patch)}")
    struct = _schema(schema)
    base = copy_json(original) if isinstance(original, dict) else {}
    result = _merge_map(base, copy_json(patch), struct)
    return {} if isinstance(result, _Deleted) else result


# ---------------------------------------------------------------------------------------
# Dispatch by Content-Type
# ---------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode_body(body: bytes | bytearray | str | Any, media: str) -> Any:
    if not isinstance(body, bytes | bytearray | str):
        return body  # already decoded
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as err:
        if media == APPLY_PATCH:
            return _decode_yaml(body)
        raise bad_request(f"error decoding patch: {err}") from None


def _decode_yaml(body: bytes | bytearray | str) -> Any:
    """kubectl sends JSON even for apply-patch+yaml; real YAML needs PyYAML (a project
    dependency, imported only on this path)."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is pinned in pyproject.toml
        raise bad_request("error decoding YAML patch: no YAML parser available") from None
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as err:
        raise bad_request(f"error decoding YAML patch: {err}") from None


def apply_patch(
    content_type: str,
    original: Mapping[str, Any],
    body: bytes | bytearray | str | Any,
    strategy_for_kind: StructSchema | str | None,
) -> dict[str, Any]:
    """Apply a PATCH request body to `original` according to its Content-Type.

    `body` is the raw request body or an already-decoded value. `strategy_for_kind` is
    the kind's strategic-merge schema (`STRATEGIC_MERGE_KEYS.for_kind(kind)`) or just its
    kind name, or None for kinds without strategic merge (custom resources): then
    strategic merge is 415
    (specs/k8s-api.md §4). `application/apply-patch+yaml` gets the spec's minimum viable
    server-side apply: a strategic merge (built-ins) or merge patch (CRs) of the body.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    accepted = [JSON_PATCH, MERGE_PATCH]
    if strategy_for_kind is not None:
        accepted.append(STRATEGIC_MERGE_PATCH)
    accepted.append(APPLY_PATCH)
    if media not in accepted:
        raise unsupported_media_type(content_type, accepted)
    patch = _decode_body(body, media)
    if media == JSON_PATCH:
        result = json_patch(original, patch)
    elif media == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request(f"a merge patch must be a JSON object, got {_brief(patch)}")
        result = json_merge_patch(original, patch)
    elif media == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(original, patch, strategy_for_kind)
    else:
        if not isinstance(patch, dict):
            raise bad_request(f"an apply configuration must be an object, got {_brief(patch)}")
        if strategy_for_kind is not None:
            result = strategic_merge_patch(original, patch, strategy_for_kind)
        else:
            result = json_merge_patch(original, patch)
    if not isinstance(result, dict):
        raise bad_request(f"the patched object must be a JSON object, got {_brief(result)}")
    return result
