"""`cloudcore`: the cloud modules process (CloudHub, EdgeController, ...). Its modules
land with the CloudCore issue; until then it only says so."""

from __future__ import annotations

from kubeedge.cli.placeholder import placeholder_command

main = placeholder_command(
    "cloudcore",
    "the cloud modules are not available in this release yet; `keadm init` runs the API "
    "server on its own.",
)
