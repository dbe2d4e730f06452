"""Just enough HTTP/1.1 for the streaming paths: request and response heads, query
decoding, chunked transfer coding.

Everything on the kubectl → edged path is a raw byte relay after the request head
(issue 8 design; kube-apiserver relays kubelet upgrades the same way), so the parts
that need HTTP only need the head: edged's server to route and upgrade, the relays to
read and forward it, and clients in tests. Requests on these paths carry no body.

Edge-safe: stdlib only (ARCHITECTURE.md rule 9). Never buffers a body, never decides
routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEAD_BYTES = 64 * 1024
"""Largest request or response head accepted (Go's net/http default is 1 MiB; kubelet
paths and kubectl's headers are a few hundred bytes, and the edge is small)."""

MAX_HEADERS = 256

# RFC 9110 §5.6.2 token characters: method and header names.
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(rb"^HTTP/1\.[01]$")


class BadRequest(Exception):
    """The peer sent something that is not an acceptable HTTP/1.1 head; the text is the
    reason, fit for a plain-text 400 body."""


class UpgradeRefused(Exception):
    """A server answered a client's upgrade (WebSocket or SPDY) with something other
    than 101: its status and the start of its body."""

    protocol = "upgrade"

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{self.protocol} refused: {status} {body[:200]!r}")
        self.status = status
        self.body = body


@dataclass
class RequestHead:
    method: str
    target: str                       # path?query exactly as sent
    path: str                         # percent-decoded path
    query: dict[str, list[str]]       # decoded; repeated keys keep their order
    headers: list[tuple[str, str]]    # as received, in order
    version: str = "HTTP/1.1"
    _index: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._index.setdefault(name.lower(), []).append(value)

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        values = self._index.get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (RFC 9110 §5.3), in order:
        X-Stream-Protocol-Version and Sec-WebSocket-Protocol arrive either way."""
        out: list[str] = []
        for value in self._index.get(name.lower(), ()):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None


def parse_query(query: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


async def _read_head_lines(reader: asyncio.StreamReader, limit: int) -> list[bytes]:
    """Lines of one head up to the empty line, CRLF (or bare LF) stripped.

    Raises BadRequest past `limit` bytes; asyncio.IncompleteReadError when the peer
    closes before the head is complete (an EOF before the first byte has `partial` b"").
    """
    lines: list[bytes] = []
    total = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise BadRequest(f"header section larger than {limit} bytes") from exc
        total += len(line)
        if total > limit:
            raise BadRequest(f"header section larger than {limit} bytes")
        line = line.rstrip(b"\r\n") if line.endswith(b"\r\n") else line[:-1]
        if not line:
            if not lines:
                continue  # RFC 9112 §2.2: ignore empty lines before the start line
            return lines
        lines.append(line)
        if len(lines) > MAX_HEADERS + 1:
            raise BadRequest(f"more than {MAX_HEADERS} header fields")


def _parse_headers(lines: Sequence[bytes]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obsolete line folding may be rejected with 400.
            raise BadRequest("obsolete header line folding is not accepted")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise BadRequest(f"malformed header line {line[:80]!r}")
        headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    return headers


async def read_request_head(reader: asyncio.StreamReader,
                            limit: int = MAX_HEAD_BYTES) -> RequestHead:
    """Read and parse one request head; the reader is left at the first byte after it
    (for an upgrade, the first byte of the new protocol)."""
    lines = await _read_head_lines(reader, limit)
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not _VERSION.match(parts[2]):
        raise BadRequest(f"malformed request line {lines[0][:80]!r}")
    method, raw_target, version = parts
    try:
        target = raw_target.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadRequest("request target is not ASCII") from exc
    if not target.startswith("/"):
        # Origin form only (RFC 9112 §3.2.1): nothing here is a forward proxy.
        raise BadRequest(f"request target {target[:80]!r} is not an absolute path")
    split = urlsplit(target)
    return RequestHead(
        method=method.decode("ascii"),
        target=target,
        path=unquote(split.path),
        query=parse_query(split.query),
        headers=_parse_headers(lines[1:]),
        version=version.decode("ascii"),
    )


def _head(start: str, headers: Sequence[tuple[str, str]]) -> bytes:
    out = [start]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} contains a line break")
        out.append(f"{name}: {value}")
    out.append("\r\n")
    return "\r\n".join(out).encode("latin-1")


def response_head(status: int, headers: Sequence[tuple[str, str]] = (),
                  reason: str | None = None) -> bytes:
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return _head(f"HTTP/1.1 {status} {reason}", headers)


def request_head(method: str, target: str, headers: Sequence[tuple[str, str]]) -> bytes:
    return _head(f"{method} {target} HTTP/1.1", headers)


def plain_response(status: int, text: str,
                   headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A complete plain-text response that closes the connection, as kubelet answers
    errors (text body, its status code)."""
    body = text.encode()
    return response_head(status, [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *headers,
    ]) + body


async def refuse(writer: asyncio.StreamWriter, status: int, reason: str,
                 headers: Sequence[tuple[str, str]] = ()) -> NoReturn:
    """Answer a request that cannot be served with a plain-text `status` (best effort:
    the peer may be gone) and raise BadRequest(reason)."""
    writer.write(plain_response(status, reason + "\n", headers))
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
    raise BadRequest(reason)


def is_upgrade(head: RequestHead, protocol: str) -> bool:
    """Connection lists `upgrade` and Upgrade is `protocol` (given in lower case)."""
    connection = [v.lower() for v in head.header_values("Connection")]
    return ("upgrade" in connection
            and (head.header("Upgrade") or "").strip().lower() == protocol)


async def read_response_head(reader: asyncio.StreamReader,
                             limit: int = MAX_HEAD_BYTES,
                             ) -> tuple[int, str, list[tuple[str, str]]]:
    """(status, reason, headers) of one response head; the reader is left at the body
    (or the upgraded protocol after a 101)."""
    lines = await _read_head_lines(reader, limit)
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not _VERSION.match(version) or len(code) != 3 or not code.isdigit():
        raise BadRequest(f"malformed status line {lines[0][:80]!r}")
    return int(code), reason.decode("latin-1"), _parse_headers(lines[1:])


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """First value of a header in a (name, value) list, case-insensitively."""
    name = name.lower()
    return next((v for n, v in headers if n.lower() == name), None)


async def write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """One chunk of a chunked body (RFC 9112 §7.1). An empty `data` writes nothing,
    because an empty chunk would end the body."""
    if not data:
        return
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def end_chunks(writer: asyncio.StreamWriter) -> None:
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def read_chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The chunks of a chunked body, until the last chunk (trailers skipped)."""
    while True:
        line = await reader.readuntil(b"\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise BadRequest(f"malformed chunk size {size_text[:20]!r}") from exc
        if size == 0:
            while (await reader.readuntil(b"\n")).strip():
                pass
            return
        data = await reader.readexactly(size)
        if (await reader.readuntil(b"\n")).strip():
            raise BadRequest("chunk data not followed by CRLF")
        yield data
