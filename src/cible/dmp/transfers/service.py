"""Destinations and their segment mappings, and the data export controls between them.

A data source's ``dataExportRestrictions`` name the uses its data must not serve; a
destination's ``dataExportLabels`` name the uses it serves (Adobe Audience Manager, "Data Export
Controls"). A segment may not be mapped to a destination when one of the data sources it draws
from (its own and those of the traits its rule names) restricts a label the destination
carries; a destination's labels may not change to one that an existing mapping would violate
(``cible.dmp.transfers.labels``, which the segment, trait and data source edits also call).
Every change bumps the tenant's rules version, so the DCS rebuilds the ``dests``/``stuff`` it
answers with (``cible.dmp.transfers.dcs``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cible.dmp._common import (
    MAX_ID,
    ListQuery,
    bump_rules,
    epoch_ms,
    fetch_page,
    parse_id,
    require_write,
)
from cible.dmp.tables import Segment
from cible.dmp.transfers.export import check_config
from cible.dmp.transfers.labels import violation
from cible.dmp.transfers.schemas import DestinationIn, MappingIn
from cible.dmp.transfers.tables import Destination, DestinationMapping
from cible.errors import BadRequest, Conflict, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability

SECRET = "********"  # noqa: S105 - shown instead of signing keys and client secrets


def _config(body: DestinationIn) -> dict[str, Any]:
    raw = body.model_dump(by_alias=True, exclude={"name", "description", "status"})
    raw.pop("destinationType")
    raw.pop("dataExportLabels")
    return dict(raw)


def destination_json(
    dest: Destination, mappings: list[DestinationMapping] | None = None
) -> dict[str, Any]:
    config = orjson.loads(dest.config)
    for name, secret in _SECRETS:
        if config.get(name) and config[name].get(secret):
            config[name] = {**config[name], secret: SECRET}
    out: dict[str, Any] = {
        "destinationId": dest.id,
        "pid": dest.tenant_id,
        "name": dest.name,
        "description": dest.description,
        "destinationType": dest.destination_type,
        "status": dest.status,
        "dataExportLabels": orjson.loads(dest.data_export_labels),
        **_shown(dest.destination_type, config),
        "createTime": epoch_ms(dest.create_time),
        "updateTime": epoch_ms(dest.update_time),
    }
    if mappings is not None:
        out["mappings"] = [mapping_json(m) for m in mappings]
    return out


_FIELDS = {
    "PUSH": ("serializationEnabled", "urlFormatString", "secureUrlFormatString", "delimiter",
             "tagType"),
    "ADS": ("cookieName", "cnameDomain", "ttl", "maxSize", "formatType", "singleKey",
            "keySeparator", "valueSeparator", "serializationEnabled", "serializationSeparator"),
    "S2S": ("url", "userDpid", "clientId", "timeoutMs", "maxAttempts", "maxUsersPerMessage",
            "signature", "oauth"),
    "FILE": ("location", "fileNameTemplate", "contentTemplate", "syncMode", "everyMinutes",
             "offsetMinutes", "gzip", "maxFileLines", "maxFileBytes", "dpid", "masterDpid",
             "pidAlias"),
}  # fmt: skip
# Secrets shown masked and kept when a client sends the mask back: (object, field).
_SECRETS = (("signature", "key"), ("oauth", "clientSecret"), ("location", "password"),
            ("location", "privateKey"), ("location", "secretAccessKey"))  # fmt: skip


def _shown(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return {name: config.get(name) for name in _FIELDS[kind]}


def mapping_json(m: DestinationMapping) -> dict[str, Any]:
    return {
        "destinationMappingId": m.id,
        "mappingId": m.id,
        "destinationId": m.destination_id,
        "sid": m.sid,
        "traitType": "SEGMENT",
        "traitAlias": m.trait_alias,
        "valueAlias": m.value_alias,
        "url": m.url,
        "secureUrl": m.secure_url,
        "startDate": m.start_date,
        "endDate": m.end_date,
        "elementStatus": "ACTIVE",
        "createTime": epoch_ms(m.create_time),
        "updateTime": epoch_ms(m.update_time),
    }


def get_destination(session: Session, principal: Principal, ref: str) -> Destination:
    principal.require(Capability.READ)
    value = parse_id(ref)
    found = None
    if value is not None:
        found = session.scalar(
            select(Destination).where(
                Destination.tenant_id == principal.tenant_id, Destination.id == value
            )
        )
    if found is None:
        raise NotFound(f"destination {ref} does not exist")
    return found


def list_destinations(
    session: Session, principal: Principal, q: ListQuery
) -> tuple[list[Destination], int]:
    principal.require(Capability.READ)
    where: list[Any] = [Destination.tenant_id == principal.tenant_id]
    if "destinationType" in q.filters:
        where.append(Destination.destination_type == q.filters["destinationType"])
    if "containsSegment" in q.filters:
        sid = parse_id(q.filters["containsSegment"])
        if sid is None:
            raise BadRequest.fields([("containsSegment", "must be a segment id")])
        where.append(
            Destination.id.in_(
                select(DestinationMapping.destination_id).where(DestinationMapping.sid == sid)
            )
        )
    query = select(Destination).where(*where).order_by(Destination.id)
    count = select(func.count()).select_from(Destination).where(*where)
    return fetch_page(session, query, count, q)


def mappings_of(session: Session, dest: Destination) -> list[DestinationMapping]:
    return list(
        session.scalars(
            select(DestinationMapping)
            .where(DestinationMapping.destination_id == dest.id)
            .order_by(DestinationMapping.id)
        )
    )


def _labels(body: DestinationIn) -> list[str]:
    return sorted({label.strip() for label in body.data_export_labels if label.strip()})


def create_destination(
    session: Session, principal: Principal, body: DestinationIn, now: datetime
) -> Destination:
    require_write(principal)
    if body.destination_type == "FILE":
        check_config(_config(body))
    dest = Destination(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        destination_type=body.destination_type,
        status=body.status,
        data_export_labels=orjson.dumps(_labels(body)).decode(),
        config=orjson.dumps(_config(body)).decode(),
        create_time=now,
        update_time=now,
    )
    session.add(dest)
    session.flush()
    bump_rules(session, principal.tenant_id)
    return dest


def _keep_secrets(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A client that sends back a GET result sends the mask: the stored secret stays."""
    for name, secret in _SECRETS:
        if new.get(name) and new[name].get(secret) == SECRET and old.get(name):
            new[name][secret] = old[name][secret]


def update_destination(
    session: Session, principal: Principal, ref: str, body: DestinationIn, now: datetime
) -> Destination:
    dest = get_destination(session, principal, ref)
    require_write(principal)
    if body.destination_type != dest.destination_type:
        raise BadRequest.fields([("destinationType", "a destination's type cannot change")])
    labels = _labels(body)
    for mapping in mappings_of(session, dest):
        _check_labels(session, principal.tenant_id, mapping.sid, labels)
    config = _config(body)
    if body.destination_type == "FILE":
        check_config(config)
    _keep_secrets(orjson.loads(dest.config), config)
    dest.name, dest.description, dest.status = body.name, body.description, body.status
    dest.data_export_labels = orjson.dumps(labels).decode()
    dest.config = orjson.dumps(config).decode()
    dest.update_time = now
    bump_rules(session, principal.tenant_id)
    return dest


def delete_destination(session: Session, principal: Principal, ref: str) -> None:
    dest = get_destination(session, principal, ref)
    require_write(principal)
    session.delete(dest)
    bump_rules(session, principal.tenant_id)


def _check_labels(session: Session, tenant_id: int, sid: int, labels: list[str]) -> None:
    found = violation(session, tenant_id, sid, labels)
    if found is not None:
        raise BadRequest.fields([("sid", f"{found} (a label of this destination)")])


def create_mapping(
    session: Session, principal: Principal, ref: str, body: MappingIn, now: datetime
) -> DestinationMapping:
    dest = get_destination(session, principal, ref)
    require_write(principal)
    segment = session.scalar(
        select(Segment.id).where(Segment.tenant_id == principal.tenant_id, Segment.id == body.sid)
    )
    if segment is None:
        raise BadRequest.fields([("sid", f"segment {body.sid} does not exist")])
    if dest.destination_type == "PUSH":
        serialized = bool(orjson.loads(dest.config).get("serializationEnabled"))
        if serialized and not body.trait_alias:
            raise BadRequest.fields([("traitAlias", "a serialized URL destination needs it")])
        if not serialized and not (body.url or body.secure_url):
            raise BadRequest.fields([("url", "a URL destination's mapping needs a URL")])
    if dest.destination_type == "ADS" and not body.value_alias:
        raise BadRequest.fields([("valueAlias", "a cookie destination's mapping needs it")])
    _check_labels(session, principal.tenant_id, body.sid, orjson.loads(dest.data_export_labels))
    taken = session.scalar(
        select(DestinationMapping.id).where(
            DestinationMapping.destination_id == dest.id, DestinationMapping.sid == body.sid
        )
    )
    if taken is not None:
        raise Conflict(f"segment {body.sid} is already mapped to destination {dest.id}")
    mapping = DestinationMapping(
        tenant_id=principal.tenant_id,
        destination_id=dest.id,
        sid=body.sid,
        trait_alias=body.trait_alias,
        value_alias=body.value_alias,
        url=body.url,
        secure_url=body.secure_url,
        start_date=body.start_date,
        end_date=body.end_date,
        create_time=now,
        update_time=now,
    )
    session.add(mapping)
    session.flush()
    bump_rules(session, principal.tenant_id)
    return mapping


def get_mapping(
    session: Session, principal: Principal, ref: str, mapping_id: int
) -> DestinationMapping:
    dest = get_destination(session, principal, ref)
    found = (
        None
        if not 0 < mapping_id <= MAX_ID
        else session.scalar(
            select(DestinationMapping).where(
                DestinationMapping.destination_id == dest.id, DestinationMapping.id == mapping_id
            )
        )
    )
    if found is None:
        raise NotFound(f"mapping {mapping_id} of destination {dest.id} does not exist")
    return found


def delete_mapping(session: Session, principal: Principal, ref: str, mapping_id: int) -> None:
    mapping = get_mapping(session, principal, ref, mapping_id)
    require_write(principal)
    session.delete(mapping)
    bump_rules(session, principal.tenant_id)
