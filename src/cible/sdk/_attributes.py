"""`get_attributes`: the JSON offers of some mboxes, read as typed values.

Mirrors Adobe's `target_tools/attributes_provider.py`: the JSON options of every mbox in the
response (execute and prefetch), merged per mbox name in response order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["AttributeNotFound", "Attributes", "add_mboxes"]


class AttributeNotFound(KeyError):
    """`get_value` asked for an mbox or key that the response does not hold."""


class Attributes:
    """The JSON attributes of a `get_offers` result.

    >>> result = {"response": {"execute": {"mboxes": [{"name": "hero", "options": [
    ...     {"type": "json", "content": {"color": "red", "size": 3}}]}]}}}
    >>> attributes = Attributes(result)
    >>> attributes.get_value("hero", "size"), attributes.as_object("hero")
    (3, {'color': 'red', 'size': 3})
    """

    def __init__(self, offers: Mapping[str, Any]) -> None:
        self.offers = offers
        self.indexed: dict[str, dict[str, Any]] = {}
        response = offers.get("response") or {}
        for mode in ("execute", "prefetch"):
            for mbox in (response.get(mode) or {}).get("mboxes") or ():
                for option in mbox.get("options") or ():
                    content = option.get("content")
                    if option.get("type") == "json" and isinstance(content, Mapping) and content:
                        self.indexed.setdefault(mbox["name"], {}).update(content)

    def get_value(self, mbox_name: str, key: str) -> Any:
        """The value of `key` in `mbox_name`'s JSON offer; `AttributeNotFound` when absent."""
        values = self.indexed.get(mbox_name)
        if values is None or key not in values:
            raise AttributeNotFound(f"Attribute '{key}' does not exist for mbox '{mbox_name}'")
        return values[key]

    def as_object(self, mbox_name: str | None = None) -> Any:
        """One mbox's attributes (None when it has none), or all of them by mbox name."""
        return self.indexed.get(mbox_name) if mbox_name else self.indexed

    def get_response(self) -> Mapping[str, Any]:
        """The `get_offers` result these attributes come from."""
        return self.offers


def add_mboxes(request: dict[str, Any], mbox_names: Sequence[str]) -> dict[str, Any]:
    """Add `mbox_names` to `request["execute"]["mboxes"]` (once each), indexes following on."""
    execute = dict(request.get("execute") or {})
    mboxes = list(execute.get("mboxes") or [])
    entries = [m for m in mboxes if isinstance(m, Mapping)]
    present = {m.get("name") for m in entries}
    index = max((m["index"] for m in entries if isinstance(m.get("index"), int)), default=-1)
    for name in mbox_names:
        if name not in present:
            index += 1
            mboxes.append({"name": name, "index": index})
            present.add(name)
    execute["mboxes"] = mboxes
    return {**request, "execute": execute}
