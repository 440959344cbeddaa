"""The consumers' lag as a Prometheus gauge, read from the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from cible.events._consumers import Consumer, lag
from cible.store import Database

log = logging.getLogger("cible.events")


class LagCollector(Collector):
    """``cible_event_consumer_lag{consumer=...}``: records not yet applied, per consumer.

    >>> registry.register(LagCollector(database.engine))
    """

    def __init__(
        self, engine: Engine | Database, *, consumers: Iterable[Consumer] | None = None
    ) -> None:
        self._engine = engine
        self._consumers = None if consumers is None else list(consumers)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "cible_event_consumer_lag",
            "Event log records not yet applied, by consumer.",
            labels=["consumer"],
        )
        try:
            values = lag(self._engine, consumers=self._consumers)
        except Exception:
            # A scrape must not fail because the database is briefly unavailable.
            log.warning("event consumer lag unavailable", exc_info=True)
            values = {}
        for name, value in sorted(values.items()):
            gauge.add_metric([name], value)
        yield gauge

    def describe(self) -> Iterator[Metric]:
        # Registering must not query the database (prometheus_client calls describe()).
        yield GaugeMetricFamily(
            "cible_event_consumer_lag",
            "Event log records not yet applied, by consumer.",
            labels=["consumer"],
        )
