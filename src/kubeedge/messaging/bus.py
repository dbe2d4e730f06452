"""The in-process module bus: beehive's channel context on asyncio.

Owns moving messages between the modules of one process (cloudcore's cloudhub,
edgecontroller, synccontroller...; edgecore's websocket, metamanager, edged, twin...),
as beehive does in KubeEdge (specs/kubeedge.md §1 "Beehive"): one bounded channel per
module (1024 by default), send to a module, send to every module of a group, and
request/response matched by `parent_msg_id`. Must never touch the network, hold global
state (each process makes one `ModuleBus` and passes it to its modules), or import
anything of ours.

Where this differs from beehive, on purpose:
- A full channel is back-pressure, not a silent stall: `send` waits for room for at most
  `BusConfig.send_timeout` seconds (None = as long as it takes, beehive's behaviour) and
  then raises `ChannelFullError`; `send_nowait` raises it at once.
- Unknown modules are errors (`UnknownModuleError`), not a log line; an empty group is
  not an error (the edge broadcasts to groups whose modules may be disabled) and
  `send_to_group` returns how many modules got the message.
- `cleanup` wakes anything waiting on that module with `ModuleClosedError`.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Protocol

from kubeedge.messaging.message import Message

__all__ = [
    "BusConfig",
    "BusError",
    "ChannelFullError",
    "ModuleBus",
    "ModuleClosedError",
    "ModuleExistsError",
    "SyncTimeoutError",
    "UnknownModuleError",
]

# beehive's channel context defaults (core/channel/context_channel.go).
CHANNEL_SIZE_DEFAULT = 1024
SYNC_TIMEOUT_DEFAULT = 30.0


class Clock(Protocol):
    """The time the bus waits on; `kubeedge.client.clock` clocks fit it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class _LoopClock:
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class BusConfig:
    """The bus's sizes and timings, with beehive's defaults.

    channel_size: messages a module's channel holds before senders wait (beehive: 1024).
    sync_timeout: seconds `send_sync` waits for the reply when the caller gives no
        timeout, or gives one <= 0 (beehive: 30 s).
    send_timeout: seconds `send`/`send_to_group` wait for room in a full channel before
        raising `ChannelFullError`; None waits as long as it takes, like beehive.
    """

    channel_size: int = CHANNEL_SIZE_DEFAULT
    sync_timeout: float = SYNC_TIMEOUT_DEFAULT
    send_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.channel_size < 1:
            raise ValueError(f"channel_size: must be at least 1, got {self.channel_size}")
        if self.sync_timeout <= 0:
            raise ValueError(f"sync_timeout: must be positive, got {self.sync_timeout}")
        if self.send_timeout is not None and self.send_timeout < 0:
            raise ValueError(f"send_timeout: must be >= 0 or None, got {self.send_timeout}")


class BusError(Exception):
    """Base of every error the bus raises."""


class UnknownModuleError(BusError):
    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(f"module {module!r} is not registered on the bus")


class ModuleExistsError(BusError):
    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(f"module {module!r} is already registered on the bus")


class ModuleClosedError(BusError):
    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(f"module {module!r} was cleaned up")


class ChannelFullError(BusError):
    def __init__(self, module: str, capacity: int, msg_id: str) -> None:
        self.module = module
        self.capacity = capacity
        self.msg_id = msg_id
        super().__init__(
            f"channel of module {module!r} is full ({capacity} messages); message {msg_id} not sent"
        )


class SyncTimeoutError(BusError, TimeoutError):
    """`send_sync` gave up: `phase` is "send" (the channel stayed full) or "response"."""

    def __init__(self, module: str, msg_id: str, timeout: float, phase: str) -> None:
        self.module = module
        self.msg_id = msg_id
        self.timeout = timeout
        self.phase = phase
        what = "to send message" if phase == "send" else "to get response for message"
        super().__init__(f"timeout ({timeout:g}s) {what} {msg_id} to module {module!r}")


class _Channel:
    """A bounded FIFO with waiting receivers and senders; closes with an error."""

    __slots__ = ("_getters", "_putters", "capacity", "closed", "group", "items", "name")

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.group = ""
        self.capacity = capacity
        self.items: collections.deque[Message] = collections.deque()
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._putters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    def full(self) -> bool:
        return len(self.items) >= self.capacity

    def put_nowait(self, msg: Message) -> None:
        if self.closed:
            raise ModuleClosedError(self.name)
        if self.full():
            raise ChannelFullError(self.name, self.capacity, msg.header.msg_id)
        self.items.append(msg)
        _wake_one(self._getters)

    def get_nowait(self) -> Message | None:
        if not self.items:
            return None
        msg = self.items.popleft()
        _wake_one(self._putters)
        return msg

    def room_waiter(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._putters.append(fut)
        return fut

    def item_waiter(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(fut)
        return fut

    def forget(self, fut: asyncio.Future[None], *, putter: bool) -> None:
        """Drop a waiter that gave up (timeout, cancel); if it had been woken already,
        pass the wake-up on so the free slot or waiting item is not stranded."""
        waiters = self._putters if putter else self._getters
        try:
            waiters.remove(fut)
        except ValueError:
            pass
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            # It was woken but will not use the slot or item: give it to the next one.
            if putter and not self.full():
                _wake_one(self._putters)
            elif not putter and self.items:
                _wake_one(self._getters)

    def close(self) -> None:
        self.closed = True
        for waiters in (self._getters, self._putters):
            while waiters:
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_exception(ModuleClosedError(self.name))


def _wake_one(waiters: collections.deque[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class ModuleBus:
    """beehive's context for one process: modules, groups, channels, pending replies."""

    def __init__(self, config: BusConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or BusConfig()
        self._clock: Clock = clock or _LoopClock()
        self._channels: dict[str, _Channel] = {}
        self._groups: dict[str, dict[str, _Channel]] = {}
        # msg_id of a send_sync request -> the future its reply resolves
        self._pending: dict[str, asyncio.Future[Message]] = {}

    # -- registration (beehive's AddModule, AddModuleGroup, Cleanup) --

    def add_module(self, name: str, group: str = "") -> None:
        """Register a module with its own channel, and put it in `group` if given."""
        if not name:
            raise ValueError("module name required")
        if name in self._channels:
            raise ModuleExistsError(name)
        self._channels[name] = _Channel(name, self.config.channel_size)
        if group:
            self.add_module_group(name, group)

    def add_module_group(self, name: str, group: str) -> None:
        channel = self._channel(name)
        if channel.group and channel.group != group:
            self._groups[channel.group].pop(name, None)
        channel.group = group
        self._groups.setdefault(group, {})[name] = channel

    def cleanup(self, name: str) -> None:
        """Remove a module; whoever waits to receive from or send to it gets
        `ModuleClosedError`. Unknown names are ignored, as in beehive."""
        channel = self._channels.pop(name, None)
        if channel is None:
            return
        members = self._groups.get(channel.group)
        if members is not None:
            members.pop(name, None)
            if not members:
                del self._groups[channel.group]
        channel.close()

    def modules(self) -> list[str]:
        return list(self._channels)

    def group_members(self, group: str) -> list[str]:
        return list(self._groups.get(group, ()))

    def pending(self, name: str) -> int:
        """How many messages wait in a module's channel."""
        return len(self._channel(name).items)

    # -- sending --

    async def send(self, msg: Message, module: str | None = None) -> None:
        """Put `msg` on `module`'s channel (default: `msg.route.destination`).

        Waits while the channel is full, for at most `config.send_timeout` seconds, then
        raises `ChannelFullError`. The message object itself is queued, not a copy:
        don't change it after sending.
        """
        channel = self._channel(module if module is not None else self._destination(msg))
        await self._put(channel, msg, self.config.send_timeout)

    def send_nowait(self, msg: Message, module: str | None = None) -> None:
        """Like `send`, but raises `ChannelFullError` at once when the channel is full."""
        channel = self._channel(module if module is not None else self._destination(msg))
        channel.put_nowait(msg)

    async def send_to_group(self, group: str, msg: Message) -> int:
        """Give every module of `group` its own copy of `msg` (header and route copied,
        content shared, as Go's by-value messages are). Returns how many modules.

        A full member is waited for like `send`; a `ChannelFullError` for one member is
        raised after the others have had their copy.
        """
        members = list(self._groups.get(group, {}).values())
        failure: BusError | None = None
        for channel in members:
            try:
                await self._put(channel, msg.copy(), self.config.send_timeout)
            except (ChannelFullError, ModuleClosedError) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return len(members)

    async def send_sync(self, module: str, msg: Message, timeout: float | None = None) -> Message:
        """Send a request and wait for the reply whose `parent_msg_id` is its msg_id.

        The request goes out as a copy with `header.sync` set (beehive's SendSync). The
        whole exchange, including waiting for room in a full channel, is bounded by
        `timeout` (None or <= 0 means `config.sync_timeout`, 30 s by default); past it,
        `SyncTimeoutError` says which phase ran out.
        """
        if timeout is None or timeout <= 0:
            timeout = self.config.sync_timeout
        channel = self._channel(module)
        request = msg.copy()
        request.header.sync = True
        msg_id = request.header.msg_id
        if not msg_id:
            raise ValueError(f"send_sync to {module!r}: the message has no msg_id")
        if msg_id in self._pending:
            raise ValueError(f"send_sync to {module!r}: message {msg_id} is already waiting")
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = reply
        deadline = self._clock.now() + timeout
        try:
            try:
                await self._put(channel, request, timeout)
            except ChannelFullError:
                raise SyncTimeoutError(module, msg_id, timeout, "send") from None
            remaining = deadline - self._clock.now()
            if not reply.done() and not await self._wait(reply, remaining):
                raise SyncTimeoutError(module, msg_id, timeout, "response")
            return reply.result()
        finally:
            self._pending.pop(msg_id, None)
            if not reply.done():
                reply.cancel()

    def send_resp(self, msg: Message) -> bool:
        """Hand a reply to the `send_sync` waiting on `msg.parent_msg_id`.

        Returns False when nobody waits for it (timed out, or never asked), where beehive
        logs and drops it.
        """
        waiter = self._pending.get(msg.header.parent_msg_id)
        if waiter is None or waiter.done():
            return False
        waiter.set_result(msg)
        return True

    def is_waiting_for(self, msg_id: str) -> bool:
        """Whether a `send_sync` waits for a reply to `msg_id` (so a hub can route a
        reply from the peer to `send_resp` rather than to a module)."""
        return msg_id in self._pending

    # -- receiving --

    async def receive(self, module: str) -> Message:
        """The next message on `module`'s channel, waiting for one if it is empty.

        Raises `ModuleClosedError` if the module is cleaned up meanwhile.
        """
        channel = self._channel(module)
        while True:
            msg = channel.get_nowait()
            if msg is not None:
                return msg
            if channel.closed:
                raise ModuleClosedError(module)
            fut = channel.item_waiter()
            try:
                await fut
            except BaseException:
                channel.forget(fut, putter=False)
                raise

    # -- internals --

    def _channel(self, name: str) -> _Channel:
        channel = self._channels.get(name)
        if channel is None:
            raise UnknownModuleError(name)
        return channel

    @staticmethod
    def _destination(msg: Message) -> str:
        destination = msg.route.destination
        if not destination:
            raise BusError(
                f"message {msg.header.msg_id} has no route.destination: set it or name "
                "the module to send to"
            )
        return destination

    async def _put(self, channel: _Channel, msg: Message, timeout: float | None) -> None:
        if channel.closed:
            raise ModuleClosedError(channel.name)
        if not channel.full():
            channel.put_nowait(msg)
            return
        deadline = None if timeout is None else self._clock.now() + timeout
        while channel.full():
            if channel.closed:
                raise ModuleClosedError(channel.name)
            remaining = None if deadline is None else deadline - self._clock.now()
            if remaining is not None and remaining <= 0:
                raise ChannelFullError(channel.name, channel.capacity, msg.header.msg_id)
            fut = channel.room_waiter()
            try:
                woken = await self._wait(fut, remaining)
            except BaseException:
                channel.forget(fut, putter=True)
                raise
            if not woken:
                channel.forget(fut, putter=True)
                raise ChannelFullError(channel.name, channel.capacity, msg.header.msg_id)
        channel.put_nowait(msg)

    async def _wait(self, fut: asyncio.Future[object], timeout: float | None) -> bool:
        """Wait for `fut` at most `timeout` seconds of the bus's clock. True if it is done.

        Exceptions set on `fut` propagate.
        """
        if timeout is None:
            await fut
            return True
        if not fut.done():
            if timeout <= 0:
                return False
            timer = asyncio.ensure_future(self._clock.sleep(timeout))
            try:
                await asyncio.wait((fut, timer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            if not fut.done():
                return False
        fut.result()
        return True
