"""`edgecore`: the edge node agent. KubeEdge's flags (specs/kubeedge.md §8): `--config`
(default /etc/kubeedge/config/edgecore.yaml), `--minconfig`, `--defaultconfig` and
`--version`.

Runs the edge modules (`kubeedge.edge.core.EdgeCore`: EdgeHub with the edge database,
MetaManager, the node's registration, status and Lease, and Edged running the node's
pods on the process runtime) until SIGTERM or SIGINT. Logs go to stderr;
`keadm join` points them at `var/log/kubeedge/edgecore.log` under the root.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from kubeedge.config import edgecore
from kubeedge.config.checks import ConfigError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default=edgecore.DEFAULT_CONFIG_PATH,
              show_default=True, type=click.Path(dir_okay=False),
              help="The path to the EdgeCore configuration file.")
@click.option("--minconfig", is_flag=True,
              help="Print a minimal configuration for reference and exit.")
@click.option("--defaultconfig", is_flag=True,
              help="Print the full default configuration for reference and exit.")
@click.option("--version", "show_version", is_flag=True,
              help="Print version information and quit.")
def main(config_path: str, minconfig: bool, defaultconfig: bool, show_version: bool) -> None:
    """Run the edge modules of a KubeEdge node."""
    if show_version:
        from kubeedge import KUBEEDGE_RELEASE, __version__
        from kubeedge.edge.node import KUBELET_VERSION

        # KubeEdge's line first (`keadm debug collect` keeps it), then the version the
        # node reports to the cloud (status.nodeInfo.kubeletVersion, kubectl's VERSION).
        click.echo(f"KubeEdge {KUBEEDGE_RELEASE}")
        click.echo(f"node version {KUBELET_VERSION} (kubeedge-py {__version__})")
        return
    if minconfig:
        click.echo(edgecore.min_yaml(), nl=False)
        return
    if defaultconfig:
        click.echo(edgecore.default_yaml(), nl=False)
        return
    try:
        config = edgecore.load(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("edgecore configuration is valid")
    from kubeedge.edge.core import EdgeCore, preflight

    problem = preflight(config)
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(EdgeCore(config, config_path).run()))


if __name__ == "__main__":
    main()
