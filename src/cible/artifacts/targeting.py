"""Translate an audience's ``targetRule`` into the JSON Logic that Adobe's on-device engine reads.

Adobe's Admin API stores audiences as a small tree (``and`` / ``or`` / ``not`` over conditions
``{"<category>": "<attribute>", "<operator>": [values]}``, Adobe Target Admin API, "Audiences")
while its on-device artifact holds JSON Logic over a fixed context: ``mbox.*``, ``page.*``,
``referring.*``, ``user.*``, ``geo.*``, ``current_*`` (``target_decisioning_engine/
context_provider.py``). This module is the bridge. A condition on data that context lacks (the
visitor profile, new/returning, segments, the device, regular expressions) still gets JSON Logic,
over ``profile.*`` / ``visitor.*`` / ``segments.*`` / ``mobile.*`` and a ``regex`` operator that
Adobe's engine does not have, and is reported as *remote*: the activity must be decided server-side.

The grammar, every category and operator and its JSON Logic, is in docs/artifacts.md.

>>> compile_target_rule({"and": [{"mbox": "tier", "equals": ["Gold"]},
...                              {"profile": "age", "greaterThan": [30]}]})
({'and': [{'==': ['gold', {'var': 'mbox.tier_lc'}]}, {'>': [{'var': 'profile.age'}, 30]}]}, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cible.artifacts import _time
from cible.artifacts.errors import TargetRuleError

__all__ = [
    "ALIASES",
    "CATEGORIES",
    "OPERATORS",
    "Translation",
    "compile_target_rule",
    "translate_target_rule",
]

JsonLogic = Any
"""A JSON Logic expression: a dict, or a JSON scalar such as ``True``."""

OPERATORS = (
    "equals",
    "notEquals",
    "contains",
    "notContains",
    "startsWith",
    "endsWith",
    "exists",
    "notExists",
    "lessThan",
    "lessThanOrEquals",
    "greaterThan",
    "greaterThanOrEquals",
    "between",
    "matchesRegex",
    "within",
)

ALIASES: Mapping[str, str] = {
    # Spellings seen in Adobe examples and third-party clients (reference §3): "matches" is the
    # Target UI's geo evaluator, an equality over a list of values, not a regular expression.
    "matches": "equals",
    "greater": "greaterThan",
    "lesser": "lessThan",
    "greaterEquals": "greaterThanOrEquals",
    "lesserEquals": "lessThanOrEquals",
}

CATEGORIES = (
    "mbox",
    "custom",
    "page",
    "referrer",
    "referring",
    "browser",
    "operatingSystem",
    "mobile",
    "geo",
    "timeFrame",
    "profile",
    "visitor",
    "segments",
)

_CATEGORY_SET = frozenset(CATEGORIES)
_OPERATOR_SET = frozenset(OPERATORS) | frozenset(ALIASES)
_OPTIONS = frozenset({"caseSensitive", "timeZone"})
_COMBINATORS = frozenset({"and", "or", "not"})
_PAGE_ATTRIBUTES = ("url", "domain", "subdomain", "topLevelDomain", "path", "query", "fragment")
_REMOTE_GEO_ATTRIBUTES = ("zip", "dma", "isp", "domainName", "connectionSpeed", "mobileCarrier")
_TEXT_OPERATORS = frozenset(
    {"equals", "notEquals", "contains", "notContains", "startsWith", "endsWith", "matchesRegex"}
)
_NUMBER_OPERATORS = frozenset(
    {"lessThan", "lessThanOrEquals", "greaterThan", "greaterThanOrEquals", "between"}
)
_PRESENCE_OPERATORS = frozenset({"exists", "notExists"})
_COMPARISONS = {
    "lessThan": "<",
    "lessThanOrEquals": "<=",
    "greaterThan": ">",
    "greaterThanOrEquals": ">=",
}
# Adobe's SDKs disagree on `user.*` names: the Node SDK (and Adobe's edge vocabulary) says
# "windows", "linux", "chrome" for mobile Chrome; the Python SDK reports ua-parser families,
# "Windows", "Linux", "chrome mobile" (target-tools/src/clientInfo.js and
# target-decisioning-engine/src/contextProvider.js vs target_tools/client_info.py). An equality
# on a browser or platform therefore accepts every spelling of the same thing.
_BROWSER_SPELLINGS: Mapping[str, tuple[str, ...]] = {
    "chrome": ("chrome", "chrome mobile", "chrome mobile ios", "chrome mobile webview"),
    "firefox": ("firefox", "firefox mobile", "firefox ios"),
    "mobile safari": ("mobile safari", "mobile safari ui/wkwebview"),
    "edge": ("edge", "edge mobile"),
    "ie": ("ie", "ie mobile"),
}
_PLATFORM_SPELLINGS: Mapping[str, tuple[str, ...]] = {
    "windows": ("windows", "Windows"),
    "mac": ("mac",),
    "macos": ("mac",),
    "mac os": ("mac",),
    "mac os x": ("mac",),
    "osx": ("mac",),
    "linux": ("linux", "Linux", "Ubuntu"),
    "ios": ("iOS",),
    "android": ("Android",),
    "unix": ("Unix", "FreeBSD", "OpenBSD", "Chrome OS"),
}
# A reference instant for time-zone offsets when the caller gives none (validation only; the
# compiler always passes the artifact's generation time).
_DEFAULT_AT = datetime(2000, 1, 1, tzinfo=UTC)
_KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class _Field:
    """Where a category/attribute lives in Adobe's context and how its values compare."""

    var: str
    kind: str  # "text", "number", "any", "day", "clock", "instant", "point"
    remote: bool = False
    fold: str | None = None  # "lc" (var_lc, lower-cased), "lower", "geo", "browser", "platform"
    always_string: bool = False  # Adobe's context always holds a string here

    def operators(self) -> frozenset[str]:
        if self.kind == "text":
            return _TEXT_OPERATORS | _PRESENCE_OPERATORS
        if self.kind == "number":
            return _NUMBER_OPERATORS | _PRESENCE_OPERATORS | {"equals", "notEquals"}
        if self.kind == "any":
            return _TEXT_OPERATORS | _NUMBER_OPERATORS | _PRESENCE_OPERATORS
        if self.kind == "day":
            return frozenset({"equals", "notEquals"})
        if self.kind in ("clock", "instant"):
            return _NUMBER_OPERATORS
        return frozenset({"within"})


@dataclass(frozen=True)
class Translation:
    """The JSON Logic of a ``targetRule``, whether it needs server-side data, and what it reads."""

    logic: JsonLogic
    remote: bool
    variables: frozenset[str] = field(default_factory=frozenset)


def compile_target_rule(
    target_rule: Mapping[str, Any] | None,
    *,
    at: datetime | None = None,
    path: str = "targetRule",
) -> tuple[JsonLogic, bool]:
    """``(json_logic, requires_remote)`` for an audience's ``targetRule``.

    ``None`` (no rule) matches every visitor. ``at`` is the instant whose UTC offset converts
    time-zoned day and hour conditions (default 2000-01-01T00:00Z, fine for validation; compile
    artifacts with their generation time). Raises ``TargetRuleError(path, message)``.
    """
    result = translate_target_rule(target_rule, at=at, path=path)
    return result.logic, result.remote


def translate_target_rule(
    target_rule: Mapping[str, Any] | None,
    *,
    at: datetime | None = None,
    path: str = "targetRule",
) -> Translation:
    """Like ``compile_target_rule``, also naming the context variables the logic reads."""
    if target_rule is None:
        return Translation(True, False)
    translator = _Translator(at or _DEFAULT_AT)
    logic = translator.node(target_rule, path)
    return Translation(logic, translator.remote, frozenset(translator.variables))


def _var(name: str) -> dict[str, str]:
    return {"var": name}


def _any_of(items: list[JsonLogic]) -> JsonLogic:
    return items[0] if len(items) == 1 else {"or": items}


def _spellings(fold: str | None, value: str) -> tuple[str, ...]:
    """Every context spelling an equality on ``value`` must accept."""
    if fold == "geo":
        # Adobe's geo service answers in upper case; a request's own context.geo may not.
        return tuple(dict.fromkeys((value.upper(), value, value.title())))
    if fold == "browser":
        lowered = value.lower()
        return _BROWSER_SPELLINGS.get(lowered, (lowered,))
    if fold == "platform":
        return _PLATFORM_SPELLINGS.get(value.lower(), (value,))
    return (value,)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Translator:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self.remote = False
        self.variables: set[str] = set()

    # -- tree -------------------------------------------------------------------------------

    def node(self, rule: object, path: str) -> JsonLogic:
        if not isinstance(rule, Mapping):
            raise TargetRuleError(path, "expected an object (a condition, or and/or/not)")
        keys = set(rule)
        if keys & _COMBINATORS:
            if len(keys) != 1:
                raise TargetRuleError(path, "and/or/not must be the only key of its object")
            (key,) = keys
            return self.combinator(key, rule[key], f"{path}.{key}")
        return self.condition(rule, path)

    def combinator(self, key: str, operand: object, path: str) -> JsonLogic:
        if key == "not":
            if isinstance(operand, list):
                if len(operand) != 1:
                    raise TargetRuleError(path, "not takes exactly one rule")
                return {"!": self.node(operand[0], f"{path}[0]")}
            return {"!": self.node(operand, path)}
        if not isinstance(operand, list) or not operand:
            raise TargetRuleError(path, f"{key} takes a non-empty array of rules")
        return {key: [self.node(item, f"{path}[{i}]") for i, item in enumerate(operand)]}

    # -- one condition ----------------------------------------------------------------------

    def condition(self, cond: Mapping[str, Any], path: str) -> JsonLogic:
        categories = [k for k in cond if k in _CATEGORY_SET]
        operators = [k for k in cond if k in _OPERATOR_SET]
        for key in cond:
            if key not in _CATEGORY_SET and key not in _OPERATOR_SET and key not in _OPTIONS:
                raise TargetRuleError(
                    f"{path}.{key}",
                    f"unknown key {key!r}: not a category ({', '.join(CATEGORIES)}), "
                    f"an operator ({', '.join(OPERATORS)}) or an option "
                    f"({', '.join(sorted(_OPTIONS))})",
                )
        if len(categories) != 1:
            raise TargetRuleError(path, "a condition names exactly one category")
        if len(operators) != 1:
            raise TargetRuleError(path, "a condition has exactly one operator")
        category, written = categories[0], operators[0]
        operator = ALIASES.get(written, written)
        attribute = cond[category]
        if not isinstance(attribute, str) or not attribute:
            raise TargetRuleError(f"{path}.{category}", "the attribute is a non-empty string")
        target = self.field(category, attribute, f"{path}.{category}")
        if operator not in target.operators():
            raise TargetRuleError(
                f"{path}.{written}",
                f"{written} does not apply to {category} {attribute!r}; use one of "
                f"{', '.join(sorted(target.operators()))}",
            )
        case_sensitive = cond.get("caseSensitive", False)
        if not isinstance(case_sensitive, bool):
            raise TargetRuleError(f"{path}.caseSensitive", "caseSensitive is true or false")
        zone: ZoneInfo | None = None
        if "timeZone" in cond:
            if category != "timeFrame":
                raise TargetRuleError(f"{path}.timeZone", "timeZone applies to timeFrame only")
            name = cond["timeZone"]
            try:
                zone = _time.load_zone(name) if isinstance(name, str) else None
            except ValueError as exc:
                raise TargetRuleError(f"{path}.timeZone", str(exc)) from None
            if zone is None:
                raise TargetRuleError(f"{path}.timeZone", "timeZone is an IANA zone name")
        values = cond[written]
        vpath = f"{path}.{written}"
        if target.remote or operator == "matchesRegex":
            self.remote = True
        self.variables.add(target.var)
        if operator in _PRESENCE_OPERATORS:
            if not (values is None or values is True or values == []):
                raise TargetRuleError(vpath, f"{written} takes no values (use [])")
            missing = {"missing": [target.var]}
            return {"!": missing} if operator == "exists" else {"!!": missing}
        if not isinstance(values, list) or not values:
            raise TargetRuleError(vpath, "values are a non-empty array")
        if target.kind == "day":
            return self.days(operator, values, zone, vpath)
        if target.kind == "clock":
            return self.clock(operator, values, zone, vpath)
        if target.kind == "instant":
            return self.instants(operator, values, zone, vpath)
        if target.kind == "point":
            return self.within(target, values, vpath)
        if operator in _NUMBER_OPERATORS:
            return self.numbers(target, operator, values, vpath)
        return self.texts(target, operator, values, case_sensitive, vpath)

    def field(self, category: str, attribute: str, path: str) -> _Field:
        if category in ("mbox", "custom"):
            return _Field(f"mbox.{attribute}", "any", fold="lc")
        if category == "page":
            return self._url_field("page", attribute, path)
        if category in ("referrer", "referring"):
            return self._url_field("referring", attribute, path)
        if category == "browser":
            if attribute in ("type", "name"):
                return _Field("user.browserType", "text", fold="browser", always_string=True)
            if attribute == "version":
                return _Field("user.browserVersion", "number")
            if attribute == "language":
                # Adobe's Python SDK hard-codes user.locale to "en" (context_provider.py).
                return _Field("user.language", "text", remote=True, fold="lower")
            raise TargetRuleError(path, f"unknown browser attribute {attribute!r}")
        if category == "operatingSystem":
            if attribute in ("name", "platform", "type"):
                return _Field("user.platform", "text", fold="platform", always_string=True)
            raise TargetRuleError(path, f"unknown operatingSystem attribute {attribute!r}")
        if category == "geo":
            return self._geo_field(attribute, path)
        if category == "timeFrame":
            kinds = {"day": "day", "dayOfWeek": "day", "time": "clock", "hours": "clock"}
            kinds |= {"date": "instant", "dateRange": "instant"}
            if attribute not in kinds:
                raise TargetRuleError(path, f"unknown timeFrame attribute {attribute!r}")
            variable = {"day": "current_day", "clock": "current_time", "instant": ""}
            kind = kinds[attribute]
            return _Field(variable[kind] or "current_timestamp", kind)
        # mobile, profile, visitor, segments: not in Adobe's on-device context.
        return _Field(f"{category}.{attribute}", "any", remote=True)

    def _url_field(self, prefix: str, attribute: str, path: str) -> _Field:
        if attribute not in _PAGE_ATTRIBUTES:
            raise TargetRuleError(
                path, f"unknown URL attribute {attribute!r}; one of {', '.join(_PAGE_ATTRIBUTES)}"
            )
        return _Field(f"{prefix}.{attribute}", "text", fold="lc", always_string=True)

    def _geo_field(self, attribute: str, path: str) -> _Field:
        # Adobe's geo values are upper case ("UNITED STATES", "CALIFORNIA"): Adobe's test
        # artifacts compare geo.country / geo.region / geo.city with upper-case literals;
        # equalities also accept the value as written and title-cased (see _spellings).
        if attribute == "country":
            return _Field("geo.country", "text", fold="geo")
        if attribute in ("region", "state"):
            return _Field("geo.region", "text", fold="geo")
        if attribute == "city":
            return _Field("geo.city", "text", fold="geo")
        if attribute in ("latitude", "longitude"):
            return _Field(f"geo.{attribute}", "number")
        if attribute == "radius":
            return _Field("geo.latitude", "point")
        if attribute in _REMOTE_GEO_ATTRIBUTES:
            return _Field(f"geo.{attribute}", "text", remote=True)
        raise TargetRuleError(path, f"unknown geo attribute {attribute!r}")

    # -- value translations -----------------------------------------------------------------

    def texts(
        self, target: _Field, operator: str, values: list[Any], case_sensitive: bool, path: str
    ) -> JsonLogic:
        var = target.var
        exact = operator in ("equals", "notEquals")
        fold: Callable[[str], str] = str
        if target.fold == "lc" and not case_sensitive:
            var, fold = f"{var}_lc", str.lower
        elif target.fold in ("lower", "browser"):
            fold = str.lower
        elif target.fold == "geo" and not exact:
            fold = str.upper
        items: list[JsonLogic] = []
        for i, written in enumerate(values):
            value = fold(written) if isinstance(written, str) else written
            if not isinstance(value, str) and not (exact and _is_number(value)):
                kind = "strings or numbers" if exact else "strings"
                raise TargetRuleError(f"{path}[{i}]", f"{operator} compares {kind}")
            if operator == "matchesRegex":
                # The pattern as written (lower-casing it would turn ``\D`` into ``\d``),
                # matched case-insensitively wherever the other operators fold case.
                pattern = written if fold is str else f"(?i){written}"
                try:
                    re.compile(pattern)
                except re.error as exc:
                    message = f"invalid regular expression: {exc}"
                    raise TargetRuleError(f"{path}[{i}]", message) from None
                items.append({"regex": [_var(target.var), pattern]})
                continue
            if not exact and value == "":
                raise TargetRuleError(f"{path}[{i}]", f"{operator} needs a non-empty string")
            if exact and isinstance(value, str):
                for spelling in _spellings(target.fold, value):
                    items.append(self._text_test(operator, var, spelling, target.always_string))
                continue
            items.append(self._text_test(operator, var, value, target.always_string))
        logic = _any_of(items)
        return {"!": logic} if operator.startswith("not") else logic

    @staticmethod
    def _text_test(operator: str, var: str, value: Any, always_string: bool) -> JsonLogic:
        if operator in ("equals", "notEquals"):
            return {"==": [value, _var(var)]}
        if operator in ("contains", "notContains"):
            return {"in": [value, _var(var)]}
        # startsWith / endsWith, as Adobe writes "starts with": {"==": [v, {"substr": [...]}]}.
        span = [0, len(value)] if operator == "startsWith" else [-len(value)]
        test = {"==": [value, {"substr": [_var(var), *span]}]}
        # substr of a missing value raises in Adobe's Python port (json_logic `_substring`).
        return test if always_string else {"and": [_var(var), test]}

    def numbers(self, target: _Field, operator: str, values: list[Any], path: str) -> JsonLogic:
        for i, value in enumerate(values):
            if not _is_number(value):
                raise TargetRuleError(f"{path}[{i}]", f"{operator} compares numbers")
        var = _var(target.var)
        if operator == "between":
            low, high = self._pair(values, path)
            return {"<=": [low, var, high]}
        symbol = _COMPARISONS[operator]
        return _any_of([{symbol: [var, value]} for value in values])

    @staticmethod
    def _pair(values: Sequence[Any], path: str) -> tuple[Any, Any]:
        if len(values) != 2:
            raise TargetRuleError(path, "between takes exactly two values [low, high]")
        low, high = values
        if low > high:
            raise TargetRuleError(path, "between needs low <= high")
        return low, high

    def days(self, operator: str, values: list[Any], zone: ZoneInfo | None, path: str) -> JsonLogic:
        days = []
        for i, value in enumerate(values):
            try:
                days.append(_time.parse_day(value))
            except ValueError as exc:
                raise TargetRuleError(f"{path}[{i}]", str(exc)) from None
        self.variables.add("current_time")

        def in_days(offset: int) -> JsonLogic:
            items: list[JsonLogic] = []
            for day in days:
                for shift, start, end in _time.shift_window(0, _time.MINUTES_PER_DAY - 1, offset):
                    utc_day = (day - 1 + shift) % 7 + 1
                    # Adobe's artifacts compare current_day with a string ("5"); == coerces.
                    same_day = {"==": [_var("current_day"), str(utc_day)]}
                    if (start, end) == (0, _time.MINUTES_PER_DAY - 1):
                        items.append(same_day)
                    else:
                        window = self._clock_window(start, end)
                        items.append({"and": [same_day, window]})
            return _any_of(items)

        logic = self._per_offset(zone, in_days)
        return {"!": logic} if operator == "notEquals" else logic

    def clock(
        self, operator: str, values: list[Any], zone: ZoneInfo | None, path: str
    ) -> JsonLogic:
        try:
            minutes = [_time.parse_clock(value) for value in values]
        except ValueError as exc:
            raise TargetRuleError(path, str(exc)) from None
        last = _time.MINUTES_PER_DAY - 1
        local: list[tuple[int, int]] = []
        if operator == "between":
            if len(minutes) != 2:
                raise TargetRuleError(path, "between takes exactly two values [from, to]")
            start, end = minutes
            # A window whose end is before its start runs overnight, e.g. ["2200", "0600"].
            local = [(start, end)] if start <= end else [(start, last), (0, end)]
        else:
            for value in minutes:
                bounds = {
                    "lessThan": (0, value - 1),
                    "lessThanOrEquals": (0, value),
                    "greaterThan": (value + 1, last),
                    "greaterThanOrEquals": (value, last),
                }[operator]
                if bounds[0] > bounds[1]:
                    never = f"{operator} {_time.clock_text(value)} never matches"
                    raise TargetRuleError(path, never)
                local.append(bounds)

        def in_windows(offset: int) -> JsonLogic:
            return _any_of(
                [
                    self._clock_window(a, b)
                    for start, end in local
                    for _, a, b in _time.shift_window(start, end, offset)
                ]
            )

        return self._per_offset(zone, in_windows)

    def _per_offset(self, zone: ZoneInfo | None, build: Callable[[int], JsonLogic]) -> JsonLogic:
        """``build(offset)``, or one variant per UTC-offset period of the coming year."""
        if zone is None:
            return build(0)
        periods = _time.offset_periods(zone, self.at)
        if len(periods) == 1:
            return build(periods[0][2])
        self.variables.add("current_timestamp")
        now = _var("current_timestamp")
        variants: list[JsonLogic] = []
        for start, end, offset in periods:
            guard: list[JsonLogic] = []
            if start is not None:
                guard.append({"<=": [start, now]})
            if end is not None:
                guard.append({"<": [now, end]})
            variants.append({"and": [*guard, build(offset)]})
        return {"or": variants}

    @staticmethod
    def _clock_window(start: int, end: int) -> JsonLogic:
        return {"<=": [_time.clock_text(start), _var("current_time"), _time.clock_text(end)]}

    def instants(
        self, operator: str, values: list[Any], zone: ZoneInfo | None, path: str
    ) -> JsonLogic:
        stamps = []
        for i, value in enumerate(values):
            try:
                stamps.append(_time.epoch_millis(_time.parse_instant(value, zone)))
            except (TypeError, ValueError) as exc:
                raise TargetRuleError(f"{path}[{i}]", f"not an ISO 8601 date-time: {exc}") from None
        var = _var("current_timestamp")
        if operator == "between":
            low, high = self._pair(stamps, path)
            return {"<=": [low, var, high]}
        symbol = _COMPARISONS[operator]
        return _any_of([{symbol: [var, stamp]} for stamp in stamps])

    def within(self, target: _Field, values: list[Any], path: str) -> JsonLogic:
        # Adobe's geo rules bound latitude and longitude separately (a box); a radius becomes the
        # box around its circle, in degrees at the centre's latitude.
        self.variables.add("geo.longitude")
        items: list[JsonLogic] = []
        for i, value in enumerate(values):
            point = value if isinstance(value, Mapping) else {}
            keys = ("latitude", "longitude", "radiusKm")
            if set(point) != set(keys) or not all(_is_number(point[k]) for k in keys):
                raise TargetRuleError(
                    f"{path}[{i}]", "within takes objects {latitude, longitude, radiusKm}"
                )
            lat, lon, km = (float(point[k]) for k in keys)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km > 0):
                raise TargetRuleError(
                    f"{path}[{i}]", "latitude, longitude or radiusKm out of range"
                )
            dlat = km / _KM_PER_DEGREE
            dlon = km / (_KM_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
            items.append(
                {
                    "and": [
                        {"<=": [round(lat - dlat, 6), _var("geo.latitude"), round(lat + dlat, 6)]},
                        {"<=": [round(lon - dlon, 6), _var("geo.longitude"), round(lon + dlon, 6)]},
                    ]
                }
            )
        return _any_of(items)
