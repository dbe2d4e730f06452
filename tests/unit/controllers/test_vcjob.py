"""Pure parts of Volcano's job controller (specs/volcano.md §1.3): defaults, the
PodGroup, pods, counts and the phase machine."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.controllers.vcjob import (
    count_patch,
    job_phase,
    job_pod,
    min_available,
    min_resources,
    podgroup_for_job,
    task_counts,
    tasks_of,
)

Obj = dict[str, Any]


def _task(name: str, replicas: int, cpu: str = "1", min_available: int | None = None) -> Obj:
    task: Obj = {"name": name, "replicas": replicas, "template": {"spec": {"containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}}}
    if min_available is not None:
        task["minAvailable"] = min_available
    return task


def _job(*tasks: Obj, **spec: Any) -> Obj:
    return {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "ns", "uid": "u1"},
            "spec": {"tasks": list(tasks), **spec}}


def _pod(task: str, phase: str) -> Obj:
    return {"metadata": {"annotations": {"volcano.sh/task-spec": task}},
            "status": {"phase": phase}}


def test_defaults() -> None:
    job = _job({"replicas": 2}, _task("w", 3, min_available=1))
    assert [t["name"] for t in tasks_of(job)] == ["default0", "w"]
    assert min_available(job) == 3
    assert min_available(_job(_task("w", 3), minAvailable=2)) == 2


def test_min_resources_counts_task_minimums_first() -> None:
    job = _job(_task("a", 3, cpu="1", min_available=1), _task("b", 2, cpu="500m"),
               minAvailable=4)
    # a x1 + b x2 (their minimums), then one more a.
    assert min_resources(job) == {"cpu": "3"}
    assert min_resources(_job(_task("a", 2, cpu="250m"), minAvailable=1)) == {"cpu": "250m"}


def test_min_resources_count_a_limit_without_a_request() -> None:
    # As pod defaulting would: requests default to limits, so GPUs given only under
    # limits are part of the gang's minimum.
    task = _task("w", 2, cpu="1")
    task["template"]["spec"]["containers"][0]["resources"]["limits"] = {
        "nvidia.com/gpu": 1, "cpu": "2"}
    assert min_resources(_job(task, minAvailable=2)) == {"cpu": "2",
                                                         "nvidia.com/gpu": "2"}


def test_podgroup() -> None:
    pg = podgroup_for_job(_job(_task("ps", 1), _task("w", 2), minAvailable=3, queue="q",
                               priorityClassName="high"))
    assert pg["metadata"]["name"] == "j-u1"
    assert pg["spec"] == {"minMember": 3, "minTaskMember": {"ps": 1, "w": 2}, "queue": "q",
                          "minResources": {"cpu": "3"}, "priorityClassName": "high"}
    [owner] = pg["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": "j",
                     "uid": "u1", "controller": True, "blockOwnerDeletion": True}


def test_pod() -> None:
    job = _job(_task("w", 2), plugins={"env": []}, schedulerName="")
    pod = job_pod(job, tasks_of(job)[0], 1)
    assert pod["metadata"]["name"] == "j-w-1"
    assert pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == "j-u1"
    assert pod["metadata"]["labels"]["volcano.sh/task-index"] == "1"
    assert pod["spec"]["schedulerName"] == "volcano"
    assert pod["spec"]["containers"][0]["env"] == [
        {"name": "VK_TASK_INDEX", "value": "1"}, {"name": "VC_TASK_INDEX", "value": "1"}]
    assert "hostname" not in pod["spec"]


def test_counts_and_patch() -> None:
    counts, per_task = task_counts([_pod("a", "Running"), _pod("a", "Succeeded"),
                                    _pod("b", "Pending")])
    assert (counts["running"], counts["succeeded"], counts["pending"]) == (1, 1, 1)
    assert per_task == {"a": {"phase": {"Running": 1, "Succeeded": 1}},
                        "b": {"phase": {"Pending": 1}}}
    assert count_patch({"a": {"phase": {"Pending": 2}}, "c": {"phase": {}}},
                       {"a": {"phase": {"Running": 2}}}) == {
        "a": {"phase": {"Running": 2, "Pending": None}}, "c": None}


@pytest.mark.parametrize(("phase", "phases", "want"), [
    ("Pending", ["Pending", "Running", "Running"], "Pending"),
    ("Pending", ["Running", "Running", "Succeeded"], "Running"),
    ("Running", ["Succeeded", "Succeeded", "Running"], "Running"),
    ("Running", ["Succeeded", "Succeeded", "Succeeded"], "Completed"),
    ("Running", ["Succeeded", "Succeeded", "Failed"], "Failed"),
    ("Running", ["Pending", "Running", "Running"], "Pending"),
    ("Completed", ["Running", "Running", "Running"], "Completed"),
])
def test_phase(phase: str, phases: list[str], want: str) -> None:
    job = _job(_task("w", 3), minAvailable=3)
    counts, per_task = task_counts([_pod("w", p) for p in phases])
    assert job_phase(phase, job, counts, per_task) == want


def test_phase_min_success_and_task_minimum() -> None:
    job = _job(_task("w", 3), minAvailable=2, minSuccess=1)
    counts, per_task = task_counts([_pod("w", "Succeeded"), _pod("w", "Running"),
                                    _pod("w", "Running")])
    assert job_phase("Running", job, counts, per_task) == "Completed"
    job = _job(_task("a", 1, min_available=1), _task("b", 2, min_available=1), minAvailable=2)
    counts, per_task = task_counts([_pod("a", "Failed"), _pod("b", "Succeeded"),
                                    _pod("b", "Succeeded")])
    assert job_phase("Running", job, counts, per_task) == "Failed"


def test_pod_carries_what_the_scheduler_reads_from_the_job() -> None:
    job = _job(_task("w", 1))
    job["metadata"]["annotations"] = {"volcano.sh/preemptable": "true",
                                      "volcano.sh/jdb-min-available": "1",
                                      "volcano.sh/jdb-max-unavailable": "2",
                                      "volcano.sh/task-topology-affinity": "w"}
    job["metadata"]["labels"] = {"volcano.sh/cooldown-time": "60s", "team": "a"}
    job["spec"]["tasks"][0]["topologyPolicy"] = "best-effort"
    pod = job_pod(job, tasks_of(job)[0], 0)
    annotations = pod["metadata"]["annotations"]
    assert annotations["volcano.sh/preemptable"] == "true"
    assert annotations["volcano.sh/jdb-min-available"] == "1"
    assert "volcano.sh/jdb-max-unavailable" not in annotations
    assert annotations["volcano.sh/numa-topology-policy"] == "best-effort"
    assert pod["metadata"]["labels"]["volcano.sh/cooldown-time"] == "60s"
    assert "team" not in pod["metadata"]["labels"]
    # The PodGroup gets all of the Job's annotations (task-topology is read there).
    group = podgroup_for_job(job)
    assert group["metadata"]["annotations"]["volcano.sh/task-topology-affinity"] == "w"


def test_min_available_zero_means_the_default() -> None:
    assert min_available(_job(_task("w", 3, min_available=2), minAvailable=0)) == 2
