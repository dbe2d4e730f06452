"""The CronJob controller (kube's cronjob controller v2): creates a Job for each
schedule time of a CronJob, named `<cronjob>-<minutes since the epoch>`, honouring
`startingDeadlineSeconds`, `concurrencyPolicy` (Allow, Forbid, Replace), `suspend`,
`timeZone` and the history limits, and keeps `status.active`, `lastScheduleTime` and
`lastSuccessfulTime`.

Each CronJob is requeued for its next schedule time on an injectable clock (Unix
time), so tests move time instead of waiting for it; `cronjobSyncPeriodSeconds` is a
safety net on top. Owns CronJob status and the Jobs it creates; never touches a Job's
pods (the Job controller and the garbage collector do).
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.events import NORMAL, WARNING, EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, split_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import cron
from kubeedge.controllers import pods as podutil
from kubeedge.controllers.job import (
    JOBS,
    WakeUps,
    WallClock,
    finished_condition,
    newer_copy,
    wall_time,
)
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CRONJOBS = ResourceRef("batch", "v1", "cronjobs", True, "CronJob")
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# kube requeues a little after the schedule time so the time has surely passed.
NEXT_SCHEDULE_DELTA = 0.1
TOO_MANY_MISSED = 100


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """`<cronjob>-<scheduled time in minutes since the epoch>` (kube's getJobName)."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cronjob: Obj, scheduled: datetime, zone: tzinfo) -> Obj:
    """The Job for one schedule time: the CronJob's jobTemplate, its labels and
    annotations, the scheduled-time annotation, and the CronJob as controller."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmpl_md = template.get("metadata") or {}
    annotations = dict(tmpl_md.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = scheduled.astimezone(zone).isoformat().replace(
        "+00:00", "Z")
    md: Obj = {
        "name": job_name(meta.name_of(cronjob), scheduled),
        "namespace": meta.namespace_of(cronjob),
        "labels": dict(tmpl_md.get("labels") or {}),
        "annotations": annotations,
        "ownerReferences": [podutil.new_controller_ref(cronjob)],
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def job_reference(job: Obj) -> Obj:
    md = job.get("metadata") or {}
    return {"kind": "Job", "namespace": md.get("namespace", ""), "name": md.get("name", ""),
            "uid": md.get("uid", ""), "apiVersion": "batch/v1",
            "resourceVersion": md.get("resourceVersion", "")}


def _start_key(job: Obj) -> tuple[int, str, str]:
    start = (job.get("status") or {}).get("startTime")
    return (0 if start else 1, start or "", meta.name_of(job))


def _rfc1123z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


class CronJobController(Controller):
    """kube's cronjob controller v2. `clock` (Unix time) decides what is due."""

    name = "cronjob-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 clock: Clock | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_cronjob_syncs
        self.clock: Clock = clock or WallClock()
        self.wakeups = WakeUps(self.clock, self.queue)
        # The CronJob as this controller last wrote it, per key (the cache may lag).
        self._written: dict[str, Obj] = {}

    def setup(self) -> None:
        self.cronjobs = self.informer(CRONJOBS)
        self.jobs = self.informer(JOBS)
        self.cronjobs.add_event_handler(
            on_add=lambda cj: self.queue.add(self._key(cj)),
            on_update=self._cronjob_updated,
            on_delete=self._cronjob_deleted)
        self.jobs.add_event_handler(**self.enqueue_by(self._owner_key))

    async def stop(self) -> None:
        await self.wakeups.stop()
        await super().stop()

    @staticmethod
    def _key(obj: Obj) -> str:
        return f"{meta.namespace_of(obj)}/{meta.name_of(obj)}"

    def _owner_key(self, job: Obj) -> str | None:
        ref = podutil.controller_ref(job)
        if not ref or ref.get("kind") != "CronJob":
            return None
        return f"{meta.namespace_of(job)}/{ref.get('name')}"

    def _cronjob_updated(self, old: Obj, new: Obj) -> None:
        key = self._key(new)
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if (old_spec.get("schedule"), old_spec.get("timeZone")) != (
                new_spec.get("schedule"), new_spec.get("timeZone")):
            self.wakeups.forget(key)  # the old schedule's wake-up no longer applies
        self.queue.add(key)

    def _cronjob_deleted(self, cronjob: Obj) -> None:
        key = self._key(cronjob)
        self.wakeups.forget(key)
        self._written.pop(key, None)

    # -- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.cronjobs.store.get(namespace, name)
        if cached is None:
            return
        cronjob = copy.deepcopy(newer_copy(cached, self._written.get(key)))
        uid = meta.metadata(cronjob).get("uid")
        children = [j for j in self.jobs.store.by_index(NAMESPACE_INDEX, namespace)
                    if (podutil.controller_ref(j) or {}).get("uid") == uid]
        sync = CronJobSync(self, key, cronjob, children)
        await sync.run()


class CronJobSync:
    """One pass over one CronJob: account for its Jobs, start the one that is due,
    trim history, write status, and ask to be woken for the next schedule time."""

    def __init__(self, ctl: CronJobController, key: str, cronjob: Obj,
                 children: list[Obj]) -> None:
        self.ctl = ctl
        self.key = key
        self.cronjob = cronjob
        self.spec: Obj = cronjob.get("spec") or {}
        self.status: Obj = copy.deepcopy(cronjob.get("status") or {})
        self.children = children
        self.now = wall_time(ctl.clock)

    def event(self, event_type: str, reason: str, message: str) -> None:
        self.ctl.recorder.event(self.cronjob, event_type, reason, message)

    async def run(self) -> None:
        await self._account_for_jobs()
        next_in: float | None = None
        if not meta.is_terminating(self.cronjob):
            next_in = await self._start_due_job()
            await self._trim_history()
        await self._write_status()
        if next_in is not None:
            period = self.ctl.config.cronjob_sync_period_seconds
            self.ctl.wakeups.after(self.key, min(next_in, period) if period > 0 else next_in)

    # -- passive: what the Jobs say ----------------------------------------------------

    async def _account_for_jobs(self) -> None:
        active: list[Obj] = list(self.status.get("active") or [])
        active_uids = {ref.get("uid") for ref in active}
        by_uid = {meta.metadata(j).get("uid"): j for j in self.children}
        for job in self.children:
            uid = meta.metadata(job).get("uid")
            done = finished_condition(job)
            if uid not in active_uids and not done:
                if self._scheduled_by_us(job):
                    # Created by a pass whose status write was lost (a restart).
                    active.append(job_reference(job))
                    active_uids.add(uid)
                else:
                    # Like kube: reported, not adopted into `active` (a manual
                    # `kubectl create job --from=cronjob/...` lands here).
                    self.event(WARNING, "UnexpectedJob",
                               f"Saw a job that the controller did not create or forgot: "
                               f"{meta.name_of(job)}")
            elif uid in active_uids and done:
                active = [ref for ref in active if ref.get("uid") != uid]
                active_uids.discard(uid)
                self.event(NORMAL, "SawCompletedJob",
                           f"Saw completed job: {meta.name_of(job)}, condition: {done}")
            if done == "Complete":
                completed = meta.parse_time((job.get("status") or {}).get("completionTime"))
                last = meta.parse_time(self.status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    self.status["lastSuccessfulTime"] = meta.rfc3339(completed)
        # Active Jobs that are gone from the cache: ask the server before dropping them.
        kept: list[Obj] = []
        for ref in active:
            if ref.get("uid") in by_uid:
                kept.append(ref)
                continue
            try:
                job = await self.ctl.client.get(JOBS, str(ref.get("name")),
                                                 meta.namespace_of(self.cronjob))
            except APIError as exc:
                if exc.is_not_found:
                    continue
                raise
            if meta.metadata(job).get("uid") == ref.get("uid") and not finished_condition(job):
                kept.append(ref)
        self._set_active(kept)

    def _scheduled_by_us(self, job: Obj) -> bool:
        """A Job named for a schedule time at or before lastScheduleTime is one this
        controller made and has merely not recorded yet."""
        name = meta.name_of(job)
        prefix = meta.name_of(self.cronjob) + "-"
        last = meta.parse_time(self.status.get("lastScheduleTime"))
        suffix = name.removeprefix(prefix)
        return name.startswith(prefix) and suffix.isdigit() and last is not None and \
            int(suffix) * 60 <= last.timestamp()

    def _set_active(self, refs: list[Obj]) -> None:
        if refs:
            self.status["active"] = refs
        else:
            self.status.pop("active", None)

    # -- active: start what is due -------------------------------------------------------

    def _zone(self) -> tzinfo | None:
        name = self.spec.get("timeZone")
        if not name:
            return UTC
        try:
            return cron.load_zone(str(name))
        except cron.ScheduleError as exc:
            self.event(WARNING, "UnknownTimeZone", f"invalid timeZone: {name!r}: {exc}")
            return None

    async def _start_due_job(self) -> float | None:
        """Start the Job of the most recent missed schedule time if it is still due;
        return the seconds until the next schedule time (None: do not wake)."""
        if self.spec.get("suspend"):
            return None
        zone = self._zone()
        if zone is None:
            return None
        text = str(self.spec.get("schedule") or "")
        try:
            schedule = cron.parse(text, zone)
        except cron.ScheduleError as exc:
            self.event(WARNING, "UnparseableSchedule", f"unparseable schedule: {text!r} : {exc}")
            return None
        zone = getattr(schedule, "zone", zone)
        earliest = (meta.parse_time(self.status.get("lastScheduleTime"))
                    or meta.parse_time(meta.metadata(self.cronjob).get("creationTimestamp"))
                    or self.now)
        deadline = self.spec.get("startingDeadlineSeconds")
        if deadline is not None:
            floor = self.now - timedelta(seconds=int(deadline))
            earliest = max(earliest, floor)
        scheduled, missed = cron.most_recent_schedule_time(schedule, earliest, self.now,
                                                           TOO_MANY_MISSED)
        if missed > TOO_MANY_MISSED:
            self.event(WARNING, "TooManyMissedTimes",
                       "too many missed start times. Set or decrease "
                       ".spec.startingDeadlineSeconds or check clock skew")
        next_in = self._next_in(schedule, scheduled or earliest)
        if scheduled is None:
            return next_in
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < self.now:
            self.event(WARNING, "MissSchedule",
                       f"Missed scheduled time to start a job: {_rfc1123z(scheduled)}")
            return next_in
        name = job_name(meta.name_of(self.cronjob), scheduled)
        active = self.status.get("active") or []
        last = meta.parse_time(self.status.get("lastScheduleTime"))
        if any(ref.get("name") == name for ref in active) or (last is not None
                                                              and last >= scheduled):
            return next_in  # this schedule time was handled already
        policy = self.spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.event(NORMAL, "JobAlreadyActive",
                       "Not starting job because prior execution is running and concurrency "
                       "policy is Forbid")
            return next_in
        if policy == "Replace":
            for ref in list(active):
                await self._delete_job(str(ref.get("name")), str(ref.get("uid")))
            self._set_active([])
        job = job_from_template(self.cronjob, scheduled, zone)
        try:
            created = await self.ctl.client.create(JOBS, job, meta.namespace_of(self.cronjob))
        except APIError as exc:
            if not exc.is_already_exists:
                self.event(WARNING, "FailedCreate", f"Error creating job: {exc}")
                raise
            # Made by an earlier pass whose status write was lost: take it as ours.
            created = await self.ctl.client.get(JOBS, name, meta.namespace_of(self.cronjob))
            if (podutil.controller_ref(created) or {}).get("uid") != meta.metadata(
                    self.cronjob).get("uid"):
                self.event(WARNING, "FailedCreate",
                           f"Error creating job: job {name} exists and is not ours")
                return next_in
        else:
            self.event(NORMAL, "SuccessfulCreate", f"Created job {name}")
        if not finished_condition(created) and not any(
                ref.get("uid") == meta.metadata(created).get("uid")
                for ref in self.status.get("active") or []):
            self._set_active([*(self.status.get("active") or []), job_reference(created)])
        self.status["lastScheduleTime"] = meta.rfc3339(scheduled)
        return next_in

    def _next_in(self, schedule: cron.Schedule, after: datetime) -> float | None:
        following = schedule.next(max(after, self.now) if isinstance(
            schedule, cron.CronSchedule) else after)
        while following is not None and following <= self.now:
            following = schedule.next(following)
        if following is None:
            return None
        return (following - self.now).total_seconds() + NEXT_SCHEDULE_DELTA

    async def _delete_job(self, name: str, uid: str) -> None:
        try:
            await self.ctl.client.delete(JOBS, name, meta.namespace_of(self.cronjob),
                                         propagation_policy="Background",
                                         preconditions={"uid": uid} if uid else None)
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                self.event(WARNING, "FailedDelete", f"Deleted job: {exc}")
                raise
            return
        self.event(NORMAL, "SuccessfulDelete", f"Deleted job {name}")

    async def _trim_history(self) -> None:
        """Keep the newest `successfulJobsHistoryLimit` Complete and
        `failedJobsHistoryLimit` Failed Jobs; delete older ones."""
        limits = {"Complete": self.spec.get("successfulJobsHistoryLimit"),
                  "Failed": self.spec.get("failedJobsHistoryLimit")}
        for condition, limit in limits.items():
            if limit is None:
                continue
            done = sorted((j for j in self.children if finished_condition(j) == condition
                           and not meta.is_terminating(j)), key=_start_key)
            extra = len(done) - int(limit)
            for job in done[:max(extra, 0)]:
                uid = str(meta.metadata(job).get("uid"))
                await self._delete_job(meta.name_of(job), uid)
                self._set_active([r for r in self.status.get("active") or []
                                  if r.get("uid") != uid])

    async def _write_status(self) -> None:
        if self.status == (self.cronjob.get("status") or {}):
            return
        body = copy.deepcopy(self.cronjob)
        body["status"] = self.status
        written = await self.ctl.client.update_status(CRONJOBS, body)
        self.ctl._written[self.key] = written
