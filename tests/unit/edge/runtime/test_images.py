"""The process runtime's image table: reference normalisation, Kubernetes'
command/args rules over an image's ENTRYPOINT/CMD, host programs standing in."""

from __future__ import annotations

import shutil

import pytest

from kubeedge.edge.runtime import CreateContainerError, ImageError
from kubeedge.edge.runtime.images import ImageEntry, ImageTable, host_python, normalize


@pytest.mark.parametrize(("ref", "key"), [
    ("busybox", "busybox"),
    ("busybox:1.36", "busybox"),
    ("docker.io/library/busybox:1.36", "busybox"),
    ("library/busybox", "busybox"),
    ("busybox@sha256:" + "a" * 64, "busybox"),
    ("localhost:5000/team/app:v1", "team/app"),
    ("ghcr.io/acme/tool", "acme/tool"),
    ("acme/tool:latest", "acme/tool"),
    ("python:3.11-slim", "python"),
])
def test_references_normalise_like_docker(ref: str, key: str) -> None:
    assert normalize(ref) == key


@pytest.mark.parametrize("ref", ["", "Busybox", "busy box", "busybox:", "a//b", " busybox"])
def test_unparsable_reference_is_invalid_image_name(ref: str) -> None:
    with pytest.raises(ImageError) as e:
        normalize(ref)
    assert e.value.reason == "InvalidImageName"


def test_python_runs_the_host_python() -> None:
    table = ImageTable()
    assert table.argv("python:3.11", (), ("python3", "-c", "print(1)")) == \
        [host_python(), "-c", "print(1)"]
    assert table.argv("docker.io/library/python", (), ()) == [host_python()]  # CMD python3


def test_busybox_applets_use_host_busybox_or_host_programs() -> None:
    table = ImageTable()
    argv = table.argv("busybox", (), ("sleep", "1d"))
    if shutil.which("busybox"):
        assert argv == [shutil.which("busybox"), "sleep", "1d"]
    else:
        assert argv == ["sleep", "1d"]
    fake = ImageTable({"busybox": ImageEntry(cmd=("sh",), applet_runner="/opt/bb")})
    assert fake.argv("busybox:1.36", (), ("sleep", "1d")) == ["/opt/bb", "sleep", "1d"]
    assert fake.argv("busybox", (), ()) == ["/opt/bb", "sh"]
    assert fake.argv("busybox", ("/bin/no-such-applet",), ("x",)) == \
        ["/opt/bb", "no-such-applet", "x"]


def test_command_and_args_combine_as_kubernetes_does() -> None:
    table = ImageTable({"tool": ImageEntry(entrypoint=("/bin/echo", "ep"), cmd=("dflt",))})
    assert table.argv("tool", (), ()) == ["/bin/echo", "ep", "dflt"]  # ENTRYPOINT + CMD
    assert table.argv("tool", (), ("a",)) == ["/bin/echo", "ep", "a"]  # args replace CMD
    assert table.argv("tool", ("/bin/true",), ()) == ["/bin/true"]  # command drops CMD
    assert table.argv("tool", ("/bin/echo",), ("x",)) == ["/bin/echo", "x"]


def test_unknown_image_without_command_is_err_image_pull() -> None:
    table = ImageTable()
    with pytest.raises(ImageError) as e:
        table.argv("nginx:1.25", (), ("-g", "daemon off;"))
    assert e.value.reason == "ErrImagePull"
    assert "nginx:1.25" in e.value.message and "busybox" in e.value.message
    with pytest.raises(ImageError):
        table.pull("nginx")


def test_unknown_image_with_command_runs_the_command() -> None:
    assert ImageTable().argv("nginx", ("/bin/sleep",), ("1",)) == ["/bin/sleep", "1"]


def test_known_image_with_nothing_to_run_is_create_container_error() -> None:
    table = ImageTable({"empty": ImageEntry()})
    with pytest.raises(CreateContainerError):
        table.argv("empty", (), ())


def test_pull_gives_a_ref_for_known_images() -> None:
    ref = ImageTable().pull("docker.io/library/busybox:1.36")
    assert ref.ref == "process://busybox" and ref.cmd == ("sh",)
