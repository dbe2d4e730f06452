"""Run by tests/integration/test_training_sdk.py in the kubeflow-training SDK's own venv
(`.venv/kubeflow-sdk`: kubeflow-training 1.9.4 with the kubernetes client it requires,
see pyproject.toml `training-sdk`), so it imports only the SDK, its kubernetes client
and the standard library.

`python training_sdk_calls.py <scenario> <kubeconfig> <namespace>` makes the SDK calls of
one scenario as a user's script would and prints what they returned as one JSON object
on the last line of stdout; the test asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kubeflow.training import TrainingClient, models
from kubernetes import client as k8s

# The SDK polls with time.sleep(polling_interval); a quarter second keeps tests quick.
POLL = 0.25
WAIT = 90

# Prints what the operator told this replica, then exits with EXIT (0 unless set).
TF_PROGRAM = """
import json, os, sys
task = json.loads(os.environ["TF_CONFIG"])["task"]
print(f"{task['type']}-{task['index']}: hello from the edge", flush=True)
sys.exit(int(os.environ.get("EXIT", "0")))
"""

PT_PROGRAM = """
import os
print(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}, "
      f"master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}", flush=True)
"""


def template(container: str, program: str, env: dict[str, str] | None = None) -> Any:
    return k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(
        termination_grace_period_seconds=2,
        node_selector={"node-role.kubernetes.io/edge": ""},
        containers=[k8s.V1Container(
            name=container, image="python:3.11", command=["python3", "-u", "-c", program],
            env=[k8s.V1EnvVar(name=k, value=v) for k, v in (env or {}).items()])]))


def tfjob(name: str, ns: str, workers: int, exit_code: int = 0) -> Any:
    return models.KubeflowOrgV1TFJob(
        api_version="kubeflow.org/v1", kind="TFJob",
        metadata=k8s.V1ObjectMeta(name=name, namespace=ns),
        spec=models.KubeflowOrgV1TFJobSpec(
            run_policy=models.KubeflowOrgV1RunPolicy(clean_pod_policy="None"),
            tf_replica_specs={"Worker": models.KubeflowOrgV1ReplicaSpec(
                replicas=workers, restart_policy="ExitCode",
                template=template("tensorflow", TF_PROGRAM, {"EXIT": str(exit_code)}))}))


def pytorchjob(name: str, ns: str) -> Any:
    specs = {t: models.KubeflowOrgV1ReplicaSpec(
        replicas=1, restart_policy="OnFailure", template=template("pytorch", PT_PROGRAM))
        for t in ("Master", "Worker")}
    return models.KubeflowOrgV1PyTorchJob(
        api_version="kubeflow.org/v1", kind="PyTorchJob",
        metadata=k8s.V1ObjectMeta(name=name, namespace=ns),
        spec=models.KubeflowOrgV1PyTorchJobSpec(
            run_policy=models.KubeflowOrgV1RunPolicy(clean_pod_policy="None"),
            pytorch_replica_specs=specs))


def conditions(job: Any) -> list[dict[str, str]]:
    return [{"type": c.type, "status": c.status, "reason": c.reason}
            for c in (job.status.conditions if job.status else None) or []]


def delete_and_wait(tc: TrainingClient, name: str, ns: str) -> bool:
    """delete_job, then whether get_job reports the job gone within 20 s."""
    tc.delete_job(name, ns)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            tc.get_job(name, ns)
        except RuntimeError as exc:
            cause = exc.__cause__
            return getattr(cause, "status", None) == 404
        time.sleep(POLL)
    return False


def succeeding(tc: TrainingClient, kind: str, ns: str) -> dict[str, Any]:
    name = "hello" if kind == "TFJob" else "ranks"
    job = tfjob(name, ns, workers=2) if kind == "TFJob" else pytorchjob(name, ns)
    tc.create_job(job=job, namespace=ns)
    got = tc.get_job(name, ns)
    specs = got.spec.tf_replica_specs if kind == "TFJob" else got.spec.pytorch_replica_specs
    seen: list[str] = []
    done = tc.wait_for_job_conditions(
        name, ns, wait_timeout=WAIT, polling_interval=POLL,
        callback=lambda j: seen.extend(c["type"] for c in conditions(j)))
    all_pods = tc.get_job_pod_names(name, ns)
    logs, _ = tc.get_job_logs(name, ns)
    every, _ = tc.get_job_logs(name, ns, is_master=False)
    return {
        "model": type(got).__name__,
        "replicas": {t: s.replicas for t, s in specs.items()},
        "restart_policies": {t: s.restart_policy for t, s in specs.items()},
        "conditions": conditions(done),
        "seen": sorted(set(seen)),
        "succeeded": tc.is_job_succeeded(name, ns),
        "failed": tc.is_job_failed(name, ns),
        "replica_statuses": {t: s.succeeded for t, s in
                             (done.status.replica_statuses or {}).items()},
        "master_pods": [p.metadata.name for p in tc.get_job_pods(name, ns, is_master=True)],
        "pods": sorted(all_pods),
        "worker_1": tc.get_job_pod_names(name, ns, replica_type="worker", replica_index=1),
        "logs": logs,
        "all_logs": every,
        "deleted": delete_and_wait(tc, name, ns),
    }


def failing(tc: TrainingClient, ns: str) -> dict[str, Any]:
    tc.create_job(job=tfjob("broken", ns, workers=1, exit_code=1), namespace=ns)
    raised = ""
    try:
        tc.wait_for_job_conditions("broken", ns, wait_timeout=WAIT, polling_interval=POLL)
    except RuntimeError as exc:
        raised = str(exc)
    failed = tc.wait_for_job_conditions("broken", ns, expected_conditions={"Failed"},
                                        wait_timeout=WAIT, polling_interval=POLL)
    return {"raised": raised, "conditions": conditions(failed),
            "failed": tc.is_job_failed("broken", ns),
            "succeeded": tc.is_job_succeeded("broken", ns),
            "deleted": delete_and_wait(tc, "broken", ns)}


def main() -> None:
    scenario, kubeconfig, ns = sys.argv[1:4]
    kind = "PyTorchJob" if scenario == "pytorchjob" else "TFJob"
    tc = TrainingClient(config_file=kubeconfig, job_kind=kind)
    result = failing(tc, ns) if scenario == "failing" else succeeding(tc, kind, ns)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
