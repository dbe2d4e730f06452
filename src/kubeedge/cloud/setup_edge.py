"""What `keadm gettoken`, `keadm join` and `keadm reset edge` do (specs/kubeedge.md §4, §8).

- `get_token`: on the cloud host, the join token from Secret `kubeedge/tokensecret`
  (`tokendata`), read with the admin kubeconfig under the root (or `--kube-config`).
- `join_config`: the flags checked and turned into the EdgeCore config keadm writes to
  `etc/kubeedge/config/edgecore.yaml` (websocket server, `httpServer
  https://<host>:<certport>`, token, node name, labels, CRI endpoint, cgroup driver,
  `--set` overrides), validated by the config model (rule 7).
- `start_edgecore` / `wait_joined`: edgecore started detached with its log under the
  root, then followed through its state file (`kubeedge.edge.core`) until the cloud has
  acknowledged the Node's registration, status and Lease, the process dies, or the
  deadline passes; each failure carries edgecore's own reason (`token validation
  failure`, `failed to validate CA certificate`, connection refused).
- `check_certificate_owner`: a certificate of another node already at the configured
  paths stops the join before it writes anything (KubeEdge's edgecore would replace it
  with one of its own, spec §4; CloudHub would refuse it as it is).
- `remove_edge`: edgecore stopped and this edge's files removed (a failed join and
  `keadm reset edge` both use it), so a refused join leaves no certificate, pid or
  config. A join that never finished removes only what it made (`record_join` notes
  what was under the root before its first write); a reset after a completed join
  removes the edge's directories whole, as KubeEdge's reset does.
- `remove_leftover_pods`: what a stopped edgecore left running (it was SIGKILLed, or
  stopped with SIGTERM, which leaves the containers for the next edgecore to re-attach
  to) is removed before the files: every sandbox and container of the process runtime
  under the root stopped and removed through `ProcessRuntime` (which tears down each
  sandbox's network from its stored CNI state), then the edge's pod networking as a
  whole (`PodNetwork.reset`: bridge, routes, namespace files, CNI state), so no process,
  mount, bridge or route outlives the reset. A running edgecore told to leave (SIGUSR1)
  removed its pods itself; this then finds nothing, and makes sure of it.
- `leave_cluster`: before that, `keadm reset edge` asks the running edgecore to delete
  its node's Lease and Node through the cloud and exit (SIGUSR1, `kubeedge.edge.core`),
  then reads the outcome from its state file. When the cloud cannot be reached the
  reset goes on regardless: the caller warns that the Node and Lease remain and names
  the `kubectl delete node` to run.

Lives beside `cloud/setup.py` because keadm serves both sides; nothing here runs in
edgecore itself (rule 9 holds for the edge process, not for keadm).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from kubeedge.cloud import setup
from kubeedge.config import edgecore
from kubeedge.config.checks import (
    ConfigError,
    check_host_port,
    check_label_key,
    check_label_value,
    check_port,
)
from kubeedge.durable import atomic_write
from kubeedge.edge.core import EdgeLayout, Phase, read_state
from kubeedge.edge.node import DEREGISTER_TIMEOUT

EDGECORE_MARK = "kubeedge.cli.edgecore"
TOKEN_SECRET_HINT = ("the join token is not there yet: Secret kubeedge/tokensecret does not "
                     "exist. Is cloudcore running with CloudHub (keadm init), and has it "
                     "had a moment to create it?")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class ForeignCertificate(ConfigError):
    """The root already holds a certificate that is not this node's (`keadm join` refuses
    it rather than overwriting it; see `check_certificate_owner`)."""


class JoinError(RuntimeError):
    """A join that failed; the message says why, in edgecore's words when it has them."""


# --------------------------------------------------------------------------- gettoken


def admin_kubeconfig(root: str | Path) -> Path:
    return setup.Layout(Path(root)).admin_kubeconfig


async def get_token(kubeconfig_path: str | Path) -> str:
    """The token `keadm gettoken` prints (Secret kubeedge/tokensecret, key tokendata)."""
    from kubeedge.client.rest import APIClient
    from kubeedge.cloud.certs.edge_ca import (
        TOKEN_DATA,
        TOKEN_SECRET,
        get_secret,
        secret_bytes,
    )

    async with APIClient(str(kubeconfig_path)) as client:
        secret = await get_secret(client, TOKEN_SECRET)
    if secret is None:
        raise JoinError(TOKEN_SECRET_HINT)
    return secret_bytes(secret, TOKEN_DATA).decode().strip()


# --------------------------------------------------------------------------- flags


def check_token(token: str) -> str:
    """`--token`: `<64 hex CA hash>.<JWT header>.<payload>.<signature>` (spec §4)."""
    token = token.strip()
    if not token:
        raise ConfigError("--token: required; run `keadm gettoken` on the cloud host")
    parts = token.split(".")
    if len(parts) != 4 or not all(parts):
        raise ConfigError(f"--token: expected 4 dot-separated parts (<CA hash>.<JWT>), got "
                          f"{len(parts)}; copy the whole output of `keadm gettoken`")
    if not _HEX64.fullmatch(parts[0]):
        raise ConfigError("--token: the first part must be the CA's SHA-256 in hex "
                          "(64 characters); copy the whole output of `keadm gettoken`")
    return token


def parse_labels(text: str) -> dict[str, str]:
    """`--labels k=v,k2=v2` (KubeEdge's `-l`), each key and value checked."""
    labels: dict[str, str] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--labels: {item!r} is not key=value")
        check_label_key("--labels", key.strip())
        check_label_value(f"--labels[{key.strip()}]", value.strip())
        labels[key.strip()] = value.strip()
    return labels


def _host(ipport: str) -> str:
    return ipport.rpartition(":")[0]


def _apply_set(raw: dict[str, Any], item: str) -> None:
    """One `--set path.to.field=value` (YAML value) on the raw EdgeCore config."""
    import yaml

    path, sep, text = item.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. "
                          "modules.edgeHub.heartbeat=5")
    keys = path.strip().split(".")
    node: Any = raw
    for i, key in enumerate(keys[:-1]):
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            raise ConfigError(f"--set {path}: {'.'.join(keys[:i + 1])} is not a section "
                              "of the EdgeCore config")
        node = child
    if keys[-1] not in node and not (keys[-2:-1] and keys[-2] in ("nodeLabels",
                                                                   "extraCapacity")):
        raise ConfigError(f"--set {path}: unknown field {keys[-1]!r}; known here: "
                          + ", ".join(sorted(node)))
    try:
        node[keys[-1]] = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {path}: {exc}") from None


@dataclass(frozen=True)
class JoinFlags:
    cloudcore_ipport: str
    token: str
    root: str = "/"
    edgenode_name: str = ""
    certport: int = 10002
    labels: str = ""
    remote_runtime_endpoint: str = ""
    cgroupdriver: str = "cgroupfs"
    hub_protocol: str = "websocket"
    sets: tuple[str, ...] = ()


def join_config(flags: JoinFlags) -> edgecore.EdgeCoreConfig:
    """The EdgeCore config `keadm join` writes, validated; `ConfigError` names the flag
    or field at fault."""
    if not flags.cloudcore_ipport:
        raise ConfigError("--cloudcore-ipport: required, e.g. --cloudcore-ipport=IP:10000")
    check_host_port("--cloudcore-ipport", flags.cloudcore_ipport)
    token = check_token(flags.token)
    check_port("--certport", flags.certport)
    if flags.hub_protocol != "websocket":
        raise ConfigError(f"--hub-protocol: {flags.hub_protocol!r} is not supported; this "
                          "edge speaks websocket (QUIC is not built)")
    if flags.cgroupdriver not in ("cgroupfs", "systemd"):
        raise ConfigError(f"--cgroupdriver: {flags.cgroupdriver!r} must be cgroupfs or "
                          "systemd")
    labels = parse_labels(flags.labels)
    host = _host(flags.cloudcore_ipport)
    raw = msgspec.to_builtins(edgecore.EdgeCoreConfig(root=flags.root))
    edged, hub = raw["modules"]["edged"], raw["modules"]["edgeHub"]
    if flags.edgenode_name:
        edged["hostnameOverride"] = flags.edgenode_name
    edged["nodeLabels"] = labels
    kubelet = edged["tailoredKubeletConfig"]
    kubelet["cgroupDriver"] = flags.cgroupdriver
    if flags.remote_runtime_endpoint:
        # KubeEdge writes it to both CRI endpoints; here it also selects the CRI runtime.
        edged["runtimeType"] = "remote"
        kubelet["containerRuntimeEndpoint"] = flags.remote_runtime_endpoint
        kubelet["imageServiceEndpoint"] = flags.remote_runtime_endpoint
    hub["websocket"]["server"] = flags.cloudcore_ipport
    hub["quic"]["server"] = f"{host}:10001"
    hub["httpServer"] = f"https://{host}:{flags.certport}"
    hub["token"] = token
    # EdgeStream on, to CloudStream's tunnel port (keadm init enables CloudStream), so
    # kubectl logs/exec work once the edge joins (specs/kubeedge.md §9); --set may
    # override either.
    raw["modules"]["edgeStream"]["enable"] = True
    raw["modules"]["edgeStream"]["server"] = f"{host}:10004"
    for item in flags.sets:
        _apply_set(raw, item)
    try:
        config = edgecore.from_builtins(raw)
    except ConfigError as exc:
        name = flags.edgenode_name and "hostnameOverride" in str(exc)
        raise ConfigError(f"--edgenode-name: {exc}" if name else str(exc)) from None
    if not EdgeLayout(config.root).config.exists():
        # (With an edge already set up here, keadm says so instead: the certificate is
        # that edge's.)
        check_certificate_owner(config)
    return config


def check_certificate_owner(config: edgecore.EdgeCoreConfig) -> None:
    """Refuse (`ConfigError`) a certificate of another node at the configured paths.

    An edge presenting another node's certificate is refused by CloudHub (the CN must be
    `system:node:<node_id>`, issue 6), and since KubeEdge v1.21 edgecore never uses one:
    it requests a certificate of its own with the token and writes it over those files
    (spec §4 "Edge bootstrap"). Files someone placed under the root on purpose (an image
    copied from another edge, certificates provisioned by hand) are not keadm's to
    overwrite, so the join stops here, before it writes anything, and says which node
    the certificate is for and what to do. A certificate for this very node is used as
    it is, without the token, as KubeEdge does.
    """
    from kubeedge.edge.certs import certificate_owner, node_identity

    hub = config.modules.edge_hub
    cert = config.path(hub.tls_cert_file)
    try:
        owner = certificate_owner(cert)
    except (OSError, ValueError) as exc:
        raise ForeignCertificate(f"modules.edgeHub.tlsCertFile: {cert} is not a "
                                 f"certificate ({exc}); move it away and join again") from None
    wanted = node_identity(config.node_name)
    if owner is None or owner == wanted:
        return
    files = ", ".join(str(p) for p in (cert, config.path(hub.tls_private_key_file),
                                        config.path(hub.tls_ca_file)))
    owner_node = owner.removeprefix(node_identity(""))
    if owner.startswith(node_identity("")) and owner_node:
        whose = f"for another node, {owner_node} (CN {owner})"
        instead = f"join as {owner_node} (--edgenode-name={owner_node}), or move "
    else:
        whose = f"not a node's certificate (CN {owner!r})"
        instead = "move "
    raise ForeignCertificate(
        f"--edgenode-name: the certificate at {cert} is {whose}. Node {config.node_name} "
        f"must present its own ({wanted}): CloudHub refuses another node's certificate, "
        f"and keadm join does not overwrite files it did not write. To go on, {instead}"
        f"{files} away first")


# --------------------------------------------------------------------------- files


def holds_cloud(root: Path) -> bool:
    layout = setup.Layout(root)
    return layout.apiserver_config.exists() or layout.cloudcore_config.exists()


def edgecore_pid(root: Path) -> int | None:
    return setup.pid_alive(EdgeLayout(root).pid, EDGECORE_MARK)


def write_config(config: edgecore.EdgeCoreConfig) -> Path:
    """edgecore.yaml, 0600 (it holds the token until edgecore removes it). The first
    write of a join: what was under the edge's directories before it is recorded first
    (`record_join`)."""
    layout = EdgeLayout(config.root)
    record_join(layout.root)
    path = layout.config
    atomic_write(path, edgecore.dump(config).encode(), 0o600)
    return path


# ---- what a join found in place
#
# A join that fails (refused, timed out, interrupted) removes what it and its edgecore
# made and nothing else: files someone put under the root before it (certificates
# provisioned by hand, a bootstrap token file, notes) stay, byte for byte as edgecore
# left them. The record of what was there lives in the run directory from the join's
# first write until the node has joined; then the edge is keadm's, and `keadm reset
# edge` removes its directories whole, as KubeEdge's reset does (`CleanDirectories`).

JOIN_RECORD = "keadm-join.json"


def _join_record(layout: EdgeLayout) -> Path:
    return layout.run / JOIN_RECORD


def _edge_dirs(layout: EdgeLayout) -> tuple[Path, ...]:
    return (layout.etc, layout.lib, layout.run, layout.logs)


def record_join(root: Path | str) -> None:
    """Note the files and directories under the edge's directories (and those
    directories' parents up to the root) before a join writes anything. An existing
    record is kept: it belongs to an earlier join that never finished, and what that
    join made is not the user's."""
    layout = EdgeLayout(root)
    record = _join_record(layout)
    if record.exists():
        return
    files: list[str] = []
    dirs: set[str] = set()
    for directory in _edge_dirs(layout):
        for parent in (directory, *directory.parents):
            if parent == layout.root or layout.root not in parent.parents:
                break
            if parent.is_dir():
                dirs.add(str(parent.relative_to(layout.root)))
        if directory.is_dir():
            for path in directory.rglob("*"):
                relative = str(path.relative_to(layout.root))
                if path.is_dir() and not path.is_symlink():
                    dirs.add(relative)
                else:
                    files.append(relative)
    atomic_write(record, json.dumps({"files": sorted(files), "dirs": sorted(dirs)},
                                    indent=1).encode(), 0o644)


@dataclass(frozen=True)
class JoinRecord:
    """What was under the edge's directories when a join began (paths relative to the
    root). `known` is False when the record cannot be read: then only the files a join
    always makes (`_made_by_every_join`) are removed."""

    files: frozenset[str]
    dirs: frozenset[str]
    known: bool = True

    def keeps_file(self, layout: EdgeLayout, path: Path) -> bool:
        if not self.known:
            return path not in _made_by_every_join(layout)
        return str(path.relative_to(layout.root)) in self.files

    def keeps_dir(self, layout: EdgeLayout, path: Path) -> bool:
        return not self.known or str(path.relative_to(layout.root)) in self.dirs


def _read_join_record(layout: EdgeLayout) -> JoinRecord | None:
    try:
        raw = json.loads(_join_record(layout).read_text())
        return JoinRecord(frozenset(map(str, raw["files"])), frozenset(map(str, raw["dirs"])))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return JoinRecord(frozenset(), frozenset(), known=False)


def forget_join(root: Path | str) -> None:
    """The node joined: from now on the edge's directories are keadm's."""
    with contextlib.suppress(FileNotFoundError):
        _join_record(EdgeLayout(root)).unlink()


def _undo_join(layout: EdgeLayout, record: JoinRecord, remove_logs: bool) -> list[str]:
    """Remove what a join that never finished made; keep what was there before it."""
    done: list[str] = []
    record_file = _join_record(layout)
    for directory in _edge_dirs(layout):
        if not directory.is_dir() or (directory == layout.logs and not remove_logs):
            continue
        removed = kept = 0
        # Deepest first, so a directory the join made is empty when its turn comes.
        for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                if not record.keeps_dir(layout, path):
                    with contextlib.suppress(OSError):
                        path.rmdir()
            elif path == record_file:
                continue
            elif record.keeps_file(layout, path):
                kept += 1
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        if removed:
            done.append(f"removed {removed} file(s) the join made in {directory}"
                        + (f", kept {kept} that were there before it" if kept else ""))
    with contextlib.suppress(FileNotFoundError):
        record_file.unlink()
    for directory in _edge_dirs(layout):
        for path in (directory, *directory.parents):
            if path == layout.root or layout.root not in path.parents:
                break
            if record.keeps_dir(layout, path):
                break
            try:
                path.rmdir()
            except OSError:
                break
    return done


def _made_by_every_join(layout: EdgeLayout) -> tuple[Path, ...]:
    db = layout.lib / "edgecore.db"
    return (layout.config, layout.pid, layout.state, layout.log,
            *(Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm", ".lock")))


def start_edgecore(config_path: Path, root: Path) -> int:
    """edgecore detached from the terminal, logging to var/log/kubeedge/edgecore.log."""
    layout = EdgeLayout(root)
    layout.logs.mkdir(parents=True, exist_ok=True)
    for stale in (layout.state, layout.pid):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    log = open(layout.log, "ab")  # noqa: SIM115 - handed to the child
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", EDGECORE_MARK, "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    return proc.pid


_PROGRESS = {
    Phase.STARTING: "edgecore started",
    Phase.BOOTSTRAPPING: "requesting a certificate from cloudcore with the token",
    Phase.CONNECTING: "certificate in place; connecting to cloudcore",
    Phase.CONNECTED: "connected to cloudcore; registering the node",
    Phase.READY: "node registered; status and lease acknowledged by the cloud",
}


def _exited(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not setup.process_running(pid)


def wait_joined(root: Path, pid: int, timeout: float,
                progress: Callable[[str], None] = lambda _: None,
                poll: float = 0.05) -> dict[str, Any]:
    """Follow edgecore until its node is acknowledged (the final state), or raise
    `JoinError` with the reason: edgecore's own error when it stopped, the last
    connection or registration error at the deadline."""
    layout = EdgeLayout(root)
    deadline = time.monotonic() + timeout
    shown: set[str] = set()
    state: dict[str, Any] | None = None
    while True:
        state = read_state(layout.state) or state
        phase = (state or {}).get("phase", "")
        if phase in _PROGRESS and phase not in shown:
            shown.add(phase)
            progress(_PROGRESS[phase])
        if phase == Phase.READY:
            forget_join(root)
            return state or {}
        if phase == Phase.FAILED or _exited(pid):
            state = read_state(layout.state) or state or {}
            reason = state.get("error") or _last_error_line(layout.log)
            raise JoinError(f"edgecore stopped: {reason}")
        if time.monotonic() > deadline:
            reason = (state or {}).get("error") or "no answer from cloudcore"
            raise JoinError(f"the node did not join within {timeout:g}s ({phase or 'no state'}"
                            f"): {reason}")
        time.sleep(poll)


def _last_error_line(log: Path) -> str:
    lines = setup.tail(log, 40).splitlines()
    for line in reversed(lines):
        if "ERROR" in line or line.startswith("error:"):
            return line
    return lines[-1] if lines else "(no log)"


def _edge_files(root: Path, config: edgecore.EdgeCoreConfig | None) -> Iterator[Path]:
    """Every file an edge keeps (for a root shared with a cloud, where whole
    directories may not go)."""
    layout = EdgeLayout(root)
    hub = config.modules.edge_hub if config is not None else edgecore.EdgeHub()
    base = str(root)
    from kubeedge.config.checks import under_root

    for name in (hub.tls_ca_file, hub.tls_cert_file, hub.tls_private_key_file):
        path = under_root(base, name)
        yield path
        yield path.with_name(path.name + ".new")
    yield under_root(base, "etc/kubeedge/bootstrap-edgecore.conf")
    yield layout.config
    db = under_root(base, config.database.data_source if config is not None
                    else edgecore.DataBase().data_source)
    for suffix in ("", "-wal", "-shm", ".lock"):
        yield Path(f"{db}{suffix}")
    yield layout.pid
    yield layout.state
    yield _join_record(layout)
    yield layout.log


def _prune_empty(path: Path, stop: Path) -> None:
    while path != stop and stop in path.parents:
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent


# How long a leftover container gets between SIGTERM and SIGKILL at reset.
LEFTOVER_STOP_TIMEOUT = 5.0


def remove_leftover_pods(root: Path, node_name: str = "", *,
                         remove_logs: bool = True) -> list[str]:
    """Stop and remove every pod sandbox and container the process runtime holds under
    `root` (with each pod's log directory, as a leaving edgecore removes its pods' logs,
    unless `remove_logs` is False), then the edge's pod networking (see the module
    docstring). edgecore must not be running. Returns what was done."""
    import asyncio

    layout = EdgeLayout(root)
    runtime_dir = layout.lib / "runtime"
    cni_dir = layout.lib / "cni"
    netns_dirs = (layout.run / "netns", layout.run / "uts")
    if not (runtime_dir.exists() or cni_dir.exists() or any(d.exists() for d in netns_dirs)):
        return []

    async def clean() -> list[str]:
        from kubeedge.edge.runtime import RuntimeServiceError
        from kubeedge.edge.runtime.network import PodNetwork
        from kubeedge.edge.runtime.process import ProcessRuntime

        done: list[str] = []
        errors: list[str] = []
        # network=False: nothing new is set up; teardown reads each sandbox's own state.
        runtime = ProcessRuntime(root, network=False, node_name=node_name)
        sandboxes = await runtime.list_pod_sandboxes()
        for sandbox in sandboxes:
            try:
                await runtime.stop_pod_sandbox(sandbox.id, LEFTOVER_STOP_TIMEOUT)
                await runtime.remove_pod_sandbox(sandbox.id)
                logs = Path(sandbox.log_directory)
                if remove_logs and sandbox.log_directory and root in logs.parents:
                    shutil.rmtree(logs, ignore_errors=True)
                    _prune_empty(logs.parent, root)
            except (RuntimeServiceError, OSError) as exc:
                errors.append(f"pod {sandbox.metadata.namespace}/{sandbox.metadata.name}: "
                              f"{exc}")
        containers = await runtime.list_containers()  # any without a sandbox
        for container in containers:
            try:
                await runtime.stop_container(container.id, LEFTOVER_STOP_TIMEOUT)
                await runtime.remove_container(container.id)
            except (RuntimeServiceError, OSError) as exc:
                errors.append(f"container {container.id[:12]}: {exc}")
        if sandboxes or containers:
            done.append(f"removed {len(sandboxes)} leftover pod sandbox(es) and "
                        f"{len(containers)} other container(s)")
        try:
            await PodNetwork(root, node_name=node_name).reset()
            if cni_dir.exists() or any(d.exists() for d in netns_dirs):
                done.append("removed the edge's pod networking (bridge, routes, namespaces)")
        except (RuntimeServiceError, OSError) as exc:
            errors.append(f"pod networking: {exc}")
        done.extend(f"WARNING: could not remove {e}" for e in errors)
        return done

    return asyncio.run(clean())


def remove_edge(root: Path, *, remove_logs: bool = True) -> list[str]:
    """Stop edgecore and remove this edge's files. Returns what was done.

    After a join that never finished (refused, timed out, interrupted: its record is
    still there), only what the join and its edgecore made goes; files that were under
    the root before it stay. After a completed join, the edge's directories go whole.
    Either way, pods edgecore left running go first (`remove_leftover_pods`)."""
    layout = EdgeLayout(root)
    done: list[str] = []
    if setup.stop(layout.pid, command_mark=EDGECORE_MARK):
        done.append("stopped edgecore")
    config: edgecore.EdgeCoreConfig | None = None
    with contextlib.suppress(ConfigError, OSError):
        config = edgecore.load(layout.config)
    done += remove_leftover_pods(root, config.node_name if config is not None else "",
                                 remove_logs=remove_logs)
    record = _read_join_record(layout)
    if record is not None and not holds_cloud(root):
        return done + _undo_join(layout, record, remove_logs)
    if not holds_cloud(root):
        for directory in (layout.etc, layout.lib, layout.run,
                          *((layout.logs,) if remove_logs else ())):
            if directory.exists():
                shutil.rmtree(directory)
                done.append(f"removed {directory}")
        for directory in (layout.etc.parent, layout.lib.parent, layout.run.parent,
                          layout.logs.parent):
            _prune_empty(directory, root)
        return done
    for path in _edge_files(root, config):
        if path == layout.log and not remove_logs:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            done.append(f"removed {path}")
    return done


# What edgecore may take, after its deregistration deadline, to close its session and
# database and exit; past both, `remove_edge` stops it with SIGTERM, then SIGKILL.
LEAVE_STOP_MARGIN = 15.0


@dataclass(frozen=True)
class Departure:
    """What `leave_cluster` found: the node's name and whether the cloud deleted its
    Lease and Node (`reason` says why not)."""

    node: str
    deregistered: bool
    reason: str = ""

    def kubectl_commands(self) -> list[str]:
        """What an administrator runs on the cloud to remove what was left behind (the
        edge's Lease has no owner reference to its Node, so it goes by name too)."""
        return [f"kubectl delete node {self.node}",
                f"kubectl delete lease {self.node} -n kube-node-lease"]


def configured_node_name(root: Path) -> str:
    """The node name edgecore.yaml under `root` gives ("" without a readable one)."""
    with contextlib.suppress(ConfigError, OSError):
        return edgecore.load(EdgeLayout(root).config).node_name
    return ""


def leave_cluster(root: Path, timeout: float | None = None,
                  poll: float = 0.05) -> Departure | None:
    """Ask the running edgecore under `root` to delete its Lease and Node through the
    cloud and exit (SIGUSR1), wait up to `timeout` (default: the edge's
    `modules.edged.deregisterTimeout` plus a margin to stop) for it to exit, and report.
    None when no edgecore runs there (nothing can be deregistered from this host then)."""
    layout = EdgeLayout(root)
    if timeout is None:
        deregister = DEREGISTER_TIMEOUT
        with contextlib.suppress(ConfigError, OSError):
            deregister = edgecore.load(layout.config).modules.edged.deregister_timeout
        timeout = deregister + LEAVE_STOP_MARGIN
    pid = edgecore_pid(root)
    if pid is None:
        return None
    node = configured_node_name(root)
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return Departure(node, False, "edgecore exited before it could deregister")
    deadline = time.monotonic() + timeout
    while not _exited(pid):
        if time.monotonic() > deadline:
            return Departure(node, False, f"edgecore did not finish deregistering within "
                                          f"{timeout:g}s")
        time.sleep(poll)
    state = read_state(layout.state) or {}
    if state.get("deregistered"):
        return Departure(node, True)
    return Departure(node, False, str(state.get("deregisterError")
                                      or "edgecore exited without deregistering"))


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """Stop a just-started edgecore by pid (before its pid file exists)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _exited(pid):
        time.sleep(0.05)
    if not _exited(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while not _exited(pid):
            time.sleep(0.05)
