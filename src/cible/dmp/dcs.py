"""The DCS ``/event`` call: parameters in, a device qualified, AAM's JSON out.

:func:`parse` reads a call's parameters the way AAM's Data Collection Server does (Adobe Audience
Manager, "DCS API keys", "Supported attributes for DCS API calls", "DCS error codes"):
``c_`` and unprefixed keys are customer signals, ``d_`` keys platform keys, ``h_`` keys are filled
from the request's headers (never from the caller), ``p_`` keys are used for this call's
evaluation and then dropped. :func:`unit` is the work of one call inside a group-commit
transaction: resolve the device (``d_uuid``, the ``demdex`` cookie, ``d_mid``, declared ids
``d_cid``/``d_cid_ic``), refuse opted-out devices, qualify, write the device state by
compare-and-set, map the ids, record membership changes and append the call's signals to the
event log (topic ``dcs``). Nothing here knows HTTP.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select

from cible.dmp import devices, targeting
from cible.dmp.qualify import DeviceState, Outcome, RuleSet, apply_call
from cible.dmp.rules import rules_for
from cible.dmp.service import parse_id
from cible.dmp.tables import DataSource
from cible.dmp.traitrule import parse_value
from cible.dmp.transfers.dcs import destinations_for, render
from cible.events import Record, append_records

TOPIC = "dcs"
OPT_OUT_COOKIE = "NOTARGET"  # the demdex cookie's value after an opt-out
MAX_IDS_PER_DPID = 3
MAX_VALUES_PER_KEY = 64  # a key's values beyond these are ignored
# Header values AAM copies into ``h_`` keys ("DCS API keys", h_ attributes), plus h_ip.
HEADER_KEYS = ("host", "user-agent", "accept-language", "referer", "date")
CONTROL_KEYS = frozenset(
    {
        "d_uuid",
        "d_mid",
        "d_cid",
        "d_cid_ic",
        "d_rtbd",
        "d_jsonv",
        "d_cb",
        "d_dst",
        "d_cts",
        "d_tdpid",
        "d_tdpid_ic",
        "d_orgid",
        "d_sid",
    }
)
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,127}$")
_DS: Table = DataSource.__table__  # type: ignore[assignment]


@dataclass
class DcsError:
    code: int
    msg: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


@dataclass
class DcsCall:
    """One parsed ``/event`` call."""

    signals: dict[str, list[str]] = field(default_factory=dict)
    private: dict[str, list[str]] = field(default_factory=dict)
    uuid: str | None = None
    mid: str | None = None
    cids: list[tuple[str, str]] = field(default_factory=list)  # (dpid, dpuuid)
    cid_codes: list[tuple[str, str]] = field(default_factory=list)  # (integration code, id)
    # Declared ids sent with authentication state 1 (``d_cid=<DPID>%01<id>%011``), as given,
    # then as (DPID, id) once their data sources are known.
    authenticated: set[tuple[str, str]] = field(default_factory=set)
    authenticated_ids: list[tuple[str, str]] = field(default_factory=list)
    direct: list[int] = field(default_factory=list)
    tdpid: str | None = None
    tdpid_ic: str | None = None
    json: bool = False
    dst: bool = False  # d_dst=1: answer with URL destinations
    callback: str | None = None
    cts: int = 0
    opted_out_cookie: bool = False  # the browser carries the opt-out cookie
    errors: list[DcsError] = field(default_factory=list)


@dataclass
class DcsResult:
    uuid: str | None
    body: dict[str, Any]
    errors: list[DcsError]


def _one(values: Sequence[str]) -> str:
    return values[-1] if values else ""


def _declared(raw: str, errors: list[DcsError]) -> tuple[str, str, bool] | None:
    """``(namespace, id, authenticated)``: an optional third part is the authentication state
    (0 unknown, 1 authenticated, 2 logged out; AAM, "Visitor Authentication States")."""
    namespace, sep, rest = raw.partition("\x01")
    external, _, state = rest.partition("\x01")
    if not sep or not namespace or not external:
        errors.append(DcsError(300, f"Invalid customer ID {raw!r}: expected <DPID>%01<DPUUID>"))
        return None
    return namespace, external, state.strip() == "1"


def parse(
    pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    client_ip: str | None,
    cookie_uuid: str | None,
) -> DcsCall:
    """The call's keys sorted into signals, private keys and the DCS's own parameters."""
    call = DcsCall()
    raw: dict[str, list[str]] = {}
    for key, value in pairs:
        raw.setdefault(key.strip().lower(), []).append(value)
    for key, values in raw.items():
        if not key or key in CONTROL_KEYS or key.startswith("h_"):
            continue
        parsed = [v for value in values for v in parse_value(value)][:MAX_VALUES_PER_KEY]
        (call.private if key.startswith("p_") else call.signals)[key] = parsed
    for name in HEADER_KEYS:
        if name in headers:
            call.signals[f"h_{name}"] = [headers[name]]
    if "referer" in headers:
        call.signals["h_referrer"] = [headers["referer"]]
    if client_ip:
        call.signals["h_ip"] = [client_ip]

    explicit = _one(raw.get("d_uuid", []))
    if explicit:
        if devices.is_uuid(explicit):
            call.uuid = explicit
        else:
            call.errors.append(DcsError(102, f"Invalid AAM ID {explicit!r} in d_uuid"))
    if call.uuid is None and devices.is_uuid(cookie_uuid):
        call.uuid = cookie_uuid
    call.opted_out_cookie = call.uuid is None and cookie_uuid == OPT_OUT_COOKIE
    mid = _one(raw.get("d_mid", []))
    if mid:
        if devices.is_uuid(mid):
            call.mid = mid
        else:
            call.errors.append(DcsError(101, f"Invalid Experience Cloud ID {mid!r} in d_mid"))
    given = raw.get("d_cid", []) + raw.get("d_cid_ic", [])
    counts: dict[str, int] = {}
    for name, target in (("d_cid", call.cids), ("d_cid_ic", call.cid_codes)):
        for value in raw.get(name, []):
            found = _declared(value, call.errors)
            if found is None:
                continue
            declared = found[:2]
            counts[declared[0]] = counts.get(declared[0], 0) + 1
            if counts[declared[0]] > MAX_IDS_PER_DPID:
                call.errors.append(
                    DcsError(
                        310,
                        f"More than {MAX_IDS_PER_DPID} customer IDs for namespace "
                        f"{declared[0]}; {declared[1]!r} was discarded",
                    )
                )
                continue
            target.append(declared)
            if found[2]:
                call.authenticated.add(declared)
    if given and not call.cids and not call.cid_codes:
        call.errors.append(DcsError(104, "All customer IDs are invalid"))
    for value in raw.get("d_sid", []):
        for part in value.split(","):
            if part.strip().isdigit():
                call.direct.append(int(part.strip()))
    call.tdpid = _one(raw.get("d_tdpid", [])) or None
    call.tdpid_ic = _one(raw.get("d_tdpid_ic", [])) or None
    call.json = _one(raw.get("d_rtbd", [])).lower() == "json"
    call.dst = _one(raw.get("d_dst", [])) == "1"
    callback = _one(raw.get("d_cb", []))
    if callback and _CALLBACK.match(callback):
        call.callback = callback
    cts = _one(raw.get("d_cts", []))
    call.cts = int(cts) if cts in ("1", "2") else 0
    return call


def transaction_id() -> str:
    """AAM's ``tid``: 12 characters identifying the call for support."""
    return base64.b64encode(secrets.token_bytes(9)).decode()


def _data_source(conn: Connection, tenant_id: int, ref: str | None, by_code: bool) -> int | None:
    if not ref:
        return None
    column = _DS.c.integration_code if by_code else _DS.c.id
    value: Any = ref if by_code else parse_id(ref)
    if value is None:
        return None
    found = conn.execute(
        select(_DS.c.id).where(_DS.c.tenant_id == tenant_id, column == value)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def declared_ids(conn: Connection, tenant_id: int, call: DcsCall) -> list[tuple[str, str]]:
    """Declared ids as ``(DPID, id)`` of this tenant's data sources; others get warning 302."""
    out: list[tuple[str, str]] = []
    for dpid, external in call.cids:
        if _data_source(conn, tenant_id, dpid, by_code=False) is None:
            call.errors.append(DcsError(302, f"Unauthorized customer ID namespace {dpid}"))
            continue
        out.append((dpid, external))
        if (dpid, external) in call.authenticated:
            call.authenticated_ids.append((dpid, external))
    for code, external in call.cid_codes:
        found = _data_source(conn, tenant_id, code, by_code=True)
        if found is None:
            call.errors.append(DcsError(302, f"Unauthorized customer ID integration code {code}"))
            continue
        out.append((str(found), external))
        if (code, external) in call.authenticated:
            call.authenticated_ids.append((str(found), external))
    return out


@dataclass
class Prepared:
    """What :func:`prepare` read and computed before the writing transaction."""

    uuid: str | None  # None: the device or one of its ids opted out
    ids: list[tuple[str, str]]
    rules: RuleSet
    data_source: int | None
    attempt: devices.Attempt | None


def _opted_out_ids(conn: Connection, tenant_id: int, uuid: str, ids: list[tuple[str, str]]) -> bool:
    return devices.opted_out(conn, tenant_id, [(devices.UUID_NAMESPACE, uuid), *ids])


def prepare(conn: Connection, tenant_id: int, call: DcsCall, now_ms: int) -> Prepared:
    """The call's reads and its qualification, computed without writing (any connection).

    :func:`unit` writes the result if the device has not changed since, else re-applies the call.
    """
    ids = declared_ids(conn, tenant_id, call)
    if call.mid:
        ids.append((devices.MID, call.mid))
    uuid = call.uuid or devices.lookup(conn, tenant_id, ids) or devices.new_uuid()
    rules = rules_for(conn, tenant_id)
    if call.opted_out_cookie or _opted_out_ids(conn, tenant_id, uuid, ids):
        return Prepared(None, ids, rules, None, None)
    data_source = _data_source(conn, tenant_id, call.tdpid, by_code=False)
    if data_source is None and call.tdpid_ic:
        data_source = _data_source(conn, tenant_id, call.tdpid_ic, by_code=True)
    attempt = devices.compute(conn, tenant_id, uuid, _change(call, rules, data_source, now_ms))
    return Prepared(uuid, ids, rules, data_source, attempt)


def _change(call: DcsCall, rules: RuleSet, data_source: int | None, now_ms: int) -> devices.Change:
    evaluated = {**call.signals, **call.private}

    def change(state: DeviceState) -> tuple[DeviceState, Outcome]:
        return apply_call(
            rules, state, evaluated, now_ms, data_source=data_source, direct=call.direct
        )

    return change


def unit(
    conn: Connection,
    tenant_id: int,
    call: DcsCall,
    now_ms: int,
    region: int,
    prepared: Prepared | None = None,
) -> DcsResult:
    """One ``/event`` call's writes (and, without ``prepared``, its reads), in the caller's
    transaction."""
    if prepared is None:
        prepared = prepare(conn, tenant_id, call, now_ms)
    uuid = prepared.uuid
    # Checked again here: an opt-out committed after prepare() must still win.
    if uuid is None or _opted_out_ids(conn, tenant_id, uuid, prepared.ids):
        return _opted_out(call)
    tid = transaction_id()
    rules = prepared.rules
    state, outcome = devices.update_state(
        conn,
        tenant_id,
        uuid,
        rules,
        _change(call, rules, prepared.data_source, now_ms),
        now_ms,
        first=prepared.attempt,
    ) or (DeviceState(), Outcome())
    devices.map_ids(conn, tenant_id, uuid, prepared.ids, now_ms)
    change = _change(call, rules, prepared.data_source, now_ms)
    for dpid, external in call.authenticated_ids:
        # An authenticated call also writes to the declared id's authenticated profile
        # (cible.dmp.merge), read by segments whose merge rule includes it.
        if int(dpid) in rules.authenticated_sources:
            key = devices.authenticated_key(dpid, external)
            devices.update_state(conn, tenant_id, key, rules, change, now_ms, record=False)
    if targeting.matters(rules, outcome.realized, outcome.entered, outcome.exited):
        targeting.touch_visitors(conn, tenant_id, uuid, rules)
    # p_ keys are never stored (AAM, "Trait variable prefixes"): only call.signals is logged.
    payload = {
        "uuid": uuid,
        "tid": tid,
        "at": now_ms,
        "signals": call.signals,
        "ids": [list(i) for i in prepared.ids],
        "realized": outcome.realized,
        "entered": outcome.entered,
        "exited": outcome.exited,
    }
    append_records(conn, [Record(TOPIC, tenant_id, f"{uuid}/{tid}", orjson.dumps(payload))])
    # URL and cookie destinations of the device's segments (cible.dmp.transfers.dcs).
    stuff, dests = render(
        destinations_for(conn, tenant_id, rules), set(state.segments), now_ms, dst=call.dst
    )
    body: dict[str, Any] = {
        "stuff": stuff,
        "dests": dests,
        "uuid": uuid,
        "dcs_region": region,
        "tid": tid,
    }
    if call.cts:
        body["traits"] = sorted(state.realizations)
        body["segments"] = sorted(state.segments)
    if call.errors:
        body["errors"] = [e.to_json() for e in call.errors]
    return DcsResult(uuid, body, call.errors)


def _opted_out(call: DcsCall) -> DcsResult:
    errors = [*call.errors, DcsError(171, "Opt-out tag encountered")]
    return DcsResult(None, {"errors": [e.to_json() for e in errors]}, errors)
