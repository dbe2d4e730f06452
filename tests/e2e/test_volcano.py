"""Volcano's deadlock scenario end to end (specs/volcano.md §4), driven with the
`kubernetes` Python client and kubectl against the whole cloud (every controller and
the scheduler in cloudcore): 4 GPUs over 3 nodes, two vcjobs of 4 one-GPU workers
submitted together. One job gets all 4 GPUs; the other has no pod bound and its
PodGroup says why; once the first job's pods succeed, the second gets all 4 and both
jobs complete. Then a vcjob with minAvailable 3 of 4 on 3 free GPUs binds 3 and runs.

Nodes are Node objects with declared capacity; the test plays the node, marking pods
Running and Succeeded through the status subresource as a kubelet would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.fixtures.cluster import Cloud, running_cloud, wait_until

GPU = "nvidia.com/gpu"
GROUP, VERSION = "batch.volcano.sh", "v1alpha1"

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("volcano"),
                       "--set", "modules.scheduler.schedulePeriodSeconds=0.2",
                       controllers=("*",), scheduler=True) as c:
        yield c


@pytest.fixture(scope="module")
def api(cloud: Cloud) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(cloud.kubeconfig))


@pytest.fixture
def ns(cloud: Cloud, api: k8s.ApiClient) -> Iterator[str]:
    name = f"vc-{uuid.uuid4().hex[:6]}"
    k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    cloud.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def gpu_nodes(api: k8s.ApiClient) -> Iterator[list[str]]:
    """4 GPUs over 3 nodes: 2, 1 and 1."""
    core = k8s.CoreV1Api(api)
    names = []
    for gpus in (2, 1, 1):
        name = f"gpu-{uuid.uuid4().hex[:6]}"
        core.create_node({"metadata": {"name": name,
                                       "labels": {"kubernetes.io/hostname": name}}})
        resources = {"cpu": "16", "memory": "64Gi", "pods": "110", GPU: str(gpus)}
        core.patch_node_status(name, {"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
        names.append(name)
    yield names
    for name in names:
        core.delete_node(name)


def vcjob(name: str, replicas: int, min_available: int) -> Obj:
    one = {GPU: "1", "cpu": "1", "memory": "1Gi"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "minAvailable": min_available, "schedulerName": "volcano",
            "plugins": {"env": [], "svc": []},
            "tasks": [{"name": "worker", "replicas": replicas, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "train", "image": "python",
                                "command": ["python3", "-c", "print('step')"],
                                "resources": {"requests": one, "limits": one}}]}}}]}}


def pods_of(api: k8s.ApiClient, ns: str, job: str) -> list[Obj]:
    pods = k8s.CoreV1Api(api).list_namespaced_pod(
        ns, label_selector=f"volcano.sh/job-name={job}", _preload_content=False)
    return json.loads(pods.data)["items"]


def bound(api: k8s.ApiClient, ns: str, job: str) -> list[Obj]:
    return [p for p in pods_of(api, ns, job) if p["spec"].get("nodeName")]


def job_phase(api: k8s.ApiClient, ns: str, name: str) -> str:
    job = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, "jobs", name)
    return ((job.get("status") or {}).get("state") or {}).get("phase") or ""


def podgroup_of(api: k8s.ApiClient, ns: str, job: str) -> Obj:
    groups = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        "scheduling.volcano.sh", "v1beta1", ns, "podgroups")["items"]
    return next(g for g in groups if g["metadata"]["name"].startswith(f"{job}-"))


def play_node(api: k8s.ApiClient, ns: str, pods: list[Obj], phase: str) -> None:
    core = k8s.CoreV1Api(api)
    for pod in pods:
        status: Obj = {"phase": phase}
        if phase == "Running":
            status["conditions"] = [{"type": "Ready", "status": "True"}]
        core.patch_namespaced_pod_status(pod["metadata"]["name"], ns, {"status": status})


def test_two_gpu_jobs_never_deadlock(cloud: Cloud, api: k8s.ApiClient, ns: str,
                                     gpu_nodes: list[str]) -> None:
    jobs = k8s.CustomObjectsApi(api)
    for name in ("train-a", "train-b"):
        jobs.create_namespaced_custom_object(GROUP, VERSION, ns, "jobs", vcjob(name, 4, 4))

    def one_job_holds_every_gpu() -> tuple[str, str] | None:
        a, b = len(bound(api, ns, "train-a")), len(bound(api, ns, "train-b"))
        if sorted((a, b)) != [0, 4]:
            assert a + b <= 4 and 0 in (a, b), f"GPUs split {a}+{b}"
            return None
        return ("train-a", "train-b") if a == 4 else ("train-b", "train-a")

    first, second = wait_until(one_job_holds_every_gpu, timeout=30,
                               what="one job bound whole on the 4 GPUs")
    placed = bound(api, ns, first)
    per_node = sorted(sum(1 for p in placed if p["spec"]["nodeName"] == n) for n in gpu_nodes)
    assert per_node == [1, 1, 2]
    # The second job is held back whole: not one pod bound, and its PodGroup says why.
    group = podgroup_of(api, ns, second)
    assert (group.get("status") or {}).get("phase", "Pending") in ("Pending", "Inqueue")
    assert not bound(api, ns, second)
    events = cloud.kubectl("get", "events", "-n", ns, "--field-selector",
                           f"involvedObject.name={group['metadata']['name']}", "-o",
                           "json")
    reasons = [(e["reason"], e["message"]) for e in json.loads(events.stdout)["items"]]
    assert any(reason == "Unschedulable" for reason, _ in reasons), reasons

    play_node(api, ns, placed, "Running")
    wait_until(lambda: job_phase(api, ns, first) == "Running", timeout=20,
               what=f"{first} Running")
    assert not bound(api, ns, second)
    play_node(api, ns, placed, "Succeeded")

    wait_until(lambda: len(bound(api, ns, second)) == 4, timeout=30,
               what=f"{second} bound whole once {first} finished")
    wait_until(lambda: job_phase(api, ns, first) == "Completed", timeout=20,
               what=f"{first} Completed")
    play_node(api, ns, bound(api, ns, second), "Running")
    play_node(api, ns, bound(api, ns, second), "Succeeded")
    wait_until(lambda: job_phase(api, ns, second) == "Completed", timeout=20,
               what=f"{second} Completed")
    out = cloud.kubectl("get", "vcjob", "-n", ns).stdout
    assert out.count("Completed") == 2, out


def test_three_of_four_binds_three_and_runs(cloud: Cloud, api: k8s.ApiClient, ns: str,
                                           gpu_nodes: list[str]) -> None:
    # One GPU taken by an ordinary pod: 3 are free.
    one = {GPU: "1"}
    k8s.CoreV1Api(api).create_namespaced_pod(ns, {
        "metadata": {"name": "other"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "resources": {"requests": one, "limits": one}}]}})
    wait_until(lambda: k8s.CoreV1Api(api).read_namespaced_pod("other", ns).spec.node_name,
               timeout=20, what="the ordinary GPU pod bound")
    k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, ns, "jobs", vcjob("elastic", 4, 3))
    wait_until(lambda: len(bound(api, ns, "elastic")) == 3, timeout=30,
               what="three of four workers bound")
    play_node(api, ns, bound(api, ns, "elastic"), "Running")
    wait_until(lambda: job_phase(api, ns, "elastic") == "Running", timeout=20,
               what="the job Running on three")
    assert len(pods_of(api, ns, "elastic")) == 4
    assert len(bound(api, ns, "elastic")) == 3
