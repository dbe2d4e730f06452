"""Protobuf request bodies (specs/k8s-api.md §0 point 3, §2 "Protobuf bodies").

The oracle is the real kubectl 1.32: every command is run twice against a small recording
HTTPS server, once for real (it POSTs a protobuf body) and once with
`--dry-run=client -o json` (it prints the JSON it would have sent). The decoded body must
equal that JSON exactly -- including `creationTimestamp: null` and `status: {}`, since
`decode_request` reproduces Go's `encoding/json` output for the decoded struct rather than
normalising it. Hand-made bytes cover the special types and hypothesis fuzzes the decoder.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeedge.api import protobuf_messages as table
from kubeedge.api.errors import StatusError
from kubeedge.api.protobuf import (
    MAGIC,
    can_decode,
    decode_message,
    decode_request,
    is_protobuf,
)
from kubeedge.cloud.certs.authority import CertificateAuthority

KUBECTL = shutil.which("kubectl")

# ---------------------------------------------------------------------------------------
# A tiny protobuf writer for hand-made bodies
# ---------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def vi(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def entry(k: str, value: bytes) -> bytes:
    return ld(1, k) + value


def envelope(api_version: str, kind: str, raw: bytes, **extra: bytes) -> bytes:
    type_meta = ld(1, api_version) + ld(2, kind)
    return MAGIC + ld(1, type_meta) + ld(2, raw) + b"".join(extra.values())


# ---------------------------------------------------------------------------------------
# The field table
# ---------------------------------------------------------------------------------------


def test_table_is_closed_acyclic_and_covers_the_roots() -> None:
    kinds = {"string", "int32", "int64", "bool", "bytes", "double"}
    specials = {"time", "microtime", "duration", "intstr", "quantity", "raw"}
    edges: dict[str, set[str]] = {}
    for name, fields in table.MESSAGES.items():
        numbers = [f[0] for f in fields]
        assert len(numbers) == len(set(numbers)), name
        edges[name] = set()
        for _number, json_name, kind, flags in fields:
            assert set(flags) <= set("ropi"), (name, json_name)
            assert ("i" in flags) == (json_name == ""), (name, json_name)
            base = kind.removeprefix("map:")
            if base.startswith("message:"):
                target = base.removeprefix("message:")
                assert target in table.MESSAGES or target in table.LIST_WRAPPERS, target
                if target in table.MESSAGES:
                    edges[name].add(target)
            else:
                assert base in kinds | specials, (name, kind)
    for root in [*table.ROOTS.values(), *table.META_ROOTS.values()]:
        assert root in table.MESSAGES
    # no cycles: a depth-first walk never meets a message on its own path
    done: set[str] = set()

    def walk(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, path
        if name in done:
            return
        for target in edges[name]:
            walk(target, (*path, name))
        done.add(name)

    for name in edges:
        walk(name, ())
    assert table.MESSAGES["meta.v1.ObjectMeta"][0] == (1, "name", "string", "o")
    assert can_decode("v1", "ConfigMap") and can_decode("apps/v1", "DeleteOptions")
    assert not can_decode("v1", "Widget")


def test_is_protobuf() -> None:
    assert is_protobuf("application/vnd.kubernetes.protobuf")
    assert is_protobuf("application/vnd.kubernetes.protobuf; charset=utf-8")
    assert not is_protobuf("application/json")
    assert not is_protobuf(None)


# ---------------------------------------------------------------------------------------
# Hand-made bodies: JSON conventions and the special types
# ---------------------------------------------------------------------------------------

EMPTY_META = ld(1, b"")  # gogo always writes the non-pointer ObjectMeta


def configmap_meta(name: str = "c") -> bytes:
    # As gogo writes ObjectMeta: every non-pointer scalar, even when empty.
    meta = (
        ld(1, name)
        + ld(2, "")
        + ld(3, "")
        + ld(4, "")
        + ld(5, "")
        + ld(6, "")
        + vi(7, 0)
        + ld(8, b"")
        + ld(15, "")
    )
    return ld(1, meta)


def test_configmap_like_kubectl_writes_it() -> None:
    raw = configmap_meta() + ld(2, entry("b", ld(2, "2"))) + ld(2, entry("a", ld(2, "1")))
    obj = decode_request(envelope("v1", "ConfigMap", raw), "ConfigMap")
    assert obj == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "c", "creationTimestamp": None},
        "data": {"a": "1", "b": "2"},
    }
    assert list(obj) == ["kind", "apiVersion", "metadata", "data"]
    assert list(obj["data"]) == ["a", "b"]  # Go sorts map keys


def test_secret_bytes_are_base64_and_immutable_pointer_kept_when_false() -> None:
    raw = (
        EMPTY_META
        + ld(2, entry("k", ld(2, b"\x00\xff")))
        + ld(2, entry("empty", b""))
        + ld(3, "Opaque")
        + vi(5, 0)
    )
    obj = decode_request(envelope("v1", "Secret", raw))
    assert obj == {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"creationTimestamp": None},
        "immutable": False,
        "data": {"empty": "", "k": base64.b64encode(b"\x00\xff").decode()},
        "type": "Opaque",
    }


def test_times_quantities_intorstring_and_inline_volume_source() -> None:
    ts = ld(8, vi(1, 1735689600) + vi(2, 999))  # nanos dropped, as Time.Unmarshal does
    meta = ld(1, ld(1, "p") + ts + ld(11, entry("app", ld(2, "web"))))
    probe = ld(1, ld(2, ld(1, "/healthz") + ld(2, vi(1, 1) + ld(3, "http"))))  # httpGet
    container = (
        ld(1, "c")
        + ld(2, "nginx")
        + ld(8, ld(1, entry("cpu", ld(2, ld(1, "500m")))))  # resources.limits
        + ld(10, probe)  # livenessProbe
    )
    volume = ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "cm"))))  # configMap: {name}
    spec = ld(1, volume) + ld(2, container) + vi(4, 30) + ld(6, "ClusterFirst")
    obj = decode_request(envelope("v1", "Pod", meta + ld(2, spec) + ld(3, b"")))
    assert obj["metadata"] == {
        "name": "p",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "labels": {"app": "web"},
    }
    pod_spec = obj["spec"]
    assert pod_spec["volumes"] == [{"name": "cfg", "configMap": {"name": "cm"}}]
    assert pod_spec["terminationGracePeriodSeconds"] == 30  # a pointer: kept
    assert pod_spec["containers"] == [
        {
            "name": "c",
            "image": "nginx",
            "resources": {"limits": {"cpu": "500m"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        }
    ]
    assert obj["status"] == {}


def test_microtime_duration_and_int_intorstring() -> None:
    lease_spec = (
        ld(1, "holder")
        + vi(2, 15)
        + ld(3, vi(1, 1735689600) + vi(2, 123456789))  # acquireTime
        + ld(4, b"")  # renewTime: a present, zero MicroTime is null
    )
    obj = decode_request(
        envelope("coordination.k8s.io/v1", "Lease", EMPTY_META + ld(2, lease_spec))
    )
    assert obj["spec"] == {
        "holderIdentity": "holder",
        "leaseDurationSeconds": 15,
        "acquireTime": "2025-01-01T00:00:00.123456Z",
        "renewTime": None,
    }
    pdb_spec = ld(1, vi(1, 0) + vi(2, 2)) + ld(3, vi(1, 1) + ld(3, "25%"))
    obj = decode_request(envelope("policy/v1", "PodDisruptionBudget", EMPTY_META + ld(2, pdb_spec)))
    assert obj["spec"] == {"minAvailable": 2, "maxUnavailable": "25%"}
    assert obj["status"] == {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    }


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5\u00b5s"),
        (100_000_000, "100ms"),
        (1_500_000_000, "1.5s"),
        (3600 * 10**9, "1h0m0s"),
        (-(90 * 10**9), "-1m30s"),
        (-(2**63), "-2562047h47m16.854775808s"),
    ],
)
def test_go_duration_strings(nanoseconds: int, text: str) -> None:
    from kubeedge.api.protobuf import _go_duration

    assert _go_duration(nanoseconds) == text


def test_extra_values_raw_extension_and_absent_fields() -> None:
    extra = ld(5, entry("scopes", ld(2, ld(1, "a") + ld(1, "b")))) + ld(5, entry("none", b""))
    spec = ld(3, "alice") + extra
    obj = decode_request(envelope("authorization.k8s.io/v1", "SubjectAccessReview", ld(2, spec)))
    assert obj == {
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},  # absent non-pointer struct: its zero
        "spec": {"user": "alice", "extra": {"none": None, "scopes": ["a", "b"]}},
        "status": {"allowed": False},  # `allowed` has no omitempty
    }
    assert decode_message("meta.v1.ManagedFieldsEntry", ld(7, ld(1, b'{"f:a":{}}'))) == {
        "fieldsV1": {"f:a": {}}
    }


def test_delete_options_under_any_group_version_and_packed_repeats() -> None:
    raw = vi(1, 0) + ld(4, "Background") + ld(5, "All")
    obj = decode_request(envelope("apps/v1", "DeleteOptions", raw))
    assert obj == {
        "kind": "DeleteOptions",
        "apiVersion": "apps/v1",
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Background",
        "dryRun": ["All"],
    }
    # repeated int64 supplementalGroups, packed and unpacked, in a PodSecurityContext
    psc = ld(4, varint(1) + varint(2)) + vi(4, 3)
    spec = decode_message("core.v1.PodSpec", ld(14, psc))
    assert spec["securityContext"] == {"supplementalGroups": [1, 2, 3]}


def test_negative_ints_wrap_like_go() -> None:
    obj = decode_message("scheduling.v1.PriorityClass", vi(2, -5))
    assert obj["value"] == -5
    obj = decode_message("scheduling.v1.PriorityClass", vi(2, (1 << 40) + 7))
    assert obj["value"] == 7  # int32(...) keeps the low 32 bits


def test_envelope_defaults_and_mismatches() -> None:
    raw = EMPTY_META
    bare = MAGIC + ld(2, raw)
    obj = decode_request(bare, "Namespace", expected_api_version="v1")
    assert obj["kind"] == "Namespace" and obj["apiVersion"] == "v1"
    with pytest.raises(StatusError) as err:
        decode_request(bare)
    assert err.value.code == 400 and "Kind" in err.value.message
    with pytest.raises(StatusError) as err:
        decode_request(envelope("v1", "Secret", raw), "ConfigMap")
    assert err.value.code == 400
    with pytest.raises(StatusError) as err:
        decode_request(envelope("v1", "ConfigMap", raw), expected_api_version="apps/v1")
    assert err.value.code == 400


def test_unknown_kind_is_415_with_kubes_wording() -> None:
    with pytest.raises(StatusError) as err:
        decode_request(envelope("example.com/v1", "Widget", b""))
    assert err.value.code == 415
    assert err.value.reason == "UnsupportedMediaType"
    assert err.value.message.startswith(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )
    assert "example.com/v1, Kind=Widget" in err.value.message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty data"),
        (b"k8s", "expected prefix"),
        (b'{"kind":"Pod"}', "expected prefix"),
        (MAGIC, "empty body"),
        (MAGIC + b"\x0a", "unexpected EOF"),
        (MAGIC + b"\x0a\x05ab", "unexpected EOF"),
        (MAGIC + b"\xff" * 11, "integer overflow"),
        (MAGIC + b"\x08\x01", "wrong wireType"),
        (MAGIC + b"\x0c", "end group"),
        (MAGIC + b"\x00", "illegal tag"),
        (envelope("v1", "ConfigMap", b"\x0a"), "unexpected EOF"),
        (envelope("v1", "ConfigMap", vi(1, 3)), "wrong wireType"),
        (envelope("v1", "ConfigMap", key(99, 7)), "illegal wireType"),
        (envelope("policy/v1", "PodDisruptionBudget", ld(2, ld(1, vi(1, 7)))), "IntOrString"),
        (
            envelope("v1", "Pod", ld(2, ld(2, ld(8, ld(1, entry("cpu", ld(2, ld(1, "x")))))))),
            "quantities",
        ),
        (envelope("v1", "Pod", ld(1, ld(8, vi(1, 1 << 62)))), "year"),
    ],
)
def test_malformed_bodies_are_400(body: bytes, words: str) -> None:
    with pytest.raises(StatusError) as err:
        decode_request(body)
    assert err.value.code == 400, err.value.message
    assert words in err.value.message


def test_unknown_fields_and_groups_are_skipped() -> None:
    unknown = vi(99, 5) + key(98, 1) + b"\0" * 8 + key(97, 5) + b"\0" * 4 + ld(96, "x")
    group = key(95, 3) + vi(1, 1) + key(94, 3) + key(94, 4) + key(95, 4)
    raw = unknown + group + ld(2, entry("a", ld(2, "b") + vi(3, 1)))
    obj = decode_request(envelope("v1", "ConfigMap", raw) + vi(9, 1))
    assert obj["data"] == {"a": "b"}


# ---------------------------------------------------------------------------------------
# Fuzzing: only StatusError, always terminates
# ---------------------------------------------------------------------------------------


def _decode_or_status(body: bytes) -> None:
    try:
        obj = decode_request(body)
    except StatusError as err:
        assert err.code in (400, 415)
    else:
        json.dumps(obj, allow_nan=False)  # JSON-compatible


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_status(data)
    _decode_or_status(MAGIC + data)


ROOT_KINDS = sorted(table.ROOTS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ROOT_KINDS), st.binary(max_size=400))
def test_fuzz_random_messages_of_every_kind(gvk: tuple[str, str], raw: bytes) -> None:
    _decode_or_status(envelope(gvk[0], gvk[1], raw))


@st.composite
def wire_messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Structurally valid-ish protobuf: random fields with plausible wire types."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        number = draw(st.integers(1, 35))
        wire = draw(st.sampled_from([0, 0, 2, 2, 2, 1, 5]))
        if wire == 0:
            parts.append(vi(number, draw(st.integers(-(2**63), 2**64 - 1))))
        elif wire == 1:
            parts.append(key(number, 1) + draw(st.binary(min_size=8, max_size=8)))
        elif wire == 5:
            parts.append(key(number, 5) + draw(st.binary(min_size=4, max_size=4)))
        elif depth < 4 and draw(st.booleans()):
            parts.append(ld(number, draw(wire_messages(depth + 1))))
        else:
            parts.append(ld(number, draw(st.binary(max_size=12))))
    return b"".join(parts)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ROOT_KINDS), wire_messages(), st.integers(0, 10_000))
def test_fuzz_structured_and_truncated(gvk: tuple[str, str], raw: bytes, cut: int) -> None:
    body = envelope(gvk[0], gvk[1], raw)
    _decode_or_status(body)
    _decode_or_status(body[: len(MAGIC) + cut % max(1, len(body) - len(MAGIC))])


# ---------------------------------------------------------------------------------------
# The oracle: the real kubectl against a recording server
# ---------------------------------------------------------------------------------------

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _resource(
    name: str, kind: str, *, namespaced: bool = True, short: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    singular = "" if "/" in name else kind.lower()
    entry = {"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind}
    entry["verbs"] = extra.pop("verbs", VERBS)
    if short:
        entry["shortNames"] = list(short)
    return {**entry, **extra}


# Legacy discovery, the shape of specs/k8s-api.md §1: just what the commands resolve.
DISCOVERY: dict[str, list[dict[str, Any]]] = {
    "v1": [
        _resource("configmaps", "ConfigMap", short=("cm",)),
        _resource("secrets", "Secret"),
        _resource("namespaces", "Namespace", namespaced=False, short=("ns",)),
        _resource("serviceaccounts", "ServiceAccount", short=("sa",)),
        _resource(
            "serviceaccounts/token",
            "TokenRequest",
            group="authentication.k8s.io",
            version="v1",
            verbs=["create"],
        ),
        _resource("resourcequotas", "ResourceQuota", short=("quota",)),
        _resource("pods", "Pod", short=("po",)),
        _resource("nodes", "Node", namespaced=False, short=("no",)),
    ],
    "apps/v1": [_resource("deployments", "Deployment", short=("deploy",))],
    "batch/v1": [_resource("jobs", "Job"), _resource("cronjobs", "CronJob", short=("cj",))],
    "scheduling.k8s.io/v1": [
        _resource("priorityclasses", "PriorityClass", namespaced=False, short=("pc",))
    ],
    "rbac.authorization.k8s.io/v1": [
        _resource("roles", "Role"),
        _resource("rolebindings", "RoleBinding"),
        _resource("clusterroles", "ClusterRole", namespaced=False),
        _resource("clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    ],
    "authorization.k8s.io/v1": [
        _resource(r, k, namespaced=False, verbs=["create"])
        for r, k in [
            ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
            ("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
        ]
    ],
    "authentication.k8s.io/v1": [
        _resource("selfsubjectreviews", "SelfSubjectReview", namespaced=False, verbs=["create"])
    ],
}

# What the command prints is not under test; these replies just keep kubectl happy.
REPLIES: dict[str, dict[str, Any]] = {
    "selfsubjectaccessreviews": {"status": {"allowed": True}},
    "selfsubjectrulesreviews": {
        "status": {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [],
            "incomplete": False,
        }
    },
    "selfsubjectreviews": {"status": {"userInfo": {"username": "admin"}}},
    "token": {"status": {"token": "t0k3n", "expirationTimestamp": "2030-01-01T00:00:00Z"}},
}


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    token: str
    body: bytes


@dataclass
class Run:
    """One command: the protobuf bodies it POSTed and its `--dry-run=client -o json`."""

    posts: list[Recorded] = field(default_factory=list)
    returncode: int = 0
    stderr: str = ""
    dry_run: dict[str, Any] | None = None


class KubectlRecorder:
    """An HTTPS server that answers /version and discovery and records every request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[Recorded] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        ca = CertificateAuthority.create()
        self.ca_file = root / "ca.crt"
        self.ca_file.write_bytes(ca.cert_pem)
        self.cert_file, self.key_file = root / "tls.crt", root / "tls.key"
        ca.issue_server_cert("x", ip_addresses=["127.0.0.1"]).write(self.cert_file, self.key_file)

    @classmethod
    def start(cls, root: Path) -> KubectlRecorder:
        recorder = cls(root)
        recorder._thread.start()
        if not recorder._ready.wait(10):
            raise RuntimeError("recording server did not start")
        return recorder

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.requests.append(
            Recorded(request.method, request.path, request.content_type, token, body)
        )
        path = request.path.rstrip("/")
        if request.method == "POST":
            return web.json_response(self._reply(path, body), status=201)
        if path == "/version":
            return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = []
            for gv in DISCOVERY:
                if "/" in gv:
                    group, version = gv.split("/")
                    pref = {"groupVersion": gv, "version": version}
                    groups.append({"name": group, "versions": [pref], "preferredVersion": pref})
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        gv = path.removeprefix("/api/").removeprefix("/apis/")
        if gv in DISCOVERY:
            return web.json_response(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": gv,
                    "resources": DISCOVERY[gv],
                }
            )
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "not found",
            "reason": "NotFound",
            "code": 404,
        }
        return web.json_response(status, status=404)

    @staticmethod
    def _reply(path: str, body: bytes) -> dict[str, Any]:
        try:
            obj = decode_request(body)
        except StatusError:
            obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
        obj.update(REPLIES.get(path.rsplit("/", 1)[-1], {}))
        return obj

    def kubectl(self, token: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run kubectl with a fresh HOME (the dispatcher caches /version there)."""
        home = self.root / token
        home.mkdir()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.port}",
                        "certificate-authority": str(self.ca_file),
                    },
                }
            ],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
        kubeconfig = home / "config"
        kubeconfig.write_text(json.dumps(config))
        env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
        assert KUBECTL is not None
        return subprocess.run(
            [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def run_all(self, commands: dict[str, tuple[str, ...]]) -> dict[str, Run]:
        """Each command for real and (when it has one) as a client dry run, in parallel."""
        jobs = [(name, False) for name in commands]
        jobs += [(name, True) for name in commands if name not in NO_DRY_RUN]

        def one(job: tuple[str, bool]) -> tuple[str, bool, subprocess.CompletedProcess[str]]:
            name, dry = job
            args = commands[name]
            if dry:  # flags go before a `--` that starts the container's command
                cut = args.index("--") if "--" in args else len(args)
                args = (*args[:cut], "--dry-run=client", "-o", "json", *args[cut:])
            return name, dry, self.kubectl(f"{name}-dry" if dry else name, *args)

        runs = {name: Run() for name in commands}
        with ThreadPoolExecutor(max_workers=8) as pool:
            for name, dry, proc in pool.map(one, jobs):
                run = runs[name]
                if dry:
                    assert proc.returncode == 0, proc.stderr
                    run.dry_run = json.loads(proc.stdout)
                else:
                    run.returncode, run.stderr = proc.returncode, proc.stderr
        for req in self.requests:
            if req.method == "POST" and req.token in runs:
                runs[req.token].posts.append(req)
        return runs


COMMANDS: dict[str, tuple[str, ...]] = {
    "configmap": ("create", "configmap", "pb-cm", "--from-literal=a=b", "--from-literal=c=d"),
    "secret": (
        "create",
        "secret",
        "generic",
        "pb-sec",
        "--from-literal=k=v",
        "--from-literal=empty=",
    ),
    "secret-tls": ("create", "secret", "tls", "pb-tls", "--cert=CERT", "--key=KEY"),
    "namespace": ("create", "namespace", "pb-ns"),
    "serviceaccount": ("create", "serviceaccount", "pb-sa"),
    "deployment": (
        "create",
        "deployment",
        "pb-dep",
        "--image=nginx:1.25",
        "--replicas=3",
        "--port=80",
    ),
    "job": ("create", "job", "pb-job", "--image=busybox", "--", "echo", "hi"),
    "cronjob": (
        "create",
        "cronjob",
        "pb-cj",
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--",
        "date",
    ),
    "priorityclass": (
        "create",
        "priorityclass",
        "pb-pc",
        "--value=1000",
        "--description=high",
        "--preemption-policy=Never",
    ),
    "role": ("create", "role", "pb-role", "--verb=get,list", "--resource=pods,deployments.apps"),
    "rolebinding": (
        "create",
        "rolebinding",
        "pb-rb",
        "--clusterrole=view",
        "--user=alice",
        "--serviceaccount=default:pb-sa",
    ),
    "clusterrole": (
        "create",
        "clusterrole",
        "pb-cr",
        "--verb=get",
        "--resource=nodes",
        "--non-resource-url=/logs/*",
    ),
    "clusterrolebinding": (
        "create",
        "clusterrolebinding",
        "pb-crb",
        "--clusterrole=view",
        "--group=devs",
    ),
    "quota": (
        "create",
        "quota",
        "pb-q",
        "--hard=cpu=1,memory=1Gi,pods=10",
        "--scopes=NotTerminating",
    ),
    "token": ("create", "token", "pb-sa", "--audience=a", "--audience=b", "--duration=1h"),
    "can-i": ("auth", "can-i", "create", "pods", "-n", "x"),
    "can-i-list": ("auth", "can-i", "--list", "-n", "x"),
    "whoami": ("auth", "whoami"),
}
NO_DRY_RUN = {"token", "can-i", "can-i-list", "whoami"}

# Bodies without a dry run: the JSON Go would print for the same struct.
EXPECTED = {
    "token": {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"audiences": ["a", "b"], "expirationSeconds": 3600, "boundObjectRef": None},
        "status": {"token": "", "expirationTimestamp": None},
    },
    "can-i": {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "x", "verb": "create", "resource": "pods"}},
        "status": {"allowed": False},
    },
    "can-i-list": {
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"namespace": "x"},
        "status": {"resourceRules": None, "nonResourceRules": None, "incomplete": False},
    },
    "whoami": {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {}},
    },
}


@pytest.fixture(scope="module")
def kubectl_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    if KUBECTL is None:
        raise AssertionError("kubectl 1.32 is required: install it (apt-get install kubectl)")
    root = tmp_path_factory.mktemp("kubectl-protobuf")
    recorder = KubectlRecorder.start(root)
    commands = {
        name: tuple(
            a.replace("CERT", str(recorder.cert_file)).replace("KEY", str(recorder.key_file))
            for a in args
        )
        for name, args in COMMANDS.items()
    }
    try:
        yield recorder.run_all(commands)
    finally:
        recorder.stop()


@pytest.mark.kubectl
@pytest.mark.parametrize("name", list(COMMANDS))
def test_kubectl_protobuf_body_decodes_to_its_json(kubectl_runs: dict[str, Run], name: str) -> None:
    run = kubectl_runs[name]
    assert run.returncode == 0, run.stderr
    assert len(run.posts) == 1, run.posts
    post = run.posts[0]
    assert post.content_type == "application/vnd.kubernetes.protobuf"
    decoded = decode_request(post.body)
    expected = run.dry_run if run.dry_run is not None else EXPECTED[name]
    assert decoded == expected
    assert list(decoded)[:2] == ["kind", "apiVersion"]
    if os.environ.get("UPDATE_PROTOBUF_FIXTURES") and name not in NO_FIXTURE:
        (FIXTURES / f"{name}.pb").write_bytes(post.body)
        (FIXTURES / f"{name}.json").write_text(json.dumps(expected, indent=1) + "\n")


# ---------------------------------------------------------------------------------------
# Recorded kubectl bodies: the same check without kubectl, and mutation fuzzing
# ---------------------------------------------------------------------------------------

# Bodies kubectl 1.32.4 sent above, with the JSON they must decode to. Rewrite them with
# `UPDATE_PROTOBUF_FIXTURES=1 pytest tests/unit/api/test_protobuf.py -k kubectl`.
FIXTURES = Path(__file__).parent / "protobuf_fixtures"
NO_FIXTURE = {"secret-tls"}  # its data is a private key: kept out of the repository
RECORDED = sorted(p.stem for p in FIXTURES.glob("*.pb"))


def test_fixtures_cover_the_commands() -> None:
    assert set(RECORDED) == set(COMMANDS) - NO_FIXTURE


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_body_decodes_to_its_json(name: str) -> None:
    body = (FIXTURES / f"{name}.pb").read_bytes()
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    assert decode_request(body, expected["kind"]) == expected


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(RECORDED), st.integers(0, 1 << 16), st.integers(0, 255), st.booleans())
def test_fuzz_mutated_kubectl_bodies(name: str, where: int, byte: int, truncate: bool) -> None:
    body = bytearray((FIXTURES / f"{name}.pb").read_bytes())
    where %= len(body)
    if truncate:
        del body[where:]
    else:
        body[where] = byte
    _decode_or_status(bytes(body))
