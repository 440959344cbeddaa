"""Inbound onboarding files: AAM's ``ftp_dpm_`` files applied to device profiles, with receipts.

A file is named ``ftp_dpm_<DPID>[_<OWNER>]_<TIMESTAMP>.(sync|overwrite)[.<N>][.gz]`` (Adobe
Audience Manager, "Amazon S3 name and file size requirements for inbound data files"): its user
ids are declared ids of data source ``DPID`` (or AAM UUIDs, 38 digits), and it qualifies the
traits of ``OWNER`` (default ``DPID``). Each line is ``<user id><TAB><token>,<token>…`` with
tokens ``d_sid=<trait>`` (realize), ``d_unsid=<trait>``, ``<trait>:0`` or ``<trait>:-1``
(remove; ignored in ``.overwrite`` files), ``ic=<code>`` or a bare value (matched by
``ic == "<code>"`` trait rules) and ``key=value`` pairs, quotes optional, evaluated by the owner's
onboarded trait rules ("Data file contents and syntax"). ``.sync`` adds; ``.overwrite`` first
drops every realization of the owner's traits for each user in the file.

A bad line is counted and sampled (the first ``SAMPLES`` per error type, with its line number)
and never stops the file. The counters are those of AAM's receipt ("Inbound data file
processing receipts"). Lines are applied in chunks; each chunk's state writes and the file's
progress (lines done, counters) commit together, so a crashed import resumes where it stopped,
and a file already imported (same name, same md5) is not applied again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.dmp import devices
from cible.dmp.qualify import DeviceState, Outcome, RuleSet, apply_call
from cible.dmp.rules import rules_for
from cible.dmp.tables import DataSource
from cible.dmp.transfers.tables import InboundFile
from cible.errors import BadRequest
from cible.store import Database

NAME = re.compile(
    r"^ftp_dpm_(?P<dpid>\d{1,10})(?:_(?P<owner>\d{1,10}))?_(?P<ts>\d{10})"
    r"\.(?P<mode>sync|overwrite)(?:\.(?P<split>\d{1,6}))?(?P<gz>\.gz)?$"
)
MAX_LINE = 102_400  # bytes; longer lines are dropped (AAM)
MAX_LINES_PER_ID = 200  # only the first 200 lines of one user id are kept (AAM)
CHUNK = 5_000
SAMPLES = 10
_TRAIT_REMOVAL = re.compile(r"^(\d{1,10}):(0|-1)$")
N = TypeVar("N")  # a parsed file name


@dataclass(frozen=True)
class InboundName:
    dpid: int
    owner: int
    timestamp: int
    overwrite: bool
    split: int | None
    gzipped: bool


def parse_name(name: str) -> InboundName | None:
    found = NAME.match(name)
    if found is None:
        return None
    dpid = int(found["dpid"])
    return InboundName(
        dpid,
        int(found["owner"]) if found["owner"] else dpid,
        int(found["ts"]),
        found["mode"] == "overwrite",
        int(found["split"]) if found["split"] else None,
        bool(found["gz"]),
    )


@dataclass
class Receipt:
    """AAM's receipt counters, and samples of the errors."""

    file_name: str
    records_received: int = 0
    format_errors: int = 0
    invalid_ids: int = 0
    no_matching_ids: int = 0
    no_trait_realized: int = 0
    records_processed: int = 0
    stored_records: int = 0
    total_devices: int = 0
    total_signals: int = 0
    unused_signals: int = 0
    realized_traits: int = 0
    removed_traits: int = 0
    failed_validation_traits: int = 0
    users_with_failed_validation: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def sample(self, kind: str, line: int, text: str, reason: str) -> None:
        taken = self.samples.setdefault(kind, [])
        if len(taken) < SAMPLES:
            taken.append({"line": line, "text": text[:200], "reason": reason})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {_camel(k): v for k, v in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@dataclass
class Line:
    """One parsed data line."""

    user: str
    adds: list[int] = field(default_factory=list)
    removes: list[int] = field(default_factory=list)
    signals: dict[str, list[str]] = field(default_factory=dict)
    tokens: int = 0


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def parse_line(text: str) -> Line | str:
    """The line's user and operations, or the reason it is malformed."""
    user, tab, data = text.partition("\t")
    if not tab:
        return "no TAB between the user id and the data"
    if not user or user != user.strip():
        return "empty user id"
    if not data.strip():
        return "no data after the user id"
    line = Line(user)
    for raw in data.split(","):
        token = raw.strip()
        if not token:
            return "empty token"
        line.tokens += 1
        removal = _TRAIT_REMOVAL.match(token)
        if removal:
            line.removes.append(int(removal[1]))
            continue
        key, eq, value = token.partition("=")
        if not eq:
            if token.isdigit():
                line.signals.setdefault("ic", []).append(token)
                continue
            return f"token {token[:40]!r} is neither key=value nor a trait id"
        key = _unquote(key).lstrip("-").strip().lower()
        value = _unquote(value)
        if not key or "\t" in value:
            return f"token {token[:40]!r} has an empty key"
        if key in ("d_sid", "d_unsid"):
            if not value.isdigit() or len(value) > 10:
                return f"{key} needs a trait id, not {value[:40]!r}"
            (line.adds if key == "d_sid" else line.removes).append(int(value))
        else:
            line.signals.setdefault(key, []).append(value)
    return line


def invalid_id(value: str, what: str = "a user id") -> str | None:
    """Why ``value`` cannot be a partner's id: DPUUIDs may not hold ``:`` nor ``%3A`` (AAM,
    "Data file contents and syntax")."""
    if ":" in value or "%3a" in value.lower():
        return f"{what} may not contain ':' or '%3A'"
    return None


def file_lines(data: bytes, gzipped: bool) -> Iterator[bytes]:
    """A transfer file's lines, gunzipped where its name says so, without line ends."""
    source: Any = gzip.GzipFile(fileobj=io.BytesIO(data)) if gzipped else io.BytesIO(data)
    for raw in source:
        yield raw.rstrip(b"\r\n")


def file_record(
    s: Session,
    tenant_id: int,
    data_source_id: int,
    name: str,
    data: bytes,
    md5: str,
    receipt: dict[str, Any],
    now_ms: int,
) -> InboundFile:
    """The import record of file ``name`` with checksum ``md5`` (detached from ``s``), created
    with ``receipt`` at its first import: a file seen before resumes or returns its receipt."""
    found = s.scalar(
        select(InboundFile).where(
            InboundFile.tenant_id == tenant_id,
            InboundFile.file_name == name,
            InboundFile.md5 == md5,
        )
    )
    if found is None:
        found = InboundFile(
            tenant_id=tenant_id,
            data_source_id=data_source_id,
            file_name=name,
            md5=md5,
            state="processing",
            lines_done=0,
            receipt=orjson.dumps(receipt).decode(),
            devices="[]",
            failed_users="[]",
            started_ms=now_ms,
            bytes=len(data),
        )
        s.add(found)
        s.flush()
    s.expunge(found)
    return found


@dataclass
class _Work:
    """What one chunk does to one user."""

    uuid: str
    lines: list[Line] = field(default_factory=list)


class FileImport(ABC, Generic[N]):
    """One transfer file being applied: its parsed name, bytes, checksum and clock.

    Subclasses give the name's parser and the form it must take (for the 400 a bad name gets);
    ``progress(lines_done)`` is called after each chunk.
    """

    expected: ClassVar[str]

    def __init__(
        self,
        db: Database,
        name: str,
        data: bytes,
        *,
        now_ms: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        parsed = self.parse(name)
        if parsed is None:
            raise BadRequest.fields([("file", f"{name!r} is not {self.expected}")])
        self.db, self.name, self.data, self.parsed = db, name, data, parsed
        self.md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum AAM's manifests use
        self.now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        self.progress = progress or (lambda _: None)
        self.tenant_id = 0

    @staticmethod
    @abstractmethod
    def parse(name: str) -> N | None:
        """The parts of file name ``name``, or None when it is not a file of this kind."""


class Importer(FileImport[InboundName]):
    """Applies one onboarding file (``ftp_dpm_…``)."""

    expected = "ftp_dpm_<DPID>[_<OWNER>]_<TIMESTAMP>.sync|overwrite"
    parse = staticmethod(parse_name)

    def run(self) -> dict[str, Any]:
        """Imports the file (or resumes it); returns its receipt."""
        record = self._record()
        if record.state == "done":
            return orjson.loads(record.receipt)  # type: ignore[no-any-return]
        receipt = Receipt(self.name, **_counters(orjson.loads(record.receipt)))
        done = record.lines_done
        per_user: dict[str, int] = {}
        devices_seen: set[str] = set(orjson.loads(record.devices or "[]"))
        failed_users: set[str] = set(orjson.loads(record.failed_users or "[]"))
        chunk: list[tuple[int, bytes]] = []
        number = 0
        for raw in file_lines(self.data, self.parsed.gzipped):
            number += 1
            if number <= done:
                _count_user(raw, per_user)  # the 200-line limit counts lines already applied
                continue
            chunk.append((number, raw))
            if len(chunk) == CHUNK:
                self._chunk(record.id, chunk, receipt, per_user, devices_seen, failed_users)
                self.progress(number)
                chunk = []
        self._chunk(record.id, chunk, receipt, per_user, devices_seen, failed_users, last=True)
        self.progress(number)
        return receipt.to_json() | self._times(record.id)

    def _times(self, record_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(InboundFile, record_id)
            assert row is not None
            return {"startTime": row.started_ms, "endTime": row.finished_ms}

    def _record(self) -> InboundFile:
        with self.db.session() as s:
            ds = s.get(DataSource, self.parsed.dpid)
            owner = s.get(DataSource, self.parsed.owner)
            if ds is None or owner is None or owner.tenant_id != ds.tenant_id:
                raise BadRequest.fields(
                    [("file", f"data source {self.parsed.dpid} or {self.parsed.owner} is unknown")]
                )
            self.tenant_id = ds.tenant_id
            receipt = Receipt(self.name).to_json()
            return file_record(
                s, ds.tenant_id, ds.id, self.name, self.data, self.md5, receipt, self.now_ms
            )

    def _chunk(
        self,
        record_id: int,
        chunk: list[tuple[int, bytes]],
        receipt: Receipt,
        per_user: dict[str, int],
        devices_seen: set[str],
        failed_users: set[str],
        *,
        last: bool = False,
    ) -> None:
        with self.db.session() as s:
            conn = s.connection()
            rules = rules_for(conn, self.tenant_id)
            work: dict[str, _Work] = {}
            for number, raw in chunk:
                receipt.records_received += 1
                receipt.records_processed += 1
                line = self._parse(number, raw, receipt, per_user)
                if line is None:
                    continue
                invalid = invalid_id(line.user)
                if invalid:
                    receipt.invalid_ids += 1
                    receipt.sample("invalidId", number, line.user, invalid)
                    continue
                uuid = self._uuid(conn, line.user)
                if uuid is None:
                    receipt.no_matching_ids += 1
                    receipt.sample("noMatchingId", number, line.user, "no device has this id")
                    continue
                line = self._validate(line, rules, receipt, failed_users)
                receipt.total_signals += line.tokens
                work.setdefault(uuid, _Work(uuid)).lines.append(line)
            for item in work.values():
                self._apply(conn, rules, item, receipt, devices_seen)
            receipt.total_devices = len(devices_seen)
            receipt.users_with_failed_validation = len(failed_users)
            receipt.stored_records = (
                receipt.records_processed
                - receipt.format_errors
                - receipt.invalid_ids
                - receipt.no_matching_ids
                - receipt.no_trait_realized
            )
            row = s.get(InboundFile, record_id)
            assert row is not None
            row.lines_done += len(chunk)
            row.devices = orjson.dumps(sorted(devices_seen)).decode()
            row.failed_users = orjson.dumps(sorted(failed_users)).decode()
            if last:
                row.state, row.finished_ms = "done", time.time_ns() // 1_000_000
            out = receipt.to_json() | {"startTime": row.started_ms, "endTime": row.finished_ms}
            row.receipt = orjson.dumps(out).decode()

    def _parse(
        self, number: int, raw: bytes, receipt: Receipt, per_user: dict[str, int]
    ) -> Line | None:
        def bad(reason: str, text: str) -> None:
            receipt.format_errors += 1
            receipt.sample("formatError", number, text, reason)

        if len(raw) > MAX_LINE:
            bad(f"longer than {MAX_LINE} bytes", raw[:200].decode(errors="replace"))
            return None
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            bad("not UTF-8", raw[:200].decode(errors="replace"))
            return None
        parsed = parse_line(text)
        if isinstance(parsed, str):
            bad(parsed, text)
            return None
        per_user[parsed.user] = per_user.get(parsed.user, 0) + 1
        if per_user[parsed.user] > MAX_LINES_PER_ID:
            bad(f"more than {MAX_LINES_PER_ID} lines for this user id", text)
            return None
        return parsed

    def _uuid(self, conn: Any, user: str) -> str | None:
        found = devices.lookup(conn, self.tenant_id, [(str(self.parsed.dpid), user)])
        if found is None and devices.is_uuid(user):
            return user  # an AAM UUID
        return found

    def _validate(
        self, line: Line, rules: RuleSet, receipt: Receipt, failed_users: set[str]
    ) -> Line:
        """Drops trait ids the owner does not own (AAM's "traits failed validation")."""
        owner = self.parsed.owner

        def owned(sid: int) -> bool:
            trait = rules.traits.get(sid)
            return trait is not None and trait.data_source_id == owner and trait.active

        kept_adds = [sid for sid in line.adds if owned(sid)]
        kept_removes = [sid for sid in line.removes if owned(sid)]
        failed = len(line.adds) - len(kept_adds) + len(line.removes) - len(kept_removes)
        if failed:
            receipt.failed_validation_traits += failed
            failed_users.add(line.user)
        line.adds, line.removes = kept_adds, kept_removes
        return line

    def _apply(
        self,
        conn: Any,
        rules: RuleSet,
        item: _Work,
        receipt: Receipt,
        devices_seen: set[str],
    ) -> None:
        owner, overwrite, now_ms = self.parsed.owner, self.parsed.overwrite, self.now_ms
        effects: list[tuple[int, int, int]] = []  # per line: realized, removed, unused signals
        dropped: set[int] = set()  # the owner's traits an overwrite removed

        def change(state: DeviceState) -> tuple[DeviceState, Outcome]:
            effects.clear()
            dropped.clear()
            original = set(state.segments)
            if overwrite:
                dropped.update(s for s in state.realizations if _owner_of(rules, s) == owner)
                for sid in dropped:
                    state.forget(sid)
            total = Outcome()
            for line in item.lines:
                removed = 0
                if not overwrite:
                    for sid in line.removes:
                        if state.forget(sid):
                            removed += 1
                unused = 0
                for key, values in line.signals.items():
                    for value in values:
                        if not rules.matching_traits({key: [value]}, owner):
                            unused += 1
                state, outcome = apply_call(
                    rules, state, line.signals, now_ms, data_source=owner, direct=line.adds
                )
                total.realized += outcome.realized
                dropped.difference_update(outcome.realized)
                effects.append((len(outcome.realized), removed, unused))
            # Entries and exits against the state before the file, not between its lines.
            total.entered = sorted(set(state.segments) - original)
            total.exited = sorted(original - set(state.segments))
            return state, total

        devices.update_state(conn, self.tenant_id, item.uuid, rules, change, now_ms)
        stored = False
        # Full syncs: the owner's traits this file did not realize again (AAM's "removed").
        receipt.removed_traits += len(dropped)
        for realized, removed, unused in effects:
            receipt.realized_traits += realized
            receipt.removed_traits += removed
            receipt.unused_signals += unused
            if realized == 0 and removed == 0:
                receipt.no_trait_realized += 1
            else:
                stored = True
        if stored:
            devices_seen.add(item.uuid)


def _owner_of(rules: RuleSet, sid: int) -> int | None:
    trait = rules.traits.get(sid)
    return None if trait is None else trait.data_source_id


def _count_user(raw: bytes, per_user: dict[str, int]) -> None:
    user, tab, _ = raw.partition(b"\t")
    if tab and user:
        key = user.decode(errors="replace")
        per_user[key] = per_user.get(key, 0) + 1


_COUNTERS = {
    "recordsReceived": "records_received",
    "formatErrors": "format_errors",
    "invalidIds": "invalid_ids",
    "noMatchingIds": "no_matching_ids",
    "noTraitRealized": "no_trait_realized",
    "recordsProcessed": "records_processed",
    "storedRecords": "stored_records",
    "totalDevices": "total_devices",
    "totalSignals": "total_signals",
    "unusedSignals": "unused_signals",
    "realizedTraits": "realized_traits",
    "removedTraits": "removed_traits",
    "failedValidationTraits": "failed_validation_traits",
    "usersWithFailedValidation": "users_with_failed_validation",
    "samples": "samples",
}


def _counters(data: dict[str, Any]) -> dict[str, Any]:
    return {attr: data[key] for key, attr in _COUNTERS.items() if key in data}


def count_lines(data: bytes, name: str) -> int:
    """Lines of an onboarding or ID-sync file (for a progress bar)."""
    raw = gzip.decompress(data) if name.endswith(".gz") else data
    return raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)
