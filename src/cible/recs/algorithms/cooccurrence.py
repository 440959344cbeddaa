"""Item-item recommendations from co-occurrence: "people who viewed this, viewed that" and kin.

With ``A`` the binary visitor x item matrix of the key action (views or purchases) and ``B`` the
one of the recommended action, ``A.T @ B`` counts, for each pair of items, the visitors who did
the first with one and the second with the other. Dividing by the square root of each item's
visitor counts gives the cosine similarity, which keeps very popular items from being everyone's
neighbour. Each row keeps its ``top`` neighbours. Sparse products (scipy) keep this to seconds for
a million events (BENCHMARKS.md, "Recommendations").

A visitor with more than ``MAX_ITEMS_PER_VISITOR`` items counts with their last ones only: one
crawler viewing every item would otherwise cost items² pairs and link everything to everything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

__all__ = [
    "MAX_ITEMS_PER_VISITOR",
    "binary_matrix",
    "cooccurrence",
    "item_item",
    "rank_pairs",
    "top_per_row",
]

MAX_ITEMS_PER_VISITOR = 500


def binary_matrix(
    visitors: NDArray[np.int64], items: NDArray[np.int64], shape: tuple[int, int]
) -> sparse.csr_matrix:
    """The visitor x item matrix with a 1 where the visitor acted on the item (any number of
    times), keeping each visitor's last ``MAX_ITEMS_PER_VISITOR`` items (inputs in time order)."""
    if len(visitors) == 0:
        return sparse.csr_matrix(shape, dtype=np.float32)
    matrix = sparse.csr_matrix(
        (np.ones(len(visitors), dtype=np.float32), (visitors, items)), shape=shape
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    counts = np.diff(matrix.indptr)
    if counts.max() > MAX_ITEMS_PER_VISITOR:
        # Rebuild from each heavy visitor's last distinct items.
        order = np.arange(len(visitors))
        keep = np.ones(len(visitors), dtype=bool)
        heavy = np.flatnonzero(counts > MAX_ITEMS_PER_VISITOR)
        position = {int(v): i for i, v in enumerate(heavy)}
        seen: list[dict[int, None]] = [{} for _ in heavy]
        for index in order[::-1]:
            slot = position.get(int(visitors[index]))
            if slot is None:
                continue
            kept = seen[slot]
            if len(kept) >= MAX_ITEMS_PER_VISITOR and int(items[index]) not in kept:
                keep[index] = False
            else:
                kept[int(items[index])] = None
        return binary_matrix(visitors[keep], items[keep], shape)
    return matrix


def top_per_row(matrix: sparse.csr_matrix, top: int) -> dict[int, list[int]]:
    """For each non-empty row, the column indices of its ``top`` largest values, best first
    (ties by column index)."""
    out: dict[int, list[int]] = {}
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for row in range(matrix.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        columns, values = indices[start:end], data[start:end]
        if end - start > top:
            chosen = np.argpartition(-values, top - 1)[:top]
            columns, values = columns[chosen], values[chosen]
        order = np.lexsort((columns, -values))
        out[row] = [int(c) for c in columns[order]]
    return out


def cooccurrence(
    key: sparse.csr_matrix, recommended: sparse.csr_matrix
) -> tuple[sparse.csr_matrix, NDArray[np.float32], NDArray[np.float32]]:
    """``key.T @ recommended`` (visitors who did both, per pair of items) and each item's visitor
    count on either side: sums over visitors, so a model is updated by adding what changed for
    some visitors and subtracting what they had before (``cible.recs.training``)."""
    pairs = (key.T @ recommended).tocsr().astype(np.float32)
    key_counts = np.asarray(key.sum(axis=0), dtype=np.float32).ravel()
    rec_counts = np.asarray(recommended.sum(axis=0), dtype=np.float32).ravel()
    return pairs, key_counts, rec_counts


def rank_pairs(
    pairs: sparse.csr_matrix,
    key_counts: NDArray[np.float32],
    rec_counts: NDArray[np.float32],
    top: int,
) -> dict[int, list[int]]:
    """Per key item, its ``top`` recommended items by cosine similarity (itself excluded)."""
    with np.errstate(divide="ignore"):
        left = np.where(key_counts > 0, 1.0 / np.sqrt(key_counts), 0.0)
        right = np.where(rec_counts > 0, 1.0 / np.sqrt(rec_counts), 0.0)
    scored = sparse.diags(left.astype(np.float32)) @ pairs @ sparse.diags(right.astype(np.float32))
    scored = scored.tocsr()
    scored.setdiag(0)
    scored.eliminate_zeros()
    return top_per_row(scored, top)


def item_item(
    key: sparse.csr_matrix, recommended: sparse.csr_matrix, top: int
) -> dict[int, list[int]]:
    """Per key item, its ``top`` most similar recommended items (itself excluded).

    >>> views = binary_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), (2, 3))
    >>> item_item(views, views, 5)
    {0: [1], 1: [0]}
    """
    return rank_pairs(*cooccurrence(key, recommended), top)
