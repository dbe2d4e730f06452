"""WebSocket connections over a raw asyncio stream pair, on websockets' sans-I/O core.

edged's server reads the request head itself (streaming.http) and only then decides
that a request is a WebSocket upgrade, so the upgrade happens here, after the head,
on the same reader and writer. Subprotocols are negotiated as Kubernetes' wsstream
does (k8s.io/apimachinery/pkg/util/httpstream/wsstream conn.go `handshake`): the
client's offers are tried in the client's order and the first one the server supports
wins; a client offering nothing gets the "" protocol if the server lists it; anything
else is refused with 400.

A background task reads frames, answers pings (kubectl pings every 5 s and gives up
after 61 s without a pong, k8s-api.md §6) and close frames, and queues data messages
for `recv` with a bounded queue, so a slow consumer slows the peer through TCP.

Edge-safe: stdlib + websockets (ARCHITECTURE.md rule 9).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import os
import ssl as ssl_module
from collections.abc import Sequence

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import OPEN, Protocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from websockets.utils import accept_key

from kubeedge.streaming.http import (
    BadRequest,
    RequestHead,
    UpgradeRefused,
    header_value,
    is_upgrade,
    plain_response,
    read_response_head,
    refuse,
    request_head,
)

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
"""Largest incoming message. websockets' 1 MiB default is too small for stdin written in
one go by the Python client; Go's gorilla has no limit at all."""

DEFAULT_CLOSE_TIMEOUT = 10.0
"""How long `close` waits for the peer's close frame (websockets' default)."""

_QUEUED_MESSAGES = 16
_READ_SIZE = 64 * 1024


def is_websocket_request(head: RequestHead) -> bool:
    """wsstream IsWebSocketRequest: Connection has `upgrade` and Upgrade is `websocket`."""
    return is_upgrade(head, "websocket")


def negotiate_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """wsstream `handshake`: the client's order decides; no offer means the "" protocol.
    None when nothing matches."""
    for protocol in offered or [""]:
        if protocol in supported:
            return protocol
    return None


class WebSocketConn:
    """One open WebSocket. `recv` returns None once the connection is closed or lost;
    `send` raises ConnectionResetError once it is."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 protocol: Protocol, subprotocol: str, *,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        self.subprotocol = subprotocol
        self.close_timeout = close_timeout
        self._reader = reader
        self._writer = writer
        self._protocol = protocol
        self._messages: collections.deque[bytes] = collections.deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._fragments: list[bytes] = []
        self._done = asyncio.Event()
        self.close_code: int | None = None
        self._pump_task = asyncio.create_task(self._pump())

    @property
    def closed(self) -> bool:
        return self._done.is_set() or self._protocol.state is not OPEN

    async def recv(self) -> bytes | None:
        while not self._messages:
            if self._done.is_set():
                return None
            self._readable.clear()
            await self._readable.wait()
        data = self._messages.popleft()
        if len(self._messages) < _QUEUED_MESSAGES:
            self._room.set()
        return data

    async def send(self, data: bytes) -> None:
        self._check_open()
        self._protocol.send_binary(data)
        await self._flush()

    async def send_text(self, data: str) -> None:
        self._check_open()
        self._protocol.send_text(data.encode())
        await self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, wait (bounded) for the peer's answer, close TCP."""
        if self._protocol.state is OPEN and not self._done.is_set():
            self._protocol.send_close(code, reason)
            with contextlib.suppress(ConnectionError, OSError):
                await self._flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._done.wait()), self.close_timeout)
        self._pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump_task
        await self._close_transport()

    async def wait_closed(self) -> None:
        await self._done.wait()

    def _check_open(self) -> None:
        if self._done.is_set() or self._protocol.state is not OPEN:
            raise ConnectionResetError("WebSocket connection is closed")

    async def _flush(self) -> None:
        eof = False
        for chunk in self._protocol.data_to_send():
            if chunk:
                self._writer.write(chunk)
            else:
                eof = True  # the protocol asks for the TCP connection to end
        if eof:
            await self._close_transport()
            return
        await self._writer.drain()

    async def _close_transport(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl_module.SSLError):
            await self._writer.wait_closed()

    def _deliver(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                self._messages.append(b"".join(self._fragments))
                self._fragments = []
                self._readable.set()
                if len(self._messages) >= _QUEUED_MESSAGES:
                    self._room.clear()
        elif frame.opcode is Opcode.CLOSE and self.close_code is None:
            rcvd = self._protocol.close_rcvd
            self.close_code = rcvd.code if rcvd is not None else CloseCode.NO_STATUS_RCVD
        # PING: the protocol queued the PONG already; PONG: nothing to do.

    async def _pump(self) -> None:
        try:
            while True:
                for event in self._protocol.events_received():
                    if isinstance(event, Frame):
                        self._deliver(event)
                await self._flush()
                # Closing handshake done: RFC 6455 §7.1.1 lets the server close TCP
                # now; a client waits for the server's EOF.
                if (self._protocol.close_expected() and self._protocol.state is not OPEN
                        and isinstance(self._protocol, ServerProtocol)):
                    break
                await self._room.wait()
                data = await self._reader.read(_READ_SIZE)
                if data:
                    self._protocol.receive_data(data)
                else:
                    self._protocol.receive_eof()
                    for event in self._protocol.events_received():
                        if isinstance(event, Frame):
                            self._deliver(event)
                    break
        except (ConnectionError, OSError, ssl_module.SSLError, asyncio.IncompleteReadError):
            pass  # the peer vanished: recv returns None from now on
        finally:
            self._done.set()
            self._readable.set()
            if not self._writer.is_closing():
                self._writer.close()


async def accept_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           head: RequestHead, subprotocols: Sequence[str], *,
                           max_message: int | None = DEFAULT_MAX_MESSAGE,
                           close_timeout: float = DEFAULT_CLOSE_TIMEOUT) -> WebSocketConn:
    """Answer the upgrade `head` asks for. On a bad handshake or no common subprotocol,
    writes a plain-text 400 and raises BadRequest."""
    offered = head.header_values("Sec-WebSocket-Protocol")
    chosen = negotiate_subprotocol(offered, subprotocols)
    if chosen is None:
        await refuse(writer, 400, f"requested protocol(s) are not supported: {offered}; "
                                  f"supports {list(subprotocols)}")

    # websockets would refuse Kubernetes' subprotocol names (not RFC 7230 tokens), so
    # it checks everything but Sec-WebSocket-Protocol, which was negotiated above.
    handshake = ServerProtocol(max_size=max_message)
    request = Request(
        path=head.target,
        headers=Headers([(n, v) for n, v in head.headers
                         if n.lower() != "sec-websocket-protocol"]),
        method=head.method, protocol=head.version)
    response = handshake.accept(request)
    if response.status_code == 101 and chosen:
        response.headers["Sec-WebSocket-Protocol"] = chosen
    if response.status_code != 101:
        text = response.body.decode(errors="replace") if response.body else "bad handshake"
        writer.write(plain_response(400, text))
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        raise BadRequest(text.strip())
    # The head was parsed by us, not by websockets, so the protocol that carries the
    # frames starts OPEN (a CONNECTING one would parse the frames as an HTTP request).
    writer.write(response.serialize())
    opened = ServerProtocol(state=OPEN, max_size=max_message)
    conn = WebSocketConn(reader, writer, opened, chosen, close_timeout=close_timeout)
    await conn._flush()
    return conn


class HandshakeRejected(UpgradeRefused):
    """The server answered the client's upgrade with something other than 101."""

    protocol = "WebSocket upgrade"


async def connect_websocket(host: str, port: int, target: str, subprotocols: Sequence[str],
                            ssl: ssl_module.SSLContext | None = None, *,
                            headers: Sequence[tuple[str, str]] = (),
                            max_message: int | None = DEFAULT_MAX_MESSAGE,
                            ) -> WebSocketConn:
    """Client side (tests and tools): opens TCP (TLS with `ssl`), upgrades `target`, and
    returns the same WebSocketConn the server side uses. A `Host` in `headers` replaces
    the default `host:port` (cloudcore's stream server picks the tunnel by it).

    Frames the server sent right behind its 101 (in the same TCP read) are not lost:
    the head is read line by line from the StreamReader, which keeps what follows
    buffered for the connection's first read."""
    # The handshake is ours, not websockets': Kubernetes' subprotocol names
    # ("SPDY/3.1+portforward.k8s.io") are not RFC 7230 tokens, which websockets refuses.
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ssl, server_hostname=host if ssl else None)
    key = base64.b64encode(os.urandom(16)).decode()
    has_host = any(name.lower() == "host" for name, _ in headers)
    writer.write(request_head("GET", target, [
        *([] if has_host else [("Host", f"{host}:{port}")]),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        *([("Sec-WebSocket-Protocol", ", ".join(subprotocols))] if subprotocols else []),
        *headers,
    ]))
    await writer.drain()
    try:
        status, _reason, response_headers = await read_response_head(reader)
    except (asyncio.IncompleteReadError, BadRequest) as exc:
        writer.close()
        raise HandshakeRejected(0, b"no valid handshake response") from exc
    if status != 101:
        length = int(header_value(response_headers, "Content-Length") or 0)
        body = await reader.read(length) if length else b""
        writer.close()
        raise HandshakeRejected(status, body)
    chosen = header_value(response_headers, "Sec-WebSocket-Protocol") or ""
    if header_value(response_headers, "Sec-WebSocket-Accept") != accept_key(key) or (
            chosen and chosen not in subprotocols):
        writer.close()
        raise HandshakeRejected(101, b"invalid Sec-WebSocket-Accept or subprotocol")
    protocol = ClientProtocol(parse_uri(f"{'wss' if ssl else 'ws'}://{host}:{port}{target}"),
                              state=OPEN, max_size=max_message)
    return WebSocketConn(reader, writer, protocol, chosen)


class WebSocketByteReader:
    """The byte stream carried in a WebSocket's binary messages, read like an
    asyncio.StreamReader (what spdy_over needs). kubectl 1.32 tunnels SPDY this way
    (`SPDY/3.1+portforward.k8s.io`, k8s-api.md §6): message boundaries mean nothing."""

    def __init__(self, conn: WebSocketConn) -> None:
        self._conn = conn
        self._buffer = bytearray()
        self._eof = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        data = await self._conn.recv()
        if data is None:
            self._eof = True
            return False
        self._buffer += data
        return True

    async def read(self, n: int = -1) -> bytes:
        while not self._buffer and await self._fill():
            pass
        if n < 0 or n >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
        else:
            out = bytes(self._buffer[:n])
            del self._buffer[:n]
        return out

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(partial, n)
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def at_eof(self) -> bool:
        return self._eof and not self._buffer


class WebSocketByteWriter:
    """Writes the byte stream as binary messages: each `drain` sends what was written
    since the last one as one message. Order is kept because `write` only buffers and
    `drain` hands the bytes to the connection before it awaits."""

    def __init__(self, conn: WebSocketConn) -> None:
        self._conn = conn
        self._pending: list[bytes] = []
        self._closing = False
        self._close_task: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> None:
        if self._closing:
            raise ConnectionResetError("WebSocket byte stream is closed")
        self._pending.append(bytes(data))

    async def drain(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        await self._conn.send(data)

    def is_closing(self) -> bool:
        return self._closing or self._conn.closed

    def close(self) -> None:
        """Like a transport's close: starts the WebSocket's closing handshake."""
        if not self._closing:
            self._closing = True
            self._close_task = asyncio.ensure_future(self._conn.close())

    async def wait_closed(self) -> None:
        self.close()
        await self._close_task


def websocket_byte_stream(conn: WebSocketConn) -> tuple[WebSocketByteReader, WebSocketByteWriter]:
    return WebSocketByteReader(conn), WebSocketByteWriter(conn)
