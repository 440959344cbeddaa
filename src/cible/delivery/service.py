"""One delivery call: the visitor's profile, the engine's decision, durable events, the response.

``Delivery.deliver`` runs in a worker thread (it does blocking database I/O) and knows no HTTP
type. Its steps, in one transaction so that whatever the response reports is durable first:

1. open the visitor's profile by every id he sent (merging profiles, docs/profiles.md), start
   a session when ``sessionId`` changes or the timeout passed, apply ``profileParameters`` and
   ``profile.*`` mbox parameters;
2. decide with ``cible.engine.decide`` on the artifact seen through the visitor's sticky A/B
   assignments, with his profile, reusing the session cache when nothing it depends on moved;
3. record assignments, impressions of executed decisions, notifications, conversions, orders;
4. build Adobe's response (``status``, ``requestId``, ``client``, ``id``, ``edgeHost``,
   ``execute``, ``prefetch``, ``notifications``), with Analytics payloads when asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from cible.delivery.cache import DecisionCache, request_shape
from cible.delivery.events import EventBatch, decode_tokens, store_events
from cible.delivery.geo import GeoLookup, with_geo
from cible.delivery.seen import SeenNames
from cible.delivery.source import EMPTY_ARTIFACT, ArtifactSource
from cible.delivery.sticky import experiences_by_activity, sticky_view
from cible.engine import EXTRA_KEY, Artifact, decide
from cible.profiles import service as profiles
from cible.store import Database

__all__ = ["Delivery", "DeliveryRejected", "TenantRef", "analytics_payload"]

SERVER_DECISIONING = "server-side"
PROFILE_TOKENS = {
    "profile.tntId": "tntId",
    "profile.thirdPartyId": "thirdPartyId",
    "profile.isFirstSession": "isFirstSession",
    "profile.isNewSession": "isNewSession",
    "profile.daysSinceLastVisit": "daysSinceLastVisit",
}


class DeliveryRejected(ValueError):
    """A request refused after parsing (Adobe's 400 ``{"status", "message"}``)."""


@dataclass(frozen=True)
class TenantRef:
    id: int
    client_code: str


@dataclass
class _ArtifactFacts:
    """What the service derives once per loaded artifact."""

    artifact: Artifact
    experiences: dict[int, set[int]]
    served: frozenset[tuple[int, int]]


def _served(artifact: Artifact) -> frozenset[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
        for rule in rules:
            try:
                pairs.add((int(rule.activity_id), int(rule.experience_id)))
            except (TypeError, ValueError):
                continue
    return frozenset(pairs)


def analytics_payload(pairs: list[tuple[int, int]]) -> dict[str, Any] | None:
    """A4T payload for the decisions of one location: ``{"pe": "tnt", "tnta": ...}``.

    ``tnta`` lists ``activityId:experienceId:trafficType|eventType`` entries joined by ``,``;
    trafficType is 0 (regular traffic) and eventType 2 (an impression), as in Adobe's example
    ``285408:0:0|2``.
    """
    if not pairs:
        return None
    return {"payload": {"pe": "tnt", "tnta": ",".join(f"{a}:{e}:0|2" for a, e in pairs)}}


def _profile_updates(request: Mapping[str, Any]) -> dict[str, str]:
    updates: dict[str, str] = {}
    for detail in _details(request, with_notifications=True):
        for name, value in (detail.get("profileParameters") or {}).items():
            updates[name] = value
        for name, value in (detail.get("parameters") or {}).items():
            if name.startswith("profile."):
                updates[name.removeprefix("profile.")] = value
    return updates


def _details(request: Mapping[str, Any], *, with_notifications: bool) -> Iterator[Any]:
    for mode in ("execute", "prefetch"):
        block = request.get(mode) or {}
        if block.get("pageLoad") is not None:
            yield block["pageLoad"]
        yield from block.get("mboxes") or ()
        yield from block.get("views") or ()
    if with_notifications:
        yield from request.get("notifications") or ()


def _without_profile_parameters(request: dict[str, Any]) -> dict[str, Any]:
    # ``profile.*`` mbox parameters are profile updates (Adobe, at.js 1.x style), not mbox.*.
    copy = dict(request)
    for mode in ("execute", "prefetch"):
        block = copy.get(mode)
        if not block:
            continue
        block = dict(block)
        for key in ("mboxes", "views"):
            if block.get(key):
                block[key] = [_strip(detail) for detail in block[key]]
        if block.get("pageLoad") is not None:
            block["pageLoad"] = _strip(block["pageLoad"])
        copy[mode] = block
    return copy


def _strip(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = detail.get("parameters")
    if not parameters or not any(name.startswith("profile.") for name in parameters):
        return detail
    kept = {k: v for k, v in parameters.items() if not k.startswith("profile.")}
    return {**detail, "parameters": kept}


class Delivery:
    """The delivery service of one app: artifact source, caches, seen-name buffer, database."""

    def __init__(
        self,
        db: Database,
        source: ArtifactSource,
        *,
        session_timeout_seconds: int = 1800,
        environment: str = "production",
        clock: Callable[[], datetime] | None = None,
        cache: DecisionCache | None = None,
        seen: SeenNames | None = None,
        token_secret: Callable[[int], bytes | None] | None = None,
        geo_lookup: GeoLookup | None = None,
    ) -> None:
        self.db = db
        self.source = source
        self.session_timeout_seconds = session_timeout_seconds
        self.environment = environment
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cache = cache if cache is not None else DecisionCache()
        self.seen = seen if seen is not None else SeenNames(db)
        self.token_secret = token_secret or (lambda _tenant_id: None)
        self.geo_lookup = geo_lookup
        self._facts: dict[int, _ArtifactFacts] = {}

    def facts(self, artifact: Artifact) -> _ArtifactFacts:
        facts = self._facts.get(id(artifact))
        if facts is None or facts.artifact is not artifact:
            if len(self._facts) > 256:
                self._facts.clear()
            facts = _ArtifactFacts(artifact, experiences_by_activity(artifact), _served(artifact))
            self._facts[id(artifact)] = facts
        return facts

    def deliver(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        session_id: str,
        edge_host: str | None,
    ) -> dict[str, Any] | None:
        """The response for a validated request; None for a beacon (HTTP 204)."""
        now = self.clock()
        token = (request.get("property") or {}).get("token") or ""
        if token:
            artifact = self.source.get(tenant.id, tenant.client_code, self.environment, token)
        else:
            artifact = self.source.get(tenant.id, tenant.client_code, self.environment)
        facts = self.facts(artifact if artifact is not None else EMPTY_ARTIFACT)
        request_id = request.get("requestId") or str(uuid.uuid4())
        updates = _profile_updates(request)
        for attempt in range(3):
            try:
                with self.db.session() as session:
                    response = self._deliver(
                        session, tenant, request, request_id, session_id, now, facts, updates
                    )
                break
            except IntegrityError:
                # Two first calls of one visitor raced to create his profile ids: decide again.
                if attempt == 2:
                    raise
        self._note_seen(tenant.id, request, updates)
        if edge_host:
            response["edgeHost"] = edge_host
        context = request.get("context") or {}
        return None if context.get("beacon") is True else response

    def _deliver(
        self,
        session: Any,
        tenant: TenantRef,
        request: dict[str, Any],
        request_id: str,
        session_id: str,
        now: datetime,
        facts: _ArtifactFacts,
        updates: dict[str, str],
    ) -> dict[str, Any]:
        ids = profiles.VisitorIds.from_request(request.get("id"))
        visit = profiles.open_visit(
            session, tenant.id, ids, session_id, now, self.session_timeout_seconds
        )
        assert visit is not None  # open_visit creates a profile when none matches
        if updates:
            try:
                visit.set_attributes(updates, int(now.timestamp() * 1000))
            except profiles.ProfileTooLarge as error:
                raise DeliveryRejected(str(error)) from None
        sent_ids = dict(request.get("id") or {})
        sent_ids["tntId"] = visit.tnt_id
        engine_request = _without_profile_parameters(
            {**request, "id": sent_ids, "requestId": request_id}
        )
        engine_request.pop("notifications", None)
        if self.geo_lookup is not None and isinstance(request.get("context"), dict):
            engine_request["context"] = with_geo(request["context"], self.geo_lookup)
        decision = self._decide(tenant, engine_request, session_id, visit, facts, now)
        extra = decision.pop(EXTRA_KEY, {})
        located = _located_decisions(extra.get("reasons", ()))
        for pairs in located.values():
            for activity, experience in pairs:
                visit.assign(activity, experience)
        batch = EventBatch(tenant.id, profiles.tnt_key(visit.tnt_id), session_id)
        impression_id = request.get("impressionId")
        self._record_executed(batch, request, located, visit, request_id, impression_id, now, facts)
        acked, rejected = self._record_notifications(batch, request, facts, visit, tenant.id)
        profiles.save_visit(session, tenant.id, visit, now)
        store_events(session, batch)
        return self._response(
            tenant, request, request_id, decision, located, visit, facts, acked, rejected
        )

    def _decide(
        self,
        tenant: TenantRef,
        engine_request: dict[str, Any],
        session_id: str,
        visit: profiles.Visit,
        facts: _ArtifactFacts,
        now: datetime,
    ) -> dict[str, Any]:
        key = (tenant.id, session_id, visit.tnt_id, request_shape(engine_request))
        fingerprint = visit.fingerprint()
        cached = self.cache.get(key, facts.artifact, fingerprint)
        if cached is not None:
            return dict(cached)
        artifact = sticky_view(facts.artifact, visit.assignments, facts.experiences)
        decision = decide(
            artifact,
            engine_request,
            profile=visit.engine_profile(),
            now=now,
            client=tenant.client_code,
        )
        self.cache.put(key, facts.artifact, fingerprint, decision)
        return decision

    def _record_executed(
        self,
        batch: EventBatch,
        request: Mapping[str, Any],
        located: dict[tuple[str, str, str, Any], list[tuple[int, int]]],
        visit: profiles.Visit,
        request_id: str,
        impression_id: Any,
        now: datetime,
        facts: _ArtifactFacts,
    ) -> None:
        execute = request.get("execute") or {}
        global_mbox = facts.artifact.global_mbox
        shown_at: dict[str, set[int]] = {}
        for (mode, _scope, located_name, _index), pairs in located.items():
            if mode != "execute":
                continue
            name = located_name or global_mbox
            for activity, experience in pairs:
                shown_at.setdefault(name, set()).add(activity)
                key = (
                    f"imp:{impression_id}:{activity}:{experience}"
                    if impression_id
                    else f"exe:{request_id}:{name}:{activity}:{experience}"
                )
                batch.add(
                    key, "impression", now, activity=activity, experience=experience, mbox=name
                )
        executed: list[tuple[str, Any]] = []
        if execute.get("pageLoad") is not None:
            executed.append((global_mbox, execute["pageLoad"]))
        executed.extend((m.get("name"), m) for m in execute.get("mboxes") or ())
        reference = impression_id or request_id
        for name, detail in executed:
            self._conversions(batch, visit, name, shown_at.get(name, set()), reference, now)
            batch.add_order(detail.get("order"), visit.assignments, now, name)

    @staticmethod
    def _conversions(
        batch: EventBatch,
        visit: profiles.Visit,
        mbox: str,
        shown: set[int],
        reference: str,
        now: datetime,
    ) -> None:
        for activity, experience in visit.assignments.items():
            if activity in shown:
                continue
            batch.add(
                f"cnv:{batch.visitor}:{activity}:{mbox}:{reference}",
                "conversion",
                now,
                activity=activity,
                experience=experience,
                mbox=mbox,
            )

    def _record_notifications(
        self,
        batch: EventBatch,
        request: Mapping[str, Any],
        facts: _ArtifactFacts,
        visit: profiles.Visit,
        tenant_id: int,
    ) -> tuple[list[str], list[dict[str, str]]]:
        acked: list[str] = []
        rejected: list[dict[str, str]] = []
        secret = self.token_secret(tenant_id)
        for notification in request.get("notifications") or ():
            nid = notification["id"]
            pairs = decode_tokens(notification.get("tokens") or (), facts.served, secret)
            if not pairs:
                message = "no eventToken of a served experience"
                rejected.append({"id": nid, "message": message})
                continue
            at = datetime.fromtimestamp(notification["timestamp"] / 1000, UTC)
            mbox = (notification.get("mbox") or {}).get("name")
            view = (notification.get("view") or {}).get("name")
            impression_id = notification.get("impressionId")
            location = mbox or view or None
            for activity, experience in pairs:
                if notification["type"] == "click":
                    key, kind = f"clk:{nid}:{activity}:{experience}", "click"
                elif impression_id:
                    key, kind = f"imp:{impression_id}:{activity}:{experience}", "display"
                else:
                    key, kind = f"ntf:{nid}:{activity}:{experience}", "display"
                visit.assign(activity, experience)
                batch.add(key, kind, at, activity=activity, experience=experience, mbox=location)
            if mbox and notification["type"] == "display":
                shown = {activity for activity, _ in pairs}
                self._conversions(batch, visit, mbox, shown, impression_id or nid, at)
            batch.add_order(notification.get("order"), visit.assignments, at, location)
            acked.append(nid)
        return acked, rejected

    def _response(
        self,
        tenant: TenantRef,
        request: Mapping[str, Any],
        request_id: str,
        decision: dict[str, Any],
        located: dict[tuple[str, str, str, Any], list[tuple[int, int]]],
        visit: profiles.Visit,
        facts: _ArtifactFacts,
        acked: list[str],
        rejected: list[dict[str, str]],
    ) -> dict[str, Any]:
        ids = {k: v for k, v in (request.get("id") or {}).items() if v is not None}
        ids["tntId"] = visit.tnt_id
        response: dict[str, Any] = {
            "status": 200,
            "requestId": request_id,
            "client": tenant.client_code,
            "id": ids,
        }
        analytics = ((request.get("experienceCloud") or {}).get("analytics") or {}).get("logging")
        tokens = self._profile_tokens(visit, facts.artifact)
        for mode in ("execute", "prefetch"):
            if mode not in decision:
                continue
            block = decision[mode]
            for entry, scope in _entries(block):
                _rewrite_tokens(entry, tokens)
                if analytics:
                    key = (mode, scope, entry.get("name", ""), entry.get("index"))
                    payload = analytics_payload(located.get(key, []))
                    if payload is not None:
                        entry["analytics"] = payload
            response[mode] = block
        if request.get("notifications"):
            response["notifications"] = [{"id": nid} for nid in acked]
        if rejected:
            response[EXTRA_KEY] = {"rejectedNotifications": rejected}
        return response

    @staticmethod
    def _profile_tokens(visit: profiles.Visit, artifact: Artifact) -> dict[str, Any]:
        enabled = artifact.response_tokens
        if not enabled:
            return {}
        values = visit.engine_profile()
        tokens: dict[str, Any] = {}
        for token in enabled:
            if not token.startswith("profile."):
                continue
            name = PROFILE_TOKENS.get(token, token.removeprefix("profile."))
            if values.get(name) is not None:
                tokens[token] = str(values[name])
        return tokens

    def _note_seen(
        self, tenant_id: int, request: Mapping[str, Any], updates: dict[str, str]
    ) -> None:
        mboxes: dict[str, set[str]] = {}
        for mode in ("execute", "prefetch"):
            for mbox in (request.get(mode) or {}).get("mboxes") or ():
                params = mbox.get("parameters") or {}
                mboxes.setdefault(mbox["name"], set()).update(
                    name for name in params if not name.startswith("profile.")
                )
        for notification in request.get("notifications") or ():
            name = (notification.get("mbox") or {}).get("name")
            if name:
                mboxes.setdefault(name, set())
        if (mboxes or updates) and self.seen.add(tenant_id, mboxes, updates):
            self.seen.flush()


def _entries(block: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(block.get("pageLoad"), dict):
        yield block["pageLoad"], "pageLoad"
    for entry in block.get("mboxes") or ():
        yield entry, "mbox"
    for entry in block.get("views") or ():
        yield entry, "view"


def _rewrite_tokens(entry: dict[str, Any], tokens: Mapping[str, Any]) -> None:
    for option in entry.get("options") or ():
        response_tokens = option.get("responseTokens")
        if not isinstance(response_tokens, dict):
            continue
        if "activity.decisioningMethod" in response_tokens:
            response_tokens["activity.decisioningMethod"] = SERVER_DECISIONING
        response_tokens.update(tokens)


def _located_decisions(
    reasons: Any,
) -> dict[tuple[str, str, str, Any], list[tuple[int, int]]]:
    """(mode, scope, name, index) → matched (activity, experience) pairs, from the engine trace."""
    located: dict[tuple[str, str, str, Any], list[tuple[int, int]]] = {}
    for entry in reasons:
        scope = entry.get("scope")
        if scope not in ("mbox", "pageLoad", "view"):
            continue
        key = (entry.get("mode", ""), scope, entry.get("name", ""), entry.get("index"))
        if scope == "pageLoad":
            key = (key[0], scope, "", None)
        pairs = located.setdefault(key, [])
        for rule in entry.get("rules", ()):
            if not rule.get("matched"):
                continue
            try:
                pair = (int(rule["activityId"]), int(rule["experienceId"]))
            except (KeyError, TypeError, ValueError):
                continue
            if pair not in pairs:
                pairs.append(pair)
    return located
