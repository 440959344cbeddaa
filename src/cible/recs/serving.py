"""Recommendations in a delivery response: a recs option becomes rendered HTML or JSON.

The artifact compiler writes a recommendations offer's option as ``{"type": "recs",
"content": {criteriaId, designId, collectionId, promotions, offerId}}`` in activities only the
server decides. After the engine decided and the response was built, the delivery service hands
the response here (:func:`fill_async`, :func:`fill`), and each such option is rendered:

1. the key item is the mbox parameter ``entity.id`` (Adobe: Current Item needs ``entity.id``
   in the request); ``excludedIds`` (comma-separated) leaves items out for this call;
2. the criteria's items come from ``cible.recs.criteria.recommend`` (precomputed, with the
   criteria's own filters and backups), for the key item and the visitor (``tntId``);
3. front and back promotions of the offer take their slots (up to ``maxSlots`` each; Adobe:
   "promotions beat criteria results and backups and are de-duplicated against them");
4. the offer's collection limits the criteria's items; global exclusions, the key item and
   ``excludedIds`` are never shown; every item appears once;
5. the design renders the items (``$entity1``... ``$entities``, ``$key``, ``$criteria.title``,
   ``$algorithm.name``); the option becomes ``{"type": "json", "content": <object>}`` for a
   JSON design whose output parses, else ``{"type": "html", "content": <text>}``.

With fewer items than the design shows and the criteria's ``partialDesignAllowed`` off (Adobe's
default), or no item at all, or a design that fails to render, the option is removed: Adobe
returns no default content for recommendations. A design that loops over ``$entities`` shows
what there is.

Designs, criteria, collections, exclusions and promotions are read through a per-process cache
of :data:`CACHE_SECONDS`, so an Admin change reaches delivery within that time; the catalog and
the criteria's results are read on each call.
"""

from __future__ import annotations

import logging
import random
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import anyio
import orjson
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from cible.profiles.service import tnt_key
from cible.recs import recommend as recommend_service
from cible.recs.behaviour import visitor_state
from cible.recs.catalog import default_environment, get_entities
from cible.recs.collections import collection_rules
from cible.recs.designs import entity_context, references, shown_items
from cible.recs.entities import Entity
from cible.recs.exclusions import exclusion_rules
from cible.recs.matchers import matches_basic
from cible.recs.merchandising_tables import RecsDesign
from cible.recs.promotions import Promotion, load_promotion, promoted_ids
from cible.recs.tables import RecsCriteria, RecsVisitor
from cible.recs.velocity import Template, TemplateError, compile_template
from cible.store import Database

__all__ = ["CACHE_SECONDS", "RECS_OPTION", "Recommender", "Serving", "fill", "fill_async"]

RECS_OPTION = "recs"
CACHE_SECONDS = 10.0
# Items a promotion by rules or collection offers at most (Adobe: up to 20 slots each).
MAX_PROMOTED = 40
_CACHE_ENTRIES = 4096
log = logging.getLogger(__name__)


class Recommender(Protocol):
    def __call__(
        self,
        conn: Connection,
        tenant_id: int,
        criteria_id: int,
        *,
        key_item_id: str | None,
        visitor_id: str | None,
        limit: int,
        category: str | None = None,
        environment_id: int | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> list[str]: ...


@dataclass(frozen=True)
class _Design:
    template: Template
    json: bool
    slots: int
    loops: bool  # loops over ``$entities``: shows what there is, up to ``slots``


@dataclass(frozen=True)
class _Criteria:
    title: str
    name: str
    days: str
    partial: bool


class _TtlCache:
    """A small per-process cache of Admin objects, each kept ``seconds``."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock
        self.items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = self.clock()
        found = self.items.get(key)
        if found is not None and found[0] > now:
            return found[1]
        value = load()
        if len(self.items) >= _CACHE_ENTRIES:
            self.items.clear()
        self.items[key] = (now + self.seconds, value)
        return value


def _options(request: Mapping[str, Any], response: dict[str, Any]) -> Iterator[Any]:
    """(entry, option, the entry's request parameters) of every recs option."""
    for mode in ("execute", "prefetch"):
        block = response.get(mode)
        if not isinstance(block, dict):
            continue
        asked = request.get(mode) or {}
        by_index = {
            (m.get("index"), m.get("name")): m.get("parameters") or {}
            for m in asked.get("mboxes") or ()
            if isinstance(m, Mapping)
        }
        entries: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
        page_load = block.get("pageLoad")
        if isinstance(page_load, dict):
            entries.append((page_load, (asked.get("pageLoad") or {}).get("parameters") or {}))
        for entry in block.get("mboxes") or ():
            key = (entry.get("index"), entry.get("name"))
            entries.append((entry, by_index.get(key, {})))
        for entry, parameters in entries:
            for option in list(entry.get("options") or ()):
                if option.get("type") == RECS_OPTION:
                    yield entry, option, parameters


def pending(response: Mapping[str, Any]) -> bool:
    """Whether the response holds a recs option (cheap: no recs, no work)."""
    for mode in ("execute", "prefetch"):
        block = response.get(mode)
        if not isinstance(block, dict):
            continue
        entries = [block.get("pageLoad") or {}, *(block.get("mboxes") or ())]
        for entry in entries:
            if any(o.get("type") == RECS_OPTION for o in entry.get("options") or ()):
                return True
    return False


def _ids(text: Any) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {part.strip() for part in text.split(",") if part.strip()}


class Serving:
    """Renders recs options for one database (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        recommend: Recommender | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.recommend: Recommender = recommend or recommend_service.recommend
        self.cache = _TtlCache(CACHE_SECONDS, clock)
        self.rng = rng or random.Random()

    def fill(
        self, tenant_id: int, request: Mapping[str, Any], response: dict[str, Any], now: datetime
    ) -> None:
        jobs = list(_options(request, response))
        if not jobs:
            return
        tnt_id = (response.get("id") or {}).get("tntId")
        # The visitor as the event log records him (cible.recs.behaviour).
        visitor = tnt_key(tnt_id) if isinstance(tnt_id, str) else None
        with self.db.engine.connect() as conn:
            session = Session(bind=conn)
            for entry, option, parameters in jobs:
                try:
                    rendered = self._render(session, tenant_id, option, parameters, visitor, now)
                except TemplateError as error:
                    log.warning("recs offer %s: design failed: %s", option["content"], error)
                    rendered = None
                if rendered is None:
                    entry["options"].remove(option)
                else:
                    option["type"], option["content"] = rendered

    # cached Admin objects

    def _design(self, session: Session, tenant_id: int, design_id: int) -> _Design | None:
        def load() -> _Design | None:
            row = session.get(RecsDesign, design_id)
            if row is None or row.tenant_id != tenant_id:
                return None
            template = compile_template(row.script)
            highest, loops = references(template.nodes)
            return _Design(template, row.type == "JSON", shown_items(highest, loops), loops)

        design: _Design | None = self.cache.get(("design", tenant_id, design_id), load)
        return design

    def _criteria(self, session: Session, tenant_id: int, criteria_id: int) -> _Criteria | None:
        def load() -> _Criteria | None:
            row = session.get(RecsCriteria, criteria_id)
            if row is None or row.tenant_id != tenant_id:
                return None
            body = orjson.loads(row.body)
            return _Criteria(
                title=str(body.get("criteriaTitle") or ""),
                name=row.name,
                days=str(body.get("daysCount") or ""),
                partial=body.get("partialDesignAllowed") is True,
            )

        found: _Criteria | None = self.cache.get(("criteria", tenant_id, criteria_id), load)
        return found

    def _exclusions(self, session: Session, tenant_id: int) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.cache.get(
            ("exclusions", tenant_id), lambda: exclusion_rules(session, tenant_id)
        )
        return rules

    def _collection(self, session: Session, tenant_id: int, collection_id: Any) -> list[Any]:
        if collection_id is None:
            return []
        rules: list[Any] = self.cache.get(
            ("collection", tenant_id, collection_id),
            lambda: collection_rules(session, tenant_id, int(collection_id)) or [],
        )
        return rules

    def _promotion(self, session: Session, tenant_id: int, promotion_id: int) -> Promotion | None:
        found: Promotion | None = self.cache.get(
            ("promotion", tenant_id, promotion_id),
            lambda: load_promotion(session, tenant_id, promotion_id),
        )
        return found

    def _environment(self, session: Session, tenant_id: int) -> int:
        env: int = self.cache.get(
            ("environment", tenant_id), lambda: default_environment(session.connection(), tenant_id)
        )
        return env

    # one option

    def _render(
        self,
        session: Session,
        tenant_id: int,
        option: Mapping[str, Any],
        parameters: Mapping[str, Any],
        visitor: str | None,
        now: datetime,
    ) -> tuple[str, Any] | None:
        config = option.get("content") or {}
        design = self._design(session, tenant_id, int(config["designId"]))
        criteria = self._criteria(session, tenant_id, int(config["criteriaId"]))
        if design is None or criteria is None:
            return None
        env = self._environment(session, tenant_id)
        key_id = parameters.get("entity.id")
        key_id = key_id if isinstance(key_id, str) and key_id else None
        hidden = _ids(parameters.get("excludedIds"))
        if key_id is not None:
            hidden.add(key_id)
        conn = session.connection()
        key_entity = (
            get_entities(conn, tenant_id, [key_id], environment_id=env).get(key_id)
            if key_id
            else None
        )
        promotions = config.get("promotions") or {}
        front = self._promoted(
            session, tenant_id, promotions.get("front"), key_entity, visitor, parameters, now
        )
        back = self._promoted(
            session, tenant_id, promotions.get("back"), key_entity, visitor, parameters, now
        )
        promoted = [i for group in (front, back) for ids, _ in group for i in ids]
        entities = get_entities(conn, tenant_id, promoted, environment_id=env)
        exclusions = self._exclusions(session, tenant_id)
        collection = self._collection(session, tenant_id, config.get("collectionId"))
        seen = set(hidden)

        def usable(item_id: str, in_collection: bool) -> Entity | None:
            entity = entities.get(item_id)
            if entity is None or item_id in seen:
                return None
            if any(matches_basic(entity, rule) for rule in exclusions):
                return None
            if in_collection and not all(matches_basic(entity, rule) for rule in collection):
                return None
            seen.add(item_id)
            return entity

        def take(group: list[tuple[list[str], int]], room: int) -> list[Entity]:
            chosen: list[Entity] = []
            for ids, max_slots in group:
                count = 0
                for item_id in ids:
                    if len(chosen) >= room or count >= max_slots:
                        break
                    entity = usable(item_id, in_collection=False)
                    if entity is not None:
                        chosen.append(entity)
                        count += 1
            return chosen

        first = take(front, design.slots)
        last = take(back, design.slots - len(first))
        needed = design.slots - len(first) - len(last)
        middle: list[Entity] = []
        if needed > 0:
            recommended = self._recommended(
                conn,
                tenant_id,
                int(config["criteriaId"]),
                key_id,
                visitor,
                needed,
                hidden,
                env,
                parameters,
            )
            entities.update(get_entities(conn, tenant_id, recommended, environment_id=env))
            for item_id in recommended:
                if len(middle) >= needed:
                    break
                entity = usable(item_id, in_collection=True)
                if entity is not None:
                    middle.append(entity)
        items = first + middle + last
        if not items or (len(items) < design.slots and not design.loops and not criteria.partial):
            return None
        return self._output(design, items, key_entity, key_id, criteria)

    def _recommended(
        self,
        conn: Connection,
        tenant_id: int,
        criteria_id: int,
        key_id: str | None,
        visitor: str | None,
        needed: int,
        hidden: set[str],
        env: int,
        parameters: Mapping[str, Any],
    ) -> list[str]:
        """The criteria's items, asked with room for what this call filters out.

        A criteria without ``partialDesignAllowed`` returns all or nothing for a ``limit``, so
        when the padded ask gets nothing the largest limit it can fill is searched (bisection,
        down to ``needed``): the filters here then see every item it has."""
        categories = _ids(parameters.get("entity.categoryId"))
        # Adobe: the delivery key is the longest category value (ties: the last one).
        category = max(reversed(sorted(categories)), key=len) if categories else None

        def ask(limit: int) -> list[str]:
            return self.recommend(
                conn,
                tenant_id,
                criteria_id,
                key_item_id=key_id,
                visitor_id=visitor,
                limit=limit,
                category=category,
                environment_id=env,
                parameters=parameters,
            )

        padded = needed + len(hidden) + 10
        found = ask(padded)
        if found:
            return found
        low, high, best = needed, padded - 1, []
        while low <= high:
            middle = (low + high) // 2
            attempt = ask(middle)
            if attempt:
                best, low = attempt, middle + 1
            else:
                high = middle - 1
        return best

    def _promoted(
        self,
        session: Session,
        tenant_id: int,
        slots: Any,
        key_entity: Entity | None,
        visitor: str | None,
        parameters: Mapping[str, Any],
        now: datetime,
    ) -> list[tuple[list[str], int]]:
        """Per promotion of the offer's front or back list: (its ids, best first; maxSlots)."""
        found: list[tuple[list[str], int]] = []
        for slot in slots or ():
            promotion = self._promotion(session, tenant_id, int(slot["id"]))
            if promotion is None or not promotion.active(now):
                continue
            max_slots = int((slot.get("configuration") or {}).get("maxSlots", 1))
            key = key_entity
            if promotion.key != "CURRENT" and promotion.dynamic:
                key = self._history_item(session, tenant_id, promotion.key, visitor)

            def resolve(kind: str, name: str, key: Entity | None = key) -> list[Any] | None:
                if kind == "ENTITY" and key is not None:
                    value = key.get(name)
                elif kind == "MBOX":
                    value = parameters.get(name.removeprefix("mbox."))
                else:
                    return None  # PROFILE: not resolved at delivery (docs/recommendations.md)
                return list(value) if isinstance(value, list | tuple) else [value]

            def scan(promotion: Promotion = promotion, resolve: Any = resolve) -> list[str]:
                return promoted_ids(
                    session,
                    tenant_id,
                    promotion,
                    limit=MAX_PROMOTED,
                    resolve=resolve,
                    environment_id=self._environment(session, tenant_id),
                )

            sources = {
                str(rule["source"].get("type")) for rule in promotion.rules if "source" in rule
            }
            if sources - {"ENTITY"}:
                ids = scan()  # depends on this call's parameters: not cached
            else:
                # A catalog scan: cached like the Admin objects, per key item when it matters.
                key_part = key.id if sources and key is not None else None
                ids = self.cache.get(("promoted", tenant_id, promotion.id, key_part), scan)
            if promotion.random:
                ids = self.rng.sample(ids, len(ids))
            found.append((ids, max_slots))
        return found

    def _history_item(
        self, session: Session, tenant_id: int, key: str, visitor: str | None
    ) -> Entity | None:
        """The visitor's last viewed, last purchased or most viewed item."""
        if visitor is None:
            return None
        row = session.execute(
            select(RecsVisitor).where(
                RecsVisitor.tenant_id == tenant_id, RecsVisitor.visitor == visitor
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        item_id: str | None = None
        if key == "LAST_VIEWED":
            item_id = row.last_viewed
        elif key == "LAST_PURCHASED":
            item_id = row.last_purchased
        elif key == "MOST_VIEWED":
            views = visitor_state(row.state).get("views") or {}
            item_id = max(views, key=lambda i: views[i]) if views else None
        if item_id is None:
            return None
        env = self._environment(session, tenant_id)
        return get_entities(session.connection(), tenant_id, [item_id], environment_id=env).get(
            item_id
        )

    @staticmethod
    def _output(
        design: _Design,
        items: list[Entity],
        key_entity: Entity | None,
        key_id: str | None,
        criteria: _Criteria,
    ) -> tuple[str, Any]:
        shown = [entity_context(e.id, e.name, e.categories, e.attributes) for e in items]
        context: dict[str, Any] = {
            "entities": shown,
            "criteria": {"title": criteria.title},
            "algorithm": {"name": criteria.name, "dayCount": criteria.days},
        }
        for index, entity in enumerate(shown, start=1):
            context[f"entity{index}"] = entity
        if key_entity is not None:
            context["key"] = entity_context(
                key_entity.id, key_entity.name, key_entity.categories, key_entity.attributes
            )
        elif key_id is not None:
            context["key"] = {"id": key_id}
        text = design.template.render(context)
        if design.json:
            try:
                return "json", orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        return "html", text


_SERVINGS: weakref.WeakKeyDictionary[Database, Serving] = weakref.WeakKeyDictionary()


def _serving(db: Database) -> Serving:
    serving = _SERVINGS.get(db)
    if serving is None:
        serving = _SERVINGS[db] = Serving(db)
    return serving


def fill(
    db: Database,
    tenant_id: int,
    request: Mapping[str, Any],
    response: dict[str, Any],
    now: datetime,
) -> None:
    """Render the recs options of ``response`` in place (blocking: reads the database)."""
    if pending(response):
        _serving(db).fill(tenant_id, request, response, now)


async def fill_async(
    db: Database,
    tenant_id: int,
    request: Mapping[str, Any],
    response: dict[str, Any] | None,
    now: datetime,
) -> None:
    """As :func:`fill`, reading the database in a worker thread, and only when there is work."""
    if response is not None and pending(response):
        serving = _serving(db)
        await anyio.to_thread.run_sync(serving.fill, tenant_id, request, response, now)
