"""Numbered migrations (peewee's migration runner over store/migrations/NNNN_name.py)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from peewee import DatabaseError
from playhouse.migrations import Runner

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
