"""Port-forward in its three framings (spec k8s-api.md §6) against a real TCP echo
server standing in for the pod: SPDY upgrade, SPDY inside WebSocket messages (kubectl
1.32) and WebSocket v4 channels (the Python client)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest
from websockets.asyncio.client import connect

from kubeedge.streaming.http import (
    BadRequest,
    RequestHead,
    parse_query,
    plain_response,
    read_request_head,
    read_response_head,
)
from kubeedge.streaming.portforward import (
    WEBSOCKET_SPDY_PROTOCOL,
    _pod_name,
    parse_ports,
    serve_port_forward,
)
from kubeedge.streaming.spdy import SpdySession, SpdyStream, connect_spdy, spdy_over
from kubeedge.streaming.websocket import connect_websocket, websocket_byte_stream

POD_PORT, GREETER_PORT, CLOSED_PORT = 80, 81, 82


class Pod:
    """TCP servers for the pod's ports: 80 echoes until EOF, 81 greets and hangs up."""

    def __init__(self) -> None:
        self.ports: dict[int, int] = {}
        self.open_connections = 0
        self.closed = asyncio.Condition()
        self.servers: list[asyncio.Server] = []

    async def start(self) -> None:
        echo = await asyncio.start_server(self._echo, "127.0.0.1", 0)
        greeter = await asyncio.start_server(self._greet, "127.0.0.1", 0)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
        probe.close()  # nothing listens there now: dialling it is refused
        self.servers = [echo, greeter]
        self.ports = {POD_PORT: echo.sockets[0].getsockname()[1],
                      GREETER_PORT: greeter.sockets[0].getsockname()[1],
                      CLOSED_PORT: closed_port}

    async def dial(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.ports[port])

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            async with self.closed:
                self.open_connections -= 1
                self.closed.notify_all()

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the pod\n")
        await writer.drain()
        writer.close()

    async def wait_all_closed(self) -> None:
        async with self.closed:
            await asyncio.wait_for(self.closed.wait_for(lambda: self.open_connections == 0), 10)

    def stop(self) -> None:
        for server in self.servers:
            server.close()


@pytest.fixture
async def pod():
    pod = Pod()
    await pod.start()
    yield pod
    pod.stop()


@pytest.fixture
async def kubelet(serve, pod) -> int:
    """edged's server reduced to its port-forward route."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        try:
            await serve_port_forward(reader, writer, head, pod.dial,
                                     stream_creation_timeout=0.2, close_grace=0.2)
        except BadRequest:
            pass
    return await serve(handler)


async def _read_all(stream: SpdyStream) -> bytes:
    out = bytearray()
    while data := await stream.read():
        out += data
    return bytes(out)


async def _forward_once(session: SpdySession, request_id: int, port: int,
                        payload: bytes) -> tuple[bytes, bytes]:
    """One kubectl local connection (spec §6 "Each local connection")."""
    headers = {"streamType": "error", "port": str(port), "requestID": str(request_id)}
    error = await session.open_stream(headers, fin=True)
    data = await session.open_stream({**headers, "streamType": "data"})

    async def send() -> None:
        for start in range(0, len(payload), 100_000):
            await data.write(payload[start:start + 100_000])
        await data.close()

    _, received, error_text = await asyncio.gather(send(), _read_all(data), _read_all(error))
    await data.reset()  # kubectl resets the data stream when it is done; normal
    return received, error_text


async def _spdy_session(port: int) -> SpdySession:
    session, protocol = await connect_spdy("127.0.0.1", port, "/portForward/default/web",
                                           ["portforward.k8s.io"])
    assert protocol == "portforward.k8s.io"
    return session


async def _websocket_spdy_session(port: int) -> SpdySession:
    conn = await connect_websocket("127.0.0.1", port, "/portForward/default/web",
                                   [WEBSOCKET_SPDY_PROTOCOL])
    assert conn.subprotocol == WEBSOCKET_SPDY_PROTOCOL
    return spdy_over(*websocket_byte_stream(conn), server=False)


@pytest.fixture(params=["spdy", "websocket"])
def open_session(request):
    return _spdy_session if request.param == "spdy" else _websocket_spdy_session


async def test_many_concurrent_connections_are_relayed(kubelet, pod, open_session) -> None:
    session = await open_session(kubelet)
    payloads = [f"request {i}\n".encode() * (i + 1) for i in range(40)]
    results = await asyncio.gather(*(_forward_once(session, i, POD_PORT, p)
                                     for i, p in enumerate(payloads)))
    assert results == [(p, b"") for p in payloads]
    # Each client FIN half-closed its pod connection; the pod then hung up.
    await pod.wait_all_closed()
    # Successive connections on the same session keep working (ids 5, 7, ... in kubectl).
    assert await _forward_once(session, 99, POD_PORT, b"again") == (b"again", b"")
    await session.close()


async def test_several_mib_both_ways(kubelet, open_session) -> None:
    session = await open_session(kubelet)
    payload = bytes(range(256)) * (5 * 4096)  # 5 MiB
    received, error = await _forward_once(session, 0, POD_PORT, payload)
    assert received == payload and error == b""
    await session.close()


async def test_pod_hanging_up_ends_the_data_stream(kubelet, open_session) -> None:
    session = await open_session(kubelet)
    headers = {"streamtype": "error", "port": str(GREETER_PORT), "requestid": "0"}
    error = await session.open_stream(headers, fin=True)
    data = await session.open_stream({**headers, "streamtype": "data"})
    assert await _read_all(data) == b"hello from the pod\n"
    assert await _read_all(error) == b""
    await session.close()


async def test_refused_dial_is_reported_on_the_error_stream(kubelet, open_session) -> None:
    session = await open_session(kubelet)
    received, error = await _forward_once(session, 0, CLOSED_PORT, b"x")
    assert received == b""
    assert error.startswith(b"error forwarding port 82 to pod web_default, uid : ")
    await session.close()


async def test_client_reset_closes_the_pod_connection(kubelet, pod) -> None:
    session = await _spdy_session(kubelet)
    headers = {"streamtype": "error", "port": str(POD_PORT), "requestid": "7"}
    await session.open_stream(headers, fin=True)
    data = await session.open_stream({**headers, "streamtype": "data"})
    await data.write(b"ping")
    assert await data.read() == b"ping"
    assert pod.open_connections == 1
    await data.reset()
    await pod.wait_all_closed()
    await session.close()


async def test_session_end_closes_pod_connections(kubelet, pod) -> None:
    session = await _websocket_spdy_session(kubelet)
    streams = []
    for i in range(5):
        headers = {"streamtype": "error", "port": str(POD_PORT), "requestid": str(i)}
        await session.open_stream(headers, fin=True)
        streams.append(await session.open_stream({**headers, "streamtype": "data"}))
    for stream in streams:
        await stream.write(b"x")
        assert await stream.read() == b"x"
    assert pod.open_connections == 5
    await session.close()
    await pod.wait_all_closed()


async def test_a_lonely_stream_times_out_with_an_error(kubelet) -> None:
    session = await _spdy_session(kubelet)
    error = await session.open_stream({"streamtype": "error", "port": "80", "requestid": "0"},
                                      fin=True)
    assert b"timed out" in await asyncio.wait_for(_read_all(error), 10)
    await session.close()


async def test_python_client_v4_channels(kubelet, pod) -> None:
    url = (f"ws://127.0.0.1:{kubelet}/portForward/default/web"
           f"?ports={POD_PORT},{CLOSED_PORT}")
    async with connect(url, subprotocols=["v4.channel.k8s.io"], max_size=None) as ws:
        assert ws.subprotocol == "v4.channel.k8s.io"
        firsts = {}
        while len(firsts) < 4:
            message = await ws.recv()
            firsts.setdefault(message[0], message[1:])
        # Channel 2i data and 2i+1 error each start with the port, little-endian.
        assert firsts == {0: struct.pack("<H", 80), 1: struct.pack("<H", 80),
                          2: struct.pack("<H", 82), 3: struct.pack("<H", 82)}
        await ws.send(b"\x00" + b"hello")
        await ws.send(b"\x00" + b"z" * 3_000_000)
        received = bytearray()
        error = b""
        while len(received) < 5 + 3_000_000 or not error:
            message = await ws.recv()
            if message[0] == 0:
                received += message[1:]
            elif message[0] == 3:
                error = message[1:]
        assert received == b"hello" + b"z" * 3_000_000
        assert error.startswith(b"error forwarding port 82 to pod web_default")
        assert pod.open_connections == 1
    # The client went away: the pod connection is closed.
    await pod.wait_all_closed()


async def test_v4_connection_closes_when_every_pod_connection_ended(kubelet) -> None:
    url = f"ws://127.0.0.1:{kubelet}/portForward/default/web?port={GREETER_PORT}"
    conn = await connect_websocket("127.0.0.1", kubelet, url.split(str(kubelet), 1)[1],
                                   ["v4.channel.k8s.io"])
    messages = []
    while (message := await conn.recv()) is not None:
        messages.append(message)
    assert messages[:2] == [b"\x00" + struct.pack("<H", 81), b"\x01" + struct.pack("<H", 81)]
    assert b"".join(m[1:] for m in messages[2:] if m[0] == 0) == b"hello from the pod\n"


async def test_v4_base64_variant(kubelet) -> None:
    conn = await connect_websocket("127.0.0.1", kubelet, f"/portForward/ns/p?ports={POD_PORT}",
                                   ["v4.base64.channel.k8s.io"])
    assert await conn.recv() == b"0UAA="  # channel '0', base64 of 80 little-endian
    assert await conn.recv() == b"1UAA="
    await conn.send_text("0aGk=")  # "hi"
    assert await conn.recv() == b"0aGk="
    await conn.close()


@pytest.mark.parametrize("request_bytes", [
    # v4 without ports
    b"GET /portForward/ns/p HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
    # a bad port
    b"GET /portForward/ns/p?port=99999 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket"
    b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    # no upgrade at all
    b"GET /portForward/ns/p HTTP/1.1\r\nHost: x\r\n\r\n",
    # a malformed head
    b"GET /portForward/ns/p HTTP/1.1\r\nbroken header\r\n\r\n",
])
async def test_bad_requests_get_400(serve, pod, request_bytes: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # What edged's server does around the route: a malformed head is a 400 too;
        # serve_port_forward answers its own bad requests before it raises.
        try:
            head = await read_request_head(reader)
        except BadRequest as exc:
            writer.write(plain_response(400, str(exc)))
            await writer.drain()
            return
        with contextlib.suppress(BadRequest):
            await serve_port_forward(reader, writer, head, pod.dial)

    port = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes)
    status, _, _ = await read_response_head(reader)
    assert status == 400
    writer.close()


def test_parse_ports_accepts_repeated_and_comma_separated() -> None:
    head = RequestHead("GET", "/", "/", parse_query("port=80,8080&port=9090"), [])
    assert parse_ports(head) == [80, 8080, 9090]
    with pytest.raises(BadRequest):
        parse_ports(RequestHead("GET", "/", "/", parse_query("port=0"), []))


def test_pod_name_in_errors_is_kubelets_full_name() -> None:
    def head(path: str) -> RequestHead:
        return RequestHead("GET", path, path, {}, [])

    assert _pod_name(head("/portForward/default/web/u-1")) == ("web_default", "u-1")
    assert _pod_name(head("/api/v1/namespaces/ns/pods/db/portforward")) == ("db_ns", "")
