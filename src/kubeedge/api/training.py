"""Kubeflow's training jobs (`kubeflow.org/v1` TFJob and PyTorchJob, training-operator
v1.9): what each framework is, the defaults the operator applies, and the rules its
validating webhooks enforce (specs/volcano.md §6), as pure functions over plain dicts.

Owns `Framework` (kind, replica types, default container, port and restart policy),
`default_job` (the operator's SetDefaults_TFJob / SetDefaults_PyTorchJob) and
`validate_job` (its webhooks' causes, shaped as kube's field causes for a 422). Both the
API server's admission (`apiserver/training_admission.py`) and the operator
(`controllers/training/`) use them, so a job is defaulted the same way whether or not it
went through admission. Never does I/O. Imports only `api`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubeedge.api.defaults import apply_pod_template_defaults
from kubeedge.api.errors import Cause
from kubeedge.api.validation import (
    forbidden,
    invalid,
    is_dns1035_label,
    not_supported,
    required,
    validate_pod_template,
)

__all__ = [
    "FRAMEWORKS",
    "GROUP",
    "PYTORCH",
    "TENSORFLOW",
    "VERSION",
    "Framework",
    "default_job",
    "replica_specs",
    "validate_job",
]

Obj = dict[str, Any]

GROUP = "kubeflow.org"
VERSION = "v1"

RESTART_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")
CLEAN_POD_POLICIES = ("All", "Running", "None")
SUCCESS_POLICIES = ("", "AllWorkers")
# runPolicy.managedBy: the operator itself, or Kueue's MultiKueue (common_types.go).
OPERATOR_CONTROLLER = "kubeflow.org/training-operator"
MANAGED_BY = (OPERATOR_CONTROLLER, "kueue.x-k8s.io/multikueue")


@dataclass(frozen=True)
class Framework:
    """One kind of training job, as the operator's per-framework constants say."""

    kind: str
    plural: str
    specs_key: str  # the replica-spec map under spec
    replica_types: tuple[str, ...]  # canonical spelling, in the operator's status order
    container: str  # the default container: ports, TF_CONFIG and exit codes are its
    port_name: str
    port: int
    restart_policy: str
    controller_name: str  # the operator-name label and the events' component

    @property
    def singular(self) -> str:
        return self.kind.lower()


TENSORFLOW = Framework(
    kind="TFJob", plural="tfjobs", specs_key="tfReplicaSpecs",
    replica_types=("Chief", "Evaluator", "Master", "PS", "Worker"),
    container="tensorflow", port_name="tfjob-port", port=2222, restart_policy="Never",
    controller_name="tfjob-controller")
PYTORCH = Framework(
    kind="PyTorchJob", plural="pytorchjobs", specs_key="pytorchReplicaSpecs",
    replica_types=("Master", "Worker"),
    container="pytorch", port_name="pytorchjob-port", port=23456,
    restart_policy="OnFailure", controller_name="pytorchjob-controller")
FRAMEWORKS = {fw.kind: fw for fw in (TENSORFLOW, PYTORCH)}
# nprocPerNode's default (pytorch_defaults.go): torchrun picks the count itself.
DEFAULT_NPROC_PER_NODE = "auto"


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def replica_specs(fw: Framework, job: Obj) -> dict[str, Obj]:
    """The job's replica specs by type (as stored: call `default_job` first for the
    canonical spelling and defaults)."""
    specs = _dict(_dict(job.get("spec")).get(fw.specs_key))
    return {str(k): v for k, v in specs.items() if isinstance(v, dict)}


def canonical_type(fw: Framework, name: str) -> str:
    """`worker` → `Worker`, `ps` → `PS` (setTypeNameToCamelCase); unknown names stay."""
    for known in fw.replica_types:
        if known.lower() == name.lower():
            return known
    return name


def default_job(fw: Framework, job: Obj) -> Obj:
    """Apply the operator's defaults to `job` in place and return it: cleanPodPolicy
    None, TFJob successPolicy "", replica types case-normalized, replicas 1, the
    framework's restart policy, the default port on the default container (or the first
    one), PyTorchJob nprocPerNode "auto" (specs/volcano.md §6)."""
    spec = job.setdefault("spec", {})
    if not isinstance(spec, dict):
        return job
    run_policy = spec.get("runPolicy")
    if not isinstance(run_policy, dict):
        run_policy = spec["runPolicy"] = {}
    if not run_policy.get("cleanPodPolicy"):
        run_policy["cleanPodPolicy"] = "None"
    if fw is TENSORFLOW and spec.get("successPolicy") is None:
        spec["successPolicy"] = ""
    specs = spec.get(fw.specs_key)
    if isinstance(specs, dict):
        renamed: Obj = {}
        for name, value in specs.items():
            key = canonical_type(fw, str(name))
            # Like the operator, the first spelling of a type wins when two collide.
            if key not in renamed:
                renamed[key] = value
        spec[fw.specs_key] = renamed
        for replica in renamed.values():
            if not isinstance(replica, dict):
                continue
            if replica.get("replicas") is None:
                replica["replicas"] = 1
            if not replica.get("restartPolicy"):
                replica["restartPolicy"] = fw.restart_policy
            _default_port(fw, replica)
    if fw is PYTORCH:
        elastic = spec.get("elasticPolicy")
        no_elastic_nproc = not isinstance(elastic, dict) or elastic.get("nProcPerNode") is None
        if no_elastic_nproc and spec.get("nprocPerNode") is None:
            spec["nprocPerNode"] = DEFAULT_NPROC_PER_NODE
    return job


def _default_port(fw: Framework, replica: Obj) -> None:
    template = replica.get("template")
    pod_spec = _dict(template).get("spec") if isinstance(template, dict) else None
    containers = _list(_dict(pod_spec).get("containers"))
    if not containers or not all(isinstance(c, dict) for c in containers):
        return
    index = next((i for i, c in enumerate(containers) if c.get("name") == fw.container), 0)
    container = containers[index]
    ports = container.get("ports")
    if not isinstance(ports, list):
        ports = container["ports"] = []
    if not any(isinstance(p, dict) and p.get("name") == fw.port_name for p in ports):
        ports.append({"name": fw.port_name, "containerPort": fw.port})


def _nonnegative(value: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [invalid(path, value, "must be an integer")]
    if value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _validate_run_policy(run_policy: Obj, old: Obj | None) -> list[Cause]:
    path = "spec.runPolicy"
    causes: list[Cause] = []
    clean = run_policy.get("cleanPodPolicy")
    if clean not in (None, *CLEAN_POD_POLICIES):
        causes.append(not_supported(f"{path}.cleanPodPolicy", clean, CLEAN_POD_POLICIES))
    for name in ("activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        causes += _nonnegative(run_policy.get(name), f"{path}.{name}")
    scheduling = _dict(run_policy.get("schedulingPolicy"))
    for name in ("minAvailable", "scheduleTimeoutSeconds"):
        causes += _nonnegative(scheduling.get(name), f"{path}.schedulingPolicy.{name}")
    manager = run_policy.get("managedBy")
    if manager is not None and manager not in MANAGED_BY:
        causes.append(not_supported(f"{path}.managedBy", manager, MANAGED_BY))
    if old is not None:
        old_policy = _dict(_dict(old.get("spec")).get("runPolicy"))
        if old_policy.get("managedBy") != manager:
            causes.append(invalid(f"{path}.managedBy", manager, "field is immutable"))
        # The CRD's CEL rule (x-kubernetes-validations: self == oldSelf), which our API
        # server does not evaluate, so admission carries it.
        old_queue = _dict(old_policy.get("schedulingPolicy")).get("queue")
        if old_queue is not None and scheduling.get("queue") != old_queue:
            causes.append(invalid(f"{path}.schedulingPolicy.queue", scheduling.get("queue"),
                                  "spec.runPolicy.schedulingPolicy.queue is immutable"))
    return causes


def _validate_replica(fw: Framework, rtype: str, replica: Any) -> list[Cause]:
    role = f"spec.{fw.specs_key}[{rtype}]"
    containers_path = f"{role}.template.spec.containers"
    causes: list[Cause] = []
    if rtype not in fw.replica_types:
        causes.append(not_supported(role, rtype, fw.replica_types))
    replica = _dict(replica)
    replicas = replica.get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)):
        causes.append(invalid(f"{role}.replicas", replicas, "must be an integer"))
        replicas = None
    if fw is PYTORCH and rtype == "Master":
        if replicas != 1:
            causes.append(forbidden(f"{role}.replicas", "must be 1"))
    elif fw is PYTORCH and replicas is not None and replicas < 1:
        causes.append(forbidden(f"{role}.replicas", "must be at least 1"))
    elif replicas is not None and replicas < 0:
        causes.append(invalid(f"{role}.replicas", replicas, "must be greater than or equal to 0"))
    policy = replica.get("restartPolicy")
    if policy not in (None, "", *RESTART_POLICIES):
        causes.append(not_supported(f"{role}.restartPolicy", policy, RESTART_POLICIES))
    template = replica.get("template")
    containers = _list(_dict(_dict(template).get("spec")).get("containers"))
    if not containers:
        causes.append(required(containers_path, "must be specified"))
    has_default = False
    for i, container in enumerate(containers):
        container = _dict(container)
        if not container.get("image"):
            causes.append(required(f"{containers_path}[{i}].image", "must be required"))
        if container.get("name") == fw.container:
            has_default = True
    if not has_default:
        causes.append(required(containers_path,
                               f"must have at least one container with name {fw.container}"))
    if containers and not causes:
        # The pods are made from this template: refuse now what pod creation would
        # refuse later (the template's restartPolicy is the replica's, §6).
        checked = copy.deepcopy(_dict(template))
        checked.setdefault("spec", {})["restartPolicy"] = (
            "Never" if policy in (None, "", "ExitCode") else policy)
        apply_pod_template_defaults(checked)
        causes += validate_pod_template(checked, f"{role}.template")
    return causes


def validate_job(fw: Framework, job: Obj, old: Obj | None = None) -> list[Cause]:
    """The causes the operator's validating webhook (plus the CRD's CEL rules and
    enumerations) gives for `job`, after `default_job`. Empty means admitted."""
    causes: list[Cause] = []
    name = str(_dict(job.get("metadata")).get("name") or "")
    errs = is_dns1035_label(name) if name else []
    if errs:
        causes.append(invalid("metadata.name", name, f"should match: {','.join(errs)}"))
    spec = _dict(job.get("spec"))
    causes += _validate_run_policy(_dict(spec.get("runPolicy")), old)
    if fw is TENSORFLOW:
        success = spec.get("successPolicy")
        if success not in (None, *SUCCESS_POLICIES):
            causes.append(not_supported("spec.successPolicy", success, SUCCESS_POLICIES))
    specs = spec.get(fw.specs_key)
    if not isinstance(specs, dict) or not specs:
        causes.append(required(f"spec.{fw.specs_key}", "must be required"))
        return causes
    chief_or_master = 0
    for rtype in sorted(specs, key=str):
        causes += _validate_replica(fw, str(rtype), specs[rtype])
        if fw is TENSORFLOW and rtype in ("Chief", "Master"):
            chief_or_master += 1
    if chief_or_master > 1:
        causes.append(forbidden(f"spec.{fw.specs_key}",
                                "must not have more than 1 Chief or Master role"))
    return causes
