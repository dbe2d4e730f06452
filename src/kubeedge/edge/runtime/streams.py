"""Streaming I/O of the process runtime: the handles `exec` and `attach` return, reading
CRI log files as they grow (also across rotation), and waking on file changes.

What lives here:
- `ByteChannel`, a bounded async byte queue between a producer (a pipe, a pty, a log
  file) and whoever relays it (edged's server): a slow client pauses the producer
  instead of growing memory.
- `ExecHandle`: a command started by `ProcessRuntime.exec` over pipes or a pty; it
  satisfies edged's `RemoteProcess` shape (streaming/remotecommand.py) by duck typing.
- `AttachHandle`: a running container's output followed from its CRI log, its stdin
  through the supervisor.
- `parse_cri_line`, `follow_cri_log`: the CRI log reader both attach and edged's
  `/containerLogs` (edge/edged/logs.py) build on.
- `DirWatcher`: one inotify instance per event loop, shared by every follower (the
  default per-user limit is 128 instances, and 50 concurrent `kubectl logs -f` must not
  use them up); polling when inotify cannot be had.

Never imported by the per-container supervisor. Standard library only; ctypes (for
inotify) is loaded on the first follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import struct
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

__all__ = [
    "DRAIN_TIMEOUT",
    "POLL_PERIOD",
    "AttachHandle",
    "ByteChannel",
    "CriRecord",
    "DirWatcher",
    "ExecHandle",
    "follow_cri_log",
    "parse_cri_line",
    "rotated_log_files",
    "set_window_size",
]

# How long output may still arrive after the exec'd process exited (a background child
# holding the pipe): then the streams end anyway, as containerd's exec I/O does.
DRAIN_TIMEOUT = 2.0
# Followers re-check whether the container still runs at least this often (kubelet's
# logForceCheckPeriod is 1 s; a container that ends without writing wakes nobody).
CHECK_PERIOD = 0.5
# Without inotify, how often a follower looks at the file again.
POLL_PERIOD = 0.1
# Buffered per stream before the producer is paused.
CHANNEL_LIMIT = 1 << 20
READ_SIZE = 256 * 1024


# --- a bounded byte channel --------------------------------------------------------------


class ByteChannel:
    """Chunks from one producer to one consumer; `get` gives b"" once closed and empty."""

    def __init__(self, limit: int = CHANNEL_LIMIT) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._closed = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.on_drain: Callable[[], None] | None = None

    @property
    def full(self) -> bool:
        return self._size >= self._limit

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        self._readable.set()
        if self.full:
            self._writable.clear()

    async def put(self, data: bytes) -> None:
        while self.full and not self._closed:
            await self._writable.wait()
        self.feed(data)

    def close(self) -> None:
        self._closed = True
        self._readable.set()
        self._writable.set()

    async def get(self) -> bytes:
        while not self._chunks:
            if self._closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._chunks.popleft()
        self._size -= len(data)
        if not self._chunks:
            self._readable.clear()
        if not self.full:
            self._writable.set()
            if self.on_drain is not None:
                cb, self.on_drain = self.on_drain, None
                cb()
        return data


def _pump_fd(fd: int, channel: ByteChannel) -> Callable[[], None]:
    """Copy a non-blocking fd into `channel` from the event loop, pausing while the
    channel is full; EOF (or EIO: the pty's last slave closed) closes both. Returns a
    function that stops it (closing the fd)."""
    loop = asyncio.get_running_loop()
    state = {"open": True, "reading": False}

    def stop() -> None:
        if not state["open"]:
            return
        state["open"] = False
        if state["reading"]:
            loop.remove_reader(fd)
            state["reading"] = False
        with contextlib.suppress(OSError):
            os.close(fd)
        channel.close()

    def resume() -> None:
        if state["open"] and not state["reading"]:
            loop.add_reader(fd, readable)
            state["reading"] = True

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            stop()
            return
        channel.feed(data)
        if channel.full:
            loop.remove_reader(fd)
            state["reading"] = False
            channel.on_drain = resume

    os.set_blocking(fd, False)
    resume()
    return stop


def set_window_size(fd: int, width: int, height: int) -> None:
    """A pty's window size (TIOCSWINSZ on its master; the kernel sends SIGWINCH to the
    terminal's foreground process group)."""
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _write_all(fd: int, data: bytes) -> None:
    """Write everything to a non-blocking fd, waiting for room from the event loop."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            fut: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, _wake, fut)
            try:
                await fut
            finally:
                loop.remove_writer(fd)


# --- exec --------------------------------------------------------------------------------


class ExecHandle:
    """A command started by `ProcessRuntime.exec` (kubelet's streaming Exec).

    Without a tty its stdin, stdout and stderr are pipes; with one they are the slave of a
    pty whose master we hold, so stdout carries everything and `read_stderr` gives b""
    at once. `resize` sets the pty's window size (the kernel sends SIGWINCH to the
    command). `wait` gives the exit code, 128+n for death by signal n. `kill` kills the
    command's process group (it is a session leader) and ends the streams.
    """

    def __init__(self, proc: asyncio.subprocess.Process, *, tty: bool,
                 stdin_fd: int | None, stdout_fd: int | None, stderr_fd: int | None) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.tty = tty
        self._stdin_fd = stdin_fd
        if stdin_fd is not None:
            os.set_blocking(stdin_fd, False)
        self._master = stdout_fd if tty else None
        self._stdout = ByteChannel()
        self._stderr = ByteChannel()
        self._stops: list[Callable[[], None]] = []
        if stdout_fd is not None:
            self._stops.append(_pump_fd(stdout_fd if not tty else os.dup(stdout_fd),
                                        self._stdout))
        else:
            self._stdout.close()
        if stderr_fd is not None and not tty:
            self._stops.append(_pump_fd(stderr_fd, self._stderr))
        else:
            self._stderr.close()
        self._code: int | None = None
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> int:
        rc = await self.proc.wait()
        self._code = 128 - rc if rc < 0 else rc
        # The command is gone: what it wrote is still in the pipes. Give a child that
        # inherited them DRAIN_TIMEOUT, then end the streams anyway.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT
        while loop.time() < deadline and not (self._stdout.closed and self._stderr.closed):
            await asyncio.sleep(0.02)
        self._close_fds()
        return self._code

    def _close_fds(self) -> None:
        for stop in self._stops:
            stop()
        for name in ("_stdin_fd", "_master"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                with contextlib.suppress(OSError):
                    os.close(fd)

    async def write_stdin(self, data: bytes) -> None:
        fd = self._stdin_fd
        if fd is None or not data:
            return
        try:
            await _write_all(fd, data)
        except (BrokenPipeError, OSError) as e:
            if e.errno not in (errno.EPIPE, errno.EBADF, errno.EIO):
                raise  # the command closed its stdin: what it did not read is dropped

    async def close_stdin(self) -> None:
        fd = self._stdin_fd
        if fd is None:
            return
        if self.tty:
            # A pty has no half-close: the line discipline's EOF character (VEOF, ^D)
            # is what a terminal user types for it.
            with contextlib.suppress(OSError):
                await _write_all(fd, b"\x04")
            return
        self._stdin_fd = None
        with contextlib.suppress(OSError):
            os.close(fd)

    async def read_stdout(self) -> bytes:
        return await self._stdout.get()

    async def read_stderr(self) -> bytes:
        return await self._stderr.get()

    def resize(self, width: int, height: int) -> None:
        fd = self._master
        if fd is None or width <= 0 or height <= 0:
            return
        with contextlib.suppress(OSError):
            set_window_size(fd, width, height)

    async def wait(self) -> int:
        return await asyncio.shield(self._reaper)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._reaper), DRAIN_TIMEOUT + 5)
        self._close_fds()


# --- CRI log files ----------------------------------------------------------------------

CriRecord = tuple[bytes, bytes, bool, bytes]  # (timestamp, stream, partial, content)


def parse_cri_line(line: bytes) -> CriRecord | None:
    """`<RFC3339Nano> <stdout|stderr> <P|F>[:more tags] <content>` without its newline
    (CRI's log format, kubelet's parseCRILog); None for a line that is not one."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    tag = parts[2].split(b":", 1)[0]
    return parts[0], parts[1], tag == b"P", parts[3] if len(parts) == 4 else b""


def rotated_log_files(path: str) -> list[str]:
    """A container log's rotated files, oldest first: `<path>.<YYYYMMDD-HHMMSS>.<ns>` as
    supervisor.CriLogWriter names them (kubelet's scheme; gzipped ones are skipped)."""
    d = os.path.dirname(path) or "."
    prefix = os.path.basename(path) + "."
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return sorted(os.path.join(d, n) for n in names
                  if n.startswith(prefix) and n[len(prefix):len(prefix) + 1].isdigit()
                  and not n.endswith((".gz", ".tmp")))


class _Inotify:
    """inotify(7) through ctypes: watch directories, wake waiters on any event in them."""

    IN_MODIFY = 0x002
    IN_CLOSE_WRITE = 0x008
    IN_MOVED_FROM = 0x040
    IN_MOVED_TO = 0x080
    IN_CREATE = 0x100
    IN_DELETE = 0x200
    MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self._ctypes = ctypes
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), "inotify_init1")
        self.fd = fd
        self.loop = loop
        self._wd: dict[str, int] = {}
        self._refs: dict[int, int] = {}
        self._waiters: dict[int, set[asyncio.Event]] = {}
        loop.add_reader(fd, self._read)

    def add(self, directory: str) -> int:
        wd = self._wd.get(directory)
        if wd is None:
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), self.MASK)
            if wd < 0:
                code = self._ctypes.get_errno()
                raise OSError(code, os.strerror(code), directory)
            self._wd[directory] = wd
        self._refs[wd] = self._refs.get(wd, 0) + 1
        return wd

    def remove(self, directory: str) -> None:
        wd = self._wd.get(directory)
        if wd is None:
            return
        self._refs[wd] -= 1
        if self._refs[wd] <= 0:
            del self._refs[wd], self._wd[directory]
            self._waiters.pop(wd, None)
            self._libc.inotify_rm_watch(self.fd, wd)

    @property
    def empty(self) -> bool:
        return not self._wd

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def waiter(self, wd: int) -> asyncio.Event:
        ev = asyncio.Event()
        self._waiters.setdefault(wd, set()).add(ev)
        return ev

    def forget(self, wd: int, ev: asyncio.Event) -> None:
        self._waiters.get(wd, set()).discard(ev)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        pos = 0
        woken: set[int] = set()
        while pos + 16 <= len(data):
            wd, _mask, _cookie, length = struct.unpack_from("iIII", data, pos)
            woken.add(wd)
            pos += 16 + length
        for wd in woken:
            for ev in self._waiters.get(wd, ()):
                ev.set()


class DirWatcher:
    """Wait for something to change in a directory: inotify shared by every follower of
    the event loop, or polling every POLL_PERIOD when inotify cannot be had (no
    instance left, no ctypes)."""

    # One per event loop while it has watches; closed with the last one.
    _shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inotify] = \
        weakref.WeakKeyDictionary()

    def __init__(self, directory: str) -> None:
        self.directory = directory
        loop = asyncio.get_running_loop()
        ino = self._shared.get(loop)
        if ino is None:
            try:
                ino = _Inotify(loop)
                self._shared[loop] = ino
            except (OSError, ImportError, AttributeError):
                ino = None
        self._ino = ino
        self._wd: int | None = None
        if self._ino is not None:
            try:
                self._wd = self._ino.add(directory)
            except OSError:
                self._wd = None
        self._event = self._ino.waiter(self._wd) if self._ino and self._wd is not None \
            else None

    def arm(self) -> None:
        """Forget earlier wake-ups; call before the last look at the file, so a change
        after it is not missed."""
        if self._event is not None:
            self._event.clear()

    async def wait(self, timeout: float) -> None:
        if self._event is None:
            await asyncio.sleep(min(timeout, POLL_PERIOD))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    def close(self) -> None:
        if self._ino is not None and self._wd is not None:
            if self._event is not None:
                self._ino.forget(self._wd, self._event)
            self._ino.remove(self.directory)
            self._wd = None
            if self._ino.empty:
                self._shared.pop(self._ino.loop, None)
                self._ino.close()


async def follow_cri_log(files: list[str], start_index: int = 0, start_offset: int = 0,
                         *, follow: bool,
                         running: Callable[[], Awaitable[bool]] | None = None,
                         ) -> AsyncIterator[list[CriRecord]]:
    """Batches of CRI records from `files` (rotated files oldest first, the live log
    last) from `start_offset` in `files[start_index]` onward.

    With `follow`, at the end of the live file it waits for more (inotify, see
    DirWatcher) until `await running()` is False and everything is read. A rotation
    meanwhile (the live file renamed to `<path>.<stamp>`, a new one created; or a
    reopen after the file was moved) is followed: the old file is read to its end, then
    any rotated file newer than it, then the new live file from its start. Lines that are
    not CRI records are skipped, as kubelet does.
    """
    live = files[-1]
    index, offset = start_index, start_offset
    watcher = DirWatcher(os.path.dirname(live) or ".") if follow else None
    try:
        # The rotated files before the live one: read through.
        while index < len(files) - 1:
            rf = _open_or_none(files[index])
            if rf is not None:
                with rf:
                    rf.seek(offset)
                    async for batch in _read_to_end(rf):
                        yield batch
            index, offset = index + 1, 0
        f = _open_or_none(live)
        if f is None and not follow:
            return
        if f is not None:
            f.seek(offset)
        records = _Records()
        while True:
            if watcher is not None:
                watcher.arm()
            if f is not None:
                for batch in records.read(f):
                    yield batch
            if not follow:
                if last := records.rest():
                    yield last
                break
            # Rotated (or moved and reopened)? Then the file we hold is complete.
            try:
                now_ino = os.stat(live).st_ino
            except FileNotFoundError:
                now_ino = None
            held_ino = os.fstat(f.fileno()).st_ino if f is not None else None
            if now_ino is not None and now_ino != held_ino:
                if f is not None:
                    for batch in records.read(f):
                        yield batch
                    # Rotated files newer than the one we held (two rotations between
                    # two looks), by inode.
                    rotated = rotated_log_files(live)
                    inos = []
                    for p in rotated:
                        try:
                            inos.append(os.stat(p).st_ino)
                        except OSError:
                            inos.append(None)
                    newer = rotated[inos.index(held_ino) + 1:] if held_ino in inos else []
                    f.close()
                    for p in newer:
                        rf = _open_or_none(p)
                        if rf is not None:
                            with rf:
                                async for b in _read_to_end(rf):
                                    yield b
                records = _Records()
                f = _open_or_none(live)
                continue
            assert running is not None
            if not await running():
                # The container is gone: one last look (what it wrote just before the
                # check), then the end.
                if f is not None:
                    for batch in records.read(f):
                        yield batch
                break
            assert watcher is not None
            await watcher.wait(CHECK_PERIOD)
        if f is not None:
            f.close()
    finally:
        if watcher is not None:
            watcher.close()


def _open_or_none(path: str) -> Any:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _split(data: bytes) -> tuple[list[CriRecord], bytes]:
    """The complete lines of `data` parsed, and what follows the last newline."""
    end = data.rfind(b"\n")
    if end < 0:
        return [], data
    out = []
    for line in data[:end].split(b"\n"):
        rec = parse_cri_line(line)
        if rec is not None:
            out.append(rec)
    return out, data[end + 1:]


class _Records:
    """CRI records of a file read in chunks: the bytes after the last newline wait for
    the rest of their line."""

    def __init__(self) -> None:
        self.pending = b""

    def read(self, f: Any) -> Iterator[list[CriRecord]]:
        """Every complete record the file has now, in batches."""
        while chunk := f.read(READ_SIZE):
            batch, self.pending = _split(self.pending + chunk)
            if batch:
                yield batch

    def rest(self) -> list[CriRecord]:
        """The last line, written without its newline, as a record."""
        rec = parse_cri_line(self.pending) if self.pending else None
        self.pending = b""
        return [rec] if rec is not None else []


async def _read_to_end(f: Any) -> AsyncIterator[list[CriRecord]]:
    records = _Records()
    for batch in records.read(f):
        yield batch
    if last := records.rest():
        yield last


# --- attach ------------------------------------------------------------------------------


class AttachHandle:
    """A running container's streams (kubelet's Attach), for the process runtime.

    Output is what the container writes from now on, followed in its CRI log and split
    by the record's stream (a tty container's log holds stdout only). Partial records
    are passed on as written, so the bytes are the container's own. Input goes to the
    container's stdin through its supervisor's FIFO. `wait` gives the container's exit
    code once it has ended and its output is read; `kill` only detaches (the container
    runs on); with stdinOnce, detaching (or close_stdin) closes the container's stdin,
    as CRI's StdinOnce says. `resize` reaches a tty container's pty through the
    supervisor (`resize W H` on its ctl FIFO).
    """

    def __init__(self, *, log_path: str, tty: bool, stdin: bool, stdin_once: bool,
                 stdout: bool, stderr: bool,
                 running: Callable[[], Awaitable[bool]],
                 exit_code: Callable[[], Awaitable[int | None]],
                 write: Callable[[bytes], Awaitable[None]],
                 close: Callable[[], Awaitable[None]],
                 resize: Callable[[int, int], None]) -> None:
        self.tty = tty
        self._stdin = stdin
        self._stdin_once = stdin_once
        self._write, self._close, self._resize = write, close, resize
        self._running = running
        self._exit_code = exit_code
        self._stdout = ByteChannel()
        self._stderr = ByteChannel()
        self._want_stdout = stdout
        self._want_stderr = stderr and not tty
        if not self._want_stderr:
            self._stderr.close()
        if not self._want_stdout:
            self._stdout.close()
        self._stdin_closed = False
        self._detached = False
        try:
            start = os.stat(log_path).st_size
        except FileNotFoundError:
            start = 0
        self._task = asyncio.get_running_loop().create_task(
            self._follow([log_path], start))

    async def _follow(self, files: list[str], start: int) -> None:
        try:
            async for batch in follow_cri_log(files, 0, start, follow=True,
                                              running=self._running):
                for _ts, stream, partial, content in batch:
                    data = content if partial else content + b"\n"
                    if stream == b"stderr" and not self.tty:
                        if self._want_stderr:
                            await self._stderr.put(data)
                    elif self._want_stdout:
                        await self._stdout.put(data)
        finally:
            self._stdout.close()
            self._stderr.close()

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin and not self._stdin_closed and data:
            await self._write(data)

    async def close_stdin(self) -> None:
        if self._stdin and self._stdin_once and not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(Exception):
                await self._close()

    async def read_stdout(self) -> bytes:
        return await self._stdout.get()

    async def read_stderr(self) -> bytes:
        return await self._stderr.get()

    def resize(self, width: int, height: int) -> None:
        if self.tty and width > 0 and height > 0:
            self._resize(width, height)

    async def wait(self) -> int:
        """The container's exit code once it ended and its output is read; 0 at once
        after a detach (the container runs on, there is no code to give)."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        if self._detached:
            return 0
        code = await self._exit_code()
        return code if code is not None else 0

    async def kill(self) -> None:
        self._detached = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self.close_stdin()
