"""Run Alembic migrations from code, so ``cible migrate`` and tests need no ``alembic.ini``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at Cible's migrations and the database ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (every branch's newest by default).

    Domains add their migrations on branches of their own from ``0001``, so ``heads`` applies
    them all without a merge revision per pair of domains.
    """
    command.upgrade(alembic_config(url), revision)
