"""Reporting audiences in the server-side artifact, translated as targeting audiences are.

An A/B or XT activity's ``reportingAudiences`` (Adobe Admin API, ``ABActivity``) do not change
what a visitor sees: they say which visitors its reports can be filtered to. The delivery API
records, on each event of the activity, the reporting audiences the visitor qualifies for
(``cible.delivery.reporting``), so their conditions travel with the rules the server decides
with, under a key of the server artifact only (Adobe's SDKs never receive it). An entry whose
audience is gone or cannot be translated is left out: it never blocks a publish.

    "reportingAudiences": {"<activity id>": [{"reportingAudienceLocalId": 0,
                                               "audienceId": 9001, "condition": <JSON Logic>}]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cible.artifacts._audiences import AudienceBook
from cible.artifacts.errors import ArtifactError

__all__ = ["KEY", "reporting_audiences"]

KEY = "reportingAudiences"


def reporting_audiences(
    activities: Iterable[tuple[str, Mapping[str, Any]]], book: AudienceBook
) -> dict[str, list[dict[str, Any]]]:
    """``{activity id: [{reportingAudienceLocalId, audienceId, condition}]}`` of the
    ``(path, activity)`` pairs given, each audience translated once by ``book``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path, activity in activities:
        entries = activity.get(KEY) or []
        if not isinstance(entries, list):
            continue
        compiled = []
        for i, entry in enumerate(entries):
            where = f"{path}.{KEY}[{i}]"
            local = entry.get("reportingAudienceLocalId") if isinstance(entry, Mapping) else None
            audience = entry.get("audienceId") if isinstance(entry, Mapping) else None
            if not isinstance(local, int) or not isinstance(audience, int):
                continue
            try:
                logic = book.get(audience, f"{where}.audienceId").logic
            except ArtifactError:
                # A deleted or untranslatable audience only filters reports: it must not keep
                # the activity, or the tenant's other activities, from being served.
                continue
            compiled.append(
                {"reportingAudienceLocalId": local, "audienceId": audience, "condition": logic}
            )
        if compiled:
            found[str(activity.get("id"))] = compiled
    return found
