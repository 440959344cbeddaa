"""The algorithms on arrays: planted structure is found, edge cases hold."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from cible.recs.algorithms import (
    als,
    als_factors,
    item_item,
    recommend_for_users,
    similar_items,
    tokens_of,
    top_by_group,
    top_counts,
)
from cible.recs.algorithms.cooccurrence import MAX_ITEMS_PER_VISITOR, binary_matrix


def _planted(seed: int = 7) -> tuple[np.ndarray, np.ndarray, int, int]:
    """40 visitors, 20 items in 4 clusters of 5; each visitor views 4 items of one cluster."""
    rng = np.random.default_rng(seed)
    visitors, items = [], []
    for visitor in range(40):
        cluster = visitor % 4
        for item in rng.choice(5, size=4, replace=False):
            visitors.append(visitor)
            items.append(cluster * 5 + int(item))
    return np.array(visitors), np.array(items), 40, 20


def test_item_item_keeps_neighbours_within_the_planted_cluster() -> None:
    visitors, items, n_visitors, n_items = _planted()
    views = binary_matrix(visitors, items, (n_visitors, n_items))
    neighbours = item_item(views, views, 4)
    assert set(neighbours) == set(range(n_items))
    for item, found in neighbours.items():
        assert item not in found
        assert {other // 5 for other in found} == {item // 5}


def test_item_item_viewed_bought_uses_the_second_action() -> None:
    views = binary_matrix(np.array([0, 1]), np.array([0, 0]), (2, 3))
    buys = binary_matrix(np.array([0, 1]), np.array([2, 1]), (2, 3))
    assert item_item(views, buys, 5) == {0: [1, 2]}


def test_heavy_visitors_count_with_their_last_items_only() -> None:
    n = MAX_ITEMS_PER_VISITOR + 10
    matrix = binary_matrix(np.zeros(n, dtype=np.int64), np.arange(n), (1, n))
    kept = set(matrix.indices.tolist())
    assert len(kept) == MAX_ITEMS_PER_VISITOR and kept == set(range(10, n))


def test_similarity_groups_items_that_share_words() -> None:
    documents = [
        tokens_of("Trail running shoe", ["shoes:trail"], {"brand": "Acme"}),
        tokens_of("Trail running shoe, light", ["shoes:trail"], {"brand": "Acme"}),
        tokens_of("Road running shoe", ["shoes:road"], {"brand": "Acme"}),
        tokens_of("Wool hat", ["hats"], {"brand": "Zed", "pageUrl": "/trail"}),
    ]
    found = similar_items(documents, 5, 0.2)
    assert found[0][0] == 1 and 3 not in found[0]
    assert 3 not in found or found[3] == []
    strict = similar_items(documents, 5, 0.9)
    assert 2 not in strict.get(0, [])


def test_als_recommends_unseen_items_of_the_visitors_cluster() -> None:
    visitors, items, n_visitors, n_items = _planted()
    counts = sparse.csr_matrix(
        (np.ones(len(visitors)), (visitors, items)), shape=(n_visitors, n_items)
    )
    counts.sum_duplicates()
    users, factors = als_factors(counts, factors=8, iterations=10)
    best = recommend_for_users(users, factors, counts, 1)
    seen = {v: set(counts[v].indices.tolist()) for v in range(n_visitors)}
    for visitor, (top,) in best.items():
        assert top not in seen[visitor]
        assert top // 5 == visitor % 4


def test_als_is_deterministic_for_a_seed() -> None:
    visitors, items, n_visitors, n_items = _planted()
    counts = sparse.csr_matrix(
        (np.ones(len(visitors)), (visitors, items)), shape=(n_visitors, n_items)
    )
    first = als_factors(counts, factors=4, iterations=2, seed=3)
    second = als_factors(counts, factors=4, iterations=2, seed=3)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_popularity_orders_by_count_then_id() -> None:
    assert top_counts({"b": 2, "a": 2, "c": 5, "d": 0}, 3) == ["c", "a", "b"]
    assert top_by_group({"a": 1, "b": 2}, {"a": ["x"], "b": ["x", "y"], "c": ["z"]}, 1) == {
        "x": ["b"],
        "y": ["b"],
    }


def test_empty_inputs_give_empty_results() -> None:
    empty = binary_matrix(np.array([], dtype=np.int64), np.array([], dtype=np.int64), (0, 0))
    assert item_item(empty, empty, 5) == {}
    assert similar_items([], 5) == {} and similar_items([[]], 5) == {}


def _solved_row_by_row(counts: sparse.csr_matrix, fixed: np.ndarray) -> np.ndarray:
    """Hu, Koren and Volinsky's update, one visitor at a time (regularization 1, alpha 10)."""
    out = np.zeros((counts.shape[0], fixed.shape[1]))
    for row in range(counts.shape[0]):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        if start == end:
            continue
        vectors = fixed[counts.indices[start:end]]
        confidence = 10.0 * counts.data[start:end]
        system = fixed.T @ fixed + (vectors.T * confidence) @ vectors + np.eye(fixed.shape[1])
        out[row] = np.linalg.solve(system, vectors.T @ (1.0 + confidence))
    return out


def test_als_batches_solve_each_visitors_own_system(monkeypatch: Any) -> None:
    # Rows of 0 to 30 items, batches of at most 7 padded slots: many batches, padding, and rows
    # longer than a batch; the answer must be each row's own exact solution.
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 31, 60)
    visitors = np.repeat(np.arange(60), sizes)
    items = np.concatenate([rng.choice(40, size=int(n), replace=False) for n in sizes])
    counts = sparse.csr_matrix(
        (rng.integers(1, 4, len(items)).astype(float), (visitors, items)), shape=(60, 40)
    )
    monkeypatch.setattr(als, "_BATCH_ITEMS", 7)
    users, factors = als_factors(counts, factors=6, iterations=1, seed=2)
    start = np.random.default_rng(2)
    start.normal(0, 0.01, (60, 6))
    first_items = start.normal(0, 0.01, (40, 6))
    expected_users = _solved_row_by_row(counts, first_items)
    assert np.allclose(users, expected_users, atol=1e-9)
    assert np.allclose(factors, _solved_row_by_row(counts.T.tocsr(), expected_users), atol=1e-9)
    assert not users[sizes == 0].any()
