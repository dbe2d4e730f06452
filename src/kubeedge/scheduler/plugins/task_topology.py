"""The `task-topology` plugin (specs/volcano.md §4, Volcano's
pkg/scheduler/plugins/task-topology): keep a job's roles that talk to each other on
the same node and the ones that must not share a node apart.

Input is the PodGroup's annotations (the training operator copies a job's annotations
onto its PodGroup): `volcano.sh/task-topology-affinity: "ps,worker;ps,evaluator"`
(groups split by `;`, roles by `,`; a one-role group is self-affinity),
`volcano.sh/task-topology-anti-affinity: "ps;worker,chief"` (a one-role group keeps
that role's pods apart) and `volcano.sh/task-topology-task-order: "ps,worker"`. A pod's
role is its `volcano.sh/task-spec` annotation, else label. Every role named must be a
role of the job and appear once per group, else the job's topology is ignored. Argument
`task-topology.weight` (1).

At session open, each job with pending pods and a topology has its pods dealt into
buckets (one bucket = what should share a node): pods already on a node form a bucket
per node; the others, in role order (task-order, then the strongest kind of rule the
role has: self-anti-affinity, inter-affinity, self-affinity, inter-anti-affinity), go to
the bucket with the best affinity count (+1 per pod it has affinity with, -1 per pod it
has anti-affinity with), ties to the lighter bucket, or to a new bucket when the best
count is negative or there is none. TaskOrder: pods in a bucket first, then the bucket
with more pods left to place, then the older bucket, then role order. NodeOrder: the
bucket's pods already on the node, minus the job's pods on the node the pod has
anti-affinity with, plus the bucket's pods left to place, less one for each of those
that would not fit beside it; times weight * 100 / the largest bucket; 0 for a node
the pod does not fit on.

Unlike Volcano, a placement a Statement discards is taken back out of the buckets
(Volcano keeps counting it for the rest of the session). Never does I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.framework.session import CycleState, Session
from kubeedge.scheduler.plugins.arguments import Arguments

__all__ = [
    "AFFINITY_ANNOTATION",
    "ANTI_AFFINITY_ANNOTATION",
    "TASK_ORDER_ANNOTATION",
    "TASK_SPEC",
    "JobTopology",
    "TaskTopologyPlugin",
    "read_topology",
    "task_role",
]

log = logging.getLogger(__name__)

NAME = "task-topology"
MAX_NODE_SCORE = 100
TASK_SPEC = "volcano.sh/task-spec"
AFFINITY_ANNOTATION = "volcano.sh/task-topology-affinity"
ANTI_AFFINITY_ANNOTATION = "volcano.sh/task-topology-anti-affinity"
TASK_ORDER_ANNOTATION = "volcano.sh/task-topology-task-order"

# How strongly a role's rules pull it forward when buckets are dealt (Volcano's
# affinityPriority): pods whose role keeps itself apart seed the buckets first.
SELF_ANTI_AFFINITY = 4
INTER_AFFINITY = 3
SELF_AFFINITY = 2
INTER_ANTI_AFFINITY = 1


def task_role(task: TaskInfo) -> str:
    """The pod's role: its `volcano.sh/task-spec` annotation, else label."""
    md = task.pod.get("metadata") or {}
    role = (md.get("annotations") or {}).get(TASK_SPEC) or task.labels.get(TASK_SPEC)
    return str(role or "")


@dataclass(frozen=True, slots=True)
class Topology:
    affinity: tuple[tuple[str, ...], ...] = ()
    anti_affinity: tuple[tuple[str, ...], ...] = ()
    task_order: tuple[str, ...] = ()


def _groups(value: str) -> tuple[tuple[str, ...], ...]:
    # Volcano keeps names verbatim; spaces around them are forgiven here.
    return tuple(tuple(role.strip() for role in group.split(",")) for group in value.split(";"))


def _check(groups: Iterable[tuple[str, ...]], roles: set[str]) -> str:
    """Why the groups are invalid (a role the job lacks, or twice in a group), or ""."""
    for group in groups:
        seen: set[str] = set()
        for role in group:
            if not role:
                continue
            if role not in roles:
                return f"role {role!r} is not a role of the job"
            if role in seen:
                return f"role {role!r} appears twice in a group"
            seen.add(role)
    return ""


def read_topology(job: JobInfo) -> Topology | None:
    """The job's topology from its PodGroup's annotations; None when it names none or
    names it wrongly (then the job is placed as if it had none, as in Volcano)."""
    annotations = (job.podgroup.get("metadata") or {}).get("annotations") or {}
    affinity = annotations.get(AFFINITY_ANNOTATION)
    anti = annotations.get(ANTI_AFFINITY_ANNOTATION)
    order = annotations.get(TASK_ORDER_ANNOTATION)
    if affinity is None and anti is None and order is None:
        return None
    roles = {task_role(task) for task in job.tasks.values()}
    topology = Topology(
        affinity=_groups(str(affinity)) if affinity is not None else (),
        anti_affinity=_groups(str(anti)) if anti is not None else (),
        task_order=tuple(r.strip() for r in str(order).split(",")) if order is not None
        else (),
    )
    for what, groups in (("affinity", topology.affinity),
                         ("anti-affinity", topology.anti_affinity),
                         ("task order", (topology.task_order,))):
        reason = _check(groups, roles)
        if reason:
            log.debug("task-topology: job %s: %s %s; ignoring its topology", job.key,
                      what, reason)
            return None
    return topology


def _score(request: Resource) -> float:
    """Volcano's bucket weight: millicores + MiB + every other resource in milli-units
    (how Volcano stores scalars)."""
    return (request.milli_cpu + request.memory / (1024 * 1024)
            + sum(1000 * amount for amount in request.scalars.values()))


def _fits(request: Resource, available: Resource) -> bool:
    """Every dimension `request` asks for fits in `available` (pod count aside, as
    Volcano's Resource.LessEqual)."""
    if request.milli_cpu > available.milli_cpu or request.memory > available.memory:
        return False
    return all(amount <= available.scalars.get(name, 0)
               for name, amount in request.scalars.items() if amount > 0)


@dataclass(eq=False)
class Bucket:
    """Pods that should share a node: the ones still to place (`pending`), and per
    node how many are already there."""

    index: int
    pending: dict[str, TaskInfo] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    request: Resource = field(default_factory=Resource)
    weight: float = 0.0
    placed: int = 0
    nodes: dict[str, int] = field(default_factory=dict)

    def add(self, role: str, task: TaskInfo) -> None:
        self.roles[role] = self.roles.get(role, 0) + 1
        if task.node_name:
            self.nodes[task.node_name] = self.nodes.get(task.node_name, 0) + 1
            self.placed += 1
            return
        self.pending[task.key] = task
        self.request.add(task.resreq)
        self.weight += _score(task.resreq)

    def place(self, task: TaskInfo, node_name: str) -> None:
        self.nodes[node_name] = self.nodes.get(node_name, 0) + 1
        self.placed += 1
        if self.pending.pop(task.key, None) is not None:
            self.request.sub(task.resreq)
            self.weight -= _score(task.resreq)

    def unplace(self, task: TaskInfo, node_name: str) -> None:
        left = self.nodes.get(node_name, 0) - 1
        if left > 0:
            self.nodes[node_name] = left
        else:
            self.nodes.pop(node_name, None)
        self.placed -= 1
        self.pending[task.key] = task
        self.request.add(task.resreq)
        self.weight += _score(task.resreq)


class JobTopology:
    """One job's roles, rules and buckets (Volcano's JobManager)."""

    def __init__(self, job: JobInfo, topology: Topology) -> None:
        self.job = job
        self.buckets: list[Bucket] = []
        self.bucket_of: dict[str, Bucket] = {}
        self.role_of: dict[str, str] = {}
        self.priority: dict[str, int] = {}
        self.order: dict[str, int] = {}
        self.inter_affinity: dict[str, set[str]] = {}
        self.self_affinity: set[str] = set()
        self.inter_anti: dict[str, set[str]] = {}
        self.self_anti: set[str] = set()
        self.max_bucket_size = 0
        # The job's pods placed this session, per node and role.
        self.node_roles: dict[str, dict[str, int]] = {}
        self._apply(topology)
        self._deal(job.tasks.values())

    def _mark(self, role: str, priority: int) -> None:
        self.priority[role] = max(self.priority.get(role, 0), priority)

    def _apply(self, topology: Topology) -> None:
        for rules, pairs, single, inter, alone in (
                (topology.affinity, self.inter_affinity, self.self_affinity,
                 INTER_AFFINITY, SELF_AFFINITY),
                (topology.anti_affinity, self.inter_anti, self.self_anti,
                 INTER_ANTI_AFFINITY, SELF_ANTI_AFFINITY)):
            for group in rules:
                if len(group) == 1:
                    single.add(group[0])
                    self._mark(group[0], alone)
                    continue
                for i, role in enumerate(group):
                    for other in group[:i]:
                        pairs.setdefault(role, set()).add(other)
                        pairs.setdefault(other, set()).add(role)
                    self._mark(role, inter)
        for i, role in enumerate(topology.task_order):
            self.order[role] = len(topology.task_order) - i

    def role_rank(self, left: str, right: str) -> int:
        """> 0 when role `left` goes before `right` (task-order, then the strength of
        its rules); 0 when neither says."""
        if left == right:
            return 0
        for ranks in (self.order, self.priority):
            a, b = ranks.get(left, 0), ranks.get(right, 0)
            if a != b:
                return 1 if a > b else -1
        return 0

    def affinity(self, role: str, roles: Mapping[str, int], only_anti: bool = False) -> int:
        """+count for each pod in `roles` the role has affinity with, -count for each
        it has anti-affinity with (Volcano's checkTaskSetAffinity)."""
        total = 0
        if not role:
            return total
        for other, count in roles.items():
            same = other == role
            if not only_anti and (role in self.self_affinity if same
                                  else other in self.inter_affinity.get(role, ())):
                total += count
            if role in self.self_anti if same else other in self.inter_anti.get(role, ()):
                total -= count
        return total

    def _deal(self, tasks: Iterable[TaskInfo]) -> None:
        members = []
        for task in tasks:
            role = task_role(task)
            if role and role in self.priority:
                self.role_of[task.key] = role
                members.append(task)
        # Pods on nodes first (by node name), then by role rank, then by name.
        on_nodes = sorted((t for t in members if t.node_name), key=lambda t: t.node_name)
        pending = [t for t in members if not t.node_name]
        pending.sort(key=lambda t: t.name)
        pending.sort(key=lambda t: (-self.order.get(self.role_of[t.key], 0),
                                    -self.priority.get(self.role_of[t.key], 0)))
        node_bucket: dict[str, Bucket] = {}
        for task in on_nodes:
            bucket = node_bucket.get(task.node_name)
            if bucket is None:
                bucket = node_bucket[task.node_name] = self._new_bucket()
            self._add(bucket, task)
        for task in pending:
            role = self.role_of[task.key]
            best: Bucket | None = None
            best_affinity = 0
            for bucket in self.buckets:
                score = self.affinity(role, bucket.roles)
                if best is None or score > best_affinity or (
                        score == best_affinity and bucket.weight < best.weight):
                    best, best_affinity = bucket, score
            if best is None or best_affinity < 0:
                best = self._new_bucket()
            self._add(best, task)

    def _new_bucket(self) -> Bucket:
        bucket = Bucket(len(self.buckets))
        self.buckets.append(bucket)
        return bucket

    def _add(self, bucket: Bucket, task: TaskInfo) -> None:
        self.bucket_of[task.key] = bucket
        bucket.add(self.role_of[task.key], task)
        self.max_bucket_size = max(self.max_bucket_size, len(bucket.pending) + bucket.placed)

    def placed(self, task: TaskInfo, node_name: str) -> None:
        role = task_role(task)
        if role:
            roles = self.node_roles.setdefault(node_name, {})
            roles[role] = roles.get(role, 0) + 1
        bucket = self.bucket_of.get(task.key)
        if bucket is not None:
            bucket.place(task, node_name)

    def unplaced(self, task: TaskInfo, node_name: str) -> None:
        role = task_role(task)
        roles = self.node_roles.get(node_name)
        if role and roles is not None:
            left = roles.get(role, 0) - 1
            if left > 0:
                roles[role] = left
            else:
                roles.pop(role, None)
        bucket = self.bucket_of.get(task.key)
        if bucket is not None:
            bucket.unplace(task, node_name)

    def bucket_score(self, task: TaskInfo, node: NodeInfo) -> int:
        """Volcano's calcBucketScore, before weighting."""
        available = node.allocatable.copy()
        available.sub(node.requested)
        for other in node.tasks.values():
            if other.status == TaskStatus.RELEASING:
                available.add(other.resreq)
        if not _fits(task.resreq, available):
            return 0
        bucket = self.bucket_of.get(task.key)
        if bucket is None:
            return 0
        score = bucket.nodes.get(node.name, 0)
        roles = self.node_roles.get(node.name)
        if roles:
            score += min(self.affinity(task_role(task), roles, only_anti=True), 0)
        score += len(bucket.pending)
        if _fits(bucket.request, available):
            return score
        # The bucket will not all fit here: one point less per other pod of it that
        # would have to go elsewhere.
        remains = bucket.request.copy()
        for key, other in bucket.pending.items():
            if key == task.key:
                continue
            remains.sub(other.resreq)
            score -= 1
            if _fits(remains, available):
                break
        return score


class TaskTopologyPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.weight = Arguments(arguments).get_float("task-topology.weight", 1)
        self.jobs: dict[str, JobTopology] = {}
        self._ssn: JobSession | None = None
        # Where this session placed each task, so a discarded placement is taken back
        # from the node it was counted on (the task has forgotten it by then).
        self._placed_on: dict[str, str] = {}

    def on_session_open(self, ssn: Session) -> None:
        if not isinstance(ssn, JobSession):
            return  # needs jobs: the Volcano session only
        self._ssn = ssn
        for job in ssn.jobs.values():
            if not any(t.status == TaskStatus.PENDING for t in job.tasks.values()):
                continue
            topology = read_topology(job)
            if topology is not None:
                self.jobs[job.uid] = JobTopology(job, topology)
        if not self.jobs:
            return
        ssn.add_task_order_fn(NAME, self.task_order)
        ssn.add_node_order_fn(NAME, self.node_order)
        ssn.add_event_handler(allocate=self.on_allocate, deallocate=self.on_deallocate)

    def _job(self, task: TaskInfo) -> JobTopology | None:
        assert self._ssn is not None
        job = self._ssn.job_of_task.get(task.key)
        return None if job is None else self.jobs.get(job.uid)

    def task_order(self, left: object, right: object) -> int:
        assert isinstance(left, TaskInfo) and isinstance(right, TaskInfo)
        left_job, right_job = self._job(left), self._job(right)
        if left_job is None or right_job is None:
            return 0
        left_bucket = left_job.bucket_of.get(left.key)
        right_bucket = right_job.bucket_of.get(right.key)
        if (left_bucket is None) != (right_bucket is None):
            return -1 if left_bucket is not None else 1
        if left_job is not right_job or left_bucket is None or right_bucket is None:
            return 0
        if len(left_bucket.pending) != len(right_bucket.pending):
            return -1 if len(left_bucket.pending) > len(right_bucket.pending) else 1
        if left_bucket is right_bucket:
            return -left_job.role_rank(left_job.role_of[left.key],
                                       right_job.role_of[right.key])
        return -1 if left_bucket.index < right_bucket.index else 1

    def node_order(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> float:
        job = self._job(task)
        if job is None:
            return 0.0
        score = job.bucket_score(task, node) * self.weight
        if job.max_bucket_size:
            score = score * MAX_NODE_SCORE / job.max_bucket_size
        return score

    def on_allocate(self, task: TaskInfo) -> None:
        job = self._job(task)
        if job is None or not task.node_name:
            return
        self._placed_on[task.key] = task.node_name
        job.placed(task, task.node_name)

    def on_deallocate(self, task: TaskInfo) -> None:
        job = self._job(task)
        node_name = self._placed_on.pop(task.key, "")
        if job is not None and node_name:
            job.unplaced(task, node_name)
