"""Volcano Job lifecycle policies and Commands against the real API server, with an
in-process Volcano scheduler and the garbage collector (specs/volcano.md §1.3). The test
plays the node: it writes pod phases (with the container's exit code where a policy
needs one) and confirms the deletion of pods bound to its nodes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.controllers.vcjob import CONFIGMAPS, SERVICES, VCJobController
from kubeedge.controllers.volcano_crds import COMMANDS, JOBS, PODGROUPS
from tests.fixtures.cluster import eventually
from tests.fixtures.scheduling import EVENTS, PODS, SchedulingCluster, Start
from tests.fixtures.vcjob import cluster, controller, scheduler

__all__ = ["cluster", "controller", "scheduler"]

pytestmark = pytest.mark.usefixtures("crds")

Obj = dict[str, Any]


@pytest.fixture
async def node(api: APIClient, ns: str, cluster: SchedulingCluster) -> AsyncIterator[str]:
    """A node with room for every job here, whose 'kubelet' confirms the deletion of
    the pods bound to it (they stay Terminating until it does)."""
    name = await cluster.node("n1", cpu="8")

    async def confirm() -> None:
        while True:
            for pod in (await api.list(PODS, ns)).get("items") or []:
                if pod["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(APIError):
                        await api.delete(PODS, pod["metadata"]["name"], ns,
                                         grace_period_seconds=0)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(confirm())
    try:
        yield name
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _task(name: str, replicas: int, **extra: Any) -> Obj:
    return {"name": name, "replicas": replicas, **extra, "template": {
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}]}}}


def _job(name: str, *tasks: Obj, **spec: Any) -> Obj:
    metadata = spec.pop("metadata", {})
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind,
            "metadata": {"name": name, **metadata}, "spec": {"tasks": list(tasks), **spec}}


async def _pods(api: APIClient, ns: str, prefix: str) -> dict[str, Obj]:
    items = (await api.list(PODS, ns)).get("items") or []
    return {p["metadata"]["name"]: p for p in items if p["metadata"]["name"].startswith(prefix)}


async def _bound(api: APIClient, ns: str, prefix: str, count: int, version: int = 0
                 ) -> dict[str, Obj]:
    """`count` live pods of the job, bound, all of job version `version`."""

    async def ready() -> dict[str, Obj] | None:
        pods = {n: p for n, p in (await _pods(api, ns, prefix)).items()
                if not p["metadata"].get("deletionTimestamp")}
        ok = len(pods) == count and all(
            p["spec"].get("nodeName")
            and p["metadata"]["annotations"]["volcano.sh/job-version"] == str(version)
            for p in pods.values())
        return pods if ok else None

    return await eventually(ready, timeout=15,
                            what=f"{count} pods of {prefix} at version {version} bound")


async def _set_phase(api: APIClient, ns: str, names: list[str], phase: str,
                     exit_code: int | None = None) -> None:
    for name in names:
        status: Obj = {"phase": phase}
        if exit_code is not None:
            status["containerStatuses"] = [{
                "name": "c", "ready": False, "restartCount": 0, "image": "busybox",
                "imageID": "", "state": {"terminated": {"exitCode": exit_code,
                                                        "reason": "Error"}}}]
        await api.patch(PODS, name, {"status": status}, ns, subresource="status")


async def _status(api: APIClient, ns: str, name: str) -> Obj:
    return (await api.get(JOBS, name, ns)).get("status") or {}


async def _phase(api: APIClient, ns: str, name: str, phase: str, **fields: Any
                 ) -> Obj:
    async def reached() -> Obj | None:
        status = await _status(api, ns, name)
        ok = (status.get("state") or {}).get("phase") == phase and all(
            status.get(k) == v for k, v in fields.items())
        return status if ok else None

    return await eventually(reached, timeout=15, what=f"job {name} {phase} {fields}")


async def _running(api: APIClient, ns: str, name: str, pods: dict[str, Obj]) -> None:
    await _set_phase(api, ns, sorted(pods), "Running")
    await _phase(api, ns, name, "Running", running=len(pods))


async def _events(api: APIClient, ns: str, name: str, reason: str) -> list[str]:
    items = (await api.list(EVENTS, ns)).get("items") or []
    return [e.get("message", "") for e in items
            if e.get("involvedObject", {}).get("name") == name and e.get("reason") == reason]


async def _gone(api: APIClient, ref: Any, name: str, ns: str) -> bool:
    try:
        await api.get(ref, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return True
        raise
    return False


async def _command(api: APIClient, ns: str, job: Obj, action: str) -> None:
    """What `vcctl job suspend|resume` creates."""
    md = job["metadata"]
    ref = {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "name": md["name"],
           "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}
    await api.create(COMMANDS, {
        "metadata": {"generateName": f"{md['name']}-{action.lower()}-",
                     "ownerReferences": [ref]},
        "target": ref, "action": action}, ns)


async def test_pod_failed_restarts_the_job_until_max_retry_then_fails(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    # maxRetry left to its default (3).
    await api.create(JOBS, _job("rj", _task("worker", 2), minAvailable=2,
                                policies=[{"event": "PodFailed", "action": "RestartJob"}]), ns)
    first_group = ""
    for attempt in range(3):
        pods = await _bound(api, ns, "rj-", 2, version=attempt)
        assert {p["metadata"]["annotations"]["volcano.sh/job-retry-count"]
                for p in pods.values()} == {str(attempt)}
        group = (await api.list(PODGROUPS, ns))["items"]
        assert len(group) == 1
        if attempt == 0:
            first_group = group[0]["metadata"]["uid"]
        else:
            # A restart deletes the PodGroup; the new one was admitted afresh.
            assert group[0]["metadata"]["uid"] != first_group
        await _running(api, ns, "rj", pods)
        await _set_phase(api, ns, ["rj-worker-0"], "Failed", exit_code=1)
        if attempt < 2:
            status = await _phase(api, ns, "rj", "Pending", retryCount=attempt + 1,
                                  version=attempt + 1)
            assert "Restarting" in [c["status"] for c in status["conditions"]]
    status = await _phase(api, ns, "rj", "Failed", retryCount=3)
    assert status["version"] == 3
    # At the last retry the failed pod stays to be looked at; the running one is gone.
    pods = await eventually(lambda: _only(api, ns, "rj-", {"rj-worker-0"}), timeout=10,
                            what="only the failed pod left")
    assert pods["rj-worker-0"]["status"]["phase"] == "Failed"
    messages = await eventually(lambda: _events(api, ns, "rj", "ExecuteAction"), timeout=10,
                                what="ExecuteAction events")
    assert "Start to execute action RestartJob" in messages
    await eventually(lambda: _no_group(api, ns), timeout=10, what="PodGroup deleted")


async def _only(api: APIClient, ns: str, prefix: str, names: set[str]) -> dict[str, Obj] | None:
    pods = await _pods(api, ns, prefix)
    return pods if set(pods) == names else None


async def _none_left(api: APIClient, ns: str, prefix: str) -> bool:
    return not await _pods(api, ns, prefix)


async def _group(api: APIClient, ns: str, name: str) -> Obj | None:
    try:
        return await api.get(PODGROUPS, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def _no_group(api: APIClient, ns: str) -> bool:
    return not (await api.list(PODGROUPS, ns))["items"]


async def test_exit_codes_pick_task_then_job_policies(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    await api.create(JOBS, _job(
        "ec", _task("worker", 2, policies=[{"exitCode": 137, "action": "RestartPod"}]),
        minAvailable=2, policies=[{"exitCode": 3, "action": "TerminateJob"},
                                  {"event": "PodFailed", "action": "AbortJob"}]), ns)
    pods = await _bound(api, ns, "ec-", 2)
    await _running(api, ns, "ec", pods)
    survivor = pods["ec-worker-1"]["metadata"]["uid"]

    # 137 matches the task's policy: only that pod is restarted, same job version.
    await _set_phase(api, ns, ["ec-worker-0"], "Failed", exit_code=137)

    first_worker0 = pods["ec-worker-0"]["metadata"]["uid"]
    pods = await eventually(lambda: _replaced(api, ns, "ec-worker-0", first_worker0),
                            timeout=15, what="ec-worker-0 re-created")
    assert pods["ec-worker-1"]["metadata"]["uid"] == survivor
    status = await _status(api, ns, "ec")
    assert (status["retryCount"], status.get("version", 0)) == (1, 0)
    await _set_phase(api, ns, ["ec-worker-0"], "Running")
    await _phase(api, ns, "ec", "Running", running=2)

    # 3 matches no task policy; the job's exitCode policy comes before its PodFailed one.
    await _set_phase(api, ns, ["ec-worker-1"], "Failed", exit_code=3)
    status = await _phase(api, ns, "ec", "Terminated")
    assert status["failed"] == 1
    pods = await eventually(lambda: _only(api, ns, "ec-", {"ec-worker-1"}), timeout=10,
                            what="the running pod killed, the failed one kept")
    assert pods["ec-worker-1"]["status"]["phase"] == "Failed"
    assert "Start to execute action TerminateJob" in await _events(api, ns, "ec",
                                                                   "ExecuteAction")


async def _replaced(api: APIClient, ns: str, name: str, old_uid: str) -> dict[str, Obj] | None:
    pods = {n: p for n, p in (await _pods(api, ns, name.rsplit("-", 2)[0] + "-")).items()
            if not p["metadata"].get("deletionTimestamp")}
    pod = pods.get(name)
    if pod and pod["metadata"]["uid"] != old_uid and pod["spec"].get("nodeName"):
        return pods
    return None


async def test_task_completed_completes_the_job(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    topology = {"volcano.sh/task-topology-affinity": "master,worker",
                "volcano.sh/task-topology-task-order": "master,worker"}
    job = await api.create(JOBS, _job(
        "tc", _task("master", 1, policies=[{"event": "TaskCompleted",
                                            "action": "CompleteJob"}]),
        _task("worker", 2), minAvailable=3, plugins={"svc": []},
        metadata={"annotations": topology}), ns)
    group = await eventually(lambda: _group(api, ns, f"tc-{job['metadata']['uid']}"),
                             timeout=10, what="the job's PodGroup")
    # The scheduler reads the task-topology annotations off the PodGroup.
    assert topology.items() <= group["metadata"]["annotations"].items()
    pods = await _bound(api, ns, "tc-", 3)
    await _running(api, ns, "tc", pods)
    await _set_phase(api, ns, ["tc-master-0"], "Succeeded")
    status = await _phase(api, ns, "tc", "Completed")
    assert "Completing" in [c["status"] for c in status["conditions"]]
    pods = await eventually(lambda: _only(api, ns, "tc-", {"tc-master-0"}), timeout=10,
                            what="workers killed, the finished master kept")
    assert pods["tc-master-0"]["status"]["phase"] == "Succeeded"
    # A job killed for good loses its PodGroup and the svc plugin's objects.
    await eventually(lambda: _no_group(api, ns), timeout=10, what="PodGroup deleted")
    assert await _gone(api, SERVICES, "tc", ns)
    assert await _gone(api, CONFIGMAPS, "tc-svc", ns)


async def test_suspend_and_resume_through_commands(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    job = await api.create(JOBS, _job("sr", _task("worker", 2), minAvailable=2), ns)
    pods = await _bound(api, ns, "sr-", 2)
    await _running(api, ns, "sr", pods)

    await _command(api, ns, job, "AbortJob")
    status = await _phase(api, ns, "sr", "Aborted")
    assert status["version"] == 1 and status.get("retryCount", 0) == 0
    await eventually(lambda: _none_left(api, ns, "sr-"), timeout=10, what="pods killed")
    await eventually(lambda: _no_commands(api, ns), timeout=10, what="Command consumed")
    messages = await _events(api, ns, "sr", "CommandIssued")
    assert ("Start to execute command AbortJob, and clean it up to make sure executed not "
            "more than once.") in messages

    await _command(api, ns, job, "ResumeJob")
    pods = await _bound(api, ns, "sr-", 2, version=2)
    await _running(api, ns, "sr", pods)
    status = await _status(api, ns, "sr")
    assert status["retryCount"] == 1
    await eventually(lambda: _no_commands(api, ns), timeout=10, what="Command consumed")


async def _no_commands(api: APIClient, ns: str) -> bool:
    return not (await api.list(COMMANDS, ns))["items"]


async def test_pod_pending_timeout_runs_the_action_late(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    await api.create(JOBS, _job(
        "pp", _task("worker", 1), minAvailable=1,
        policies=[{"event": "PodPending", "timeout": "500ms", "action": "AbortJob"}]), ns)
    await _bound(api, ns, "pp-", 1)
    # Nobody runs the pod: half a second later the job is aborted.
    await _phase(api, ns, "pp", "Aborted")
    assert "Execute action AbortJob after 500ms" in await _events(api, ns, "pp",
                                                                  "ExecuteAction")


async def test_ttl_deletes_a_finished_job(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    await api.create(JOBS, _job("ttl", _task("worker", 1), minAvailable=1,
                                ttlSecondsAfterFinished=0), ns)
    pods = await _bound(api, ns, "ttl-", 1)
    await _running(api, ns, "ttl", pods)
    assert not await _gone(api, JOBS, "ttl", ns)
    await _set_phase(api, ns, ["ttl-worker-0"], "Succeeded")
    await eventually(lambda: _gone(api, JOBS, "ttl", ns), timeout=15, what="job deleted")
    await eventually(lambda: _none_left(api, ns, "ttl-"), timeout=15, what="pods collected")


async def test_deleting_a_job_collects_its_pods_group_service_and_configmap(
        api: APIClient, ns: str, node: str, scheduler: Start,
        controller: VCJobController) -> None:
    job = await api.create(JOBS, _job("del", _task("worker", 2), minAvailable=2,
                                      plugins={"svc": [], "env": []}), ns)
    pods = await _bound(api, ns, "del-", 2)
    await _running(api, ns, "del", pods)
    group = f"del-{job['metadata']['uid']}"
    assert not await _gone(api, SERVICES, "del", ns)
    assert not await _gone(api, CONFIGMAPS, "del-svc", ns)
    await api.delete(JOBS, "del", ns)

    async def collected() -> bool:
        return (not await _pods(api, ns, "del-") and await _gone(api, PODGROUPS, group, ns)
                and await _gone(api, SERVICES, "del", ns)
                and await _gone(api, CONFIGMAPS, "del-svc", ns))

    await eventually(collected, timeout=20, what="pods, PodGroup, Service, ConfigMap collected")
