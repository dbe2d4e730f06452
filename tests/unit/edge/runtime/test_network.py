"""Pod networking decisions and file formats, without root: when a sandbox falls back to
the host network and what reason the runtime gives; the bridge name; the conflist; the
pod's /etc/hosts; the podCIDR kept across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeedge.edge.runtime import PodSandboxConfig, PodSandboxMetadata, PodSandboxState
from kubeedge.edge.runtime.network import (
    REQUIRED_PLUGINS,
    NetworkError,
    PodNetwork,
    bridge_name,
    hosts_file_content,
    network_problem,
    pod_hostname,
)
from kubeedge.edge.runtime.process import ProcessRuntime


def fake_cni(tmp_path: Path) -> str:
    d = tmp_path / "cni"
    d.mkdir()
    for name in REQUIRED_PLUGINS:
        (d / name).write_text("#!/bin/sh\nexit 1\n")
        (d / name).chmod(0o755)
    return str(d)


def found(name: str, path: str = "") -> str:
    return f"/usr/bin/{name}"


def test_every_missing_piece_is_named(tmp_path: Path) -> None:
    cni = fake_cni(tmp_path)
    ok = {"enabled": True, "euid": 0, "pod_cidr": "10.244.1.0/24", "cni_bin_dir": cni,
          "which": found}
    assert network_problem(**ok) == ""
    cases = {
        "disabled in the configuration": {"enabled": False},
        "not running as root": {"euid": 1000},
        "no podCIDR": {"pod_cidr": ""},
        "not a network": {"pod_cidr": "banana"},
        "not an IPv4 range": {"pod_cidr": "fd00::/64"},
        "bridge, host-local, loopback not found": {"cni_bin_dir": str(tmp_path / "none")},
        "nsenter not found": {"which": lambda n, path="": None if n == "nsenter" else n},
    }
    for words, change in cases.items():
        reason = network_problem(**{**ok, **change})
        assert words in reason and reason.endswith("pods use the host network"), reason


async def test_not_root_falls_back_to_the_host_network_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rt = ProcessRuntime(tmp_path, pod_cidr="10.244.1.0/24", cni_bin_dir=fake_cni(tmp_path))
    ok, reason = rt.network_status()
    assert not ok and "not running as root" in reason
    sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "ns", "u")))
    s = await rt.pod_sandbox_status(sb)
    assert (s.network, s.network_reason, s.ip) == ("host", reason, "")
    assert s.state == PodSandboxState.READY
    assert rt.net.sandboxes() == []  # nothing was set up, so nothing to tear down
    await rt.remove_pod_sandbox(sb)
    assert await rt.list_pod_sandboxes() == []


async def test_host_network_pods_never_get_a_network(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("kubeedge.edge.runtime.network.shutil.which", found)
    rt = ProcessRuntime(tmp_path, pod_cidr="10.244.1.0/24", cni_bin_dir=fake_cni(tmp_path))
    assert rt.network_status() == (True, "")
    sb = await rt.run_pod_sandbox(PodSandboxConfig(PodSandboxMetadata("p", "ns", "u"),
                                                   host_network=True))
    s = await rt.pod_sandbox_status(sb)
    assert (s.network, s.network_reason, s.ip) == ("host", "hostNetwork", "")


async def test_the_pod_cidr_comes_later_and_survives_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("kubeedge.edge.runtime.network.shutil.which", found)
    cni = fake_cni(tmp_path)
    rt = ProcessRuntime(tmp_path, cni_bin_dir=cni)
    assert "no podCIDR" in rt.network_status()[1]
    await rt.update_runtime_config("10.244.7.0/24")
    assert rt.network_status() == (True, "")
    again = ProcessRuntime(tmp_path, cni_bin_dir=cni)  # edgecore restarted, cloud away
    assert again.net.pod_cidr == "10.244.7.0/24" and again.network_status()[0]


def test_bridge_names_fit_the_kernel_and_differ_per_edge(tmp_path: Path) -> None:
    a = bridge_name(tmp_path / "a", "node")
    assert len(a) <= 15 and a.startswith("kbr")
    assert a == bridge_name(tmp_path / "a", "node")
    assert a != bridge_name(tmp_path / "b", "node") != bridge_name(tmp_path / "a", "n2")


def test_the_conflist_is_a_bridge_with_host_local_under_the_root(tmp_path: Path) -> None:
    net = PodNetwork(tmp_path, node_name="n", pod_cidr="10.244.3.0/24")
    conf = net.conflist()
    assert conf["cniVersion"] == "1.0.0" and len(conf["plugins"]) == 1
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == net.bridge
    assert bridge["isGateway"] and bridge["ipMasq"] and bridge["hairpinMode"]
    ipam = bridge["ipam"]
    assert ipam["type"] == "host-local"
    assert ipam["ranges"] == [[{"subnet": "10.244.3.0/24"}]]
    assert Path(ipam["dataDir"]).is_relative_to(tmp_path)


def test_hosts_file_as_kubelet_writes_it() -> None:
    plain = hosts_file_content("10.244.1.5", "web-0", namespace="default").splitlines()
    assert plain[0] == "# Kubernetes-managed hosts file."
    assert "127.0.0.1\tlocalhost" in plain and "::1\tlocalhost ip6-localhost ip6-loopback" \
        in plain
    assert plain[-1] == "10.244.1.5\tweb-0"
    full = hosts_file_content(
        "10.244.1.5", "web-0", namespace="shop", subdomain="web", cluster_domain="c.local",
        entries=[("10.244.2.9", ["web-1.web.shop.svc.c.local", "web-1"]), ("", ["x"]),
                 ("10.0.0.1", [])]).splitlines()
    assert "10.244.1.5\tweb-0.web.shop.svc.c.local\tweb-0" in full
    assert full[-1] == "10.244.2.9\tweb-1.web.shop.svc.c.local\tweb-1"
    assert not any(line.startswith(("\tx", "10.0.0.1")) for line in full)


def test_long_hostnames_are_truncated_as_kubelet_does() -> None:
    assert pod_hostname("a" * 63) == "a" * 63
    assert pod_hostname("a" * 62 + "-bc") == "a" * 62


async def test_bad_routes_are_refused_with_the_route_named(tmp_path: Path) -> None:
    net = PodNetwork(tmp_path)
    with pytest.raises(NetworkError, match=r"10\.0\.0\.0/33"):
        await net.program_routes([("10.0.0.0/33", "192.168.1.2")])
    with pytest.raises(NetworkError, match="via nowhere"):
        await net.program_routes([("10.0.0.0/24", "nowhere")])


async def test_teardown_of_an_unknown_sandbox_is_a_no_op(tmp_path: Path) -> None:
    net = PodNetwork(tmp_path)
    await net.teardown("0" * 64)
    with pytest.raises(NetworkError):
        await net.teardown("../etc")


async def test_routes_via_a_loopback_address_are_skipped(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Edges on one machine with node IPs 127.0.0.2 and .3 (the non-root demo): those
    gateways are this host even though `ip addr` lists only 127.0.0.1."""
    from kubeedge.edge.runtime import network

    commands: list[list[str]] = []

    async def run(argv: list[str], **_: object) -> tuple[int, str, str]:
        commands.append(list(argv))
        return 0, "[]", ""

    monkeypatch.setattr(network, "_run", run)
    net = PodNetwork(tmp_path)
    assert await net.program_routes([("10.244.9.0/24", "127.0.0.3"),
                                     ("10.244.8.0/24", "192.0.2.8")]) == [
        ("10.244.8.0/24", "192.0.2.8")]
    replaced = [c for c in commands if c[:3] == ["ip", "route", "replace"]]
    assert replaced == [["ip", "route", "replace", "10.244.8.0/24", "via", "192.0.2.8"]]
