"""`cloudcore`: the cloud modules process (controller manager and scheduler today;
CloudHub and the rest with their issues). KubeEdge's flags: `--config` (default
/etc/kubeedge/config/cloudcore.yaml), `--minconfig` and `--defaultconfig`.

`keadm init` starts it in the background beside the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from pathlib import Path

import click

from kubeedge.config import cloudcore
from kubeedge.config.apiserver import ConfigError


async def _serve(config: cloudcore.CloudCoreConfig, pid_file: str | None) -> None:
    from kubeedge.cloud.cloudcore import run

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    def ready() -> None:
        # The pid file doubles as the readiness mark `keadm init` waits for.
        if pid_file:
            Path(pid_file).parent.mkdir(parents=True, exist_ok=True)
            Path(pid_file).write_text(f"{os.getpid()}\n")

    await run(config, stop, on_ready=ready)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default=cloudcore.DEFAULT_CONFIG_PATH,
              show_default=True, type=click.Path(dir_okay=False),
              help="CloudCore configuration file.")
@click.option("--minconfig", is_flag=True, help="Print a minimal configuration and exit.")
@click.option("--defaultconfig", is_flag=True, help="Print the full default configuration "
              "and exit.")
@click.option("--pid-file", type=click.Path(dir_okay=False), default=None,
              help="Write this process's pid here once the API server answers.")
def main(config_path: str, minconfig: bool, defaultconfig: bool, pid_file: str | None) -> None:
    """Run the cloud modules: controller manager, scheduler and the edge channel."""
    if minconfig:
        click.echo(cloudcore.min_yaml(), nl=False)
        return
    if defaultconfig:
        click.echo(cloudcore.default_yaml(), nl=False)
        return
    try:
        config = cloudcore.load(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Many long-lived cached objects: collect young garbage less often (as the API
    # server does).
    gc.set_threshold(50_000, 20, 100)
    try:
        asyncio.run(_serve(config, pid_file))
    finally:
        if pid_file:
            with contextlib.suppress(OSError):
                if Path(pid_file).read_text().strip() == str(os.getpid()):
                    Path(pid_file).unlink()


if __name__ == "__main__":
    main()
