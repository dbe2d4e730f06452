"""Volcano's admission webhooks, inside the API server (specs/volcano.md §1).

Owns the checks of Volcano's validating webhooks and admission policies that need
other objects: a Job or PodGroup goes only to a Queue that exists and is Open (a Job
also only to a leaf queue, never `root`); a Queue's parent must exist within the
depth limit and its resources fit its ancestors'; `root` keeps its resources;
`default` and `root`, and a queue with children, are never deleted. A PodGroup put
in the `default` queue goes to its namespace's queue (annotation
`scheduling.volcano.sh/queue-name`), as Volcano's PodGroup mutating webhook does.

The object-only rules and the create defaults are `api.volcano`'s; this module runs
them at admission, after schema validation and before storage, so a refused object is
never half-created. Writes to subresources (status) are not admitted here, as
Volcano's webhooks match only the main resources. Reads storage, never writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from kubeedge.api import errors, meta, volcano
from kubeedge.api.errors import Cause
from kubeedge.api.registry import Registry, ResourceType
from kubeedge.api.validation import forbidden, invalid
from kubeedge.apiserver.objects import ObjectStore
from kubeedge.apiserver.request import RequestInfo

Obj = dict[str, Any]

BATCH = volcano.BATCH_GROUP
SCHEDULING = volcano.SCHEDULING_GROUP
JOBS = (BATCH, "v1alpha1", "jobs")
PODGROUPS = (SCHEDULING, "v1beta1", "podgroups")
QUEUES = (SCHEDULING, "v1beta1", "queues")
NAMESPACE_QUEUE = "scheduling.volcano.sh/queue-name"
# Volcano's webhook manager defaults (--max-queue-depth 5,
# --enable-root-queue-protection true, --enable-queue-allocated-pods-check false).
MAX_QUEUE_DEPTH = 5


def _spec(obj: Obj | None) -> Obj:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _parent(queue: Obj) -> str:
    return str(_spec(queue).get("parent") or "")


def _guarantee(queue: Obj) -> Obj:
    guarantee = _spec(queue).get("guarantee")
    return (guarantee.get("resource") or {}) if isinstance(guarantee, dict) else {}


def _not_found(name: str) -> str:
    # The wording of Volcano's queue lister, which names the resource in the singular.
    return f'queue.scheduling.volcano.sh "{name}" not found'


def _text(resources: dict[str, Fraction]) -> str:
    return ", ".join(f"{name} {float(value):.2f}" for name, value in sorted(resources.items()))


def _exceeds(limit: dict[str, Fraction], total: dict[str, Fraction]) -> bool:
    """Volcano's LessPartly: any dimension of `total` above `limit` (unset = 0)."""
    return any(amount > limit.get(name, Fraction(0)) for name, amount in total.items())


class VolcanoAdmission:
    """`namespaces`, when given, is the server's namespace cache, read before storage."""

    def __init__(self, objects: ObjectStore, registry: Registry,
                 namespaces: Mapping[str, Obj] | None = None) -> None:
        self.objects = objects
        self.registry = registry
        self.namespaces = namespaces

    async def admit(self, info: RequestInfo, new: Obj | None, old: Obj | None) -> None:
        """Refuse (StatusError) a write Volcano's webhooks refuse; `new` is None for a
        delete, `old` None for a create."""
        if info.subresource:
            return
        target = (info.group, info.version, info.resource)
        if target == JOBS and new is not None:
            await self._job(new, old)
        elif target == PODGROUPS and new is not None and old is None:
            await self._podgroup(new)
        elif target == QUEUES:
            if new is None:
                if old is not None:
                    await self._queue_delete(old)
            else:
                await self._queue(new, old)

    # -- lookups ----------------------------------------------------------------------

    def _queue_type(self) -> ResourceType | None:
        return self.registry.lookup(*QUEUES)

    async def _get_queue(self, name: str) -> Obj | None:
        rt = self._queue_type()
        return await self.objects.find(rt, "", name) if rt is not None and name else None

    async def _queues(self) -> list[Obj]:
        rt = self._queue_type()
        return (await self.objects.list(rt, None)).items if rt is not None else []

    async def _children(self, name: str) -> list[Obj]:
        return [q for q in await self._queues() if _parent(q) == name]

    # -- jobs -------------------------------------------------------------------------

    async def _job(self, job: Obj, old: Obj | None) -> None:
        causes = volcano.validate_job(job, old)
        if old is None:
            causes += await self._job_queue(str(_spec(job).get("queue") or ""))
        if causes:
            raise errors.invalid(f"Job.{BATCH}", meta.name_of(job), causes, BATCH)

    async def _job_queue(self, name: str) -> list[Cause]:
        queue = await self._get_queue(name)
        if queue is None:
            return [invalid("spec.queue", name, f"unable to find job queue: {_not_found(name)}")]
        causes = self._open(queue, name, "job")
        if name == volcano.ROOT_QUEUE:
            causes.append(invalid("spec.queue", name, "can not submit job to root queue"))
        else:
            children = await self._children(name)
            if children:
                causes.append(invalid("spec.queue", name,
                                      f"can only submit job to leaf queue, queue `{name}` has "
                                      f"{len(children)} child queues"))
        return causes

    @staticmethod
    def _open(queue: Obj, name: str, what: str) -> list[Cause]:
        # An unset state is Open: the queue controller has not written it yet and reads
        # it as Open itself (controllers/queue.py, specs/volcano.md §1.2).
        state = str((queue.get("status") or {}).get("state") or "")
        if state in ("", "Open"):
            return []
        return [invalid("spec.queue", name,
                        f"can only submit {what} to queue with state `Open`, queue `{name}` "
                        f"status is `{state}`")]

    # -- podgroups --------------------------------------------------------------------

    async def _podgroup(self, podgroup: Obj) -> None:
        spec = podgroup.setdefault("spec", {})
        if spec.get("queue") == volcano.DEFAULT_QUEUE:
            namespace = await self._namespace(meta.namespace_of(podgroup))
            annotations = ((namespace or {}).get("metadata") or {}).get("annotations") or {}
            if annotations.get(NAMESPACE_QUEUE):
                spec["queue"] = str(annotations[NAMESPACE_QUEUE])
        causes = volcano.validate_podgroup(podgroup)
        name = str(spec.get("queue") or "")
        if name:
            queue = await self._get_queue(name)
            if queue is None:
                causes.append(invalid("spec.queue", name,
                                      f"unable to find queue: {_not_found(name)}"))
            else:
                causes += self._open(queue, name, "PodGroup")
        if causes:
            raise errors.invalid(f"PodGroup.{SCHEDULING}", meta.name_of(podgroup), causes,
                                 SCHEDULING)

    async def _namespace(self, name: str) -> Obj | None:
        cached = self.namespaces.get(name) if self.namespaces is not None else None
        if cached is not None:
            return cached
        rt = self.registry.lookup("", "v1", "namespaces")
        return await self.objects.find(rt, "", name) if rt is not None and name else None

    # -- queues -----------------------------------------------------------------------

    async def _queue(self, queue: Obj, old: Obj | None) -> None:
        name = meta.name_of(queue)
        causes = volcano.validate_queue(queue)
        if not causes and (old is None or _parent(old) != _parent(queue)):
            causes += await self._parent_causes(queue)
        if not causes and old is not None and name == volcano.ROOT_QUEUE:
            for field, read in (("capability", lambda q: _spec(q).get("capability")),
                                ("deserved", lambda q: _spec(q).get("deserved")),
                                ("guarantee", _guarantee)):
                if volcano.quantity_map(read(queue)) != volcano.quantity_map(read(old)):
                    causes.append(forbidden(
                        f"spec.{field}", "root queue's resource attributes (capability, "
                        "deserved, guarantee) cannot be modified"))
                    break
        if not causes and name != volcano.ROOT_QUEUE and (
                old is None or _resources_changed(queue, old)):
            causes += await self._tree_causes(queue)
        if not causes:
            causes += await self._hierarchy_causes(queue)
        if causes:
            raise errors.invalid(f"Queue.{SCHEDULING}", name, causes, SCHEDULING)

    async def _parent_causes(self, queue: Obj) -> list[Cause]:
        name, parent = meta.name_of(queue), _parent(queue)
        if parent in ("", volcano.ROOT_QUEUE):
            return []
        if parent == name:
            return [invalid("spec.parent", parent, f"queue {name} cannot use itself as parent")]
        depth, above = 1, parent
        while above not in ("", volcano.ROOT_QUEUE):
            depth += 1
            if depth > MAX_QUEUE_DEPTH:
                return [invalid("spec.parent", parent,
                                f"queue {name} exceeds the maximum allowed depth of "
                                f"{MAX_QUEUE_DEPTH}")]
            found = await self._get_queue(above)
            if found is None:
                return [invalid("spec.parent", parent,
                                f"failed to get parent queue {above} of queue {name}: "
                                f"{_not_found(above)}")]
            above = _parent(found)
        parent_queue = await self._get_queue(parent)
        if parent_queue is not None and not await self._children(parent):
            # A leaf with running pods cannot become a parent: its pods would be stranded.
            allocated = volcano.quantity_map(
                (parent_queue.get("status") or {}).get("allocated")).get("pods", Fraction(0))
            if allocated:
                return [invalid("spec.parent", parent,
                                f"queue {parent} cannot be the parent queue of queue {name} "
                                f"because it has allocated Pods: {int(allocated)}")]
        return []

    async def _tree_causes(self, queue: Obj) -> list[Cause]:
        """A child's capability within its nearest ancestor's, and siblings' guarantee
        and deserved within their parent's."""
        name, parent = meta.name_of(queue), _parent(queue)
        if parent in ("", volcano.ROOT_QUEUE):
            return []
        parent_queue = await self._get_queue(parent)
        if parent_queue is None:
            return [invalid("spec.parent", parent,
                            f"parent queue {parent} not found: {_not_found(parent)}")]
        capability = volcano.quantity_map(_spec(queue).get("capability"))
        for resource, amount in sorted(capability.items()):
            limit = await self._ancestor_capability(parent_queue, resource)
            if limit is not None and amount > limit:
                return [invalid(f"spec.capability[{resource}]",
                                str(_spec(queue)["capability"][resource]),
                                f"queue {name} capability[{resource}]={amount} exceeds its "
                                f"ancestor's capability={limit}")]
        siblings = [q for q in await self._children(parent) if meta.name_of(q) != name]
        for field, read in (("guarantee", _guarantee),
                            ("deserved", lambda q: _spec(q).get("deserved"))):
            limit = volcano.quantity_map(read(parent_queue))
            total: dict[str, Fraction] = {}
            for member in [*siblings, queue]:
                for resource, amount in volcano.quantity_map(read(member)).items():
                    total[resource] = total.get(resource, Fraction(0)) + amount
                if _exceeds(limit, total):
                    path = "spec.guarantee.resource" if field == "guarantee" else "spec.deserved"
                    return [invalid(path, _text(volcano.quantity_map(read(queue))),
                                    f"parent queue {parent} validation failed: sum of "
                                    f"children's {field} ({_text(total)}) exceeds parent's "
                                    f"{field} limit ({_text(limit)})")]
        return []

    async def _ancestor_capability(self, ancestor: Obj | None, resource: str) -> Fraction | None:
        seen: set[str] = set()
        while ancestor is not None and meta.name_of(ancestor) not in seen:
            seen.add(meta.name_of(ancestor))
            amount = volcano.quantity_map(_spec(ancestor).get("capability")).get(resource)
            if amount:
                return amount
            above = _parent(ancestor)
            if above in ("", volcano.ROOT_QUEUE):
                return None
            ancestor = await self._get_queue(above)
        return None

    async def _hierarchy_causes(self, queue: Obj) -> list[Cause]:
        """The `volcano.sh/hierarchy` path of a queue may not be a prefix of another's."""
        annotations = (queue.get("metadata") or {}).get("annotations") or {}
        hierarchy = str(annotations.get(volcano.HIERARCHY) or "")
        if not hierarchy:
            return []
        name = meta.name_of(queue)
        for other in await self._queues():
            theirs = str(((other.get("metadata") or {}).get("annotations") or {}).get(
                volcano.HIERARCHY) or "")
            if meta.name_of(other) != name and theirs.startswith(hierarchy + "/"):
                return [invalid("metadata.annotations", hierarchy,
                                f"{hierarchy} is not allowed to be in the sub path of "
                                f"{theirs} of queue {meta.name_of(other)}")]
        return []

    async def _queue_delete(self, queue: Obj) -> None:
        name = meta.name_of(queue)
        if name in (volcano.DEFAULT_QUEUE, volcano.ROOT_QUEUE):
            raise _forbidden_delete(name, f"`{name}` queue can not be deleted")
        children = sorted(meta.name_of(q) for q in await self._children(name))
        if children:
            raise _forbidden_delete(name, f"queue {name} can not be deleted because it has "
                                          f"{len(children)} child queues: {', '.join(children)}")


def _resources_changed(queue: Obj, old: Obj) -> bool:
    return (_parent(queue) != _parent(old)
            or any(volcano.quantity_map(read(queue)) != volcano.quantity_map(read(old))
                   for read in (lambda q: _spec(q).get("capability"),
                                lambda q: _spec(q).get("deserved"), _guarantee)))


def _forbidden_delete(name: str, why: str) -> errors.StatusError:
    # kube's own admission refuses a delete this way (NamespaceLifecycle: namespaces
    # "default" is forbidden: this namespace may not be deleted).
    return errors.StatusError(
        403, "Forbidden", f'queues.{SCHEDULING} "{name}" is forbidden: {why}',
        {"name": name, "group": SCHEDULING, "kind": "queues"})
