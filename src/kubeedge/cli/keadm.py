"""`keadm`: set up and tear down the cloud and edge sides (KubeEdge's flags).

Thin: parse flags, call `kubeedge.cloud.setup`, print keadm-style messages. Every error
says what to fix and exits non-zero.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import msgspec

from kubeedge.cloud import setup
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
@click.option("--kube-config", default="", hidden=True,
              help="Accepted for KubeEdge compatibility; the embedded API server is used.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set a CloudCore config field, e.g. "
                   "modules.controllerManager.edgeNodeEviction=true (repeatable).")
def init(root: str, advertise_address: str, apiserver_port: int, bind_address: str,
         storage: str, etcd_servers: str, certificate_sans: str, foreground: bool,
         kube_config: str, sets: tuple[str, ...]) -> None:
    """Start the cloud side: the API server with its storage, and cloudcore (the
    controllers and the scheduler)."""
    root_path = Path(root).expanduser().resolve()
    try:
        config = setup.config_for(
            str(root_path), advertise_address=advertise_address, port=apiserver_port,
            bind_address=bind_address, storage_backend=storage,
            storage_etcd_servers=[s.strip() for s in etcd_servers.split(",") if s.strip()],
        )
        core_config = setup.cloudcore_config_for(str(root_path), list(sets))
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
    click.echo(f"  cloudcore:  controller manager and scheduler (pid {core_pid})")
    click.echo(f"  Logs:       {layout.apiserver_log}, {layout.cloudcore_log}")
    click.echo("To use kubectl with it:")
    click.echo(f"export KUBECONFIG={layout.admin_kubeconfig}")


@main.command()
@click.option("--root", default="/", show_default=True)
@click.option("--force", is_flag=True, help="Reset without asking for confirmation.")
def reset(root: str, force: bool) -> None:
    """Stop what `keadm init` started under --root and remove its state."""
    root_path = Path(root).expanduser().resolve()
    if not force and sys.stdin.isatty() and not click.confirm(
        f"[reset] This will stop the control plane under {root_path} and delete its state. "
        "Continue?", default=False,
    ):
        _fail("reset cancelled")
    for line in setup.reset(root_path):
        click.echo(f"[reset] {line}")
    click.echo("[reset] done")


if __name__ == "__main__":
    main()
