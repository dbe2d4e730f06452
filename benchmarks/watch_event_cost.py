"""What one watch event costs the API server, per watcher, piece by piece.

    .venv/bin/python benchmarks/watch_event_cost.py

The API server's watch handler (`ResourceHandlers.watch`) does, for every event and every
watcher: decode the stored value and encode the event line (orjson), wait for the next
change with `asyncio.wait` on a fresh Task and a timer, and write the line to the
response, one TLS record and one `send()` each. This measures those pieces alone on
loopback TLS, beside the cheaper shapes (a batch of lines in one write, an event encoded
once for all watchers, an await without a Task), so the ratios say what each change
would save. Runs in about 10 s; prints microseconds per event and ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

EVENTS = 5000
BATCH = 50
RUNS = 5
CONFIGMAP = orjson.dumps({
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "cm-00001", "namespace": "bench-watch-0", "labels": {"app": "bench"},
                 "uid": "0f4a6a8e-6c43-4f55-9d55-0f0b8d1c2e3f",
                 "creationTimestamp": "2026-01-01T00:00:00Z"},
    "data": {"setting": "value", "payload": "x" * 64},
})


def median_us(fn: object, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) / EVENTS * 1e6)
    return statistics.median(samples)


def codec_costs() -> dict[str, float]:
    def per_watcher() -> None:  # what each watcher does today
        for i in range(EVENTS):
            obj = orjson.loads(CONFIGMAP)
            obj["metadata"]["resourceVersion"] = str(i)
            orjson.dumps({"type": "ADDED", "object": obj})

    line = orjson.dumps({"type": "ADDED", "object": orjson.loads(CONFIGMAP)}) + b"\n"

    def shared() -> None:  # the line encoded once elsewhere; each watcher copies bytes
        out = bytearray()
        for _ in range(EVENTS):
            out += line

    return {"decode+encode per watcher": median_us(per_watcher),
            "encoded once, copied per watcher": median_us(shared)}


async def wait_costs() -> dict[str, float]:
    """The handler's wake-up: asyncio.wait on a new Task per event, vs a plain await."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    stopping = asyncio.ensure_future(asyncio.Event().wait())

    async def changes():  # type: ignore[no-untyped-def]
        while True:
            yield await queue.get()

    async def with_wait() -> float:
        for i in range(EVENTS):
            queue.put_nowait(i)
        stream = changes()
        start = time.perf_counter()
        for _ in range(EVENTS):
            pending = asyncio.ensure_future(stream.__anext__())
            await asyncio.wait({pending, stopping}, timeout=5.0,
                               return_when=asyncio.FIRST_COMPLETED)
            pending.result()
        return (time.perf_counter() - start) / EVENTS * 1e6

    async def plain() -> float:
        for i in range(EVENTS):
            queue.put_nowait(i)
        stream = changes()
        start = time.perf_counter()
        for _ in range(EVENTS):
            await stream.__anext__()
        return (time.perf_counter() - start) / EVENTS * 1e6

    result = {"asyncio.wait + Task per event": statistics.median(
                  [await with_wait() for _ in range(RUNS)]),
              "plain await per event": statistics.median([await plain() for _ in range(RUNS)])}
    stopping.cancel()
    return result


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    (directory / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "c.pem", directory / "k.pem")
    client = ssl.create_default_context(cafile=str(directory / "c.pem"))
    return server, client


async def tls_write_costs() -> dict[str, float]:
    """Server-side time in write() per event: one TLS record per event, or per batch."""
    line = orjson.dumps({"type": "ADDED", "object": orjson.loads(CONFIGMAP)}) + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        server_ctx, client_ctx = tls_contexts(Path(tmp))
        writers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

        async def on_connect(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await writers.put(w)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, client_writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
        writer = await writers.get()
        total = len(line) * EVENTS

        async def drain_reader() -> None:
            got = 0
            while got < total:
                got += len(await reader.read(1 << 20))

        async def timed(batch: int) -> float:
            consumer = asyncio.create_task(drain_reader())
            spent = 0.0
            chunk = line * batch
            for _ in range(EVENTS // batch):
                start = time.perf_counter()
                writer.write(chunk)
                spent += time.perf_counter() - start
                await writer.drain()  # let the reader run, as a real peer would
            await consumer
            return spent / EVENTS * 1e6

        result = {
            "TLS write per event": statistics.median([await timed(1) for _ in range(RUNS)]),
            f"TLS write per {BATCH} events": statistics.median(
                [await timed(BATCH) for _ in range(RUNS)]),
        }
        for w in (writer, client_writer):
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
        server.close()
        await server.wait_closed()
        return result


def main() -> int:
    costs = codec_costs()
    costs.update(asyncio.run(wait_costs()))
    costs.update(asyncio.run(tls_write_costs()))
    print(f"cost of one watch event for one watcher, microseconds (median of {RUNS} runs of "
          f"{EVENTS:,} events; Python {sys.version.split()[0]})")
    for name, value in costs.items():
        print(f"  {name:<36} {value:8.2f} us")
    pairs = [("decode+encode per watcher", "encoded once, copied per watcher"),
             ("asyncio.wait + Task per event", "plain await per event"),
             ("TLS write per event", f"TLS write per {BATCH} events")]
    print("ratios (today's shape / the cheaper shape):")
    for today, cheaper in pairs:
        print(f"  {today} / {cheaper}: {costs[today] / costs[cheaper]:.1f}x")
    today = sum(costs[a] for a, _ in pairs)
    cheaper = sum(costs[b] for _, b in pairs)
    print(f"these pieces together: {today:.1f} us today, {cheaper:.1f} us batched and shared "
          f"({1e6 / today:,.0f} vs {1e6 / cheaper:,.0f} events/s on one core, before HTTP "
          "framing and the store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
