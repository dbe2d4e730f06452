"""cgroup setup never raises: limits are applied where the hierarchy allows, otherwise
the reason is recorded. (The real hierarchy is exercised by the integration test.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeedge.edge.runtime import cgroups


def test_not_root_records_why_limits_are_not_enforced(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    got = cgroups.create("c1", "kubeedge", memory_limit=1 << 20, base=str(tmp_path))
    assert not got.enforced and "not running as root" in got.reason and got.paths == []
    # Without limits asked for, nothing is missing.
    assert cgroups.create("c1", "kubeedge", base=str(tmp_path)).enforced


def test_v2_limits_are_written_as_kubelet_maps_them(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    # A directory laid out like a cgroup2 mount (plain files stand in for the kernel's).
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    got = cgroups.create("c1", "kubeedge-node", memory_limit=64 << 20, cpu_quota=50_000,
                         cpu_period=100_000, cpu_shares=512, base=str(tmp_path))
    group = tmp_path / "kubeedge-node/c1"
    assert got.enforced and got.version == 2 and got.paths == [str(group)]
    assert (group / "memory.max").read_text() == str(64 << 20)
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "cpu.weight").read_text() == "20"
    assert (tmp_path / "kubeedge-node/cgroup.subtree_control").read_text() in ("+memory",
                                                                               "+cpu")


def test_v2_without_the_memory_controller_says_so(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    got = cgroups.create("c1", "kubeedge", memory_limit=64 << 20, base=str(tmp_path))
    assert not got.enforced and "memory" in got.reason


def test_oom_and_usage_read_both_versions(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (v2 / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (v2 / "memory.current").write_text("10000\n")
    (v2 / "memory.stat").write_text("anon 6000\ninactive_file 3000\n")
    assert cgroups.oom_killed([str(v2)])
    assert cgroups.usage([str(v2)]) == (1_500_000, 7000)
    mem, cpu = tmp_path / "memory", tmp_path / "cpuacct"
    mem.mkdir()
    cpu.mkdir()
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (mem / "memory.usage_in_bytes").write_text("9000\n")
    (mem / "memory.stat").write_text("cache 10\ntotal_inactive_file 1000\n")
    (cpu / "cpuacct.usage").write_text("123456\n")
    assert not cgroups.oom_killed([str(mem)])
    assert cgroups.usage([str(cpu), str(mem)]) == (123456, 8000)
