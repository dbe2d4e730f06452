"""EdgeStream (specs/kubeedge.md §9 "Edge connects", "Tunnel frames"): dials CloudStream's
tunnel server and serves the sessions the cloud opens on it against edged's local
kubelet-style server.

Owns: the tunnel connection (`wss://<server>/v1/kubeedge/connect`, the node's
certificate, headers `SessionHostNameOverride`/`SessionInternalIP`), redialling every
`reconnectInterval` while it is down, keepalive pings (`pingInterval`, a missing pong
after `readDeadline` ends the tunnel), and one TCP connection to
`127.0.0.1:<local_port()>` per session with the request head written from the connect
message and the rest relayed raw (`streaming/tunnel.py`).

Stricter than KubeEdge, whose edgestream dials with InsecureSkipVerify: the cloud's
certificate is verified against the edge's `rootCA.crt` with its address checked, so the
edge accepts tunnel sessions only from its own cloud (issue 8 "Authorization").

Must never import aiohttp or anything from cloud/ (ARCHITECTURE.md rule 9); websockets
is imported when the first dial happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeedge.client.clock import Clock, RealClock
from kubeedge.config.checks import under_root
from kubeedge.config.edgecore import EdgeStream as EdgeStreamConfig
from kubeedge.edge.hub.transport import edge_tls_context
from kubeedge.streaming.http import plain_response, request_head
from kubeedge.streaming.tunnel import (
    CLOSE_CONNECT,
    CONNECT_KINDS,
    DATA,
    HEADER_HOSTNAME,
    HEADER_INTERNAL_IP,
    KIND_NAMES,
    MAX_FRAME_BYTES,
    TUNNEL_PATH,
    ConnectRequest,
    FrameError,
    Relay,
    Tunnel,
    request_headers,
)

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"


class EdgeStream:
    """`await start()` begins dialling; `await stop()` closes the tunnel and every
    session. `connected` is set while a tunnel is up."""

    def __init__(self, config: EdgeStreamConfig, *, node_name: str, internal_ip: str,
                 root: Path, local_port: Callable[[], int], clock: Clock | None = None
                 ) -> None:
        self.config = config
        self.node_name = node_name
        self.internal_ip = internal_ip
        self.root = Path(root)
        self.local_port = local_port
        self.clock = clock or RealClock()
        self.connected = asyncio.Event()
        self.tunnel: Tunnel | None = None
        self.last_error = ""
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None
        self._sessions: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"wss://{self.config.server}{TUNNEL_PATH}"

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="edgestream")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    def _tls(self) -> ssl.SSLContext:
        # Read for every dial: a rotated certificate (spec §4 "Rotation") is picked up.
        c = self.config
        return edge_tls_context(under_root(str(self.root), c.tls_tunnel_ca_file),
                                under_root(str(self.root), c.tls_tunnel_cert_file),
                                under_root(str(self.root), c.tls_tunnel_private_key_file))

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, TLS, handshake, a dropped tunnel
                self.last_error = str(exc) or type(exc).__name__
                log.warning("edgestream: tunnel to %s: %s; dialling again in %ss", self.url,
                            self.last_error, self.config.reconnect_interval)
            finally:
                await self._drop()
            await self.clock.sleep(self.config.reconnect_interval)

    async def _session(self) -> None:
        from websockets.asyncio.client import connect

        headers = {HEADER_HOSTNAME: self.node_name}
        if self.internal_ip:
            headers[HEADER_INTERNAL_IP] = self.internal_ip
        c = self.config
        ws = await connect(
            self.url, ssl=self._tls(), additional_headers=headers,
            open_timeout=c.handshake_timeout, ping_interval=c.ping_interval,
            ping_timeout=c.read_deadline, close_timeout=c.write_deadline,
            max_size=MAX_FRAME_BYTES, compression=None, proxy=None, user_agent_header=None)
        self._ws = ws
        tunnel = Tunnel(ws.send, name=self.node_name,
                        stall_timeout=c.session_stall_timeout)
        self.tunnel = tunnel
        self.connected.set()
        self.last_error = ""
        log.info("edgestream: tunnel to %s is up", self.url)
        async for message in ws:
            data = message.encode() if isinstance(message, str) else message
            try:
                frame = await tunnel.deliver(data)
            except FrameError as exc:
                log.warning("edgestream: dropped a bad tunnel message: %s", exc)
                continue
            if frame is None:
                continue
            connect_id, kind, payload = frame
            if kind == CLOSE_CONNECT:
                raise ConnectionError("the cloud closed the tunnel: "
                                      + payload.decode(errors="replace"))
            if kind not in CONNECT_KINDS:
                log.warning("edgestream: unexpected %s frame for session %d",
                            KIND_NAMES[kind], connect_id)
                continue
            try:
                relay = tunnel.open(connect_id)  # now, so its DATA frames queue up
            except FrameError as exc:
                log.warning("edgestream: %s", exc)
                continue
            task = asyncio.get_running_loop().create_task(
                self._serve(relay, payload), name=f"edgestream session {connect_id}")
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)
        raise ConnectionError("the tunnel closed")

    async def _serve(self, relay: Relay, payload: bytes) -> None:
        """One session: edged's server on 127.0.0.1, the head from the connect message,
        then raw bytes both ways."""
        try:
            request = ConnectRequest.decode(payload)
        except FrameError as exc:
            await self._answer(relay, 400, f"bad connect message: {exc}")
            return
        port = self.local_port()
        local = f"{LOCAL_HOST}:{port}"
        try:
            reader, writer = await asyncio.open_connection(LOCAL_HOST, port)
        except OSError as exc:
            await self._answer(relay, 502, f"edge node {self.node_name}: edged's server at "
                               f"{local} is not reachable: {exc}")
            return
        try:
            writer.write(request_head(request.method, request.target,
                                      request_headers(request, local)))
        except ValueError as exc:  # a header with a line break
            writer.close()
            await self._answer(relay, 400, f"bad connect message: {exc}")
            return
        await relay.run(reader, writer)

    async def _answer(self, relay: Relay, status: int, text: str) -> None:
        log.warning("edgestream: session %d: %s", relay.connect_id, text)
        with contextlib.suppress(Exception):
            await relay.tunnel.send(relay.connect_id, DATA, plain_response(status, text))
        await relay.finish(None)

    async def _drop(self) -> None:
        """Close the tunnel and end every session on it."""
        self.connected.clear()
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            tunnel.close()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
            transport = getattr(ws, "transport", None)
            if transport is not None:
                transport.abort()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        for task in sessions:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
