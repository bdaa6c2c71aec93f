"""Numbered migrations (peewee's migration runner over store/migrations/NNNN_name.py)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from peewee import DatabaseError
from playhouse.migrations import Runner

from . import db as store_db
from .db import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NUMBER = re.compile(r"\d+")


def _runner() -> Runner:
    return Runner(db.obj, directory=str(MIGRATIONS_DIR), table_name="schema_migration")


def upgrade() -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    return _runner().up()


def schema_version() -> int:
    """Number of the newest applied migration (0 for an empty database). One query:
    /healthz calls this on every probe."""
    try:
        names = [r[0] for r in db.execute_sql("SELECT name FROM schema_migration").fetchall()]
    except DatabaseError:  # no history table yet (autocommit: nothing left aborted)
        return 0
    return max((int(m.group()) for m in map(_NUMBER.match, names) if m), default=0)


@lru_cache(maxsize=1)
def latest_version() -> int:
    """Number of the newest migration file shipped with this code."""
    return max((m.idx for m in _runner().migrations()), default=0)


def prepare(*, create: bool) -> None:
    """Check the database before serving it, then bring its schema up to date. With
    create=False (any command but init-db, demo and serve --demo) a missing SQLite file or
    a database without the wavepack schema is refused with one line, never made anew: a
    typo in DATABASE_URL must not serve an empty warehouse."""
    store_db.check_sqlite_file(create=create)
    with db.connection_context():
        if not create and schema_version() == 0:
            raise store_db.DatabaseFileError(
                f"the {store_db.kind()} database has no wavepack schema: create it with "
                "`wavepack init-db` (or `wavepack serve --demo`), or check DATABASE_URL")
        upgrade()
    store_db.remember_sqlite_file()
