"""Type definitions of the cluster-infrastructure groups (specs/k8s-api.md §2).

Owns: coordination.k8s.io/v1 Lease, scheduling.k8s.io/v1 PriorityClass,
discovery.k8s.io/v1 EndpointSlice, rbac.authorization.k8s.io/v1 (Role, ClusterRole,
RoleBinding, ClusterRoleBinding), apiextensions.k8s.io/v1 CustomResourceDefinition,
authorization.k8s.io/v1 access reviews and authentication.k8s.io/v1 token and self
reviews. Field names, types and patch metadata follow the Kubernetes v1.32 API; the
descriptions are our own.
Never: validates values. The CRD's `openAPIV3Schema` is deliberately free-form here;
`structural.py` owns its semantics.
"""

from __future__ import annotations

from kubeedge.api.schema.dsl import (
    NS,
    Atomic,
    Bool,
    Bytes,
    Int,
    Kind,
    L,
    M,
    MicroTime,
    Ref,
    Set,
    Str,
    StrMap,
    Struct,
    Time,
)
from kubeedge.api.schema.types_core import core
from kubeedge.api.schema.types_meta import meta

coordination = NS("io.k8s.api.coordination.v1")
scheduling = NS("io.k8s.api.scheduling.v1")
discovery = NS("io.k8s.api.discovery.v1")
rbac = NS("io.k8s.api.rbac.v1")
apiext = NS("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1")
authz = NS("io.k8s.api.authorization.v1")
authn = NS("io.k8s.api.authentication.v1")

# --- coordination.k8s.io/v1 ----------------------------------------------------------------

Kind(
    coordination.Lease,
    "A lightweight lock, used for leader election and node heartbeats.",
    ("coordination.k8s.io", "v1", "Lease"),
    {"spec": Ref(coordination.LeaseSpec, "The lease.")},
)

Struct(
    coordination.LeaseSpec,
    "State of a lease.",
    {
        "acquireTime": MicroTime("When the current holder acquired the lease."),
        "holderIdentity": Str("Identity of the current holder."),
        "leaseDurationSeconds": Int("Seconds candidates wait before taking over."),
        "leaseTransitions": Int("How many times the holder changed."),
        "preferredHolder": Str("Holder that should take over next."),
        "renewTime": MicroTime("When the holder last renewed the lease."),
        "strategy": Str("Leader election strategy, e.g. OldestEmulationVersion."),
    },
)

# --- scheduling.k8s.io/v1 ------------------------------------------------------------------

Kind(
    scheduling.PriorityClass,
    "Maps a class name to a pod priority value.",
    ("scheduling.k8s.io", "v1", "PriorityClass"),
    {
        "description": Str("When to use this class."),
        "globalDefault": Bool("Use for pods without a priorityClassName."),
        "preemptionPolicy": Str("PreemptLowerPriority (default) or Never."),
        "value": Int("The priority; higher runs first.", req=True),
    },
)

# --- discovery.k8s.io/v1 -------------------------------------------------------------------

Kind(
    discovery.EndpointSlice,
    "A slice of the endpoints backing a service.",
    ("discovery.k8s.io", "v1", "EndpointSlice"),
    {
        "addressType": Str("IPv4, IPv6 or FQDN.", req=True),
        "endpoints": Atomic(discovery.Endpoint, "The endpoints.", req=True),
        "ports": Atomic(discovery.EndpointPort, "Ports every endpoint exposes."),
    },
)

Struct(
    discovery.Endpoint,
    "One endpoint of a slice.",
    {
        "addresses": Set(Str(), "Addresses of the endpoint.", req=True),
        "conditions": Ref(discovery.EndpointConditions, "Readiness of the endpoint."),
        "deprecatedTopology": StrMap("Deprecated topology labels."),
        "hints": Ref(discovery.EndpointHints, "Routing hints."),
        "hostname": Str("Hostname of the endpoint."),
        "nodeName": Str("Node hosting the endpoint."),
        "targetRef": Ref(core.ObjectReference, "Object providing the endpoint."),
        "zone": Str("Zone of the endpoint."),
    },
)

Struct(
    discovery.EndpointConditions,
    "Readiness of an endpoint.",
    {
        "ready": Bool("Ready to receive traffic."),
        "serving": Bool("Serving, regardless of termination."),
        "terminating": Bool("Terminating."),
    },
)

Struct(
    discovery.EndpointHints,
    "Routing hints of an endpoint.",
    {"forZones": Atomic(discovery.ForZone, "Zones that should use this endpoint.")},
)

Struct(discovery.ForZone, "A zone hint.", {"name": Str("Zone name.", req=True)})

Struct(
    discovery.EndpointPort,
    "A port of an endpoint slice.",
    {
        "appProtocol": Str("Application protocol hint."),
        "name": Str("Name matching the service port name."),
        "port": Int("Port number."),
        "protocol": Str("TCP, UDP or SCTP."),
    },
    map_type="atomic",
)

# --- rbac.authorization.k8s.io/v1 ------------------------------------------------------------

_RBAC = "rbac.authorization.k8s.io"

Kind(
    rbac.Role,
    "A namespaced set of permissions.",
    (_RBAC, "v1", "Role"),
    {"rules": Atomic(rbac.PolicyRule, "The permissions.")},
)

Kind(
    rbac.ClusterRole,
    "A cluster-wide set of permissions, optionally aggregated from other roles.",
    (_RBAC, "v1", "ClusterRole"),
    {
        "aggregationRule": Ref(rbac.AggregationRule, "Build the rules from other ClusterRoles."),
        "rules": Atomic(rbac.PolicyRule, "The permissions."),
    },
)

Struct(
    rbac.PolicyRule,
    "Verbs allowed on resources or non-resource URLs.",
    {
        "apiGroups": Atomic(Str(), 'API groups; "" is core and "*" is all.'),
        "nonResourceURLs": Atomic(Str(), "URL paths such as /healthz, for ClusterRoles."),
        "resourceNames": Atomic(Str(), "Only these object names."),
        "resources": Atomic(Str(), 'Resources, e.g. pods or pods/log; "*" is all.'),
        "verbs": Atomic(Str(), 'Verbs, e.g. get, list, watch; "*" is all.', req=True),
    },
)

Struct(
    rbac.AggregationRule,
    "Selects ClusterRoles whose rules are combined.",
    {"clusterRoleSelectors": Atomic(meta.LabelSelector, "Selectors over ClusterRoles.")},
)

_SUBJECTS = Atomic(rbac.Subject, "Users, groups or service accounts granted the role.")
_ROLE_REF = Ref(rbac.RoleRef, "The role granted; cannot change.", req=True)

Kind(
    rbac.RoleBinding,
    "Grants a Role or ClusterRole within one namespace.",
    (_RBAC, "v1", "RoleBinding"),
    {"roleRef": _ROLE_REF, "subjects": _SUBJECTS},
)

Kind(
    rbac.ClusterRoleBinding,
    "Grants a ClusterRole across the cluster.",
    (_RBAC, "v1", "ClusterRoleBinding"),
    {"roleRef": _ROLE_REF, "subjects": _SUBJECTS},
)

Struct(
    rbac.RoleRef,
    "The role a binding grants.",
    {
        "apiGroup": Str("rbac.authorization.k8s.io.", req=True),
        "kind": Str("Role or ClusterRole.", req=True),
        "name": Str("Name of the role.", req=True),
    },
    map_type="atomic",
)

Struct(
    rbac.Subject,
    "Who a binding applies to.",
    {
        "apiGroup": Str('"" for ServiceAccount, rbac.authorization.k8s.io for User and Group.'),
        "kind": Str("User, Group or ServiceAccount.", req=True),
        "name": Str("Name of the subject.", req=True),
        "namespace": Str("Namespace of a ServiceAccount."),
    },
    map_type="atomic",
)

# --- apiextensions.k8s.io/v1 -----------------------------------------------------------------

Kind(
    apiext.CustomResourceDefinition,
    "Adds a new resource type to the API, served under its own group.",
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    {
        "spec": Ref(apiext.CustomResourceDefinitionSpec, "The resource type.", req=True),
        "status": Ref(apiext.CustomResourceDefinitionStatus, "Observed state."),
    },
)

Struct(
    apiext.CustomResourceDefinitionSpec,
    "Describes a custom resource type.",
    {
        "conversion": Ref(apiext.CustomResourceConversion, "How versions are converted."),
        "group": Str("API group, e.g. example.com.", req=True),
        "names": Ref(apiext.CustomResourceDefinitionNames, "Names of the resource.", req=True),
        "preserveUnknownFields": Bool("Deprecated; must be false in v1."),
        "scope": Str("Namespaced or Cluster.", req=True),
        "versions": Atomic(
            apiext.CustomResourceDefinitionVersion, "Served versions, one storage.", req=True
        ),
    },
)

Struct(
    apiext.CustomResourceConversion,
    "How objects are converted between versions.",
    {
        "strategy": Str("None (only apiVersion changes) or Webhook.", req=True),
        "webhook": Ref(apiext.WebhookConversion, "The webhook, for strategy Webhook."),
    },
)

Struct(
    apiext.WebhookConversion,
    "A conversion webhook.",
    {
        "clientConfig": Ref(apiext.WebhookClientConfig, "How to call the webhook."),
        "conversionReviewVersions": Atomic(Str(), "ConversionReview versions understood.", True),
    },
)

Struct(
    apiext.WebhookClientConfig,
    "How to reach a webhook: a URL or an in-cluster service.",
    {
        "caBundle": Bytes("PEM CA bundle to verify the server, base64-encoded."),
        "service": Ref(apiext.ServiceReference, "In-cluster service."),
        "url": Str("https URL."),
    },
)

Struct(
    apiext.ServiceReference,
    "A service hosting a webhook.",
    {
        "name": Str("Service name.", req=True),
        "namespace": Str("Service namespace.", req=True),
        "path": Str("URL path."),
        "port": Int("Port; 443 by default."),
    },
)

Struct(
    apiext.CustomResourceDefinitionNames,
    "Names of a custom resource.",
    {
        "categories": Atomic(Str(), 'Groupings such as "all".'),
        "kind": Str("CamelCase kind.", req=True),
        "listKind": Str("Kind of lists; <kind>List by default."),
        "plural": Str("Lowercase plural used in URLs.", req=True),
        "shortNames": Atomic(Str(), "Short aliases for kubectl."),
        "singular": Str("Lowercase singular; the lowercased kind by default."),
    },
)

Struct(
    apiext.CustomResourceDefinitionVersion,
    "One version of a custom resource.",
    {
        "additionalPrinterColumns": Atomic(
            apiext.CustomResourceColumnDefinition, "Extra columns for kubectl get."
        ),
        "deprecated": Bool("Warn clients using this version."),
        "deprecationWarning": Str("Warning text for a deprecated version."),
        "name": Str("Version name, e.g. v1alpha1.", req=True),
        "schema": Ref(apiext.CustomResourceValidation, "Schema of objects at this version."),
        "selectableFields": Atomic(apiext.SelectableField, "Fields usable in field selectors."),
        "served": Bool("Serve this version over REST.", req=True),
        "storage": Bool("Persist objects at this version; exactly one.", req=True),
        "subresources": Ref(apiext.CustomResourceSubresources, "Enabled subresources."),
    },
)

Struct(
    apiext.CustomResourceColumnDefinition,
    "An extra column of kubectl get output.",
    {
        "description": Str("Human-readable column description."),
        "format": Str("Optional format, e.g. date or byte."),
        "jsonPath": Str("Simple JSONPath evaluated against each object.", req=True),
        "name": Str("Column header.", req=True),
        "priority": Int("0 shows by default; higher only with -o wide."),
        "type": Str("integer, number, string, boolean or date.", req=True),
    },
)

Struct(
    apiext.CustomResourceValidation,
    "The schema of a custom resource version.",
    {
        "openAPIV3Schema": Ref(
            apiext.JSONSchemaProps, "Structural OpenAPI v3 schema of the objects."
        ),
    },
)

Struct(
    apiext.JSONSchemaProps,
    "An OpenAPI v3 schema node (type, properties, items, validations and the "
    "x-kubernetes-* extensions). Free-form here; its structure is checked separately.",
    {},
    preserve_unknown=True,
)

Struct(
    apiext.SelectableField,
    "A field usable in field selectors.",
    {"jsonPath": Str("Simple JSONPath of the field.", req=True)},
)

Struct(
    apiext.CustomResourceSubresources,
    "Subresources of a custom resource.",
    {
        "scale": Ref(apiext.CustomResourceSubresourceScale, "Enable /scale."),
        "status": Ref(apiext.CustomResourceSubresourceStatus, "Enable /status."),
    },
)

Struct(
    apiext.CustomResourceSubresourceStatus,
    "Enables /status; .status then changes only through it. Has no fields.",
    {},
)

Struct(
    apiext.CustomResourceSubresourceScale,
    "Enables /scale by naming the replica fields.",
    {
        "labelSelectorPath": Str("JSONPath of the selector in string form."),
        "specReplicasPath": Str("JSONPath of the desired replicas, under .spec.", req=True),
        "statusReplicasPath": Str("JSONPath of the actual replicas, under .status.", req=True),
    },
)

Struct(
    apiext.CustomResourceDefinitionStatus,
    "Observed state of a CRD.",
    {
        "acceptedNames": Ref(apiext.CustomResourceDefinitionNames, "Names actually served."),
        "conditions": L(
            apiext.CustomResourceDefinitionCondition,
            "Current conditions, e.g. Established.",
            ltype="map",
            mkeys=("type",),
        ),
        "storedVersions": Atomic(Str(), "Versions objects have ever been stored at."),
    },
)

Struct(
    apiext.CustomResourceDefinitionCondition,
    "A condition of a CRD.",
    {
        "lastTransitionTime": Time("When the status last changed."),
        "message": Str("Human-readable details."),
        "reason": Str("CamelCase reason."),
        "status": Str("True, False or Unknown.", req=True),
        "type": Str("Established, NamesAccepted, ...", req=True),
    },
)

# --- authorization.k8s.io/v1 -------------------------------------------------------------------

_AUTHZ = "authorization.k8s.io"

Kind(
    authz.SelfSubjectAccessReview,
    "Asks whether the caller may perform an action (kubectl auth can-i).",
    (_AUTHZ, "v1", "SelfSubjectAccessReview"),
    {
        "spec": Ref(authz.SelfSubjectAccessReviewSpec, "The action to check.", req=True),
        "status": Ref(authz.SubjectAccessReviewStatus, "The answer."),
    },
    listable=False,
)

Struct(
    authz.SelfSubjectAccessReviewSpec,
    "The action to check; exactly one member is set.",
    {
        "nonResourceAttributes": Ref(authz.NonResourceAttributes, "A non-resource request."),
        "resourceAttributes": Ref(authz.ResourceAttributes, "A resource request."),
    },
)

Kind(
    authz.SubjectAccessReview,
    "Asks whether a given user may perform an action.",
    (_AUTHZ, "v1", "SubjectAccessReview"),
    {
        "spec": Ref(authz.SubjectAccessReviewSpec, "The user and action.", req=True),
        "status": Ref(authz.SubjectAccessReviewStatus, "The answer."),
    },
    listable=False,
)

Struct(
    authz.SubjectAccessReviewSpec,
    "A user and the action to check.",
    {
        "extra": M(Atomic(Str()), "Extra attributes of the user."),
        "groups": Atomic(Str(), "Groups of the user."),
        "nonResourceAttributes": Ref(authz.NonResourceAttributes, "A non-resource request."),
        "resourceAttributes": Ref(authz.ResourceAttributes, "A resource request."),
        "uid": Str("UID of the user."),
        "user": Str("User name."),
    },
)

Struct(
    authz.NonResourceAttributes,
    "A request for a non-resource URL.",
    {
        "path": Str("URL path."),
        "verb": Str("HTTP verb in lowercase."),
    },
)

Struct(
    authz.ResourceAttributes,
    "A request on a resource.",
    {
        "fieldSelector": Ref(authz.FieldSelectorAttributes, "Field selector of a list/watch."),
        "group": Str('API group; "*" for all.'),
        "labelSelector": Ref(authz.LabelSelectorAttributes, "Label selector of a list/watch."),
        "name": Str("Object name; empty for all."),
        "namespace": Str("Namespace; empty for all or cluster-scoped."),
        "resource": Str('Resource; "*" for all.'),
        "subresource": Str("Subresource, if any."),
        "verb": Str('Verb such as get, list or create; "*" for all.'),
        "version": Str('API version; "*" for all.'),
    },
)

Struct(
    authz.FieldSelectorAttributes,
    "A field selector, raw or parsed.",
    {
        "rawSelector": Str("The selector as in a query string."),
        "requirements": Atomic(authz.FieldSelectorRequirement, "Parsed requirements."),
    },
)

Struct(
    authz.FieldSelectorRequirement,
    "One field selector requirement.",
    {
        "key": Str("Field path.", req=True),
        "operator": Str("In, NotIn, Exists or DoesNotExist.", req=True),
        "values": Atomic(Str(), "Values to compare with."),
    },
)

Struct(
    authz.LabelSelectorAttributes,
    "A label selector, raw or parsed.",
    {
        "rawSelector": Str("The selector as in a query string."),
        "requirements": Atomic(meta.LabelSelectorRequirement, "Parsed requirements."),
    },
)

Struct(
    authz.SubjectAccessReviewStatus,
    "The answer to an access review.",
    {
        "allowed": Bool("The action is allowed.", req=True),
        "denied": Bool("The action is explicitly denied."),
        "evaluationError": Str("Problems evaluating the rules."),
        "reason": Str("Why the answer was given."),
    },
)

Kind(
    authz.SelfSubjectRulesReview,
    "Lists what the caller may do in a namespace (kubectl auth can-i --list).",
    (_AUTHZ, "v1", "SelfSubjectRulesReview"),
    {
        "spec": Ref(authz.SelfSubjectRulesReviewSpec, "Where to look.", req=True),
        "status": Ref(authz.SubjectRulesReviewStatus, "The rules."),
    },
    listable=False,
)

Struct(
    authz.SelfSubjectRulesReviewSpec,
    "Where to evaluate the rules.",
    {"namespace": Str("Namespace to evaluate.")},
)

Struct(
    authz.SubjectRulesReviewStatus,
    "The rules that apply to the caller.",
    {
        "evaluationError": Str("Problems evaluating the rules."),
        "incomplete": Bool("The list may be missing rules.", req=True),
        "nonResourceRules": Atomic(authz.NonResourceRule, "Non-resource rules.", req=True),
        "resourceRules": Atomic(authz.ResourceRule, "Resource rules.", req=True),
    },
)

Struct(
    authz.NonResourceRule,
    "Verbs allowed on non-resource URLs.",
    {
        "nonResourceURLs": Atomic(Str(), "URL paths."),
        "verbs": Atomic(Str(), "Verbs.", req=True),
    },
)

Struct(
    authz.ResourceRule,
    "Verbs allowed on resources.",
    {
        "apiGroups": Atomic(Str(), "API groups."),
        "resourceNames": Atomic(Str(), "Object names."),
        "resources": Atomic(Str(), "Resources."),
        "verbs": Atomic(Str(), "Verbs.", req=True),
    },
)

# --- authentication.k8s.io/v1 ------------------------------------------------------------------

_AUTHN = "authentication.k8s.io"

Kind(
    authn.TokenReview,
    "Asks the server to authenticate a bearer token.",
    (_AUTHN, "v1", "TokenReview"),
    {
        "spec": Ref(authn.TokenReviewSpec, "The token.", req=True),
        "status": Ref(authn.TokenReviewStatus, "The result."),
    },
    listable=False,
)

Struct(
    authn.TokenReviewSpec,
    "The token to check.",
    {
        "audiences": Atomic(Str(), "Audiences the token must be valid for."),
        "token": Str("The opaque bearer token."),
    },
)

Struct(
    authn.TokenReviewStatus,
    "The result of a token review.",
    {
        "audiences": Atomic(Str(), "Audiences the token is valid for."),
        "authenticated": Bool("The token is valid."),
        "error": Str("Why the token could not be checked."),
        "user": Ref(authn.UserInfo, "The authenticated user."),
    },
)

Struct(
    authn.UserInfo,
    "An authenticated user.",
    {
        "extra": M(Atomic(Str()), "Extra attributes."),
        "groups": Atomic(Str(), "Groups."),
        "uid": Str("Unique ID."),
        "username": Str("User name."),
    },
)

Kind(
    authn.SelfSubjectReview,
    "Returns the caller's identity (kubectl auth whoami).",
    (_AUTHN, "v1", "SelfSubjectReview"),
    {"status": Ref(authn.SelfSubjectReviewStatus, "The caller's identity.")},
    listable=False,
)

Struct(
    authn.SelfSubjectReviewStatus,
    "The caller's identity.",
    {"userInfo": Ref(authn.UserInfo, "The user.")},
)

__all__ = [
    "apiext",
    "authn",
    "authz",
    "coordination",
    "discovery",
    "rbac",
    "scheduling",
]
