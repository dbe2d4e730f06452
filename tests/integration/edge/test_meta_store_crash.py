"""Acknowledged means durable (ARCHITECTURE.md rule 5), under `kill -9`.

A writer process applies versioned updates and deletes from many coroutines and prints
each one only after its write returned, which is when the hub would send the ACK. The
test kills it with SIGKILL after a random number of acknowledgements (so the kill lands
at a random point of a transaction), reopens the database, and checks that every
acknowledged version is there (or was superseded by a newer one) and that SQLite finds
the file intact. Several rounds reuse the same file, so recovery of a recovered database
is exercised too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kubeedge.edge.metamanager import MetaStore

KEYS = 12
WRITER = r"""
import asyncio, itertools, json, os, random, sys
from kubeedge.edge.metamanager import MetaStore

async def main(path, base, seed, keys):
    store = await MetaStore.open(path)
    rng = random.Random(seed)
    counter = itertools.count(base)

    async def worker():
        while True:
            rv = next(counter)
            key = f"default/configmap/cm{rng.randrange(keys)}"
            if rng.random() < 0.15:
                await store.apply_delete(key, rv)
                kind = "d"
            else:
                value = json.dumps({"metadata": {"name": key, "resourceVersion": str(rv)},
                                    "data": {"pad": "x" * rng.randrange(4000)}})
                await store.apply_update(key, "configmap", value, rv)
                kind = "u"
            # The ACK: only after the write's transaction committed. One write(2) of a
            # short line to a pipe is atomic, so a kill never tears a line.
            os.write(1, f"{kind} {key} {rv}\n".encode())

    os.write(1, b"ready\n")
    await asyncio.gather(*(worker() for _ in range(16)))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def run_writer_until_killed(path: Path, base: int, seed: int, kill_after: int) -> list[str]:
    """Start the writer, SIGKILL it once it has acknowledged `kill_after` writes, and
    return every line it printed (all of them acknowledgements of committed writes)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(base), str(seed), str(KEYS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    buffer = b""
    acks = 0
    deadline = time.monotonic() + 60
    try:
        while acks < kill_after:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"writer acknowledged only {acks} writes in 60 s"
            ready, _, _ = select.select([proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"writer exited early ({proc.wait()}): {stderr}")
            buffer += chunk
            acks = buffer.count(b"\n") - 1  # minus the "ready" line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Lines printed before the kill are still in the pipe: they were acknowledged too.
        buffer += proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    complete = buffer[: buffer.rfind(b"\n") + 1].decode().splitlines()
    assert complete[0] == "ready"
    return complete[1:]


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    newest_acked: dict[str, int] = {}  # the newest acknowledged version per key
    total_acks = 0
    for round_ in range(6):
        kill_after = rng.randrange(20, 600)
        lines = run_writer_until_killed(
            path, (round_ + 1) * 1_000_000, rng.randrange(2**32), kill_after
        )
        assert len(lines) >= kill_after
        total_acks += len(lines)
        for line in lines:
            _kind, key, rv = line.split()
            newest_acked[key] = max(newest_acked.get(key, 0), int(rv))

        # The file as the crash left it: SQLite's own check, from a plain connection.
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], seed
        finally:
            conn.close()

        async def check() -> None:
            async with await MetaStore.open(path) as store:
                for key, acked in newest_acked.items():
                    version = await store.version(key)
                    assert version is not None, (seed, key)
                    # Present, or superseded by a newer write; never older.
                    assert version.resource_version >= acked, (seed, key, version, acked)
                    row = await store.get(key)
                    if version.deleted:
                        assert row is None, (seed, key)
                    else:
                        assert row is not None, (seed, key)
                        stored = json.loads(row.value)["metadata"]["resourceVersion"]
                        assert int(stored) == version.resource_version, (seed, key)

        asyncio.run(check())
    assert total_acks >= 6 * 20
