"""The statistics of one report: each experience against the control, and the activity's health.

Pure: it takes per-experience counts and sums (``Arm``) and returns JSON-ready dictionaries,
every field of which docs/reports.md ("Analysis fields") describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cible.reports import stats

__all__ = ["Arm", "Options", "analyse"]

SRM_THRESHOLD = 0.001
# Adobe: lift bounds are not shown below 30 visitors; the normal approximation needs 30
# conversions and 30 non-conversions (2014 statistical calculations PDF).
MIN_UNITS = 30


@dataclass(frozen=True)
class Arm:
    """One experience's numbers for the chosen counting unit and metric."""

    experience_local_id: int
    entries: float
    conversions: float
    revenue: float = 0.0
    revenue_sq: float = 0.0
    winsorized_at: float | None = None
    weight: float | None = None
    """The configured share of traffic (A/B ``visitorPercentage``), for the SRM check."""


@dataclass(frozen=True)
class Options:
    control: int
    correction: str = "holm"
    alpha: float = 0.05
    power: float = 0.8
    minimum_lift: float = 0.05
    n_star: float = 5000.0
    revenue: bool = True
    srm: bool = True


def _num(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    return value if np.isfinite(value) else None


def _interval(value: Any, lower: Any, upper: Any) -> dict[str, float | None]:
    return {"value": _num(value), "lower": _num(lower), "upper": _num(upper)}


def _rate(arm: Arm) -> tuple[float, float]:
    mean = float(stats.mean(arm.entries, arm.conversions))
    p = min(max(mean, 0.0), 1.0)
    return mean, p * (1.0 - p)


def _compare(arm: Arm, control: Arm, mean_var: Any, opts: Options) -> tuple[dict[str, Any], float]:
    mt, vt = mean_var(arm)
    mc, vc = mean_var(control)
    welch = stats.welch(mt, vt, arm.entries, mc, vc, control.entries)
    lift = stats.lift(mt, vt, arm.entries, mc, vc, control.entries)
    enough = min(arm.entries, control.entries) >= MIN_UNITS
    out: dict[str, Any] = {"confidence": _num(welch.confidence), "pValue": _num(welch.p_value)}
    if not bool(lift.defined) or not enough:
        out.update(lift=None, sequential=None, bayesian=None)
        return out, float(welch.p_value)
    out["lift"] = _interval(lift.estimate, lift.lower, lift.upper)
    seq = stats.sequential(
        lift.estimate, lift.se, arm.entries + control.entries, n_star=opts.n_star, alpha=opts.alpha
    )
    out["sequential"] = {
        "pValue": _num(seq.p_value),
        "lower": _num(seq.lower),
        "upper": _num(seq.upper),
    }
    post = stats.posterior(lift.estimate, lift.se)
    out["bayesian"] = {
        "chanceToBeatControl": _num(post.chance_to_beat),
        "expectedLoss": _num(post.loss_choosing_treatment),
        "lower": _num(post.lower),
        "upper": _num(post.upper),
    }
    return out, float(welch.p_value)


def _revenue_mean_var(arm: Arm) -> tuple[float, float]:
    mean = float(stats.mean(arm.entries, arm.revenue))
    return mean, float(stats.unit_variance(arm.entries, arm.revenue, arm.revenue_sq))


def analyse(arms: Sequence[Arm], opts: Options) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-experience ``analysis`` objects (in ``arms`` order) and the activity's ``analysis``."""
    by_id = {a.experience_local_id: a for a in arms}
    control = by_id.get(opts.control)
    results: list[dict[str, Any]] = []
    p_values: list[float] = []
    challengers: list[int] = []
    for arm in arms:
        mean, var = _rate(arm)
        low, high = stats.mean_interval(mean, var, arm.entries)
        item: dict[str, Any] = {
            "control": arm.experience_local_id == opts.control,
            "conversionRate": _interval(mean, low, high)
            if arm.entries > 0
            else _interval(0.0, None, None),
        }
        if control is not None and arm is not control and control.entries > 0:
            comparison, p = _compare(arm, control, _rate, opts)
            item.update(comparison)
            p_values.append(p)
            challengers.append(len(results))
        if opts.revenue:
            item["revenue"] = _revenue(arm, control, opts)
        results.append(item)
    adjusted = stats.adjust_p_values(p_values, opts.correction)
    for index, p in zip(challengers, adjusted, strict=True):
        results[index]["adjustedPValue"] = _num(p)
        results[index]["significant"] = bool(p < opts.alpha) and results[index]["lift"] is not None
    return results, _activity(arms, control, opts)


def _revenue(arm: Arm, control: Arm | None, opts: Options) -> dict[str, Any]:
    mean, var = _revenue_mean_var(arm)
    low, high = stats.mean_interval(mean, var, arm.entries)
    out: dict[str, Any] = {
        "total": _num(arm.revenue),
        "perUnit": _interval(mean, low, high) if arm.entries > 0 else _interval(0.0, None, None),
        "winsorizedAt": arm.winsorized_at,
    }
    if control is not None and arm is not control and control.entries > 0:
        comparison, _ = _compare(arm, control, _revenue_mean_var, opts)
        out.update(comparison)
    return out


def _activity(arms: Sequence[Arm], control: Arm | None, opts: Options) -> dict[str, Any]:
    warnings: list[str] = []
    out: dict[str, Any] = {
        "controlExperienceLocalId": opts.control,
        "correction": opts.correction,
        "alpha": opts.alpha,
        "sequentialTuning": opts.n_star,
        "srm": None,
        "sampleSize": None,
        "warnings": warnings,
    }
    if control is None or control.entries == 0:
        warnings.append("The control experience has no traffic: no comparison is possible.")
    weighted = [a for a in arms if a.weight is not None and a.weight > 0]
    if opts.srm and len(weighted) >= 2:
        observed = [a.entries for a in weighted]
        check = stats.srm(observed, [a.weight or 0.0 for a in weighted])
        mismatch = check.p_value < SRM_THRESHOLD
        out["srm"] = {
            "chiSquare": _num(check.chi_square),
            "pValue": _num(check.p_value),
            "threshold": SRM_THRESHOLD,
            "mismatch": mismatch,
            "expected": {
                str(a.experience_local_id): _num(e)
                for a, e in zip(weighted, check.expected, strict=True)
            },
        }
        if mismatch:
            warnings.append(
                "Sample ratio mismatch: the experiences' visitors do not match the configured "
                "split (p < 0.001); assignment or counting is broken and lifts cannot be trusted."
            )
    if control is not None and control.entries > 0:
        baseline = control.conversions / control.entries
        comparisons = max(len(arms) - 1, 1)
        required: int | None = None
        if 0 < baseline < 1 and 0 < baseline * (1 + opts.minimum_lift) < 1:
            required = stats.sample_size(
                baseline,
                opts.minimum_lift,
                alpha=opts.alpha,
                power=opts.power,
                comparisons=comparisons,
            )
        smallest = min(a.entries for a in arms) if arms else 0.0
        out["sampleSize"] = {
            "baselineConversionRate": _num(baseline),
            "minimumDetectableLift": opts.minimum_lift,
            "power": opts.power,
            "comparisons": comparisons,
            "requiredPerExperience": required,
            "progress": None if not required else _num(min(1.0, smallest / required)),
        }
    return out
