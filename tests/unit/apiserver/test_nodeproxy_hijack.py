"""Taking an upgraded connection away from aiohttp (apiserver/nodeproxy.py).

`ClientConnection` relies on aiohttp internals (`RequestHandler.set_parser` receiving
every byte after the request head, bytes buffered behind an upgrade head fed first,
EOF on disconnect) and `Detached` on aiohttp writing nothing for a response whose
prepare/write_eof do nothing. These tests pin that behaviour, so an aiohttp upgrade
that changes it fails here rather than in a user's `kubectl exec`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from kubeedge.apiserver.nodeproxy import ClientConnection, Detached, relay
from tests.fixtures.cluster import eventually

SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[int, web.AppRunner]]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> tuple[int, web.AppRunner]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return site._server.sockets[0].getsockname()[1], runner  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


def _echo_handler(seen_eof: asyncio.Event) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        client = ClientConnection(request)
        await client.write(SWITCH)
        while data := await client.reader.read(1024):
            await client.write(b"echo:" + data)
        seen_eof.set()
        client.close()
        return Detached()
    return handler


async def _read_exactly(reader: asyncio.StreamReader, expected: bytes) -> None:
    got = await asyncio.wait_for(reader.readexactly(len(expected)), 5)
    assert got == expected


@pytest.mark.parametrize("head", [
    # kubectl's WebSocket upgrade (aiohttp parks the bytes after the head)...
    b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    # ...and the SPDY fallback, an upgrade aiohttp does not recognise.
    b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    b"X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n",
])
async def test_bytes_pass_both_ways_after_the_head_and_aiohttp_writes_nothing(
        serve: Callable[[Handler], Awaitable[tuple[int, web.AppRunner]]], head: bytes) -> None:
    seen_eof = asyncio.Event()
    port, runner = await serve(_echo_handler(seen_eof))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    early = b"early" if b"websocket" in head else b""
    writer.write(head + early)  # bytes in the same packet as the head reach the handler
    await _read_exactly(reader, SWITCH)
    if early:
        await _read_exactly(reader, b"echo:early")
    for message in (b"one", b"two"):
        writer.write(message)
        await _read_exactly(reader, b"echo:" + message)
    writer.write_eof()
    await asyncio.wait_for(seen_eof.wait(), 5)
    # After the handler returned, aiohttp added nothing (no response, no chunk end).
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert runner.server is not None
    await eventually(lambda: not runner.server.connections, 5,  # type: ignore[union-attr]
                     "aiohttp to forget the connection")


async def test_a_departed_client_is_seen_at_once(
        serve: Callable[[Handler], Awaitable[tuple[int, web.AppRunner]]]) -> None:
    gone = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        client = ClientConnection(request)
        await client.write(SWITCH)
        await client.wait_gone()
        gone.set()
        return Detached()

    port, _ = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    await _read_exactly(reader, SWITCH)
    writer.transport.abort()
    await asyncio.wait_for(gone.wait(), 5)


async def test_relay_ends_both_sides_when_the_upstream_ends(
        serve: Callable[[Handler], Awaitable[tuple[int, web.AppRunner]]]) -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from upstream")
        data = await reader.readexactly(3)
        writer.write(b"got " + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    upstream_port = server.sockets[0].getsockname()[1]

    async def handler(request: web.Request) -> web.StreamResponse:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        client = ClientConnection(request)
        await client.write(SWITCH)
        await relay(client, up_reader, up_writer)
        return Detached()

    async with server:
        port, _ = await serve(handler)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                     b"Upgrade: websocket\r\n\r\n")
        await _read_exactly(reader, SWITCH + b"hello from upstream")
        writer.write(b"abc")
        assert await asyncio.wait_for(reader.read(), 5) == b"got abc"
        writer.close()
