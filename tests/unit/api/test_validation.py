"""Validation speaks kube-apiserver 1.32's field errors (specs/k8s-api.md §3, 422 Invalid)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeedge.api import errors
from kubeedge.api.defaults import apply_defaults, job_selector_defaults
from kubeedge.api.validation import Cause, validate

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
    "[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def pod(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    body.update(spec)
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": body,
    }
    apply_defaults("", "v1", "Pod", obj)
    return obj


def deployment(selector: Any = None, labels: Any = None, **spec: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}} if selector is None else selector,
            "template": {
                "metadata": {"labels": {"app": "web"} if labels is None else labels},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
            **spec,
        },
    }
    apply_defaults("apps", "v1", "Deployment", obj)
    return obj


def service(**spec: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }
    apply_defaults("", "v1", "Service", obj)
    return obj


def messages(causes: list[Cause]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


# --------------------------------------------------------------------------- metadata


def test_a_defaulted_pod_is_valid() -> None:
    assert validate("", "v1", "Pod", pod()) == []


def test_name_is_required_unless_generated() -> None:
    obj = pod()
    del obj["metadata"]["name"]
    assert validate("", "v1", "Pod", obj) == [
        Cause(
            "metadata.name",
            "Required value: name or generateName is required",
            "FieldValueRequired",
        )
    ]
    obj["metadata"]["generateName"] = "web-"
    assert validate("", "v1", "Pod", obj) == []
    obj["metadata"]["name"] = "web-x7k2p"
    assert validate("", "v1", "Pod", obj) == []
    obj["metadata"]["generateName"] = "Web-"
    assert [c.field for c in validate("", "v1", "Pod", obj)] == ["metadata.generateName"]


def test_pod_names_are_dns_subdomains() -> None:
    causes = validate("", "v1", "Pod", pod(name="Web_1"))
    assert causes == [
        Cause("metadata.name", f'Invalid value: "Web_1": {SUBDOMAIN_MSG}', "FieldValueInvalid")
    ]
    assert validate("", "v1", "Pod", pod(name="web.v1")) == []


def test_namespace_names_are_dns_labels() -> None:
    ns = {"metadata": {"name": "team.a"}}
    apply_defaults("", "v1", "Namespace", ns)
    assert messages(validate("", "v1", "Namespace", ns)) == [
        'metadata.name: Invalid value: "team.a": must not contain dots'
    ]
    ns["metadata"]["name"] = "Team"
    assert messages(validate("", "v1", "Namespace", ns)) == [
        f'metadata.name: Invalid value: "Team": {LABEL_MSG}'
    ]


def test_service_names_are_rfc1035_labels() -> None:
    svc = service()
    svc["metadata"]["name"] = "1web"
    assert messages(validate("", "v1", "Service", svc)) == [
        f'metadata.name: Invalid value: "1web": {DNS1035_MSG}'
    ]


def test_name_too_long() -> None:
    causes = validate("", "v1", "ConfigMap", {"metadata": {"name": "a" * 254}})
    assert causes[0].message == f'Invalid value: "{"a" * 254}": must be no more than 253 characters'


def test_label_keys_and_values() -> None:
    obj = pod()
    obj["metadata"]["labels"] = {"bad key": "ok", "app": "x" * 64, "example.com/tier": "fe"}
    assert messages(validate("", "v1", "Pod", obj)) == [
        'metadata.labels: Invalid value: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
        'xxxxxxxxx": must be no more than 63 characters',
        'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]


def test_annotations_total_size_is_limited() -> None:
    obj = pod()
    obj["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    assert validate("", "v1", "Pod", obj) == [
        Cause(
            "metadata.annotations",
            "Too long: may not be more than 262144 bytes",
            "FieldValueTooLong",
        )
    ]


def test_errors_invalid_builds_kubes_sentence() -> None:
    obj = pod(containers=[{"name": "app"}])
    error = errors.invalid("Pod", "web", validate("", "v1", "Pod", obj))
    assert error.message == 'Pod "web" is invalid: spec.containers[0].image: Required value'
    assert error.details["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.containers[0].image",
        }
    ]


# ------------------------------------------------------------------------------- pods


def test_pod_needs_containers() -> None:
    assert messages(validate("", "v1", "Pod", pod(containers=[]))) == [
        "spec.containers: Required value"
    ]


def test_container_errors() -> None:
    obj = pod(
        containers=[
            {
                "name": "app",
                "image": "nginx",
                "ports": [{"containerPort": 70000}, {"containerPort": 80, "protocol": "XYZ"}],
            },
            {"name": "app", "image": " nginx"},
            {"name": "Side_car", "image": "busybox"},
        ]
    )
    assert messages(validate("", "v1", "Pod", obj)) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 "
        "and 65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "XYZ": supported values: '
        '"SCTP", "TCP", "UDP"',
        'spec.containers[1].name: Duplicate value: "app"',
        'spec.containers[1].image: Invalid value: " nginx": must not have leading or trailing '
        "whitespace",
        f'spec.containers[2].name: Invalid value: "Side_car": {LABEL_MSG}',
    ]


def test_container_name_and_port_are_required() -> None:
    obj = pod(containers=[{"image": "nginx", "ports": [{"name": "http"}]}])
    assert messages(validate("", "v1", "Pod", obj)) == [
        "spec.containers[0].name: Required value",
        "spec.containers[0].ports[0].containerPort: Required value",
    ]


def test_restart_and_dns_policies_are_enums() -> None:
    obj = pod(restartPolicy="Sometimes", dnsPolicy="Nope")
    assert messages(validate("", "v1", "Pod", obj)) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Nope": supported values: '
        '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
    ]


def test_requests_may_not_exceed_limits() -> None:
    obj = pod(
        containers=[
            {
                "name": "app",
                "image": "nginx",
                "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2", "memory": "-1"}},
            }
        ]
    )
    assert messages(validate("", "v1", "Pod", obj)) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
        "to cpu limit of 1",
        'spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater '
        "than or equal to 0",
    ]
    ok = pod(
        containers=[
            {
                "name": "app",
                "image": "nginx",
                "resources": {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "500m", "memory": "1024Mi"},
                },
            }
        ]
    )
    assert validate("", "v1", "Pod", ok) == []


def test_volume_mounts_must_name_a_volume() -> None:
    obj = pod(
        volumes=[{"name": "data"}, {"name": "data"}],
        containers=[
            {
                "name": "app",
                "image": "nginx",
                "volumeMounts": [{"name": "cache", "mountPath": "/c"}, {"name": "data"}],
            }
        ],
    )
    assert messages(validate("", "v1", "Pod", obj)) == [
        'spec.volumes[1].name: Duplicate value: "data"',
        'spec.containers[0].volumeMounts[0].name: Not found: "cache"',
        "spec.containers[0].volumeMounts[1].mountPath: Required value",
    ]


def test_pod_update_may_change_the_image() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["activeDeadlineSeconds"] = 60
    new["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists"})
    new["metadata"]["labels"] = {"app": "web"}
    assert validate("", "v1", "Pod", new, old=old) == []


def test_pod_update_may_not_change_other_fields() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    causes = validate("", "v1", "Pod", new, old=old)
    assert len(causes) == 1
    assert causes[0].field == "spec"
    assert causes[0].reason == "FieldValueForbidden"
    assert causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)\n"
    )
    assert "Containers" in causes[0].message


def test_pod_update_may_not_add_containers_or_drop_tolerations() -> None:
    old = pod()
    more = copy.deepcopy(old)
    more["spec"]["containers"].append({"name": "side", "image": "busybox"})
    apply_defaults("", "v1", "Pod", more, create=False)
    assert messages(validate("", "v1", "Pod", more, old=old)) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"
    ]
    fewer = copy.deepcopy(old)
    fewer["spec"]["tolerations"] = fewer["spec"]["tolerations"][:1]
    fewer["spec"]["tolerations"][0]["tolerationSeconds"] = 10
    old["spec"]["tolerations"] = old["spec"]["tolerations"][:1]
    assert validate("", "v1", "Pod", fewer, old=old) == []
    old["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists"})
    assert messages(validate("", "v1", "Pod", fewer, old=old)) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its "
        "tolerationSeconds"
    ]


def test_active_deadline_may_only_shrink() -> None:
    old = pod(activeDeadlineSeconds=30)
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 60
    assert messages(validate("", "v1", "Pod", new, old=old)) == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous "
        "value"
    ]


# -------------------------------------------------------------------------- workloads


def test_a_defaulted_deployment_is_valid() -> None:
    assert validate("apps", "v1", "Deployment", deployment()) == []


def test_selector_must_match_template_labels() -> None:
    obj = deployment(labels={"app": "api", "tier": "fe"})
    assert validate("apps", "v1", "Deployment", obj) == [
        Cause(
            "spec.template.metadata.labels",
            'Invalid value: map[string]string{"app":"api", "tier":"fe"}: `selector` does not '
            "match template `labels`",
            "FieldValueInvalid",
        )
    ]


def test_selector_is_required_and_not_empty() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    assert messages(validate("apps", "v1", "Deployment", obj)) == ["spec.selector: Required value"]
    empty = deployment(selector={})
    assert messages(validate("apps", "v1", "Deployment", empty)) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
        "deployment"
    ]


def test_replicas_may_not_be_negative() -> None:
    assert messages(validate("apps", "v1", "ReplicaSet", deployment(replicas=-1))) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_template_restart_policy_must_be_always() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert messages(validate("apps", "v1", "Deployment", obj)) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]


def test_selector_is_immutable_for_apps_v1() -> None:
    old = deployment()
    new = deployment(selector={"matchLabels": {"app": "web2"}}, labels={"app": "web2"})
    assert messages(validate("apps", "v1", "Deployment", new, old=old)) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":'
        '"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'
    ]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert validate("apps", "v1", "Deployment", scaled, old=old) == []


def test_statefulset_updates_are_limited() -> None:
    old = deployment()
    old["kind"] = "StatefulSet"
    old["spec"]["serviceName"] = "web"
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "other"
    assert messages(validate("apps", "v1", "StatefulSet", new, old=old)) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"
    ]


# ------------------------------------------------------------------------------ batch


def job(restart: str | None = "Never") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "pi", "image": "perl"}]}
    if restart:
        spec["restartPolicy"] = restart
    obj = {
        "metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
        "spec": {"template": {"spec": spec}},
    }
    apply_defaults("batch", "v1", "Job", obj)
    job_selector_defaults(obj, "u1")
    return obj


def test_job_restart_policy_must_be_never_or_on_failure() -> None:
    assert validate("batch", "v1", "Job", job()) == []
    assert validate("batch", "v1", "Job", job(restart=None)) == [
        Cause(
            "spec.template.spec.restartPolicy",
            'Required value: valid values: "OnFailure", "Never"',
            "FieldValueRequired",
        )
    ]


def test_job_selector_must_match_and_stay() -> None:
    obj = job()
    obj["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] = "x"
    assert [c.field for c in validate("batch", "v1", "Job", obj)] == [
        "spec.template.metadata.labels"
    ]
    old = job()
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["extra"] = "1"
    new["spec"]["template"]["metadata"]["labels"]["extra"] = "1"
    assert [c.field for c in validate("batch", "v1", "Job", new, old=old)] == ["spec.selector"]


def test_cronjob_validation() -> None:
    cron = {
        "metadata": {"name": "c" * 53},
        "spec": {
            "schedule": "* * *",
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
            },
        },
    }
    apply_defaults("batch", "v1", "CronJob", cron)
    assert messages(validate("batch", "v1", "CronJob", cron)) == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters',
        'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: * * *',
        "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "
        '"OnFailure", "Never"',
    ]


# --------------------------------------------------------------------------- services


def test_a_defaulted_service_is_valid() -> None:
    assert validate("", "v1", "Service", service()) == []


def test_service_errors() -> None:
    svc = service(
        type="Magic",
        sessionAffinity="Sticky",
        ports=[{"port": 0}, {"port": 80, "protocol": "XYZ", "name": "Web"}],
    )
    assert messages(validate("", "v1", "Service", svc)) == [
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: intstr.IntOrString{Type:0, IntVal:0, "
        'StrVal:""}: must be between 1 and 65535, inclusive',
        f'spec.ports[1].name: Invalid value: "Web": {LABEL_MSG}',
        'spec.ports[1].protocol: Unsupported value: "XYZ": supported values: "SCTP", "TCP", "UDP"',
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
    ]


def test_cluster_ip_services_need_ports() -> None:
    assert messages(validate("", "v1", "Service", service(ports=[]))) == [
        "spec.ports: Required value"
    ]
    assert validate("", "v1", "Service", service(ports=[], clusterIP="None")) == []


def test_duplicate_service_ports() -> None:
    svc = service(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])
    assert messages(validate("", "v1", "Service", svc)) == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
        'StrVal:""}, NodePort:0}'
    ]


def test_cluster_ip_is_immutable() -> None:
    old = service(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    new = service(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"])
    assert messages(validate("", "v1", "Service", new, old=old)) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set'
    ]
    assert validate("", "v1", "Service", copy.deepcopy(old), old=old) == []


def test_node_ports_are_not_for_cluster_ip_services() -> None:
    svc = service(ports=[{"port": 80, "nodePort": 30080}])
    assert messages(validate("", "v1", "Service", svc)) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]


# ----------------------------------------------------------------- config and secrets


def test_config_map_keys() -> None:
    cm = {
        "metadata": {"name": "cfg"},
        "data": {"good.key": "1", "bad key": "2"},
        "binaryData": {"good.key": "MQ=="},
    }
    assert messages(validate("", "v1", "ConfigMap", cm)) == [
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of '
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
        "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        'data[good.key]: Invalid value: "good.key": duplicate of key present in binaryData',
    ]


def test_tls_secrets_need_their_keys() -> None:
    secret = {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "Zm9v"}}
    assert messages(validate("", "v1", "Secret", secret)) == ["data[tls.key]: Required value"]


def test_immutable_config_cannot_change() -> None:
    old = {"metadata": {"name": "cfg"}, "immutable": True, "data": {"a": "1"}}
    new = {"metadata": {"name": "cfg"}, "immutable": True, "data": {"a": "2"}}
    assert messages(validate("", "v1", "ConfigMap", new, old=old)) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]


def test_secret_type_is_immutable() -> None:
    old = {"metadata": {"name": "s"}, "type": "Opaque"}
    new = {"metadata": {"name": "s"}, "type": "example.com/other"}
    assert messages(validate("", "v1", "Secret", new, old=old)) == [
        'type: Invalid value: "example.com/other": field is immutable'
    ]


# ------------------------------------------------------------------------------ other


@pytest.mark.parametrize(
    ("kind", "group", "name", "ok"),
    [
        ("Node", "", "worker-1.example.com", True),
        ("Node", "", "Worker_1", False),
        ("Role", "rbac.authorization.k8s.io", "system:controller:Foo", True),
        ("Role", "rbac.authorization.k8s.io", "a/b", False),
        ("Widget", "example.com", "my-widget", True),
        ("Widget", "example.com", "My-Widget", False),
    ],
)
def test_names_per_kind(kind: str, group: str, name: str, ok: bool) -> None:
    assert (validate(group, "v1", kind, {"metadata": {"name": name}}) == []) is ok


def test_rbac_names_reject_slashes_with_kubes_words() -> None:
    assert messages(
        validate("rbac.authorization.k8s.io", "v1", "ClusterRole", {"metadata": {"name": "a/b"}})
    ) == ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]


def test_role_ref_cannot_change() -> None:
    old = {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"},
    }
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "b"
    assert messages(validate("rbac.authorization.k8s.io", "v1", "RoleBinding", new, old=old)) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", '
        'Kind:"Role", Name:"b"}: cannot change roleRef'
    ]


def test_crd_name_is_plural_dot_group() -> None:
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"plural": "gadgets"}},
    }
    assert (
        'metadata.name: Invalid value: "widgets.example.com": must be '
        'spec.names.plural+"."+spec.group'
    ) in messages(validate("apiextensions.k8s.io", "v1", "CustomResourceDefinition", crd))


def _crd(group: str, scope: str = "Namespaced") -> dict:
    return {
        "metadata": {"name": f"things.{group}"},
        "spec": {"group": group, "scope": scope,
                 "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    }


def test_crd_may_not_claim_a_builtin_or_protected_group() -> None:
    assert messages(validate("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                             _crd("example.com"))) == []
    undotted = messages(validate("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                                 _crd("apps")))
    assert any(m.startswith("spec.group") for m in undotted)
    protected = messages(validate("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                                  _crd("rbac.authorization.k8s.io")))
    assert any("api-approved.kubernetes.io" in m for m in protected)


def test_crd_scope_is_immutable() -> None:
    old = _crd("example.com")
    new = _crd("example.com", scope="Cluster")
    assert messages(validate("apiextensions.k8s.io", "v1", "CustomResourceDefinition", new,
                             old=old)) == ['spec.scope: Invalid value: "Cluster": field is '
                                           'immutable']


def test_priority_class_limits() -> None:
    pc = {
        "metadata": {"name": "huge"},
        "value": 2000000000,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    assert messages(validate("scheduling.k8s.io", "v1", "PriorityClass", pc)) == [
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
    ]


def test_metadata_is_immutable_on_update() -> None:
    old = pod()
    old["metadata"]["uid"] = "1"
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "2"
    assert messages(validate("", "v1", "Pod", new, old=old)) == [
        'metadata.uid: Invalid value: "2": field is immutable'
    ]


def test_no_new_finalizers_while_deleting() -> None:
    old = {
        "metadata": {
            "name": "cfg",
            "deletionTimestamp": "2025-01-01T00:00:00Z",
            "finalizers": ["a.example.com/x"],
        }
    }
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"].append("b.example.com/y")
    assert messages(validate("", "v1", "ConfigMap", new, old=old)) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
        'deleted, found new finalizers []string{"b.example.com/y"}'
    ]


def test_init_container_names_may_not_repeat_container_names() -> None:
    obj = pod(initContainers=[{"name": "app", "image": "busybox"}])
    assert messages(validate("", "v1", "Pod", obj)) == [
        'spec.initContainers[0].name: Duplicate value: "app"'
    ]


def test_node_pod_cidrs_are_valid_and_set_once() -> None:
    def node(*cidrs: str) -> dict:
        return {"metadata": {"name": "n"},
                "spec": {"podCIDR": cidrs[0] if cidrs else "", "podCIDRs": list(cidrs)}}

    assert validate("", "v1", "Node", node("10.244.1.0/24")) == []
    assert validate("", "v1", "Node", node("10.244.1.0/24", "fd00::/64")) == []
    bad = validate("", "v1", "Node", node("garbage"))
    assert [c.field for c in bad] == ["spec.podCIDRs[0]"]
    same_family = validate("", "v1", "Node", node("10.1.0.0/24", "10.2.0.0/24"))
    assert "one CIDR for each IP family" in same_family[0].message
    # From "" to valid is allowed; any change after that is forbidden.
    assert validate("", "v1", "Node", node("10.244.1.0/24"), old=node()) == []
    moved = validate("", "v1", "Node", node("10.244.2.0/24"), old=node("10.244.1.0/24"))
    assert [(c.field, c.reason) for c in moved] == [("spec.podCIDRs", "FieldValueForbidden")]
