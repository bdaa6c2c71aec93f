"""`wavepack backup FILE`: an online copy of the SQLite database (the demo and small sites).

SQLite's backup API copies the pages of one consistent snapshot while the server keeps
serving: in WAL mode the copy's read transaction blocks no writer. The copy is written
beside FILE and renamed into place once it passed `PRAGMA quick_check`, so FILE is either a
whole backup or absent. PostgreSQL is backed up with deploy/backup.sh (pg_dump).

The database is opened by URL alone, not through the app: the app applies pending
migrations on start, and a backup taken before an upgrade must keep the old schema.
"""
from __future__ import annotations

import os
import re
import sqlite3

import click

from .cli import main

_NUMBER = re.compile(r"\d+")


@main.command(name="backup")
@click.argument("dest", metavar="FILE", type=click.Path(dir_okay=False))
def backup(dest: str) -> None:
    """Copy the SQLite database to FILE while it is in use (SQLite's online backup)."""
    from .config import load_config
    from .store.db import SQLITE_MAGIC, open_database
    url = load_config().database_url
    if not url.startswith("sqlite:"):
        raise ValueError("`wavepack backup` copies the SQLite database; back PostgreSQL up "
                         "with deploy/backup.sh (pg_dump), see docs/deploy.md")
    source = os.path.abspath(open_database(url, 1).database)
    try:
        with open(source, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise ValueError(f"no database at {source}") from None
    if head != SQLITE_MAGIC:
        raise ValueError(f"{source} is not an SQLite database")
    if os.path.exists(dest):
        raise ValueError(f"{dest} already exists: a backup never overwrites a file")
    partial = dest + ".partial"
    try:
        version = _copy(source, partial)
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    click.echo(f"backup written: {dest} (schema version {version}, "
               f"{os.path.getsize(dest)} bytes)")


def _copy(source: str, target: str) -> int:
    """Copy `source` into the new file `target` in one snapshot, check it, return its schema
    version (ValueError when the copy is damaged or holds no wavepack schema)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)      # every page at once: one read transaction, one snapshot
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ValueError(f"the copy of {source} failed its check: {check}")
        try:
            names = [r[0] for r in dst.execute("SELECT name FROM schema_migration")]
        except sqlite3.OperationalError:
            raise ValueError(f"{source} holds no wavepack schema") from None
        dst.commit()
    finally:
        dst.close()
        src.close()
    with open(target, "rb") as fh:       # on disk before it is called a backup
        os.fsync(fh.fileno())
    return max((int(m.group()) for m in map(_NUMBER.match, names) if m), default=0)
