"""The PyTorchJob operator against the real API server (specs/volcano.md §6): the
master/worker environment per pod, the Master's success completing the job, an
OnFailure worker restarted, gang scheduling off (pods at once, scheduler untouched),
and a PyTorchJob with two Masters refused with 422. The test plays the node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.controllers.training.pytorchjob import PyTorchJobController
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.training import Training, training_crds

__all__ = ["training_crds"]

pytestmark = pytest.mark.usefixtures("training_crds")

Obj = dict[str, Any]


def replica(replicas: int, **extra: Any) -> Obj:
    return {"replicas": replicas, "template": {"spec": {"containers": [
        {"name": "pytorch", "image": "python:3.11"}]}}, **extra}


def pytorchjob(name: str, workers: int = 2, **spec: Any) -> Obj:
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(workers)},
                     **spec}}


@pytest.fixture
async def pt(api: APIClient, ns: str) -> AsyncIterator[Training]:
    t = Training(api, ns, PyTorchJobController)
    async with t.operator():
        yield t


def env_list(pod: Obj) -> list[tuple[str, str]]:
    [container] = pod["spec"]["containers"]
    return [(e["name"], e["value"]) for e in container.get("env") or []]


async def test_each_rank_gets_the_masters_address_and_its_rank(pt: Training) -> None:
    await pt.create(pytorchjob("ddp"))
    group = await pt.podgroup("ddp")
    assert group["spec"]["minMember"] == 3
    assert not await pt.pods()
    await pt.admit("ddp")
    pods = await pt.wait_pods("ddp-master-0", "ddp-worker-0", "ddp-worker-1")
    for name, rank in (("ddp-master-0", 0), ("ddp-worker-0", 1), ("ddp-worker-1", 2)):
        assert env_list(pods[name]) == [
            ("PYTHONUNBUFFERED", "1"),
            ("MASTER_PORT", "23456"), ("PET_MASTER_PORT", "23456"),
            ("MASTER_ADDR", "ddp-master-0"), ("PET_MASTER_ADDR", "ddp-master-0"),
            ("WORLD_SIZE", "3"), ("RANK", str(rank)), ("PET_NODE_RANK", str(rank)),
            ("PET_NPROC_PER_NODE", "auto"), ("PET_NNODES", "3")]
        assert pods[name]["spec"]["restartPolicy"] == "OnFailure"
    labels = pods["ddp-master-0"]["metadata"]["labels"]
    assert labels["training.kubeflow.org/job-role"] == "master"
    assert labels["training.kubeflow.org/operator-name"] == "pytorchjob-controller"
    assert "training.kubeflow.org/job-role" not in pods["ddp-worker-0"]["metadata"]["labels"]

    for name in pods:
        await pt.phase(name, "Running")
    running = await pt.condition("ddp", "Running")
    assert (running["reason"], running["message"]) == ("PyTorchJobRunning",
                                                      "PyTorchJob ddp is running.")
    status = await pt.status("ddp")
    assert status["replicaStatuses"]["Master"]["selector"] == (
        "training.kubeflow.org/job-name=ddp,training.kubeflow.org/operator-name="
        "pytorchjob-controller,training.kubeflow.org/replica-type=master")
    await pt.phase("ddp-master-0", "Succeeded", code=0)
    done = await pt.condition("ddp", "Succeeded")
    assert (done["reason"], done["message"]) == ("PyTorchJobSucceeded",
                                                "PyTorchJob ddp is successfully completed.")


async def test_a_failed_onfailure_worker_is_restarted(pt: Training) -> None:
    await pt.create(pytorchjob("rs", workers=1))
    await pt.admit("rs")
    pods = await pt.wait_pods("rs-master-0", "rs-worker-0")
    for name in pods:
        await pt.phase(name, "Running")
    await pt.condition("rs", "Running")
    uid = pods["rs-worker-0"]["metadata"]["uid"]
    await pt.phase("rs-worker-0", "Failed", code=1)

    async def replaced() -> bool:
        pod = (await pt.pods()).get("rs-worker-0")
        return bool(pod and pod["metadata"]["uid"] != uid)

    await eventually(replaced, timeout=10, what="worker-0 recreated")
    assert await pt.events("PyTorchJobRestarting")
    assert not any(c["type"] == "Failed" and c["status"] == "True"
                   for c in (await pt.status("rs"))["conditions"])


async def test_gang_off_creates_pods_at_once_for_the_default_scheduler(
        api: APIClient, ns: str) -> None:
    t = Training(api, ns, PyTorchJobController)
    async with t.operator(gang=""):
        await t.create(pytorchjob("plain", workers=1))
        pods = await t.wait_pods("plain-master-0", "plain-worker-0")
        pod = pods["plain-master-0"]
        assert not pod["spec"].get("schedulerName") or \
            pod["spec"]["schedulerName"] == "default-scheduler"
        assert "scheduling.k8s.io/group-name" not in (pod["metadata"].get("annotations") or {})


async def test_two_masters_are_refused(cloud: Cloud, pt: Training) -> None:
    job = pytorchjob("bad")
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    with pytest.raises(APIError) as err:
        await pt.create(job)
    assert err.value.code == 422
    causes = {c["field"]: c["message"] for c in err.value.status["details"]["causes"]}
    assert causes["spec.pytorchReplicaSpecs[Master].replicas"] == "Forbidden: must be 1"
