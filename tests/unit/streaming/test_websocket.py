"""WebSocket upgrades after our own request head, checked with the real `websockets`
client: Kubernetes' wsstream subprotocol rules, pings, close frames, vanishing clients."""

from __future__ import annotations

import asyncio
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kubeedge.streaming.http import BadRequest, read_request_head, read_response_head
from kubeedge.streaming.websocket import (
    HandshakeRejected,
    WebSocketConn,
    accept_websocket,
    connect_websocket,
    negotiate_subprotocol,
    websocket_byte_stream,
)

SUPPORTED = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io", ""]


def test_negotiation_follows_the_clients_order() -> None:
    # wsstream handshake: the first offered protocol the server supports wins.
    assert negotiate_subprotocol(["v4.channel.k8s.io", "v5.channel.k8s.io"],
                                 SUPPORTED) == "v4.channel.k8s.io"
    assert negotiate_subprotocol(["x", "channel.k8s.io"], SUPPORTED) == "channel.k8s.io"
    assert negotiate_subprotocol([], SUPPORTED) == ""
    assert negotiate_subprotocol([], ["v5.channel.k8s.io"]) is None
    assert negotiate_subprotocol(["x"], SUPPORTED) is None


def _echo_server(accepted: list[WebSocketConn], ended: asyncio.Event | None = None):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        try:
            conn = await accept_websocket(reader, writer, head, SUPPORTED)
        except BadRequest:
            return
        accepted.append(conn)
        while (data := await conn.recv()) is not None:
            await conn.send(conn.subprotocol.encode() + b":" + data)
        if ended is not None:
            ended.set()
    return handler


async def test_real_client_negotiates_and_echoes(serve) -> None:
    accepted: list[WebSocketConn] = []
    port = await serve(_echo_server(accepted))
    async with connect(f"ws://127.0.0.1:{port}/exec/ns/p/c?command=ls",
                       subprotocols=["v5.channel.k8s.io", "v4.channel.k8s.io"],
                       max_size=None) as ws:
        assert ws.subprotocol == "v5.channel.k8s.io"
        await ws.send(b"\x00hello")
        assert await ws.recv() == b"v5.channel.k8s.io:\x00hello"
        await ws.send("text")  # text messages arrive as UTF-8 bytes
        assert await ws.recv() == b"v5.channel.k8s.io:text"
        big = bytes(range(256)) * 8192  # 2 MiB, larger than websockets' 1 MiB default
        await ws.send(big)
        assert await ws.recv() == b"v5.channel.k8s.io:" + big
        # Pings are answered while the server is busy elsewhere.
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)


async def test_no_offer_gets_the_empty_protocol(serve) -> None:
    accepted: list[WebSocketConn] = []
    port = await serve(_echo_server(accepted))
    async with connect(f"ws://127.0.0.1:{port}/x") as ws:
        assert ws.subprotocol is None
        await ws.send(b"a")
        assert await ws.recv() == b":a"


async def test_unsupported_protocol_is_refused_with_400(serve) -> None:
    port = await serve(_echo_server([]))
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{port}/x", subprotocols=["v9.channel.k8s.io"]):
            pass
    assert info.value.response.status_code == 400
    assert b"not supported" in info.value.response.body


async def test_bad_handshake_headers_get_400(serve) -> None:
    port = await serve(_echo_server([]))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")  # no Sec-WebSocket-Key
    status, _, _ = await read_response_head(reader)
    assert status == 400
    writer.close()


async def test_server_close_reaches_the_client(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = await accept_websocket(reader, writer, await read_request_head(reader), [""])
        await conn.send(b"bye")
        await conn.close(1000, "done")

    port = await serve(handler)
    async with connect(f"ws://127.0.0.1:{port}/x") as ws:
        assert await ws.recv() == b"bye"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


async def test_client_close_ends_recv(serve) -> None:
    accepted: list[WebSocketConn] = []
    ended = asyncio.Event()
    port = await serve(_echo_server(accepted, ended))
    async with connect(f"ws://127.0.0.1:{port}/x") as ws:
        await ws.send(b"x")
        await ws.recv()
    await asyncio.wait_for(ended.wait(), 10)
    assert accepted[0].close_code == 1000
    with pytest.raises(ConnectionResetError):
        await accepted[0].send(b"late")


async def test_vanishing_client_ends_recv(serve) -> None:
    accepted: list[WebSocketConn] = []
    ended = asyncio.Event()
    port = await serve(_echo_server(accepted, ended))
    conn = await connect_websocket("127.0.0.1", port, "/x", ["v4.channel.k8s.io"])
    assert conn.subprotocol == "v4.channel.k8s.io"
    await conn.send(b"1")
    assert await conn.recv() == b"v4.channel.k8s.io:1"
    # Drop TCP without a close frame (RST), as a killed client does.
    sock = conn._writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn._writer.transport.abort()
    await asyncio.wait_for(ended.wait(), 10)
    assert accepted[0].close_code is None


async def test_connect_websocket_reports_refusal(serve) -> None:
    port = await serve(_echo_server([]))
    with pytest.raises(HandshakeRejected) as info:
        await connect_websocket("127.0.0.1", port, "/x", ["nope"])
    assert info.value.status == 400


async def test_byte_stream_ignores_message_boundaries(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = await accept_websocket(reader, writer, await read_request_head(reader), [""])
        breader, bwriter = websocket_byte_stream(conn)
        first = await breader.readexactly(5)
        rest = await breader.readexactly(3)
        bwriter.write(rest + first)
        await bwriter.drain()
        assert await breader.read() == b""
        await conn.close()

    port = await serve(handler)
    conn = await connect_websocket("127.0.0.1", port, "/x", [])
    await conn.send(b"abc")
    await conn.send(b"defgh")
    assert await conn.recv() == b"fghabcde"
    await conn.close()
    assert await conn.recv() is None


def _raw_101_then_frames(hosts: list[list[str]]):
    """A server that answers the upgrade and its first two data frames in one write
    (one TCP segment), as a kubelet relayed by a proxy may."""
    from websockets.utils import accept_key

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        hosts.append(list(head.header_values("Host")))
        key = head.header("Sec-WebSocket-Key") or ""
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     + accept_key(key).encode()
                     + b"\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n"
                     # Two unmasked binary frames (server to client): "\x01hi", "\x03x".
                     + b"\x82\x03\x01hi" + b"\x82\x02\x03x")
        await writer.drain()
        await reader.read()  # until the client goes
    return handler


async def test_connect_websocket_keeps_frames_sent_with_the_101(serve) -> None:
    hosts: list[list[str]] = []
    port = await serve(_raw_101_then_frames(hosts))
    conn = await connect_websocket("127.0.0.1", port, "/x", ["v5.channel.k8s.io"])
    assert conn.subprotocol == "v5.channel.k8s.io"
    assert await asyncio.wait_for(conn.recv(), 5) == b"\x01hi"
    assert await asyncio.wait_for(conn.recv(), 5) == b"\x03x"
    assert hosts == [[f"127.0.0.1:{port}"]]
    conn._writer.close()


async def test_connect_websocket_host_header_override(serve) -> None:
    hosts: list[list[str]] = []
    port = await serve(_raw_101_then_frames(hosts))
    conn = await connect_websocket("127.0.0.1", port, "/x", ["v5.channel.k8s.io"],
                                   headers=[("Host", "edge-node-1")])
    assert await asyncio.wait_for(conn.recv(), 5) == b"\x01hi"
    assert hosts == [["edge-node-1"]]  # one Host header, the caller's
    conn._writer.close()
