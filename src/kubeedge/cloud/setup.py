"""Setting up and tearing down the cloud side under a root: what `keadm init` and
`keadm reset` do.

Lays out the PKI (cluster CA, API server serving certificate, admin client
certificate), the admin kubeconfig and the API server's config file under `--root`
(ARCHITECTURE.md rule 8), starts the API server as a background process with a pid
file, waits until it answers /readyz, and stops it again. Several roots on different
ports run side by side.

With `keadm init --kube-config PATH` (KubeEdge's flag) no API server is started: cloudcore
alone runs under the root and reaches the Kubernetes API that kubeconfig names, as that
kubeconfig's identity (`kubeAPIConfig.kubeConfig` holds its absolute path; nothing of it
is copied). Its CRDs, the kubeedge namespace and Secrets are made there, and `keadm
reset` stops cloudcore and removes the root's files, leaving that API and what cloudcore
made in it alone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import msgspec

from kubeedge.client import kubeconfig
from kubeedge.cloud.certs.authority import (
    CertificateAuthority,
    generate_private_key,
    key_pem,
    write_pem_pair,
)
from kubeedge.config import cloudcore as cloudcore_config
from kubeedge.config.apiserver import APIServerConfig, ConfigError, dump_config
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.durable import atomic_write

ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
CLOUDCORE_USER = "system:kubeedge:cloudcore"
# kubeadm's kubelet client identity: the API server reaches kubelets (here cloudcore's
# stream server, specs/kubeedge.md §9) with it.
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
APISERVER_MARK = "kubeedge.cli.apiserver"
CLOUDCORE_MARK = "kubeedge.cli.cloudcore"


@dataclass(frozen=True)
class Layout:
    """Where each file of one cloud installation lives."""

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc/kubeedge"

    @property
    def pki(self) -> Path:
        return self.etc / "pki"

    @property
    def config_dir(self) -> Path:
        return self.etc / "config"

    @property
    def apiserver_config(self) -> Path:
        return self.config_dir / "apiserver.yaml"

    @property
    def kubelet_client_cert(self) -> Path:
        return self.pki / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.pki / "apiserver-kubelet-client.key"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.etc / "admin.kubeconfig"

    @property
    def state(self) -> Path:
        return self.root / "var/lib/kubeedge"

    @property
    def run(self) -> Path:
        return self.root / "var/run/kubeedge"

    @property
    def logs(self) -> Path:
        return self.root / "var/log/kubeedge"

    @property
    def apiserver_pid(self) -> Path:
        return self.run / "apiserver.pid"

    @property
    def apiserver_log(self) -> Path:
        return self.logs / "apiserver.log"

    @property
    def cloudcore_config(self) -> Path:
        return self.config_dir / "cloudcore.yaml"

    @property
    def cloudcore_kubeconfig(self) -> Path:
        return self.etc / "cloudcore.kubeconfig"

    @property
    def cloudcore_pid(self) -> Path:
        return self.run / "cloudcore.pid"

    @property
    def cloudcore_log(self) -> Path:
        return self.logs / "cloudcore.log"


class SetupError(RuntimeError):
    """Something the user must fix; the message says what."""


def write_pki(layout: Layout, advertise_address: str, extra_sans: list[str],
              bind_address: str = "0.0.0.0") -> None:
    """The cluster CA and the certificates signed by it (kept when already present)."""
    ca = CertificateAuthority.load_or_create(layout.pki / "ca.crt", layout.pki / "ca.key")
    ips = {"127.0.0.1", advertise_address}
    if bind_address not in ("0.0.0.0", "::"):
        ips.add(bind_address)  # clients (and the readiness probe) may dial it directly
    dns = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local", socket.gethostname()}
    for san in extra_sans:
        try:
            ips.add(str(ipaddress.ip_address(san)))
        except ValueError:
            dns.add(san)
    serving = ca.issue_server_cert("kube-apiserver", dns_names=sorted(dns),
                                   ip_addresses=sorted(ips))
    write_pem_pair(serving.certificate, serving.private_key, layout.pki / "apiserver.crt",
                   layout.pki / "apiserver.key")
    admin = ca.issue_client_cert(ADMIN_USER, organizations=[ADMIN_GROUP])
    write_pem_pair(admin.certificate, admin.private_key, layout.pki / "admin.crt",
                   layout.pki / "admin.key")
    controller = ca.issue_client_cert(CONTROLLER_MANAGER_USER)
    write_pem_pair(controller.certificate, controller.private_key,
                   layout.pki / "controller-manager.crt", layout.pki / "controller-manager.key")
    cloudcore = ca.issue_client_cert(CLOUDCORE_USER)
    write_pem_pair(cloudcore.certificate, cloudcore.private_key,
                   layout.pki / "cloudcore.crt", layout.pki / "cloudcore.key")
    # kube-apiserver's --kubelet-client-certificate as kubeadm makes it: the API server
    # opens logs/exec/port-forward sessions at cloudcore's stream server with it.
    kubelet_client = ca.issue_client_cert(KUBELET_CLIENT_USER, organizations=[ADMIN_GROUP])
    write_pem_pair(kubelet_client.certificate, kubelet_client.private_key,
                   layout.kubelet_client_cert, layout.kubelet_client_key)
    token_file = layout.pki / "tokens.csv"
    if not token_file.exists():
        atomic_write(token_file, b"", 0o600)
    sa_key = layout.pki / "sa.key"
    if not sa_key.exists():
        # Signs service account tokens; kept across restarts so issued tokens stay valid.
        atomic_write(sa_key, key_pem(generate_private_key("ec")), 0o600)


def write_stream_certs(layout: Layout, cloudcore: CloudCoreConfig) -> None:
    """CloudStream's stream-server files (specs/kubeedge.md §4 "Stream"), which `keadm
    init` makes so `kubectl logs` works with no configuration: `tlsStreamCAFile` is the
    cluster CA (it verifies the API server's kubelet client certificate), and the
    serving certificate, signed by that CA (the API server verifies it with
    --kubelet-certificate-authority), names every advertised address, 127.0.0.1 and
    localhost."""
    stream = cloudcore.modules.cloud_stream
    ca = CertificateAuthority.load(layout.pki / "ca.crt", layout.pki / "ca.key")
    ca_path = cloudcore.path(stream.tls_stream_ca_file)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(ca_path, ca.cert_pem, 0o644)
    ips = {"127.0.0.1", *cloudcore.modules.cloud_hub.advertise_address}
    dns = {"localhost", *cloudcore.modules.cloud_hub.dns_names}
    serving = ca.issue_server_cert("kubeedge-stream", dns_names=sorted(dns),
                                   ip_addresses=sorted(ips))
    cert_path = cloudcore.path(stream.tls_stream_cert_file)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    write_pem_pair(serving.certificate, serving.private_key, cert_path,
                   cloudcore.path(stream.tls_stream_private_key_file))


def write_kubeconfigs(layout: Layout, server: str) -> None:
    """The admin's kubeconfig, the API server's in-process controllers' and
    cloudcore's."""
    pki = layout.pki
    for user, stem, path in ((ADMIN_USER, "admin", layout.admin_kubeconfig),
                             (CONTROLLER_MANAGER_USER, "controller-manager",
                              layout.etc / "controller-manager.kubeconfig"),
                             (CLOUDCORE_USER, "cloudcore", layout.cloudcore_kubeconfig)):
        config = kubeconfig.render(
            server, (pki / "ca.crt").read_bytes(), user=user,
            client_cert_pem=(pki / f"{stem}.crt").read_bytes(),
            client_key_pem=(pki / f"{stem}.key").read_bytes(),
        )
        kubeconfig.write(path, config)


def server_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


def pid_alive(pid_file: Path, command_mark: str = APISERVER_MARK) -> int | None:
    """The pid in `pid_file` if that process runs and is ours (a stale pid file may name
    an unrelated process that reused the number: that one is never touched)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not process_running(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return pid  # no /proc to check against: trust the pid file
    config = str(pid_file.parent.parent.parent.parent / "etc/kubeedge/config")
    return pid if command_mark in cmdline and config in cmdline else None


def process_running(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by an init that never reaps,
    as in many containers) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def port_free(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def prepare(config: APIServerConfig, extra_sans: list[str],
            cloudcore: CloudCoreConfig | None = None) -> Layout:
    """Write PKI, kubeconfigs and configs; refuse when this root already runs."""
    layout = Layout(Path(config.root))
    running = pid_alive(layout.apiserver_pid)
    if running is not None:
        raise SetupError(
            f"a control plane is already running under {layout.root} (pid {running}); "
            f"run `keadm reset --root {layout.root}` first"
        )
    if not port_free(config.bind_address, config.port):
        raise SetupError(
            f"port {config.port} on {config.bind_address} is already in use; choose another "
            "with --apiserver-port"
        )
    for directory in (layout.etc, layout.pki, layout.config_dir, layout.state, layout.run,
                      layout.logs):
        directory.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.pki, 0o700)
    write_pki(layout, config.advertise_address, extra_sans, config.bind_address)
    write_kubeconfigs(layout, server_url(config.advertise_address, config.port))
    if cloudcore is not None:
        write_stream_certs(layout, cloudcore)
        atomic_write(layout.cloudcore_config, cloudcore_config.dump(cloudcore).encode(), 0o600)
        # cloudcore's controller manager keeps the namespace defaults (unless its
        # config turns them off): the API server's in-process copy, for when it runs
        # alone, stays off.
        config = msgspec.structs.replace(config, namespace_controllers=False)
    atomic_write(layout.apiserver_config, dump_config(config).encode(), 0o600)
    return layout


def external_cloudcore_config(core: CloudCoreConfig, kube_config: Path) -> CloudCoreConfig:
    """`core` pointed at another Kubernetes API: its kubeconfig (absolute) is cloudcore's
    identity and the API server's address."""
    api = msgspec.structs.replace(core.kube_api_config,
                                  kube_config=str(kube_config.expanduser().resolve()))
    return msgspec.structs.replace(core, kube_api_config=api)


def check_api(kube_config: Path, timeout: float = 10.0) -> str:
    """The server `kube_config` names, once it answered /version; `SetupError` saying
    why not (no such file, unreadable, unreachable, refused credentials)."""
    import asyncio

    from kubeedge.client.kubeconfig import KubeconfigError
    from kubeedge.client.rest import APIClient

    async def probe() -> str:
        async with APIClient(str(kube_config), request_timeout=timeout,
                             connect_timeout=timeout) as client:
            await client.version()
            return client.server

    try:
        return asyncio.run(asyncio.wait_for(probe(), timeout))
    except KubeconfigError as exc:
        raise SetupError(f"--kube-config: {exc}") from None
    except Exception as exc:  # refused, TLS, 401/403, timed out
        raise SetupError(f"--kube-config {kube_config}: the Kubernetes API it names did not "
                         f"answer /version: {exc or type(exc).__name__}") from None


def prepare_external(root: Path, cloudcore: CloudCoreConfig) -> Layout:
    """The root of a cloudcore that uses another Kubernetes API (module docstring):
    directories and cloudcore.yaml only; no PKI, no API server config."""
    layout = Layout(root)
    running = pid_alive(layout.cloudcore_pid, CLOUDCORE_MARK)
    if running is not None or pid_alive(layout.apiserver_pid) is not None:
        raise SetupError(
            f"a cloud is already running under {layout.root} (pid "
            f"{running or pid_alive(layout.apiserver_pid)}); run `keadm reset --root "
            f"{layout.root}` first")
    hub = cloudcore.modules.cloud_hub
    if hub.enable:
        for section, server in (("websocket", hub.websocket), ("https", hub.https)):
            if server.enable and server.port and not port_free(server.address, server.port):
                raise SetupError(
                    f"port {server.port} on {server.address} (modules.cloudHub.{section}."
                    f"port) is already in use; choose another with --set "
                    f"modules.cloudHub.{section}.port=PORT")
    for directory in (layout.etc, layout.config_dir, layout.state, layout.run, layout.logs):
        directory.mkdir(parents=True, exist_ok=True)
    atomic_write(layout.cloudcore_config, cloudcore_config.dump(cloudcore).encode(), 0o600)
    return layout


def external_kubeconfig(layout: Layout) -> Path | None:
    """The kubeconfig of the other Kubernetes API this root's cloudcore uses, or None
    when the root runs its own API server (or holds no cloud)."""
    if layout.apiserver_config.exists() or not layout.cloudcore_config.exists():
        return None
    try:
        core = cloudcore_config.load(layout.cloudcore_config)
    except ConfigError:
        return None
    return core.path(core.kube_api_config.kube_config)


def admin_kubeconfig_for(root: Path) -> Path:
    """The kubeconfig `keadm gettoken --root` reads: the admin's that `keadm init`
    wrote, or, for a cloudcore on another Kubernetes API, the one it was given."""
    layout = Layout(root)
    if layout.admin_kubeconfig.exists():
        return layout.admin_kubeconfig
    return external_kubeconfig(layout) or layout.admin_kubeconfig


def apiserver_command(layout: Layout) -> list[str]:
    # kube-apiserver's kubelet client flags: logs, exec, attach, port-forward and
    # metrics go to cloudcore's stream server with this identity, which is checked
    # against the cluster CA (write_stream_certs).
    return [sys.executable, "-m", "kubeedge.cli.apiserver", "--config",
            str(layout.apiserver_config),
            "--kubelet-client-certificate", str(layout.kubelet_client_cert),
            "--kubelet-client-key", str(layout.kubelet_client_key),
            "--kubelet-certificate-authority", str(layout.pki / "ca.crt")]


def cloudcore_command(layout: Layout) -> list[str]:
    return [sys.executable, "-m", CLOUDCORE_MARK, "--config", str(layout.cloudcore_config)]


def start_background(layout: Layout) -> int:
    """Start the API server detached from the terminal; its pid goes to the pid file."""
    return _detach([*apiserver_command(layout), "--pid-file", str(layout.apiserver_pid)],
                   layout.apiserver_log)


def start_cloudcore(layout: Layout) -> int:
    """Start cloudcore detached; it writes its pid file once it reaches the API."""
    with contextlib.suppress(FileNotFoundError):
        layout.cloudcore_pid.unlink()
    return _detach([*cloudcore_command(layout), "--pid-file", str(layout.cloudcore_pid)],
                   layout.cloudcore_log)


def _detach(command: list[str], log_path: Path) -> int:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    with log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    return proc.pid


def wait_cloudcore(layout: Layout, pid: int, timeout: float = 60.0) -> None:
    """Wait until cloudcore has reached the API (it writes its pid file then), or
    fail with the end of its log when it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_running(pid):
            raise SetupError(
                f"cloudcore exited during start; see {layout.cloudcore_log}:\n"
                + tail(layout.cloudcore_log))
        if pid_alive(layout.cloudcore_pid, CLOUDCORE_MARK) == pid:
            return
        time.sleep(0.05)
    raise SetupError(f"cloudcore did not reach the API server within {timeout:.0f}s; see "
                     f"{layout.cloudcore_log}:\n" + tail(layout.cloudcore_log))


def wait_ready(config: APIServerConfig, pid: int, timeout: float = 60.0) -> None:
    """Poll /readyz until it answers ok, the process dies, or the deadline passes."""
    layout = Layout(Path(config.root))
    ctx = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::") else config.bind_address
    url = f"{server_url(host, config.port)}/readyz"
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if not process_running(pid):
            raise SetupError(
                f"the API server exited during start; see {layout.apiserver_log}:\n"
                + tail(layout.apiserver_log)
            )
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # not up yet: connection refused, 500 while starting
            last_error = str(exc)
        time.sleep(0.1)
    raise SetupError(
        f"the API server did not become ready within {timeout:.0f}s ({last_error}); see "
        f"{layout.apiserver_log}:\n" + tail(layout.apiserver_log)
    )


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(pid_file: Path, timeout: float = 15.0, command_mark: str = APISERVER_MARK) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. Returns True when a process was stopped."""
    pid = pid_alive(pid_file, command_mark)
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        # Its files are removed next: wait until it can no longer write them.
        _wait_gone(pid, timeout)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _exists(pid):
            return True
        time.sleep(0.05)
    return False


def _exists(pid: int) -> bool:
    # Reap it if it is our own child, then probe.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return process_running(pid)


def reset(root: Path) -> list[str]:
    """Stop what runs under `root` and remove its state. Returns what was removed."""
    layout = Layout(root)
    removed: list[str] = []
    external = external_kubeconfig(layout)
    if stop(layout.cloudcore_pid, command_mark=CLOUDCORE_MARK):
        removed.append("stopped cloudcore")
    if stop(layout.apiserver_pid):
        removed.append("stopped the API server")
    for directory in (layout.etc, layout.state, layout.run, layout.logs):
        if directory.exists():
            shutil.rmtree(directory)
            removed.append(f"removed {directory}")
    if external is not None:
        removed.append(f"left the Kubernetes API of {external} running, with what cloudcore "
                       "made there (namespace kubeedge, its Secrets, the reliablesyncs CRDs)")
    return removed


def config_for(root: str, **values: object) -> APIServerConfig:
    """An APIServerConfig from CLI values, validated (unset values keep defaults)."""
    config = APIServerConfig(root=root)
    raw = msgspec.to_builtins(config)
    storage = dict(raw["storage"])
    for key, value in values.items():
        if value is None:
            continue
        if key.startswith("storage_"):
            storage[key.removeprefix("storage_")] = value
        else:
            raw[key] = value
    raw["storage"] = storage
    return msgspec.convert(raw, APIServerConfig).validate()


def cloudcore_config_for(root: str, sets: list[str]) -> CloudCoreConfig:
    """The CloudCore config for `root` with `--set path.to.field=value` overrides
    (YAML values: numbers, booleans, `[a, b]` lists), validated."""
    import yaml

    raw = msgspec.to_builtins(CloudCoreConfig(root=root))
    for item in sets:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. "
                              "modules.controllerManager.edgeNodeEviction=true")
        keys = path.strip().split(".")
        node = raw
        for i, key in enumerate(keys[:-1]):
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                raise ConfigError(f"--set {path}: {'.'.join(keys[:i + 1])} is not a section "
                                  "of the CloudCore config")
            node = child
        if keys[-1] not in node:
            raise ConfigError(f"--set {path}: unknown field {keys[-1]!r}; known here: "
                              + ", ".join(sorted(node)))
        if isinstance(node[keys[-1]], list) and not text.strip().startswith("["):
            # A list field takes comma-separated words (`controllers=*,-job`).
            node[keys[-1]] = [v.strip() for v in text.split(",") if v.strip()]
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {path}: {exc}") from None
        node[keys[-1]] = value
    try:
        config = msgspec.convert(raw, CloudCoreConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"--set: {exc}") from None
    return config.validate()
