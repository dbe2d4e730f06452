"""The TFJob operator against the real API server (specs/volcano.md §6): pods and
headless Services named and labelled as the training-operator does, TF_CONFIG per pod,
no pod before the PodGroup is admitted (played, then with the real Volcano scheduler),
the default and AllWorkers success policies, ExitCode restarts and failures,
backoffLimit and activeDeadlineSeconds, cleanPodPolicy, suspend/resume, TTL, and
malformed TFJobs refused with 422 and field causes. The test plays the scheduler's
enqueue (PodGroup phase) and the node (pod phases, exit codes); time is a FakeClock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.controllers.training.tfjob import TFJobController
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.scheduling import SchedulingCluster, schedulers
from tests.fixtures.training import Training, training_crds

__all__ = ["training_crds"]

pytestmark = pytest.mark.usefixtures("training_crds")

Obj = dict[str, Any]


def replica(replicas: int, *, cpu: str = "100m", policy: str = "", **extra: Any) -> Obj:
    spec: Obj = {"replicas": replicas, "template": {"spec": {"containers": [
        {"name": "tensorflow", "image": "python:3.11",
         "resources": {"requests": {"cpu": cpu}}}]}}, **extra}
    if policy:
        spec["restartPolicy"] = policy
    return spec


def tfjob(name: str, ps: int = 1, workers: int = 2, *, policy: str = "",
          run_policy: Obj | None = None, **spec: Any) -> Obj:
    specs: Obj = {"Worker": replica(workers, policy=policy)}
    if ps:
        specs["PS"] = replica(ps, policy=policy)
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
            "spec": {"tfReplicaSpecs": specs, "runPolicy": run_policy or {}, **spec}}


@pytest.fixture
async def tf(api: APIClient, ns: str) -> AsyncIterator[Training]:
    t = Training(api, ns, TFJobController)
    async with t.operator():
        yield t


def env_of(pod: Obj) -> dict[str, str]:
    [container] = pod["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env") or []}


async def running_job(tf: Training, name: str, **kwargs: Any) -> dict[str, Obj]:
    await tf.create(tfjob(name, **kwargs))
    await tf.admit(name)
    names = [f"{name}-worker-{i}" for i in range(2)]
    if kwargs.get("ps", 1):
        names.append(f"{name}-ps-0")
    pods = await tf.wait_pods(*names)
    for pod in pods:
        await tf.phase(pod, "Running")
    await tf.condition(name, "Running")
    return pods


async def test_pods_wait_for_the_podgroup_then_follow_the_operators_naming(
        tf: Training) -> None:
    job = tfjob("dist")
    job["metadata"]["annotations"] = {"volcano.sh/task-topology-affinity": "ps,worker",
                                      "volcano.sh/task-topology-task-order": "ps,worker"}
    created = await tf.create(job)
    group = await tf.podgroup("dist")
    assert group["spec"]["minMember"] == 3
    assert group["spec"]["queue"] == "default"
    assert group["spec"]["minResources"] == {"cpu": "300m"}
    assert group["metadata"]["annotations"]["volcano.sh/task-topology-affinity"] == "ps,worker"
    [owner] = group["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "TFJob", created["metadata"]["uid"], True)
    status = await eventually(lambda: _with(tf, "dist", "lastReconcileTime"), timeout=10,
                              what="lastReconcileTime while gated")
    assert [c["type"] for c in status["conditions"]] == ["Created"]
    assert status["conditions"][0]["reason"] == "TFJobCreated"
    assert status["conditions"][0]["message"] == "TFJob dist is created."
    assert await tf.pods() == {}, "no pod may exist before the PodGroup is admitted"

    await tf.admit("dist")
    pods = await tf.wait_pods("dist-ps-0", "dist-worker-0", "dist-worker-1")
    ns = tf.ns
    for name, pod in pods.items():
        rtype, index = name.split("-")[1], int(name.split("-")[2])
        labels = pod["metadata"]["labels"]
        assert labels["training.kubeflow.org/operator-name"] == "tfjob-controller"
        assert labels["training.kubeflow.org/job-name"] == "dist"
        assert labels["training.kubeflow.org/replica-type"] == rtype
        assert labels["training.kubeflow.org/replica-index"] == str(index)
        assert (labels.get("training.kubeflow.org/job-role") == "master") == (
            name == "dist-worker-0")
        assert pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == "dist"
        assert pod["metadata"]["annotations"]["volcano.sh/task-spec"] == rtype
        assert pod["spec"]["schedulerName"] == "volcano"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["containers"][0]["ports"][0]["name"] == "tfjob-port"
        assert json.loads(env_of(pod)["TF_CONFIG"]) == {
            "cluster": {"ps": [f"dist-ps-0.{ns}.svc:2222"],
                        "worker": [f"dist-worker-0.{ns}.svc:2222",
                                   f"dist-worker-1.{ns}.svc:2222"]},
            "task": {"type": rtype, "index": index}, "environment": "cloud"}
    # Byte for byte the spec's example (§6), in this test's namespace.
    assert env_of(pods["dist-worker-0"])["TF_CONFIG"] == (
        '{"cluster":{"ps":["dist-ps-0.default.svc:2222"],"worker":["dist-worker-0.default'
        '.svc:2222","dist-worker-1.default.svc:2222"]},"task":{"type":"worker","index":0},'
        '"environment":"cloud"}').replace(".default.", f".{ns}.")

    services = await eventually(lambda: _services(tf, 3), timeout=10, what="3 Services")
    svc = services["dist-worker-1"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == {
        "training.kubeflow.org/operator-name": "tfjob-controller",
        "training.kubeflow.org/job-name": "dist",
        "training.kubeflow.org/replica-type": "worker",
        "training.kubeflow.org/replica-index": "1"}
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("tfjob-port", 2222)]
    assert await tf.events("SuccessfulCreatePod")
    assert await tf.events("SuccessfulCreateService")


async def _with(tf: Training, name: str, field: str) -> Obj | None:
    status = await tf.status(name)
    return status if status.get(field) else None


async def _services(tf: Training, count: int) -> dict[str, Obj] | None:
    services = await tf.services()
    return services if len(services) == count else None


async def test_worker0_success_completes_the_job_by_default(tf: Training) -> None:
    await running_job(tf, "w0")
    await eventually(lambda: _counts(tf, "w0", "Worker", "active", 2), timeout=10,
                     what="2 active workers")
    assert (await tf.status("w0"))["startTime"]
    await tf.phase("w0-worker-0", "Succeeded", code=0)
    done = await tf.condition("w0", "Succeeded")
    assert (done["reason"], done["message"]) == (
        "TFJobSucceeded", f"TFJob {tf.ns}/w0 successfully completed.")
    status = await tf.status("w0")
    assert status["completionTime"]
    running = next(c for c in status["conditions"] if c["type"] == "Running")
    assert running["status"] == "False"
    # A finished job counts its still-active replicas as succeeded.
    await eventually(lambda: _counts(tf, "w0", "Worker", "succeeded", 2), timeout=10,
                     what="active workers counted as succeeded")
    assert "active" not in (await tf.status("w0"))["replicaStatuses"]["Worker"]


async def test_all_workers_waits_for_every_worker(tf: Training) -> None:
    await running_job(tf, "aw", successPolicy="AllWorkers")
    await tf.phase("aw-worker-0", "Succeeded", code=0)
    await eventually(lambda: _counts(tf, "aw", "Worker", "succeeded", 1), timeout=10,
                     what="worker-0 counted")
    assert not any(c["type"] == "Succeeded" for c in (await tf.status("aw"))["conditions"])
    await tf.phase("aw-worker-1", "Succeeded", code=0)
    await tf.condition("aw", "Succeeded")


async def _counts(tf: Training, name: str, rtype: str, field: str, value: int) -> bool:
    status = await tf.status(name)
    return ((status.get("replicaStatuses") or {}).get(rtype) or {}).get(field) == value


async def test_exit_code_137_restarts_the_pod_and_1_fails_the_job(tf: Training) -> None:
    pods = await running_job(tf, "ec", policy="ExitCode")
    assert pods["ec-worker-1"]["spec"]["restartPolicy"] == "Never"
    old_uid = pods["ec-worker-1"]["metadata"]["uid"]
    await tf.phase("ec-worker-1", "Failed", code=137)

    async def recreated() -> Obj | None:
        pod = (await tf.pods()).get("ec-worker-1")
        return pod if pod and pod["metadata"]["uid"] != old_uid else None

    await eventually(recreated, timeout=10, what="worker-1 recreated")
    # Restarting=True lasts until the next sync sees workers running again (Running and
    # Restarting replace each other, §6), so the event is the lasting record.
    [restarting] = await eventually(lambda: tf.events("TFJobRestarting"), timeout=10,
                                    what="a TFJobRestarting event")
    assert restarting["type"] == "Warning"
    assert restarting["message"] == "job ec is restarting because Worker replica(s) failed."
    assert any("exited with code 137" in e["message"] for e in await tf.events("ExitedWithCode"))

    await tf.phase("ec-worker-1", "Running")
    await tf.condition("ec", "Running")
    await tf.phase("ec-worker-1", "Failed", code=1)
    failed = await tf.condition("ec", "Failed")
    assert failed["reason"] == "TFJobFailed"
    assert failed["message"] == 'job "ec" is failing because "Worker" replica(s) failed.'
    assert "ec-worker-1" in await tf.pods(), "a non-retryable failure is not restarted"


async def test_backoff_limit_fails_the_job(tf: Training) -> None:
    await running_job(tf, "bo", policy="ExitCode", run_policy={"backoffLimit": 1})
    uid = (await tf.pods())["bo-worker-0"]["metadata"]["uid"]
    await tf.phase("bo-worker-0", "Failed", code=137)

    async def replaced() -> bool:
        pod = (await tf.pods()).get("bo-worker-0")
        return bool(pod and pod["metadata"]["uid"] != uid)

    await eventually(replaced, timeout=10, what="first restart within the limit")
    await tf.phase("bo-worker-0", "Failed", code=137)
    failed = await tf.condition("bo", "Failed")
    assert failed["reason"] == "TFJobFailed"
    assert failed["message"] == ("Job bo has failed because it has reached the specified "
                                 "backoff limit")
    await eventually(lambda: _no_pods(tf), timeout=10, what="pods deleted")


async def _no_pods(tf: Training) -> bool:
    return not await tf.pods()


async def test_active_deadline_fails_the_job(tf: Training) -> None:
    await running_job(tf, "dl", run_policy={"activeDeadlineSeconds": 30})
    await tf.clock.advance(29)
    assert not any(c["type"] == "Failed" for c in (await tf.status("dl"))["conditions"])
    await tf.clock.advance(2)
    failed = await tf.condition("dl", "Failed")
    assert failed["reason"] == "TFJobFailed"
    assert failed["message"] == ("Job dl has failed because it was active longer than "
                                 "specified deadline")
    await eventually(lambda: _no_pods(tf), timeout=10, what="pods deleted")
    assert await tf.events("SuccessfulDeletePodGroup")


@pytest.mark.parametrize(("policy", "left"), [
    ("None", ["cp-ps-0", "cp-worker-0", "cp-worker-1"]),
    ("Running", ["cp-worker-0"]),
    ("All", []),
])
async def test_clean_pod_policy_leaves_exactly_the_right_pods(
        tf: Training, policy: str, left: list[str]) -> None:
    await running_job(tf, "cp", run_policy={"cleanPodPolicy": policy})
    await tf.phase("cp-worker-0", "Succeeded", code=0)
    await tf.condition("cp", "Succeeded")

    async def settled() -> bool:
        return sorted(await tf.pods()) == left and sorted(await tf.services()) == left

    await eventually(settled, timeout=10, what=f"pods and Services left: {left}")
    await eventually(lambda: _podgroup_gone(tf, "cp"), timeout=10, what="PodGroup deleted")


async def _podgroup_gone(tf: Training, name: str) -> bool:
    from kubeedge.controllers.volcano_crds import PODGROUPS

    try:
        await tf.api.get(PODGROUPS, name, tf.ns)
    except APIError as exc:
        return exc.is_not_found
    return False


async def test_suspend_deletes_everything_and_resume_starts_again(tf: Training) -> None:
    await tf.create(tfjob("sus", run_policy={"suspend": True}))
    suspended = await tf.condition("sus", "Suspended")
    assert (suspended["reason"], suspended["message"]) == ("TFJobSuspended",
                                                          "TFJob sus is suspended.")
    assert await _podgroup_gone(tf, "sus") and not await tf.pods()

    await tf.api.patch(tf.ref, "sus", {"spec": {"runPolicy": {"suspend": False}}}, tf.ns)
    await tf.admit("sus")
    pods = await tf.wait_pods("sus-ps-0", "sus-worker-0", "sus-worker-1")
    status = await tf.status("sus")
    resumed = next(c for c in status["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "TFJobResumed")
    for pod in pods:
        await tf.phase(pod, "Running")
    await tf.condition("sus", "Running")

    await tf.api.patch(tf.ref, "sus", {"spec": {"runPolicy": {"suspend": True}}}, tf.ns)
    await tf.condition("sus", "Suspended")
    await eventually(lambda: _no_pods(tf), timeout=10, what="pods deleted on suspend")
    await eventually(lambda: _podgroup_gone(tf, "sus"), timeout=10, what="PodGroup deleted")
    running = next(c for c in (await tf.status("sus"))["conditions"] if c["type"] == "Running")
    assert running["status"] == "False"


async def test_ttl_deletes_the_finished_job(tf: Training) -> None:
    await running_job(tf, "ttl", run_policy={"ttlSecondsAfterFinished": 60})
    await tf.phase("ttl-worker-0", "Succeeded", code=0)
    await tf.condition("ttl", "Succeeded")
    await tf.clock.advance(30)
    await tf.job("ttl")  # still there half-way

    async def gone() -> bool:
        try:
            await tf.job("ttl")
        except APIError as exc:
            return exc.is_not_found
        return False

    await tf.clock.advance(31)
    await eventually(gone, timeout=10, what="the job deleted after its TTL")


async def test_gang_admission_gate_with_the_real_scheduler(cloud: Cloud, api: APIClient,
                                                           tf: Training) -> None:
    """The real Volcano scheduler admits the first job (its PodGroup goes Inqueue, its
    pods are made and bound) and holds the one that does not fit: no pods at all."""
    cluster = SchedulingCluster(api, tf.ns)
    await cluster.node("n1", cpu="1")
    try:
        async with schedulers(cloud.kubeconfig, "volcano") as start:
            await start(SchedulerConfig(schedule_period_seconds=0.1))
            await tf.create(tfjob("fits"))
            big = tfjob("big", ps=0, workers=2)
            big["spec"]["tfReplicaSpecs"]["Worker"] = replica(2, cpu="2")
            await tf.create(big)
            await tf.wait_pods("fits-ps-0", "fits-worker-0", "fits-worker-1", timeout=15)
            bound = await eventually(
                lambda: cluster.bound("fits-ps-0", "fits-worker-0", "fits-worker-1"),
                timeout=15, what="the admitted job's pods bound")
            assert set(bound.values()) == {f"{tf.ns}-n1"}
            group = await tf.podgroup("big")
            assert group["spec"]["minResources"] == {"cpu": "4"}
            assert (group.get("status") or {}).get("phase") in (None, "Pending")
            assert not [p for p in await tf.pods() if p.startswith("big-")]
    finally:
        await cluster.cleanup()


MALFORMED = """apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: bad
spec:
  tfReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        spec:
          containers: [{name: tensorflow, image: python:3.11}]
    Worker:
      replicas: -1
      template:
        spec:
          containers: [{name: tensorflow, image: python:3.11}]
    PS:
      template:
        spec:
          containers: []
"""


async def test_malformed_tfjob_is_refused_with_field_causes(cloud: Cloud, tf: Training
                                                            ) -> None:
    proc = cloud.kubectl("apply", "-n", tf.ns, "-f", "-", input=MALFORMED, check=False)
    assert proc.returncode != 0
    assert 'TFJob.kubeflow.org "bad" is invalid' in proc.stderr
    assert 'spec.tfReplicaSpecs[Launcher]: Unsupported value: "Launcher"' in proc.stderr
    assert "spec.tfReplicaSpecs[Worker].replicas: Invalid value: -1" in proc.stderr
    assert "spec.tfReplicaSpecs[PS].template.spec.containers: Required value" in proc.stderr
    with pytest.raises(APIError) as err:
        await tf.job("bad")
    assert err.value.is_not_found
    bad = tfjob("bad2")
    bad["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "tf"
    with pytest.raises(APIError) as err:
        await tf.create(bad)
    assert err.value.code == 422
    causes = {c["field"]: c["message"] for c in err.value.status["details"]["causes"]}
    assert causes["spec.tfReplicaSpecs[Worker].template.spec.containers"] == (
        "Required value: must have at least one container with name tensorflow")


async def test_admission_defaults_are_stored(cloud: Cloud, tf: Training) -> None:
    job = tfjob("dflt")
    job["spec"]["tfReplicaSpecs"] = {"worker": {"template": {"spec": {"containers": [
        {"name": "tensorflow", "image": "python:3.11"}]}}}}
    stored = await tf.create(job)
    spec = stored["spec"]
    assert list(spec["tfReplicaSpecs"]) == ["Worker"]
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert (worker["replicas"], worker["restartPolicy"]) == (1, "Never")
    assert worker["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "tfjob-port", "containerPort": 2222}]
    assert spec["runPolicy"]["cleanPodPolicy"] == "None"
    table = cloud.kubectl("get", "tfjob", "dflt", "-n", tf.ns).stdout
    assert table.split("\n")[0].split() == ["NAME", "STATE", "AGE"]
