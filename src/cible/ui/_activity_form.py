"""The activity form: rows (one location, one offer and audience per experience, one conversion
metric) to Adobe's v3 ``ABActivity`` body and back.

A definition the rows cannot show (several locations, several offers per experience, ...) is
edited as JSON; both paths produce the body ``cible.activities.abxt.service`` validates.
"""

from __future__ import annotations

from typing import Any

from cible.activities.abxt.schemas import ActivityIn
from cible.errors import BadRequest
from cible.ui import _forms
from cible.ui._context import Ui

BLANK_ROWS = 2
CONVERSION_ID = 32767
SCALARS = ("name", "priority", "startsAt", "endsAt", "workspace")


def _int(text: str, name: str, problems: list[tuple[str, str]]) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        problems.append((name, "must be a whole number"))
        return None


def body_from_form(ui: Ui, kind: str) -> ActivityIn:
    """The v3 body the form describes (JSON mode: the JSON field plus the scalar fields)."""
    problems: list[tuple[str, str]] = []
    data: dict[str, Any] = {"name": ui.field("name").strip()}
    priority = _int(ui.field("priority"), "priority", problems)
    if priority is not None:
        data["priority"] = priority
    for key, name in (("startsAt", "starts_at"), ("endsAt", "ends_at")):
        if ui.field(name).strip():
            data[key] = ui.field(name).strip()
    if ui.field("workspace"):
        data["workspace"] = ui.field("workspace")
    if ui.field("mode") == "json":
        definition = _forms.json_field("definition", ui.field("definition"))
        if not isinstance(definition, dict):
            raise BadRequest.fields([("definition", "must be a JSON object")])
        merged = {k: v for k, v in definition.items() if k not in SCALARS and k != "state"}
        if problems:
            raise BadRequest.fields(problems)
        return _forms.body(ActivityIn, {**merged, **data})
    location = ui.field("location").strip()
    options: dict[int, int] = {}
    experiences: list[dict[str, Any]] = []
    rows = zip(
        ui.fields("exp_name"),
        ui.fields("exp_offer"),
        ui.fields("exp_audience"),
        ui.fields("exp_traffic"),
        strict=False,
    )
    for i, (name, offer, audience, traffic) in enumerate(rows):
        if not offer:
            continue
        offer_id = _int(offer, f"experiences[{i}].offer", problems)
        if offer_id is None:
            continue
        option = options.setdefault(offer_id, len(options))
        experience: dict[str, Any] = {
            "experienceLocalId": len(experiences),
            "name": name.strip() or f"Experience {chr(ord('A') + len(experiences))}",
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": option}],
        }
        audience_id = _int(audience, f"experiences[{i}].audience", problems)
        experience["audienceIds"] = [audience_id] if audience_id is not None else []
        if kind == "ab":
            experience["visitorPercentage"] = _int(traffic, f"experiences[{i}].traffic", problems)
        experiences.append(experience)
    if not location:
        problems.append(("location", "name the mbox this activity decides"))
    if problems:
        raise BadRequest.fields(problems)
    data["options"] = [{"optionLocalId": n, "offerId": o} for o, n in options.items()]
    data["locations"] = {"mboxes": [{"locationLocalId": 0, "name": location}]}
    data["experiences"] = experiences
    metric_mbox = ui.field("metric_mbox").strip()
    if metric_mbox:
        event = "mbox_clicked" if ui.field("metric_event") == "mbox_clicked" else "mbox_shown"
        data["metrics"] = [
            {
                "metricLocalId": CONVERSION_ID,
                "name": "Conversion",
                "conversion": True,
                "mboxes": [{"name": metric_mbox, "successEvent": event}],
                "action": {"type": "count_once"},
            }
        ]
    return _forms.body(ActivityIn, data)


def rows_of(definition: dict[str, Any]) -> dict[str, Any] | None:
    """The form fields of a stored definition, or None when only JSON can show it."""
    mboxes = definition.get("locations", {}).get("mboxes", [])
    if len(mboxes) != 1 or mboxes[0].get("audienceIds"):
        return None
    location = mboxes[0]
    offers = {o["optionLocalId"]: o["offerId"] for o in definition.get("options", [])}
    rows = []
    for exp in definition.get("experiences", []):
        pairs = exp.get("optionLocations", [])
        audiences = exp.get("audienceIds", [])
        if len(pairs) != 1 or len(audiences) > 1 or pairs[0]["optionLocalId"] not in offers:
            return None
        traffic = exp.get("visitorPercentage")
        rows.append(
            {
                "name": exp.get("name") or "",
                "offer": str(offers[pairs[0]["optionLocalId"]]),
                "audience": str(audiences[0]) if audiences else "",
                "traffic": "" if traffic is None else str(traffic),
            }
        )
    metrics = definition.get("metrics", [])
    metric_mbox, metric_event = "", "mbox_shown"
    if len(metrics) > 1 or (metrics and len(metrics[0].get("mboxes", [])) != 1):
        return None
    if metrics:
        metric_mbox = metrics[0]["mboxes"][0]["name"]
        metric_event = metrics[0]["mboxes"][0].get("successEvent", "mbox_shown")
    if definition.get("reportingAudiences") or definition.get("autoAllocate"):
        return None
    return {
        "location": location["name"],
        "rows": rows,
        "metric_mbox": metric_mbox,
        "metric_event": metric_event,
    }


def blank_row() -> dict[str, str]:
    return {"name": "", "offer": "", "audience": "", "traffic": ""}
