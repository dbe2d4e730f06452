"""Turning an HTTP request into Kubernetes request attributes and typed query options.

Path parsing follows kube-apiserver's RequestInfoFactory: `/api/v1/...` and
`/apis/<group>/<version>/...`, with `namespaces/<ns>/` in front of namespaced
resources, except the namespace's own subresources `status` and `finalize`
(specs/k8s-api.md §3). Query parameters arrive with booleans as true/True/1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import MultiMapping

from kubeedge.api import errors

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass
class RequestInfo:
    path: str
    method: str
    is_resource_request: bool = False
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    verb: str = ""
    # Trailing path segments after the subresource (proxy paths); unused for now.
    extra: list[str] = field(default_factory=list)


def parse_path(method: str, path: str, query: MultiMapping[str]) -> RequestInfo:
    info = RequestInfo(path=path, method=method)
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        info.verb = method.lower()
        return info
    if parts[0] == "api":
        if len(parts) < 2:
            info.verb = method.lower()
            return info
        info.version = parts[1]
        rest = parts[2:]
    else:
        if len(parts) < 3:
            info.group = parts[1] if len(parts) > 1 else ""
            info.verb = method.lower()
            return info
        info.group, info.version = parts[1], parts[2]
        rest = parts[3:]
    if not rest:
        info.verb = method.lower()
        return info
    info.is_resource_request = True
    if rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            # The namespace object itself: /api/v1/namespaces/<name>[/status|/finalize].
            # kube keeps namespace == name here, so a RoleBinding in "foo" can grant
            # reading namespace "foo".
            info.resource = "namespaces"
            info.name = rest[1]
            info.subresource = rest[2] if len(rest) > 2 else ""
            info.verb = _verb(method, info, query)
            return info
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3:
        info.extra = rest[3:]
    info.verb = _verb(method, info, query)
    return info


def _verb(method: str, info: RequestInfo, query: MultiMapping[str]) -> str:
    if method == "GET" or method == "HEAD":
        if info.name:
            return "get"  # kube serves a named GET as a get, whatever ?watch says
        return "watch" if flag(query, "watch") else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if info.name else "deletecollection"
    return method.lower()


def flag(query: MultiMapping[str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1", "t", "yes", "y"):
        return True
    if lowered in ("false", "0", "f", "no", "n", ""):
        return False
    raise errors.bad_request(f'invalid value for {name}: "{value}" is not a boolean')


def integer(query: MultiMapping[str], name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'invalid value for {name}: "{value}" is not an integer') from None


def resource_version(value: str | None, what: str = "resourceVersion") -> int | None:
    """None for unset; 0 for "0"; a positive int otherwise; 400 for anything else."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(
            f'invalid {what}: "{value}" is not a valid resource version'
        ) from None
    if number < 0:
        raise errors.bad_request(f'invalid {what}: "{value}" is not a valid resource version')
    return number


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Strict"  # Strict | Warn | Ignore
    force: bool = False


def write_options(query: MultiMapping[str], content_type: str = "") -> WriteOptions:
    dry = query.getall("dryRun", [])
    for value in dry:
        if value != "All":
            raise errors.bad_request(f'invalid dry run value: "{value}" (only "All" is supported)')
    validation = query.get("fieldValidation", "")
    if validation == "":
        # kube-apiserver's default when a client does not say is Warn for typed
        # clients; kubectl always sends it explicitly.
        validation = "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f'fieldValidation "{validation}" is not a valid value: use Strict, Warn or Ignore'
        )
    manager = query.get("fieldManager", "")
    if len(manager) > 128:
        raise errors.bad_request("fieldManager: Too long: must have at most 128 bytes")
    return WriteOptions(
        dry_run=bool(dry), field_manager=manager, field_validation=validation,
        force=flag(query, "force"),
    )


def delete_options(query: MultiMapping[str], body: Any) -> dict[str, Any]:
    """DeleteOptions from the body (kubectl) merged with query parameters (Python client)."""
    options: dict[str, Any] = {}
    if isinstance(body, dict):
        options.update(body)
    elif body not in (None, b"", ""):
        raise errors.bad_request("DeleteOptions must be a JSON object")
    grace = integer(query, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    policy = query.get("propagationPolicy")
    if policy:
        options["propagationPolicy"] = policy
    orphan = query.get("orphanDependents")
    if orphan is not None:
        options["orphanDependents"] = orphan.lower() == "true"
    if options.get("orphanDependents") is not None:
        # The deprecated spelling of Orphan and Background; kube refuses both at once.
        if options.get("propagationPolicy"):
            raise errors.StatusError(
                422, "Invalid",
                "DeleteOptions.meta.k8s.io \"\" is invalid: [orphanDependents: Invalid "
                "value: true: OrphanDependents and DeletionPropagation cannot be both set]")
        options["propagationPolicy"] = ("Orphan" if options.pop("orphanDependents") is True
                                        else "Background")
    if query.getall("dryRun", []):
        options["dryRun"] = query.getall("dryRun")
    if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
        raise errors.bad_request(
            f'propagationPolicy "{options["propagationPolicy"]}" is not one of Orphan, '
            "Background, Foreground"
        )
    grace_value = options.get("gracePeriodSeconds")
    if grace_value is not None and (not isinstance(grace_value, int) or grace_value < 0):
        raise errors.bad_request("gracePeriodSeconds must be a non-negative integer")
    pre = options.get("preconditions")
    if pre is not None and not isinstance(pre, dict):
        raise errors.bad_request("preconditions must be an object")
    return options
