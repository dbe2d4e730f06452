"""Edges on hosts of their own: each edge's `keadm join` and edgecore run in a network
namespace of a test LAN (tests/fixtures/netns.py), the cloud on the host's side of it.
Shared by the tests that need pods talking across edges (test_multi_edge.py,
test_training_jobs.py)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeedge.cloud import setup_edge
from kubeedge.edge.runtime.network import network_problem
from tests.fixtures.cluster import Cloud, keadm, running_cloud
from tests.fixtures.netns import Lan, LanHost, netns_available
from tests.integration.edge import edgepods as ep


def unavailable() -> str:
    """Why edges with pod networks on a LAN cannot run here ("" when they can)."""
    problem = netns_available()
    if problem:
        return problem
    return network_problem(enabled=True, euid=0, pod_cidr="10.0.0.0/24",
                           cni_bin_dir="/usr/lib/cni")


def require_parts() -> None:
    """Fail (not skip) with how to install what is missing."""
    problem = unavailable()
    if problem:
        pytest.fail(f"{problem}; apt-get install containernetworking-plugins iproute2 "
                    "(make test installs them)")


@dataclass
class Edge:
    name: str
    root: Path
    host: LanHost

    def pod_cidr(self) -> str:
        try:
            return (self.root / "var/lib/kubeedge/cni/podcidr").read_text().strip()
        except OSError:
            return ""

    def routes(self) -> list[list[str]]:
        """The routes its runtime programmed, [podCIDR, via] each."""
        try:
            return list(json.loads(
                (self.root / "var/lib/kubeedge/cni/routes.json").read_text()))
        except (OSError, ValueError):
            return []

    def keadm(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """keadm run on the edge's own host: its network namespace, the host's mount
        namespace (so the pods' namespace files stay visible to the test)."""
        return subprocess.run(
            self.host.nsenter_args(sys.executable, "-m", "kubeedge.cli.keadm", *args),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def lan_cloud(base: Path, lan: Lan, controllers: tuple[str, ...]) -> Iterator[Cloud]:
    """A cloud whose hub, certificate and tunnel servers answer on the LAN too."""
    sets = ["modules.cloudHub.websocket.address=0.0.0.0",
            "modules.cloudHub.https.address=0.0.0.0",
            "modules.cloudStream.address=0.0.0.0",
            f"modules.cloudHub.advertiseAddress=127.0.0.1,{lan.host_address}"]
    with running_cloud(base, *[a for s in sets for a in ("--set", s)],
                       controllers=controllers, scheduler=True) as cloud:
        yield cloud


def join(cloud: Cloud, lan: Lan, edge: Edge, token: str, *sets: str) -> None:
    """`keadm join` on the edge's own host, dialling the cloud (hub, certificates and
    the kubectl logs/exec tunnel) at the host's LAN address."""
    sets = (*ep.EDGED_FAST,
            f"modules.edgeStream.server={lan.host_address}:{cloud.tunnel_port}", *sets)
    joined = edge.keadm(
        "join", f"--cloudcore-ipport={lan.host_address}:{cloud.hub_port}",
        f"--certport={cloud.cert_port}", f"--token={token}",
        f"--edgenode-name={edge.name}", "--root", str(edge.root),
        *[a for s in sets for a in ("--set", s)], "--timeout", "30")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert setup_edge.edgecore_pid(edge.root) is not None


@contextlib.contextmanager
def joined_edges(cloud: Cloud, lan: Lan, base: Path, names: list[str],
                 *sets: str) -> Iterator[list[Edge]]:
    """One edge per LAN host, joined side by side; reset on their own hosts at the end
    (so each bridge and route goes from the right namespace)."""
    found = [Edge(name, base / name, host)
             for name, host in zip(names, lan.hosts, strict=True)]
    token = keadm("gettoken", "--root", str(cloud.root)).stdout.strip()
    try:
        with concurrent.futures.ThreadPoolExecutor(len(found)) as pool:
            for done in [pool.submit(join, cloud, lan, e, token, *sets) for e in found]:
                done.result()
        yield found
    finally:
        for e in found:
            print(f"--- edgecore log ({e.name}) ---\n{ep.edgecore_log(e.root)}")
            e.keadm("reset", "edge", "--root", str(e.root), "--force")
