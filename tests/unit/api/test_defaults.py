"""API defaulting matches what kube-apiserver 1.32 stores (specs/k8s-api.md §3)."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from kubeedge.api.defaults import (
    apply_defaults,
    job_selector_defaults,
    parse_quantity,
    pod_qos_class,
)


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": base}


def defaulted(group: str, kind: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
    apply_defaults(group, "v1", kind, obj, **kw)
    return obj


def template(containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": containers or [{"name": "app", "image": "nginx:1.27"}]},
    }


# ------------------------------------------------------------------------------- pods


def test_pod_gets_the_fields_kube_fills_in() -> None:
    p = defaulted("", "Pod", pod())
    spec = p["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["containers"][0] == {
        "name": "app",
        "image": "nginx:1.27",
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {},
    }
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_pod_gets_default_toleration_seconds_for_unready_and_unreachable_nodes() -> None:
    p = defaulted("", "Pod", pod())
    assert p["spec"]["tolerations"] == [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]


def test_existing_tolerations_are_not_duplicated() -> None:
    own = {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 10,
    }
    p = defaulted("", "Pod", pod(tolerations=[own]))
    assert p["spec"]["tolerations"] == [
        own,
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    everything = {"operator": "Exists"}
    assert defaulted("", "Pod", pod(tolerations=[everything]))["spec"]["tolerations"] == [
        everything
    ]


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("docker.io/library/nginx", "Always"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:1.27@sha256:" + "a" * 64, "IfNotPresent"),
        ("Nginx", "IfNotPresent"),  # unparsable: kube ignores the error, tag is ""
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    p = defaulted("", "Pod", pod(containers=[{"name": "app", "image": image}]))
    assert p["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_explicit_values_are_kept() -> None:
    p = defaulted(
        "",
        "Pod",
        pod(
            restartPolicy="Never",
            dnsPolicy="Default",
            terminationGracePeriodSeconds=0,
            serviceAccountName="robot",
            enableServiceLinks=False,
            containers=[{"name": "app", "image": "nginx", "imagePullPolicy": "Never"}],
        ),
    )
    spec = p["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"]) == ("Never", "Default")
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "robot"
    assert spec["enableServiceLinks"] is False
    assert spec["containers"][0]["imagePullPolicy"] == "Never"


def test_deprecated_service_account_fills_service_account_name() -> None:
    p = defaulted("", "Pod", pod(serviceAccount="legacy"))
    assert p["spec"]["serviceAccountName"] == "legacy"


def test_container_ports_probes_env_and_hooks_are_defaulted() -> None:
    container = {
        "name": "app",
        "image": "nginx",
        "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
        "startupProbe": {"grpc": {"port": 9000}},
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
    }
    c = defaulted("", "Pod", pod(containers=[container]))["spec"]["containers"][0]
    assert c["ports"] == [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["startupProbe"]["grpc"] == {"port": 9000, "service": ""}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "spec.nodeName",
        "apiVersion": "v1",
    }
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/stop", "scheme": "HTTP"}


def test_host_network_pods_get_host_ports() -> None:
    p = defaulted(
        "",
        "Pod",
        pod(
            hostNetwork=True,
            containers=[{"name": "app", "image": "nginx", "ports": [{"containerPort": 8080}]}],
        ),
    )
    assert p["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def test_volumes_get_modes_and_types() -> None:
    p = defaulted(
        "",
        "Pod",
        pod(
            volumes=[
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {
                    "name": "down",
                    "downwardAPI": {
                        "items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                    },
                },
                {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
            ]
        ),
    )
    volumes = {v["name"]: v for v in p["spec"]["volumes"]}
    assert volumes["cfg"]["configMap"]["defaultMode"] == 420
    assert volumes["sec"]["secret"]["defaultMode"] == 256
    assert volumes["scratch"]["emptyDir"] == {}
    assert volumes["host"]["hostPath"]["type"] == ""
    assert volumes["down"]["downwardAPI"]["defaultMode"] == 420
    assert volumes["down"]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    assert volumes["tok"]["projected"]["defaultMode"] == 420
    assert (
        volumes["tok"]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
        == 3600
    )


def test_requests_default_to_limits_on_pods_only() -> None:
    limited = [
        {
            "name": "app",
            "image": "nginx",
            "resources": {
                "limits": {"cpu": "500m", "memory": "128Mi"},
                "requests": {"cpu": "100m"},
            },
        }
    ]
    p = defaulted("", "Pod", pod(containers=copy.deepcopy(limited)))
    assert p["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    d = defaulted("apps", "Deployment", {"spec": {"template": template(copy.deepcopy(limited))}})
    assert d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "100m"
    }


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ([{}], "BestEffort"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        (
            [
                {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "1000m", "memory": "1Gi"},
                }
            ],
            "Guaranteed",
        ),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
        ([{"requests": {"cpu": "100m"}}], "Burstable"),
        ([{"limits": {"cpu": "1"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
        ([{"requests": {"cpu": "0"}}], "BestEffort"),
    ],
)
def test_qos_class_is_computed_on_create(resources: list[dict[str, Any]], qos: str) -> None:
    containers = [
        {"name": f"c{i}", "image": "nginx", "resources": r} for i, r in enumerate(resources)
    ]
    p = defaulted("", "Pod", pod(containers=containers))
    assert p["status"]["qosClass"] == qos
    assert pod_qos_class(p) == qos


def test_priority_is_left_to_the_server_when_a_class_is_named() -> None:
    p = defaulted("", "Pod", pod(priorityClassName="high"))
    assert "priority" not in p["spec"]
    assert "preemptionPolicy" not in p["spec"]


def test_update_keeps_status_and_service_account_alone() -> None:
    p = pod(serviceAccountName="")
    apply_defaults("", "v1", "Pod", p, create=False)
    assert "status" not in p
    assert p["spec"]["serviceAccountName"] == ""


def test_defaulting_twice_changes_nothing() -> None:
    once = defaulted("", "Pod", pod(volumes=[{"name": "v"}]))
    twice = defaulted("", "Pod", copy.deepcopy(once))
    assert once == twice


def test_unknown_kinds_are_untouched() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}
    apply_defaults("example.com", "v1", "Widget", widget)
    assert widget == {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}


# --------------------------------------------------------------------------- services


def test_cluster_ip_service_defaults() -> None:
    svc = defaulted(
        "",
        "Service",
        {
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}],
            }
        },
    )
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 53, "protocol": "UDP", "targetPort": "dns"},
    ]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert "clusterIP" not in spec
    assert "externalTrafficPolicy" not in spec


def test_externally_reachable_services_get_an_external_traffic_policy() -> None:
    lb = defaulted("", "Service", {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    node_port = defaulted("", "Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"


def test_external_name_services_get_no_ip_families() -> None:
    svc = defaulted(
        "", "Service", {"spec": {"type": "ExternalName", "externalName": "example.com"}}
    )
    assert "ipFamilies" not in svc["spec"]
    assert "internalTrafficPolicy" not in svc["spec"]


def test_client_ip_affinity_gets_its_timeout() -> None:
    svc = defaulted(
        "", "Service", {"spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}
    )
    assert svc["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


# ------------------------------------------------------------------------------- apps


def test_deployment_defaults_and_template_without_pod_only_fields() -> None:
    d = defaulted("apps", "Deployment", {"spec": {"template": template()}})
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec == {
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "resources": {},
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
    }
    assert "status" not in d
    # Go serialises the embedded ObjectMeta's zero time as null.
    assert d["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "creationTimestamp": None,
    }


def test_recreate_deployments_get_no_rolling_update() -> None:
    d = defaulted(
        "apps", "Deployment", {"spec": {"strategy": {"type": "Recreate"}, "template": template()}}
    )
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_replicaset_and_daemonset_defaults() -> None:
    rs = defaulted("apps", "ReplicaSet", {"spec": {"template": template()}})
    assert rs["spec"]["replicas"] == 1
    ds = defaulted("apps", "DaemonSet", {"spec": {"template": template()}})
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["spec"]["revisionHistoryLimit"] == 10
    assert ds["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_statefulset_defaults() -> None:
    sts = defaulted(
        "apps",
        "StatefulSet",
        {
            "spec": {
                "template": template(),
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            }
        },
    )
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}


def test_statefulset_on_delete_strategy_gets_no_partition() -> None:
    sts = defaulted(
        "apps",
        "StatefulSet",
        {"spec": {"updateStrategy": {"type": "OnDelete"}, "template": template()}},
    )
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}


# ------------------------------------------------------------------------------ batch


def job(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "pi"}, "spec": {"template": template(), **spec}}


def test_job_defaults() -> None:
    j = defaulted("batch", "Job", job())
    spec = j["spec"]
    assert (spec["completions"], spec["parallelism"]) == (1, 1)
    assert spec["backoffLimit"] == 6
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert "manualSelector" not in spec
    assert j["metadata"]["labels"] == {"app": "web"}
    # A template gets PodSpec defaults like any other; validation then wants OnFailure/Never.
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


@pytest.mark.parametrize(
    ("given", "completions", "parallelism"),
    [
        ({}, 1, 1),
        ({"parallelism": 3}, None, 3),
        ({"completions": 5}, 5, 1),
        ({"completions": 5, "parallelism": 2}, 5, 2),
    ],
)
def test_job_completions_and_parallelism(
    given: dict[str, int], completions: int | None, parallelism: int
) -> None:
    spec = defaulted("batch", "Job", job(**given))["spec"]
    assert spec.get("completions") == completions
    assert spec["parallelism"] == parallelism


def test_job_with_pod_failure_policy_replaces_failed_pods_only() -> None:
    spec = defaulted("batch", "Job", job(podFailurePolicy={"rules": []}))["spec"]
    assert spec["podReplacementPolicy"] == "Failed"


def test_job_selector_is_generated_from_the_uid() -> None:
    j = defaulted("batch", "Job", job())
    job_selector_defaults(j, "1234")
    expected = {
        "app": "web",
        "batch.kubernetes.io/controller-uid": "1234",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "1234",
        "job-name": "pi",
    }
    assert j["spec"]["template"]["metadata"]["labels"] == expected
    assert j["metadata"]["labels"] == expected
    assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}


def test_job_labels_set_by_the_user_are_not_mirrored() -> None:
    j = job()
    j["metadata"]["labels"] = {"team": "a"}
    defaulted("batch", "Job", j)
    job_selector_defaults(j, "1234")
    assert j["metadata"]["labels"] == {"team": "a"}


def test_manual_selector_jobs_keep_their_selector() -> None:
    j = defaulted("batch", "Job", job(manualSelector=True, selector={"matchLabels": {"a": "b"}}))
    job_selector_defaults(j, "1234")
    assert j["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    assert j["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_cronjob_defaults_reach_the_job_template() -> None:
    cj = defaulted(
        "batch",
        "CronJob",
        {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template()}}}},
    )
    spec = cj["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 6
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


# ------------------------------------------------------------------------------ other


def test_namespace_defaults() -> None:
    ns = defaulted("", "Namespace", {"metadata": {"name": "team-a"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}


def test_namespace_finalizer_may_go_away_on_update() -> None:
    ns = {"metadata": {"name": "team-a"}, "spec": {}, "status": {"phase": "Terminating"}}
    apply_defaults("", "v1", "Namespace", ns, create=False)
    assert ns["spec"] == {}
    assert ns["status"] == {"phase": "Terminating"}


def test_small_kinds() -> None:
    assert defaulted("", "Secret", {"data": {}})["type"] == "Opaque"
    pc = defaulted("scheduling.k8s.io", "PriorityClass", {"value": 10})
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    eps = defaulted("discovery.k8s.io", "EndpointSlice", {"ports": [{"port": 80}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    rb = defaulted(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [
                {"kind": "User", "name": "u"},
                {"kind": "ServiceAccount", "name": "s", "namespace": "d"},
            ],
        },
    )
    assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert rb["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert rb["subjects"][1]["apiGroup"] == ""
    endpoints = defaulted("", "Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert endpoints["subsets"][0]["ports"][0]["protocol"] == "TCP"
    lease = {"spec": {"holderIdentity": "node-1"}}
    assert defaulted("coordination.k8s.io", "Lease", copy.deepcopy(lease)) == lease


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("500m", Fraction(1, 2)),
        ("1Gi", Fraction(2**30)),
        ("1G", Fraction(10**9)),
        ("2e3", Fraction(2000)),
        ("1.5", Fraction(3, 2)),
        (3, Fraction(3)),
        ("128974848", Fraction(128974848)),
        ("abc", None),
        ("1 Gi", None),
    ],
)
def test_parse_quantity(text: Any, value: Fraction | None) -> None:
    assert parse_quantity(text) == value


def test_updates_are_recognised_by_their_resource_version() -> None:
    ns = {
        "metadata": {"name": "team-a", "resourceVersion": "42"},
        "spec": {"finalizers": []},
        "status": {"phase": "Terminating"},
    }
    apply_defaults("", "v1", "Namespace", ns)
    assert ns["spec"] == {"finalizers": []}
    created = {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["example.com/x"]}}
    apply_defaults("", "v1", "Namespace", created)
    assert created["spec"]["finalizers"] == ["example.com/x", "kubernetes"]
