"""`keadm`: set up and tear down the cloud and edge sides (KubeEdge's flags).

Thin: parse flags, call `kubeedge.cloud.setup`, print keadm-style messages. Every error
says what to fix and exits non-zero.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec

from kubeedge.cloud import setup
from kubeedge.cloud.manifest import DEFAULT_IMAGE_REPOSITORY, DEFAULT_IMAGE_TAG
from kubeedge.config.apiserver import ConfigError


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """keadm: install and manage KubeEdge-style cloud and edge nodes."""


@main.command()
@click.option("--root", default="/", show_default=True,
              help="Directory every path of this installation hangs off.")
@click.option("--advertise-address", default="127.0.0.1", show_default=True,
              help="IP the API server is reached at; added to the certificate's SANs.")
@click.option("--apiserver-port", type=int, default=6443, show_default=True)
@click.option("--bind-address", default="0.0.0.0", show_default=True,
              help="Address the API server listens on.")
@click.option("--storage", type=click.Choice(["sqlite", "etcd"]), default="sqlite",
              show_default=True, help="Storage backend of the API server.")
@click.option("--etcd-servers", default="",
              help="Comma-separated etcd client URLs (with --storage etcd).")
@click.option("--certificate-sans", default="",
              help="Extra IPs or DNS names for the serving certificate, comma-separated.")
@click.option("--foreground", is_flag=True, help="Stay attached instead of detaching.")
@click.option("--kube-config", default="",
              help="Kubeconfig of another Kubernetes API to run cloudcore against, as "
                   "that kubeconfig's identity; no API server is started here (the "
                   "API server flags are then ignored).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set a CloudCore config field, e.g. "
                   "modules.controllerManager.edgeNodeEviction=true (repeatable).")
def init(root: str, advertise_address: str, apiserver_port: int, bind_address: str,
         storage: str, etcd_servers: str, certificate_sans: str, foreground: bool,
         kube_config: str, sets: tuple[str, ...]) -> None:
    """Start the cloud side: the API server with its storage, and cloudcore (the
    controllers, the scheduler and the edge channel). With --kube-config, cloudcore
    alone, against that Kubernetes API (its controller manager and scheduler off unless
    --set turns them on: that cluster has its own)."""
    root_path = Path(root).expanduser().resolve()
    if kube_config:
        _init_external(root_path, Path(kube_config), advertise_address, foreground, sets)
        return
    try:
        config = setup.config_for(
            str(root_path), advertise_address=advertise_address, port=apiserver_port,
            bind_address=bind_address, storage_backend=storage,
            storage_etcd_servers=[s.strip() for s in etcd_servers.split(",") if s.strip()],
        )
        # Edges dial CloudHub at the advertised address and check it against cloudcore's
        # certificate, so the certificate must name it (a --set may still override).
        # CloudStream is on (zero-configuration kubectl logs/exec, specs/kubeedge.md §9;
        # `--set modules.cloudStream.enable=false` turns it off): init makes its
        # certificates and gives the API server its kubelet client identity.
        core_config = setup.cloudcore_config_for(
            str(root_path),
            ["modules.cloudStream.enable=true",
             f"modules.cloudHub.advertiseAddress={advertise_address}", *sets])
    except (ConfigError, msgspec.ValidationError) as exc:
        _fail(f"invalid flag value: {exc}")
        return
    sans = [s.strip() for s in certificate_sans.split(",") if s.strip()]
    try:
        layout = setup.prepare(config, sans, core_config)
    except setup.SetupError as exc:
        _fail(str(exc))
        return
    except PermissionError as exc:
        _fail(f"{exc}; choose a --root you can write to")
        return
    if foreground:
        click.echo(f"Starting the API server on port {config.port} (foreground); cloudcore "
                   f"runs in the background (log {layout.cloudcore_log})")
        click.echo(f"export KUBECONFIG={layout.admin_kubeconfig}")
        setup.start_cloudcore(layout)
        os.execv(sys.executable, [*setup.apiserver_command(layout), "--pid-file",
                                  str(layout.apiserver_pid)])
    pid = setup.start_background(layout)
    try:
        setup.wait_ready(config, pid)
    except setup.SetupError as exc:
        setup.stop(layout.apiserver_pid)
        _fail(str(exc))
        return
    core_pid = setup.start_cloudcore(layout)
    try:
        setup.wait_cloudcore(layout, core_pid)
    except setup.SetupError as exc:
        setup.stop(layout.cloudcore_pid, command_mark=setup.CLOUDCORE_MARK)
        setup.stop(layout.apiserver_pid)
        _fail(str(exc))
        return
    click.echo("KubeEdge cloud control plane is running.")
    click.echo(f"  API server: {setup.server_url(config.advertise_address, config.port)} "
               f"(pid {pid}, storage {config.storage.backend})")
    click.echo(f"  cloudcore:  controllers, scheduler and the edge channel (pid {core_pid})")
    hub = core_config.modules.cloud_hub
    if hub.enable:
        click.echo(f"  CloudHub:   {advertise_address}:{hub.websocket.port} (edges join here), "
                   f"certificates on port {hub.https.port}")
        stream = core_config.modules.cloud_stream
        if stream.enable:
            click.echo(f"  CloudStream: tunnel on port {stream.tunnel_port}, stream server on "
                       f"port {stream.stream_port} (kubectl logs/exec for edge pods)")
    click.echo(f"  Logs:       {layout.apiserver_log}, {layout.cloudcore_log}")
    click.echo("To use kubectl with it:")
    click.echo(f"export KUBECONFIG={layout.admin_kubeconfig}")
    if hub.enable:
        click.echo("To join an edge: keadm gettoken (here), then on the edge host:")
        click.echo(f"keadm join --cloudcore-ipport={advertise_address}:{hub.websocket.port} "
                   f"--certport={hub.https.port} --token=<token>")


def _init_external(root_path: Path, kube_config: Path, advertise_address: str,
                   foreground: bool, sets: tuple[str, ...]) -> None:
    """`keadm init --kube-config`: cloudcore alone under the root (setup's docstring)."""
    try:
        core_config = setup.cloudcore_config_for(
            str(root_path),
            ["modules.controllerManager.enable=false", "modules.scheduler.enable=false",
             f"modules.cloudHub.advertiseAddress={advertise_address}", *sets])
    except (ConfigError, msgspec.ValidationError) as exc:
        _fail(f"invalid flag value: {exc}")
        return
    core_config = setup.external_cloudcore_config(core_config, kube_config)
    kube_path = Path(core_config.kube_api_config.kube_config)
    try:
        server = setup.check_api(kube_path)
        layout = setup.prepare_external(root_path, core_config)
    except setup.SetupError as exc:
        _fail(str(exc))
        return
    except PermissionError as exc:
        _fail(f"{exc}; choose a --root you can write to")
        return
    if foreground:
        click.echo(f"Starting cloudcore against {server} (foreground)")
        os.execv(sys.executable, [*setup.cloudcore_command(layout), "--pid-file",
                                  str(layout.cloudcore_pid)])
    core_pid = setup.start_cloudcore(layout)
    try:
        setup.wait_cloudcore(layout, core_pid)
    except setup.SetupError as exc:
        setup.stop(layout.cloudcore_pid, command_mark=setup.CLOUDCORE_MARK)
        _fail(str(exc))
        return
    hub = core_config.modules.cloud_hub
    click.echo("KubeEdge cloudcore is running against an existing Kubernetes API.")
    click.echo(f"  Kubernetes API: {server} (as {kube_path}; no API server started here)")
    click.echo(f"  cloudcore:      the edge channel (pid {core_pid}, log {layout.cloudcore_log})")
    if hub.enable:
        click.echo(f"  CloudHub:       {advertise_address}:{hub.websocket.port} (edges join "
                   f"here), certificates on port {hub.https.port}")
        click.echo(f"To join an edge: keadm gettoken --root {root_path}, then on the edge "
                   "host:")
        click.echo(f"keadm join --cloudcore-ipport={advertise_address}:{hub.websocket.port} "
                   f"--certport={hub.https.port} --token=<token>")


@main.command()
@click.argument("kind", required=False, type=click.Choice(["cloud", "edge"]))
@click.option("--root", default="/", show_default=True)
@click.option("--force", is_flag=True, help="Reset without asking for confirmation.")
def reset(kind: str | None, root: str, force: bool) -> None:
    """Stop what `keadm init` (cloud) or `keadm join` (edge) started under --root and
    remove its state. Without KIND, whatever this root holds is reset.

    An edge first leaves the cluster: the running edgecore deletes its Lease and Node
    through the cloud, then exits. If the cloud cannot be reached, the reset still
    stops edgecore and removes its files, warns that the Node and Lease remain with the
    command that deletes them, and succeeds (exit 0): the host is reset, which is what
    was asked, and a reset is most needed when the cloud is gone for good (KubeEdge's
    reset works offline too)."""
    from kubeedge.cloud import setup_edge

    root_path = Path(root).expanduser().resolve()
    edge_here = (setup_edge.EdgeLayout(root_path).config.exists()
                 or setup_edge.edgecore_pid(root_path) is not None)
    kinds = [kind] if kind else (
        (["edge"] if edge_here else []) + (["cloud"] if setup_edge.holds_cloud(root_path)
                                           or not edge_here else []))
    what = " and ".join("the edge node" if k == "edge" else "the control plane"
                        for k in kinds)
    if not force and sys.stdin.isatty() and not click.confirm(
        f"[reset] This will stop {what} under {root_path} and delete its state. "
        "Continue?", default=False,
    ):
        _fail("reset cancelled")
    for k in kinds:
        if k == "edge":
            _reset_edge(root_path)
            continue
        for line in setup.reset(root_path):
            click.echo(f"[reset] {line}")
    click.echo("[reset] done")


def _reset_edge(root_path: Path) -> None:
    from kubeedge.cloud import setup_edge

    node = setup_edge.configured_node_name(root_path)
    if setup_edge.edgecore_pid(root_path) is not None:
        click.echo(f"[reset] asking edgecore to delete node {node or '?'}'s Lease and Node "
                   "in the cloud")
    departure = setup_edge.leave_cluster(root_path)
    if departure is not None and setup_edge.edgecore_pid(root_path) is None:
        click.echo("[reset] stopped edgecore")
    for line in setup_edge.remove_edge(root_path):
        click.echo(f"[reset] {line}")
    if departure is not None and departure.deregistered:
        click.echo(f"[reset] node {departure.node} left the cluster: its Node and Lease "
                   "were deleted")
        return
    if departure is None and not node:
        return  # nothing was joined from here
    departure = departure or setup_edge.Departure(
        node, False, "edgecore was not running, so it could not deregister the node")
    click.echo(f"[reset] WARNING: node {departure.node}'s Node and Lease remain in the "
               f"cluster ({departure.reason}). Delete them from the cloud with:", err=True)
    for command in departure.kubectl_commands():
        click.echo(f"[reset]   {command}", err=True)


@main.command()
@click.option("--root", default="/", show_default=True,
              help="Root of the cloud installation whose admin kubeconfig to use.")
@click.option("--kube-config", default="",
              help="Kubeconfig of an administrator (default: the admin kubeconfig "
                   "`keadm init` wrote under --root).")
def gettoken(root: str, kube_config: str) -> None:
    """Print the token edge nodes join with (Secret kubeedge/tokensecret)."""
    import asyncio

    from kubeedge.client.errors import APIError
    from kubeedge.cloud import setup_edge

    path = Path(kube_config).expanduser() if kube_config else setup.admin_kubeconfig_for(
        Path(root).expanduser().resolve())
    if not path.exists():
        _fail(f"kubeconfig {path} not found: run `keadm init` first on this host, or pass "
              "--kube-config")
    try:
        token = asyncio.run(setup_edge.get_token(path))
    except setup_edge.JoinError as exc:
        _fail(str(exc))
        return
    except APIError as exc:
        _fail(f"failed to read Secret kubeedge/tokensecret: {exc}")
        return
    except OSError as exc:
        _fail(f"failed to reach the API server with {path}: {exc}")
        return
    click.echo(token)


@main.command()
@click.option("-e", "--cloudcore-ipport", default="",
              help="IP:port of CloudHub's WebSocket server (e.g. 192.168.1.10:10000).")
@click.option("-t", "--token", default="", help="The token `keadm gettoken` printed.")
@click.option("-i", "--edgenode-name", default="",
              help="The node's name (default: this host's name).")
@click.option("-s", "--certport", type=int, default=10002, show_default=True,
              help="CloudCore's certificate service port.")
@click.option("-l", "--labels", default="", help="Node labels, key=value,key2=value2.")
@click.option("-p", "--remote-runtime-endpoint", default="",
              help="CRI endpoint (unix:///run/containerd/containerd.sock); selects the "
                   "CRI runtime instead of the process runtime.")
@click.option("--cgroupdriver", default="cgroupfs", show_default=True,
              help="cgroupfs or systemd.")
@click.option("--hub-protocol", default="websocket", show_default=True,
              help="websocket (quic is not built).")
@click.option("--root", default="/", show_default=True,
              help="Directory every path of this edge hangs off.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set an EdgeCore config field, e.g. modules.edgeHub.heartbeat=5 "
                   "(repeatable).")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds to wait for the node to join.")
def join(cloudcore_ipport: str, token: str, edgenode_name: str, certport: int, labels: str,
         remote_runtime_endpoint: str, cgroupdriver: str, hub_protocol: str, root: str,
         sets: tuple[str, ...], timeout: float) -> None:
    """Join this host to the cloud as an edge node: write edgecore.yaml, start edgecore
    and wait until the cloud has its Node, status and Lease."""
    from kubeedge.cloud import setup_edge
    from kubeedge.config.checks import ConfigError as FieldError

    root_path = Path(root).expanduser().resolve()
    flags = setup_edge.JoinFlags(
        cloudcore_ipport=cloudcore_ipport, token=token, root=str(root_path),
        edgenode_name=edgenode_name, certport=certport, labels=labels,
        remote_runtime_endpoint=remote_runtime_endpoint, cgroupdriver=cgroupdriver,
        hub_protocol=hub_protocol, sets=sets)
    # What is already under the root first: a second join there is the mistake to
    # name, whatever its flags (its certificate files would be refused next).
    layout = setup_edge.EdgeLayout(root_path)
    running = setup_edge.edgecore_pid(root_path)
    if running is not None or layout.config.exists():
        _fail(f"an edge node is already set up under {root_path}"
              + (f" (edgecore pid {running})" if running else "")
              + f"; run `keadm reset edge --root {root_path}` first")
    if setup_edge.holds_cloud(root_path):
        _fail(f"{root_path} holds a cloud installation (keadm init); join the edge under "
              "another --root")
    try:
        config = setup_edge.join_config(flags)
    except setup_edge.ForeignCertificate as exc:
        _fail(f"join refused: {exc}")
        return
    except FieldError as exc:
        _fail(f"invalid flag value: {exc}")
        return
    click.echo(f"[join] node {config.node_name}: cloudcore "
               f"{config.modules.edge_hub.websocket.server}, certificates from "
               f"{config.modules.edge_hub.http_server}")
    try:
        config_path = setup_edge.write_config(config)
    except PermissionError as exc:
        _fail(f"{exc}; choose a --root you can write to")
        return
    click.echo(f"[join] wrote {config_path}")
    pid = setup_edge.start_edgecore(config_path, root_path)
    click.echo(f"[join] started edgecore (pid {pid}, log {layout.log})")
    try:
        setup_edge.wait_joined(root_path, pid, timeout,
                               progress=lambda line: click.echo(f"[join] {line}"))
    except setup_edge.JoinError as exc:
        setup_edge.stop_pid(pid)
        setup_edge.remove_edge(root_path)
        _fail(f"join failed: {exc}\n(edgecore stopped; what the join made is removed, "
              "files that were under the root before it are kept)")
        return
    click.echo(f"[join] edge node {config.node_name} joined; edgecore keeps running "
               f"(pid {pid}). Check it on the cloud with `kubectl get node "
               f"{config.node_name}`.")



@main.command()
def version() -> None:
    """Print keadm's version: ours, and the KubeEdge and Kubernetes releases it speaks
    for (the edge reports the same in its node's kubeletVersion)."""
    from kubeedge import KUBEEDGE_RELEASE, KUBERNETES_RELEASE, __version__

    click.echo(f"keadm version: kubeedge-py {__version__} "
               f"(KubeEdge {KUBEEDGE_RELEASE}, Kubernetes {KUBERNETES_RELEASE})")



# --------------------------------------------------------------------------- manifest


def _manifest_options(command: Callable[..., None]) -> Callable[..., None]:
    """KubeEdge's `keadm manifest` flags (keadm/cmd/keadm/app/cmd/cloud/manifest.go)."""
    options = [
        click.option("--advertise-address", default="",
                     help="IP edges reach cloudcore at (modules.cloudHub.advertiseAddress; "
                          "its certificate's IP SANs). Default: this host's address."),
        click.option("--kube-config", default="",
                     help="Accepted for KubeEdge compatibility: rendering needs no "
                          "cluster, and the cloudcore pod uses its ServiceAccount."),
        click.option("--kubeedge-version", default="",
                     help="Image tag of cloudcore (as --set cloudCore.image.tag)."),
        click.option("--profile", default="",
                     help="version=vX.Y.Z: the image tag, as KubeEdge's profile."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="A chart value (cloudCore.image.repository|tag|pullPolicy, "
                          "cloudCore.replicaCount, cloudCore.hostNetWork, "
                          "cloudCore.service.type) or a CloudCore config field "
                          "(cloudCore.modules.cloudHub.nodeLimit=1000, or "
                          "modules.cloudHub.nodeLimit=1000). Repeatable."),
        click.option("--skip-crds", is_flag=True,
                     help="Skip printing the contents of CRDs to stdout."),
        click.option("-f", "--files", "--manifests", "files", default="",
                     help="Comma-separated YAML files of more objects to append."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _print_manifest(advertise_address: str, kube_config: str, kubeedge_version: str,
                    profile: str, sets: tuple[str, ...], skip_crds: bool, files: str) -> None:
    from kubeedge.cloud import manifest

    del kube_config  # accepted, not needed (help text)
    try:
        text = manifest.generate(
            advertise_address=advertise_address, sets=sets,
            kubeedge_version=kubeedge_version, profile=profile, skip_crds=skip_crds,
            files=[f.strip() for f in files.split(",") if f.strip()])
    except ConfigError as exc:
        _fail(f"invalid flag value: {exc}")
        return
    click.echo(text, nl=False)


_MANIFEST_HELP = f"""Print the objects that run cloudcore on an existing Kubernetes
    cluster, for `kubectl apply -f -`: namespace kubeedge, cloudcore's CRDs, its
    ServiceAccount, ClusterRole and ClusterRoleBinding, a ConfigMap with cloudcore.yaml,
    a Service on ports 10000-10004 and the cloudcore Deployment.

    The image (default {DEFAULT_IMAGE_REPOSITORY}:{DEFAULT_IMAGE_TAG}; set it with
    --set cloudCore.image.repository=... and cloudCore.image.tag=...) must hold
    kubeedge-py: the pod runs our `cloudcore`, not KubeEdge's. cloudcore.yaml turns its
    controller manager and scheduler off (the cluster has its own) and reaches the API
    in-cluster, as its ServiceAccount.

    Example: keadm manifest --advertise-address=192.168.1.10 | kubectl apply -f -"""


@main.command("manifest", help=_MANIFEST_HELP)
@_manifest_options
def manifest_command(**flags: Any) -> None:
    _print_manifest(**flags)


@main.group()
def beta() -> None:
    """Commands KubeEdge ships as beta."""


@beta.group("manifest")
def beta_manifest() -> None:
    """Generate the manifests that run cloudcore on a cluster."""


@beta_manifest.command("generate", help=_MANIFEST_HELP)
@_manifest_options
def beta_manifest_generate(**flags: Any) -> None:
    _print_manifest(**flags)


# --------------------------------------------------------------------------- debug


@main.group()
def debug() -> None:
    """Find out why an edge does not join or work."""


@debug.command("check")
@click.argument("item", required=False, default="all",
                type=click.Choice(["all", "join", "arch", "cpu", "mem", "disk", "dns",
                                   "pid"]))
@click.option("-e", "--cloudcore-ipport", default="",
              help="IP:port of CloudHub, as for keadm join (default: from edgecore.yaml "
                   "under --root when this edge has joined).")
@click.option("-t", "--token", default="", help="The token, as for keadm join.")
@click.option("-s", "--certport", type=int, default=None,
              help="CloudCore's certificate service port [default: 10002, or edgecore.yaml's].")
@click.option("-i", "--edgenode-name", default="",
              help="Accepted as keadm join takes it (the checks do not depend on it).")
@click.option("--root", default="/", show_default=True,
              help="Root of this edge (its edgecore.yaml and disk).")
@click.option("-d", "--domain", default="",
              help="A name to resolve for the dns check (default: the cloud's host when "
                   "it is a name).")
@click.option("--timeout", type=float, default=3.0, show_default=True,
              help="Seconds each network check waits.")
@click.option("--max-clock-skew", type=float, default=5.0, show_default=True,
              help="Seconds this host's clock may differ from the cloud's.")
@click.option("--now", "now_text", default="", hidden=True,
              help="Take this host's clock to read this time (Unix seconds or RFC 3339) "
                   "when the command starts; for testing the checks.")
def debug_check(item: str, cloudcore_ipport: str, token: str, certport: int | None,
                edgenode_name: str, root: str, domain: str, timeout: float,
                max_clock_skew: float, now_text: str) -> None:
    """Check this edge host for the common join failures and print PASS/FAIL for each,
    with what to fix. ITEM: all (default: the host and the join checks), join (CloudHub
    and certificate ports, token, clock skew, CA hash, certificate SANs), or one of
    KubeEdge's host checks: arch, cpu, mem, disk, dns, pid. Exits 1 when a check fails."""
    import time

    from kubeedge.cloud import debug_check as checks

    del edgenode_name
    root_path = Path(root).expanduser().resolve()
    checker = checks.Checker(timeout=timeout, max_skew=max_clock_skew, root=root_path,
                             domain=domain)
    if now_text:
        try:
            fixed = checks.parse_now(now_text)
        except ValueError as exc:
            _fail(str(exc))
            return
        started = time.monotonic()
        # The given time at start, running on from there as a clock does.
        checker.now = lambda: fixed + (time.monotonic() - started)
        click.echo(f"NOTE: this host's clock is taken as {checks._iso(fixed)} (--now), not "
                   "the real one")
    results: list[checks.Result] = []
    if item in ("all", "join"):
        target = _check_target(checks, cloudcore_ipport, token, certport, root_path)
        if target is None:
            for name in checks.JOIN_CHECKS:
                result = checks.Result(name, checks.Status.SKIP, "no --cloudcore-ipport "
                                       "given and no edgecore.yaml under --root")
                _show(result)
                results.append(result)
        else:
            if not domain and not _is_ip(target.host):
                checker.domain = target.host
            click.echo(f"Checking the join to CloudHub {target.hub}, certificates on "
                       f"{target.certs}")
            for result in checker.join_checks(target):
                _show(result)
                results.append(result)
    names = checks.HOST_CHECKS if item == "all" else (item,) if item != "join" else ()
    for name in names:
        result = checker.host_check(name)
        _show(result)
        results.append(result)
    failed = [r.name for r in results if r.status is checks.Status.FAIL]
    passed = sum(r.status is checks.Status.PASS for r in results)
    if failed:
        click.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}; {passed} passed")
        sys.exit(1)
    click.echo(f"All {passed} check(s) passed"
               + (f" ({len(results) - passed} skipped)" if len(results) > passed else ""))


def _check_target(checks: Any, cloudcore_ipport: str, token: str, certport: int | None,
                  root_path: Path) -> Any:
    from kubeedge.cloud import setup_edge
    from kubeedge.config.checks import ConfigError as FieldError

    if cloudcore_ipport:
        try:
            host, port = checks.split_host_port(cloudcore_ipport)
        except ValueError as exc:
            _fail(f"invalid flag value: {exc}")
        return checks.Target(host, port, certport or 10002, token)
    config = setup_edge.EdgeLayout(root_path).config
    if not config.exists():
        return None
    try:
        target = checks.target_from_edgecore(config)
    except (FieldError, ValueError) as exc:
        _fail(f"{config}: {exc}")
    click.echo(f"Using {config}")
    return checks.Target(target.host, target.hub_port, certport or target.cert_port,
                         token or target.token)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _show(result: Any) -> None:
    for line in result.lines():
        click.echo(line)


if __name__ == "__main__":
    main()
