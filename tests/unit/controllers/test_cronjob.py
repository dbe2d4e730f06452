"""The CronJob controller's pure parts: Job names and Jobs built from the template."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from kubeedge.controllers.cronjob import job_from_template, job_name


def test_cronjob_job_name_is_minutes_since_the_epoch() -> None:
    moment = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert job_name("hello", moment) == f"hello-{int(moment.timestamp()) // 60}"
    assert job_name("hello", moment) == "hello-28575960"


def test_cronjob_job_from_template() -> None:
    cron = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "ns", "uid": "u1"},
            "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"},
                                                  "annotations": {"x": "y"}},
                                     "spec": {"backoffLimit": 2}}}}
    moment = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    job = job_from_template(cron, moment, ZoneInfo("Europe/Berlin"))
    md = job["metadata"]
    assert md["name"] == "hello-28575960" and md["labels"] == {"a": "b"}
    assert md["annotations"] == {
        "x": "y", "batch.kubernetes.io/cronjob-scheduled-timestamp":
        "2024-05-01T12:00:00+02:00"}
    assert md["ownerReferences"][0]["uid"] == "u1" and md["ownerReferences"][0]["controller"]
    assert job["spec"] == {"backoffLimit": 2}
    utc = job_from_template(cron, moment, UTC)["metadata"]["annotations"]
    assert utc["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2024-05-01T10:00:00Z"
