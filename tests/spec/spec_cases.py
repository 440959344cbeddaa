"""Shared decisioning spec cases: load them, and check a delivery response against them.

The cases in `tests/spec/decisioning/*.json` describe decisions as data, so that the engine
(`cible.engine.decide`), the SDK and the delivery API (`POST /rest/v1/delivery`) can all run the
same files and must agree (see tests/spec/README.md for the format).

    from tests.spec.spec_cases import load_decisioning_cases, assert_decision_matches

    def pytest_generate_tests(metafunc):
        if "decisioning_case" in metafunc.fixturenames:
            cases = load_decisioning_cases()
            metafunc.parametrize("decisioning_case", [c for _, c in cases],
                                 ids=[case_id for case_id, _ in cases])

    def test_case(decisioning_case):
        response = ...  # a delivery-response dict, camelCase keys
        assert_decision_matches(decisioning_case, response)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "CASES_DIR",
    "SPEC_VERSION",
    "assert_decision_matches",
    "case_now",
    "load_decisioning_cases",
]

SPEC_VERSION = 1
CASES_DIR = Path(__file__).parent / "decisioning"
ARTIFACTS_DIR = CASES_DIR / "artifacts"
EXTRA_KEY = "cible"  # cible.engine.EXTRA_KEY; only the engine's results carry it


def load_decisioning_cases(directory: Path = CASES_DIR) -> list[tuple[str, dict[str, Any]]]:
    """Every case as `(id, case)`, id `"<file stem>/<case name>"`, artifact files inlined.

    Each returned case has `artifact` (a dict) even when the file named an `artifactFile`.
    """
    cases: list[tuple[str, dict[str, Any]]] = []
    artifact_cache: dict[str, Any] = {}
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("specVersion") != SPEC_VERSION:
            raise ValueError(f"{path.name}: specVersion must be {SPEC_VERSION}")
        names: set[str] = set()
        for raw_case in document["cases"]:
            name = raw_case["name"]
            if name in names:
                raise ValueError(f"{path.name}: duplicate case name {name!r}")
            names.add(name)
            case = dict(raw_case)
            if "artifactFile" in case:
                file_name = case["artifactFile"]
                if file_name not in artifact_cache:
                    artifact_text = (ARTIFACTS_DIR / file_name).read_text(encoding="utf-8")
                    artifact_cache[file_name] = json.loads(artifact_text)
                case["artifact"] = artifact_cache[file_name]
            if "artifact" not in case:
                raise ValueError(f"{path.name}: case {name!r} has no artifact")
            cases.append((f"{path.stem}/{name}", case))
    return cases


def case_now(case: Mapping[str, Any]) -> datetime | None:
    """The case's decision instant (`now`, ISO 8601 with a zone), or None."""
    now = case.get("now")
    return datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None


def assert_decision_matches(case: Mapping[str, Any], response: Mapping[str, Any]) -> None:
    """Fail with a readable message when `response` disagrees with `case["expected"]`.

    Compared: for each mode in `expected` (`execute`, `prefetch`), the set of mboxes (by index,
    else name) and, per mbox, the pageLoad and each view, the options in order: `type`,
    `content`, the listed `responseTokens` (a subset), `eventToken` when listed (null means
    absent); `metrics` as (type, eventToken) pairs when listed. Keys of `expected` other than
    the modes (`remoteMboxes`, `remoteViews`, `notifications`, `requestReasons`, `ruleReasons`)
    are the engine's extras and are checked only when the response carries them.
    """
    expected = case["expected"]
    problems: list[str] = []
    for mode in ("execute", "prefetch"):
        if mode in expected:
            _compare_mode(mode, expected[mode], response.get(mode), problems)
        elif _has_content(response.get(mode)):
            problems.append(f"{mode}: expected no content, got {_short(response.get(mode))}")
    extras = response.get(EXTRA_KEY)
    if isinstance(extras, Mapping):
        _compare_extras(expected, extras, problems)
    if problems:
        raise AssertionError(f"case {case['name']!r}:\n  " + "\n  ".join(problems))


def _compare_mode(mode: str, expected: Mapping[str, Any], actual: Any, problems: list[str]) -> None:
    if actual is None:
        actual = {}
    if not isinstance(actual, Mapping):
        problems.append(f"{mode}: not an object: {actual!r}")
        return
    if "mboxes" in expected:
        actual_mboxes = {_mbox_key(m): m for m in actual.get("mboxes") or []}
        expected_mboxes = {_mbox_key(m): m for m in expected["mboxes"]}
        if set(actual_mboxes) != set(expected_mboxes):
            problems.append(
                f"{mode}.mboxes: expected {sorted(expected_mboxes, key=str)}, "
                f"got {sorted(actual_mboxes, key=str)}"
            )
        for key, expected_mbox in expected_mboxes.items():
            if key in actual_mboxes:
                where = f"{mode}.mboxes[{key}]"
                _compare_location(where, expected_mbox, actual_mboxes[key], problems)
    if "pageLoad" in expected:
        _compare_location(
            f"{mode}.pageLoad", expected["pageLoad"], actual.get("pageLoad") or {}, problems
        )
    if "views" in expected:
        actual_views = {v.get("name"): v for v in actual.get("views") or [] if v.get("options")}
        expected_views = {v["name"]: v for v in expected["views"]}
        if set(actual_views) != set(expected_views):
            problems.append(
                f"{mode}.views: expected {sorted(expected_views)}, got {sorted(actual_views)}"
            )
        for name, expected_view in expected_views.items():
            if name in actual_views:
                where = f"{mode}.views[{name}]"
                _compare_location(where, expected_view, actual_views[name], problems)
                # Adobe's views always carry `metrics`, `[]` when their rules have none.
                if "metrics" in expected_view and not isinstance(
                    actual_views[name].get("metrics"), list
                ):
                    problems.append(f"{where}.metrics: absent, expected a list")


def _has_content(block: Any) -> bool:
    if not isinstance(block, Mapping):
        return False
    locations = [*(block.get("mboxes") or []), *(block.get("views") or []), block.get("pageLoad")]
    return any(isinstance(item, Mapping) and item.get("options") for item in locations)


def _mbox_key(mbox: Mapping[str, Any]) -> Any:
    return mbox["index"] if mbox.get("index") is not None else mbox.get("name")


def _compare_location(
    where: str, expected: Mapping[str, Any], actual: Mapping[str, Any], problems: list[str]
) -> None:
    if "name" in expected and actual.get("name") != expected["name"]:
        problems.append(f"{where}: name {actual.get('name')!r} != {expected['name']!r}")
    expected_options = expected.get("options", [])
    actual_options = actual.get("options") or []
    if len(actual_options) != len(expected_options):
        problems.append(
            f"{where}: {len(actual_options)} options, expected {len(expected_options)}: "
            f"{_short(actual_options)}"
        )
        return
    for position, (want, got) in enumerate(zip(expected_options, actual_options, strict=True)):
        _compare_option(f"{where}.options[{position}]", want, got, problems)
    if "metrics" in expected:
        want_metrics = _metric_pairs(expected["metrics"])
        got_metrics = _metric_pairs(actual.get("metrics") or [])
        if want_metrics != got_metrics:
            problems.append(f"{where}.metrics: {got_metrics} != {want_metrics}")


def _metric_pairs(metrics: list[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    # Sorted by their JSON text: a metric without an eventToken (None) sorts beside strings.
    pairs = [(metric.get("type"), metric.get("eventToken")) for metric in metrics]
    return sorted(pairs, key=lambda pair: json.dumps(pair, default=str))


def _compare_option(
    where: str, expected: Mapping[str, Any], actual: Mapping[str, Any], problems: list[str]
) -> None:
    for key in ("type", "content"):
        if key in expected and actual.get(key) != expected[key]:
            problems.append(f"{where}.{key}: {_short(actual.get(key))} != {_short(expected[key])}")
    if "eventToken" in expected and actual.get("eventToken") != expected["eventToken"]:
        got, want = actual.get("eventToken"), expected["eventToken"]
        problems.append(f"{where}.eventToken: {got!r} != {want!r}")
    tokens = actual.get("responseTokens") or {}
    for token, value in (expected.get("responseTokens") or {}).items():
        if value is None:
            if token in tokens:
                problems.append(f"{where}.responseTokens[{token}] should be absent")
        elif tokens.get(token) != value:
            problems.append(f"{where}.responseTokens[{token}]: {tokens.get(token)!r} != {value!r}")


def _compare_extras(
    expected: Mapping[str, Any], extras: Mapping[str, Any], problems: list[str]
) -> None:
    for key in ("remoteMboxes", "remoteViews"):
        if key in expected and sorted(extras.get(key, [])) != sorted(expected[key]):
            problems.append(f"{key}: {extras.get(key)} != {expected[key]}")
    if "notifications" in expected:
        got = [
            {"mbox": n.get("mbox", {}).get("name"), "tokens": n.get("tokens")}
            for n in extras.get("notifications", [])
        ]
        if got != expected["notifications"]:
            problems.append(f"notifications: {got} != {expected['notifications']}")
    reasons = extras.get("reasons", [])
    messages = [r.get("message", "") for r in reasons if r.get("scope") == "request"]
    for fragment in expected.get("requestReasons", []):
        if not any(fragment in message for message in messages):
            problems.append(f"no request reason contains {fragment!r}: {messages}")
    rules = [
        (reason.get("name"), rule)
        for reason in reasons
        if reason.get("scope") != "request"
        for rule in reason.get("rules", [])
    ]
    for want in expected.get("ruleReasons", []):
        if not any(_rule_matches(want, name, rule) for name, rule in rules):
            problems.append(f"no rule reason matches {want}: {[rule for _, rule in rules]}")


def _rule_matches(want: Mapping[str, Any], name: Any, rule: Mapping[str, Any]) -> bool:
    if "name" in want and want["name"] != name:
        return False
    for key in ("ruleKey", "experienceId", "matched", "allocation"):
        if key in want and rule.get(key) != want[key]:
            return False
    return "reason" not in want or want["reason"] in str(rule.get("reason", ""))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:297] + "..."
