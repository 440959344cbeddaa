"""Most viewed and top sellers: items ranked by their count in the lookback window.

Ties break by entity id, so the same counts always give the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["top_by_group", "top_counts"]


def top_counts(counts: Mapping[str, int], top: int) -> list[str]:
    """The ``top`` ids with the highest positive counts.

    >>> top_counts({"a": 3, "b": 5, "c": 0}, 5)
    ['b', 'a']
    """
    ranked = sorted(
        (item for item in counts.items() if item[1] > 0), key=lambda kv: (-kv[1], kv[0])
    )
    return [item for item, _ in ranked[:top]]


def top_by_group(
    counts: Mapping[str, int], groups: Mapping[str, Iterable[str]], top: int
) -> dict[str, list[str]]:
    """Per group (a category), its ``top`` items by count; ``groups`` maps an item to its groups.

    >>> top_by_group({"a": 3, "b": 5}, {"a": ["shoes"], "b": ["shoes", "hats"]}, 5)
    {'shoes': ['b', 'a'], 'hats': ['b']}
    """
    members: dict[str, dict[str, int]] = {}
    for item, count in counts.items():
        for group in groups.get(item, ()):
            members.setdefault(group, {})[item] = count
    return {group: top_counts(items, top) for group, items in members.items()}
