"""Child process of test_sqlite_crash: writes until it is killed, reporting every ack.

Usage: python crash_writer.py DB_PATH WRITERS. Prints "ready", then one line
"<key> <revision>" per acknowledged create, flushed at once, so the parent knows exactly
which writes were acknowledged when it sends SIGKILL. Must never print a write before
its create() returned.
"""

from __future__ import annotations

import asyncio
import sys

from kubeedge.store.sqlite import SqliteStore


def value_for(key: str) -> bytes:
    # Large enough that a torn page would show; derived from the key so it can be checked.
    return (key * 64).encode()


async def main(path: str, writers: int) -> None:
    store = SqliteStore(path)
    await store.start()
    print("ready", flush=True)

    async def write_forever(writer: int) -> None:
        for n in range(10**9):
            key = f"/crash/{writer}/{n}"
            revision = await store.create(key, value_for(key))
            sys.stdout.write(f"{key} {revision}\n")
            sys.stdout.flush()

    await asyncio.gather(*(write_forever(w) for w in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
