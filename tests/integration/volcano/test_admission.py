"""Volcano's admission inside the API server, driven with kubectl and the `kubernetes`
Python client (specs/volcano.md §1): a bad vcjob is refused with 422 and field causes,
never half-created; a closed queue refuses new vcjobs and PodGroups; Volcano's create
defaults are on the stored objects; `default` and `root` are never deleted."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.volcano_crds import JOBS, PODGROUPS, QUEUES
from tests.fixtures.cluster import Cloud
from tests.fixtures.volcano import ensure_queue

pytestmark = pytest.mark.usefixtures("crds")

NAMESPACES = Resource.of("v1", "namespaces")
Obj = dict[str, Any]


@pytest.fixture
async def default_queue(api: APIClient) -> str:
    """The `default` queue (no queue controller runs here: its state stays unset, which
    admission reads as Open, as the controller does)."""
    return await ensure_queue(api)


@pytest.fixture
async def queues(api: APIClient) -> AsyncIterator[list[str]]:
    """Names of queues a test made, deleted afterwards children first."""
    made: list[str] = []
    yield made
    for name in reversed(made):
        try:
            await api.delete(QUEUES, name)
        except APIError as exc:
            if not exc.is_not_found:
                raise


@pytest.fixture
def objects(cloud: Cloud) -> Iterator[k8s.CustomObjectsApi]:
    api_client = k8s_config.new_client_from_config(config_file=str(cloud.kubeconfig))
    try:
        yield k8s.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def _queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


async def _queue(api: APIClient, made: list[str], *, state: str = "", **spec: Any) -> str:
    name = _queue_name()
    await api.create(QUEUES, {"metadata": {"name": name}, "spec": spec})
    made.append(name)
    if state:
        await api.patch(QUEUES, name, {"status": {"state": state}}, subresource="status")
    return name


def _task(name: str, replicas: int, **extra: Any) -> Obj:
    return {"name": name, "replicas": replicas, **extra, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox"}]}}}


def _job(name: str, *tasks: Obj, **spec: Any) -> Obj:
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": {"name": name},
            "spec": {"tasks": list(tasks) or [_task("worker", 2)], **spec}}


async def _refused(call: Any) -> APIError:
    with pytest.raises(APIError) as info:
        await call
    return info.value


def _fields(err: APIError) -> dict[str, str]:
    return {c["field"]: c["message"] for c in err.details.get("causes") or []}


async def _names(api: APIClient, ref: Any, ns: str | None = None) -> list[str]:
    return [o["metadata"]["name"] for o in (await api.list(ref, ns)).get("items") or []]


# -- jobs ------------------------------------------------------------------------------


async def test_bad_vcjob_is_refused_with_422_causes_and_nothing_stored(
        api: APIClient, ns: str, default_queue: str,
        objects: k8s.CustomObjectsApi) -> None:
    body = _job("bad", _task("a", 1, minAvailable=2), _task("a", 1), minAvailable=5,
                plugins={"nope": []},
                policies=[{"event": "PodRunning", "action": "RestartJob"},
                          {"exitCode": 0, "action": "RestartJob"}])
    with pytest.raises(k8s.ApiException) as info:
        objects.create_namespaced_custom_object("batch.volcano.sh", "v1alpha1", ns, "jobs",
                                                body)
    assert info.value.status == 422
    status = json.loads(info.value.body)
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('Job.batch.volcano.sh "bad" is invalid: [')
    causes = {c["field"]: c for c in status["details"]["causes"]}
    assert causes["spec.tasks[0].minAvailable"]["message"] == (
        "Invalid value: 2: 'minAvailable' is greater than 'replicas' in task: a, job: bad")
    assert causes["spec.tasks[1].name"]["reason"] == "FieldValueDuplicate"
    assert "should not be greater than total replicas" in causes["spec.minAvailable"]["message"]
    assert causes["spec.plugins[nope]"]["reason"] == "FieldValueNotSupported"
    assert causes["spec.policies[0].event"]["message"].startswith(
        'Unsupported value: "PodRunning"')
    assert "0 is not a valid error code" in causes["spec.policies[1].exitCode"]["message"]
    assert await _names(api, JOBS, ns) == []


async def test_pod_template_is_validated_under_the_task(api: APIClient, ns: str,
                                                        default_queue: str) -> None:
    task = _task("worker", 1)
    task["template"]["spec"]["containers"][0].pop("image")
    task["template"]["spec"]["restartPolicy"] = "Sometimes"
    err = await _refused(api.create(JOBS, _job("tmpl", task), ns))
    assert err.code == 422
    fields = _fields(err)
    assert fields["spec.tasks[0].template.spec.containers[0].image"] == "Required value"
    assert fields["spec.tasks[0].template.spec.restartPolicy"].startswith(
        'Unsupported value: "Sometimes"')
    assert await _names(api, JOBS, ns) == []


def test_kubectl_apply_of_a_bad_vcjob_prints_the_422_and_exits_non_zero(
        crds: Cloud, ns: str, default_queue: str) -> None:
    manifest = """
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata:
  name: greedy
spec:
  minAvailable: 3
  tasks:
  - name: worker
    replicas: 2
    maxRetry: 3
    template:
      spec:
        containers:
        - name: c
          image: busybox
"""
    proc = crds.kubectl("apply", "-n", ns, "-f", "-", input=manifest, check=False)
    assert proc.returncode != 0
    assert 'Job.batch.volcano.sh "greedy" is invalid: spec.minAvailable: Invalid value: 3: ' \
           "job 'minAvailable' should not be greater than total replicas in tasks" in proc.stderr
    out = crds.kubectl("get", "vcjob", "-n", ns, check=False)
    assert "No resources found" in out.stderr
    # The same job within its replicas is taken; applied again, and resized, it is an
    # update Volcano allows (a merge patch replaces the task list, so the manifest keeps
    # the task's maxRetry, which Volcano's defaulting wrote and updates may not drop).
    fixed = manifest.replace("minAvailable: 3", "minAvailable: 2")
    assert "created" in crds.kubectl("apply", "-n", ns, "-f", "-", input=fixed).stdout
    crds.kubectl("apply", "-n", ns, "-f", "-", input=fixed)
    resized = fixed.replace("replicas: 2", "replicas: 4")
    assert "configured" in crds.kubectl("apply", "-n", ns, "-f", "-", input=resized).stdout
    moved = fixed.replace("  tasks:", "  queue: elsewhere\n  tasks:")
    proc = crds.kubectl("apply", "-n", ns, "-f", "-", input=moved, check=False)
    assert proc.returncode != 0
    assert "job updates may not change fields other than" in proc.stderr


async def test_defaults_are_on_the_created_job(ns: str, default_queue: str,
                                               objects: k8s.CustomObjectsApi) -> None:
    unnamed = _task("", 2)
    unnamed["template"]["spec"]["hostNetwork"] = True
    body = _job("defaults", unnamed, _task("worker", 3, minAvailable=1), maxRetry=0,
                plugins={"pytorch": ["--master=default0"]})
    job = objects.create_namespaced_custom_object("batch.volcano.sh", "v1alpha1", ns, "jobs",
                                                  body)
    spec = job["spec"]
    assert (spec["schedulerName"], spec["queue"], spec["maxRetry"]) == ("volcano", "default", 3)
    assert [t["name"] for t in spec["tasks"]] == ["default0", "worker"]
    assert [t["minAvailable"] for t in spec["tasks"]] == [2, 1]
    assert [t["maxRetry"] for t in spec["tasks"]] == [3, 3]
    assert spec["minAvailable"] == 3
    assert spec["plugins"] == {"pytorch": ["--master=default0"], "svc": []}
    assert spec["tasks"][0]["template"]["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"
    # Volcano validates the template with kube's defaults but stores it as written.
    assert "dnsPolicy" not in spec["tasks"][1]["template"]["spec"]
    got = objects.get_namespaced_custom_object("batch.volcano.sh", "v1alpha1", ns, "jobs",
                                               "defaults")
    assert got["spec"] == spec


async def test_mpi_adds_svc_and_ssh_and_needs_its_master(api: APIClient, ns: str,
                                                         default_queue: str) -> None:
    err = await _refused(api.create(JOBS, _job("nomaster", plugins={"mpi": []}), ns))
    assert "The specified mpi master task was not found" in _fields(err)["spec.plugins[mpi]"]
    job = await api.create(JOBS, _job("mpi", _task("master", 1), _task("worker", 2),
                                      plugins={"mpi": []}), ns)
    assert job["spec"]["plugins"] == {"mpi": [], "svc": [], "ssh": []}


async def test_closed_queue_refuses_new_vcjobs_and_podgroups(
        api: APIClient, ns: str, queues: list[str]) -> None:
    queue = await _queue(api, queues, state="Closed")
    err = await _refused(api.create(JOBS, _job("late", queue=queue), ns))
    assert err.code == 422
    assert _fields(err)["spec.queue"] == (
        f'Invalid value: "{queue}": can only submit job to queue with state `Open`, '
        f"queue `{queue}` status is `Closed`")
    err = await _refused(api.create(PODGROUPS, {"metadata": {"name": "late"},
                                                "spec": {"minMember": 1, "queue": queue}}, ns))
    assert err.code == 422
    assert f"can only submit PodGroup to queue with state `Open`, queue `{queue}` status is " \
           "`Closed`" in err.message
    assert await _names(api, JOBS, ns) == [] and await _names(api, PODGROUPS, ns) == []
    # Reopened, it takes them.
    await api.patch(QUEUES, queue, {"status": {"state": "Open"}}, subresource="status")
    await api.create(JOBS, _job("late", queue=queue), ns)
    await api.create(PODGROUPS, {"metadata": {"name": "late"},
                                 "spec": {"minMember": 1, "queue": queue}}, ns)


async def test_job_goes_only_to_an_existing_leaf_queue(api: APIClient, ns: str,
                                                       queues: list[str]) -> None:
    err = await _refused(api.create(JOBS, _job("lost", queue="no-such-queue"), ns))
    assert _fields(err)["spec.queue"] == (
        'Invalid value: "no-such-queue": unable to find job queue: '
        'queue.scheduling.volcano.sh "no-such-queue" not found')
    parent = await _queue(api, queues)
    await _queue(api, queues, parent=parent)
    err = await _refused(api.create(JOBS, _job("inner", queue=parent), ns))
    assert f"can only submit job to leaf queue, queue `{parent}` has 1 child queues" in (
        _fields(err)["spec.queue"])
    assert await _names(api, JOBS, ns) == []


async def test_job_updates_change_only_sizes_and_priority(api: APIClient, ns: str,
                                                          default_queue: str,
                                                          queues: list[str]) -> None:
    await api.create(JOBS, _job("sized", _task("ps", 1), _task("worker", 2)), ns)
    patched = await api.patch(JOBS, "sized", {"spec": {
        "minAvailable": 2, "priorityClassName": "high",
        "tasks": [_task("ps", 1, maxRetry=3), _task("worker", 4, minAvailable=1, maxRetry=3)]}},
        ns)
    assert patched["spec"]["tasks"][1]["replicas"] == 4
    other = await _queue(api, queues)
    err = await _refused(api.patch(JOBS, "sized", {"spec": {"queue": other}}, ns))
    assert err.code == 422
    assert _fields(err)["spec"] == (
        "Forbidden: job updates may not change fields other than `minAvailable`, "
        "`tasks[*].replicas under spec` and `PriorityClassName`")
    err = await _refused(api.patch(JOBS, "sized", {"spec": {"minAvailable": 1,
                                                              "tasks": [_task("ps", 1)]}}, ns))
    assert _fields(err)["spec.tasks"] == "Forbidden: job updates may not add or remove tasks"
    err = await _refused(api.patch(JOBS, "sized", {"spec": {"minAvailable": 9}}, ns))
    assert "must not be greater than total replicas" in _fields(err)["spec.minAvailable"]
    # The controller's status writes are not the webhook's business.
    await api.patch(JOBS, "sized", {"status": {"state": {"phase": "Pending"}}}, ns,
                    subresource="status")
    assert (await api.get(JOBS, "sized", ns))["spec"]["queue"] == "default"


# -- podgroups -------------------------------------------------------------------------


async def test_podgroup_in_default_goes_to_its_namespace_queue(
        api: APIClient, queues: list[str], default_queue: str) -> None:
    queue = await _queue(api, queues)
    ns = f"a-{uuid.uuid4().hex[:8]}"
    await api.create(NAMESPACES, {"metadata": {
        "name": ns, "annotations": {"scheduling.volcano.sh/queue-name": queue}}})
    pg = await api.create(PODGROUPS, {"metadata": {"name": "pg"}, "spec": {"minMember": 1}}, ns)
    assert pg["spec"]["queue"] == queue
    err = await _refused(api.create(PODGROUPS, {"metadata": {"name": "lost"}, "spec": {
        "minMember": 1, "queue": "no-such-queue"}}, ns))
    assert 'unable to find queue: queue.scheduling.volcano.sh "no-such-queue" not found' in (
        _fields(err)["spec.queue"])
    await api.delete_collection(PODGROUPS, ns)


# -- queues ----------------------------------------------------------------------------


async def test_queue_resources_are_checked(api: APIClient, queues: list[str]) -> None:
    err = await _refused(api.create(QUEUES, {"metadata": {"name": _queue_name()}, "spec": {
        "capability": {"cpu": "2"}, "deserved": {"cpu": "4"}}}))
    assert err.code == 422
    assert _fields(err)["spec.deserved[cpu]"] == (
        'Invalid value: "4": deserved[cpu]=4 must be <= capability[cpu]=2')
    err = await _refused(api.create(QUEUES, {"metadata": {"name": _queue_name()}, "spec": {
        "guarantee": {"resource": {"memory": "1Gi"}}}}))
    assert "deserved[memory] must be >= guarantee[memory]=1Gi" in (
        _fields(err)["spec.deserved[memory]"])
    err = await _refused(api.create(QUEUES, {"metadata": {"name": _queue_name()}, "spec": {
        "capability": {"nvidia.com/gpu": "0.5"}}}))
    assert _fields(err)["spec.capability[nvidia.com/gpu]"].endswith("must be an integer")
    name = await _queue(api, queues, capability={"cpu": "4"}, deserved={"cpu": "2"},
                        guarantee={"resource": {"cpu": "1"}})
    queue = await api.get(QUEUES, name)
    assert (queue["spec"]["weight"], queue["spec"]["reclaimable"]) == (1, True)


async def test_queue_tree_rules(api: APIClient, queues: list[str]) -> None:
    parent = await _queue(api, queues, capability={"cpu": "4"}, deserved={"cpu": "4"})
    err = await _refused(api.create(QUEUES, {"metadata": {"name": "selfish"},
                                             "spec": {"parent": "selfish"}}))
    assert "queue selfish cannot use itself as parent" in _fields(err)["spec.parent"]
    err = await _refused(api.create(QUEUES, {"metadata": {"name": _queue_name()},
                                             "spec": {"parent": "no-such-parent"}}))
    assert 'queue.scheduling.volcano.sh "no-such-parent" not found' in _fields(err)["spec.parent"]
    err = await _refused(api.create(QUEUES, {"metadata": {"name": "big"}, "spec": {
        "parent": parent, "capability": {"cpu": "8"}}}))
    assert "queue big capability[cpu]=8 exceeds its ancestor's capability=4" in (
        _fields(err)["spec.capability[cpu]"])
    await _queue(api, queues, parent=parent, deserved={"cpu": "3"})
    err = await _refused(api.create(QUEUES, {"metadata": {"name": _queue_name()}, "spec": {
        "parent": parent, "deserved": {"cpu": "2"}}}))
    assert f"parent queue {parent} validation failed: sum of children's deserved" in (
        _fields(err)["spec.deserved"])


async def test_default_root_and_parent_queues_cannot_be_deleted(
        crds: Cloud, api: APIClient, queues: list[str], default_queue: str) -> None:
    err = await _refused(api.delete(QUEUES, "default"))
    assert err.code == 403
    assert err.message == (
        'queues.scheduling.volcano.sh "default" is forbidden: `default` queue can not be deleted')
    await ensure_queue(api, "root", reclaimable=False)
    proc = crds.kubectl("delete", "queue", "root", check=False)
    assert proc.returncode != 0
    assert "`root` queue can not be deleted" in proc.stderr
    err = await _refused(api.patch(QUEUES, "root", {"spec": {"capability": {"cpu": "1"}}}))
    assert "root queue's resource attributes" in _fields(err)["spec.capability"]
    parent = await _queue(api, queues)
    child = await _queue(api, queues, parent=parent)
    err = await _refused(api.delete(QUEUES, parent))
    assert err.message.endswith(
        f"queue {parent} can not be deleted because it has 1 child queues: {child}")
    assert {"default", "root", parent} <= set(await _names(api, QUEUES))
