"""`edgecore`: the edge node agent (EdgeHub, MetaManager, Edged, ...).

Its modules land with the EdgeCore issues; until then it only says so.
"""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--config", default=None)
@click.option("--minconfig", is_flag=True)
@click.option("--defaultconfig", is_flag=True)
def main(config: str | None, minconfig: bool, defaultconfig: bool) -> None:
    click.echo("edgecore: the edge modules are not available in this release yet.", err=True)
    sys.exit(1)
