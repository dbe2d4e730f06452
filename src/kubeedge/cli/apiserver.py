"""`python -m kubeedge.cli.apiserver --config FILE`: the API server process.

`keadm init` starts this in the background; it can also be run by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

import click
import msgspec

from kubeedge.config.apiserver import ConfigError, load_apiserver_config


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="API server configuration file (written by keadm init).")
@click.option("--pid-file", type=click.Path(dir_okay=False), default=None,
              help="Write this process's pid here while it runs.")
# kube-apiserver's flag names, so `keadm init` and people who know kube pass the same;
# each overrides the config file's field of the same meaning.
@click.option("--kubelet-client-certificate", default=None,
              help="Client certificate the API server presents to kubelets (logs, exec, "
                   "attach, port-forward, node proxy, metrics).")
@click.option("--kubelet-client-key", default=None,
              help="Private key of --kubelet-client-certificate.")
@click.option("--kubelet-certificate-authority", default=None,
              help="CA bundle that kubelet serving certificates are verified against.")
def main(config_path: str, pid_file: str | None, kubelet_client_certificate: str | None,
         kubelet_client_key: str | None, kubelet_certificate_authority: str | None) -> None:
    try:
        config = load_apiserver_config(config_path)
        flags = {"kubelet_client_certificate": kubelet_client_certificate,
                 "kubelet_client_key": kubelet_client_key,
                 "kubelet_certificate_authority": kubelet_certificate_authority}
        overrides = {k: v for k, v in flags.items() if v is not None}
        if overrides:
            config = msgspec.structs.replace(config, **overrides).validate()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from kubeedge.apiserver.server import serve_forever

    if pid_file:
        Path(pid_file).parent.mkdir(parents=True, exist_ok=True)
        Path(pid_file).write_text(f"{os.getpid()}\n")
    try:
        asyncio.run(serve_forever(config))
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        if pid_file:
            with contextlib.suppress(OSError):
                if Path(pid_file).read_text().strip() == str(os.getpid()):
                    Path(pid_file).unlink()


if __name__ == "__main__":
    main()
