"""Profile merge rules: which profiles a segment is evaluated on, for one visitor, no I/O.

Audience Manager keeps a *device profile* per device (its UUID) and an *authenticated profile*
per declared id of a cross-device data source ("Use as an Authenticated Profile"); a call
that declares an id as authenticated (``d_cid=<DPID>%01<id>%011``) writes the traits it realizes
to both. A segment's profile merge rule, named by its ``mergeRuleDataSourceId``, says which of
them its rule reads (Adobe Audience Manager, "Profile Merge Rules Options Defined" and "Visitor
Authentication States in Audience Manager"). Cible keeps one merge rule per cross-device data
source, with three options:

* ``DEVICE_ONLY`` (AAM's "No Cross-Device Profile" + "Device Profile"): the device profiles;
  also every segment without a merge rule data source, or naming one that is not cross-device.
* ``LAST_AUTHENTICATED`` ("Last Authenticated Profiles" + "Device Profile"): the device profiles
  merged with the authenticated profiles of the ids the visitor declared for that data source,
  whatever their authentication state now (AAM reads them for unknown and logged-out states too),
  else of the id last declared on his device.
* ``CURRENT_AUTHENTICATED`` ("Current Authenticated Profiles" + "No Device Profile"): only the
  authenticated profiles of the ids declared *authenticated in this call* for that data source;
  a visitor who is not authenticated now is in none of these segments.

Merging profiles sums each trait's realization counts and joins their timestamps, so frequency
and recency count what every merged profile saw.

>>> from cible.dmp.qualify import RuleSet, SegmentDef, TraitDef
>>> rules = RuleSet.build([TraitDef(1, 'c_a == "x"', 0)], [SegmentDef(9, "1T")], [])
>>> device = DeviceState({1: [1, [0]]})
>>> sorted(segments_in(rules, Profiles(device=(device,)), now_ms=0))
[9]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cible.dmp.qualify import DeviceState, RuleSet, expiry_ms
from cible.dmp.segmentrule import Realization

__all__ = [
    "CURRENT_AUTHENTICATED",
    "DEVICE_ONLY",
    "LAST_AUTHENTICATED",
    "MERGE_RULES",
    "Profiles",
    "segments_in",
]

DEVICE_ONLY = "DEVICE_ONLY"
LAST_AUTHENTICATED = "LAST_AUTHENTICATED"
CURRENT_AUTHENTICATED = "CURRENT_AUTHENTICATED"
MERGE_RULES = (DEVICE_ONLY, LAST_AUTHENTICATED, CURRENT_AUTHENTICATED)
_KEEP_TIMES = 100


@dataclass(frozen=True)
class Profiles:
    """A visitor's stored profiles: his devices', and authenticated ones by data source (DPID).

    ``current``: the authenticated profiles of ids declared authenticated in this call;
    ``last``: those of every id declared for the data source, or last declared on his device.
    """

    device: tuple[DeviceState, ...] = ()
    current: Mapping[int, tuple[DeviceState, ...]] = field(default_factory=dict)
    last: Mapping[int, tuple[DeviceState, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.device or self.current or self.last)


def _merged(rules: RuleSet, states: Iterable[DeviceState], now_ms: int) -> dict[int, Realization]:
    """The realizations of ``states`` summed, without those expired at ``now_ms``."""
    counts: dict[int, int] = {}
    times: dict[int, list[int]] = {}
    for state in states:
        for sid, entry in state.realizations.items():
            trait = rules.traits.get(sid)
            stamps: list[int] = entry[1]  # type: ignore[assignment]
            if trait is None or not stamps:
                continue
            ends = expiry_ms(max(stamps), trait.ttl)
            if ends is not None and ends <= now_ms:
                continue
            counts[sid] = counts.get(sid, 0) + int(entry[0])  # type: ignore[call-overload]
            times.setdefault(sid, []).extend(stamps)
    return {
        sid: Realization(count, sorted(times[sid])[-_KEEP_TIMES:]) for sid, count in counts.items()
    }


def _view_of(
    rules: RuleSet, profiles: Profiles, merge: tuple[str, int | None], now_ms: int
) -> dict[int, Realization]:
    rule, source = merge
    if rule == CURRENT_AUTHENTICATED and source is not None:
        return _merged(rules, profiles.current.get(source, ()), now_ms)
    if rule == LAST_AUTHENTICATED and source is not None:
        return _merged(rules, (*profiles.device, *profiles.last.get(source, ())), now_ms)
    return _merged(rules, profiles.device, now_ms)


def segments_in(rules: RuleSet, profiles: Profiles, now_ms: int) -> set[int]:
    """The segments the visitor is in at ``now_ms``, each evaluated on the profiles its merge
    rule reads."""
    device_only = (DEVICE_ONLY, None)
    views: dict[tuple[str, int | None], dict[int, Realization]] = {}
    members: set[int] = set()
    for merge in {device_only, *rules.merge_of.values()}:
        view = views[merge] = _view_of(rules, profiles, merge, now_ms)
        if not view:
            continue
        candidates: set[int] = set()
        for sid in view:
            candidates.update(rules.segments_of_trait.get(sid, ()))
        for segment_id in candidates:
            if rules.merge_of.get(segment_id, device_only) != merge:
                continue
            if rules.segments[segment_id].evaluate(view, now_ms, rules.expand):
                members.add(segment_id)
    return members
