"""Kubeflow's training-job CustomResourceDefinitions (`kubeflow.org/v1` TFJob and
PyTorchJob, training-operator v1.9, specs/volcano.md §6), installed through the API.

Schemas follow the operator's generated CRD yaml (manifests/base/crds), shortened where a
field is a whole pod template (`x-kubernetes-preserve-unknown-fields`): no short names,
printer columns State (the newest condition's type) and Age, a status subresource.
Defaults and the webhook's rules live in `api/training.py` and run at admission; the
schema carries only types. Must never talk to storage: it is an API client like any other.
"""

from __future__ import annotations

from typing import Any

from kubeedge.api import training
from kubeedge.client.crds import install_crds
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

__all__ = ["CRDS", "PYTORCHJOBS", "TFJOBS", "install", "ref_of"]

TFJOBS = ResourceRef(training.GROUP, training.VERSION, "tfjobs", True, "TFJob")
PYTORCHJOBS = ResourceRef(training.GROUP, training.VERSION, "pytorchjobs", True, "PyTorchJob")

# A resource.Quantity, as controller-gen writes it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def ref_of(fw: training.Framework) -> ResourceRef:
    return TFJOBS if fw is training.TENSORFLOW else PYTORCHJOBS


def _int32() -> dict[str, Any]:
    return {"type": "integer", "format": "int32"}


def _string() -> dict[str, Any]:
    return {"type": "string"}


def _time() -> dict[str, Any]:
    return {"type": "string", "format": "date-time"}


def _free_object() -> dict[str, Any]:
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _run_policy() -> dict[str, Any]:
    quantity = {"anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": QUANTITY_PATTERN, "x-kubernetes-int-or-string": True}
    return {"type": "object", "properties": {
        "activeDeadlineSeconds": {"type": "integer", "format": "int64"},
        "backoffLimit": _int32(),
        "cleanPodPolicy": _string(),
        "managedBy": _string(),
        "schedulingPolicy": {"type": "object", "properties": {
            "minAvailable": _int32(),
            "minResources": {"type": "object", "additionalProperties": quantity},
            "priorityClass": _string(),
            # Immutable (a CEL rule upstream): enforced by admission here.
            "queue": _string(),
            "scheduleTimeoutSeconds": _int32(),
        }},
        "suspend": {"type": "boolean", "default": False},
        "ttlSecondsAfterFinished": _int32(),
    }}


def _replica_spec() -> dict[str, Any]:
    return {"type": "object", "properties": {
        "replicas": _int32(),
        "restartPolicy": _string(),
        "template": _free_object(),
    }}


def _status() -> dict[str, Any]:
    condition = {"type": "object", "required": ["status", "type"], "properties": {
        "lastTransitionTime": _time(),
        "lastUpdateTime": _time(),
        "message": _string(),
        "reason": _string(),
        "status": _string(),
        "type": _string(),
    }}
    replica_status = {"type": "object", "properties": {
        "active": _int32(),
        "failed": _int32(),
        "labelSelector": _free_object(),
        "selector": _string(),
        "succeeded": _int32(),
    }}
    return {"type": "object", "properties": {
        "completionTime": _time(),
        "conditions": {"type": "array", "items": condition},
        "lastReconcileTime": _time(),
        "replicaStatuses": {"type": "object", "additionalProperties": replica_status},
        "startTime": _time(),
    }}


def job_crd(fw: training.Framework) -> dict[str, Any]:
    spec_properties: dict[str, Any] = {
        "runPolicy": _run_policy(),
        fw.specs_key: {"type": "object", "additionalProperties": _replica_spec()},
    }
    if fw is training.TENSORFLOW:
        spec_properties.update({"enableDynamicWorker": {"type": "boolean"},
                                "successPolicy": _string()})
    else:
        spec_properties.update({"elasticPolicy": _free_object(), "nprocPerNode": _string()})
    schema = {"type": "object", "properties": {
        "apiVersion": _string(),
        "kind": _string(),
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": spec_properties},
        "status": _status(),
    }}
    columns = [
        {"name": "State", "type": "string", "jsonPath": ".status.conditions[-1:].type"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{fw.plural}.{training.GROUP}"},
        "spec": {
            "group": training.GROUP,
            "names": {"kind": fw.kind, "listKind": f"{fw.kind}List", "plural": fw.plural,
                      "singular": fw.singular},
            "scope": "Namespaced",
            "versions": [{
                "name": training.VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "additionalPrinterColumns": columns,
                "subresources": {"status": {}},
            }],
        },
    }


CRDS: tuple[dict[str, Any], ...] = (job_crd(training.TENSORFLOW), job_crd(training.PYTORCH))


async def install(client: APIClient, timeout: float = 30.0) -> None:
    """Create or update the TFJob and PyTorchJob CRDs, then wait until both are
    Established (a no-op when they are current)."""
    await install_crds(client, CRDS, timeout)
