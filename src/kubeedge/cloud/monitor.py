"""cloudcore's monitor server: Prometheus metrics on `commonConfig.monitorServer`
(KubeEdge's 127.0.0.1:9091, path /metrics), gathered from the modules when scraped
(monitoring.py)."""

from __future__ import annotations

import logging

from aiohttp import web

from kubeedge.cloud.listen import start_site
from kubeedge.config.checks import split_host_port
from kubeedge.monitoring import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)


class MonitorServer:
    def __init__(self, metrics: Metrics, bind_address: str) -> None:
        self.metrics = metrics
        self.host, self.port = split_host_port("commonConfig.monitorServer.bindAddress",
                                               bind_address)
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.port = await start_site(runner, self.host, self.port)
        self._runner = runner
        log.info("cloudcore metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")
