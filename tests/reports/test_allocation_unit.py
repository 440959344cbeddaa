"""Auto-allocate pieces that need no database: whole-percent splits, remote compilation."""

from __future__ import annotations

from datetime import UTC, datetime

from cible.artifacts import compile_artifact
from cible.reports import allocation


def test_percentages_sum_to_100_with_a_floor() -> None:
    assert allocation.percentages([1 / 3] * 3) == [34, 33, 33]
    assert allocation.percentages([0.0, 0.0, 1.0]) == [1, 1, 98]
    assert sum(allocation.percentages([0.0667, 0.4667, 0.4666])) == 100


def test_auto_allocate_activities_compile_as_remote() -> None:
    activity = {
        "id": 7,
        "type": "ab",
        "name": "auto",
        "priority": 5,
        "state": "approved",
        "options": [{"optionLocalId": 0, "offerId": 1}],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "A",
                "visitorPercentage": 100,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            }
        ],
        "autoAllocate": {"enabled": True},
    }
    offers = {1: {"id": 1, "type": "html", "content": "<p>x</p>"}}
    at = datetime(2026, 1, 1, tzinfo=UTC)
    artifact = compile_artifact(
        client="acme",
        environment="production",
        activities=[activity],
        offers=offers,
        audiences={},
        generated_at=at,
    )
    assert artifact["remoteMboxes"] == ["hero"]
    activity["autoAllocate"] = {"enabled": False}
    artifact = compile_artifact(
        client="acme",
        environment="production",
        activities=[activity],
        offers=offers,
        audiences={},
        generated_at=at,
    )
    assert artifact["remoteMboxes"] == []


def test_reallocation_is_scheduled_hourly_with_a_handler() -> None:
    from datetime import timedelta

    from cible.jobs.registry import load_tasks
    from cible.jobs.schedules import load_schedules

    schedule = {s.name: s for s in load_schedules()}["reports.reallocate"]
    assert schedule.every == timedelta(hours=1)
    assert schedule.kind in load_tasks()
