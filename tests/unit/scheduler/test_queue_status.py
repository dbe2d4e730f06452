"""Queue `status.allocated` without I/O (specs/volcano.md §1.2, §2.1): what each
queue's jobs hold, summed up the `parent` chain when `root` exists, written as kube
quantities, patched only when it changed and only that one field."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.queue_status import (
    QueueStatusWriter,
    allocated_patch,
    format_quantity,
    queue_allocated,
    resource_list,
)
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


def queue(name: str, *, parent: str = "", allocated: dict[str, str] | None = None,
          version: str = "1") -> QueueInfo:
    spec: Obj = {"weight": 1}
    if parent:
        spec["parent"] = parent
    status: Obj = {"state": "Open"}
    if allocated is not None:
        status["allocated"] = allocated
    return QueueInfo.from_queue({"metadata": {"name": name, "resourceVersion": version},
                                 "spec": spec, "status": status})


def job(name: str, queue_name: str, members: list[Obj]) -> JobInfo:
    pg = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
          "spec": {"minMember": 1, "queue": queue_name}, "status": {"phase": "Running"}}
    return JobInfo.from_podgroup(pg, [TaskInfo.from_pod(p) for p in members])


def session(jobs: list[JobInfo], queues: list[QueueInfo]) -> JobSession:
    cache = SchedulerCache()
    cache.set_node(node("n1", cpu="16", memory="64Gi", extra={GPU: "8"}))
    return JobSession(cache, [], jobs, queues, random.Random(0))


def running(name: str, **kwargs: Any) -> Obj:
    return pod(name, node_name="n1", phase="Running", **kwargs)


def test_quantities_are_written_as_kube_writes_them() -> None:
    assert format_quantity(1500, milli=True) == "1500m"
    assert format_quantity(2000, milli=True) == "2"
    assert format_quantity(0, milli=True) == "0"
    assert format_quantity(1536 * 2**20, binary=True) == "1536Mi"
    assert format_quantity(2**30, binary=True) == "1Gi"
    assert format_quantity(1500, binary=True) == "1500"
    assert format_quantity(1000, binary=True) == "1k", "below 1024 kube writes decimal"
    assert format_quantity(3) == "3"
    held = Resource(milli_cpu=1500, memory=1536 * 2**20, pods=2, scalars={GPU: 2})
    assert resource_list(held) == {"cpu": "1500m", "memory": "1536Mi", "pods": "2",
                                   GPU: "2"}
    assert resource_list(Resource()) == {"cpu": "0", "memory": "0"}


def test_only_tasks_holding_node_resources_count() -> None:
    members = [running("r", cpu="500m", memory="1Gi", extra_requests={GPU: "1"}),
               pod("bound", cpu="1", node_name="n1"),
               pod("pending", cpu="4"),
               pod("done", cpu="4", node_name="n1", phase="Succeeded")]
    ssn = session([job("j", "a", members)], [queue("a"), queue("idle")])
    allocated = queue_allocated(ssn)
    assert resource_list(allocated["a"]) == {"cpu": "1500m", "memory": "1Gi", "pods": "2",
                                             GPU: "1"}
    assert resource_list(allocated["idle"]) == {"cpu": "0", "memory": "0"}


def test_children_add_up_to_their_parents_when_root_exists() -> None:
    jobs = [job("j1", "leaf", [running("p1", cpu="1")]),
            job("j2", "team", [running("p2", cpu="2")])]
    queues = [queue("root"), queue("team"), queue("leaf", parent="team")]
    allocated = queue_allocated(session(jobs, queues))
    assert {q: r.milli_cpu for q, r in allocated.items()} == {
        "leaf": 1000, "team": 3000, "root": 3000}
    # Without root there is no hierarchy: each queue has its own.
    flat = queue_allocated(session(jobs, [queue("team"), queue("leaf", parent="team")]))
    assert {q: r.milli_cpu for q, r in flat.items()} == {"leaf": 1000, "team": 2000}


def test_patch_compares_quantities_and_drops_released_resources() -> None:
    wanted = {"cpu": "2", "memory": "1Gi", "pods": "2"}
    assert allocated_patch({"cpu": "2000m", "memory": "1073741824", "pods": "2"},
                           wanted) is None
    assert allocated_patch({"cpu": "1", "memory": "1Gi", "pods": "2", GPU: "1"},
                           wanted) == {"cpu": "2", GPU: None}
    assert allocated_patch(None, wanted) == wanted


class RecordingClient:
    """The client seam: records PATCH calls."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, Obj, str]] = []

    async def patch(self, ref: Any, name: str, body: Obj, namespace: str | None = None,
                    *, subresource: str = "") -> Obj:
        self.patches.append((name, body, subresource))
        return {}


def test_writer_patches_only_changes_and_only_allocated() -> None:
    client = RecordingClient()
    writer = QueueStatusWriter(client)  # type: ignore[arg-type]
    jobs = [job("j", "a", [running("p", cpu="1", memory="1Gi")])]
    same = {"cpu": "1", "memory": "1Gi", "pods": "1"}
    ssn = session(jobs, [queue("a", allocated={"cpu": "0", "memory": "0"}),
                         queue("b", allocated={"cpu": "0", "memory": "0"})])
    write = writer.update(ssn)
    assert write is not None
    asyncio.run(write)  # type: ignore[arg-type]
    assert client.patches == [("a", {"status": {"allocated": same}}, "status")]

    # The next session runs before the watch brings the write: nothing to do.
    ssn = session(jobs, [queue("a", allocated={"cpu": "0", "memory": "0"}),
                         queue("b", allocated={"cpu": "0", "memory": "0"})])
    assert writer.update(ssn) is None
    # The watch brought it.
    ssn = session(jobs, [queue("a", allocated=same, version="2"),
                         queue("b", allocated={"cpu": "0", "memory": "0"})])
    assert writer.update(ssn) is None

    # The pod finished: allocation back to zero, pods key removed.
    done = [job("j", "a", [pod("p", cpu="1", memory="1Gi", node_name="n1",
                               phase="Succeeded")])]
    ssn = session(done, [queue("a", allocated=same, version="2"),
                         queue("b", allocated={"cpu": "0", "memory": "0"})])
    write = writer.update(ssn)
    assert write is not None
    asyncio.run(write)  # type: ignore[arg-type]
    assert client.patches[-1] == (
        "a", {"status": {"allocated": {"cpu": "0", "memory": "0", "pods": None}}}, "status")
