"""Numbered migrations (peewee's migration runner over store/migrations/NNNN_name.py)."""
from __future__ import annotations

from pathlib import Path

from playhouse.migrations import Runner

from .db import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _runner() -> Runner:
    return Runner(db.obj, directory=str(MIGRATIONS_DIR), table_name="schema_migration")


def upgrade() -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    return _runner().up()


def schema_version() -> int:
    """Number of the newest applied migration (0 for an empty database)."""
    applied = [m.idx for m in _runner().status() if m.applied]
    return max(applied, default=0)


def latest_version() -> int:
    return max((m.idx for m in _runner().migrations()), default=0)
