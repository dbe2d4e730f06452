"""The remote command protocol over real sockets, with a real subprocess behind the
handle: WebSocket v5/v4/base64/channel.k8s.io and SPDY v4, as kubelet serves them
(k8s-api.md §6; kubelet pkg/kubelet/cri/streaming/remotecommand)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from collections.abc import Sequence

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kubeedge.streaming.http import read_request_head, read_response_head, request_head
from kubeedge.streaming.remotecommand import StreamOptions, serve_remote_command
from tests.fixtures.cluster import eventually


class Subprocess:
    """A RemoteProcess over a real child process (pipes, no TTY)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.resizes: list[tuple[int, int]] = []
        self.killed = asyncio.Event()
        self.stdin_closed = asyncio.Event()

    @classmethod
    async def start(cls, argv: Sequence[str], opts: StreamOptions) -> Subprocess:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if opts.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        return cls(proc)

    async def write_stdin(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.stdin_closed.set()

    async def read_stdout(self) -> bytes:
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(65536)

    async def read_stderr(self) -> bytes:
        assert self.proc.stderr is not None
        return await self.proc.stderr.read(65536)

    def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        rc = await self.proc.wait()
        return 128 - rc if rc < 0 else rc

    async def kill(self) -> None:
        self.killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()


class Exec:
    """A server whose `start` runs the request's `command` as a subprocess."""

    def __init__(self, *, timeout: float = 30.0, fail: str = "") -> None:
        self.started: list[Subprocess] = []
        self.options: list[StreamOptions] = []
        self.timeout = timeout
        self.fail = fail
        self.done = asyncio.Event()

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)

        async def start(opts: StreamOptions) -> Subprocess:
            self.options.append(opts)
            if self.fail:
                raise RuntimeError(self.fail)
            proc = await Subprocess.start(head.query["command"], opts)
            self.started.append(proc)
            return proc

        try:
            await serve_remote_command(reader, writer, head, start,
                                       stream_creation_timeout=self.timeout)
        finally:
            self.done.set()


class Client:
    """The real `websockets` client, with recv() giving None once closed (text messages
    as UTF-8 bytes)."""

    def __init__(self, ws: object) -> None:
        self.ws = ws
        self.subprotocol = ws.subprotocol  # type: ignore[attr-defined]

    async def recv(self) -> bytes | None:
        try:
            data = await self.ws.recv()  # type: ignore[attr-defined]
        except ConnectionClosed:
            return None
        return data.encode() if isinstance(data, str) else data

    async def send(self, data: bytes) -> None:
        await self.ws.send(data)  # type: ignore[attr-defined]

    async def send_text(self, data: str) -> None:
        await self.ws.send(data)  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.ws.close()  # type: ignore[attr-defined]


async def connect_websocket(host: str, port: int, target: str,
                            subprotocols: Sequence[str]) -> Client:
    ws = await connect(f"ws://{host}:{port}{target}", subprotocols=list(subprotocols),
                       max_size=None, ping_interval=None)
    return Client(ws)


def _target(command: Sequence[str], **flags: str) -> str:
    from urllib.parse import urlencode

    return "/exec/default/web/c?" + urlencode(
        [("command", c) for c in command] + list(flags.items()))


async def _collect(ws: Client) -> dict[int, bytes]:
    """Every channel's bytes until the server closes (binary framing)."""
    out: dict[int, bytes] = {}
    while (message := await ws.recv()) is not None:
        out[message[0]] = out.get(message[0], b"") + message[1:]
    return out


async def test_v5_exit_code_and_output(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["sh", "-c", "echo hi; echo oops >&2; exit 3"],
                                         output="1", error="1"), ["v5.channel.k8s.io"])
    assert ws.subprotocol == "v5.channel.k8s.io"
    # kubelet's first message: an empty one on the lowest channel the client reads.
    assert await ws.recv() == b"\x01"
    got = await _collect(ws)
    assert got[1] == b"hi\n"
    assert got[2] == b"oops\n"
    assert json.loads(got[3]) == {
        "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[sh -c echo hi; echo oops >&2; exit 3], exit code 3",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert server.options == [StreamOptions(stdin=False, stdout=True, stderr=True, tty=False)]


async def test_v5_stdin_close_channel_is_eof(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["cat"], input="1", output="1", error="1"),
                                 ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert await ws.recv() == b"\x01"
    await ws.send(b"\x00x\n")
    assert await ws.recv() == b"\x01x\n"
    await ws.send(b"\x00" + b"y" * 100_000)
    await ws.send(bytes([255, 0]))  # v5: the client closed stdin
    got = await _collect(ws)
    assert got[1] == b"y" * 100_000
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}
    assert server.started[0].stdin_closed.is_set()


async def test_v4_status_json_and_api_style_flags(serve) -> None:
    # The Python client speaks v4 and, through an API server that passes them on,
    # stdout=True/stderr=True; no close channel: the process ends by itself.
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["sh", "-c", "echo out; echo err >&2"],
                                         stdout="True", stderr="True", stdin="False"),
                                 ["v4.channel.k8s.io"])
    assert ws.subprotocol == "v4.channel.k8s.io"
    got = await _collect(ws)
    assert got[1] == b"out\n" and got[2] == b"err\n"
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}


async def test_v4_base64_framing(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["sh", "-c", "head -c 3; exit 1"], input="1",
                                         output="1"), ["v4.base64.channel.k8s.io"])
    await ws.send_text("0" + base64.b64encode(b"abc").decode())
    messages = []
    while (m := await ws.recv()) is not None:
        messages.append(m.decode())
    assert messages[0] == "1"  # the empty notice, base64 of nothing
    out = b"".join(base64.b64decode(m[1:]) for m in messages if m[0] == "1")
    assert out == b"abc"
    status = json.loads(base64.b64decode(next(m[1:] for m in messages if m[0] == "3")))
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "1"}]


async def test_v1_channel_protocol_writes_only_failure_text(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port, _target(["sh", "-c", "exit 2"],
                                                            output="1"), ["channel.k8s.io"])
    got = await _collect(ws)
    assert got[3] == (b"command terminated with non-zero exit code: error executing "
                      b"command [sh -c exit 2], exit code 2")
    ws = await connect_websocket("127.0.0.1", port, _target(["true"], output="1"),
                                 ["channel.k8s.io"])
    assert 3 not in await _collect(ws)  # Success is silent before v4


async def test_tty_drops_stderr_and_applies_resizes(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["cat"], input="1", output="1", error="1",
                                         tty="1"), ["v5.channel.k8s.io"])
    assert await ws.recv() == b"\x01"
    await ws.send(b'\x04{"Width":120,"Height":40}')
    await ws.send(b'\x04{"Width":80,')  # split across messages, as a SPDY stream may be
    await ws.send(b'\x04"Height":24}\n')
    await ws.send(b"\x00ping\n")
    assert await ws.recv() == b"\x01ping\n"
    await ws.send(bytes([255, 0]))
    await _collect(ws)
    assert server.options[0] == StreamOptions(stdin=True, stdout=True, stderr=False, tty=True,
                                                size=(120, 40))
    assert server.started[0].resizes == [(120, 40), (80, 24)]


async def test_start_failure_is_an_internal_error(serve) -> None:
    server = Exec(fail='exec: "nope": executable file not found in $PATH')
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port, _target(["nope"], output="1"),
                                 ["v5.channel.k8s.io"])
    status = json.loads((await _collect(ws))[3])
    text = ('error executing command in container: exec: "nope": executable file not '
            'found in $PATH')
    assert status == {"metadata": {}, "status": "Failure",
                      "message": f"Internal error occurred: {text}",
                      "reason": "InternalError", "details": {"causes": [{"message": text}]},
                      "code": 500}


async def test_client_leaving_kills_the_process(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    ws = await connect_websocket("127.0.0.1", port, _target(["sleep", "1000"], output="1"),
                                 ["v5.channel.k8s.io"])
    assert await ws.recv() == b"\x01"
    await eventually(lambda: server.started, what="process started")
    await ws.close()
    await asyncio.wait_for(server.done.wait(), 10)
    assert server.started[0].killed.is_set()
    assert server.started[0].proc.returncode is not None


async def test_no_stream_requested_is_400_before_upgrade(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    with pytest.raises(InvalidStatus) as caught:
        await connect_websocket("127.0.0.1", port, _target(["true"]), ["v5.channel.k8s.io"])
    assert caught.value.response.status_code == 400
    assert b"you must specify at least 1 of stdin, stdout, stderr" in \
        caught.value.response.body
    assert server.started == []


async def test_plain_request_without_upgrade_is_400(serve) -> None:
    server = Exec()
    port = await serve(server.handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("GET", _target(["true"], output="1"), [("Host", "x")]))
    status, _, _ = await read_response_head(reader)
    assert status == 400
    writer.close()


async def test_slow_client_pauses_the_process(serve) -> None:
    # 64 MiB of output and a client that reads nothing yet: the server must not buffer
    # it all (bounded pumps), so the writer is still blocked when we start reading,
    # and everything arrives in order once we do.
    server = Exec()
    port = await serve(server.handler)
    size = 64 << 20
    ws = await connect_websocket("127.0.0.1", port,
                                 _target(["head", "-c", str(size), "/dev/zero"], output="1"),
                                 ["v5.channel.k8s.io"])
    await eventually(lambda: server.started, what="process started")
    proc = server.started[0].proc
    # The child fills its pipe and the socket buffers, then blocks in write(): it has
    # not exited while nothing is read (it would within milliseconds otherwise).
    await eventually(lambda: _blocked_in_write(proc.pid), timeout=10,
                     what="the child blocked on its full pipe")
    assert proc.returncode is None
    received = 0
    while (m := await ws.recv()) is not None:
        if m[0] == 1:
            received += len(m) - 1
    assert received == size


def _blocked_in_write(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state == "S" and ("pipe" in wchan or wchan in ("0", ""))


# ---- SPDY -------------------------------------------------------------------------------

KUBECTL_SPDY_VERSIONS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
                         "v2.channel.k8s.io", "channel.k8s.io"]


async def _read_all(stream: object) -> bytes:
    out = b""
    while data := await stream.read():  # type: ignore[attr-defined]
        out += data
    return out


async def test_spdy_v4_streams_exit_code_and_stdin(serve) -> None:
    from kubeedge.streaming.spdy import connect_spdy

    server = Exec()
    port = await serve(server.handler)
    # kubectl's fallback offers v5 first; kubelet's SPDY side knows v4 at most.
    session, chosen = await connect_spdy(
        "127.0.0.1", port, _target(["sh", "-c", "cat; echo err >&2; exit 7"], input="1",
                                   output="1", error="1"), KUBECTL_SPDY_VERSIONS)
    assert chosen == "v4.channel.k8s.io"
    # As client-go's v4 protocol: error, stdin, stdout, stderr (header names in any case).
    error = await session.open_stream({"streamType": "error"})
    stdin = await session.open_stream({"streamType": "stdin"})
    stdout = await session.open_stream({"streamType": "stdout"})
    stderr = await session.open_stream({"streamType": "stderr"})
    await stdin.write(b"abc\n")
    await stdin.close()
    out, err, status = await asyncio.gather(_read_all(stdout), _read_all(stderr),
                                            _read_all(error))
    assert (out, err) == (b"abc\n", b"err\n")
    assert json.loads(status)["details"]["causes"] == [{"reason": "ExitCode",
                                                        "message": "7"}]
    await session.close()


async def test_spdy_v2_writes_failure_text_only(serve) -> None:
    from kubeedge.streaming.spdy import connect_spdy

    server = Exec()
    port = await serve(server.handler)
    session, chosen = await connect_spdy("127.0.0.1", port,
                                         _target(["sh", "-c", "exit 4"], output="1"),
                                         ["v2.channel.k8s.io"])
    assert chosen == "v2.channel.k8s.io"
    error = await session.open_stream({"streamType": "error"})
    stdout = await session.open_stream({"streamType": "stdout"})
    assert await _read_all(stdout) == b""
    assert await _read_all(error) == (b"command terminated with non-zero exit code: error "
                                      b"executing command [sh -c exit 4], exit code 4")
    await session.close()


async def test_spdy_tty_resize_stream(serve) -> None:
    from kubeedge.streaming.spdy import connect_spdy

    server = Exec()
    port = await serve(server.handler)
    session, _ = await connect_spdy("127.0.0.1", port,
                                    _target(["cat"], input="1", output="1", tty="1"),
                                    ["v4.channel.k8s.io"])
    error = await session.open_stream({"streamType": "error"})
    stdin = await session.open_stream({"streamType": "stdin"})
    stdout = await session.open_stream({"streamType": "stdout"})
    resize = await session.open_stream({"streamType": "resize"})
    # client-go's json.Encoder: one object per line, possibly split across frames.
    await resize.write(b'{"Width":100,"Height":30}\n{"Width":')
    await resize.write(b'50,"Height":20}\n')
    await eventually(lambda: server.started and len(server.started[0].resizes) == 2,
                     what="both resizes applied")
    await stdin.write(b"q\n")
    await stdin.close()
    assert await _read_all(stdout) == b"q\n"
    assert json.loads(await _read_all(error))["status"] == "Success"
    assert server.started[0].resizes == [(100, 30), (50, 20)]
    await session.close()


async def test_spdy_missing_streams_time_out(serve) -> None:
    # kubelet's streamCreationTimeout: a client that never opens its stdout stream is
    # dropped, and nothing is started.
    from kubeedge.streaming.spdy import connect_spdy

    server = Exec(timeout=0.3)
    port = await serve(server.handler)
    session, _ = await connect_spdy("127.0.0.1", port, _target(["true"], output="1"),
                                    ["v4.channel.k8s.io"])
    await session.open_stream({"streamType": "error"})
    await asyncio.wait_for(server.done.wait(), 10)
    await asyncio.wait_for(session.wait_closed(), 10)
    assert server.options == [] and server.started == []


async def test_spdy_client_leaving_kills_the_process(serve) -> None:
    from kubeedge.streaming.spdy import connect_spdy

    server = Exec()
    port = await serve(server.handler)
    session, _ = await connect_spdy("127.0.0.1", port,
                                    _target(["sleep", "1000"], output="1"),
                                    ["v4.channel.k8s.io"])
    await session.open_stream({"streamType": "error"})
    await session.open_stream({"streamType": "stdout"})
    await eventually(lambda: server.started, what="process started")
    await session.close()
    await asyncio.wait_for(server.done.wait(), 10)
    assert server.started[0].killed.is_set()
