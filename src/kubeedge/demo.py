"""`make demo`: start the control plane on embedded defaults and show it working.

Runs the real `keadm init` under a local root, applies `examples/` with the real
kubectl, prints what `kubectl get` shows and how to go on. Safe to run again: a control
plane already running under the root is reused and the examples are re-applied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from kubeedge.cloud import setup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_PORT = 6443


def _run(
    cmd: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        click.echo(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}", err=True)
        sys.exit(proc.returncode or 1)
    return proc


def _show(cmd: list[str], env: dict[str, str]) -> None:
    shown = ["kubectl", *cmd[1:]] if cmd[0].endswith("kubectl") else cmd
    click.secho(f"$ {' '.join(shown)}", bold=True)
    click.echo(_run(cmd, env).stdout.rstrip())
    click.echo()


@click.command()
@click.option("--root", default=".demo", show_default=True,
              help="Where the demo control plane keeps its files.")
@click.option("--port", type=int, default=None,
              help="API server port (default 6443, or a free one when 6443 is taken).")
def main(root: str, port: int | None) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        click.echo("Error: kubectl is not installed; install kubectl 1.32 and run `make demo` "
                   "again.", err=True)
        sys.exit(1)
    root_path = Path(root).resolve()
    layout = setup.Layout(root_path)
    keadm = [sys.executable, "-m", "kubeedge.cli.keadm"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(layout.admin_kubeconfig)
    # The installed kubectl caches the server version per HOME (specs/k8s-api.md §0.1).
    env["HOME"] = str(root_path / "home")
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)

    if setup.pid_alive(layout.apiserver_pid) is not None:
        click.echo(f"A demo control plane is already running under {root_path}; reusing it.\n")
    else:
        if port is None:
            port = DEFAULT_PORT if setup.port_free("127.0.0.1", DEFAULT_PORT) else 0
        if port == 0:
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
        _show([*keadm, "init", "--root", str(root_path), "--advertise-address", "127.0.0.1",
               "--apiserver-port", str(port)], env)

    _show([kubectl, "version"], env)
    _show([kubectl, "apply", "-f", str(EXAMPLES)], env)
    _show([kubectl, "apply", "-f", str(EXAMPLES / "crd" / "10-widget-crd.yaml")], env)
    _show([kubectl, "wait", "--for=condition=Established", "crd/widgets.example.com",
           "--timeout=30s"], env)
    _show([kubectl, "apply", "-f", str(EXAMPLES / "crd" / "20-widget.yaml")], env)
    _show([kubectl, "get", "namespaces"], env)
    # Edges can join but cannot run pods yet (that is edgecore's next part), so three
    # simulated nodes play kubelet while the demo runs, to show the controllers and the
    # scheduler at work; they are removed at the end.
    click.secho("Starting 3 simulated (hollow) nodes for the demo", bold=True)
    hollow = _start_hollow(root_path, env)
    try:
        _show([kubectl, "get", "nodes"], env)
        _show([kubectl, "rollout", "status", "deployment/api", "-n", "demo",
               "--timeout=60s"], env)
        _show([kubectl, "rollout", "status", "daemonset/node-agent", "-n", "demo",
               "--timeout=60s"], env)
        _show([kubectl, "get", "pods", "-n", "demo", "-o", "wide"], env)
        _show([kubectl, "get", "deployments,replicasets,daemonsets,pdb,endpoints", "-n",
               "demo"], env)
        _gangs(kubectl, env)
    finally:
        hollow.terminate()
        hollow.wait(30)
    _show([kubectl, "get", "services,configmaps", "-n", "demo"], env)
    _show([kubectl, "get", "widgets", "-n", "demo"], env)
    _show([kubectl, "auth", "can-i", "--list", "-n", "demo"], env)

    click.secho("The control plane keeps running. To continue:", bold=True)
    click.echo(f"  export KUBECONFIG={layout.admin_kubeconfig}")
    click.echo("  kubectl get all -n demo")
    click.echo("  kubectl explain pod.spec.containers")
    keadm_bin = Path(sys.executable).parent / "keadm"
    click.echo(f"  {keadm_bin} reset --root {root_path} --force   # stop it, remove its state")


def _job_phases(kubectl: str, env: dict[str, str]) -> dict[str, str]:
    proc = _run([kubectl, "get", "vcjob", "-n", "demo", "-o", "json"], env)
    return {item["metadata"]["name"]:
            ((item.get("status") or {}).get("state") or {}).get("phase") or ""
            for item in json.loads(proc.stdout).get("items") or []}


def _wait_phases(kubectl: str, env: dict[str, str], done: Callable[[dict[str, str]], bool],
                 what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not done(phases := _job_phases(kubectl, env)):
        if time.monotonic() > deadline:
            click.echo(f"Error: timed out waiting for {what}; the jobs are {phases}", err=True)
            sys.exit(1)
        time.sleep(0.5)


def _gangs(kubectl: str, env: dict[str, str]) -> None:
    """Gang scheduling (specs/volcano.md §4): two 2-GPU jobs on 3 GPUs. One runs whole
    while the other waits with no pods, then the second runs; both complete."""
    click.secho("Gang scheduling: two jobs that each need 2 of the 3 GPUs at once",
                bold=True)
    _show([kubectl, "apply", "-f", str(EXAMPLES / "volcano")], env)
    _wait_phases(kubectl, env, lambda p: "Running" in p.values()
                 or sorted(p.values()) == ["Completed", "Completed"],
                 "one training job to run")
    _show([kubectl, "get", "vcjob,podgroups", "-n", "demo"], env)
    _show([kubectl, "get", "pods", "-n", "demo", "-l", "volcano.sh/job-name", "-o", "wide"],
          env)
    _wait_phases(kubectl, env, lambda p: sorted(p.values()) == ["Completed", "Completed"],
                 "both training jobs to complete")
    _show([kubectl, "get", "vcjob", "-n", "demo"], env)


def _start_hollow(root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = root / "var/log/kubeedge/hollow.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubeedge.hollow", "--root", str(root), "--nodes", "3",
             "--gpus", "1", "--name-prefix", "demo-node-", "--ready-delay", "1", "--cleanup"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if b"registered" in log_path.read_bytes():
            return proc
        time.sleep(0.1)
    proc.kill()
    click.echo(f"Error: the simulated nodes did not start; see {log_path}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
