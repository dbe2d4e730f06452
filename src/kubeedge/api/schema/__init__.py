"""The schema layer: type definitions of the built-in kinds, OpenAPI v3 documents,
strict decoding, and structural schemas of custom resources (specs/k8s-api.md §2).

Owns: what fields each kind has and how kubectl learns about them. Never: HTTP handling,
storage, admission or per-kind semantic validation; the API server composes these
functions.

Public API:
- `BUILTIN_KINDS`, `schema_for(group, version, kind)` (alias `builtin_schema_name`),
  `patch_meta(schema, path)`
- `ResourceDoc`, `DEFAULT_RESOURCES`, `openapi_v3_document`, `crd_openapi_document`,
  `crd_openapi_documents`, `merge_documents`, `openapi_v3_index`, `openapi_v3_path`,
  `document_json`, `document_hash`
- `unknown_fields`, `prune_unknown`, `strict_error`, `strict_decoding_message`,
  `unknown_field_warnings`, `type_errors`, `decode_error`
- `CRSchema`, `structural_errors`, `validate_crd`
"""

from kubeedge.api.schema.openapi import (
    DEFAULT_RESOURCES,
    ResourceDoc,
    cr_schema_name,
    crd_openapi_document,
    crd_openapi_documents,
    document_hash,
    document_json,
    merge_documents,
    openapi_v3_document,
    openapi_v3_index,
    openapi_v3_path,
)
from kubeedge.api.schema.registry import (
    BUILTIN_KINDS,
    builtin_schema_name,
    patch_meta,
    schema_for,
)
from kubeedge.api.schema.strict import (
    decode_error,
    prune_unknown,
    strict_decoding_message,
    strict_error,
    type_errors,
    unknown_field_warnings,
    unknown_fields,
)
from kubeedge.api.schema.structural import CRSchema, structural_errors, validate_crd

__all__ = [
    "BUILTIN_KINDS",
    "DEFAULT_RESOURCES",
    "CRSchema",
    "ResourceDoc",
    "builtin_schema_name",
    "cr_schema_name",
    "crd_openapi_document",
    "crd_openapi_documents",
    "decode_error",
    "document_hash",
    "document_json",
    "merge_documents",
    "openapi_v3_document",
    "openapi_v3_index",
    "openapi_v3_path",
    "patch_meta",
    "prune_unknown",
    "schema_for",
    "strict_decoding_message",
    "strict_error",
    "structural_errors",
    "type_errors",
    "unknown_field_warnings",
    "unknown_fields",
    "validate_crd",
]
