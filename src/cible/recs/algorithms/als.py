"""User-based recommendations ("Recommended for you") by implicit-feedback ALS.

Alternating least squares for implicit feedback (Hu, Koren and Volinsky, "Collaborative
Filtering for Implicit Feedback Datasets", 2008): each visitor-item count ``r`` becomes a
preference ``p = 1`` with confidence ``c = 1 + alpha * r``; visitor and item factors are solved in
turn, each row a ``factors x factors`` linear system
``(YᵀY + Yᵀ(Cᵤ - I)Y + λI) xᵤ = YᵀCᵤp``. Written with numpy and scipy (both already Cible
dependencies) rather than the ``implicit`` package: the systems are small, and training runs in a
scheduled job where a few seconds more do not matter (BENCHMARKS.md, "Recommendations").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

__all__ = ["als_factors", "recommend_for_users"]

Floats = NDArray[np.float64]


def _solve_side(
    counts: sparse.csr_matrix, fixed: Floats, regularization: float, alpha: float
) -> Floats:
    factors = fixed.shape[1]
    gram = fixed.T @ fixed
    identity = regularization * np.eye(factors)
    out = np.zeros((counts.shape[0], factors))
    indptr, indices, data = counts.indptr, counts.indices, counts.data
    for row in range(counts.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        vectors = fixed[indices[start:end]]
        confidence = alpha * data[start:end]
        system = gram + (vectors.T * confidence) @ vectors + identity
        target = vectors.T @ (1.0 + confidence)
        out[row] = np.linalg.solve(system, target)
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
