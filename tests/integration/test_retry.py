"""store.retry against real databases: write_tx tells an error before COMMIT from one at
COMMIT (both databases); on PostgreSQL a real deadlock between two transactions and a real
lost connection are each retried to success."""
from __future__ import annotations

import threading

import peewee
import psycopg
import pytest

from server.store import db as store_db
from server.store.db import execute, write_tx
from server.store.retry import CONNECTION_LOST, retry_transaction, transient, uncommitted

from ..conftest import PG_BASE, make_app


def _probe_table(rows: int) -> None:
    with write_tx():
        execute("CREATE TABLE IF NOT EXISTS retry_probe (id INTEGER PRIMARY KEY, "
                "n INTEGER NOT NULL)")
        execute("DELETE FROM retry_probe")
        for i in range(1, rows + 1):
            execute("INSERT INTO retry_probe (id, n) VALUES (?, 0)", (i,))


def _counts() -> dict[int, int]:
    return dict(execute("SELECT id, n FROM retry_probe ORDER BY id").fetchall())


def test_write_tx_marks_errors_before_commit_and_not_at_commit(db_url, monkeypatch):
    make_app(db_url)
    with store_db.db.connection_context():
        _probe_table(1)
        with pytest.raises(RuntimeError) as body:
            with write_tx():
                execute("UPDATE retry_probe SET n = n + 1")
                raise RuntimeError("the body failed")
        assert uncommitted(body.value)

        def refuse_commit(*a, **k):
            raise peewee.OperationalError("commit failed")
        monkeypatch.setattr(store_db.db.obj, "commit", refuse_commit)
        with pytest.raises(peewee.OperationalError) as commit:
            with write_tx():
                execute("UPDATE retry_probe SET n = n + 1")
        assert not uncommitted(commit.value)
        monkeypatch.undo()
        assert _counts() == {1: 0}                # both rolled back


def _pg_app(pg_schema):
    return make_app(f"{PG_BASE}?schema={pg_schema}")


def test_a_real_deadlock_is_retried_to_success(pg_schema, caplog):
    app = _pg_app(pg_schema)
    with app.app_context(), store_db.db.connection_context():
        _probe_table(2)
    both_hold_one = threading.Barrier(2, timeout=20)
    calls = {"a": 0, "b": 0}
    errors: list[BaseException] = []
    sleeps: list[float] = []

    def transfer(name: str, first: int, second: int) -> None:
        def work() -> None:
            calls[name] += 1
            with write_tx():
                execute("UPDATE retry_probe SET n = n + 1 WHERE id = ?", (first,))
                if calls[name] == 1:
                    both_hold_one.wait()         # each holds the row the other wants next
                execute("UPDATE retry_probe SET n = n + 1 WHERE id = ?", (second,))
        try:
            with app.app_context(), store_db.db.connection_context():
                execute("SET deadlock_timeout = '100ms'")   # found sooner than the 1 s default
                retry_transaction(work, what=f"transfer {name}", sleep=sleeps.append)
        except BaseException as err:  # noqa: BLE001 (reported by the assertion below)
            errors.append(err)

    threads = [threading.Thread(target=transfer, args=("a", 1, 2)),
               threading.Thread(target=transfer, args=("b", 2, 1))]
    with caplog.at_level("WARNING", logger="server.store.retry"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert sorted(calls.values()) == [1, 2]          # one victim, run again once
    assert len(sleeps) == 1
    assert any("deadlock_detected" in r.getMessage() for r in caplog.records)
    with app.app_context(), store_db.db.connection_context():
        assert _counts() == {1: 2, 2: 2}             # both transfers, each once


def test_a_connection_lost_before_commit_is_retried_on_a_new_connection(pg_schema):
    app = _pg_app(pg_schema)
    pids: list[int] = []
    seen: list[BaseException] = []

    def work() -> int:
        with write_tx():
            pid = execute("SELECT pg_backend_pid()").fetchone()[0]
            pids.append(pid)
            execute("UPDATE retry_probe SET n = n + 1 WHERE id = 1")
            if len(pids) == 1:                   # the server drops this connection
                with psycopg.connect(PG_BASE, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                try:
                    execute("UPDATE retry_probe SET n = n + 1 WHERE id = 1")
                except Exception as err:
                    seen.append(err)
                    raise
        return pid

    with app.app_context(), store_db.db.connection_context():
        _probe_table(1)
        retry_transaction(work, what="probe", sleep=lambda s: None)
        assert len(pids) == 2 and pids[0] != pids[1]    # a new connection for the retry
        assert transient(seen[0]) == CONNECTION_LOST
        assert _counts() == {1: 1}                       # the first run left nothing
