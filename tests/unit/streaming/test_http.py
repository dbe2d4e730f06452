"""HTTP/1.1 heads for the streaming paths (issue 8 design: everything after the head is
a raw relay), over real loopback sockets."""

from __future__ import annotations

import asyncio

import pytest

from kubeedge.streaming.http import (
    BadRequest,
    end_chunks,
    plain_response,
    read_chunks,
    read_request_head,
    read_response_head,
    request_head,
    response_head,
    write_chunk,
)


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def test_request_head_keeps_repeated_query_keys_in_order() -> None:
    raw = (b"GET /exec/default/web/nginx?command=sh&command=-c&command=echo%20hi&"
           b"input=1&tty= HTTP/1.1\r\nHost: node-a\r\nX-Stream-Protocol-Version: v4.channel.k8s.io"
           b"\r\nx-stream-protocol-version: v3.channel.k8s.io, channel.k8s.io\r\n\r\nREST")
    reader = _reader(raw)
    head = await read_request_head(reader)
    assert head.method == "GET"
    assert head.path == "/exec/default/web/nginx"
    assert head.target.startswith("/exec/default/web/nginx?command=sh&")
    assert head.query["command"] == ["sh", "-c", "echo hi"]
    assert head.arg("input") == "1"
    assert head.arg("tty") == ""
    assert head.arg("missing") is None
    assert head.header("HOST") == "node-a"
    assert head.header_values("X-Stream-Protocol-Version") == [
        "v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"]
    assert head.headers[0] == ("Host", "node-a")
    # The reader is left at the first byte after the head (the upgraded protocol).
    assert await reader.read() == b"REST"


async def test_percent_encoded_path_is_decoded() -> None:
    head = await read_request_head(_reader(b"GET /containerLogs/ns/p%2Dx/c HTTP/1.1\r\n\r\n"))
    assert head.path == "/containerLogs/ns/p-x/c"
    assert head.query == {}


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /x HTTP/2.0\r\n\r\n",
    b"GET http://elsewhere/ HTTP/1.1\r\n\r\n",
    b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
    b"GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
])
async def test_malformed_heads_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        await read_request_head(_reader(raw))


async def test_oversized_head_is_refused() -> None:
    raw = b"GET /x HTTP/1.1\r\n" + b"".join(
        b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(80)) + b"\r\n"
    with pytest.raises(BadRequest, match="larger than"):
        await read_request_head(_reader(raw))
    # A single line longer than the stream reader's own limit is refused the same way.
    with pytest.raises(BadRequest):
        await read_request_head(_reader(b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\n\r\n"))


async def test_eof_before_the_head_ends_is_an_incomplete_read() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await read_request_head(_reader(b"GET /x HTTP/1.1\r\nHost: a\r\n"))


async def test_response_head_round_trip_and_chunked_body(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        assert head.header("Accept") == "text/plain"
        writer.write(response_head(200, [("Content-Type", "text/plain"),
                                          ("Transfer-Encoding", "chunked")]))
        for piece in (b"line 1\n", b"", b"x" * 100_000):
            await write_chunk(writer, piece)
        await end_chunks(writer)

    port = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("GET", "/containerLogs/a/b/c?follow=true",
                              [("Host", "x"), ("Accept", "text/plain")]))
    status, reason, headers = await read_response_head(reader)
    assert (status, reason) == (200, "OK")
    assert ("Transfer-Encoding", "chunked") in headers
    body = [chunk async for chunk in read_chunks(reader)]
    assert body == [b"line 1\n", b"x" * 100_000]
    writer.close()


async def test_plain_response_is_complete_and_closes() -> None:
    raw = plain_response(404, "pod not found\n")
    reader = _reader(raw)
    status, reason, headers = await read_response_head(reader)
    assert (status, reason) == (404, "Not Found")
    assert dict(headers)["Content-Length"] == str(len(b"pod not found\n"))
    assert dict(headers)["Connection"] == "close"
    assert await reader.read() == b"pod not found\n"


def test_header_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError):
        response_head(200, [("X", "a\r\nInjected: 1")])
