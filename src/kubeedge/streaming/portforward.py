"""Port-forward, server side, as kubelet serves `/portForward/{ns}/{pod}[/{uid}]`
(spec k8s-api.md §6 "port-forward"; kubelet's portforward httpstream.go and
websocket.go).

Three framings of the same thing, "relay TCP connections into the pod":
- WebSocket `SPDY/3.1+portforward.k8s.io` (kubectl 1.32): the SPDY byte stream rides in
  binary messages; then the SPDY protocol below.
- SPDY/3.1 upgrade with X-Stream-Protocol-Version `portforward.k8s.io` (kubectl's
  fallback): per local connection the client opens an `error` stream and a `data`
  stream sharing a `requestID` and naming the `port`. The data stream carries the bytes;
  a dial failure is written as text on the error stream.
- WebSocket `v4.channel.k8s.io` (and its base64 twin) with the ports in the query (the
  Python client): port i uses channel 2i for data and 2i+1 for errors, and the server
  first sends each channel the port as two little-endian bytes.

Closing follows kubelet: when the pod side closes, the data stream gets a FIN; when the
client resets (kubectl does once it saw the FIN) or the session ends, the pod
connection is closed; a client FIN half-closes the pod connection.

Edge-safe: stdlib + websockets. Never dials anything itself: `dial` (the runtime's
port_forward) does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kubeedge.streaming.http import BadRequest, RequestHead, refuse
from kubeedge.streaming.spdy import SpdySession, SpdyStream, spdy_over, upgrade_spdy
from kubeedge.streaming.websocket import (
    WebSocketConn,
    accept_websocket,
    is_websocket_request,
    negotiate_subprotocol,
    websocket_byte_stream,
)

log = logging.getLogger(__name__)

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

PORT_FORWARD_PROTOCOL = "portforward.k8s.io"
WEBSOCKET_SPDY_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
V4_BINARY_PROTOCOL = "v4.channel.k8s.io"
V4_BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
WEBSOCKET_PROTOCOLS = (WEBSOCKET_SPDY_PROTOCOL, V4_BINARY_PROTOCOL, V4_BASE64_PROTOCOL, "")

DEFAULT_STREAM_CREATION_TIMEOUT = 30.0
"""How long the first stream of a pair waits for its partner (kubelet's
streamCreationTimeout default)."""

DEFAULT_CLOSE_GRACE = 1.0
"""After the pod hung up, how long the client's direction may go on before both streams
are closed (containerd's port-forward waits 1 s, after socat's -t)."""

_READ_SIZE = 64 * 1024


def parse_ports(head: RequestHead) -> list[int]:
    """Ports of the WebSocket v4 variant. kubelet reads `port` (repeated or
    comma-separated; kube-apiserver rewrites the API's `ports` to it); `ports` is accepted
    too, as the Python client sends it to the API."""
    values = [*head.query.get("port", ()), *head.query.get("ports", ())]
    if not values:
        raise BadRequest('query parameter "port" is required')
    ports: list[int] = []
    for value in values:
        if not value:
            raise BadRequest('query parameter "port" cannot be empty')
        for part in value.split(","):
            ports.append(_parse_port(part))
    return ports


def _parse_port(text: str) -> int:
    try:
        port = int(text, 10)
    except ValueError:
        raise BadRequest(f"unable to parse {text!r} as a port") from None
    if not 0 < port < 65536:
        raise BadRequest(f"port {text!r} must be > 0 and < 65536")
    return port


def _pod_name(head: RequestHead) -> tuple[str, str]:
    """(pod full name as kubelet prints it, `name_namespace`; uid) from kubelet's
    /portForward/{ns}/{pod}[/{uid}] (or the API's .../namespaces/{ns}/pods/{pod}/...)."""
    parts = [p for p in head.path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "portForward":
        return f"{parts[2]}_{parts[1]}", parts[3] if len(parts) > 3 else ""
    if "namespaces" in parts and "pods" in parts:
        ns_at, pod_at = parts.index("namespaces") + 1, parts.index("pods") + 1
        if ns_at < len(parts) and pod_at < len(parts):
            return f"{parts[pod_at]}_{parts[ns_at]}", ""
    return head.path, ""


async def serve_port_forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             head: RequestHead, dial: Dial, *,
                             stream_creation_timeout: float = DEFAULT_STREAM_CREATION_TIMEOUT,
                             close_grace: float = DEFAULT_CLOSE_GRACE) -> None:
    """Serve one port-forward request until the client goes away. Bad requests get a
    plain-text 400 (BadRequest is raised after it was written)."""
    pod, uid = _pod_name(head)
    if is_websocket_request(head):
        chosen = negotiate_subprotocol(head.header_values("Sec-WebSocket-Protocol"),
                                       WEBSOCKET_PROTOCOLS)
        ports: list[int] = []
        if chosen is not None and chosen != WEBSOCKET_SPDY_PROTOCOL:
            try:
                ports = parse_ports(head)
            except BadRequest as exc:
                await refuse(writer, 400, str(exc))
        # accept_websocket refuses with 400 when nothing matched.
        conn = await accept_websocket(reader, writer, head,
                                      [chosen] if chosen is not None else WEBSOCKET_PROTOCOLS)
        try:
            if conn.subprotocol == WEBSOCKET_SPDY_PROTOCOL:
                session = spdy_over(*websocket_byte_stream(conn), server=True)
                await _serve_spdy(session, dial, pod, uid, stream_creation_timeout, close_grace)
            else:
                await _serve_channels(conn, ports, dial, pod, uid,
                                      base64_frames=conn.subprotocol == V4_BASE64_PROTOCOL)
        finally:
            await conn.close()
        return
    if head.header("Upgrade") is not None:
        session, _ = await upgrade_spdy(reader, writer, head, [PORT_FORWARD_PROTOCOL])
        await _serve_spdy(session, dial, pod, uid, stream_creation_timeout, close_grace)
        return
    await refuse(writer, 400, "port-forward needs a WebSocket or SPDY/3.1 upgrade")


def _forward_error(port: int, pod: str, uid: str, err: object) -> bytes:
    # kubelet's wording, which kubectl prints after "an error occurred forwarding".
    return f"error forwarding port {port} to pod {pod}, uid {uid}: {err}".encode()


def _close_pod(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    with contextlib.suppress(Exception):
        if abort and writer.transport is not None:
            writer.transport.abort()
        else:
            writer.close()


# -- SPDY (direct, or inside WebSocket messages) ---------------------------------------

@dataclass
class _Pair:
    request_id: str
    data: SpdyStream | None = None
    error: SpdyStream | None = None
    expiry: asyncio.TimerHandle | None = None


def _request_id(stream: SpdyStream) -> str:
    """kubelet's requestID: the header, else (clients older than the header) the error
    stream's id, which is the data stream's id minus 2 (best effort, as kubelet)."""
    request_id = stream.headers.get("requestid", "")
    if request_id:
        return request_id
    if stream.headers.get("streamtype") == "data":
        return str(stream.id - 2)
    return str(stream.id)


async def _serve_spdy(session: SpdySession, dial: Dial, pod: str, uid: str,
                      creation_timeout: float, close_grace: float) -> None:
    loop = asyncio.get_running_loop()
    pairs: dict[str, _Pair] = {}
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def expire(request_id: str) -> None:
        pair = pairs.pop(request_id, None)
        if pair is not None:
            spawn(_abandon(pair, "timed out waiting for the partner stream"))

    try:
        while (stream := await session.accept_stream()) is not None:
            kind = stream.headers.get("streamtype", "")
            if kind not in ("data", "error"):
                await stream.reset()
                continue
            request_id = _request_id(stream)
            pair = pairs.get(request_id)
            if pair is None:
                pair = pairs[request_id] = _Pair(request_id)
                pair.expiry = loop.call_later(creation_timeout, expire, request_id)
            if getattr(pair, kind) is not None:
                await stream.reset()  # a second stream of the same type: refuse it
                continue
            setattr(pair, kind, stream)
            if pair.data is not None and pair.error is not None:
                del pairs[request_id]
                if pair.expiry is not None:
                    pair.expiry.cancel()
                spawn(_forward_spdy_pair(pair.data, pair.error, dial, pod, uid, close_grace))
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for pair in pairs.values():
            if pair.expiry is not None:
                pair.expiry.cancel()
        for task in tasks:
            task.cancel()
        await session.close()


async def _abandon(pair: _Pair, reason: str) -> None:
    if pair.error is not None:
        with contextlib.suppress(ConnectionError):
            await pair.error.write(reason.encode())
        await pair.error.close()
    if pair.data is not None:
        await pair.data.reset()


async def _forward_spdy_pair(data: SpdyStream, error: SpdyStream, dial: Dial,
                             pod: str, uid: str, close_grace: float) -> None:
    try:
        try:
            port = _parse_port(data.headers.get("port", ""))
        except BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                await error.write(str(exc).encode())
            return
        try:
            pod_reader, pod_writer = await dial(port)
        except Exception as exc:  # any dial failure is reported to the client
            log.info("port-forward to %s port %d failed: %s", pod, port, exc)
            with contextlib.suppress(ConnectionError):
                await error.write(_forward_error(port, pod, uid, exc))
            return
        await _relay_stream(data, pod_reader, pod_writer, close_grace)
    finally:
        await data.close()
        await error.close()


async def _relay_stream(stream: SpdyStream, pod_reader: asyncio.StreamReader,
                        pod_writer: asyncio.StreamWriter, close_grace: float) -> None:
    async def client_to_pod() -> None:
        while chunk := await stream.read():
            pod_writer.write(chunk)
            await pod_writer.drain()
        if stream.was_reset:
            raise ConnectionResetError("client reset the data stream")
        if pod_writer.can_write_eof():
            pod_writer.write_eof()  # the client's FIN: half-close, keep reading the pod

    async def pod_to_client() -> None:
        while chunk := await pod_reader.read(_READ_SIZE):
            await stream.write(chunk)
        await stream.close()

    up = asyncio.create_task(client_to_pod())
    down = asyncio.create_task(pod_to_client())
    aborted = False
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up.done() and up.exception() is None:
            # The client half-closed: the pod may still answer; it decides when it ends
            # (the client can still reset).
            await down
        elif down.done() and down.exception() is None:
            # The pod hung up and the client has its FIN. containerd gives the other
            # direction a grace period (socat's 1 s) before it closes both streams;
            # kubectl waits for the error stream's close to finish its connection.
            await asyncio.wait({up}, timeout=close_grace)
        aborted = any(t.done() and not t.cancelled() and t.exception() is not None
                      for t in (up, down))
    except (ConnectionError, OSError):
        aborted = True
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        _close_pod(pod_writer, abort=aborted)


# -- WebSocket channels (v4.channel.k8s.io, v4.base64.channel.k8s.io, "") --------------

class _ChannelCodec:
    def __init__(self, conn: WebSocketConn, base64_frames: bool) -> None:
        self.conn = conn
        self.base64 = base64_frames

    async def send(self, channel: int, data: bytes) -> None:
        if self.base64:
            await self.conn.send_text(chr(ord("0") + channel) + base64.b64encode(data).decode())
        else:
            await self.conn.send(bytes([channel]) + data)

    def decode(self, message: bytes) -> tuple[int, bytes] | None:
        if not message:
            return None
        if self.base64:
            try:
                return message[0] - ord("0"), base64.b64decode(message[1:])
            except ValueError:
                return None
        return message[0], message[1:]


async def _serve_channels(conn: WebSocketConn, ports: Sequence[int], dial: Dial,
                          pod: str, uid: str, *, base64_frames: bool) -> None:
    codec = _ChannelCodec(conn, base64_frames)
    writers: dict[int, asyncio.StreamWriter] = {}
    # Data the client sends before its port is dialled waits for the dial (kubelet's
    # pipes buffer it the same way); after a failed dial it is dropped.
    dialled: list[asyncio.Future[asyncio.StreamWriter | None]] = [
        asyncio.get_running_loop().create_future() for _ in ports]

    # kubelet websocket.go: each channel first carries its port, little-endian.
    for index, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await codec.send(2 * index, prefix)
        await codec.send(2 * index + 1, prefix)

    async def forward(index: int, port: int) -> None:
        try:
            pod_reader, pod_writer = await dial(port)
        except Exception as exc:
            log.info("port-forward to %s port %d failed: %s", pod, port, exc)
            dialled[index].set_result(None)
            with contextlib.suppress(ConnectionError):
                await codec.send(2 * index + 1, _forward_error(port, pod, uid, exc))
            return
        writers[index] = pod_writer
        dialled[index].set_result(pod_writer)
        try:
            while chunk := await pod_reader.read(_READ_SIZE):
                await codec.send(2 * index, chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            writers.pop(index, None)
            _close_pod(pod_writer, abort=False)

    forwards = [asyncio.create_task(forward(i, p)) for i, p in enumerate(ports)]
    all_done = asyncio.gather(*forwards, return_exceptions=True)

    async def client_to_pods() -> None:
        while (message := await conn.recv()) is not None:
            decoded = codec.decode(message)
            if decoded is None:
                continue
            channel, data = decoded
            index = channel // 2
            if channel % 2 or index >= len(ports) or not data:
                continue  # error channels are server→client only
            if await dialled[index] is None or index not in writers:
                continue
            pod_writer = writers[index]
            try:
                pod_writer.write(data)
                await pod_writer.drain()
            except (ConnectionError, OSError):
                writers.pop(index, None)

    upstream = asyncio.create_task(client_to_pods())
    try:
        # Done when every pod connection ended (kubelet then closes the WebSocket) or
        # when the client went away (then every pod connection is closed).
        await asyncio.wait({upstream, all_done}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        upstream.cancel()
        for task in forwards:
            task.cancel()
        for future in dialled:
            future.cancel()
        for pod_writer in list(writers.values()):
            _close_pod(pod_writer, abort=True)
        await asyncio.gather(upstream, all_done, return_exceptions=True)
