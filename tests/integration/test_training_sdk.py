"""Kubeflow's own Python SDK against our cluster (issue 9 "Must show"; specs/volcano.md
§7): `kubeflow-training`'s `TrainingClient`, for `job_kind="TFJob"` and
`"PyTorchJob"`, with nothing but the cloud's admin kubeconfig.

The cluster is the real thing: `keadm init` (API server, cloudcore with the training
operator, the PodGroup and Queue controllers and the Volcano-compatible scheduler) and one
real edge from `keadm join`, whose process runtime runs the jobs' pods. The SDK drives
it as a user's script would (`training_sdk_calls.py`, run in the SDK's own venv: the SDK
and our `kubernetes` pin cannot share one, see pyproject.toml `training-sdk`):

- `create_job(job=<KubeflowOrgV1TFJob | KubeflowOrgV1PyTorchJob>)`;
- `get_job` (the job back as the SDK's model, with the operator's defaults) and the
  `is_job_*` helpers on the conditions the operator writes;
- `wait_for_job_conditions` returns on Succeeded and raises RuntimeError when the job
  fails (a worker exiting 1 under the ExitCode restart policy);
- `get_job_pods(is_master=True)` (the `training.kubeflow.org/job-role=master` pod:
  worker 0 of a TFJob without a chief, the PyTorchJob's Master), `get_job_pod_names`
  by replica type and index;
- `get_job_logs` (`read_namespaced_pod_log`: `kubectl logs` through the API server and
  cloudcore's stream tunnel to the edge);
- `delete_job`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster import Cloud, running_cloud, wait_until
from tests.integration.edge import edgepods as ep

REPO = Path(__file__).resolve().parents[2]
SDK_PYTHON = REPO / ".venv/kubeflow-sdk/bin/python"
CALLS = Path(__file__).with_name("training_sdk_calls.py")
CONTROLLERS = ("namespace-defaults", "garbage-collector", "tfjob", "pytorchjob",
               "podgroup", "queue")

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module", autouse=True)
def _require_sdk() -> None:
    if not SDK_PYTHON.exists():
        pytest.fail(f"no kubeflow-training SDK venv at {SDK_PYTHON.parent.parent}: "
                    "python -m venv .venv/kubeflow-sdk && .venv/kubeflow-sdk/bin/pip "
                    "install kubeflow-training==1.9.4 (pyproject.toml `training-sdk`)")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("training-sdk"), controllers=CONTROLLERS,
                       scheduler=True) as c:
        yield c


@pytest.fixture(scope="module")
def edge(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("sdk-edge") / "root"
    ep.join_edge(cloud, root, "sdk-edge")
    try:
        wait_until(lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in cloud.kubectl_json("get", "node", "sdk-edge")["status"]
            .get("conditions") or []), 30, "the edge Ready")
        yield "sdk-edge"
    finally:
        ep.reset_edge(root, cloud)


def run_sdk(cloud: Cloud, scenario: str, ns: str) -> dict[str, Any]:
    cloud.kubectl("create", "namespace", ns)
    proc = subprocess.run([str(SDK_PYTHON), str(CALLS), scenario, str(cloud.kubeconfig), ns],
                          capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"SDK calls failed:\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def true_types(conditions: list[dict[str, str]]) -> set[str]:
    return {c["type"] for c in conditions if c["status"] == "True"}


def test_tfjob_through_the_sdk(cloud: Cloud, edge: str) -> None:
    r = run_sdk(cloud, "tfjob", "sdk-tf")
    assert r["model"] == "KubeflowOrgV1TFJob"
    # get_job shows the job with the operator's defaults (admission): TFJob replicas
    # as given, restartPolicy as given.
    assert r["replicas"] == {"Worker": 2} and r["restart_policies"] == {"Worker": "ExitCode"}
    assert {"Created", "Succeeded"} <= true_types(r["conditions"]), r["conditions"]
    assert r["succeeded"] and not r["failed"]
    assert r["replica_statuses"] == {"Worker": 2}, r
    assert "Succeeded" in r["seen"], r["seen"]
    # The master role of a TFJob without a chief is worker 0.
    assert r["master_pods"] == ["hello-worker-0"]
    assert r["pods"] == ["hello-worker-0", "hello-worker-1"]
    assert r["worker_1"] == ["hello-worker-1"]
    # `kubectl logs` through the API server, cloudcore and the edge.
    assert list(r["logs"]) == ["hello-worker-0"], r["logs"]
    assert "worker-0: hello from the edge" in r["logs"]["hello-worker-0"], r["logs"]
    assert "worker-1: hello from the edge" in r["all_logs"]["hello-worker-1"], r["all_logs"]
    assert r["deleted"]


def test_wait_raises_when_the_job_fails(cloud: Cloud, edge: str) -> None:
    # ExitCode: exit 1 is the program's own failure, not retried (§6 step 6).
    r = run_sdk(cloud, "failing", "sdk-fail")
    assert r["raised"].startswith("TFJob sdk-fail/broken is Failed"), r["raised"]
    assert "Failed" in true_types(r["conditions"])
    assert {c["type"]: c["reason"] for c in r["conditions"]}["Failed"] == "TFJobFailed"
    assert r["failed"] and not r["succeeded"]
    assert r["deleted"]


def test_pytorchjob_through_the_sdk(cloud: Cloud, edge: str) -> None:
    r = run_sdk(cloud, "pytorchjob", "sdk-pt")
    assert r["model"] == "KubeflowOrgV1PyTorchJob"
    assert r["replicas"] == {"Master": 1, "Worker": 1}
    assert r["succeeded"] and not r["failed"]
    assert r["replica_statuses"].get("Master") == 1, r
    assert r["master_pods"] == ["ranks-master-0"]
    assert r["pods"] == ["ranks-master-0", "ranks-worker-0"]
    assert list(r["logs"]) == ["ranks-master-0"], r["logs"]
    assert "rank 0 of 2, master ranks-master-0:23456" in r["logs"]["ranks-master-0"]
    assert "rank 1 of 2, master ranks-master-0:23456" in r["all_logs"]["ranks-worker-0"]
    assert r["deleted"]
