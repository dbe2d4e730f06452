"""Edged (edge/edged/edged.py) over the REAL process runtime in a temp root, a fake
MetaClient, and a FakeClock for the relist, back-off and resync timers. Containers are
real processes; waits poll with real deadlines while the fake time moves."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.edge.edged.edged import Edged, EdgedSettings
from kubeedge.edge.runtime import cgroups
from kubeedge.edge.runtime.contract import (
    LABEL_POD_UID,
    ContainerFilter,
    ContainerState,
    PodSandboxFilter,
)
from kubeedge.edge.runtime.process import ProcessRuntime
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    MODULE_EDGED,
    OP_DELETE,
    OP_INSERT,
    OP_UPDATE,
    build_message,
)

Obj = dict[str, Any]
NODE_IP = "192.0.2.7"


class FakeMeta:
    """MetaClient's surface, recording what Edged sends."""

    def __init__(self, pods: list[Obj] | None = None) -> None:
        self.pods = list(pods or [])
        self.configmaps: dict[tuple[str, str], Obj] = {}
        self.statuses: dict[str, list[Obj]] = {}
        self.deleted: list[str] = []
        self.events: list[Obj] = []

    async def list_pods(self) -> list[Obj]:
        return copy.deepcopy(self.pods)

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return self.configmaps.get((namespace, name))

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return None

    async def get_service_account_token(self, namespace: str, sa: str, request: Obj) -> Obj:
        raise LookupError("no tokens here")

    async def update_pod_status(self, pod: Obj, status: Obj) -> None:
        self.statuses.setdefault(pod["metadata"]["name"], []).append(copy.deepcopy(status))

    async def confirm_pod_deleted(self, pod: Obj) -> None:
        self.deleted.append(pod["metadata"]["name"])

    async def send_event(self, event: Obj) -> None:
        self.events.append(event)

    def status(self, name: str) -> Obj:
        return (self.statuses.get(name) or [{}])[-1]

    def container(self, name: str, index: int = 0, init: bool = False) -> Obj:
        key = "initContainerStatuses" if init else "containerStatuses"
        return (self.status(name).get(key) or [{}] * (index + 1))[index]

    def reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events if e["involvedObject"]["name"] == name]


def make_pod(name: str, script: str, *, policy: str = "Always", **spec: Any) -> Obj:
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    body: Obj = {"restartPolicy": policy, "terminationGracePeriodSeconds": 5,
                 "containers": [container]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "uid": f"uid-{name}-{secrets.token_hex(3)}", "resourceVersion": "1"},
            "spec": body, "status": {"phase": "Pending"}}


class Harness:
    def __init__(self, tmp: Path, runtime: ProcessRuntime, gpus: tuple[int, ...] = ()) -> None:
        self.tmp = tmp
        self.runtime = runtime
        self.clock = FakeClock()
        self.bus = ModuleBus()
        self.gpus = gpus
        self.edged: Edged | None = None
        self.meta = FakeMeta()

    def settings(self, **extra: Any) -> EdgedSettings:
        values: dict[str, Any] = dict(
            node_name="edge-t", node_ip=NODE_IP, pods_dir=self.tmp / "kubelet/pods",
            pod_logs_dir=self.tmp / "var/log/pods", state_dir=self.tmp / "edged",
            pleg_relist_period=0.5, sync_frequency=60, backoff_initial=10,
            backoff_max=300, gpus=self.gpus, min_grace=0.5)
        values.update(extra)
        return EdgedSettings(**values)

    async def start(self, meta: FakeMeta | None = None, **extra: Any) -> Edged:
        if meta is not None:
            self.meta = meta
        self.bus = ModuleBus()
        self.edged = Edged(self.settings(**extra), self.bus, self.runtime, self.meta,
                           clock=self.clock)
        await self.edged.start()
        await self.until(self.edged.started.is_set, "initial sync")
        return self.edged

    async def stop(self) -> None:
        if self.edged is not None:
            await self.edged.stop()
            self.edged = None

    async def send(self, op: str, pod: Obj, kind: str = "pod") -> None:
        name = pod["metadata"]["name"]
        msg = build_message(GROUP_RESOURCE, "", "metamanager", f"default/{kind}/{name}", op,
                            copy.deepcopy(pod))
        await self.bus.send(msg, MODULE_EDGED)

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = 15.0,
                    step: float = 0.2) -> None:
        """Poll `predicate` with a real deadline while the fake time moves by `step`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            await self.clock.advance(step)
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}; statuses: "
                             f"{ {k: v[-1] for k, v in self.meta.statuses.items()} }")

    async def containers(self, pod: Obj) -> list[Any]:
        return await self.runtime.list_containers(
            ContainerFilter(labels={LABEL_POD_UID: pod["metadata"]["uid"]}))


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    parent = f"kubeedge-test-{secrets.token_hex(4)}"
    runtime = ProcessRuntime(tmp_path, cgroup_parent=parent)
    harness = Harness(tmp_path, runtime)
    yield harness
    await harness.stop()
    for c in await runtime.list_containers():
        with contextlib.suppress(Exception):
            await runtime.remove_container(c.id)
    for s in await runtime.list_pod_sandboxes():
        with contextlib.suppress(Exception):
            await runtime.remove_pod_sandbox(s.id)
    for mount in {*cgroups._v1_mounts().values(), cgroups.DEFAULT_BASE}:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(mount, parent))


def _state(c: Obj) -> str:
    return next(iter(c.get("state") or {"none": 0}))


async def test_pod_from_the_db_runs_and_is_reported_running_and_ready(h: Harness) -> None:
    pod = make_pod("web", "sleep 1000")
    meta = FakeMeta([pod])
    await h.start(meta)
    await h.until(lambda: meta.status("web").get("phase") == "Running"
                  and meta.container("web").get("ready"), "web running")
    status = meta.status("web")
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
        "PodScheduled"]
    assert all(c["status"] == "True" for c in status["conditions"])
    c = meta.container("web")
    assert c["restartCount"] == 0 and c["started"] is True
    assert c["containerID"].startswith("process://") and c["imageID"] == "process://busybox"
    assert status["hostIP"] == NODE_IP and status["podIP"]
    assert status["qosClass"] == "BestEffort" and status["startTime"]
    assert {"Created", "Started"} <= set(meta.reasons("web"))
    (running,) = await h.containers(pod)
    assert running.state == ContainerState.RUNNING


async def test_exit_codes_reasons_and_restart_policy_never(h: Harness) -> None:
    await h.start()
    ok, bad = make_pod("ok", "exit 0", policy="Never"), make_pod("bad", "exit 3",
                                                                  policy="Never")
    await h.send(OP_INSERT, ok)
    await h.send(OP_INSERT, bad)
    m = h.meta
    await h.until(lambda: m.status("ok").get("phase") == "Succeeded"
                  and m.status("bad").get("phase") == "Failed", "terminal phases")
    assert m.container("ok")["state"]["terminated"]["reason"] == "Completed"
    term = m.container("bad")["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert m.container("bad")["restartCount"] == 0
    ready = next(c for c in m.status("ok")["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodCompleted"
    assert len(await h.containers(bad)) == 1  # Never: not restarted


async def test_crash_loop_back_off_doubles_per_crash(h: Harness) -> None:
    await h.start()
    pod = make_pod("crash", "exit 1", policy="OnFailure")
    await h.send(OP_INSERT, pod)
    m = h.meta

    def waiting(message: str) -> bool:
        w = m.container("crash").get("state", {}).get("waiting", {})
        return w.get("reason") == "CrashLoopBackOff" and message in w.get("message", "")

    # The first crash restarts at once, the second waits 10 s, the third 20 s.
    await h.until(lambda: m.container("crash").get("restartCount") == 1
                  and waiting("back-off 10s"), "first back-off")
    entered = h.clock.now()
    last = m.container("crash")["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    await h.until(lambda: m.container("crash").get("restartCount") == 2, "second restart",
                  step=0.5)
    assert h.clock.now() - entered >= 9.5
    await h.until(lambda: waiting("back-off 20s"), "doubled back-off", step=0.5)
    entered = h.clock.now()
    await h.until(lambda: m.container("crash").get("restartCount") == 3, "third restart",
                  step=1.0)
    assert h.clock.now() - entered >= 19
    assert m.status("crash")["phase"] == "Running"
    assert "BackOff" in m.reasons("crash")
    # kubelet's GC keeps the current attempt and the one before.
    assert len(await h.containers(pod)) <= 3


async def test_init_containers_run_in_order_before_the_app(h: Harness, tmp_path: Path) -> None:
    await h.start()
    out = tmp_path / "order.txt"
    pod = make_pod("init", f"echo app >> {out}; sleep 1000")
    pod["spec"]["initContainers"] = [
        {"name": "one", "image": "busybox", "command": ["sh", "-c", f"echo one >> {out}"]},
        {"name": "two", "image": "busybox", "command": ["sh", "-c", f"echo two >> {out}"]}]
    await h.send(OP_INSERT, pod)
    m = h.meta
    await h.until(lambda: m.status("init").get("phase") == "Running", "init pod running")
    assert out.read_text().split() == ["one", "two", "app"]
    inits = m.status("init")["initContainerStatuses"]
    assert [i["state"]["terminated"]["reason"] for i in inits] == ["Completed", "Completed"]
    assert all(i["ready"] for i in inits)
    failing = make_pod("initfail", "echo never > /dev/null; sleep 1000", policy="Never")
    failing["spec"]["initContainers"] = [
        {"name": "bad", "image": "busybox", "command": ["sh", "-c", "exit 2"]}]
    await h.send(OP_INSERT, failing)
    await h.until(lambda: m.status("initfail").get("phase") == "Failed", "init failure")
    assert _state(m.container("initfail")) == "waiting"
    assert [c.metadata.name for c in await h.containers(failing)] == ["bad"]


async def test_deletion_is_graceful_then_confirmed_then_removed(h: Harness,
                                                                tmp_path: Path) -> None:
    await h.start()
    trap, hook = tmp_path / "trap.txt", tmp_path / "hook.txt"
    script = (f"trap 'echo bye > {trap}; exit 0' TERM; "
              "while true; do sleep 0.05; done")
    pod = make_pod("graceful", script, container={"lifecycle": {"preStop": {"exec": {
        "command": ["sh", "-c", f"echo pre > {hook}"]}}}})
    await h.send(OP_INSERT, pod)
    m = h.meta
    await h.until(lambda: m.status("graceful").get("phase") == "Running", "running")
    deleting = copy.deepcopy(pod)
    deleting["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z",
                                deletionGracePeriodSeconds=30, resourceVersion="2")
    await h.send(OP_UPDATE, deleting)
    await h.until(lambda: m.deleted == ["graceful"], "deletion confirmed")
    assert trap.read_text().strip() == "bye" and hook.read_text().strip() == "pre"
    status = m.status("graceful")
    assert status["phase"] == "Succeeded"  # the trap exited 0
    assert m.container("graceful")["state"]["terminated"]["exitCode"] == 0
    assert "Killing" in m.reasons("graceful")
    await h.send(OP_DELETE, deleting)
    await h.until(lambda: not h.edged.workers, "worker gone")  # type: ignore[union-attr]
    assert await h.containers(pod) == []
    assert await h.runtime.list_pod_sandboxes() == []


async def test_new_edged_reattaches_same_pids_and_restart_counts(h: Harness,
                                                                 tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pod = make_pod("survivor", f"if [ -f {marker} ]; then sleep 1000; "
                               f"else touch {marker}; exit 1; fi")
    meta = FakeMeta([pod])
    await h.start(meta)
    await h.until(lambda: meta.container("survivor").get("restartCount") == 1
                  and _state(meta.container("survivor")) == "running", "restarted once")
    before = {c.id: c.pid for c in await h.containers(pod)
              if c.state == ContainerState.RUNNING}
    await h.stop()  # edgecore goes away; the container keeps running
    again = FakeMeta([pod])
    await h.start(again)
    await h.until(lambda: _state(again.container("survivor")) == "running", "re-attached")
    assert again.container("survivor")["restartCount"] == 1
    after = {c.id: c.pid for c in await h.containers(pod)
             if c.state == ContainerState.RUNNING}
    assert after == before
    assert len(await h.containers(pod)) == 2


async def test_orphans_of_pods_gone_from_the_db_are_removed_at_start(h: Harness) -> None:
    pod = make_pod("orphan", "sleep 1000")
    await h.start(FakeMeta([pod]))
    await h.until(lambda: h.meta.status("orphan").get("phase") == "Running", "running")
    await h.stop()
    await h.start(FakeMeta([]))
    assert await h.containers(pod) == []


async def test_gpus_assigned_whole_and_kept_across_restarts(tmp_path: Path,
                                                            h: Harness) -> None:
    h.gpus = (0, 1)
    await h.start()

    def gpu_pod(name: str) -> Obj:
        out = tmp_path / f"{name}.gpu"
        return make_pod(name, f"echo $NVIDIA_VISIBLE_DEVICES,$CUDA_VISIBLE_DEVICES > {out}; "
                              "sleep 1000",
                        container={"resources": {"limits": {"nvidia.com/gpu": "1"}}})

    a, b, c = gpu_pod("ga"), gpu_pod("gb"), gpu_pod("gc")
    for p in (a, b):
        await h.send(OP_INSERT, p)
    await h.until(lambda: (tmp_path / "ga.gpu").exists() and (tmp_path / "gb.gpu").exists(),
                  "two GPU pods")
    got = {(tmp_path / "ga.gpu").read_text().strip(), (tmp_path / "gb.gpu").read_text().strip()}
    assert got == {"0,0", "1,1"}
    await h.send(OP_INSERT, c)
    await h.until(lambda: h.meta.status("gc").get("phase") == "Failed", "third refused")
    assert h.meta.status("gc")["reason"] == "UnexpectedAdmissionError"
    a_gpu = (tmp_path / "ga.gpu").read_text().strip()
    await h.stop()
    await h.start(FakeMeta([a, b]))
    assert h.edged is not None and h.edged.gpus is not None
    assert h.edged.gpus.assignment(a["metadata"]["uid"]) == {"c": [int(a_gpu[0])]}
    await h.send(OP_DELETE, a)
    await h.until(lambda: a["metadata"]["uid"] not in h.edged.workers, "a removed")  # type: ignore[union-attr]
    d = gpu_pod("gd")
    await h.send(OP_INSERT, d)
    await h.until(lambda: (tmp_path / "gd.gpu").exists(), "freed GPU reused")
    assert (tmp_path / "gd.gpu").read_text().strip() == f"{a_gpu[0]},{a_gpu[0]}"


async def test_failures_become_waiting_reasons_and_events(h: Harness) -> None:
    await h.start()
    m = h.meta
    image = make_pod("noimage", "")
    image["spec"]["containers"][0] = {"name": "c", "image": "example.com/nosuch:1"}
    cm = make_pod("nocm", "sleep 1000", container={"env": [{"name": "X", "valueFrom": {
        "configMapKeyRef": {"name": "settings", "key": "x"}}}]})
    nostart = make_pod("nostart", "", policy="Never")
    nostart["spec"]["containers"][0]["command"] = ["/nonexistent/program"]
    for p in (image, cm, nostart):
        await h.send(OP_INSERT, p)
    await h.until(lambda: m.container("noimage").get("state", {}).get("waiting", {}).get(
        "reason") == "ErrImagePull", "ErrImagePull")
    await h.until(lambda: m.container("nocm").get("state", {}).get("waiting", {}).get(
        "reason") == "CreateContainerConfigError", "config error")
    await h.until(lambda: m.status("nostart").get("phase") == "Failed", "start error")
    term = m.container("nostart")["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (128, "StartError")
    assert "Failed" in m.reasons("noimage") and "Failed" in m.reasons("nocm")
    # The configmap appears: the waiting container starts without waiting for a retry.
    configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "settings", "namespace": "default"},
                 "data": {"x": "1"}}
    m.configmaps[("default", "settings")] = configmap
    await h.send(OP_INSERT, configmap, kind="configmap")
    await h.until(lambda: _state(m.container("nocm")) == "running", "started", step=0.05)


async def test_configmap_update_reaches_the_mounted_file(h: Harness) -> None:
    await h.start()
    m = h.meta
    configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "conf", "namespace": "default", "resourceVersion": "1"},
                 "data": {"k": "v1"}}
    m.configmaps[("default", "conf")] = configmap
    pod = make_pod("mounted", "sleep 1000", volumes=[{"name": "conf", "configMap": {
        "name": "conf"}}], container={"volumeMounts": [{"name": "conf",
                                                         "mountPath": "/etc/conf"}]})
    await h.send(OP_INSERT, pod)
    await h.until(lambda: _state(m.container("mounted")) == "running", "running")
    files = list((h.tmp / "kubelet/pods" / pod["metadata"]["uid"]).rglob("k"))
    assert files and files[0].read_text() == "v1"
    updated = copy.deepcopy(configmap)
    updated["data"]["k"] = "v2"
    updated["metadata"]["resourceVersion"] = "2"
    m.configmaps[("default", "conf")] = updated
    await h.send(OP_UPDATE, updated, kind="configmap")
    await h.until(lambda: files[0].read_text() == "v2", "file updated", step=0.05)


async def test_liveness_failure_restarts_the_container(h: Harness, tmp_path: Path) -> None:
    await h.start()
    healthy = tmp_path / "healthy"
    healthy.touch()
    pod = make_pod("live", "sleep 1000", container={"livenessProbe": {
        "exec": {"command": ["sh", "-c", f"test -f {healthy}"]},
        "periodSeconds": 1, "failureThreshold": 1}})
    await h.send(OP_INSERT, pod)
    m = h.meta
    await h.until(lambda: _state(m.container("live")) == "running", "running")
    healthy.unlink()
    await h.until(lambda: m.container("live").get("restartCount") == 1
                  and _state(m.container("live")) == "running", "restarted by liveness")
    assert m.container("live")["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert "Killing" in m.reasons("live")


async def test_static_pod_runs_and_reports_to_its_mirror(h: Harness, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "static.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: st}\nspec:\n  containers:\n"
        "  - {name: c, image: busybox, command: [sleep, '1000']}\n")
    await h.start(static_pod_path=manifests)
    edged = h.edged
    assert edged is not None
    (uid,) = list(edged.workers)
    static = edged.workers[uid].pod
    assert static["metadata"]["name"] == "st-edge-t"
    assert static["metadata"]["annotations"]["kubernetes.io/config.source"] == "file"
    running: list[Any] = []

    async def poll() -> None:
        running[:] = [c for c in await h.containers(static)
                      if c.state == ContainerState.RUNNING]

    deadline = time.monotonic() + 15
    while not running and time.monotonic() < deadline:
        await poll()
        await h.clock.advance(0.2)
    assert running, "static pod container runs"
    assert h.meta.statuses == {}  # no mirror pod yet: nothing to report to
    mirror = copy.deepcopy(edged.workers[uid].pod)
    mirror["metadata"]["uid"] = "mirror-uid"
    mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"] = uid
    await h.send(OP_INSERT, mirror)
    await h.until(lambda: h.meta.status("st-edge-t").get("phase") == "Running",
                  "status on the mirror")


async def test_sandbox_gets_hostname_subdomain_and_host_aliases(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    run = h.runtime.run_pod_sandbox

    async def recording(config: Any) -> str:
        seen.append(config)
        return await run(config)

    monkeypatch.setattr(h.runtime, "run_pod_sandbox", recording)
    named = make_pod("db-0", "sleep 1000", hostname="db-zero", subdomain="dbs",
                     hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar"]},
                                  {"ip": "10.1.2.4", "hostnames": []}])
    long = make_pod("x" * 62 + "-y", "sleep 1000")
    long["metadata"]["name"] = "x" * 62 + "-yz"
    await h.start(FakeMeta([named, long]))
    await h.until(lambda: len(seen) == 2, "two sandboxes")
    by_pod = {c.metadata.name: c for c in seen}
    config = by_pod["db-0"]
    assert config.hostname == "db-zero" and config.subdomain == "dbs"
    assert [(ip, tuple(names)) for ip, names in config.hosts_entries] == [
        ("10.1.2.3", ("foo.local", "bar"))]
    # The pod's name, cut to a DNS label without a trailing '-'.
    assert by_pod["x" * 62 + "-yz"].hostname == "x" * 62
    assert by_pod["x" * 62 + "-yz"].subdomain == "" and not by_pod[
        "x" * 62 + "-yz"].hosts_entries


# ---- the cluster's names in the pods' /etc/hosts (ours: clusterhosts) ------------------


def cluster_hosts(rv: int, *services: tuple[str, str, list[tuple[str, str]]],
                  node: str = "edge-t") -> Obj:
    return {"apiVersion": "v1", "kind": "ClusterHosts",
            "metadata": {"name": node, "resourceVersion": str(rv)},
            "services": [{"namespace": ns, "name": name,
                          "addresses": [{"ip": ip, "hostname": host} for ip, host in addrs]}
                         for ns, name, addrs in services]}


def test_cluster_hosts_lines_as_dns_would_answer_from_the_pods_namespace() -> None:
    from kubeedge.edge.edged.edged import cluster_hosts_entries

    summary = cluster_hosts(1, ("default", "web", [("10.244.1.2", "web-0"),
                                                   ("10.244.2.2", "")]),
                            ("other", "db", [("10.244.1.9", "")]))
    lines = cluster_hosts_entries(summary, "default", cluster_domain="example.org")
    assert lines == (
        ("10.244.1.2", ("web-0.web.default.svc.example.org", "web-0.web.default.svc",
                        "web-0.web.default", "web-0.web", "web.default.svc.example.org",
                        "web.default.svc", "web.default", "web")),
        ("10.244.2.2", ("web.default.svc.example.org", "web.default.svc", "web.default",
                        "web")),
        # Another namespace's Service: no short name (the search path would not reach it).
        ("10.244.1.9", ("db.other.svc.example.org", "db.other.svc", "db.other")))
    assert cluster_hosts_entries(summary, "other")[2][1][-1] == "db"
    assert len(cluster_hosts_entries(summary, "default", limit=2)) == 2
    assert cluster_hosts_entries(None, "default") == ()


async def test_cluster_names_reach_running_and_new_pods(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[Any] = []
    written: dict[str, Any] = {}
    run = h.runtime.run_pod_sandbox

    async def recording(config: Any) -> str:
        configs.append(config)
        return await run(config)

    async def update_pod_hosts(sandbox_id: str, entries: Any) -> bool:
        written[sandbox_id] = tuple(entries)
        return True

    monkeypatch.setattr(h.runtime, "run_pod_sandbox", recording)
    monkeypatch.setattr(h.runtime, "update_pod_hosts", update_pod_hosts, raising=False)
    first = make_pod("first", "sleep 1000",
                     hostAliases=[{"ip": "10.1.2.3", "hostnames": ["alias"]}])
    host = make_pod("host", "sleep 1000", hostNetwork=True)
    edged = await h.start(FakeMeta([first, host]))
    await h.until(lambda: len(configs) == 2, "two sandboxes")
    assert configs[0].hosts_entries == (("10.1.2.3", ("alias",)),)

    async def summary(obj: Obj) -> None:
        await h.bus.send(build_message(GROUP_RESOURCE, "", "metamanager",
                                       f"null/clusterhosts/{obj['metadata']['name']}",
                                       OP_UPDATE, obj), MODULE_EDGED)

    await summary(cluster_hosts(5, ("default", "web", [("10.244.1.2", "web-0")])))
    first_box = next(c for c in configs if c.metadata.name == "first")
    sandbox = (await h.runtime.list_pod_sandboxes(
        PodSandboxFilter(labels={LABEL_POD_UID: first["metadata"]["uid"]})))[0].id
    await h.until(lambda: sandbox in written, "the running pod's hosts rewritten")
    lines = written[sandbox]
    assert lines[0] == ("10.1.2.3", ("alias",))  # hostAliases first, as kubelet
    assert lines[1][0] == "10.244.1.2" and "web-0.web.default.svc.cluster.local" in lines[1][1]
    assert len(written) == 1, "a hostNetwork pod keeps the host's /etc/hosts"
    assert first_box.hosts_entries != lines

    # An older summary (a resend that lost the race) and another node's are ignored.
    await summary(cluster_hosts(4))
    await summary(cluster_hosts(9, node="edge-other"))
    # A new pod gets the current names in its sandbox's config.
    second = make_pod("second", "sleep 1000")
    await h.send(OP_INSERT, second)
    await h.until(lambda: len(configs) == 3, "the new pod's sandbox")
    assert [ip for ip, _ in configs[2].hosts_entries] == ["10.244.1.2"]
    assert edged.cluster_hosts is not None
    assert edged.cluster_hosts["metadata"]["resourceVersion"] == "5"

    # The names change: the running pods' files follow; unchanged ones are not rewritten.
    before = edged.hosts_updates
    await summary(cluster_hosts(7, ("default", "web", [("10.244.1.3", "web-0")])))
    await h.until(lambda: edged.hosts_updates == before + 2, "both pods rewritten")
    assert written[sandbox][1][0] == "10.244.1.3"
    await summary(cluster_hosts(8, ("default", "web", [("10.244.1.3", "web-0")])))
    await h.until(lambda: edged.cluster_hosts["metadata"]["resourceVersion"] == "8",
                  "the same names at a newer revision")
    assert edged.hosts_updates == before + 2


async def test_stored_cluster_names_are_used_from_the_start(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edge restarted without the cloud: edged asks MetaManager for the stored summary
    before it starts any pod."""
    configs: list[Any] = []
    run = h.runtime.run_pod_sandbox

    async def recording(config: Any) -> str:
        configs.append(config)
        return await run(config)

    monkeypatch.setattr(h.runtime, "run_pod_sandbox", recording)
    bus = ModuleBus()
    bus.add_module("metamanager", "meta")
    stored = cluster_hosts(3, ("default", "db", [("10.244.5.5", "")]))

    async def metamanager() -> None:
        import json

        from kubeedge.messaging.message import new_respond_message

        while True:
            msg = await bus.receive("metamanager")
            assert msg.route.resource == "null/clusterhosts/edge-t"
            bus.send_resp(new_respond_message(msg, [json.dumps(stored)]))

    task = asyncio.create_task(metamanager())
    edged = Edged(h.settings(), bus, h.runtime, FakeMeta([make_pod("p", "sleep 1000")]),
                  clock=h.clock)
    h.edged = edged
    try:
        await edged.start()
        await h.until(lambda: configs, "the sandbox")
        assert [ip for ip, _ in configs[0].hosts_entries] == ["10.244.5.5"]
    finally:
        task.cancel()


async def test_a_finished_pod_keeps_its_ip_after_its_sandbox_is_gone(h: Harness) -> None:
    # kubelet keeps status.podIP of a terminated pod; the node's IP is only for pods on
    # the host network (or with no IP yet).
    edged = await h.start()
    finished = {"spec": {}, "status": {"phase": "Succeeded", "podIP": "10.244.1.9"}}
    assert edged._pod_ip(finished, None) == "10.244.1.9"
    assert edged._pod_ip({"spec": {}, "status": {}}, None) == NODE_IP
    assert edged._pod_ip({"spec": {"hostNetwork": True}, "status": {"podIP": "x"}},
                         None) == NODE_IP
