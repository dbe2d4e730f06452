"""Reading processes from /proc: identity (pid plus start time), liveness, usage.

A pid alone does not name a process across an edgecore restart (pids are reused), so
the runtime records each process as (pid, start time in clock ticks since boot, field 22
of /proc/<pid>/stat) and treats it as alive only while both match and it is not a
zombie. Standard library only: the supervisor imports this.
"""

from __future__ import annotations

import os

__all__ = ["ProcStat", "alive", "read_stat", "session_members", "usage"]

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
