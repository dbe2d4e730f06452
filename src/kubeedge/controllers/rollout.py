"""The arithmetic of Deployment rollouts (kube's deployment/util): how many pods a
rolling update may add or take away, how a scale spreads over ReplicaSets in
proportion, which ReplicaSet is the new one, and the revision bookkeeping kept in
annotations. Pure functions over plain dicts and ints; no I/O, no clock.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubeedge.controllers.pods import POD_TEMPLATE_HASH

Obj = dict[str, Any]

# Annotations the Deployment controller keeps on ReplicaSets and Deployments (kube's
# deployment/util names).
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Deployment annotations never copied to its ReplicaSets.
SKIPPED_ANNOTATIONS = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
# kube's limit on the revision-history annotation.
MAX_REVISION_HISTORY_CHARS = 2000
# progressDeadlineSeconds of MaxInt32 means "no deadline".
NO_DEADLINE = 2**31 - 1


class InvalidValue(ValueError):
    """An IntOrString the API should have refused (e.g. `"abc"` for maxSurge)."""


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString as a count: an int as is, `"25%"` of `total` rounded up or down
    (apimachinery's GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise InvalidValue(f"invalid value {value!r}: must be an integer or percentage")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            raise InvalidValue(f"invalid value for IntOrString: invalid value {text!r}") from None
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(text)
    except ValueError:
        raise InvalidValue(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}"
        ) from None


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas: surge rounds up, unavailable down;
    if both come out 0, one pod may be unavailable so the rollout can move."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


# -- deployment spec reads ---------------------------------------------------------


def spec_replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def is_rolling_update(deploy: Obj) -> bool:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def _rolling(deploy: Obj) -> Obj:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    return strategy.get("rollingUpdate") or {}


def max_surge(deploy: Obj) -> int:
    """Pods allowed above `spec.replicas` (0 for Recreate)."""
    if not is_rolling_update(deploy):
        return 0
    rolling = _rolling(deploy)
    surge, _ = resolve_fenceposts(rolling.get("maxSurge", "25%"),
                                  rolling.get("maxUnavailable", "25%"), spec_replicas(deploy))
    return surge


def max_unavailable(deploy: Obj) -> int:
    """Pods allowed below `spec.replicas` during a rolling update, at most all of them."""
    replicas = spec_replicas(deploy)
    if not is_rolling_update(deploy) or replicas == 0:
        return 0
    rolling = _rolling(deploy)
    _, unavailable = resolve_fenceposts(rolling.get("maxSurge", "25%"),
                                        rolling.get("maxUnavailable", "25%"), replicas)
    return min(unavailable, replicas)


def progress_deadline(deploy: Obj) -> int | None:
    value = (deploy.get("spec") or {}).get("progressDeadlineSeconds")
    if value is None or int(value) == NO_DEADLINE:
        return None
    return int(value)


def revision_history_limit(deploy: Obj) -> int | None:
    value = (deploy.get("spec") or {}).get("revisionHistoryLimit")
    return None if value is None else int(value)


# -- rolling update steps ------------------------------------------------------------


def new_rs_target_rolling(replicas: int, surge: int, current_pods: int, new_rs_replicas: int
                          ) -> int:
    """What the new ReplicaSet may grow to: up to `replicas + surge` pods in all, and
    never past `replicas` (kube's NewRSNewReplicas). `current_pods` counts every pod
    the Deployment's ReplicaSets have or will have."""
    max_total = replicas + surge
    if current_pods >= max_total:
        return new_rs_replicas
    grow = min(max_total - current_pods, replicas - new_rs_replicas)
    return new_rs_replicas + max(grow, 0)


def old_scale_down_budget(all_pods: int, replicas: int, unavailable: int,
                          new_rs_replicas: int, new_rs_available: int) -> int:
    """How many old pods may go while keeping `replicas - unavailable` available,
    counting the new ReplicaSet's not-yet-available pods as lost (kube's
    reconcileOldReplicaSets `maxScaledDown`)."""
    min_available = replicas - unavailable
    new_unavailable = new_rs_replicas - new_rs_available
    return all_pods - min_available - new_unavailable


def available_scale_down_budget(available: int, replicas: int, unavailable: int) -> int:
    """How many available old pods may go (kube's
    scaleDownOldReplicaSetsForRollingUpdate): never below `replicas - unavailable`."""
    return max(available - (replicas - unavailable), 0)


@dataclass
class Sized:
    """One ReplicaSet as proportional scaling sees it."""

    name: str
    replicas: int
    created: str = ""
    max_replicas_annotation: int | None = None


def replica_set_fraction(rs: Sized, deploy_replicas: int, surge: int,
                         deploy_status_replicas: int) -> int:
    """How much `rs` should grow (or shrink) in proportion to the Deployment's new size:
    its share of the old `max-replicas` applied to the new maximum (kube's
    getReplicaSetFraction)."""
    if deploy_replicas == 0:
        return -rs.replicas
    deployment_max = deploy_replicas + surge
    annotated = rs.max_replicas_annotation
    if annotated is None:
        annotated = deploy_status_replicas
    if annotated == 0:
        return 0
    exact = rs.replicas * deployment_max / annotated
    # Go's math.Round: half away from zero.
    rounded = math.floor(exact + 0.5) if exact >= 0 else -math.floor(-exact + 0.5)
    return rounded - rs.replicas


def proportional_sizes(active: Sequence[Sized], deploy_replicas: int, surge: int,
                       deploy_status_replicas: int) -> tuple[dict[str, int], str]:
    """New sizes for the active ReplicaSets when a Deployment is scaled mid-rollout,
    each in proportion to its size (kube's DeploymentController.scale): the
    `(name → size, "up"|"down"|"")` of the operation."""
    total = sum(rs.replicas for rs in active)
    allowed = deploy_replicas + surge if deploy_replicas > 0 else 0
    to_add = allowed - total
    if to_add > 0:
        # Bigger first, newer first among equals (ReplicaSetsBySizeNewer).
        order = sorted(active, key=lambda r: (-r.replicas, _Desc(r.created), r.name))
        operation = "up"
    elif to_add < 0:
        # Bigger first, older first among equals (ReplicaSetsBySizeOlder).
        order = sorted(active, key=lambda r: (-r.replicas, r.created, r.name))
        operation = "down"
    else:
        return {rs.name: rs.replicas for rs in active}, ""
    sizes: dict[str, int] = {}
    added = 0
    for rs in order:
        proportion = 0
        if rs.replicas != 0 and to_add != added:
            fraction = replica_set_fraction(rs, deploy_replicas, surge, deploy_status_replicas)
            left = to_add - added
            proportion = min(fraction, left) if to_add > 0 else max(fraction, left)
        sizes[rs.name] = rs.replicas + proportion
        added += proportion
    if order:
        # What rounding left over goes to the biggest one.
        first = order[0].name
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes, operation


class _Desc:
    """Reverses the order of a string inside an ascending sort key."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _Desc) -> bool:
        return self.text > other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


# -- templates -------------------------------------------------------------------------


def normalized(value: Any) -> Any:
    """A copy without nulls, empty maps and empty lists: JSON's spelling of Go's zero
    values, so `{}` / `null` / absent compare equal as apimachinery's semantic
    equality mostly does."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = normalized(item)
            if item is None or item == {} or item == []:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def template_without_hash(template: Obj | None) -> Obj:
    tmpl = normalized(copy.deepcopy(template or {}))
    labels = (tmpl.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH, None)
        if not labels:
            tmpl["metadata"].pop("labels")
            if not tmpl["metadata"]:
                tmpl.pop("metadata")
    return tmpl


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Two pod templates are the same but for the `pod-template-hash` label (kube's
    EqualIgnoreHash)."""
    return template_without_hash(a) == template_without_hash(b)


# -- revisions ---------------------------------------------------------------------------


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def revision_of(obj: Obj) -> int:
    try:
        return int(annotations_of(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: Iterable[Obj]) -> int:
    return max((revision_of(rs) for rs in replica_sets), default=0)


def int_annotation(obj: Obj, key: str) -> int | None:
    value = annotations_of(obj).get(key)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(maximum)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    md = rs.setdefault("metadata", {})
    ann = md.get("annotations") or {}
    changed = replicas_annotations_need_update(rs, desired, maximum)
    ann[DESIRED_REPLICAS] = str(desired)
    ann[MAX_REPLICAS] = str(maximum)
    md["annotations"] = ann
    return changed


def copy_deployment_annotations(deploy: Obj, rs: Obj) -> bool:
    """Copy the Deployment's user annotations (change-cause among them) onto `rs`."""
    md = rs.setdefault("metadata", {})
    ann = md.get("annotations") or {}
    changed = False
    for key, value in annotations_of(deploy).items():
        if key in SKIPPED_ANNOTATIONS or ann.get(key) == value:
            continue
        ann[key] = value
        changed = True
    md["annotations"] = ann
    return changed


def set_new_replica_set_annotations(deploy: Obj, rs: Obj, new_revision: int, exists: bool,
                                    surge: int) -> bool:
    """Annotate the new ReplicaSet: copied Deployment annotations, the new revision
    (an older revision moves to `revision-history`), and for a fresh ReplicaSet the
    desired and max replicas (kube's SetNewReplicaSetAnnotations)."""
    changed = copy_deployment_annotations(deploy, rs)
    ann = rs["metadata"]["annotations"]
    old = ann.get(REVISION, "")
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return changed
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old:
            history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
            history.append(old)
            while history and len(",".join(history)) > MAX_REVISION_HISTORY_CHARS:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history)
    if not exists:
        replicas = spec_replicas(deploy)
        if set_replicas_annotations(rs, replicas, replicas + surge):
            changed = True
    return changed
