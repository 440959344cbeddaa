"""Turn a matched rule's consequence into response options for one request.

What depends on the request is done here, per matched rule: a fresh copy of each option (the
caller owns the result and may mutate it), the response tokens, and the `${…}` macros that offer
content may contain (`post_processors.py` in target-python-sdk 1.1.0: `replace_campaign_macros`,
`create_response_tokens_post_processor`).

Macros: `${activity.id}`, `${campaign.name}`, `${experience.name}`, `${recipe.id}`,
`${offer.id}`, `${mbox.name}`, `${mbox.<parameter>}`… `campaign` reads as `activity` and `recipe`
as `experience`; only the last two dotted parts count, and an `mbox` part is dropped; the value
comes from the rule's meta, then the mbox request (`name`, `index`), then the request's
parameters. A macro with no value stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cible.engine._artifact import DECISIONING_METHOD, Rule
from cible.engine._jsvalues import js_to_string

__all__ = ["DECISIONING_METHOD", "GEO_TOKENS", "build_options", "common_tokens", "copy_json"]

# post_processors.py: geo response tokens and the geo context key each one reads.
GEO_TOKENS = (
    ("geo.city", "city"),
    ("geo.country", "country"),
    ("geo.state", "region"),
    ("geo.latitude", "latitude"),
    ("geo.longitude", "longitude"),
)

_MACRO = re.compile(r"\$\{([a-zA-Z0-9_.]*?)\}")
_LEGACY_NAMES = re.compile(r"campaign|recipe", re.IGNORECASE)
_LEGACY_REPLACEMENTS = {"campaign": "activity", "recipe": "experience"}


_CONTAINERS = (dict, list)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars), cheaper than `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {
            key: copy_json(item) if type(item) in _CONTAINERS else item
            for key, item in value.items()
        }
    if kind is list:
        return [copy_json(item) if type(item) in _CONTAINERS else item for item in value]
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(item) for item in value]
    return value


def common_tokens(geo: Mapping[str, Any], enabled: frozenset[str]) -> dict[str, Any]:
    """Tokens added to every option of a request: decisioning method and enabled geo tokens."""
    tokens: dict[str, Any] = {"activity.decisioningMethod": DECISIONING_METHOD}
    for token, key in GEO_TOKENS:
        value = geo.get(key)
        if token in enabled and value:
            tokens[token] = value
    return tokens


def build_options(
    rule: Rule,
    execute: bool,
    tokens: Mapping[str, Any],
    detail: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The options a matched rule contributes, with response tokens and macros applied."""
    source = rule.execute_options if execute else rule.prefetch_options
    # Tokens are the rule's plus the request's; with no geo token the merge is precomputed.
    merged_tokens = rule.option_tokens if len(tokens) == 1 else {**rule.response_tokens, **tokens}
    options = []
    for option in source:
        # A shallow copy shares only immutable values: containers (json content) are copied,
        # so no two responses share a mutable object.
        copied = dict(option)
        for key, value in copied.items():
            if type(value) not in _SCALARS:
                copied[key] = copy_json(value)
        if rule.has_macros and "content" in copied:
            copied["content"] = _expand_content(copied.get("type"), copied["content"], rule, detail)
        copied["responseTokens"] = dict(merged_tokens)
        options.append(copied)
    return options


def _expand_content(kind: Any, content: Any, rule: Rule, detail: Mapping[str, Any]) -> Any:
    if kind == "html" and isinstance(content, str):
        return _expand(content, rule.meta, detail)
    if kind == "actions" and isinstance(content, list):
        for action in content:
            if isinstance(action, dict) and isinstance(action.get("content"), str):
                action["content"] = _expand(action["content"], rule.meta, detail)
    return content


def _expand(text: str, meta: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    parameters = detail.get("parameters")
    sources = (meta, detail, parameters if isinstance(parameters, Mapping) else {})

    def replace(match: re.Match[str]) -> str:
        renamed = _LEGACY_NAMES.sub(
            lambda legacy: _LEGACY_REPLACEMENTS[legacy.group(0).lower()], match.group(1)
        )
        parts = renamed.split(".")[-2:]
        key = ".".join(part for part in parts if part != "mbox")
        for source in sources:
            value = source.get(key)
            if value is not None:
                return js_to_string(value)
        return match.group(0)

    return _MACRO.sub(replace, text)
