"""`vcctl`: Volcano's command line, queue commands (specs/volcano.md §5).

Thin: parse vcctl's flags, talk to the API server as the kubeconfig's user
(`--kubeconfig`, else $KUBECONFIG, else ~/.kube/config), print vcctl's tables. Opening
and closing a queue create a `bus.volcano.sh` Command for the queue controller, as
vcctl does; every error says what went wrong and exits non-zero.
The `job` commands are not here yet.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click

from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.kubeconfig import KubeconfigError
from kubeedge.client.rest import APIClient
from kubeedge.controllers.volcano_crds import COMMANDS, QUEUES

# vcctl creates queue Commands in this namespace (Queues are cluster-scoped).
COMMAND_NAMESPACE = "default"

QUEUE_COLUMNS = ("Name", "Weight", "State", "Parent", "Inqueue", "Pending", "Running",
                 "Unknown", "Completed")
ACTIONS = {"open": "OpenQueue", "close": "CloseQueue"}


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _run(kubeconfig: str | None, work: Callable[[APIClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with APIClient(kubeconfig or None, user_agent="vcctl") as client:
            await work(client)

    try:
        asyncio.run(main())
    except APIError as exc:
        _fail(exc.message or str(exc))
    except (KubeconfigError, FileNotFoundError) as exc:
        _fail(str(exc))
    except (APIConnectionError, ConnectionError, TimeoutError) as exc:
        _fail(f"cannot reach the API server: {exc}")


def format_queues(queues: list[dict[str, Any]]) -> str:
    """vcctl's queue table: the name in 25 columns, every other field in 8."""
    widths = (25,) + (8,) * (len(QUEUE_COLUMNS) - 1)

    def row(values: tuple[object, ...]) -> str:
        return "".join(f"{v!s:<{w}}" for v, w in zip(values, widths, strict=True)) + "\n"

    out = [row(QUEUE_COLUMNS)]
    for queue in queues:
        spec = queue.get("spec") or {}
        status = queue.get("status") or {}
        out.append(row((
            (queue.get("metadata") or {}).get("name", ""),
            spec.get("weight", 0),
            status.get("state", ""),
            spec.get("parent", ""),
            status.get("inqueue", 0),
            status.get("pending", 0),
            status.get("running", 0),
            status.get("unknown", 0),
            status.get("completed", 0),
        )))
    return "".join(out)


def _kubeconfig_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-k", "--kubeconfig", default=None, envvar="KUBECONFIG",
                        help="Path to the kubeconfig (default $KUBECONFIG, then "
                             "~/.kube/config).")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """vcctl: the command line of Volcano."""


@main.group()
def queue() -> None:
    """Operations on queues."""


@queue.command()
@click.option("-n", "--name", default="test", show_default=True, help="the name of queue")
@click.option("-w", "--weight", type=int, default=1, show_default=True,
              help="the weight of the queue")
@click.option("-S", "--state", default="Open", show_default=True, help="the state of queue")
@_kubeconfig_option
def create(name: str, weight: int, state: str, kubeconfig: str | None) -> None:
    """Create a queue."""
    if state not in ("Open", "Closed"):
        _fail(f"state {state!r} invalid, valid states are Open and Closed")

    async def work(client: APIClient) -> None:
        created = await client.create(QUEUES, {"metadata": {"name": name},
                                               "spec": {"weight": weight}})
        # A new queue starts Open (status is the controller's); ask it to close.
        if state == "Closed":
            await _command(client, created, "CloseQueue")

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@_kubeconfig_option
def delete(name: str, kubeconfig: str | None) -> None:
    """Delete a queue."""
    if not name:
        _fail("queue name must be specified")

    async def work(client: APIClient) -> None:
        await client.delete(QUEUES, name)

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@click.option("-w", "--weight", type=int, default=0, help="the weight of the queue")
@click.option("-a", "--action", default="",
              help="operate action to queue, valid actions are open, close, update")
@_kubeconfig_option
def operate(name: str, weight: int, action: str, kubeconfig: str | None) -> None:
    """Open, close or update a queue."""
    if not name:
        _fail("queue name must be specified")
    if not action:
        _fail("action can not be null")
    if action == "update":
        if weight <= 0:
            _fail(f"when update queue {name}, weight must be specified, "
                  "the value must be greater than 0")

        async def update(client: APIClient) -> None:
            await client.patch(QUEUES, name, {"spec": {"weight": weight}})

        _run(kubeconfig, update)
        return
    if action not in ACTIONS:
        _fail(f"action {action} invalid, valid actions are open, close and update")

    async def work(client: APIClient) -> None:
        await _command(client, await client.get(QUEUES, name), ACTIONS[action])

    _run(kubeconfig, work)


@queue.command(name="list")
@_kubeconfig_option
def list_(kubeconfig: str | None) -> None:
    """List all queues."""

    async def work(client: APIClient) -> None:
        queues = (await client.list(QUEUES))["items"]
        if not queues:
            click.echo("No resources found")
            return
        queues.sort(key=lambda q: (q.get("metadata") or {}).get("name", ""))
        click.echo(format_queues(queues), nl=False)

    _run(kubeconfig, work)


@queue.command()
@click.option("-n", "--name", default="", help="the name of queue")
@_kubeconfig_option
def get(name: str, kubeconfig: str | None) -> None:
    """Get a queue."""
    if not name:
        _fail("queue name must be specified")

    async def work(client: APIClient) -> None:
        click.echo(format_queues([await client.get(QUEUES, name)]), nl=False)

    _run(kubeconfig, work)


async def _command(client: APIClient, queue: dict[str, Any], action: str) -> None:
    """A Command asking the queue controller to act on `queue`, owned by the queue."""
    md = queue.get("metadata") or {}
    ref = {"apiVersion": QUEUES.api_version, "kind": QUEUES.kind, "name": md.get("name"),
           "uid": md.get("uid"), "controller": True, "blockOwnerDeletion": True}
    await client.create(COMMANDS, {
        "metadata": {"generateName": f"{md.get('name')}-{action.lower()}-",
                     "ownerReferences": [ref]},
        "target": ref,
        "action": action,
    }, COMMAND_NAMESPACE)


if __name__ == "__main__":
    main()
