"""Load and validate a `rules.json` artifact, Adobe Target's on-device decisioning format.

The format, as Adobe's SDKs read it (`target_decisioning_engine/types/decisioning_artifact.py`,
`artifact_provider.py`, `decision_provider.py` in target-python-sdk 1.1.0):

    {"version": "1.0.0",                       major version must be 1
     "meta": {"clientCode", "environment", "generatedAt", "organizationId", "workspace"},
     "globalMbox": "target-global-mbox",       the mbox that pageLoad requests decide
     "geoTargetingEnabled": false,
     "responseTokens": ["activity.id", …],     tokens the tenant enabled
     "localMboxes": […], "remoteMboxes": […], "localViews": […], "remoteViews": […],
     "rules": {"mboxes": {name: [rule…]}, "views": {name: [rule…]}}}

    rule = {"ruleKey": "123-0", "activityId": 123, "propertyTokens": […],
            "meta": {"activity.id", "activity.name", "activity.type", "experience.id",
                     "experience.name", "location.*", "offer.id", "offer.name", "option.id",
                     "option.name", "audience.ids", …},
            "condition": <JSON Logic>,
            "consequence": {"name", "options": [{"type", "content", "eventToken"}],
                            "metrics": [{"type", "selector", "eventToken"}]}}

A rule list is in priority order: the first matching rule decides a regular mbox. Loading checks
every field the engine reads, compiles every condition once, and precomputes what does not depend
on the request (response tokens, execute and prefetch options), so `decide` only evaluates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cible.engine._errors import ArtifactError
from cible.engine._jsonlogic import (
    DYNAMIC_VARIABLE,
    CompiledCondition,
    LogicError,
    compile_condition,
)
from cible.engine._plan import Fast, Plan, analyse

__all__ = [
    "DEFAULT_GLOBAL_MBOX",
    "RESPONSE_TOKEN_KEYS",
    "SUPPORTED_MAJOR_VERSION",
    "Artifact",
    "Rule",
    "load_artifact",
]

SUPPORTED_MAJOR_VERSION = 1
DEFAULT_GLOBAL_MBOX = "target-global-mbox"  # target_tools/constants.py: DEFAULT_GLOBAL_MBOX

# post_processors.py: RESPONSE_TOKEN_KEYS, the rule-meta tokens an artifact may enable.
RESPONSE_TOKEN_KEYS = (
    "activity.id",
    "activity.name",
    "activity.type",
    "experience.id",
    "experience.name",
    "location.id",
    "location.name",
    "location.type",
    "offer.id",
    "offer.name",
    "option.id",
    "option.name",
)

DECISIONING_METHOD = "on-device"  # post_processors.py: activity.decisioningMethod

_TIME_VARIABLES = frozenset({"current_timestamp", "current_time", "current_day"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule: an activity experience for one mbox or view."""

    key: str
    activity_id: Any
    experience_id: Any
    meta: Mapping[str, Any]
    condition: CompiledCondition
    consequence_name: str | None
    property_tokens: frozenset[str]
    response_tokens: Mapping[str, Any]
    execute_options: tuple[Mapping[str, Any], ...]
    prefetch_options: tuple[Mapping[str, Any], ...]
    display_tokens: tuple[str, ...]
    click_metrics: tuple[Mapping[str, Any], ...]
    all_metrics: tuple[Mapping[str, Any], ...]
    reads_allocation: bool
    reads_profile: bool
    has_macros: bool
    # The clauses of a top-level ``and`` that do not read ``allocation``, or None. When they
    # fail, the rule fails without hashing the visitor (the costly part of most A/B rules).
    precondition: CompiledCondition | None = None
    # The condition as an audience test and a traffic band (see _plan.py), when it splits so.
    fast: Fast | None = None
    # The response tokens of every option when the request adds none but the decisioning method.
    option_tokens: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A validated artifact with compiled rules; build it with `load_artifact`.

    >>> artifact = load_artifact('{"version": "1.0.0", "rules": {"mboxes": {}, "views": {}}}')
    >>> artifact.version, artifact.global_mbox, len(artifact.mbox_rules)
    ('1.0.0', 'target-global-mbox', 0)
    """

    version: str
    meta: Mapping[str, Any]
    global_mbox: str
    geo_targeting_enabled: bool
    response_tokens: frozenset[str]
    local_mboxes: frozenset[str]
    remote_mboxes: frozenset[str]
    local_views: frozenset[str]
    remote_views: frozenset[str]
    mbox_rules: Mapping[str, tuple[Rule, ...]]
    view_rules: Mapping[str, tuple[Rule, ...]]
    raw: Mapping[str, Any] = field(repr=False)
    # The context roots some condition reads ("mbox", "page", "current_time"…; every root when
    # a variable name is computed): `decide` builds only those parts of the context.
    reads: frozenset[str] = field(default=frozenset({DYNAMIC_VARIABLE}), repr=False)
    # Rule list plans (_plan.py), built on first use; shared with copies made by
    # `dataclasses.replace`, each plan checked against the identity of its rule list.
    plans: dict[int, Plan] = field(default_factory=dict, repr=False, compare=False)

    @property
    def client_code(self) -> str | None:
        """`meta.clientCode`, the tenant the artifact was compiled for, when present."""
        code = self.meta.get("clientCode")
        return code if isinstance(code, str) else None


def load_artifact(data: bytes | str | Mapping[str, Any]) -> Artifact:
    """Parse, validate and compile an artifact.

    `data` is the artifact's JSON text (bytes or str) or its parsed form. Raises `ArtifactError`
    naming the rule (mbox or view, index, ruleKey) at fault when anything is malformed: bad JSON,
    a wrong type, an unknown JSON Logic operator, or a major version other than 1.
    """
    if isinstance(data, bytes | bytearray | str):
        try:
            parsed = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as error:
            raise ArtifactError(f"artifact is not valid JSON: {error}") from None
        except RecursionError:
            raise ArtifactError("artifact is not valid JSON: nested too deeply") from None
    else:
        parsed = data
    if not isinstance(parsed, Mapping):
        raise ArtifactError(f"artifact must be a JSON object, not {_type_name(parsed)}")
    return _Loader(parsed).load()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


class _Loader:
    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.response_tokens: frozenset[str] = frozenset()

    def load(self) -> Artifact:
        raw = self.raw
        version = raw.get("version")
        if not isinstance(version, str):
            raise ArtifactError(f"artifact 'version' must be a string, not {_type_name(version)}")
        major = version.split(".")[0].strip()
        if not major.isdigit() or int(major) != SUPPORTED_MAJOR_VERSION:
            raise ArtifactError(
                f"artifact version {version!r} is not supported "
                f"(major version must be {SUPPORTED_MAJOR_VERSION})"
            )
        meta = self._object(raw, "meta", "artifact")
        global_mbox = raw.get("globalMbox", DEFAULT_GLOBAL_MBOX)
        if not isinstance(global_mbox, str) or not global_mbox:
            raise ArtifactError("artifact 'globalMbox' must be a non-empty string")
        geo = raw.get("geoTargetingEnabled", False)
        if not isinstance(geo, bool):
            raise ArtifactError("artifact 'geoTargetingEnabled' must be a boolean")
        self.response_tokens = self._names("responseTokens")
        rules = self._object(raw, "rules", "artifact")
        mbox_rules = self._rule_lists(rules, "mboxes")
        view_rules = self._rule_lists(rules, "views")
        reads: set[str] = set()
        for rule_list in (*mbox_rules.values(), *view_rules.values()):
            for rule in rule_list:
                reads.update(name.split(".", 1)[0] for name in rule.condition.variables)
        return Artifact(
            version=version,
            meta=MappingProxyType(dict(meta)),
            global_mbox=global_mbox,
            geo_targeting_enabled=geo,
            response_tokens=self.response_tokens,
            local_mboxes=self._names("localMboxes"),
            remote_mboxes=self._names("remoteMboxes"),
            local_views=self._names("localViews"),
            remote_views=self._names("remoteViews"),
            mbox_rules=MappingProxyType(mbox_rules),
            view_rules=MappingProxyType(view_rules),
            raw=self.raw,
            reads=frozenset(reads),
        )

    @staticmethod
    def _object(container: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = container.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ArtifactError(f"{where} '{key}' must be an object, not {_type_name(value)}")
        return value

    def _names(self, key: str) -> frozenset[str]:
        value = self.raw.get(key, [])
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ArtifactError(f"artifact '{key}' must be an array of strings")
        return frozenset(value)

    def _rule_lists(self, rules: Mapping[str, Any], kind: str) -> dict[str, tuple[Rule, ...]]:
        lists = self._object(rules, kind, "artifact 'rules'")
        compiled: dict[str, tuple[Rule, ...]] = {}
        for name, rule_list in lists.items():
            where = f"rules.{kind}[{name!r}]"
            if not isinstance(rule_list, list):
                raise ArtifactError(f"{where} must be an array of rules")
            compiled[name] = tuple(
                self._rule(rule, f"{where}[{index}]") for index, rule in enumerate(rule_list)
            )
        return compiled

    def _rule(self, rule: Any, where: str) -> Rule:
        if not isinstance(rule, Mapping):
            raise ArtifactError(f"{where}: a rule must be an object, not {_type_name(rule)}")
        key = rule.get("ruleKey")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or not key:
            raise ArtifactError(f"{where}: 'ruleKey' must be a non-empty string")
        where = f"{where} (ruleKey {key!r})"
        meta = rule.get("meta", {})
        if not isinstance(meta, Mapping):
            raise ArtifactError(f"{where}: 'meta' must be an object")
        # rule_evaluator.py hashes meta["activity.id"]; rules also carry a top-level activityId.
        activity_id = meta.get("activity.id", rule.get("activityId"))
        if not _is_id(activity_id):
            raise ArtifactError(f"{where}: 'meta.activity.id' or 'activityId' must be a number")
        property_tokens = rule.get("propertyTokens", [])
        if not isinstance(property_tokens, list) or not all(
            isinstance(token, str) for token in property_tokens
        ):
            raise ArtifactError(f"{where}: 'propertyTokens' must be an array of strings")
        if "condition" not in rule:
            raise ArtifactError(f"{where}: 'condition' is missing")
        try:
            condition = compile_condition(rule["condition"])
            fast, precondition = analyse(rule["condition"], condition)
        except LogicError as error:
            raise ArtifactError(f"{where}: {error}") from None
        except RecursionError:
            raise ArtifactError(f"{where}: condition is nested too deeply") from None
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
            # Every operator checks its own arguments (LogicError); this keeps a malformed node
            # that slips past those checks an artifact error rather than a crash of the loader.
            raise ArtifactError(f"{where}: malformed condition ({error!r})") from None
        consequence = rule.get("consequence")
        if not isinstance(consequence, Mapping):
            raise ArtifactError(f"{where}: 'consequence' must be an object")
        name = consequence.get("name")
        if name is not None and not isinstance(name, str):
            raise ArtifactError(f"{where}: 'consequence.name' must be a string")
        options = self._entries(consequence, "options", where)
        metrics = self._entries(consequence, "metrics", where)
        variables = condition.variables
        dynamic = DYNAMIC_VARIABLE in variables
        response_tokens = {
            token: meta[token]
            for token in RESPONSE_TOKEN_KEYS
            if token in self.response_tokens and token in meta
        }
        return Rule(
            key=key,
            activity_id=activity_id,
            experience_id=meta.get("experience.id"),
            meta=MappingProxyType(dict(meta)),
            condition=condition,
            consequence_name=name,
            property_tokens=frozenset(property_tokens),
            response_tokens=MappingProxyType(response_tokens),
            execute_options=tuple(
                _without_event_token(option) for option in options if _has_content(option)
            ),
            prefetch_options=tuple(
                _prefetch_option(options, metrics, i) for i in range(len(options))
            ),
            display_tokens=tuple(
                option["eventToken"]
                for option in options
                if isinstance(option.get("eventToken"), str) and option["eventToken"]
            ),
            click_metrics=tuple(metric for metric in metrics if metric.get("type") == "click"),
            all_metrics=tuple(metrics),
            reads_allocation=dynamic or "allocation" in variables,
            reads_profile=dynamic or any(_is_profile(variable) for variable in variables),
            has_macros=any(_contains_macro(option.get("content")) for option in options),
            precondition=precondition,
            fast=fast,
            option_tokens=MappingProxyType(
                {**response_tokens, "activity.decisioningMethod": DECISIONING_METHOD}
            ),
        )

    @staticmethod
    def _entries(consequence: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
        entries = consequence.get(key, [])
        if entries is None:
            return []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ArtifactError(f"{where}: 'consequence.{key}' must be an array of objects")
        for entry in entries:
            kind = entry.get("type")
            if kind is not None and not isinstance(kind, str):
                raise ArtifactError(f"{where}: 'consequence.{key}[].type' must be a string")
            token = entry.get("eventToken")
            if token is not None and not isinstance(token, str):
                raise ArtifactError(f"{where}: 'consequence.{key}[].eventToken' must be a string")
        return entries


def _contains_macro(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list):
        return any(_contains_macro(item) for item in value)
    if isinstance(value, Mapping):
        return any(_contains_macro(item) for item in value.values())
    return False


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


def _is_profile(variable: str) -> bool:
    return variable == "profile" or variable.startswith("profile.")


def _has_content(option: Mapping[str, Any]) -> bool:
    # post_processors.py `no_blank_options`: execute responses drop options without type/content.
    content = option.get("content")
    return bool(option.get("type")) and content is not None and content != ""


def _without_event_token(option: Mapping[str, Any]) -> Mapping[str, Any]:
    # Executed options carry no eventToken: the impression is counted by the notification.
    return MappingProxyType({k: v for k, v in option.items() if k != "eventToken"})


def _prefetch_option(
    options: list[Mapping[str, Any]], metrics: list[Mapping[str, Any]], index: int
) -> Mapping[str, Any]:
    # post_processors.py `update_prefetch_option`: a prefetched option without its own
    # eventToken takes the display metric's at the same position.
    option = dict(options[index])
    if not option.get("eventToken") and index < len(metrics):
        metric = metrics[index]
        if metric.get("type") == "display" and metric.get("eventToken"):
            option["eventToken"] = metric["eventToken"]
    return MappingProxyType(option)


def reads_time(rule: Rule) -> bool:
    """Whether a rule's condition reads the clock variables (needs `now`)."""
    variables = rule.condition.variables
    return DYNAMIC_VARIABLE in variables or bool(variables & _TIME_VARIABLES)
