"""`cloudcore`: the cloud modules process (CloudHub, EdgeController, ...).

Its modules land with the CloudCore issue; until then it only says so.
"""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--config", default=None)
@click.option("--minconfig", is_flag=True)
@click.option("--defaultconfig", is_flag=True)
def main(config: str | None, minconfig: bool, defaultconfig: bool) -> None:
    click.echo("cloudcore: the cloud modules are not available in this release yet; "
               "`keadm init` runs the API server on its own.", err=True)
    sys.exit(1)
