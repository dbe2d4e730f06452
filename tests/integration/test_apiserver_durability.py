"""Acknowledged means durable, across `kill -9` of the API server process (issue:
embedded control plane, Storage "Must show")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.cluster import Cloud, eventually, free_port, keadm, start_cloud


def _pid(cloud: Cloud) -> int:
    return int((cloud.root / "var/run/kubeedge/apiserver.pid").read_text())


def _restart(cloud: Cloud) -> None:
    keadm("init", "--root", str(cloud.root), "--advertise-address", "127.0.0.1",
          "--bind-address", "127.0.0.1", "--apiserver-port", str(cloud.port))


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """A control plane of this test's own: these tests kill it."""
    c = start_cloud(tmp_path)
    yield c
    c.stop()


async def test_kill_9_during_concurrent_creates_loses_no_acknowledged_object(cloud: Cloud) -> None:
    acknowledged: dict[str, int] = {}
    pid = _pid(cloud)
    total = 1000

    async def create(session: aiohttp.ClientSession, i: int) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
                "data": {"i": str(i)}}
        try:
            async with session.post("/api/v1/namespaces/default/configmaps", json=body) as resp:
                if resp.status == 201:
                    data = await resp.json()
                    acknowledged[data["metadata"]["name"]] = int(
                        data["metadata"]["resourceVersion"])
                    if len(acknowledged) == total // 3:
                        os.kill(pid, signal.SIGKILL)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            pass  # unacknowledged: the server died under it

    async with cloud.session() as session:
        await asyncio.gather(*(create(session, i) for i in range(total)))
    assert total // 3 <= len(acknowledged) < total
    highest = max(acknowledged.values())

    _restart(cloud)
    async with cloud.session() as session, session.get(
        "/api/v1/namespaces/default/configmaps"
    ) as resp:
        listing = await resp.json()
    stored = {item["metadata"]["name"]: item for item in listing["items"]}
    missing = sorted(set(acknowledged) - set(stored))
    assert not missing, f"acknowledged but lost: {missing[:10]}"
    for name, rv in acknowledged.items():
        assert int(stored[name]["metadata"]["resourceVersion"]) == rv
        assert stored[name]["data"]["i"] == name.removeprefix("cm-")
    assert int(listing["metadata"]["resourceVersion"]) >= highest
    # The revision never goes back: the next write lands above everything acknowledged.
    async with cloud.session() as session, session.post("/api/v1/namespaces/default/configmaps",
                            json={"metadata": {"name": "after"}}) as resp:
        assert resp.status == 201
        assert int((await resp.json())["metadata"]["resourceVersion"]) > highest


async def _watch_lines(session: aiohttp.ClientSession, rv: str, stop_after: int,
                       timeout: int = 20) -> list[dict]:
    events: list[dict] = []
    async with session.get(
        "/api/v1/namespaces/default/configmaps",
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": str(timeout)},
    ) as resp:
        if resp.status != 200:
            return [{"type": "HTTP", "object": await resp.json()}]
        async for line in resp.content:
            if line.strip():
                events.append(json.loads(line))
                if len(events) >= stop_after or events[-1]["type"] == "ERROR":
                    break
    return events


async def test_watch_resumed_after_restart_gets_each_later_event_once(cloud: Cloud) -> None:
    async with cloud.session() as session:
        async with session.get("/api/v1/namespaces/default/configmaps") as resp:
            start_rv = (await resp.json())["metadata"]["resourceVersion"]
        for i in range(3):
            async with session.post("/api/v1/namespaces/default/configmaps",
                                    json={"metadata": {"name": f"before-{i}"}}) as resp:
                assert resp.status == 201
        seen = await _watch_lines(session, start_rv, stop_after=3)
    assert [e["object"]["metadata"]["name"] for e in seen] == ["before-0", "before-1", "before-2"]
    resume_rv = seen[-1]["object"]["metadata"]["resourceVersion"]

    os.kill(_pid(cloud), signal.SIGKILL)
    _restart(cloud)
    async with cloud.session() as session:
        for i in range(3):
            async with session.post("/api/v1/namespaces/default/configmaps",
                                    json={"metadata": {"name": f"after-{i}"}}) as resp:
                assert resp.status == 201
        async with session.delete("/api/v1/namespaces/default/configmaps/before-0") as resp:
            assert resp.status == 200
        resumed = await _watch_lines(session, resume_rv, stop_after=4)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in resumed] == [
        ("ADDED", "after-0"), ("ADDED", "after-1"), ("ADDED", "after-2"),
        ("DELETED", "before-0"),
    ]
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in resumed]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def test_watch_from_a_compacted_revision_is_410(cloud: Cloud) -> None:
    cloud.restart_with(storage__compaction_interval_seconds=0.2,
                       storage__compaction_retain_revisions=5)
    async with cloud.session() as session:
        for i in range(20):
            async with session.post("/api/v1/namespaces/default/configmaps",
                                    json={"metadata": {"name": f"c{i}"}}) as resp:
                assert resp.status == 201

        async def expired() -> list[dict]:
            events = await _watch_lines(session, "2", stop_after=1, timeout=1)
            return events if events and events[0]["type"] == "ERROR" else []

        events = await eventually(expired, what="a watch from revision 2 to answer 410")
        status = events[0]["object"]
        assert status["code"] == 410 and status["reason"] == "Expired"


def test_two_control_planes_run_side_by_side(tmp_path: Path) -> None:
    first = start_cloud(tmp_path / "a")
    second = start_cloud(tmp_path / "b", port=free_port())
    try:
        first.kubectl("create", "configmap", "only-in-a")
        assert first.kubectl("get", "configmap", "only-in-a", check=False).returncode == 0
        assert second.kubectl("get", "configmap", "only-in-a", check=False).returncode == 1
    finally:
        first.stop()
        second.stop()
