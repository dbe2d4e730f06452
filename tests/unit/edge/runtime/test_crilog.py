"""The container log file: CRI format lines, containerd's partial-line rules, kubelet's
size-based rotation."""

from __future__ import annotations

import re
from pathlib import Path

from kubeedge.edge.runtime.supervisor import CriLogWriter, format_timestamp

LINE = re.compile(rb"^(\S+) (stdout|stderr) ([FP]) (.*)$")


class Clock:
    def __init__(self) -> None:
        self.ns = 1_700_000_000_123_456_789

    def __call__(self) -> int:
        self.ns += 1_000
        return self.ns


def records(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for raw in path.read_bytes().splitlines():
        m = LINE.match(raw)
        assert m, raw
        out.append((m.group(2), m.group(3), m.group(4)))
    return out


def test_timestamp_is_rfc3339_with_nanoseconds_in_utc() -> None:
    assert format_timestamp(1_700_000_000_000_000_005) == "2023-11-14T22:13:20.000000005Z"


def test_full_lines_per_stream_in_order(tmp_path: Path) -> None:
    log = CriLogWriter(str(tmp_path / "c/0.log"), clock=Clock())
    log.write("stdout", b"hi\nthere\n")
    log.write("stderr", b"err\n")
    log.close()
    raw = (tmp_path / "c/0.log").read_bytes().splitlines()
    assert raw[0].startswith(b"2023-11-14T22:13:20.123457789Z stdout F hi")
    assert records(tmp_path / "c/0.log") == [
        (b"stdout", b"F", b"hi"), (b"stdout", b"F", b"there"), (b"stderr", b"F", b"err")]


def test_line_split_across_writes_is_one_record(tmp_path: Path) -> None:
    log = CriLogWriter(str(tmp_path / "0.log"), clock=Clock())
    log.write("stdout", b"hel")
    log.write("stderr", b"x\n")
    log.write("stdout", b"lo\n")
    log.close()
    assert records(tmp_path / "0.log") == [(b"stderr", b"F", b"x"),
                                           (b"stdout", b"F", b"hello")]


def test_long_line_is_cut_into_partial_records_of_16_kib(tmp_path: Path) -> None:
    log = CriLogWriter(str(tmp_path / "0.log"), clock=Clock())
    log.write("stdout", b"a" * (16 * 1024) + b"b" * (16 * 1024) + b"c" * 10 + b"\n")
    log.close()
    recs = records(tmp_path / "0.log")
    assert [(s, t, len(c)) for s, t, c in recs] == [
        (b"stdout", b"P", 16384), (b"stdout", b"P", 16384), (b"stdout", b"F", 10)]
    assert b"".join(c for _, _, c in recs) == b"a" * 16384 + b"b" * 16384 + b"c" * 10


def test_unterminated_line_at_close_is_partial(tmp_path: Path) -> None:
    log = CriLogWriter(str(tmp_path / "0.log"), clock=Clock())
    log.write("stdout", b"done\nno newline")
    log.close_stream("stdout")
    log.close()
    assert records(tmp_path / "0.log") == [(b"stdout", b"F", b"done"),
                                           (b"stdout", b"P", b"no newline")]


def test_empty_line_is_an_empty_full_record(tmp_path: Path) -> None:
    log = CriLogWriter(str(tmp_path / "0.log"), clock=Clock())
    log.write("stdout", b"\n")
    log.close()
    assert (tmp_path / "0.log").read_bytes().endswith(b" stdout F \n")


def test_rotation_keeps_max_files_including_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = CriLogWriter(str(path), max_size=1000, max_files=3, clock=Clock())
    for i in range(200):
        log.write("stdout", b"line %03d\n" % i)
    log.close()
    rotated = log.rotated()
    assert len(rotated) == 2
    for p in [*rotated, str(path)]:
        assert Path(p).stat().st_size <= 1000
    # Nothing lost inside the kept files, and they are in order: oldest first.
    kept = b"".join(Path(p).read_bytes() for p in [*rotated, str(path)])
    numbers = [int(c.split()[1]) for _, _, c in
               (LINE.match(r).groups()[1:] for r in kept.splitlines())]  # type: ignore[union-attr]
    assert numbers == list(range(numbers[0], 200))
    assert re.fullmatch(r"0\.log\.\d{8}-\d{6}\.\d{9}", Path(rotated[0]).name)


def test_reopen_after_the_file_was_moved_writes_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = CriLogWriter(str(path), clock=Clock())
    log.write("stdout", b"one\n")
    path.rename(tmp_path / "moved")
    log.reopen()
    log.write("stdout", b"two\n")
    log.close()
    assert records(path) == [(b"stdout", b"F", b"two")]
    assert records(tmp_path / "moved") == [(b"stdout", b"F", b"one")]
