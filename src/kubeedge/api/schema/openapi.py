"""OpenAPI v3 documents for kubectl: the index, per-group-version documents, CRDs.

Owns (specs/k8s-api.md §2):
- `openapi_v3_document(group_version, resources)`: `components.schemas` for the kinds
  (each kind schema carries `x-kubernetes-group-version-kind` as a LIST, which
  `kubectl explain` needs) and `paths` with, for every resource, a PATCH operation
  whose `x-kubernetes-group-version-kind` is a single map and which lists
  `fieldValidation` as a query parameter (what `kubectl apply --validate=strict` checks)
  and, for built-ins, `application/strategic-merge-patch+json` in `requestBody.content`
  (what makes kubectl use the schemas' patch metadata).
- `crd_openapi_document(crd)`: the same for the served versions of a CRD, built from
  each version's `openAPIV3Schema`, without strategic merge (CRs use merge patch, §4).
- `openapi_v3_index(docs)`: the `/openapi/v3` index with a content hash per document.
- `document_json` / `document_hash`: serialized bytes and hash, memoised per document.

Documents are built once and cached; callers must treat them as read-only.
Never: serves HTTP, reads storage or decides which resources exist; the API server
passes its registry in as `ResourceDoc`s.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from kubeedge.api.schema.dsl import (
    LIST_META,
    META,
    OBJECT_META,
    REGISTRY,
    closure,
    component_ref,
    component_schema,
)
from kubeedge.api.schema.registry import BUILTIN_KINDS

OPENAPI_VERSION = "3.0.0"
KUBE_VERSION = "v1.32.0"

STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"

SMP = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
BUILTIN_PATCH_TYPES = (SMP, MERGE_PATCH, JSON_PATCH, APPLY_PATCH)
CR_PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, APPLY_PATCH)

GVK = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class ResourceDoc:
    """One resource of a group version, as the API server registers it.

    `kind` is the kind name within the document's group version. `subresources` are
    names such as "status", "scale", "log", "exec", "eviction" or "binding". `verbs`
    (None = all) limits the GET/POST/PUT/DELETE operations; the PATCH operation is
    always present because kubectl reads it to learn that `fieldValidation` is
    supported for the kind (specs/k8s-api.md §2).
    """

    plural: str
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers; the value must stay hashable for the cache.
        object.__setattr__(self, "subresources", tuple(self.subresources))
        if self.verbs is not None:
            object.__setattr__(self, "verbs", tuple(self.verbs))

    def allows(self, verb: str) -> bool:
        return self.verbs is None or verb in self.verbs


# What each subresource carries. None means "the parent kind"; a GVK means that kind;
# "connect" means a streaming endpoint without a schema.
_SUB_KINDS: dict[str, GVK | str | None] = {
    "status": None,
    "ephemeralcontainers": None,
    "resize": None,
    "finalize": None,
    "scale": ("autoscaling", "v1", "Scale"),
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "log": "connect",
    "exec": "connect",
    "attach": "connect",
    "portforward": "connect",
    "proxy": "connect",
}
# Subresources that are updated like the parent (GET/PUT/PATCH) rather than POSTed.
_UPDATABLE_SUBS = {"status", "scale", "ephemeralcontainers", "resize"}
_POST_SUBS = {"eviction", "binding", "token", "finalize"}


def split_group_version(group_version: str) -> tuple[str, str]:
    """`"apps/v1"` -> ("apps", "v1"); `"v1"` -> ("", "v1")."""
    if "/" in group_version:
        group, version = group_version.split("/", 1)
        return group, version
    return "", group_version


def openapi_v3_path(group_version: str) -> str:
    """The index key and URL tail: "api/v1" or "apis/<group>/<version>"."""
    group, version = split_group_version(group_version)
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _camel_group(group: str) -> str:
    if not group:
        return "Core"
    group = group.removesuffix(".k8s.io")
    return "".join(p[:1].upper() + p[1:] for p in group.replace("-", ".").split("."))


# --- parameters and operations --------------------------------------------------------------


def _query(name: str, desc: str, typ: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": desc,
        "schema": {"type": typ, "uniqueItems": True},
    }


_P_DRY_RUN = _query("dryRun", 'When "All", the request is validated but not persisted.')
_P_FIELD_MANAGER = _query("fieldManager", "Name of the actor making the change.")
# specs/k8s-api.md §2: kubectl only sends fieldValidation=Strict when the PATCH
# operation of the kind lists this parameter.
_P_FIELD_VALIDATION = _query(
    "fieldValidation", "How to treat unknown or duplicate fields: Ignore, Warn or Strict."
)
_P_FORCE = _query("force", "Apply requests: take ownership of conflicting fields.", "boolean")
_P_PRETTY = _query("pretty", "Pretty-print the output.")
_LIST_PARAMS = [
    _query(n, d)
    for n, d in (
        ("allowWatchBookmarks", "Ask for BOOKMARK watch events."),
        ("continue", "Token from a previous page."),
        ("fieldSelector", "Restrict results by field values."),
        ("labelSelector", "Restrict results by labels."),
        ("limit", "Maximum number of items to return."),
        ("resourceVersion", "Resource version constraint of the read."),
        ("resourceVersionMatch", "How resourceVersion is applied."),
        ("sendInitialEvents", "Start a watch with synthetic ADDED events."),
        ("timeoutSeconds", "Timeout of a list or watch call."),
        ("watch", "Stream changes instead of listing."),
    )
]


def _path_param(name: str, desc: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": desc,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _json_response(schema_name: str | None, desc: str = "OK") -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": component_ref(schema_name)} if schema_name else {}
    return {
        "description": desc,
        "content": {
            "application/json": {"schema": schema},
            "application/yaml": {"schema": schema},
        },
    }


def _gvk_map(gvk: GVK) -> dict[str, str]:
    return {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}


def _op(
    action: str,
    op_id: str,
    desc: str,
    gvk: GVK | None,
    response: str | None,
    *,
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    body_types: tuple[str, ...] = ("application/json",),
    extra_codes: tuple[str, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {"description": desc, "operationId": op_id}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "content": {t: {"schema": {"$ref": component_ref(body)}} for t in body_types},
            "required": True,
        }
    responses: dict[str, Any] = {"200": _json_response(response)}
    for code in extra_codes:
        responses[code] = _json_response(response, "Created" if code == "201" else "Accepted")
    responses["401"] = {"description": "Unauthorized"}
    op["responses"] = responses
    op["x-kubernetes-action"] = action
    if gvk is not None:
        op["x-kubernetes-group-version-kind"] = _gvk_map(gvk)
    return op


def _patch_op(op_id: str, what: str, gvk: GVK, response: str | None, types: tuple[str, ...]):
    return _op(
        "patch",
        op_id,
        f"partially update the specified {what}",
        gvk,
        response,
        params=[_P_DRY_RUN, _P_FIELD_MANAGER, _P_FIELD_VALIDATION, _P_FORCE],
        body=PATCH,
        body_types=types,
        extra_codes=("201",),
    )


def _write_params() -> list[dict[str, Any]]:
    return [_P_DRY_RUN, _P_FIELD_MANAGER, _P_FIELD_VALIDATION]


def _resource_paths(
    prefix: str,
    group: str,
    version: str,
    res: ResourceDoc,
    kind_schema: str | None,
    list_schema: str | None,
    patch_types: tuple[str, ...],
    schema_of: Mapping[GVK, str],
) -> dict[str, dict[str, Any]]:
    """All path items of one resource (specs/k8s-api.md §3 URL shapes)."""
    gvk: GVK = (group, version, res.kind)
    camel = _camel_group(group) + version[:1].upper() + version[1:]
    scope = "Namespaced" if res.namespaced else ""
    base = (
        f"{prefix}/namespaces/{{namespace}}/{res.plural}"
        if res.namespaced
        else (f"{prefix}/{res.plural}")
    )
    item = base + "/{name}"
    ns_param = [_path_param("namespace", "Namespace of the object.")] if res.namespaced else []
    name_param = [_path_param("name", f"Name of the {res.kind}.")]
    common = [_P_PRETTY]
    kind_id = f"{camel}{scope}{res.kind}"
    paths: dict[str, dict[str, Any]] = {}

    list_gvk: GVK | None = (group, version, res.kind + "List") if list_schema else None
    paths[base] = {
        "get": _op(
            "list",
            f"list{kind_id}",
            f"list or watch objects of kind {res.kind}",
            list_gvk or gvk,
            list_schema,
            params=_LIST_PARAMS,
        ),
        "post": _op(
            "post",
            f"create{kind_id}",
            f"create a {res.kind}",
            gvk,
            kind_schema,
            params=_write_params(),
            body=kind_schema or PATCH,
            extra_codes=("201", "202"),
        ),
        "delete": _op(
            "deletecollection",
            f"deleteCollection{kind_id}",
            f"delete a collection of {res.kind}",
            gvk,
            STATUS,
            params=[*_LIST_PARAMS, _P_DRY_RUN],
        ),
        "parameters": [*ns_param, *common],
    }
    if res.namespaced:
        paths[f"{prefix}/{res.plural}"] = {
            "get": _op(
                "list",
                f"list{camel}{res.kind}ForAllNamespaces",
                f"list or watch objects of kind {res.kind} in all namespaces",
                list_gvk or gvk,
                list_schema,
                params=_LIST_PARAMS,
            ),
            "parameters": common,
        }
    paths[item] = {
        "get": _op("get", f"read{kind_id}", f"read the specified {res.kind}", gvk, kind_schema),
        "put": _op(
            "put",
            f"replace{kind_id}",
            f"replace the specified {res.kind}",
            gvk,
            kind_schema,
            params=_write_params(),
            body=kind_schema or PATCH,
            extra_codes=("201",),
        ),
        "patch": _patch_op(f"patch{kind_id}", res.kind, gvk, kind_schema, patch_types),
        "delete": _op(
            "delete",
            f"delete{kind_id}",
            f"delete a {res.kind}",
            gvk,
            STATUS,
            params=[_P_DRY_RUN],
            extra_codes=("202",),
        ),
        "parameters": [*name_param, *ns_param, *common],
    }
    if res.verbs is not None:
        _drop_disallowed(paths, res, base, item, f"{prefix}/{res.plural}")

    for sub in res.subresources:
        target = _SUB_KINDS.get(sub, "connect")
        sub_id = f"{kind_id}{sub[:1].upper()}{sub[1:]}"
        params = [*name_param, *ns_param, *common]
        path = f"{item}/{sub}"
        if target == "connect":
            paths[path] = {
                "get": _op("connect", f"connectGet{sub_id}", f"connect GET to {sub}", None, None),
                "post": _op(
                    "connect", f"connectPost{sub_id}", f"connect POST to {sub}", None, None
                ),
                "parameters": params,
            }
            continue
        sub_gvk: GVK = gvk if target is None else target  # type: ignore[assignment]
        sub_schema = kind_schema if target is None else schema_of.get(sub_gvk)
        if sub in _POST_SUBS:
            paths[path] = {
                "post": _op(
                    "post",
                    f"create{sub_id}",
                    f"create {sub} of a {res.kind}",
                    sub_gvk,
                    sub_schema,
                    params=_write_params(),
                    body=sub_schema or PATCH,
                    extra_codes=("201", "202"),
                ),
                "parameters": params,
            }
            continue
        if sub not in _UPDATABLE_SUBS:
            paths[path] = {
                "get": _op("get", f"read{sub_id}", f"read {sub} of a {res.kind}", None, None),
                "parameters": params,
            }
            continue
        paths[path] = {
            "get": _op(
                "get",
                f"read{sub_id}",
                f"read {sub} of the specified {res.kind}",
                sub_gvk,
                sub_schema,
            ),
            "put": _op(
                "put",
                f"replace{sub_id}",
                f"replace {sub} of the specified {res.kind}",
                sub_gvk,
                sub_schema,
                params=_write_params(),
                body=sub_schema or PATCH,
                extra_codes=("201",),
            ),
            "patch": _patch_op(
                f"patch{sub_id}", f"{sub} of a {res.kind}", sub_gvk, sub_schema, patch_types
            ),
            "parameters": params,
        }
    return paths


def _drop_disallowed(
    paths: dict[str, dict[str, Any]], res: ResourceDoc, base: str, item: str, every: str
) -> None:
    """Remove the operations of verbs the resource does not serve (PATCH always stays)."""
    for path, method, verb in (
        (base, "get", "list"),
        (base, "post", "create"),
        (base, "delete", "deletecollection"),
        (item, "get", "get"),
        (item, "put", "update"),
        (item, "delete", "delete"),
    ):
        if not res.allows(verb):
            paths[path].pop(method, None)
    if res.namespaced and not res.allows("list"):
        paths.pop(every, None)
    if set(paths[base]) <= {"parameters"}:
        del paths[base]


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes", "version": KUBE_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


# --- built-in group versions ------------------------------------------------------------------


@lru_cache(maxsize=64)
def _builtin_document(group_version: str, resources: tuple[ResourceDoc, ...]) -> dict[str, Any]:
    group, version = split_group_version(group_version)
    prefix = "/" + openapi_v3_path(group_version)
    roots: set[str] = {STATUS, DELETE_OPTIONS, PATCH}
    paths: dict[str, Any] = {}
    for res in resources:
        kind_schema = BUILTIN_KINDS.get((group, version, res.kind))
        list_schema = BUILTIN_KINDS.get((group, version, res.kind + "List"))
        for name in (kind_schema, list_schema):
            if name:
                roots.add(name)
        for sub in res.subresources:
            target = _SUB_KINDS.get(sub)
            if isinstance(target, tuple) and target in BUILTIN_KINDS:
                roots.add(BUILTIN_KINDS[target])
        paths.update(
            _resource_paths(
                prefix,
                group,
                version,
                res,
                kind_schema,
                list_schema,
                BUILTIN_PATCH_TYPES,
                BUILTIN_KINDS,
            )
        )
    schemas = {name: component_schema(name) for name in closure(sorted(roots))}
    return _document(paths, schemas)


def openapi_v3_document(
    group_version: str,
    resources: Iterable[ResourceDoc] | str | None = None,
    more: Iterable[ResourceDoc] | None = None,
) -> dict[str, Any]:
    """The `/openapi/v3/<api|apis/g>/<v>` document of a built-in group version.

    Call as `openapi_v3_document("apps/v1", resources)` or, equivalently,
    `openapi_v3_document("apps", "v1", resources)` (group "" for the core group).
    `resources` defaults to `DEFAULT_RESOURCES[group_version]`. Cached per input; the
    returned dict is shared and must not be mutated.
    """
    if isinstance(resources, str):
        group, version = group_version, resources
        group_version = f"{group}/{version}" if group else version
        resources = more
    if resources is None:
        resources = DEFAULT_RESOURCES.get(group_version, ())
    return _builtin_document(group_version, tuple(resources))


# --- CRDs -------------------------------------------------------------------------------------


def _reverse_group(group: str) -> str:
    return ".".join(reversed(group.split(".")))


def cr_schema_name(group: str, version: str, kind: str) -> str:
    """Component name of a custom resource: `example.com/v1 Widget` -> com.example.v1.Widget."""
    return f"{_reverse_group(group)}.{version}.{kind}"


def _publish(node: Any) -> Any:
    """Adapt a CRD schema node for publication (int-or-string as anyOf, recursively)."""
    if isinstance(node, list):
        return [_publish(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in ("properties", "patternProperties", "definitions") and isinstance(v, dict):
            out[k] = {pk: _publish(pv) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict | list):
            out[k] = _publish(v)
        elif k in ("allOf", "anyOf", "oneOf") and isinstance(v, list):
            out[k] = [_publish(x) for x in v]
        else:
            out[k] = copy.deepcopy(v)
    if out.get("x-kubernetes-int-or-string") and not any(k in out for k in ("anyOf", "oneOf")):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"type": "object"}
    return out


def _crd_version_parts(
    crd: Mapping[str, Any], ver: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    spec = crd.get("spec") or {}
    group = spec.get("group", "")
    names = spec.get("names") or {}
    kind = names.get("kind", "")
    list_kind = names.get("listKind") or kind + "List"
    version = ver.get("name", "")
    schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    published = _publish(schema)
    published.setdefault("type", "object")
    published.setdefault("description", f"{kind} is a custom resource of {group}.")
    props = published.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": "Versioned schema of this object."}
    props["kind"] = {"type": "string", "description": "Kind of this object."}
    props["metadata"] = {
        "allOf": [{"$ref": component_ref(OBJECT_META)}],
        "description": "Standard object metadata.",
    }
    published["x-kubernetes-group-version-kind"] = [
        {"group": group, "kind": kind, "version": version}
    ]
    name = cr_schema_name(group, version, kind)
    list_schema = {
        "type": "object",
        "description": f"A list of {kind} objects.",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "Versioned schema of this list."},
            "items": {"type": "array", "items": {"$ref": component_ref(name)}},
            "kind": {"type": "string", "description": "Kind of this list."},
            "metadata": {
                "allOf": [{"$ref": component_ref(LIST_META)}],
                "description": "Standard list metadata.",
            },
        },
        "x-kubernetes-group-version-kind": [
            {"group": group, "kind": list_kind, "version": version}
        ],
    }
    return name, published, list_schema


def _crd_document(crd: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec = crd.get("spec") or {}
    group = spec.get("group", "")
    names = spec.get("names") or {}
    kind = names.get("kind", "")
    list_kind = names.get("listKind") or kind + "List"
    plural = names.get("plural", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    docs: dict[str, dict[str, Any]] = {}
    for ver in spec.get("versions") or []:
        if not ver.get("served", False):
            continue
        version = ver.get("name", "")
        gv = f"{group}/{version}"
        name, published, list_schema = _crd_version_parts(crd, ver)
        subs = ver.get("subresources") or {}
        sub_names = tuple(s for s in ("status", "scale") if subs.get(s) is not None)
        roots = {OBJECT_META, LIST_META, STATUS, DELETE_OPTIONS, PATCH}
        if "scale" in sub_names:
            roots.add(SCALE)
        schemas = {n: component_schema(n) for n in closure(sorted(roots))}
        schemas[name] = published
        schemas[cr_schema_name(group, version, list_kind)] = list_schema
        res = ResourceDoc(plural, kind, namespaced, sub_names)
        cr_kinds = {
            (group, version, kind): name,
            (group, version, list_kind): cr_schema_name(group, version, list_kind),
            ("autoscaling", "v1", "Scale"): SCALE,
        }
        paths = _resource_paths(
            f"/apis/{group}/{version}",
            group,
            version,
            res,
            name,
            cr_schema_name(group, version, list_kind),
            CR_PATCH_TYPES,
            cr_kinds,
        )
        if list_kind != kind + "List":
            # The list operation reports the CRD's own listKind.
            for item in paths.values():
                op = item.get("get")
                if op and op.get("x-kubernetes-action") == "list":
                    op["x-kubernetes-group-version-kind"] = _gvk_map((group, version, list_kind))
        docs[gv] = _document(paths, schemas)
    return docs


_crd_cache: OrderedDict[bytes, dict[str, dict[str, Any]]] = OrderedDict()
_CRD_CACHE_SIZE = 256


def crd_openapi_document(crd: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Documents for each served version of one CRD: {"<group>/<version>": doc}.

    Cached on the CRD's spec content; the returned dicts must not be mutated.
    """
    key = orjson.dumps(crd.get("spec") or {}, option=orjson.OPT_SORT_KEYS)
    hit = _crd_cache.get(key)
    if hit is not None:
        _crd_cache.move_to_end(key)
        return hit
    docs = _crd_document(crd)
    _crd_cache[key] = docs
    if len(_crd_cache) > _CRD_CACHE_SIZE:
        _crd_cache.popitem(last=False)
    return docs


def merge_documents(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine documents of one group version (e.g. several CRDs in the same group)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for doc in docs:
        paths.update(doc.get("paths") or {})
        schemas.update((doc.get("components") or {}).get("schemas") or {})
    return _document(paths, schemas)


def crd_openapi_documents(
    crds: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Documents for CRDs, merged per group version: {"<group>/<version>": doc}.

    Accepts one CRD object or an iterable of them.
    """
    if isinstance(crds, Mapping):
        return crd_openapi_document(crds)
    per_gv: dict[str, list[dict[str, Any]]] = {}
    for crd in crds:
        for gv, doc in crd_openapi_document(crd).items():
            per_gv.setdefault(gv, []).append(doc)
    return {gv: ds[0] if len(ds) == 1 else merge_documents(ds) for gv, ds in per_gv.items()}


# --- index, serialization, hashes -----------------------------------------------------------

_MEMO_SIZE = 512
# id(doc) -> (doc, bytes, hash). The doc itself is kept so its id cannot be reused.
_memo: OrderedDict[int, tuple[Mapping[str, Any], bytes, str]] = OrderedDict()


def _memoised(doc: Mapping[str, Any]) -> tuple[bytes, str]:
    hit = _memo.get(id(doc))
    if hit is not None and hit[0] is doc:
        _memo.move_to_end(id(doc))
        return hit[1], hit[2]
    body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha512(body).hexdigest().upper()
    _memo[id(doc)] = (doc, body, digest)
    if len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return body, digest


def document_json(doc: Mapping[str, Any]) -> bytes:
    """The document as JSON bytes (memoised per document object)."""
    return _memoised(doc)[0]


def document_hash(doc: Mapping[str, Any]) -> str:
    """SHA-512 of the document's canonical JSON, upper-case hex (memoised)."""
    return _memoised(doc)[1]


def openapi_v3_index(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The `/openapi/v3` index for {group_version: document} (specs/k8s-api.md §2).

    Each entry points at `/openapi/v3/<path>?hash=<content hash>`; the hash changes
    whenever the document's content changes, which is what invalidates kubectl's cache.
    """
    paths = {}
    for gv in sorted(docs):
        path = openapi_v3_path(gv)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(docs[gv])}"}
    return {"paths": paths}


# --- the default resource table of the built-in kinds ---------------------------------------

_R = ResourceDoc
DEFAULT_RESOURCES: dict[str, tuple[ResourceDoc, ...]] = {
    "v1": (
        _R("bindings", "Binding", True),
        _R("configmaps", "ConfigMap", True),
        _R("endpoints", "Endpoints", True),
        _R("events", "Event", True),
        _R("namespaces", "Namespace", False, ("status", "finalize")),
        _R("nodes", "Node", False, ("status", "proxy")),
        _R("persistentvolumeclaims", "PersistentVolumeClaim", True, ("status",)),
        _R(
            "pods",
            "Pod",
            True,
            (
                "status",
                "ephemeralcontainers",
                "binding",
                "eviction",
                "log",
                "exec",
                "attach",
                "portforward",
                "proxy",
            ),
        ),
        _R("secrets", "Secret", True),
        _R("serviceaccounts", "ServiceAccount", True, ("token",)),
        _R("services", "Service", True, ("status", "proxy")),
    ),
    "apps/v1": (
        _R("controllerrevisions", "ControllerRevision", True),
        _R("daemonsets", "DaemonSet", True, ("status",)),
        _R("deployments", "Deployment", True, ("status", "scale")),
        _R("replicasets", "ReplicaSet", True, ("status", "scale")),
        _R("statefulsets", "StatefulSet", True, ("status", "scale")),
    ),
    "batch/v1": (
        _R("cronjobs", "CronJob", True, ("status",)),
        _R("jobs", "Job", True, ("status",)),
    ),
    "policy/v1": (_R("poddisruptionbudgets", "PodDisruptionBudget", True, ("status",)),),
    "coordination.k8s.io/v1": (_R("leases", "Lease", True),),
    "scheduling.k8s.io/v1": (_R("priorityclasses", "PriorityClass", False),),
    "discovery.k8s.io/v1": (_R("endpointslices", "EndpointSlice", True),),
    "rbac.authorization.k8s.io/v1": (
        _R("clusterrolebindings", "ClusterRoleBinding", False),
        _R("clusterroles", "ClusterRole", False),
        _R("rolebindings", "RoleBinding", True),
        _R("roles", "Role", True),
    ),
    "apiextensions.k8s.io/v1": (
        _R("customresourcedefinitions", "CustomResourceDefinition", False, ("status",)),
    ),
    "authorization.k8s.io/v1": (
        _R("selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
        _R("selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
        _R("subjectaccessreviews", "SubjectAccessReview", False),
    ),
    "authentication.k8s.io/v1": (
        _R("selfsubjectreviews", "SelfSubjectReview", False),
        _R("tokenreviews", "TokenReview", False),
    ),
}

assert all(
    ((*split_group_version(gv), r.kind)) in BUILTIN_KINDS
    for gv, rs in DEFAULT_RESOURCES.items()
    for r in rs
), "DEFAULT_RESOURCES names a kind without a schema"
assert SCALE in REGISTRY
