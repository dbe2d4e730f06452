"""What the sync loop does about one (Cluster)ObjectSync (specs/kubeedge.md §3
"SyncController"): the decision only, from the sync, the version the node is known to
hold and the live object. No I/O: the controller reads the world into these arguments,
decides here, then acts (STYLE.md "Reconcile in two phases").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .objectsync import parse_resource_version

__all__ = ["Action", "Decision", "decide"]


class Action(enum.Enum):
    NOTHING = "nothing"  # the node holds the newest version
    UPDATE = "update"  # the live object is newer than what the node acknowledged
    DELETE = "delete"  # the object is gone, or replaced by another with the same name


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str


def decide(sync_uid: str, acknowledged: int, live: dict[str, Any] | None) -> Decision:
    """KubeEdge's reconcileObjectSync: a missing object or one whose uid differs from the
    sync's is deleted on the node; a live resourceVersion greater than the acknowledged
    one (compared as integers) is sent as an update; otherwise nothing.

    Raises ValueError when the live resourceVersion is not an integer.
    """
    if live is None:
        return Decision(Action.DELETE, "object no longer exists")
    metadata = live.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if uid != sync_uid:
        return Decision(Action.DELETE, f"object was recreated with uid {uid}")
    current = parse_resource_version(metadata.get("resourceVersion", ""))
    if current > acknowledged:
        return Decision(Action.UPDATE,
                        f"resourceVersion {current} is newer than acknowledged {acknowledged}")
    return Decision(Action.NOTHING, "node holds the newest version")
