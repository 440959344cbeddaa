"""Items with similar attributes: TF-IDF vectors of each entity's words, cosine similarity.

An entity's "words" are its name's words, its categories (each whole, and each level of a
``a:b:c`` hierarchy), its brand-like text attributes as ``name=value`` and the values of
multi-value attributes. Numbers (price, inventory, margin) are not words. Pairs under
``min_similarity`` (Adobe: 0.1 to 0.98, default 0.4) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from cible.recs.algorithms.cooccurrence import top_per_row

__all__ = ["similar_items", "tokens_of"]

_WORD = re.compile(r"[^\W_]{2,}")
# Text attributes that describe where an item is, not what it is.
_SKIPPED = frozenset({"pageUrl", "thumbnailUrl", "createdAt", "lastUpdatedAt"})
_BLOCK = 2048


def tokens_of(name: str, categories: Sequence[str], attributes: Mapping[str, Any]) -> list[str]:
    """The words of one entity.

    >>> tokens_of("Trail Shoe", ["shoes:trail"], {"brand": "Acme", "value": 3})
    ['w:trail', 'w:shoe', 'c:shoes:trail', 'c:shoes', 'a:brand=acme']
    """
    words = [f"w:{w}" for w in _WORD.findall(name.casefold())]
    for category in categories:
        parts = category.casefold().split(":")
        words += [f"c:{':'.join(parts[: n + 1])}" for n in reversed(range(len(parts)))]
    for key, value in attributes.items():
        if key in _SKIPPED:
            continue
        if key == "message" and isinstance(value, str):
            words += [f"w:{w}" for w in _WORD.findall(value.casefold())]
        elif isinstance(value, str):
            words.append(f"a:{key}={value.casefold()[:100]}")
        elif isinstance(value, list):
            words += [f"a:{key}={str(v).casefold()[:100]}" for v in value if isinstance(v, str)]
    return list(dict.fromkeys(words))


def similar_items(
    documents: Sequence[Sequence[str]], top: int, min_similarity: float = 0.4
) -> dict[int, list[int]]:
    """Per document index, the ``top`` most similar others at or above ``min_similarity``.

    >>> similar_items([["a", "b"], ["a", "b"], ["c"]], 5, 0.4)
    {0: [1], 1: [0]}
    """
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for row, words in enumerate(documents):
        for word in words:
            rows.append(row)
            columns.append(vocabulary.setdefault(word, len(vocabulary)))
    if not rows:
        return {}
    n = len(documents)
    presence = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(n, len(vocabulary))
    )
    presence.sum_duplicates()
    presence.data[:] = 1.0
    document_frequency = np.asarray(presence.sum(axis=0)).ravel()
    idf = np.log((1 + n) / (1 + document_frequency)) + 1.0
    weighted = (presence @ sparse.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    unit = (sparse.diags((1.0 / norms).astype(np.float32)) @ weighted).tocsr()
    out: dict[int, list[int]] = {}
    transposed = unit.T.tocsc()
    for start in range(0, n, _BLOCK):
        block = (unit[start : start + _BLOCK] @ transposed).tocsr()
        block.data[block.data < min_similarity - 1e-6] = 0.0
        block.eliminate_zeros()
        # One more than asked: an item is its own best match, and is dropped here.
        for row, neighbours in top_per_row(block, top + 1).items():
            kept = [c for c in neighbours if c != start + row][:top]
            if kept:
                out[start + row] = kept
    return out
