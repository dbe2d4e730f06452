"""Type definitions of meta/v1 and the shared leaf types (specs/k8s-api.md §2).

Owns: ObjectMeta, ListMeta, LabelSelector, OwnerReference, ManagedFieldsEntry,
Condition, DeleteOptions, Status and the leaf schemas Time, MicroTime, FieldsV1,
Quantity, IntOrString and RawExtension. Descriptions are our own words.
Never: validates values; that is the registries' job.
"""

from __future__ import annotations

from kubeedge.api.schema.dsl import (
    FIELDS_V1,
    INT_OR_STRING,
    LIST_META,
    META,
    MICRO_TIME,
    NS,
    OBJECT_META,
    QUANTITY,
    RAW_EXTENSION,
    TIME,
    Atomic,
    Bool,
    Int,
    Int64,
    Keyed,
    L,
    Leaf,
    Ref,
    Str,
    StrMap,
    Struct,
    Time,
)

meta = NS("io.k8s.apimachinery.pkg.apis.meta.v1")

# --- leaves ---------------------------------------------------------------------------

Leaf(
    TIME,
    {
        "type": "string",
        "format": "date-time",
        "description": "A point in time, serialized as an RFC 3339 string with seconds.",
    },
    "v1.Time",
)
Leaf(
    MICRO_TIME,
    {
        "type": "string",
        "format": "date-time",
        "description": "A point in time with microseconds, serialized as RFC 3339.",
    },
    "v1.MicroTime",
)
Leaf(
    FIELDS_V1,
    {
        "type": "object",
        "description": "The set of fields a manager owns, as a nested map of f:/k:/v: keys.",
    },
    "v1.FieldsV1",
)
Leaf(
    QUANTITY,
    {
        "type": "string",
        "description": (
            'An amount with an optional unit suffix, e.g. "500m", "2Gi" or "1.5"; '
            "numbers are also accepted."
        ),
    },
    "resource.Quantity",
)
Leaf(
    INT_OR_STRING,
    {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "description": 'Either an integer or a string such as a port name or "25%".',
    },
    "intstr.IntOrString",
)
Leaf(
    RAW_EXTENSION,
    {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "An embedded JSON object kept verbatim.",
    },
    "runtime.RawExtension",
)

Leaf(
    META + "Patch",
    {"type": "object", "description": "A patch document; its format follows the Content-Type."},
    "v1.Patch",
)

# --- object metadata ---------------------------------------------------------------------

Struct(
    OBJECT_META,
    "Metadata every persisted object carries: identity, labels, ownership and bookkeeping.",
    {
        "annotations": StrMap("Free-form string metadata for tools; not used for selection."),
        "creationTimestamp": Time("When the server created the object. Read-only."),
        "deletionGracePeriodSeconds": Int64(
            "Seconds the object has left to terminate gracefully once deletion began. Read-only."
        ),
        "deletionTimestamp": Time(
            "When graceful deletion was requested; set by the server. Read-only."
        ),
        "finalizers": L(
            Str(),
            "Keys that must be removed before the object is deleted from storage.",
            strategy="merge",
            ltype="set",
        ),
        "generateName": Str("Prefix for a server-generated name when `name` is empty."),
        "generation": Int64("Sequence number of spec changes, maintained by the server."),
        "labels": StrMap("Identifying key/value pairs used by selectors."),
        "managedFields": Atomic(
            meta.ManagedFieldsEntry,
            "Which manager owns which fields, recorded by server-side apply.",
        ),
        "name": Str("Name, unique within the namespace (or cluster for cluster-scoped kinds)."),
        "namespace": Str("Namespace the object lives in; empty for cluster-scoped kinds."),
        "ownerReferences": Keyed(
            meta.OwnerReference,
            "uid",
            "Objects this one depends on; it is garbage-collected when they are gone.",
        ),
        "resourceVersion": Str(
            "Opaque version used for optimistic concurrency and watches. Read-only."
        ),
        "selfLink": Str("Deprecated and never set."),
        "uid": Str("Unique identifier for the object's lifetime. Read-only."),
    },
)

Struct(
    meta.ManagedFieldsEntry,
    "The fields one manager owns at one API version.",
    {
        "apiVersion": Str("API version the field set refers to."),
        "fieldsType": Str('Format of the field set; only "FieldsV1".'),
        "fieldsV1": Ref(FIELDS_V1, "The owned fields."),
        "manager": Str("Name of the manager (usually the client's fieldManager)."),
        "operation": Str('"Apply" or "Update".'),
        "subresource": Str("Subresource the change was made through, if any."),
        "time": Time("When the entry last changed."),
    },
)

Struct(
    meta.OwnerReference,
    "Points at an owner of the object in the same namespace (or a cluster-scoped one).",
    {
        "apiVersion": Str("API version of the owner.", req=True),
        "blockOwnerDeletion": Bool(
            "With foreground deletion, the owner is not removed until this object is."
        ),
        "controller": Bool("Marks the single managing controller among the owners."),
        "kind": Str("Kind of the owner.", req=True),
        "name": Str("Name of the owner.", req=True),
        "uid": Str("UID of the owner.", req=True),
    },
    map_type="atomic",
)

Struct(
    LIST_META,
    "Metadata of a list response.",
    {
        "continue": Str("Token for fetching the next page, if more items exist."),
        "remainingItemCount": Int64("How many items remain after this page, when known."),
        "resourceVersion": Str("Version of the collection, usable to start a watch."),
        "selfLink": Str("Deprecated and never set."),
    },
)

Struct(
    meta.LabelSelector,
    "Selects objects by labels; all requirements are ANDed. Empty matches everything.",
    {
        "matchExpressions": Atomic(
            meta.LabelSelectorRequirement, "Set-based requirements on label values."
        ),
        "matchLabels": StrMap("Exact key=value pairs that must all be present."),
    },
    map_type="atomic",
)

Struct(
    meta.LabelSelectorRequirement,
    "One set-based label requirement.",
    {
        "key": Str("Label key.", req=True),
        "operator": Str("In, NotIn, Exists or DoesNotExist.", req=True),
        "values": Atomic(Str(), "Values for In/NotIn; must be empty for Exists/DoesNotExist."),
    },
)

Struct(
    meta.Condition,
    "A standard status condition.",
    {
        "lastTransitionTime": Time("When the status last changed.", req=True),
        "message": Str("Human-readable details.", req=True),
        "observedGeneration": Int64("The metadata.generation the condition was computed for."),
        "reason": Str("CamelCase machine-readable reason.", req=True),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Condition type in CamelCase.", req=True),
    },
)

Struct(
    meta.Preconditions,
    "Conditions that must hold for a delete to proceed.",
    {
        "resourceVersion": Str("Required resourceVersion of the target."),
        "uid": Str("Required UID of the target."),
    },
)

Struct(
    meta.DeleteOptions,
    "Options of a delete request.",
    {
        "apiVersion": Str("Versioned schema of this object."),
        "dryRun": Atomic(Str(), 'Set to ["All"] to validate without persisting.'),
        "gracePeriodSeconds": Int64("Seconds before the object is removed; 0 deletes at once."),
        "ignoreStoreReadErrorWithClusterBreakingPotential": Bool(
            "Delete objects whose stored form cannot be read. Dangerous."
        ),
        "kind": Str('Kind of this object: "DeleteOptions".'),
        "orphanDependents": Bool("Deprecated; use propagationPolicy."),
        "preconditions": Ref(meta.Preconditions, "Must be satisfied before deleting."),
        "propagationPolicy": Str("Orphan, Background or Foreground garbage collection."),
    },
)

Struct(
    meta.Status,
    "The result of an operation that does not return an object, usually an error.",
    {
        "apiVersion": Str("Versioned schema of this object."),
        "code": Int("HTTP status code."),
        "details": Ref(meta.StatusDetails, "Extra data about the failure."),
        "kind": Str('Kind of this object: "Status".'),
        "message": Str("Human-readable description."),
        "metadata": Ref(LIST_META, "Standard list metadata."),
        "reason": Str("Machine-readable reason such as NotFound or Invalid."),
        "status": Str('"Success" or "Failure".'),
    },
)

Struct(
    meta.StatusDetails,
    "Identifies the object an error is about, and which fields were wrong.",
    {
        "causes": Atomic(meta.StatusCause, "Individual problems, typically one per field."),
        "group": Str("API group of the resource."),
        "kind": Str("Resource kind or plural name."),
        "name": Str("Name of the object."),
        "retryAfterSeconds": Int("Suggested wait before retrying."),
        "uid": Str("UID of the object."),
    },
)

Struct(
    meta.StatusCause,
    "One reason an operation failed.",
    {
        "field": Str("JSON-path-like location of the bad field."),
        "message": Str("Human-readable description."),
        "reason": Str("Machine-readable cause, e.g. FieldValueInvalid."),
    },
)
