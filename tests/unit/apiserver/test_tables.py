"""Server-side Tables carry kubectl 1.32's columns and cells (specs/k8s-api.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeedge.apiserver.tables import (
    TableRenderer,
    columns_for,
    crd_table,
    human_duration,
    table_for,
    table_row_event,
)

NOW = datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


def cells(resource: str, group: str, obj: dict[str, Any]) -> list[Any]:
    table = table_for(resource, group, [obj], NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    return table["rows"][0]["cells"]


def header(resource: str, group: str = "") -> list[tuple[str, str, int]]:
    return [(c["name"], c["type"], c["priority"]) for c in columns_for(resource, group)]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (45 * 3600, "45h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        ((3 * 365 + 120) * 86400, "3y120d"),
        ((8 * 365 - 1) * 86400, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (10 * 365 * 86400 + 100 * 86400, "10y"),
    ],
)
def test_human_duration_matches_kube(seconds: float, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


# -------------------------------------------------------------------------------- shape


def test_table_shape_and_column_definitions() -> None:
    table = table_for("pods", "", [], NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["rows"] == []
    name, ready = table["columnDefinitions"][:2]
    assert name["name"] == "Name" and name["format"] == "name" and name["priority"] == 0
    assert name["description"].startswith("Name must be unique within a namespace.")
    assert ready == {
        "name": "Ready",
        "type": "string",
        "format": "",
        "description": "The aggregate readiness state of this pod for accepting traffic.",
        "priority": 0,
    }
    age = table["columnDefinitions"][4]
    assert age["description"].startswith("CreationTimestamp is a timestamp representing")


def test_include_object_modes() -> None:
    obj = {"metadata": meta("cfg"), "data": {"a": "1"}}
    row = table_for("configmaps", "", [obj], NOW)["rows"][0]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    full = table_for("configmaps", "", [obj], NOW, include_object="Object")["rows"][0]
    assert full["object"] == obj
    bare = table_for("configmaps", "", [obj], NOW, include_object="None")["rows"][0]
    assert "object" not in bare


def test_watch_events_send_headers_once() -> None:
    obj = {"metadata": meta("cfg")}
    first = table_row_event("configmaps", "", obj, NOW, with_headers=True)
    later = table_row_event("configmaps", "", obj, NOW)
    assert [c["name"] for c in first["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert later["columnDefinitions"] == []
    assert later["rows"][0]["cells"] == ["cfg", 0, "5m"]


# -------------------------------------------------------------------------------- pods


def test_pod_columns() -> None:
    assert header("pods") == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]


def running_pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web"),
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "side"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.5",
            "podIPs": [{"ip": "10.244.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": ago(minutes=4)}},
                },
                {
                    "name": "side",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": ago(minutes=4)}},
                },
            ],
            **status,
        },
    }


def test_running_pod() -> None:
    assert cells("pods", "", running_pod()) == [
        "web",
        "2/2",
        "Running",
        "0",
        "5m",
        "10.244.0.5",
        "node-1",
        "<none>",
        "<none>",
    ]


def test_pending_pod_without_statuses() -> None:
    obj = {
        "metadata": meta("web"),
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Pending"},
    }
    assert cells("pods", "", obj) == [
        "web",
        "0/1",
        "Pending",
        "0",
        "5m",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]


def test_waiting_reason_and_restarts_with_age() -> None:
    obj = running_pod()
    obj["status"]["containerStatuses"][0] = {
        "name": "app",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {
            "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=130)}
        },
    }
    row = cells("pods", "", obj)
    assert row[1:4] == ["1/2", "CrashLoopBackOff", "5 (2m10s ago)"]


def test_container_creating() -> None:
    obj = running_pod(phase="Pending")
    for status in obj["status"]["containerStatuses"]:
        status.update(ready=False, state={"waiting": {"reason": "ContainerCreating"}})
    assert cells("pods", "", obj)[1:3] == ["0/2", "ContainerCreating"]


def test_init_containers() -> None:
    obj = {
        "metadata": meta("web"),
        "spec": {
            "initContainers": [{"name": "init-a"}, {"name": "init-b"}],
            "containers": [{"name": "app"}],
        },
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "init-b", "state": {"running": {}}},
            ],
            "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
        },
    }
    assert cells("pods", "", obj)[1:3] == ["0/1", "Init:1/2"]
    obj["status"]["initContainerStatuses"][1]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    assert cells("pods", "", obj)[2] == "Init:ImagePullBackOff"
    obj["status"]["initContainerStatuses"][1]["state"] = {"terminated": {"exitCode": 2}}
    assert cells("pods", "", obj)[2] == "Init:ExitCode:2"


def test_sidecar_init_containers_count_as_ready_containers() -> None:
    obj = running_pod()
    obj["spec"]["initContainers"] = [{"name": "proxy", "restartPolicy": "Always"}]
    obj["status"]["initContainerStatuses"] = [
        {
            "name": "proxy",
            "ready": True,
            "started": True,
            "restartCount": 1,
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=3)}},
        }
    ]
    obj["status"]["conditions"].append({"type": "Initialized", "status": "True"})
    assert cells("pods", "", obj)[1:4] == ["3/3", "Running", "1 (3m ago)"]


def test_completed_pod_has_a_row_condition() -> None:
    obj = running_pod(phase="Succeeded")
    for status in obj["status"]["containerStatuses"]:
        status.update(ready=False, state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    row = table_for("pods", "", [obj], NOW)["rows"][0]
    assert row["cells"][1:3] == ["0/2", "Completed"]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_terminated_without_reason_shows_exit_code() -> None:
    obj = running_pod(phase="Failed")
    obj["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 137}}
    obj["status"]["containerStatuses"][1]["state"] = {"terminated": {"exitCode": 0, "signal": 9}}
    assert cells("pods", "", obj)[2] == "ExitCode:137"


def test_terminating_pod() -> None:
    obj = running_pod()
    obj["metadata"]["deletionTimestamp"] = ago(seconds=3)
    assert cells("pods", "", obj)[2] == "Terminating"
    obj["status"]["reason"] = "NodeLost"
    assert cells("pods", "", obj)[2] == "Unknown"


def test_scheduling_gated_and_readiness_gates() -> None:
    obj = {
        "metadata": meta("web"),
        "spec": {
            "containers": [{"name": "app"}],
            "readinessGates": [
                {"conditionType": "example.com/ready"},
                {"conditionType": "example.com/other"},
            ],
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                {"type": "example.com/ready", "status": "True"},
            ],
        },
    }
    row = cells("pods", "", obj)
    assert row[2] == "SchedulingGated"
    assert row[8] == "1/2"


# ------------------------------------------------------------------------------- nodes


def node(ready: str | None = "True", **extra: Any) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": {
            "name": "node-1",
            "creationTimestamp": ago(days=3),
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/worker": "",
                "kubernetes.io/role": "edge",
            },
        },
        "spec": extra,
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": "node-1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Ubuntu 24.04",
                "kernelVersion": "6.8.0",
                "containerRuntimeVersion": "containerd://1.7",
            },
        },
    }


def test_node_row() -> None:
    assert cells("nodes", "", node()) == [
        "node-1",
        "Ready",
        "control-plane,edge,worker",
        "3d",
        "v1.32.0",
        "192.168.1.10",
        "<none>",
        "Ubuntu 24.04",
        "6.8.0",
        "containerd://1.7",
    ]


@pytest.mark.parametrize(
    ("ready", "unschedulable", "status"),
    [
        ("True", False, "Ready"),
        ("False", False, "NotReady"),
        ("Unknown", False, "NotReady"),
        (None, False, "Unknown"),
        ("True", True, "Ready,SchedulingDisabled"),
    ],
)
def test_node_status(ready: str | None, unschedulable: bool, status: str) -> None:
    assert cells("nodes", "", node(ready, unschedulable=unschedulable))[1] == status


def test_node_without_roles_or_info() -> None:
    obj = {"metadata": {"name": "bare"}, "status": {}}
    assert cells("nodes", "", obj) == [
        "bare",
        "Unknown",
        "<none>",
        "<unknown>",
        "",
        "<none>",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]


# --------------------------------------------------------------------------- workloads


def template_spec() -> dict[str, Any]:
    return {
        "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]
    }


def test_deployment_row() -> None:
    obj = {
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web", "tier": "fe"}},
            "template": {"spec": template_spec()},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert header("deployments", "apps")[:5] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Up-to-date", "string", 0),
        ("Available", "string", 0),
        ("Age", "string", 0),
    ]
    assert cells("deployments", "apps", obj) == [
        "web",
        "2/3",
        3,
        2,
        "5m",
        "app,log",
        "nginx:1.27,busybox",
        "app=web,tier=fe",
    ]


def test_replicaset_and_daemonset_rows() -> None:
    rs = {
        "metadata": meta("web-abc"),
        "spec": {
            "replicas": 2,
            "selector": {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "app", "operator": "Exists"},
                ]
            },
            "template": {"spec": template_spec()},
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells("replicasets", "apps", rs) == [
        "web-abc",
        2,
        2,
        1,
        "5m",
        "app,log",
        "nginx:1.27,busybox",
        "app,tier in (be,fe)",
    ]
    ds = {
        "metadata": meta("agent"),
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "spec": {**template_spec(), "nodeSelector": {"kubernetes.io/os": "linux"}}
            },
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("daemonsets", "apps", ds) == [
        "agent",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "5m",
        "app,log",
        "nginx:1.27,busybox",
        "app=agent",
    ]


def test_statefulset_row() -> None:
    obj = {
        "metadata": meta("db"),
        "spec": {"replicas": 3, "template": {"spec": template_spec()}},
        "status": {"readyReplicas": 1},
    }
    assert header("statefulsets", "apps") == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Age", "string", 0),
        ("Containers", "string", 1),
        ("Images", "string", 1),
    ]
    assert cells("statefulsets", "apps", obj) == [
        "db",
        "1/3",
        "5m",
        "app,log",
        "nginx:1.27,busybox",
    ]


def job(**status: Any) -> dict[str, Any]:
    return {
        "metadata": meta("pi"),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
        },
        "status": status,
    }


def test_job_rows() -> None:
    assert header("jobs", "batch")[:5] == [
        ("Name", "string", 0),
        ("Status", "string", 0),
        ("Completions", "string", 0),
        ("Duration", "string", 0),
        ("Age", "string", 0),
    ]
    running = job(startTime=ago(seconds=30), active=1)
    assert cells("jobs", "batch", running) == [
        "pi",
        "Running",
        "0/1",
        "30s",
        "5m",
        "pi",
        "perl",
        "batch.kubernetes.io/controller-uid=u1",
    ]
    done = job(
        startTime=ago(minutes=4),
        completionTime=ago(minutes=1),
        succeeded=1,
        conditions=[{"type": "Complete", "status": "True"}],
    )
    assert cells("jobs", "batch", done)[1:4] == ["Complete", "1/1", "3m"]
    pending = job()
    pending["spec"]["completions"] = None
    pending["spec"]["parallelism"] = 3
    pending["status"]["conditions"] = [{"type": "Suspended", "status": "True"}]
    assert cells("jobs", "batch", pending)[1:4] == ["Suspended", "0/1 of 3", ""]


def test_cronjob_row() -> None:
    obj = {
        "metadata": meta("tick"),
        "spec": {
            "schedule": "*/5 * * * *",
            "suspend": False,
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "busybox"}]}}}
            },
        },
        "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": ago(seconds=42)},
    }
    assert cells("cronjobs", "batch", obj) == [
        "tick",
        "*/5 * * * *",
        "<none>",
        "False",
        1,
        "42s",
        "5m",
        "t",
        "busybox",
        "<none>",
    ]
    obj["spec"].update(timeZone="Etc/UTC", suspend=None)
    obj["status"] = {}
    assert cells("cronjobs", "batch", obj)[2:6] == ["Etc/UTC", "<unset>", 0, "<none>"]


# ---------------------------------------------------------------------------- services


def svc(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web"),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP"}],
            **spec,
        },
    }


def test_service_rows() -> None:
    assert cells("services", "", svc()) == [
        "web",
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "80/TCP",
        "5m",
        "app=web",
    ]
    node_port = svc(
        type="NodePort",
        ports=[
            {"port": 80, "protocol": "TCP"},
            {"port": 443, "nodePort": 30443, "protocol": "TCP"},
        ],
    )
    assert cells("services", "", node_port)[1:5] == [
        "NodePort",
        "10.96.0.10",
        "<none>",
        "80/TCP,443:30443/TCP",
    ]
    assert cells("services", "", svc(type="LoadBalancer"))[3] == "<pending>"
    lb = svc(type="LoadBalancer", externalIPs=["1.2.3.4"])
    lb_status = {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}
    assert cells("services", "", {**lb, "status": lb_status})[3] == "5.6.7.8,lb.example,1.2.3.4"
    headless = svc(clusterIP="None", clusterIPs=["None"], ports=[], selector=None)
    assert cells("services", "", headless)[2:7] == ["None", "<none>", "<none>", "5m", "<none>"]
    external = svc(
        type="ExternalName", externalName="db.example.com", clusterIP=None, clusterIPs=None
    )
    assert cells("services", "", external)[2:4] == ["<none>", "db.example.com"]


def test_endpoints_rows() -> None:
    obj = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}, {"port": 443}],
            }
        ],
    }
    assert cells("endpoints", "", obj) == [
        "web",
        "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
        "5m",
    ]
    assert cells("endpoints", "", {"metadata": meta("none")})[1] == "<none>"
    slice_ = {
        "metadata": meta("web-x"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    }
    assert cells("endpointslices", "discovery.k8s.io", slice_) == [
        "web-x",
        "IPv4",
        "80",
        "10.0.0.1,10.0.0.2",
        "5m",
    ]
    assert cells(
        "endpointslices", "discovery.k8s.io", {"metadata": meta("e"), "addressType": "IPv4"}
    )[2:4] == ["<unset>", "<unset>"]


# ------------------------------------------------------------------------ small kinds


def test_config_kinds() -> None:
    assert cells(
        "configmaps", "", {"metadata": meta("cfg"), "data": {"a": "1"}, "binaryData": {"b": "Mg=="}}
    ) == ["cfg", 2, "5m"]
    assert cells(
        "secrets", "", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}}
    ) == ["s", "Opaque", 1, "5m"]
    assert cells("serviceaccounts", "", {"metadata": meta("default")}) == ["default", 0, "5m"]
    assert cells("namespaces", "", {"metadata": meta("team"), "status": {"phase": "Active"}}) == [
        "team",
        "Active",
        "5m",
    ]


def test_leases_priority_classes_and_pdbs() -> None:
    assert cells(
        "leases",
        "coordination.k8s.io",
        {"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}},
    ) == ["node-1", "node-1", "5m"]
    assert cells(
        "priorityclasses",
        "scheduling.k8s.io",
        {"metadata": meta("high"), "value": 1000, "preemptionPolicy": "Never"},
    ) == ["high", 1000, False, "5m", "Never"]
    assert cells(
        "poddisruptionbudgets",
        "policy",
        {
            "metadata": meta("web"),
            "spec": {"minAvailable": "50%"},
            "status": {"disruptionsAllowed": 1},
        },
    ) == ["web", "50%", "N/A", 1, "5m"]
    assert cells(
        "poddisruptionbudgets", "policy", {"metadata": meta("web"), "spec": {"maxUnavailable": 1}}
    )[1:4] == ["N/A", "1", 0]


def test_role_bindings() -> None:
    obj = {
        "metadata": meta("rb"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
        ],
    }
    assert cells("rolebindings", "rbac.authorization.k8s.io", obj) == [
        "rb",
        "ClusterRole/view",
        "5m",
        "alice, bob",
        "devs",
        "build/ci",
    ]
    assert header("clusterrolebindings", "rbac.authorization.k8s.io")[3:] == [
        ("Users", "string", 1),
        ("Groups", "string", 1),
        ("ServiceAccounts", "string", 1),
    ]


@pytest.mark.parametrize(
    ("resource", "group"),
    [
        ("roles", "rbac.authorization.k8s.io"),
        ("clusterroles", "rbac.authorization.k8s.io"),
        ("customresourcedefinitions", "apiextensions.k8s.io"),
        ("widgets", "example.com"),
    ],
)
def test_kinds_without_a_printer_use_the_default_convertor(resource: str, group: str) -> None:
    obj = {"metadata": {"name": "thing", "creationTimestamp": "2025-01-01T08:30:00Z"}}
    assert header(resource, group) == [("Name", "string", 0), ("Created At", "date", 0)]
    assert cells(resource, group, obj) == ["thing", "2025-01-01T08:30:00Z"]


def test_events() -> None:
    assert [name for name, _, _ in header("events")] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ]
    obj = {
        "metadata": meta("web.17f"),
        "type": "Normal",
        "reason": "Pulled",
        "message": "Successfully pulled image\n",
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(minutes=3),
        "lastTimestamp": ago(seconds=20),
        "count": 4,
    }
    assert cells("events", "", obj) == [
        "20s",
        "Normal",
        "Pulled",
        "pod/web",
        "spec.containers{app}",
        "kubelet, node-1",
        "Successfully pulled image",
        "3m",
        4,
        "web.17f",
    ]
    new_style = {
        "metadata": meta("ev"),
        "type": "Warning",
        "reason": "Failed",
        "note": "boom",
        "regarding": {"kind": "Node"},
        "eventTime": "2025-01-10T11:59:49.500000Z",
        "reportingController": "ctl",
    }
    assert cells("events", "events.k8s.io", new_style) == [
        "10s",
        "Warning",
        "Failed",
        "node",
        "",
        "ctl",
        "boom",
        "10s",
        1,
        "ev",
    ]


def test_persistent_volume_claims() -> None:
    claim = {
        "metadata": meta("data"),
        "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
        "status": {
            "phase": "Bound",
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        },
    }
    assert cells("persistentvolumeclaims", "", claim) == [
        "data",
        "Bound",
        "pv-1",
        "1Gi",
        "RWO,RWX",
        "standard",
        "<unset>",
        "5m",
        "Filesystem",
    ]


# ---------------------------------------------------------------------- custom resources


CRD = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "versions": [
            {
                "name": "v1",
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {
                        "name": "Phase",
                        "type": "string",
                        "jsonPath": ".status.phase",
                        "description": "Where it is.",
                    },
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        "priority": 1,
                    },
                    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
                ],
            },
            {"name": "v2"},
        ],
    },
}


def widget(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": meta("w1"),
        "spec": {"size": 3},
        "status": status,
    }


def test_crd_printer_columns() -> None:
    table = crd_table(
        CRD,
        "v1",
        [
            widget(
                phase="Running",
                startedAt=ago(hours=4),
                conditions=[{"type": "Ready", "status": "True"}],
            )
        ],
        NOW,
    )
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("Size", "integer", 0),
        ("Phase", "string", 0),
        ("Ready", "string", 1),
        ("Started", "date", 0),
    ]
    assert table["columnDefinitions"][1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.size"
    )
    assert table["columnDefinitions"][2]["description"] == "Where it is."
    assert table["rows"][0]["cells"] == ["w1", 3, "Running", "True", "4h"]


def test_crd_missing_values_are_null() -> None:
    table = crd_table(CRD, "v1", [widget()], NOW, "None")
    assert table["rows"][0] == {"cells": ["w1", 3, None, None, None]}


def test_crd_without_columns_shows_age() -> None:
    table = crd_table(CRD, "v2", [widget()], NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert table["rows"][0]["cells"] == ["w1", "5m"]


@dataclass
class FakeType:
    plural: str
    group: str
    version: str
    crd: str | None = None


def test_renderer_routes_builtins_and_custom_resources() -> None:
    renderer = TableRenderer(crd_lookup={"widgets.example.com": CRD}.get, clock=lambda: NOW)
    builtin = renderer.render(FakeType("configmaps", "", "v1"), [{"metadata": meta("c")}])
    assert builtin["rows"][0]["cells"] == ["c", 0, "5m"]
    custom = renderer.render(
        FakeType("widgets", "example.com", "v1", "widgets.example.com"),
        [widget(phase="Done")],
        "Object",
        with_headers=False,
    )
    assert custom["columnDefinitions"] == []
    assert custom["rows"][0]["cells"][:3] == ["w1", 3, "Done"]
    assert custom["rows"][0]["object"]["kind"] == "Widget"
