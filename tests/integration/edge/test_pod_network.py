"""Pod networking of the process runtime with real namespaces, real CNI plugins and real
processes: pods with their own IPs serving the same port, their /etc/hosts and
hostname, hostNetwork, teardown (also by a restarted runtime), and two edges, each in a
network namespace of its own on one LAN, reaching each other's pods through the routes
`program_routes` sets.

Needs root, iproute2, util-linux and Debian's containernetworking-plugins (make
system-deps). The edge in the host's namespace takes its podCIDR from 10.96.0.0/12
where no host address or route overlaps; the two-edge test runs entirely inside
namespaces made for it. Everything made is removed even when a test fails.

This file is also the edge driver of the two-edge test: `python -m
tests.integration.edge.test_pod_network <root> <node> <podCIDR>` runs a ProcessRuntime
(as edgecore would) in whatever network namespace it is started in and takes JSON
commands on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.edge.runtime import (
    ContainerConfig,
    ContainerMetadata,
    ContainerState,
    PodSandboxConfig,
    PodSandboxMetadata,
    PodSandboxState,
    cgroups,
)
from kubeedge.edge.runtime.network import NETWORK_NAME, NetworkError, network_problem
from kubeedge.edge.runtime.process import ProcessRuntime
from tests.fixtures.cluster import eventually as until
from tests.fixtures.netns import edge_lan, free_subnet

REPO = Path(__file__).resolve().parents[3]
CNI_BIN = "/usr/lib/cni"
PORT = 8080


INSTALL_HINT = ("apt-get install containernetworking-plugins iproute2 (make test installs "
                "them)")


def _unavailable() -> str:
    if os.geteuid() != 0:
        return "pod networking needs root"
    problem = network_problem(enabled=True, euid=0, pod_cidr="10.0.0.0/24",
                              cni_bin_dir=CNI_BIN)
    return problem




def fetch(url: str, timeout: float = 2.0) -> int:
    """HTTP status of a GET, 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def mounts_under(root: Path) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == str(root) or point.startswith(f"{root}/"):
                found.append(point)
    return found


def unmount_under(root: Path) -> None:
    for point in sorted(mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def links_on(bridge: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "link", "show", "master", bridge],
                         capture_output=True, text=True, check=False).stdout
    return [link["ifname"] for link in json.loads(out or "[]")]


async def http_pod(rt: ProcessRuntime, name: str, serve_dir: Path, **sandbox: Any
                   ) -> tuple[str, str, str]:
    """A pod serving `serve_dir` (which holds a file named after the pod) on PORT:
    (sandbox id, container id, pod IP)."""
    serve_dir.mkdir(parents=True, exist_ok=True)
    (serve_dir / f"i-am-{name}").write_text(name)
    sb = await rt.run_pod_sandbox(PodSandboxConfig(
        PodSandboxMetadata(name, "default", f"uid-{name}"), **sandbox))
    cid = await rt.create_container(sb, ContainerConfig(
        ContainerMetadata("web"), "python",
        command=["python3", "-m", "http.server", str(PORT)], working_dir=str(serve_dir)))
    await rt.start_container(cid)
    return sb, cid, (await rt.pod_sandbox_status(sb)).ip


async def remove_everything(rt: ProcessRuntime, *, network: bool = True) -> None:
    """Whatever a test left: containers killed, sandboxes (and their networks) removed,
    the bridge and routes deleted, every mount under the root undone."""
    if network:
        for s in await rt.list_pod_sandboxes():
            with contextlib.suppress(Exception):
                await rt.remove_pod_sandbox(s.id)
    for c in await rt.list_containers():
        with contextlib.suppress(Exception):
            await rt.remove_container(c.id)
    if network:
        with contextlib.suppress(Exception):
            await rt.net.reset()
    unmount_under(rt.root)
    for mount in {*cgroups._v1_mounts().values(), cgroups.DEFAULT_BASE}:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(mount, rt.cgroup_parent))


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    problem = _unavailable()
    if os.geteuid() != 0:
        pytest.skip(problem)  # a host limit, not a missing part
    if problem:
        pytest.fail(f"{problem}; {INSTALL_HINT}")
    cidr = free_subnet(24, ipaddress.ip_network("10.96.0.0/12"))
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    rt = ProcessRuntime(tmp_path / "edge", pod_cidr=str(cidr), node_name="edge-a",
                        cni_bin_dir=CNI_BIN,
                        cgroup_parent=f"kubeedge-test-{secrets.token_hex(4)}")
    try:
        yield rt
    finally:
        await remove_everything(rt)
        # The bridge plugin (isGateway) switched forwarding on; give the host back as
        # it was.
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
        assert not mounts_under(rt.root), "namespace files left mounted"
        assert subprocess.run(["ip", "link", "show", rt.net.bridge], capture_output=True,
                              check=False).returncode != 0, "bridge left behind"


async def test_two_pods_on_one_edge_serve_the_same_port(edge: ProcessRuntime,
                                                        tmp_path: Path) -> None:
    assert edge.network_status() == (True, "")
    cidr = ipaddress.ip_network(edge.net.pod_cidr)
    a = await http_pod(edge, "a", tmp_path / "www-a", hostname="alpha", subdomain="web",
                       hosts_entries=[("10.1.2.3", ["beta.web.default.svc.cluster.local"])])
    b = await http_pod(edge, "b", tmp_path / "www-b")
    ips = [a[2], b[2]]
    assert len(set(ips)) == 2 and all(ipaddress.ip_address(ip) in cidr for ip in ips), ips
    for (_, _, ip), own, other in ((a, "a", "b"), (b, "b", "a")):
        await until(lambda ip=ip, own=own: fetch(f"http://{ip}:{PORT}/i-am-{own}") == 200,
                    what=f"pod {own} serving at {ip}:{PORT}")
        assert fetch(f"http://{ip}:{PORT}/i-am-{other}") == 404  # really that pod

    # Each pod's own hostname and /etc/hosts, for exec and for the container itself.
    host_hosts = Path("/etc/hosts").read_text()
    r = await edge.exec_sync(a[1], ["sh", "-c", "hostname; cat /etc/hosts"], 10)
    lines = r.stdout.decode().splitlines()
    assert r.exit_code == 0 and lines[0] == "alpha", r
    assert f"{a[2]}\talpha.web.default.svc.cluster.local\talpha" in lines
    assert "127.0.0.1\tlocalhost" in lines
    assert "10.1.2.3\tbeta.web.default.svc.cluster.local" in lines
    pid_b = (await edge.container_status(b[1])).pid
    seen_by_b = Path(f"/proc/{pid_b}/root/etc/hosts").read_text()
    assert f"{b[2]}\tb" in seen_by_b.splitlines() and "alpha" not in seen_by_b
    assert Path("/etc/hosts").read_text() == host_hosts  # the host's file is untouched
    # Joining the namespaces costs the supervisor nothing (ctypes is loaded in the
    # child that execs, not in the supervisor; ARCHITECTURE.md rule 9).
    sup = json.loads((edge.container_dir / b[1] / "supervisor.json").read_text())
    with open(f"/proc/{sup['supervisorPid']}/status") as f:
        anon_kib = next(int(line.split()[1]) for line in f if line.startswith("RssAnon"))
    assert anon_kib < 7 * 1024, f"supervisor RssAnon {anon_kib} KiB"
    r = await edge.exec_sync(b[1], ["hostname"], 10)
    assert r.stdout.decode().strip() == "b"
    assert socket.gethostname() != "b"

    # The cluster's names change: the file is rewritten where the containers see it.
    assert await edge.update_pod_hosts(a[0], [("10.1.2.4", ["gamma"])])
    r = await edge.exec_sync(a[1], ["cat", "/etc/hosts"], 10)
    assert "10.1.2.4\tgamma" in r.stdout.decode().splitlines()
    assert "beta" not in r.stdout.decode()


async def test_host_network_pod_uses_the_host(edge: ProcessRuntime, tmp_path: Path) -> None:
    sb = await edge.run_pod_sandbox(PodSandboxConfig(
        PodSandboxMetadata("h", "default", "uid-h"), host_network=True))
    s = await edge.pod_sandbox_status(sb)
    assert (s.network, s.network_reason, s.ip) == ("host", "hostNetwork", "")
    cid = await edge.create_container(sb, ContainerConfig(
        ContainerMetadata("c"), "busybox", command=["sleep", "300"]))
    await edge.start_container(cid)
    pid = (await edge.container_status(cid)).pid
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    assert os.readlink(f"/proc/{pid}/ns/uts") == os.readlink("/proc/self/ns/uts")
    r = await edge.exec_sync(cid, ["hostname"], 10)
    assert r.stdout.decode().strip() == socket.gethostname()


async def test_removal_frees_the_ip_and_the_namespaces(edge: ProcessRuntime,
                                                      tmp_path: Path) -> None:
    sb, _cid, ip = await http_pod(edge, "gone", tmp_path / "www")
    lease = edge.net.ipam_dir / NETWORK_NAME / ip
    state = edge.net.state(sb)
    assert state is not None and lease.read_text().startswith(sb)
    netns, uts = Path(state["netns"]), Path(state["utsns"])
    assert os.path.ismount(netns) and os.path.ismount(uts)
    assert len(links_on(edge.net.bridge)) == 1
    await until(lambda: fetch(f"http://{ip}:{PORT}/") == 200, what="the pod serving")
    await edge.net.check(sb)  # CNI CHECK agrees with what ADD made

    await edge.stop_pod_sandbox(sb, timeout=5)
    s = await edge.pod_sandbox_status(sb)
    assert s.state == PodSandboxState.NOTREADY and s.ip == ""
    assert not lease.exists() and not netns.exists() and not uts.exists()
    assert links_on(edge.net.bridge) == []
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True,
                         text=True, check=False).stdout
    assert f"{ip}/32" not in nat, "ipMasq rule left behind"
    await edge.remove_pod_sandbox(sb)
    await edge.remove_pod_sandbox(sb)  # idempotent
    assert edge.net.state(sb) is None and not mounts_under(edge.root)
    assert await edge.list_pod_sandboxes() == []


async def test_a_restarted_runtime_sees_the_ip_and_tears_it_down(
        edge: ProcessRuntime, tmp_path: Path) -> None:
    sb, cid, ip = await http_pod(edge, "kept", tmp_path / "www")
    await until(lambda: fetch(f"http://{ip}:{PORT}/") == 200, what="the pod serving")
    lease = edge.net.ipam_dir / NETWORK_NAME / ip

    # edgecore restarted, this time with pod networking switched off in its config:
    # the pod keeps its network, and its teardown still uses what it was made with.
    again = ProcessRuntime(edge.root, network=False, cgroup_parent=edge.cgroup_parent)
    assert again.network_status()[0] is False
    s = await again.pod_sandbox_status(sb)
    assert s.ip == ip and s.state == PodSandboxState.READY
    assert (await again.container_status(cid)).state == ContainerState.RUNNING
    assert fetch(f"http://{ip}:{PORT}/") == 200
    r = await again.exec_sync(cid, ["hostname"], 10)
    assert r.stdout.decode().strip() == "kept"
    await again.remove_pod_sandbox(sb)
    assert not lease.exists() and edge.net.state(sb) is None
    assert not mounts_under(edge.root) and links_on(edge.net.bridge) == []
    assert fetch(f"http://{ip}:{PORT}/", timeout=0.5) == 0


async def test_a_failing_plugin_leaves_nothing_behind(edge: ProcessRuntime,
                                                     tmp_path: Path) -> None:
    # The real loopback and host-local, and a bridge plugin whose ADD fails as CNI says
    # a plugin fails (an error object on stdout, non-zero exit); its DEL is the real one.
    bin_dir = tmp_path / "cni"
    bin_dir.mkdir()
    for plugin in ("loopback", "host-local"):
        (bin_dir / plugin).symlink_to(f"{CNI_BIN}/{plugin}")
    stub = bin_dir / "bridge"
    stub.write_text(
        '#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then\n'
        '  echo \'{"cniVersion":"1.0.0","code":11,"msg":"no bridge today"}\'; exit 1\nfi\n'
        f"exec {CNI_BIN}/bridge\n")
    stub.chmod(0o755)
    broken = ProcessRuntime(edge.root, pod_cidr=edge.net.pod_cidr, cni_bin_dir=str(bin_dir),
                            node_name="edge-a", cgroup_parent=edge.cgroup_parent)
    config = PodSandboxConfig(PodSandboxMetadata("x", "d", "u"))
    with pytest.raises(NetworkError, match="no bridge today"):
        await broken.run_pod_sandbox(config)
    assert await broken.list_pod_sandboxes() == []
    assert broken.net.sandboxes() == [] and not mounts_under(edge.root)

    # DEL failing too: the sandbox stays, NOTREADY, until a removal can tear it down.
    stub.write_text('#!/bin/sh\necho \'{"code":11,"msg":"still broken"}\'; exit 1\n')
    with pytest.raises(NetworkError, match=r"no bridge today|still broken"):
        await broken.run_pod_sandbox(config)
    [left] = await broken.list_pod_sandboxes()
    assert left.state == PodSandboxState.NOTREADY and "still broken" in left.network_reason
    with pytest.raises(NetworkError):
        await broken.remove_pod_sandbox(left.id)
    stub.unlink()
    stub.symlink_to(f"{CNI_BIN}/bridge")
    await broken.remove_pod_sandbox(left.id)
    assert await broken.list_pod_sandboxes() == [] and broken.net.sandboxes() == []
    assert not mounts_under(edge.root)


# --- two edges, each a host of its own on one LAN ---------------------------------------


class EdgeDriver:
    """An edge (this file run as a program) in a network namespace of its own."""

    def __init__(self, proc: asyncio.subprocess.Process, root: Path) -> None:
        self.proc = proc
        self.root = root

    async def call(self, op: str, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise AssertionError(f"edge driver for {self.root} exited during {op}")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"edge driver {op}: {reply['error']}")
        return reply


async def test_two_edges_reach_each_others_pods_through_programmed_routes(
        tmp_path: Path) -> None:
    problem = _unavailable()
    if os.geteuid() != 0:
        pytest.skip(problem)  # a host limit, not a missing part
    if problem:
        pytest.fail(f"{problem}; {INSTALL_HINT}")
    cidrs = ["10.244.1.0/24", "10.244.2.0/24"]
    drivers: list[EdgeDriver] = []
    with edge_lan(2) as hosts:
        try:
            for i, host in enumerate(hosts):
                root = tmp_path / f"edge{i}"
                proc = await asyncio.create_subprocess_exec(
                    *host.nsenter_args(sys.executable, "-m",
                                       "tests.integration.edge.test_pod_network",
                                       str(root), f"edge-{i}", cidrs[i]),
                    cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                drivers.append(EdgeDriver(proc, root))
            pods = [await d.call("run", name=f"p{i}", dir=str(tmp_path / f"www{i}"))
                    for i, d in enumerate(drivers)]
            assert ipaddress.ip_address(pods[0]["ip"]) in ipaddress.ip_network(cidrs[0])
            assert ipaddress.ip_address(pods[1]["ip"]) in ipaddress.ip_network(cidrs[1])
            url = [f"http://{p['ip']}:{PORT}/i-am-p{i}" for i, p in enumerate(pods)]

            # Without routes the other edge's pods are unreachable.
            r = await drivers[0].call("pod_fetch", container=pods[0]["container"], url=url[1])
            assert r["exit"] != 0, r

            set0 = await drivers[0].call("routes", routes=[[cidrs[1], hosts[1].address],
                                                           [cidrs[0], hosts[0].address]])
            assert set0["routes"] == [[cidrs[1], hosts[1].address]]  # never its own
            await drivers[1].call("routes", routes=[[cidrs[0], hosts[0].address]])
            table = (await drivers[0].call("ip_route"))["out"]
            assert f"{cidrs[1]} via {hosts[1].address}" in table, table

            # Pod to pod, both ways, each reaching the other edge's pod (not its own).
            for src, dst in ((0, 1), (1, 0)):
                r = await drivers[src].call("pod_fetch", container=pods[src]["container"],
                                            url=url[dst])
                assert r["exit"] == 0 and r["stdout"].strip() == "200", r

            # Routes no longer wanted are removed: edge 0 loses its way to edge 1.
            assert (await drivers[0].call("routes", routes=[]))["routes"] == []
            table = (await drivers[0].call("ip_route"))["out"]
            assert cidrs[1] not in table, table
            r = await drivers[0].call("pod_fetch", container=pods[0]["container"], url=url[1])
            assert r["exit"] != 0, r

            for d in drivers:
                await d.call("quit")
                await asyncio.wait_for(d.proc.wait(), 30)
                assert not mounts_under(d.root)
        finally:
            for d in drivers:
                if d.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        d.proc.kill()
                    await d.proc.wait()
                # The pods' processes live in namespaces of their own: stop them here;
                # the edges' bridges, routes and rules go with their namespaces.
                await remove_everything(ProcessRuntime(d.root, network=False),
                                        network=False)


# --- the edge driver --------------------------------------------------------------------


async def _drive(root: str, node: str, pod_cidr: str) -> None:
    rt = ProcessRuntime(root, pod_cidr=pod_cidr, node_name=node, cni_bin_dir=CNI_BIN,
                        cgroup_parent=f"kubeedge-test-{node}-{secrets.token_hex(3)}")
    loop = asyncio.get_running_loop()

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "run":
            sb, cid, ip = await http_pod(rt, req["name"], Path(req["dir"]))
            await until(lambda: fetch(f"http://{ip}:{PORT}/") == 200,
                        what=f"pod {req['name']} serving")
            return {"sandbox": sb, "container": cid, "ip": ip}
        if op == "routes":
            return {"routes": await rt.net.program_routes(
                [(c, v) for c, v in req["routes"]])}
        if op == "ip_route":
            out = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
            return {"out": out}
        if op == "pod_fetch":
            r = await rt.exec_sync(req["container"], [
                "python3", "-c", "import sys, urllib.request\n"
                "print(urllib.request.urlopen(sys.argv[1], timeout=2).status)",
                req["url"]], 20)
            return {"exit": r.exit_code, "stdout": r.stdout.decode(),
                    "stderr": r.stderr.decode()[-300:]}
        if op == "quit":
            await remove_everything(rt)
            return {}
        raise ValueError(f"unknown op {op!r}")

    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            req = json.loads(line)
            try:
                reply = await handle(req)
            except Exception as e:  # reported to the test, which fails on it
                reply = {"error": repr(e)}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
            if req["op"] == "quit":
                return
    finally:
        await remove_everything(rt)


if __name__ == "__main__":
    asyncio.run(_drive(*sys.argv[1:4]))
