"""Designs: Velocity templates that turn recommended items into HTML, JSON or text (Adobe
Recommendations API, "Designs"; Adobe Target, "Create a design").

A design's script is parsed when it is saved (a script that does not parse is a 400) and
rendered at delivery by :mod:`cible.recs.velocity`. How many items a design shows is read
from the script: the highest ``N`` of ``$entityN`` (or of ``$entities[N-1]``); a design that
loops over ``$entities`` shows up to :data:`LOOP_SLOTS` items (or up to that highest ``N`` if
larger), and shows fewer when there are fewer. Adobe caps a design at 99.

Everything an item holds reaches the template as a string, as at Adobe: ``value`` without
trailing zeros (35.00 prints 35), multi-value attributes joined by ``", "``, the categories as
the list ``categoriesList``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy.orm import Session

from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.recs import _named
from cible.recs._velocity_syntax import Ref
from cible.recs.merchandising_schemas import DesignIn
from cible.recs.merchandising_tables import RecsDesign
from cible.recs.offer_links import refuse_if_linked
from cible.recs.velocity import TemplateSyntaxError, compile_template

__all__ = [
    "DESIGNS",
    "LOOP_SLOTS",
    "MAX_ENTITIES",
    "entity_context",
    "references",
    "shown_items",
    "slots",
    "validate",
]

MAX_ENTITIES = 99  # Adobe, "Create a design": at most 99 entities per design
LOOP_SLOTS = 10


def _apply(_session: Session, row: RecsDesign, body: DesignIn) -> None:
    count, loops = references(compile_template(body.script).nodes)
    if count == 0 and not loops:
        raise _no_entity()
    if count > MAX_ENTITIES:
        raise _too_many(count)
    row.script = body.script
    row.type = body.type


def _no_entity() -> BadRequest:
    return BadRequest.fields([("script", str(ENTITIES_REQUIRED["text"]))])


def _too_many(count: int) -> BadRequest:
    return BadRequest.fields([("script", f"references {count} entities; at most {MAX_ENTITIES}")])


def _show(row: RecsDesign, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": row.id, "name": row.name, "type": row.type}
    if full:
        shown["script"] = row.script
    shown["lastModified"] = iso_millis(row.modified_at)
    shown["lastModifiersName"] = row.modified_by
    return shown


def _guard(session: Session, tenant_id: int, design_id: int) -> None:
    refuse_if_linked(session, tenant_id, "design", design_id)


DESIGNS = _named.Kind("design", RecsDesign, _apply, _show, [_guard])

ENTITIES_REQUIRED: dict[str, Any] = {
    "key": "error.template.validate.entitiesRequired",
    "keyArguments": [],
    "text": "There should be at least one entity reference within the template script",
}


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple):
        for item in value:
            yield from _walk(item)
    elif dataclasses.is_dataclass(value):
        yield value
        for field in dataclasses.fields(value):
            yield from _walk(getattr(value, field.name))


def references(nodes: tuple[Any, ...]) -> tuple[int, bool]:
    """(highest entity slot named, whether ``$entities`` is used otherwise)."""
    highest, loops = 0, False
    for node in _walk(nodes):
        if not isinstance(node, Ref):
            continue
        name = node.name
        if name.startswith("entity") and name[6:].isdigit():
            highest = max(highest, int(name[6:]))
        elif name == "entities":
            step = node.steps[0] if node.steps else None
            index = getattr(step, "expr", None)
            literal = getattr(index, "value", None)
            if isinstance(literal, int) and not isinstance(literal, bool):
                highest = max(highest, literal + 1)
            else:
                loops = True
    return highest, loops


def slots(script: str) -> int:
    """How many items the design shows (see the module docstring)."""
    highest, loops = references(compile_template(script).nodes)
    return shown_items(highest, loops)


def shown_items(highest: int, loops: bool) -> int:
    """Items a design shows: a loop over ``$entities`` shows up to :data:`LOOP_SLOTS` (or as
    many as the highest ``$entityN`` beside it), else the highest ``N``."""
    return min(max(highest, LOOP_SLOTS) if loops else highest, MAX_ENTITIES)


def validate(script: str) -> dict[str, Any]:
    """``POST /designs/validate``: ``{valid, entityCount, errors}`` (always answered 200)."""
    try:
        nodes = compile_template(script).nodes
    except TemplateSyntaxError as error:
        problem = {
            "key": "error.template.validate.syntax",
            "keyArguments": [str(error.line), str(error.column)],
            "text": str(error),
        }
        return {"valid": False, "entityCount": 0, "errors": [problem]}
    highest, loops = references(nodes)
    errors: list[dict[str, Any]] = []
    if highest == 0 and not loops:
        errors.append(dict(ENTITIES_REQUIRED))
    if highest > MAX_ENTITIES:
        errors.append(
            {
                "key": "error.template.validate.tooManyEntities",
                "keyArguments": [str(highest), str(MAX_ENTITIES)],
                "text": f"The template references {highest} entities; at most {MAX_ENTITIES}",
            }
        )
    count = shown_items(highest, loops)
    return {"valid": not errors, "entityCount": count, "errors": errors}


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Adobe: ``value`` prints without trailing zeros (35.00 -> 35).
        text = repr(value)
        if "e" in text:
            text = f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def entity_context(
    entity_id: str, name: str, categories: Any, attributes: Mapping[str, Any]
) -> dict[str, Any]:
    """An item as a design sees it (see the module docstring)."""
    shown: dict[str, Any] = {"id": entity_id, "name": name}
    for attribute, value in attributes.items():
        if value is not None and attribute not in ("id", "name"):
            shown[attribute] = _plain(value)
    shown["categoriesList"] = [str(c) for c in categories]
    return shown
