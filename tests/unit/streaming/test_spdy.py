"""SPDY/3.1 sessions over real loopback sockets (spec k8s-api.md §6): the upgrade,
SYN_STREAM/SYN_REPLY, data with FIN, resets, pings, large transfers, and the same
sessions carried inside WebSocket binary messages."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib

import pytest

from kubeedge.streaming.http import read_request_head, read_response_head, request_head
from kubeedge.streaming.spdy import (
    HEADER_DICTIONARY,
    PING,
    SpdySession,
    SpdyStream,
    UpgradeRefused,
    connect_spdy,
    control_frame,
    decode_header_block,
    encode_header_block,
    spdy_over,
    upgrade_spdy,
)
from kubeedge.streaming.websocket import accept_websocket, connect_websocket, websocket_byte_stream

PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "portforward.k8s.io"]


def test_dictionary_is_spdystreams_byte_for_byte() -> None:
    assert len(HEADER_DICTIONARY) == 1423
    assert hashlib.sha256(HEADER_DICTIONARY).hexdigest() == (
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    compress = zlib.compressobj(zdict=HEADER_DICTIONARY)
    decompress = zlib.decompressobj(zdict=HEADER_DICTIONARY)
    blocks = [{"streamtype": "error", "port": "80", "requestid": "0"},
              {"streamtype": "data", "port": "80", "requestid": "0"}]
    wire = [compress.compress(encode_header_block(b)) + compress.flush(zlib.Z_SYNC_FLUSH)
            for b in blocks]
    # The second block is much shorter: it reuses the first one's history.
    assert len(wire[1]) < len(wire[0])
    assert [decode_header_block(decompress.decompress(w)) for w in wire] == blocks


async def _echo_streams(session: SpdySession) -> None:
    async def echo(stream: SpdyStream) -> None:
        while data := await stream.read():
            await stream.write(data)
        await stream.close()

    tasks = []
    while (stream := await session.accept_stream()) is not None:
        tasks.append(asyncio.create_task(echo(stream)))
    await asyncio.gather(*tasks, return_exceptions=True)


def _spdy_echo_server(chosen: list[str]):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        try:
            session, protocol = await upgrade_spdy(reader, writer, head, PROTOCOLS)
        except Exception:
            return
        chosen.append(protocol)
        await _echo_streams(session)
    return handler


async def _read_all(stream: SpdyStream) -> bytes:
    out = bytearray()
    while data := await stream.read():
        out += data
    return bytes(out)


async def test_upgrade_negotiates_in_the_clients_order(serve) -> None:
    chosen: list[str] = []
    port = await serve(_spdy_echo_server(chosen))
    session, protocol = await connect_spdy("127.0.0.1", port, "/exec/a/b/c",
                                           ["v5.channel.k8s.io", "v3.channel.k8s.io",
                                            "v4.channel.k8s.io"])
    assert protocol == "v3.channel.k8s.io" == chosen[0]
    stream = await session.open_stream({"streamType": "stdin", "Port": "80"})
    await stream.write(b"ping")
    assert await stream.read() == b"ping"
    await stream.close()
    assert await stream.read() == b""
    await session.close()


async def test_unsupported_version_gets_403_with_accepted_versions(serve) -> None:
    port = await serve(_spdy_echo_server([]))
    with pytest.raises(UpgradeRefused) as info:
        await connect_spdy("127.0.0.1", port, "/x", ["v9.channel.k8s.io"])
    assert info.value.status == 403
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/x", [("Connection", "Upgrade"),
                                             ("Upgrade", "SPDY/3.1"),
                                             ("X-Stream-Protocol-Version", "nope")]))
    status, _, headers = await read_response_head(reader)
    assert status == 403
    assert [v for n, v in headers if n == "X-Accepted-Stream-Protocol-Versions"] == PROTOCOLS
    writer.close()


@pytest.mark.parametrize("headers", [
    [("X-Stream-Protocol-Version", "v4.channel.k8s.io")],          # no upgrade headers
    [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")],          # no version offered
])
async def test_bad_upgrades_get_400(serve, headers) -> None:
    port = await serve(_spdy_echo_server([]))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/x", headers))
    status, _, _ = await read_response_head(reader)
    assert status == 400
    writer.close()


async def test_stream_headers_arrive_lower_cased_and_fin_ends_reads(serve) -> None:
    seen: asyncio.Queue[SpdyStream] = asyncio.Queue()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session, _ = await upgrade_spdy(reader, writer, await read_request_head(reader),
                                        PROTOCOLS)
        while (stream := await session.accept_stream()) is not None:
            await seen.put(stream)

    port = await serve(handler)
    session, _ = await connect_spdy("127.0.0.1", port, "/x", ["portforward.k8s.io"])
    # kubectl opens the error stream and half-closes it at once (spec §6).
    error = await session.open_stream({"streamType": "error", "port": "80",
                                       "requestID": "0"}, fin=True)
    data = await session.open_stream({"streamType": "data", "port": "80", "requestID": "0"})
    assert (error.id, data.id) == (1, 3)
    server_error, server_data = await seen.get(), await seen.get()
    assert server_error.headers == {"streamtype": "error", "port": "80", "requestid": "0"}
    assert await server_error.read() == b""
    await server_error.write(b"dial failed")
    await server_error.close()
    assert await _read_all(error) == b"dial failed"
    # A reset from the client ends the server's stream both ways.
    await data.reset()
    assert await server_data.read() == b""
    with pytest.raises(ConnectionResetError):
        await server_data.write(b"late")
    await session.close()


async def test_server_answers_pings(serve) -> None:
    port = await serve(_spdy_echo_server([]))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/x", [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                                             ("X-Stream-Protocol-Version", "v4.channel.k8s.io")]))
    status, _, _ = await read_response_head(reader)
    assert status == 101
    frame = control_frame(PING, 0, struct.pack(">I", 7))
    writer.write(frame)
    assert await reader.readexactly(len(frame)) == frame
    writer.close()


async def test_session_end_ends_every_stream(serve) -> None:
    ended = asyncio.Event()
    streams: list[SpdyStream] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session, _ = await upgrade_spdy(reader, writer, await read_request_head(reader),
                                        PROTOCOLS)
        stream = await session.accept_stream()
        assert stream is not None
        streams.append(stream)
        assert await stream.read() == b""  # the peer vanished
        assert await session.accept_stream() is None
        ended.set()

    port = await serve(handler)
    session, _ = await connect_spdy("127.0.0.1", port, "/x", ["v4.channel.k8s.io"])
    await session.open_stream({"streamtype": "stdout"})
    session._writer.transport.abort()
    await asyncio.wait_for(ended.wait(), 10)
    with pytest.raises(ConnectionResetError):
        await streams[0].write(b"x")


async def _large_both_ways(session: SpdySession, size: int) -> None:
    payload = bytes(range(251)) * (size // 251)
    streams = [await session.open_stream({"streamtype": "data", "requestid": str(i)})
               for i in range(3)]

    async def send(stream: SpdyStream) -> None:
        for start in range(0, len(payload), 300_000):
            await stream.write(payload[start:start + 300_000])
        await stream.close()

    results = await asyncio.gather(*(send(s) for s in streams),
                                   *(_read_all(s) for s in streams))
    for echoed in results[3:]:
        assert echoed == payload


async def test_several_mib_pass_both_ways_on_concurrent_streams(serve) -> None:
    port = await serve(_spdy_echo_server([]))
    session, _ = await connect_spdy("127.0.0.1", port, "/x", ["v4.channel.k8s.io"])
    await _large_both_ways(session, 6 * 1024 * 1024)
    await session.close()


async def test_spdy_inside_websocket_binary_messages(serve) -> None:
    # kubectl 1.32's "SPDY/3.1+portforward.k8s.io": raw SPDY bytes in binary messages.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = await accept_websocket(reader, writer, await read_request_head(reader),
                                      ["SPDY/3.1+portforward.k8s.io"])
        await _echo_streams(spdy_over(*websocket_byte_stream(conn), server=True))

    port = await serve(handler)
    conn = await connect_websocket("127.0.0.1", port, "/portForward/ns/pod",
                                   ["SPDY/3.1+portforward.k8s.io"])
    session = spdy_over(*websocket_byte_stream(conn), server=False)
    await _large_both_ways(session, 3 * 1024 * 1024)
    await session.close()
