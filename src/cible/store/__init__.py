"""Database access shared by every domain: engine setup, the declarative base, migrations."""

from cible.store.base import Base, utcnow
from cible.store.db import Database, session_scope
from cible.store.migrate import upgrade

__all__ = ["Base", "Database", "session_scope", "upgrade", "utcnow"]
