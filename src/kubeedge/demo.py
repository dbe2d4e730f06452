"""`make demo`: a cloud and two edges on this machine, pods on the edges, and edge
autonomy shown with process ids.

Runs only the public tools a user runs: `keadm init` under the demo root, `keadm
gettoken` and `keadm join` for two edges (each under its own root beside the cloud's),
kubectl to apply `examples/` (a Deployment with one web server on each edge, a
DaemonSet, a Job) and to show what runs. Then the cloud goes away: cloudcore is stopped,
one edge's edgecore is stopped and started again the way a service manager would, and
its pods keep serving with the same process ids; cloudcore comes back and the API
converges. Then the gang scheduling scenario of the KubeEdge and Volcano documentation
(specs/volcano.md §4) with real training: the edges advertise 2 GPUs each from their
configuration (`modules.edged.extraCapacity`), two TFJobs of 4 one-GPU workers
(examples/training/tfjob-gpu.yaml under two names) are submitted together, one runs
whole while the other waits with no pods, then the other; a watch on the jobs' pods
proves that the two never hold GPUs at the same time. Last, Volcano gang scheduling on
three simulated GPU nodes (hollow nodes: no GPU is needed), which are removed again.

The cloud and the edges keep running at the end; the summary says how to stop them.
Safe to run again: a cloud or an edge already running under the root is reused.
What it must never do: touch anything outside the demo root, or use a port that is
taken (KubeEdge's default ports when free, free ones when not).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kubeedge.cloud import setup, setup_edge
from kubeedge.config import cloudcore as cloudcore_config
from kubeedge.edge.core import EdgeLayout, read_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_PORT = 6443
DEFAULT_HUB_PORT, DEFAULT_CERT_PORT = 10000, 10002
DEFAULT_STREAM_PORT, DEFAULT_TUNNEL_PORT = 10003, 10004
EDGES = ("edge-1", "edge-2")
NAMESPACE = "demo"
WEB_PORT = 8080

# KubeEdge's EdgeHub waits 2 x heartbeat (30 s) before dialling a lost cloud again; the
# demo's edges dial again after 1 s so the return of the cloud shows at once.
# Both edges share this host, so edged's kubelet-style server takes any free port on
# each (KubeEdge's 10350 would be one edge's); stats every 2 s so `kubectl top` has
# figures early.
EDGE_SETS = ("modules.edgeHub.reconnectInterval=1",
             "modules.edged.tailoredKubeletConfig.readOnlyPort=0",
             "modules.edged.housekeepingInterval=2s")

# The documented scenario's cluster has 4 GPUs (specs/volcano.md §4): 2 per edge, from
# configuration, so no GPU is needed on this machine.
GPU = "nvidia.com/gpu"
GPUS_PER_EDGE = 2
TRAINING_JOBS = ("gpu-train-a", "gpu-train-b")
# A namespace of their own, so `kubectl get tfjobs,podgroups,pods` shows just the
# scenario.
TRAINING_NS = "training"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
# Training steps per job: a few seconds of training, long enough to see one job hold
# every GPU while the other waits, short enough for a demo.
TRAINING_STEPS = 300
# Without pod networks (no root) the edges have no per-pod /etc/hosts, so the workers
# cannot resolve worker 0's name from TF_CONFIG; in the host network worker 0 listens
# on every host address, and the others reach it at this address instead.
WORKER0_HOST_ENV = "WORKER0_HOST"


class DemoError(Exception):
    """A step that did not reach its outcome; the message says what and where to look."""


@dataclass
class Steps:
    """Numbered, timed steps with a header each, for a readable run."""

    console: Console
    total: int
    done: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        number = len(self.done) + 1
        self.console.print()
        self.console.rule(f"[bold][{number}/{self.total}] {title}", align="left")
        start = time.monotonic()
        yield
        took = time.monotonic() - start
        self.done.append((title, took))
        self.console.print(f"[green]✓[/green] {title} [dim]({took:.1f} s)[/dim]")


class Demo:
    def __init__(self, root: Path, console: Console) -> None:
        self.root = root
        self.layout = setup.Layout(root)
        self.console = console
        self.kubectl_bin = shutil.which("kubectl") or "kubectl"
        self.keadm = [sys.executable, "-m", "kubeedge.cli.keadm"]
        self.edge_roots = {name: root / "edges" / name for name in EDGES}
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["KUBECONFIG"] = str(self.layout.admin_kubeconfig)
        # The installed kubectl caches the server version per HOME (specs/k8s-api.md §0.1).
        env["HOME"] = str(root / "home")
        self.env = env
        self.hub_port = DEFAULT_HUB_PORT
        self.cert_port = DEFAULT_CERT_PORT
        self.stream_port = DEFAULT_STREAM_PORT
        self.tunnel_port = DEFAULT_TUNNEL_PORT
        self.host_network_reason = ""

    # ---- running and showing commands ---------------------------------------------------

    def run(self, cmd: list[str], *, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise DemoError(f"`{self.shown(cmd)}` failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def shown(self, cmd: list[str]) -> str:
        if cmd[0] == self.kubectl_bin:
            cmd = ["kubectl", *cmd[1:]]
        elif cmd[:3] == self.keadm:
            cmd = ["keadm", *cmd[3:]]
        return " ".join(cmd)

    def show(self, cmd: list[str], shown: str | None = None, **kw: Any) -> str:
        self.console.print(f"$ {shown or self.shown(cmd)}", style="bold", markup=False,
                           highlight=False)
        out = self.run(cmd, **kw).stdout.rstrip()
        if out:
            click.echo(out)
        return out

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run([self.kubectl_bin, *args], **kw)

    def show_kubectl(self, *args: str, **kw: Any) -> str:
        return self.show([self.kubectl_bin, *args], **kw)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.2)
        raise DemoError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    # ---- the cloud ----------------------------------------------------------------------

    def start_cloud(self, port: int | None) -> None:
        if setup.pid_alive(self.layout.apiserver_pid) is not None:
            core = cloudcore_config.load(self.layout.cloudcore_config)
            self.hub_port = core.modules.cloud_hub.websocket.port
            self.cert_port = core.modules.cloud_hub.https.port
            self.stream_port = core.modules.cloud_stream.stream_port
            self.tunnel_port = core.modules.cloud_stream.tunnel_port
            self.say(f"A demo cloud is already running under {self.root}; reusing it.")
            if self.cloudcore_pid() is None:
                self.say("Its cloudcore is not running: starting it again.")
                self.start_cloudcore()
            return
        if not port:  # none given (6443 when free) or 0 (any free one)
            port = (DEFAULT_PORT if port is None and setup.port_free("127.0.0.1", DEFAULT_PORT)
                    else _free_port())
        if not (setup.port_free("127.0.0.1", DEFAULT_HUB_PORT)
                and setup.port_free("127.0.0.1", DEFAULT_CERT_PORT)):
            self.hub_port, self.cert_port = _free_port(), _free_port()
        if not (setup.port_free("127.0.0.1", DEFAULT_STREAM_PORT)
                and setup.port_free("127.0.0.1", DEFAULT_TUNNEL_PORT)):
            self.stream_port, self.tunnel_port = _free_port(), _free_port()
        sets = [f"modules.cloudStream.streamPort={self.stream_port}",
                f"modules.cloudStream.tunnelPort={self.tunnel_port}",
                "modules.cloudStream.address=127.0.0.1",
                f"modules.cloudHub.websocket.port={self.hub_port}",
                "modules.cloudHub.websocket.address=127.0.0.1",
                f"modules.cloudHub.https.port={self.cert_port}",
                "modules.cloudHub.https.address=127.0.0.1",
                "modules.cloudHub.advertiseAddress=127.0.0.1"]
        self.show([*self.keadm, "init", "--root", str(self.root), "--advertise-address",
                   "127.0.0.1", "--bind-address", "127.0.0.1", "--apiserver-port", str(port),
                   *[a for s in sets for a in ("--set", s)]])

    def cloudcore_pid(self) -> int | None:
        return setup.pid_alive(self.layout.cloudcore_pid, setup.CLOUDCORE_MARK)

    def start_cloudcore(self) -> int:
        pid = setup.start_cloudcore(self.layout)
        setup.wait_cloudcore(self.layout, pid)
        return pid

    # ---- the edges ----------------------------------------------------------------------

    def join_edges(self) -> None:
        from kubeedge.edge.runtime.network import network_problem

        # Pods get their own network namespace and an IP from the node's podCIDR when
        # edgecore runs as root with CNI's plugins; otherwise they share the host's
        # network, and each edge gets an address of its own on loopback (127.0.0.2,
        # 127.0.0.3) as separate hosts would have, so the web pods never clash.
        self.host_network_reason = network_problem(
            enabled=True, euid=os.geteuid(), pod_cidr="10.244.0.0/24",
            cni_bin_dir="/usr/lib/cni")
        if self.host_network_reason:
            self.say(f"Pod networking: {self.host_network_reason}; each edge gets its own "
                     "loopback address as its node IP.")
        else:
            self.say("Pod networking: each pod gets its own network namespace and an IP "
                     "from its node's podCIDR (CNI bridge + host-local).")
        token = ""
        for i, (name, root) in enumerate(self.edge_roots.items()):
            if setup_edge.edgecore_pid(root) is not None:
                self.say(f"Edge {name} is already running under {root}; reusing it.")
                continue
            if EdgeLayout(root).config.exists():
                # A stopped edge from an earlier run: start over.
                self.run([*self.keadm, "reset", "edge", "--root", str(root), "--force"],
                         check=False)
            if not token:
                token = self.show([*self.keadm, "gettoken", "--root", str(self.root)],
                                  shown=f"keadm gettoken --root {self.root}")
                token = token.strip().splitlines()[-1]
            sets = [*EDGE_SETS, f'modules.edged.extraCapacity={{"{GPU}": {GPUS_PER_EDGE}}}',
                    f"modules.edgeStream.server=127.0.0.1:{self.tunnel_port}"]
            if self.host_network_reason:
                sets.append(f"modules.edged.nodeIP=127.0.0.{i + 2}")
            args = [f"--cloudcore-ipport=127.0.0.1:{self.hub_port}",
                    f"--certport={self.cert_port}", f"--edgenode-name={name}",
                    "--root", str(root), *[a for s in sets for a in ("--set", s)],
                    "--timeout", "60"]
            self.show([*self.keadm, "join", f"--token={token}", *args],
                      shown=" ".join(["keadm", "join", "--token=$TOKEN", *args]), timeout=90)
        self.show_kubectl("get", "nodes", "-o", "wide")

    def edgecore_pid(self, name: str) -> int | None:
        return setup_edge.edgecore_pid(self.edge_roots[name])

    def edge_state(self, name: str) -> dict[str, Any]:
        return read_state(EdgeLayout(self.edge_roots[name]).state) or {}

    def containers(self, name: str) -> dict[str, tuple[str, int]]:
        """Container id -> (pod/container, pid) of every running container of the edge,
        as its runtime's state files under the edge root say (read-only)."""
        from kubeedge.edge.runtime import ContainerFilter, ContainerState
        from kubeedge.edge.runtime.contract import LABEL_POD_NAME
        from kubeedge.edge.runtime.process import ProcessRuntime

        rt = ProcessRuntime(self.edge_roots[name], network=False)
        found = asyncio.run(rt.list_containers(ContainerFilter()))
        return {c.id: (f"{c.labels.get(LABEL_POD_NAME, '?')}/{c.metadata.name}",
                       int(c.pid or 0))
                for c in found if c.state == ContainerState.RUNNING}

    # ---- the workloads -------------------------------------------------------------------

    def deploy(self) -> None:
        self.show_kubectl("apply", "-f", str(EXAMPLES))
        self.show_kubectl("rollout", "status", "deployment/web", "-n", NAMESPACE,
                          "--timeout=60s")
        self.show_kubectl("rollout", "status", "daemonset/node-agent", "-n", NAMESPACE,
                          "--timeout=60s")
        self.show_kubectl("wait", "--for=condition=Complete", "job/primes", "-n", NAMESPACE,
                          "--timeout=60s")
        self.job_output("primes")

    def job_output(self, job: str) -> None:
        """What the Job's pod printed, read where the edge keeps it: `kubectl logs`
        goes through the edge stream tunnel, which is not built yet, so the container's
        log file under the edge root (CRI's log format) is shown instead."""
        from kubeedge.edge.runtime import ContainerFilter
        from kubeedge.edge.runtime.contract import LABEL_POD_NAME
        from kubeedge.edge.runtime.process import ProcessRuntime

        items = self.kubectl_json("get", "pods", "-n", NAMESPACE, "-l",
                                  f"job-name={job}")["items"]
        for pod in items:
            node, name = pod["spec"].get("nodeName", ""), pod["metadata"]["name"]
            if node not in self.edge_roots:
                continue
            rt = ProcessRuntime(self.edge_roots[node], network=False)
            found = asyncio.run(rt.list_containers(ContainerFilter(
                labels={LABEL_POD_NAME: name})))
            for c in found:
                self.console.print(f"$ cat {c.log_path}   # pod {name} on {node}",
                                   style="bold", markup=False, highlight=False)
                with contextlib.suppress(OSError):
                    for line in Path(c.log_path).read_text().splitlines():
                        # CRI log lines: time, stream, tag, then the content.
                        parts = line.split(" ", 3)
                        click.echo(line if len(parts) < 4 else f"{parts[0]} {parts[3]}")

    def show_all(self) -> None:
        self.show_kubectl("get", "nodes,pods", "-o", "wide", "-n", NAMESPACE)

    def web_pods(self) -> dict[str, dict[str, Any]]:
        """The web pods by node name (one per edge)."""
        items = self.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
        return {p["spec"].get("nodeName", ""): p for p in items
                if not p["metadata"].get("deletionTimestamp")}

    def get_web(self, pod: dict[str, Any]) -> str:
        ip = (pod.get("status") or {}).get("podIP", "")
        url = f"http://{ip}:{WEB_PORT}/"
        # Straight to the pod, never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as response:
            body = response.read().decode().strip()
        self.console.print(f"$ curl {url}", style="bold", markup=False, highlight=False)
        click.echo(body)
        return body

    def serve(self) -> None:
        for pod in sorted(self.web_pods().values(), key=lambda p: p["spec"]["nodeName"]):
            self.get_web(pod)
        self.show_kubectl("get", "endpoints", "web", "-n", NAMESPACE)

    # ---- kubectl logs, exec and top ------------------------------------------------------

    def streams(self) -> str:
        """kubectl logs, exec and top against the edge pods, through the API server,
        cloudcore's stream server and each edge's tunnel (docs/logs-exec-metrics.md)."""
        self.say("Nothing was configured for this: keadm init turned CloudStream on and "
                 "keadm join turned EdgeStream on; each edge dialled its tunnel.")
        for pod in sorted(self.web_pods().values(), key=lambda p: p["spec"]["nodeName"]):
            name = pod["metadata"]["name"]
            self.show_kubectl("logs", name, "-n", NAMESPACE, "--tail=2")
            cmd = [self.kubectl_bin, "exec", name, "-n", NAMESPACE, "--", "sh", "-c",
                   'echo "$POD_NAME on $NODE_NAME says: exit 3"; exit 3']
            self.console.print(f"$ {self.shown(cmd[:-1])} '{cmd[-1]}'", style="bold",
                               markup=False, highlight=False)
            done = self.run(cmd, check=False)
            click.echo(done.stdout.rstrip())
            self.say(f"(kubectl exited {done.returncode}, the command's own code)")
            if done.returncode != 3 or "says: exit 3" not in done.stdout:
                raise DemoError(f"kubectl exec into {name}: exit {done.returncode}, "
                                f"{done.stdout!r} {done.stderr!r}")
        primes = self.show_kubectl("logs", "job/primes", "-n", NAMESPACE)

        def top() -> str:
            got = self.kubectl("top", "node", "-l", "node-role.kubernetes.io/edge",
                               "--no-headers", check=False)
            return got.stdout if got.returncode == 0 and "<unknown>" not in got.stdout \
                and len(got.stdout.splitlines()) == len(EDGES) else ""

        self.wait(top, 60, "kubectl top node to have both edges' figures")
        self.show_kubectl("top", "node", "-l", "node-role.kubernetes.io/edge")
        self.show_kubectl("top", "pod", "-n", NAMESPACE)
        return f"kubectl logs, exec (exit code 3 passed back) and top on both edges; " \
               f"job primes says {primes.strip()!r}"

    # ---- autonomy -------------------------------------------------------------------------

    def stop_cloud(self) -> None:
        pid = self.cloudcore_pid()
        self.say("cloudcore holds CloudHub (the edges' only link to the cloud), "
                 "EdgeController, SyncController, the controllers and the scheduler. "
                 f"Stopping it (SIGTERM to pid {pid}); the API server stays, so kubectl "
                 "still answers, but nothing reaches or leaves the edges.")
        setup.stop(self.layout.cloudcore_pid, command_mark=setup.CLOUDCORE_MARK)
        for name in EDGES:
            self.wait(lambda n=name: self.edge_state(n).get("connected") is False, 30,
                      f"{name} to notice the cloud is gone")
        for name in EDGES:
            st = self.edge_state(name)
            self.say(f"  {name}: edgecore pid {self.edgecore_pid(name)}, connected="
                     f"{str(st.get('connected')).lower()}, phase {st.get('phase')}")

    def crash_container(self, name: str, pod_prefix: str) -> tuple[str, int]:
        """SIGKILL a container of pod `pod_prefix...` on edge `name`; the edge starts it
        again by itself (restartPolicy Always). Its pod's name and the new pid."""
        found = [(what, pid) for what, pid in self.containers(name).values()
                 if what.startswith(pod_prefix)]
        if not found:
            raise DemoError(f"no running {pod_prefix}* container on {name}")
        what, pid = found[0]
        self.console.print(f"$ kill -KILL {pid}   # container {what} on {name}",
                           style="bold", markup=False, highlight=False)
        os.kill(pid, signal.SIGKILL)
        new = self.wait(lambda: next((p for w, p in self.containers(name).values()
                                      if w == what and p != pid), None), 30,
                        f"{name} to start {what} again")
        self.say(f"{name} started {what} again by itself (restartPolicy Always): pid "
                 f"{pid} -> {new}. The API does not know yet.")
        return what.split("/")[0], new

    def restart_edge(self, name: str) -> tuple[dict[str, tuple[str, int]],
                                               dict[str, tuple[str, int]]]:
        root = self.edge_roots[name]
        layout = EdgeLayout(root)
        before = self.containers(name)
        self._show_pids(f"Containers on {name} before", before)
        old = self.edgecore_pid(name)
        if old is None:
            raise DemoError(f"edgecore of {name} is not running; see {layout.log}")
        self.console.print(f"$ kill -TERM {old}   # edgecore of {name}", style="bold",
                           markup=False, highlight=False)
        os.kill(old, signal.SIGTERM)
        self.wait(lambda: not setup.process_running(old), 20, f"edgecore {old} to stop")
        self.say(f"edgecore {old} stopped; its containers run on under their supervisors.")
        self.console.print(f"$ {sys.executable} -m kubeedge.cli.edgecore --config "
                           f"{layout.config} &", style="bold", markup=False, highlight=False)
        new = setup_edge.start_edgecore(layout.config, root)
        self.wait(lambda: self.edgecore_pid(name) == new
                  and self.edge_state(name).get("pid") == new, 30,
                  f"edgecore of {name} to start again")
        # It reads its database and re-attaches to the running containers; give its
        # first relist a moment, then look (every container must still be there).
        self.wait(lambda: self.containers(name) == before, 10,
                  f"the containers on {name} to be as before")
        after = self.containers(name)
        self.say(f"edgecore runs again as pid {new} (cloud still down: "
                 f"connected={str(self.edge_state(name).get('connected')).lower()}).")
        self._show_pids(f"Containers on {name} after", after)
        return before, after

    def _show_pids(self, title: str, found: dict[str, tuple[str, int]]) -> None:
        table = Table(title=title, title_justify="left", show_edge=False, box=None)
        table.add_column("POD/CONTAINER")
        table.add_column("CONTAINER ID")
        table.add_column("PID", justify="right")
        for cid, (what, pid) in sorted(found.items(), key=lambda kv: kv[1]):
            table.add_row(what, cid[:13], str(pid))
        self.console.print(table)

    def restart_count(self, pod: str) -> int:
        got = self.kubectl_json("get", "pod", pod, "-n", NAMESPACE)
        return sum(int(c.get("restartCount") or 0)
                   for c in (got.get("status") or {}).get("containerStatuses") or [])

    def bring_cloud_back(self, before: dict[str, dict[str, Any]],
                         restarts: dict[str, int]) -> float:
        self.console.print(f"$ {' '.join(setup.cloudcore_command(self.layout))} &",
                           style="bold", markup=False, highlight=False)
        since = time.time()
        start = time.monotonic()
        pid = self.start_cloudcore()
        self.say(f"cloudcore runs again (pid {pid}); the edges dial in and send what "
                 "they kept while offline.")

        def converged() -> bool:
            if not all(self.edge_state(n).get("phase") == "ready" for n in EDGES):
                return False
            for node in self.kubectl_json("get", "nodes")["items"]:
                if node["metadata"]["name"] not in EDGES:
                    continue
                ready = [c for c in node["status"].get("conditions") or []
                         if c["type"] == "Ready"]
                if not ready or ready[0]["status"] != "True" or _ts(
                        ready[0].get("lastHeartbeatTime")) < int(since):
                    return False
            if any(self.restart_count(p) != n for p, n in restarts.items()):
                return False
            now = self.web_pods()
            return (set(now) == set(before)
                    and all(now[n]["metadata"]["uid"] == before[n]["metadata"]["uid"]
                            and _pod_ready(now[n]) for n in now))

        self.wait(converged, 60, "the nodes and pods to converge")
        took = time.monotonic() - start
        self.say(f"Converged {took:.1f} s after cloudcore started: both nodes report "
                 "again; the web pods are the same pods (same UIDs), Running and Ready, "
                 "never restarted; the API shows the restart the edge made offline ("
                 + ", ".join(f"{p}: {n}" for p, n in restarts.items()) + ").")
        return took

    # ---- training jobs on the edges' GPUs -------------------------------------------------

    def training(self) -> str:
        """The documented gang scenario (specs/volcano.md §4) with real training: two
        TFJobs of 4 one-GPU workers on the edges' 4 GPUs, submitted together. The
        operator creates a job's pods only once Volcano admitted its PodGroup, and
        Volcano admits one job at a time because the second does not fit beside the
        first: one job holds all 4 GPUs while the other has no pods, then the other
        runs. A watch on the jobs' pods checks every change for a moment where both
        hold GPUs. Returns the summary of that watch."""
        self.show_kubectl("get", "nodes", "-l", "node-role.kubernetes.io/edge",
                          "-o", "custom-columns=NAME:.metadata.name,"
                          "GPUS:.status.allocatable.nvidia\\.com/gpu")
        gpus = self.edge_gpus()
        want = len(EDGES) * GPUS_PER_EDGE
        if sum(gpus.values()) != want:
            raise DemoError(
                f"the edges advertise {sum(gpus.values())} GPUs ({gpus}), not {want}: edges "
                "kept from an earlier run without GPUs in their configuration; stop them "
                "with `keadm reset edge` (see the summary of that run) and run the demo again")
        self._remove_training_jobs()
        if self.kubectl("get", "namespace", TRAINING_NS, check=False).returncode != 0:
            self.kubectl("create", "namespace", TRAINING_NS)
        watch = PodWatch(self, TRAINING_NS, JOB_NAME_LABEL)
        try:
            first, second = self._run_training(watch)
        finally:
            watch.stop()
        self.training_logs()
        summary = watch.summary()
        self.say(summary)
        if watch.overlap:
            raise DemoError("both training jobs held GPUs at the same time: gang scheduling "
                            f"did not hold ({watch.overlap})")
        return f"{first} ran with all {want} GPUs while {second} waited with no pods, then " \
               f"{second}; both Succeeded; {summary.split(': ', 1)[1]}"

    def _run_training(self, watch: PodWatch) -> tuple[str, str]:
        want = len(EDGES) * GPUS_PER_EDGE
        example = EXAMPLES / "training" / "tfjob-gpu.yaml"
        self.show([self.kubectl_bin, "create", "-f", "-"],
                  shown=f"kubectl create -f -   # {example.relative_to(EXAMPLES.parent)} "
                        f"as {' and '.join(TRAINING_JOBS)} in namespace {TRAINING_NS}, "
                        f"STEPS={TRAINING_STEPS}",
                  input=self.training_manifests(example))
        self.training_view("Both jobs submitted: each gets a PodGroup (minMember 4); no pod "
                           "exists until Volcano admits its group")
        first = self.wait(lambda: watch.holding_alone(want), 120,
                          f"one training job to run with all {want} GPUs")
        second = next(j for j in TRAINING_JOBS if j != first)
        self.training_view(f"{first} holds all {want} GPUs (its 4 workers Running); "
                           f"{second} waits with no pods (its PodGroup stays Pending)")
        self.wait(lambda: self._tfjob_states().get(first) == "Succeeded"
                  and (watch.running(second) == want
                       or self._tfjob_states().get(second) == "Succeeded"), 120,
                  f"{first} to succeed and {second} to run")
        if self._tfjob_states().get(second) != "Succeeded":
            self.training_view(f"{first} Succeeded and released its GPUs; {second} was "
                               f"admitted and runs with all {want} of them")
        self.wait(lambda: all(s == "Succeeded" for s in self._tfjob_states().values()), 120,
                  "both training jobs to succeed")
        # A TFJob succeeds when worker 0 does (its default success policy); the other
        # workers finish their last step a moment later.
        self.wait(self._training_pods_done, 60, "every worker of both jobs to finish")
        self.training_view("Both jobs Succeeded")
        return first, second

    def edge_gpus(self) -> dict[str, int]:
        nodes = self.kubectl_json("get", "nodes")["items"]
        return {n["metadata"]["name"]: int(str(
            ((n.get("status") or {}).get("allocatable") or {}).get(GPU, 0)))
                for n in nodes if n["metadata"]["name"] in EDGES}

    def training_manifests(self, example: Path) -> str:
        """The example TFJob twice, under the two names, with a short STEPS; in the host
        network (no per-pod /etc/hosts) the workers reach worker 0 on loopback."""
        import yaml

        job = yaml.safe_load(example.read_text())
        docs = []
        for name in TRAINING_JOBS:
            doc = copy.deepcopy(job)
            doc["metadata"]["name"] = name
            doc["metadata"]["namespace"] = TRAINING_NS
            for spec in doc["spec"]["tfReplicaSpecs"].values():
                for c in spec["template"]["spec"]["containers"]:
                    env = [e for e in c.get("env") or [] if e["name"] != "STEPS"]
                    env.append({"name": "STEPS", "value": str(TRAINING_STEPS)})
                    if self.host_network_reason:
                        env.append({"name": WORKER0_HOST_ENV, "value": "127.0.0.1"})
                        if not any(WORKER0_HOST_ENV in a for a in c["command"]):
                            raise DemoError(
                                f"{example}: its program no longer reads "
                                f"{WORKER0_HOST_ENV}; without per-pod /etc/hosts its "
                                "workers could not find worker 0")
                    c["env"] = env
            docs.append(doc)
        return yaml.safe_dump_all(docs, sort_keys=False)

    def training_view(self, title: str) -> None:
        self.console.print()
        self.say(f"[bold]▸ {title}[/bold]")
        self.show_kubectl("get", "tfjobs,podgroups,pods", "-n", TRAINING_NS, "-o", "wide")

    def _training_pods_done(self) -> bool:
        pods = self.kubectl_json("get", "pods", "-n", TRAINING_NS).get("items") or []
        return len(pods) == 4 * len(TRAINING_JOBS) and all(
            (p.get("status") or {}).get("phase") == "Succeeded" for p in pods)

    def _tfjob_states(self) -> dict[str, str]:
        """Each demo TFJob's latest condition that holds (the State column)."""
        items = self.kubectl_json("get", "tfjobs", "-n", TRAINING_NS).get("items") or []
        out = {}
        for job in items:
            conds = [c for c in (job.get("status") or {}).get("conditions") or []
                     if c.get("status") == "True"]
            out[job["metadata"]["name"]] = conds[-1]["type"] if conds else ""
        return out

    def _remove_training_jobs(self) -> None:
        """A second run starts over: the jobs of the last one go, and their pods (names
        are reused) with them."""
        if self.kubectl("get", "namespace", TRAINING_NS, check=False).returncode != 0:
            return
        self.kubectl("delete", "tfjobs", *TRAINING_JOBS, "-n", TRAINING_NS,
                     "--ignore-not-found", "--wait=true", check=False)
        self.wait(lambda: not self.kubectl_json("get", "pods", "-n", TRAINING_NS, "-l",
                                                JOB_NAME_LABEL)["items"], 60,
                  "the pods of earlier training jobs to go")

    def training_logs(self) -> None:
        """The GPU each worker saw and the accuracy it ended with, from the workers'
        log files on the edges (as `job_output`)."""
        for pod, node, path, lines in self.pod_logs(TRAINING_NS, JOB_NAME_LABEL):
            self.console.print(f"$ grep -E 'GPU|accuracy' {path}   # pod {pod} on {node}",
                               style="bold", markup=False, highlight=False)
            for line in lines:
                if " GPU " in line or "held-out accuracy" in line:
                    click.echo(line)

    def pod_logs(self, namespace: str, selector: str
                 ) -> list[tuple[str, str, str, list[str]]]:
        """(pod, node, log file, its lines without the CRI prefix) of each container of
        the selected pods, read under the edges' roots."""
        from kubeedge.edge.runtime import ContainerFilter
        from kubeedge.edge.runtime.contract import LABEL_POD_NAME
        from kubeedge.edge.runtime.process import ProcessRuntime

        items = self.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        out = []
        for pod in sorted(items, key=lambda p: p["metadata"]["name"]):
            node, name = pod["spec"].get("nodeName", ""), pod["metadata"]["name"]
            if node not in self.edge_roots:
                continue
            rt = ProcessRuntime(self.edge_roots[node], network=False)
            found = asyncio.run(rt.list_containers(ContainerFilter(
                labels={LABEL_POD_NAME: name})))
            for c in found:
                lines = []
                with contextlib.suppress(OSError):
                    for line in Path(c.log_path).read_text().splitlines():
                        # CRI log lines: time, stream, tag, then the content.
                        parts = line.split(" ", 3)
                        lines.append(line if len(parts) < 4 else parts[3])
                out.append((name, node, str(c.log_path), lines))
        return out


    # ---- Volcano on simulated GPU nodes ---------------------------------------------------

    def gangs(self) -> None:
        """Gang scheduling (specs/volcano.md §4): two 2-GPU jobs on 3 GPUs. One runs
        whole while the other waits with no pods, then the second runs; both
        complete. The GPUs are on simulated (hollow) nodes, removed afterwards."""
        hollow = self._start_hollow()
        # The edges have GPUs too (from their configuration, for the training step);
        # cordoned, they keep this step on the 3 simulated GPUs it is about.
        gpu_edges = [n for n, count in self.edge_gpus().items() if count]
        try:
            for name in gpu_edges:
                self.show_kubectl("cordon", name)
            self.show_kubectl("get", "nodes", "-l", "demo.kubeedge.io/hollow",
                              "-o", "custom-columns=NAME:.metadata.name,"
                              "GPUS:.status.allocatable.nvidia\\.com/gpu")
            self.show_kubectl("apply", "-f", str(EXAMPLES / "volcano"))
            self.wait(lambda: "Running" in (p := self._vcjob_phases()).values()
                      or sorted(p.values()) == ["Completed", "Completed"], 90,
                      "one training job to run")
            self.show_kubectl("get", "vcjob,podgroups", "-n", NAMESPACE)
            self.show_kubectl("get", "pods", "-n", NAMESPACE, "-l", "volcano.sh/job-name",
                              "-o", "wide")
            self.wait(lambda: sorted(self._vcjob_phases().values())
                      == ["Completed", "Completed"], 90, "both training jobs to complete")
            self.show_kubectl("get", "vcjob", "-n", NAMESPACE)
        finally:
            for name in gpu_edges:
                self.show_kubectl("uncordon", name, check=False)
            hollow.terminate()
            hollow.wait(30)
        self.say("The simulated GPU nodes are gone again; the training jobs are deleted "
                 "with them.")
        self.kubectl("delete", "-f", str(EXAMPLES / "volcano" / "20-two-gangs.yaml"),
                     "--ignore-not-found", "--wait=false", check=False)

    def _vcjob_phases(self) -> dict[str, str]:
        items = self.kubectl_json("get", "vcjob", "-n", NAMESPACE).get("items") or []
        return {i["metadata"]["name"]:
                ((i.get("status") or {}).get("state") or {}).get("phase") or ""
                for i in items}

    def _start_hollow(self) -> subprocess.Popen[bytes]:
        log_path = self.layout.logs / "hollow.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kubeedge.hollow", "--root", str(self.root),
                 "--nodes", "3", "--gpus", "1", "--name-prefix", "gpu-node-",
                 "--label", "demo.kubeedge.io/hollow=true", "--ready-delay", "1",
                 "--cleanup"], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        try:
            self.wait(lambda: proc.poll() is not None or b"registered" in
                      log_path.read_bytes(), 60, "the simulated GPU nodes to register")
        except DemoError:
            proc.kill()
            raise
        if proc.poll() is not None:
            raise DemoError(f"the simulated nodes did not start; see {log_path}")
        return proc

    # ---- the end ------------------------------------------------------------------------

    def summary(self, steps: Steps, outcomes: list[str]) -> None:
        self.console.print()
        self.console.rule("[bold]Summary", align="left")
        for line in outcomes:
            self.say(f"  • {line}")
        table = Table(show_edge=False, box=None)
        table.add_column("STEP")
        table.add_column("SECONDS", justify="right")
        for title, took in steps.done:
            table.add_row(title, f"{took:.1f}")
        table.add_row("total", f"{sum(t for _, t in steps.done):.1f}", style="bold")
        self.console.print(table)
        installed = Path(sys.executable).parent / "keadm"
        keadm = installed if installed.exists() else f"{sys.executable} -m kubeedge.cli.keadm"
        self.console.print()
        self.say("[bold]The cloud and both edges keep running.[/bold] To look around:")
        self.say(f"  export KUBECONFIG={self.layout.admin_kubeconfig}")
        self.say(f"  kubectl get all -n {NAMESPACE} -o wide")
        self.say(f"  ls {self.edge_roots[EDGES[0]]}/var/log/pods   # container logs")
        self.say("To stop everything (edges first, while the cloud can still take their "
                 "goodbye):")
        for root in self.edge_roots.values():
            self.say(f"  {keadm} reset edge --root {root} --force")
        self.say(f"  {keadm} reset --root {self.root} --force")


class PodWatch:
    """`kubectl get pods -w` on the training jobs' pods, in a thread: every change the
    API makes to them, in order, so a moment where both jobs hold GPUs cannot slip
    between two looks. A job holds GPUs while one of its pods is bound to a node and
    not finished (its GPUs are the edge's until then)."""

    def __init__(self, demo: Demo, namespace: str, job_label: str) -> None:
        self.job_label = job_label
        self.lock = threading.Lock()
        self.pods: dict[str, dict[str, Any]] = {}
        self.events = 0
        self.started = time.monotonic()
        # (seconds since start, GPUs held per job) at every change of who holds what.
        self.timeline: list[tuple[float, dict[str, int]]] = []
        self.overlap = ""
        self.proc = subprocess.Popen(
            [demo.kubectl_bin, "get", "pods", "-n", namespace, "-l", job_label, "-w",
             "--output-watch-events", "-o", "json"],
            env=demo.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder = json.JSONDecoder()
        buf = ""
        for chunk in iter(lambda: self.proc.stdout.readline() if self.proc.stdout else "",
                          ""):
            buf += chunk
            while True:
                buf = buf.lstrip()
                try:
                    event, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        pod = event.get("object") or {}
        name = (pod.get("metadata") or {}).get("name")
        if not name or event.get("type") not in ("ADDED", "MODIFIED", "DELETED"):
            return
        with self.lock:
            self.events += 1
            if event["type"] == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = pod
            held = self._held()
            if not self.timeline or self.timeline[-1][1] != held:
                self.timeline.append((time.monotonic() - self.started, held))
            holders = sorted(j for j, n in held.items() if n)
            if len(holders) > 1 and not self.overlap:
                self.overlap = (f"at {time.monotonic() - self.started:.1f} s: "
                                + ", ".join(f"{j} {held[j]} GPUs" for j in holders))

    def _jobs(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {j: [] for j in TRAINING_JOBS}
        for pod in self.pods.values():
            job = ((pod.get("metadata") or {}).get("labels") or {}).get(self.job_label, "")
            out.setdefault(job, []).append(pod)
        return out

    def _held(self) -> dict[str, int]:
        return {job: sum(1 for p in pods if p["spec"].get("nodeName")
                         and (p.get("status") or {}).get("phase") not in ("Succeeded",
                                                                          "Failed"))
                for job, pods in self._jobs().items()}

    def holding_alone(self, gpus: int) -> str | None:
        """The job whose `gpus` pods all run while the other job has no pod at all."""
        with self.lock:
            jobs = self._jobs()
            for job, pods in jobs.items():
                others = [p for j, ps in jobs.items() if j != job for p in ps]
                running = [p for p in pods
                           if (p.get("status") or {}).get("phase") == "Running"]
                if len(running) == gpus and not others:
                    return job
        return None

    def running(self, job: str) -> int:
        with self.lock:
            return sum(1 for p in self._jobs().get(job, [])
                       if (p.get("status") or {}).get("phase") == "Running")

    def summary(self) -> str:
        with self.lock:
            spans = []
            for job in TRAINING_JOBS:
                times = [(t, held.get(job, 0)) for t, held in self.timeline]
                on = [t for t, n in times if n]
                if not on:
                    spans.append(f"{job} never held a GPU")
                    continue
                # Released at the first change after its last holding moment.
                off = [t for t, n in times if not n and t > on[-1]]
                most = max(n for _, n in times)
                spans.append(f"{job} held {most} GPUs from {on[0]:.1f} s to "
                             + (f"{off[0]:.1f} s" if off else "the end"))
            both = self.overlap or "never"
            return (f"GPUs held, from a watch on the jobs' pods ({self.events} pod events): "
                    + "; ".join(spans) + f"; both jobs at the same time: {both}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ts(value: str | None) -> int:
    """An RFC 3339 time of the API (seconds) as a Unix time; 0 when absent."""
    from datetime import datetime

    if not value:
        return 0
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


@click.command()
@click.option("--root", default=".demo", show_default=True,
              help="Where the demo cloud and its edges keep their files.")
@click.option("--port", type=int, default=None,
              help="API server port (default 6443, or a free one when 6443 is taken).")
@click.option("--training/--no-training", default=True, show_default=True,
              help="Also run two 4-GPU TFJobs on the edges' 4 GPUs (from configuration).")
@click.option("--gpu/--no-gpu", default=True, show_default=True,
              help="Also show Volcano gang scheduling on simulated GPU nodes.")
def main(root: str, port: int | None, training: bool, gpu: bool) -> None:
    console = Console(highlight=False, soft_wrap=True)
    if shutil.which("kubectl") is None:
        click.echo("Error: kubectl is not installed; install kubectl 1.32 and run `make demo` "
                   "again.", err=True)
        sys.exit(1)
    root_path = Path(root).expanduser().resolve()
    demo = Demo(root_path, console)
    Path(demo.env["HOME"]).mkdir(parents=True, exist_ok=True)
    steps = Steps(console, total=8 + int(training) + int(gpu))
    outcomes: list[str] = []
    try:
        with steps.step("Start the cloud: keadm init (API server + cloudcore)"):
            demo.start_cloud(port)
        with steps.step(f"Join two edges: keadm gettoken, keadm join {' and '.join(EDGES)}"):
            demo.join_edges()
        with steps.step("Deploy examples/: a Deployment over both edges, a DaemonSet, "
                        "a Job"):
            demo.deploy()
            demo.show_all()
            pods = demo.web_pods()
            if set(pods) != set(EDGES):
                raise DemoError(f"the web pods are not one per edge: {sorted(pods)}")
            outcomes.append("examples/ deployed: web (one pod per edge), node-agent (one "
                            "per edge), job primes Complete")
        with steps.step("Serve: an HTTP GET to each web pod's IP"):
            demo.serve()
        with steps.step("kubectl logs, exec and top for the edge pods, through the tunnel "
                        "each edge dialled"):
            outcomes.append(demo.streams())
        edge = EDGES[0]
        with steps.step("Autonomy: stop the cloud (cloudcore); the edges carry on"):
            demo.stop_cloud()
            demo.get_web(pods[edge])
            crashed = next(p["metadata"]["name"] for p in demo.kubectl_json(
                "get", "pods", "-n", NAMESPACE, "-l", "app=node-agent")["items"]
                           if p["spec"].get("nodeName") == EDGES[1])
            restarts = {crashed: demo.restart_count(crashed) + 1}
            demo.crash_container(EDGES[1], crashed)
        with steps.step(f"Autonomy: restart {edge}'s edgecore while the cloud is down"):
            before, after = demo.restart_edge(edge)
            body = demo.get_web(pods[edge])
            same = before == after
            outcomes.append(f"cloud down, {edge}'s edgecore restarted: its {len(after)} "
                            f"containers kept their pids ({'same' if same else 'CHANGED'}), "
                            f"its web pod still answers: {body!r}")
        with steps.step("Bring the cloud back and watch the status converge"):
            took = demo.bring_cloud_back(pods, restarts)
            demo.show_all()
            outcomes.append(f"cloud back: nodes and pods converged in {took:.1f} s: same "
                            f"web pod UIDs, no web restarts, {crashed}'s offline restart "
                            "counted in the API")
        if training:
            with steps.step(f"Training: two TFJobs of 4 one-GPU workers on the edges' "
                            f"{len(EDGES) * GPUS_PER_EDGE} GPUs, gang-scheduled"):
                outcomes.append("training: " + demo.training())
        if gpu:
            with steps.step("Volcano gang scheduling on 3 simulated GPU nodes"):
                demo.gangs()
                outcomes.append("gang scheduling: two 2-GPU jobs on 3 GPUs ran one after "
                                "the other, both Completed")
    except (DemoError, setup.SetupError) as exc:
        console.print(f"[red]Error:[/red] {exc}", highlight=False)
        console.print(f"Logs: {demo.layout.logs} (cloud), "
                      + ", ".join(str(EdgeLayout(r).log) for r in demo.edge_roots.values()),
                      highlight=False)
        sys.exit(1)
    demo.summary(steps, outcomes)


if __name__ == "__main__":
    main()
