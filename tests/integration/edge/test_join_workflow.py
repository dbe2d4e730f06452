"""Issue 6's "Must show" for joining, with real processes only: `keadm init` (API server
and cloudcore), `keadm gettoken`, `keadm join` (edgecore processes under their own
roots) and kubectl, on cloudcore's own channel (`cloud.hub_port`, `cloud.cert_port`).

- Two edges joined side by side into one cloud are Ready within 10 s of their `keadm
  join`, and `kubectl get nodes -o wide`, read as a user reads it, lists both with the
  edge role, Ready, an internal IP and the version edgecore reports.
- Refused joins leave no Node, Lease or ObjectSync, and no file the join made: a
  certificate of another node under the root (CloudHub refuses it: its CN must be
  `system:node:<node_id>`), no client certificate or one of another CA at CloudHub's
  port, an expired token (`token validation failure`).
- Acknowledged means durable (ARCHITECTURE.md rule 5, specs/kubeedge.md §3 "ACK", §6):
  whenever an ObjectSync shows a resourceVersion as acknowledged, the edge's database
  (`var/lib/kubeedge/edgecore.db`, read by this test while edgecore writes it) already
  holds that version or a newer one, for a pod, its configmap and its secret, and
  through a run of configmap updates.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud import setup_edge
from kubeedge.cloud.synccontroller.crds import CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS
from kubeedge.edge.core import EdgeLayout, read_state
from tests.fixtures.cluster import Cloud, eventually, keadm, running_cloud, wait_until
from tests.integration.edge.test_edgecore_process import FAST

CONFIGMAPS = Resource.of("v1", "configmaps")
SECRETS = Resource.of("v1", "secrets")
PODS = Resource.of("v1", "pods")

EDGES = ("edge-left", "edge-right")
READY_WITHIN = 10.0  # seconds from the start of `keadm join` (issue 6)
# The certificate files under an edge's root (EdgeCore's tlsCaFile, tlsCertFile,
# tlsPrivateKeyFile defaults, spec §4 "Edge bootstrap").
CERT_FILES = ("etc/kubeedge/ca/rootCA.crt", "etc/kubeedge/certs/server.crt",
              "etc/kubeedge/certs/server.key")


@dataclass
class Joined:
    name: str
    root: Path
    result: subprocess.CompletedProcess[str]
    ready_after: float  # seconds from the start of its `keadm join` to Ready in the API


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("join"), controllers=()) as c:
        yield c


@pytest.fixture(scope="module")
def token(cloud: Cloud) -> str:
    return str(wait_until(
        lambda: (lambda p: p.returncode == 0 and p.stdout.strip())(
            keadm("gettoken", "--root", str(cloud.root), check=False)),
        30, "keadm gettoken"))


def _join_args(cloud: Cloud, token: str, name: str, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kubeedge.cli.keadm", "join",
            f"--cloudcore-ipport={cloud.hub_server}", f"--token={token}",
            f"--edgenode-name={name}", f"--certport={cloud.cert_port}", "--root", str(root),
            *[a for s in FAST for a in ("--set", s)], *extra]


def _ready_nodes(cloud: Cloud) -> set[str]:
    proc = cloud.kubectl("get", "nodes", "-o", "json", check=False)
    if proc.returncode != 0:
        return set()
    return {node["metadata"]["name"] for node in json.loads(proc.stdout)["items"]
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node.get("status", {}).get("conditions") or [])}


@pytest.fixture(scope="module")
def edges(cloud: Cloud, token: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Joined]]:
    """Both edges joined at once, each under its own root, timed from the start of its
    `keadm join` until kubectl first shows its Node Ready."""
    base = tmp_path_factory.mktemp("edges")
    started: dict[str, float] = {}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in EDGES:
            started[name] = time.monotonic()
            procs[name] = subprocess.Popen(
                _join_args(cloud, token, name, base / name, "--timeout", "30"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL)
        ready_at: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while len(ready_at) < len(EDGES) and time.monotonic() < deadline:
            now_ready = _ready_nodes(cloud)
            seen = time.monotonic()
            for name in now_ready & set(EDGES) - set(ready_at):
                ready_at[name] = seen
            if all(p.poll() not in (None, 0) for p in procs.values()):
                break  # both joins failed; the test shows why
        joined = {}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=60)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
            joined[name] = Joined(name, base / name, result,
                                  ready_at.get(name, float("inf")) - started[name])
        yield joined
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        for name in EDGES:
            keadm("reset", "edge", "--root", str(base / name), "--force", check=False)


# --------------------------------------------------------------------------- helpers


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _wide_rows(text: str) -> dict[str, dict[str, str]]:
    """`kubectl get nodes -o wide` as a user reads it: columns start where their
    headers start (values such as OS-IMAGE hold spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [(m.start(), m.group()) for m in re.finditer(r"\S+", header)]
    rows = {}
    for line in lines[1:]:
        row = {}
        for i, (start, column) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(line)
            row[column] = line[start:end].strip()
        rows[row["NAME"]] = row
    return rows


async def _leftovers(api: APIClient, node: str) -> list[str]:
    """The Node, Lease and (Cluster)ObjectSyncs of `node` that exist."""
    found = []
    for kind, ref, namespace in (
            ("node", Resource.of("v1", "nodes"), None),
            ("lease", Resource.of("coordination.k8s.io/v1", "leases"), "kube-node-lease")):
        try:
            await api.get(ref, node, namespace)
            found.append(f"{kind}/{node}")
        except APIError as exc:
            assert exc.code == 404, exc
    for ref in (OBJECT_SYNCS, CLUSTER_OBJECT_SYNCS):
        items = (await api.list(ref)).get("items") or []
        found += [f"{ref.plural}/{item['metadata']['name']}" for item in items
                  if item["metadata"]["name"].startswith(f"{node}.")]
    return found


def _client_ssl(ca: Path, cert: Path | None = None, key: Path | None = None
                ) -> ssl.SSLContext:
    """What an edge dials CloudHub with: the KubeEdge CA, and a client pair if given."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


async def _dial_hub(cloud: Cloud, ctx: ssl.SSLContext, node: str) -> None:
    """Open a session with cloudcore's CloudHub as `node` and read one frame."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"wss://127.0.0.1:{cloud.hub_port}/e632aba927ea4ac2b575ec1603d56f10/{node}/events",
            ssl=ctx, headers={"node_id": node,
                              "project_id": "e632aba927ea4ac2b575ec1603d56f10"}) as ws:
        # TLS 1.3 reports a refused client certificate on the first read.
        await ws.receive(timeout=5)


def _edgecore_version() -> str:
    """The node version `edgecore --version` reports."""
    out = subprocess.run([sys.executable, "-m", "kubeedge.cli.edgecore", "--version"],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"^node version (\S+)", out, re.M)
    assert match, out
    return match.group(1)


# --------------------------------------------------------------------------- joining


def test_two_edges_join_side_by_side_and_are_ready_within_10s(
        cloud: Cloud, edges: dict[str, Joined]) -> None:
    for edge in edges.values():
        assert edge.result.returncode == 0, edge.result.stdout + edge.result.stderr
        assert f"edge node {edge.name} joined" in edge.result.stdout
        assert edge.ready_after <= READY_WITHIN, (
            f"{edge.name} Ready {edge.ready_after:.1f}s after its keadm join started")
    pids = {setup_edge.edgecore_pid(edge.root) for edge in edges.values()}
    assert None not in pids and len(pids) == 2  # one edgecore per root

    wide = cloud.kubectl("get", "nodes", "-o", "wide").stdout
    rows = _wide_rows(wide)
    version = _edgecore_version()
    for name in EDGES:
        row = rows.get(name)
        assert row is not None, wide
        assert row["STATUS"] == "Ready", row
        assert "edge" in row["ROLES"].split(","), row
        ipaddress.ip_address(row["INTERNAL-IP"])  # an address, not <none>
        assert row["VERSION"] == version, row


async def test_certificate_of_another_node_is_refused_and_the_files_are_kept(
        cloud: Cloud, token: str, edges: dict[str, Joined], tmp_path: Path) -> None:
    owner = edges[EDGES[0]]
    root = tmp_path / "impostor"
    for relative in CERT_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(owner.root / relative, root / relative)
    placed = {relative: (root / relative).read_bytes() for relative in CERT_FILES}

    refused = await asyncio.to_thread(subprocess.run, _join_args(
        cloud, token, "edge-impostor", root, "--timeout", "15"),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode != 0
    assert "join refused: " in refused.stderr and "for another node" in refused.stderr, (
        refused.stderr)
    assert f"system:node:{owner.name}" in refused.stderr
    assert f"--edgenode-name={owner.name}" in refused.stderr  # what to do instead
    # The user's files are there as they were, and the join made none.
    assert _files(root) == sorted(CERT_FILES)
    assert {relative: (root / relative).read_bytes() for relative in CERT_FILES} == placed

    # CloudHub itself refuses that certificate from a session claiming another node.
    ctx = _client_ssl(root / CERT_FILES[0], root / CERT_FILES[1], root / CERT_FILES[2])
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await _dial_hub(cloud, ctx, "edge-impostor")
    assert handshake.value.status == 403
    async with aiohttp.ClientSession() as session, session.get(
            f"https://127.0.0.1:{cloud.hub_port}/", ssl=ctx,
            headers={"node_id": "edge-impostor", "Upgrade": "websocket",
                     "Connection": "Upgrade"}) as resp:
        assert resp.status == 403
        assert "didn't match node ID" in await resp.text()

    async with APIClient(cloud.kubeconfig) as api:
        assert await _leftovers(api, "edge-impostor") == []
    # The owner's own session was not disturbed.
    assert (read_state(EdgeLayout(owner.root).state) or {}).get("connected") is True


async def test_hub_refuses_clients_without_a_certificate_of_its_ca(
        cloud: Cloud, edges: dict[str, Joined], tmp_path: Path) -> None:
    from kubeedge.cloud.certs.edge_ca import create_kubeedge_ca

    ca = edges[EDGES[0]].root / CERT_FILES[0]  # the cloud's KubeEdge CA
    other = create_kubeedge_ca().issue_client_cert("system:node:edge-nocert",
                                                    ["system:nodes"])
    other.write(tmp_path / "other.crt", tmp_path / "other.key")
    for ctx in (_client_ssl(ca),
                _client_ssl(ca, tmp_path / "other.crt", tmp_path / "other.key")):
        # Refused in TLS, before any HTTP answer (TLS 1.3: the server drops the
        # connection once it sees the client's certificate missing or untrusted).
        with pytest.raises((aiohttp.ClientConnectionError, ssl.SSLError, ConnectionError)):
            await _dial_hub(cloud, ctx, "edge-nocert")
    async with APIClient(cloud.kubeconfig) as api:
        assert await _leftovers(api, "edge-nocert") == []


async def test_expired_token_is_refused_and_only_what_the_join_made_goes(
        cloud: Cloud, edges: dict[str, Joined], tmp_path: Path) -> None:
    from kubeedge.cloud.certs.edge_ca import CA_DATA, CA_KEY_DATA, CA_SECRET, NAMESPACE
    from kubeedge.cloud.certs.token import create_token

    async with APIClient(cloud.kubeconfig) as api:
        secret = await api.get(SECRETS, CA_SECRET, NAMESPACE)
    ca_der, ca_key = (base64.b64decode(secret["data"][k]) for k in (CA_DATA, CA_KEY_DATA))
    expired = create_token(ca_der, ca_key, now=time.time() - 3 * 86400)

    # Something the user put under the root first: the CA, provisioned by hand.
    root = tmp_path / "edge-expired"
    placed = root / CERT_FILES[0]
    placed.parent.mkdir(parents=True)
    shutil.copy2(edges[EDGES[0]].root / CERT_FILES[0], placed)

    refused = await asyncio.to_thread(subprocess.run, _join_args(
        cloud, expired, "edge-expired", root, "--timeout", "15"),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode != 0
    assert "token validation failure" in refused.stderr, refused.stderr
    assert "expired" in refused.stderr
    assert _files(root) == [CERT_FILES[0]]
    assert placed.read_bytes() == (edges[EDGES[0]].root / CERT_FILES[0]).read_bytes()
    async with APIClient(cloud.kubeconfig) as api:
        assert await _leftovers(api, "edge-expired") == []


# --------------------------------------------------------------------------- durability


def _stored_versions(db: sqlite3.Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The `meta` rows (spec §6: key, type, value) for `keys`: type, object, version."""
    marks = ",".join("?" * len(keys))
    rows = db.execute(f"SELECT key, type, value FROM meta WHERE key IN ({marks})",
                      keys).fetchall()
    out = {}
    for key, kind, value in rows:
        obj = json.loads(value)
        out[key] = {"type": kind, "object": obj,
                    "version": int(obj["metadata"]["resourceVersion"])}
    return out


class AckWatcher:
    """Polls the ObjectSyncs of `node` and then the edge database, and fails on any
    acknowledged resourceVersion the database does not hold yet."""

    def __init__(self, api: APIClient, db: sqlite3.Connection, node: str,
                 objects: dict[str, str]) -> None:
        self.api, self.db, self.node = api, db, node
        self.objects = objects  # edge key (`default/configmap/x`) -> uid
        self.observations = 0

    async def acked(self) -> dict[str, int]:
        items = (await self.api.list(OBJECT_SYNCS, "default")).get("items") or []
        by_name = {item["metadata"]["name"]: item for item in items}
        acked = {}
        for key, uid in self.objects.items():
            sync = by_name.get(f"{self.node}.{uid}")
            if sync is not None:
                acked[key] = int((sync.get("status") or {}).get("objectResourceVersion")
                                 or 0)
        return acked

    async def check_once(self) -> dict[str, int]:
        acked = await self.acked()
        stored = _stored_versions(self.db, list(self.objects))  # read after the ACKs
        for key, version in acked.items():
            have = stored.get(key, {}).get("version", 0)
            assert have >= version, (
                f"ObjectSync shows {key} acknowledged at resourceVersion {version}, but "
                f"the edge database holds {have or 'nothing'}")
        self.observations += 1
        return acked

    async def until(self, wanted: dict[str, int], timeout: float = 15) -> None:
        """Check on every poll until each key is acknowledged at `wanted` or later."""
        await eventually(
            lambda: self._reached(wanted), timeout=timeout, interval=0.02,
            what=f"ObjectSyncs of {self.node} at {wanted}")

    async def _reached(self, wanted: dict[str, int]) -> bool:
        acked = await self.check_once()
        return all(acked.get(key, 0) >= version for key, version in wanted.items())


async def test_objects_are_in_the_edge_database_before_their_ack(
        cloud: Cloud, edges: dict[str, Joined]) -> None:
    edge = edges[EDGES[1]]
    db_path = edge.root / "var/lib/kubeedge/edgecore.db"
    assert edge.result.returncode == 0, edge.result.stderr
    # Read-only beside edgecore, the writer (WAL lets a reader in at any time).
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    async with APIClient(cloud.kubeconfig) as api:
        cm = await api.create(CONFIGMAPS, {"metadata": {"name": "durable-cm"},
                                           "data": {"n": "0"}}, "default")
        secret = await api.create(SECRETS, {"metadata": {"name": "durable-secret"},
                                            "stringData": {"password": "s3cret"}},
                                  "default")
        pod = await api.create(PODS, {
            "metadata": {"name": "durable-pod"},
            "spec": {"nodeName": edge.name, "containers": [{
                "name": "c", "image": "busybox",
                "envFrom": [{"configMapRef": {"name": "durable-cm"}}],
                "volumeMounts": [{"name": "s", "mountPath": "/s"}]}],
                "volumes": [{"name": "s", "secret": {"secretName": "durable-secret"}}]}},
            "default")
        try:
            objects = {f"default/configmap/{cm['metadata']['name']}": cm,
                       f"default/secret/{secret['metadata']['name']}": secret,
                       f"default/pod/{pod['metadata']['name']}": pod}
            watcher = AckWatcher(api, db, edge.name, {
                key: obj["metadata"]["uid"] for key, obj in objects.items()})
            await watcher.until({key: int(obj["metadata"]["resourceVersion"])
                                 for key, obj in objects.items()})

            # Each in KubeEdge's `meta` layout: key `<ns>/<type>/<name>`, the type, the
            # object's JSON.
            stored = _stored_versions(db, list(objects))
            for key, obj in objects.items():
                assert stored[key]["type"] == key.split("/")[1]
                meta = stored[key]["object"]["metadata"]
                assert (meta["namespace"], meta["name"], meta["uid"]) == (
                    "default", obj["metadata"]["name"], obj["metadata"]["uid"])
            syncs = {item["metadata"]["name"]: item["spec"] for item in
                     (await api.list(OBJECT_SYNCS, "default"))["items"]}
            assert syncs[f"{edge.name}.{cm['metadata']['uid']}"] == {
                "objectAPIVersion": "v1", "objectKind": "ConfigMap",
                "objectName": "durable-cm"}

            # Updates while the watcher keeps checking: the newest is acknowledged only
            # once stored, and every version acknowledged on the way was stored first.
            cm_key = "default/configmap/durable-cm"

            async def update(obj: dict[str, Any]) -> dict[str, Any]:
                for n in range(1, 6):
                    obj["data"] = {"n": str(n)}
                    obj = await api.update(CONFIGMAPS, obj, "default")
                return obj

            updating = asyncio.create_task(update(cm))
            before = watcher.observations

            async def newest_acknowledged() -> bool:
                acked = await watcher.check_once()
                if not updating.done():
                    return False
                newest = int(updating.result()["metadata"]["resourceVersion"])
                return acked.get(cm_key, 0) >= newest

            try:
                await eventually(newest_acknowledged, timeout=15, interval=0.02,
                                 what="the newest configmap acknowledged")
            finally:
                updating.cancel()
            assert _stored_versions(db, [cm_key])[cm_key]["object"]["data"] == {"n": "5"}
            assert watcher.observations - before > 2
        finally:
            db.close()
            for ref, name in ((PODS, "durable-pod"), (CONFIGMAPS, "durable-cm"),
                              (SECRETS, "durable-secret")):
                with contextlib.suppress(Exception):
                    await api.delete(ref, name, "default")
