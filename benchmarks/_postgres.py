"""A throwaway PostgreSQL 15 database for the benchmarks' ``--postgres`` option.

The cluster is the one the test suite starts (``tests/pg.py``: the machine's PostgreSQL 15
binaries, a temporary data directory, a free port on 127.0.0.1), stopped when the run ends.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_database(name: str = "bench") -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database ``name`` on a cluster of its own."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sqlalchemy import create_engine, text

    from tests.pg import start_cluster

    cluster = start_cluster()
    try:
        engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        yield cluster.url(name)
    finally:
        cluster.stop()
