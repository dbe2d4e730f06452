"""Decoding `application/vnd.kubernetes.protobuf` request bodies into JSON-shaped dicts.

kubectl's typed clients (`create configmap|secret|deployment|token|…`, `auth can-i`,
`auth whoami`) send protobuf bodies (specs/k8s-api.md §0 point 3). A body is the magic
`k8s\\x00` plus a `runtime.Unknown` envelope {1 typeMeta{1 apiVersion, 2 kind}, 2 raw,
3 contentEncoding, 4 contentType} whose `raw` is the object's message (specs/k8s-api.md §2,
"Protobuf bodies").

Owns: the wire format (varints, length-delimited fields, packed repeats, groups skipped as
gogo's `skipGenerated` does), the special types (metav1.Time/MicroTime/Duration,
IntOrString, Quantity, RawExtension/FieldsV1) and the JSON shape. The result is exactly
what Go's `encoding/json` prints for the struct the same bytes unmarshal into, so a body
decodes to the very dict kubectl would have sent as JSON (`--dry-run=client -o json`):
- a scalar with `omitempty` is left out when zero; one without is always there (zero if
  absent);
- a pointer (proto2 optional with presence) is left out when absent if `omitempty`, else
  null; when present it is kept even when zero;
- a non-pointer struct is always there, `omitempty` or not (`status: {}`); a zero
  Time/MicroTime is `null` (`creationTimestamp: null`), a zero Quantity `"0"`;
- a list or map that is empty is left out if `omitempty`, else `null`; map keys sorted;
- an embedded struct tagged `json:",inline"` (Volume's VolumeSource) is merged into its
  parent.
The field tables are in `kubeedge.api.protobuf_messages`.

Never does: encoding protobuf (we always answer JSON, which kubectl accepts), defaulting,
validation or kind registration. Every failure is a `StatusError`: 415 for a kind without a
table, 400 for malformed bytes; it never raises anything else and always terminates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import struct
from functools import cache
from typing import Any, NamedTuple

from kubeedge.api import errors
from kubeedge.api.protobuf_messages import LIST_WRAPPERS, MESSAGES, META_ROOTS, ROOTS

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
# What kube-apiserver lists in its 415 message (specs/k8s-api.md §0 point 3).
ACCEPTED_MEDIA_TYPES = ["application/json", "application/yaml", PROTOBUF_CONTENT_TYPE]

# No table nests deeper than ~12 levels; this only stops hostile input early.
_MAX_DEPTH = 64
_U64 = (1 << 64) - 1
_SCALARS = frozenset({"string", "int32", "int64", "bool", "bytes", "double"})
_SPECIALS = frozenset({"time", "microtime", "duration", "intstr", "quantity", "raw"})
# Quantity's grammar as resource.ParseQuantity reports it when a string does not match.
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: `IsZero()` prints null.
_GO_ZERO_UNIX = -62135596800


def is_protobuf(content_type: str | None) -> bool:
    """True when a Content-Type header names the Kubernetes protobuf media type."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == PROTOBUF_CONTENT_TYPE


def can_decode(api_version: str, kind: str) -> bool:
    """Whether `decode_request` has a field table for this apiVersion and kind."""
    return (api_version, kind) in ROOTS or kind in META_ROOTS


def decode_request(
    body: bytes,
    expected_kind: str | None = None,
    *,
    expected_api_version: str | None = None,
) -> dict[str, Any]:
    """Decode a protobuf request body into the dict its JSON form would parse to.

    The result starts with `kind` and `apiVersion` from the envelope, then the fields in
    Go struct order. `expected_kind`/`expected_api_version` are what the endpoint takes:
    they fill an envelope that leaves them empty (as the apiserver's decoder defaults
    them), and a body naming another kind or apiVersion is a 400. The envelope's
    contentEncoding and contentType are ignored, as kube-apiserver does. Raises
    `StatusError` only: 415 for a kind with no table (`can_decode`), 400 for anything
    malformed.
    """
    body = bytes(body)
    if not body:
        raise errors.bad_request("empty data")
    if not body.startswith(MAGIC):
        raise errors.bad_request(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    if len(body) == len(MAGIC):
        raise errors.bad_request("empty body")
    api_version, kind, raw = _decode_envelope(body, len(MAGIC))
    api_version = api_version or expected_api_version or ""
    kind = kind or expected_kind or ""
    if not kind:
        raise errors.bad_request("Object 'Kind' is missing in the protobuf envelope's typeMeta")
    if not api_version:
        raise errors.bad_request(
            "Object 'apiVersion' is missing in the protobuf envelope's typeMeta"
        )
    if expected_kind and kind != expected_kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({expected_kind})"
        )
    if expected_api_version and api_version != expected_api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({expected_api_version})"
        )
    message = ROOTS.get((api_version, kind)) or META_ROOTS.get(kind)
    if message is None:
        err = errors.unsupported_media_type(PROTOBUF_CONTENT_TYPE, ACCEPTED_MEDIA_TYPES)
        err.message += (
            f" (this server decodes protobuf only for known kinds, not {api_version}, "
            f"Kind={kind}; send it as application/json)"
        )
        raise err
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(decode_message(message, raw))
    return obj


def decode_message(message: str, data: bytes) -> dict[str, Any]:
    """Decode one message (no magic, no envelope) named as in `protobuf_messages`."""
    if message not in MESSAGES:
        raise KeyError(message)
    return _message(message, bytes(data), 0)


# --- the envelope ------------------------------------------------------------------------


_UNKNOWN_FIELDS = ("TypeMeta", "Raw", "ContentEncoding", "ContentType")


def _decode_envelope(buf: bytes, pos: int) -> tuple[str, str, bytes]:
    """runtime.Unknown {1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType}."""
    type_meta_parts: list[bytes] = []  # a repeated embedded message merges
    raw = b""
    end = len(buf)
    while pos < end:
        number, wire, pos = _tag(buf, pos, end, "Unknown")
        if number in (1, 2, 3, 4):
            if wire != 2:
                raise _wrong_wire(wire, _UNKNOWN_FIELDS[number - 1])
            value, pos = _length_delimited(buf, pos, end)
            if number == 1:
                type_meta_parts.append(value)
            elif number == 2:
                raw = value
        else:
            pos = _skip(buf, pos, end, wire)
    api_version = kind = ""
    type_meta = b"".join(type_meta_parts)
    pos, end = 0, len(type_meta)
    while pos < end:
        number, wire, pos = _tag(type_meta, pos, end, "TypeMeta")
        if number in (1, 2):
            if wire != 2:
                raise _wrong_wire(wire, "APIVersion" if number == 1 else "Kind")
            value, pos = _length_delimited(type_meta, pos, end)
            if number == 1:
                api_version = _text(value)
            else:
                kind = _text(value)
        else:
            pos = _skip(type_meta, pos, end, wire)
    return api_version, kind, raw


# --- the wire format ---------------------------------------------------------------------


def _bad(message: str) -> errors.StatusError:
    return errors.bad_request(message)


def _wrong_wire(wire: int, field: str) -> errors.StatusError:
    return _bad(f"proto: wrong wireType = {wire} for field {field}")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """A base-128 varint truncated to 64 bits, as gogo's generated loops read it."""
    value = 0
    shift = 0
    while True:
        if shift >= 64:
            raise _bad("proto: integer overflow")
        if pos >= end:
            raise _bad("unexpected EOF")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value & _U64, pos
        shift += 7


def _tag(buf: bytes, pos: int, end: int, message: str) -> tuple[int, int, int]:
    key, pos = _varint(buf, pos, end)
    number = (key >> 3) & 0xFFFFFFFF  # Go: int32(wire >> 3)
    if number >= 1 << 31:
        number -= 1 << 32
    wire = key & 7
    if wire == 4:
        raise _bad(f"proto: {message}: wiretype end group for non-group")
    if number <= 0:
        raise _bad(f"proto: {message}: illegal tag {number} (wire type {key})")
    return number, wire, pos


def _length_delimited(buf: bytes, pos: int, end: int) -> tuple[bytes, int]:
    length, pos = _varint(buf, pos, end)
    if length >= 1 << 63:
        raise _bad("proto: negative length found during unmarshaling")
    stop = pos + length
    if stop > end:
        raise _bad("unexpected EOF")
    return buf[pos:stop], stop


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    """Skip an unknown field (and nested groups) like gogo's `skipGenerated`."""
    depth = 0
    while True:
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            _, pos = _length_delimited(buf, pos, end)
        elif wire == 3:
            depth += 1
        elif wire == 4:
            if depth == 0:
                raise _bad("proto: unexpected end of group")
            depth -= 1
        elif wire == 5:
            pos += 4
        else:
            raise _bad(f"proto: illegal wireType {wire}")
        if pos > end:
            raise _bad("unexpected EOF")
        if depth == 0:
            return pos
        if pos >= end:
            raise _bad("unexpected EOF")
        key, pos = _varint(buf, pos, end)
        wire = key & 7


def _text(value: bytes) -> str:
    # gogo does not check UTF-8; Go's encoding/json writes U+FFFD for invalid bytes.
    return value.decode("utf-8", "replace")


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _int64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


# --- compiled field tables ---------------------------------------------------------------


class _Field(NamedTuple):
    number: int
    name: str
    kind: str  # a scalar, a special, or "message" (then `target` is the message name)
    target: str
    is_map: bool
    repeated: bool
    omitempty: bool
    pointer: bool
    inline: bool
    wire: int  # the wire type of one (unpacked) value


def _split_kind(kind: str) -> tuple[str, str]:
    if kind.startswith("message:"):
        return "message", kind[len("message:") :]
    return kind, ""


def _wire_of(kind: str) -> int:
    if kind in ("int32", "int64", "bool"):
        return 0
    if kind == "double":
        return 1
    return 2


@cache
def _compiled(message: str) -> tuple[dict[int, _Field], tuple[_Field, ...]]:
    fields: list[_Field] = []
    for number, name, kind, flags in MESSAGES[message]:
        is_map = kind.startswith("map:")
        base, target = _split_kind(kind[4:] if is_map else kind)
        if base not in _SCALARS and base not in _SPECIALS and base != "message":
            raise ValueError(f"{message}.{name}: unknown kind {kind}")
        fields.append(
            _Field(
                number,
                name,
                base,
                target,
                is_map,
                "r" in flags,
                "o" in flags,
                "p" in flags,
                "i" in flags,
                2 if is_map else _wire_of(base),
            )
        )
    return {f.number: f for f in fields}, tuple(fields)


# --- messages ----------------------------------------------------------------------------


def _scan(message: str, buf: bytes, by_number: dict[int, _Field]) -> dict[int, list[Any]]:
    """Every occurrence of every known field, in wire order (unknown fields skipped)."""
    seen: dict[int, list[Any]] = {}
    pos, end = 0, len(buf)
    while pos < end:
        number, wire, pos = _tag(buf, pos, end, message.rsplit(".", 1)[-1])
        f = by_number.get(number)
        if f is None:
            pos = _skip(buf, pos, end, wire)
            continue
        values = seen.setdefault(number, [])
        if wire == f.wire:
            if wire == 0:
                value, pos = _varint(buf, pos, end)
            elif wire == 1:
                if pos + 8 > end:
                    raise _bad("unexpected EOF")
                value, pos = buf[pos : pos + 8], pos + 8
            else:
                value, pos = _length_delimited(buf, pos, end)
            values.append(value)
        elif f.repeated and wire == 2 and f.wire in (0, 1):
            # A packed repeated scalar; gogo accepts both forms.
            packed, pos = _length_delimited(buf, pos, end)
            p = 0
            while p < len(packed):
                if f.wire == 0:
                    value, p = _varint(packed, p, len(packed))
                else:
                    if p + 8 > len(packed):
                        raise _bad("unexpected EOF")
                    value, p = packed[p : p + 8], p + 8
                values.append(value)
        else:
            raise _wrong_wire(wire, f.name or f.target)
    return seen


def _message(message: str, buf: bytes, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise _bad("proto: message nesting too deep")
    by_number, ordered = _compiled(message)
    seen = _scan(message, buf, by_number) if buf else {}
    out: dict[str, Any] = {}
    for f in ordered:
        values = seen.get(f.number)
        if f.inline:
            out.update(_message(f.target, b"".join(values or ()), depth + 1))
        elif f.is_map:
            entries = _map(f, values or (), depth)
            if entries:
                out[f.name] = entries
            elif not f.omitempty:
                out[f.name] = None
        elif f.repeated:
            if values:
                out[f.name] = [_convert(f.kind, f.target, v, depth) for v in values]
            elif not f.omitempty:
                out[f.name] = None
        elif values is None:
            if f.pointer:
                if not f.omitempty:
                    out[f.name] = None
            elif f.kind == "bytes" or f.target in LIST_WRAPPERS:
                if not f.omitempty:
                    out[f.name] = None  # a nil slice
            else:
                zero = _zero(f.kind, f.target, depth)
                if not (f.omitempty and f.kind in _SCALARS and not zero):
                    out[f.name] = zero
        else:
            value = _single(f, values, depth)
            if f.omitempty and not f.pointer and _empty(f, value):
                continue
            out[f.name] = value
    return out


def _single(f: _Field, values: list[Any], depth: int) -> Any:
    """A non-repeated field seen one or more times: scalars and replacing special
    unmarshalers keep the last, generated messages merge (decode the concatenation)."""
    if f.kind == "message" or f.kind == "intstr":
        return _convert(f.kind, f.target, b"".join(values), depth)
    return _convert(f.kind, f.target, values[-1], depth)


def _empty(f: _Field, value: Any) -> bool:
    """Go's `omitempty` test for a non-pointer field: zero scalars and empty slices/maps;
    structs (messages and the special types) are never empty."""
    if f.kind in _SCALARS:
        return not value
    if f.target in LIST_WRAPPERS:
        return not value
    return False


def _zero(kind: str, target: str, depth: int) -> Any:
    """The JSON of a Go zero value for a non-pointer, non-slice field."""
    return _convert(kind, target, None, depth)


def _map(f: _Field, entries: Any, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        key = ""
        value: Any = None
        pos, end = 0, len(entry)
        while pos < end:
            number, wire, pos = _tag(entry, pos, end, "MapEntry")
            if number == 1:
                if wire != 2:
                    raise _wrong_wire(wire, f"{f.name} key")
                raw_key, pos = _length_delimited(entry, pos, end)
                key = _text(raw_key)
            elif number == 2:
                want = _wire_of(f.kind)
                if wire != want:
                    raise _wrong_wire(wire, f"{f.name} value")
                if want == 0:
                    value, pos = _varint(entry, pos, end)
                elif want == 1:
                    if pos + 8 > end:
                        raise _bad("unexpected EOF")
                    value, pos = entry[pos : pos + 8], pos + 8
                else:
                    value, pos = _length_delimited(entry, pos, end)
            else:
                pos = _skip(entry, pos, end, wire)
        if value is None and f.kind == "bytes":
            value = b""  # gogo starts a bytes map value as []byte{}
        out[key] = _convert(f.kind, f.target, value, depth)
    return {k: out[k] for k in sorted(out)}  # Go's encoding/json sorts map keys


def _convert(kind: str, target: str, value: Any, depth: int) -> Any:
    """One value to JSON; `value` None means the Go zero value of the type."""
    if kind == "string":
        return "" if value is None else _text(value)
    if kind == "int32":
        return 0 if value is None else _int32(value)
    if kind == "int64":
        return 0 if value is None else _int64(value)
    if kind == "bool":
        return False if value is None else value != 0
    if kind == "bytes":
        return None if value is None else base64.b64encode(value).decode("ascii")
    if kind == "double":
        number = 0.0 if value is None else struct.unpack("<d", value)[0]
        if math.isnan(number) or math.isinf(number):
            raise _bad(f"json: unsupported value: {number}")
        return number
    if kind == "message":
        if target in LIST_WRAPPERS:
            items = _message_items(target, value or b"", depth)
            return items or None  # Go: a nil slice is null
        return _message(target, value or b"", depth + 1)
    if kind == "time":
        return _time(value, micro=False)
    if kind == "microtime":
        return _time(value, micro=True)
    if kind == "duration":
        return _go_duration(_int64(_fields(value, {1: 0}, "Duration").get(1, 0)))
    if kind == "intstr":
        return _int_or_string(value)
    if kind == "quantity":
        return _quantity(value)
    if kind == "raw":
        return _raw(value)
    raise _bad(f"proto: no decoder for {kind}")  # unreachable: tables are checked


def _message_items(target: str, buf: bytes, depth: int) -> list[Any]:
    """ExtraValue and friends: a message `{1 repeated items}` that Go types as a slice."""
    kind, sub = _split_kind(LIST_WRAPPERS[target])
    field = _Field(1, "items", kind, sub, False, True, True, False, False, _wire_of(kind))
    seen = _scan(target, buf, {1: field})
    return [_convert(kind, sub, v, depth) for v in seen.get(1, ())]


def _fields(buf: bytes | None, wires: dict[int, int], message: str) -> dict[int, Any]:
    """A small flat message: field number -> last value (varints or bytes)."""
    out: dict[int, Any] = {}
    if not buf:
        return out
    pos, end = 0, len(buf)
    while pos < end:
        number, wire, pos = _tag(buf, pos, end, message)
        want = wires.get(number)
        if want is None:
            pos = _skip(buf, pos, end, wire)
            continue
        if wire != want:
            raise _wrong_wire(wire, f"{message}.{number}")
        if wire == 0:
            out[number], pos = _varint(buf, pos, end)
        else:
            out[number], pos = _length_delimited(buf, pos, end)
    return out


# --- special types -----------------------------------------------------------------------


def _time(buf: bytes | None, *, micro: bool) -> str | None:
    """metav1.Time/MicroTime: Timestamp {1 seconds, 2 nanos}; empty bytes are the zero
    time, printed `null`. Time keeps whole seconds (as its Unmarshal does), MicroTime
    truncates to microseconds; both print RFC 3339 in UTC."""
    if not buf:
        return None
    ts = _fields(buf, {1: 0, 2: 0}, "Timestamp")
    seconds = _int64(ts.get(1, 0))
    nanos = 0
    if micro:
        n = _int32(ts.get(2, 0))
        n = int(n / 1000) * 1000  # Duration.Truncate rounds toward zero
        seconds += n // 1_000_000_000  # time.Unix normalises nanoseconds (floor)
        nanos = n % 1_000_000_000
    if seconds == _GO_ZERO_UNIX and nanos == 0:
        return None  # Go's zero time: `IsZero()` marshals as null
    try:
        when = _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        when = None
    if when is None or not 1 <= when.year <= 9999:
        raise _bad(f"Time.MarshalJSON: year outside of range [0,9999]: {seconds}s")
    text = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    )
    return f"{text}.{when.microsecond:06d}Z" if micro else f"{text}Z"


def _go_duration(ns: int) -> str:
    """Go's `time.Duration.String()`: 1h0m0s, 1.5s, 100ms, 2µs, 0s."""
    neg = ns < 0
    u = -ns if neg else ns

    def frac(v: int, prec: int) -> tuple[int, str]:
        digits = f"{v % 10**prec:0{prec}d}".rstrip("0") if prec else ""
        return v // 10**prec, f".{digits}" if digits else ""

    if u == 0:
        return "0s"
    if u < 1_000_000_000:
        if u < 1_000:
            unit, prec = "ns", 0
        elif u < 1_000_000:
            unit, prec = "\u00b5s", 3
        else:
            unit, prec = "ms", 6
        whole, fraction = frac(u, prec)
        text = f"{whole}{fraction}{unit}"
    else:
        seconds, fraction = frac(u, 9)
        text = f"{seconds % 60}{fraction}s"
        minutes = seconds // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            hours = minutes // 60
            if hours:
                text = f"{hours}h{text}"
    return f"-{text}" if neg else text


def _int_or_string(buf: bytes | None) -> int | str:
    """IntOrString {1 type, 2 intVal, 3 strVal}: type 0 is an int, 1 a string."""
    f = _fields(buf, {1: 0, 2: 0, 3: 2}, "IntOrString")
    kind = _int64(f.get(1, 0))
    if kind == 0:
        return _int32(f.get(2, 0))
    if kind == 1:
        return _text(f.get(3, b""))
    raise _bad(
        "json: error calling MarshalJSON for type *intstr.IntOrString: "
        f"impossible IntOrString.Type {kind}"
    )


def _quantity(buf: bytes | None) -> str:
    """resource.Quantity {1 string}: the string as sent (the zero Quantity is "0")."""
    f = _fields(buf, {1: 2}, "Quantity")
    if 1 not in f:
        return "0"
    text = _text(f[1]).strip()
    if not _QUANTITY_RE.match(text):
        raise _bad(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _raw(buf: bytes | None) -> Any:
    """RawExtension/FieldsV1 {1 raw}: the raw bytes are JSON (nil is null)."""
    f = _fields(buf, {1: 2}, "RawExtension")
    if 1 not in f:
        return None
    try:
        return json.loads(f[1].decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = f"json: error calling MarshalJSON for type runtime.RawExtension: {exc}"
        raise _bad(message) from None
