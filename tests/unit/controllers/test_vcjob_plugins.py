"""The vcjob job plugins (specs/volcano.md §1.3): what each does to a pod about to be
created, the ssh Secret, and Volcano's (Go flag) argument parsing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from kubeedge.controllers.vcjob import job_pod, tasks_of
from kubeedge.controllers.vcjob_plugins import (
    MPIPlugin,
    PluginArgumentError,
    PyTorchPlugin,
    SSHPlugin,
    TensorFlowPlugin,
    generate_key_pair,
    job_plugins,
    parse_flags,
)

Obj = dict[str, Any]


def _task(name: str, replicas: int, **spec: Any) -> Obj:
    return {"name": name, "replicas": replicas, "template": {"spec": {
        "containers": [{"name": "main", "image": "x"}], **spec}}}


def _job(*tasks: Obj, plugins: Obj, name: str = "j") -> Obj:
    return {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "uid": "u1"},
            "spec": {"tasks": list(tasks), "plugins": plugins}}


def _pods(job: Obj) -> dict[str, Obj]:
    return {f"{t['name']}-{i}": job_pod(job, t, i)
            for t in tasks_of(job) for i in range(t["replicas"])}


def _env(pod: Obj, container: int = 0, kind: str = "containers") -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"][kind][container].get("env") or []}


# --- tensorflow ---------------------------------------------------------------------------

def test_tf_config_names_every_ps_and_worker_and_the_pods_own_role() -> None:
    job = _job(_task("ps", 2), _task("worker", 2), plugins={"tensorflow": [], "svc": []})
    pods = _pods(job)
    cluster = {"ps": ["j-ps-0.j:2222", "j-ps-1.j:2222"],
               "worker": ["j-worker-0.j:2222", "j-worker-1.j:2222"]}
    for key, pod in pods.items():
        role, index = key.split("-")
        config = json.loads(_env(pod)["TF_CONFIG"])
        assert config == {"cluster": cluster, "task": {"type": role, "index": int(index)}}
    # Compact JSON, roles in TensorFlow's order, as Volcano marshals it.
    assert _env(pods["worker-1"])["TF_CONFIG"] == (
        '{"cluster":{"ps":["j-ps-0.j:2222","j-ps-1.j:2222"],'
        '"worker":["j-worker-0.j:2222","j-worker-1.j:2222"]},'
        '"task":{"type":"worker","index":1}}')
    # Volcano's tensorflow plugin opens no container port.
    assert not pods["ps-0"]["spec"]["containers"][0].get("ports")


def test_tf_renamed_roles_port_and_template_hostnames() -> None:
    job = _job(_task("boss", 1), _task("learner", 2),
               _task("judge", 1, hostname="eval", subdomain="sub"),
               plugins={"tensorflow": ["--chief=boss", "--worker", "learner",
                                       "-evaluator=judge", "--port=3333"]})
    config = json.loads(_env(_pods(job)["judge-0"])["TF_CONFIG"])
    assert config == {"cluster": {"worker": ["j-learner-0.j:3333", "j-learner-1.j:3333"],
                                  "chief": ["j-boss-0.j:3333"],
                                  "evaluator": ["eval.sub:3333"]},
                      "task": {"type": "evaluator", "index": 0}}
    # A task in no role is its own type.
    job = _job(_task("ps", 1), _task("other", 1), plugins={"tensorflow": []})
    assert json.loads(_env(_pods(job)["other-0"])["TF_CONFIG"])["task"] == {
        "type": "other", "index": 0}


def test_tf_stand_alone_job_gets_no_tf_config() -> None:
    job = _job(_task("worker", 1), plugins={"tensorflow": []})
    assert "TF_CONFIG" not in _env(_pods(job)["worker-0"])


def test_tf_config_only_in_containers_not_init_containers() -> None:
    task = _task("worker", 2, initContainers=[{"name": "init", "image": "x"}])
    pod = _pods(_job(task, plugins={"tensorflow": []}))["worker-0"]
    assert "TF_CONFIG" in _env(pod)
    assert "TF_CONFIG" not in _env(pod, kind="initContainers")


# --- pytorch ------------------------------------------------------------------------------

def test_pytorch_ranks_world_size_master_and_port() -> None:
    job = _job(_task("master", 1), _task("worker", 3), plugins={"pytorch": [], "svc": []})
    pods = _pods(job)
    ranks = {key: _env(pod)["RANK"] for key, pod in pods.items()}
    assert ranks == {"master-0": "0", "worker-0": "1", "worker-1": "2", "worker-2": "3"}
    for pod in pods.values():
        env = _env(pod)
        assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["WORLD_SIZE"]) == (
            "j-master-0.j", "23456", "4")
        assert pod["spec"]["containers"][0]["ports"] == [
            {"name": "pytorchjob-port", "containerPort": 23456}]
    assert not pods["worker-0"]["spec"].get("initContainers")


def test_pytorch_arguments_and_an_existing_port() -> None:
    task = _task("w", 2)
    task["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 29500}]
    job = _job(_task("m", 1, hostname="head"), task, _task("aux", 1),
               plugins={"pytorch": ["--master=m", "--worker=w", "--port=29500",
                                    "--wait-master-enabled"]})
    pods = _pods(job)
    env = _env(pods["w-1"])
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["WORLD_SIZE"], env["RANK"]) == (
        "head.j", "29500", "3", "2")
    assert pods["w-1"]["spec"]["containers"][0]["ports"] == [{"containerPort": 29500}]
    [init] = pods["w-1"]["spec"]["initContainers"]
    assert init["name"] == "wait-for-master" and "head.j 29500" in init["command"][2]
    assert not pods["m-0"]["spec"].get("initContainers")
    # A task in neither role gets the master's address but no rank.
    assert "RANK" not in _env(pods["aux-0"]) and _env(pods["aux-0"])["WORLD_SIZE"] == "3"


def test_pytorch_without_its_master_task_changes_nothing() -> None:
    pod = _pods(_job(_task("worker", 2), plugins={"pytorch": []}))["worker-0"]
    assert not _env(pod) and not pod["spec"]["containers"][0].get("ports")


# --- mpi ----------------------------------------------------------------------------------

def test_mpi_host_on_the_master_and_the_ssh_port_everywhere() -> None:
    job = _job(_task("master", 1, initContainers=[{"name": "init", "image": "x"}]),
               _task("worker", 3), plugins={"mpi": [], "ssh": [], "svc": []})
    pods = _pods(job)
    hosts = "j-worker-0.j,j-worker-1.j,j-worker-2.j"
    assert _env(pods["master-0"])["MPI_HOST"] == hosts
    assert _env(pods["master-0"], kind="initContainers")["MPI_HOST"] == hosts
    assert "MPI_HOST" not in _env(pods["worker-0"])
    for pod in pods.values():
        assert {"name": "mpijob-port", "containerPort": 22} in (
            pod["spec"]["containers"][0]["ports"])
    assert pods["master-0"]["spec"]["initContainers"][0]["ports"] == [
        {"name": "mpijob-port", "containerPort": 22}]


def test_mpi_renamed_tasks_and_port() -> None:
    job = _job(_task("head", 1), _task("node", 2),
               plugins={"mpi": ["--master=head", "--worker=node", "--port=2022"]})
    pod = _pods(job)["head-0"]
    assert _env(pod)["MPI_HOST"] == "j-node-0.j,j-node-1.j"
    assert pod["spec"]["containers"][0]["ports"] == [
        {"name": "mpijob-port", "containerPort": 2022}]
    assert MPIPlugin.from_args([]).worker_hosts(_job(_task("master", 1), plugins={})) is None


# --- ssh ----------------------------------------------------------------------------------

def test_ssh_mounts_the_secret_with_mode_0600_in_every_container() -> None:
    task = _task("worker", 2, initContainers=[{"name": "init", "image": "x"}])
    pod = _pods(_job(task, plugins={"ssh": []}))["worker-1"]
    [volume] = pod["spec"]["volumes"]
    assert volume["name"] == "j-ssh"
    assert volume["secret"]["secretName"] == "j-ssh"
    assert volume["secret"]["defaultMode"] == 0o600
    assert volume["secret"]["items"] == [
        {"key": k, "path": f".ssh/{k}"}
        for k in ("id_rsa", "id_rsa.pub", "authorized_keys", "config")]
    mount = {"name": "j-ssh", "mountPath": "/root/.ssh", "subPath": ".ssh"}
    assert pod["spec"]["containers"][0]["volumeMounts"] == [mount]
    assert pod["spec"]["initContainers"][0]["volumeMounts"] == [mount]
    # Another user's key path is readable beyond its owner, as Volcano sets it.
    pod = _pods(_job(task, plugins={"ssh": ["--ssh-key-file-path=/home/u/.ssh"]}))["worker-0"]
    assert pod["spec"]["volumes"][0]["secret"]["defaultMode"] == 0o644
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "/home/u/.ssh"


def test_ssh_secret_holds_a_key_pair_authorized_keys_and_the_hosts() -> None:
    job = _job(_task("master", 1), _task("worker", 2, hostname="w", subdomain="s"),
               plugins={"ssh": ["--ssh-port=2022"]})
    owner = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": "j",
             "uid": "u1", "controller": True, "blockOwnerDeletion": True}
    plugin = SSHPlugin.from_args(["--ssh-port=2022"])
    secret = plugin.secret(job, owner, lambda: generate_key_pair(1024))
    assert secret["metadata"]["name"] == "j-ssh"
    assert secret["metadata"]["ownerReferences"] == [owner]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert sorted(data) == ["authorized_keys", "config", "id_rsa", "id_rsa.pub"]
    private = serialization.load_pem_private_key(data["id_rsa"].encode(), password=None)
    public = serialization.load_ssh_public_key(data["id_rsa.pub"].encode())
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
    assert data["id_rsa"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert data["id_rsa.pub"].startswith("ssh-rsa ") and data["id_rsa.pub"].endswith("\n")
    assert data["authorized_keys"] == data["id_rsa.pub"]
    assert data["config"] == (
        "StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n"
        "Host j-master-0\n  HostName j-master-0.j\n  Port 2022\n"
        "Host w\n  HostName w.s\n  Port 2022\n")


def test_ssh_keys_given_as_arguments_are_used() -> None:
    plugin = SSHPlugin.from_args(["--ssh-private-key", "PRIV", "--ssh-public-key=PUB"])
    secret = plugin.secret(_job(_task("w", 1), plugins={}), {}, keys=lambda: ("x", "y"))
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert (data["id_rsa"], data["id_rsa.pub"], data["authorized_keys"]) == (
        "PRIV", "PUB", "PUB")


def test_ssh_port_out_of_range_falls_back_to_22() -> None:
    assert SSHPlugin.from_args(["--ssh-port=70000"]).port == 22


# --- arguments ----------------------------------------------------------------------------

def test_flags_follow_go_rules() -> None:
    defaults = {"master": "master", "port": 22, "on": False}
    assert parse_flags("p", ["-master=a", "--port", "0x10", "--on"], defaults) == {
        "master": "a", "port": 16, "on": True}
    # Parsing stops at a non-flag argument, at `--` and at an undefined flag (Volcano
    # logs it); what came before stands.
    assert parse_flags("p", ["--port=23", "x", "--master=b"], defaults)["master"] == "master"
    assert parse_flags("p", ["--", "--port=1"], defaults)["port"] == 22
    assert parse_flags("p", ["--port=23", "--no-root", "--master=b"], defaults) == {
        "master": "master", "port": 23, "on": False}
    assert parse_flags("p", ["--on=false"], defaults)["on"] is False


@pytest.mark.parametrize(("plugins", "message"), [
    ({"tensorflow": ["--port=abc"]}, "plugin tensorflow: invalid value 'abc' for flag -port"),
    ({"pytorch": ["--port=0"]}, "plugin pytorch: invalid value \"0\" for flag -port"),
    ({"mpi": ["--port"]}, "plugin mpi: flag needs an argument: -port"),
    ({"pytorch": ["--wait-master-enabled=maybe"]}, "invalid boolean value 'maybe'"),
    ({"ssh": ["--ssh-port=twenty-two"]}, "plugin ssh: invalid value 'twenty-two'"),
])
def test_bad_argument_values_are_refused(plugins: Obj, message: str) -> None:
    job = _job(_task("master", 1), plugins=plugins)
    with pytest.raises(PluginArgumentError, match=message):
        job_plugins(job)
    with pytest.raises(PluginArgumentError):
        job_pod(job, tasks_of(job)[0], 0)


def test_plugins_run_in_a_fixed_order_and_unbuilt_ones_are_skipped() -> None:
    job = _job(_task("ps", 1), _task("worker", 1),
               plugins={"ray": [], "tensorflow": [], "env": [], "ssh": [], "pytorch": []})
    assert [p.name for p in job_plugins(job)] == ["env", "ssh", "tensorflow", "pytorch"]
    assert isinstance(job_plugins(job)[2], TensorFlowPlugin)
    assert isinstance(job_plugins(job)[3], PyTorchPlugin)
    pod = _pods(job)["worker-0"]
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == [
        "VK_TASK_INDEX", "VC_TASK_INDEX", "TF_CONFIG"]
