"""Volcano's job controller against the real API server (specs/volcano.md §1.3), with an
in-process Volcano scheduler: a Job gets its PodGroup, then (once the scheduler admits
the group) its pods, which are bound; the test plays the node and the Job goes
Running, then Completed. A Job whose group cannot be admitted (closed queue) has no
pods. Deleting a Job takes its pods and PodGroup with it (garbage collector)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.controllers.vcjob import CONFIGMAPS, SERVICES, VCJobController
from kubeedge.controllers.volcano_crds import JOBS, PODGROUPS, QUEUES
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.scheduling import PODS, SchedulingCluster, Start
from tests.fixtures.vcjob import cluster, controller, scheduler

__all__ = ["cluster", "controller", "scheduler"]

pytestmark = pytest.mark.usefixtures("crds")

Obj = dict[str, Any]


def _task(name: str, replicas: int, cpu: str = "500m") -> Obj:
    return {"name": name, "replicas": replicas, "template": {
        "metadata": {"labels": {"role": name}},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}}}


def _job(name: str, *, queue: str = "default", plugins: Obj | None = None) -> Obj:
    spec: Obj = {"minAvailable": 3, "queue": queue,
                 "tasks": [_task("ps", 1), _task("worker", 2)]}
    if plugins:
        spec["plugins"] = plugins
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": {"name": name},
            "spec": spec}


async def _pods(api: APIClient, ns: str) -> dict[str, Obj]:
    answer = await api.list(PODS, ns)
    return {p["metadata"]["name"]: p for p in answer.get("items") or []}


async def _job_status(api: APIClient, ns: str, name: str) -> Obj:
    return (await api.get(JOBS, name, ns)).get("status") or {}


async def _set_phase(api: APIClient, ns: str, names: list[str], phase: str) -> None:
    for name in names:
        await api.patch(PODS, name, {"status": {"phase": phase}}, ns, subresource="status")


async def _phase_is(api: APIClient, ns: str, name: str, phase: str) -> Obj | None:
    status = await _job_status(api, ns, name)
    return status if (status.get("state") or {}).get("phase") == phase else None


async def test_job_runs_and_completes(cloud: Cloud, api: APIClient, ns: str,
                                      cluster: SchedulingCluster, scheduler: Start,
                                      controller: VCJobController) -> None:
    await cluster.node("n1", cpu="4")
    await cluster.node("n2", cpu="4")
    patched: list[tuple[str, str]] = []
    counted: list[int] = []
    patch = controller.client.patch

    async def counting_patch(ref: Any, name: str, body: Any, *args: Any, **kwargs: Any
                             ) -> Obj:
        if ref.plural != "pods":
            patched.append((ref.plural, kwargs.get("subresource", "")))
        if ref.plural == "jobs":
            st = body["status"]
            counted.append(st["pending"] + st["running"] + st["succeeded"])
        return await patch(ref, name, body, *args, **kwargs)

    controller.client.patch = counting_patch  # type: ignore[method-assign]
    job = await api.create(JOBS, _job("tf", plugins={"env": [], "svc": []}), ns)
    group_name = f"tf-{job['metadata']['uid']}"
    group = await eventually(lambda: _get_or_none(api, PODGROUPS, group_name, ns),
                             timeout=10, what="the job's PodGroup")
    assert group["spec"]["minMember"] == 3
    assert group["spec"]["minTaskMember"] == {"ps": 1, "worker": 2}
    assert group["spec"]["queue"] == "default"
    assert group["spec"]["minResources"] == {"cpu": "1500m"}
    [owner] = group["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Job", "tf", job["metadata"]["uid"], True)

    names = ["tf-ps-0", "tf-worker-0", "tf-worker-1"]

    async def all_bound() -> dict[str, Obj] | None:
        pods = await _pods(api, ns)
        ok = sorted(pods) == names and all(p["spec"].get("nodeName") for p in pods.values())
        return pods if ok else None

    pods = await eventually(all_bound, timeout=15, what="3 pods created and bound")
    pod = pods["tf-worker-1"]
    annotations, labels = pod["metadata"]["annotations"], pod["metadata"]["labels"]
    assert annotations["scheduling.k8s.io/group-name"] == group_name
    assert annotations["volcano.sh/task-spec"] == "worker"
    assert annotations["volcano.sh/task-index"] == "1"
    assert annotations["volcano.sh/job-name"] == "tf"
    assert annotations["volcano.sh/queue-name"] == "default"
    assert annotations["volcano.sh/job-version"] == "0"
    assert labels["volcano.sh/job-namespace"] == ns and labels["role"] == "worker"
    assert pod["spec"]["schedulerName"] == "volcano"
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("tf-worker-1", "tf")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["VK_TASK_INDEX"] == env["VC_TASK_INDEX"] == "1"
    assert env["VC_WORKER_HOSTS"] == "tf-worker-0.tf,tf-worker-1.tf"
    assert env["VC_PS_NUM"] == "1"
    [ref] = pod["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("Job", job["metadata"]["uid"], True)
    service = await api.get(SERVICES, "tf", ns)
    assert service["spec"]["clusterIP"] == "None"
    configmap = await api.get(CONFIGMAPS, "tf-svc", ns)
    assert configmap["data"] == {"ps.host": "tf-ps-0.tf",
                                 "worker.host": "tf-worker-0.tf\ntf-worker-1.tf"}
    assert {"name": "tf-svc", "mountPath": "/etc/volcano"} in (
        pod["spec"]["containers"][0]["volumeMounts"])

    status = await eventually(lambda: _phase_is(api, ns, "tf", "Pending"), timeout=10,
                              what="job Pending with 3 pending pods")
    await _set_phase(api, ns, names, "Running")

    async def running_job() -> Obj | None:
        status = await _phase_is(api, ns, "tf", "Running")
        return status if status and status.get("running") == 3 else None

    status = await eventually(running_job, timeout=10, what="job Running")
    assert status["minAvailable"] == 3
    assert status["taskStatusCount"] == {"ps": {"phase": {"Running": 1}},
                                         "worker": {"phase": {"Running": 2}}}
    await _set_phase(api, ns, names, "Succeeded")
    status = await eventually(lambda: _phase_is(api, ns, "tf", "Completed"), timeout=10,
                              what="job Completed")
    assert (status["succeeded"], status["running"], status["pending"]) == (3, 0, 0)
    assert status["taskStatusCount"] == {"ps": {"phase": {"Succeeded": 1}},
                                         "worker": {"phase": {"Succeeded": 2}}}
    # No churn: the PodGroup's spec never rewritten, the Job's status only on changes
    # (about one per pod transition), its pod count never going back.
    assert {p for p in patched if p != ("jobs", "status")} <= {("configmaps", "")}
    assert len(patched) <= 14, patched
    assert counted == sorted(counted), counted
    out = cloud.kubectl("get", "vcjob", "-n", ns).stdout.split("\n")
    assert out[0].split() == ["NAME", "STATUS", "MINAVAILABLE", "RUNNINGS", "AGE"]
    assert out[1].split()[:3] == ["tf", "Completed", "3"]

    # Deleting the Job takes its pods and PodGroup (garbage collector).
    await api.delete(JOBS, "tf", ns)

    async def gone() -> bool:
        pods = await _pods(api, ns)
        return not pods and await _get_or_none(api, PODGROUPS, group_name, ns) is None

    await eventually(gone, timeout=15, what="pods and PodGroup collected")


async def test_job_its_queue_cannot_admit_gets_no_pods(
        api: APIClient, ns: str, cluster: SchedulingCluster, scheduler: Start,
        controller: VCJobController) -> None:
    await cluster.node("n1", cpu="4")
    # Admission refuses jobs for a closed queue; a queue whose capability is below the
    # job's minResources (1500m) is one the scheduler never admits the group to.
    queue = f"small-{ns}"
    await api.create(QUEUES, {"metadata": {"name": queue},
                              "spec": {"weight": 1, "capability": {"cpu": "500m"}}})
    try:
        job = await api.create(JOBS, _job("shut", queue=queue), ns)
        group_name = f"shut-{job['metadata']['uid']}"
        group = await eventually(lambda: _get_or_none(api, PODGROUPS, group_name, ns),
                                 timeout=10, what="the job's PodGroup")
        assert group["spec"]["queue"] == queue
        # An open-queue job created after it is admitted and gets pods: by then the
        # scheduler has had its chance at the other one.
        await api.create(JOBS, _job("open"), ns)

        async def open_pods() -> bool:
            return len([n for n in await _pods(api, ns) if n.startswith("open-")]) == 3

        await eventually(open_pods, timeout=15, what="the open-queue job's pods")
        assert not [n for n in await _pods(api, ns) if n.startswith("shut-")]
        group = await api.get(PODGROUPS, group_name, ns)
        assert (group.get("status") or {}).get("phase") in (None, "Pending")
        status = await _job_status(api, ns, "shut")
        assert status["state"]["phase"] == "Pending"
    finally:
        await api.delete_collection(JOBS, ns)
        await api.delete_collection(PODGROUPS, ns)
        await api.delete(QUEUES, queue)


async def _get_or_none(api: APIClient, ref: Any, name: str, ns: str) -> Obj | None:
    try:
        return await api.get(ref, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def test_failed_pod_fails_job_and_min_success_completes_early(
        api: APIClient, ns: str, cluster: SchedulingCluster, scheduler: Start,
        controller: VCJobController) -> None:
    await cluster.node("n1", cpu="8")
    await api.create(JOBS, _job("bad"), ns)
    early = _job("early")
    early["spec"]["minSuccess"] = 1
    await api.create(JOBS, early, ns)

    async def bound(prefix: str) -> list[str] | None:
        pods = {n: p for n, p in (await _pods(api, ns)).items() if n.startswith(prefix)}
        ok = len(pods) == 3 and all(p["spec"].get("nodeName") for p in pods.values())
        return sorted(pods) if ok else None

    bad = await eventually(lambda: bound("bad-"), timeout=15, what="bad's pods bound")
    good = await eventually(lambda: bound("early-"), timeout=15, what="early's pods bound")
    await _set_phase(api, ns, bad + good, "Running")
    await eventually(lambda: _phase_is(api, ns, "bad", "Running"), timeout=10, what="Running")
    await eventually(lambda: _phase_is(api, ns, "early", "Running"), timeout=10,
                     what="Running")
    await _set_phase(api, ns, bad[:1], "Failed")
    await _set_phase(api, ns, bad[1:], "Succeeded")
    status = await eventually(lambda: _phase_is(api, ns, "bad", "Failed"), timeout=10,
                              what="bad Failed")
    assert (status["failed"], status["succeeded"]) == (1, 2)

    # One success is enough for `early`: Completed, and its running pods are killed.
    await _set_phase(api, ns, good[:1], "Succeeded")
    await eventually(lambda: _phase_is(api, ns, "early", "Completed"), timeout=10,
                     what="early Completed")

    async def killed() -> bool:
        pods = await _pods(api, ns)
        return all(pods[n]["metadata"].get("deletionTimestamp") for n in good[1:])

    await eventually(killed, timeout=10, what="early's running pods deleted")
    assert not (await _pods(api, ns))[good[0]]["metadata"].get("deletionTimestamp")
