"""Volcano's queue controller: Queue state and PodGroup counts (specs/volcano.md §1.2).

Owns:
- the two queues every Volcano cluster has, `root` (reclaimable false) and `default`
  (reclaimable true), both weight 1, created when missing;
- `status.state` of every Queue. As in Volcano, the state a user asks for lives in
  `status.state` itself, changed through `bus.volcano.sh` Commands (`OpenQueue`,
  `CloseQueue`, what `vcctl queue operate` creates): the controller applies each Command
  that targets a Queue, records an event, and deletes the Command. A Queue asked to
  close is `Closing` while any PodGroup is in it and `Closed` once none is; an open one
  is `Open` (also when the state is unset);
- `status.pending/running/inqueue/unknown/completed`: the Queue's PodGroups by phase.

Never touches `status.allocated` or `status.reservation` (the scheduler's), never
changes a Queue's spec, and leaves Commands aimed at anything but a Queue to their
controllers. Commands and PodGroups are handled under their Queue's key, so one Queue
is reconciled by one worker at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import volcano_crds
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.volcano_crds import COMMANDS, PODGROUPS, QUEUES

__all__ = [
    "COUNTED_PHASES",
    "DEFAULT_QUEUES",
    "QueueAction",
    "QueueController",
    "QueueState",
    "apply_actions",
    "count_podgroups",
    "create_default_queues",
    "next_state",
    "podgroup_queue",
    "queue_command_target",
]


class QueueState(enum.StrEnum):
    OPEN = "Open"
    CLOSED = "Closed"
    CLOSING = "Closing"
    UNKNOWN = "Unknown"


class QueueAction(enum.StrEnum):
    """`bus.volcano.sh` Command actions aimed at a Queue."""

    OPEN = "OpenQueue"
    CLOSE = "CloseQueue"


# The queues Volcano's scheduler makes at start (§1.2): name → spec.
DEFAULT_QUEUES: dict[str, dict[str, Any]] = {
    "root": {"weight": 1, "reclaimable": False},
    "default": {"weight": 1, "reclaimable": True},
}

# PodGroup phase → the Queue status field counting it.
COUNTED_PHASES: dict[str, str] = {
    "Pending": "pending",
    "Running": "running",
    "Inqueue": "inqueue",
    "Unknown": "unknown",
    "Completed": "completed",
}

BY_QUEUE = "queue-controller/by-queue"
BY_TARGET = "queue-controller/by-target-queue"


# --- decisions (pure) ---------------------------------------------------------------------

async def create_default_queue(client: APIClient, name: str) -> None:
    """Create `root` or `default` unless it exists."""
    body = {"metadata": {"name": name}, "spec": dict(DEFAULT_QUEUES[name])}
    try:
        await client.create(QUEUES, body)
    except APIError as exc:
        if not exc.is_already_exists:
            raise


async def create_default_queues(client: APIClient) -> None:
    """The queues Volcano's install creates with its CRDs, so a vcjob submitted the
    moment the cloud is up finds `default` (admission refuses a missing queue)."""
    for name in DEFAULT_QUEUES:
        await create_default_queue(client, name)


def podgroup_queue(pg: dict[str, Any]) -> str:
    """The Queue a PodGroup belongs to (`default` when unset, as the schema defaults)."""
    return str((pg.get("spec") or {}).get("queue") or "default")


def queue_command_target(cmd: dict[str, Any]) -> str | None:
    """The name of the Queue a Command targets, or None when it targets anything else."""
    target = cmd.get("target") or {}
    group = str(target.get("apiVersion") or "").partition("/")[0]
    if target.get("kind") == "Queue" and group == QUEUES.group and target.get("name"):
        return str(target["name"])
    return None


def count_podgroups(podgroups: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The Queue status counters for these PodGroups (a phase not listed is not counted,
    a PodGroup with no phase yet counts as Pending)."""
    counts = dict.fromkeys(COUNTED_PHASES.values(), 0)
    for pg in podgroups:
        phase = (pg.get("status") or {}).get("phase") or "Pending"
        field = COUNTED_PHASES.get(str(phase))
        if field:
            counts[field] += 1
    return counts


def apply_actions(state: str, actions: Iterable[str]) -> str:
    """The state asked for after these Command actions, in order (unknown actions change
    nothing)."""
    for action in actions:
        if action == QueueAction.OPEN:
            state = QueueState.OPEN
        elif action == QueueAction.CLOSE:
            # Closing resolves to Closed/Closing in `next_state`.
            state = QueueState.CLOSED
    return str(state)


def next_state(state: str, has_podgroups: bool) -> QueueState:
    """Volcano's queue state machine at a sync: Open stays Open; a Queue closed or closing
    is Closing while it holds PodGroups and Closed once empty; no state is Open."""
    if state in (QueueState.CLOSED, QueueState.CLOSING):
        return QueueState.CLOSING if has_podgroups else QueueState.CLOSED
    if state == QueueState.UNKNOWN:
        return QueueState.UNKNOWN
    return QueueState.OPEN


# --- the controller -----------------------------------------------------------------------

class QueueController(Controller):
    name = "queue"
    component = "queue-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 workers: int | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        # Volcano's controller manager runs 3 workers per controller by default.
        self.workers = workers or int(getattr(self.config, "concurrent_queue_syncs", 3))

    def setup(self) -> None:
        self.queues = self.informer(QUEUES)
        self.podgroups = self.informer(PODGROUPS)
        self.commands = self.informer(COMMANDS)
        _ensure_index(self.podgroups, BY_QUEUE, lambda pg: [podgroup_queue(pg)])
        _ensure_index(self.commands, BY_TARGET, _command_targets)
        self.queues.add_event_handler(**self.enqueue_by(meta.name_of))
        self.podgroups.add_event_handler(
            on_add=self._podgroup_changed,
            on_update=self._podgroup_moved,
            on_delete=self._podgroup_changed,
        )
        self.commands.add_event_handler(**self.enqueue_by(queue_command_target))

    async def start(self) -> None:
        # cloudcore installs Volcano's CRDs before its controllers start; installing them
        # here too (a no-op when current) keeps a controller started on its own from
        # waiting forever on informers of resources nobody serves.
        await volcano_crds.install(self.client)
        await super().start()
        for name in DEFAULT_QUEUES:
            self.queue.add(name)

    def _podgroup_changed(self, pg: dict[str, Any]) -> None:
        self.queue.add(podgroup_queue(pg))

    def _podgroup_moved(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for name in {podgroup_queue(old), podgroup_queue(new)}:
            self.queue.add(name)

    async def reconcile(self, key: str) -> None:
        queue = self.queues.store.get(None, key)
        commands = sorted(
            self.commands.store.by_index(BY_TARGET, key),
            key=lambda c: ((c.get("metadata") or {}).get("creationTimestamp") or "",
                           meta.name_of(c)),
        )
        if queue is None:
            if key in DEFAULT_QUEUES:
                await self._create_default(key)
                return
            # Commands for a Queue that does not exist are dropped, as Volcano does.
            await self._delete_commands(commands)
            return
        if meta.is_terminating(queue):
            await self._delete_commands(commands)
            return

        podgroups = self.podgroups.store.by_index(BY_QUEUE, key)
        status = queue.get("status") or {}
        current = str(status.get("state") or "")
        asked = apply_actions(current or QueueState.OPEN, [str(c.get("action") or "")
                                                           for c in commands])
        state = next_state(asked, bool(podgroups))
        wanted = {"state": str(state), **count_podgroups(podgroups)}
        if any(status.get(field, 0 if field != "state" else "") != value
               for field, value in wanted.items()):
            # The resourceVersion makes the patch fail on a Queue changed since it was
            # read, so a state decided from a stale cache is never written.
            rv = (queue.get("metadata") or {}).get("resourceVersion")
            patch = {"metadata": {"resourceVersion": rv}, "status": wanted}
            updated = await self.client.patch(QUEUES, key, patch, subresource="status")
            if state != current and commands:
                self._record_transition(updated, commands[-1])
        await self._delete_commands(commands)

    def _record_transition(self, queue: dict[str, Any], command: dict[str, Any]) -> None:
        action = str(command.get("action") or "")
        if action == QueueAction.OPEN:
            self.recorder.event(queue, "Normal", action, "Open queue succeed")
        elif action == QueueAction.CLOSE:
            self.recorder.event(queue, "Normal", action, "Close queue succeed")

    async def _create_default(self, name: str) -> None:
        await create_default_queue(self.client, name)

    async def _delete_commands(self, commands: list[dict[str, Any]]) -> None:
        for cmd in commands:
            try:
                await self.client.delete(COMMANDS, meta.name_of(cmd), meta.namespace_of(cmd))
            except APIError as exc:
                if not exc.is_not_found:
                    raise


def _command_targets(cmd: dict[str, Any]) -> list[str]:
    name = queue_command_target(cmd)
    return [name] if name else []


def _ensure_index(informer: Any, name: str, fn: Any) -> None:
    """Add an index to a shared informer once (a successor term finds it there)."""
    try:
        informer.store.add_index(name, fn)
    except ValueError:
        pass
