"""Cron schedule parsing and schedule-time arithmetic (robfig/cron's standard parser,
as kube's CronJob controller uses it)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kubeedge.controllers import cron


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def nexts(spec: str, start: str, count: int) -> list[str]:
    schedule = cron.parse(spec)
    out, moment = [], t(start)
    for _ in range(count):
        moment = schedule.next(moment)
        out.append(moment.strftime("%Y-%m-%d %H:%M"))
    return out


def test_every_minute_is_the_next_minute_boundary() -> None:
    assert nexts("* * * * *", "2024-05-01T10:00:30", 3) == [
        "2024-05-01 10:01", "2024-05-01 10:02", "2024-05-01 10:03"]


def test_next_is_strictly_after() -> None:
    assert nexts("* * * * *", "2024-05-01T10:00:00", 1) == ["2024-05-01 10:01"]


def test_steps_ranges_and_lists() -> None:
    assert nexts("*/15 * * * *", "2024-05-01T10:01:00", 3) == [
        "2024-05-01 10:15", "2024-05-01 10:30", "2024-05-01 10:45"]
    assert nexts("5-10/5 9,17 * * *", "2024-05-01T09:06:00", 3) == [
        "2024-05-01 09:10", "2024-05-01 17:05", "2024-05-01 17:10"]
    # "N/step" runs from N to the field's maximum.
    assert nexts("50/5 * * * *", "2024-05-01T10:00:00", 3) == [
        "2024-05-01 10:50", "2024-05-01 10:55", "2024-05-01 11:50"]


def test_names_are_case_insensitive() -> None:
    # 2024-05-03 is a Friday.
    assert nexts("0 9 * * MON-fri", "2024-05-03T10:00:00", 2) == [
        "2024-05-06 09:00", "2024-05-07 09:00"]
    assert nexts("0 0 1 jan,JUL *", "2024-05-01T00:00:00", 2) == [
        "2024-07-01 00:00", "2025-01-01 00:00"]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th, or any Friday (2024-09-06 is a Friday).
    assert nexts("0 0 13 * 5", "2024-09-01T00:00:00", 3) == [
        "2024-09-06 00:00", "2024-09-13 00:00", "2024-09-20 00:00"]


def test_day_of_month_and_day_of_week_when_one_is_a_star() -> None:
    assert nexts("0 0 * * 0", "2024-09-01T00:00:00", 2) == [
        "2024-09-08 00:00", "2024-09-15 00:00"]
    assert nexts("0 0 ? * 0", "2024-09-01T00:00:00", 1) == ["2024-09-08 00:00"]


@pytest.mark.parametrize(("descriptor", "expected"), [
    ("@hourly", "2024-05-01 11:00"),
    ("@daily", "2024-05-02 00:00"),
    ("@midnight", "2024-05-02 00:00"),
    ("@weekly", "2024-05-05 00:00"),
    ("@monthly", "2024-06-01 00:00"),
    ("@yearly", "2025-01-01 00:00"),
    ("@annually", "2025-01-01 00:00"),
])
def test_descriptors(descriptor: str, expected: str) -> None:
    assert nexts(descriptor, "2024-05-01T10:30:00", 1) == [expected]


def test_every_is_a_fixed_delay() -> None:
    schedule = cron.parse("@every 1h30m")
    assert schedule.next(t("2024-05-01T10:00:00")) == t("2024-05-01T11:30:00")


def test_cron_tz_prefix_and_zone_argument() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    prefixed = cron.parse("CRON_TZ=Europe/Berlin 0 9 * * *")
    # 09:00 in Berlin (CEST, +02:00) is 07:00 UTC.
    assert prefixed.next(t("2024-05-01T00:00:00")) == t("2024-05-01T07:00:00")
    assert cron.parse("0 9 * * *", berlin).next(t("2024-05-01T00:00:00")) == \
        t("2024-05-01T07:00:00")
    assert cron.parse("TZ=UTC 0 9 * * *").next(t("2024-05-01T00:00:00")) == \
        t("2024-05-01T09:00:00")


def test_daylight_saving_gap_is_skipped() -> None:
    # 2024-03-31 02:30 does not exist in Berlin; the next existing 02:30 is on April 1st.
    schedule = cron.parse("30 2 * * *", ZoneInfo("Europe/Berlin"))
    nxt = schedule.next(t("2024-03-30T12:00:00"))
    assert nxt == t("2024-04-01T00:30:00")


@pytest.mark.parametrize(("spec", "message"), [
    ("* * * *", "expected exactly 5 fields, found 4"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("x * * * *", "failed to parse int from x"),
    ("@often", "unrecognized descriptor: @often"),
    ("CRON_TZ=Nowhere/Special * * * * *", "provided bad location Nowhere/Special"),
    ("", "empty spec string"),
])
def test_bad_schedules_are_refused_with_robfigs_words(spec: str, message: str) -> None:
    with pytest.raises(cron.ScheduleError, match="^" + message.replace("(", r"\(")
                       .replace(")", r"\)").replace("*", r"\*")):
        cron.parse(spec)


def test_previous_finds_the_last_time_at_or_before() -> None:
    schedule = cron.parse("0 9 * * 1-5")
    # Sunday 2024-05-05 12:00: the last run was Friday 09:00.
    assert schedule.previous(t("2024-05-05T12:00:00")) == t("2024-05-03T09:00:00")
    assert schedule.previous(t("2024-05-03T09:00:00")) == t("2024-05-03T09:00:00")


def test_most_recent_schedule_time_none_before_the_first() -> None:
    schedule = cron.parse("* * * * *")
    assert cron.most_recent_schedule_time(schedule, t("2024-05-01T10:00:10"),
                                          t("2024-05-01T10:00:50")) == (None, 0)


def test_most_recent_schedule_time_counts_missed_starts() -> None:
    schedule = cron.parse("* * * * *")
    earliest = t("2024-05-01T10:00:10")
    assert cron.most_recent_schedule_time(schedule, earliest, t("2024-05-01T10:01:05")) == (
        t("2024-05-01T10:01:00"), 1)
    assert cron.most_recent_schedule_time(schedule, earliest, t("2024-05-01T10:05:05")) == (
        t("2024-05-01T10:05:00"), 5)


def test_most_recent_schedule_time_after_many_misses_is_exact() -> None:
    schedule = cron.parse("0 9 * * 1-5")
    earliest = t("2023-01-01T00:00:00")
    latest, missed = cron.most_recent_schedule_time(schedule, earliest,
                                                    t("2024-05-05T12:00:00"))
    assert latest == t("2024-05-03T09:00:00")
    assert missed > 100


def test_most_recent_schedule_time_for_every() -> None:
    schedule = cron.parse("@every 10m")
    earliest = t("2024-05-01T10:00:00")
    assert cron.most_recent_schedule_time(schedule, earliest,
                                          t("2024-05-01T10:35:00")) == (
        t("2024-05-01T10:30:00"), 3)


def test_next_gives_up_on_impossible_dates() -> None:
    assert cron.parse("0 0 30 2 *").next(t("2024-01-01T00:00:00")) is None


def test_next_steps_over_month_and_year_ends() -> None:
    assert nexts("0 0 31 * *", "2024-04-15T00:00:00", 2) == [
        "2024-05-31 00:00", "2024-07-31 00:00"]
    assert nexts("59 23 31 12 *", "2024-12-31T23:59:00", 1) == ["2025-12-31 23:59"]
    assert cron.parse("0 0 29 2 *").next(t("2024-03-01T00:00:00")) == t(
        "2028-02-29T00:00:00")
