"""`edgecore`: the edge node agent (EdgeHub, MetaManager, Edged, ...). Its modules land
with the EdgeCore issues; until then it only says so."""

from __future__ import annotations

from kubeedge.cli.placeholder import placeholder_command

main = placeholder_command("edgecore", "the edge modules are not available in this release yet.")
