"""Starting cloudcore's aiohttp listeners (certificate service, CloudHub, CloudStream's
tunnel server, the monitor server) the one way they all start."""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web


async def start_site(runner: web.BaseRunner, host: str, port: int, *,
                     ssl_context: ssl.SSLContext | None = None, **site: Any) -> int:
    """Set `runner` up and listen on `host:port` (port 0 picks one); returns the bound
    port. A site that fails to start cleans the runner up before the error goes on."""
    await runner.setup()
    tcp = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True,
                      **site)
    try:
        await tcp.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return int(addresses[0][1]) if addresses else port
