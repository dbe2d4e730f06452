"""A container's cgroup: created by its supervisor, joined by the container process
before exec, read for stats and OOM, emptied and removed after exit.

cgroup v2 (the unified hierarchy at /sys/fs/cgroup, what current distributions boot
with) is preferred: `<base>/<parent>/<container id>` with memory.max, memory.swap.max
and cpu.max/cpu.weight, kubelet's mapping of LinuxContainerResources (the cgroupfs
driver). Hosts still on cgroup v1 (many edge boards and this project's CI VMs) get the
v1 equivalents (memory.limit_in_bytes, cpu.cfs_quota_us/cfs_period_us, cpu.shares) in
each controller's hierarchy. Anything that cannot be set is reported as a reason, never
raised: the container still runs, without the limit, and Edged says so.

Standard library only: the supervisor imports this.
"""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = ["CgroupSetup", "create", "join", "kill_all", "members", "oom_killed", "remove",
           "usage"]

DEFAULT_BASE = "/sys/fs/cgroup"


class CgroupSetup:
    """What `create` achieved: the directories the container joins and whether the
    requested limits are in force (with the reason when they are not)."""

    def __init__(self, version: int, paths: list[str], enforced: bool, reason: str) -> None:
        self.version = version
        self.paths = paths
        self.enforced = enforced
        self.reason = reason

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "paths": self.paths,
                "limitsEnforced": self.enforced, "limitsReason": self.reason}


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _v1_mounts() -> dict[str, str]:
    """controller → mount point of its v1 hierarchy (from /proc/self/mountinfo)."""
    mounts: dict[str, str] = {}
    try:
        lines = _read("/proc/self/mountinfo").splitlines()
    except OSError:
        return mounts
    for line in lines:
        pre, _, post = line.partition(" - ")
        post_fields = post.split()
        if len(post_fields) < 3 or post_fields[0] != "cgroup":
            continue
        mount_point = pre.split()[4]
        for opt in post_fields[2].split(","):
            mounts.setdefault(opt, mount_point)
    return mounts


def _cpu_weight(shares: int) -> int:
    # kubelet's conversion of cpu.shares [2, 262144] to cgroup v2 cpu.weight [1, 10000].
    return 1 + ((shares - 2) * 9999) // 262142


def create(name: str, parent: str, *, memory_limit: int = 0, cpu_quota: int = 0,
           cpu_period: int = 100_000, cpu_shares: int = 0,
           base: str = DEFAULT_BASE) -> CgroupSetup:
    """Create `<parent>/<name>` and apply the limits. Never raises."""
    wanted = memory_limit > 0 or cpu_quota > 0
    if os.geteuid() != 0:
        return CgroupSetup(0, [], not wanted, "not running as root: cgroups not writable")
    try:
        if os.path.exists(os.path.join(base, "cgroup.controllers")):
            return _create_v2(name, parent, memory_limit, cpu_quota, cpu_period, cpu_shares,
                              base, wanted)
        return _create_v1(name, parent, memory_limit, cpu_quota, cpu_period, cpu_shares,
                          wanted)
    except OSError as e:
        return CgroupSetup(0, [], not wanted, f"cgroup setup failed: {e}")


def _create_v2(name: str, parent: str, memory_limit: int, cpu_quota: int, cpu_period: int,
               cpu_shares: int, base: str, wanted: bool) -> CgroupSetup:
    available = set(_read(os.path.join(base, "cgroup.controllers")).split())
    needed = {"memory", "cpu"} & available
    problems = [f"cgroup v2 controller {c} not available at {base}"
                for c in ("memory", "cpu") if c not in available]
    # Controllers must be enabled in every ancestor's subtree_control. At a cgroup
    # namespace root that still holds processes (a container's view) the kernel refuses
    # with EBUSY: then limits cannot be enforced from here.
    parent_dir = os.path.join(base, parent)
    os.makedirs(parent_dir, exist_ok=True)
    for d in (base, parent_dir):
        for c in sorted(needed):
            try:
                _write(os.path.join(d, "cgroup.subtree_control"), f"+{c}")
            except OSError as e:
                problems.append(f"cannot enable {c} in {d}/cgroup.subtree_control: {e}")
                needed.discard(c)
    path = os.path.join(parent_dir, name)
    os.makedirs(path, exist_ok=True)
    try:
        if memory_limit > 0:
            if "memory" in needed:
                _write(os.path.join(path, "memory.max"), str(memory_limit))
                # No swapping past the limit (kubelet's NoSwap behaviour).
                with contextlib.suppress(OSError):
                    _write(os.path.join(path, "memory.swap.max"), "0")
            else:
                problems.append("memory limit not enforced")
        if cpu_quota > 0:
            if "cpu" in needed:
                _write(os.path.join(path, "cpu.max"), f"{cpu_quota} {cpu_period}")
            else:
                problems.append("cpu limit not enforced")
        if cpu_shares > 0 and "cpu" in needed:
            _write(os.path.join(path, "cpu.weight"), str(_cpu_weight(cpu_shares)))
    except OSError as e:
        problems.append(f"cannot write limits in {path}: {e}")
    enforced = not wanted or not any("not enforced" in p or "cannot write" in p
                                     for p in problems)
    return CgroupSetup(2, [path], enforced, "; ".join(problems) if not enforced else "")


def _create_v1(name: str, parent: str, memory_limit: int, cpu_quota: int, cpu_period: int,
               cpu_shares: int, wanted: bool) -> CgroupSetup:
    mounts = _v1_mounts()
    if not mounts:
        return CgroupSetup(0, [], not wanted, "no cgroup v1 or v2 hierarchy is mounted")
    problems: list[str] = []
    paths: dict[str, str] = {}
    for controller in ("memory", "cpu", "cpuacct"):
        mount = mounts.get(controller)
        if mount is None:
            problems.append(f"cgroup v1 controller {controller} not mounted")
            continue
        path = os.path.join(mount, parent, name)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            problems.append(f"cannot create {path}: {e}")
            continue
        paths[controller] = path
    enforced = True
    try:
        if memory_limit > 0:
            if "memory" in paths:
                _write(os.path.join(paths["memory"], "memory.limit_in_bytes"),
                       str(memory_limit))
                with contextlib.suppress(OSError):
                    _write(os.path.join(paths["memory"], "memory.memsw.limit_in_bytes"),
                           str(memory_limit))
            else:
                enforced = False
        if "cpu" in paths:
            if cpu_quota > 0:
                _write(os.path.join(paths["cpu"], "cpu.cfs_period_us"), str(cpu_period))
                _write(os.path.join(paths["cpu"], "cpu.cfs_quota_us"), str(cpu_quota))
            if cpu_shares > 0:
                _write(os.path.join(paths["cpu"], "cpu.shares"), str(cpu_shares))
        elif cpu_quota > 0:
            enforced = False
    except OSError as e:
        problems.append(f"cannot write limits: {e}")
        enforced = False
    enforced = enforced or not wanted
    return CgroupSetup(1, sorted(set(paths.values())), enforced,
                       "" if enforced else "; ".join(problems) or "limits not enforced")


def join(paths: list[str]) -> None:
    """Move the calling process into every cgroup of `paths` (run in the child between
    fork and exec, so nothing the container allocates is charged elsewhere)."""
    for path in paths:
        _write(os.path.join(path, "cgroup.procs"), "0")


def members(paths: list[str]) -> list[int]:
    pids: set[int] = set()
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in _read(os.path.join(path, "cgroup.procs")).split())
    return sorted(pids)


def kill_all(paths: list[str]) -> None:
    """SIGKILL everything in the container's cgroups (cgroup.kill where the kernel has it,
    5.14+)."""
    for path in paths:
        kill_file = os.path.join(path, "cgroup.kill")
        if os.path.exists(kill_file):
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
    for pid in members(paths):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def oom_killed(paths: list[str]) -> bool:
    """Whether the kernel's OOM killer killed a process of this cgroup."""
    for path in paths:
        for fname, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            try:
                text = _read(os.path.join(path, fname))
            except OSError:
                continue
            for line in text.splitlines():
                k, _, v = line.partition(" ")
                if k == key and v.strip().isdigit() and int(v) > 0:
                    return True
    return False


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def usage(paths: list[str]) -> tuple[int, int] | None:
    """(CPU ns, memory working set bytes) from the cgroup, or None when unreadable.

    Working set is usage minus inactive file pages, as kubelet/cAdvisor compute it.
    """
    cpu: int | None = None
    mem: int | None = None
    for path in paths:
        try:
            if os.path.exists(os.path.join(path, "cpu.stat")) and \
                    os.path.exists(os.path.join(path, "memory.current")):
                cpu = _stat_value(_read(os.path.join(path, "cpu.stat")), "usage_usec") * 1000
                current = int(_read(os.path.join(path, "memory.current")))
                inactive = _stat_value(_read(os.path.join(path, "memory.stat")),
                                       "inactive_file")
                mem = max(0, current - inactive)
                continue
            if os.path.exists(os.path.join(path, "cpuacct.usage")):
                cpu = int(_read(os.path.join(path, "cpuacct.usage")))
            if os.path.exists(os.path.join(path, "memory.usage_in_bytes")):
                current = int(_read(os.path.join(path, "memory.usage_in_bytes")))
                inactive = _stat_value(_read(os.path.join(path, "memory.stat")),
                                       "total_inactive_file")
                mem = max(0, current - inactive)
        except (OSError, ValueError):
            return None
    if cpu is None or mem is None:
        return None
    return cpu, mem


def remove(paths: list[str]) -> None:
    """Remove the (empty) cgroups; the parent is left for the next container."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.rmdir(path)
