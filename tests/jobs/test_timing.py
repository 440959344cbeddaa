"""Schedule timing: interval and cron due times, missed runs, and the timings refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cible.errors import BadRequest
from cible.jobs import Schedule
from cible.jobs.schedules import Timing

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # a Thursday


def at(hour: int, minute: int = 0, second: int = 0, day: int = 15) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def test_interval_runs_follow_the_previous_scheduled_time() -> None:
    every = Timing(every_seconds=600, cron=None)
    assert every.next_after(T) == at(12, 10)
    # Due exactly at its time, and still the same run a little later.
    assert every.latest_due(at(12, 10), at(12, 10)) == at(12, 10)
    assert every.latest_due(at(12, 10), at(12, 19, 59)) == at(12, 10)
    assert every.count_between(at(12, 10), at(12, 10)) == 0


def test_interval_missed_runs_collapse_to_the_latest() -> None:
    every = Timing(every_seconds=600, cron=None)
    latest = every.latest_due(at(12, 10), at(13, 5))
    assert latest == at(13, 0)
    assert every.count_between(at(12, 10), latest) == 5  # 12:10 … 12:50 were skipped
    assert every.next_after(latest) == at(13, 10)


def test_cron_runs_at_matching_minutes_in_utc() -> None:
    hourly = Timing(every_seconds=None, cron="0 * * * *")
    assert hourly.next_after(T) == at(13)
    assert hourly.next_after(at(12, 0, 30)) == at(13)
    assert hourly.latest_due(at(13), at(13)) == at(13)
    assert hourly.latest_due(at(13), at(15, 59, 59)) == at(15)
    assert hourly.count_between(at(13), at(15)) == 2

    office = Timing(every_seconds=None, cron="*/15 9-17 * * 1-5")
    assert office.next_after(at(17, 45)) == at(9, day=16)
    # Friday evening to Monday morning.
    assert office.next_after(at(18, day=16)) == at(9, day=19)
    assert office.latest_due(at(9, day=19), at(9, 20, day=19)) == at(9, 15, day=19)


def test_cron_times_are_read_in_utc_whatever_the_zone_given() -> None:
    paris = datetime(2026, 1, 15, 13, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    daily = Timing(every_seconds=None, cron="0 3 * * *")
    assert daily.next_after(paris) == at(3, day=16)
    assert daily.next_after(paris).tzinfo == UTC


@pytest.mark.parametrize(
    ("every", "cron", "field"),
    [
        (None, None, "timing"),
        (timedelta(hours=1), "0 * * * *", "timing"),
        (timedelta(0), None, "every"),
        (timedelta(seconds=-5), None, "every"),
        (timedelta(seconds=1.5), None, "every"),
        (None, "0 * * * * *", "cron"),  # six fields (seconds) are not cron here
        (None, "every hour", "cron"),
        (None, "61 * * * *", "cron"),
        (None, "@hourly", "cron"),
    ],
)
def test_bad_timings_are_refused(every: timedelta | None, cron: str | None, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        Schedule("x", kind="k", every=every, cron=cron)
    assert caught.value.message.startswith(f"{field}:")


@pytest.mark.parametrize("name", ["", " padded", "n" * 101])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(BadRequest, match="name"):
        Schedule(name, kind="k", every=timedelta(seconds=1))
