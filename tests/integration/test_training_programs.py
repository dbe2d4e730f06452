"""The training programs of examples/training/, run as real local processes.

Each replica is a process of this venv's Python with the environment its pod would get:
the container's own `env` from the manifest plus what the training operator sets
(specs/volcano.md §6: TF_CONFIG for a TFJob; MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
and their PET_* twins for a PyTorchJob), with the Service names of TF_CONFIG and
MASTER_ADDR replaced by 127.0.0.1 and free ports. The program text is taken from the
manifest, so the example and the test share one copy.

No cluster here: the same manifests run through the operator, the scheduler and edges
in the TFJob/PyTorchJob cluster tests.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import free_ports

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "training"
# The budget for one training run on a 2-core machine.
TRAINING_BUDGET = 20.0
# How long a test waits for its processes before it calls them hung (a deadline, not a
# pause: communicate() returns as soon as the process ends).
PROCESS_DEADLINE = 90.0


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def replica_specs(job: dict[str, Any]) -> dict[str, Any]:
    key = "tfReplicaSpecs" if job["kind"] == "TFJob" else "pytorchReplicaSpecs"
    return job["spec"][key]


def container(job: dict[str, Any], replica_type: str) -> dict[str, Any]:
    return replica_specs(job)[replica_type]["template"]["spec"]["containers"][0]


def program(job: dict[str, Any], replica_type: str) -> str:
    command = container(job, replica_type)["command"]
    assert command[:2] == ["python3", "-c"], command
    return command[2]


def pod_env(job: dict[str, Any], replica_type: str, **operator_env: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in container(job, replica_type).get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
    env.update(operator_env)
    return env


def tf_config(cluster: dict[str, list[str]], role: str, index: int) -> str:
    # The operator's shape (§6): sorted lowercase keys, task, environment "cloud".
    return json.dumps({"cluster": dict(sorted(cluster.items())),
                       "task": {"type": role, "index": index}, "environment": "cloud"})


class Replica:
    def __init__(self, name: str, code: str, env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.log = ""

    def wait(self, deadline: float) -> int:
        try:
            self.log, _ = self.proc.communicate(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.log, _ = self.proc.communicate()
            pytest.fail(f"{self.name} still running after {PROCESS_DEADLINE}s:\n{self.log}")
        return self.proc.returncode


def run_all(replicas: list[Replica]) -> float:
    """Waits for every replica; returns the wall time from the first start."""
    start = time.monotonic()
    deadline = start + PROCESS_DEADLINE
    try:
        codes = {r.name: r.wait(deadline) for r in replicas}
    finally:
        for r in replicas:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.communicate()
    logs = "\n".join(f"--- {r.name}\n{r.log}" for r in replicas)
    assert all(code == 0 for code in codes.values()), f"exit codes {codes}\n{logs}"
    return time.monotonic() - start


def losses(log: str, pattern: str) -> list[float]:
    return [float(m) for m in re.findall(pattern, log)]


def assert_decreasing(values: list[float], what: str) -> None:
    assert len(values) >= 3, f"{what}: too few loss lines {values}"
    assert all(b < a for a, b in itertools.pairwise(values)), f"{what}: loss {values}"


def accuracy(log: str) -> tuple[float, float]:
    m = re.search(r"held-out accuracy ([0-9.]+) >= target ([0-9.]+)", log)
    assert m, f"no accuracy reaching its target in:\n{log}"
    return float(m.group(1)), float(m.group(2))


# --- TFJob: parameter server and workers ------------------------------------------

def ps_cluster(ps_port: int, worker_ports: list[int]) -> dict[str, list[str]]:
    return {"ps": [f"127.0.0.1:{ps_port}"],
            "worker": [f"127.0.0.1:{p}" for p in worker_ports]}


def test_tfjob_ps_manifest_shape() -> None:
    job = load("tfjob-ps.yaml")
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "TFJob"
    specs = replica_specs(job)
    assert {t: s["replicas"] for t, s in specs.items()} == {"PS": 1, "Worker": 2}
    for t in specs:
        c = container(job, t)
        assert c["name"] == "tensorflow"  # the container TF_CONFIG is set on (§6)
        assert {"name": "tfjob-port", "containerPort": 2222} in c["ports"]
    assert program(job, "PS") == program(job, "Worker")


def test_tfjob_ps_trains_to_target_with_parameters_on_the_ps() -> None:
    job = load("tfjob-ps.yaml")
    code = program(job, "PS")
    ps_port, *worker_ports = free_ports(3)
    cluster = ps_cluster(ps_port, worker_ports)
    # Workers first: they must wait for the PS to come up.
    replicas = [Replica(f"worker-{i}", code, pod_env(
        job, "Worker", TF_CONFIG=tf_config(cluster, "worker", i))) for i in range(2)]
    replicas.append(Replica("ps-0", code, pod_env(
        job, "PS", TF_CONFIG=tf_config(cluster, "ps", 0))))
    elapsed = run_all(replicas)
    assert elapsed < TRAINING_BUDGET, f"training took {elapsed:.1f}s"
    w0, w1, ps = (r.log for r in replicas)

    # Every replica saw the TF_CONFIG the operator would give it.
    for r, (role, i) in zip(replicas, [("worker", 0), ("worker", 1), ("ps", 0)], strict=True):
        assert f"{role}-{i}: TF_CONFIG {tf_config(cluster, role, i)}" in r.log

    # The PS applied pushes from every worker, and only it holds the parameters.
    pushes = {int(w) for w in re.findall(r"ps: push from worker (\d+) ", ps)}
    assert pushes == {0, 1}, ps
    assert re.search(r"ps: all 2 workers done after 80 pushes \{0: 40, 1: 40\}", ps), ps

    for i, log in enumerate((w0, w1)):
        assert_decreasing(losses(log, rf"worker-{i}: step \d+ loss ([0-9.]+)"),
                          f"worker-{i}")
    got, target = accuracy(w0)
    assert target == 0.90 and got >= target
    assert "worker-1: done" in w1


@pytest.mark.parametrize(("env", "message"), [
    ({}, "TF_CONFIG is not set"),
    ({"TF_CONFIG": tf_config({"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "worker", 0)},
     "TF_CONFIG has no ps"),
    ({"TF_CONFIG": tf_config({"ps": ["127.0.0.1:1"]}, "ps", 0)}, "TF_CONFIG has no worker"),
    ({"TF_CONFIG": tf_config({"chief": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"],
                              "worker": ["127.0.0.1:3"]}, "chief", 0)},
     "task type 'chief'"),
])
def test_tfjob_ps_refuses_an_incomplete_cluster(env: dict[str, str], message: str) -> None:
    job = load("tfjob-ps.yaml")
    base = pod_env(job, "Worker")
    base.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", program(job, "Worker")],
                          env={**base, **env}, capture_output=True, text=True,
                          timeout=PROCESS_DEADLINE)
    assert proc.returncode == 2, proc
    assert f"error: {message}" in proc.stderr


def test_tfjob_ps_worker_gives_up_on_an_absent_ps() -> None:
    job = load("tfjob-ps.yaml")
    ps_port, w0 = free_ports(2)
    proc = subprocess.run(
        [sys.executable, "-c", program(job, "Worker")],
        env=pod_env(job, "Worker", CONNECT_TIMEOUT="0.5",
                    TF_CONFIG=tf_config(ps_cluster(ps_port, [w0]), "worker", 0)),
        capture_output=True, text=True, timeout=PROCESS_DEADLINE)
    assert proc.returncode == 2, proc
    assert f"waiting for ps 127.0.0.1:{ps_port}" in proc.stdout
    assert f"error: ps 127.0.0.1:{ps_port} unreachable for 0.5s" in proc.stderr


# --- TFJob: four one-GPU workers (the demo's job) ----------------------------------

def test_tfjob_gpu_manifest_shape() -> None:
    job = load("tfjob-gpu.yaml")
    specs = replica_specs(job)
    assert list(specs) == ["Worker"] and specs["Worker"]["replicas"] == 4
    c = container(job, "Worker")
    assert c["name"] == "tensorflow"
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 1}


def gpu_workers(job: dict[str, Any], count: int, total: int,
                **extra: str) -> list[Replica]:
    ports = free_ports(total)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    # Peers before worker 0, so they must wait for it to listen.
    return [Replica(f"worker-{i}", program(job, "Worker"), pod_env(
        job, "Worker", TF_CONFIG=tf_config(cluster, "worker", i),
        NVIDIA_VISIBLE_DEVICES=str(i), CUDA_VISIBLE_DEVICES=str(i), **extra))
        for i in reversed(range(count))]


def test_tfjob_gpu_workers_train_together_on_their_gpus() -> None:
    job = load("tfjob-gpu.yaml")
    replicas = gpu_workers(job, 4, 4)
    elapsed = run_all(replicas)
    assert elapsed < TRAINING_BUDGET, f"training took {elapsed:.1f}s"
    logs = {int(r.name.split("-")[1]): r.log for r in replicas}
    for i, log in logs.items():
        assert f"worker-{i}: GPU {i} (NVIDIA_VISIBLE_DEVICES), 4 workers" in log
        got, target = accuracy(log)
        assert got >= target == 0.90
    assert "worker-0: all 4 workers joined" in logs[0]
    assert {int(w) for w in re.findall(r"worker (\d) joined", logs[0])} == {1, 2, 3}
    assert_decreasing(losses(logs[0], r"worker-0: step \d+ loss ([0-9.]+)"), "worker-0")
    assert_decreasing(losses(logs[1], r"worker-1: step \d+ shard loss ([0-9.]+)"),
                      "worker-1")


def test_tfjob_gpu_half_a_job_waits_for_its_peers_and_gives_up() -> None:
    """What the gang prevents: 2 of 4 workers running make no progress; worker 0 ends
    with an error once PEER_TIMEOUT passes, and its peer with it."""
    job = load("tfjob-gpu.yaml")
    replicas = gpu_workers(job, 2, 4, PEER_TIMEOUT="1")
    with pytest.raises(AssertionError, match="exit codes"):
        run_all(replicas)
    w1, w0 = replicas
    assert "error: only 2 of 4 workers joined within 1s" in w0.log
    assert "worker-0: step" not in w0.log
    assert w1.proc.returncode == 2 and "error: lost worker 0" in w1.log


def test_tfjob_gpu_refuses_to_train_without_a_gpu() -> None:
    job = load("tfjob-gpu.yaml")
    env = pod_env(job, "Worker", TF_CONFIG=tf_config(
        {"worker": ["127.0.0.1:1"]}, "worker", 0))
    env.pop("NVIDIA_VISIBLE_DEVICES", None)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = subprocess.run([sys.executable, "-c", program(job, "Worker")], env=env,
                          capture_output=True, text=True, timeout=PROCESS_DEADLINE)
    assert proc.returncode == 2
    assert "error: no GPU assigned" in proc.stderr


# --- PyTorchJob: DistributedDataParallel with gloo ---------------------------------

def test_pytorchjob_manifest_shape() -> None:
    job = load("pytorchjob-ddp.yaml")
    assert job["kind"] == "PyTorchJob"
    specs = replica_specs(job)
    assert {t: s["replicas"] for t, s in specs.items()} == {"Master": 1, "Worker": 1}
    c = container(job, "Master")
    assert c["name"] == "pytorch"
    assert {"name": "pytorchjob-port", "containerPort": 23456} in c["ports"]
    assert program(job, "Master") == program(job, "Worker")


def require_torch() -> None:
    # Not a skip: the DDP example is part of what `make test` proves.
    if importlib.util.find_spec("torch") is None:
        pytest.fail("torch is not installed: `make test` installs it, or "
                    "`pip install '.[training]'` (torch==2.13.0, CPU build)")


def test_pytorchjob_ddp_ranks_train_to_the_same_loss() -> None:
    require_torch()
    job = load("pytorchjob-ddp.yaml")
    (port,) = free_ports(1)
    replicas = []
    for rank, replica_type in enumerate(("Master", "Worker")):
        operator_env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                        "WORLD_SIZE": "2", "RANK": str(rank), "PYTHONUNBUFFERED": "1"}
        operator_env |= {f"PET_{k}": v for k, v in operator_env.items()
                         if k != "PYTHONUNBUFFERED"}
        replicas.append(Replica(f"rank-{rank}", program(job, replica_type),
                                pod_env(job, replica_type, **operator_env)))
    run_all(replicas)
    r0, r1 = (r.log for r in replicas)

    epochs = [losses(log, rf"rank {rank}: epoch \d+ loss ([0-9.]+)")
              for rank, log in enumerate((r0, r1))]
    assert epochs[0] == epochs[1]
    assert_decreasing(epochs[0], "rank 0")
    finals = [re.search(rf"rank {rank}: trained 8 epochs in ([0-9.]+)s, final loss (\S+)",
                        log) for rank, log in enumerate((r0, r1))]
    assert finals[0] and finals[1], (r0, r1)
    assert finals[0].group(2) == finals[1].group(2)  # 17 digits: the same float
    # The budget counts the training, not torch's import (seconds on a cold page cache).
    for m in finals:
        assert float(m.group(1)) < TRAINING_BUDGET, (r0, r1)
    for log in (r0, r1):
        got, target = accuracy(log)
        assert got >= target == 0.90


def test_pytorchjob_refuses_to_start_without_the_operators_env() -> None:
    require_torch()
    job = load("pytorchjob-ddp.yaml")
    env = pod_env(job, "Worker", MASTER_ADDR="127.0.0.1", WORLD_SIZE="2")
    for name in ("MASTER_PORT", "RANK"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-c", program(job, "Worker")], env=env,
                          capture_output=True, text=True, timeout=PROCESS_DEADLINE)
    assert proc.returncode == 2, proc
    assert "error: MASTER_PORT, RANK not set" in proc.stderr
