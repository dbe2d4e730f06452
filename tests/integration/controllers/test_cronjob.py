"""The CronJob controller against the real API server, on a clock the test moves: no
test waits for a real minute. No Job controller runs; the test plays it and finishes
Jobs by writing their status as admin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.cronjob import SCHEDULED_TIMESTAMP, CronJobController
from kubeedge.controllers.runtime import Controller
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
JOBS = Resource.of("batch/v1", "jobs")
CRONJOBS = Resource.of("batch/v1", "cronjobs")
EVENTS = Resource.of("v1", "events")


class JumpClock:
    """Unix time that moves only when the test jumps it; every sleeper whose time has
    come wakes after the jump, so each sees the new time (no stops on the way)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, fut))
        await fut

    def jump(self, seconds: float) -> None:
        self.t += seconds
        keep = []
        for when, fut in self._sleepers:
            if fut.done():
                continue
            if when <= self.t:
                fut.set_result(None)
            else:
                keep.append((when, fut))
        self._sleepers = keep


@pytest.fixture
def clock() -> JumpClock:
    # Half past the minute after next: a CronJob created now has exactly one start
    # (the minute before the clock) already due.
    return JumpClock((time.time() // 60) * 60 + 150)


@pytest.fixture
async def controller(api: APIClient, clock: JumpClock) -> AsyncIterator[Controller]:
    async with running(api, lambda f: CronJobController(api, f, clock=clock)) as (
            controller,):
        yield controller


def cronjob(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "* * * * *",
        "jobTemplate": {
            "metadata": {"labels": {"cron": name}},
            "spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "tick", "image": "busybox"}]}}},
        },
    }
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}


async def jobs_in(api: APIClient, ns: str) -> dict[str, dict[str, Any]]:
    return {meta.name_of(j): j for j in (await api.list(JOBS, ns))["items"]
            if not meta.is_terminating(j)}


async def wait_job(api: APIClient, ns: str, name: str) -> dict[str, Any]:
    async def present() -> dict[str, Any] | None:
        return (await jobs_in(api, ns)).get(name)

    return await eventually(present, timeout=10, what=f"job {name}")


def due_job(cron_name: str, clock: JumpClock) -> str:
    """The Job for the latest minute at or before the clock."""
    return f"{cron_name}-{int(clock.t // 60)}"


async def finish_job(api: APIClient, ns: str, name: str, condition: str) -> None:
    """Play the Job controller."""
    stamp = meta.rfc3339(meta.now())
    status: dict[str, Any] = {"startTime": stamp, "conditions": [
        {"type": condition, "status": "True", "lastProbeTime": stamp,
         "lastTransitionTime": stamp}]}
    if condition == "Complete":
        status.update(completionTime=stamp, succeeded=1)
    else:
        status.update(failed=1)
    await api.patch(JOBS, name, {"status": status}, ns, subresource="status")


async def events_for(api: APIClient, ns: str, name: str) -> list[tuple[str, str]]:
    items = (await api.list(EVENTS, ns))["items"]
    return [(e.get("reason", ""), e.get("message", "")) for e in items
            if (e.get("involvedObject") or {}).get("name") == name]


async def has_event(api: APIClient, ns: str, name: str, reason: str, text: str = "") -> bool:
    return any(r == reason and text in m for r, m in await events_for(api, ns, name))


async def cron_status(api: APIClient, ns: str, name: str) -> dict[str, Any]:
    return (await api.get(CRONJOBS, name, ns)).get("status") or {}


async def test_every_minute_creates_jobs_and_keeps_history_limits(
        api: APIClient, ns: str, clock: JumpClock, controller: CronJobController,
        cloud: Cloud) -> None:
    created = await api.create(CRONJOBS, cronjob("tick", successfulJobsHistoryLimit=2,
                                                 failedJobsHistoryLimit=1), ns)
    made: list[str] = []
    outcomes = ["Complete", "Failed", "Complete", "Failed", "Complete", "Complete"]
    for i, outcome in enumerate(outcomes):
        if i:
            clock.jump(60)
        name = due_job("tick", clock)
        job = await wait_job(api, ns, name)
        made.append(name)
        md = meta.metadata(job)
        ref = md["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "CronJob", "tick", meta.metadata(created)["uid"], True)
        assert md["labels"]["cron"] == "tick"
        scheduled = meta.parse_time(md["annotations"][SCHEDULED_TIMESTAMP])
        assert scheduled is not None and int(scheduled.timestamp()) == int(clock.t // 60) * 60
        await eventually(lambda n=name: _active_names(api, ns, "tick", {n}),
                         what=f"{name} active")
        await finish_job(api, ns, name, outcome)
        await eventually(lambda: _active_names(api, ns, "tick", set()),
                         what=f"{name} no longer active")

    succeeded = [n for n, o in zip(made, outcomes, strict=True) if o == "Complete"]
    failed = [n for n, o in zip(made, outcomes, strict=True) if o == "Failed"]

    async def trimmed() -> bool:
        names = set(await jobs_in(api, ns))
        return names == {*succeeded[-2:], failed[-1]}

    await eventually(trimmed, what="two successful and one failed Job kept")
    status = await cron_status(api, ns, "tick")
    assert meta.parse_time(status["lastScheduleTime"]).timestamp() == int(clock.t // 60) * 60
    assert status.get("lastSuccessfulTime")
    assert not status.get("active")
    reasons = await events_for(api, ns, "tick")
    assert ("SuccessfulCreate", f"Created job {made[0]}") in reasons
    assert ("SawCompletedJob", f"Saw completed job: {made[0]}, condition: Complete") in reasons
    assert ("SuccessfulDelete", f"Deleted job {made[0]}") in reasons
    table = cloud.kubectl("get", "cronjob", "tick", "-n", ns).stdout
    assert "* * * * *" in table


async def _active_names(api: APIClient, ns: str, name: str, want: set[str]) -> bool:
    status = await cron_status(api, ns, name)
    return {ref["name"] for ref in status.get("active") or []} == want


async def test_forbid_waits_for_the_running_job(api: APIClient, ns: str, clock: JumpClock,
                                                controller: CronJobController) -> None:
    await api.create(CRONJOBS, cronjob("solo", concurrencyPolicy="Forbid"), ns)
    first = due_job("solo", clock)
    await wait_job(api, ns, first)
    clock.jump(60)
    await eventually(lambda: has_event(api, ns, "solo", "JobAlreadyActive"),
                     what="JobAlreadyActive")
    assert set(await jobs_in(api, ns)) == {first}
    # Once the first Job ends, the start that was held back runs.
    await finish_job(api, ns, first, "Complete")
    await wait_job(api, ns, due_job("solo", clock))


async def test_replace_deletes_the_running_job(api: APIClient, ns: str, clock: JumpClock,
                                               controller: CronJobController) -> None:
    await api.create(CRONJOBS, cronjob("swap", concurrencyPolicy="Replace"), ns)
    first = due_job("swap", clock)
    await wait_job(api, ns, first)
    clock.jump(60)
    second = due_job("swap", clock)
    await wait_job(api, ns, second)

    async def only_second() -> bool:
        return set(await jobs_in(api, ns)) == {second}

    await eventually(only_second, what="the first Job replaced")
    assert await has_event(api, ns, "swap", "SuccessfulDelete", f"Deleted job {first}")
    await eventually(lambda: _active_names(api, ns, "swap", {second}), what="active list")


async def test_starting_deadline_skips_late_starts(api: APIClient, ns: str, clock: JumpClock,
                                                   controller: CronJobController) -> None:
    # The start due 30 s before the clock is past a 10 s deadline: like kube, the
    # controller does not look further back than the deadline, so it starts nothing.
    await api.create(CRONJOBS, cronjob("late", startingDeadlineSeconds=10), ns)
    await caught_up(api, ns, clock)
    assert not any(n.startswith("late-") for n in await jobs_in(api, ns))
    clock.jump(35)  # 5 s after the next minute: in time
    await wait_job(api, ns, due_job("late", clock))


async def caught_up(api: APIClient, ns: str, clock: JumpClock) -> None:
    """A marker CronJob created last has its Job and status, so the CronJobs created
    before it have had their pass at the current time (keys are queued in event order,
    and a pass decides by the clock as it starts)."""
    await api.create(CRONJOBS, cronjob("marker"), ns)
    name = due_job("marker", clock)
    await wait_job(api, ns, name)
    await eventually(lambda: _active_names(api, ns, "marker", {name}), what="marker synced")


async def test_suspended_cronjob_starts_nothing_until_resumed(
        api: APIClient, ns: str, clock: JumpClock, controller: CronJobController) -> None:
    await api.create(CRONJOBS, cronjob("idle", suspend=True), ns)
    await caught_up(api, ns, clock)
    assert not any(n.startswith("idle-") for n in await jobs_in(api, ns))
    await api.patch(CRONJOBS, "idle", {"spec": {"suspend": False}}, ns)
    await wait_job(api, ns, due_job("idle", clock))


async def test_kubectl_create_job_from_cronjob(api: APIClient, ns: str, cloud: Cloud,
                                               controller: CronJobController) -> None:
    await api.create(CRONJOBS, cronjob("manual", suspend=True), ns)
    cloud.kubectl("create", "job", "by-hand", "--from=cronjob/manual", "-n", ns)
    job = (await jobs_in(api, ns))["by-hand"]
    md = meta.metadata(job)
    assert md["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert md["ownerReferences"][0]["kind"] == "CronJob"
    assert job["spec"]["template"]["spec"]["containers"][0]["name"] == "tick"
    # Like kube, the controller reports a Job it did not schedule.
    await eventually(lambda: has_event(api, ns, "manual", "UnexpectedJob", "by-hand"),
                     what="UnexpectedJob")
