"""edged's container log reader: CRI records to kubelet's output, with every option
kubectl logs sends, rotated files, and following until the container ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeedge.edge.edged.logs import LogOptions, container_log, parse_rfc3339, tail_start
from kubeedge.edge.runtime.streams import rotated_log_files
from kubeedge.edge.runtime.supervisor import CriLogWriter, format_timestamp
from tests.fixtures.cluster import eventually

T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z


def rec(ns: int, stream: str, tag: str, text: str) -> str:
    return f"{format_timestamp(ns)} {stream} {tag} {text}\n"


async def not_running() -> bool:
    return False


async def read(path: Path, opts: LogOptions, now_ns: int | None = None) -> bytes:
    out = b""
    async for chunk in container_log(str(path), opts, running=not_running, now_ns=now_ns):
        out += chunk
    return out


@pytest.fixture
def log(tmp_path: Path) -> Path:
    p = tmp_path / "c" / "0.log"
    p.parent.mkdir()
    p.write_text(
        rec(T0, "stdout", "F", "one")
        + rec(T0 + 1_000_000_000, "stderr", "F", "two")
        + "garbage that is not a record\n"
        + rec(T0 + 2_000_000_000, "stdout", "P", "thr")
        + rec(T0 + 2_500_000_000, "stdout", "F", "ee")
        + rec(T0 + 3_000_000_000, "stdout", "F", "four"))
    return p


async def test_records_of_both_streams_in_file_order_and_partials_joined(log: Path) -> None:
    assert await read(log, LogOptions()) == b"one\ntwo\nthree\nfour\n"


async def test_timestamps_prefix_each_line_with_its_first_records_time(log: Path) -> None:
    out = (await read(log, LogOptions(timestamps=True))).decode().splitlines()
    assert out[0] == "2023-11-14T22:13:20.000000000Z one"
    assert out[2] == "2023-11-14T22:13:22.000000000Z three"


async def test_tail_counts_whole_lines_from_the_end(log: Path) -> None:
    assert await read(log, LogOptions(tail_lines=2)) == b"three\nfour\n"
    assert await read(log, LogOptions(tail_lines=0)) == b""
    assert await read(log, LogOptions(tail_lines=100)) == b"one\ntwo\nthree\nfour\n"


def test_tail_reads_a_big_file_backwards_across_blocks(tmp_path: Path) -> None:
    p = tmp_path / "big.log"
    lines = [rec(T0 + i, "stdout", "F", f"line {i} " + "x" * 100) for i in range(5000)]
    p.write_text("".join(lines))
    index, offset = tail_start([str(p)], 3)
    assert index == 0
    assert p.read_bytes()[offset:].decode() == "".join(lines[-3:])
    assert tail_start([str(p)], 5000) == (0, 0)


async def test_since_skips_older_lines(log: Path) -> None:
    now = T0 + 4_000_000_000
    assert await read(log, LogOptions(since_seconds=2), now_ns=now) == b"three\nfour\n"
    since = parse_rfc3339("2023-11-14T22:13:21Z")
    assert await read(log, LogOptions(since_time=since)) == b"two\nthree\nfour\n"


async def test_limit_bytes_cuts_the_output_mid_line(log: Path) -> None:
    assert await read(log, LogOptions(limit_bytes=6)) == b"one\ntw"
    assert await read(log, LogOptions(limit_bytes=4)) == b"one\n"


async def test_rotated_files_come_first_and_tail_spans_them(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    clock = iter(range(T0, T0 + 10**12, 10**9))
    w = CriLogWriter(str(path), max_size=100, max_files=5, clock=lambda: next(clock))
    for i in range(8):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert len(rotated_log_files(str(path))) >= 2
    text = await read(path, LogOptions())
    assert text == b"".join(f"line {i}\n".encode() for i in range(8))
    assert await read(path, LogOptions(tail_lines=5)) == b"".join(
        f"line {i}\n".encode() for i in range(3, 8))


async def test_follow_goes_on_until_the_container_stops_also_across_rotation(
        tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = CriLogWriter(str(path), max_size=300, max_files=5)
    w.write("stdout", b"before\n")
    alive = True

    async def running() -> bool:
        return alive

    got = bytearray()

    async def follow() -> None:
        async for chunk in container_log(str(path), LogOptions(follow=True, tail_lines=1),
                                         running=running):
            got.extend(chunk)

    task = asyncio.create_task(follow())
    await eventually(lambda: b"before\n" in got, 5, "the existing line")
    for i in range(20):  # several rotations
        w.write("stdout", f"follow {i}\n".encode())
    await eventually(lambda: got.count(b"\n") == 21, 5, "every new line")
    assert len(rotated_log_files(str(path))) >= 2
    assert not task.done()
    w.write("stderr", b"last words\n")
    w.close()
    alive = False
    await asyncio.wait_for(task, 5)
    assert bytes(got) == b"before\n" + b"".join(
        f"follow {i}\n".encode() for i in range(20)) + b"last words\n"


async def test_follow_of_a_missing_file_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    alive = True

    async def running() -> bool:
        return alive

    got = bytearray()

    async def follow() -> None:
        async for chunk in container_log(str(path), LogOptions(follow=True),
                                         running=running):
            got.extend(chunk)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    path.write_text(rec(T0, "stdout", "F", "hello"))
    await eventually(lambda: got == b"hello\n", 5, "the line")
    alive = False
    await asyncio.wait_for(task, 5)


def test_options_from_kubelets_query_names() -> None:
    o = LogOptions.from_query({"follow": ["true"], "tailLines": ["10"], "timestamps": ["1"],
                               "previous": ["false"], "sinceSeconds": ["60"],
                               "limitBytes": ["100"]})
    assert (o.follow, o.tail_lines, o.timestamps, o.previous, o.since_seconds,
            o.limit_bytes) == (True, 10, True, False, 60, 100)
    o = LogOptions.from_query({"sinceTime": ["2024-01-02T03:04:05+01:00"]})
    assert o.since_time == parse_rfc3339("2024-01-02T02:04:05Z")
    assert LogOptions.from_query({}) == LogOptions()


@pytest.mark.parametrize(("query", "name"), [
    ({"tailLines": ["x"]}, "tailLines"),
    ({"tailLines": ["-1"]}, "tailLines"),
    ({"limitBytes": ["0"]}, "limitBytes"),
    ({"sinceSeconds": ["0"]}, "sinceSeconds"),
    ({"sinceTime": ["yesterday"]}, "sinceTime"),
    ({"sinceTime": ["2024-01-02T03:04:05Z"], "sinceSeconds": ["5"]}, "sinceTime"),
])
def test_bad_values_name_the_parameter(query: dict[str, list[str]], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        LogOptions.from_query(query)


def test_rfc3339_with_fractions_and_offsets() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20Z") == T0
    assert parse_rfc3339("2023-11-14T22:13:20.5Z") == T0 + 500_000_000
    assert parse_rfc3339("2023-11-14T23:13:20.000000001+01:00") == T0 + 1
