"""KubeEdge's stream tunnel (specs/kubeedge.md §9): its frames, its connect message, and
the per-session byte relay both ends of the tunnel run.

One WebSocket (the edge dials CloudStream's `/v1/kubeedge/connect`) carries many
sessions. Every WebSocket message is one frame: `uvarint connectID | uvarint type |
data`, as KubeEdge's `pkg/stream/message.go`. The cloud opens a session with a
`*_CONNECT` frame whose data is the JSON `{"MessID", "url", "header", "method"}`; after
that both sides send the session's raw bytes as `DATA` frames and either side ends it
with `REMOVE_CONNECT`. `CLOSE_CONNECT` (cloud → edge, session 0) ends the whole tunnel
with a reason. The protocols users speak (WebSocket channels, SPDY, chunked logs) are
terminated only in edged's server: everything here is bytes (issue 8 design).

Flow control. KubeEdge's frames have no per-session window, so a relay cannot ask the
peer to pause one session. Memory stays bounded instead: each session buffers at most
`HIGH_WATER` bytes towards its local connection, and past that the tunnel's reader
waits for that session to drain, which stops reading the WebSocket and lets TCP push
back on the peer. A session that does not drain within the tunnel's `stall_timeout`
(a client that stopped reading) is ended, so it holds its tunnel (and the keepalive
pings behind it) for seconds at most: a slow `kubectl logs -f` on a fast log slows the
other sessions of its edge briefly; a stuck one loses its session rather than growing a
buffer without end.

Edge-safe: stdlib only (ARCHITECTURE.md rule 9). Never imports a WebSocket library: the
ends hand `Tunnel` a `send` coroutine and feed it the messages they read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

__all__ = [
    "ATTACH_CONNECT",
    "CLOSE_CONNECT",
    "CONNECT_KINDS",
    "DATA",
    "EXEC_CONNECT",
    "LOGS_CONNECT",
    "METRIC_CONNECT",
    "REMOVE_CONNECT",
    "ConnectRequest",
    "FrameError",
    "Relay",
    "Tunnel",
    "connect_kind",
    "decode_frame",
    "encode_frame",
]

# pkg/stream/constants.go, in this order (iota).
LOGS_CONNECT, EXEC_CONNECT, METRIC_CONNECT, DATA, REMOVE_CONNECT, CLOSE_CONNECT, \
    ATTACH_CONNECT = range(7)
KIND_NAMES = ("LOGS_CONNECT", "EXEC_CONNECT", "METRIC_CONNECT", "DATA", "REMOVE_CONNECT",
              "CLOSE_CONNECT", "ATTACH_CONNECT")
CONNECT_KINDS = frozenset({LOGS_CONNECT, EXEC_CONNECT, METRIC_CONNECT, ATTACH_CONNECT})

# KubeEdge's MaxRespBodyLength: the most data one frame carries (spec §9 "maximum 1 MiB
# read per frame"). A frame adds two uvarints of at most 10 bytes each.
MAX_DATA_BYTES = 1 << 20
MAX_FRAME_BYTES = MAX_DATA_BYTES + 20
# Bytes one session may hold for its local connection before the tunnel's reader waits
# for it (module docstring "Flow control").
HIGH_WATER = 4 << 20

# The tunnel server's path and the edge's identity headers (pkg/stream/constants.go).
TUNNEL_PATH = "/v1/kubeedge/connect"
# The Node annotation cloudcore sets when a node's tunnel connects: where its stream
# server is (`host:port`), which our API server reads to reach the node's kubelet paths.
STREAM_SERVER_ANNOTATION = "kubeedge.io/stream-server"
HEADER_HOSTNAME = "SessionHostNameOverride"
HEADER_INTERNAL_IP = "SessionInternalIP"

_MAX_UVARINT = (1 << 64) - 1


class FrameError(ValueError):
    """A tunnel message that is not a valid frame (or connect message)."""


def _uvarint(value: int) -> bytes:
    if not 0 <= value <= _MAX_UVARINT:
        raise FrameError(f"{value} does not fit a uvarint (0..2^64-1)")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_uvarint(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """Go's binary.ReadUvarint: little-endian base-128, at most 10 bytes, the 10th at
    most 1 (an overflow is an error, not a wrap)."""
    value = shift = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise FrameError(f"truncated {what}")
        byte = buf[pos + i]
        if byte < 0x80:
            if i == 9 and byte > 1:
                raise FrameError(f"{what} overflows 64 bits")
            return value | (byte << shift), pos + i + 1
        value |= (byte & 0x7F) << shift
        shift += 7
    raise FrameError(f"{what} overflows 64 bits")


def encode_frame(connect_id: int, kind: int, data: bytes = b"") -> bytes:
    if not 0 <= kind < len(KIND_NAMES):
        raise FrameError(f"unknown frame type {kind}")
    if len(data) > MAX_DATA_BYTES:
        raise FrameError(f"frame data of {len(data)} bytes exceeds {MAX_DATA_BYTES}")
    return _uvarint(connect_id) + _uvarint(kind) + bytes(data)


def decode_frame(frame: bytes) -> tuple[int, int, bytes]:
    """(connect id, type, data) of one tunnel message; FrameError when it is not one."""
    frame = bytes(frame)
    connect_id, pos = _read_uvarint(frame, 0, "connect id")
    kind, pos = _read_uvarint(frame, pos, "frame type")
    if kind >= len(KIND_NAMES):
        raise FrameError(f"unknown frame type {kind}")
    if len(frame) - pos > MAX_DATA_BYTES:
        # KubeEdge's reader stops at MaxRespBodyLength; a longer frame is a peer bug.
        raise FrameError(f"frame data of {len(frame) - pos} bytes exceeds {MAX_DATA_BYTES}")
    return connect_id, kind, frame[pos:]


def connect_kind(path: str) -> int:
    """The connect type for a kubelet path, as CloudStream's routes: logs, exec and
    attach by prefix; everything else (stats, metrics, pods, healthz) is METRIC."""
    for prefix, kind in (("/containerLogs/", LOGS_CONNECT), ("/exec/", EXEC_CONNECT),
                         ("/attach/", ATTACH_CONNECT)):
        if path.startswith(prefix):
            return kind
    return METRIC_CONNECT


# Go's url.URL path escaping keeps these besides the unreserved characters.
_PATH_SAFE = "/:@!$&'()*+,;="


@dataclass
class ConnectRequest:
    """The data of a `*_CONNECT` frame: KubeEdge's `EdgedLogsConnection` /
    `EdgedExecConnection` JSON. `url` is Go's `url.URL` marshalled as a struct (that is
    what encoding/json makes of it); `header` is Go's `http.Header` (name → values);
    `method` is the exec/attach one (logs and metrics are GETs in KubeEdge)."""

    message_id: int
    method: str
    target: str                                  # path?query, as the client sent it
    headers: dict[str, list[str]] = field(default_factory=dict)
    host: str = "127.0.0.1:10350"

    def encode(self) -> bytes:
        split = urlsplit(self.target)
        path = unquote(split.path)
        raw_path = split.path if quote(path, safe=_PATH_SAFE) != split.path else ""
        url = {"Scheme": "http", "Opaque": "", "User": None, "Host": self.host,
               "Path": path, "RawPath": raw_path, "OmitHost": False, "ForceQuery": False,
               "RawQuery": split.query, "Fragment": "", "RawFragment": ""}
        return json.dumps({"MessID": self.message_id, "url": url, "header": self.headers,
                           "method": self.method}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> ConnectRequest:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError(f"connect message is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise FrameError("connect message is not a JSON object")
        message_id = raw.get("MessID", 0)
        if not isinstance(message_id, int) or message_id < 0:
            raise FrameError(f"connect message MessID {message_id!r} is not a uint64")
        url = raw.get("url")
        host = ""
        if isinstance(url, str):  # tolerated: a URL string
            split = urlsplit(url)
            target, host = split.path or "/", split.netloc
            if split.query:
                target += "?" + split.query
        elif isinstance(url, dict):
            path = url.get("RawPath") or quote(str(url.get("Path") or "/"), safe=_PATH_SAFE)
            query = str(url.get("RawQuery") or "")
            target = path + ("?" + query if query or url.get("ForceQuery") else "")
            host = str(url.get("Host") or "")
        else:
            raise FrameError("connect message has no url")
        if not target.startswith("/"):
            raise FrameError(f"connect url path {target[:80]!r} is not absolute")
        headers: dict[str, list[str]] = {}
        for name, values in (raw.get("header") or {}).items():
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise FrameError(f"connect header {name!r} is not a list of strings")
            headers[str(name)] = values
        method = raw.get("method") or "GET"
        if not isinstance(method, str) or not method.isalpha():
            raise FrameError(f"connect method {method!r} is not an HTTP method")
        return cls(message_id, method.upper(), target, headers, host)

    def header_list(self) -> list[tuple[str, str]]:
        return [(name, value) for name, values in self.headers.items() for value in values]


def header_map(headers: Sequence[tuple[str, str]], *, skip: frozenset[str] = frozenset()
               ) -> dict[str, list[str]]:
    """(name, value) pairs as Go's http.Header, leaving out `skip` (lower-case names)."""
    out: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() not in skip:
            out.setdefault(name, []).append(value)
    return out


Send = Callable[[bytes], Awaitable[None]]


class Relay:
    """One session's bytes between a local connection (the client's socket on the cloud,
    edged's on the edge) and the tunnel.

    Tunnel → local: `feed` queues DATA, `remote_closed` marks REMOVE_CONNECT (queued
    bytes are still written, then the local connection is closed). Local → tunnel: what
    the local side sends becomes DATA frames of at most MAX_DATA_BYTES; its end (EOF or
    an error) sends REMOVE_CONNECT. `abort` (the tunnel dropped) closes the local side
    at once.
    """

    def __init__(self, tunnel: Tunnel, connect_id: int) -> None:
        self.tunnel = tunnel
        self.connect_id = connect_id
        self._queue: deque[bytes] = deque()
        self.buffered = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._remote_done = False
        self._aborted = False
        self._cut = False
        self.done = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None

    # -- tunnel side --

    def feed(self, data: bytes) -> None:
        if self._remote_done or self._aborted:
            return
        self._queue.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER:
            self._drained.clear()
        self._wake.set()

    @property
    def full(self) -> bool:
        """Over HIGH_WATER and not drained since (`finish`, `abort` and `cut` end it)."""
        return not self._drained.is_set()

    async def wait_drained(self) -> None:
        """Return once this session holds at most HIGH_WATER bytes (or has ended:
        `finish` and `abort` set `_drained` too)."""
        if not self._drained.is_set():
            await self._drained.wait()

    def remote_closed(self) -> None:
        self._remote_done = True
        self._wake.set()

    def abort(self) -> None:
        """The tunnel is gone: drop what is queued and close the local side now."""
        self._aborted = True
        self._queue.clear()
        self._wake.set()
        self._drained.set()
        if self._writer is not None:
            _abort_writer(self._writer)

    def cut(self) -> None:
        """The local side stopped taking data (module docstring "Flow control"): drop
        what is queued, close it now, and tell the peer (REMOVE_CONNECT)."""
        self._cut = True
        self._queue.clear()
        self.buffered = 0
        self._wake.set()
        self._drained.set()
        if self._writer is not None:
            _abort_writer(self._writer)

    # -- the pumps --

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay until either side ends; always closes `writer` and leaves the tunnel."""
        self._writer = writer
        if self._aborted or self._cut:
            _abort_writer(writer)
        up = asyncio.ensure_future(self._upstream(reader))
        down = asyncio.ensure_future(self._downstream(writer))
        try:
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            for task in (up, down):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.finish(writer)

    async def finish(self, writer: asyncio.StreamWriter | None) -> None:
        """End the session: REMOVE_CONNECT unless the peer ended it (or the tunnel is
        gone), the local connection closed, the relay forgotten."""
        if self.done.is_set():
            return
        self.done.set()
        self._drained.set()
        self.tunnel.forget(self)
        if not self._remote_done and not self._aborted:
            with contextlib.suppress(Exception):
                await self.tunnel.send(self.connect_id, REMOVE_CONNECT)
        if writer is not None:
            if self._aborted or self._cut:
                _abort_writer(writer)
            else:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
                _abort_writer(writer)

    async def _upstream(self, reader: asyncio.StreamReader) -> None:
        while not self._aborted:
            try:
                data = await reader.read(MAX_DATA_BYTES)
            except (OSError, asyncio.IncompleteReadError):
                return
            if not data:
                return
            # A tunnel that cannot take it ends the session (the tunnel's own end
            # aborts every relay).
            await self.tunnel.send(self.connect_id, DATA, data)

    async def _downstream(self, writer: asyncio.StreamWriter) -> None:
        while True:
            while self._queue:
                data = self._queue.popleft()
                self.buffered -= len(data)
                writer.write(data)
                try:
                    await writer.drain()
                except OSError:
                    return
                if self.buffered <= HIGH_WATER:
                    self._drained.set()
            if self._remote_done or self._aborted or self._cut:
                return
            self._wake.clear()
            await self._wake.wait()


def _abort_writer(writer: asyncio.StreamWriter) -> None:
    # abort(), not close(): a peer that stopped reading must not hold the socket (and a
    # TLS close_notify) open.
    with contextlib.suppress(Exception):
        writer.transport.abort()


class Tunnel:
    """The sessions of one tunnel connection, either end. `send_message` writes one
    WebSocket binary message; `deliver` takes each message read from the peer."""

    def __init__(self, send_message: Send, *, name: str = "",
                 stall_timeout: float = 5.0) -> None:
        self._send_message = send_message
        self.name = name
        self.stall_timeout = stall_timeout
        self.relays: dict[int, Relay] = {}
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, connect_id: int, kind: int, data: bytes = b"") -> None:
        """One frame; frames of concurrent senders never interleave (and keep the
        order of the calls, so a CONNECT precedes its session's DATA)."""
        if self.closed:
            raise ConnectionError(f"tunnel {self.name} is closed")
        frame = encode_frame(connect_id, kind, data)
        async with self._lock:
            await self._send_message(frame)

    def open(self, connect_id: int) -> Relay:
        if connect_id in self.relays:
            raise FrameError(f"session {connect_id} is already open")
        relay = Relay(self, connect_id)
        self.relays[connect_id] = relay
        if self.closed:
            relay.abort()
        return relay

    def forget(self, relay: Relay) -> None:
        if self.relays.get(relay.connect_id) is relay:
            del self.relays[relay.connect_id]

    async def deliver(self, message: bytes) -> tuple[int, int, bytes] | None:
        """Route one message: DATA and REMOVE_CONNECT go to their session (waiting while
        it is over HIGH_WATER); connect and CLOSE_CONNECT frames are returned to the
        caller. Raises FrameError for a message that is not a frame."""
        connect_id, kind, data = decode_frame(message)
        if kind == DATA:
            relay = self.relays.get(connect_id)
            if relay is None:
                # A session that ended here while the peer still sent: tell it again.
                log.debug("tunnel %s: DATA for unknown session %d", self.name, connect_id)
                return None
            relay.feed(data)
            if not relay.full:
                return None  # the usual case: no timer and no task per frame
            try:
                await asyncio.wait_for(relay.wait_drained(), self.stall_timeout)
            except TimeoutError:
                log.warning("tunnel %s: session %d took none of its last %d bytes within "
                            "%ss; ended", self.name, connect_id, relay.buffered,
                            self.stall_timeout)
                relay.cut()
            return None
        if kind == REMOVE_CONNECT:
            relay = self.relays.get(connect_id)
            if relay is not None:
                relay.remote_closed()
            return None
        return connect_id, kind, data

    def close(self) -> None:
        """The connection is gone: every session ends now."""
        self.closed = True
        for relay in list(self.relays.values()):
            relay.abort()


def request_headers(request: ConnectRequest, local: str) -> list[tuple[str, str]]:
    """The head the edge writes to edged for a connect message: Host is the local
    server's (Go's http.Header never holds Host), the rest as the client sent them."""
    headers = [("Host", local)]
    headers.extend((n, v) for n, v in request.header_list() if n.lower() != "host")
    return headers

