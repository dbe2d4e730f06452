"""A test-only kubelet: just enough of edged's server (issue 8 design, "Kubelet paths")
to check what the API server forwards and that it relays the answer.

HTTPS on 127.0.0.1 with a certificate from the cluster CA, client certificate
required; it runs its own event loop in a thread so tests can drive the real kubectl
synchronously. Every request head is recorded. Speaks enough WebSocket
(`v5.channel.k8s.io`/`v4`) to answer an exec.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class KubeletDouble:
    cert: Path
    key: Path
    ca: Path
    summary: dict[str, Any] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    # Set to end a followed log; set by the double when a followed log's client left.
    end_follow: threading.Event = field(default_factory=threading.Event)
    follow_closed: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._listen(ready))
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise AssertionError("the kubelet double did not start")

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def requests_to(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix)]

    async def _listen(self, ready: threading.Event) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        context.load_verify_locations(self.ca)
        context.verify_mode = ssl.CERT_REQUIRED  # only the API server's kubelet client
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            parts = urlsplit(target)
            seen = Seen(method, unquote(parts.path), parse_qs(parts.query), headers)
            self.seen.append(seen)
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            await self._answer(seen, body, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _answer(self, seen: Seen, body: bytes, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        path = seen.path
        if path == "/stats/summary":
            return await _plain(writer, 200, json.dumps(self.summary), "application/json")
        if path.startswith("/containerLogs/"):
            _, _, _namespace, pod, container = path.split("/")
            if pod == "missing":
                return await _plain(writer, 404, "pod missing not found")
            if "bad" in seen.query.get("tailLines", []):
                return await _plain(writer, 400, "bad tailLines")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for i in (1, 2):
                await _chunk(writer, f"{container} line {i}\n".encode())
            if seen.query.get("follow") == ["true"]:
                # Wait for the test, noticing a client (the API server) that leaves.
                waiter = asyncio.ensure_future(asyncio.to_thread(self.end_follow.wait, 30))
                gone = asyncio.ensure_future(reader.read())
                done, _ = await asyncio.wait({waiter, gone},
                                             return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    self.follow_closed.set()
                    waiter.cancel()
                    return
                gone.cancel()
                await _chunk(writer, f"{container} line 3\n".encode())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return None
        if path.startswith("/exec/") and seen.headers.get("upgrade", "").lower() == "websocket":
            return await self._exec(seen, reader, writer)
        if path.startswith(("/exec/", "/attach/", "/portForward/")):
            return await _plain(writer, 400, "upgrade request required")
        if path == "/echo":
            return await _plain(writer, 201, f"{seen.method} {body.decode()}")
        return await _plain(writer, 404, "404 page not found")

    async def _exec(self, seen: Seen, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        offered = [p.strip() for p in seen.headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next(p for p in ("v5.channel.k8s.io", "v4.channel.k8s.io") if p in offered)
        accept = base64.b64encode(hashlib.sha1(
            (seen.headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                      f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
        command = seen.query.get("command", [])
        if command == ["cat"]:
            # Echo stdin until the client closes it (v5 channel 255) or sends nothing more.
            while True:
                opcode, payload = await _read_frame(reader)
                if opcode == 8 or not payload:
                    break
                if payload[0] == 0:
                    writer.write(_frame(b"\x01" + payload[1:]))
                elif payload[:2] == b"\xff\x00":
                    break
            code = 0
        else:
            writer.write(_frame(b"\x01" + " ".join(command).encode() + b"\n"))
            code = 3 if "exit 3" in " ".join(command) else 0
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if code:
            status = {"metadata": {}, "status": "Failure",
                      "message": f"command terminated with non-zero exit code: {code}",
                      "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        writer.write(_frame(b"\x03" + json.dumps(status).encode()))
        writer.write(_frame((1000).to_bytes(2, "big"), opcode=8))
        await writer.drain()
        # Wait for the client's close frame (or its departure) before hanging up.
        try:
            while (await asyncio.wait_for(_read_frame(reader), 5))[0] != 8:
                pass
        except (TimeoutError, asyncio.IncompleteReadError):
            pass


async def _plain(writer: asyncio.StreamWriter, code: int, text: str,
                 content_type: str = "text/plain; charset=utf-8") -> None:
    body = text.encode()
    writer.write(f"HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()


async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


def _frame(payload: bytes, opcode: int = 2) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame (masked), unmasked; pings are not expected in a short test."""
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(length)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))
