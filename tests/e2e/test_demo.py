"""`make demo` runs to the end on a fresh root: the control plane, the examples, the
controllers and scheduler placing them on simulated nodes, and the hints to go on."""

from __future__ import annotations

import re
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
        # Gang scheduling: while one training job runs whole, the other has no pod
        # bound; both complete.
        gangs = out[out.index("$ kubectl get vcjob,podgroups"):]
        running = re.findall(r"^job\.batch\.volcano\.sh/(train-[ab])\s+Running", gangs, re.M)
        assert len(running) == 1, gangs
        waiting = "train-b" if running == ["train-a"] else "train-a"
        pods = gangs[gangs.index("$ kubectl get pods"):gangs.index("$ kubectl get vcjob -n")]
        assert not re.search(rf"^{waiting}-worker-\d+\s.*demo-node-", pods, re.M), pods
        assert len(re.findall(r"^(train-[ab])-worker-\d+\s.*demo-node-", pods, re.M)) == 2
        assert len(re.findall(r"^train-[ab]\s+Completed", gangs, re.M)) == 2, gangs
        assert "reset --root" in out
        # The simulated nodes are gone; the control plane keeps running.
        assert (root / "var/run/kubeedge/apiserver.pid").exists()
        assert (root / "var/run/kubeedge/cloudcore.pid").exists()
    finally:
        keadm("reset", "--root", str(root), "--force", check=False)
