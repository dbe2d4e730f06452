"""SPDY/3.1 sessions, as Kubernetes' exec, attach and port-forward use them
(spec k8s-api.md §6 "SPDY/3.1 framing"; wire behaviour of moby/spdystream, which both
kubectl and kubelet use).

What matters for interoperability with spdystream:
- Header blocks are zlib streams with the SPDY/3 dictionary, one compressor for
  everything we send and one decompressor for everything we receive on a connection,
  each block ended with Z_SYNC_FLUSH. Every header block received (SYN_STREAM,
  SYN_REPLY, HEADERS) goes through the decompressor, even when ignored, or the shared
  zlib state desynchronises.
- spdystream does no flow control: it never sends WINDOW_UPDATE and ignores the ones it
  gets, so neither do we. Back-pressure is TCP's: when a stream's reader falls behind,
  the session stops reading the connection (spdystream blocks its frame loop the same
  way).
- Every SYN_STREAM is answered with a SYN_REPLY at once (kubectl waits 30 s for it).
- A peer's PING is echoed; a RST_STREAM ends the stream both ways (kubectl resets the
  port-forward data stream after it is done, which is normal).

Edge-safe: stdlib only. Owns framing and stream bookkeeping; never interprets stream
headers (remotecommand and portforward do).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

from kubeedge.streaming.http import (
    RequestHead,
    header_value,
    is_upgrade,
    read_response_head,
    refuse,
    request_head,
    response_head,
)
from kubeedge.streaming.http import UpgradeRefused as HTTPUpgradeRefused

SPDY_VERSION = 3

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01

# RST_STREAM status codes (SPDY/3 §2.4.2).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5

MAX_DATA_FRAME = 64 * 1024
"""Largest DATA payload we send. spdystream accepts up to the 24-bit limit, but
smaller frames keep one busy stream from delaying the others for long."""

STREAM_BUFFER = 1024 * 1024
"""Received bytes buffered per stream before the session stops reading the connection."""

HEADER_PROTOCOL_VERSION = "X-Stream-Protocol-Version"
HEADER_ACCEPTED_PROTOCOL_VERSIONS = "X-Accepted-Stream-Protocol-Versions"

# The SPDY/3 header compression dictionary, byte for byte as spdystream's
# spdy/dictionary.go has it (1423 bytes; an interface fact, checked by its SHA-256 in
# tests/unit/streaming/test_spdy.py).
HEADER_DICTIONARY = bytes.fromhex(
    "000000076f7074696f6e73000000046865616400000004706f7374000000037075740000000664656c657465"
    "000000057472616365000000066163636570740000000e6163636570742d636861727365740000000f616363"
    "6570742d656e636f64696e670000000f6163636570742d6c616e67756167650000000d6163636570742d7261"
    "6e6765730000000361676500000005616c6c6f770000000d617574686f72697a6174696f6e0000000d636163"
    "68652d636f6e74726f6c0000000a636f6e6e656374696f6e0000000c636f6e74656e742d6261736500000010"
    "636f6e74656e742d656e636f64696e6700000010636f6e74656e742d6c616e67756167650000000e636f6e74"
    "656e742d6c656e67746800000010636f6e74656e742d6c6f636174696f6e0000000b636f6e74656e742d6d64"
    "350000000d636f6e74656e742d72616e67650000000c636f6e74656e742d7479706500000004646174650000"
    "0004657461670000000665787065637400000007657870697265730000000466726f6d00000004686f737400"
    "00000869662d6d617463680000001169662d6d6f6469666965642d73696e63650000000d69662d6e6f6e652d"
    "6d617463680000000869662d72616e67650000001369662d756e6d6f6469666965642d73696e63650000000d"
    "6c6173742d6d6f646966696564000000086c6f636174696f6e0000000c6d61782d666f727761726473000000"
    "06707261676d610000001270726f78792d61757468656e7469636174650000001370726f78792d617574686f"
    "72697a6174696f6e0000000572616e676500000007726566657265720000000b72657472792d616674657200"
    "00000673657276657200000002746500000007747261696c6572000000117472616e736665722d656e636f64"
    "696e6700000007757067726164650000000a757365722d6167656e7400000004766172790000000376696100"
    "0000077761726e696e67000000107777772d61757468656e746963617465000000066d6574686f6400000003"
    "6765740000000673746174757300000006323030204f4b0000000776657273696f6e00000008485454502f31"
    "2e310000000375726c000000067075626c69630000000a7365742d636f6f6b69650000000a6b6565702d616c"
    "697665000000066f726967696e31303031303132303132303232303532303633303033303233303333303433"
    "3035333036333037343032343035343036343037343038343039343130343131343132343133343134343135"
    "343136343137353032353034353035323033204e6f6e2d417574686f726974617469766520496e666f726d61"
    "74696f6e323034204e6f20436f6e74656e74333031204d6f766564205065726d616e656e746c793430302042"
    "6164205265717565737434303120556e617574686f72697a656434303320466f7262696464656e343034204e"
    "6f7420466f756e6435303020496e7465726e616c20536572766572204572726f72353031204e6f7420496d70"
    "6c656d656e746564353033205365727669636520556e617661696c61626c654a616e20466562204d61722041"
    "7072204d6179204a756e204a756c204175672053657074204f6374204e6f76204465632030303a30303a3030"
    "204d6f6e2c205475652c205765642c205468752c204672692c205361742c2053756e2c20474d546368756e6b"
    "65642c746578742f68746d6c2c696d6167652f706e672c696d6167652f6a70672c696d6167652f6769662c61"
    "70706c69636174696f6e2f786d6c2c6170706c69636174696f6e2f7868746d6c2b786d6c2c746578742f706c"
    "61696e2c746578742f6a6176617363726970742c7075626c6963707269766174656d61782d6167653d677a69"
    "702c6465666c6174652c73646368636861727365743d7574662d38636861727365743d69736f2d383835392d"
    "312c7574662d2c2a2c656e713d302e"
)


class StreamReader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...


class StreamWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    def is_closing(self) -> bool: ...


class SpdyProtocolError(Exception):
    """The peer broke SPDY framing; the session ends with GOAWAY PROTOCOL_ERROR."""


def encode_header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        raw_name = name.lower().encode()
        raw_value = value.encode()
        out.append(struct.pack(">I", len(raw_name)) + raw_name)
        out.append(struct.pack(">I", len(raw_value)) + raw_value)
    return b"".join(out)


def decode_header_block(block: bytes) -> dict[str, str]:
    """Names lower-cased (spdystream lower-cases them too); repeated values stay joined
    by NUL as they travel (SPDY/3 §2.6.10)."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset = 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (length,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4:offset + 4 + length]
            offset += 4 + length
            (length,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4:offset + 4 + length]
            offset += 4 + length
            if offset > len(block):
                raise SpdyProtocolError("header block shorter than its lengths")
            headers[name.decode().lower()] = value.decode()
    except (struct.error, UnicodeDecodeError) as exc:
        raise SpdyProtocolError(f"malformed header block: {exc}") from exc
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | SPDY_VERSION, kind, flags << 24 | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes | memoryview) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(payload)) + payload


class SpdyStream:
    """One SPDY stream. `read` gives b"" after the peer's FIN or a reset; `write` raises
    ConnectionResetError after our FIN, a reset or the end of the session."""

    def __init__(self, session: SpdySession, stream_id: int, headers: dict[str, str]) -> None:
        self.id = stream_id
        self.headers = headers
        self._session = session
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.remote_closed = False     # peer sent FIN (or the stream ended otherwise)
        self.local_closed = False      # we sent FIN
        self.was_reset = False
        self.replied = asyncio.Event()

    def __repr__(self) -> str:
        return f"<SpdyStream {self.id} {self.headers}>"

    async def read(self) -> bytes:
        while not self._chunks:
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._buffered <= STREAM_BUFFER:
            self._drained.set()
        return data

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), MAX_DATA_FRAME):
            self._check_writable()
            await self._session._send(
                data_frame(self.id, 0, view[start:start + MAX_DATA_FRAME]))

    async def close(self) -> None:
        if self.local_closed or self.was_reset or self._session.ended:
            return
        self.local_closed = True
        self._session._maybe_forget(self)
        with contextlib.suppress(ConnectionError, OSError):
            await self._session._send(data_frame(self.id, FLAG_FIN, b""))

    async def reset(self, status: int = CANCEL) -> None:
        if self.was_reset or self._session.ended:
            return
        self._end(reset=True)
        with contextlib.suppress(ConnectionError, OSError):
            await self._session._send(control_frame(
                RST_STREAM, 0, struct.pack(">II", self.id & 0x7FFFFFFF, status)))

    def _check_writable(self) -> None:
        if self.local_closed or self.was_reset or self._session.ended:
            raise ConnectionResetError(f"SPDY stream {self.id} is closed")

    def _deliver(self, data: bytes) -> None:
        if self.remote_closed or not data:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()
        if self._buffered > STREAM_BUFFER:
            self._drained.clear()

    def _finish_remote(self) -> None:
        self.remote_closed = True
        self._readable.set()
        self._session._maybe_forget(self)

    def _end(self, *, reset: bool) -> None:
        """The stream is over both ways: a reset (ours or the peer's) or the session's end."""
        self.was_reset = self.was_reset or reset
        self.remote_closed = True
        self.local_closed = True
        self._chunks.clear()
        self._buffered = 0
        self._drained.set()
        self._readable.set()
        self.replied.set()
        self._session._streams.pop(self.id, None)


class SpdySession:
    """A SPDY/3.1 connection in either role. The server role answers each SYN_STREAM
    with a SYN_REPLY and queues the stream for `accept_stream`; the client role opens
    streams (odd ids) with `open_stream`."""

    def __init__(self, reader: Any, writer: Any, *, server: bool) -> None:
        self.server = server
        self._reader = reader
        self._writer = writer
        self._compress = zlib.compressobj(zdict=HEADER_DICTIONARY)
        self._decompress = zlib.decompressobj(zdict=HEADER_DICTIONARY)
        self._streams: dict[int, SpdyStream] = {}
        self._incoming: collections.deque[SpdyStream] = collections.deque()
        self._incoming_ready = asyncio.Event()
        self._next_id = 2 if server else 1
        self._last_peer_id = 0
        self._goaway_received = False
        self._ended = asyncio.Event()
        self._reader_task = asyncio.create_task(self._read_frames())

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def wait_closed(self) -> None:
        await self._ended.wait()

    async def accept_stream(self) -> SpdyStream | None:
        while not self._incoming:
            if self._ended.is_set() or self._goaway_received:
                return None
            self._incoming_ready.clear()
            await self._incoming_ready.wait()
        return self._incoming.popleft()

    async def open_stream(self, headers: dict[str, str], fin: bool = False) -> SpdyStream:
        if self._ended.is_set() or self._goaway_received:
            raise ConnectionResetError("SPDY session is closed")
        stream_id = self._next_id
        self._next_id += 2
        stream = SpdyStream(self, stream_id, dict(headers))
        self._streams[stream_id] = stream
        if fin:
            stream.local_closed = True
        block = self._compress_headers(headers)
        # Priority 0 (highest; kubectl's choice), slot 0.
        self._writer.write(control_frame(
            SYN_STREAM, FLAG_FIN if fin else 0, struct.pack(">IIH", stream_id, 0, 0) + block))
        await self._writer.drain()
        await stream.replied.wait()
        if stream.was_reset:
            raise ConnectionResetError(f"SPDY stream {stream_id} was refused")
        if self._ended.is_set():
            raise ConnectionResetError("SPDY session ended before the stream was answered")
        return stream

    async def close(self) -> None:
        """GOAWAY (best effort), then close the connection; every stream ends."""
        if not self._ended.is_set():
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self._writer.write(control_frame(
                    GOAWAY, 0, struct.pack(">II", self._last_peer_id, 0)))
                await self._writer.drain()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._shutdown()

    # -- internals ---------------------------------------------------------------

    def _compress_headers(self, headers: dict[str, str]) -> bytes:
        # Compressing and writing happen without an await between them, so the blocks
        # reach the wire in the order the shared zlib stream produced them.
        block = encode_header_block(headers)
        return self._compress.compress(block) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    def _decompress_headers(self, data: bytes) -> dict[str, str]:
        try:
            return decode_header_block(self._decompress.decompress(data))
        except zlib.error as exc:
            raise SpdyProtocolError(f"bad header compression: {exc}") from exc

    async def _send(self, frame: bytes) -> None:
        if self._ended.is_set():
            raise ConnectionResetError("SPDY session is closed")
        self._writer.write(frame)
        await self._writer.drain()

    def _maybe_forget(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self._streams.pop(stream.id, None)

    def _shutdown(self) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        self._incoming_ready.set()
        for stream in list(self._streams.values()):
            stream._end(reset=False)
        with contextlib.suppress(Exception):
            if not self._writer.is_closing():
                self._writer.close()

    async def _read_frames(self) -> None:
        try:
            while True:
                head = await self._reader.readexactly(8)
                if head[0] & 0x80:
                    _version, kind, word = struct.unpack(">HHI", head)
                    payload = await self._reader.readexactly(word & 0xFFFFFF)
                    await self._on_control(kind, word >> 24, payload)
                else:
                    stream_id, word = struct.unpack(">II", head)
                    payload = await self._reader.readexactly(word & 0xFFFFFF)
                    await self._on_data(stream_id & 0x7FFFFFFF, word >> 24, payload)
        except SpdyProtocolError:
            with contextlib.suppress(Exception):
                self._writer.write(control_frame(
                    GOAWAY, 0, struct.pack(">II", self._last_peer_id, PROTOCOL_ERROR)))
                await self._writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the peer went away: every stream ends
        finally:
            self._shutdown()

    async def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # spdystream drops data for streams it no longer knows too
        stream._deliver(payload)
        if flags & FLAG_FIN:
            stream._finish_remote()
        # TCP back-pressure: stop reading the connection while this stream is full.
        await stream._drained.wait()

    async def _on_control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyProtocolError("short SYN_STREAM")
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            stream_id &= 0x7FFFFFFF
            headers = self._decompress_headers(payload[10:])
            await self._on_syn_stream(stream_id, flags, headers)
        elif kind == SYN_REPLY:
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            self._decompress_headers(payload[4:])
            stream = self._streams.get(stream_id & 0x7FFFFFFF)
            if stream is not None:
                stream.replied.set()
                if flags & FLAG_FIN:
                    stream._finish_remote()
        elif kind == RST_STREAM:
            (stream_id, _status) = struct.unpack_from(">II", payload, 0)
            stream = self._streams.get(stream_id & 0x7FFFFFFF)
            if stream is not None:
                stream._end(reset=True)
        elif kind == PING:
            (ping_id,) = struct.unpack_from(">I", payload, 0)
            # Echo only the peer's pings (odd ids from clients, even from servers);
            # a ping with our parity is the answer to one of ours.
            if ping_id % 2 != self._next_id % 2:
                await self._send(control_frame(PING, 0, payload[:4]))
        elif kind == GOAWAY:
            self._goaway_received = True
            self._incoming_ready.set()
        elif kind == HEADERS:
            self._decompress_headers(payload[4:])  # keep the zlib stream in step
        # SETTINGS, WINDOW_UPDATE and unknown types: ignored, as spdystream does.

    async def _on_syn_stream(self, stream_id: int, flags: int, headers: dict[str, str]) -> None:
        if stream_id == 0 or stream_id in self._streams or stream_id % 2 == self._next_id % 2:
            await self._send(control_frame(
                RST_STREAM, 0, struct.pack(">II", stream_id, PROTOCOL_ERROR)))
            return
        self._last_peer_id = max(self._last_peer_id, stream_id)
        stream = SpdyStream(self, stream_id, headers)
        stream.replied.set()
        self._streams[stream_id] = stream
        if flags & FLAG_FIN:
            stream.remote_closed = True
        await self._send(control_frame(
            SYN_REPLY, 0, struct.pack(">I", stream_id) + self._compress_headers({})))
        self._incoming.append(stream)
        self._incoming_ready.set()


def spdy_over(reader: Any, writer: Any, *, server: bool) -> SpdySession:
    """A session on any byte pair with `readexactly` and `write`/`drain`/`close`: a TCP
    connection after the upgrade, or a WebSocket's byte stream
    (streaming.websocket.websocket_byte_stream)."""
    return SpdySession(reader, writer, server=server)


def is_spdy_request(head: RequestHead) -> bool:
    return is_upgrade(head, "spdy/3.1")


def negotiate_protocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """httpstream.Handshake: the client's order decides."""
    return next((p for p in offered if p in supported), None)


async def upgrade_spdy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       head: RequestHead, protocols: Sequence[str]) -> tuple[SpdySession, str]:
    """Server side of kubelet's SPDY upgrade (apimachinery httpstream/spdy
    responseUpgrader + httpstream.Handshake): 400 without the upgrade headers or without
    X-Stream-Protocol-Version, 403 listing X-Accepted-Stream-Protocol-Versions when no
    offered version is supported, else 101 with the chosen version."""
    if not is_spdy_request(head):
        await refuse(writer, 400, "unable to upgrade: missing upgrade headers in request")
    offered = head.header_values(HEADER_PROTOCOL_VERSION)
    if not offered:
        await refuse(writer, 400,
                      f"unable to upgrade: {HEADER_PROTOCOL_VERSION} is required")
    chosen = negotiate_protocol(offered, protocols)
    if chosen is None:
        await refuse(
            writer, 403,
            f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
            f"server accepts {list(protocols)}",
            [(HEADER_ACCEPTED_PROTOCOL_VERSIONS, p) for p in protocols])
    assert chosen is not None
    writer.write(response_head(101, [
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        (HEADER_PROTOCOL_VERSION, chosen),
    ]))
    await writer.drain()
    return spdy_over(reader, writer, server=True), chosen


class UpgradeRefused(HTTPUpgradeRefused):
    """The server answered a SPDY upgrade with something other than 101."""

    protocol = "SPDY upgrade"


async def connect_spdy(host: str, port: int, target: str, protocols: Sequence[str],
                       ssl: Any = None, *, method: str = "POST",
                       headers: Sequence[tuple[str, str]] = ()) -> tuple[SpdySession, str]:
    """Client side of the upgrade, as kubectl's SPDY fallback sends it (tests, tools):
    returns the client-role session and the version the server chose."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ssl, server_hostname=host if ssl else None)
    writer.write(request_head(method, target, [
        ("Host", f"{host}:{port}"),
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        *[(HEADER_PROTOCOL_VERSION, p) for p in protocols],
        *headers,
    ]))
    await writer.drain()
    status, _reason, response_headers = await read_response_head(reader)
    if status != 101:
        length = int(header_value(response_headers, "Content-Length") or 0)
        body = await reader.read(length) if length else b""
        writer.close()
        raise UpgradeRefused(status, body)
    chosen = header_value(response_headers, HEADER_PROTOCOL_VERSION) or ""
    return spdy_over(reader, writer, server=False), chosen
