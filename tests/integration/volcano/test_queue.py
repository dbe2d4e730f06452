"""The queue controller against the real API server: default queues, state through
bus.volcano.sh Commands, PodGroup counts (specs/volcano.md §1.2)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.queue import QueueController
from kubeedge.controllers.volcano_crds import COMMANDS, PODGROUPS, QUEUES
from tests.fixtures.cluster import eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.usefixtures("crds")

EVENTS = Resource.of("v1", "events")


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[QueueController]:
    async with running(api, lambda f: QueueController(api, f)) as [queue]:
        assert isinstance(queue, QueueController)
        yield queue


@pytest.fixture
async def queue(api: APIClient) -> AsyncIterator[str]:
    """A fresh Queue, deleted afterwards (queues are cluster-wide)."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    await api.create(QUEUES, {"metadata": {"name": name}, "spec": {"weight": 2}})
    yield name
    try:
        await api.delete(QUEUES, name)
    except APIError as exc:
        if not exc.is_not_found:
            raise


async def _status(api: APIClient, name: str) -> dict[str, Any]:
    try:
        return (await api.get(QUEUES, name)).get("status") or {}
    except APIError as exc:
        if exc.is_not_found:
            return {}
        raise


async def _state_is(api: APIClient, name: str, state: str) -> bool:
    return (await _status(api, name)).get("state") == state


async def _podgroup(api: APIClient, ns: str, name: str, queue: str, phase: str = "") -> None:
    pg = await api.create(PODGROUPS, {"metadata": {"name": name},
                                      "spec": {"minMember": 1, "queue": queue}}, ns)
    if phase:
        pg["status"] = {"phase": phase}
        await api.update_status(PODGROUPS, pg)


async def _command(api: APIClient, ns: str, queue: str, action: str) -> str:
    q = await api.get(QUEUES, queue)
    cmd = await api.create(COMMANDS, {
        "metadata": {"generateName": f"{queue}-{action.lower()}-"},
        "action": action,
        "target": {"apiVersion": QUEUES.api_version, "kind": "Queue", "name": queue,
                   "uid": q["metadata"]["uid"], "controller": True},
    }, ns)
    return str(cmd["metadata"]["name"])


async def _gone(api: APIClient, ref: Any, name: str, ns: str | None = None) -> bool:
    try:
        await api.get(ref, name, ns)
    except APIError as exc:
        return exc.is_not_found
    return False


async def test_root_and_default_queues_exist_and_are_open(
        api: APIClient, controller: QueueController) -> None:
    for name, reclaimable in (("root", False), ("default", True)):
        await eventually(lambda n=name: _state_is(api, n, "Open"), what=f"{name} Open")
        q = await api.get(QUEUES, name)
        assert q["spec"]["weight"] == 1
        assert q["spec"]["reclaimable"] is reclaimable


async def test_new_queue_is_open_and_counts_podgroups_by_phase(
        api: APIClient, ns: str, queue: str, controller: QueueController) -> None:
    await eventually(lambda: _state_is(api, queue, "Open"), what="queue Open")
    await _podgroup(api, ns, "a", queue)
    await _podgroup(api, ns, "b", queue, "Inqueue")
    await _podgroup(api, ns, "c", queue, "Running")
    await _podgroup(api, ns, "d", queue, "Running")
    await _podgroup(api, ns, "e", queue, "Completed")
    await _podgroup(api, ns, "f", queue, "Unknown")
    want = {"state": "Open", "pending": 1, "inqueue": 1, "running": 2, "completed": 1,
            "unknown": 1}

    async def counted() -> bool:
        status = await _status(api, queue)
        return all(status.get(k) == v for k, v in want.items())

    await eventually(counted, what=f"counts {want}")
    await api.delete(PODGROUPS, "c", ns)
    want["running"] = 1
    await eventually(counted, what="count after a PodGroup is deleted")


async def test_close_with_podgroups_is_closing_until_they_go(
        api: APIClient, ns: str, queue: str, controller: QueueController) -> None:
    await _podgroup(api, ns, "pg", queue, "Running")
    await eventually(lambda: _state_is(api, queue, "Open"), what="queue Open")
    cmd = await _command(api, ns, queue, "CloseQueue")
    await eventually(lambda: _state_is(api, queue, "Closing"), what="queue Closing")
    await eventually(lambda: _gone(api, COMMANDS, cmd, ns), what="command consumed")
    await api.delete(PODGROUPS, "pg", ns)
    await eventually(lambda: _state_is(api, queue, "Closed"), what="queue Closed")

    await _command(api, ns, queue, "OpenQueue")
    await eventually(lambda: _state_is(api, queue, "Open"), what="queue reopened")

    async def events() -> set[str]:
        items = (await api.list(EVENTS, None, field_selector=(
            f"involvedObject.name={queue}")))["items"]
        return {f"{e['reason']}: {e['message']}" for e in items}

    await controller.recorder.flush()
    await eventually(
        lambda: _has(events(), {"CloseQueue: Close queue succeed",
                                "OpenQueue: Open queue succeed"}),
        what="CloseQueue and OpenQueue events")


async def _has(found: Any, wanted: set[str]) -> bool:
    return wanted <= await found


async def test_close_an_empty_queue_is_closed(
        api: APIClient, ns: str, queue: str, controller: QueueController) -> None:
    await eventually(lambda: _state_is(api, queue, "Open"), what="queue Open")
    await _command(api, ns, queue, "CloseQueue")
    await eventually(lambda: _state_is(api, queue, "Closed"), what="queue Closed")


async def test_a_podgroup_moving_queues_moves_its_count(
        api: APIClient, ns: str, queue: str, controller: QueueController) -> None:
    other = f"q-{uuid.uuid4().hex[:8]}"
    await api.create(QUEUES, {"metadata": {"name": other}, "spec": {}})
    try:
        await _podgroup(api, ns, "mover", queue, "Inqueue")
        await eventually(lambda: _count(api, queue, "inqueue", 1), what="counted in first")
        await api.patch(PODGROUPS, "mover", {"spec": {"queue": other}}, ns)
        await eventually(lambda: _count(api, queue, "inqueue", 0), what="gone from first")
        await eventually(lambda: _count(api, other, "inqueue", 1), what="counted in second")
    finally:
        await api.delete(QUEUES, other)


async def _count(api: APIClient, queue: str, field: str, n: int) -> bool:
    return (await _status(api, queue)).get(field) == n


async def test_commands_for_other_objects_are_left_alone(
        api: APIClient, ns: str, controller: QueueController) -> None:
    cmd = await api.create(COMMANDS, {
        "metadata": {"name": "abort"},
        "action": "AbortJob",
        "target": {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": "j",
                   "uid": "u"},
    }, ns)
    # A queue command created after it is consumed, so the controller has seen both.
    queue_cmd = await _command(api, ns, "default", "OpenQueue")
    await eventually(lambda: _gone(api, COMMANDS, queue_cmd, ns), what="queue command consumed")
    assert (await api.get(COMMANDS, "abort", ns))["metadata"]["uid"] == cmd["metadata"]["uid"]


async def test_commands_for_a_missing_queue_are_dropped(
        api: APIClient, ns: str, controller: QueueController) -> None:
    cmd = await api.create(COMMANDS, {
        "metadata": {"name": "ghost"},
        "action": "CloseQueue",
        "target": {"apiVersion": QUEUES.api_version, "kind": "Queue", "name": "no-such-q",
                   "uid": "u"},
    }, ns)
    await eventually(lambda: _gone(api, COMMANDS, cmd["metadata"]["name"], ns),
                     what="command dropped")
