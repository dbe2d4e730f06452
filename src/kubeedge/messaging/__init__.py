"""The cloud-edge message model, its JSON codec, resource strings and the module bus.

Both cloudcore and edgecore modules use this package and nothing else to build, route
and (de)serialize messages (ARCHITECTURE.md rule 3; specs/kubeedge.md §1-2). It imports
nothing of ours and nothing heavy, so the edge pays only msgspec and asyncio for it
(ARCHITECTURE.md rule 9).
"""

from kubeedge.messaging.bus import (
    BusConfig,
    BusError,
    ChannelFullError,
    ModuleBus,
    ModuleClosedError,
    ModuleExistsError,
    SyncTimeoutError,
    UnknownModuleError,
)
from kubeedge.messaging.codec import (
    MessageDecodeError,
    MessageEncodeError,
    decode_message,
    encode_message,
    message_from_builtins,
    message_to_builtins,
)
from kubeedge.messaging.message import (
    Header,
    Message,
    Route,
    build_message,
    new_error_message,
    new_message,
    new_respond_message,
)
from kubeedge.messaging.resource import (
    ResourceError,
    ResourceKey,
    build_resource,
    parse_edge_resource,
    parse_node_resource,
    strip_node_prefix,
)

__all__ = [
    "BusConfig",
    "BusError",
    "ChannelFullError",
    "Header",
    "Message",
    "MessageDecodeError",
    "MessageEncodeError",
    "ModuleBus",
    "ModuleClosedError",
    "ModuleExistsError",
    "ResourceError",
    "ResourceKey",
    "Route",
    "SyncTimeoutError",
    "UnknownModuleError",
    "build_message",
    "build_resource",
    "decode_message",
    "encode_message",
    "message_from_builtins",
    "message_to_builtins",
    "new_error_message",
    "new_message",
    "new_respond_message",
    "parse_edge_resource",
    "parse_node_resource",
    "strip_node_prefix",
]
