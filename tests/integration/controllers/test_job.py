"""The Job controller against the real API server. No kubelet runs: the test plays the
node and ends pods itself (PATCH pods/<name>/status as admin with phase Succeeded or
Failed). Pods have no nodeName, so a deleted pod goes as soon as its finalizers do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.job import (
    COMPLETION_INDEX,
    TRACKING_FINALIZER,
    JobController,
)
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import Cloud, eventually

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
PODS = Resource.of("v1", "pods")
JOBS = Resource.of("batch/v1", "jobs")
EVENTS = Resource.of("v1", "events")


async def start(api: APIClient, **kwargs: Any) -> tuple[ControllerManager, JobController]:
    factory = SharedInformerFactory(api)
    recorder = EventRecorder(api, "job-controller")
    controller = JobController(api, factory, recorder, pod_failure_backoff=0.05,
                               max_pod_failure_backoff=0.2, **kwargs)
    manager = ControllerManager(api, [controller], informers=factory, recorder=recorder)
    await manager.start()
    return manager, controller


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[JobController]:
    manager, controller = await start(api)
    yield controller
    await manager.stop()


def job(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template": {"spec": {"restartPolicy": "Never",
                              "containers": [{"name": "work", "image": "busybox"}]}},
    }
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}


async def pods_of(api: APIClient, ns: str) -> list[dict[str, Any]]:
    return (await api.list(PODS, ns))["items"]


def running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if (p.get("status") or {}).get("phase") in ("Pending", "Running")
            and not meta.is_terminating(p)]


async def finish(api: APIClient, pod: dict[str, Any], phase: str, exit_code: int = 0) -> None:
    """Play the kubelet: the container ended, so the pod did."""
    code = exit_code if phase == "Failed" else 0
    stamp = meta.rfc3339(meta.now())
    await api.patch(PODS, meta.name_of(pod), {"status": {
        "phase": phase,
        "containerStatuses": [{"name": "work", "ready": False, "restartCount": 0,
                               "image": "busybox", "imageID": "",
                               "state": {"terminated": {"exitCode": code, "finishedAt": stamp,
                                                        "reason": "Completed" if code == 0
                                                        else "Error"}}}],
    }}, meta.namespace_of(pod), subresource="status")


async def job_status(api: APIClient, ns: str, name: str) -> dict[str, Any]:
    return (await api.get(JOBS, name, ns)).get("status") or {}


def condition(status: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return cond
    return None


async def events_for(api: APIClient, ns: str, name: str) -> list[tuple[str, str]]:
    items = (await api.list(EVENTS, ns))["items"]
    return [(e.get("reason", ""), e.get("message", "")) for e in items
            if (e.get("involvedObject") or {}).get("name") == name]


async def test_server_gives_jobs_a_selector_and_pod_labels(api: APIClient, ns: str) -> None:
    created = await api.create(JOBS, job("plain"), ns)
    uid = meta.metadata(created)["uid"]
    spec = created["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["job-name"] == "plain" and labels["controller-uid"] == uid


async def test_parallelism_bounds_active_pods_until_complete(
        api: APIClient, ns: str, controller: JobController, cloud: Cloud) -> None:
    await api.create(JOBS, job("five", completions=5, parallelism=2), ns)
    most_active = 0
    done = asyncio.Event()

    async def watch_pods() -> None:
        nonlocal most_active
        live: dict[str, bool] = {}
        async with api.watch(PODS, ns, resource_version="0") as stream:
            async for kind, pod in stream:
                name = meta.name_of(pod)
                if kind == "DELETED":
                    live.pop(name, None)
                else:
                    live[name] = bool(running([pod]))
                most_active = max(most_active, sum(live.values()))
                if done.is_set():
                    return

    watcher = asyncio.create_task(watch_pods())
    finished: set[str] = set()
    try:
        while True:
            status = await job_status(api, ns, "five")
            if condition(status, "Complete"):
                break
            pods = running(await pods_of(api, ns))
            fresh = [p for p in pods if meta.name_of(p) not in finished]
            assert len(pods) <= 2
            if fresh:
                await finish(api, fresh[0], "Succeeded")
                finished.add(meta.name_of(fresh[0]))
                continue
            await eventually(lambda: _changed(api, ns, finished, "five"), timeout=10,
                             what="the job controller to move on")
    finally:
        done.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert most_active <= 2
    status = await job_status(api, ns, "five")
    assert status["succeeded"] == 5 and status.get("failed", 0) == 0
    assert status["active"] == 0
    assert status.get("completionTime") and status.get("startTime")
    assert condition(status, "SuccessCriteriaMet")
    assert len(finished) == 5
    # Every pod was counted and let go.
    for pod in await pods_of(api, ns):
        assert TRACKING_FINALIZER not in (meta.metadata(pod).get("finalizers") or [])
    reasons = await events_for(api, ns, "five")
    assert ("Completed", "Job completed") in reasons
    assert any(r == "SuccessfulCreate" and m.startswith("Created pod: five-")
               for r, m in reasons)
    # kubectl reads it as kube's.
    cloud.kubectl("wait", "--for=condition=complete", "job/five", "-n", ns, "--timeout=10s")
    table = cloud.kubectl("get", "job", "five", "-n", ns).stdout
    assert "Complete" in table and "5/5" in table


async def _changed(api: APIClient, ns: str, finished: set[str], name: str) -> bool:
    status = await job_status(api, ns, name)
    if condition(status, "Complete") or condition(status, "Failed"):
        return True
    return any(meta.name_of(p) not in finished for p in running(await pods_of(api, ns)))


async def test_failures_stop_at_backoff_limit(api: APIClient, ns: str,
                                              controller: JobController) -> None:
    await api.create(JOBS, job("flaky", backoffLimit=2), ns)
    failed: set[str] = set()

    async def next_pod() -> dict[str, Any] | None:
        status = await job_status(api, ns, "flaky")
        if condition(status, "Failed"):
            return {"done": True}
        fresh = [p for p in running(await pods_of(api, ns)) if meta.name_of(p) not in failed]
        return fresh[0] if fresh else None

    while True:
        pod = await eventually(next_pod, timeout=10, what="a new pod or the Failed condition")
        if pod.get("done"):
            break
        await finish(api, pod, "Failed", exit_code=1)
        failed.add(meta.name_of(pod))
    assert len(failed) == 3  # the first try and two retries
    status = await job_status(api, ns, "flaky")
    cond = condition(status, "Failed")
    assert cond and cond["reason"] == "BackoffLimitExceeded"
    assert cond["message"] == "Job has reached the specified backoff limit"
    assert condition(status, "FailureTarget")
    assert status["failed"] == 3 and status.get("active", 0) == 0
    assert not condition(status, "Complete")
    reasons = await eventually(lambda: _has_event(api, ns, "flaky", "BackoffLimitExceeded"),
                               what="the BackoffLimitExceeded event")
    assert reasons


async def _has_event(api: APIClient, ns: str, name: str, reason: str) -> bool:
    return any(r == reason for r, _ in await events_for(api, ns, name))


async def test_counts_survive_a_controller_restart(api: APIClient, ns: str) -> None:
    manager, _ = await start(api)
    try:
        await api.create(JOBS, job("steady", completions=3, parallelism=3), ns)
        pods = await eventually(lambda: _n_running(api, ns, 3), what="three pods")
    finally:
        await manager.stop()
    # While no controller runs, two pods finish; a fresh controller counts them once.
    await finish(api, pods[0], "Succeeded")
    await finish(api, pods[1], "Failed", exit_code=2)
    manager, _ = await start(api)
    try:
        await eventually(lambda: _status_is(api, ns, "steady", succeeded=1, failed=1),
                         what="one success and one failure counted")
        replacement = await eventually(
            lambda: _n_running(api, ns, 1, exclude={meta.name_of(p) for p in pods}),
            what="a pod replacing the failed one")
        for pod in [pods[2], *replacement]:
            await finish(api, pod, "Succeeded")
        status = await eventually(lambda: _complete(api, ns, "steady"), what="Complete")
        assert status["succeeded"] == 3 and status["failed"] == 1
    finally:
        await manager.stop()


async def _n_running(api: APIClient, ns: str, n: int, exclude: set[str] | None = None
                     ) -> list[dict[str, Any]] | None:
    pods = [p for p in running(await pods_of(api, ns))
            if meta.name_of(p) not in (exclude or set())]
    return pods if len(pods) >= n else None


async def _status_is(api: APIClient, ns: str, name: str, **want: int) -> bool:
    status = await job_status(api, ns, name)
    return all(status.get(k, 0) == v for k, v in want.items())


async def _complete(api: APIClient, ns: str, name: str) -> dict[str, Any] | None:
    status = await job_status(api, ns, name)
    return status if condition(status, "Complete") else None


async def test_indexed_job_runs_each_index_once(api: APIClient, ns: str,
                                                controller: JobController) -> None:
    await api.create(JOBS, job("ix", completions=3, parallelism=3,
                               completionMode="Indexed"), ns)
    pods = await eventually(lambda: _n_running(api, ns, 3), what="three indexed pods")
    indexes = sorted(int(meta.metadata(p)["annotations"][COMPLETION_INDEX]) for p in pods)
    assert indexes == [0, 1, 2]
    for pod in pods:
        ix = meta.metadata(pod)["annotations"][COMPLETION_INDEX]
        assert pod["spec"]["hostname"] == f"ix-{ix}"
        assert meta.name_of(pod).startswith(f"ix-{ix}-")
        env = pod["spec"]["containers"][0]["env"]
        assert any(e["name"] == "JOB_COMPLETION_INDEX" for e in env)
    by_index = {int(meta.metadata(p)["annotations"][COMPLETION_INDEX]): p for p in pods}
    await finish(api, by_index[1], "Succeeded")
    await finish(api, by_index[0], "Failed", exit_code=1)
    # Index 0 comes back; index 1 never does.
    again = await eventually(lambda: _n_running(api, ns, 1, exclude={
        meta.name_of(p) for p in pods}), timeout=10, what="index 0 recreated")
    assert [meta.metadata(p)["annotations"][COMPLETION_INDEX] for p in again] == ["0"]
    await finish(api, again[0], "Succeeded")
    await finish(api, by_index[2], "Succeeded")
    status = await eventually(lambda: _complete(api, ns, "ix"), what="Complete")
    assert status["completedIndexes"] == "0-2" and status["succeeded"] == 3
    assert status["failed"] == 1


async def test_suspend_deletes_pods_without_counting_them(api: APIClient, ns: str,
                                                          controller: JobController) -> None:
    await api.create(JOBS, job("nap", parallelism=2, completions=2), ns)
    await eventually(lambda: _n_running(api, ns, 2), what="two pods")
    await api.patch(JOBS, "nap", {"spec": {"suspend": True}}, ns)

    async def suspended() -> dict[str, Any] | None:
        status = await job_status(api, ns, "nap")
        pods = await pods_of(api, ns)
        return status if condition(status, "Suspended") and not pods else None

    status = await eventually(suspended, what="Suspended with no pods left")
    assert status["active"] == 0 and status.get("failed", 0) == 0
    assert condition(status, "Suspended")["reason"] == "JobSuspended"
    await api.patch(JOBS, "nap", {"spec": {"suspend": False}}, ns)
    await eventually(lambda: _n_running(api, ns, 2), what="pods again after resume")
    status = await job_status(api, ns, "nap")
    resumed = next(c for c in status["conditions"] if c["type"] == "Suspended")
    assert resumed["status"] == "False" and resumed["reason"] == "JobResumed"


async def test_active_deadline_fails_the_job(api: APIClient, ns: str,
                                             controller: JobController) -> None:
    await api.create(JOBS, job("slow", activeDeadlineSeconds=1), ns)
    status = await eventually(lambda: _failed(api, ns, "slow"), timeout=10,
                              what="DeadlineExceeded")
    assert condition(status, "Failed")["reason"] == "DeadlineExceeded"
    assert not running(await pods_of(api, ns))


async def _failed(api: APIClient, ns: str, name: str) -> dict[str, Any] | None:
    status = await job_status(api, ns, name)
    return status if condition(status, "Failed") else None


async def test_pod_failure_policy_fail_job_and_ignore(api: APIClient, ns: str,
                                                      controller: JobController) -> None:
    policy = {"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "FailJob", "onExitCodes": {"containerName": "work", "operator": "In",
                                              "values": [3]}},
    ]}
    await api.create(JOBS, job("picky", backoffLimit=6, podFailurePolicy=policy), ns)
    first = (await eventually(lambda: _n_running(api, ns, 1), what="a pod"))[0]
    await finish(api, first, "Failed", exit_code=42)  # ignored: not a failure
    second = (await eventually(lambda: _n_running(api, ns, 1, exclude={meta.name_of(first)}),
                               what="a replacement"))[0]
    assert (await job_status(api, ns, "picky")).get("failed", 0) == 0
    await finish(api, second, "Failed", exit_code=3)
    status = await eventually(lambda: _failed(api, ns, "picky"), what="FailJob")
    cond = condition(status, "Failed")
    assert cond["reason"] == "PodFailurePolicy"
    assert "failed with exit code 3 matching FailJob rule at index 1" in cond["message"]
    assert status["failed"] == 1


async def test_ttl_after_finished_deletes_the_job(api: APIClient, ns: str,
                                                  controller: JobController) -> None:
    await api.create(JOBS, job("brief", ttlSecondsAfterFinished=0), ns)
    pod = (await eventually(lambda: _n_running(api, ns, 1), what="a pod"))[0]
    await finish(api, pod, "Succeeded")

    async def gone() -> bool:
        return not (await api.list(JOBS, ns))["items"]

    await eventually(gone, what="the finished Job deleted")


async def test_job_without_completions_is_done_after_one_success(
        api: APIClient, ns: str, controller: JobController) -> None:
    body = job("queue", parallelism=2)
    body["spec"]["completions"] = None
    await api.create(JOBS, body, ns)
    pods = await eventually(lambda: _n_running(api, ns, 2), what="two workers")
    await finish(api, pods[0], "Succeeded")
    await eventually(lambda: _status_is(api, ns, "queue", succeeded=1, active=1),
                     what="the success counted")
    # No new worker starts once one has succeeded, and the Job waits for the other.
    assert len(running(await pods_of(api, ns))) == 1
    assert not await _complete(api, ns, "queue")
    await finish(api, pods[1], "Succeeded")
    status = await eventually(lambda: _complete(api, ns, "queue"), what="Complete")
    assert status["succeeded"] == 2


async def test_deleting_a_job_releases_its_pods(api: APIClient, ns: str,
                                                controller: JobController) -> None:
    await api.create(JOBS, job("gone", parallelism=2, completions=2), ns)
    pods = await eventually(lambda: _n_running(api, ns, 2), what="two pods")
    assert all(TRACKING_FINALIZER in meta.metadata(p)["finalizers"] for p in pods)
    # Background: the Job goes at once; no garbage collector runs here to delete pods.
    await api.delete(JOBS, "gone", ns, propagation_policy="Background")

    async def released() -> bool:
        return all(TRACKING_FINALIZER not in (meta.metadata(p).get("finalizers") or [])
                   for p in await pods_of(api, ns))

    await eventually(released, what="the tracking finalizer removed from every pod")


async def test_manual_selector_job_completes(api: APIClient, ns: str,
                                             controller: JobController) -> None:
    body = job("hand", completions=2, parallelism=2, manualSelector=True,
               selector={"matchLabels": {"app": "hand"}})
    body["spec"]["template"]["metadata"] = {"labels": {"app": "hand"}}
    await api.create(JOBS, body, ns)
    pods = await eventually(lambda: _n_running(api, ns, 2), what="two pods")
    for pod in pods:
        assert meta.labels_of(pod)["app"] == "hand"
        await finish(api, pod, "Succeeded")
    status = await eventually(lambda: _complete(api, ns, "hand"), what="Complete")
    assert status["succeeded"] == 2
