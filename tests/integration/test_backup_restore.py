"""Backups come back: deploy/backup.sh + deploy/restore.sh on PostgreSQL (pg_dump -Fc into a
fresh database, then `wavepack init-db`), and `wavepack backup` (SQLite's online backup)."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from ..conftest import PG_BASE, console_script, make_app, need

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deploy" / "backup.sh"
RESTORE = ROOT / "deploy" / "restore.sh"
WAVEPACK = console_script("wavepack")


def _run(args, env, ok=True):
    proc = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True,
                          timeout=120)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    else:
        assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
    return proc


def _env(db_url: str, data_dir: Path) -> dict:
    return {**os.environ, "DATABASE_URL": db_url, "WAVEPACK_SERVER_DATA_DIR": str(data_dir),
            "WAVEPACK": WAVEPACK}


def _site(db_url: str) -> None:
    """Some data worth restoring: a warehouse, a channel, a user, an API token."""
    from click.testing import CliRunner

    from server.cli import main
    app = make_app(db_url)     # a fresh, emptied wavepack database at this URL
    with app.app_context():    # the commands in this process, on this app (faster)
        for args in (["warehouse", "add", "rtm", "--name", "Rotterdam", "--zone", "eu"],
                     ["channel", "add", "phone-orders", "--kind", "native"],
                     ["user", "add", "B7", "--role", "supervisor", "--pin", "4321"]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, (args, result.output)


def _counts(rows_of) -> dict:
    return {t: rows_of(f"SELECT count(*) FROM {t}")[0][0]
            for t in ("warehouse", "channel", "app_user", "schema_migration")}


@pytest.fixture
def fresh_database():
    """A new, empty PostgreSQL database beside the test one, dropped afterwards."""
    import psycopg
    name = f"wp_restore_{uuid.uuid4().hex[:10]}"
    admin = PG_BASE.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_BASE.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_backup_restores_into_a_fresh_database(pg_schema, fresh_database, tmp_path):
    need(shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None
         and shutil.which("psql") is not None,
         "pg_dump, pg_restore and psql (Debian postgresql-client)")
    import psycopg
    source_url = f"{PG_BASE}?schema={pg_schema}"
    env = _env(source_url, tmp_path)
    _site(source_url)

    def rows(url, sql):
        with psycopg.connect(url) as conn:
            conn.execute(f'SET search_path TO "{pg_schema}"')
            return conn.execute(sql).fetchall()
    before = _counts(lambda sql: rows(PG_BASE, sql))
    assert before["warehouse"] == 2 and before["app_user"] == 1

    backups = tmp_path / "backups"
    old = backups / "wavepack-20000101T000000Z.dump"          # past the retention
    backups.mkdir()
    old.write_bytes(b"old")
    os.utime(old, (946684800, 946684800))
    dump = Path(_run([BACKUP, "-d", backups, "-k", "7"], env).stdout.strip())
    assert dump.parent == backups and dump.name.startswith("wavepack-") and dump.is_file()
    assert not old.exists(), "a backup past the retention is removed"
    assert not list(backups.glob("*.partial"))

    # a URL naming another schema than the dump's is refused before anything is restored
    wrong = _run([RESTORE, dump], _env(fresh_database, tmp_path), ok=False)
    assert f"holds no wavepack schema named public (it holds: {pg_schema})" in wrong.stderr
    assert rows(fresh_database, "SELECT count(*) FROM pg_tables WHERE schemaname "
                                "NOT IN ('pg_catalog', 'information_schema')") == [(0,)]

    target_url = f"{fresh_database}?schema={pg_schema}"
    restored = _run([RESTORE, dump], _env(target_url, tmp_path))
    from server.store.migrate import latest_version
    assert f"database ready (postgresql, schema version {latest_version()})" in restored.stdout
    after = _counts(lambda sql: rows(fresh_database, sql))
    assert after == before
    badges = rows(fresh_database, "SELECT badge, role FROM app_user")
    assert badges == [("B7", "supervisor")]
    # sequences came back too: the restored site takes new rows
    (new_id,), = rows(fresh_database, "INSERT INTO warehouse (code, name, created_at) "
                      "VALUES ('ams', 'Amsterdam', now()) RETURNING id")
    assert new_id > max(i for i, in rows(fresh_database, "SELECT id FROM warehouse "
                                                         "WHERE code <> 'ams'"))

    # a database that is not empty is refused, and left as it was
    again = _run([RESTORE, dump], _env(target_url, tmp_path), ok=False)
    assert "restore into an empty database" in again.stderr
    assert rows(fresh_database, "SELECT count(*) FROM warehouse")[0][0] == 3


def test_restore_refuses_what_it_cannot_use(tmp_path):
    env = _env("sqlite:///" + str(tmp_path / "wavepack.db"), tmp_path)
    bad = _run([RESTORE, tmp_path / "missing.dump"], env, ok=False)
    assert "no dump file" in bad.stderr
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump")
    assert "not a PostgreSQL URL" in _run([RESTORE, junk], env, ok=False).stderr
    assert "not a PostgreSQL URL" in _run([BACKUP, "-d", tmp_path], env, ok=False).stderr
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/x?schema=Bad-Name"
    assert "bad schema name" in _run([BACKUP, "-d", tmp_path], env, ok=False).stderr
    assert "whole number of days" in _run([BACKUP, "-k", "x"], env, ok=False).stderr


def test_sqlite_online_backup(tmp_path):
    url = "sqlite:///" + str(tmp_path / "wavepack.db")
    env = _env(url, tmp_path)
    _site(url)
    from server.store.db import db
    db.close_all()       # only the CLI's processes have the file open from here
    live = sqlite3.connect(tmp_path / "wavepack.db")   # a reader holding the file open
    live.execute("SELECT count(*) FROM warehouse").fetchone()
    copy = tmp_path / "copy.db"
    out = _run([WAVEPACK, "backup", copy], env).stdout
    live.close()
    assert out.startswith(f"backup written: {copy} (schema version ")
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT code FROM warehouse ORDER BY id").fetchall() == [
            ("main",), ("rtm",)]
        assert conn.execute("SELECT badge FROM app_user").fetchall() == [("B7",)]
    # the copy is a database wavepack serves: init-db reads it and reports its version
    copy_env = _env("sqlite:///" + str(copy), tmp_path)
    assert "database ready (sqlite, schema version" in _run([WAVEPACK, "init-db"], copy_env).stdout

    again = _run([WAVEPACK, "backup", copy], env, ok=False)
    assert "already exists" in again.stderr
    missing = _env("sqlite:///" + str(tmp_path / "nope.db"), tmp_path)
    assert "no database at" in _run([WAVEPACK, "backup", tmp_path / "x.db"], missing,
                                    ok=False).stderr
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "nope.db").exists()


def test_backup_command_points_postgres_at_pg_dump(tmp_path):
    env = _env("postgresql://nobody@127.0.0.1:1/x", tmp_path)
    refused = _run([WAVEPACK, "backup", tmp_path / "x.db"], env, ok=False)
    assert "deploy/backup.sh" in refused.stderr and not (tmp_path / "x.db").exists()
