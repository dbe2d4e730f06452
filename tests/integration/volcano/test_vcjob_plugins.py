"""The vcjob job plugins against the real API server (specs/volcano.md §1.3), with an
in-process Volcano scheduler admitting the PodGroup: a tensorflow Job's pods carry
TF_CONFIG and mount the ssh plugin's Secret, which holds the Job's key pair and hosts and
goes with the Job (garbage collector); a plugin argument with a bad value gives a
PluginError warning and no PodGroup or pods."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.controllers.vcjob import SECRETS, VCJobController
from kubeedge.controllers.volcano_crds import JOBS, PODGROUPS
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.scheduling import EVENTS, PODS, SchedulingCluster, Start
from tests.fixtures.vcjob import cluster, controller, scheduler

__all__ = ["cluster", "controller", "scheduler"]

pytestmark = pytest.mark.usefixtures("crds")

Obj = dict[str, Any]


def _task(name: str, replicas: int) -> Obj:
    return {"name": name, "replicas": replicas, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "tf", "image": "tensorflow",
                        "resources": {"requests": {"cpu": "100m"}}}]}}}


def _job(name: str, plugins: Obj) -> Obj:
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": {"name": name},
            "spec": {"minAvailable": 3, "tasks": [_task("ps", 1), _task("worker", 2)],
                     "plugins": plugins}}


async def _get_or_none(api: APIClient, ref: Any, name: str, ns: str) -> Obj | None:
    try:
        return await api.get(ref, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def _pods(api: APIClient, ns: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in (await api.list(PODS, ns)).get("items") or []}


async def test_tensorflow_job_pods_carry_tf_config_and_the_ssh_secret(
        api: APIClient, ns: str, cluster: SchedulingCluster, scheduler: Start,
        controller: VCJobController) -> None:
    await cluster.node("n1", cpu="4")
    job = await api.create(JOBS, _job("dist", {"tensorflow": [], "ssh": []}), ns)
    await api.create(JOBS, _job("other", {"mpi": ["--master=ps", "--worker=worker"]}), ns)
    # Admission adds the svc plugin the tensorflow plugin's hosts rely on.
    assert sorted(job["spec"]["plugins"]) == ["ssh", "svc", "tensorflow"]

    async def created() -> dict[str, Obj] | None:
        pods = await _pods(api, ns)
        return pods if len(pods) == 6 else None

    pods = await eventually(created, timeout=15, what="the jobs' 6 pods")
    cluster_spec = {"ps": ["dist-ps-0.dist:2222"],
                    "worker": ["dist-worker-0.dist:2222", "dist-worker-1.dist:2222"]}
    for name, want in (("dist-ps-0", ("ps", 0)), ("dist-worker-0", ("worker", 0)),
                       ("dist-worker-1", ("worker", 1))):
        container = pods[name]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert json.loads(env["TF_CONFIG"]) == {
            "cluster": cluster_spec, "task": {"type": want[0], "index": want[1]}}
        assert {"name": "dist-ssh", "mountPath": "/root/.ssh", "subPath": ".ssh"} in (
            container["volumeMounts"])
        [volume] = [v for v in pods[name]["spec"]["volumes"] if v["name"] == "dist-ssh"]
        assert (volume["secret"]["secretName"], volume["secret"]["defaultMode"]) == (
            "dist-ssh", 0o600)

    # The Secret was there before the pods that mount it.
    secret = await api.get(SECRETS, "dist-ssh", ns)
    assert sorted(secret["data"]) == ["authorized_keys", "config", "id_rsa", "id_rsa.pub"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["id_rsa"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert data["authorized_keys"] == data["id_rsa.pub"]
    assert data["id_rsa.pub"].startswith("ssh-rsa ")
    assert "StrictHostKeyChecking no" in data["config"]
    for host in ("dist-ps-0", "dist-worker-0", "dist-worker-1"):
        assert f"Host {host}\n  HostName {host}.dist\n" in data["config"]
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Job", job["metadata"]["uid"], True)
    # No private key in any pod: only the Secret has it.
    assert all(data["id_rsa"] not in json.dumps(p) for p in pods.values())

    async def controlled() -> Obj | None:
        status = (await api.get(JOBS, "dist", ns)).get("status") or {}
        return status.get("controlledResources") or None

    assert await eventually(controlled, timeout=10, what="controlledResources") == {
        "plugin-ssh": "ssh", "plugin-svc": "svc", "plugin-tensorflow": "tensorflow"}

    # mpi implies ssh (admission adds it): the other job has its own Secret.
    other = await api.get(SECRETS, "other-ssh", ns)
    assert other["data"]["id_rsa"] != secret["data"]["id_rsa"]
    env = {e["name"]: e["value"] for e in pods["other-ps-0"]["spec"]["containers"][0]["env"]}
    assert env["MPI_HOST"] == "other-worker-0.other,other-worker-1.other"

    # Deleting a Job takes its Secret with it (owner reference, garbage collector).
    await api.delete(JOBS, "other", ns)

    async def gone(name: str) -> bool:
        return await _get_or_none(api, SECRETS, name, ns) is None

    await eventually(lambda: gone("other-ssh"), timeout=15, what="the ssh Secret collected")
    assert await _get_or_none(api, SECRETS, "dist-ssh", ns) is not None

    # A Job finished for good loses its plugin resources (Volcano's OnJobDelete).
    for name in ("dist-ps-0", "dist-worker-0", "dist-worker-1"):
        await api.patch(PODS, name, {"status": {"phase": "Succeeded"}}, ns,
                        subresource="status")

    async def completed() -> Obj | None:
        status = (await api.get(JOBS, "dist", ns)).get("status") or {}
        return status if (status.get("state") or {}).get("phase") == "Completed" else None

    status = await eventually(completed, timeout=10, what="the job Completed")
    await eventually(lambda: gone("dist-ssh"), timeout=10, what="the finished job's Secret")
    assert not status.get("controlledResources")


async def test_bad_plugin_argument_warns_and_makes_no_pods(
        cloud: Cloud, api: APIClient, ns: str, cluster: SchedulingCluster, scheduler: Start,
        controller: VCJobController) -> None:
    await cluster.node("n1", cpu="4")
    await api.create(JOBS, _job("bad", {"tensorflow": ["--port=abc"]}), ns)

    async def warning() -> list[Obj] | None:
        items = (await api.list(EVENTS, ns)).get("items") or []
        found = [e for e in items if e.get("reason") == "PluginError"
                 and (e.get("involvedObject") or {}).get("name") == "bad"]
        return found or None

    [event] = await eventually(warning, timeout=10, what="a PluginError event")
    assert event["type"] == "Warning"
    assert event["message"] == (
        "Execute plugin when job add failed, err: plugin tensorflow: "
        "invalid value 'abc' for flag -port: parse error")

    async def pending() -> Obj | None:
        status = (await api.get(JOBS, "bad", ns)).get("status") or {}
        return status if (status.get("state") or {}).get("phase") == "Pending" else None

    status = await eventually(pending, timeout=10, what="the job Pending")
    assert not status.get("controlledResources")
    # A good job created after it is synced in full, so the bad one had its chance.
    await api.create(JOBS, _job("good", {"pytorch": ["--master=ps", "--worker=worker"]}),
                     ns)

    async def good_pods() -> dict[str, Obj] | None:
        pods = await _pods(api, ns)
        return pods if len([n for n in pods if n.startswith("good-")]) == 3 else None

    pods = await eventually(good_pods, timeout=15, what="the good job's pods")
    assert not [n for n in pods if n.startswith("bad-")]
    assert not [g for g in (await api.list(PODGROUPS, ns)).get("items") or []
                if g["metadata"]["name"].startswith("bad-")]
    env = {e["name"]: e["value"] for e in pods["good-worker-1"]["spec"]["containers"][0]["env"]}
    assert (env["MASTER_ADDR"], env["WORLD_SIZE"], env["RANK"]) == ("good-ps-0.good", "3", "2")
    described = cloud.kubectl("describe", "vcjob", "bad", "-n", ns).stdout
    assert "PluginError" in described
