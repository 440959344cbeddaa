"""Recommendations: offline quality of each algorithm on planted data, and training time.

Two measurements, printed as JSON:

1. ``quality``: a data set generated from ``--seed`` with planted structure: ``--items`` items in
   clusters of 50 (each with a cluster-specific name word and category, and a popularity that
   falls with its rank in the cluster), ``--visitors`` visitors who each browse a chain of items,
   every next item from the same cluster as the last with probability 0.8, else a site-wide
   popular item. Each visitor's last view is held out; the algorithms are trained on the rest
   with Cible's own code (``cible.recs.algorithms``) and asked for 10 items: most viewed
   (popularity), viewed/viewed item-item keyed on the visitor's previous view, similar
   attributes keyed on it, and user-based ALS. Hit rate@10 (the held-out item is among the 10)
   and NDCG@10 per algorithm.
2. ``training``: ``--events`` view events of the same generator stored in ``recs_behaviour`` of a
   fresh SQLite database, then ``cible.recs.training.train_criteria`` for a viewed/viewed
   criteria (read the window, build the matrices, compute, store every key's results): wall and
   CPU seconds, and the algorithm's own share; then 1% more events an hour later and the
   incremental run's time; with ``--als-events N``, a userhistory (ALS) criteria trained on the
   first N events.

    .venv/bin/python benchmarks/recs.py --events 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from scipy import sparse
from sqlalchemy import delete, insert

from cible.recs.algorithms import (
    als_factors,
    item_item,
    recommend_for_users,
    similar_items,
    tokens_of,
    top_counts,
)
from cible.recs.algorithms.cooccurrence import binary_matrix
from cible.recs.tables import RecsBehaviour, RecsCriteria
from cible.recs.training import train_criteria
from cible.store import Database
from cible.store.migrate import upgrade
from cible.tenants import service as tenants

CLUSTER = 50
K = 10


def generate(seed: int, n_items: int, n_visitors: int, mean_views: float) -> list[list[int]]:
    """Each visitor's views, in order (see the module docstring)."""
    rng = np.random.default_rng(seed)
    clusters = n_items // CLUSTER
    # Zipf-like popularity within a cluster, and site-wide.
    in_cluster = 1.0 / np.arange(1, CLUSTER + 1)
    in_cluster /= in_cluster.sum()
    site = 1.0 / np.arange(1, n_items + 1) ** 0.8
    site /= site.sum()
    site_order = rng.permutation(n_items)
    histories: list[list[int]] = []
    lengths = rng.poisson(mean_views - 2, n_visitors) + 2
    for length in lengths:
        cluster = int(rng.integers(clusters))
        views = [cluster * CLUSTER + int(rng.choice(CLUSTER, p=in_cluster))]
        for _ in range(int(length) - 1):
            if rng.random() < 0.8:
                cluster = views[-1] // CLUSTER
                views.append(cluster * CLUSTER + int(rng.choice(CLUSTER, p=in_cluster)))
            else:
                views.append(int(site_order[rng.choice(n_items, p=site)]))
        histories.append(views)
    return histories


def catalog(seed: int, n_items: int) -> list[list[str]]:
    """Each item's words: its cluster's word and category, and noise words shared at random."""
    rng = np.random.default_rng(seed + 1)
    documents = []
    for item in range(n_items):
        cluster = item // CLUSTER
        noise = [f"n{int(w)}" for w in rng.integers(0, 200, 2)]
        name = f"c{cluster} " + " ".join(noise)
        documents.append(tokens_of(name, [f"cat{cluster}"], {"brand": f"b{int(rng.integers(30))}"}))
    return documents


def _metrics(ranked: list[list[int]], targets: list[int]) -> dict[str, float]:
    hits, gain = 0, 0.0
    for items, target in zip(ranked, targets, strict=True):
        if target in items[:K]:
            hits += 1
            gain += 1.0 / math.log2(items.index(target) + 2)
    n = len(targets)
    return {"hitRate@10": round(hits / n, 4), "ndcg@10": round(gain / n, 4)}


def quality(args: argparse.Namespace) -> dict[str, Any]:
    histories = generate(args.seed, args.items, args.visitors, args.mean_views)
    train = [h[:-1] for h in histories]
    targets = [h[-1] for h in histories]
    keys = [h[-1] for h in train]
    visitors = np.array([v for v, h in enumerate(train) for _ in h], dtype=np.int64)
    items = np.array([i for h in train for i in h], dtype=np.int64)
    shape = (len(train), args.items)
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}

    cpu: dict[str, float] = {}

    def timed(name: str, work: Callable[[], list[list[int]]]) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        ranked = work()
        timings[name] = round(time.perf_counter() - started, 3)
        cpu[name] = round(time.process_time() - cpu_started, 3)
        results[name] = _metrics(ranked, targets)

    def popularity() -> list[list[int]]:
        counts = np.bincount(items, minlength=args.items)
        top = [int(i) for i in top_counts({str(i): int(c) for i, c in enumerate(counts)}, K + 1)]
        return [[i for i in top if i != key][:K] for key in keys]

    def viewed_viewed() -> list[list[int]]:
        views = binary_matrix(visitors, items, shape)
        neighbours = item_item(views, views, K)
        return [neighbours.get(key, []) for key in keys]

    def similar() -> list[list[int]]:
        neighbours = similar_items(catalog(args.seed, args.items), K, 0.1)
        return [neighbours.get(key, []) for key in keys]

    def user_based() -> list[list[int]]:
        counts = sparse.csr_matrix((np.ones(len(items)), (visitors, items)), shape=shape)
        counts.sum_duplicates()
        users, factors = als_factors(counts, factors=32, iterations=args.als_iterations)
        best = recommend_for_users(users, factors, counts, K, exclude_seen=False)
        return [best.get(v, []) for v in range(len(train))]

    timed("popularity", popularity)
    timed("viewedViewed", viewed_viewed)
    timed("similarAttributes", similar)
    timed("userBasedALS", user_based)
    return {
        "seed": args.seed,
        "items": args.items,
        "visitors": args.visitors,
        "events": int(len(items) + len(targets)),
        "metrics": results,
        "seconds": timings,
        "cpuSeconds": cpu,
    }


def training(args: argparse.Namespace) -> dict[str, Any]:
    visitors_needed = max(1, int(args.events / args.mean_views))
    histories = generate(args.seed, args.items, visitors_needed, args.mean_views)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'recs.db'}"
        upgrade(url)
        db = Database(url)
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        with db.session() as s:
            tenant = tenants.create_tenant(s, "bench").id
        rows = [
            {
                "tenant_id": tenant,
                "visitor": f"v{v}",
                "session_id": None,
                "entity_id": f"i{item}",
                "kind": "view",
                "occurred_ms": now_ms - 86_400_000 + n,
            }
            for v, history in enumerate(histories)
            for n, item in enumerate(history)
        ][: args.events]
        with db.engine.begin() as conn:
            for start in range(0, len(rows), 50_000):
                conn.execute(insert(RecsBehaviour), rows[start : start + 50_000])
            criteria = conn.execute(
                insert(RecsCriteria).values(
                    tenant_id=tenant,
                    criteria_group="item",
                    name="viewed/viewed",
                    body=orjson.dumps(
                        {
                            "name": "viewed/viewed",
                            "type": "VIEWED_CF",
                            "key": "CURRENT",
                            "daysCount": "ONE_WEEK",
                        }
                    ).decode(),
                    modified_at=now,
                )
            ).inserted_primary_key[0]
        started, cpu = time.perf_counter(), time.process_time()
        with db.engine.begin() as conn:
            keys = train_criteria(conn, tenant, int(criteria), now)
        wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        # An hour later: 1% more events (returning and new visitors), trained incrementally
        # from the counts the first run kept.
        later = now + timedelta(hours=1)
        extra = generate(args.seed + 2, args.items, max(1, len(rows) // 100 // 8), args.mean_views)
        new_rows = [
            {
                "tenant_id": tenant,
                "visitor": f"v{(v * 7919) % len(histories) if v % 2 else len(histories) + v}",
                "session_id": None,
                "entity_id": f"i{item}",
                "kind": "view",
                "occurred_ms": now_ms + 1000 + n,
            }
            for v, history in enumerate(extra)
            for n, item in enumerate(history)
        ]
        with db.engine.begin() as conn:
            conn.execute(insert(RecsBehaviour), new_rows)
        started, cpu = time.perf_counter(), time.process_time()
        with db.engine.begin() as conn:
            train_criteria(conn, tenant, int(criteria), later)
        inc_wall, inc_cpu = time.perf_counter() - started, time.process_time() - cpu
        user_based: dict[str, Any] = {}
        if args.als_events:
            with db.engine.begin() as conn:
                conn.execute(delete(RecsBehaviour).where(RecsBehaviour.id > args.als_events))
                users = conn.execute(
                    insert(RecsCriteria).values(
                        tenant_id=tenant,
                        criteria_group="userhistory",
                        name="for you",
                        body=orjson.dumps({"name": "for you", "daysCount": "ONE_WEEK"}).decode(),
                        modified_at=now,
                    )
                ).inserted_primary_key[0]
            started, cpu = time.perf_counter(), time.process_time()
            with db.engine.begin() as conn:
                user_keys = train_criteria(conn, tenant, int(users), later)
            user_based = {
                "events": args.als_events,
                "keysStored": user_keys,
                "seconds": round(time.perf_counter() - started, 2),
                "cpuSeconds": round(time.process_time() - cpu, 2),
            }
        visitors = np.array([v for v, h in enumerate(histories) for _ in h][: args.events])
        items = np.array([i for h in histories for i in h][: args.events])
        algo_started = time.perf_counter()
        views = binary_matrix(visitors, items, (len(histories), args.items))
        item_item(views, views, 100)
        algorithm = time.perf_counter() - algo_started
        db.dispose()
    return {
        "events": len(rows),
        "visitors": len(histories),
        "items": args.items,
        "keysStored": keys,
        "trainViewedViewedSeconds": round(wall, 2),
        "trainViewedViewedCpuSeconds": round(cpu_s, 2),
        "algorithmOnlySeconds": round(algorithm, 2),
        "targetSeconds": 60,
        "incrementalEvents": len(new_rows),
        "incrementalSeconds": round(inc_wall, 2),
        "incrementalCpuSeconds": round(inc_cpu, 2),
        "userBasedALS": user_based,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--mean-views", type=float, default=8.0)
    parser.add_argument("--als-iterations", type=int, default=8)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument(
        "--als-events", type=int, default=0, help="then train a userhistory criteria on this many"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "quality": quality(args),
    }
    if not args.skip_training:
        report["training"] = training(args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
