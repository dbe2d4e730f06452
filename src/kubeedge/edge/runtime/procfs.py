"""Reading processes from /proc: identity (pid plus start time), liveness, usage.

A pid alone does not name a process across an edgecore restart (pids are reused), so
the runtime records each process as (pid, start time in clock ticks since boot, field 22
of /proc/<pid>/stat) and treats it as alive only while both match and it is not a
zombie. Standard library only: the supervisor imports this.
"""

from __future__ import annotations

import os
import time

__all__ = ["ProcStat", "alive", "boot_time_ns", "node_cpu_ns", "node_memory", "read_stat",
           "session_members", "usage"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcStat:
    """The fields of /proc/<pid>/stat the runtime uses (proc(5) numbering)."""

    __slots__ = ("cstime", "cutime", "pgrp", "pid", "rss_pages", "session", "start_ticks",
                 "state", "stime", "utime")

    def __init__(self, pid: int, fields: list[str]) -> None:
        # `fields` starts at field 3 (state): the command name (field 2) may hold spaces
        # and parentheses, so the line is split after its last ')'.
        self.pid = pid
        self.state = fields[0]
        self.pgrp = int(fields[2])
        self.session = int(fields[3])
        self.utime = int(fields[11])
        self.stime = int(fields[12])
        self.cutime = int(fields[13])
        self.cstime = int(fields[14])
        self.start_ticks = int(fields[19])
        self.rss_pages = int(fields[21])


def read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read().decode("ascii", "replace")
    except OSError:
        return None
    try:
        return ProcStat(pid, line[line.rindex(")") + 2:].split())
    except (ValueError, IndexError):
        return None


def alive(pid: int | None, start_ticks: int | None) -> bool:
    """True while `pid` is the process recorded with `start_ticks` and has not exited."""
    if not pid:
        return False
    st = read_stat(pid)
    if st is None or st.state in ("Z", "X", "x"):
        return False
    return start_ticks is None or st.start_ticks == start_ticks


def now_ticks() -> int:
    """The time since boot in clock ticks, the unit of a process's start time: a
    process started after this call has a start time at least this (one tick earlier,
    for rounding)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLOCK_TICKS) - 1


def session_members(session: int) -> list[int]:
    """Live processes of a session. A container's process is a session leader, so this
    is the container's process tree unless a child called setsid itself."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        st = read_stat(int(name))
        if st is not None and st.session == session and st.state not in ("Z", "X", "x"):
            members.append(st.pid)
    return members


def usage(pids: list[int]) -> tuple[int, int]:
    """(CPU ns, resident bytes) summed over `pids`; children already reaped count
    through their parent's cutime/cstime."""
    ticks = 0
    rss = 0
    for pid in pids:
        st = read_stat(pid)
        if st is None:
            continue
        ticks += st.utime + st.stime + st.cutime + st.cstime
        rss += st.rss_pages * PAGE_SIZE
    return ticks * 1_000_000_000 // CLOCK_TICKS, rss


def node_cpu_ns() -> int:
    """CPU time the whole node has spent busy since boot, summed over its CPUs, in ns:
    the first line of /proc/stat without idle and iowait (cAdvisor's root container
    usage, what kubelet reports as the node's usageCoreNanoSeconds). guest and
    guest_nice are already inside user and nice."""
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    values = [int(v) for v in fields[1:9]]
    busy = sum(values) - values[3] - values[4]
    return busy * 1_000_000_000 // CLOCK_TICKS


def node_memory() -> dict[str, int]:
    """/proc/meminfo in bytes, by its field names (MemTotal, MemAvailable, Inactive(file),
    AnonPages...)."""
    out: dict[str, int] = {}
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            name, _, rest = line.partition(b":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                unit = 1024 if len(parts) > 1 and parts[1] == b"kB" else 1
                out[name.decode()] = int(parts[0]) * unit
    return out


def boot_time_ns() -> int:
    """When the node booted (btime of /proc/stat), ns since the epoch."""
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return int(line.split()[1]) * 1_000_000_000
    return 0
