"""Entry points whose modules have not landed yet: they accept KubeEdge's flags
(`--config`, `--minconfig`, `--defaultconfig`), say what is missing, and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


def placeholder_command(name: str, message: str) -> Callable[[], None]:
    @click.command(name=name)
    @click.option("--config", default=None)
    @click.option("--minconfig", is_flag=True)
    @click.option("--defaultconfig", is_flag=True)
    def main(**_flags: object) -> None:
        click.echo(f"{name}: {message}", err=True)
        sys.exit(1)

    return main
