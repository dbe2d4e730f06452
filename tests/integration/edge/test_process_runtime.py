"""The process runtime with real processes and real supervisors: CRI logs, exit codes,
graceful and forced stops, re-attaching after edgecore goes away, stdin, exec, stats,
and cgroup limits when this host lets us set them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeedge.edge.runtime import (
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerNotFound,
    ContainerResources,
    ContainerState,
    ContainerStatus,
    ExecTimeout,
    PodSandboxConfig,
    PodSandboxMetadata,
    StartContainerError,
    cgroups,
    procfs,
)
from kubeedge.edge.runtime.process import ProcessRuntime
from tests.fixtures.cluster import eventually as until

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    parent = f"kubeedge-test-{secrets.token_hex(4)}"
    runtime = ProcessRuntime(tmp_path, cgroup_parent=parent, log_max_size=64 * 1024,
                             log_max_files=3)
    yield runtime
    for c in await runtime.list_containers():
        await runtime.remove_container(c.id)
    for mount in {*cgroups._v1_mounts().values(), cgroups.DEFAULT_BASE}:
        try:
            os.rmdir(os.path.join(mount, parent))
        except OSError:
            pass




async def run(rt: ProcessRuntime, *command: str, image: str = "busybox", **kw: object) -> str:
    sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "default", "uid")))
    cid = await rt.create_container(sb, ContainerConfig(
        ContainerMetadata("c"), image, command=command, **kw))  # type: ignore[arg-type]
    await rt.start_container(cid)
    return cid


async def exited(rt: ProcessRuntime, cid: str, timeout: float = 10.0) -> ContainerStatus:
    async def done() -> ContainerStatus | None:
        s = await rt.container_status(cid)
        return s if s.state == ContainerState.EXITED else None
    return await until(done, timeout, f"container {cid[:12]} to exit")


def log_lines(path: str) -> list[tuple[str, str, str]]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        m = CRI_LINE.match(line)
        assert m, line
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def logged(path: str, content: str) -> bool:
    return any(c == content for _, _, c in log_lines(path))


def memory_cgroup_writable() -> bool:
    """Independently of the runtime: can this process make a memory cgroup here?"""
    if os.geteuid() != 0:
        return False
    v2 = Path(cgroups.DEFAULT_BASE)
    if (v2 / "cgroup.controllers").exists():
        if "memory" not in (v2 / "cgroup.controllers").read_text().split():
            return False
        probe = v2 / f"kubeedge-probe-{secrets.token_hex(4)}"
        try:
            probe.mkdir()
            (v2 / "cgroup.subtree_control").write_text("+memory")
            return (probe / "memory.max").exists()
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                probe.rmdir()
    mount = cgroups._v1_mounts().get("memory")
    if mount is None:
        return False
    probe = Path(mount) / f"kubeedge-probe-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def supervisor_state(rt: ProcessRuntime, cid: str) -> dict:
    return json.loads((rt.container_dir / cid / "supervisor.json").read_text())


async def test_output_goes_to_a_cri_log_and_the_exit_code_is_recorded(
        rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "echo hi; echo err >&2; exit 3")
    s = await exited(rt, cid)
    assert (s.exit_code, s.reason) == (3, "Error")
    assert 0 < s.created_at <= s.started_at <= s.finished_at
    lines = log_lines(s.log_path)
    assert ("stdout", "F", "hi") in lines and ("stderr", "F", "err") in lines
    assert not (rt.container_dir / cid / "ctl").exists()  # the supervisor cleaned up


async def test_death_by_signal_is_recorded_as_128_plus_n(rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "kill -9 $$")
    s = await exited(rt, cid)
    assert (s.exit_code, s.reason) == (137, "Error")


async def test_graceful_stop_runs_the_term_handler(rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c",
                    "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done")
    log = rt.container_log_path(cid)
    await until(lambda: logged(log, "ready"), what="the trap to be set")
    await rt.stop_container(cid, timeout=10)
    s = await rt.container_status(cid)
    assert s.state == ContainerState.EXITED
    assert (s.exit_code, s.reason) == (0, "Completed")
    assert logged(log, "bye")


async def test_sigterm_ignored_is_killed_after_the_grace_period(rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
    await until(lambda: logged(rt.container_log_path(cid), "ready"), what="trap set")
    t0 = time.monotonic()
    await rt.stop_container(cid, timeout=0.5)
    elapsed = time.monotonic() - t0
    s = await rt.container_status(cid)
    assert (s.state, s.exit_code) == (ContainerState.EXITED, 137)
    assert 0.5 <= elapsed < 5
    # Nothing of the container is left: its whole session was killed.
    assert procfs.session_members(s.pid or 0) == []


async def test_a_new_runtime_object_reattaches_to_running_containers(
        rt: ProcessRuntime) -> None:
    cid = await run(rt, "sleep", "300")
    before = await rt.container_status(cid)
    sup = supervisor_state(rt, cid)
    assert before.state == ContainerState.RUNNING

    restarted = ProcessRuntime(rt.root, cgroup_parent=rt.cgroup_parent)  # edgecore again
    after = await restarted.container_status(cid)
    assert after.state == ContainerState.RUNNING
    assert (after.pid, after.started_at) == (before.pid, before.started_at)
    assert supervisor_state(restarted, cid) == sup
    assert procfs.alive(sup["supervisorPid"], sup["supervisorStart"])
    await restarted.stop_container(cid, timeout=5)
    s = await rt.container_status(cid)
    assert (s.state, s.exit_code) == (ContainerState.EXITED, 143)


async def test_kill_9_of_the_starting_process_leaves_the_container_running(
        rt: ProcessRuntime, tmp_path: Path) -> None:
    # A stand-in edgecore: starts a container, prints its id, then waits to be killed.
    script = textwrap.dedent(f"""
        import asyncio, sys
        from kubeedge.edge.runtime import *
        from kubeedge.edge.runtime.process import ProcessRuntime
        async def main():
            rt = ProcessRuntime({str(rt.root)!r}, cgroup_parent={rt.cgroup_parent!r})
            sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "d", "u")))
            cid = await rt.create_container(sb, ContainerConfig(
                ContainerMetadata("c"), "busybox", args=("sleep", "300")))
            await rt.start_container(cid)
            print(cid, flush=True)
            await asyncio.sleep(300)
        asyncio.run(main())
    """)
    edgecore = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert edgecore.stdout is not None
        cid = edgecore.stdout.readline().strip()
        before = await rt.container_status(cid)
        assert before.state == ContainerState.RUNNING
        edgecore.kill()
        edgecore.wait()
        after = await rt.container_status(cid)
        assert after.state == ContainerState.RUNNING and after.pid == before.pid
        assert procfs.alive(after.pid, supervisor_state(rt, cid)["pidStart"])
    finally:
        edgecore.kill()
        edgecore.wait()
    await rt.stop_container(cid, timeout=5)
    assert (await rt.container_status(cid)).exit_code == 143


async def test_stdin_is_passed_through_and_closed_on_request(rt: ProcessRuntime) -> None:
    cid = await run(rt, "cat", stdin=True)
    log = rt.container_log_path(cid)
    await rt.write_stdin(cid, b"hello\n")
    await until(lambda: logged(log, "hello"), what="cat to echo")
    await rt.write_stdin(cid, b"again\n")  # a second writer: stdin stayed open
    await until(lambda: logged(log, "again"), what="cat to echo again")
    await rt.close_stdin(cid)
    s = await exited(rt, cid)
    assert (s.exit_code, s.reason) == (0, "Completed")


async def test_exec_sync_runs_in_the_containers_environment(rt: ProcessRuntime,
                                                             tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    cid = await run(rt, "sleep", "300", env={"GREETING": "from-pod"},
                    working_dir=str(workdir))
    res = await rt.exec_sync(cid, ["sh", "-c", "echo $GREETING; pwd; echo oops >&2"], 5)
    assert res.exit_code == 0
    assert res.stdout.decode().split() == ["from-pod", str(workdir)]
    assert res.stderr == b"oops\n"
    assert (await rt.exec_sync(cid, ["sh", "-c", "exit 7"], 5)).exit_code == 7
    with pytest.raises(ExecTimeout):
        await rt.exec_sync(cid, ["sleep", "30"], 0.2)
    missing = await rt.exec_sync(cid, ["no-such-probe"], 5)
    assert missing.exit_code == 126 and b"executable file not found" in missing.stderr


async def test_a_command_that_cannot_start_is_start_error_128(rt: ProcessRuntime) -> None:
    sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "default", "u")))
    cid = await rt.create_container(sb, ContainerConfig(
        ContainerMetadata("c"), "busybox", command=("no-such-command", "x")))
    with pytest.raises(StartContainerError) as e:
        await rt.start_container(cid)
    assert e.value.reason == "StartError"
    s = await rt.container_status(cid)
    assert (s.state, s.exit_code, s.reason) == (ContainerState.EXITED, 128, "StartError")
    assert s.message == 'exec: "no-such-command": executable file not found in $PATH'


async def test_stats_show_cpu_rising_for_a_busy_loop(rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "while :; do :; done")
    first = await rt.container_stats(cid)

    async def rose() -> bool:
        now = await rt.container_stats(cid)
        return now.cpu_usage_core_ns - first.cpu_usage_core_ns >= 100_000_000
    await until(rose, what="100 ms of CPU more")
    now = await rt.container_stats(cid)
    assert now.memory_working_set_bytes > 0 and now.source in ("cgroup", "proc")


async def test_memory_limit_is_enforced_or_the_reason_recorded(rt: ProcessRuntime) -> None:
    cid = await run(rt, "python3", "-c",
                    "import time; b = bytearray(256 << 20); print('allocated', flush=True);"
                    " time.sleep(300)", image="python",
                    resources=ContainerResources(memory_limit_in_bytes=48 << 20))
    s = await rt.container_status(cid)
    if memory_cgroup_writable():
        assert s.limits_enforced, s.limits_reason
    if s.limits_enforced:
        s = await exited(rt, cid, timeout=20)
        assert (s.exit_code, s.reason) == (137, "OOMKilled")
        assert not logged(s.log_path, "allocated")
    else:
        assert s.limits_reason, "limits not enforced, and no reason given"
        assert s.state == ContainerState.RUNNING


async def test_reopen_log_after_the_file_was_moved(rt: ProcessRuntime) -> None:
    cid = await run(rt, "cat", stdin=True)
    log = rt.container_log_path(cid)
    await rt.write_stdin(cid, b"one\n")
    await until(lambda: logged(log, "one"), what="first line")
    os.rename(log, log + ".moved")
    await rt.reopen_container_log(cid)
    await rt.write_stdin(cid, b"two\n")
    await until(lambda: logged(log, "two"), what="line in the reopened file")
    assert not logged(log, "one")


async def test_logs_rotate_by_size_while_running(rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "i=0; while [ $i -lt 5000 ]; do echo line $i; "
                    "i=$((i+1)); done")
    s = await exited(rt, cid)
    assert s.exit_code == 0
    rotated = sorted(p for p in os.listdir(os.path.dirname(s.log_path))
                     if p.startswith("0.log."))
    assert len(rotated) == 2  # log_max_files=3 counts the current file
    assert log_lines(s.log_path)[-1] == ("stdout", "F", "line 4999")
    assert os.path.getsize(s.log_path) <= 64 * 1024


async def test_stop_pod_sandbox_stops_its_containers(rt: ProcessRuntime) -> None:
    sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "default", "u")))
    ids = []
    for name in ("a", "b"):
        cid = await rt.create_container(sb, ContainerConfig(
            ContainerMetadata(name), "busybox", args=("sleep", "300")))
        await rt.start_container(cid)
        ids.append(cid)
    await rt.stop_pod_sandbox(sb, timeout=5)
    for cid in ids:
        assert (await rt.container_status(cid)).state == ContainerState.EXITED
    await rt.remove_pod_sandbox(sb)
    assert await rt.list_containers() == []


async def test_supervisor_stays_small(rt: ProcessRuntime) -> None:
    # Measured resident memory of one supervisor (ARCHITECTURE.md rule 9): about 6 MiB
    # anonymous (10.6 MiB RSS with the shared interpreter pages). The bound leaves room
    # for allocator noise; importing subprocess or typing again would pass it.
    cid = await run(rt, "sleep", "300")
    pid = supervisor_state(rt, cid)["supervisorPid"]
    with open(f"/proc/{pid}/status") as f:
        anon_kib = next(int(line.split()[1]) for line in f if line.startswith("RssAnon"))
    assert anon_kib < 7 * 1024, f"supervisor RssAnon {anon_kib} KiB"


async def test_tty_container_gets_a_terminal_and_its_output_as_stdout(
        rt: ProcessRuntime) -> None:
    cid = await run(rt, "sh", "-c", "tty; echo to-stderr >&2; read x; echo got $x",
                    tty=True, stdin=True)
    log = rt.container_log_path(cid)

    def contents() -> list[str]:
        return [c.rstrip("\r") for stream, _, c in log_lines(log) if stream == "stdout"]
    await until(lambda: "to-stderr" in contents(), what="output through the pty")
    assert contents()[0].startswith("/dev/pts/")
    await rt.write_stdin(cid, b"abc\n")
    s = await exited(rt, cid)
    assert s.exit_code == 0 and "got abc" in contents()


async def test_stdin_once_closes_stdin_after_the_first_session(rt: ProcessRuntime) -> None:
    cid = await run(rt, "cat", stdin=True, stdin_once=True)
    await rt.write_stdin(cid, b"only\n")
    s = await exited(rt, cid)
    assert s.exit_code == 0 and logged(s.log_path, "only")


async def test_lists_filter_by_labels_and_forget_containers_removed_elsewhere(
        rt: ProcessRuntime) -> None:
    """Lists filter on each container's (cached) config; a container removed by another
    runtime object over the same root (keadm reset beside a dead edgecore) is gone
    from this one's answers too."""
    first = await run(rt, "sleep", "300", labels={"app": "a"})
    second = await run(rt, "sleep", "300", labels={"app": "b"})
    assert [c.id for c in await rt.list_containers(ContainerFilter(labels={"app": "b"}))
            ] == [second]
    assert {c.id for c in await rt.list_containers()} == {first, second}

    other = ProcessRuntime(rt.root, cgroup_parent=rt.cgroup_parent)
    await other.remove_container(second)
    assert [c.id for c in await rt.list_containers()] == [first]
    assert await rt.list_containers(ContainerFilter(labels={"app": "b"})) == []
    with pytest.raises(ContainerNotFound):
        await rt.container_status(second)
