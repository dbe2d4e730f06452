"""The control plane survives its own failures: a rollout interrupted by killing the
API server and cloudcore finishes correctly after they restart, and two control planes
on one etcd elect one leader per module, the other taking over when the leader dies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubeedge.hollow.node import NodeProfile
from tests.fixtures.cluster import Cloud, running_cloud, start_cloud, wait_until
from tests.fixtures.etcd import running_etcd
from tests.fixtures.hollow import hollow_nodes

FAST_ELECTION = tuple(
    arg for module in ("controllerManager", "scheduler")
    for field, value in (("leaseDurationSeconds", 3), ("renewDeadlineSeconds", 2),
                         ("retryPeriodSeconds", 0.5))
    for arg in ("--set", f"modules.{module}.leaderElection.{field}={value}")
)


def _deployment(name: str, replicas: int, image: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}},
    })


def _live_pods(cloud: Cloud, selector: str) -> list[dict[str, Any]]:
    return [p for p in cloud.kubectl_json("get", "pods", "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def test_a_rollout_interrupted_by_a_control_plane_crash_finishes(tmp_path: Path) -> None:
    with running_cloud(tmp_path, controllers=("*",), scheduler=True) as cloud, \
            hollow_nodes(cloud.root, 3, profile=NodeProfile(cpu="8"), ready_delay=1.0):
        cloud.kubectl("apply", "-f", "-", input=_deployment("web", 6, "nginx:1.25"))
        cloud.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        cloud.kubectl("set", "image", "deployment/web", "c=nginx:1.26")
        # Mid-rollout: some pods of the new template exist, not all.
        wait_until(lambda: 0 < sum(p["spec"]["containers"][0]["image"] == "nginx:1.26"
                                   for p in _live_pods(cloud, "app=web")) < 6,
                   timeout=30, what="the rollout under way")
        cloud.kill_cloudcore()
        cloud.restart_with()  # the API server too: SIGKILL, then start again
        cloud.start_cloudcore()
        cloud.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
        pods = wait_until(lambda: (lambda ps: ps if len(ps) == 6 else None)(
            _live_pods(cloud, "app=web")), timeout=30, what="exactly six pods")
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
        sets = cloud.kubectl_json("get", "rs", "-l", "app=web")["items"]
        assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 6]
        deploy = cloud.kubectl_json("get", "deployment", "web")["status"]
        assert (deploy["replicas"], deploy["updatedReplicas"], deploy["availableReplicas"]) == (
            6, 6, 6)


def _holder(cloud: Cloud, lease: str) -> str:
    got = cloud.kubectl_json("get", "lease", lease, "-n", "kube-system", check=False)
    return str((got or {}).get("spec", {}).get("holderIdentity") or "")


def _pid_of(identity: str) -> int:
    # LeaderElector identities are <host>_<pid>_<suffix>.
    return int(identity.rsplit("_", 2)[1]) if identity.count("_") >= 2 else -1


def test_two_control_planes_on_one_etcd_elect_one_leader(tmp_path: Path) -> None:
    with running_etcd(tmp_path / "etcd") as etcd:
        storage = ("--storage", "etcd", "--etcd-servers", etcd.endpoint)
        first = start_cloud(tmp_path / "a", *storage, *FAST_ELECTION, controllers=("*",),
                            scheduler=True)
        try:
            second = start_cloud(tmp_path / "b", *storage, *FAST_ELECTION,
                                 controllers=("*",), scheduler=True)
        except BaseException:
            first.stop()
            raise
        try:
            pids = {first.cloudcore_pid(): first, second.cloudcore_pid(): second}
            for lease in ("kube-controller-manager", "kube-scheduler"):
                holder = wait_until(lambda lease=lease: _holder(first, lease), timeout=30,
                                    what=f"a {lease} leader")
                assert _pid_of(holder) in pids
            leader = pids[_pid_of(_holder(first, "kube-controller-manager"))]
            standby = second if leader is first else first
            # Both run; only the leader acts: exactly the replicas asked for.
            with hollow_nodes(standby.root, 2, ready_delay=1.0):
                standby.kubectl("apply", "-f", "-", input=_deployment("one", 3, "nginx"))
                standby.kubectl("rollout", "status", "deployment/one", "--timeout=60s")
                assert len(_live_pods(standby, "app=one")) == 3
                leader.kill_cloudcore()
                wait_until(lambda: _pid_of(_holder(standby, "kube-controller-manager"))
                           == standby.cloudcore_pid(), timeout=20,
                           what="the standby taking the controller-manager lease")
                wait_until(lambda: _pid_of(_holder(standby, "kube-scheduler"))
                           == standby.cloudcore_pid(), timeout=20,
                           what="the standby taking the scheduler lease")
                standby.kubectl("scale", "deployment/one", "--replicas=5")
                standby.kubectl("rollout", "status", "deployment/one", "--timeout=60s")
                assert len(_live_pods(standby, "app=one")) == 5
        finally:
            second.stop()
            first.stop()
