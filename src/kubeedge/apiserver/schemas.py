"""What an object of each kind may contain and how it is completed and checked.

One place joins the schema layer (`api.schema`: known fields for strict decoding, CRD
structural schemas), API defaulting (`api.defaults`), validation (`api.validation`),
the patch algorithms (`api.patch`) and field ownership (`api.managedfields`) for a
given ResourceType, whether built in or custom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeedge.api import errors, managedfields, meta, volcano
from kubeedge.api.defaults import apply_defaults
from kubeedge.api.patch import apply_patch, json_merge_patch, strategic_merge_patch
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.api.schema import (
    CRSchema,
    builtin_schema_name,
    decode_error,
    prune_unknown,
    strict_error,
    type_errors,
)
from kubeedge.api.schema import unknown_fields as builtin_unknown_fields
from kubeedge.api.validation import validate as validate_builtin
from kubeedge.apiserver.crds import CRDController, version_spec

APPLY_PATCH = "application/apply-patch+yaml"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


VOLCANO_DEFAULTS: dict[tuple[str, str, str], Callable[[dict[str, Any]], None]] = {
    (volcano.BATCH_GROUP, "v1alpha1", "Job"): volcano.default_job,
    (volcano.SCHEDULING_GROUP, "v1beta1", "Queue"): volcano.default_queue,
}


class ObjectSchemas:
    def __init__(self, registry: Registry, crds: CRDController) -> None:
        self.registry = registry
        self.crds = crds
        # (CRD name, version) → (CRD resourceVersion, schema): one entry per served
        # version, replaced when the CRD changes.
        self._cr_schemas: dict[tuple[str, str], tuple[str, CRSchema | None]] = {}
        self._cr_shapes: dict[tuple[str, str], tuple[str, managedfields.Shape]] = {}

    # -- custom resource schemas ---------------------------------------------------

    def cr_schema(self, rt: ResourceType) -> CRSchema | None:
        crd = self.crds.crd_for(rt)
        if crd is None:
            return None
        key = (rt.crd or "", rt.version)
        revision = crd["metadata"].get("resourceVersion", "")
        cached = self._cr_schemas.get(key)
        if cached is None or cached[0] != revision:
            schema = (version_spec(crd, rt.version).get("schema") or {}).get("openAPIV3Schema")
            cached = (revision, CRSchema(schema) if isinstance(schema, dict) else None)
            self._cr_schemas[key] = cached
        return cached[1]

    # -- unknown fields (fieldValidation) -------------------------------------------

    def _unknown(self, rt: ResourceType, obj: dict[str, Any]) -> list[str]:
        if rt.crd:
            schema = self.cr_schema(rt)
            return schema.unknown_fields(obj) if schema is not None else []
        name = builtin_schema_name(rt.group, rt.version, rt.kind)
        return builtin_unknown_fields(name, obj) if name else []

    def check_fields(self, rt: ResourceType, obj: dict[str, Any], mode: str,
                     warnings: list[str]) -> None:
        """Values of the wrong JSON type are refused whatever the mode, as kube's decoder
        refuses them (400). Then Strict refuses unknown fields (400), Warn reports them,
        Ignore drops them (specs/k8s-api.md §2)."""
        self.check_types(rt, obj)
        paths = self._unknown(rt, obj)
        if not paths:
            return
        if mode == "Strict":
            raise strict_error(rt.kind, meta.name_of(obj), paths, rt.group_version)
        if mode == "Warn":
            warnings.extend(f'unknown field "{p}"' for p in paths)
        self._prune(rt, obj)

    def check_types(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.crd:
            # The CRD schema's validation reports wrong types as 422 causes; only the
            # metadata must decode.
            name = builtin_schema_name("", "v1", "Namespace")
            problems = type_errors(name, {"metadata": obj.get("metadata")}) if name else []
        else:
            name = builtin_schema_name(rt.group, rt.version, rt.kind)
            problems = type_errors(name, obj) if name else []
        if problems:
            raise decode_error(rt.kind, rt.version, problems[0])

    def _prune(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.crd:
            schema = self.cr_schema(rt)
            if schema is not None:
                schema.prune(obj)
            return
        name = builtin_schema_name(rt.group, rt.version, rt.kind)
        if name:
            prune_unknown(name, obj)

    # -- defaulting and validation --------------------------------------------------

    def default(self, rt: ResourceType, obj: dict[str, Any], *, create: bool) -> None:
        if rt.crd:
            schema = self.cr_schema(rt)
            if schema is not None:
                schema.default(obj)
                schema.prune(obj)
            if create:
                # Volcano's mutating webhooks: after the schema's defaults, before its
                # validation, as kube runs mutating admission (specs/volcano.md §1).
                defaulter = VOLCANO_DEFAULTS.get((rt.group, rt.version, rt.kind))
                if defaulter is not None:
                    defaulter(obj)
            return
        apply_defaults(rt.group, rt.version, rt.kind, obj, create=create)

    def validate(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        # Metadata rules apply to every kind; a custom resource adds its CRD's schema.
        causes = validate_builtin(rt.group, rt.version, rt.kind, obj, old=old)
        kind = rt.kind
        if rt.crd:
            schema = self.cr_schema(rt)
            if schema is not None:
                causes.extend(schema.validate(obj))
            kind = f"{rt.kind}.{rt.group}"  # kube names custom kinds with their group
        if causes:
            raise errors.invalid(kind, meta.name_of(obj), causes, rt.group)

    # -- patches ---------------------------------------------------------------------

    def apply_patch(self, rt: ResourceType, content_type: str, current: dict[str, Any],
                    patch: Any) -> dict[str, Any]:
        if content_type == APPLY_PATCH:
            # Without field ownership (server_side_apply does it with): a merge by the
            # kind's strategy (specs/k8s-api.md §4, minimum viable server).
            if rt.strategic_merge:
                return strategic_merge_patch(current, patch, rt.kind)
            return json_merge_patch(current, patch)
        return apply_patch(content_type, current, patch,
                           rt.kind if rt.strategic_merge else None)

    def apply_generic_patch(self, content_type: str, obj: dict[str, Any],
                            patch: Any) -> dict[str, Any]:
        return apply_patch(content_type, obj, patch, "Scale")

    # -- field ownership (server-side apply) -------------------------------------------

    def field_shape(self, rt: ResourceType) -> managedfields.Shape:
        """The list types, map keys and struct fields managedFields are computed with."""
        if not rt.crd:
            return managedfields.builtin_shape(
                builtin_schema_name(rt.group, rt.version, rt.kind))
        crd = self.crds.crd_for(rt)
        key = (rt.crd or "", rt.version)
        revision = (crd or {}).get("metadata", {}).get("resourceVersion", "")
        cached = self._cr_shapes.get(key)
        if cached is None or cached[0] != revision:
            schema = (version_spec(crd or {}, rt.version).get("schema") or {}).get(
                "openAPIV3Schema")
            cached = (revision, managedfields.custom_resource_shape(
                schema if isinstance(schema, dict) else None))
            self._cr_shapes[key] = cached
        return cached[1]

    @staticmethod
    def reset_fields(rt: ResourceType, subresource: str) -> managedfields.FieldSet:
        """Fields an endpoint resets, so nobody owns them through it: status on the main
        resource of a kind with a status subresource, the rest on /status (kube's
        ResetFieldsStrategy)."""
        if subresource == "status":
            return frozenset({("f:spec",), ("f:metadata",)})
        if rt.has_status():
            return frozenset({("f:status",)})
        return frozenset()

    def server_side_apply(
        self, rt: ResourceType, live: dict[str, Any] | None, config: dict[str, Any], *,
        manager: str, force: bool, subresource: str, now: str,
    ) -> managedfields.Applied:
        """Merge an applied configuration with field ownership (specs/k8s-api.md §4):
        409 Conflict for fields other managers own unless `force`, 400 for a
        configuration the schema cannot place."""
        try:
            return managedfields.apply(
                live, config, manager=manager, api_version=rt.group_version,
                shape=self.field_shape(rt), now=now, force=force, subresource=subresource,
                ignored=self.reset_fields(rt, subresource),
            )
        except managedfields.ApplyConflict as conflict:
            raise managedfields.conflict_error(conflict) from None
        except managedfields.FieldPathError as exc:
            # kube 1.32 answers 500 here (kubernetes#122480); a client error is a 400.
            md = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
            gvk = f"{rt.group}/{rt.version}, Kind={rt.kind}"
            raise errors.bad_request(
                f"failed to create typed patch object ({md.get('namespace') or ''}/"
                f"{md.get('name') or ''}; {gvk}): {exc}") from None
        except RecursionError:
            raise errors.bad_request("the apply configuration is nested too deeply") from None

    def record_update(
        self, rt: ResourceType, live: dict[str, Any] | None, new: dict[str, Any], *,
        manager: str, subresource: str, now: str,
    ) -> None:
        """Set `new`'s managedFields for a non-apply write by `manager`. Never fails: an
        object the schema cannot place keeps the live entries, as kube's
        UpdateNoErrors does."""
        try:
            entries = managedfields.update(
                live, new, manager=manager, api_version=rt.group_version,
                shape=self.field_shape(rt), now=now, subresource=subresource,
                ignored=self.reset_fields(rt, subresource),
            )
        except (managedfields.FieldPathError, RecursionError):
            kept = (live or {}).get("metadata", {}).get("managedFields")
            entries = kept if isinstance(kept, list) else []
        md = new.setdefault("metadata", {})
        if entries:
            md["managedFields"] = entries
        else:
            md.pop("managedFields", None)

    # -- scale -------------------------------------------------------------------------

    def scale_paths(self, rt: ResourceType) -> tuple[str, str, str | None]:
        """(spec replicas, status replicas, label selector) paths of the Scale view."""
        if rt.crd:
            crd = self.crds.crd_for(rt)
            scale = ((version_spec(crd or {}, rt.version).get("subresources") or {})
                     .get("scale") or {})
            return (scale.get("specReplicasPath", ".spec.replicas"),
                    scale.get("statusReplicasPath", ".status.replicas"),
                    scale.get("labelSelectorPath"))
        return ".spec.replicas", ".status.replicas", ".spec.selector"
