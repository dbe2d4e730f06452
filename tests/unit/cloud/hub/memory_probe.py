"""Memory per idle CloudHub connection (ARCHITECTURE.md rule 9 footnote): not a test.

    .venv/bin/python -m tests.unit.cloud.hub.memory_probe [connections] [--default-buffer]

Runs a CloudHub (real TLS, its own CA) in a child process, opens `connections` (500 by
default) mutual-TLS WebSocket clients from this process, each sending one keepalive,
and prints the child's resident memory before and after, per connection, in KiB.
`--default-buffer` keeps asyncio's 256 KiB TLS read buffer to show what lowering it saves;
`--tls-buffer=N` tries another size.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import ssl
import sys
import tempfile
from pathlib import Path

import aiohttp
import psutil

from kubeedge.cloud.certs.edge_ca import EdgeCertificates, create_kubeedge_ca, issue_cloudcore_cert
from kubeedge.cloud.hub import server as hub_server
from kubeedge.config.cloudcore import CloudHub as CloudHubConfig
from kubeedge.config.cloudcore import CloudHubWebSocket
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.codec import encode_message
from kubeedge.messaging.message import build_message


def _serve(ca_pem: bytes, ca_key_pem: bytes, port_q: multiprocessing.Queue,
           tls_buffer: int, connections: int) -> None:
    from kubeedge.cloud.certs.authority import CertificateAuthority

    if tls_buffer:
        hub_server.TLS_READ_BUFFER = tls_buffer

    async def main() -> None:
        ca = CertificateAuthority.from_pem(ca_pem, ca_key_pem)
        certs = EdgeCertificates(ca, issue_cloudcore_cert(ca, ["127.0.0.1"]))
        config = CloudHubConfig(websocket=CloudHubWebSocket(address="127.0.0.1", port=0),
                                advertise_address=["127.0.0.1"], node_limit=connections + 10,
                                keepalive_interval=3600)
        hub = hub_server.CloudHub(ModuleBus(), config, certs)
        await hub.start()
        port_q.put(hub.port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def _clients(port: int, ctxs: list[ssl.SSLContext], server: psutil.Process) -> None:
    gc.collect()
    await asyncio.sleep(1.0)
    before = server.memory_info().rss
    sessions, sockets = [], []
    for i, ctx in enumerate(ctxs):
        session = aiohttp.ClientSession()
        sessions.append(session)
        ws = await session.ws_connect(
            f"wss://127.0.0.1:{port}/p/edge-{i}/events", ssl=ctx,
            headers={"node_id": f"edge-{i}", "project_id": "p"})
        await ws.send_str(encode_message(build_message(
            "resource", "", "websocket", "node", "keepalive", "ping")).decode())
        sockets.append(ws)
    await asyncio.sleep(2.0)
    after = server.memory_info().rss
    n = len(ctxs)
    print(f"connections: {n}")
    print(f"server RSS before: {before / 1024:.0f} KiB, after: {after / 1024:.0f} KiB")
    print(f"per idle connection: {(after - before) / 1024 / n:.1f} KiB")
    for ws in sockets:
        await ws.close()
    for session in sessions:
        await session.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    connections = int(args[0]) if args else 500
    # 0 keeps the module's TLS_READ_BUFFER; --default-buffer keeps asyncio's 256 KiB.
    tls_buffer = 256 * 1024 if "--default-buffer" in sys.argv else 0
    for arg in sys.argv[1:]:
        if arg.startswith("--tls-buffer="):
            tls_buffer = int(arg.split("=", 1)[1])
    ca = create_kubeedge_ca()
    ctxs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(connections):
            pair = ca.issue_client_cert(f"system:node:edge-{i}", ["system:nodes"])
            crt, key = Path(tmp) / f"{i}.crt", Path(tmp) / f"{i}.key"
            pair.write(crt, key)
            ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
            ctx.load_cert_chain(crt, key)
            ctxs.append(ctx)
    spawn = multiprocessing.get_context("spawn")
    port_q: multiprocessing.Queue = spawn.Queue()
    child = spawn.Process(
        target=_serve, args=(ca.cert_pem, ca.key_pem, port_q, tls_buffer, connections),
        daemon=True)
    child.start()
    try:
        port = port_q.get(timeout=30)
        asyncio.run(_clients(port, ctxs, psutil.Process(child.pid)))
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
