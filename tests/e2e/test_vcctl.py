"""`vcctl queue` and `vcctl job` against a cloud whose cloudcore runs the queue, vcjob
and garbage-collector controllers and the scheduler (specs/volcano.md §5): vcctl's
flags, tables, messages and exit codes. The job tests play the node with kubectl: a
Node object, pod phases, and the confirmation of pod deletions."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster import Cloud, running_cloud, wait_until

COLUMNS = ["Name", "Weight", "State", "Parent", "Inqueue", "Pending", "Running", "Unknown",
           "Completed"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A cloud running the queue controller (which installs Volcano's CRDs), the vcjob
    controller, the garbage collector and the scheduler (a short session period), with
    one Node for the jobs' pods."""
    with running_cloud(tmp_path_factory.mktemp("vcctl"),
                       "--set", "modules.scheduler.schedulePeriodSeconds=0.2",
                       controllers=("namespace-defaults", "queue", "vcjob",
                                    "garbage-collector"),
                       scheduler=True) as c:
        node = f"vcctl-{uuid.uuid4().hex[:6]}"
        c.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}}}))
        resources = {"cpu": "8", "memory": "16Gi", "pods": "110"}
        c.kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p",
                  json.dumps({"status": {"capacity": resources, "allocatable": resources,
                                         "conditions": [{"type": "Ready", "status": "True",
                                                         "reason": "KubeletReady"}]}}))
        yield c


def vcctl(cloud: Cloud, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "kubeedge.cli.vcctl", *args],
                          capture_output=True, text=True, env=cloud.env(), timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"vcctl {' '.join(args)} failed ({proc.returncode}):\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def row(cloud: Cloud, name: str) -> dict[str, str]:
    lines = vcctl(cloud, "queue", "get", "-n", name).stdout.splitlines()
    assert lines[0].split() == COLUMNS
    # Parent is empty for a queue without one: parse by vcctl's fixed widths.
    widths = [25] + [8] * (len(COLUMNS) - 1)
    values, at = [], 0
    for w in widths:
        values.append(lines[1][at:at + w].strip())
        at += w
    return dict(zip(COLUMNS, values, strict=True))


def state(cloud: Cloud, name: str) -> str:
    return row(cloud, name)["State"]


@pytest.fixture
def name(cloud: Cloud) -> Iterator[str]:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    yield queue
    vcctl(cloud, "queue", "delete", "-n", queue, check=False)


def test_default_queues_are_listed(cloud: Cloud) -> None:
    wait_until(lambda: "default" in vcctl(cloud, "queue", "list").stdout,
               what="default queue listed")
    out = vcctl(cloud, "queue", "list").stdout.splitlines()
    assert out[0].split() == COLUMNS
    assert out[0].startswith(f"{'Name':<25}{'Weight':<8}{'State':<8}")
    names = [line.split()[0] for line in out[1:]]
    assert {"default", "root"} <= set(names)
    wait_until(lambda: state(cloud, "default") == "Open", what="default Open")


def test_create_then_get(cloud: Cloud, name: str) -> None:
    vcctl(cloud, "queue", "create", "-n", name, "-w", "3")
    wait_until(lambda: state(cloud, name) == "Open", what="queue Open")
    got = row(cloud, name)
    assert got["Name"] == name
    assert got["Weight"] == "3"
    assert got["Parent"] == ""
    assert got["Pending"] == got["Running"] == got["Completed"] == "0"


def test_close_open_and_update(cloud: Cloud, name: str) -> None:
    vcctl(cloud, "queue", "create", "--name", name)
    wait_until(lambda: state(cloud, name) == "Open", what="queue Open")
    vcctl(cloud, "queue", "operate", "-n", name, "-a", "close")
    wait_until(lambda: state(cloud, name) == "Closed", what="queue Closed")
    vcctl(cloud, "queue", "operate", "-n", name, "-a", "open")
    wait_until(lambda: state(cloud, name) == "Open", what="queue reopened")
    vcctl(cloud, "queue", "operate", "-n", name, "-a", "update", "-w", "7")
    assert row(cloud, name)["Weight"] == "7"
    # The Commands were consumed.
    wait_until(lambda: not cloud.kubectl_json("get", "commands.bus.volcano.sh", "-n",
                                              "default")["items"],
               what="commands deleted")
    wait_until(lambda: "Close queue succeed" in cloud.kubectl("describe", "queue", name).stdout,
               what="kubectl describe shows the CloseQueue event")


def test_create_closed(cloud: Cloud, name: str) -> None:
    vcctl(cloud, "queue", "create", "-n", name, "-S", "Closed")
    wait_until(lambda: state(cloud, name) == "Closed", what="queue Closed")


def test_delete(cloud: Cloud, name: str) -> None:
    vcctl(cloud, "queue", "create", "-n", name)
    vcctl(cloud, "queue", "delete", "-n", name)
    proc = vcctl(cloud, "queue", "get", "-n", name, check=False)
    assert proc.returncode != 0
    assert f'queues.scheduling.volcano.sh "{name}" not found' in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("operate", "-n", "default", "-a", "update"), "weight must be specified"),
    (("operate", "-n", "default", "-a", "update", "-w", "0"), "greater than 0"),
    (("operate", "-n", "default", "-a", "pause"), "action pause invalid"),
    (("operate", "-n", "default"), "action can not be null"),
    (("operate", "-a", "open"), "queue name must be specified"),
    (("delete",), "queue name must be specified"),
    (("get",), "queue name must be specified"),
    (("operate", "-n", "no-such-queue", "-a", "close"), '"no-such-queue" not found'),
    (("create", "-n", "bad", "-w", "0"), "spec.weight"),
])
def test_errors_are_clear_and_exit_non_zero(cloud: Cloud, args: tuple[str, ...],
                                            message: str) -> None:
    proc = vcctl(cloud, "queue", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_a_missing_kubeconfig_is_reported(cloud: Cloud, tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubeedge.cli.vcctl", "queue", "list",
         "--kubeconfig", "/nonexistent/kubeconfig"],
        capture_output=True, text=True, env=cloud.env(), timeout=60)
    assert proc.returncode != 0
    assert "/nonexistent/kubeconfig does not exist" in proc.stderr


# --- vcctl job ----------------------------------------------------------------------------

JOB_COLUMNS = ["Name", "Creation", "Phase", "JobType", "Replicas", "Min", "Pending", "Running",
               "Succeeded", "Failed", "Unknown", "RetryCount"]


@pytest.fixture
def ns(cloud: Cloud) -> Iterator[str]:
    name = f"vj-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "namespace", name)
    yield name
    cloud.kubectl("delete", "namespace", name, "--wait=false", check=False)


def jobs(cloud: Cloud, *args: str) -> dict[str, dict[str, str]]:
    """`vcctl job list` rows by name (every column holds one word)."""
    lines = vcctl(cloud, "job", "list", *args).stdout.splitlines()
    header = lines[0].split()
    return {row.split()[header.index("Name")]: dict(zip(header, row.split(), strict=True))
            for row in lines[1:]}


def pods(cloud: Cloud, ns: str) -> list[dict[str, Any]]:
    return list(cloud.kubectl_json("get", "pods", "-n", ns)["items"])


def play_node(cloud: Cloud, ns: str, phase: str | None = None) -> Callable[[], None]:
    """A kubelet's part, done once: confirm deletions of terminating pods, and move
    bound live pods to `phase`."""

    def step() -> None:
        for pod in pods(cloud, ns):
            name = pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp"):
                cloud.kubectl("delete", "pod", name, "-n", ns, "--grace-period=0", "--force",
                              check=False)
            elif phase and pod["spec"].get("nodeName") and (
                    pod.get("status") or {}).get("phase") != phase:
                cloud.kubectl("patch", "pod", name, "-n", ns, "--subresource=status",
                              "--type=merge", "-p",
                              json.dumps({"status": {"phase": phase}}), check=False)

    return step


def wait_job(cloud: Cloud, ns: str, name: str, node: Callable[[], None] | None = None,
             **columns: str) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        if node:
            node()
        row = jobs(cloud, "-n", ns).get(name)
        return row if row and all(row.get(k) == v for k, v in columns.items()) else None

    return wait_until(check, timeout=30, what=f"job {name} with {columns}")


def test_job_run_list_view_and_delete(cloud: Cloud, ns: str) -> None:
    out = vcctl(cloud, "job", "run", "-N", "j1", "-n", ns, "-r", "2", "-m", "2",
                "-R", "cpu=100m,memory=10Mi", "-L", "cpu=200m,memory=20Mi").stdout
    assert out == "run job j1 successfully\n"
    job = cloud.kubectl_json("get", "vcjob", "j1", "-n", ns)
    [task] = job["spec"]["tasks"]
    assert task["replicas"] == 2 and job["spec"]["minAvailable"] == 2
    [container] = task["template"]["spec"]["containers"]
    assert container["image"] == "busybox"
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "10Mi"},
                                      "limits": {"cpu": "200m", "memory": "20Mi"}}
    assert task["template"]["metadata"]["labels"] == {"job.volcano.sh": "j1"}

    row = wait_job(cloud, ns, "j1", play_node(cloud, ns, "Running"), Phase="Running")
    assert row == {"Name": "j1", "Creation": datetime.date.today().isoformat(),
                   "Phase": "Running", "JobType": "Batch", "Replicas": "2", "Min": "2",
                   "Pending": "0", "Running": "2", "Succeeded": "0", "Failed": "0",
                   "Unknown": "0", "RetryCount": "0"}
    header = vcctl(cloud, "job", "list", "-n", ns).stdout.splitlines()[0]
    assert header.split() == JOB_COLUMNS
    # vcctl's widths: the name column as wide as the longest name plus 3.
    assert header.startswith(f"{'Name':<7}{'Creation':<15}{'Phase':<12}{'JobType':<12}")

    view = vcctl(cloud, "job", "view", "-N", "j1", "-n", ns).stdout
    for line in ("Name:       \tj1", f"Namespace:  \t{ns}", "Kind:       \tJob",
                 "  Min Available:     \t2", "  Scheduler Name:    \tvolcano",
                 "    Replicas:\t2", "          Image:\tbusybox", "    Phase:\tRunning",
                 "  Running:      \t2"):
        assert line in view.splitlines(), (line, view)

    assert vcctl(cloud, "job", "delete", "-N", "j1", "-n", ns).stdout == (
        "delete job j1 successfully\n")
    assert vcctl(cloud, "job", "list", "-n", ns).stdout == "No resources found\n"
    node = play_node(cloud, ns)

    def collected() -> bool:
        node()
        return not pods(cloud, ns) and not cloud.kubectl_json(
            "get", "podgroups.scheduling.volcano.sh", "-n", ns)["items"]

    wait_until(collected, timeout=30, what="the job's pods and PodGroup collected")


def test_job_suspend_and_resume(cloud: Cloud, ns: str) -> None:
    vcctl(cloud, "job", "run", "-N", "sr", "-n", ns, "-r", "2", "-m", "2",
          "-R", "cpu=100m", "-L", "cpu=100m")
    node = play_node(cloud, ns, "Running")
    wait_job(cloud, ns, "sr", node, Phase="Running")

    assert vcctl(cloud, "job", "suspend", "-N", "sr", "-n", ns).stdout == ""
    wait_job(cloud, ns, "sr", play_node(cloud, ns), Phase="Aborted", Running="0")
    assert not pods(cloud, ns)
    wait_until(lambda: not cloud.kubectl_json("get", "commands.bus.volcano.sh", "-n",
                                              ns)["items"], what="the Command consumed")
    view = vcctl(cloud, "job", "view", "-N", "sr", "-n", ns).stdout
    assert "CommandIssued" in view and "Start to execute command AbortJob" in view, view

    vcctl(cloud, "job", "resume", "-N", "sr", "-n", ns)
    row = wait_job(cloud, ns, "sr", node, Phase="Running", Running="2")
    assert row["RetryCount"] == "1"
    versions = {p["metadata"]["annotations"]["volcano.sh/job-version"]
                for p in pods(cloud, ns)}
    assert versions == {"2"}  # abort and resume each start a new job version


def test_job_list_filters(cloud: Cloud, ns: str, tmp_path: Path) -> None:
    other = f"{ns}-b"
    cloud.kubectl("create", "namespace", other)
    try:
        vcctl(cloud, "job", "run", "-N", "alpha", "-n", ns, "-R", "cpu=100m",
              "-L", "cpu=100m")
        vcctl(cloud, "job", "run", "-N", "beta", "-n", ns, "-S", "elsewhere")
        manifest = tmp_path / "job.yaml"
        manifest.write_text(
            "apiVersion: batch.volcano.sh/v1alpha1\n"
            "kind: Job\n"
            "metadata:\n"
            "  name: from-file\n"
            "  labels: {volcano.sh/job-type: MPI}\n"
            "spec:\n"
            "  minAvailable: 1\n"
            "  tasks:\n"
            "  - {name: a, replicas: 2, template: {spec: {containers: [{name: c, image: x}]}}}\n"
            "  - {name: b, replicas: 1, template: {spec: {containers: [{name: c, image: x}]}}}\n")
        assert vcctl(cloud, "job", "run", "-f", str(manifest), "-n", other).stdout == (
            "run job from-file successfully\n")

        assert set(jobs(cloud, "-n", ns)) == {"alpha", "beta"}
        assert set(jobs(cloud, "-n", ns, "--selector", "lph")) == {"alpha"}
        assert set(jobs(cloud, "-n", ns, "-S", "elsewhere")) == {"beta"}
        assert set(jobs(cloud, "-n", ns, "-q", "default")) == {"alpha", "beta"}
        assert vcctl(cloud, "job", "list", "-n", ns, "-q", "nosuch").stdout == (
            "No resources found\n")

        everywhere = vcctl(cloud, "job", "list", "--all-namespaces").stdout.splitlines()
        assert everywhere[0].split() == ["Namespace", *JOB_COLUMNS]
        rows = {line.split()[1]: line.split() for line in everywhere[1:]}
        assert rows["alpha"][0] == ns and rows["from-file"][0] == other
        from_file = dict(zip(["Namespace", *JOB_COLUMNS], rows["from-file"], strict=True))
        assert (from_file["JobType"], from_file["Replicas"]) == ("MPI", "3")
    finally:
        cloud.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.parametrize(("args", "message"), [
    (("run",), "job name cannot be left blank"),
    (("run", "-N", "x", "-R", "cpu"), "invalid argument syntax cpu, expected "
                                      "<resource>=<value>"),
    (("run", "-N", "x", "-L", "cpu=lots"), "quantity 'lots' of cpu is invalid"),
    (("run", "-f", "job.json"), "only support yaml file"),
    (("run", "-f", "/nonexistent/job.yaml"), "failed to read file"),
    (("view",), "job name (specified by --name or -N) is mandatory to view a particular job"),
    (("suspend",), "job name is mandatory to suspend a particular job"),
    (("resume",), "job name is mandatory to resume a particular job"),
    (("delete",), "job name is mandatory to delete a particular job"),
    (("view", "-N", "nope"), 'jobs.batch.volcano.sh "nope" not found'),
    (("suspend", "-N", "nope"), 'jobs.batch.volcano.sh "nope" not found'),
    (("delete", "-N", "nope"), 'jobs.batch.volcano.sh "nope" not found'),
])
def test_job_errors_are_clear_and_exit_non_zero(cloud: Cloud, args: tuple[str, ...],
                                                message: str) -> None:
    proc = vcctl(cloud, "job", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
