"""`make demo` runs to the end on a fresh root: the control plane, the examples, the
controllers and scheduler placing them on simulated nodes, and the hints to go on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.cluster import free_port, keadm


def test_demo_runs_to_the_end_and_leaves_the_cloud_running(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kubeedge.demo", "--root", str(root), "--port",
             str(free_port())], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        assert 'deployment "api" successfully rolled out' in out
        assert 'daemon set "node-agent" successfully rolled out' in out
        assert out.count("demo-node-") >= 3  # the nodes the pods landed on
        assert "reset --root" in out
        # The simulated nodes are gone; the control plane keeps running.
        assert (root / "var/run/kubeedge/apiserver.pid").exists()
        assert (root / "var/run/kubeedge/cloudcore.pid").exists()
    finally:
        keadm("reset", "--root", str(root), "--force", check=False)
