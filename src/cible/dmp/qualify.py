"""Real-time qualification: one call's signals applied to one device's state, no I/O.

A tenant's traits and segments compile into a :class:`RuleSet` with two indexes, so the work of
a call grows with what it can touch, not with the taxonomy: signal key -> the traits that read
it (traits true without any of their keys are evaluated on every call), and trait -> the segments
that reference it (directly or through a folder trait). Segment membership is recomputed from
the device's realizations only for the segments its traits reach; any other segment is false for
it, because a segment rule that an empty profile satisfies is refused (segmentrule).

Within one taxonomy (:attr:`RuleSet.generation`) a call re-evaluates only the segments whose
value can have changed: those of the traits it realized or expired, those with a recency window
the device is in (time alone can take it out), and those that time alone can turn true (a
``>= 7D`` window, or a ``<= 7D`` window under NOT) over a trait the device holds. Every other
membership stands as stored. A device last evaluated under another taxonomy (a rule, folder or
TTL changed since), and the TTL job's call with no signals, re-evaluate every segment its
realizations reach. The earliest instant one of its realizations can expire is kept with the
state (a lower bound), so most calls skip the expiry scan.

TTL (Adobe Audience Manager, "Segment TTL explained"): a trait realized at instant *t* with a TTL
of *n* days expires at the start of the UTC day *n + 1* days after *t*'s day, which gives AAM's
documented ``24 + (24 - UTC hour)`` hours for a 1-day TTL; ``0`` never expires; each
realization restarts it.

>>> rules = RuleSet.build([TraitDef(1, 'c_a == "x"', 120)], [SegmentDef(7, "1T")], [])
>>> state, outcome = apply_call(rules, DeviceState(), {"c_a": ["x"]}, now_ms=0)
>>> outcome.realized, outcome.entered
([1], [7])
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from cible.dmp.segmentrule import DAY_MS, Realization, SegmentRule, compile_segment_rule
from cible.dmp.traitrule import TraitRule, compile_trait_rule

__all__ = [
    "MAX_TIMES_PER_TRAIT",
    "MAX_TRAITS_PER_PROFILE",
    "DeviceState",
    "FolderDef",
    "Outcome",
    "RuleSet",
    "SegmentDef",
    "TraitDef",
    "apply_call",
    "expiry_ms",
]

MAX_TIMES_PER_TRAIT = 100
MAX_TRAITS_PER_PROFILE = 150_000  # AAM, "Trait Qualification Limit"
ONBOARDED = "ON_BOARDED_TRAIT"
FOLDER = "FOLDER_TRAIT"


@dataclass(frozen=True)
class TraitDef:
    sid: int
    rule: str
    ttl: int
    trait_type: str = "RULE_BASED_TRAIT"
    data_source_id: int = 0
    folder_id: int = 0
    # An inactive trait realizes nothing, but devices keep what it realized until its TTL.
    active: bool = True


@dataclass(frozen=True)
class SegmentDef:
    sid: int
    rule: str
    # The profile merge rule it is evaluated with for targeting (cible.dmp.merge) and the
    # cross-device data source whose authenticated profiles that rule reads.
    merge_rule: str = "DEVICE_ONLY"
    merge_source: int | None = None


@dataclass(frozen=True)
class FolderDef:
    folder_id: int
    parent_id: int | None
    folder_trait: int | None


def expiry_ms(last_ms: int, ttl_days: int) -> int | None:
    """When a realization at ``last_ms`` with ``ttl_days`` expires (None: never)."""
    if ttl_days <= 0:
        return None
    return (last_ms // DAY_MS + ttl_days + 1) * DAY_MS


NEVER = 2**62
"""``DeviceState.expires_after`` when none of the device's realizations expires."""


@dataclass
class DeviceState:
    """Realizations per trait (``[count, [epoch ms, ...]]``) and segments (id -> entered at).

    ``generation`` is that of the rules its segments were last evaluated with, and
    ``expires_after`` a lower bound of the instant its first realization expires (None:
    unknown); both travel with the state so that the next call can rely on them.
    """

    realizations: dict[int, list[object]] = field(default_factory=dict)
    segments: dict[int, int] = field(default_factory=dict)
    generation: str | None = None
    expires_after: int | None = None

    @classmethod
    def decode(cls, raw: str | bytes | None) -> DeviceState:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(
            {int(k): [v[0], list(v[1])] for k, v in data.get("r", {}).items()},
            {int(k): int(v) for k, v in data.get("s", {}).items()},
            data.get("g"),
            data.get("x"),
        )

    def encode(self) -> str:
        data: dict[str, object] = {
            "r": {str(k): v for k, v in self.realizations.items()},
            "s": {str(k): v for k, v in self.segments.items()},
        }
        if self.generation is not None:
            data["g"] = self.generation
        if self.expires_after is not None:
            data["x"] = self.expires_after
        return orjson.dumps(data).decode()

    def forget(self, sid: int) -> bool:
        """Removes trait ``sid``'s realizations (an inbound file's removal); True if it had some.

        The next :func:`apply_call` then re-evaluates every segment, not only those its own
        changes reach.
        """
        if self.realizations.pop(sid, None) is None:
            return False
        self.generation = None
        return True

    def view(self) -> Mapping[int, Realization]:
        return _View(self.realizations)


class _View(Mapping[int, Realization]):
    """The realizations as segment rules read them, converted only where a rule looks."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[int, list[object]]) -> None:
        self._entries = entries

    def __getitem__(self, sid: int) -> Realization:
        entry = self._entries[sid]
        return Realization(int(entry[0]), entry[1])  # type: ignore[call-overload, arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class Outcome:
    realized: list[int] = field(default_factory=list)
    entered: list[int] = field(default_factory=list)
    exited: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.realized or self.entered or self.exited or self.expired)


@dataclass
class RuleSet:
    """A tenant's compiled taxonomy and its indexes (see the module docstring)."""

    traits: dict[int, TraitDef]
    compiled: dict[int, TraitRule]
    by_key: dict[str, list[int]]
    unconditional: list[int]
    by_code: dict[str, list[int]]
    segments: dict[int, SegmentRule]
    segments_of_trait: dict[int, set[int]]
    folder_members: dict[int, list[tuple[int, int | None]]]
    merge_of: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    # Segments whose value moves with time alone: all of them, and per trait they read those
    # that time can turn true (see the module docstring).
    timed_segments: frozenset[int] = frozenset()
    rising_segments_of_trait: dict[int, set[int]] = field(default_factory=dict)
    # A digest of everything a stored membership or expiry bound depends on: segment rules,
    # folder trait members, trait types and TTLs.
    generation: str = ""
    # Cross-device data sources whose declared ids have authenticated profiles, and every data
    # source's integration code (set by cible.dmp.rules.load_rules).
    authenticated_sources: frozenset[int] = frozenset()
    source_codes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        traits: Iterable[TraitDef],
        segments: Iterable[SegmentDef],
        folders: Iterable[FolderDef],
    ) -> RuleSet:
        all_traits = {t.sid: t for t in traits}
        compiled: dict[int, TraitRule] = {}
        by_key: dict[str, list[int]] = {}
        unconditional: list[int] = []
        by_code: dict[str, list[int]] = {}
        for trait in all_traits.values():
            if trait.trait_type == FOLDER or not trait.rule.strip() or not trait.active:
                continue
            trait_rule = compile_trait_rule(trait.rule)
            compiled[trait.sid] = trait_rule
            if trait.trait_type == ONBOARDED and trait_rule.keys == {"ic"}:
                # ``ic == "123"`` (AAM inbound file contents): a file or d_sid names it.
                by_code.setdefault("ic", []).append(trait.sid)
            if trait_rule.matches_without_signals:
                unconditional.append(trait.sid)
            for key in trait_rule.keys:
                by_key.setdefault(key, []).append(trait.sid)
        members = _folder_members(all_traits, list(folders))
        compiled_segments: dict[int, SegmentRule] = {}
        segments_of_trait: dict[int, set[int]] = {}
        rising: dict[int, set[int]] = {}
        merge_of: dict[int, tuple[str, int | None]] = {}
        for segment in segments:
            rule = compile_segment_rule(segment.rule)
            compiled_segments[segment.sid] = rule
            if segment.merge_rule != "DEVICE_ONLY" and segment.merge_source is not None:
                merge_of[segment.sid] = (segment.merge_rule, segment.merge_source)
            for ref in rule.traits:
                for member, _cap in members.get(ref, [(ref, None)]):
                    segments_of_trait.setdefault(member, set()).add(segment.sid)
                    if rule.rises:
                        rising.setdefault(member, set()).add(segment.sid)
        digest = hashlib.blake2b(
            orjson.dumps(
                [
                    sorted((sid, rule.text) for sid, rule in compiled_segments.items()),
                    sorted(members.items()),
                    sorted((t.sid, t.trait_type, t.ttl) for t in all_traits.values()),
                ]
            ),
            digest_size=8,
        ).hexdigest()
        return cls(
            all_traits,
            compiled,
            by_key,
            unconditional,
            by_code,
            compiled_segments,
            segments_of_trait,
            members,
            merge_of,
            frozenset(sid for sid, rule in compiled_segments.items() if rule.timed),
            rising,
            digest,
        )

    def expand(self, trait_id: int) -> Sequence[tuple[int, int | None]]:
        return self.folder_members.get(trait_id, ((trait_id, None),))

    def matching_traits(
        self, signals: Mapping[str, Sequence[str]], data_source: int | None = None
    ) -> list[int]:
        """The traits this call realizes (only ``data_source``'s when given, as ``d_tdpid``)."""
        candidates: set[int] = set(self.unconditional)
        for key in signals:
            candidates.update(self.by_key.get(key, ()))
        out = []
        for sid in sorted(candidates):
            trait = self.traits[sid]
            if data_source is not None and trait.data_source_id != data_source:
                continue
            if self.compiled[sid].evaluate(signals):
                out.append(sid)
        return out


def _folder_members(
    traits: Mapping[int, TraitDef], folders: list[FolderDef]
) -> dict[int, list[tuple[int, int | None]]]:
    """Folder trait id -> the traits of its folder and subfolders (onboarded capped at 1)."""
    children: dict[int | None, list[int]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder.folder_id)
    in_folder: dict[int, list[TraitDef]] = {}
    for trait in traits.values():
        if trait.trait_type != FOLDER:
            in_folder.setdefault(trait.folder_id, []).append(trait)
    members: dict[int, list[tuple[int, int | None]]] = {}
    for folder in folders:
        if folder.folder_trait is None:
            continue
        found: list[tuple[int, int | None]] = []
        stack = [folder.folder_id]
        while stack:
            current = stack.pop()
            for trait in in_folder.get(current, ()):
                found.append((trait.sid, 1 if trait.trait_type != "RULE_BASED_TRAIT" else None))
            stack.extend(children.get(current, ()))
        members[folder.folder_trait] = sorted(found)
    return members


def _expire(rules: RuleSet, state: DeviceState, now_ms: int, outcome: Outcome) -> None:
    if (
        state.generation == rules.generation
        and state.expires_after is not None
        and now_ms < state.expires_after
    ):
        return
    first = NEVER
    for sid in list(state.realizations):
        trait = rules.traits.get(sid)
        if trait is None:
            del state.realizations[sid]
            continue
        times = state.realizations[sid][1]
        last = max(times) if times else 0  # type: ignore[call-overload]
        ends = expiry_ms(int(last), trait.ttl)
        if ends is not None and ends <= now_ms:
            del state.realizations[sid]
            outcome.expired.append(sid)
        elif ends is not None and ends < first:
            first = ends
    state.expires_after = first


def _realize(state: DeviceState, sid: int, trait: TraitDef, now_ms: int) -> None:
    entry = state.realizations.get(sid)
    if entry is None:
        if len(state.realizations) >= MAX_TRAITS_PER_PROFILE:
            # Evict the trait realized longest ago to stay under AAM's per-profile limit.
            oldest = min(
                state.realizations,
                key=lambda k: max(state.realizations[k][1] or [0]),  # type: ignore[call-overload]
            )
            del state.realizations[oldest]
        state.realizations[sid] = [1, [now_ms]]
        return
    times: list[int] = entry[1]  # type: ignore[assignment]
    if trait.trait_type != "RULE_BASED_TRAIT":
        # Onboarded and algorithmic traits qualify at most once per profile (AAM reference).
        entry[0] = 1
        entry[1] = [now_ms]
        return
    entry[0] = int(entry[0]) + 1  # type: ignore[call-overload]
    times.append(now_ms)
    if len(times) > MAX_TIMES_PER_TRAIT:
        del times[: len(times) - MAX_TIMES_PER_TRAIT]


def apply_call(
    rules: RuleSet,
    state: DeviceState,
    signals: Mapping[str, Sequence[str]],
    now_ms: int,
    *,
    data_source: int | None = None,
    direct: Iterable[int] = (),
) -> tuple[DeviceState, Outcome]:
    """``state`` after one call at ``now_ms``: expiry, realizations, then segment membership.

    ``direct`` realizes traits by id (``d_sid``); ``signals`` with no keys only re-evaluates
    (the TTL job's call).
    """
    outcome = Outcome()
    _expire(rules, state, now_ms, outcome)
    realized = rules.matching_traits(signals, data_source) if signals else []
    for sid in direct:
        trait = rules.traits.get(sid)
        if (
            trait is not None
            and trait.active
            and trait.trait_type != FOLDER
            and sid not in realized
        ):
            realized.append(sid)
    for sid in realized:
        trait = rules.traits[sid]
        _realize(state, sid, trait, now_ms)
        ends = expiry_ms(now_ms, trait.ttl)
        if ends is not None and state.expires_after is not None and ends < state.expires_after:
            state.expires_after = ends
    outcome.realized = realized
    now_in: dict[int, int]
    candidates: set[int]
    if state.generation != rules.generation or not (signals or direct):
        now_in = {}
        candidates = set(state.segments)
        for sid in state.realizations:
            candidates.update(rules.segments_of_trait.get(sid, ()))
    else:
        now_in = dict(state.segments)
        candidates = set()
        for sid in (*realized, *outcome.expired):
            candidates.update(rules.segments_of_trait.get(sid, ()))
        candidates.update(sid for sid in state.segments if sid in rules.timed_segments)
        rising = rules.rising_segments_of_trait
        if rising:
            for sid in state.realizations:
                candidates.update(rising.get(sid, ()))
    view = state.view()
    for segment_id in sorted(candidates):
        rule = rules.segments.get(segment_id)
        if rule is not None and rule.evaluate(view, now_ms, rules.expand):
            now_in[segment_id] = state.segments.get(segment_id, now_ms)
        else:
            now_in.pop(segment_id, None)
    outcome.entered = sorted(set(now_in) - set(state.segments))
    outcome.exited = sorted(set(state.segments) - set(now_in))
    state.segments = now_in
    state.generation = rules.generation
    return state, outcome


def next_expiry(rules: RuleSet, state: DeviceState) -> int | None:
    """The earliest instant one of the device's realizations expires (or a moment before it:
    the TTL job then finds nothing expired and writes the exact instant)."""
    if state.generation == rules.generation and state.expires_after is not None:
        return None if state.expires_after >= NEVER else state.expires_after
    ends = []
    for sid, entry in state.realizations.items():
        trait = rules.traits.get(sid)
        times: list[int] = entry[1]  # type: ignore[assignment]
        if trait is None or not times:
            continue
        end = expiry_ms(max(times), trait.ttl)
        if end is not None:
            ends.append(end)
    return min(ends) if ends else None
