"""The recommendation algorithms, as pure functions over integer-indexed arrays.

Training (``cible.recs.training``) maps entity ids and visitors to dense indices, calls these and
maps the results back; nothing here reads the database, so each algorithm is tested and
benchmarked on arrays alone (``benchmarks/recs.py``).

- :mod:`.popularity`: most viewed and top sellers, overall and per category;
- :mod:`.cooccurrence`: viewed/viewed, viewed/bought and bought/bought item-item similarity;
- :mod:`.similarity`: items with similar attributes (TF-IDF cosine over names, categories and
  text attributes);
- :mod:`.als`: user-based recommendations by implicit-feedback matrix factorisation (ALS).
"""

from cible.recs.algorithms.als import als_factors, recommend_for_users
from cible.recs.algorithms.cooccurrence import item_item
from cible.recs.algorithms.popularity import top_by_group, top_counts
from cible.recs.algorithms.similarity import similar_items, tokens_of

__all__ = [
    "als_factors",
    "item_item",
    "recommend_for_users",
    "similar_items",
    "tokens_of",
    "top_by_group",
    "top_counts",
]
