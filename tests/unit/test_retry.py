"""server/store/retry.py: which errors are retried (by class and code, never by text), that
attempts are bounded, that each retry waits (jittered, growing) and is logged."""
from __future__ import annotations

import logging
import sqlite3

import peewee
import psycopg
import pytest

from server.store import retry
from server.store.retry import (CONNECTION_LOST, DEADLOCK, SERIALIZATION, SQLITE_BUSY,
                                mark_uncommitted, retry_transaction, transient)


def _wrapped(err: BaseException) -> peewee.PeeweeException:
    """As peewee raises a driver error: its own class, the driver's error in args[0]."""
    kind = peewee.InterfaceError if isinstance(err, psycopg.InterfaceError) \
        else peewee.OperationalError
    try:
        try:
            raise err
        except Exception as inner:
            raise kind(inner, *inner.args) from None
    except peewee.PeeweeException as outer:
        return outer


def _busy() -> sqlite3.OperationalError:
    e = sqlite3.OperationalError("any text at all")
    e.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return e


@pytest.mark.parametrize("err, why", [
    (psycopg.errors.DeadlockDetected("x"), DEADLOCK),
    (_wrapped(psycopg.errors.DeadlockDetected("x")), DEADLOCK),
    (psycopg.errors.SerializationFailure("x"), SERIALIZATION),
    (_wrapped(psycopg.errors.SerializationFailure("x")), SERIALIZATION),
    (psycopg.OperationalError("server closed the connection unexpectedly"), CONNECTION_LOST),
    (_wrapped(psycopg.OperationalError("the connection is closed")), CONNECTION_LOST),
    (_wrapped(psycopg.InterfaceError("the connection is lost")), CONNECTION_LOST),
    (psycopg.errors.AdminShutdown("terminating connection"), CONNECTION_LOST),   # 57P01
    (_busy(), SQLITE_BUSY),
    (_wrapped(_busy()), SQLITE_BUSY),
    # not retried: refusals a second run would meet again, and look-alike texts
    (psycopg.errors.UniqueViolation("deadlock detected"), None),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), None),
    (psycopg.errors.LockNotAvailable("could not obtain lock"), None),
    (peewee.OperationalError("deadlock detected"), None),     # text only, no driver error
    (sqlite3.OperationalError("database is locked"), None),   # text only, no SQLITE_BUSY
    (peewee.InterfaceError("Query must be a string"), None),
    (ValueError("deadlock"), None),
])
def test_transient_is_decided_by_error_class_and_code(err, why):
    assert transient(err) == why


def test_extended_busy_codes_are_busy_too():
    e = sqlite3.OperationalError("x")
    e.sqlite_errorcode = 517                   # SQLITE_BUSY_SNAPSHOT
    assert transient(e) == SQLITE_BUSY
    e.sqlite_errorcode = sqlite3.SQLITE_CONSTRAINT
    assert transient(e) is None


class Flaky:
    """Fails with each of `errors` in turn, then answers 'done'."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def sleeps(monkeypatch):
    monkeypatch.setattr(retry, "_in_transaction", lambda: False)
    return []


def test_a_deadlock_is_retried_with_growing_jittered_waits_and_logged(sleeps, caplog):
    work = Flaky(*[_wrapped(psycopg.errors.DeadlockDetected("x")) for _ in range(3)])
    with caplog.at_level(logging.WARNING, logger="server.store.retry"):
        assert retry_transaction(work, what="probe", sleep=sleeps.append) == "done"
    assert work.calls == 4 and len(sleeps) == 3
    caps = [min(retry.WAIT_MAX_S, retry.WAIT_MULTIPLIER_S * 2 ** n) for n in (1, 2, 3)]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("probe: deadlock_detected" in ln for ln in lines)
    assert "try 1 of 5" in lines[0] and "try 3 of 5" in lines[2]


def test_the_waits_are_random_not_fixed(sleeps):
    for _ in range(20):
        retry_transaction(Flaky(psycopg.errors.SerializationFailure("x")), sleep=sleeps.append)
    assert len(set(sleeps)) > 1


def test_attempts_are_bounded_and_the_last_error_is_raised(sleeps):
    errors = [psycopg.errors.SerializationFailure(f"n{i}") for i in range(10)]
    work = Flaky(*errors)
    with pytest.raises(psycopg.errors.SerializationFailure, match="n2"):
        retry_transaction(work, attempts=3, sleep=sleeps.append)
    assert work.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize("err", [
    psycopg.errors.UniqueViolation("x"), peewee.OperationalError("deadlock detected"),
    sqlite3.OperationalError("database is locked"), ValueError("x")])
def test_other_errors_are_raised_at_once(sleeps, err):
    work = Flaky(err)
    with pytest.raises(type(err)):
        retry_transaction(work, sleep=sleeps.append)
    assert work.calls == 1 and sleeps == []


def test_sqlite_busy_is_retried(sleeps):
    work = Flaky(_wrapped(_busy()), _busy())
    assert retry_transaction(work, sleep=sleeps.append) == "done" and work.calls == 3


def test_a_lost_connection_is_retried_only_when_nothing_was_committed(sleeps, monkeypatch):
    reconnects = []
    monkeypatch.setattr(retry, "_reconnect", lambda: reconnects.append(1))
    before_commit = _wrapped(psycopg.OperationalError("server closed the connection"))
    mark_uncommitted(before_commit)              # as write_tx does for its body's errors
    work = Flaky(before_commit)
    assert retry_transaction(work, sleep=sleeps.append) == "done"
    assert work.calls == 2 and reconnects == [1]

    at_commit = _wrapped(psycopg.OperationalError("server closed the connection"))
    work = Flaky(at_commit)                      # unmarked: it may have committed
    with pytest.raises(peewee.OperationalError):
        retry_transaction(work, sleep=sleeps.append)
    assert work.calls == 1 and reconnects == [1]


def test_a_deadlock_is_retried_even_when_raised_at_commit(sleeps):
    work = Flaky(_wrapped(psycopg.errors.SerializationFailure("x")))   # never marked
    assert retry_transaction(work, sleep=sleeps.append) == "done" and work.calls == 2


def test_inside_an_enclosing_transaction_only_also_is_retried(monkeypatch):
    monkeypatch.setattr(retry, "_in_transaction", lambda: True)
    sleeps: list[float] = []
    work = Flaky(psycopg.errors.DeadlockDetected("x"))
    with pytest.raises(psycopg.errors.DeadlockDetected):
        retry_transaction(work, sleep=sleeps.append)
    assert work.calls == 1

    class Race(Exception):
        pass
    work = Flaky(Race(), Race())
    assert retry_transaction(work, also=(Race,), sleep=sleeps.append) == "done"
    assert work.calls == 3


def test_a_real_sqlite_busy_is_retried_until_the_lock_is_free(tmp_path, sleeps):
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN IMMEDIATE")             # the write lock, held
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    calls = []

    def work() -> int:
        calls.append(1)
        other.execute("BEGIN IMMEDIATE")          # SQLITE_BUSY while the holder has it
        other.execute("INSERT INTO t VALUES (1)")
        other.execute("COMMIT")
        return len(calls)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        holder.execute("COMMIT")                  # the lock is let go during the back-off

    assert retry_transaction(work, sleep=sleep) == 2 and len(sleeps) == 1
    assert other.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
    holder.close()
    other.close()
