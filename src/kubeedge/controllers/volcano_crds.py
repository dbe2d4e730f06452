"""Volcano's CustomResourceDefinitions, installed through the API (specs/volcano.md §1).

Owns the CRDs of `scheduling.volcano.sh` (PodGroup, Queue), `batch.volcano.sh` (Job) and
`bus.volcano.sh` (Command) as plain dicts, the `ResourceRef`s that address them, and
`install()`, which creates each CRD (or updates it when its spec differs) and waits until
the API server reports it Established, as Volcano's Helm chart does at install time.
Schemas follow Volcano's generated CRD yaml, shortened where a field is a whole pod
template (`x-kubernetes-preserve-unknown-fields`); defaults that Volcano's admission
webhooks apply are written into the schema where a schema default can express them.
Must never talk to storage: it is an API client like any other.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeedge.client.crds import CUSTOM_RESOURCE_DEFINITIONS, install_crds
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

__all__ = [
    "COMMANDS",
    "CRDS",
    "CUSTOM_RESOURCE_DEFINITIONS",
    "JOBS",
    "PODGROUPS",
    "QUEUES",
    "install",
]

PODGROUPS = ResourceRef("scheduling.volcano.sh", "v1beta1", "podgroups", True, "PodGroup")
QUEUES = ResourceRef("scheduling.volcano.sh", "v1beta1", "queues", False, "Queue")
JOBS = ResourceRef("batch.volcano.sh", "v1alpha1", "jobs", True, "Job")
COMMANDS = ResourceRef("bus.volcano.sh", "v1alpha1", "commands", True, "Command")


# A resource.Quantity, as controller-gen writes it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"



def _quantity() -> dict[str, Any]:
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    }


def _resource_list() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": _quantity()}


def _int32(**extra: Any) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", **extra}


def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def _string_list() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _free_object() -> dict[str, Any]:
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _root(spec: dict[str, Any] | None, status: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    if spec is not None:
        properties["spec"] = spec
    if status is not None:
        properties["status"] = status
    return {"type": "object", "properties": properties}


def _crd(
    group: str,
    kind: str,
    plural: str,
    version: str,
    *,
    namespaced: bool,
    short_names: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
    status_subresource: bool,
) -> dict[str, Any]:
    version_entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if columns:
        version_entry["additionalPrinterColumns"] = columns
    if status_subresource:
        version_entry["subresources"] = {"status": {}}
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [version_entry],
        },
    }


def _age_column() -> dict[str, Any]:
    return {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


# --- PodGroup (§1.1) ----------------------------------------------------------------------

def _network_topology() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "mode": _string(enum=["hard", "soft"], default="hard"),
            "highestTierAllowed": {"type": "integer", "minimum": 0},
            "highestTierName": _string(maxLength=253),
        },
    }


def podgroup_crd() -> dict[str, Any]:
    spec = {
        "type": "object",
        "properties": {
            "minMember": _int32(minimum=0),
            "minTaskMember": {"type": "object", "additionalProperties": _int32(minimum=0)},
            "minResources": _resource_list(),
            "queue": _string(default="default"),
            "priorityClassName": _string(),
            "preemptable": {"type": "boolean"},
            "networkTopology": _network_topology(),
            "subGroupPolicy": {"type": "array", "items": _free_object()},
        },
    }
    condition = {
        "type": "object",
        "properties": {
            "type": _string(),
            "status": _string(),
            "transitionID": _string(),
            "lastTransitionTime": _string(format="date-time"),
            "reason": _string(),
            "message": _string(),
        },
    }
    status = {
        "type": "object",
        "properties": {
            "phase": _string(),
            "conditions": {"type": "array", "items": condition},
            "running": _int32(),
            "succeeded": _int32(),
            "failed": _int32(),
        },
    }
    columns = [
        {"name": "STATUS", "type": "string", "jsonPath": ".status.phase"},
        {"name": "minMember", "type": "integer", "jsonPath": ".spec.minMember"},
        {"name": "RUNNINGS", "type": "integer", "jsonPath": ".status.running"},
        _age_column(),
        {"name": "QUEUE", "type": "string", "priority": 1, "jsonPath": ".spec.queue"},
    ]
    return _crd(
        "scheduling.volcano.sh", "PodGroup", "podgroups", "v1beta1", namespaced=True,
        short_names=["pg", "podgroup-v1beta1"], schema=_root(spec, status), columns=columns,
        status_subresource=True,
    )


# --- Queue (§1.2) -------------------------------------------------------------------------

QUEUE_STATES = ["Open", "Closed", "Closing", "Unknown"]


def queue_crd() -> dict[str, Any]:
    node_groups = {
        "type": "object",
        "properties": {
            "requiredDuringSchedulingIgnoredDuringExecution": _string_list(),
            "preferredDuringSchedulingIgnoredDuringExecution": _string_list(),
        },
    }
    spec = {
        "type": "object",
        "properties": {
            "weight": _int32(minimum=1, maximum=65535, default=1),
            "capability": _resource_list(),
            "reclaimable": {"type": "boolean", "default": True},
            "guarantee": {"type": "object", "properties": {"resource": _resource_list()}},
            "deserved": _resource_list(),
            "parent": _string(),
            "priority": _int32(),
            "dequeueStrategy": _string(enum=["fifo", "traverse"]),
            "type": _string(),
            "affinity": {
                "type": "object",
                "properties": {
                    "nodeGroupAffinity": node_groups,
                    "nodeGroupAntiAffinity": copy.deepcopy(node_groups),
                },
            },
            "extendClusters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": _string(),
                        "weight": _int32(),
                        "capacity": _resource_list(),
                    },
                },
            },
        },
    }
    status = {
        "type": "object",
        "properties": {
            "state": _string(enum=QUEUE_STATES),
            "pending": _int32(),
            "running": _int32(),
            "inqueue": _int32(),
            "completed": _int32(),
            "unknown": _int32(),
            "allocated": _resource_list(),
            "reservation": {
                "type": "object",
                "properties": {"nodes": _string_list(), "resource": _resource_list()},
            },
        },
    }
    columns = [
        {"name": "PARENT", "type": "string", "description": "The parent queue of this queue",
         "jsonPath": ".spec.parent"},
    ]
    return _crd(
        "scheduling.volcano.sh", "Queue", "queues", "v1beta1", namespaced=False,
        short_names=["q", "queue-v1beta1"], schema=_root(spec, status), columns=columns,
        status_subresource=True,
    )


# --- Job (§1.3) ---------------------------------------------------------------------------

JOB_EVENTS = [
    "*", "PodPending", "PodRunning", "PodFailed", "PodEvicted", "Unknown", "TaskCompleted",
    "OutOfSync", "CommandIssued", "JobUpdated", "TaskFailed",
]


def _lifecycle_policy() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": _string(),
            "event": _string(enum=JOB_EVENTS),
            "events": {"type": "array", "items": _string(enum=JOB_EVENTS)},
            "exitCode": _int32(),
            "timeout": _string(),
        },
    }


def job_crd() -> dict[str, Any]:
    task = {
        "type": "object",
        "properties": {
            "name": _string(maxLength=63, pattern=DNS_LABEL_PATTERN),
            "replicas": _int32(minimum=0),
            "minAvailable": _int32(minimum=0),
            "template": _free_object(),
            "policies": {"type": "array", "items": _lifecycle_policy()},
            "topologyPolicy": _string(
                enum=["none", "best-effort", "restricted", "single-numa-node"]
            ),
            "maxRetry": _int32(minimum=0),
            "dependsOn": {
                "type": "object",
                "properties": {"name": _string_list(), "iteration": _string()},
            },
            "partitionPolicy": {
                "type": "object",
                "required": ["totalPartitions", "partitionSize"],
                "properties": {
                    "totalPartitions": _int32(minimum=1),
                    "partitionSize": _int32(minimum=1),
                    "minPartitions": _int32(minimum=0, default=0),
                    "networkTopology": _network_topology(),
                },
            },
        },
    }
    spec = {
        "type": "object",
        "properties": {
            "schedulerName": _string(maxLength=63, default="volcano"),
            "minAvailable": _int32(minimum=0),
            "minSuccess": _int32(minimum=1),
            "queue": _string(maxLength=253, pattern=DNS_SUBDOMAIN_PATTERN, default="default"),
            "maxRetry": _int32(minimum=0, default=3),
            "ttlSecondsAfterFinished": _int32(minimum=0),
            "priorityClassName": _string(maxLength=253, pattern=DNS_SUBDOMAIN_PATTERN),
            "runningEstimate": _string(),
            "networkTopology": _network_topology(),
            "volumes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["mountPath"],
                    "properties": {
                        "mountPath": _string(),
                        "volumeClaimName": _string(),
                        "volumeClaim": _free_object(),
                    },
                },
            },
            "plugins": {"type": "object", "additionalProperties": _string_list()},
            "policies": {"type": "array", "items": _lifecycle_policy()},
            "tasks": {"type": "array", "items": task},
        },
    }
    condition = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": _string(), "lastTransitionTime": _string(format="date-time")},
    }
    status = {
        "type": "object",
        "properties": {
            "state": {
                "type": "object",
                "properties": {
                    "phase": _string(),
                    "reason": _string(),
                    "message": _string(),
                    "lastTransitionTime": _string(format="date-time"),
                },
            },
            "minAvailable": _int32(),
            "taskStatusCount": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "phase": {"type": "object", "additionalProperties": _int32()},
                    },
                },
            },
            "pending": _int32(),
            "running": _int32(),
            "succeeded": _int32(),
            "failed": _int32(),
            "terminating": _int32(),
            "unknown": _int32(),
            "version": _int32(),
            "retryCount": _int32(),
            "runningDuration": _string(),
            "controlledResources": {"type": "object", "additionalProperties": _string()},
            "conditions": {"type": "array", "items": condition},
        },
    }
    columns = [
        {"name": "STATUS", "type": "string", "jsonPath": ".status.state.phase"},
        {"name": "minAvailable", "type": "integer", "jsonPath": ".status.minAvailable"},
        {"name": "RUNNINGS", "type": "integer", "jsonPath": ".status.running"},
        _age_column(),
        {"name": "QUEUE", "type": "string", "priority": 1, "jsonPath": ".spec.queue"},
    ]
    return _crd(
        "batch.volcano.sh", "Job", "jobs", "v1alpha1", namespaced=True,
        short_names=["vcjob", "vj"], schema=_root(spec, status), columns=columns,
        status_subresource=True,
    )


# --- Command (bus) ------------------------------------------------------------------------

def command_crd() -> dict[str, Any]:
    # Volcano's Command has no spec: action, target, reason and message sit at the root.
    schema = _root(None, None)
    schema["properties"].update({
        "action": _string(),
        "reason": _string(),
        "message": _string(),
        "target": {
            "type": "object",
            "required": ["apiVersion", "kind", "name", "uid"],
            "properties": {
                "apiVersion": _string(),
                "kind": _string(),
                "name": _string(),
                "uid": _string(),
                "controller": {"type": "boolean"},
                "blockOwnerDeletion": {"type": "boolean"},
            },
            "x-kubernetes-map-type": "atomic",
        },
    })
    return _crd(
        "bus.volcano.sh", "Command", "commands", "v1alpha1", namespaced=True, short_names=[],
        schema=schema, columns=[], status_subresource=False,
    )


CRDS: tuple[dict[str, Any], ...] = (podgroup_crd(), queue_crd(), job_crd(), command_crd())


# --- installation -------------------------------------------------------------------------

async def install(client: APIClient, timeout: float = 30.0) -> None:
    """Create or update Volcano's CRDs, then wait until every one is Established.

    Installing CRDs that are already current changes nothing. Raises `TimeoutError`
    naming the CRDs still not Established after `timeout` seconds."""
    await install_crds(client, CRDS, timeout)
