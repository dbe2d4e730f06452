"""SqliteStore under `kill -9`: acknowledged means durable, and only one writer process.

A child process (crash_writer.py) creates keys from many tasks and prints each
acknowledged one; the parent kills it mid-stream with SIGKILL and reopens the database.
Must never sleep to synchronise: the parent reads the child's output under deadlines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from kubeedge.store.contract import KeyValue
from kubeedge.store.sqlite import SqliteStore
from tests.unit.store.crash_writer import value_for

WRITER = Path(__file__).with_name("crash_writer.py")
DEADLINE_SECONDS = 30.0


async def spawn(*args: str) -> asyncio.subprocess.Process:
    # The child finds `kubeedge` in the venv (editable install).
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "kine.db"
    child = await spawn(str(WRITER), str(db), "16")
    assert child.stdout is not None
    acked: dict[str, int] = {}
    killed = False
    try:
        line = await asyncio.wait_for(child.stdout.readline(), DEADLINE_SECONDS)
        assert line == b"ready\n", (line, await child.stderr.read())  # type: ignore[union-attr]
        while len(acked) < 2000:
            line = await asyncio.wait_for(child.stdout.readline(), DEADLINE_SECONDS)
            key, revision = line.decode().split()
            acked[key] = int(revision)
        os.kill(child.pid, signal.SIGKILL)
        killed = True
        # Lines already in the pipe were acknowledged before the kill; a torn last line
        # (no newline) was not fully reported, so it does not count.
        rest = await asyncio.wait_for(child.stdout.read(), DEADLINE_SECONDS)
        for line in rest.split(b"\n")[:-1]:
            key, revision = line.decode().split()
            acked[key] = int(revision)
    finally:
        # Only one kill: Popen.kill() polls first and would reap the child behind
        # asyncio's back (its exit status then reads 255).
        if not killed:
            os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    store = SqliteStore(db)
    await store.start()  # the dead writer's lock went with it
    try:
        for key, revision in acked.items():
            assert await store.get(key) == KeyValue(key, value_for(key), revision, revision)
        stored = (await store.range("/crash/")).kvs
        # Whatever committed without being reported is whole too: no torn values.
        assert all(kv.value == value_for(kv.key) for kv in stored)
        assert len({kv.mod_revision for kv in stored}) == len(stored)
        newest = max(acked.values())
        assert await store.current_revision() >= newest
        assert await store.create("/after-crash", b"x") > newest
    finally:
        await store.close()


async def test_a_second_process_cannot_open_the_database(tmp_path: Path) -> None:
    db = tmp_path / "kine.db"
    store = SqliteStore(db)
    await store.start()
    probe = (
        "import asyncio, sys\n"
        "from kubeedge.store import StoreUnavailable\n"
        "from kubeedge.store.sqlite import SqliteStore\n"
        "try:\n"
        "    asyncio.run(SqliteStore(sys.argv[1]).start())\n"
        "except StoreUnavailable as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    try:
        child = await spawn("-c", probe, str(db))
        out, err = await asyncio.wait_for(child.communicate(), DEADLINE_SECONDS)
        assert child.returncode == 3, err.decode()
        assert str(db) in out.decode() and "already open" in out.decode()
    finally:
        await store.close()
    # With the first writer gone, the second one gets in.
    child = await spawn("-c", probe, str(db))
    _, err = await asyncio.wait_for(child.communicate(), DEADLINE_SECONDS)
    assert child.returncode == 0, err.decode()
