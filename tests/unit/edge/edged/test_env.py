"""Container environment as kubelet's makeEnvironmentVariables builds it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubeedge.edge.edged.env import (
    ContainerConfigError,
    container_env,
    container_resource_value,
    expand,
    expand_command,
    mapping_for,
)

Obj = dict[str, Any]


class Lookup:
    def __init__(self, configmaps: dict[str, Obj] | None = None,
                 secrets: dict[str, Obj] | None = None, *, broken: bool = False) -> None:
        self.configmaps = configmaps or {}
        self.secrets = secrets or {}
        self.broken = broken
        self.calls: list[tuple[str, str, str]] = []

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        self.calls.append(("configmap", namespace, name))
        if self.broken:
            raise RuntimeError("edge is offline and configmap is not cached")
        return self.configmaps.get(f"{namespace}/{name}")

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        self.calls.append(("secret", namespace, name))
        return self.secrets.get(f"{namespace}/{name}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


POD: Obj = {
    "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-123",
                 "labels": {"app": "web", "tier": "front"},
                 "annotations": {"note": 'say "hi"'}},
    "spec": {"nodeName": "edge-a", "serviceAccountName": "runner", "containers": []},
}


async def env_of(container: Obj, lookup: Lookup | None = None, **kw: Any) -> list[tuple[str, str]]:
    args: dict[str, Any] = {"node_name": "edge-a", "pod_ip": "10.1.0.7", "host_ip": "192.168.1.5"}
    args.update(kw)
    return await container_env(POD, container, lookup or Lookup(), **args)


# --------------------------------------------------------------------------- expansion


@pytest.mark.parametrize(("text", "want"), [
    ("$(A)-$(B)", "a-b"),
    ("$$(A)", "$(A)"),          # $$ escapes
    ("$$$(A)", "$a"),
    ("$(UNKNOWN)", "$(UNKNOWN)"),  # unknown stays as written
    ("$(A", "$(A"),              # unterminated
    ("x$", "x$"),
    ("$A", "$A"),
    ("$()", "$()"),              # empty name is unknown
    ("plain", "plain"),
])
def test_expansion_follows_kubelet_rules(text: str, want: str) -> None:
    assert expand(text, mapping_for({"A": "a", "B": "b"})) == want


def test_expand_command_uses_final_env() -> None:
    assert expand_command(["echo", "$(X)", "$$(X)"], [("X", "1")]) == ["echo", "1", "$(X)"]


# ---------------------------------------------------------------------------- values


async def test_values_expand_against_earlier_vars_only() -> None:
    env = await env_of({"env": [
        {"name": "A", "value": "one"},
        {"name": "B", "value": "$(A)-$(C)"},  # C is defined later: stays literal
        {"name": "C", "value": "three"},
        {"name": "EMPTY"},
    ]})
    assert env == [("A", "one"), ("B", "one-$(C)"), ("C", "three"), ("EMPTY", "")]


async def test_env_from_then_env_overrides_in_place() -> None:
    lookup = Lookup(
        configmaps={"prod/cfg": {"data": {"LEVEL": "debug", "MODE": "fast"}}},
        secrets={"prod/creds": {"data": {"PASSWORD": b64("s3cr3t")}}},
    )
    env = await env_of({
        "envFrom": [{"configMapRef": {"name": "cfg"}},
                    {"secretRef": {"name": "creds"}, "prefix": "DB_"}],
        "env": [{"name": "MODE", "value": "slow/$(LEVEL)"}],
    }, lookup)
    assert env == [("LEVEL", "debug"), ("MODE", "slow/debug"), ("DB_PASSWORD", "s3cr3t")]


async def test_env_from_skips_invalid_names_and_reports_them() -> None:
    lookup = Lookup(configmaps={"prod/cfg": {"data": {"GOOD": "1", "a=b": "2", "tab\t": "3"}}})
    events: list[tuple[str, str]] = []
    env = await env_of({"envFrom": [{"configMapRef": {"name": "cfg"}}]}, lookup,
                       on_event=lambda reason, msg: events.append((reason, msg)))
    assert env == [("GOOD", "1")]
    assert events == [("InvalidEnvironmentVariableNames",
                       "Keys [a=b, tab\t] from the EnvFrom configMap prod/cfg were skipped "
                       "since they are considered invalid environment variable names.")]


async def test_optional_sources_that_are_missing_are_skipped() -> None:
    lookup = Lookup(configmaps={"prod/cfg": {"data": {"K": "v"}}})
    env = await env_of({
        "envFrom": [{"configMapRef": {"name": "nope", "optional": True}},
                    {"secretRef": {"name": "nope", "optional": True}}],
        "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "missing",
                                                            "optional": True}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "K",
                                                            "optional": True}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "K",
                                                         "optional": True}}},
            {"name": "D", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "K"}}},
        ],
    }, lookup)
    assert env == [("D", "v")]  # skipped ones are not set at all, not set to ""


async def test_secret_key_ref_is_base64_decoded() -> None:
    lookup = Lookup(secrets={"prod/s": {"data": {"token": b64("abc\ndef")}}})
    env = await env_of({"env": [{"name": "T", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "token"}}}]}, lookup)
    assert env == [("T", "abc\ndef")]


async def test_lookups_are_cached_within_one_call() -> None:
    lookup = Lookup(configmaps={"prod/cfg": {"data": {"A": "1", "B": "2"}}})
    await env_of({"env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "A"}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "B"}}},
    ]}, lookup)
    assert lookup.calls == [("configmap", "prod", "cfg")]


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("container", "message"), [
    ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
    ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
    ({"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]},
     'configmap "x" not found'),
    ({"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]},
     'secret "x" not found'),
    ({"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
     "couldn't find key k in ConfigMap prod/cfg"),
    ({"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}}]},
     "couldn't find key k in Secret prod/sec"),
    ({"env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
     "unsupported fieldPath: spec.bogus"),
    ({"env": [{"name": "V", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
     "unsupported container resource : limits.gpu"),
    ({"env": [{"name": "V", "valueFrom": {"resourceFieldRef": {
        "resource": "limits.cpu", "containerName": "ghost"}}}]},
     "container ghost not found"),
])
async def test_missing_references_fail_with_kubelet_messages(container: Obj,
                                                            message: str) -> None:
    lookup = Lookup(configmaps={"prod/cfg": {"data": {}}}, secrets={"prod/sec": {"data": {}}})
    with pytest.raises(ContainerConfigError) as info:
        await env_of(container, lookup)
    assert info.value.message == message
    assert info.value.reason == "CreateContainerConfigError"


async def test_lookup_failure_is_a_config_error_naming_the_object() -> None:
    with pytest.raises(ContainerConfigError, match=r"couldn.t get configmap prod/cfg: .*offline"):
        await env_of({"envFrom": [{"configMapRef": {"name": "cfg", "optional": True}}]},
                     Lookup(broken=True))


# ------------------------------------------------------------------------ downward API


async def test_field_refs() -> None:
    fields = {
        "NAME": "metadata.name", "NS": "metadata.namespace", "UID": "metadata.uid",
        "APP": "metadata.labels['app']", "NONE": "metadata.labels['absent']",
        "NOTE": "metadata.annotations['note']", "LABELS": "metadata.labels",
        "ANN": "metadata.annotations",
        "NODE": "spec.nodeName", "SA": "spec.serviceAccountName",
        "PODIP": "status.podIP", "PODIPS": "status.podIPs",
        "HOSTIP": "status.hostIP", "HOSTIPS": "status.hostIPs",
    }
    env = dict(await env_of(
        {"env": [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}}
                 for k, v in fields.items()]},
        pod_ips=["10.1.0.7", "fd00::7"], host_ips=["192.168.1.5", "fd01::5"]))
    assert env == {
        "NAME": "web-1", "NS": "prod", "UID": "u-123", "APP": "web", "NONE": "",
        "NOTE": 'say "hi"', "LABELS": 'app="web"\ntier="front"', "ANN": 'note="say \\"hi\\""',
        "NODE": "edge-a", "SA": "runner", "PODIP": "10.1.0.7", "PODIPS": "10.1.0.7,fd00::7",
        "HOSTIP": "192.168.1.5", "HOSTIPS": "192.168.1.5,fd01::5",
    }


async def test_pod_ips_default_to_the_single_ip() -> None:
    env = dict(await env_of({"env": [
        {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
        {"name": "H", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}}]}))
    assert env == {"P": "10.1.0.7", "H": "192.168.1.5"}


@pytest.mark.parametrize(("resource", "divisor", "want"), [
    ("limits.cpu", None, "1"),          # 500m rounds up to 1 core
    ("limits.cpu", "1m", "500"),
    ("requests.cpu", "1m", "250"),
    ("requests.cpu", None, "1"),
    ("limits.memory", None, str(64 * 2**20)),
    ("limits.memory", "1Mi", "64"),
    ("requests.memory", "1M", "34"),    # 32Mi = 33.55 MB, rounded up
    ("limits.ephemeral-storage", "1Gi", "8"),  # no limit: node allocatable
    ("requests.ephemeral-storage", None, "0"),
])
async def test_resource_field_refs_round_up(resource: str, divisor: str | None,
                                             want: str) -> None:
    container = {"name": "app", "resources": {
        "limits": {"cpu": "500m", "memory": "64Mi"},
        "requests": {"cpu": "250m", "memory": "32Mi"}}}
    ref: Obj = {"resource": resource}
    if divisor:
        ref["divisor"] = divisor
    container["env"] = [{"name": "V", "valueFrom": {"resourceFieldRef": ref}}]
    env = await env_of(container, allocatable={"cpu": "4", "memory": "8Gi",
                                               "ephemeral-storage": "8Gi"})
    assert env == [("V", want)]


def test_missing_limits_default_to_allocatable() -> None:
    container: Obj = {"name": "app"}
    alloc = {"cpu": "3500m", "memory": "2Gi"}
    assert container_resource_value({"resource": "limits.cpu"}, container, alloc) == "4"
    assert container_resource_value({"resource": "limits.cpu", "divisor": "1m"},
                                    container, alloc) == "3500"
    assert container_resource_value({"resource": "limits.memory", "divisor": "1Mi"},
                                    container, alloc) == "2048"
    assert container_resource_value({"resource": "limits.memory"}, container, None) == "0"


async def test_resource_field_ref_of_another_container() -> None:
    pod = {**POD, "spec": {**POD["spec"], "containers": [
        {"name": "app"}, {"name": "side", "resources": {"limits": {"memory": "1Gi"}}}]}}
    env = await container_env(
        pod, {"name": "app", "env": [{"name": "M", "valueFrom": {"resourceFieldRef": {
            "resource": "limits.memory", "containerName": "side", "divisor": "1Mi"}}}]},
        Lookup(), node_name="edge-a", pod_ip="", host_ip="")
    assert env == [("M", "1024")]
