"""Workloads end to end: the whole cloud (`keadm init`: API server plus cloudcore with
every controller and the scheduler) driven with the real kubectl and the `kubernetes`
client, pods run by hollow nodes that turn them Ready 1 s after binding.

These are the issue's "must show" points; each controller's finer behaviour is pinned
in tests/integration/controllers.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from kubeedge.hollow.node import NodeProfile
from tests.fixtures.cluster import Cloud, running_cloud, wait_until
from tests.fixtures.hollow import HollowThread, hollow_nodes

CLOUD_SETTINGS = (
    "--set", "modules.controllerManager.nodeMonitorPeriodSeconds=0.5",
    "--set", "modules.controllerManager.nodeMonitorGracePeriodSeconds=4",
    "--set", "modules.controllerManager.cronjobSyncPeriodSeconds=1",
    "--set", "modules.controllerManager.podGCPeriodSeconds=1",
    "--set", "modules.controllerManager.podGCQuarantineSeconds=2",
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("workloads"), *CLOUD_SETTINGS,
                       controllers=("*",), scheduler=True) as c:
        yield c


@pytest.fixture(scope="module")
def nodes(cloud: Cloud) -> Iterator[HollowThread]:
    """Four cloud nodes with 4 CPUs each; Leases renewed every second."""
    with hollow_nodes(cloud.root, 4, profile=NodeProfile(cpu="4", memory="16Gi"),
                      ready_delay=1.0, lease_seconds=4, renew_interval=1.0,
                      status_interval=2.0) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def api(cloud: Cloud) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(cloud.kubeconfig))


@pytest.fixture
def ns(cloud: Cloud, nodes: HollowThread) -> str:
    name = f"w-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "namespace", name)
    return name


def _pods(cloud: Cloud, ns: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["get", "pods", "-n", ns]
    if selector:
        args += ["-l", selector]
    return cloud.kubectl_json(*args)["items"]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class PodLog:
    """Every pod event of a namespace, from a watch, with the counts after each."""

    def __init__(self, api: k8s.ApiClient, ns: str, selector: str) -> None:
        self.core = k8s.CoreV1Api(api)
        self.ns = ns
        self.selector = selector
        self.pods: dict[str, dict[str, Any]] = {}
        # After each event: (live pods, available pods, active pods), where live means
        # not being deleted, available Ready and live, active live and not finished.
        self.samples: list[tuple[int, int, int]] = []
        # (pod name, pods Ready at the moment it first appeared), in order.
        self.first_seen: list[tuple[str, list[str]]] = []
        self._watch = k8s_watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stopped = False
        self.started = threading.Event()

    def _run(self) -> None:
        listed = self.core.list_namespaced_pod(self.ns, label_selector=self.selector)
        for pod in listed.items:
            self.pods[pod.metadata.name] = api_dict(pod)
        self._sample()
        self.started.set()
        try:
            self._follow(listed.metadata.resource_version)
        except Exception:
            if not self._stopped:
                raise  # a watch that ends while the test still reads it is a failure

    def _follow(self, resource_version: str) -> None:
        for event in self._watch.stream(self.core.list_namespaced_pod, self.ns,
                                        label_selector=self.selector,
                                        resource_version=resource_version,
                                        timeout_seconds=120):
            pod = api_dict(event["object"])
            name = pod["metadata"]["name"]
            if event["type"] == "DELETED":
                self.pods.pop(name, None)
            else:
                if name not in self.pods and event["type"] == "ADDED":
                    self.first_seen.append(
                        (name, sorted(n for n, p in self.pods.items() if _ready(p))))
                self.pods[name] = pod
            self._sample()

    def _sample(self) -> None:
        live = [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
        active = [p for p in live
                  if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        self.samples.append((len(live), sum(1 for p in live if _ready(p)), len(active)))

    def __enter__(self) -> PodLog:
        self._thread.start()
        self.started.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped = True
        self._watch.stop()


def api_dict(obj: Any) -> dict[str, Any]:
    return k8s.ApiClient().sanitize_for_serialization(obj)


def test_deployment_rolls_out_updates_within_surge_and_rolls_back(
        cloud: Cloud, api: k8s.ApiClient, ns: str) -> None:
    cloud.kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=3",
                  "-n", ns)
    cloud.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    pods = _pods(cloud, ns, "app=web")
    assert len(pods) == 3 and all(_ready(p) and p["spec"]["nodeName"] for p in pods)

    # The defaults: maxSurge 25% of 3 rounds up to 1, maxUnavailable rounds down to 0.
    with PodLog(api, ns, "app=web") as log:
        cloud.kubectl("set", "image", "deployment/web", "nginx=nginx:1.26", "-n", ns)
        cloud.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert log.samples, "the watch saw nothing"
    assert max(total for total, _, _ in log.samples) <= 3 + 1, log.samples
    assert min(available for _, available, _ in log.samples) >= 3 - 0, log.samples
    images = {p["spec"]["containers"][0]["image"] for p in _pods(cloud, ns, "app=web")
              if not p["metadata"].get("deletionTimestamp")}
    assert images == {"nginx:1.26"}

    history = cloud.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert "1" in history and "2" in history
    cloud.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    cloud.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    deploy = cloud.kubectl_json("get", "deployment", "web", "-n", ns)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"

    cloud.kubectl("scale", "deployment/web", "--replicas=5", "-n", ns)
    cloud.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    scale = json.loads(cloud.kubectl(
        "get", "--raw", f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale").stdout)
    assert scale["spec"]["replicas"] == 5 and scale["status"]["replicas"] == 5


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_deleting_a_deployment_removes_its_replicasets_and_pods(
        cloud: Cloud, ns: str, cascade: str) -> None:
    cloud.kubectl("create", "deployment", "gone", "--image=nginx", "--replicas=2", "-n", ns)
    cloud.kubectl("rollout", "status", "deployment/gone", "-n", ns, "--timeout=60s")
    cloud.kubectl("delete", "deployment", "gone", "-n", ns, f"--cascade={cascade}")
    wait_until(lambda: not cloud.kubectl_json("get", "rs", "-n", ns)["items"]
               and not _pods(cloud, ns), timeout=30, what="replicasets and pods gone")


def test_orphan_cascade_leaves_pods_without_owners(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("create", "deployment", "keep", "--image=nginx", "--replicas=2", "-n", ns)
    cloud.kubectl("rollout", "status", "deployment/keep", "-n", ns, "--timeout=60s")
    cloud.kubectl("delete", "deployment", "keep", "-n", ns, "--cascade=orphan")
    # The ReplicaSet is orphaned; delete it orphaning too, and the pods stay ownerless.
    wait_until(lambda: all(not rs["metadata"].get("ownerReferences")
                           for rs in cloud.kubectl_json("get", "rs", "-n", ns)["items"]),
               timeout=30, what="replicaset without owner")
    cloud.kubectl("delete", "rs", "--all", "-n", ns, "--cascade=orphan")
    wait_until(lambda: not cloud.kubectl_json("get", "rs", "-n", ns)["items"], timeout=30,
               what="replicaset deleted")
    pods = wait_until(lambda: [p for p in _pods(cloud, ns)
                               if not p["metadata"].get("ownerReferences")], timeout=30,
                      what="ownerless pods")
    assert len(pods) == 2


def test_job_respects_parallelism_and_completes(cloud: Cloud, api: k8s.ApiClient,
                                                ns: str) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "five", "namespace": ns},
        "spec": {"completions": 5, "parallelism": 2, "template": {
            "metadata": {"annotations": {"hollow.kubeedge.io/exit-code": "0",
                                         "hollow.kubeedge.io/run-seconds": "1"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "work", "image": "busybox"}]}}},
    }
    with PodLog(api, ns, "job-name=five") as log:
        cloud.kubectl("apply", "-f", "-", input=json.dumps(job))
        cloud.kubectl("wait", "--for=condition=complete", "job/five", "-n", ns,
                      "--timeout=90s")
    assert max(active for _, _, active in log.samples) <= 2, log.samples
    status = cloud.kubectl_json("get", "job", "five", "-n", ns)["status"]
    assert status["succeeded"] == 5


def test_failing_job_stops_at_backoff_limit(cloud: Cloud, ns: str) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "fails", "namespace": ns},
        "spec": {"backoffLimit": 1, "template": {
            "metadata": {"annotations": {"hollow.kubeedge.io/exit-code": "3"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "work", "image": "busybox"}]}}},
    }
    cloud.kubectl("apply", "-f", "-", input=json.dumps(job))
    cloud.kubectl("wait", "--for=condition=failed", "job/fails", "-n", ns, "--timeout=120s")
    status = cloud.kubectl_json("get", "job", "fails", "-n", ns)["status"]
    failed = [c for c in status["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"
    assert status["failed"] == 2  # the first try and one retry


def test_cronjob_creates_jobs_on_schedule_and_keeps_history(cloud: Cloud, ns: str) -> None:
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": ns},
        "spec": {"schedule": "* * * * *", "successfulJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": {
                     "metadata": {"annotations": {"hollow.kubeedge.io/exit-code": "0"}},
                     "spec": {"restartPolicy": "Never",
                              "containers": [{"name": "t", "image": "busybox"}]}}}}},
    }
    created = json.loads(cloud.kubectl("apply", "-f", "-", "-o", "json",
                                       input=json.dumps(cron)).stdout)
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
             "uid": created["metadata"]["uid"], "controller": True,
             "blockOwnerDeletion": True}
    # Two earlier runs (as a previous minute would have made them) that finish at once.
    for i in range(2):
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": f"tick-old-{i}", "namespace": ns,
                            "ownerReferences": [owner]},
               "spec": cron["spec"]["jobTemplate"]["spec"]}
        cloud.kubectl("apply", "-f", "-", input=json.dumps(job))
    # At the next minute the schedule fires; finished runs beyond the limit go.
    def scheduled_and_trimmed() -> bool:
        jobs = cloud.kubectl_json("get", "jobs", "-n", ns)["items"]
        names = {j["metadata"]["name"] for j in jobs}
        scheduled = [n for n in names if not n.startswith("tick-old-")]
        return bool(scheduled) and len(names & {"tick-old-0", "tick-old-1"}) <= 1

    wait_until(scheduled_and_trimmed, timeout=90, what="a scheduled job and trimmed history")
    status = cloud.kubectl_json("get", "cronjob", "tick", "-n", ns)["status"]
    assert status.get("lastScheduleTime")


def test_daemonset_follows_matching_nodes_and_skips_tainted_ones(
        cloud: Cloud, nodes: HollowThread, ns: str) -> None:
    labels = {"pool": ns}
    plain = [nodes.add_node(f"{ns}-d{i}", NodeProfile(labels=labels)) for i in range(2)]
    tainted = nodes.add_node(f"{ns}-t", NodeProfile(labels=labels, taints=[
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    ds = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"nodeSelector": labels,
                                       "containers": [{"name": "a", "image": "busybox"}]}}},
    }
    cloud.kubectl("apply", "-f", "-", input=json.dumps(ds))

    def placed() -> list[str]:
        return sorted(p["spec"].get("nodeName", "") for p in _pods(cloud, ns, "app=agent")
                      if not p["metadata"].get("deletionTimestamp"))

    wait_until(lambda: placed() == sorted(plain), timeout=30, what="one pod per plain node")
    cloud.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=60s")
    joined = nodes.add_node(f"{ns}-d2", NodeProfile(labels=labels))
    wait_until(lambda: placed() == sorted([*plain, joined]), timeout=30,
               what="a pod on the node that joined")
    nodes.remove_node(plain[0])
    wait_until(lambda: placed() == sorted([plain[1], joined]), timeout=30,
               what="the pod of the node that left gone")
    assert tainted not in placed()
    for name in (plain[1], joined, tainted):
        nodes.remove_node(name)


def test_statefulset_comes_up_in_order(cloud: Cloud, api: k8s.ApiClient, ns: str) -> None:
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"serviceName": "web", "replicas": 3,
                 "selector": {"matchLabels": {"app": "sts"}},
                 "template": {"metadata": {"labels": {"app": "sts"}},
                              "spec": {"containers": [{"name": "w", "image": "nginx"}]}}},
    }
    with PodLog(api, ns, "app=sts") as log:
        cloud.kubectl("apply", "-f", "-", input=json.dumps(sts))
        cloud.kubectl("rollout", "status", "sts/web", "-n", ns, "--timeout=60s")
    assert sorted(log.pods) == ["web-0", "web-1", "web-2"]
    # Each pod appeared only once its predecessor was Ready.
    order = [name for name, _ in log.first_seen]
    assert order == ["web-0", "web-1", "web-2"], order
    for name, ready_before in log.first_seen:
        ordinal = int(name.rsplit("-", 1)[1])
        assert set(ready_before) >= {f"web-{i}" for i in range(ordinal)}, (name, ready_before)


def test_drain_evicts_one_pod_at_a_time_under_a_budget(
        cloud: Cloud, api: k8s.ApiClient, nodes: HollowThread, ns: str) -> None:
    labels = {"pool": ns}
    first = nodes.add_node(f"{ns}-a", NodeProfile(labels=labels))
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "svc", "namespace": ns},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "svc"}},
                 "template": {"metadata": {"labels": {"app": "svc"}},
                              "spec": {"nodeSelector": labels,
                                       "containers": [{"name": "s", "image": "nginx"}]}}},
    }
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "svc", "namespace": ns},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "svc"}}}}
    cloud.kubectl("apply", "-f", "-", input=json.dumps(deploy))
    cloud.kubectl("apply", "-f", "-", input=json.dumps(pdb))
    cloud.kubectl("rollout", "status", "deployment/svc", "-n", ns, "--timeout=60s")
    second = nodes.add_node(f"{ns}-b", NodeProfile(labels=labels))
    wait_until(lambda: cloud.kubectl_json("get", "pdb", "svc", "-n", ns).get(
        "status", {}).get("disruptionsAllowed") == 1, timeout=30, what="budget of one")
    with PodLog(api, ns, "app=svc") as log:
        cloud.kubectl("drain", first, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=120s", timeout=150)
        wait_until(lambda: sorted(p["spec"]["nodeName"] for p in _pods(cloud, ns, "app=svc")
                                  if _ready(p) and not p["metadata"].get("deletionTimestamp"))
                   == [second] * 3, timeout=60, what="all pods moved")
    assert min(available for _, available, _ in log.samples) >= 2, log.samples
    for name in (first, second):
        nodes.remove_node(name)


def test_deleting_a_namespace_with_fifty_objects_leaves_nothing(cloud: Cloud, ns: str) -> None:
    objects: list[dict[str, Any]] = []
    for i in range(20):
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"cm{i}"}, "data": {"i": str(i)}})
    for i in range(15):
        objects.append({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": f"s{i}"}, "stringData": {"i": str(i)}})
    for i in range(10):
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc{i}"},
                        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80 + i}]}})
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "d"},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}},
                             "template": {"metadata": {"labels": {"app": "x"}},
                                          "spec": {"containers": [
                                              {"name": "c", "image": "nginx"}]}}}})
    for i in range(4):
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": f"sa{i}"}})
    assert len(objects) == 50
    # One YAML stream of 50 documents (kubectl splits it client-side).
    cloud.kubectl("apply", "-n", ns, "-f", "-",
                  input=yaml.safe_dump_all(objects))
    cloud.kubectl("rollout", "status", "deployment/d", "-n", ns, "--timeout=60s")
    cloud.kubectl("delete", "namespace", ns, "--wait=false")
    wait_until(lambda: cloud.kubectl("get", "namespace", ns, check=False).returncode != 0,
               timeout=60, what="the namespace gone")
    leftovers = cloud.kubectl("get", "all,cm,secret,sa,events,endpoints,endpointslices",
                              "-A", "--field-selector", f"metadata.namespace={ns}",
                              "--no-headers", check=False)
    assert leftovers.stdout.strip() == "", leftovers.stdout


def _node_ready(cloud: Cloud, name: str) -> str:
    node = cloud.kubectl_json("get", "node", name)
    return next((c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"),
                "")


def test_unreachable_edge_keeps_its_pods_while_a_cloud_node_loses_them(
        cloud: Cloud, nodes: HollowThread, ns: str) -> None:
    edge = nodes.add_node(f"{ns}-edge", NodeProfile(edge=True))
    plain = nodes.add_node(f"{ns}-cloud")
    toleration = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                   "tolerationSeconds": 2}
                  for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
    for node in (edge, plain):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{node}"},
               "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                        "tolerations": toleration,
                        "containers": [{"name": "c", "image": "nginx"}]}}
        cloud.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    cloud.kubectl("wait", "--for=condition=Ready", "pod", "--all", "-n", ns, "--timeout=60s")
    for node in (edge, plain):
        nodes.pause(node)
    # Grace period 4 s (set for this cloud) plus the 10 s.
    wait_until(lambda: _node_ready(cloud, edge) == "Unknown"
               and _node_ready(cloud, plain) == "Unknown", timeout=14, what="nodes Unknown")
    wait_until(lambda: cloud.kubectl_json("get", "pod", f"on-{plain}", "-n", ns,
                                          check=False)["metadata"].get("deletionTimestamp"),
               timeout=30, what="the cloud node's pod evicted")
    edge_pod = cloud.kubectl_json("get", "pod", f"on-{edge}", "-n", ns)
    assert not edge_pod["metadata"].get("deletionTimestamp")
    taints = cloud.kubectl_json("get", "node", edge)["spec"].get("taints") or []
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("node.kubernetes.io/unreachable", "NoSchedule")}
    for node in (edge, plain):
        nodes.resume(node)
    wait_until(lambda: _node_ready(cloud, edge) == "True", timeout=30, what="edge back")
    for node in (edge, plain):
        nodes.remove_node(node)
