"""`edgecore`: the edge node agent. KubeEdge's flags (specs/kubeedge.md §8): `--config`
(default /etc/kubeedge/config/edgecore.yaml), `--minconfig` and `--defaultconfig`.

Today it reads and validates the configuration; the edge modules (EdgeHub, MetaManager,
Edged) land with the next parts of issue 6, so a valid configuration is reported and
edgecore then exits 1 saying so.
"""

from __future__ import annotations

import sys

import click

from kubeedge.config import edgecore
from kubeedge.config.checks import ConfigError

NOT_BUILT = ("edgecore: the edge modules (EdgeHub, MetaManager, Edged) are not built "
             "yet; they land with the next parts of issue 6, so edgecore stops here")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default=edgecore.DEFAULT_CONFIG_PATH,
              show_default=True, type=click.Path(dir_okay=False),
              help="The path to the EdgeCore configuration file.")
@click.option("--minconfig", is_flag=True,
              help="Print a minimal configuration for reference and exit.")
@click.option("--defaultconfig", is_flag=True,
              help="Print the full default configuration for reference and exit.")
def main(config_path: str, minconfig: bool, defaultconfig: bool) -> None:
    """Run the edge modules of a KubeEdge node."""
    if minconfig:
        click.echo(edgecore.min_yaml(), nl=False)
        return
    if defaultconfig:
        click.echo(edgecore.default_yaml(), nl=False)
        return
    try:
        edgecore.load(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("edgecore configuration is valid")
    click.echo(NOT_BUILT, err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
