"""`keadm init` and `reset` as an ordinary user with the root under their $HOME (issue:
embedded control plane, Starting it)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster import free_port

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3.11"
RUNTIME_PACKAGES = ["aiohttp==3.14.5", "orjson==3.13.0", "PyYAML==6.0.4",
                    "cryptography==50.0.2", "msgspec==0.23.0", "click==8.5.1", "PyJWT==2.15.1"]


@pytest.fixture(scope="module")
def user_runtime() -> Iterator[tuple[list[str], Path]]:
    """A command prefix that runs Python as `nobody`, and that user's home.

    As root, the suite's own interpreter may live where other users cannot read (a
    pyenv under /root), so the user gets Debian's python3.11 with the runtime packages
    and our sources copied to a world-readable place. Not as root, the suite already is
    an ordinary user and runs as itself.
    """
    base = Path(tempfile.mkdtemp(prefix="kubeedge-user-"))
    try:
        home = base / "home"
        home.mkdir()
        if os.geteuid() != 0:
            yield [sys.executable], home
            return
        if not Path(SYSTEM_PYTHON).exists():
            raise AssertionError(f"{SYSTEM_PYTHON} is required: apt-get install python3.11")
        site = base / "site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(site),
             *RUNTIME_PACKAGES], check=True, capture_output=True, timeout=300,
        )
        shutil.copytree(REPO / "src" / "kubeedge", site / "kubeedge")
        for path in [base, *base.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        shutil.chown(home, "nobody", "nogroup")
        prefix = ["runuser", "-u", "nobody", "--", "env", f"HOME={home}",
                  f"PYTHONPATH={site}", "PYTHONDONTWRITEBYTECODE=1", SYSTEM_PYTHON]
        yield prefix, home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_init_and_reset_as_an_ordinary_user(user_runtime: tuple[list[str], Path]) -> None:
    python, home = user_runtime
    root = home / "kubeedge"
    port = free_port()
    keadm = [*python, "-m", "kubeedge.cli.keadm"]
    init = subprocess.run(
        [*keadm, "init", "--root", str(root), "--advertise-address", "127.0.0.1",
         "--bind-address", "127.0.0.1", "--apiserver-port", str(port)],
        capture_output=True, text=True, timeout=120,
    )
    try:
        assert init.returncode == 0, init.stdout + init.stderr
        kubeconfig = root / "etc/kubeedge/admin.kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in init.stdout
        owner = os.stat(root / "var/lib/kubeedge/apiserver/state.db").st_uid
        assert owner == os.stat(home).st_uid
        for secret in ("etc/kubeedge/pki/ca.key", "etc/kubeedge/pki/apiserver.key",
                       "etc/kubeedge/admin.kubeconfig"):
            assert stat.S_IMODE(os.stat(root / secret).st_mode) == 0o600, secret
        kubectl_home = Path(tempfile.mkdtemp(prefix="kubectl-home-"))
        env = {"HOME": str(kubectl_home), "KUBECONFIG": str(kubeconfig),
               "PATH": os.environ.get("PATH", "")}
        out = subprocess.run(["kubectl", "get", "ns", "--no-headers"], env=env,
                             capture_output=True, text=True, timeout=60)
        shutil.rmtree(kubectl_home, ignore_errors=True)
        assert out.returncode == 0, out.stderr
        assert "kube-system" in out.stdout
    finally:
        reset = subprocess.run([*keadm, "reset", "--root", str(root), "--force"],
                               capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not (root / "etc/kubeedge").exists()
