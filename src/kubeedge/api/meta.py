"""Object metadata helpers shared by every layer: times, names, uids, owner lookups.

Objects are plain dicts as they travel in JSON; these helpers read and write their
`metadata` the way kube-apiserver does (specs/k8s-api.md §3). Nothing here does I/O.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

# kube-apiserver's generateName alphabet: consonants and digits, so no words are spelt
# by accident (specs/k8s-api.md §3).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LENGTH = 5
MAX_GENERATE_NAME_PREFIX = 63 - NAME_SUFFIX_LENGTH


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Second-precision UTC time, as metav1.Time serialises."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """A metav1.Time (`Z` or a numeric offset, with or without fractions, as kopf and
    kubectl send them) as an aware datetime; None when unset or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    prefix = prefix[:MAX_GENERATE_NAME_PREFIX]
    suffix = "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(NAME_SUFFIX_LENGTH))
    return prefix + suffix


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def name_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or "")


def namespace_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "")


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def set_condition(
    obj: dict[str, Any], ctype: str, status: str, reason: str = "", message: str = ""
) -> bool:
    """Set a status condition; lastTransitionTime moves only when status changes.

    Returns True when anything changed.
    """
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    stamp = rfc3339(now())
    for cond in conditions:
        if cond.get("type") == ctype:
            changed = (cond.get("status"), cond.get("reason", ""), cond.get("message", "")) != (
                status,
                reason,
                message,
            )
            if cond.get("status") != status:
                cond["lastTransitionTime"] = stamp
            cond.update(status=status, reason=reason, message=message)
            return changed
    conditions.append(
        {"type": ctype, "status": status, "lastTransitionTime": stamp, "reason": reason,
         "message": message}
    )
    return True
