"""The per-container supervisor: what containerd's shim or CRI-O's conmon is for a
container, for the process runtime.

`python -m kubeedge.edge.runtime.supervisor <state dir>` is started by the runtime's
start_container. It forks once: the first process (the launcher, edgecore's child) waits
until the container has started (or failed to) and exits, so edgecore reaps it at once
and never owns the supervisor; the second (the supervisor) calls setsid, has /dev/null
for stdin and its own `supervisor.log` for output, and lives as long as the container.
It then:

- starts the container process as a session leader (its own process group), after
  moving it into the container's cgroup (cgroups.py), into its pod's network and UTS
  namespaces and a mount namespace of its own with the pod's /etc/hosts (when the
  sandbox has a pod network: `enter_pod_namespaces`), and dropping to run_as_user;
- holds the container's stdout/stderr pipes (or a pty, for tty) and writes them to the
  container log in the CRI format kubelet reads (`<RFC3339Nano> stdout|stderr F|P
  <line>`, containerd's 16 KiB line limit) with size-based rotation;
- keeps stdin open when asked: anything written to the `stdin` FIFO in the state dir is
  copied to the container; `close-stdin` on the `ctl` FIFO gives it EOF;
- `reopen-logs` on `ctl` reopens the log file (CRI ReopenContainerLog); `resize W H`
  sets a tty container's window size (attach sessions);
- when the container's process exits: kills what is left of its tree (a container ends
  with its first process, as a pid namespace does), drains the pipes, and records the
  exit atomically in `exit.json` (exit code, 128+n for signal n, reason, message,
  finish time), then removes the cgroup and exits.

The supervisor never stops the container on its own: stop_container signals the
container's process group itself and only reads what the supervisor recorded.

State dir files (all JSON written as temp + fsync + rename):
- `config.json` (written by the runtime; the `launch` object is what this reads),
- `supervisor.json`: supervisor pid and start ticks, container pid and start ticks,
  startedAt (ns), cgroup paths, limitsEnforced/limitsReason,
- `exit.json`: exitCode, signal, reason, message, startedAt, finishedAt.
A pid is always stored with its start time (/proc/<pid>/stat field 22) so a new
edgecore re-attaches only to the very same processes.

Standard library only, and as few modules as that allows: one of these runs per
container (its resident memory is measured in the process runtime's docs).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import sys
import time

from kubeedge.edge.runtime import cgroups, procfs

__all__ = ["MAX_LINE", "CriLogWriter", "exit_code_of", "format_timestamp", "main"]

# containerd's max_container_log_line_size default: longer lines are split into
# partial (P) records.
MAX_LINE = 16 * 1024
# kubelet's containerLogMaxSize (10Mi) and containerLogMaxFiles (5).
DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_LOG_MAX_FILES = 5
# How long the pipes may stay open after the container's process exited (a grandchild
# that escaped the kill, e.g. one that called setsid, still holding stdout).
DRAIN_TIMEOUT = 2.0


# --- the log file -----------------------------------------------------------------------


def format_timestamp(ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, the first field of a CRI log line."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class CriLogWriter:
    """Writes a container's streams in the CRI log format with size-based rotation.

    Follows containerd's logger (pkg/cri/io/logger.go): each stream is cut into lines;
    a full line is one `F` record; a line longer than `max_line` is cut into `P` records
    of `max_line` bytes and ends with an `F`; a line still open when its stream closes is
    a `P` record. Rotation follows kubelet's container log manager: when the file would
    pass `max_size` it is renamed to `<path>.<YYYYMMDD-HHMMSS>.<ns>` (kubelet's
    timestamp, plus nanoseconds so two rotations in a second never collide; kubelet
    would also gzip the older ones, we do not) and at most `max_files` files, the
    current one included, are kept.
    """

    def __init__(self, path: str, max_size: int = DEFAULT_LOG_MAX_SIZE,
                 max_files: int = DEFAULT_LOG_MAX_FILES, max_line: int = MAX_LINE,
                 clock: object = None) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.max_line = max_line
        self._clock = clock if clock is not None else time.time_ns
        self._pending: dict[str, bytearray] = {}
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - held for the container's life
        self._size = self._file.tell()

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending.setdefault(stream, bytearray())
        buf += data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(buf[:nl])
            del buf[:nl + 1]
            while len(line) > self.max_line:
                self._record(stream, b"P", line[:self.max_line])
                line = line[self.max_line:]
            self._record(stream, b"F", line)
        while len(buf) >= self.max_line:
            self._record(stream, b"P", bytes(buf[:self.max_line]))
            del buf[:self.max_line]
        self._file.flush()

    def close_stream(self, stream: str) -> None:
        buf = self._pending.pop(stream, None)
        if buf:
            self._record(stream, b"P", bytes(buf))
            self._file.flush()

    def _record(self, stream: str, tag: bytes, content: bytes) -> None:
        ts = format_timestamp(self._clock())  # type: ignore[operator]
        rec = b"%s %s %s %s\n" % (ts.encode(), stream.encode(), tag, content)
        if self._size > 0 and self._size + len(rec) > self.max_size:
            self.rotate()
        self._file.write(rec)
        self._size += len(rec)

    def rotate(self) -> None:
        self._file.close()
        ns = self._clock()  # type: ignore[operator]
        secs, frac = divmod(ns, 1_000_000_000)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(secs)) + f".{frac:09d}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path, f"{self.path}.{stamp}")
        for old in self.rotated()[: max(0, len(self.rotated()) - (self.max_files - 1))]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)
        self.reopen()

    def rotated(self) -> list[str]:
        """The rotated files, oldest first."""
        d = os.path.dirname(self.path) or "."
        prefix = os.path.basename(self.path) + "."
        return sorted(os.path.join(d, n) for n in os.listdir(d)
                      if n.startswith(prefix) and n[len(prefix):len(prefix) + 1].isdigit())

    def reopen(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = self._file.tell()

    def close(self) -> None:
        for stream in list(self._pending):
            self.close_stream(stream)
        self._file.close()


# --- exit codes -------------------------------------------------------------------------


def exit_code_of(wait_status: int) -> tuple[int, int]:
    """(exit code, signal) from a wait status: death by signal n reports 128+n, as
    containerd and kubelet do (SIGKILL → 137)."""
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:
        return 128 - code, -code
    return code, 0


def exit_reason(code: int, oom: bool) -> str:
    # containerd's reasons for a terminated container.
    if oom:
        return "OOMKilled"
    return "Completed" if code == 0 else "Error"


# --- state files ------------------------------------------------------------------------


def write_json(path: str, obj: object) -> None:
    """temp + fsync + rename: a reader sees the old file or the whole new one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    data = json.dumps(obj, separators=(",", ":")).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def start_error_message(argv: list[str], cwd: str, err: OSError) -> str:
    """containerd's wording for a process that cannot be exec'd (runc's
    `exec: "x": executable file not found in $PATH`, `exec: "/x": stat /x: no such file
    or directory`)."""
    name = argv[0] if argv else ""
    if getattr(err, "stage", "") == "namespaces":
        return (f"joining the pod sandbox's namespaces failed: {err.filename}: "
                f"{(err.strerror or str(err)).lower()}")
    if cwd and err.filename == cwd:
        return f"chdir to cwd (\"{cwd}\") set in config.json failed: {err.strerror.lower()}"
    if err.errno == errno.ENOENT:
        if "/" not in name:
            return f'exec: "{name}": executable file not found in $PATH'
        return f'exec: "{name}": stat {name}: no such file or directory'
    if err.errno == errno.EACCES:
        return f'exec: "{name}": permission denied'
    return f'exec: "{name}": {err.strerror or err}'


# --- pod namespaces ---------------------------------------------------------------------

# linux/sched.h and linux/mount.h
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000


def enter_pod_namespaces(ns: dict[str, str]) -> None:
    """In the container's child, between fork and exec: join the sandbox's network and
    UTS namespaces (setns on the files network.py bind-mounted), then take a mount
    namespace of its own in which the sandbox's hosts file is bind-mounted over
    /etc/hosts (what runc does with kubelet's etc-hosts mount).

    The mount namespace is made a recursive slave, not private, so that an unmount on
    the host (another pod's namespace file removed) still reaches it and no copy keeps
    that namespace alive; nothing mounted here reaches the host. ctypes is imported
    here, in the child that is about to exec, so the supervisor itself stays small
    (Python 3.11 has no os.setns/os.unshare)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def fail(what: str) -> OSError:
        code = ctypes.get_errno()
        err = OSError(code, os.strerror(code), what)
        err.stage = "namespaces"  # type: ignore[attr-defined]
        return err

    for key, flag in (("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS)):
        path = ns.get(key)
        if not path:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            e.stage = "namespaces"  # type: ignore[attr-defined]
            e.filename = f"{key} namespace {path}"
            raise
        try:
            if libc.setns(fd, flag) != 0:
                raise fail(f"setns {key} namespace {path}")
        finally:
            os.close(fd)
    hosts = ns.get("hosts")
    if hosts:
        if libc.unshare(CLONE_NEWNS) != 0:
            raise fail("unshare mount namespace")
        if libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None) != 0:
            raise fail("making / a slave mount")
        if os.path.exists("/etc/hosts") and libc.mount(
                os.fsencode(hosts), b"/etc/hosts", None, MS_BIND, None) != 0:
            raise fail(f"bind mount {hosts} on /etc/hosts")


# --- the supervisor ---------------------------------------------------------------------


def resize_pty(master: int, command: bytes) -> None:
    """`resize <width> <height>` from the ctl FIFO: the pty's window size (TIOCSWINSZ;
    the kernel sends SIGWINCH to the container's foreground process group). termios is
    imported only when a tty container is resized."""
    try:
        width, height = (int(v) for v in command.split()[1:3])
    except ValueError:
        return
    if not (0 < width < 65536 and 0 < height < 65536):
        return
    import termios

    winsize = (height.to_bytes(2, sys.byteorder) + width.to_bytes(2, sys.byteorder)
               + bytes(4))
    with contextlib.suppress(OSError):
        fcntl.ioctl(master, termios.TIOCSWINSZ, winsize)


def _nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def spawn(argv: list[str], env: dict[str, str], cwd: str, fds: tuple[int, int, int],
          close: list[int], in_child: object) -> int:
    """fork + exec of the container process as a session leader, with `fds` as its
    stdin/stdout/stderr. An error before exec (chdir, exec itself) comes back through a
    close-on-exec pipe and is raised here as the OSError it was, as subprocess does
    (which the supervisor does not import: it costs a megabyte per container)."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        stage = "setup"
        try:
            os.close(err_r)
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target, inheritable=True)
            in_child()  # type: ignore[operator]
            stage = "chdir"
            os.chdir(cwd)
            stage = "exec"
            # Python ignores SIGPIPE; exec keeps an ignored signal ignored.
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            os.closerange(3, err_w)
            os.closerange(err_w + 1, 65536)
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            stage = getattr(e, "stage", stage)
            msg = f"{e.errno}\0{stage}\0{e.filename or ''}"
            os.write(err_w, msg.encode(errors="replace"))
        except BaseException as e:
            os.write(err_w, f"{errno.EINVAL}\0{stage}\0{e!r}".encode(errors="replace"))
        os._exit(127)
    os.close(err_w)
    report = b""
    while True:
        chunk = os.read(err_r, 4096)
        if not chunk:
            break
        report += chunk
    os.close(err_r)
    if report:
        os.waitpid(pid, 0)
        for fd in close:
            if fd >= 0:
                os.close(fd)
        code, stage, filename = report.decode(errors="replace").split("\0", 2)
        err = OSError(int(code), os.strerror(int(code)), filename or None)
        if stage == "chdir":
            err.filename = cwd
        err.stage = stage  # type: ignore[attr-defined]
        raise err
    return pid


class Supervisor:
    def __init__(self, state_dir: str, ready_fd: int) -> None:
        self.dir = state_dir
        self.ready_fd = ready_fd
        with open(os.path.join(state_dir, "config.json"), "rb") as f:
            self.launch = json.load(f)["launch"]
        self.sel = selectors.DefaultSelector()
        self.streams: dict[int, str] = {}  # fd → stream name
        self.stdin_w: int | None = None  # our end of the container's stdin
        self.stdin_pending = bytearray()
        self.stdin_close_pending = False
        self.cgroup = cgroups.CgroupSetup(0, [], True, "")

    def _ready(self, word: bytes) -> None:
        if self.ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, word)
            os.close(self.ready_fd)
            self.ready_fd = -1

    def _fifo(self, name: str) -> int:
        path = os.path.join(self.dir, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.mkfifo(path, 0o600)
        # Opened read-write: never blocks, and never reads EOF when a writer leaves, so
        # stdin stays open across writers (CRI stdin without stdinOnce).
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        return fd

    def run(self) -> int:
        la = self.launch
        res = la.get("resources") or {}
        self.cgroup = cgroups.create(
            os.path.basename(self.dir.rstrip("/")), la.get("cgroupParent", "kubeedge"),
            memory_limit=int(res.get("memoryLimitInBytes", 0)),
            cpu_quota=int(res.get("cpuQuota", 0)),
            cpu_period=int(res.get("cpuPeriod", 100_000) or 100_000),
            cpu_shares=int(res.get("cpuShares", 0)),
            base=la.get("cgroupBase", cgroups.DEFAULT_BASE))
        log = CriLogWriter(la["logPath"], int(la.get("logMaxSize", DEFAULT_LOG_MAX_SIZE)),
                           int(la.get("logMaxFiles", DEFAULT_LOG_MAX_FILES)))
        ctl_fd = self._fifo("ctl")
        stdin_fifo = self._fifo("stdin") if la.get("stdin") else -1

        tty = bool(la.get("tty"))
        paths = self.cgroup.paths
        uid, gid = la.get("runAsUser"), la.get("runAsGroup")
        drop = os.geteuid() == 0 and (uid is not None or gid is not None)
        namespaces = la.get("namespaces") or None
        if tty:
            master, slave = os.openpty()
            child_fds = (slave, slave, slave)
            ours: list[int] = []
        else:
            master = slave = -1
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if la.get("stdin"):
                in_r, in_w = os.pipe()
            else:
                in_r, in_w = os.open(os.devnull, os.O_RDONLY), -1
            child_fds = (in_r, out_w, err_w)
            ours = [in_w, out_r, err_r]

        def in_child() -> None:
            # Between fork and exec: the container's cgroup first (so all it allocates is
            # charged there), the pod's namespaces, then the controlling terminal, then
            # the user (after which neither could be joined any more).
            if paths:
                cgroups.join(paths)
            if namespaces:
                enter_pod_namespaces(namespaces)
            if tty:
                import termios
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if drop:
                if gid is not None:
                    os.setgroups([])
                    os.setgid(int(gid))
                if uid is not None:
                    os.setuid(int(uid))

        argv = list(la["argv"])
        cwd = la.get("cwd") or "/"
        started_at = time.time_ns()
        try:
            pid = spawn(argv, la.get("env") or {}, cwd, child_fds, ours, in_child)
        except OSError as err:
            write_json(os.path.join(self.dir, "exit.json"), {
                "exitCode": 128, "signal": 0, "reason": "StartError",
                "message": start_error_message(argv, cwd, err),
                "startedAt": 0, "finishedAt": time.time_ns()})
            cgroups.remove(paths)
            log.close()
            self._ready(b"start-error\n")
            return 0
        finally:
            for fd in set(child_fds):
                os.close(fd)
        st = procfs.read_stat(pid)
        me = procfs.read_stat(os.getpid())
        write_json(os.path.join(self.dir, "supervisor.json"), {
            "supervisorPid": os.getpid(),
            "supervisorStart": me.start_ticks if me else None,
            "pid": pid, "pidStart": st.start_ticks if st else None,
            "startedAt": started_at, "cgroup": self.cgroup.to_json()})
        self._ready(b"ok\n")

        if tty:
            _nonblocking(master)
            self.streams[master] = "stdout"
            self.sel.register(master, selectors.EVENT_READ, "out")
            if la.get("stdin"):
                self.stdin_w = os.dup(master)
        else:
            for fd, name in ((out_r, "stdout"), (err_r, "stderr")):
                _nonblocking(fd)
                self.streams[fd] = name
                self.sel.register(fd, selectors.EVENT_READ, "out")
            if in_w >= 0:
                self.stdin_w = in_w
                _nonblocking(in_w)
        self.sel.register(ctl_fd, selectors.EVENT_READ, "ctl")
        if stdin_fifo >= 0:
            self.sel.register(stdin_fifo, selectors.EVENT_READ, "stdin")
        # SIGCHLD wakes the loop through a pipe; the 1 s select timeout is the backstop.
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")

        status: int | None = None
        finished_at = 0
        drain_deadline = 0.0
        ctl_buf = b""
        while True:
            if status is None:
                with contextlib.suppress(ChildProcessError):
                    wpid, wst = os.waitpid(pid, os.WNOHANG)
                    if wpid == pid:
                        status = wst
                        finished_at = time.time_ns()
                        # The container ends with its first process: kill the rest of
                        # its tree so nothing keeps running (or holds the log pipes).
                        cgroups.kill_all(paths)
                        for p in procfs.session_members(pid):
                            with contextlib.suppress(OSError):
                                os.kill(p, signal.SIGKILL)
                        drain_deadline = time.monotonic() + DRAIN_TIMEOUT
            if status is not None and (not self.streams or time.monotonic() > drain_deadline):
                break
            timeout = 1.0 if status is None else max(0.0, drain_deadline - time.monotonic())
            for key, _mask in self.sel.select(timeout):
                kind = key.data
                fd = key.fd
                if kind == "out":
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:  # EIO: the pty's last slave closed
                        data = b""
                    if data:
                        log.write(self.streams[fd], data)
                    else:
                        log.close_stream(self.streams.pop(fd))
                        self.sel.unregister(fd)
                        if fd != master:
                            os.close(fd)
                elif kind == "wake":
                    with contextlib.suppress(OSError):
                        os.read(fd, 512)
                elif kind == "stdin":
                    with contextlib.suppress(BlockingIOError):
                        self.stdin_pending += os.read(fd, 65536)
                    self._flush_stdin()
                elif kind == "stdin-w":
                    self._flush_stdin()
                elif kind == "ctl":
                    with contextlib.suppress(BlockingIOError):
                        ctl_buf += os.read(fd, 4096)
                    while b"\n" in ctl_buf:
                        cmd, _, ctl_buf = ctl_buf.partition(b"\n")
                        if cmd.startswith(b"resize "):
                            # An attach session's terminal size (kubectl attach -t);
                            # nobody waits for it, so no ack.
                            if tty:
                                resize_pty(master, cmd)
                            continue
                        if cmd == b"reopen-logs":
                            log.reopen()
                        elif cmd == b"close-stdin":
                            self.stdin_close_pending = True
                            self._flush_stdin()
                        # the ack lets the caller wait for the command to take effect
                        with contextlib.suppress(OSError), \
                                open(os.path.join(self.dir, "ctl.ack"), "a") as ack:
                            ack.write(cmd.decode(errors="replace") + "\n")

        assert status is not None
        code, sig = exit_code_of(status)
        oom = sig == signal.SIGKILL and cgroups.oom_killed(paths)
        log.close()
        # The FIFOs go before the exit is recorded: whoever sees exit.json finds the
        # supervisor's own things already cleaned up.
        for name in ("ctl", "stdin"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.dir, name))
        write_json(os.path.join(self.dir, "exit.json"), {
            "exitCode": code, "signal": sig, "reason": exit_reason(code, oom),
            "message": "", "startedAt": started_at, "finishedAt": finished_at})
        cgroups.remove(paths)
        return 0

    def _flush_stdin(self) -> None:
        w = self.stdin_w
        if w is None:
            self.stdin_pending.clear()
            return
        try:
            while self.stdin_pending:
                n = os.write(w, self.stdin_pending)
                del self.stdin_pending[:n]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the container closed its stdin
            self.stdin_pending.clear()
        registered = "stdin-w" in (k.data for k in self.sel.get_map().values())
        if self.stdin_pending and not registered:
            self.sel.register(w, selectors.EVENT_WRITE, "stdin-w")
        elif not self.stdin_pending and registered:
            self.sel.unregister(w)
        if not self.stdin_pending and self.stdin_close_pending:
            os.close(w)
            self.stdin_w = None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kubeedge.edge.runtime.supervisor <state dir>",
              file=sys.stderr)
        return 2
    state_dir = os.path.abspath(args[0])
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        # The launcher: report how the start went, then leave (edgecore reaps us at
        # once; the supervisor is nobody's child but init's, and survives edgecore).
        os.close(ready_w)
        word = b""
        while True:
            chunk = os.read(ready_r, 64)
            if not chunk:
                break
            word += chunk
        return {b"ok\n": 0, b"start-error\n": 3}.get(word, 1)
    os.close(ready_r)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Signals that reach a whole session or terminal must not end the supervisor; a
    # Python handler (not SIG_IGN) so the container, after exec, gets the defaults back.
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        return Supervisor(state_dir, ready_w).run()
    except BaseException as e:
        print(f"supervisor for {state_dir} failed: {e!r}", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
