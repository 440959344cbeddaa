"""QA links of an activity (Adobe Admin API ``POST /activities/{ab|xt|autoallocate}/{id}/qamode``).

Adobe answers a ``QAModeRequest`` (``url``, ``currentActivityOnly``, ``audienceIdsEvaluatedAsTrue``,
``audienceIdsEvaluatedAsFalse``) with ``ABQAModeResponseDTO``: one QA URL per experience
(``{"qaModeExperiences": [{"url", "experienceLocalId"}]}``). The URL is the page with at.js's
preview parameters (Adobe, "at.js URL parameters"): ``at_preview_token``,
``at_preview_index=<activity index>_<experience index>`` (both 1-based),
``at_preview_listed_activities_only`` and ``at_preview_evaluate_as_true_audience_ids`` /
``..._false_...`` (ids joined by ``_``); at.js turns them into the delivery request's ``qaMode``.

Each experience's token (``cible.delivery.qa_token``) also names that experience, so a server-side
caller that sends only ``qaMode.token`` still sees the experience of the link. Cible adds, per
experience, the ``qaMode`` object to send as is, and the links' ``expiresAt``. The activity may be
in any state but deleted, and scheduled to start later: QA is how it is checked before it goes
live.
Nothing is stored: the tokens carry everything the delivery API needs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from sqlalchemy.orm import Session

from cible.activities.abxt._render import definition
from cible.activities.abxt.schemas import EntityId
from cible.activities.abxt.tables import Activity
from cible.delivery.qa_token import mint
from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.tenants.event_keys import event_token_keys

__all__ = ["QA_LINK_DAYS", "QAModeIn", "qa_links"]

QA_LINK_DAYS = 30
"""How long a QA link works (Adobe's never expire; Cible's tokens are bearer credentials that
show unpublished content, so they do, and a new call gives new ones)."""


class QAModeIn(BaseModel):
    """Adobe's ``QAModeRequest``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: StrictStr | None = Field(default=None, max_length=4096)
    current_activity_only: StrictBool = Field(default=True, alias="currentActivityOnly")
    audience_ids_evaluated_as_true: list[EntityId] = Field(
        default_factory=list, alias="audienceIdsEvaluatedAsTrue", max_length=100
    )
    audience_ids_evaluated_as_false: list[EntityId] = Field(
        default_factory=list, alias="audienceIdsEvaluatedAsFalse", max_length=100
    )


def _with_query(url: str | None, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    if not url:
        return "?" + query  # no page given: the parameters to append to one
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "") or (parts.scheme and not parts.netloc):
        raise BadRequest("url: an http(s) page address")
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


def qa_links(session: Session, activity: Activity, body: QAModeIn, now: datetime) -> dict[str, Any]:
    """``ABQAModeResponseDTO`` for ``activity`` (already checked readable by the caller)."""
    experiences = definition(activity).get("experiences") or []
    keys = event_token_keys(session, activity.tenant_id, now=now)
    expires = now + timedelta(days=QA_LINK_DAYS)
    true_ids = list(dict.fromkeys(body.audience_ids_evaluated_as_true))
    false_ids = list(dict.fromkeys(body.audience_ids_evaluated_as_false))
    if set(true_ids) & set(false_ids):
        raise BadRequest("an audience cannot be evaluated both as true and as false")
    found: list[dict[str, Any]] = []
    for index, experience in enumerate(experiences, start=1):
        token = mint(
            activity.tenant_id,
            [(activity.id, index)],
            expires=int(expires.timestamp()),
            keys=keys,
        )
        params = [("at_preview_token", token), ("at_preview_index", f"1_{index}")]
        qa_mode: dict[str, Any] = {
            "token": token,
            "previewIndexes": [{"activityIndex": 1, "experienceIndex": index}],
        }
        if body.current_activity_only:
            params.append(("at_preview_listed_activities_only", "true"))
            qa_mode["listedActivitiesOnly"] = True
        if true_ids:
            params.append(("at_preview_evaluate_as_true_audience_ids", _joined(true_ids)))
            qa_mode["evaluateAsTrueAudienceIds"] = true_ids
        if false_ids:
            params.append(("at_preview_evaluate_as_false_audience_ids", _joined(false_ids)))
            qa_mode["evaluateAsFalseAudienceIds"] = false_ids
        found.append(
            {
                "url": _with_query(body.url, params),
                "experienceLocalId": experience.get("experienceLocalId"),
                "experienceName": experience.get("name"),
                "qaMode": qa_mode,
            }
        )
    return {"qaModeExperiences": found, "expiresAt": iso_millis(expires)}


def _joined(ids: list[int]) -> str:
    return "_".join(str(i) for i in ids)
