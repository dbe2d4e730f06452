"""The `process` runtime: containers as host processes, each owned by a supervisor.

Everything lives on disk under `<root>/var/lib/kubeedge/runtime` (rule 8):

    sandboxes/<id>/sandbox.json      the pod's sandbox: metadata, labels, log directory,
                                     network (its namespace files and IP, or host and
                                     why), state, createdAt
    sandboxes/<id>/hosts             the pod's /etc/hosts (pods with their own network)
    containers/<id>/config.json      the container as created: metadata, labels, image,
                                     sandbox, log path, and `launch` (argv, env, cwd,
                                     limits) which the supervisor reads
    containers/<id>/paths.json       container path → host path, for the mounts
    containers/<id>/supervisor.json  written by the supervisor once the process runs
    containers/<id>/exit.json        written by the supervisor when it ended
    containers/<id>/stdin, ctl       the supervisor's FIFOs (stdin; reopen-logs/close-stdin)

and container logs under the sandbox's log directory (default
`<root>/var/log/pods/<namespace>_<name>_<uid>/<container>/<attempt>.log`, kubelet's).

The object holds no state of its own: every call reads those files, and a pid is only
trusted together with its start time. So a new ProcessRuntime over the same root
(edgecore restarted, or killed with -9) re-attaches by construction: same containers,
same pids, nothing restarted; exits that happened meanwhile were recorded by their
supervisors.

Pod networking (network.py): when edgecore runs as root with CNI's plugins and the
node has a podCIDR, a sandbox that is not hostNetwork gets its own network and UTS
namespaces and an IP (PodSandboxStatus.ip); its containers (and exec_sync) run in those
namespaces and in a mount namespace of their own where the sandbox's hosts file is
bind-mounted over /etc/hosts, so two pods can listen on one port. Otherwise sandboxes
share the host's network and `network_status()` says why.

What a process runtime cannot isolate (say so to users): the container sees the host's
filesystem (mounts are offered as a path map, `KUBEEDGE_PATH_MAP` names a JSON file
mapping container paths to host paths, and the working directory is translated; nothing
but /etc/hosts is bind-mounted and readOnly is not enforced), the host's processes,
users and devices. Memory and CPU limits are enforced through cgroups when edgecore
runs as root and a cgroup hierarchy is writable; otherwise the status says why not
(`limits_enforced`, `limits_reason`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubeedge import __version__
from kubeedge.durable import atomic_write
from kubeedge.edge.runtime import (
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerNotFound,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    CreateContainerError,
    ExecSyncResult,
    ExecTimeout,
    ImageRef,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxMetadata,
    PodSandboxState,
    PodSandboxStatus,
    RuntimeServiceError,
    SandboxNotFound,
    StartContainerError,
    cgroups,
    procfs,
)
from kubeedge.edge.runtime.images import DEFAULT_PATH, ImageEntry, ImageTable
from kubeedge.edge.runtime.network import (
    DEFAULT_CNI_BIN_DIR,
    NetworkError,
    PodNetwork,
    hosts_file_content,
    pod_hostname,
)
from kubeedge.edge.runtime.streams import AttachHandle, ExecHandle, set_window_size
from kubeedge.edge.runtime.supervisor import (
    CLONE_NEWNET,
    DEFAULT_LOG_MAX_FILES,
    DEFAULT_LOG_MAX_SIZE,
)

__all__ = ["ProcessRuntime"]

# How often waits re-read the state files; exits are recorded within milliseconds.
_POLL = 0.02


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj: object) -> None:
    atomic_write(path, json.dumps(obj, separators=(",", ":")).encode())


def _labels_match(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())



class RuntimeOperations:
    """Counts, errors and time of each runtime operation, by kubelet's operation_type
    names, for edgecore's /metrics (kubelet's kubelet_runtime_operations_*)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def record(self, op: str, elapsed: float, failed: bool) -> None:
        self.counts[op] = self.counts.get(op, 0) + 1
        self.seconds[op] = self.seconds.get(op, 0.0) + elapsed
        if failed:
            self.errors[op] = self.errors.get(op, 0) + 1

    def families(self) -> list[Any]:
        from kubeedge.monitoring import Family, counter

        total = counter("kubelet_runtime_operations_total",
                        "Cumulative number of runtime operations by operation type.")
        errors = counter("kubelet_runtime_operations_errors_total",
                         "Cumulative number of runtime operation errors by operation type.")
        duration = Family("kubelet_runtime_operations_duration_seconds", "summary",
                          "Duration in seconds of runtime operations.")
        for op in sorted(self.counts):
            total.add(self.counts[op], operation_type=op)
            errors.add(self.errors.get(op, 0), operation_type=op)
            duration.observe(self.counts[op], self.seconds[op], operation_type=op)
        return [total, errors, duration]


def _counted(op: str) -> Any:
    def wrap(method: Any) -> Any:
        import functools

        @functools.wraps(method)
        async def counted(self: ProcessRuntime, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            failed = True
            try:
                result = await method(self, *args, **kwargs)
                failed = False
                return result
            finally:
                self.operations.record(op, time.monotonic() - started, failed)
        return counted
    return wrap


class ProcessRuntime:
    """The Runtime protocol over supervised host processes (see the module docstring).

    `images` adds or overrides image table entries; `cgroup_parent` is the cgroup
    (relative to each hierarchy's root) containers go under, e.g. the edge's own
    `kubeedge-<node>`; `log_max_size`/`log_max_files` are kubelet's
    containerLogMaxSize/containerLogMaxFiles; `python` runs the supervisors.

    Pod networking: `network` switches it on (it still needs root, the CNI plugins in
    `cni_bin_dir` and a `pod_cidr`, which `update_runtime_config` can give later);
    `node_name` goes into the bridge's name; `cluster_domain` into pods' FQDNs;
    `network_mtu` is the pods' MTU (0: the bridge plugin's default).
    """

    name = "process"
    version = __version__

    def __init__(self, root: str | os.PathLike[str], *,
                 images: Mapping[str, ImageEntry] | None = None,
                 cgroup_parent: str = "kubeedge",
                 cgroup_base: str = cgroups.DEFAULT_BASE,
                 log_max_size: int = DEFAULT_LOG_MAX_SIZE,
                 log_max_files: int = DEFAULT_LOG_MAX_FILES,
                 python: str = sys.executable,
                 start_timeout: float = 30.0,
                 pod_cidr: str = "",
                 cni_bin_dir: str = DEFAULT_CNI_BIN_DIR,
                 network: bool = True,
                 node_name: str = "",
                 cluster_domain: str = "cluster.local",
                 network_mtu: int = 0) -> None:
        self.root = Path(root)
        self.operations = RuntimeOperations()
        self.state_dir = self.root / "var/lib/kubeedge/runtime"
        self.sandbox_dir = self.state_dir / "sandboxes"
        self.container_dir = self.state_dir / "containers"
        # config.json per container id: written once at create and never changed, so
        # lists filter by labels, sandbox, name and attempt without reading every
        # container's files (a node's full list is asked for on every pod sync).
        self._configs: dict[str, dict[str, Any]] = {}
        # A sandbox's labels, likewise fixed at creation (its state and IP change).
        self._sandbox_labels: dict[str, Mapping[str, str]] = {}
        self.log_root = self.root / "var/log/pods"
        self.images = ImageTable(images)
        self.cgroup_parent = cgroup_parent
        self.cgroup_base = cgroup_base
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.python = python
        self.start_timeout = start_timeout
        self.cluster_domain = cluster_domain
        self.net = PodNetwork(self.root, node_name=node_name, pod_cidr=pod_cidr,
                              cni_bin_dir=cni_bin_dir, enabled=network,
                              cluster_domain=cluster_domain, mtu=network_mtu)

    # --- status and config --------------------------------------------------------------

    def network_status(self) -> tuple[bool, str]:
        """(True, "") when new sandboxes get a pod network, else (False, why not)."""
        problem = self.net.problem()
        return (not problem, problem)

    async def update_runtime_config(self, pod_cidr: str) -> None:
        self.net.set_pod_cidr(pod_cidr)

    async def program_routes(self, routes: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Routes to the other edges' pods, (podCIDR, node InternalIP) each: see
        PodNetwork.program_routes."""
        return await self.net.program_routes(routes)

    # --- images -------------------------------------------------------------------------

    def metric_families(self) -> list[Any]:
        return self.operations.families()

    @_counted("pull_image")
    async def pull_image(self, image: str) -> ImageRef:
        return self.images.pull(image)

    # --- sandboxes ----------------------------------------------------------------------

    def _sandbox(self, sandbox_id: str) -> dict[str, Any]:
        data = _read_json(self.sandbox_dir / sandbox_id / "sandbox.json") if sandbox_id \
            else None
        if data is None:
            raise SandboxNotFound(f"pod sandbox {sandbox_id!r} not found")
        return data

    @_counted("run_podsandbox")
    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        md = config.metadata
        sandbox_id = secrets.token_hex(32)
        log_dir = config.log_directory or str(
            self.log_root / f"{md.namespace}_{md.name}_{md.uid}")
        os.makedirs(log_dir, exist_ok=True)
        hostname = pod_hostname(config.hostname or md.name)
        problem = "" if config.host_network else self.net.problem()
        own_network = not config.host_network and not problem
        path = self.sandbox_dir / sandbox_id / "sandbox.json"
        data: dict[str, Any] = {
            "id": sandbox_id,
            "metadata": {"name": md.name, "namespace": md.namespace, "uid": md.uid,
                         "attempt": md.attempt},
            "hostname": hostname,
            "subdomain": config.subdomain,
            "logDirectory": log_dir,
            "hostNetwork": config.host_network,
            "network": "host", "networkReason": "hostNetwork" if config.host_network
            else problem,
            "ip": "",
            "labels": dict(config.labels), "annotations": dict(config.annotations),
            "createdAt": time.time_ns(),
            # NOTREADY until its network is up: a sandbox left so by a crash is one
            # Edged removes (and its network is torn down from what network.py stored).
            "state": PodSandboxState.NOTREADY.value if own_network
            else PodSandboxState.READY.value,
        }
        _write_json(path, data)
        if not own_network:
            return sandbox_id
        try:
            net = await self.net.setup(sandbox_id, hostname=hostname, namespace=md.namespace,
                                       name=md.name, uid=md.uid)
            hosts = self.sandbox_dir / sandbox_id / "hosts"
            hosts.write_text(hosts_file_content(
                net.ip, hostname, namespace=md.namespace, subdomain=config.subdomain,
                cluster_domain=self.cluster_domain, entries=config.hosts_entries))
        except BaseException as e:
            try:
                await self.net.teardown(sandbox_id)
            except Exception as te:
                # Kept NOTREADY (with why) so that removing it retries the teardown, as
                # kubelet stops and removes a sandbox whose creation failed.
                data["networkReason"] = f"pod network setup failed: {e}; teardown: {te}"
                _write_json(path, data)
            else:
                shutil.rmtree(self.sandbox_dir / sandbox_id, ignore_errors=True)
            if isinstance(e, RuntimeServiceError):
                raise
            if isinstance(e, Exception):
                raise NetworkError(f"setting up the pod network failed: {e}") from e
            raise
        data.update(network=net.netns, networkReason=f"pod network (bridge {self.net.bridge})",
                    ip=net.ip, netns=net.netns, utsns=net.utsns, hostsFile=str(hosts),
                    state=PodSandboxState.READY.value)
        _write_json(path, data)
        return sandbox_id

    async def update_pod_hosts(self, sandbox_id: str,
                               hosts_entries: Sequence[tuple[str, Sequence[str]]]) -> bool:
        """Rewrites a sandbox's /etc/hosts with new extra entries (the cluster's pod
        hostnames and headless Services changed). Written in place: the containers have
        the file bind-mounted, and a rename would leave them the old one. False when
        the sandbox has no hosts file of its own (host network)."""
        data = self._sandbox(sandbox_id)
        if not data.get("hostsFile") or not data.get("ip"):
            return False
        md = data["metadata"]
        content = hosts_file_content(
            data["ip"], data["hostname"], namespace=md["namespace"],
            subdomain=data.get("subdomain", ""), cluster_domain=self.cluster_domain,
            entries=hosts_entries)
        with open(data["hostsFile"], "r+") as f:
            if f.read() != content:
                f.seek(0)
                f.write(content)
                f.truncate()
        return True

    @_counted("stop_podsandbox")
    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None:
        """Stops every container of the sandbox (CRI: StopPodSandbox forcibly stops
        them), then marks it NOTREADY. Idempotent, also for an unknown id."""
        try:
            data = self._sandbox(sandbox_id)
        except SandboxNotFound:
            return
        containers = await self.list_containers(ContainerFilter(sandbox_id=sandbox_id))
        await asyncio.gather(*(self.stop_container(c.id, timeout) for c in containers))
        # CRI: StopPodSandbox also reclaims the network (the IP goes back to the pool).
        await self.net.teardown(sandbox_id)
        if data["state"] != PodSandboxState.NOTREADY.value or data.get("ip"):
            data["state"] = PodSandboxState.NOTREADY.value
            data["ip"] = ""
            _write_json(self.sandbox_dir / sandbox_id / "sandbox.json", data)

    @_counted("remove_podsandbox")
    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Removes the sandbox and its containers (killing any still running). The
        pod's log directory stays: kubelet removes logs itself."""
        if not sandbox_id or "/" in sandbox_id or sandbox_id.startswith("."):
            return  # no such sandbox (and an empty id must not match every container)
        for c in await self.list_containers(ContainerFilter(sandbox_id=sandbox_id)):
            await self.remove_container(c.id)
        # From network.py's own state, so also after a restart and whatever this
        # runtime's settings are now; on failure the sandbox stays for a retry.
        await self.net.teardown(sandbox_id)
        self._sandbox_labels.pop(sandbox_id, None)
        shutil.rmtree(self.sandbox_dir / sandbox_id, ignore_errors=True)

    def _sandbox_status(self, data: dict[str, Any]) -> PodSandboxStatus:
        md = data["metadata"]
        return PodSandboxStatus(
            id=data["id"],
            metadata=PodSandboxMetadata(md["name"], md["namespace"], md["uid"],
                                        md.get("attempt", 0)),
            state=PodSandboxState(data["state"]), created_at=data["createdAt"],
            network=data["network"], network_reason=data["networkReason"],
            log_directory=data["logDirectory"], labels=data["labels"],
            annotations=data["annotations"], ip=data.get("ip", ""))

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus:
        return self._sandbox_status(self._sandbox(sandbox_id))

    @_counted("list_podsandbox")
    async def list_pod_sandboxes(
            self, filter: PodSandboxFilter | None = None) -> list[PodSandboxStatus]:
        f = filter or PodSandboxFilter()
        out = []
        for d in sorted(self.sandbox_dir.glob("*")) if self.sandbox_dir.exists() else []:
            if f.id and d.name != f.id:
                continue
            known = self._sandbox_labels.get(d.name)
            if known is not None and not _labels_match(known, f.labels):
                continue  # another pod's: its file need not be read
            data = _read_json(d / "sandbox.json")
            if data is None:
                self._sandbox_labels.pop(d.name, None)
                continue
            self._sandbox_labels[d.name] = data.get("labels") or {}
            s = self._sandbox_status(data)
            if f.state is not None and s.state != f.state:
                continue
            if _labels_match(s.labels, f.labels):
                out.append(s)
        return sorted(out, key=lambda s: s.created_at)

    # --- containers ---------------------------------------------------------------------

    def _dir(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise ContainerNotFound(f"container {container_id!r} not found")
        return self.container_dir / container_id

    def _config(self, container_id: str) -> dict[str, Any]:
        d = self._dir(container_id)
        cached = self._configs.get(container_id)
        if cached is not None and d.is_dir():
            return cached
        data = _read_json(d / "config.json")
        if data is None:
            self._configs.pop(container_id, None)
            raise ContainerNotFound(f"container {container_id!r} not found")
        self._configs[container_id] = data
        return data

    @_counted("create_container")
    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        if sandbox["state"] != PodSandboxState.READY.value:
            raise CreateContainerError(f"pod sandbox {sandbox_id} is not ready")
        name = config.metadata.name
        ref = self.images.pull(config.image) if self.images.lookup(config.image) else None
        image_env = self.images.env(config.image)
        env = {"PATH": image_env.get("PATH", DEFAULT_PATH),
               "HOSTNAME": sandbox["hostname"],
               "HOME": "/root" if (config.run_as_user if config.run_as_user is not None
                                 else os.geteuid()) == 0 else "/",
               **image_env, **dict(config.env)}
        # Raises ImageError (ErrImagePull/InvalidImageName) or CreateContainerError.
        argv = self.images.argv(config.image, config.command, config.args, env["PATH"])

        path_map: dict[str, str] = {}
        for i, m in enumerate(config.mounts):
            if not m.container_path.startswith("/"):
                raise CreateContainerError(
                    f"container {name!r}: mounts[{i}].containerPath {m.container_path!r} "
                    "must be an absolute path")
            if not os.path.exists(m.host_path):
                raise CreateContainerError(
                    f"container {name!r}: mounts[{i}].hostPath: failed to mount "
                    f"{m.host_path!r}: no such file or directory")
            path_map[m.container_path.rstrip("/") or "/"] = m.host_path
        cwd = config.working_dir or "/"
        for cpath in sorted(path_map, key=len, reverse=True):
            if cwd == cpath or cwd.startswith(cpath.rstrip("/") + "/"):
                cwd = path_map[cpath] + cwd[len(cpath):]
                break

        container_id = secrets.token_hex(32)
        d = self.container_dir / container_id
        d.mkdir(parents=True)
        if path_map:
            _write_json(d / "paths.json", path_map)
            env.setdefault("KUBEEDGE_PATH_MAP", str(d / "paths.json"))
        log_rel = config.log_path or f"{name}/{config.metadata.attempt}.log"
        log_path = os.path.join(sandbox["logDirectory"], log_rel)
        r = config.resources
        resources = {"memoryLimitInBytes": r.memory_limit_in_bytes, "cpuQuota": r.cpu_quota,
                     "cpuPeriod": r.cpu_period, "cpuShares": r.cpu_shares}
        _write_json(d / "config.json", {
            "id": container_id, "sandboxId": sandbox_id,
            "metadata": {"name": name, "attempt": config.metadata.attempt},
            "image": config.image, "imageRef": ref.ref if ref else "",
            "labels": dict(config.labels), "annotations": dict(config.annotations),
            "createdAt": time.time_ns(), "logPath": log_path,
            "mounts": [{"containerPath": m.container_path, "hostPath": m.host_path,
                        "readonly": m.readonly} for m in config.mounts],
            "limitsRequested": r.limited,
            "launch": {
                "argv": argv, "env": env, "cwd": cwd, "logPath": log_path,
                "logMaxSize": self.log_max_size, "logMaxFiles": self.log_max_files,
                "stdin": config.stdin, "stdinOnce": config.stdin_once, "tty": config.tty,
                "cgroupParent": self.cgroup_parent, "cgroupBase": self.cgroup_base,
                "resources": resources,
                "runAsUser": config.run_as_user, "runAsGroup": config.run_as_group,
                "namespaces": {"net": sandbox["netns"], "uts": sandbox["utsns"],
                               "hosts": sandbox["hostsFile"]}
                if sandbox.get("netns") else None,
            },
        })
        return container_id

    @_counted("start_container")
    async def start_container(self, container_id: str) -> None:
        """Starts the container's supervisor and returns once the process runs.

        A process that cannot start is recorded as exited, 128, `StartError` (as
        containerd does) and raised as StartContainerError with runc's message.
        """
        status = await self.container_status(container_id)
        if status.state != ContainerState.CREATED:
            raise RuntimeServiceError(
                f"container {container_id} is in {status.state.value} state, "
                "not CONTAINER_CREATED")
        d = self._dir(container_id)
        with open(d / "supervisor.log", "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-m", "kubeedge.edge.runtime.supervisor", str(d),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        try:
            rc = await asyncio.wait_for(proc.wait(), self.start_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            rc = -1
        if rc == 0:
            return
        exited = _read_json(d / "exit.json")
        if exited is not None:
            raise StartContainerError(exited.get("message") or "start failed")
        try:
            tail = (d / "supervisor.log").read_text(errors="replace")[-2000:]
        except OSError:
            tail = ""
        raise RuntimeServiceError(
            f"container {container_id}: supervisor failed to start (exit {rc}): {tail}")

    def _status(self, container_id: str) -> ContainerStatus:
        cfg = self._config(container_id)
        d = self._dir(container_id)
        state = ContainerState.CREATED
        started = finished = 0
        exit_code: int | None = None
        reason = message = ""
        pid: int | None = None
        enforced, limits_reason = True, ""
        exited = _read_json(d / "exit.json")
        sup = _read_json(d / "supervisor.json")
        if sup is not None:
            cg = sup.get("cgroup") or {}
            enforced = bool(cg.get("limitsEnforced", True)) or not cfg.get("limitsRequested")
            limits_reason = "" if enforced else cg.get("limitsReason", "")
            started = sup.get("startedAt", 0)
            pid = sup.get("pid")
        if exited is None and sup is not None:
            if procfs.alive(pid, sup.get("pidStart")) or procfs.alive(
                    sup.get("supervisorPid"), sup.get("supervisorStart")):
                state = ContainerState.RUNNING
            else:
                # The supervisor writes exit.json before it exits: read again, since
                # it may have finished between the two reads.
                exited = _read_json(d / "exit.json")
                if exited is None:
                    state = ContainerState.UNKNOWN
                    reason = "Unknown"
                    message = "the container's supervisor is gone and recorded no exit"
        if exited is not None:
            state = ContainerState.EXITED
            exit_code = exited.get("exitCode")
            reason = exited.get("reason", "")
            message = exited.get("message", "")
            finished = exited.get("finishedAt", 0)
            started = exited.get("startedAt", started)
        md = cfg["metadata"]
        return ContainerStatus(
            id=container_id, sandbox_id=cfg["sandboxId"],
            metadata=ContainerMetadata(md["name"], md.get("attempt", 0)),
            state=state, image=cfg["image"], created_at=cfg["createdAt"],
            started_at=started, finished_at=finished, exit_code=exit_code, reason=reason,
            message=message, pid=pid, log_path=cfg["logPath"], labels=cfg["labels"],
            annotations=cfg["annotations"], limits_enforced=enforced,
            limits_reason=limits_reason)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._status(container_id)

    @_counted("list_containers")
    async def list_containers(
            self, filter: ContainerFilter | None = None) -> list[ContainerStatus]:
        f = filter or ContainerFilter()
        out = []
        dirs = sorted(self.container_dir.glob("*")) if self.container_dir.exists() else []
        for d in dirs:
            if f.id and d.name != f.id:
                continue
            try:
                # What never changes filters first; only matches read their state.
                cfg = self._config(d.name)
                md = cfg["metadata"]
                if ((f.sandbox_id and cfg["sandboxId"] != f.sandbox_id)
                        or (f.name and md["name"] != f.name)
                        or (f.attempt is not None and md.get("attempt", 0) != f.attempt)
                        or not _labels_match(cfg["labels"], f.labels)):
                    continue
                s = self._status(d.name)
            except ContainerNotFound:
                continue  # being created or removed
            if f.state is not None and s.state != f.state:
                continue
            out.append(s)
        return sorted(out, key=lambda s: s.created_at)

    def _signal_group(self, sup: dict[str, Any], sig: signal.Signals) -> None:
        pid = sup.get("pid")
        if pid and procfs.alive(pid, sup.get("pidStart")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        if sig == signal.SIGKILL:
            # As a pid namespace would: everything of the container, not only its group.
            cgroups.kill_all((sup.get("cgroup") or {}).get("paths") or [])
            if pid:
                for p in procfs.session_members(pid):
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)

    async def _wait_not_running(self, container_id: str, deadline: float) -> ContainerStatus:
        while True:
            s = self._status(container_id)
            if s.state != ContainerState.RUNNING or time.monotonic() >= deadline:
                return s
            await asyncio.sleep(_POLL)

    @_counted("stop_container")
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM to the container's process group, SIGKILL to all of it after
        `timeout` seconds (the grace period), then wait for the supervisor to record
        the exit. Idempotent."""
        s = self._status(container_id)
        if s.state != ContainerState.RUNNING:
            self._kill_execs(container_id)
            return
        sup = _read_json(self._dir(container_id) / "supervisor.json") or {}
        if timeout > 0:
            self._signal_group(sup, signal.SIGTERM)
            s = await self._wait_not_running(container_id, time.monotonic() + timeout)
            if s.state != ContainerState.RUNNING:
                self._kill_execs(container_id)
                return
        self._signal_group(sup, signal.SIGKILL)
        self._kill_execs(container_id)
        # The supervisor drains the pipes (at most its DRAIN_TIMEOUT) and records.
        s = await self._wait_not_running(container_id, time.monotonic() + 10.0)
        if s.state == ContainerState.RUNNING:
            raise RuntimeServiceError(f"container {container_id} did not stop after SIGKILL")

    @_counted("remove_container")
    async def remove_container(self, container_id: str) -> None:
        """Removes a container, killing it first if it still runs (CRI: forcibly).
        Idempotent. The log file stays (kubelet removes logs)."""
        try:
            s = self._status(container_id)
        except ContainerNotFound:
            return
        if s.state == ContainerState.RUNNING:
            await self.stop_container(container_id, 0)
        self._kill_execs(container_id)
        d = self._dir(container_id)
        sup = _read_json(d / "supervisor.json") or {}
        cgroups.remove((sup.get("cgroup") or {}).get("paths") or [])
        # Renamed first so a concurrent list never sees a half-removed container.
        gone = d.with_name(f".removed-{container_id}")
        self._configs.pop(container_id, None)
        with contextlib.suppress(FileNotFoundError):
            os.replace(d, gone)
        shutil.rmtree(gone, ignore_errors=True)

    # --- logs, stdin, exec, stats -------------------------------------------------------

    def container_log_path(self, container_id: str) -> str:
        return self._config(container_id)["logPath"]

    async def _ctl(self, container_id: str, command: str, timeout: float = 5.0) -> None:
        d = self._dir(container_id)
        ack = d / "ctl.ack"
        try:
            before = ack.read_text().count("\n")
        except FileNotFoundError:
            before = 0
        try:
            fd = os.open(d / "ctl", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:  # no FIFO, or no reader: the supervisor is gone
            raise RuntimeServiceError(f"container {container_id} is not running") from e
        try:
            os.write(fd, command.encode() + b"\n")
        finally:
            os.close(fd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                if ack.read_text().count("\n") > before:
                    return
            await asyncio.sleep(_POLL / 4)
        raise RuntimeServiceError(f"container {container_id}: {command} not acknowledged")

    async def reopen_container_log(self, container_id: str) -> None:
        await self._ctl(container_id, "reopen-logs")

    async def write_stdin(self, container_id: str, data: bytes) -> None:
        """Writes to the container's stdin (the process runtime's attach). With
        stdinOnce, one call is the one attach session: stdin is closed after it."""
        await self._write_stdin(container_id, data)
        if self._config(container_id)["launch"].get("stdinOnce"):
            await self.close_stdin(container_id)

    async def _write_stdin(self, container_id: str, data: bytes) -> None:
        cfg = self._config(container_id)
        if not cfg["launch"].get("stdin"):
            raise RuntimeServiceError(f"container {container_id} was not created with stdin")
        try:
            fd = os.open(self._dir(container_id) / "stdin", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise RuntimeServiceError(f"container {container_id} is not running") from e
        try:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                    view = view[n:]
                except BlockingIOError:
                    await asyncio.sleep(_POLL)
        finally:
            os.close(fd)

    async def close_stdin(self, container_id: str) -> None:
        """Gives the container EOF on stdin (what stdinOnce does when the first attach
        ends)."""
        await self._ctl(container_id, "close-stdin")

    def _exec_command(self, container_id: str, cmd: Sequence[str], *, tty: bool = False,
                      check: bool = False) -> tuple[list[str], dict[str, str], str, dict[str, Any],
                                 dict[str, Any]]:
        """What running `cmd` in the container takes: (argv, env, cwd, subprocess user
        kwargs, supervisor.json). In a container with its own namespaces the argv enters
        them (network, UTS, and the mount namespace with the pod's /etc/hosts) through
        nsenter, as runc's exec does; nsenter drops the user after entering them. With
        `tty`, util-linux's `setsid --ctty` makes the pty the command's controlling
        terminal (setsid + TIOCSCTTY) right before it execs: no Python may run between
        fork and exec in edgecore, which has threads."""
        s = self._status(container_id)
        if s.state != ContainerState.RUNNING:
            raise RuntimeServiceError(
                f"container {container_id} is not running ({s.state.value})")
        if not cmd:
            raise RuntimeServiceError("exec: no command given")
        cfg = self._config(container_id)
        la = cfg["launch"]
        entry = self.images.lookup(cfg["image"]) or ImageEntry()
        argv = self.images.map_program(entry, list(cmd), la["env"].get("PATH", DEFAULT_PATH))
        if check:
            # runc looks the program up before it starts anything; so do we, so that a
            # command that does not exist is an error with runc's words also when
            # nsenter or setsid would be the ones to fail.
            prog = argv[0]
            found = shutil.which(prog, path=la["env"].get("PATH", DEFAULT_PATH)) \
                if "/" not in prog else (prog if os.path.exists(prog) else None)
            if found is None:
                from kubeedge.edge.runtime.supervisor import start_error_message
                raise RuntimeServiceError(start_error_message(
                    argv, "", FileNotFoundError(2, "No such file or directory", prog)))
        if tty:
            argv = ["setsid", "--ctty", *argv]
        kwargs: dict[str, Any] = {}
        sup = _read_json(self._dir(container_id) / "supervisor.json") or {}
        if la.get("namespaces") and sup.get("pid"):
            prefix = ["nsenter", f"--target={sup['pid']}", "--mount", "--uts", "--net",
                      f"--wd={la.get('cwd') or '/'}"]
            if os.geteuid() == 0:
                if la.get("runAsGroup") is not None:
                    prefix.append(f"--setgid={la['runAsGroup']}")
                if la.get("runAsUser") is not None:
                    prefix.append(f"--setuid={la['runAsUser']}")
            argv = [*prefix, "--", *argv]
        elif os.geteuid() == 0:
            if la.get("runAsUser") is not None:
                kwargs["user"] = la["runAsUser"]
            if la.get("runAsGroup") is not None:
                kwargs["group"] = la["runAsGroup"]
        env = dict(la["env"])
        if tty:
            # containerd sets TERM for a tty exec when the container does not.
            env.setdefault("TERM", "xterm")
        return argv, env, la.get("cwd") or "/", kwargs, sup

    @staticmethod
    def _join_cgroup(sup: dict[str, Any], pid: int) -> None:
        # Charged to the container like runc's exec (joined right after the spawn:
        # edgecore has threads, so no code may run between its fork and exec).
        with contextlib.suppress(OSError):
            for path in (sup.get("cgroup") or {}).get("paths") or []:
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write(str(pid))

    @_counted("exec_sync")
    async def exec_sync(self, container_id: str, cmd: Sequence[str],
                        timeout: float) -> ExecSyncResult:
        """Runs `cmd` with the container's environment, working directory, user and
        cgroup, and returns its output and exit code (CRI ExecSync). Past `timeout`
        seconds the command's process group is killed and ExecTimeout raised."""
        argv, env, cwd, kwargs, sup = self._exec_command(container_id, cmd)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True, **kwargs)
        except OSError as e:
            from kubeedge.edge.runtime.supervisor import start_error_message
            return ExecSyncResult(b"", start_error_message(argv, cwd, e).encode(), 126)
        self._join_cgroup(sup, proc.pid)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise ExecTimeout(f"exec {list(cmd)} in {container_id} timed out after "
                              f"{timeout}s") from None
        rc = proc.returncode if proc.returncode is not None else -1
        return ExecSyncResult(out, err, 128 - rc if rc < 0 else rc)

    @_counted("exec")
    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool = False,
                   stdin: bool = False, stdout: bool = True, stderr: bool = True,
                   size: tuple[int, int] | None = None) -> ExecHandle:
        """Starts `cmd` in the running container (kubelet's streaming Exec, `kubectl
        exec`): its namespaces, environment, working directory, user and cgroup, as
        exec_sync. Without `tty` its streams are pipes (a stream not asked for is
        /dev/null); with `tty` a new pty is its controlling terminal and carries all
        output on stdout. The command is a session leader, so `kill()` takes its whole
        process group. A command that cannot start raises RuntimeServiceError with
        runc's wording (kubectl shows it; kubelet's exit code 126 is for exec_sync)."""
        argv, env, cwd, kwargs, sup = self._exec_command(container_id, cmd, tty=tty,
                                                         check=True)
        ours: list[int] = []  # our ends, handed to the handle
        theirs: list[int] = []  # the command's ends, closed here after the spawn
        try:
            if tty:
                master, slave = os.openpty()
                if size is not None:
                    # The client's terminal size before the command starts (a resize
                    # right after would race with the command's first look at it).
                    set_window_size(master, *size)
                theirs.append(slave)
                ours.append(master)
                child = {"stdin": slave, "stdout": slave, "stderr": slave}
                stdin_fd = os.dup(master) if stdin else None
                if stdin_fd is not None:
                    ours.append(stdin_fd)
                out_fd, err_fd = master, None
            else:
                child = {}
                stdin_fd = out_fd = err_fd = None
                if stdin:
                    r, stdin_fd = os.pipe2(os.O_CLOEXEC)
                    theirs.append(r)
                    ours.append(stdin_fd)
                    child["stdin"] = r
                else:
                    child["stdin"] = asyncio.subprocess.DEVNULL
                for name, wanted in (("stdout", stdout), ("stderr", stderr)):
                    if wanted:
                        r, w = os.pipe2(os.O_CLOEXEC)
                        theirs.append(w)
                        ours.append(r)
                        child[name] = w
                        if name == "stdout":
                            out_fd = r
                        else:
                            err_fd = r
                    else:
                        child[name] = asyncio.subprocess.DEVNULL
            try:
                # Taken before the spawn: a short command may be reaped before
                # its /proc entry could be read (asyncio's child watcher).
                started = procfs.now_ticks()
                proc = await asyncio.create_subprocess_exec(
                    *argv, env=env, cwd=cwd, start_new_session=not tty, **child,
                    **kwargs)
            except OSError as e:
                from kubeedge.edge.runtime.supervisor import start_error_message
                raise RuntimeServiceError(start_error_message(argv, cwd, e)) from None
        except BaseException:
            for fd in ours:
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        finally:
            for fd in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._join_cgroup(sup, proc.pid)
        self._record_exec(container_id, proc.pid, started)
        return ExecHandle(proc, tty=tty, stdin_fd=stdin_fd, stdout_fd=out_fd,
                          stderr_fd=err_fd)

    def _record_exec(self, container_id: str, pid: int, started: int) -> None:
        """Note an exec session (its own session, id `pid`, none of it older than
        `started` ticks), so the container's stop ends it even when edgecore restarted
        in between (as runc's kill of the container's cgroup does; cgroups cannot always
        be used here)."""
        d = self._dir(container_id) / "execs"
        with contextlib.suppress(OSError):
            d.mkdir(exist_ok=True)
            (d / str(pid)).write_text(str(started))

    def _kill_execs(self, container_id: str) -> None:
        d = self._dir(container_id) / "execs"
        try:
            records = list(d.iterdir())
        except OSError:
            return
        for record in records:
            with contextlib.suppress(OSError, ValueError):
                pid, ticks = int(record.name), int(record.read_text())
                # Every process of the exec's session, also when its leader is gone (a
                # `sh -c` whose child runs on): the session id is the exec's pid, and
                # only processes started after it can be in it.
                for member in procfs.session_members(pid):
                    st = procfs.read_stat(member)
                    if st is not None and st.start_ticks >= ticks:
                        with contextlib.suppress(OSError):
                            os.kill(member, signal.SIGKILL)
            with contextlib.suppress(OSError):
                record.unlink()

    @_counted("attach")
    async def attach(self, container_id: str, *, tty: bool = False, stdin: bool = False,
                     stdout: bool = True, stderr: bool = True) -> AttachHandle:
        """Attaches to the running container (kubelet's Attach, `kubectl attach`).

        Output is what the container writes from now on, read from its CRI log (the
        supervisor owns the container's pipes and only the log sees them). stdin goes
        through the supervisor's FIFO and needs a container created with stdin
        (`spec.containers[].stdin: true`), else the call is refused, as kubelet
        refuses. This runtime creates a tty container only when the pod asks for it
        (`tty: true`): its log carries everything as stdout, and a resize reaches its
        pty through the supervisor. A container without a tty is attached without one
        whatever `tty` asks (kubectl says "Unable to use a TTY" itself).
        """
        s = self._status(container_id)
        if s.state != ContainerState.RUNNING:
            raise RuntimeServiceError(
                f"container {container_id} is not running ({s.state.value})")
        la = self._config(container_id)["launch"]
        if stdin and not la.get("stdin"):
            raise RuntimeServiceError(
                f"container {s.metadata.name} was not created with stdin: set "
                "spec.containers[].stdin to true to attach with -i")
        container_tty = bool(la.get("tty"))

        async def running() -> bool:
            try:
                return self._status(container_id).state == ContainerState.RUNNING
            except ContainerNotFound:
                return False

        async def exit_code() -> int | None:
            try:
                st = await self._wait_not_running(container_id, float("inf"))
            except ContainerNotFound:
                return None
            return st.exit_code

        def resize(width: int, height: int) -> None:
            with contextlib.suppress(OSError):
                fd = os.open(self._dir(container_id) / "ctl", os.O_WRONLY | os.O_NONBLOCK)
                try:
                    os.write(fd, f"resize {width} {height}\n".encode())
                finally:
                    os.close(fd)

        return AttachHandle(
            log_path=s.log_path, tty=container_tty, stdin=stdin,
            stdin_once=bool(la.get("stdinOnce")), stdout=stdout, stderr=stderr,
            running=running, exit_code=exit_code,
            write=lambda data: self._write_stdin(container_id, data),
            close=lambda: self.close_stdin(container_id), resize=resize)

    @_counted("port_forward")
    async def port_forward(self, sandbox_id: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to localhost:`port` inside the sandbox's network namespace,
        as kubelet's port-forward does (IPv4 first, then IPv6). The socket is made in a
        thread of its own that enters the namespace (setns) and leaves it again; a
        socket stays in the namespace it was made in, so the connect itself runs on
        the event loop. A hostNetwork sandbox (or one without a pod network) connects
        in the host's namespace."""
        if not 0 < port < 65536:
            raise RuntimeServiceError(f"invalid port {port}")
        data = self._sandbox(sandbox_id)
        if data["state"] != PodSandboxState.READY.value:
            raise RuntimeServiceError(f"pod sandbox {sandbox_id} is not ready")
        netns = data.get("netns") or ""
        errors: list[str] = []
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                sock = await _socket_in_netns(netns, family) if netns else \
                    socket.socket(family, socket.SOCK_STREAM)
            except OSError as e:
                errors.append(f"{host}: {e.strerror or e}")
                continue
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
            except OSError as e:
                sock.close()
                # asyncio words it "Connect call failed"; the OS's reason is the errno.
                errors.append(f"{host}: {os.strerror(e.errno) if e.errno else e}")
                continue
            return await asyncio.open_connection(sock=sock)
        where = f"inside namespace {netns!r}" if netns else "in the host's network"
        raise RuntimeServiceError(
            f"failed to connect to localhost:{port} {where}: {'; '.join(errors)}")

    @_counted("container_stats")
    async def container_stats(self, container_id: str) -> ContainerStats:
        """CPU and memory from the container's cgroup when it has one, else summed over
        the processes of its session from /proc."""
        s = self._status(container_id)
        now = time.time_ns()
        if s.state != ContainerState.RUNNING:
            return ContainerStats(container_id, now, 0, 0, "none")
        sup = _read_json(self._dir(container_id) / "supervisor.json") or {}
        paths = (sup.get("cgroup") or {}).get("paths") or []
        if paths:
            got = cgroups.usage(paths)
            if got is not None:
                return ContainerStats(container_id, now, got[0], got[1], "cgroup")
        pid = sup.get("pid")
        pids = procfs.session_members(pid) if pid else []
        cpu, rss = procfs.usage(pids)
        return ContainerStats(container_id, now, cpu, rss, "proc")


def _make_socket_in_netns(netns: str, family: int) -> socket.socket:
    """In a thread of its own: enter `netns`, make a socket there, come back. If coming
    back fails the thread must not run anything else, so it is never a pool's thread."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"setns {netns}: {os.strerror(code)}")
            try:
                return socket.socket(family, socket.SOCK_STREAM)
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    # Unreachable in practice; never leave a thread in the pod's network.
                    os._exit(70)
        finally:
            os.close(target)
    finally:
        os.close(own)


async def _socket_in_netns(netns: str, family: int) -> socket.socket:
    import threading

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[socket.socket] = loop.create_future()

    def failed(err: BaseException) -> None:
        if not fut.done():
            fut.set_exception(err)

    def made(sock: socket.socket) -> None:
        if fut.done():
            sock.close()  # the caller went away meanwhile
        else:
            fut.set_result(sock)

    def run() -> None:
        try:
            sock = _make_socket_in_netns(netns, family)
        except Exception as err:  # handed to the loop
            loop.call_soon_threadsafe(failed, err)
        else:
            loop.call_soon_threadsafe(made, sock)

    threading.Thread(target=run, name="netns-socket", daemon=True).start()
    return await fut
