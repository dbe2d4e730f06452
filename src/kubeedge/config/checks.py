"""Loading and field checks shared by the CloudCore and EdgeCore configuration models
(ARCHITECTURE.md rules 7 and 8).

Owns the YAML-to-model step (msgspec's errors reworded as `field.path: reason`), the
root-relative path rule, and the value checks every section uses (ports, host:port,
URLs, positive timings, Go durations, DNS names, label keys, quantities). Each check
raises `ConfigError` naming the field in the YAML's camelCase path.

The edge imports this module, so it must stay light (rule 9): standard-library `re`,
`os` and `pathlib`, msgspec and PyYAML only; `socket` and `ipaddress` load lazily.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from kubeedge.config.apiserver import ConfigError

__all__ = [
    "ConfigError",
    "Seconds",
    "check_choice",
    "check_dns_label",
    "check_dns_subdomain",
    "check_go_duration",
    "check_host_port",
    "check_ip",
    "check_label_key",
    "check_label_value",
    "check_non_negative",
    "check_port",
    "check_positive",
    "check_quantity",
    "check_resource_name",
    "check_url",
    "decode",
    "go_duration_seconds",
    "host_name",
    "primary_ip",
    "read_yaml",
    "under_root",
]

T = TypeVar("T")

# A timing in seconds (or hours and days where KubeEdge counts in those). KubeEdge's
# fields are integers; a float lets tests shorten them, and an int stays an int when the
# file is printed back.
Seconds = int | float


def under_root(root: str, path: str) -> Path:
    """`path` under `root` (rule 8); absolute paths are taken as they are."""
    if os.path.isabs(path):
        return Path(path)
    return Path(root) / path


# ------------------------------------------------------------------------------ loading

_MSGSPEC_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")


def _reworded(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.a.b`" as "a.b: expected int, got str"."""
    match = _MSGSPEC_AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    reason, path = match["reason"], (match["path"] or "").lstrip(".")
    unknown = _UNKNOWN.match(reason)
    if unknown:
        name = unknown["name"]
        return f"{path}.{name}: unknown field" if path else f"{name}: unknown field"
    reason = reason.replace("`", "")
    reason = reason[:1].lower() + reason[1:]
    return f"{path}: {reason}" if path else reason


def decode(raw: Any, model: type[T]) -> T:
    """Convert parsed YAML into `model`; a wrong type or unknown field is a ConfigError
    naming the field's path."""
    if raw is None:
        raw = {}
    try:
        return msgspec.convert(raw, model)
    except msgspec.ValidationError as exc:
        raise ConfigError(_reworded(exc)) from None


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of a config file; errors name the file."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- the host


def host_name() -> str:
    """The node name KubeEdge defaults `hostnameOverride` to: the host name in lower
    case, or `default-edge-node` when that is not a valid node name."""
    import socket

    name = socket.gethostname().strip().lower()
    if len(name) <= 253 and _DNS_SUBDOMAIN.match(name):
        return name
    return "default-edge-node"


@cache
def primary_ip() -> str:
    """The address this host reaches other hosts from (KubeEdge's defaults for
    `advertiseAddress` and the edge's server addresses), or 127.0.0.1 with no route.
    Connecting a UDP socket only picks the route; nothing is sent."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never answered, only routed
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


# ------------------------------------------------------------------------------ checks


def check_positive(where: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{where}: {value} must be greater than 0")


def check_non_negative(where: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{where}: {value} must not be negative")


def check_port(where: str, value: int, *, allow_zero: bool = False) -> None:
    """A TCP port; `allow_zero` where 0 means "off" (kubelet's readOnlyPort) or "any
    free port" (in-process tests)."""
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        raise ConfigError(f"{where}: {value} is not a TCP port ({low}-65535)")


def check_choice(where: str, value: object, choices: Iterable[object]) -> None:
    options = list(choices)
    if value not in options:
        raise ConfigError(f"{where}: {value!r} is not one of "
                          + ", ".join(str(o) for o in options))


def check_ip(where: str, value: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an IP address") from None


def split_host_port(where: str, value: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port`) as (host, port); ConfigError naming `where`."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isdigit():
        raise ConfigError(f"{where}: {value!r} is not host:port (e.g. 192.168.1.10:10000)")
    check_port(where, int(port))
    return host, int(port)


def check_host_port(where: str, value: str, *, need_host: bool = True) -> None:
    """`host:port` (`[v6]:port` for IPv6); `need_host=False` allows `:port`."""
    host, _ = split_host_port(where, value)
    if need_host and not host:
        raise ConfigError(f"{where}: {value!r} has no host (e.g. 192.168.1.10:10000)")


def check_url(where: str, value: str, schemes: Iterable[str]) -> None:
    """A URL with one of `schemes` and a `host:port` or `host` authority."""
    from urllib.parse import urlsplit

    allowed = tuple(schemes)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a URL: {exc}") from None
    if parts.scheme not in allowed:
        raise ConfigError(f"{where}: {value!r} must start with "
                          + " or ".join(f"{s}://" for s in allowed))
    if not parts.hostname:
        raise ConfigError(f"{where}: {value!r} has no host")
    if port is not None:
        check_port(where, port)


_DNS_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(f"^{_DNS_LABEL_FMT}$")
_DNS_SUBDOMAIN = re.compile(f"^{_DNS_LABEL_FMT}(\\.{_DNS_LABEL_FMT})*$")
_NAME_PART = re.compile("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def check_dns_subdomain(where: str, value: str) -> None:
    """A node or object name (RFC 1123 subdomain, Kubernetes' ValidateNodeName)."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid name: use lower case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit, at most 253 characters "
            "(e.g. 'edge-node-1')")


def check_dns_label(where: str, value: str) -> None:
    """A namespace name (RFC 1123 label)."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid name: use lower case letters, digits and "
            "'-', starting and ending with a letter or digit, at most 63 characters")


def check_label_key(where: str, key: str) -> None:
    """A label key or resource name: `[prefix/]name` (Kubernetes' IsQualifiedName)."""
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ConfigError(f"{where}: key {key!r} needs a DNS subdomain before '/' "
                          "(e.g. 'example.com/name')")
    if not name or len(name) > 63 or not _NAME_PART.match(name):
        raise ConfigError(f"{where}: key {key!r} must be at most 63 letters, digits, '-', "
                          "'_' or '.', starting and ending with a letter or digit")


def check_label_value(where: str, value: str) -> None:
    if value and (len(value) > 63 or not _NAME_PART.match(value)):
        raise ConfigError(f"{where}: value {value!r} must be empty or at most 63 letters, "
                          "digits, '-', '_' or '.', starting and ending with a letter or digit")


def check_resource_name(where: str, name: str) -> None:
    """An extended resource name such as `nvidia.com/gpu`."""
    check_label_key(where, name)


_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def check_quantity(where: str, value: str) -> None:
    """A resource.Quantity such as `2`, `500m` or `1Gi`."""
    if not _QUANTITY.match(value.strip()):
        raise ConfigError(f"{where}: {value!r} is not a quantity (e.g. 2, 500m, 1Gi)")


# Go's time.ParseDuration units (kubelet's metav1.Duration fields are written so).
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
             "m": 60.0, "h": 3600.0}
_GO_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_seconds(text: str) -> float | None:
    """Go's duration syntax (`10s`, `5m0s`, `1h30m`, `100ms`, `0`) in seconds; None if
    the text is not one."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        return None
    total, pos = 0.0, 0
    for term in _GO_TERM.finditer(body):
        if term.start() != pos:
            return None
        total += float(term[1]) * _GO_UNITS[term[2]]
        pos = term.end()
    if pos != len(body):
        return None
    return sign * total


def check_go_duration(where: str, text: str, *, allow_zero: bool = False) -> float:
    """A Go duration string that is > 0 (or >= 0 with `allow_zero`); its seconds."""
    seconds = go_duration_seconds(text)
    if seconds is None:
        raise ConfigError(f"{where}: {text!r} is not a duration (e.g. 10s, 5m0s, 1h30m)")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{where}: {text!r} must be greater than 0")
    return seconds
