"""Run a transaction again when the database rolled it back for reasons of its own: the one
retry helper (tenacity: bounded attempts, jittered exponential back-off, a log line per
retry).

    result = retry_transaction(lambda: _work(...), what="count")   # _work opens write_tx

What is retried is decided by the database's error classes, never by message text:

- PostgreSQL deadlock_detected (SQLSTATE 40P01) and serialization_failure (40001): the
  server rolled the transaction back whole, whenever it was raised (a serialization
  failure may come at COMMIT), so running it again is always safe.
- SQLite SQLITE_BUSY (`sqlite3.OperationalError.sqlite_errorcode`, extended codes
  included): the lock was not had within busy_timeout and the transaction was rolled back
  (a COMMIT refused with BUSY is rolled back by the write transaction's exit too).
- A lost PostgreSQL connection (psycopg OperationalError / InterfaceError with no SQLSTATE,
  class 08, or 57P01-57P03; peewee wraps them as its OperationalError / InterfaceError
  with the driver's error inside), and only when the work is safe to redo: the error came
  out of a write transaction BEFORE its COMMIT was sent (store.db.write_tx marks such
  errors; see `uncommitted`). A connection that drops during COMMIT leaves it unknown
  whether the transaction committed, so that one is raised, never retried: redoing it
  could do the work twice. Before a retry after a lost connection the broken connection is
  given back (the pool discards it) and a new one taken.

Inside an enclosing transaction nothing of the above is retried: the enclosing transaction
was rolled back (or holds its locks and must be redone whole), and only its owner can run
it again. Exceptions named in `also` (say, a unique-key race whose loser must read again)
are retried there too, since the failed part was a savepoint that rolled back.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable, TypeVar

import psycopg
import tenacity

from . import db as store_db

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5              # tries in all, the first included
WAIT_MULTIPLIER_S = 0.02  # back-off: a random wait in [0, min(WAIT_MAX_S, 0.02·2^n)] s
WAIT_MAX_S = 1.0

DEADLOCK = "deadlock_detected"
SERIALIZATION = "serialization_failure"
CONNECTION_LOST = "connection_lost"
SQLITE_BUSY = "sqlite_busy"

_ROLLED_BACK = {"40P01": DEADLOCK, "40001": SERIALIZATION}
_LOST_STATES = ("08", "57P01", "57P02", "57P03")
_MARK = "_wavepack_uncommitted"


def mark_uncommitted(err: BaseException) -> None:
    """Note on `err` that it ended a write transaction before its COMMIT was sent (called
    by store.db.write_tx), so a lost connection behind it left nothing committed."""
    try:
        setattr(err, _MARK, True)
    except (AttributeError, TypeError):     # cannot be marked: treated as maybe committed
        pass


def uncommitted(err: BaseException) -> bool:
    """Whether `err` (or an error it wraps) was marked by mark_uncommitted."""
    return any(getattr(e, _MARK, False) for e in store_db.error_chain(err))


def transient(err: BaseException) -> str | None:
    """Why the database refused the transaction for a reason a retry can cure (one of the
    names above), or None. By class and code only, never by message."""
    for e in store_db.error_chain(err):
        if isinstance(e, psycopg.Error):
            state = e.sqlstate
            if isinstance(e, psycopg.errors.DeadlockDetected) or state == "40P01":
                return DEADLOCK
            if isinstance(e, psycopg.errors.SerializationFailure) or state == "40001":
                return SERIALIZATION
            if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError) \
                    and (state is None or state.startswith(_LOST_STATES)):
                return CONNECTION_LOST
        if isinstance(e, sqlite3.OperationalError) \
                and (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_BUSY:
            return SQLITE_BUSY
    return None


def retry_transaction(work: Callable[[], T], *, what: str = "transaction",
                      attempts: int = ATTEMPTS, also: tuple[type[BaseException], ...] = (),
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """`work()`, run again (up to `attempts` runs in all, a jittered exponential wait
    between) while it fails with an error the database says it rolled back (`transient`,
    a lost connection only when `uncommitted`), or with one of `also`. `work` opens its own
    write transaction (store.db.write_tx) and must leave nothing behind when it fails
    (undo any in-memory bookkeeping itself). The last error is raised as it came."""
    nested = _in_transaction()

    def retryable(err: BaseException) -> bool:
        if also and isinstance(err, also):
            return True
        if nested:
            return False
        why = transient(err)
        return why is not None and (why != CONNECTION_LOST or uncommitted(err))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        why = (transient(err) if err is not None else None) or type(err).__name__
        log.warning("%s: %s, try %d of %d failed; again in %.3f s: %s", what, why,
                    state.attempt_number, attempts, state.next_action.sleep if
                    state.next_action else 0.0, err)
        if why == CONNECTION_LOST:
            _reconnect()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=WAIT_MULTIPLIER_S, max=WAIT_MAX_S),
        retry=tenacity.retry_if_exception(retryable),
        before_sleep=before_sleep, sleep=sleep, reraise=True)
    return retrying(work)


def _in_transaction() -> bool:
    return store_db.db.obj is not None and store_db.db.transaction_depth() > 0


def _reconnect() -> None:

    """Give the broken connection back (the pool's check on the next checkout discards
    it) and take a fresh one, so the retry does not run on a dead socket. The
    connection_context()s open around the caller are kept (peewee's close forgets them)."""
    database = store_db.db.obj
    held = list(database._state.ctx)
    try:
        if not database.is_closed():
            database.close()
    except Exception:  # noqa: BLE001 (closing a dead connection may fail; a new one is next)
        log.debug("closing the lost connection failed", exc_info=True)
    database.connect(reuse_if_open=True)
    database._state.ctx = held
