"""Reports as CSV, for ``Accept: text/csv`` (docs/reports.md, "CSV"): one row per experience,
the counts of the chosen unit first, then the analysis; orders one row per order."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

__all__ = ["orders_csv", "performance_csv"]

PERFORMANCE_COLUMNS = (
    "experienceLocalId",
    "experienceName",
    "control",
    "entries",
    "conversions",
    "conversionRate",
    "conversionRateLower",
    "conversionRateUpper",
    "lift",
    "liftLower",
    "liftUpper",
    "confidence",
    "pValue",
    "adjustedPValue",
    "significant",
    "sequentialPValue",
    "chanceToBeatControl",
    "expectedLoss",
    "revenue",
    "revenuePerUnit",
    "revenueLift",
    "revenueConfidence",
)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def performance_csv(report: Mapping[str, Any]) -> str:
    counting = report["reportParameters"]["countingMethod"]
    names = {e["experienceLocalId"]: e.get("name") for e in report["activity"]["experiences"]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PERFORMANCE_COLUMNS)
    for exp in report["report"]["statistics"]["experiences"]:
        a = exp["analysis"]
        counts = exp["totals"][counting]["totals"]
        row = (
            exp["experienceLocalId"],
            names.get(exp["experienceLocalId"]),
            a.get("control"),
            counts["entries"],
            counts["conversions"],
            _get(a, "conversionRate", "value"),
            _get(a, "conversionRate", "lower"),
            _get(a, "conversionRate", "upper"),
            _get(a, "lift", "value"),
            _get(a, "lift", "lower"),
            _get(a, "lift", "upper"),
            a.get("confidence"),
            a.get("pValue"),
            a.get("adjustedPValue"),
            a.get("significant"),
            _get(a, "sequential", "pValue"),
            _get(a, "bayesian", "chanceToBeatControl"),
            _get(a, "bayesian", "expectedLoss"),
            _get(a, "revenue", "total"),
            _get(a, "revenue", "perUnit", "value"),
            _get(a, "revenue", "lift", "value"),
            _get(a, "revenue", "confidence"),
        )
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def orders_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = ("time", "experienceLocalId", "id", "total", "duplicate", "outlier")
    writer.writerow(columns)
    for order in report["orders"]:
        writer.writerow([_cell(order.get(c)) for c in columns])
    return out.getvalue()
