"""The seam between EdgeHub and the network (STYLE.md "A seam at every transport").

Owns the `Transport`/`Connection` protocols EdgeHub talks to, and the WebSocket
transport KubeEdge's edge uses by default (specs/kubeedge.md §3 "Connection", "TLS"):
`wss://<server>/<projectID>/<node>/events`, headers `node_id`, `project_id` (and
viaduct's `ConnectionUse: msg`), mutual TLS with the edge certificate, the cloud's
certificate verified against the saved KubeEdge CA, names included, as Go's `RootCAs`
check does. One JSON text frame per message, as gorilla's `WriteJSON` sends it.

Must never import `websockets` at module import (the hub imports this module; unit
tests and the import-time budget of rule 9 should not pay for it), nor anything from
`cloud/`. A QUIC or in-memory transport is a new class here, not an `if` in the hub.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Connection",
    "ConnectionLost",
    "DialError",
    "DialSettings",
    "Transport",
    "WebSocketTransport",
    "edge_tls_context",
]

# viaduct's client adds this header to every dial (pkg/viaduct/pkg/client/ws.go).
HEADER_NODE_ID = "node_id"
HEADER_PROJECT_ID = "project_id"
HEADER_CONNECTION_USE = "ConnectionUse"
CONNECTION_USE_MESSAGE = "msg"


class DialError(ConnectionError):
    """The connection to CloudHub could not be opened (refused, TLS, handshake)."""


class ConnectionLost(ConnectionError):
    """An open connection failed or was closed by the peer."""


@dataclass(frozen=True)
class DialSettings:
    """Everything one dial needs; rebuilt for every dial so a rotated certificate is
    picked up (spec §4 "Rotation": EdgeHub reconnects afterwards)."""

    url: str
    headers: Mapping[str, str]
    ca_file: Path
    cert_file: Path
    key_file: Path
    handshake_timeout: float
    # Largest frame accepted from the cloud; KubeEdge's gorilla reader has no limit,
    # a pod list can be large, so this is generous.
    max_frame_bytes: int = 64 << 20
    extra: dict[str, Any] = field(default_factory=dict)


class Connection(Protocol):
    """One open session with CloudHub."""

    async def send(self, frame: bytes) -> None:
        """Write one message frame (JSON text). Raises `ConnectionLost`."""
        ...

    async def recv(self) -> bytes | str:
        """The next message frame. Raises `ConnectionLost` when the session ends."""
        ...

    def ping(self) -> Awaitable[object]:
        """Send a transport-level ping; the awaitable resolves when the pong arrives and
        raises `ConnectionLost` if the connection is gone."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    async def dial(self, settings: DialSettings) -> Connection:
        """Open a session. Raises `DialError`."""
        ...


def edge_tls_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The client side of spec §3's mutual TLS: TLS 1.2+, the edge's certificate, the
    cloud verified against KubeEdge's CA with its name or address checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.load_verify_locations(cafile=str(ca_file))
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class _WebSocketConnection:
    __slots__ = ("_ws",)

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def send(self, frame: bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            # A text frame, as gorilla's WriteJSON writes; the bytes are UTF-8 JSON.
            await self._ws.send(frame, text=True)
        except ConnectionClosed as exc:
            raise ConnectionLost(f"websocket write error: {exc}") from None
        except OSError as exc:
            raise ConnectionLost(f"websocket write error: {exc}") from None

    async def recv(self) -> bytes | str:
        from websockets.exceptions import ConnectionClosed

        try:
            data: bytes | str = await self._ws.recv()
        except ConnectionClosed as exc:
            raise ConnectionLost(f"websocket read error: {exc}") from None
        except OSError as exc:
            raise ConnectionLost(f"websocket read error: {exc}") from None
        return data

    def ping(self) -> Awaitable[object]:
        return self._pong()

    async def _pong(self) -> float:
        """The ping written, then its pong awaited: websockets' `ping()` is a coroutine
        that only sends and hands back the pong's waiter, so awaiting it alone says
        nothing about the peer (a dead link would look alive)."""
        from websockets.exceptions import ConnectionClosed

        try:
            waiter = await self._ws.ping()
            latency: float = await waiter
        except ConnectionClosed as exc:
            raise ConnectionLost(f"websocket ping failed: {exc}") from None
        except OSError as exc:
            raise ConnectionLost(f"websocket ping failed: {exc}") from None
        return latency

    async def close(self) -> None:
        try:
            await self._ws.close()
        finally:
            # A close handshake cut short (a dead link, the hub's deadline) must not
            # leave the socket behind; after a clean close this does nothing.
            transport = getattr(self._ws, "transport", None)
            if transport is not None:
                transport.abort()


class WebSocketTransport:
    """KubeEdge's default transport: WebSocket over mutual TLS (spec §3)."""

    async def dial(self, settings: DialSettings) -> Connection:
        import websockets
        from websockets.asyncio.client import connect

        try:
            ctx = edge_tls_context(settings.ca_file, settings.cert_file, settings.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise DialError(
                f"failed to load the edge certificate {settings.cert_file} or CA "
                f"{settings.ca_file}: {exc}"
            ) from None
        try:
            ws = await connect(
                settings.url,
                ssl=ctx,
                additional_headers=dict(settings.headers),
                open_timeout=settings.handshake_timeout,
                # Liveness is EdgeHub's keepalive and read deadline on its own clock.
                ping_interval=None,
                ping_timeout=None,
                compression=None,  # gorilla negotiates no permessage-deflate
                proxy=None,
                max_size=settings.max_frame_bytes,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, ssl.SSLError, websockets.exceptions.WebSocketException,
                ValueError) as exc:
            raise DialError(f"failed to dial {settings.url}: {exc!r}") from None
        return _WebSocketConnection(ws)
