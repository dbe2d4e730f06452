"""Volcano's CRDs installed through the API: idempotent install, kubectl short names and
printer columns, schema defaults and validation (specs/volcano.md §1)."""

from __future__ import annotations

import uuid

import pytest

from kubeedge.api import meta
from kubeedge.client.crds import established
from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.controllers import volcano_crds
from kubeedge.controllers.volcano_crds import (
    COMMANDS,
    CUSTOM_RESOURCE_DEFINITIONS,
    JOBS,
    PODGROUPS,
    QUEUES,
)
from tests.fixtures.cluster import Cloud

pytestmark = pytest.mark.usefixtures("crds")


def _queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


async def test_install_twice_changes_nothing(api: APIClient) -> None:
    before = {
        meta.name_of(crd): (
            await api.get(CUSTOM_RESOURCE_DEFINITIONS, meta.name_of(crd))
        )["metadata"]["resourceVersion"]
        for crd in volcano_crds.CRDS
    }
    await volcano_crds.install(api)
    for name, rv in before.items():
        current = await api.get(CUSTOM_RESOURCE_DEFINITIONS, name)
        assert current["metadata"]["resourceVersion"] == rv, name


async def test_install_restores_a_changed_crd(api: APIClient) -> None:
    name = "queues.scheduling.volcano.sh"
    crd = await api.get(CUSTOM_RESOURCE_DEFINITIONS, name)
    crd["spec"]["names"]["shortNames"] = ["vq"]
    await api.update(CUSTOM_RESOURCE_DEFINITIONS, crd)
    await volcano_crds.install(api)
    crd = await api.get(CUSTOM_RESOURCE_DEFINITIONS, name)
    assert crd["spec"]["names"]["shortNames"] == ["q", "queue-v1beta1"]
    assert established(crd)


async def test_every_crd_is_established(api: APIClient) -> None:
    for crd in volcano_crds.CRDS:
        current = await api.get(CUSTOM_RESOURCE_DEFINITIONS, meta.name_of(crd))
        assert established(current)


async def test_schema_defaults_apply(api: APIClient, ns: str) -> None:
    name = _queue_name()
    queue = await api.create(QUEUES, {"metadata": {"name": name}, "spec": {}})
    try:
        assert queue["spec"]["weight"] == 1
        assert queue["spec"]["reclaimable"] is True
    finally:
        await api.delete(QUEUES, name)
    pg = await api.create(PODGROUPS, {"metadata": {"name": "pg1"}, "spec": {"minMember": 2}}, ns)
    assert pg["spec"]["queue"] == "default"
    job = await api.create(JOBS, {
        "metadata": {"name": "j1"},
        "spec": {"tasks": [{"name": "worker", "replicas": 2, "template": {
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}]},
    }, ns)
    assert job["spec"]["schedulerName"] == "volcano"
    assert job["spec"]["queue"] == "default"
    assert job["spec"]["maxRetry"] == 3
    # Pod templates are kept whole.
    assert job["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["image"] == "busybox"


async def test_queue_with_weight_zero_is_refused(api: APIClient) -> None:
    with pytest.raises(APIError) as info:
        await api.create(QUEUES, {"metadata": {"name": _queue_name()}, "spec": {"weight": 0}})
    assert info.value.code == 422
    assert "spec.weight" in str(info.value)


async def test_podgroup_status_goes_through_the_subresource(api: APIClient, ns: str) -> None:
    pg = await api.create(PODGROUPS, {"metadata": {"name": "pg2"}, "spec": {"minMember": 1}}, ns)
    pg["status"] = {"phase": "Running", "running": 1}
    updated = await api.update_status(PODGROUPS, pg)
    assert updated["status"]["phase"] == "Running"


async def test_command_carries_action_and_target_at_the_root(api: APIClient, ns: str) -> None:
    cmd = await api.create(COMMANDS, {
        "metadata": {"generateName": "q-close-"},
        "action": "CloseQueue",
        "target": {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                   "name": "default", "uid": "u1"},
    }, ns)
    assert cmd["action"] == "CloseQueue"
    assert cmd["target"]["kind"] == "Queue"


def test_kubectl_short_names_and_columns(crds: Cloud, ns: str) -> None:
    crds.kubectl("apply", "-n", ns, "-f", "-", input=PG_YAML)
    out = crds.kubectl("get", "pg", "-n", ns).stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "MINMEMBER", "RUNNINGS", "AGE"]
    assert "gang" in out
    wide = crds.kubectl("get", "pg", "-n", ns, "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-1] == "QUEUE"
    queue = _queue_name()
    crds.kubectl("apply", "-f", "-", input=QUEUE_YAML.format(name=queue))
    try:
        out = crds.kubectl("get", "q", queue).stdout.splitlines()
        assert out[0].split() == ["NAME", "PARENT"]
        assert out[1].split() == [queue, "root"]
        both = crds.kubectl("get", "pg,q", "-n", ns).stdout
        assert "podgroup.scheduling.volcano.sh/gang" in both
        assert f"queue.scheduling.volcano.sh/{queue}" in both
    finally:
        crds.kubectl("delete", "queue-v1beta1", queue)
    crds.kubectl("get", "vcjob,vj", "-n", ns)


PG_YAML = """
apiVersion: scheduling.volcano.sh/v1beta1
kind: PodGroup
metadata:
  name: gang
spec:
  minMember: 3
  queue: default
"""

QUEUE_YAML = """
apiVersion: scheduling.volcano.sh/v1beta1
kind: Queue
metadata:
  name: {name}
spec:
  weight: 2
  parent: root
"""
