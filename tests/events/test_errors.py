"""Which failures make the database unavailable (the whole batch fails, 503) and which are one
unit's own (it fails alone)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import exc

from cible.errors import CibleError
from cible.events import DatabaseUnavailable, is_unavailable


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (sqlite_error("database is locked", 5), True),
        (sqlite_error("database or disk is full", 13), True),
        (sqlite_error("disk I/O error", 10 | (12 << 8)), True),
        (sqlite_error('near "SELEC": syntax error', 1), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
        (psycopg.errors.LockNotAvailable(), True),
        (psycopg.errors.QueryCanceled(), True),
        (psycopg.errors.DiskFull(), True),
        (psycopg.errors.AdminShutdown(), True),
        (psycopg.OperationalError("connection refused"), True),
        (psycopg.errors.DeadlockDetected(), False),
        (psycopg.errors.SerializationFailure(), False),
        (psycopg.errors.UniqueViolation(), False),
        (ValueError("a unit's own bug"), False),
        (DatabaseUnavailable("already classified"), True),
    ],
)
def test_classification(error: BaseException, unavailable: bool) -> None:
    assert is_unavailable(error) is unavailable
    wrapped = exc.DBAPIError.instance("SELECT 1", {}, error, Exception)
    if isinstance(error, sqlite3.Error | psycopg.Error):
        assert is_unavailable(wrapped) is unavailable


def test_database_unavailable_is_a_503_cible_error() -> None:
    error = DatabaseUnavailable("the database is locked")
    assert isinstance(error, CibleError)
    assert (error.status, error.code, error.message) == (
        503,
        "Database.Unavailable",
        "the database is locked",
    )
