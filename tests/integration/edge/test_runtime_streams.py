"""The process runtime's streaming calls with real processes, as root, in a pod network
and in the host's: exec (exit codes, separate streams, stdin, a tty that resizes, the
pod's hostname and environment), attach (new output, stdin to the container),
port-forward into the pod's network namespace, and the stats provider seeing a
spinning container use a core.

The pod-network cases need what tests/integration/edge/test_pod_network.py needs (root,
iproute2, util-linux, containernetworking-plugins); without root they are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeedge.edge.edged.stats import StatsProvider
from kubeedge.edge.runtime import (
    ContainerConfig,
    ContainerMetadata,
    ContainerState,
    PodSandboxConfig,
    PodSandboxMetadata,
    RuntimeServiceError,
    cgroups,
    kubelet_container_labels,
    kubelet_sandbox_labels,
    procfs,
)
from kubeedge.edge.runtime.process import ProcessRuntime
from tests.fixtures.cluster import eventually as until
from tests.fixtures.netns import free_subnet
from tests.integration.edge.test_pod_network import (
    CNI_BIN,
    INSTALL_HINT,
    _unavailable,
    mounts_under,
    remove_everything,
)


@pytest.fixture(params=["pod-network", "host-network"])
async def rt(request: pytest.FixtureRequest, tmp_path: Path
             ) -> AsyncIterator[tuple[ProcessRuntime, bool]]:
    """A runtime whose sandboxes get their own network (param "pod-network") or use the
    host's; yields (runtime, whether pods have their own network)."""
    own = request.param == "pod-network"
    parent = f"kubeedge-test-{secrets.token_hex(4)}"
    if own:
        problem = _unavailable()
        if os.geteuid() != 0:
            pytest.skip(problem)
        if problem:
            pytest.fail(f"{problem}; {INSTALL_HINT}")
        cidr = free_subnet(24, ipaddress.ip_network("10.96.0.0/12"))
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
        runtime = ProcessRuntime(tmp_path / "edge", pod_cidr=str(cidr), node_name="edge-s",
                                 cni_bin_dir=CNI_BIN, cgroup_parent=parent)
    else:
        runtime = ProcessRuntime(tmp_path / "edge", network=False, cgroup_parent=parent)
    try:
        yield runtime, own
    finally:
        await remove_everything(runtime, network=own)
        if own:
            Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
            assert not mounts_under(runtime.root)
        for mount in {*cgroups._v1_mounts().values(), cgroups.DEFAULT_BASE}:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(mount, parent))


async def start(rt: ProcessRuntime, *command: str, name: str = "web", uid: str = "uid-1",
                hostname: str = "", **kw: object) -> tuple[str, str]:
    """A pod with one container running `command`: (sandbox id, container id)."""
    sb = await rt.run_pod_sandbox(PodSandboxConfig(
        PodSandboxMetadata(name, "default", uid), hostname=hostname,
        labels=kubelet_sandbox_labels("default", name, uid)))
    cid = await rt.create_container(sb, ContainerConfig(
        ContainerMetadata("c"), kw.pop("image", "busybox"), command=command,  # type: ignore[arg-type]
        labels=kubelet_container_labels("default", name, uid, "c"), **kw))  # type: ignore[arg-type]
    await rt.start_container(cid)
    return sb, cid


async def drain(read: object, timeout: float = 10.0) -> bytes:
    out = b""
    async with asyncio.timeout(timeout):
        while chunk := await read():  # type: ignore[operator]
            out += chunk
    return out


async def read_until(read: object, pattern: bytes, got: bytearray,
                     timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while pattern not in got:
            chunk = await read()  # type: ignore[operator]
            assert chunk, f"stream ended before {pattern!r}: {bytes(got)!r}"
            got.extend(chunk)


async def test_exec_separates_the_streams_and_reports_the_exit_code(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(runtime, "sleep", "300")
    p = await runtime.exec(cid, ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    out, err = await asyncio.gather(drain(p.read_stdout), drain(p.read_stderr))
    assert (out, err) == (b"hi\n", b"oops\n")
    assert await asyncio.wait_for(p.wait(), 10) == 3
    killed = await runtime.exec(cid, ["sh", "-c", "kill -9 $$"])
    assert await asyncio.wait_for(killed.wait(), 10) == 137
    with pytest.raises(RuntimeServiceError, match="executable file not found"):
        await runtime.exec(cid, ["no-such-command"])


async def test_exec_with_stdin(rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(runtime, "sleep", "300")
    p = await runtime.exec(cid, ["cat"], stdin=True)
    await p.write_stdin(b"x\n")
    await p.close_stdin()
    assert await drain(p.read_stdout) == b"x\n"
    assert await asyncio.wait_for(p.wait(), 10) == 0


async def test_an_exec_outliving_its_caller_ends_with_the_container(tmp_path: Path) -> None:
    """An exec whose edgecore went away (killed mid-session) is not left running: the
    container's stop ends it, also from a new runtime instance over the same root, and
    where there are no cgroups to kill it with (as on hosts that do not let us make
    them)."""
    runtime = ProcessRuntime(tmp_path / "edge", network=False)
    _, cid = await start(runtime, "sleep", "300")
    p = await runtime.exec(cid, ["sh", "-c", "echo started; exec sleep 300"])
    got = bytearray()
    await read_until(p.read_stdout, b"started", got)
    # As where the host gives us no cgroups: the container's record names none (so
    # stopping it cannot kill by cgroup), and the exec is out of its cgroups.
    state = runtime._dir(cid) / "supervisor.json"
    sup = json.loads(state.read_text())
    for path in (sup.get("cgroup") or {}).get("paths") or []:
        root = path.split("/kubeedge/")[0]
        Path(root, "cgroup.procs").write_text(str(p.pid))
    sup["cgroup"] = {"paths": []}
    state.write_text(json.dumps(sup))
    # And a command whose shell is gone while its child runs on.
    q = await runtime.exec(cid, ["sh", "-c", "sleep 300 & echo $!; exit 0"])
    child = int((await drain(q.read_stdout)).decode().split()[0])
    assert await asyncio.wait_for(q.wait(), 10) == 0
    assert _running(child)
    again = ProcessRuntime(runtime.root, network=False)
    try:
        await again.stop_container(cid, 0)
        assert await asyncio.wait_for(p.wait(), 10) == 128 + 9
        await until(lambda: not _running(child), 10, "the orphaned child to be killed")
    finally:
        await remove_everything(again, network=False)


def _running(pid: int) -> bool:
    st = procfs.read_stat(pid)
    return st is not None and st.state not in ("Z", "X")


async def test_exec_sees_the_pods_hostname_and_environment(
        rt: tuple[ProcessRuntime, bool], tmp_path: Path) -> None:
    runtime, own = rt
    work = tmp_path / "work"
    work.mkdir()
    _, cid = await start(runtime, "sleep", "300", hostname="alpha",
                         env={"GREETING": "from-pod"}, working_dir=str(work))
    p = await runtime.exec(cid, ["sh", "-c", "hostname; echo $GREETING; pwd"])
    lines = (await drain(p.read_stdout)).decode().split()
    assert await p.wait() == 0
    assert lines[1:] == ["from-pod", str(work)]
    assert lines[0] == ("alpha" if own else socket.gethostname())


async def test_exec_with_a_tty_gets_a_terminal_that_resizes(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(runtime, "sleep", "300")
    p = await runtime.exec(
        cid, ["sh", "-c", "tty; trap 'echo winch' WINCH; echo ready; read x; stty size; "
              "echo end"], tty=True, stdin=True)
    assert await p.read_stderr() == b""  # merged into stdout under a tty
    got = bytearray()
    await read_until(p.read_stdout, b"ready", got)
    assert re.match(rb"/dev/pts/\d+\r\n", bytes(got)), bytes(got)
    p.resize(100, 30)
    await p.write_stdin(b"go\r")
    await read_until(p.read_stdout, b"end", got)
    text = bytes(got).decode()
    assert "30 100" in text and "winch" in text, text
    assert await asyncio.wait_for(p.wait(), 10) == 0


async def test_killing_an_exec_kills_its_process_group(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(runtime, "sleep", "300")
    p = await runtime.exec(cid, ["sh", "-c", "sleep 300 & sleep 300"])
    pid = p.pid  # type: ignore[attr-defined]

    def group() -> list[int]:
        alive = []
        for name in os.listdir("/proc"):
            st = procfs.read_stat(int(name)) if name.isdigit() else None
            if st is not None and st.pgrp == pid and st.state not in ("Z", "X"):
                alive.append(st.pid)
        return alive
    await until(lambda: len(group()) >= 2, what="the command and its background child")
    await p.kill()
    assert await asyncio.wait_for(p.wait(), 10) == 137
    await until(lambda: not group(), what="the whole process group gone")


async def test_attach_gets_new_output_and_stdin_reaches_the_container(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(
        runtime, "sh", "-c", "echo old; while read l; do echo got $l; echo err $l >&2; done",
        stdin=True)
    log = runtime.container_log_path(cid)
    await until(lambda: Path(log).exists() and "old" in Path(log).read_text(),
                what="the old line logged")
    a = await runtime.attach(cid, stdin=True)
    await a.write_stdin(b"one\n")
    out, err = bytearray(), bytearray()
    await read_until(a.read_stdout, b"got one\n", out)
    await read_until(a.read_stderr, b"err one\n", err)
    assert b"old" not in out  # only what came after the attach
    # Detaching leaves the container running; a second attach works.
    await a.kill()
    assert (await runtime.container_status(cid)).state == ContainerState.RUNNING
    b = await runtime.attach(cid, stdin=True)
    await b.write_stdin(b"two\n")
    again = bytearray()
    await read_until(b.read_stdout, b"got two\n", again)
    await runtime.stop_container(cid, 5)
    assert await asyncio.wait_for(b.wait(), 10) == 143
    await drain(b.read_stdout)  # ends with the container


async def test_attach_with_stdin_needs_a_container_created_with_stdin(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, cid = await start(runtime, "sleep", "300")
    with pytest.raises(RuntimeServiceError, match="not created with stdin"):
        await runtime.attach(cid, stdin=True)
    a = await runtime.attach(cid)  # output only is fine
    await a.kill()


async def test_port_forward_reaches_a_server_on_the_pods_localhost(
        rt: tuple[ProcessRuntime, bool], tmp_path: Path) -> None:
    runtime, own = rt
    with socket.socket() as s:  # a free port (the host's, which matters for host network)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello").write_text("hello from the pod\n")
    sb, _ = await start(runtime, "python3", "-m", "http.server", "--bind", "127.0.0.1",
                        str(port), image="python", working_dir=str(tmp_path / "www"))

    async def get() -> bytes:
        try:
            reader, writer = await runtime.port_forward(sb, port)
        except RuntimeServiceError:
            return b""
        writer.write(b"GET /hello HTTP/1.0\r\nHost: x\r\n\r\n")
        await writer.drain()
        body = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return body

    body = await until(get, what="the server answering through port-forward")
    assert body.startswith(b"HTTP/1.0 200") and body.endswith(b"hello from the pod\n")
    if own:
        # Really the pod's namespace: the host's 127.0.0.1 has nothing on that port.
        with pytest.raises(ConnectionRefusedError), socket.create_connection(
                ("127.0.0.1", port), timeout=2):
            pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        unused = s.getsockname()[1]
    with pytest.raises(RuntimeServiceError, match="refused"):
        await runtime.port_forward(sb, unused)


async def test_a_container_spinning_a_core_shows_800m_or_more(
        rt: tuple[ProcessRuntime, bool]) -> None:
    runtime, _ = rt
    _, _cid = await start(runtime, "sh", "-c", "while :; do :; done", uid="uid-spin",
                         name="spin")
    pods = [{"metadata": {"name": "spin", "namespace": "default", "uid": "uid-spin"}}]
    stats = StatsProvider(runtime, lambda: pods, node_name="edge-s", interval=1.0)
    stats.start()
    try:
        def cores() -> int:
            for p in stats.summary()["pods"]:
                return p["cpu"].get("usageNanoCores", 0) if "cpu" in p else 0
            return 0
        # The rate exists from the second sample on; what it reads depends on what
        # else this (two-core) machine runs meanwhile, so allow a few more intervals.
        await until(lambda: stats.samples >= 2, 10, "two samples")
        assert cores() > 0, stats.summary()
        await until(lambda: cores() >= 800_000_000, 30,
                    f"800m or more (load average {os.getloadavg()})")
        assert stats.summary()["node"]["cpu"]["usageNanoCores"] >= 800_000_000
        assert 'container="c",namespace="default",pod="spin"' in stats.resource_metrics()
    finally:
        await stats.stop()
