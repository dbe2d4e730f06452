"""Finding sandboxes and containers again by kubelet's labels and metadata, from the
files alone (what a restarted edgecore does). No process is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeedge.edge.runtime import (
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerNotFound,
    ContainerState,
    CreateContainerError,
    ImageError,
    Mount,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxMetadata,
    PodSandboxState,
    Runtime,
    SandboxNotFound,
    kubelet_container_labels,
    kubelet_sandbox_labels,
)
from kubeedge.edge.runtime.process import ProcessRuntime


async def _pod(rt: ProcessRuntime, name: str, uid: str) -> str:
    return await rt.run_pod_sandbox(PodSandboxConfig(
        PodSandboxMetadata(name, "default", uid),
        labels=kubelet_sandbox_labels("default", name, uid)))


async def _container(rt: ProcessRuntime, sandbox: str, pod: str, uid: str, name: str,
                     attempt: int) -> str:
    return await rt.create_container(sandbox, ContainerConfig(
        ContainerMetadata(name, attempt), "busybox", args=("sleep", "1"),
        labels=kubelet_container_labels("default", pod, uid, name)))


def test_process_runtime_satisfies_the_protocol(tmp_path: Path) -> None:
    assert isinstance(ProcessRuntime(tmp_path), Runtime)


async def test_list_containers_by_pod_uid_name_and_attempt(tmp_path: Path) -> None:
    rt = ProcessRuntime(tmp_path)
    a = await _pod(rt, "a", "uid-a")
    b = await _pod(rt, "b", "uid-b")
    a_web0 = await _container(rt, a, "a", "uid-a", "web", 0)
    a_web1 = await _container(rt, a, "a", "uid-a", "web", 1)
    a_side = await _container(rt, a, "a", "uid-a", "sidecar", 0)
    b_web = await _container(rt, b, "b", "uid-b", "web", 0)

    # A fresh object over the same root: all it knows comes from the files.
    rt2 = ProcessRuntime(tmp_path)
    ids = lambda xs: [x.id for x in xs]  # noqa: E731
    assert ids(await rt2.list_containers(ContainerFilter(
        labels={"io.kubernetes.pod.uid": "uid-a"}))) == [a_web0, a_web1, a_side]
    assert ids(await rt2.list_containers(ContainerFilter(
        labels={"io.kubernetes.pod.uid": "uid-a",
                "io.kubernetes.container.name": "web"}))) == [a_web0, a_web1]
    assert ids(await rt2.list_containers(ContainerFilter(
        labels={"io.kubernetes.pod.uid": "uid-a"}, name="web", attempt=1))) == [a_web1]
    assert ids(await rt2.list_containers(ContainerFilter(sandbox_id=b))) == [b_web]
    assert ids(await rt2.list_containers(ContainerFilter(id=a_side))) == [a_side]
    assert ids(await rt2.list_containers(ContainerFilter(
        state=ContainerState.CREATED))) == [a_web0, a_web1, a_side, b_web]
    assert await rt2.list_containers(ContainerFilter(state=ContainerState.RUNNING)) == []
    assert await rt2.list_containers(ContainerFilter(labels={"x": "y"})) == []

    sandboxes = await rt2.list_pod_sandboxes(PodSandboxFilter(
        labels={"io.kubernetes.pod.uid": "uid-b"}))
    assert [s.id for s in sandboxes] == [b]
    assert sandboxes[0].state == PodSandboxState.READY
    assert sandboxes[0].network == "host" and sandboxes[0].network_reason


async def test_status_of_a_created_container(tmp_path: Path) -> None:
    rt = ProcessRuntime(tmp_path)
    sb = await _pod(rt, "p", "u")
    cid = await _container(rt, sb, "p", "u", "c", 2)
    s = await rt.container_status(cid)
    assert s.state == ContainerState.CREATED and s.pid is None and s.exit_code is None
    assert s.created_at > 0 and s.started_at == 0
    assert s.log_path == str(tmp_path / "var/log/pods/default_p_u/c/2.log")
    assert rt.container_log_path(cid) == s.log_path


async def test_remove_is_idempotent_and_unknown_ids_are_not_found(tmp_path: Path) -> None:
    rt = ProcessRuntime(tmp_path)
    sb = await _pod(rt, "p", "u")
    cid = await _container(rt, sb, "p", "u", "c", 0)
    await rt.remove_container(cid)
    await rt.remove_container(cid)
    with pytest.raises(ContainerNotFound):
        await rt.container_status(cid)
    with pytest.raises(ContainerNotFound):
        await rt.container_status("../etc")
    await rt.remove_pod_sandbox(sb)
    with pytest.raises(SandboxNotFound):
        await rt.pod_sandbox_status(sb)
    await rt.stop_pod_sandbox(sb)  # idempotent on an unknown id


async def test_create_refusals_carry_kubelet_reasons(tmp_path: Path) -> None:
    rt = ProcessRuntime(tmp_path)
    sb = await _pod(rt, "p", "u")
    with pytest.raises(ImageError) as e:
        await rt.create_container(sb, ContainerConfig(ContainerMetadata("c"), "nginx:1.25"))
    assert e.value.reason == "ErrImagePull"
    with pytest.raises(ImageError) as e:
        await rt.create_container(sb, ContainerConfig(ContainerMetadata("c"), "Bad Name"))
    assert e.value.reason == "InvalidImageName"
    with pytest.raises(CreateContainerError) as ce:
        await rt.create_container(sb, ContainerConfig(
            ContainerMetadata("c"), "busybox", mounts=(Mount("rel/path", str(tmp_path)),)))
    assert "mounts[0].containerPath" in ce.value.message
    with pytest.raises(CreateContainerError):
        await rt.create_container(sb, ContainerConfig(
            ContainerMetadata("c"), "busybox", mounts=(Mount("/data", "/no/such/dir"),)))
    await rt.stop_pod_sandbox(sb)
    with pytest.raises(CreateContainerError):
        await rt.create_container(sb, ContainerConfig(ContainerMetadata("c"), "busybox"))
    assert await rt.list_containers() == []
