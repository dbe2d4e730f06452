"""Volumes materialised as kubelet lays them out, with AtomicWriter's ..data swap."""

from __future__ import annotations

import base64
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from kubeedge.edge.edged.env import ContainerConfigError
from kubeedge.edge.edged.volumes import AtomicWriter, FileProjection, VolumeError, VolumeManager

Obj = dict[str, Any]


class Lookup:
    def __init__(self) -> None:
        self.configmaps: dict[str, Obj] = {}
        self.secrets: dict[str, Obj] = {}

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return self.configmaps.get(f"{namespace}/{name}")

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return self.secrets.get(f"{namespace}/{name}")


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def pod_with(*volumes: Obj, uid: str = "uid-1", containers: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": uid,
                         "labels": {"app": "web"}},
            "spec": {"serviceAccountName": "runner", "volumes": list(volumes),
                     "containers": containers or [{"name": "app", "resources": {
                         "limits": {"memory": "64Mi"}}}]}}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lookup() -> Lookup:
    return Lookup()


@pytest.fixture
def manager(tmp_path: Path, lookup: Lookup) -> VolumeManager:
    return VolumeManager(tmp_path / "pods", lookup, allowed_host_paths=[str(tmp_path / "host")],
                         node_name="edge-a")


# ---------------------------------------------------------------------- AtomicWriter


def test_atomic_writer_swaps_data_link(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    assert writer.write({"a": FileProjection(b"1", 0o644), "dir/b": FileProjection(b"2", 0o600)})
    first = os.readlink(target / "..data")
    assert first.startswith("..") and first != "..data"
    assert os.readlink(target / "a") == "..data/a"
    assert os.readlink(target / "dir") == "..data/dir"
    assert (target / "dir" / "b").read_bytes() == b"2"
    assert mode_of(target / first / "dir" / "b") == 0o600
    assert mode_of(target / first) == 0o755

    assert not writer.write({"a": FileProjection(b"1", 0o644),
                             "dir/b": FileProjection(b"2", 0o600)})
    assert os.readlink(target / "..data") == first

    assert writer.write({"a": FileProjection(b"changed", 0o644)})
    second = os.readlink(target / "..data")
    assert second != first
    assert (target / "a").read_bytes() == b"changed"
    assert not os.path.lexists(target / "dir")      # gone from the payload: link removed
    assert not (target / first).exists()            # old version removed
    leftovers = sorted(p.name for p in target.iterdir())
    assert leftovers == sorted(["..data", second, "a"])


@pytest.mark.parametrize("bad", ["/abs", "../up", "a/../b", "..hidden", ""])
def test_atomic_writer_refuses_escaping_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        AtomicWriter(tmp_path / "v").write({bad: FileProjection(b"x", 0o644)})


# ------------------------------------------------------------------------- configMap


async def test_configmap_volume_layout_modes_and_refresh(manager: VolumeManager,
                                                         lookup: Lookup, tmp_path: Path) -> None:
    lookup.configmaps["ns/cfg"] = {"data": {"app.conf": "v1", "other": "x"},
                                   "binaryData": {"blob": b64(b"\x00\x01")}}
    pod = pod_with({"name": "config", "configMap": {"name": "cfg"}})
    mounted = await manager.mount(pod)
    vol = tmp_path / "pods/uid-1/volumes/kubernetes.io~configmap/config"
    assert mounted["config"].host_path == vol
    assert mounted["config"].read_only
    assert (vol / "app.conf").read_text() == "v1"
    assert (vol / "blob").read_bytes() == b"\x00\x01"
    assert mode_of(vol / "app.conf") == 0o644       # defaultMode's API default
    assert (vol / "app.conf").is_symlink()

    assert await manager.refresh(pod) is False       # unchanged: no new version
    before = os.readlink(vol / "..data")

    lookup.configmaps["ns/cfg"] = {"data": {"app.conf": "v2", "other": "x"}}
    assert await manager.refresh(pod) is True
    after = os.readlink(vol / "..data")
    assert after != before
    assert (vol / "app.conf").read_text() == "v2"
    assert not os.path.lexists(vol / "blob")


async def test_configmap_items_with_modes(manager: VolumeManager, lookup: Lookup) -> None:
    lookup.configmaps["ns/cfg"] = {"data": {"a": "A", "b": "B"}}
    pod = pod_with({"name": "c", "configMap": {
        "name": "cfg", "defaultMode": 0o600,
        "items": [{"key": "a", "path": "sub/a.txt"}, {"key": "b", "path": "b", "mode": 0o400}]}})
    vol = (await manager.mount(pod))["c"].host_path
    assert (vol / "sub" / "a.txt").read_text() == "A"
    assert mode_of(vol / "sub" / "a.txt") == 0o600
    assert mode_of(vol / "b") == 0o400
    assert sorted(p.name for p in vol.iterdir() if not p.name.startswith("..")) == ["b", "sub"]


async def test_configmap_errors_and_optional(manager: VolumeManager, lookup: Lookup) -> None:
    with pytest.raises(VolumeError) as info:
        await manager.mount(pod_with({"name": "c", "configMap": {"name": "nope"}}))
    assert info.value.message == ('MountVolume.SetUp failed for volume "c" : '
                                  'configmap "nope" not found')
    assert info.value.reason == "FailedMount"

    lookup.configmaps["ns/cfg"] = {"data": {"a": "A"}}
    with pytest.raises(VolumeError, match="configmap references non-existent config key: zz"):
        await manager.mount(pod_with({"name": "c", "configMap": {
            "name": "cfg", "items": [{"key": "zz", "path": "zz"}]}}))

    mounted = await manager.mount(pod_with(
        {"name": "c", "configMap": {"name": "nope", "optional": True}}, uid="uid-2"))
    assert [p.name for p in mounted["c"].host_path.iterdir()
            if not p.name.startswith("..")] == []


# ---------------------------------------------------------------------------- secret


async def test_secret_volume_decodes_and_defaults_to_0644(manager: VolumeManager,
                                                          lookup: Lookup) -> None:
    lookup.secrets["ns/tls"] = {"data": {"tls.key": b64("KEY"), "tls.crt": b64("CRT")}}
    pod = pod_with({"name": "certs", "secret": {"secretName": "tls"}})
    vol = (await manager.mount(pod))["certs"].host_path
    assert "kubernetes.io~secret" in str(vol)
    assert (vol / "tls.key").read_text() == "KEY"
    assert mode_of(vol / "tls.key") == 0o644

    with pytest.raises(VolumeError, match='secret "gone" not found'):
        await manager.mount(pod_with({"name": "s", "secret": {"secretName": "gone"}}))
    with pytest.raises(VolumeError, match="references non-existent secret key: nokey"):
        await manager.mount(pod_with({"name": "s", "secret": {
            "secretName": "tls", "items": [{"key": "nokey", "path": "x"}]}}))


async def test_refresh_keeps_old_content_when_object_is_gone(manager: VolumeManager,
                                                             lookup: Lookup) -> None:
    lookup.secrets["ns/s"] = {"data": {"k": b64("v")}}
    lookup.configmaps["ns/c"] = {"data": {"k": "1"}}
    pod = pod_with({"name": "s", "secret": {"secretName": "s"}},
                   {"name": "c", "configMap": {"name": "c"}})
    mounted = await manager.mount(pod)
    del lookup.secrets["ns/s"]
    lookup.configmaps["ns/c"] = {"data": {"k": "2"}}
    with pytest.raises(VolumeError, match='volume "s" : secret "s" not found') as info:
        await manager.refresh(pod)
    assert info.value.changed        # the configmap was still refreshed
    assert (mounted["s"].host_path / "k").read_text() == "v"
    assert (mounted["c"].host_path / "k").read_text() == "2"


# ----------------------------------------------------------------------- downwardAPI


async def test_downward_api_volume_and_label_refresh(manager: VolumeManager) -> None:
    pod = pod_with({"name": "info", "downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o400},
        {"path": "mem", "resourceFieldRef": {"containerName": "app",
                                             "resource": "limits.memory", "divisor": "1Mi"}},
    ]}})
    vol = (await manager.mount(pod))["info"].host_path
    assert "kubernetes.io~downward-api" in str(vol)
    assert (vol / "name").read_text() == "web"
    assert (vol / "labels").read_text() == 'app="web"'
    assert mode_of(vol / "labels") == 0o400
    assert (vol / "mem").read_text() == "64"

    pod["metadata"]["labels"]["tier"] = "db"
    assert await manager.refresh(pod)
    assert (vol / "labels").read_text() == 'app="web"\ntier="db"'


async def test_downward_api_volume_errors(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError, match=r"unsupported fieldPath: spec\.nodeName"):
        await manager.mount(pod_with({"name": "d", "downwardAPI": {"items": [
            {"path": "n", "fieldRef": {"fieldPath": "spec.nodeName"}}]}}))
    with pytest.raises(VolumeError, match="container nope not found"):
        await manager.mount(pod_with({"name": "d", "downwardAPI": {"items": [
            {"path": "n", "resourceFieldRef": {"containerName": "nope",
                                               "resource": "limits.cpu"}}]}}))


# ------------------------------------------------------------------------- projected


async def test_projected_volume_merges_sources_with_token(tmp_path: Path,
                                                          lookup: Lookup) -> None:
    lookup.configmaps["ns/ca"] = {"data": {"ca.crt": "CA"}}
    lookup.secrets["ns/s"] = {"data": {"user": b64("bob")}}
    requests: list[tuple[str, str, Obj]] = []
    clock = [1000.0]

    async def token_source(namespace: str, sa: str, request: Obj) -> Obj:
        requests.append((namespace, sa, request))
        return {"token": f"tok-{len(requests)}", "expirationTimestamp": ""}

    manager = VolumeManager(tmp_path / "pods", lookup, allowed_host_paths=[],
                            node_name="edge-a", token_source=token_source,
                            now=lambda: clock[0])
    pod = pod_with({"name": "api", "projected": {"defaultMode": 0o440, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 600,
                                 "audience": "api"}},
        {"configMap": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"secret": {"name": "s"}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}})
    vol = (await manager.mount(pod))["api"].host_path
    assert "kubernetes.io~projected" in str(vol)
    assert {p: (vol / p).read_text() for p in ("token", "ca.crt", "user", "namespace")} == {
        "token": "tok-1", "ca.crt": "CA", "user": "bob", "namespace": "ns"}
    assert mode_of(vol / "ca.crt") == 0o440
    ns, sa, request = requests[0]
    assert (ns, sa) == ("ns", "runner")
    assert request["spec"]["audiences"] == ["api"]
    assert request["spec"]["expirationSeconds"] == 600
    assert request["spec"]["boundObjectRef"] == {"apiVersion": "v1", "kind": "Pod",
                                                 "name": "web", "uid": "uid-1"}

    clock[0] += 400                      # < 80% of 600 s: the cached token is kept
    assert await manager.refresh(pod) is False
    clock[0] += 100                      # past 80%: renewed and re-written
    assert await manager.refresh(pod) is True
    assert (vol / "token").read_text() == "tok-2"


async def test_projected_token_without_source_is_a_clear_error(manager: VolumeManager) -> None:
    pod = pod_with({"name": "api", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}]}})
    with pytest.raises(VolumeError, match='volume "api" : serviceAccountToken projection '
                                          '"token" is not available on this edge'):
        await manager.mount(pod)


# -------------------------------------------------------------------- emptyDir, unknown


async def test_empty_dir(manager: VolumeManager, tmp_path: Path) -> None:
    pod = pod_with({"name": "scratch", "emptyDir": {}},
                   {"name": "ram", "emptyDir": {"medium": "Memory"}},
                   {"name": "defaulted"})
    mounted = await manager.mount(pod)
    scratch = mounted["scratch"]
    assert scratch.host_path == tmp_path / "pods/uid-1/volumes/kubernetes.io~empty-dir/scratch"
    assert scratch.host_path.is_dir() and not scratch.read_only
    assert mode_of(scratch.host_path) == 0o777
    assert "no tmpfs" in mounted["ram"].note
    assert mounted["defaulted"].host_path.is_dir()
    (scratch.host_path / "keep").write_text("x")
    await manager.mount(pod)             # remount keeps what the container wrote
    assert (scratch.host_path / "keep").read_text() == "x"

    manager.unmount("uid-1")
    assert not (tmp_path / "pods/uid-1").exists()


async def test_unknown_volume_type_names_it(manager: VolumeManager, lookup: Lookup) -> None:
    lookup.configmaps["ns/c"] = {"data": {"k": "v"}}
    pod = pod_with({"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}},
                   {"name": "c", "configMap": {"name": "c"}})
    with pytest.raises(VolumeError) as info:
        await manager.mount(pod)
    assert 'volume "data"' in info.value.message
    assert 'volume type "persistentVolumeClaim" is not supported' in info.value.message
    # the other volume was still set up
    assert (manager.volume_dir("uid-1", "configMap", "c") / "k").read_text() == "v"


# --------------------------------------------------------------------------- hostPath


async def test_host_path_refused_outside_allowed_roots(manager: VolumeManager,
                                                       tmp_path: Path) -> None:
    (tmp_path / "host").mkdir()
    (tmp_path / "hostile").mkdir()
    for path in ["/etc", str(tmp_path / "hostile"), str(tmp_path / "host/../hostile")]:
        with pytest.raises(VolumeError) as info:
            await manager.mount(pod_with({"name": "h", "hostPath": {"path": path}}))
        assert "is not allowed on this edge" in info.value.message
        assert str(tmp_path / "host") in info.value.message   # names the allowed roots
    # a symlink inside the allowed root that leads out of it is refused too
    os.symlink(tmp_path / "hostile", tmp_path / "host" / "escape")
    with pytest.raises(VolumeError, match="resolves to"):
        await manager.mount(pod_with({"name": "h", "hostPath": {
            "path": str(tmp_path / "host" / "escape")}}))


async def test_host_path_types(manager: VolumeManager, tmp_path: Path) -> None:
    root = tmp_path / "host"
    root.mkdir()
    (root / "file").write_text("x")

    async def mount(path: Path, kind: str) -> Path:
        got = await manager.mount(pod_with({"name": "h", "hostPath": {"path": str(path),
                                                                      "type": kind}}))
        return got["h"].host_path

    assert await mount(root / "new/dir", "DirectoryOrCreate") == root / "new/dir"
    assert (root / "new/dir").is_dir() and mode_of(root / "new/dir") == 0o755 & ~_umask()
    assert (await mount(root / "newfile", "FileOrCreate")).is_file()
    assert await mount(root / "file", "File") == root / "file"
    assert await mount(root, "Directory") == root
    assert await mount(root / "anything", "") == root / "anything"   # no check at all

    with pytest.raises(VolumeError, match=r"hostPath type check failed: .*file is not a "
                                          r"directory, it's a File"):
        await mount(root / "file", "Directory")
    with pytest.raises(VolumeError, match=r"is not a file, it's a Directory"):
        await mount(root, "File")
    with pytest.raises(VolumeError, match=r"hostPath .*/missing doesn't exist"):
        await mount(root / "missing", "Directory")
    with pytest.raises(VolumeError, match=r"is not a socket file, it's a File"):
        await mount(root / "file", "Socket")
    with pytest.raises(VolumeError, match="Weird is an invalid volume type"):
        await mount(root, "Weird")

    sock_path = root / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        assert await mount(sock_path, "Socket") == sock_path
    finally:
        sock.close()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


# -------------------------------------------------------------------- container mounts


async def test_container_mounts_sub_paths_and_read_only(manager: VolumeManager,
                                                        lookup: Lookup,
                                                        tmp_path: Path) -> None:
    (tmp_path / "host").mkdir()
    lookup.configmaps["ns/cfg"] = {"data": {"app.conf": "v1"}}
    container = {"name": "app", "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/app"},
        {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
        {"name": "scratch", "mountPath": "/data", "subPathExpr": "$(POD_NAME)/logs"},
        {"name": "host", "mountPath": "/host", "readOnly": True},
    ]}
    pod = pod_with({"name": "cfg", "configMap": {"name": "cfg"}},
                   {"name": "scratch", "emptyDir": {}},
                   {"name": "host", "hostPath": {"path": str(tmp_path / "host")}},
                   containers=[container])
    mounted = await manager.mount(pod)
    mounts = manager.container_mounts(pod, container, mounted, env=[("POD_NAME", "web")])
    cfg_dir = mounted["cfg"].host_path
    data_dir = os.readlink(cfg_dir / "..data")
    scratch = mounted["scratch"].host_path
    assert mounts == [
        (cfg_dir, "/etc/app", True),
        # subPath of a configMap: the file of the current version, as kubelet's bind mount
        (cfg_dir / data_dir / "app.conf", "/etc/app.conf", True),
        (scratch / "web" / "logs", "/data", False),
        (tmp_path / "host", "/host", True),
    ]
    assert (scratch / "web" / "logs").is_dir()      # created for the container


async def test_container_mount_errors(manager: VolumeManager, tmp_path: Path) -> None:
    pod = pod_with({"name": "scratch", "emptyDir": {}})
    mounted = await manager.mount(pod)
    os.symlink("/etc", mounted["scratch"].host_path / "out")

    def mounts(*vm: Obj, env: list[tuple[str, str]] | None = None) -> Any:
        return manager.container_mounts(pod, {"name": "app", "volumeMounts": list(vm)},
                                        mounted, env=env)

    with pytest.raises(ContainerConfigError, match='cannot find volume "nope" to mount into '
                                                   'container "app"'):
        mounts({"name": "nope", "mountPath": "/x"})
    with pytest.raises(ContainerConfigError, match="must not be an absolute path"):
        mounts({"name": "scratch", "mountPath": "/x", "subPath": "/abs"})
    with pytest.raises(ContainerConfigError, match=r"must not contain '\.\.'"):
        mounts({"name": "scratch", "mountPath": "/x", "subPath": "a/../.."})
    with pytest.raises(ContainerConfigError, match="not within volume path"):
        mounts({"name": "scratch", "mountPath": "/x", "subPath": "out"})
    with pytest.raises(ContainerConfigError, match="missing value for A, B"):
        mounts({"name": "scratch", "mountPath": "/x", "subPathExpr": "$(B)/$(A)"},
               env=[("A", "")])
