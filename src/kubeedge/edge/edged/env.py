"""A container's environment, as kubelet builds it (pkg/kubelet/kubelet_pods.go,
`makeEnvironmentVariables`), and the downward-API values it shares with volumes.

Owns: `envFrom` (configmaps and secrets, with prefix and optional), `env` values with
kubelet's `$(VAR)` expansion (third_party/forked/golang/expansion), `valueFrom`
configMapKeyRef / secretKeyRef / fieldRef / resourceFieldRef, and the error texts
kubelet puts in a container's `CreateContainerConfigError` waiting state.

Must never: read the edge database (objects come through `ObjectLookup`, which
MetaClient satisfies), import anything heavy (edgecore's footprint, ARCHITECTURE rule 9).
Not covered: Service links (`enableServiceLinks` env such as `FOO_SERVICE_HOST`), since
the edge has no Service informer; pod-level resources (alpha in 1.32).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any, Protocol

from kubeedge.api.defaults import parse_quantity

__all__ = [
    "ContainerConfigError",
    "ObjectLookup",
    "container_env",
    "container_resource_value",
    "expand",
    "expand_command",
    "field_path_value",
    "mapping_for",
    "secret_bytes",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
EventSink = Callable[[str, str], None]  # (reason, message) of a Warning event on the pod


class ObjectLookup(Protocol):
    """Where Edged gets the configmaps and secrets a pod references (MetaClient).

    None means the object does not exist; any exception means it could not be had now
    (offline and never cached) and is reported like kubelet reports a failed GET.
    """

    async def get_configmap(self, namespace: str, name: str) -> Obj | None: ...
    async def get_secret(self, namespace: str, name: str) -> Obj | None: ...


class ContainerConfigError(Exception):
    """The container cannot be configured; kubelet's waiting reason and its message."""

    reason = "CreateContainerConfigError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- expansion


def expand(text: str, mapping: Callable[[str], str]) -> str:
    """kubelet's `$(VAR)` expansion: `$(NAME)` becomes mapping(NAME), `$$` becomes `$`,
    an unterminated `$(` and any other `$x` stay as written (expansion.Expand)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            advance = 1
            if nxt == "$":
                out.append("$")
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                else:
                    out.append(mapping(text[cursor + 2:close]))
                    advance = close - cursor
            else:
                out.append("$" + nxt)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """The first context naming the variable wins; an unknown one stays `$(NAME)`
    (expansion.MappingFuncFor)."""

    def lookup(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"

    return lookup


def expand_command(args: Iterable[str], env: Iterable[tuple[str, str]]) -> list[str]:
    """A container's command or args expanded against its final environment, as kubelet
    does before handing them to the runtime (ExpandContainerCommandAndArgs)."""
    mapping = mapping_for(dict(env))
    return [expand(a, mapping) for a in args]


# ------------------------------------------------------------------- downward API values


def _format_map(values: Mapping[str, str]) -> str:
    """fieldpath.FormatMap: `key="value"` lines sorted by key (Go's %q quoting)."""
    lines = []
    for key in sorted(values):
        quoted = (str(values[key]).replace("\\", "\\\\").replace('"', '\\"')
                  .replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r"))
        lines.append(f'{key}="{quoted}"')
    return "\n".join(lines)


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _qualified_name_ok(key: str) -> bool:
    """validation.IsQualifiedName: an optional DNS-subdomain prefix and a name of at
    most 63 characters."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_PART.match(name))


def field_path_value(pod: Obj, field_path: str) -> str:
    """fieldpath.ExtractFieldPathAsString: the metadata fields a downward-API volume may
    show (and env falls back to). Raises ValueError with kubelet's text otherwise."""
    meta = pod.get("metadata") or {}
    if field_path.endswith("']") and "['" in field_path:
        path, _, subscript = field_path[:-2].partition("['")
        if path:
            if path not in ("metadata.annotations", "metadata.labels"):
                raise ValueError(f"fieldPath {field_path!r} does not support subscript")
            key = subscript.lower() if path.endswith("annotations") else subscript
            if not _qualified_name_ok(key):
                raise ValueError(f"invalid key subscript in {field_path}")
            return str((meta.get(path.split(".")[1]) or {}).get(subscript, ""))
    if field_path == "metadata.annotations":
        return _format_map(meta.get("annotations") or {})
    if field_path == "metadata.labels":
        return _format_map(meta.get("labels") or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(field_path.split(".")[1]) or "")
    raise ValueError(f"unsupported fieldPath: {field_path}")


def _ceil_int(q: Fraction) -> int:
    return math.ceil(q)


_LIMITED = ("cpu", "memory", "ephemeral-storage")


def container_resource_value(ref: Mapping[str, Any], container: Obj,
                             allocatable: Mapping[str, Any] | None = None) -> str:
    """resource.ExtractContainerResourceValue after kubelet's
    defaultPodLimitsForDownwardAPI: a missing limit is the node's allocatable; the value
    is divided by `divisor` (default 1) and rounded up (cpu in millis, memory and
    ephemeral-storage in bytes, as `MilliValue`/`Value` do)."""
    resource = str(ref.get("resource") or "")
    divisor_raw = ref.get("divisor")
    divisor = parse_quantity(divisor_raw) if divisor_raw not in (None, "", 0, "0") else None
    if divisor is None or divisor == 0:
        divisor = Fraction(1)
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in _LIMITED:
        raise ValueError(f"unsupported container resource : {resource}")
    resources = container.get("resources") or {}
    values = dict(resources.get(kind) or {})
    if kind == "limits" and name not in values and allocatable and name in allocatable:
        values[name] = allocatable[name]
    amount = parse_quantity(values.get(name, 0)) or Fraction(0)
    if name == "cpu":
        milli = _ceil_int(amount * 1000)
        div_milli = _ceil_int(divisor * 1000) or 1
        return str(math.ceil(Fraction(milli, div_milli)))
    whole = _ceil_int(amount)
    div_whole = _ceil_int(divisor) or 1
    return str(math.ceil(Fraction(whole, div_whole)))


def _env_field_value(pod: Obj, field_path: str, *, node_name: str, pod_ip: str,
                     pod_ips: list[str], host_ip: str, host_ips: list[str]) -> str:
    """kubelet's podFieldSelectorRuntimeValue: the node-side fields first, then the
    object's metadata."""
    spec = pod.get("spec") or {}
    if field_path == "spec.nodeName":
        return str(spec.get("nodeName") or node_name)
    if field_path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName") or "")
    if field_path == "status.hostIP":
        return host_ips[0] if host_ips else host_ip
    if field_path == "status.hostIPs":
        return ",".join(host_ips or ([host_ip] if host_ip else []))
    if field_path == "status.podIP":
        return pod_ip
    if field_path == "status.podIPs":
        return ",".join(pod_ips or ([pod_ip] if pod_ip else []))
    return field_path_value(pod, field_path)


# -------------------------------------------------------------------------- objects


def secret_bytes(secret: Obj, key: str) -> bytes | None:
    """A secret's value as bytes: `data` is base64 as the API serves it."""
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64decode(raw + "=" * (-len(raw) % 4))


def _bytes_text(value: bytes) -> str:
    # Go's string([]byte) keeps any byte; surrogateescape lets os.environ give them back.
    return value.decode("utf-8", errors="surrogateescape")


class _Objects:
    """Per-call cache of fetched configmaps and secrets (kubelet keeps the same maps for
    one makeEnvironmentVariables call)."""

    def __init__(self, lookup: ObjectLookup, namespace: str) -> None:
        self.lookup = lookup
        self.namespace = namespace
        self.cache: dict[tuple[str, str], Obj | None] = {}

    async def get(self, kind: str, name: str) -> Obj | None:
        key = (kind, name)
        if key not in self.cache:
            getter = self.lookup.get_configmap if kind == "configmap" else self.lookup.get_secret
            try:
                self.cache[key] = await getter(self.namespace, name)
            except Exception as e:  # offline and unknown, or a broken lookup
                raise ContainerConfigError(
                    f"couldn't get {kind} {self.namespace}/{name}: {e}") from e
        return self.cache[key]


def _relaxed_env_name_ok(name: str) -> bool:
    # RelaxedEnvironmentVariableValidation (on by default in 1.32): printable ASCII
    # other than '='.
    return bool(name) and all(32 <= ord(c) <= 126 and c != "=" for c in name)


def _optional(ref: Mapping[str, Any]) -> bool:
    return bool(ref.get("optional"))


async def container_env(pod: Obj, container: Obj, lookup: ObjectLookup, *, node_name: str,
                        pod_ip: str, host_ip: str, pod_ips: list[str] | None = None,
                        host_ips: list[str] | None = None,
                        allocatable: Mapping[str, Any] | None = None,
                        on_event: EventSink | None = None) -> list[tuple[str, str]]:
    """The container's environment in kubelet's order: every `envFrom` source, then
    `env` entries (a later name overrides an earlier one in place).

    Raises ContainerConfigError with kubelet's message for a missing non-optional
    configmap, secret or key, and for a fieldRef/resourceFieldRef kubelet cannot resolve.
    Keys of an envFrom source that are not valid variable names are skipped, and
    `on_event("InvalidEnvironmentVariableNames", message)` is called as kubelet records
    that Warning event.
    """
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    objects = _Objects(lookup, namespace)
    env: dict[str, str] = {}

    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if source.get("configMapRef") is not None:
            ref, kind, label = source["configMapRef"], "configmap", "configMap"
        elif source.get("secretRef") is not None:
            ref, kind, label = source["secretRef"], "secret", "secret"
        else:
            continue
        name = str(ref.get("name") or "")
        obj = await objects.get(kind, name)
        if obj is None:
            if _optional(ref):
                continue
            raise ContainerConfigError(f'{kind} "{name}" not found')
        items: dict[str, str]
        if kind == "configmap":
            items = {k: str(v) for k, v in (obj.get("data") or {}).items()}
        else:
            items = {k: _bytes_text(secret_bytes(obj, k) or b"") for k in obj.get("data") or {}}
        invalid: list[str] = []
        for key in sorted(items):
            full = prefix + key
            if not _relaxed_env_name_ok(full):
                invalid.append(full)
                continue
            env[full] = items[key]
        if invalid:
            message = (f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {label} "
                       f"{namespace}/{name} were skipped since they are considered invalid "
                       "environment variable names.")
            log.warning("pod %s/%s: %s", namespace, meta.get("name"), message)
            if on_event is not None:
                on_event("InvalidEnvironmentVariableNames", message)

    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        value = var.get("value")
        value_from = var.get("valueFrom")
        if value:
            # Expansion sees envFrom and the env entries before this one (kubelet's
            # mapping over tmpEnv, built in order).
            env[name] = expand(str(value), mapping_for(env))
            continue
        if not value_from:
            env[name] = ""
            continue
        if value_from.get("fieldRef") is not None:
            path = str(value_from["fieldRef"].get("fieldPath") or "")
            try:
                env[name] = _env_field_value(
                    pod, path, node_name=node_name, pod_ip=pod_ip, pod_ips=pod_ips or [],
                    host_ip=host_ip, host_ips=host_ips or [])
            except ValueError as e:
                raise ContainerConfigError(str(e)) from e
        elif value_from.get("resourceFieldRef") is not None:
            ref = value_from["resourceFieldRef"]
            target = container
            wanted = ref.get("containerName")
            if wanted and wanted != container.get("name"):
                spec = pod.get("spec") or {}
                found = [c for c in (spec.get("containers") or [])
                         + (spec.get("initContainers") or []) if c.get("name") == wanted]
                if not found:
                    raise ContainerConfigError(f"container {wanted} not found")
                target = found[0]
            try:
                env[name] = container_resource_value(ref, target, allocatable)
            except ValueError as e:
                raise ContainerConfigError(str(e)) from e
        elif value_from.get("configMapKeyRef") is not None:
            ref = value_from["configMapKeyRef"]
            cm_name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
            obj = await objects.get("configmap", cm_name)
            if obj is None:
                if _optional(ref):
                    continue
                raise ContainerConfigError(f'configmap "{cm_name}" not found')
            data = obj.get("data") or {}
            if key not in data:
                if _optional(ref):
                    continue
                raise ContainerConfigError(
                    f"couldn't find key {key} in ConfigMap {namespace}/{cm_name}")
            env[name] = str(data[key])
        elif value_from.get("secretKeyRef") is not None:
            ref = value_from["secretKeyRef"]
            s_name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
            obj = await objects.get("secret", s_name)
            if obj is None:
                if _optional(ref):
                    continue
                raise ContainerConfigError(f'secret "{s_name}" not found')
            raw = secret_bytes(obj, key)
            if raw is None:
                if _optional(ref):
                    continue
                raise ContainerConfigError(
                    f"couldn't find key {key} in Secret {namespace}/{s_name}")
            env[name] = _bytes_text(raw)
        else:
            env[name] = ""
    return list(env.items())
