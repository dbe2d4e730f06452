"""What workload controllers need to know about pods: whether one is active, ready or
available, how to build one from a template, and how to order pods for deletion
(kube's controller_utils, pod_util). Pure functions over plain dicts, no I/O.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from typing import Any

import orjson

from kubeedge.api import meta

Obj = dict[str, Any]

# kube's label for the pod template hash that keeps a Deployment's ReplicaSets apart.
POD_TEMPLATE_HASH = "pod-template-hash"


def phase_of(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminal(pod: Obj) -> bool:
    return phase_of(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not meta.is_terminating(pod)


def is_ready(pod: Obj) -> bool:
    cond = meta.condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def ready_since(pod: Obj) -> datetime | None:
    cond = meta.condition(pod, "Ready")
    if not cond or cond.get("status") != "True":
        return None
    return meta.parse_time(cond.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: float, now: datetime) -> bool:
    """Ready for at least `minReadySeconds` (kube's IsPodAvailable)."""
    if not is_ready(pod) or meta.is_terminating(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> Obj:
    md = owner.get("metadata") or {}
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(template: Obj, owner: Obj, *, name: str = "",
                      generate_name: str = "", extra_labels: dict[str, str] | None = None
                      ) -> Obj:
    """A pod for `owner` from its pod template (kube's GetPodFromTemplate): labels,
    annotations and finalizers of the template, the owner as controller."""
    tmpl_md = template.get("metadata") or {}
    labels = dict(tmpl_md.get("labels") or {})
    labels.update(extra_labels or {})
    md: Obj = {"labels": labels,
               "ownerReferences": [new_controller_ref(owner)]}
    if tmpl_md.get("annotations"):
        md["annotations"] = dict(tmpl_md["annotations"])
    if tmpl_md.get("finalizers"):
        md["finalizers"] = list(tmpl_md["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or f"{meta.name_of(owner)}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable short hash of a pod template (the `pod-template-hash` label, and
    ControllerRevision names). kube hashes with fnv32a over its Go dump; we hash the
    canonical JSON: the value differs from kube's, the role is the same."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    digest = hashlib.sha256(data).digest()
    # kube renders its hash with SafeEncodeString: digits and consonants only.
    alphabet = meta.NAME_SUFFIX_ALPHABET
    value = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(10):
        value, rem = divmod(value, len(alphabet))
        out.append(alphabet[rem])
    return "".join(out)


def deletion_rank(pod: Obj, pods_on_node: dict[str, int] | None = None
                  ) -> tuple[Any, ...]:
    """Sort key: pods earlier in the order are deleted first on scale-down (kube's
    ActivePodsWithRanks): unassigned < assigned; Pending < Unknown < Running; not ready
    < ready; more pods of the set on the same node first; ready for less time first;
    more restarts first; newer first."""
    node = (pod.get("spec") or {}).get("nodeName") or ""
    phase_order = {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase_of(pod), 3)
    ready = is_ready(pod)
    since = ready_since(pod)
    restarts = sum(int(s.get("restartCount") or 0)
                   for s in (pod.get("status") or {}).get("containerStatuses") or [])
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    colocated = (pods_on_node or {}).get(node, 0) if node else 0
    return (
        1 if node else 0,
        phase_order,
        1 if ready else 0,
        -colocated,
        # Ready more recently (later timestamp) goes first: invert by sorting on the
        # negated epoch.
        -(since.timestamp() if since else 0.0) if ready else 0.0,
        -restarts,
        _invert(created),
    )


def _invert(text: str) -> tuple[int, ...]:
    """Descending order of an RFC 3339 string inside an ascending sort."""
    return tuple(-ord(c) for c in text)
