"""Instants and weekly time windows, converted to the UTC values Adobe's context carries.

Adobe's on-device context gives rules three clock variables, all in UTC
(``target_decisioning_engine/context_provider.py``, ``_create_timing_context``):
``current_timestamp`` (epoch milliseconds), ``current_day`` (1 = Monday … 7 = Sunday) and
``current_time`` (``"HHmm"``, 24-hour). An audience written for a local time zone is therefore
shifted to UTC when the artifact is compiled. Dates become exact instants. Days and hours are
shifted by the zone's UTC offset, one variant per offset period of the year that follows the
compile instant, each guarded by ``current_timestamp``: exact across daylight-saving changes
for a year (see docs/artifacts.md, "Time zones").
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_instant(value: object, zone: ZoneInfo | None = None) -> datetime:
    """An aware datetime from a ``datetime`` or an ISO 8601 string; naive values are in ``zone``.

    Accepts every schedule format the Admin API lists (``2017-05-01``, ``2017-05-01T08``,
    ``2017-05-01T08:00Z``, ``…:ss.SSSXXX``); without ``zone`` a naive value is UTC.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or UTC)
    return moment


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, the unit of ``current_timestamp``."""
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` for unknown names."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def utc_offset_minutes(zone: ZoneInfo, at: datetime) -> int:
    """Minutes to add to UTC to get local time in ``zone`` at instant ``at``."""
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    return int(offset // timedelta(minutes=1))


@functools.lru_cache(maxsize=256)
def offset_periods(
    zone: ZoneInfo, at: datetime, horizon: timedelta = timedelta(days=366)
) -> tuple[tuple[int | None, int | None, int], ...]:
    """``(start_ms, end_ms, offset)`` periods of constant UTC offset from ``at`` over ``horizon``.

    The first period has no start and the last no end (open-ended); ``offset`` is local minus
    UTC in minutes. A zone without changes gives one period ``(None, None, offset)``.
    """
    periods: list[tuple[int | None, int | None, int]] = []
    start: int | None = None
    current = utc_offset_minutes(zone, at)
    day = at
    end = at + horizon
    while day < end:
        following = day + timedelta(days=1)
        if utc_offset_minutes(zone, following) != current:
            change = _first_change(zone, day, following, current)
            periods.append((start, epoch_millis(change), current))
            start, current = epoch_millis(change), utc_offset_minutes(zone, change)
        day = following
    periods.append((start, None, current))
    return tuple(periods)


def _first_change(zone: ZoneInfo, low: datetime, high: datetime, offset: int) -> datetime:
    """The first second in ``(low, high]`` whose offset is not ``offset`` (bisection)."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if utc_offset_minutes(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def parse_clock(value: object) -> int:
    """Minutes after midnight from ``"HHmm"`` or ``"HH:mm"``; raises ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError("a time of day is a string 'HHmm' or 'HH:mm'")
    digits = value.replace(":", "", 1) if len(value) == 5 else value
    if len(digits) != 4 or not digits.isdigit():
        raise ValueError(f"{value!r} is not a time of day 'HHmm' or 'HH:mm'")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day between 0000 and 2359")
    return hours * 60 + minutes


def clock_text(minutes: int) -> str:
    """``"HHmm"``, the form of ``current_time``."""
    return f"{minutes // 60:02d}{minutes % 60:02d}"


def parse_day(value: object) -> int:
    """ISO weekday 1 (Monday) … 7 (Sunday) from a number or an English day name or prefix."""
    if isinstance(value, bool):
        raise ValueError("a day is 1-7 or a day name")
    if isinstance(value, int):
        if 1 <= value <= 7:
            return value
        raise ValueError(f"day {value} is outside 1 (Monday) … 7 (Sunday)")
    if isinstance(value, str):
        name = value.strip().lower()
        if name.isdigit():
            return parse_day(int(name))
        for number, day in enumerate(DAYS, start=1):
            if len(name) >= 3 and day.startswith(name):
                return number
    raise ValueError(f"{value!r} is not a day of the week")


def shift_window(start: int, end: int, offset: int) -> list[tuple[int, int, int]]:
    """UTC pieces of the local minute window ``[start, end]`` (same local day).

    Returns ``(day_shift, utc_start, utc_end)`` triples: ``day_shift`` is -1, 0 or +1, the UTC
    day relative to the local day. ``offset`` is local minus UTC, in minutes.
    """
    pieces: list[tuple[int, int, int]] = []
    lo, hi = start - offset, end - offset
    for shift in (-1, 0, 1):
        base = shift * MINUTES_PER_DAY
        a, b = max(lo, base), min(hi, base + MINUTES_PER_DAY - 1)
        if a <= b:
            pieces.append((shift, a - base, b - base))
    return pieces
