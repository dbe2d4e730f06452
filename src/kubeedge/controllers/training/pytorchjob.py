"""The PyTorchJob controller (training-operator v1.9's pytorchjob-controller,
specs/volcano.md §6): what PyTorchJobs add to the shared engine (`common.py`).

- Environment on every container of every pod: `PYTHONUNBUFFERED=1`; with a Master,
  `MASTER_ADDR=<job>-master-0`, `MASTER_PORT` (the Master's `pytorchjob-port`),
  `WORLD_SIZE` = replicas x nprocPerNode (1 unless a number), `RANK` = index on the
  Master and index+1 on workers, and their `PET_*` twins (PET_MASTER_ADDR,
  PET_MASTER_PORT, PET_NODE_RANK); `PET_NPROC_PER_NODE`; `PET_NNODES` = replicas.
- The master role: the Master, else worker 0.
- Status: with a Master, Running while it is active and Succeeded once it succeeded;
  otherwise Succeeded when every worker succeeded, Running while one is active. A failed
  replica (fewer succeeded and running than wanted) restarts the job unless its
  restartPolicy is Never, which fails it. replicaStatuses carry each type's selector.
"""

from __future__ import annotations

from typing import Any

from kubeedge.api import meta
from kubeedge.api.training import PYTORCH, replica_specs
from kubeedge.controllers.training.common import (
    FAILED,
    RESTARTING,
    RUNNING,
    SUCCEEDED,
    TrainingJobController,
    container_port,
    replica_name,
    update_condition,
)

__all__ = ["PyTorchJobController", "pod_env"]

Obj = dict[str, Any]


def _master_port(specs: dict[str, Obj]) -> int:
    port = container_port(PYTORCH, specs.get("Master") or {})
    if port is None:
        raise ValueError("port not found")
    return port


def _nproc(job: Obj) -> int:
    try:
        return int((job.get("spec") or {}).get("nprocPerNode"))
    except (TypeError, ValueError):
        return 1


def pod_env(job: Obj, rtype: str, index: int) -> list[Obj]:
    """The variables the operator appends to each container of pod `rtype`/`index` of a
    defaulted job (setPodEnv), in its order."""
    spec = job.get("spec") or {}
    specs = replica_specs(PYTORCH, job)
    total = sum(int(s.get("replicas") or 0) for s in specs.values())
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    if "Master" in specs:
        port = str(_master_port(specs))
        addr = replica_name(meta.name_of(job), "Master", 0)
        rank = index + 1 if rtype == "Worker" else index
        env += [{"name": "MASTER_PORT", "value": port},
                {"name": "PET_MASTER_PORT", "value": port},
                {"name": "MASTER_ADDR", "value": addr},
                {"name": "PET_MASTER_ADDR", "value": addr},
                {"name": "WORLD_SIZE", "value": str(total * _nproc(job))},
                {"name": "RANK", "value": str(rank)},
                {"name": "PET_NODE_RANK", "value": str(rank)}]
    if spec.get("nprocPerNode") is not None:
        env.append({"name": "PET_NPROC_PER_NODE", "value": str(spec["nprocPerNode"])})
    if spec.get("elasticPolicy") is None:
        env.append({"name": "PET_NNODES", "value": str(total)})
    return env


class PyTorchJobController(TrainingJobController):
    """Keys: `namespace/name` of PyTorchJobs."""

    framework = PYTORCH
    master_types = ("Master",)
    name = "pytorchjob"
    component = "pytorchjob-controller"

    def set_cluster_spec(self, job: Obj, pod: Obj, rtype: str, index: int) -> None:
        env = pod_env(job, rtype, index)
        for container in (pod.get("spec") or {}).get("containers") or []:
            container["env"] = [*(container.get("env") or []), *(dict(e) for e in env)]

    def update_job_status(self, job: Obj, specs: dict[str, Obj], status: Obj,
                          counts: dict[str, Obj], pods: list[Obj], stamp: str) -> None:
        kind = PYTORCH.kind
        name, ns = meta.name_of(job), meta.namespace_of(job)
        status.setdefault("startTime", stamp)
        for rtype in PYTORCH.replica_types:
            if rtype not in specs:
                continue
            count = counts.get(rtype) or {}
            replicas = int(specs[rtype].get("replicas") or 0)
            succeeded = count.get("succeeded", 0)
            running, failed = count.get("active", 0), count.get("failed", 0)
            expected = replicas - succeeded
            if "Master" in specs:
                if rtype == "Master":
                    if running > 0:
                        update_condition(status, RUNNING, "True", f"{kind}Running",
                                         f"PyTorchJob {name} is running.", stamp)
                    if expected == 0:
                        message = f"PyTorchJob {name} is successfully completed."
                        self.recorder.event(job, "Normal", f"{kind}Succeeded", message)
                        status.setdefault("completionTime", stamp)
                        update_condition(status, SUCCEEDED, "True", f"{kind}Succeeded",
                                         message, stamp)
                        return
            elif rtype == "Worker":
                if expected == 0:
                    message = f"PyTorchJob {ns}/{name} successfully completed."
                    self.recorder.event(job, "Normal", f"{kind}Succeeded", message)
                    status.setdefault("completionTime", stamp)
                    update_condition(status, SUCCEEDED, "True", f"{kind}Succeeded", message,
                                     stamp)
                elif running > 0:
                    update_condition(status, RUNNING, "True", f"{kind}Running",
                                     f"PyTorchJob {ns}/{name} is running.", stamp)
            if failed > 0 and replicas > succeeded + running:
                if specs[rtype].get("restartPolicy") != "Never":
                    message = (f"PyTorchJob {name} is restarting because {failed} {rtype} "
                               "replica(s) failed.")
                    self.recorder.event(job, "Warning", f"{kind}Restarting", message)
                    update_condition(status, RESTARTING, "True", f"{kind}Restarting", message,
                                     stamp)
                else:
                    message = (f"PyTorchJob {name} is failed because {failed} {rtype} "
                               "replica(s) failed.")
                    self.recorder.event(job, "Normal", f"{kind}Failed", message)
                    status.setdefault("completionTime", stamp)
                    update_condition(status, FAILED, "True", f"{kind}Failed", message, stamp)
