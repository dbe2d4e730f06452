"""The etcd backend of the storage contract, spoken through etcd's /v3 JSON gateway.

Owns the HTTP session to etcd and the translation between the contract and etcd's KV,
Txn, Compaction and Watch calls (keys and values base64 in JSON, int64 as strings).
Every key is stored under `key_prefix`, so several clusters can share one etcd.

Must never: use the gRPC client packages (aiohttp only, so the cloud side has one HTTP
stack), retry a write whose request may have reached etcd (a retried create could fail
on its own success), or leak etcd's error strings past the contract's exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson

from kubeedge.store.contract import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RangeResult,
    RevisionMismatch,
    StoreError,
    StoreUnavailable,
    WatchEvent,
)

__all__ = ["EtcdStore"]

# etcd's messages (mvcc/kvstore.go), the only way the gateway tells these apart (code 11).
_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
# gRPC codes the gateway forwards that mean "try again later", not "your request is bad".
_UNAVAILABLE_CODES = {4, 14}  # DeadlineExceeded, Unavailable


class _EtcdError(Exception):
    """An error answer from etcd before it is mapped to the contract."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def compacted(self) -> bool:
        return _COMPACTED in self.message

    @property
    def future(self) -> bool:
        return _FUTURE in self.message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(data: str | None) -> bytes:
    return base64.b64decode(data) if data else b""


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix" (clientv3.GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # no upper bound: every key


def _int(value: Any) -> int:
    # The gateway renders int64 as JSON strings and leaves out zero values.
    return int(value) if value else 0


class _EtcdWatch(AsyncIterator[WatchEvent]):
    """The iterator `EtcdStore.watch` returns: one streaming POST /v3/watch.

    The stream is opened on the first iteration, so for start_revision 0 "the next
    change" is the next one after etcd accepted the watch.
    """

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int) -> None:
        self._store = store
        self._prefix = prefix
        self._start = start_revision
        self._response: aiohttp.ClientResponse | None = None
        self._gen = self._run()
        store._watches.add(self)

    def __aiter__(self) -> _EtcdWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        self.abort()  # an iteration waiting in another task ends too
        with contextlib.suppress(RuntimeError):  # that iteration is still running
            await self._gen.aclose()

    def abort(self) -> None:
        """Drop the HTTP stream; the iterator then ends (used by close and aclose)."""
        self._store._watches.discard(self)
        if self._response is not None:
            self._response.close()

    async def _run(self) -> AsyncGenerator[WatchEvent, None]:
        store = self._store
        key = store._full(self._prefix)
        request = {
            "create_request": {
                "key": _b64(key or b"\0"),  # etcd refuses an empty key; NUL is the first
                "range_end": _b64(_prefix_end(key)),
                "start_revision": self._start,
                "prev_kv": True,  # a DELETE must carry the value it removed
            }
        }
        self._response = response = await store._open_stream("/v3/watch", request)
        if self not in store._watches:  # closed while connecting
            response.close()
            return
        buffer = bytearray()
        try:
            try:
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    while (newline := buffer.find(b"\n")) >= 0:
                        line = bytes(buffer[:newline])
                        del buffer[: newline + 1]
                        if line.strip():
                            for event in self._events(orjson.loads(line)):
                                yield event
            except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
                if self not in store._watches:
                    return
                raise StoreUnavailable(f"etcd watch stream broke: {exc}") from exc
            if self in store._watches:
                raise StoreUnavailable("etcd closed the watch stream")
        finally:
            self.abort()

    def _events(self, message: dict[str, Any]) -> list[WatchEvent]:
        if "error" in message:
            error = message["error"]
            raise StoreUnavailable(f"etcd watch failed: {error.get('message', error)}")
        result = message.get("result", {})
        compact_revision = _int(result.get("compact_revision"))
        if compact_revision:
            raise Compacted(self._start, compact_revision)
        if result.get("canceled"):
            reason = result.get("cancel_reason") or "no reason given"
            raise StoreUnavailable(f"etcd canceled the watch: {reason}")
        return [self._store._event(raw) for raw in result.get("events", ())]


class EtcdStore:
    """`Store` on a real etcd (3.4+) through its gRPC gateway, with aiohttp."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        key_prefix: str = "",
        request_timeout_seconds: float = 10.0,
        connect_timeout_seconds: float = 3.0,
        ssl_context: ssl.SSLContext | None = None,
        physical_compaction: bool = False,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint (http://host:2379)")
        self.endpoints = [(e if "://" in e else f"http://{e}").rstrip("/") for e in endpoints]
        self.key_prefix = key_prefix
        self.request_timeout_seconds = request_timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.ssl_context = ssl_context
        self.physical_compaction = physical_compaction
        self._kp = key_prefix.encode()
        self._session: aiohttp.ClientSession | None = None
        self._endpoint = 0  # the one that answered last; tried first
        self._closed = False
        self._start_lock = asyncio.Lock()
        self._watches: weakref.WeakSet[_EtcdWatch] = weakref.WeakSet()
        # A lower bound of etcd's compaction point, so compacted_revision searches less.
        self._compacted_hint = 0

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self._session is not None:
                return
            if self._closed:
                raise StoreUnavailable(f"etcd store {self.endpoints} is closed")
            connector = aiohttp.TCPConnector(limit=0, ssl=self.ssl_context or True)
            self._session = aiohttp.ClientSession(connector=connector)
            try:
                await self.current_revision()
            except BaseException:
                await self._session.close()
                self._session = None
                raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for watch in list(self._watches):
            watch.abort()
        if self._session is not None:
            await self._session.close()

    # ---- HTTP ------------------------------------------------------------------------

    def _check_open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise StoreUnavailable(f"etcd store {self.endpoints} is closed")
        if self._session is None:
            raise StoreUnavailable(f"etcd store {self.endpoints} is not started")
        return self._session

    def _timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total, connect=self.connect_timeout_seconds, sock_connect=None
        )

    async def _send(
        self, path: str, body: dict[str, Any], *, stream: bool
    ) -> aiohttp.ClientResponse:
        """POST to the first endpoint that accepts the connection.

        Only a refused connection moves on to the next endpoint: then the request never
        left, so even a write is safe to send again.
        """
        session = self._check_open()
        data = orjson.dumps(body)
        timeout = self._timeout(None if stream else self.request_timeout_seconds)
        last: Exception | None = None
        for attempt in range(len(self.endpoints)):
            index = (self._endpoint + attempt) % len(self.endpoints)
            url = self.endpoints[index] + path
            try:
                response = await session.post(
                    url, data=data, timeout=timeout, headers={"Content-Type": "application/json"}
                )
            except aiohttp.ClientConnectorError as exc:
                last = exc
                continue
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise StoreUnavailable(f"etcd {url}: {exc or type(exc).__name__}") from exc
            self._endpoint = index
            if response.status != 200:
                try:
                    payload = orjson.loads(await response.read())
                except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError):
                    payload = {}
                finally:
                    response.release()
                message = str(payload.get("message") or payload.get("error") or response.reason)
                code = _int(payload.get("code"))
                if code in _UNAVAILABLE_CODES or response.status in (502, 503, 504):
                    raise StoreUnavailable(f"etcd {url}: {message}")
                raise _EtcdError(message, code)
            return response
        raise StoreUnavailable(f"etcd is unreachable at {', '.join(self.endpoints)}: {last}")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._send(path, body, stream=False)
        try:
            payload: dict[str, Any] = orjson.loads(await response.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise StoreUnavailable(f"etcd {path}: {exc or type(exc).__name__}") from exc
        finally:
            response.release()
        return payload

    async def _open_stream(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        try:
            return await self._send(path, body, stream=True)
        except _EtcdError as exc:
            raise StoreError(f"etcd {path}: {exc.message}") from None

    async def _revision_error(self, exc: _EtcdError, requested: int) -> StoreError:
        if exc.compacted:
            return Compacted(requested, await self.compacted_revision())
        if exc.future:
            return FutureRevision(requested, await self.current_revision())
        return StoreError(f"etcd: {exc.message}")

    # ---- keys ------------------------------------------------------------------------

    def _full(self, key: str) -> bytes:
        return self._kp + key.encode()

    def _key(self, raw: str) -> str:
        return _unb64(raw)[len(self._kp) :].decode()

    def _kv(self, raw: dict[str, Any]) -> KeyValue:
        return KeyValue(
            key=self._key(raw["key"]),
            value=_unb64(raw.get("value")),
            create_revision=_int(raw.get("create_revision")),
            mod_revision=_int(raw.get("mod_revision")),
        )

    def _event(self, raw: dict[str, Any]) -> WatchEvent:
        kv = raw["kv"]
        prev = raw.get("prev_kv")
        prev_value = _unb64(prev.get("value")) if prev else None
        revision = _int(kv.get("mod_revision"))
        if raw.get("type") == "DELETE":
            # etcd's DELETE carries only the key; the value and creation come from prev_kv.
            return WatchEvent(
                type=EventType.DELETE,
                key=self._key(kv["key"]),
                value=prev_value or b"",
                revision=revision,
                create_revision=_int(prev.get("create_revision")) if prev else 0,
                prev_value=prev_value,
            )
        return WatchEvent(
            type=EventType.PUT,  # PUT is enum 0, which the gateway leaves out
            key=self._key(kv["key"]),
            value=_unb64(kv.get("value")),
            revision=revision,
            create_revision=_int(kv.get("create_revision")),
            prev_value=prev_value,
        )

    # ---- the contract -----------------------------------------------------------------

    async def current_revision(self) -> int:
        # Any range answers with the store's revision; a count on one key costs nothing.
        payload = await self._post(
            "/v3/kv/range", {"key": _b64(self._kp + b"\0"), "count_only": True}
        )
        return _int(payload["header"].get("revision"))

    async def compacted_revision(self) -> int:
        """etcd does not report its compaction point, so find it by reading old revisions.

        A read at revision r fails exactly when r < the compacted revision, so a binary
        search over (known lower bound, current] needs about log2(revisions) cheap reads.
        """
        low = max(self._compacted_hint, 1)
        if await self._readable(low):
            return self._compacted_hint
        high = await self.current_revision()  # always readable
        while high - low > 1:  # invariant: low unreadable, high readable
            middle = (low + high) // 2
            if await self._readable(middle):
                high = middle
            else:
                low = middle
        self._compacted_hint = high
        return high

    async def _readable(self, revision: int) -> bool:
        body = {"key": _b64(self._kp + b"\0"), "count_only": True, "revision": revision}
        try:
            await self._post("/v3/kv/range", body)
        except _EtcdError as exc:
            if exc.compacted:
                return False
            raise StoreError(f"etcd: {exc.message}") from None
        return True

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        _check_key(key)
        _check_revision(revision)
        body: dict[str, Any] = {"key": _b64(self._full(key))}
        if revision:
            body["revision"] = revision
        try:
            payload = await self._post("/v3/kv/range", body)
        except _EtcdError as exc:
            raise await self._revision_error(exc, revision) from None
        kvs = payload.get("kvs")
        return self._kv(kvs[0]) if kvs else None

    async def range(
        self,
        prefix: str,
        *,
        start_after: str = "",
        limit: int = 0,
        revision: int = 0,
    ) -> RangeResult:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        _check_revision(revision)
        start = self._full(prefix)
        end = _prefix_end(start)
        start = start or b"\0"  # etcd refuses an empty key; NUL is the first
        if start_after:
            # The smallest key strictly after start_after is start_after + NUL.
            start = max(start, self._full(start_after) + b"\0")
        if end != b"\0" and start > end:
            start = end  # an empty range etcd accepts
        body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(end)}
        if limit:
            body["limit"] = limit
        if revision:
            body["revision"] = revision
        try:
            payload = await self._post("/v3/kv/range", body)
        except _EtcdError as exc:
            raise await self._revision_error(exc, revision) from None
        kvs = [self._kv(raw) for raw in payload.get("kvs", ())]
        return RangeResult(
            kvs=kvs,
            # etcd's header carries the current revision even for an older read.
            revision=revision or _int(payload["header"].get("revision")),
            more=bool(payload.get("more")),
            count=_int(payload.get("count")),
        )

    async def _txn(
        self, key: bytes, compare: dict[str, Any], success: dict[str, Any]
    ) -> dict[str, Any]:
        body = {
            "compare": [{"key": _b64(key), **compare}],
            "success": [success],
            # On failure read the key back, to tell "absent" from "moved on".
            "failure": [{"request_range": {"key": _b64(key)}}],
        }
        try:
            return await self._post("/v3/kv/txn", body)
        except _EtcdError as exc:
            raise StoreError(f"etcd txn: {exc.message}") from None

    async def create(self, key: str, value: bytes) -> int:
        _check_key(key)
        full = self._full(key)
        payload = await self._txn(
            full,
            {"target": "CREATE", "result": "EQUAL", "create_revision": 0},
            {"request_put": {"key": _b64(full), "value": _b64(_check_value(value))}},
        )
        if not payload.get("succeeded"):
            raise KeyExists(key)
        return _int(payload["header"].get("revision"))

    def _guard(self, mod_revision: int) -> dict[str, Any]:
        if mod_revision < 0:
            raise ValueError(f"mod_revision must be >= 0, not {mod_revision}")
        if mod_revision:
            return {"target": "MOD", "result": "EQUAL", "mod_revision": mod_revision}
        # Unguarded still needs the key to exist: its create revision is 0 when absent.
        return {"target": "CREATE", "result": "GREATER", "create_revision": 0}

    def _refusal(self, key: str, mod_revision: int, payload: dict[str, Any]) -> StoreError:
        responses = payload.get("responses") or [{}]
        kvs = responses[0].get("response_range", {}).get("kvs")
        if not kvs:
            return KeyNotFound(key)
        return RevisionMismatch(key, mod_revision, _int(kvs[0].get("mod_revision")))

    async def update(self, key: str, value: bytes, *, mod_revision: int = 0) -> int:
        _check_key(key)
        full = self._full(key)
        payload = await self._txn(
            full,
            self._guard(mod_revision),
            {"request_put": {"key": _b64(full), "value": _b64(_check_value(value))}},
        )
        if not payload.get("succeeded"):
            raise self._refusal(key, mod_revision, payload)
        return _int(payload["header"].get("revision"))

    async def delete(self, key: str, *, mod_revision: int = 0) -> tuple[int, KeyValue]:
        _check_key(key)
        full = self._full(key)
        payload = await self._txn(
            full,
            self._guard(mod_revision),
            {"request_delete_range": {"key": _b64(full), "prev_kv": True}},
        )
        if not payload.get("succeeded"):
            raise self._refusal(key, mod_revision, payload)
        deleted = payload["responses"][0]["response_delete_range"].get("prev_kvs") or []
        if not deleted:  # cannot happen inside the txn; guard against a changed gateway
            raise KeyNotFound(key)
        return _int(payload["header"].get("revision")), self._kv(deleted[0])

    def watch(self, prefix: str, *, start_revision: int = 0) -> AsyncIterator[WatchEvent]:
        if start_revision < 0:
            raise ValueError(f"start_revision must be >= 0, not {start_revision}")
        return _EtcdWatch(self, prefix, start_revision)

    async def compact(self, revision: int) -> None:
        """Compact etcd (all of it: compaction is global, whatever the key prefix).

        A revision at or below etcd's compaction point is a no-op, as in SqliteStore.
        """
        if revision <= 0:
            raise ValueError(f"compact revision must be > 0, not {revision}")
        body = {"revision": revision, "physical": self.physical_compaction}
        try:
            await self._post("/v3/kv/compaction", body)
        except _EtcdError as exc:
            if exc.compacted:
                return
            raise await self._revision_error(exc, revision) from None
        self._compacted_hint = max(self._compacted_hint, revision)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, not {key!r}")


def _check_revision(revision: int) -> None:
    if revision < 0:
        raise ValueError(f"revision must be >= 0, not {revision}")


def _check_value(value: bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"value must be bytes, not {type(value).__name__}")
