"""KubeEdge's tunnel frames and connect message (specs/kubeedge.md §9), and the
per-session relay over two Tunnels wired back to back with real local TCP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeedge.streaming import tunnel as t
from kubeedge.streaming.tunnel import (
    ATTACH_CONNECT,
    CLOSE_CONNECT,
    DATA,
    EXEC_CONNECT,
    LOGS_CONNECT,
    METRIC_CONNECT,
    REMOVE_CONNECT,
    ConnectRequest,
    FrameError,
    Tunnel,
    connect_kind,
    decode_frame,
    encode_frame,
)

# -- frames ------------------------------------------------------------------------


def test_types_are_kubeedges_iota_order() -> None:
    kinds = (LOGS_CONNECT, EXEC_CONNECT, METRIC_CONNECT, DATA, REMOVE_CONNECT, CLOSE_CONNECT,
             ATTACH_CONNECT)
    assert kinds == tuple(range(7))


def test_frame_is_uvarint_id_uvarint_type_then_data() -> None:
    # Go: binary.PutUvarint(300) = ac 02; type DATA = 03.
    assert encode_frame(300, DATA, b"hi") == b"\xac\x02\x03hi"
    assert encode_frame(0, REMOVE_CONNECT) == b"\x00\x04"
    assert decode_frame(b"\xac\x02\x03hi") == (300, DATA, b"hi")


@given(st.integers(0, 2**64 - 1), st.integers(0, 6), st.binary(max_size=4096))
def test_frames_round_trip(connect_id: int, kind: int, data: bytes) -> None:
    assert decode_frame(encode_frame(connect_id, kind, data)) == (connect_id, kind, data)


@pytest.mark.parametrize(("frame", "error"), [
    (b"", "truncated connect id"),
    (b"\x80", "truncated connect id"),
    (b"\x01", "truncated frame type"),
    (b"\xff" * 9 + b"\x02\x03", "overflows 64 bits"),
    (b"\xff" * 11, "overflows 64 bits"),
    (b"\x01\x07", "unknown frame type 7"),
])
def test_bad_frames_are_refused(frame: bytes, error: str) -> None:
    with pytest.raises(FrameError, match=error):
        decode_frame(frame)


def test_frame_data_is_capped_at_one_mib() -> None:
    assert decode_frame(encode_frame(1, DATA, b"x" * t.MAX_DATA_BYTES))[2] == \
        b"x" * t.MAX_DATA_BYTES
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(1, DATA, b"x" * (t.MAX_DATA_BYTES + 1))
    with pytest.raises(FrameError, match="exceeds"):
        decode_frame(b"\x01\x03" + b"x" * (t.MAX_DATA_BYTES + 1))
    with pytest.raises(FrameError):
        encode_frame(2**64, DATA)


@pytest.mark.parametrize(("path", "kind"), [
    ("/containerLogs/ns/pod/c", LOGS_CONNECT),
    ("/exec/ns/pod/c", EXEC_CONNECT),
    ("/exec/ns/pod/uid/c", EXEC_CONNECT),
    ("/attach/ns/pod/c", ATTACH_CONNECT),
    ("/portForward/ns/pod", METRIC_CONNECT),
    ("/stats/summary", METRIC_CONNECT),
    ("/metrics/resource", METRIC_CONNECT),
    ("/containerLogsX", METRIC_CONNECT),
])
def test_connect_type_by_path(path: str, kind: int) -> None:
    assert connect_kind(path) == kind


# -- the connect message --------------------------------------------------------------


def test_connect_message_is_kubeedges_json() -> None:
    request = ConnectRequest(7, "POST", "/exec/ns/web/app?command=sh&command=-c&stdin=1",
                             {"Upgrade": ["websocket"], "Sec-Websocket-Protocol": ["v5"]})
    raw = json.loads(request.encode())
    assert set(raw) == {"MessID", "url", "header", "method"}
    assert raw["MessID"] == 7 and raw["method"] == "POST"
    assert raw["header"] == {"Upgrade": ["websocket"], "Sec-Websocket-Protocol": ["v5"]}
    # Go's url.URL as encoding/json writes it.
    assert raw["url"]["Scheme"] == "http" and raw["url"]["Host"] == "127.0.0.1:10350"
    assert raw["url"]["Path"] == "/exec/ns/web/app"
    assert raw["url"]["RawQuery"] == "command=sh&command=-c&stdin=1"
    assert ConnectRequest.decode(request.encode()) == request


def test_connect_message_from_go_keeps_an_escaped_path() -> None:
    # What KubeEdge's cloudstream marshals for a path with an escaped slash.
    data = json.dumps({
        "MessID": 3, "method": "GET", "header": {"Accept": ["*/*"]},
        "url": {"Scheme": "http", "Opaque": "", "User": None, "Host": "127.0.0.1:10350",
                "Path": "/containerLogs/ns/a/b/c", "RawPath": "/containerLogs/ns/a%2Fb/c",
                "ForceQuery": False, "RawQuery": "follow=true", "Fragment": "",
                "RawFragment": ""}}).encode()
    request = ConnectRequest.decode(data)
    assert request.target == "/containerLogs/ns/a%2Fb/c?follow=true"
    assert request.method == "GET" and request.message_id == 3
    assert ConnectRequest.decode(request.encode()).target == request.target


@pytest.mark.parametrize("data", [
    b"not json", b"[]", b'{"MessID": -1, "url": "/x"}', b'{"MessID": 1}',
    b'{"MessID": 1, "url": {"Path": "x"}}', b'{"MessID": 1, "url": "/x", "method": "G T"}',
    b'{"MessID": 1, "url": "/x", "header": {"A": [1]}}',
])
def test_bad_connect_messages_are_refused(data: bytes) -> None:
    with pytest.raises(FrameError):
        ConnectRequest.decode(data)


def test_logs_connect_without_method_is_a_get() -> None:
    # KubeEdge's EdgedLogsConnection has no method field.
    assert ConnectRequest.decode(b'{"MessID": 1, "url": "/containerLogs/a/b/c"}').method == \
        "GET"


# -- the relay ---------------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Pair:
    """Two Tunnels whose messages go straight to each other (the WebSocket left out)."""

    def __init__(self, stall_timeout: float = 5.0) -> None:
        self.cloud = Tunnel(self._to_edge, name="cloud", stall_timeout=stall_timeout)
        self.edge = Tunnel(self._to_cloud, name="edge", stall_timeout=stall_timeout)
        self.connects: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()

    async def _to_edge(self, message: bytes) -> None:
        frame = await self.edge.deliver(message)
        if frame is not None:
            self.connects.put_nowait(frame)

    async def _to_cloud(self, message: bytes) -> None:
        await self.cloud.deliver(message)


Session = tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None],
                asyncio.Task[None]]


async def _session(pair: Pair, serve: Callable[[Handler], Awaitable[int]],
                   handler: Handler, connect_id: int = 1) -> Session:
    """A client connection relayed cloud → edge → a local server running `handler`."""
    local_port = await serve(handler)
    ready: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ready.put((reader, writer))
        await asyncio.Event().wait()

    client_port = await serve(accept)
    client = await asyncio.open_connection("127.0.0.1", client_port)
    server_side = await ready.get()
    relay = pair.cloud.open(connect_id)
    await pair.cloud.send(connect_id, LOGS_CONNECT, b"{}")
    received, _, _ = await pair.connects.get()
    edge_relay = pair.edge.open(received)
    local = await asyncio.open_connection("127.0.0.1", local_port)
    cloud_task = asyncio.ensure_future(relay.run(*server_side))
    edge_task = asyncio.ensure_future(edge_relay.run(*local))
    return client[0], client[1], cloud_task, edge_task


async def test_bytes_flow_both_ways_and_the_local_end_removes_the_session(serve) -> None:
    async def echo_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                              ) -> None:
        data = await reader.readexactly(5)
        writer.write(b"got " + data)
        await writer.drain()

    pair = Pair()
    reader, writer, cloud_task, edge_task = await _session(pair, serve, echo_then_close)
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.read(), 5) == b"got hello"  # then EOF
    await asyncio.wait_for(asyncio.gather(cloud_task, edge_task), 5)
    assert not pair.cloud.relays and not pair.edge.relays


async def test_client_leaving_closes_the_local_connection(serve) -> None:
    closed = asyncio.Event()

    async def wait_for_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        closed.set()

    pair = Pair()
    _, writer, cloud_task, edge_task = await _session(pair, serve, wait_for_eof)
    writer.close()
    await asyncio.wait_for(closed.wait(), 5)
    await asyncio.wait_for(asyncio.gather(cloud_task, edge_task), 5)


async def test_tunnel_loss_ends_every_session_at_once(serve) -> None:
    async def stream_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                             ) -> None:
        writer.write(b"line\n")
        await writer.drain()
        await asyncio.Event().wait()

    pair = Pair()
    readers, tasks = [], []
    for connect_id in (1, 2, 3):
        reader, _, cloud_task, edge_task = await _session(pair, serve, stream_forever,
                                                          connect_id)
        readers.append(reader)
        tasks += [cloud_task, edge_task]
    for reader in readers:
        assert await asyncio.wait_for(reader.readline(), 5) == b"line\n"
    pair.cloud.close()
    pair.edge.close()
    for reader in readers:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert not pair.cloud.relays and not pair.edge.relays


async def test_a_stuck_client_loses_its_session_instead_of_buffering(serve) -> None:
    sent = 0

    async def fast_log(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        chunk = b"x" * 65536
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)

    pair = Pair(stall_timeout=0.3)
    _reader, _, cloud_task, edge_task = await _session(pair, serve, fast_log)
    # The client never reads: the session is cut, and what was read from the local
    # server stays near the high-water mark (plus socket buffers), not all of it.
    await asyncio.wait_for(asyncio.gather(cloud_task, edge_task), 10)
    assert sent < 4 * t.HIGH_WATER
