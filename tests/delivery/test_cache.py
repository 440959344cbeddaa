"""The session decision cache: bounded in bytes as well as in entries."""

from __future__ import annotations

from cible.delivery.cache import DecisionCache
from tests.delivery import _scenario as sc


def test_the_decision_cache_stays_within_its_bytes() -> None:
    cache = DecisionCache(max_entries=100_000, max_bytes=50_000)
    artifact = sc.artifact()
    decision = {"execute": {"mboxes": [{"name": "hero", "options": [{"content": "x" * 500}]}]}}
    for n in range(1_000):
        cache.put((1, f"session-{n}", "t", b"shape" * 20), artifact, b"f", decision)
        assert cache.bytes <= 50_000
    assert 0 < len(cache._entries) < 1_000
    newest = (1, "session-999", "t", b"shape" * 20)
    assert cache.get(newest, artifact, b"f") == decision
    assert cache.get((1, "session-0", "t", b"shape" * 20), artifact, b"f") is None
