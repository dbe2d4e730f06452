"""Watches end with their clients: no store watcher outlives an abandoned watch.

In process, so the store's own watcher set can be observed; the server is still the
real one, over HTTPS on a free port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeedge.apiserver import handlers
from kubeedge.apiserver.server import APIServer
from kubeedge.cloud import setup
from tests.fixtures.cluster import Cloud, eventually


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cloud]:
    # Idle watches look at their connection this often (the default is 5 s).
    monkeypatch.setattr(handlers, "CLIENT_CHECK_SECONDS", 0.1)
    config = setup.config_for(str(tmp_path / "root"), port=0, bind_address="127.0.0.1")
    setup.prepare(config, [])
    api = APIServer(config)
    await api.start()
    # The admin kubeconfig names the configured port; point a Cloud at the real one.
    cloud = Cloud(root=tmp_path / "root", port=api.port, home=tmp_path)
    cloud.api = api  # type: ignore[attr-defined]
    try:
        yield cloud
    finally:
        await api.stop()


async def test_abandoned_watches_release_their_store_watchers(server: Cloud) -> None:
    api: APIServer = server.api  # type: ignore[attr-defined]
    store = api.store
    before = len(store._watchers)  # type: ignore[attr-defined]
    sessions = [server.session() for _ in range(10)]
    responses = [await s.get("/api/v1/configmaps", params={"watch": "true"})
                 for s in sessions]
    assert all(r.status == 200 for r in responses)

    async def opened() -> bool:
        return len(store._watchers) >= before + 10  # type: ignore[attr-defined]

    await eventually(opened, what="ten store watchers")
    for response, session in zip(responses, sessions, strict=True):
        response.close()
        await session.close()

    async def released() -> bool:
        return len(store._watchers) <= before  # type: ignore[attr-defined]

    await eventually(released, timeout=10, what="abandoned watches to release the store")
