"""MetaStore: KubeEdge's edge schema, its operations, resourceVersion ordering, group
commit and the "committed before acknowledged" contract (specs/kubeedge.md §6,
ARCHITECTURE.md rules 4 and 5)."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeedge.edge.metamanager import (
    ApplyDelete,
    ApplyUpdate,
    Delete,
    KeyVersion,
    MetaRow,
    MetaStore,
    MetaStoreClosed,
    MetaStoreError,
    Upsert,
)
from kubeedge.edge.metamanager.store import SCHEMA_VERSION


def obj(name: str, rv: int, uid: str = "uid-1", ns: str = "default") -> str:
    """The JSON text the cloud sends for an object (spec §2 content)."""
    return json.dumps(
        {"metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": str(rv)}}
    )


def rv_of(row: MetaRow | None) -> int | None:
    return None if row is None else int(json.loads(row.value)["metadata"]["resourceVersion"])


@pytest.fixture
async def store(tmp_path: Path):
    s = await MetaStore.open(tmp_path / "edgecore.db")
    yield s
    await s.close()


# ---- schema --------------------------------------------------------------------------

# KubeEdge's tables and columns (edge/pkg/metamanager/dao/models).
KUBEEDGE_COLUMNS = {
    "meta": ["key", "type", "value"],
    "meta_v2": ["key", "group_version_resource", "namespace", "name", "resource_version", "value"],
    "device": ["id", "name", "description", "state", "last_online"],
    "device_attr": [
        "id",
        "deviceid",
        "name",
        "description",
        "value",
        "optional",
        "attr_type",
        "metadata",
    ],
    "device_twin": [
        "id",
        "deviceid",
        "name",
        "description",
        "expected",
        "actual",
        "expected_meta",
        "actual_meta",
        "expected_version",
        "actual_version",
        "optional",
        "attr_type",
        "metadata",
    ],
    "sub_topics": ["topic"],
    "target_urls": ["url"],
}


async def test_schema_has_kubeedges_tables_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    async with await MetaStore.open(path):
        pass
    conn = sqlite3.connect(path)
    try:
        for table, columns in KUBEEDGE_COLUMNS.items():
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            assert [c[1] for c in info] == columns, table
            assert [c[1] for c in info if c[5]] == [columns[0]], f"{table} primary key"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


async def test_rows_are_readable_the_way_kubeedge_users_read_them(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    async with await MetaStore.open(path) as s:
        await s.apply_update("default/pod/nginx", "pod", obj("nginx", 5), "5")
        # Another process (an operator's sqlite3 shell) sees the committed row at once.
        conn = sqlite3.connect(path)
        rows = conn.execute("select * from meta").fetchall()
        conn.close()
    assert rows == [("default/pod/nginx", "pod", obj("nginx", 5))]


async def test_device_tables_accept_rows_without_an_id(store: MetaStore) -> None:
    # GORM leaves the autoIncrement id to SQLite; our `integer` primary key must too.
    def insert(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO device_twin (deviceid, name) VALUES ('d1', 'temp')")
        return conn.execute("SELECT id FROM device_twin").fetchone()[0]

    assert await store.transaction(insert) == 1


def make_kubeedge_database(path: Path) -> None:
    """A database as KubeEdge's own edgecore leaves it: GORM's tables, user_version 0."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`))")
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?, ?)",
        [
            ("default/pod/web", "pod", obj("web", 40)),
            ("default/podpatch/web", "podpatch", "not json"),
            ("default/configmap/cfg", "configmap", json.dumps({"data": {}})),
        ],
    )
    conn.commit()
    conn.close()


async def test_a_kubeedge_database_is_migrated_and_its_versions_recorded(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    make_kubeedge_database(path)
    async with await MetaStore.open(path) as s:
        assert await s.version("default/pod/web") == KeyVersion(40, False)
        assert await s.version("default/podpatch/web") is None  # not an object: unversioned
        assert await s.version("default/configmap/cfg") is None
        assert not await s.apply_update("default/pod/web", "pod", obj("web", 39), 39)
        assert rv_of(await s.get("default/pod/web")) == 40
        assert await s.apply_update("default/configmap/cfg", "configmap", obj("cfg", 3), 3)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_a_database_from_a_newer_edgecore_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MetaStoreError, match=r"schema version 2, written by a newer edgecore"):
        MetaStore(path)
    MetaStore(tmp_path / "other.db")  # the failed open left no lock behind elsewhere
    with pytest.raises(MetaStoreError, match="newer edgecore"):
        MetaStore(path)  # and none on this path either: same error, not "already open"


async def test_a_meta_table_without_kubeedges_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (k text)")
    conn.close()
    with pytest.raises(MetaStoreError, match=r"lacks columns \['key', 'type', 'value'\]"):
        MetaStore(path)


async def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MetaStoreError, match=r"edgecore.db cannot be opened"):
        MetaStore(path)


async def test_second_open_of_the_same_file_is_refused(store: MetaStore) -> None:
    with pytest.raises(MetaStoreError, match="already open by another edgecore"):
        MetaStore(store.path)


async def test_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a file path"):
        MetaStore(":memory:")


# ---- file mode -------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "edgecore.db"
    s = await MetaStore.open(path)
    await s.upsert("default/secret/token", "secret", '{"data":{"t":"c2VjcmV0"}}')
    # While open the WAL and shared-memory files exist; they hold secrets too.
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")):
        assert mode(p) == 0o600, p
    await s.close()


async def test_an_existing_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    make_kubeedge_database(path)
    path.chmod(0o644)
    async with await MetaStore.open(path):
        assert mode(path) == 0o600


# ---- operations ----------------------------------------------------------------------


async def test_upsert_get_delete(store: MetaStore) -> None:
    assert await store.get("default/configmap/a") is None
    await store.upsert("default/configmap/a", "configmap", '{"v":1}')
    await store.upsert("default/configmap/a", "configmap", b'{"v":2}')
    assert await store.get("default/configmap/a") == MetaRow(
        "default/configmap/a", "configmap", '{"v":2}'
    )
    assert await store.delete("default/configmap/a") is True
    assert await store.delete("default/configmap/a") is False
    assert await store.get("default/configmap/a") is None


async def test_query_by_type_spans_namespaces_and_prefix_narrows(store: MetaStore) -> None:
    await store.batch(
        [
            Upsert("default/pod/a", "pod", "{}"),
            Upsert("kube-system/pod/b", "pod", "{}"),
            Upsert("default/podpatch/a", "podpatch", "{}"),
            Upsert("default/configmap/c", "configmap", "{}"),
        ]
    )
    # KubeEdge answers "default/pod" by type alone (spec §6), across namespaces.
    assert [r.key for r in await store.query(type="pod")] == [
        "default/pod/a",
        "kube-system/pod/b",
    ]
    assert [r.key for r in await store.query(key_prefix="default/pod/")] == ["default/pod/a"]
    assert [r.key for r in await store.query(key_prefix="default/pod")] == [
        "default/pod/a",
        "default/podpatch/a",
    ]
    assert [r.key for r in await store.query(type="pod", key_prefix="kube-system/")] == [
        "kube-system/pod/b"
    ]
    assert len(await store.query()) == 4
    assert await store.query(key_prefix="\U0010ffff") == []


async def test_batch_is_one_transaction(store: MetaStore) -> None:
    # A trigger that fails one insert stands in for any failure inside the transaction.
    await store.transaction(
        lambda conn: conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON meta WHEN NEW.key = 'default/pod/bad' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )
    )
    with pytest.raises(MetaStoreError, match="poisoned"):
        await store.batch(
            [Upsert("default/pod/good", "pod", "{}"), Upsert("default/pod/bad", "pod", "{}")]
        )
    assert await store.get("default/pod/good") is None
    results = await store.batch(
        [
            ApplyUpdate("default/pod/x", "pod", obj("x", 2), 2),
            ApplyUpdate("default/pod/x", "pod", obj("x", 1), 1),
            Delete("default/pod/none"),
        ]
    )
    assert results == [True, False, False]
    assert await store.batch([]) == []


async def test_transaction_rolls_back_on_error(store: MetaStore) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO sub_topics VALUES ('a/b')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.transaction(half_then_fail)
    rows = await store.transaction(lambda c: c.execute("SELECT * FROM sub_topics").fetchall())
    assert rows == []


async def test_bad_input_names_the_key_and_field(store: MetaStore) -> None:
    with pytest.raises(ValueError, match=r'meta "default/pod/a": resourceVersion \'abc\''):
        await store.apply_update("default/pod/a", "pod", "{}", "abc")
    with pytest.raises(ValueError, match="resourceVersion -1"):
        await store.apply_update("default/pod/a", "pod", "{}", -1)
    with pytest.raises(ValueError, match=r"resourceVersion '١٢'"):  # non-ASCII digits
        await store.apply_update("default/pod/a", "pod", "{}", "١٢")
    with pytest.raises(ValueError, match="non-empty string"):
        await store.upsert("", "pod", "{}")
    with pytest.raises(ValueError, match='"default/pod/a": type must be'):
        await store.upsert("default/pod/a", "", "{}")
    with pytest.raises(ValueError, match="value must be JSON text"):
        await store.upsert("default/pod/a", "pod", {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a meta store operation"):
        await store.batch([("default/pod/a", "pod", "{}")])  # type: ignore[list-item]


# ---- resourceVersion ordering --------------------------------------------------------


async def test_resend_of_an_older_version_never_overwrites_a_newer(store: MetaStore) -> None:
    key = "default/configmap/cfg"
    assert await store.apply_update(key, "configmap", obj("cfg", 10), "10") is True
    assert await store.apply_update(key, "configmap", obj("cfg", 9), "9") is False
    assert await store.apply_update(key, "configmap", obj("cfg", 10), 10) is False  # resend
    assert rv_of(await store.get(key)) == 10
    assert await store.apply_update(key, "configmap", obj("cfg", 11), 11) is True
    assert await store.version(key) == KeyVersion(11, False)


async def test_an_update_older_than_a_delete_does_not_resurrect(store: MetaStore) -> None:
    key = "default/secret/s"
    await store.apply_update(key, "secret", obj("s", 3), 3)
    assert await store.apply_delete(key, 5) is True
    assert await store.version(key) == KeyVersion(5, True)
    assert await store.apply_update(key, "secret", obj("s", 4), 4) is False
    assert await store.get(key) is None
    # A delete that arrives before anything was stored still fences older updates.
    assert await store.apply_delete("default/secret/t", 8) is False
    assert await store.apply_update("default/secret/t", "secret", obj("t", 7), 7) is False
    # Re-creating the name gives a newer version, which applies.
    assert await store.apply_update(key, "secret", obj("s", 6, uid="uid-2"), 6) is True
    assert await store.version(key) == KeyVersion(6, False)


async def test_a_delete_older_than_the_stored_object_is_ignored(store: MetaStore) -> None:
    key = "default/pod/web"
    await store.apply_update(key, "pod", obj("web", 20, uid="new"), 20)
    assert await store.apply_delete(key, 15, uid="old") is False
    assert rv_of(await store.get(key)) == 20


async def test_pod_delete_without_version_follows_kubeedges_uid_rule(store: MetaStore) -> None:
    # synccontroller's delete for an orphaned ObjectSync carries only the UID.
    key = "default/pod/web"
    await store.apply_update(key, "pod", obj("web", 20, uid="new"), 20)
    await store.upsert("default/podpatch/web", "podpatch", "{}")
    assert await store.apply_delete(key, uid="old") is False
    assert await store.get(key) is not None
    assert await store.apply_delete(key, "", uid="new") is True
    assert await store.get(key) is None
    assert await store.get("default/podpatch/web") is None  # dropped with its pod
    # The tombstone keeps the last stored version.
    assert await store.version(key) == KeyVersion(20, True)
    assert await store.apply_update(key, "pod", obj("web", 20, uid="new"), 20) is False


async def test_unversioned_upsert_forgets_the_version(store: MetaStore) -> None:
    key = "default/configmap/c"
    await store.apply_update(key, "configmap", obj("c", 9), 9)
    await store.upsert(key, "configmap", "{}")
    assert await store.version(key) is None
    assert await store.apply_update(key, "configmap", obj("c", 2), 2) is True


async def test_tombstones_expire_after_the_retention(tmp_path: Path) -> None:
    now = [1_000_000.0]
    s = await MetaStore.open(
        tmp_path / "edgecore.db", tombstone_retention_seconds=60, wall_clock=lambda: now[0]
    )
    await s.apply_delete("default/pod/gone", 5)
    now[0] += 59
    assert await s.prune_tombstones() == 0
    now[0] += 2
    assert await s.prune_tombstones() == 1
    assert await s.version("default/pod/gone") is None
    await s.apply_delete("default/pod/gone2", 5)
    await s.close()
    now[0] += 61
    async with await MetaStore.open(
        tmp_path / "edgecore.db", tombstone_retention_seconds=60, wall_clock=lambda: now[0]
    ) as s2:
        assert await s2.version("default/pod/gone2") is None  # pruned on open


@st.composite
def shuffled_histories(draw: st.DrawFn) -> tuple[list[tuple], list[tuple], list[int]]:
    """A Kubernetes-like history (one global, increasing resourceVersion; names deleted
    and re-created with new UIDs), then its delivery: shuffled, with resends, in batches."""
    keys = [f"default/pod/p{i}" for i in range(draw(st.integers(1, 3)))]
    live: dict[str, str | None] = dict.fromkeys(keys)
    history: list[tuple] = []
    rv = 0
    uids = 0
    for _ in range(draw(st.integers(1, 30))):
        key = draw(st.sampled_from(keys))
        rv += draw(st.integers(1, 3))
        if live[key] is None:
            uids += 1
            live[key] = f"uid-{uids}"
            history.append(("put", key, rv, live[key]))
        elif draw(st.booleans()):
            history.append(("put", key, rv, live[key]))
        else:
            history.append(("del", key, rv, live[key]))
            live[key] = None
    resends = draw(st.lists(st.sampled_from(history), max_size=10))
    delivery = draw(st.permutations(history + resends))
    cuts = draw(st.lists(st.integers(1, 5), min_size=len(delivery), max_size=len(delivery)))
    return history, delivery, cuts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shuffled_histories())
def test_any_delivery_order_ends_with_the_newest_state(case: tuple) -> None:
    history, delivery, cuts = case

    def as_op(event: tuple) -> ApplyUpdate | ApplyDelete:
        kind, key, rv, uid = event
        if kind == "put":
            return ApplyUpdate(key, "pod", obj(key.rsplit("/", 1)[1], rv, uid), rv)
        return ApplyDelete(key, rv, uid)

    async def run(path: Path) -> dict[str, int | None]:
        async with await MetaStore.open(path) as s:
            i = 0
            for size in cuts:  # several transactions of random size, in delivery order
                if i >= len(delivery):
                    break
                await s.batch([as_op(e) for e in delivery[i : i + size]])
                i += size
            return {key: rv_of(await s.get(key)) for key in {e[1] for e in history}}

    with tempfile.TemporaryDirectory() as tmp:
        final = asyncio.run(run(Path(tmp) / "edgecore.db"))
    newest: dict[str, tuple] = {}
    for event in history:
        newest[event[1]] = event
    expected = {k: (e[2] if e[0] == "put" else None) for k, e in newest.items()}
    assert final == expected


# ---- concurrency, group commit, the ACK contract ---------------------------------------


async def test_many_coroutines_share_commits_and_the_newest_version_wins(
    store: MetaStore,
) -> None:
    versions = list(range(1, 401))
    random.Random(7).shuffle(versions)

    async def send(rv: int) -> bool:
        key = f"default/configmap/c{rv % 8}"
        return await store.apply_update(key, "configmap", obj(key, rv), rv)

    results = await asyncio.gather(*(send(rv) for rv in versions))
    assert any(results)
    for i in range(8):
        newest = max(rv for rv in versions if rv % 8 == i)
        assert rv_of(await store.get(f"default/configmap/c{i}")) == newest
    assert store.stats.operations == 400
    # Group commit: concurrent writes shared fsyncs.
    assert store.stats.commits < 400


async def test_the_event_loop_keeps_running_while_writes_sync(store: MetaStore) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for rv in range(1, 51):  # fifty sequential commits, each with an fsync
        await store.apply_update("default/pod/p", "pod", obj("p", rv), rv)
    stop.set()
    await task
    # Every await of a write handed the loop back: the ticker ran between them.
    assert ticks >= 50


async def test_ack_is_sent_only_after_the_write_is_committed(store: MetaStore) -> None:
    seen_by_other_connection: list[tuple] = []

    def ack(applied: bool | None) -> None:
        # A fresh connection sees only committed data: the row must be there already.
        conn = sqlite3.connect(store.path)
        seen_by_other_connection.append((applied, conn.execute("SELECT key FROM meta").fetchall()))
        conn.close()

    op = ApplyUpdate("default/pod/a", "pod", obj("a", 1), 1)
    assert await store.commit_then(op, ack) is True
    assert seen_by_other_connection == [(True, [("default/pod/a",)])]

    async def async_ack(applied: bool | None) -> None:
        seen_by_other_connection.append(("async", applied))

    await store.commit_then(op, async_ack)  # a resend: still acknowledged
    assert seen_by_other_connection[-1] == ("async", False)


async def test_no_ack_when_the_write_fails(store: MetaStore) -> None:
    await store.transaction(
        lambda conn: conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON meta "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    )
    acked: list[object] = []
    with pytest.raises(MetaStoreError, match="disk says no"):
        await store.commit_then(Upsert("default/pod/a", "pod", "{}"), acked.append)
    assert acked == []


async def test_close_commits_queued_writes_then_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    s = MetaStore(path)
    tasks = [
        asyncio.create_task(s.upsert(f"default/configmap/c{i}", "configmap", "{}"))
        for i in range(50)
    ]
    await asyncio.sleep(0)  # let every task queue its write
    await s.close()
    await asyncio.gather(*tasks)
    with pytest.raises(MetaStoreClosed):
        await s.upsert("default/configmap/late", "configmap", "{}")
    with pytest.raises(MetaStoreClosed):
        await s.get("default/configmap/c1")
    async with await MetaStore.open(path) as again:  # the lock was released
        assert len(await again.query(type="configmap")) == 50


def test_importing_the_store_loads_nothing_heavy() -> None:
    # Rule 9: the edge stays light; only the standard library comes with the store.
    code = (
        "import sys, kubeedge.edge.metamanager as m; "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in "
        "('msgspec', 'orjson', 'yaml', 'cryptography', 'aiohttp', 'websockets', 'jwt')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
