"""User-based recommendations ("Recommended for you") by implicit-feedback ALS.

Alternating least squares for implicit feedback (Hu, Koren and Volinsky, "Collaborative
Filtering for Implicit Feedback Datasets", 2008): each visitor-item count ``r`` becomes a
preference ``p = 1`` with confidence ``c = 1 + alpha * r``; visitor and item factors are solved in
turn, each row a ``factors x factors`` linear system
``(YᵀY + Yᵀ(Cᵤ - I)Y + λI) xᵤ = YᵀCᵤp``. Written with numpy and scipy (both already Cible
dependencies) rather than the ``implicit`` package (not a dependency): each side's systems are
built and solved in batches (no Python loop over visitors), so a million events train in seconds
(BENCHMARKS.md, "Recommendations").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

__all__ = ["als_factors", "recommend_for_users"]

Floats = NDArray[np.float64]
# Padded item slots per batch (32 factors: 256 bytes each, 16 MB a batch).
_BATCH_ITEMS = 65536


def _solve_side(
    counts: sparse.csr_matrix, fixed: Floats, regularization: float, alpha: float
) -> Floats:
    """Every row's system built and solved in batches: no Python loop over visitors.

    Rows are taken by number of items, so a batch's rows have about as many items each; their
    item vectors are gathered into one ``(rows, most items, factors)`` array (shorter rows padded
    with a zero vector of confidence 0), and each row's ``Yᵀ(Cᵤ - I)Y`` is one batched matrix
    product. The systems are then solved together (``np.linalg.solve`` on a stack).
    """
    n_rows, factors = counts.shape[0], fixed.shape[1]
    base = fixed.T @ fixed + regularization * np.eye(factors)
    out = np.zeros((n_rows, factors))
    indptr, indices = counts.indptr, counts.indices
    confidence = alpha * counts.data
    # Right-hand sides: Yᵀ Cᵤ p = Σ (1 + alpha·r) y over the row's items.
    weighted = counts.copy()
    weighted.data = 1.0 + confidence
    targets = np.asarray(weighted @ fixed)
    padded = np.vstack([fixed, np.zeros((1, factors))])
    sizes = np.diff(indptr)
    order = np.flatnonzero(sizes)
    order = order[np.argsort(sizes[order], kind="stable")]
    ordered_sizes = sizes[order]
    start = 0
    while start < len(order):
        # As many rows as fit in _BATCH_ITEMS padded entries (at least one).
        cost = np.arange(1, len(order) - start + 1) * ordered_sizes[start:]
        rows = order[start : start + max(1, int(np.searchsorted(cost, _BATCH_ITEMS, "right")))]
        start += len(rows)
        width = int(sizes[rows[-1]])
        positions = indptr[rows][:, None] + np.arange(width)[None, :]
        present = np.arange(width)[None, :] < sizes[rows][:, None]
        positions = np.where(present, positions, 0)
        columns = np.where(present, indices[positions], len(fixed))
        vectors = padded[columns]
        weights = np.where(present, confidence[positions], 0.0)
        systems = (vectors.transpose(0, 2, 1) * weights[:, None, :]) @ vectors + base
        out[rows] = np.linalg.solve(systems, targets[rows][:, :, None])[:, :, 0]
    return out


def als_factors(
    counts: sparse.csr_matrix,
    *,
    factors: int = 32,
    regularization: float = 1.0,
    alpha: float = 10.0,
    iterations: int = 8,
    seed: int = 0,
) -> tuple[Floats, Floats]:
    """Visitor and item factors of a visitor x item count matrix (fixed ``seed``: the same data
    always gives the same model)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = counts.shape
    users = rng.normal(0, 0.01, (n_users, factors))
    items = rng.normal(0, 0.01, (n_items, factors))
    by_item = counts.T.tocsr()
    for _ in range(iterations):
        users = _solve_side(counts, items, regularization, alpha)
        items = _solve_side(by_item, users, regularization, alpha)
    return users, items


def recommend_for_users(
    users: Floats,
    items: Floats,
    seen: sparse.csr_matrix,
    top: int,
    *,
    exclude_seen: bool = True,
    block: int = 1024,
) -> dict[int, list[int]]:
    """Per visitor with any history, the ``top`` items by predicted preference."""
    out: dict[int, list[int]] = {}
    active = np.flatnonzero(np.diff(seen.indptr))
    for start in range(0, len(active), block):
        rows = active[start : start + block]
        scores = users[rows] @ items.T
        if exclude_seen:
            part = seen[rows]
            scores[part.nonzero()] = -np.inf
        k = min(top, scores.shape[1])
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for offset, row in enumerate(rows):
            chosen = best[offset]
            chosen = chosen[np.argsort(-scores[offset, chosen], kind="stable")]
            out[int(row)] = [int(i) for i in chosen if np.isfinite(scores[offset, i])]
    return out
