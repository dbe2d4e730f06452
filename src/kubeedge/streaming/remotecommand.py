"""The Kubernetes remote command protocol, server side: `kubectl exec` and `kubectl
attach` terminated in edged's kubelet-style server (issue 8; k8s-api.md §6).

Follows kubelet's `pkg/kubelet/cri/streaming/remotecommand` (httpstream.go,
websocket.go, exec.go, attach.go) and apimachinery's wsstream:
- options from kubelet's query names `input`, `output`, `error`, `tty` ("1"; the API
  server translates kubectl's stdin/stdout/stderr; "true" is taken too). A TTY drops
  stderr (kubelet: "Access to exec with tty and stderr is not supported"); none of the
  three is a 400 before any upgrade.
- WebSocket subprotocols `v5.channel.k8s.io` (channel 255: `[255, n]` closes the
  client's channel n, `[255, 0]` is stdin EOF), `v4.channel.k8s.io`,
  `v4.base64.channel.k8s.io`, `channel.k8s.io`, `base64.channel.k8s.io` and none
  (binary). Each message is one channel byte (an ASCII digit in the base64 variants)
  and the payload: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize. Right after the
  upgrade an empty message goes to the lowest channel the client reads (kubelet's
  "connection established" notice).
- SPDY/3.1 with `X-Stream-Protocol-Version` v4/v3/v2/`channel.k8s.io`; the client opens
  one stream per `streamType` (error, stdin, stdout, stderr, and resize for a TTY under
  v3+). They must all arrive within `stream_creation_timeout` (kubelet's
  streamCreationTimeout, 30 s), else the connection is dropped as kubelet does.
- the end: v4/v5 write a metav1.Status as JSON on the status channel or error stream:
  Success, or Failure with reason NonZeroExitCode, `details.causes` [{reason ExitCode,
  message "<code>"}] and the message containerd's exec gives ("command terminated with
  non-zero exit code: error executing command [argv], exit code N"); a process that
  could not be started is an InternalError (code 500, "Internal error occurred: error
  executing command in container: ..."). Older versions write only a failure's message
  text. Attach reports Success when it ends, as kubelet's ServeAttach.
- resize messages are JSON `{"Width":..,"Height":..}` (a stream of them on SPDY).
- a client that goes away kills an exec's process, and detaches an attach (the
  handle's `kill()` knows which).

Output flows through bounded buffers only: a pump awaits the client's send before it
reads more, so a slow client slows the process through its pipe, never edgecore's
memory.

Edge-safe: stdlib plus this package (ARCHITECTURE.md rule 9). Knows nothing of pods,
runtimes or routing: the caller resolves the container and passes `start`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubeedge.streaming.http import BadRequest, RequestHead, plain_response

__all__ = [
    "SPDY_PROTOCOLS",
    "STREAM_CREATION_TIMEOUT",
    "WEBSOCKET_PROTOCOLS",
    "RemoteProcess",
    "StreamOptions",
    "exit_status",
    "internal_error_status",
    "serve_remote_command",
    "stream_options",
    "success_status",
]

log = logging.getLogger(__name__)

# kubelet's streaming.DefaultConfig StreamCreationTimeout.
STREAM_CREATION_TIMEOUT = 30.0
# kubectl sends the terminal's size right after the session opens; a TTY command waits
# this long for it, so that `stty size` or a full-screen program starts with it.
INITIAL_SIZE_WAIT = 1.0

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"

# What kubelet's createWebSocketStreams accepts (plus v5, which kube-apiserver 1.30+
# answers itself and kubectl 1.32 offers alone); the client's order picks.
WEBSOCKET_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64, "")
# kubelet's remotecommandconsts.SupportedStreamingProtocols for SPDY.
SPDY_PROTOCOLS = (V4, V3, V2, V1)

STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)
CLOSE = 255  # v5: [255, channel] closes that channel
# The SPDY stream type that carries each output channel.
_SPDY_OUTPUT_STREAMS = {STDOUT: "stdout", STDERR: "stderr"}


@dataclass(frozen=True)
class StreamOptions:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    # The client's terminal (width, height) when it sent one before the process
    # started: a TTY command then starts with that size, not 0x0.
    size: tuple[int, int] | None = None


class RemoteProcess(Protocol):
    """What the runtime's exec/attach handle offers (duck-typed; the runtime does not
    import this package)."""

    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def read_stdout(self) -> bytes: ...  # b"" at EOF
    async def read_stderr(self) -> bytes: ...  # b"" at EOF (at once under a TTY)
    def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...  # exit code (128+n for signal n)
    async def kill(self) -> None: ...  # the client went away


Start = Callable[[StreamOptions], Awaitable[RemoteProcess]]


# ---- options and statuses ---------------------------------------------------------------


def _flag(head: RequestHead, kubelet_name: str, api_name: str) -> bool:
    value = head.arg(kubelet_name)
    if value is None:
        value = head.arg(api_name)
    return (value or "").strip().lower() in ("1", "true")


def stream_options(head: RequestHead) -> StreamOptions:
    """kubelet's remotecommand NewOptions; BadRequest when no stream is asked for."""
    tty = _flag(head, "tty", "tty")
    stdin = _flag(head, "input", "stdin")
    stdout = _flag(head, "output", "stdout")
    stderr = _flag(head, "error", "stderr") and not tty
    if not (stdin or stdout or stderr):
        raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return StreamOptions(stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)


def success_status() -> dict[str, Any]:
    # metav1.Status as Go marshals it: empty TypeMeta fields dropped, `metadata` kept.
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """kubelet's ServeExec status for a CodeExitError from containerd's exec."""
    argv = "[" + " ".join(command) + "]"  # Go's %v of a []string
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing "
                       f"command {argv}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error_status(text: str) -> dict[str, Any]:
    """apierrors.NewInternalError."""
    return {"metadata": {}, "status": "Failure",
            "message": f"Internal error occurred: {text}", "reason": "InternalError",
            "details": {"causes": [{"message": text}]}, "code": 500}


# ---- transports ------------------------------------------------------------------------


class _Events:
    """What the client sends, in order: ("stdin", data), ("stdin-eof", b""),
    ("resize", data); and `gone`, set once the client's connection ended."""

    def __init__(self) -> None:
        # Bounded: a client that writes faster than the process reads waits on TCP.
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=16)
        self.gone = asyncio.Event()

    async def put(self, kind: str, data: bytes = b"") -> None:
        await self.queue.put((kind, data))


class _Channels(Protocol):
    events: _Events

    async def send(self, channel: int, data: bytes) -> None: ...
    async def end(self, channel: int) -> None: ...
    async def status(self, status: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


class _WebSocketChannels:
    """wsstream's channel Conn over a WebSocketConn."""

    def __init__(self, conn: Any, opts: StreamOptions) -> None:
        self.conn = conn
        self.opts = opts
        self.protocol = conn.subprotocol
        self.base64 = self.protocol in (V4_BASE64, V1_BASE64)
        self.json_status = self.protocol in (V5, V4, V4_BASE64)
        self.events = _Events()
        self._lock = asyncio.Lock()
        self._reader = asyncio.create_task(self._read(), name="remotecommand-ws-read")

    async def _read(self) -> None:
        try:
            while True:
                message = await self.conn.recv()
                if message is None:
                    break
                if not message:
                    continue
                channel, data = message[0], message[1:]
                if self.base64:
                    channel -= ord("0")
                    try:
                        data = base64.b64decode(data, validate=True)
                    except ValueError:
                        log.debug("remotecommand: bad base64 on channel %d", channel)
                        continue
                if channel == STDIN and self.opts.stdin:
                    if data:
                        await self.events.put("stdin", data)
                elif channel == RESIZE:
                    await self.events.put("resize", data)
                elif (channel == CLOSE and self.protocol == V5
                      and data[:1] == bytes([STDIN]) and self.opts.stdin):
                    await self.events.put("stdin-eof")
                # Anything else targets a channel the client may not write: ignored,
                # as wsstream ignores frames for write-only channels.
        finally:
            self.events.gone.set()

    async def send(self, channel: int, data: bytes) -> None:
        async with self._lock:
            if self.base64:
                await self.conn.send_text(chr(ord("0") + channel)
                                          + base64.b64encode(data).decode("ascii"))
            else:
                await self.conn.send(bytes([channel]) + data)

    async def end(self, channel: int) -> None:
        # v5 would allow [255, channel]; kubelet never sends it: the status and the
        # close frame end the session.
        return

    async def status(self, status: dict[str, Any]) -> None:
        if self.json_status:
            await self.send(ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status.get("status") != "Success":
            await self.send(ERROR, str(status.get("message", "")).encode())

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        with contextlib.suppress(ConnectionError, OSError):
            await self.conn.close(1000)


class _SpdyChannels:
    """kubelet's httpstream streams: one SPDY stream per streamType."""

    def __init__(self, session: Any, protocol: str, streams: dict[str, Any],
                 opts: StreamOptions) -> None:
        self.session = session
        self.protocol = protocol
        self.streams = streams
        self.opts = opts
        self.events = _Events()
        self._tasks = [asyncio.create_task(self._watch_session(),
                                           name="remotecommand-spdy-session")]
        if "stdin" in streams and opts.stdin:
            self._tasks.append(asyncio.create_task(self._pump("stdin", "stdin")))
        if "resize" in streams:
            self._tasks.append(asyncio.create_task(self._pump("resize", "resize")))

    async def _pump(self, stream_type: str, kind: str) -> None:
        stream = self.streams[stream_type]
        while True:
            data = await stream.read()
            if not data:
                if kind == "stdin":
                    await self.events.put("stdin-eof")
                return
            await self.events.put(kind, data)

    async def _watch_session(self) -> None:
        """Streams opened after the expected ones are refused; the session's end is the
        client going away."""
        try:
            while True:
                stream = await self.session.accept_stream()
                if stream is None:
                    break
                log.debug("remotecommand: unexpected extra stream %s", stream.headers)
                with contextlib.suppress(Exception):
                    await stream.reset()
        finally:
            self.events.gone.set()

    async def send(self, channel: int, data: bytes) -> None:
        stream = self.streams.get(_SPDY_OUTPUT_STREAMS[channel])
        if stream is not None:
            await stream.write(data)

    async def end(self, channel: int) -> None:
        stream = self.streams.get(_SPDY_OUTPUT_STREAMS[channel])
        if stream is not None:
            with contextlib.suppress(ConnectionError, OSError):
                await stream.close()

    async def status(self, status: dict[str, Any]) -> None:
        stream = self.streams.get("error")
        if stream is None:
            return
        if self.protocol == V4:
            await stream.write(json.dumps(status, separators=(",", ":")).encode())
        elif status.get("status") != "Success":
            await stream.write(str(status.get("message", "")).encode())
        await stream.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(ConnectionError, OSError):
            await self.session.close()


async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    writer.write(plain_response(status, text))
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
    writer.close()


async def _open_spdy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     head: RequestHead, opts: StreamOptions,
                     timeout: float) -> _SpdyChannels | None:
    from kubeedge.streaming.spdy import upgrade_spdy

    session, protocol = await upgrade_spdy(reader, writer, head, SPDY_PROTOCOLS)
    protocol = protocol or V1  # kubelet: no negotiation falls back to v1
    expected = {"error"}
    if opts.stdin:
        expected.add("stdin")
    if opts.stdout:
        expected.add("stdout")
    if opts.stderr:
        expected.add("stderr")
    if opts.tty and protocol in (V4, V3):
        expected.add("resize")
    streams: dict[str, Any] = {}

    async def collect() -> bool:
        while not expected <= streams.keys():
            stream = await session.accept_stream()
            if stream is None:
                return False
            kind = stream.headers.get("streamtype", "")
            if kind in ("error", "stdin", "stdout", "stderr", "resize"):
                streams[kind] = stream
            else:
                log.debug("remotecommand: unexpected stream type %r", kind)
        return True

    try:
        ok = await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        log.info("remotecommand: timed out waiting for client to create streams (%s)",
                 head.path)
        ok = False
    if not ok:
        with contextlib.suppress(ConnectionError, OSError):
            await session.close()
        return None
    if protocol == V1 and "stdin" in streams:
        # kubelet's v1 handler closes stdin at once (what 1.0 kubelets did).
        streams.pop("stdin")
    return _SpdyChannels(session, protocol, streams, opts)


# ---- the session -----------------------------------------------------------------------


def _parse_resizes(buffer: bytearray, proc: RemoteProcess) -> None:
    """Apply every complete JSON TerminalSize in `buffer` (one per WebSocket message, a
    stream of them on SPDY) and keep the incomplete rest."""
    decoder = json.JSONDecoder()
    text = buffer.decode("utf-8", errors="replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            size, pos = decoder.raw_decode(text, pos)
        except ValueError:
            if len(text) - pos > 4096:  # garbage, not a partial object
                pos = len(text)
            break
        if isinstance(size, dict):
            try:
                proc.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
            except (TypeError, ValueError, OSError) as exc:
                log.debug("remotecommand: resize %s ignored: %s", size, exc)
    del buffer[:len(text[:pos].encode("utf-8"))]


async def _pump_output(read: Callable[[], Awaitable[bytes]], channels: _Channels,
                       channel: int, wanted: bool) -> None:
    """Copy one output of the process to the client until EOF; an output the client
    did not ask for is read and dropped (the process must not block on it)."""
    while True:
        data = await read()
        if not data:
            break
        if wanted:
            await channels.send(channel, data)
    if wanted:
        await channels.end(channel)


async def _initial_size(events: _Events, held: list[tuple[str, bytes]],
                        wait: float) -> tuple[int, int] | None:
    """The first terminal size the client sends within `wait` seconds; what came before
    it (stdin) is kept in `held`, in order, for the process once it runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            kind, data = await asyncio.wait_for(events.queue.get(),
                                                max(deadline - loop.time(), 0))
        except TimeoutError:
            return None
        held.append((kind, data))
        if kind != "resize":
            continue
        try:
            size = json.loads(data)
            width, height = int(size["Width"]), int(size["Height"])
        except (ValueError, KeyError, TypeError):
            continue
        if width > 0 and height > 0:
            return width, height


async def _feed_input(proc: RemoteProcess, channels: _Channels, opts: StreamOptions,
                      held: list[tuple[str, bytes]]) -> None:
    """Deliver stdin, its EOF and resizes to the process, in the client's order."""
    resize = bytearray()
    stdin_open = opts.stdin
    while True:
        if held:
            kind, data = held.pop(0)
        else:
            kind, data = await channels.events.queue.get()
        try:
            if kind == "stdin" and stdin_open:
                await proc.write_stdin(data)
            elif kind == "stdin-eof" and stdin_open:
                stdin_open = False
                await proc.close_stdin()
            elif kind == "resize" and opts.tty:
                resize += data
                _parse_resizes(resize, proc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The process closed its stdin or ended: the rest of stdin is dropped, and
            # the session goes on until the process's end.
            log.debug("remotecommand: stdin not delivered: %s", exc)
            stdin_open = False


async def _run(proc: RemoteProcess, channels: _Channels, opts: StreamOptions,
               held: list[tuple[str, bytes]]) -> int | None:
    """Relay until the process ended and its output is drained (the exit code), or the
    client went away (None; the process is then killed, or detached from)."""

    async def finish() -> int:
        await asyncio.gather(
            _pump_output(proc.read_stdout, channels, STDOUT, opts.stdout),
            _pump_output(proc.read_stderr, channels, STDERR, opts.stderr))
        return await proc.wait()

    feeder = asyncio.create_task(_feed_input(proc, channels, opts, held),
                                 name="remotecommand-input")
    finished = asyncio.create_task(finish(), name="remotecommand-output")
    gone = asyncio.create_task(channels.events.gone.wait(), name="remotecommand-gone")
    try:
        await asyncio.wait({finished, gone}, return_when=asyncio.FIRST_COMPLETED)
        if finished.done():
            try:
                return int(finished.result())
            except (ConnectionError, OSError) as exc:
                log.debug("remotecommand: client connection lost: %s", exc)
            except Exception:
                log.exception("remotecommand: relaying the process failed")
        # The client is gone: kubelet's request context ends, and containerd kills
        # the exec process (an attach only detaches).
        with contextlib.suppress(Exception):
            await proc.kill()
        return None
    finally:
        for task in (feeder, finished, gone):
            task.cancel()
        for task in (feeder, finished, gone):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def serve_remote_command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               head: RequestHead, start: Start, *,
                               stream_creation_timeout: float = STREAM_CREATION_TIMEOUT,
                               attach: bool = False,
                               initial_size_wait: float = INITIAL_SIZE_WAIT) -> None:
    """Serve one exec (or, with `attach`, attach) request whose head was read: upgrade,
    start the process, relay, report its end. Writes a plain-text 400 for bad options
    or a request that is no upgrade. Returns once the connection is finished with."""
    try:
        opts = stream_options(head)
    except BadRequest as exc:
        await _reply(writer, 400, f"{exc}\n")
        return
    from kubeedge.streaming.websocket import accept_websocket, is_websocket_request

    channels: _Channels | None
    try:
        if is_websocket_request(head):
            conn = await accept_websocket(reader, writer, head, WEBSOCKET_PROTOCOLS)
            ws = _WebSocketChannels(conn, opts)
            # kubelet: an empty message on the lowest channel the client reads, so it
            # knows the session is established.
            first = STDOUT if opts.stdout else STDERR if opts.stderr else ERROR
            await ws.send(first, b"")
            channels = ws
        elif (head.header("Upgrade") or "").strip().lower().startswith("spdy/"):
            channels = await _open_spdy(reader, writer, head, opts, stream_creation_timeout)
        else:
            await _reply(writer, 400, "Upgrade request required\n")
            return
    except BadRequest:
        writer.close()  # the 400 went out already
        return
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        writer.close()
        return
    if channels is None:
        writer.close()
        return
    try:
        held: list[tuple[str, bytes]] = []
        if opts.tty and initial_size_wait > 0:
            size = await _initial_size(channels.events, held, initial_size_wait)
            if size is not None:
                opts = dataclasses.replace(opts, size=size)
        try:
            proc = await start(opts)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            verb = "error attaching to container" if attach else \
                "error executing command in container"
            log.info("remotecommand: %s: %s", verb, exc)
            await channels.status(internal_error_status(f"{verb}: {exc}"))
            return
        code = await _run(proc, channels, opts, held)
        if code is None:
            return  # nobody to tell
        if code == 0 or attach:
            await channels.status(success_status())
        else:
            await channels.status(exit_status(code, list(head.query.get("command", []))))
    except (ConnectionError, OSError) as exc:
        log.debug("remotecommand: client connection lost: %s", exc)
    finally:
        await channels.close()
