"""The ``cible_learned_names_dropped`` metric: names from traffic not recorded for being over a cap.

Read at each scrape from whichever ``SeenNames`` buffer the app's delivery runtime uses, so the
metric needs no wiring of its own (docs/security.md, "Caps").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

KINDS = ("mbox", "mbox_parameter", "profile_attribute")


class LearnedNamesCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[CounterMetricFamily]:
        delivery = getattr(self.state, "delivery", None)
        seen = getattr(delivery, "seen", None) or getattr(self.state, "seen_names", None)
        dropped = getattr(seen, "dropped", {})
        family = CounterMetricFamily(
            "cible_learned_names_dropped",
            "Names from delivery traffic served but not recorded: over a per-tenant cap.",
            labels=["kind"],
        )
        for kind in KINDS:
            family.add_metric([kind], float(dropped.get(kind, 0)))
        yield family
