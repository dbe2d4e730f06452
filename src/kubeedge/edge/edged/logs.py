"""Container logs as kubelet serves them (`GET /containerLogs/{ns}/{pod}/{container}`,
specs/k8s-api.md §6 "pods/log"): the options with kubelet's query names and checks, and
the bytes of a container's CRI log files after them.

Follows kubelet's log reader (pkg/kubelet/kuberuntime/logs) with two differences, both
what a user of `kubectl logs` expects: the rotated files are read before the live one
(kubelet reads the live one only), and a line the runtime cut into partial (`P`) records
is given as one line (with one timestamp, the first record's, under `timestamps`);
`tailLines` counts such lines. `limitBytes` cuts the output, as kubelet does, at a byte
count whatever the line. Which file `previous` means is the server's choice (the
previous attempt's log path); this module reads the path it is given.

Standard library and the runtime's CRI log reader only (edge/runtime/streams.py).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from kubeedge.edge.runtime.streams import (
    CriRecord,
    follow_cri_log,
    parse_cri_line,
    rotated_log_files,
)

__all__ = ["LogOptions", "container_log", "parse_rfc3339", "tail_start"]

# What is handed to the HTTP layer at once, at most (many lines per chunk).
CHUNK = 64 * 1024
_BLOCK = 64 * 1024

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):(\d\d))$")


def parse_rfc3339(text: str) -> int:
    """ns since the epoch of an RFC 3339 time (with or without fractional seconds, any
    offset), as Go's time.Parse(RFC3339) takes; ValueError otherwise."""
    m = _RFC3339.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    import calendar

    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        secs -= offset if m.group(9) == "+" else -offset
    frac = int((m.group(7) or "").ljust(9, "0") or 0)
    return secs * 1_000_000_000 + frac


def _bool(values: list[str]) -> bool:
    # Kubernetes' query conversion of a bool (Convert_Slice_string_To_bool): "0" and
    # "false" (any case) are false, anything else true, even an empty value.
    v = values[0] if values else ""
    return not (v == "0" or v.lower() == "false")


def _int(name: str, values: list[str]) -> int:
    try:
        return int(values[0])
    except (ValueError, IndexError):
        raise ValueError(f"{name}: {values[0] if values else ''!r} is not an integer") \
            from None


@dataclass(frozen=True)
class LogOptions:
    """core/v1 PodLogOptions as kubelet takes it from the query (`container` is in the
    path). `since_time` is ns since the epoch."""

    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    previous: bool = False
    since_seconds: int | None = None
    since_time: int | None = None
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> LogOptions:
        """The options from kubelet's query names; ValueError naming the parameter for a
        value ValidatePodLogOptions refuses (the server answers 400 with it)."""
        kw: dict[str, object] = {}
        for name, attr in (("follow", "follow"), ("timestamps", "timestamps"),
                           ("previous", "previous")):
            if name in query:
                kw[attr] = _bool(query[name])
        if "tailLines" in query:
            n = _int("tailLines", query["tailLines"])
            if n < 0:
                raise ValueError("tailLines: must be greater than or equal to 0")
            kw["tail_lines"] = n
        if "limitBytes" in query:
            n = _int("limitBytes", query["limitBytes"])
            if n < 1:
                raise ValueError("limitBytes: must be greater than 0")
            kw["limit_bytes"] = n
        if "sinceSeconds" in query:
            n = _int("sinceSeconds", query["sinceSeconds"])
            if n < 1:
                raise ValueError("sinceSeconds: must be greater than 0")
            kw["since_seconds"] = n
        if "sinceTime" in query:
            if "since_seconds" in kw:
                raise ValueError("sinceTime: at most one of `sinceTime` or `sinceSeconds` "
                                 "may be specified")
            raw = query["sinceTime"][0] if query["sinceTime"] else ""
            try:
                kw["since_time"] = parse_rfc3339(raw)
            except ValueError:
                raise ValueError(f"sinceTime: {raw!r} is not an RFC 3339 time "
                                 "(e.g. 2024-01-02T15:04:05Z)") from None
        return cls(**kw)  # type: ignore[arg-type]

    def since_ns(self, now_ns: int) -> int | None:
        """The earliest record time wanted (kubelet: the later of the two bounds)."""
        bounds = []
        if self.since_seconds is not None:
            bounds.append(now_ns - self.since_seconds * 1_000_000_000)
        if self.since_time is not None:
            bounds.append(self.since_time)
        return max(bounds) if bounds else None


# --- tail: where the last N lines start -------------------------------------------------


def _tag_full(line: bytes) -> bool | None:
    """True for an F record, False for P, None for a line that is not a record."""
    rec = parse_cri_line(line)
    if rec is None:
        return None
    return not rec[2]


def tail_start(files: list[str], lines: int) -> tuple[int, int]:
    """(file index, offset) where the last `lines` lines of `files` start, read
    backwards block by block (a 10 MiB log is not read to tail 10 lines). A line is an
    F record with the P records of its stream right before it."""
    if lines <= 0:
        last = len(files) - 1
        try:
            return last, os.path.getsize(files[last])
        except OSError:
            return last, 0
    found = 0
    for index in range(len(files) - 1, -1, -1):
        try:
            f = open(files[index], "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with f:
            end = f.seek(0, os.SEEK_END)
            pos = end
            tail = b""  # the start of the line the previous block ended in
            first = True
            while pos > 0:
                step = min(_BLOCK, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step) + tail
                parts = block.split(b"\n")
                # parts[0] may be incomplete (it continues into the block before).
                tail = parts[0]
                candidates = parts[1:]
                # Walk this block's complete lines from the end.
                offset_end = pos + len(block)
                if first:
                    first = False
                    if candidates and candidates[-1] == b"":
                        candidates.pop()  # after the file's last newline
                        offset_end -= 1
                for line in reversed(candidates):
                    line_start = offset_end - len(line)
                    offset_end = line_start - 1
                    full = _tag_full(line)
                    if full is True:
                        if found == lines:
                            return index, line_start + len(line) + 1
                        found += 1
            if tail:
                full = _tag_full(tail)
                if full is True:
                    if found == lines:
                        return index, len(tail) + 1
                    found += 1
    return 0, 0


# --- reading -----------------------------------------------------------------------------


def _format_ts(ts: bytes) -> bytes:
    """kubelet's output format (RFC3339NanoFixed: nine digits, UTC); records from our
    supervisor and containerd already are."""
    if len(ts) == 30 and ts.endswith(b"Z"):
        return ts
    try:
        ns = parse_rfc3339(ts.decode())
    except (ValueError, UnicodeDecodeError):
        return ts
    secs, frac = divmod(ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z").encode()


def _ts_ns(ts: bytes) -> int | None:
    try:
        return parse_rfc3339(ts.decode())
    except (ValueError, UnicodeDecodeError):
        return None


async def container_log(path: str, opts: LogOptions, *,
                        running: Callable[[], Awaitable[bool]],
                        now_ns: int | None = None) -> AsyncIterator[bytes]:
    """The container's log after `opts`, as kubelet writes it to the client: each
    line's text (with `<RFC3339Nano> ` first under `timestamps`) and its newline, the
    stdout and stderr records in file order. With `follow` it goes on as the log grows
    (also across rotations) until `await running()` is False and everything written
    is out. The rotated files are read first. `now_ns` is the time sinceSeconds counts
    back from (default: now)."""
    files = [*rotated_log_files(path), path]
    start = tail_start(files, opts.tail_lines) if opts.tail_lines is not None else (0, 0)
    since = opts.since_ns(now_ns if now_ns is not None else time.time_ns())
    remaining = opts.limit_bytes if opts.limit_bytes is not None else -1
    # A line cut into P records, per stream: (first record's timestamp, text so far).
    partial: dict[bytes, tuple[bytes, bytearray]] = {}
    out = bytearray()

    def emit(ts: bytes, text: bytes, newline: bool) -> bool:
        """Adds one line to `out`; False once limitBytes is reached."""
        nonlocal remaining
        if since is not None:
            at = _ts_ns(ts)
            if at is not None and at < since:
                return True
        line = (_format_ts(ts) + b" " + text) if opts.timestamps else text
        if newline:
            line += b"\n"
        if remaining >= 0:
            if len(line) >= remaining:
                out.extend(line[:remaining])
                remaining = 0
                return False
            remaining -= len(line)
        out.extend(line)
        return True

    def take(rec: CriRecord) -> bool:
        ts, stream, is_partial, content = rec
        held = partial.get(stream)
        if is_partial:
            if held is None:
                partial[stream] = (ts, bytearray(content))
            else:
                held[1].extend(content)
            return True
        if held is not None:
            del partial[stream]
            held[1].extend(content)
            return emit(held[0], bytes(held[1]), True)
        return emit(ts, content, True)

    gen = follow_cri_log(files, start[0], start[1], follow=opts.follow, running=running)
    try:
        async for batch in gen:
            for rec in batch:
                if not take(rec):
                    if out:
                        yield bytes(out)
                    return
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            if out:
                yield bytes(out)
                out.clear()
        # A line whose stream closed before its end (a last P record): as written,
        # without a newline.
        for ts, text in list(partial.values()):
            if not emit(ts, bytes(text), False):
                break
        if out:
            yield bytes(out)
    finally:
        await gen.aclose()
