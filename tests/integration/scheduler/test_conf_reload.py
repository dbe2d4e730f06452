"""volcano-scheduler.conf reloaded under a running scheduler, against the real API
server process (specs/volcano.md §2.1, §3): without `allocate` in its actions a gang is
admitted (enqueue) but never bound; the file rewritten with `allocate` binds it from a
later session; garbage written over it is refused with the reason while the previous
configuration keeps binding new gangs. And cloudcore's scheduler module reads the file
under its root and follows it.

The watcher polls every 50 ms on the real clock; the tests wait on conditions only.
"""

from __future__ import annotations

from pathlib import Path

from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.rest import APIClient
from kubeedge.cloud.cloudcore import SchedulerModule
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.scheduler.conf import SchedulerConfWatcher
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.scheduling import Start
from tests.fixtures.volcano import VolcanoCluster as Cluster
from tests.fixtures.volcano import api, cluster, scheduler

__all__ = ["api", "cluster", "scheduler"]

TIERS = """
tiers:
- plugins:
  - name: priority
  - name: gang
    enablePreemptable: false
  - name: conformance
- plugins:
  - name: overcommit
  - name: drf
    enablePreemptable: false
  - name: predicates
  - name: proportion
  - name: nodeorder
  - name: binpack
"""
WITHOUT_ALLOCATE = 'actions: "enqueue, backfill"\n' + TIERS
HELM = 'actions: "enqueue, allocate, backfill"\n' + TIERS


async def gang(cluster: Cluster, name: str, size: int) -> list[str]:
    await cluster.podgroup(name, size)
    return [await cluster.pod(f"{name}-{i}", cpu="1", schedulerName="volcano",
                              annotations={"scheduling.k8s.io/group-name": name})
            for i in range(size)]


async def test_reloaded_actions_apply_and_a_bad_file_keeps_the_previous_running(
        cluster: Cluster, scheduler: Start, tmp_path: Path) -> None:
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text(WITHOUT_ALLOCATE)
    watcher = SchedulerConfWatcher(path, SchedulerConfig(), period=0.05)
    sched = await scheduler(watcher.load())
    watcher.start(sched)
    try:
        assert sched.config.actions == "enqueue, backfill"
        await cluster.node("n1", cpu="4")
        first = await gang(cluster, "g1", 2)

        async def admitted() -> bool:
            return (await cluster.podgroup_status("g1")).get("phase") == "Inqueue"

        await eventually(admitted, timeout=10, what="g1 admitted by enqueue")
        # Sessions keep running without allocate: still nothing bound after several.
        seen = sched.volcano.sessions
        await eventually(lambda: sched.volcano.sessions >= seen + 3, timeout=10,
                         what="three more sessions")
        assert await cluster.bound(*first) is None

        path.write_text(HELM)
        placed = await eventually(lambda: cluster.bound(*first), timeout=10,
                                  what="g1 bound once allocate is configured")
        assert set(placed.values()) == {f"{cluster.ns}-n1"}
        assert watcher.reloads == 2 and watcher.refusals == 0

        path.write_text("actions: [enqueue, allocate\ntiers: {{{\n")
        await eventually(lambda: watcher.refusals == 1, timeout=10, what="garbage refused")
        assert watcher.last_error is not None
        assert watcher.last_error.startswith(f"{path}: not valid YAML")
        assert sched.config.actions == "enqueue, allocate, backfill"
        second = await gang(cluster, "g2", 2)
        await eventually(lambda: cluster.bound(*second), timeout=10,
                         what="g2 bound under the previous configuration")
        assert watcher.reloads == 2
    finally:
        await watcher.stop()


async def test_cloudcore_reads_the_file_under_its_root_and_follows_it(
        cloud: Cloud, api: APIClient, tmp_path: Path) -> None:
    conf = tmp_path / "etc/kubeedge/config/volcano-scheduler.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(WITHOUT_ALLOCATE)
    config = CloudCoreConfig(root=str(tmp_path))
    config.modules.scheduler.scheduler_conf_poll_seconds = 0.05
    config.modules.scheduler.validate()
    client = APIClient(cloud.kubeconfig, qps=0)
    informers = SharedInformerFactory(client)
    module = SchedulerModule(client, config, informers)
    try:
        assert module.conf is not None and module.conf.path == conf
        assert module.scheduler.config.actions == "enqueue, backfill"
        await module.start()
        conf.write_text(HELM)
        await eventually(lambda: module.scheduler.config.actions == "enqueue, allocate, "
                         "backfill", timeout=10, what="the rewritten file in force")
    finally:
        await module.stop()
        await informers.stop()
        await client.close()
