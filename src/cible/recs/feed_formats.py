"""Catalog feed files read into entity writes: Adobe's CSV and Google's product feed.

Each parser yields ``(row number, EntityIn | Rejected)`` so that a bad row is reported with its
number and the others are still imported (Adobe: "Partial Import Failed" drops rows, not feeds).

- **CSV** (Adobe's ``EntityFileUploadTemplate.csv``): lines starting with ``## RECS`` are
  pre-process header lines, the last of which holds the column names (``entity.id``,
  ``entity.name``, ``entity.categoryId``, ...); a file without them starts with a header row of
  the same names. Blank cells do not overwrite; ``entity.categoryId`` is comma-separated;
  multi-value cells are JSON arrays (``"[""a"",""b""]"``).
- **Google product feed**: RSS 2.0 or Atom XML with ``g:`` elements, or a tab-separated file
  with a header row. Attributes are mapped to entity attributes by the feed's ``mapping``
  (Google name to entity name) over the default below; unmapped attributes with a valid name
  become custom attributes. XML with a DOCTYPE is refused (entity expansion attacks).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from xml.etree import ElementTree

from cible.recs.entities import EntityIn, Rejected, entity_from_parameters

__all__ = ["GOOGLE_MAPPING", "FeedError", "parse_csv", "parse_google"]

RECS_HEADER = "## RECS"
GOOGLE_NS = "{http://base.google.com/ns/1.0}"
# Google attribute -> entity attribute (``categoryId`` is the category list).
GOOGLE_MAPPING = {
    "id": "id",
    "title": "name",
    "description": "message",
    "link": "pageUrl",
    "image_link": "thumbnailUrl",
    "price": "value",
    "product_type": "categoryId",
}
_PRICE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)")

Row = tuple[int, EntityIn | Rejected]


class FeedError(Exception):
    """The file as a whole cannot be read (not a row problem)."""


def _entity(parameters: dict[str, str]) -> EntityIn | Rejected:
    kept = {k: v for k, v in parameters.items() if v is not None and v.strip() != ""}
    try:
        return entity_from_parameters(kept)
    except Rejected as rejected:
        return rejected


def parse_csv(text: str) -> Iterator[Row]:
    lines = text.splitlines()
    header_at = -1
    for index, line in enumerate(lines):
        if line.startswith(RECS_HEADER):
            header_at = index
        elif line.strip():
            break
    if header_at >= 0:
        columns = next(csv.reader([lines[header_at][len(RECS_HEADER) :]]))
        body = lines[header_at + 1 :]
        first_row = header_at + 2
    else:
        reader = csv.reader(lines[:1])
        columns = next(reader, [])
        body = lines[1:]
        first_row = 2
    names = [c.strip() for c in columns]
    if "entity.id" not in names:
        raise FeedError("the header has no entity.id column")
    attributes = [n.removeprefix("entity.") if n.startswith("entity.") else None for n in names]
    for offset, cells in enumerate(csv.reader(body)):
        number = first_row + offset
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            yield (
                number,
                Rejected(
                    "error.feed.row.columns", f"row has {len(cells)} cells for {len(names)} columns"
                ),
            )
            continue
        parameters = {
            name: cell.strip() for name, cell in zip(attributes, cells, strict=False) if name
        }
        yield number, _entity(parameters)


def _google_value(name: str, value: str) -> str:
    if name == "price":
        match = _PRICE.match(value)
        return match.group(1) if match else value
    if name == "product_type":
        # Google's "Home > Kitchen > Toasters" is a hierarchy; entities write it "Home:Kitchen:...".
        return ":".join(part.strip() for part in value.split(">"))
    return value


def _google_entity(fields: Mapping[str, str], mapping: Mapping[str, str]) -> EntityIn | Rejected:
    parameters: dict[str, str] = {}
    for name, value in fields.items():
        target = mapping.get(name, GOOGLE_MAPPING.get(name, name))
        if not target:
            continue  # mapped to nothing: left out
        parameters[target] = _google_value(name, value.strip())
    return _entity(parameters)


def _xml_items(text: str) -> list[dict[str, str]]:
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise FeedError("XML feeds with a DOCTYPE or entities are refused")
    try:
        # No DOCTYPE (checked above, on the decoded text) means no entity can be declared, so
        # no expansion attack; ElementTree never fetches external resources.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise FeedError(f"the XML does not parse ({exc})") from None
    elements = root.iter("item")
    atom = "{http://www.w3.org/2005/Atom}"
    found = list(elements) or list(root.iter(f"{atom}entry"))
    items = []
    for element in found:
        fields: dict[str, str] = {}
        for child in element:
            tag = child.tag
            if tag.startswith(GOOGLE_NS):
                fields[tag[len(GOOGLE_NS) :]] = (child.text or "").strip()
            elif tag in ("title", "link", "description") or tag.startswith(atom):
                name = tag.removeprefix(atom)
                value = child.get("href") if name == "link" and child.get("href") else child.text
                fields.setdefault(name, (value or "").strip())
        items.append(fields)
    return items


def parse_google(text: str, mapping: Mapping[str, str]) -> Iterator[Row]:
    stripped = text.lstrip()
    if stripped.startswith("<"):
        for number, fields in enumerate(_xml_items(stripped), start=1):
            yield number, _google_entity(fields, mapping)
        return
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    header = [h.strip() for h in next(reader, [])]
    if "id" not in header:
        raise FeedError("the tab-separated header has no id column")
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        fields = {name: cell for name, cell in zip(header, cells, strict=False) if cell.strip()}
        yield number, _google_entity(fields, mapping)
