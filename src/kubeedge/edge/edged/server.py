"""Edged's kubelet-style server (issue 8; specs/kubeedge.md §9, k8s-api.md §6): where
`kubectl logs/exec/attach/port-forward/top` for this node's pods end up.

EdgeStream replays the cloud's requests to it over TCP (127.0.0.1:10350 by default,
`modules.edged.tailoredKubeletConfig.address`/`readOnlyPort`), so it is the one place
the client protocols (WebSocket channels, SPDY, port-forward framings) are terminated;
everything before it relays bytes. Routes, query names and error texts are kubelet's
(`pkg/kubelet/server/server.go`):

- `GET /containerLogs/{ns}/{pod}/{container}`: LogOptions from kubelet's query names,
  `200 text/plain` chunked; with `follow` it ends when the container does. `previous`
  reads the container's last terminated attempt. 404 `pod "p" does not exist`, 404
  `container "c" not found in pod "p"`, 400 `previous terminated container "c" in pod
  "p" not found`, 400 `container "c" in pod "p" is waiting to start: <reason>`.
- `GET|POST /exec|/attach/{ns}/{pod}[/{uid}]/{container}`: streaming/remotecommand.py
  over `runtime.exec` / `runtime.attach`. 404 `pod does not exist` (also for a uid that
  is not the pod's), 404 `container not found ("c")` when no such container runs.
- `GET|POST /portForward/{ns}/{pod}[/{uid}]`: streaming/portforward.py, dialling the
  pod's port inside its sandbox's network namespace (`runtime.port_forward`).
- `GET /stats/summary`, `/metrics/resource` (StatsProvider), `/healthz`, `/pods`
  (PodList of this node's pods), `/metrics` (edgecore's own metrics when given).
- anything else: `404 page not found` (Go's mux text).

One request per connection: every response says `Connection: close` and the
connection is closed after it, so a keep-alive client never waits on a reused socket.
A log follower stops when its client's connection ends, not at the next line.

Port 0 binds an ephemeral port (tests; kubelet would disable the server): `start()`
returns the bound port, which EdgeStream's `local_port()` reads.

Must never import from cloud/, apiserver/, store/, controllers/ or scheduler/ (rule 9);
the streaming protocols are loaded on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from kubeedge.edge.runtime.contract import ContainerState, RuntimeServiceError
from kubeedge.monitoring import CONTENT_TYPE as PROMETHEUS_TEXT
from kubeedge.streaming.http import (
    BadRequest,
    RequestHead,
    end_chunks,
    plain_response,
    read_request_head,
    response_head,
    write_chunk,
)

__all__ = ["EdgedServer"]

log = logging.getLogger(__name__)

# kubelet's streaming.DefaultConfig StreamCreationTimeout.
DEFAULT_STREAM_CREATION_TIMEOUT = 30.0
NOT_FOUND = "404 page not found\n"  # Go's http.NotFound body
# (first segment, segment count) of the parametrised routes; the fixed paths.
_ROUTES = {("containerLogs", 4), ("exec", 4), ("exec", 5), ("attach", 4), ("attach", 5),
           ("portForward", 3), ("portForward", 4)}
_PATHS = {"/healthz", "/pods", "/stats/summary", "/stats/summary/", "/metrics",
          "/metrics/resource"}


class EdgedServer:
    """`EdgedServer(edged, runtime, stats, address=, port=, ...)`; `await start()` (the
    bound port), `await stop()`.

    `edged` answers `pods()`, `find_pod(ns, name, uid)`, `pod_sandbox_id(pod)` and
    `container_ids(pod, name)` (edge/edged/edged.py); `stats` is a StatsProvider
    (`summary()`, `resource_metrics()`); `metrics_text` renders edgecore's own
    Prometheus metrics for `/metrics`.
    """

    def __init__(self, edged: Any, runtime: Any, stats: Any, *, address: str = "127.0.0.1",
                 port: int = 10350,
                 stream_creation_timeout: float = DEFAULT_STREAM_CREATION_TIMEOUT,
                 metrics_text: Callable[[], str] | None = None) -> None:
        self.edged = edged
        self.runtime = runtime
        self.stats = stats
        self.address = address
        self.port = port
        self.stream_creation_timeout = stream_creation_timeout
        self.metrics_text = metrics_text
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.address, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("edged server listening on %s:%d", self.address, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and end every open session (exec'd processes are killed by
        their sessions' ends, as when the client leaves)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- one connection --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            try:
                head = await read_request_head(reader)
            except BadRequest as exc:
                writer.write(plain_response(400, f"{exc}\n"))
                return
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                return
            await self._route(reader, writer, head)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("edged server: connection lost: %s", exc)
        except Exception:
            log.exception("edged server: request failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     head: RequestHead) -> None:
        parts = [p for p in head.path.split("/") if p]
        top = parts[0] if parts else ""
        streaming = top in ("exec", "attach", "portForward")
        allowed = ("GET", "POST") if streaming else ("GET",)
        known = (top, len(parts)) in _ROUTES or head.path in _PATHS
        if known and head.method not in allowed:
            writer.write(plain_response(405, "Method Not Allowed\n",
                                        [("Allow", ", ".join(allowed))]))
            return
        if top == "containerLogs" and len(parts) == 4:
            await self._logs(reader, writer, head, *parts[1:])
        elif top in ("exec", "attach") and len(parts) in (4, 5):
            ns, name = parts[1], parts[2]
            uid = parts[3] if len(parts) == 5 else ""
            await self._remote_command(reader, writer, head, ns, name, uid, parts[-1],
                                       attach=top == "attach")
        elif top == "portForward" and len(parts) in (3, 4):
            await self._port_forward(reader, writer, head, parts[1], parts[2],
                                     parts[3] if len(parts) == 4 else "")
        elif head.path == "/healthz":
            writer.write(self._body(200, b"ok", "text/plain; charset=utf-8"))
        elif head.path == "/pods":
            pods = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                    "items": list(self.edged.pods())}
            writer.write(self._json(pods))
        elif head.path in ("/stats/summary", "/stats/summary/"):
            if self.stats is None:
                writer.write(plain_response(404, NOT_FOUND))
                return
            writer.write(self._json(self.stats.summary()))
        elif head.path == "/metrics/resource":
            if self.stats is None:
                writer.write(plain_response(404, NOT_FOUND))
                return
            writer.write(self._body(200, self.stats.resource_metrics().encode(),
                                    PROMETHEUS_TEXT))
        elif head.path == "/metrics" and self.metrics_text is not None:
            writer.write(self._body(200, self.metrics_text().encode(), PROMETHEUS_TEXT))
        else:
            writer.write(plain_response(404, NOT_FOUND))

    @staticmethod
    def _body(status: int, body: bytes, content_type: str,
              headers: Sequence[tuple[str, str]] = ()) -> bytes:
        return response_head(status, [("Content-Type", content_type),
                                      ("Content-Length", str(len(body))),
                                      ("Connection", "close"), *headers]) + body

    def _json(self, obj: Any) -> bytes:
        return self._body(200, json.dumps(obj, separators=(",", ":")).encode(),
                          "application/json")

    # ---- logs ------------------------------------------------------------------------

    async def _logs(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    head: RequestHead, namespace: str, name: str, container: str) -> None:
        from kubeedge.edge.edged.logs import LogOptions, container_log

        try:
            opts = LogOptions.from_query(head.query)
        except (ValueError, TypeError) as exc:
            writer.write(plain_response(400, f"{exc}\n"))
            return
        pod = self.edged.find_pod(namespace, name)
        if pod is None:
            writer.write(plain_response(404, f'pod "{name}" does not exist\n'))
            return
        ids = await self.edged.container_ids(pod, container)
        if ids is None:
            writer.write(plain_response(
                404, f'container "{container}" not found in pod "{name}"\n'))
            return
        # kubelet's validateContainerLogStatus.
        if opts.previous:
            if not ids.previous:
                writer.write(plain_response(400, f'previous terminated container '
                                                 f'"{container}" in pod "{name}" not found\n'))
                return
            container_id = ids.previous
        elif not ids.current:
            writer.write(plain_response(400, f'container "{container}" in pod "{name}" is '
                                             f'waiting to start: {ids.waiting}\n'))
            return
        else:
            container_id = ids.current
        try:
            path = self.runtime.container_log_path(container_id)
        except (RuntimeServiceError, KeyError, OSError) as exc:
            writer.write(plain_response(404, f"{exc}\n"))
            return

        async def running() -> bool:
            try:
                status = await self.runtime.container_status(container_id)
            except (RuntimeServiceError, KeyError, OSError):
                return False
            return status.state == ContainerState.RUNNING

        writer.write(response_head(200, [("Content-Type", "text/plain"),
                                         ("Transfer-Encoding", "chunked"),
                                         ("Connection", "close")]))
        await writer.drain()

        async def copy() -> None:
            async for chunk in container_log(path, opts, running=running):
                await write_chunk(writer, chunk)
            await end_chunks(writer)

        async def client_gone() -> None:
            # The request has no body: anything but EOF is ignored until EOF.
            while await reader.read(4096):
                pass

        copier = asyncio.create_task(copy(), name="edged-logs")
        watcher = asyncio.create_task(client_gone(), name="edged-logs-client")
        try:
            await asyncio.wait({copier, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (copier, watcher):
                task.cancel()
            for task in (copier, watcher):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await task
        if copier.done() and not copier.cancelled() and copier.exception() is not None:
            exc = copier.exception()
            if not isinstance(exc, ConnectionError | OSError):
                log.warning("edged server: logs of %s/%s %s: %s", namespace, name,
                            container, exc)

    # ---- exec, attach, port-forward --------------------------------------------------

    async def _remote_command(self, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter, head: RequestHead,
                              namespace: str, name: str, uid: str, container: str, *,
                              attach: bool) -> None:
        from kubeedge.streaming.remotecommand import StreamOptions, serve_remote_command

        pod = self.edged.find_pod(namespace, name, uid)
        if pod is None:
            writer.write(plain_response(404, "pod does not exist\n"))
            return
        ids = await self.edged.container_ids(pod, container)
        if ids is None or not ids.running:
            # kubelet's findContainer looks among running containers only.
            writer.write(plain_response(404, f'container not found ("{container}")\n'))
            return
        command = list(head.query.get("command", []))
        if not attach and not command:
            writer.write(plain_response(
                400, "you must specify at least one command for the container\n"))
            return
        container_id = ids.current

        async def start(opts: StreamOptions) -> Any:
            if attach:
                return await self.runtime.attach(container_id, tty=opts.tty,
                                                 stdin=opts.stdin, stdout=opts.stdout,
                                                 stderr=opts.stderr)
            return await self.runtime.exec(container_id, command, tty=opts.tty,
                                           stdin=opts.stdin, stdout=opts.stdout,
                                           stderr=opts.stderr, size=opts.size)

        await serve_remote_command(reader, writer, head, start,
                                   stream_creation_timeout=self.stream_creation_timeout,
                                   attach=attach)

    async def _port_forward(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter, head: RequestHead,
                            namespace: str, name: str, uid: str) -> None:
        from kubeedge.streaming.portforward import serve_port_forward

        pod = self.edged.find_pod(namespace, name)
        if pod is None:
            writer.write(plain_response(404, "pod does not exist\n"))
            return
        if uid and self.edged.find_pod(namespace, name, uid) is None:
            writer.write(plain_response(404, "pod not found\n"))
            return
        sandbox_id = await self.edged.pod_sandbox_id(pod)
        if not sandbox_id:
            writer.write(plain_response(404, f'pod "{name}" has no sandbox\n'))
            return

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await self.runtime.port_forward(sandbox_id, port)

        await serve_port_forward(reader, writer, head, dial,
                                 stream_creation_timeout=self.stream_creation_timeout)
