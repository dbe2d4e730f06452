"""Pure rules of the training operator (specs/volcano.md §6): defaults and webhook
causes (api/training.py, run by apiserver/training_admission.py), TF_CONFIG, the
PyTorch environment, the condition rules, PodGroup sizing and pod slices."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeedge.api import errors, training
from kubeedge.apiserver.request import RequestInfo
from kubeedge.apiserver.training_admission import TrainingAdmission
from kubeedge.config.apiserver import ConfigError
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.training import common
from kubeedge.controllers.training.pytorchjob import pod_env
from kubeedge.controllers.training.tfjob import is_distributed, tf_config

Obj = dict[str, Any]


def replica(replicas: int | None = None, container: str = "tensorflow", **extra: Any) -> Obj:
    spec: Obj = {"template": {"spec": {"containers": [
        {"name": container, "image": "python:3.11"}]}}, **extra}
    if replicas is not None:
        spec["replicas"] = replicas
    return spec


def tfjob(name: str = "dist", ns: str = "default", **specs: Obj) -> Obj:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"tfReplicaSpecs": specs or {"PS": replica(1), "Worker": replica(2)}}}


def fields(causes: list[Any]) -> dict[str, str]:
    return {c.field: c.message for c in causes}


# -- defaults ---------------------------------------------------------------------------


def test_tfjob_defaults_match_the_operator() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob(worker=replica(), ps=replica(1)))
    spec = job["spec"]
    assert list(spec["tfReplicaSpecs"]) == ["Worker", "PS"]
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert (worker["replicas"], worker["restartPolicy"]) == (1, "Never")
    assert worker["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "tfjob-port", "containerPort": 2222}]
    assert (spec["runPolicy"]["cleanPodPolicy"], spec["successPolicy"]) == ("None", "")


def test_pytorchjob_defaults_restart_on_failure_and_port_23456() -> None:
    job = {"metadata": {"name": "p"}, "spec": {"pytorchReplicaSpecs": {
        "master": replica(1, "pytorch")}}}
    spec = training.default_job(training.PYTORCH, job)["spec"]
    master = spec["pytorchReplicaSpecs"]["Master"]
    assert master["restartPolicy"] == "OnFailure"
    assert master["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "pytorchjob-port", "containerPort": 23456}]
    assert spec["nprocPerNode"] == "auto"
    assert "successPolicy" not in spec


def test_defaults_keep_what_is_given() -> None:
    given = replica(3, restartPolicy="ExitCode")
    given["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "tfjob-port", "containerPort": 3333}]
    job = tfjob(Worker=given)
    job["spec"]["runPolicy"] = {"cleanPodPolicy": "All"}
    spec = training.default_job(training.TENSORFLOW, job)["spec"]
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert (worker["replicas"], worker["restartPolicy"]) == (3, "ExitCode")
    assert len(worker["template"]["spec"]["containers"][0]["ports"]) == 1
    assert spec["runPolicy"]["cleanPodPolicy"] == "All"


# -- validation -------------------------------------------------------------------------


def test_unknown_type_negative_replicas_and_no_containers_are_refused() -> None:
    empty = replica(1)
    empty["template"]["spec"]["containers"] = []
    job = training.default_job(training.TENSORFLOW, tfjob(
        Launcher=replica(1), Worker=replica(-1), PS=empty))
    causes = fields(training.validate_job(training.TENSORFLOW, job))
    assert causes["spec.tfReplicaSpecs[Launcher]"].startswith('Unsupported value: "Launcher"')
    assert causes["spec.tfReplicaSpecs[Worker].replicas"] == (
        "Invalid value: -1: must be greater than or equal to 0")
    assert causes["spec.tfReplicaSpecs[PS].template.spec.containers"].startswith(
        "Required value")


def test_missing_default_container_and_image() -> None:
    job = tfjob(Worker=replica(1, container="main"))
    job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["image"] = ""
    causes = fields(training.validate_job(training.TENSORFLOW, job))
    assert causes["spec.tfReplicaSpecs[Worker].template.spec.containers"] == (
        "Required value: must have at least one container with name tensorflow")
    assert causes["spec.tfReplicaSpecs[Worker].template.spec.containers[0].image"] == (
        "Required value: must be required")


def test_chief_and_master_together_are_forbidden() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob(Chief=replica(1), Master=replica(1)))
    assert fields(training.validate_job(training.TENSORFLOW, job))["spec.tfReplicaSpecs"] == (
        "Forbidden: must not have more than 1 Chief or Master role")


def test_pytorch_master_must_be_one_and_workers_at_least_one() -> None:
    job = {"metadata": {"name": "p"}, "spec": {"pytorchReplicaSpecs": {
        "Master": replica(2, "pytorch"), "Worker": replica(0, "pytorch")}}}
    causes = fields(training.validate_job(training.PYTORCH, job))
    assert causes["spec.pytorchReplicaSpecs[Master].replicas"] == "Forbidden: must be 1"
    assert causes["spec.pytorchReplicaSpecs[Worker].replicas"] == (
        "Forbidden: must be at least 1")


def test_bad_policies_and_immutable_queue() -> None:
    old = tfjob()
    old["spec"]["runPolicy"] = {"schedulingPolicy": {"queue": "a"}}
    new = copy.deepcopy(old)
    new["spec"]["runPolicy"] = {"schedulingPolicy": {"queue": "b"}, "cleanPodPolicy": "Some",
                                "backoffLimit": -1}
    new["spec"]["successPolicy"] = "AnyWorker"
    new["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicy"] = "Sometimes"
    causes = fields(training.validate_job(training.TENSORFLOW, new, old))
    assert causes["spec.runPolicy.schedulingPolicy.queue"].endswith(
        "spec.runPolicy.schedulingPolicy.queue is immutable")
    assert causes["spec.runPolicy.cleanPodPolicy"].startswith('Unsupported value: "Some"')
    assert "spec.runPolicy.backoffLimit" in causes
    assert "spec.successPolicy" in causes
    assert "spec.tfReplicaSpecs[Worker].restartPolicy" in causes


def test_a_good_job_passes() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob())
    assert training.validate_job(training.TENSORFLOW, job) == []


async def test_admission_defaults_then_refuses_with_422() -> None:
    admission = TrainingAdmission()
    info = RequestInfo(path="", method="POST", is_resource_request=True,
                       group="kubeflow.org", version="v1", resource="tfjobs")
    good = tfjob(worker=replica())
    await admission.admit(info, good, None)
    assert good["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 1
    with pytest.raises(errors.StatusError) as err:
        await admission.admit(info, tfjob(Worker=replica(-2)), None)
    assert err.value.code == 422
    assert 'TFJob.kubeflow.org "dist" is invalid' in str(err.value.message)
    # Status writes are not admitted (the webhook matches the main resource only).
    await admission.admit(RequestInfo(path="", method="PUT", group="kubeflow.org",
                                      version="v1", resource="tfjobs", subresource="status"),
                          tfjob(Worker=replica(-2)), None)


# -- TF_CONFIG and the PyTorch environment ------------------------------------------------


def test_tf_config_is_the_specs_example_byte_for_byte() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob())
    specs = training.replica_specs(training.TENSORFLOW, job)
    assert tf_config(job, specs, "Worker", 0) == (
        '{"cluster":{"ps":["dist-ps-0.default.svc:2222"],"worker":["dist-worker-0.default'
        '.svc:2222","dist-worker-1.default.svc:2222"]},"task":{"type":"worker","index":0},'
        '"environment":"cloud"}')
    assert json.loads(tf_config(job, specs, "PS", 0, "cluster.local"))["cluster"]["ps"] == [
        "dist-ps-0.default.svc.cluster.local:2222"]


def test_dynamic_workers_get_the_sparse_form() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob())
    job["spec"]["enableDynamicWorker"] = True
    specs = training.replica_specs(training.TENSORFLOW, job)
    assert json.loads(tf_config(job, specs, "Worker", 1)) == {
        "cluster": {"worker": {"1": "dist-worker-1.default.svc:2222"},
                    "ps": ["dist-ps-0.default.svc:2222"]},
        "task": {"type": "worker", "index": 1}}


def test_a_single_replica_job_is_not_distributed() -> None:
    job = training.default_job(training.TENSORFLOW, tfjob(Worker=replica(1)))
    assert not is_distributed(training.replica_specs(training.TENSORFLOW, job))


def test_pytorch_ranks_and_world_size() -> None:
    job = {"metadata": {"name": "ddp"}, "spec": {"nprocPerNode": "2", "pytorchReplicaSpecs": {
        "Master": replica(1, "pytorch"), "Worker": replica(3, "pytorch")}}}
    training.default_job(training.PYTORCH, job)
    env = dict((e["name"], e["value"]) for e in pod_env(job, "Worker", 2))
    assert env["RANK"] == env["PET_NODE_RANK"] == "3"
    assert env["WORLD_SIZE"] == "8" and env["PET_NNODES"] == "4"
    assert env["MASTER_ADDR"] == "ddp-master-0" and env["MASTER_PORT"] == "23456"


# -- conditions -------------------------------------------------------------------------


def test_running_and_restarting_replace_each_other_and_failed_freezes() -> None:
    status: Obj = {}
    common.update_condition(status, "Running", "True", "TFJobRunning", "r", "t1")
    common.update_condition(status, "Restarting", "True", "TFJobRestarting", "x", "t2")
    assert [c["type"] for c in status["conditions"]] == ["Restarting"]
    common.update_condition(status, "Running", "True", "TFJobRunning", "r", "t3")
    common.update_condition(status, "Succeeded", "True", "TFJobSucceeded", "s", "t4")
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("Running", "False"), ("Succeeded", "True")]
    common.update_condition(status, "Failed", "True", "TFJobFailed", "f", "t5")
    frozen = copy.deepcopy(status)
    common.update_condition(status, "Running", "True", "TFJobRunning", "r", "t6")
    assert status == frozen


def test_same_status_keeps_the_transition_time() -> None:
    status: Obj = {}
    common.update_condition(status, "Suspended", "True", "TFJobSuspended", "a", "t1")
    common.update_condition(status, "Suspended", "True", "Other", "b", "t2")
    [cond] = status["conditions"]
    assert (cond["lastTransitionTime"], cond["lastUpdateTime"], cond["reason"]) == (
        "t1", "t2", "Other")


# -- gang sizing, slices, exit codes ------------------------------------------------------


def _with_requests(n: int, requests: Obj | None, limits: Obj | None = None,
                   priority: str = "") -> Obj:
    resources: Obj = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    spec: Obj = {"containers": [{"name": "tensorflow", "image": "x", "resources": resources}]}
    if priority:
        spec["priorityClassName"] = priority
    return {"replicas": n, "template": {"spec": spec}}


def test_min_resources_counts_the_first_min_member_pods_by_priority() -> None:
    specs = {"PS": _with_requests(1, {"cpu": "1"}),
             "Worker": _with_requests(4, None, {"nvidia.com/gpu": "1"}, priority="high")}
    got = common.min_resources(specs, 3, training.TENSORFLOW, {"high": 100})
    assert got == {"nvidia.com/gpu": "3"}
    assert common.min_resources(specs, 5, training.TENSORFLOW, {}) == {
        "cpu": "1", "nvidia.com/gpu": "4"}


def test_podgroup_spec_honours_scheduling_policy_and_existing_queue() -> None:
    job = tfjob()
    job["spec"]["runPolicy"] = {"schedulingPolicy": {"minAvailable": 2, "queue": "q1",
                                                     "priorityClass": "high"}}
    job = training.default_job(training.TENSORFLOW, job)
    specs = training.replica_specs(training.TENSORFLOW, job)
    spec = common.podgroup_spec(training.TENSORFLOW, job, specs, "", {})
    assert (spec["minMember"], spec["queue"], spec["priorityClassName"]) == (2, "q1", "high")
    assert common.podgroup_spec(training.TENSORFLOW, job, specs, "kept", {})["queue"] == "kept"
    plain = training.default_job(training.TENSORFLOW, tfjob())
    spec = common.podgroup_spec(training.TENSORFLOW, plain,
                                training.replica_specs(training.TENSORFLOW, plain), "", {})
    assert (spec["minMember"], spec["queue"]) == (3, "default")


def test_slices_place_pods_by_index_and_keep_extra_ones() -> None:
    def pod(i: str) -> Obj:
        return {"metadata": {"labels": {common.REPLICA_INDEX_LABEL: i}}}

    got = common.slices([pod("0"), pod("3"), pod("x")], 2)
    assert [len(s) for s in got] == [1, 0, 0, 1]


@pytest.mark.parametrize(("code", "retry"), [(137, True), (128, True), (1, False),
                                             (127, False), (None, False)])
def test_retryable_exit_codes(code: int | None, retry: bool) -> None:
    assert common.is_retryable_exit_code(code) is retry


def test_gang_scheduler_name_is_checked() -> None:
    assert ControllerManagerConfig().gang_scheduler_name == "volcano"
    assert ControllerManagerConfig(gang_scheduler_name="").validate()
    with pytest.raises(ConfigError, match="gangSchedulerName"):
        ControllerManagerConfig(gang_scheduler_name="scheduler-plugins-scheduler").validate()
    assert ControllerManagerConfig().enabled("tfjob")
    assert ControllerManagerConfig(controllers=["*", "-pytorchjob"]).enabled("pytorchjob") is False
