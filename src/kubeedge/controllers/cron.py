"""Cron schedules as the CronJob controller reads them: the standard five-field syntax of
robfig/cron's `ParseStandard` (what kube's cronjob controller uses), with ranges, steps,
lists, month and weekday names, `?`, the `@yearly`/`@annually`/`@monthly`/`@weekly`/
`@daily`/`@midnight`/`@hourly` descriptors, `@every <duration>`, and a leading
`CRON_TZ=<zone>` or `TZ=<zone>`.

Owns parsing and the arithmetic of schedule times (next, previous, the most recent
missed one). Pure functions over aware datetimes; never reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CronSchedule",
    "EverySchedule",
    "Schedule",
    "ScheduleError",
    "load_zone",
    "most_recent_schedule_time",
    "parse",
]


class ScheduleError(ValueError):
    """A schedule robfig/cron would refuse; the message is robfig's."""


# (min, max, names) for minute, hour, day of month, month, day of week.
_MONTHS = {name: i + 1 for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _WEEKDAYS))

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# A search for the next time gives up after this many years (robfig: five).
_SEARCH_YEARS = 5


def load_zone(name: str) -> tzinfo:
    """A time zone by IANA name (`Local` is UTC here: the controller runs in UTC)."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name}") from exc


@dataclass(frozen=True)
class CronSchedule:
    """A five-field schedule. `dom_star`/`dow_star` record a bare `*` or `?` in those
    fields: when either is starred a day must match both, otherwise either (cron's
    day rule, as robfig implements it)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    dom_star: bool
    dow_star: bool
    zone: tzinfo = UTC

    def in_zone(self, zone: tzinfo) -> CronSchedule:
        return CronSchedule(self.minutes, self.hours, self.days, self.months, self.weekdays,
                            self.dom_star, self.dow_star, zone)

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime) -> datetime | None:
        """The first schedule time strictly after `after` (UTC), None within five years
        of none."""
        after = _aware(after)
        local = after.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        candidate = local + timedelta(minutes=1)
        limit = candidate.year + _SEARCH_YEARS
        while candidate.year <= limit:
            if candidate.month not in self.months:
                year, month = divmod(candidate.month, 12)
                candidate = candidate.replace(year=candidate.year + year, month=month + 1,
                                              day=1, hour=0, minute=0)
                continue
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
                continue
            if candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
                continue
            moment = _localize(candidate, self.zone)
            if moment is not None and moment > after:
                return moment
            candidate += timedelta(minutes=1)
        return None

    def previous(self, at: datetime) -> datetime | None:
        """The last schedule time at or before `at`, None within five years of none.

        Searches windows that double backwards from `at` and walks forward inside the
        first window holding a schedule time."""
        at = _aware(at)
        window = timedelta(minutes=1)
        horizon = timedelta(days=366 * _SEARCH_YEARS)
        while window <= horizon * 2:
            found = self.next(at - window)
            if found is not None and found <= at:
                while True:
                    following = self.next(found)
                    if following is None or following > at:
                        return found
                    found = following
            window *= 2
        return None


@dataclass(frozen=True)
class EverySchedule:
    """`@every <duration>`: a fixed delay from the previous time, whole seconds."""

    seconds: int

    def next(self, after: datetime) -> datetime | None:
        after = _aware(after).replace(microsecond=0)
        return after + timedelta(seconds=self.seconds)

    def previous(self, at: datetime) -> datetime | None:
        return None  # relative to whatever time it last ran: there is no fixed grid


Schedule = CronSchedule | EverySchedule


def parse(text: str, zone: tzinfo | None = None) -> Schedule:
    """Parse like robfig/cron's ParseStandard. A `CRON_TZ=`/`TZ=` prefix sets the zone,
    else `zone` (the CronJob's `spec.timeZone`), else UTC."""
    spec = text.strip()
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("CRON_TZ=", "TZ=")):
        head, _, spec = spec.partition(" ")
        name = head.split("=", 1)[1]
        try:
            zone = load_zone(name)
        except ScheduleError as exc:
            raise ScheduleError(f"provided bad location {name}: {exc}") from None
        spec = spec.strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            return EverySchedule(_parse_duration(spec[len("@every "):].strip()))
        fields_text = _DESCRIPTORS.get(spec)
        if fields_text is None:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = fields_text
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {fields}")
    parsed = [_parse_field(field, *bounds) for field, bounds in zip(fields, _BOUNDS, strict=True)]
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = parsed
    return CronSchedule(minutes, hours, days, months, weekdays, dom_star, dow_star, zone or UTC)


def _parse_field(field: str, low: int, high: int, names: dict[str, int]
                 ) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for expr in field.split(","):
        part, part_star = _parse_range(expr, low, high, names)
        values |= part
        star = star or part_star
    return frozenset(values), star


def _parse_range(expr: str, low: int, high: int, names: dict[str, int]
                 ) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise ScheduleError(f"too many slashes: {expr}")
    bounds = range_and_step[0].split("-")
    if len(bounds) > 2:
        raise ScheduleError(f"too many hyphens: {expr}")
    star = False
    if bounds[0] in ("*", "?"):
        if len(bounds) > 1:
            raise ScheduleError(f"too many hyphens: {expr}")
        start, end, star = low, high, True
    else:
        start = _int_or_name(bounds[0], names)
        end = _int_or_name(bounds[1], names) if len(bounds) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(bounds) == 1 and not star:
            end = high  # "N/step" means N through the maximum
        if step > 1:
            star = False
    if start < low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ScheduleError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step <= 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _int_or_name(text: str, names: dict[str, int]) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    return _int(text)


def _int(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ScheduleError(f"failed to parse int from {text}")
    value = int(text)
    if value < 0:
        raise ScheduleError(f"negative number ({value}) not allowed: {text}")
    return value


_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}


def _parse_duration(text: str) -> int:
    """A Go duration (`1h30m`, `90s`) in whole seconds, at least one (robfig rounds
    `@every` delays below a second up to one)."""
    pos, total = 0, 0.0
    if not text:
        raise ScheduleError(f"failed to parse duration @every {text}")
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ScheduleError(f"failed to parse duration @every {text}: invalid duration")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return max(1, int(total))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _localize(naive: datetime, zone: tzinfo) -> datetime | None:
    """The UTC instant of a wall-clock time in `zone`; None for a time the zone skips
    (a daylight-saving gap)."""
    moment = naive.replace(tzinfo=zone)
    utc = moment.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return utc


def most_recent_schedule_time(schedule: Schedule, earliest: datetime, now: datetime,
                              too_many: int = 100) -> tuple[datetime | None, int]:
    """The latest schedule time in (earliest, now] and how many there are (counting
    stops a little past `too_many`; kube warns about more than 100 missed starts).
    (None, 0) when none is due."""
    first = schedule.next(earliest)
    if first is None or first > now:
        return None, 0
    second = schedule.next(first)
    if second is None or second > now:
        return first, 1
    if isinstance(schedule, EverySchedule):
        step = schedule.seconds
        missed = int((now - first).total_seconds()) // step + 1
        return first + timedelta(seconds=(missed - 1) * step), missed
    latest, count = second, 2
    while count <= too_many:
        following = schedule.next(latest)
        if following is None or following > now:
            return latest, count
        latest, count = following, count + 1
    return schedule.previous(now), count
