"""`vcctl queue` against a cloud whose cloudcore runs the queue controller
(specs/volcano.md §5): vcctl's flags, table, messages and exit codes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.cluster import Cloud, running_cloud, wait_until

COLUMNS = ["Name", "Weight", "State", "Parent", "Inqueue", "Pending", "Running", "Unknown",
           "Completed"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A cloud running the queue controller (which installs Volcano's CRDs)."""
    with running_cloud(tmp_path_factory.mktemp("vcctl"),
                       controllers=("namespace-defaults", "queue")) as c:
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
