"""The ``recs.behaviour`` consumer: ``recs`` records of delivery calls into the catalog, the
visitors' behaviour and the per-day item counts (``cible.recs.behaviour``)."""

from __future__ import annotations

from cible.events import FunctionConsumer, register
from cible.recs.behaviour import TOPIC, apply_behaviour

__all__ = ["BEHAVIOUR"]

BEHAVIOUR = register(FunctionConsumer("recs.behaviour", frozenset({TOPIC}), apply_behaviour))
