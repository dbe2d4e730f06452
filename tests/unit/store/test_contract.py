"""The storage contract (ARCHITECTURE.md rule 2), run against every backend.

Each test gets a `store` (SQLite in tmp_path, or a real etcd under a fresh key prefix)
and pins one promise of `kubeedge.store.contract`. Revisions are compared relative to
each other, never as absolute numbers (etcd starts at 1 and the etcd is shared).
Must never sleep to synchronise: watches are read with deadlines (`take`).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeedge.store.contract import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    Store,
    WatchEvent,
)
from tests.unit.store.conftest import DEADLINE_SECONDS, next_event, take

P = "/registry/pods/"


def put(key: str, value: bytes, revision: int, create: int, prev: bytes | None) -> WatchEvent:
    return WatchEvent(EventType.PUT, key, value, revision, create, prev)


async def test_every_write_makes_exactly_one_new_revision(store: Store) -> None:
    r0 = await store.current_revision()
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2")
    r3, _ = await store.delete(P + "a")
    assert (r1, r2, r3) == (r0 + 1, r0 + 2, r0 + 3)
    assert await store.current_revision() == r3
    # A refused write makes no revision.
    with pytest.raises(KeyNotFound):
        await store.update(P + "a", b"3")
    assert await store.current_revision() == r3


async def test_get_returns_value_and_revisions(store: Store) -> None:
    created = await store.create(P + "web", b'{"a":1}')
    updated = await store.update(P + "web", b'{"a":2}', mod_revision=created)
    assert await store.get(P + "web") == KeyValue(P + "web", b'{"a":2}', created, updated)
    assert await store.get(P + "absent") is None


async def test_values_are_opaque_bytes(store: Store) -> None:
    for key, value in [(P + "bin", bytes(range(256))), (P + "empty", b""), (P + "ü/ключ", b"\0")]:
        revision = await store.create(key, value)
        assert await store.get(key) == KeyValue(key, value, revision, revision)


async def test_range_by_prefix_in_key_order(store: Store) -> None:
    for key in ["b", "a", "c", "a/x", "ab"]:
        await store.create(P + key, key.encode())
    await store.create("/registry/podsX", b"outside")  # shares the text, not the prefix
    await store.create("/registry/pod", b"outside")
    result = await store.range(P)
    assert [kv.key for kv in result.kvs] == [P + k for k in ["a", "a/x", "ab", "b", "c"]]
    assert [kv.value for kv in result.kvs] == [b"a", b"a/x", b"ab", b"b", b"c"]
    assert (result.count, result.more) == (5, False)
    assert result.revision == await store.current_revision()
    assert [kv.key for kv in (await store.range(P + "a")).kvs] == [P + "a", P + "a/x", P + "ab"]
    empty = await store.range("/registry/nothing/")
    assert (empty.kvs, empty.count, empty.more) == ([], 0, False)


async def test_range_pages_with_limit_and_start_after(store: Store) -> None:
    keys = [f"{P}{i:02d}" for i in range(7)]
    for key in keys:
        await store.create(key, b"x")
    await store.delete(keys[3])  # deleted keys are neither listed nor counted
    live = [k for k in keys if k != keys[3]]

    first = await store.range(P, limit=4)
    assert [kv.key for kv in first.kvs] == live[:4]
    assert (first.more, first.count) == (True, 6)

    seen, after, revision = [], "", first.revision
    while True:
        page = await store.range(P, limit=2, start_after=after, revision=revision)
        seen += [kv.key for kv in page.kvs]
        # count is what remains from start_after on (Kubernetes' remainingItemCount).
        assert page.count == len(live) - len(seen) + len(page.kvs)
        if not page.more:
            break
        after = page.kvs[-1].key
    assert seen == live

    exact = await store.range(P, limit=6)
    assert (len(exact.kvs), exact.more, exact.count) == (6, False, 6)
    assert (await store.range(P, start_after=P + "99")).kvs == []
    # start_after before the prefix does not widen the range, after it empties it.
    assert [kv.key for kv in (await store.range(P, start_after="/a")).kvs] == live
    beyond = await store.range(P, start_after="/registry/pods1", limit=2)
    assert (beyond.kvs, beyond.count, beyond.more) == ([], 0, False)


async def test_range_and_get_at_an_older_revision(store: Store) -> None:
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2")
    r3 = await store.create(P + "b", b"b")
    r4, _ = await store.delete(P + "a")
    r5 = await store.create(P + "a", b"again")

    at = await store.range(P, revision=r1)
    assert (at.kvs, at.revision) == ([KeyValue(P + "a", b"1", r1, r1)], r1)
    at = await store.range(P, revision=r3)
    assert at.kvs == [KeyValue(P + "a", b"2", r1, r2), KeyValue(P + "b", b"b", r3, r3)]
    assert (await store.range(P, revision=r4)).kvs == [KeyValue(P + "b", b"b", r3, r3)]
    assert await store.get(P + "a", revision=r4) is None
    assert await store.get(P + "a", revision=r2) == KeyValue(P + "a", b"2", r1, r2)
    assert await store.get(P + "a") == KeyValue(P + "a", b"again", r5, r5)
    page = await store.range(P, revision=r3, limit=1)
    assert (page.more, page.count, page.revision) == (True, 2, r3)


async def test_create_only_if_absent(store: Store) -> None:
    first = await store.create(P + "a", b"1")
    with pytest.raises(KeyExists) as refused:
        await store.create(P + "a", b"2")
    assert refused.value.key == P + "a"
    assert await store.get(P + "a") == KeyValue(P + "a", b"1", first, first)
    await store.delete(P + "a")
    again = await store.create(P + "a", b"3")  # a deleted key can be created anew
    assert await store.get(P + "a") == KeyValue(P + "a", b"3", again, again)


async def test_update_compare_and_swap(store: Store) -> None:
    created = await store.create(P + "a", b"1")
    updated = await store.update(P + "a", b"2", mod_revision=created)
    with pytest.raises(RevisionMismatch) as stale:
        await store.update(P + "a", b"lost", mod_revision=created)
    assert (stale.value.key, stale.value.expected, stale.value.actual) == (
        P + "a",
        created,
        updated,
    )
    assert (await store.get(P + "a")) == KeyValue(P + "a", b"2", created, updated)
    unguarded = await store.update(P + "a", b"3")
    assert (await store.get(P + "a")) == KeyValue(P + "a", b"3", created, unguarded)


async def test_update_or_delete_of_an_absent_key_is_not_found(store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await store.update(P + "ghost", b"x")
    with pytest.raises(KeyNotFound):
        await store.update(P + "ghost", b"x", mod_revision=1)
    with pytest.raises(KeyNotFound):
        await store.delete(P + "ghost")
    with pytest.raises(KeyNotFound):
        await store.delete(P + "ghost", mod_revision=1)
    revision = await store.create(P + "ghost", b"x")
    await store.delete(P + "ghost")
    with pytest.raises(KeyNotFound):
        await store.update(P + "ghost", b"y", mod_revision=revision)


async def test_delete_compare_and_swap_returns_the_deleted_value(store: Store) -> None:
    created = await store.create(P + "a", b"1")
    updated = await store.update(P + "a", b"2")
    with pytest.raises(RevisionMismatch) as stale:
        await store.delete(P + "a", mod_revision=created)
    assert stale.value.actual == updated
    revision, deleted = await store.delete(P + "a", mod_revision=updated)
    assert revision > updated
    assert deleted == KeyValue(P + "a", b"2", created, updated)
    assert await store.get(P + "a") is None


async def test_watch_from_a_revision_replays_then_follows_live(store: Store) -> None:
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2")
    r3 = await store.create(P + "b", b"b")
    await store.create("/registry/services/x", b"other prefix")
    watch = store.watch(P, start_revision=r2)
    try:
        replayed = await take(watch, 2)
        assert replayed == [put(P + "a", b"2", r2, r1, b"1"), put(P + "b", b"b", r3, r3, None)]
        r5, _ = await store.delete(P + "b")
        r6 = await store.update(P + "a", b"3")
        assert await take(watch, 2) == [
            WatchEvent(EventType.DELETE, P + "b", b"b", r5, r3, b"b"),
            put(P + "a", b"3", r6, r1, b"2"),
        ]
    finally:
        await watch.aclose()


async def test_watch_delivers_concurrent_writes_in_order_exactly_once(store: Store) -> None:
    start = await store.current_revision() + 1
    early = store.watch(P, start_revision=start)
    early_events = asyncio.ensure_future(take(early, 8 * 13))
    late_events: asyncio.Future[list[WatchEvent]] | None = None
    late = None
    revisions: list[int] = []

    async def writer(n: int) -> None:
        nonlocal late, late_events
        for i in range(6):
            key = f"{P}w{n}-{i}"
            revisions.append(await store.create(key, b"0"))
            revisions.append(await store.update(key, b"1"))
            if n == 3 and i == 2:
                # A watch opened mid-stream from the start: replay and live must join
                # without a gap or a duplicate while the other writers keep going.
                late = store.watch(P, start_revision=start)
                late_events = asyncio.ensure_future(take(late, 8 * 13))
        revisions.append((await store.delete(f"{P}w{n}-0"))[0])

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        assert late_events is not None
        for events in (await early_events, await late_events):
            assert [e.revision for e in events] == sorted(revisions)
        # Nothing beyond: the next event is the next write.
        marker = await store.create(P + "marker", b"m")
        assert late is not None
        assert (await next_event(early)).revision == marker
        assert (await next_event(late)).revision == marker
    finally:
        await early.aclose()
        if late is not None:
            await late.aclose()


async def test_watch_from_zero_sees_only_changes_after_it_opened(store: Store) -> None:
    before = await store.create(P + "old", b"old")
    watch = store.watch(P)
    first = asyncio.ensure_future(anext(watch))
    try:
        # etcd opens the stream on first iteration, so write until the watch reports a
        # write (each write is awaited: no busy loop), under a deadline.
        async def tick_until_seen() -> None:
            await store.create(P + "tick", b"0")
            while not first.done():
                await store.update(P + "tick", b"1")

        await asyncio.wait_for(tick_until_seen(), DEADLINE_SECONDS)
        event = first.result()
        assert event.key == P + "tick" and event.revision > before
        last = await store.update(P + "tick", b"last")
        # Drain to the last write: revisions keep increasing and "old" never shows up.
        seen = [event]
        while seen[-1].revision != last:
            seen.append(await next_event(watch))
        assert all(e.key == P + "tick" for e in seen)
        assert [e.revision for e in seen] == sorted({e.revision for e in seen})
    finally:
        first.cancel()
        await watch.aclose()


async def test_delete_event_carries_the_last_value(store: Store) -> None:
    start = await store.current_revision() + 1
    watch = store.watch(P, start_revision=start)
    try:
        created = await store.create(P + "a", b"v1")
        await store.update(P + "a", b"v2")
        deleted, _ = await store.delete(P + "a")
        events = await take(watch, 3)
        assert events[2] == WatchEvent(EventType.DELETE, P + "a", b"v2", deleted, created, b"v2")
        assert events[0].is_create and not events[1].is_create
    finally:
        await watch.aclose()


async def test_compaction_forgets_history_but_keeps_current_state(store: Store) -> None:
    created = await store.create(P + "a", b"1")
    for i in range(2, 6):
        await store.update(P + "a", str(i).encode())
    await store.create(P + "gone", b"x")
    await store.delete(P + "gone")
    keep = await store.create(P + "b", b"b")  # the compact revision is a create: see below
    after = await store.update(P + "a", b"6")
    state = await store.range(P)

    await store.compact(keep)
    assert await store.compacted_revision() == keep
    with pytest.raises(Compacted) as old:
        await store.get(P + "a", revision=created)
    assert (old.value.requested, old.value.compacted) == (created, keep)
    with pytest.raises(Compacted):
        await store.range(P, revision=keep - 1)
    stale_watch = store.watch(P, start_revision=keep - 1)
    with pytest.raises(Compacted):
        await next_event(stale_watch)

    # The state as of the compact revision and everything after stay readable.
    at_keep = await store.range(P, revision=keep)
    assert [(kv.key, kv.value) for kv in at_keep.kvs] == [(P + "a", b"5"), (P + "b", b"b")]
    assert (await store.range(P)).kvs == state.kvs
    # Watching from the compact revision itself is allowed. (etcd drops a tombstone or a
    # prev_kv at exactly that revision, so the test puts a create there.)
    watch = store.watch(P, start_revision=keep)
    try:
        assert await take(watch, 2) == [
            put(P + "b", b"b", keep, keep, None),
            put(P + "a", b"6", after, created, b"5"),
        ]
    finally:
        await watch.aclose()

    await store.compact(keep - 1)  # at or below the last compaction: nothing to do
    assert await store.compacted_revision() == keep
    with pytest.raises(FutureRevision):
        await store.compact(await store.current_revision() + 100)
    # Writes go on after compaction, from where the revision was.
    assert await store.update(P + "a", b"7") == after + 1


async def test_reading_a_future_revision_is_refused(store: Store) -> None:
    current = await store.create(P + "a", b"1")
    with pytest.raises(FutureRevision) as future:
        await store.get(P + "a", revision=current + 10)
    assert (future.value.requested, future.value.current) == (current + 10, current)
    with pytest.raises(FutureRevision):
        await store.range(P, revision=current + 1)


async def test_closing_the_store_ends_open_watches(store: Store) -> None:
    watch = store.watch(P, start_revision=await store.current_revision() + 1)
    pending = asyncio.ensure_future(anext(watch))
    await store.create(P + "a", b"1")
    assert (await asyncio.wait_for(pending, DEADLINE_SECONDS)).key == P + "a"
    waiting = asyncio.ensure_future(anext(watch))
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, DEADLINE_SECONDS)


async def test_aclose_from_another_task_ends_a_waiting_iteration(store: Store) -> None:
    watch = store.watch(P, start_revision=await store.current_revision() + 1)
    await store.create(P + "a", b"1")
    assert (await next_event(watch)).key == P + "a"
    waiting = asyncio.ensure_future(anext(watch))
    await store.create(P + "b", b"2")  # may or may not be seen before the close
    await watch.aclose()  # type: ignore[attr-defined]
    try:
        event = await asyncio.wait_for(waiting, DEADLINE_SECONDS)
        assert event.key == P + "b"
    except StopAsyncIteration:
        pass
    with pytest.raises(StopAsyncIteration):
        await next_event(watch)


# ---- property: random operations against an in-memory model -----------------------


@dataclass
class Model:
    """What the contract says the store holds, rebuilt from the operations alone."""

    head: int
    compacted: int
    state: dict[str, KeyValue] = field(default_factory=dict)
    snapshots: list[tuple[int, dict[str, KeyValue]]] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)

    def wrote(self, revision: int, event: WatchEvent, kv: KeyValue | None) -> None:
        assert revision == self.head + 1, "a write must make exactly one new revision"
        self.head = revision
        if kv is None:
            del self.state[event.key]
        else:
            self.state[event.key] = kv
        self.events.append(event)
        self.snapshots.append((revision, dict(self.state)))

    def listed(self, prefix: str, after: str, at: dict[str, KeyValue]) -> list[KeyValue]:
        return [at[k] for k in sorted(at) if k.startswith(prefix) and k > after]


KEYS = ["a", "b", "a/x", "ab", "c"]
GUARDS = ["none", "current", "stale"]
OPS = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(KEYS), st.binary(max_size=6)),
    st.tuples(
        st.just("update"), st.sampled_from(KEYS), st.binary(max_size=6), st.sampled_from(GUARDS)
    ),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.sampled_from(GUARDS)),
    st.tuples(st.just("range"), st.integers(0, 3), st.sampled_from(["", *KEYS])),
    st.tuples(st.just("read_old"), st.integers(0, 40)),
    st.tuples(st.just("compact"), st.integers(0, 40)),
)
_examples = itertools.count()


def _guard(model: Model, key: str, kind: str) -> int:
    kv = model.state.get(key)
    if kind == "none":
        return 0
    if kind == "current":
        return kv.mod_revision if kv else 1
    return (kv.mod_revision if kv else 1) + 1000


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, max_size=14))
async def test_random_operations_match_the_model(store: Store, ops: list[tuple]) -> None:
    base = f"/prop/{next(_examples)}/"  # one store serves all examples: keep them apart
    head = await store.current_revision()
    model = Model(head=head, compacted=await store.compacted_revision())
    model.snapshots.append((head, {}))

    for op in ops:
        name, key = op[0], base + str(op[1])
        if name == "create":
            value = op[2]
            if key in model.state:
                with pytest.raises(KeyExists):
                    await store.create(key, value)
            else:
                rev = await store.create(key, value)
                model.wrote(rev, put(key, value, rev, rev, None), KeyValue(key, value, rev, rev))
        elif name == "update":
            value, guard = op[2], _guard(model, key, op[3])
            old = model.state.get(key)
            if old is None:
                with pytest.raises(KeyNotFound):
                    await store.update(key, value, mod_revision=guard)
            elif guard and guard != old.mod_revision:
                with pytest.raises(RevisionMismatch):
                    await store.update(key, value, mod_revision=guard)
            else:
                rev = await store.update(key, value, mod_revision=guard)
                event = put(key, value, rev, old.create_revision, old.value)
                model.wrote(rev, event, KeyValue(key, value, old.create_revision, rev))
        elif name == "delete":
            guard = _guard(model, key, op[2])
            old = model.state.get(key)
            if old is None:
                with pytest.raises(KeyNotFound):
                    await store.delete(key, mod_revision=guard)
            elif guard and guard != old.mod_revision:
                with pytest.raises(RevisionMismatch):
                    await store.delete(key, mod_revision=guard)
            else:
                rev, deleted = await store.delete(key, mod_revision=guard)
                assert deleted == old
                event = WatchEvent(
                    EventType.DELETE, key, old.value, rev, old.create_revision, old.value
                )
                model.wrote(rev, event, None)
        elif name == "range":
            limit, after = op[1], (base + op[2]) if op[2] else ""
            expected = model.listed(base, after, model.state)
            result = await store.range(base, start_after=after, limit=limit)
            assert result.kvs == (expected[:limit] if limit else expected)
            assert result.count == len(expected)
            assert result.more == (bool(limit) and len(expected) > limit)
        elif name == "read_old":
            rev, snapshot = model.snapshots[op[1] % len(model.snapshots)]
            if rev == 0:
                continue  # revision 0 means "current", not "before the first write"
            if rev < model.compacted:
                with pytest.raises(Compacted):
                    await store.range(base, revision=rev)
            else:
                assert (await store.range(base, revision=rev)).kvs == model.listed(
                    base, "", snapshot
                )
        elif name == "compact":
            rev = model.snapshots[op[1] % len(model.snapshots)][0]
            if rev > 0:
                await store.compact(rev)
                model.compacted = max(model.compacted, rev)

    assert (await store.range(base)).kvs == model.listed(base, "", model.state)
    # The watch replays exactly the model's history (from after the compaction point:
    # etcd drops prev_kv at exactly the compact revision).
    start = max(head + 1, model.compacted + 1)
    expected_events = [e for e in model.events if e.revision >= start]
    if expected_events:
        watch = store.watch(base, start_revision=start)
        try:
            assert await take(watch, len(expected_events)) == expected_events
        finally:
            await watch.aclose()
