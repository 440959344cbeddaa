"""`targetRule` -> JSON Logic: every category and operator, combinators, time zones and errors.

Translations are checked twice: against the exact JSON Logic expected (the artifact format is a
contract with Adobe's SDK and with `cible.engine`), and by evaluating that logic with the JSON
Logic implementation Adobe's Python SDK uses (`json_logic.jsonLogic`) on Adobe-shaped contexts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from json_logic import jsonLogic

from cible.artifacts import TargetRuleError, compile_target_rule, translate_target_rule
from cible.artifacts.targeting import CATEGORIES, OPERATORS


def v(name: str) -> dict[str, str]:
    return {"var": name}


def eq_any(var: str, *values: str) -> dict[str, Any]:
    return {"or": [{"==": [value, v(var)]} for value in values]}


CHROME = eq_any(
    "user.browserType", "chrome", "chrome mobile", "chrome mobile ios", "chrome mobile webview"
)


def holds(logic: Any, context: dict[str, Any]) -> bool:
    return bool(jsonLogic(logic, context))


# (condition, JSON Logic, remote) for every category and every operator it accepts.
CASES: list[tuple[dict[str, Any], Any, bool]] = [
    # mbox parameters: case-insensitive by default, via Adobe's `_lc` copies.
    ({"mbox": "tier", "equals": ["Gold"]}, {"==": ["gold", v("mbox.tier_lc")]}, False),
    ({"mbox": "tier", "notEquals": ["Gold"]}, {"!": {"==": ["gold", v("mbox.tier_lc")]}}, False),
    ({"mbox": "q", "contains": ["Shoe"]}, {"in": ["shoe", v("mbox.q_lc")]}, False),
    ({"mbox": "q", "notContains": ["shoe"]}, {"!": {"in": ["shoe", v("mbox.q_lc")]}}, False),
    (
        {"mbox": "q", "startsWith": ["ab"]},
        {"and": [v("mbox.q_lc"), {"==": ["ab", {"substr": [v("mbox.q_lc"), 0, 2]}]}]},
        False,
    ),
    (
        {"mbox": "q", "endsWith": ["xyz"]},
        {"and": [v("mbox.q_lc"), {"==": ["xyz", {"substr": [v("mbox.q_lc"), -3]}]}]},
        False,
    ),
    ({"mbox": "q", "exists": []}, {"!": {"missing": ["mbox.q"]}}, False),
    ({"mbox": "q", "notExists": []}, {"!!": {"missing": ["mbox.q"]}}, False),
    ({"mbox": "n", "lessThan": [5]}, {"<": [v("mbox.n"), 5]}, False),
    ({"mbox": "n", "lessThanOrEquals": [5]}, {"<=": [v("mbox.n"), 5]}, False),
    ({"mbox": "n", "greaterThan": [5]}, {">": [v("mbox.n"), 5]}, False),
    ({"mbox": "n", "greaterThanOrEquals": [5.5]}, {">=": [v("mbox.n"), 5.5]}, False),
    ({"mbox": "n", "between": [1, 9]}, {"<=": [1, v("mbox.n"), 9]}, False),
    ({"mbox": "q", "matchesRegex": ["^a+$"]}, {"regex": [v("mbox.q"), "(?i)^a+$"]}, True),
    (
        {"mbox": "tier", "equals": ["Gold"], "caseSensitive": True},
        {"==": ["Gold", v("mbox.tier")]},
        False,
    ),
    ({"mbox": "n", "equals": [3]}, {"==": [3, v("mbox.n_lc")]}, False),
    ({"custom": "tier", "equals": ["gold"]}, {"==": ["gold", v("mbox.tier_lc")]}, False),
    # page and referring URL parts.
    (
        {"page": "url", "equals": ["HTTP://A.COM/"]},
        {"==": ["http://a.com/", v("page.url_lc")]},
        False,
    ),
    ({"page": "domain", "contains": ["shop"]}, {"in": ["shop", v("page.domain_lc")]}, False),
    (
        {"page": "path", "startsWith": ["/cart"]},
        {"==": ["/cart", {"substr": [v("page.path_lc"), 0, 5]}]},
        False,
    ),
    (
        {"page": "query", "endsWith": ["=1"]},
        {"==": ["=1", {"substr": [v("page.query_lc"), -2]}]},
        False,
    ),
    ({"page": "subdomain", "equals": ["m"]}, {"==": ["m", v("page.subdomain_lc")]}, False),
    (
        {"page": "topLevelDomain", "notEquals": ["fr"]},
        {"!": {"==": ["fr", v("page.topLevelDomain_lc")]}},
        False,
    ),
    (
        {"page": "fragment", "notContains": ["x"]},
        {"!": {"in": ["x", v("page.fragment_lc")]}},
        False,
    ),
    ({"page": "query", "exists": []}, {"!": {"missing": ["page.query"]}}, False),
    ({"page": "url", "matchesRegex": ["a.c"]}, {"regex": [v("page.url"), "(?i)a.c"]}, True),
    (
        {"referrer": "domain", "equals": ["google.com"]},
        {"==": ["google.com", v("referring.domain_lc")]},
        False,
    ),
    ({"referring": "url", "contains": ["utm"]}, {"in": ["utm", v("referring.url_lc")]}, False),
    # browser and operating system (Adobe's `user.*`).
    ({"browser": "type", "equals": ["Chrome"]}, CHROME, False),
    ({"browser": "type", "equals": ["safari"]}, {"==": ["safari", v("user.browserType")]}, False),
    (
        {"browser": "name", "notEquals": ["ie"]},
        {"!": eq_any("user.browserType", "ie", "ie mobile")},
        False,
    ),
    ({"browser": "type", "contains": ["fire"]}, {"in": ["fire", v("user.browserType")]}, False),
    (
        {"browser": "version", "greaterThanOrEquals": [100]},
        {">=": [v("user.browserVersion"), 100]},
        False,
    ),
    ({"browser": "version", "equals": [120]}, {"==": [120, v("user.browserVersion")]}, False),
    (
        {"browser": "version", "between": [90, 99]},
        {"<=": [90, v("user.browserVersion"), 99]},
        False,
    ),
    ({"browser": "language", "equals": ["fr"]}, {"==": ["fr", v("user.language")]}, True),
    (
        {"operatingSystem": "name", "equals": ["windows"]},
        eq_any("user.platform", "windows", "Windows"),
        False,
    ),
    (
        {"operatingSystem": "platform", "equals": ["macOS", "iOS"]},
        {"or": [{"==": ["mac", v("user.platform")]}, {"==": ["iOS", v("user.platform")]}]},
        False,
    ),
    (
        {"operatingSystem": "name", "notEquals": ["Android"]},
        {"!": {"==": ["Android", v("user.platform")]}},
        False,
    ),
    # geo: upper-case names, numeric coordinates.
    ({"geo": "country", "equals": ["us"]}, eq_any("geo.country", "US", "us", "Us"), False),
    (
        {"geo": "region", "matches": ["california"]},
        eq_any("geo.region", "CALIFORNIA", "california", "California"),
        False,
    ),
    ({"geo": "state", "notEquals": ["ca"]}, {"!": eq_any("geo.region", "CA", "ca", "Ca")}, False),
    ({"geo": "city", "equals": ["Paris"]}, eq_any("geo.city", "PARIS", "Paris"), False),
    ({"geo": "city", "contains": ["san"]}, {"in": ["SAN", v("geo.city")]}, False),
    ({"geo": "latitude", "greaterThan": [37.7]}, {">": [v("geo.latitude"), 37.7]}, False),
    (
        {"geo": "longitude", "between": [-122.5, -122.3]},
        {"<=": [-122.5, v("geo.longitude"), -122.3]},
        False,
    ),
    ({"geo": "zip", "equals": ["94103"]}, {"==": ["94103", v("geo.zip")]}, True),
    # data Adobe's on-device context does not have: remote.
    (
        {"profile": "memberLevel", "equals": ["gold"]},
        {"==": ["gold", v("profile.memberLevel")]},
        True,
    ),
    ({"profile": "age", "greaterThan": [30]}, {">": [v("profile.age"), 30]}, True),
    ({"profile": "email", "exists": []}, {"!": {"missing": ["profile.email"]}}, True),
    ({"visitor": "type", "equals": ["new"]}, {"==": ["new", v("visitor.type")]}, True),
    ({"segments": "ids", "contains": ["123"]}, {"in": ["123", v("segments.ids")]}, True),
    (
        {"mobile": "deviceType", "equals": ["phone"]},
        {"==": ["phone", v("mobile.deviceType")]},
        True,
    ),
    # timeFrame without a zone is UTC.
    ({"timeFrame": "day", "equals": ["friday"]}, {"==": [v("current_day"), "5"]}, False),
    (
        {"timeFrame": "dayOfWeek", "notEquals": [6, 7]},
        {"!": {"or": [{"==": [v("current_day"), "6"]}, {"==": [v("current_day"), "7"]}]}},
        False,
    ),
    (
        {"timeFrame": "time", "between": ["09:00", "1730"]},
        {"<=": ["0900", v("current_time"), "1730"]},
        False,
    ),
    (
        {"timeFrame": "hours", "lessThan": ["1200"]},
        {"<=": ["0000", v("current_time"), "1159"]},
        False,
    ),
    (
        {"timeFrame": "time", "lessThanOrEquals": ["1200"]},
        {"<=": ["0000", v("current_time"), "1200"]},
        False,
    ),
    (
        {"timeFrame": "time", "greaterThan": ["1200"]},
        {"<=": ["1201", v("current_time"), "2359"]},
        False,
    ),
    (
        {"timeFrame": "time", "greaterThanOrEquals": ["1200"]},
        {"<=": ["1200", v("current_time"), "2359"]},
        False,
    ),
    (
        {"timeFrame": "date", "between": ["2026-01-01", "2026-01-02T00:00:00Z"]},
        {"<=": [1767225600000, v("current_timestamp"), 1767312000000]},
        False,
    ),
    (
        {"timeFrame": "dateRange", "lessThan": ["2026-01-01"]},
        {"<": [v("current_timestamp"), 1767225600000]},
        False,
    ),
    (
        {"timeFrame": "date", "lessThanOrEquals": ["2026-01-01"]},
        {"<=": [v("current_timestamp"), 1767225600000]},
        False,
    ),
    (
        {"timeFrame": "date", "greaterThan": ["2026-01-01"]},
        {">": [v("current_timestamp"), 1767225600000]},
        False,
    ),
    (
        {"timeFrame": "date", "greaterThanOrEquals": ["2026-01-01"]},
        {">=": [v("current_timestamp"), 1767225600000]},
        False,
    ),
]


@pytest.mark.parametrize(("condition", "logic", "remote"), CASES)
def test_condition_translation(condition: dict[str, Any], logic: Any, remote: bool) -> None:
    assert compile_target_rule(condition) == (logic, remote)


def test_every_operator_and_category_is_covered() -> None:
    used_operators = {k for cond, _, _ in CASES for k in cond if k in OPERATORS}
    used_categories = {k for cond, _, _ in CASES for k in cond if k in CATEGORIES}
    assert set(OPERATORS) - used_operators == {"within"}  # test_geo_radius_is_a_bounding_box
    assert used_categories == set(CATEGORIES)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("matches", "equals"),
        ("greater", "greaterThan"),
        ("lesser", "lessThan"),
        ("greaterEquals", "greaterThanOrEquals"),
        ("lesserEquals", "lessThanOrEquals"),
    ],
)
def test_adobe_alias_spellings(alias: str, canonical: str) -> None:
    assert compile_target_rule({"mbox": "n", alias: [3]}) == compile_target_rule(
        {"mbox": "n", canonical: [3]}
    )


def test_several_values_of_one_condition_are_ored() -> None:
    logic, _ = compile_target_rule({"page": "domain", "equals": ["a.com", "b.com", "c.com"]})
    assert logic == {"or": [{"==": [d, v("page.domain_lc")]} for d in ("a.com", "b.com", "c.com")]}
    page = {"domain_lc": "b.com"}
    assert holds(logic, {"page": page})
    assert not holds(logic, {"page": {"domain_lc": "d.com"}})


def test_negated_operator_means_none_of_the_values() -> None:
    logic, _ = compile_target_rule({"mbox": "color", "notEquals": ["red", "blue"]})
    assert holds(logic, {"mbox": {"color_lc": "green"}})
    assert not holds(logic, {"mbox": {"color_lc": "blue"}})
    assert holds(logic, {"mbox": {}})


def test_nested_and_or_not() -> None:
    rule = {
        "and": [
            {"mbox": "tier", "equals": ["gold"]},
            {
                "or": [
                    {"browser": "type", "equals": ["chrome"]},
                    {"page": "path", "startsWith": ["/vip"]},
                ]
            },
            {"not": {"geo": "country", "equals": ["fr"]}},
            {"not": [{"mbox": "banned", "exists": []}]},
        ]
    }
    logic, remote = compile_target_rule(rule)
    assert remote is False
    assert logic == {
        "and": [
            {"==": ["gold", v("mbox.tier_lc")]},
            {
                "or": [
                    CHROME,
                    {"==": ["/vip", {"substr": [v("page.path_lc"), 0, 4]}]},
                ]
            },
            {"!": eq_any("geo.country", "FR", "fr", "Fr")},
            {"!": {"!": {"missing": ["mbox.banned"]}}},
        ]
    }
    base = {
        "mbox": {"tier_lc": "gold"},
        "user": {"browserType": "firefox"},
        "page": {"path_lc": "/vip/lounge"},
        "geo": {"country": "US"},
    }
    assert holds(logic, base)
    assert not holds(logic, {**base, "geo": {"country": "FR"}})
    assert not holds(logic, {**base, "mbox": {"tier_lc": "gold", "banned": "1"}})
    assert not holds(logic, {**base, "page": {"path_lc": "/"}})
    assert holds(logic, {**base, "user": {"browserType": "chrome"}, "page": {"path_lc": "/"}})


def test_remote_anywhere_in_the_tree_makes_the_rule_remote() -> None:
    _, remote = compile_target_rule(
        {"or": [{"mbox": "a", "equals": ["1"]}, {"not": {"profile": "vip", "equals": ["true"]}}]}
    )
    assert remote is True


def test_no_rule_matches_everyone() -> None:
    assert compile_target_rule(None) == (True, False)


def test_variables_are_reported() -> None:
    result = translate_target_rule(
        {"and": [{"geo": "city", "equals": ["x"]}, {"mbox": "a", "equals": ["1"]}]}
    )
    assert result.variables == {"geo.city", "mbox.a"}


@pytest.mark.parametrize(
    ("condition", "python_sdk", "node_sdk"),
    [
        ({"browser": "type", "equals": ["chrome"]}, "chrome mobile", "chrome"),
        ({"browser": "type", "equals": ["Firefox"]}, "firefox mobile", "firefox"),
        ({"operatingSystem": "name", "equals": ["Windows"]}, "Windows", "windows"),
        ({"operatingSystem": "name", "equals": ["linux"]}, "Linux", "linux"),
    ],
)
def test_browser_and_platform_match_every_sdk_spelling(
    condition: dict[str, Any], python_sdk: str, node_sdk: str
) -> None:
    # Adobe's Python SDK reports ua-parser families, its Node SDK (and cible.engine) Target's.
    logic, _ = compile_target_rule(condition)
    key = "browserType" if "browser" in condition else "platform"
    assert holds(logic, {"user": {key: python_sdk}})
    assert holds(logic, {"user": {key: node_sdk}})
    assert not holds(logic, {"user": {key: "unknown"}})


def test_text_operators_evaluate_like_adobe_expects() -> None:
    starts, _ = compile_target_rule({"mbox": "sku", "startsWith": ["AB"]})
    ends, _ = compile_target_rule({"mbox": "sku", "endsWith": ["-xl"]})
    assert holds(starts, {"mbox": {"sku_lc": "ab-123-xl"}})
    assert holds(ends, {"mbox": {"sku_lc": "ab-123-xl"}})
    assert not holds(starts, {"mbox": {"sku_lc": "zab"}})
    # A missing parameter is false, not an error inside Adobe's json_logic `substr`.
    assert not holds(starts, {"mbox": {}})
    assert not holds(ends, {"mbox": {}})
    exists, _ = compile_target_rule({"mbox": "sku", "exists": []})
    absent, _ = compile_target_rule({"mbox": "sku", "notExists": []})
    assert holds(exists, {"mbox": {"sku": "x"}}) and not holds(absent, {"mbox": {"sku": "x"}})
    assert not holds(exists, {"mbox": {}}) and holds(absent, {"mbox": {}})


def test_dotted_mbox_parameters_follow_adobes_unflattening() -> None:
    # Adobe unflattens "favorite.color" into {"favorite": {"color": ..., "color_lc": ...}}.
    logic, _ = compile_target_rule({"mbox": "favorite.color", "equals": ["Red"]})
    assert logic == {"==": ["red", v("mbox.favorite.color_lc")]}
    assert holds(logic, {"mbox": {"favorite": {"color": "RED", "color_lc": "red"}}})


def test_geo_radius_is_a_bounding_box() -> None:
    logic, remote = compile_target_rule(
        {"geo": "radius", "within": [{"latitude": 48.8566, "longitude": 2.3522, "radiusKm": 10}]}
    )
    assert remote is False
    lat, _ = logic["and"]
    assert lat["<="][0] == pytest.approx(48.8566 - 10 / 111.32, abs=1e-6)
    assert holds(logic, {"geo": {"latitude": 48.86, "longitude": 2.35}})  # Paris centre
    assert not holds(logic, {"geo": {"latitude": 48.80, "longitude": 2.6}})  # 18 km east
    assert not holds(logic, {"geo": {}})
    variables = translate_target_rule(
        {"geo": "radius", "within": [{"latitude": 0, "longitude": 0, "radiusKm": 1}]}
    ).variables
    assert variables == {"geo.latitude", "geo.longitude"}


def test_several_radii_are_ored() -> None:
    logic, _ = compile_target_rule(
        {
            "geo": "radius",
            "within": [
                {"latitude": 48.8566, "longitude": 2.3522, "radiusKm": 5},
                {"latitude": 45.764, "longitude": 4.8357, "radiusKm": 5},
            ],
        }
    )
    assert holds(logic, {"geo": {"latitude": 45.76, "longitude": 4.83}})


# -- time zones ------------------------------------------------------------------------------


def clock_context(moment: datetime) -> dict[str, Any]:
    """Adobe's timing context for a UTC instant (context_provider._create_timing_context)."""
    utc = moment.astimezone(UTC)
    return {
        "current_timestamp": int(utc.timestamp() * 1000),
        "current_day": utc.weekday() + 1,
        "current_time": utc.strftime("%H%M"),
    }


def minutes_of_a_week(start: datetime, step: int = 7) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(0, 7 * 24 * 60, step)]


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"])
def test_days_in_a_time_zone_are_shifted_to_utc(zone: str) -> None:
    at = datetime(2026, 1, 15, tzinfo=UTC)
    logic, _ = compile_target_rule(
        {"timeFrame": "day", "equals": ["monday", "fri"], "timeZone": zone}, at=at
    )
    tz = ZoneInfo(zone)
    for moment in minutes_of_a_week(datetime(2026, 1, 12, tzinfo=UTC)):
        expected = moment.astimezone(tz).isoweekday() in (1, 5)
        assert holds(logic, clock_context(moment)) is expected, moment


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"])
@pytest.mark.parametrize("window", [("0900", "1730"), ("2200", "0600"), ("0000", "2359")])
def test_hours_in_a_time_zone_are_shifted_to_utc(zone: str, window: tuple[str, str]) -> None:
    at = datetime(2026, 1, 15, tzinfo=UTC)
    logic, _ = compile_target_rule(
        {"timeFrame": "time", "between": list(window), "timeZone": zone}, at=at
    )
    tz = ZoneInfo(zone)
    start, end = window
    for moment in minutes_of_a_week(datetime(2026, 1, 12, tzinfo=UTC), step=11):
        local = moment.astimezone(tz).strftime("%H%M")
        expected = start <= local <= end if start <= end else local >= start or local <= end
        assert holds(logic, clock_context(moment)) is expected, moment


def test_day_and_hours_combine_exactly_across_midnight_utc() -> None:
    at = datetime(2026, 1, 15, tzinfo=UTC)
    zone = "Asia/Tokyo"  # UTC+9: Monday 08:00 local is Sunday 23:00 UTC
    logic, _ = compile_target_rule(
        {
            "and": [
                {"timeFrame": "day", "equals": ["monday"], "timeZone": zone},
                {"timeFrame": "time", "between": ["0800", "1000"], "timeZone": zone},
            ]
        },
        at=at,
    )
    tz = ZoneInfo(zone)
    for moment in minutes_of_a_week(datetime(2026, 1, 12, tzinfo=UTC), step=5):
        local = moment.astimezone(tz)
        expected = local.isoweekday() == 1 and "0800" <= local.strftime("%H%M") <= "1000"
        assert holds(logic, clock_context(moment)) is expected, moment


def test_zones_without_clock_changes_give_one_window() -> None:
    rule = {"timeFrame": "time", "between": ["0900", "1000"], "timeZone": "Asia/Tokyo"}
    logic, _ = compile_target_rule(rule, at=datetime(2026, 1, 15, tzinfo=UTC))
    assert logic == {"<=": ["0000", v("current_time"), "0100"]}


def test_daylight_saving_changes_get_their_own_variant() -> None:
    rule = {"timeFrame": "time", "between": ["0900", "1000"], "timeZone": "Europe/Paris"}
    logic, _ = compile_target_rule(rule, at=datetime(2026, 1, 15, tzinfo=UTC))
    now = v("current_timestamp")
    spring = int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp() * 1000)
    autumn = int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp() * 1000)
    assert logic == {
        "or": [
            {"and": [{"<": [now, spring]}, {"<=": ["0800", v("current_time"), "0900"]}]},
            {
                "and": [
                    {"<=": [spring, now]},
                    {"<": [now, autumn]},
                    {"<=": ["0700", v("current_time"), "0800"]},
                ]
            },
            {"and": [{"<=": [autumn, now]}, {"<=": ["0800", v("current_time"), "0900"]}]},
        ]
    }


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Sydney"])
def test_day_and_hours_stay_exact_for_a_year_of_clock_changes(zone: str) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    logic, _ = compile_target_rule(
        {
            "and": [
                {"timeFrame": "day", "equals": ["sunday"], "timeZone": zone},
                {"timeFrame": "time", "between": ["0130", "0330"], "timeZone": zone},
            ]
        },
        at=at,
    )
    tz = ZoneInfo(zone)
    # Every 29 minutes over the year that follows, clock changes included.
    for step in range(0, 365 * 24 * 60, 29):
        moment = at + timedelta(minutes=step)
        local = moment.astimezone(tz)
        expected = local.isoweekday() == 7 and "0130" <= local.strftime("%H%M") <= "0330"
        assert holds(logic, clock_context(moment)) is expected, moment


def test_dates_in_a_time_zone_are_exact_instants() -> None:
    logic, _ = compile_target_rule(
        {
            "timeFrame": "date",
            "between": ["2026-07-01T00:00", "2026-07-02T00:00+00:00"],
            "timeZone": "Europe/Paris",
        }
    )
    start = int(datetime(2026, 6, 30, 22, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(2026, 7, 2, tzinfo=UTC).timestamp() * 1000)
    assert logic == {"<=": [start, v("current_timestamp"), end]}


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        (
            {"and": [{"mbox": "a", "equals": ["1"]}, {"planet": "x", "equals": ["y"]}]},
            "targetRule.and[1].planet",
        ),
        (
            {"and": [{"mbox": "a", "equals": ["1"]}, {"mbox": "a", "resembles": ["y"]}]},
            "targetRule.and[1].resembles",
        ),
        (
            {"and": [{"mbox": "a", "equals": ["1"]}, {"mbox": "a", "equals": "1"}]},
            "targetRule.and[1].equals",
        ),
        ({"or": [{"mbox": "a", "equals": [{"x": 1}]}]}, "targetRule.or[0].equals[0]"),
        ({"mbox": "a", "contains": [3]}, "targetRule.contains[0]"),
        ({"mbox": "a", "contains": [""]}, "targetRule.contains[0]"),
        ({"mbox": "a", "lessThan": ["5"]}, "targetRule.lessThan[0]"),
        ({"mbox": "a", "lessThan": [True]}, "targetRule.lessThan[0]"),
        ({"mbox": "a", "between": [1]}, "targetRule.between"),
        ({"mbox": "a", "between": [9, 1]}, "targetRule.between"),
        ({"mbox": "a", "exists": ["x"]}, "targetRule.exists"),
        ({"mbox": "a", "equals": []}, "targetRule.equals"),
        ({"mbox": "a", "matchesRegex": ["("]}, "targetRule.matchesRegex[0]"),
        ({"mbox": "", "equals": ["x"]}, "targetRule.mbox"),
        ({"mbox": "a", "equals": ["x"], "caseSensitive": "yes"}, "targetRule.caseSensitive"),
        ({"page": "host", "equals": ["x"]}, "targetRule.page"),
        ({"page": "url", "lessThan": [1]}, "targetRule.lessThan"),
        ({"browser": "engine", "equals": ["x"]}, "targetRule.browser"),
        ({"operatingSystem": "kernel", "equals": ["x"]}, "targetRule.operatingSystem"),
        ({"geo": "planet", "equals": ["x"]}, "targetRule.geo"),
        ({"geo": "radius", "within": [{"latitude": 1}]}, "targetRule.within[0]"),
        (
            {"geo": "radius", "within": [{"latitude": 91, "longitude": 0, "radiusKm": 1}]},
            "targetRule.within[0]",
        ),
        (
            {"geo": "city", "within": [{"latitude": 1, "longitude": 0, "radiusKm": 1}]},
            "targetRule.within",
        ),
        ({"timeFrame": "week", "equals": ["x"]}, "targetRule.timeFrame"),
        ({"timeFrame": "day", "equals": ["someday"]}, "targetRule.equals[0]"),
        ({"timeFrame": "day", "equals": [8]}, "targetRule.equals[0]"),
        ({"timeFrame": "day", "contains": ["mon"]}, "targetRule.contains"),
        ({"timeFrame": "time", "between": ["2500", "2600"]}, "targetRule.between"),
        ({"timeFrame": "time", "lessThan": ["0000"]}, "targetRule.lessThan"),
        ({"timeFrame": "date", "between": ["yesterday", "today"]}, "targetRule.between[0]"),
        (
            {"timeFrame": "day", "equals": ["mon"], "timeZone": "Mars/Olympus"},
            "targetRule.timeZone",
        ),
        ({"mbox": "a", "equals": ["x"], "timeZone": "UTC"}, "targetRule.timeZone"),
        ({"mbox": "a", "equals": ["x"], "note": "hi"}, "targetRule.note"),
        ({"mbox": "a"}, "targetRule"),
        ({"equals": ["x"]}, "targetRule"),
        ({"mbox": "a", "page": "url", "equals": ["x"]}, "targetRule"),
        ({"mbox": "a", "equals": ["x"], "contains": ["y"]}, "targetRule"),
        ({"and": []}, "targetRule.and"),
        ({"or": {"mbox": "a", "equals": ["x"]}}, "targetRule.or"),
        ({"not": [{"mbox": "a", "exists": []}, {"mbox": "b", "exists": []}]}, "targetRule.not"),
        ({"and": [{"mbox": "a", "exists": []}], "or": []}, "targetRule"),
        ({"and": ["x"]}, "targetRule.and[0]"),
        (
            {"not": {"and": [{"not": {"mbox": "a", "equal": ["x"]}}]}},
            "targetRule.not.and[0].not.equal",
        ),
    ],
)
def test_errors_name_the_field(rule: dict[str, Any], path: str) -> None:
    with pytest.raises(TargetRuleError) as caught:
        compile_target_rule(rule)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_error_path_prefix_is_configurable() -> None:
    with pytest.raises(TargetRuleError) as caught:
        compile_target_rule({"mbox": "a", "equals": 1}, path="audiences[4].targetRule")
    assert caught.value.path == "audiences[4].targetRule.equals"


def test_target_rule_error_is_a_value_error() -> None:
    assert issubclass(TargetRuleError, ValueError)


def test_regex_keeps_the_pattern_and_folds_case_by_flag() -> None:
    # Lower-casing the pattern would change its meaning (\D is not \d).
    logic, remote = compile_target_rule({"mbox": "sku", "matchesRegex": [r"^AB-\D"]})
    assert logic == {"regex": [{"var": "mbox.sku"}, r"(?i)^AB-\D"]} and remote
    exact, _ = compile_target_rule(
        {"mbox": "sku", "matchesRegex": [r"^AB-\D"], "caseSensitive": True}
    )
    assert exact == {"regex": [{"var": "mbox.sku"}, r"^AB-\D"]}
