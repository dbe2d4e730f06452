"""The TFJob controller (training-operator v1.9's tfjob-controller, specs/volcano.md §6):
what TFJobs add to the shared engine (`common.py`).

- TF_CONFIG on the `tensorflow` container of every pod of a distributed job (more than
  one replica in all): `cluster` has each replica type as a lowercase key (sorted), its
  hosts `<job>-<type>-<i>.<ns>.svc[.$CUSTOM_CLUSTER_DOMAIN]:<tfjob-port>`, `task` the
  pod's type and index, `environment` "cloud"; `enableDynamicWorker` gives the sparse
  form (`worker` {index: host}, `ps` list; no environment).
- The master role (label `training.kubeflow.org/job-role=master`): Chief or Master when
  the job has one, else worker 0.
- Status: with a Chief/Master, Running while it is active and Succeeded once it
  succeeded; otherwise Succeeded when every worker succeeded, or (successPolicy "")
  when worker 0 succeeded with exit code 0, Running while a worker is active. A failed
  replica fails the job unless Restarting is already there (or dynamic workers).
"""

from __future__ import annotations

import json
import os
from typing import Any

from kubeedge.api import meta
from kubeedge.api.training import TENSORFLOW, replica_specs
from kubeedge.controllers.pods import phase_of
from kubeedge.controllers.training.common import (
    FAILED,
    RESTARTING,
    RUNNING,
    SUCCEEDED,
    TrainingJobController,
    container_port,
    exit_code,
    of_type,
    replica_index,
    replica_name,
    update_condition,
)

__all__ = ["TFJobController", "cluster_spec", "tf_config"]

Obj = dict[str, Any]

TF_CONFIG = "TF_CONFIG"
# The operator's environment variable naming the cluster domain appended to hosts.
CUSTOM_CLUSTER_DOMAIN = "CUSTOM_CLUSTER_DOMAIN"
CHIEF_OR_MASTER = ("Chief", "Master")


def cluster_spec(job: Obj, specs: dict[str, Obj], cluster_domain: str = "") -> dict[str, list[str]]:
    """{type lowercase: [host:port per index]} of a defaulted job."""
    name, ns = meta.name_of(job), meta.namespace_of(job)
    cluster: dict[str, list[str]] = {}
    for rtype in sorted(specs, key=str.lower):
        hosts = []
        port = container_port(TENSORFLOW, specs[rtype])
        if port is None:
            port = TENSORFLOW.port
        for i in range(int(specs[rtype].get("replicas") or 0)):
            host = f"{replica_name(name, rtype, i)}.{ns}.svc"
            if cluster_domain:
                host += f".{cluster_domain}"
            hosts.append(f"{host}:{port}")
        cluster[rtype.lower()] = hosts
    return dict(sorted(cluster.items()))


def is_distributed(specs: dict[str, Obj]) -> bool:
    return sum(int(s.get("replicas") or 0) for t, s in specs.items()
               if t in TENSORFLOW.replica_types) != 1


def tf_config(job: Obj, specs: dict[str, Obj], rtype: str, index: int,
              cluster_domain: str = "") -> str:
    """TF_CONFIG for pod `rtype`/`index`, as Go's json.Marshal writes it (compact)."""
    cluster = cluster_spec(job, specs, cluster_domain)
    task = {"type": rtype.lower(), "index": index}
    if (job.get("spec") or {}).get("enableDynamicWorker"):
        rt = rtype.lower()
        workers: dict[str, str] = {}
        ps: list[str] = []
        if rt == "ps":
            ps = [cluster[rt][index]]
        elif rt == "worker":
            ps = cluster.get("ps") or []
            workers[str(index)] = cluster[rt][index]
        config: Obj = {"cluster": {"worker": workers, "ps": ps}, "task": task}
    else:
        config = {"cluster": cluster, "task": task, "environment": "cloud"}
    return json.dumps(config, separators=(",", ":"))


class TFJobController(TrainingJobController):
    """Keys: `namespace/name` of TFJobs."""

    framework = TENSORFLOW
    master_types = CHIEF_OR_MASTER
    name = "tfjob"
    component = "tfjob-controller"

    @property
    def cluster_domain(self) -> str:
        return os.environ.get(CUSTOM_CLUSTER_DOMAIN, "")

    def set_cluster_spec(self, job: Obj, pod: Obj, rtype: str, index: int) -> None:
        specs = replica_specs(TENSORFLOW, job)
        if not is_distributed(specs):
            return
        value = tf_config(job, specs, rtype, index, self.cluster_domain)
        for container in (pod.get("spec") or {}).get("containers") or []:
            if container.get("name") == TENSORFLOW.container:
                container["env"] = [*(container.get("env") or []),
                                    {"name": TF_CONFIG, "value": value}]
                break

    def update_job_status(self, job: Obj, specs: dict[str, Obj], status: Obj,
                          counts: dict[str, Obj], pods: list[Obj], stamp: str) -> None:
        kind = TENSORFLOW.kind
        name, ns = meta.name_of(job), meta.namespace_of(job)
        spec = job.get("spec") or {}
        worker0 = "Worker" not in specs or any(
            replica_index(p) == 0 and phase_of(p) == "Succeeded"
            and exit_code(p, TENSORFLOW.container) == 0 for p in of_type(pods, "Worker"))
        status.setdefault("startTime", stamp)
        restarting = next((c for c in status.get("conditions") or []
                           if c.get("type") == RESTARTING), None)
        has_chief = any(t in specs for t in CHIEF_OR_MASTER)
        for rtype in TENSORFLOW.replica_types:
            if rtype not in specs:
                continue
            count = counts.get(rtype) or {}
            expected = int(specs[rtype].get("replicas") or 0) - count.get("succeeded", 0)
            running, failed = count.get("active", 0), count.get("failed", 0)
            done = False
            if has_chief:
                if rtype in CHIEF_OR_MASTER:
                    if running > 0:
                        update_condition(status, RUNNING, "True", f"{kind}Running",
                                         f"TFJob {ns}/{name} is running.", stamp)
                    done = expected == 0
            elif rtype == "Worker":
                done = expected == 0 or (worker0 and spec.get("successPolicy") != "AllWorkers")
                if not done and running > 0:
                    update_condition(status, RUNNING, "True", f"{kind}Running",
                                     f"TFJob {ns}/{name} is running.", stamp)
            if done:
                message = f"TFJob {ns}/{name} successfully completed."
                self.recorder.event(job, "Normal", f"{kind}Succeeded", message)
                status.setdefault("completionTime", stamp)
                update_condition(status, SUCCEEDED, "True", f"{kind}Succeeded", message, stamp)
            if failed > 0:
                if restarting is not None:
                    update_condition(status, RESTARTING, "True", str(restarting.get("reason")),
                                     str(restarting.get("message")), stamp)
                elif spec.get("enableDynamicWorker") and rtype == "Worker":
                    continue
                else:
                    message = (f"TFJob {ns}/{name} has failed because {failed} {rtype} "
                               "replica(s) failed.")
                    self.recorder.event(job, "Normal", f"{kind}Failed", message)
                    status.setdefault("completionTime", stamp)
                    update_condition(status, FAILED, "True", f"{kind}Failed", message, stamp)
