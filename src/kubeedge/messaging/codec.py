"""The JSON codec of the cloud-edge Message, byte-compatible with KubeEdge's WebSocket frames.

Owns turning a `Message` into the JSON text KubeEdge writes (gorilla `WriteJSON` of
beehive's `model.Message`, specs/kubeedge.md §2 "Wire encoding") and back. Must never
raise anything but `MessageEncodeError`/`MessageDecodeError` to its callers: a peer's bad
frame is an error to log and drop, never a crash of the hub.

What Go's encoding/json does, and so what this codec does:
- keys in beehive's order: `header`, `route`, `content`; header `msg_id`,
  `parent_msg_id`, `timestamp`, `resourceversion`, `sync`, `type`; route `source`,
  `destination`, `group`, `operation`, `resource`;
- omitempty: `parent_msg_id`, `resourceversion`, `sync` (false), `type` and every route
  field are left out when empty; `msg_id` and `timestamp` are always written; `route` is
  always written (omitempty never drops a Go struct, so an empty route is `{}`);
  `content` is always written, `null` when there is none;
- `content` bytes are base64 (standard alphabet, padded), as Go marshals `[]byte`; a
  receiver sees that as a str, as a Go receiver decoding into `interface{}` does;
- decoding ignores unknown keys and treats missing keys as empty, as Go does.

Differences that no KubeEdge peer produces or notices: Go escapes `<`, `>`, `&` and
U+2028/2029 in strings and ends a gorilla frame with a newline; Go matches keys case-
insensitively and reads `null` for a string field as empty, which this decoder refuses
with an error naming the field; Go refuses to marshal a NaN or infinite float, which
msgspec writes as `null`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeedge.messaging.message import Message

__all__ = [
    "MessageDecodeError",
    "MessageEncodeError",
    "decode_message",
    "encode_message",
    "message_from_builtins",
    "message_to_builtins",
]


class MessageDecodeError(ValueError):
    """A frame that is not a KubeEdge message. `field` is the wire path, e.g.
    `header.timestamp`, or "" when the frame as a whole is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        where = f"{field}: " if field else ""
        super().__init__(f"invalid message: {where}{reason}")


class MessageEncodeError(ValueError):
    """A message that cannot be written as JSON (its content holds a non-JSON value)."""

    def __init__(self, msg_id: str, field: str, reason: str) -> None:
        self.msg_id = msg_id
        self.field = field
        self.reason = reason
        super().__init__(f"cannot encode message {msg_id or '<no id>'}: {field}: {reason}")


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Message)


def encode_message(msg: Message) -> bytes:
    """The message as the JSON text KubeEdge puts in one WebSocket frame."""
    header = msg.header
    try:
        if header.msg_id and header.timestamp:
            # Every real message has both, and then the structs' omit_defaults is exactly
            # Go's omitempty.
            return _encoder.encode(msg)
        return _encoder.encode(message_to_builtins(msg))
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise MessageEncodeError(header.msg_id, "content", str(exc)) from exc


def message_to_builtins(msg: Message) -> dict[str, Any]:
    """The message as the dict of JSON values its wire form holds (same keys, same
    omissions). Content is left as it is, so bytes stay bytes here."""
    h = msg.header
    header: dict[str, Any] = {"msg_id": h.msg_id}
    if h.parent_msg_id:
        header["parent_msg_id"] = h.parent_msg_id
    header["timestamp"] = h.timestamp
    if h.resource_version:
        header["resourceversion"] = h.resource_version
    if h.sync:
        header["sync"] = True
    if h.msg_type:
        header["type"] = h.msg_type
    return {"header": header, "route": msgspec.to_builtins(msg.route), "content": msg.content}


def decode_message(data: bytes | bytearray | memoryview | str) -> Message:
    """Parse one frame. Raises `MessageDecodeError` naming the bad field."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise MessageDecodeError("", f"malformed JSON: {exc}") from None
    except TypeError as exc:
        raise MessageDecodeError("", f"expected bytes or str, got {type(data).__name__}") from (exc)
    except RecursionError:
        raise MessageDecodeError("content", "nested too deeply") from None


def message_from_builtins(obj: Any) -> Message:
    """A message from already-parsed JSON (a dict as `json.loads` gives it)."""
    try:
        return msgspec.convert(obj, Message)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    except RecursionError:
        raise MessageDecodeError("content", "nested too deeply") from None


def _validation_error(exc: msgspec.ValidationError) -> MessageDecodeError:
    # msgspec words these as "Expected `int`, got `str` - at `$.header.timestamp`".
    text = str(exc)
    reason, sep, path = text.rpartition(" - at ")
    if not sep:
        reason, path = text, ""
    path = path.strip("`").removeprefix("$").removeprefix(".")
    reason = reason.replace("`", "")
    return MessageDecodeError(path, reason[:1].lower() + reason[1:])
