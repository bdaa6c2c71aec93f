"""Named locks that one process holds among all the processes sharing the database: the
sender of a printer (`print:<url>`) is whichever process holds its lock.

- PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a connection of this
  process's own (one for all its locks), kept open while it holds them. A process that
  dies, kill -9 included, drops its connection and with it the locks, so another takes
  over at once.
- SQLite: a row of `worker_lease` (migration 0014) taken by a guarded UPDATE (free, or
  already ours) or an INSERT, renewed by the keeper thread every fifth of the lease while
  held, free to others once it has not been renewed for `jobs.lease_seconds` (15 s).
  The holder counts its lease as valid only until that long after the last renewal
  *began*, minus the margin the caller asks for (at most what the renewals leave), so it
  stops beginning jobs before anyone else may start.

`Leases(app)` is one process's set; `lease(name)` gives the lock, `hold()` takes it or
confirms it is still ours, `close()` releases them all (SIGTERM)."""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid

from flask import Flask

from ..store import db as store_db
from ..store.db import execute, log_failure, write_tx

log = logging.getLogger(__name__)

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dedicated_connection():
    """A PostgreSQL connection of its own (outside the pool, autocommit), with the same
    parameters as the pool's: advisory locks and LISTEN belong to one session."""
    import psycopg
    pg = store_db.db.obj
    return psycopg.connect(dbname=pg.database, autocommit=True, **pg.connect_params)


def advisory_key(name: str) -> int:
    """A signed 64-bit key for `name`, distinct per database and schema: advisory locks
    are database-wide, and two schemas (two test runs) must not share a printer's lock."""
    pg = store_db.db.obj
    scope = f"wavepack:{pg.database}:{getattr(pg, '_schema', None) or ''}:{name}"
    return int.from_bytes(hashlib.blake2b(scope.encode(), digest_size=8).digest(), "big",
                          signed=True)


class _PgSession:
    """This process's session for its advisory locks: one connection holds them all (a
    process with 40 printers takes one connection, not 40). If it drops, every lock went
    with it; the next take opens a new one."""

    def __init__(self):
        self.conn = None
        self.keys: set[int] = set()           # the locks this session holds
        self._lock = threading.Lock()          # used by the workers and the keeper

    def try_lock(self, key: int) -> bool:
        with self._lock:
            if key in self.keys:
                return True
            if self.conn is None:
                self.conn = dedicated_connection()
            try:
                got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
            except Exception:
                self._drop()
                raise
            if got:
                self.keys.add(key)
            return bool(got)

    def alive(self) -> bool:
        """The session still answers (a dropped session has dropped its locks)."""
        with self._lock:
            if self.conn is None:
                return False
            try:
                self.conn.execute("SELECT 1").fetchone()
                return True
            except Exception:  # noqa: BLE001 (the locks went with the session)
                self._drop()
                return False

    def unlock(self, key: int) -> None:
        with self._lock:
            if key not in self.keys:
                return
            self.keys.discard(key)
            try:
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except Exception:  # noqa: BLE001 (closing the session releases it anyway)
                self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        self.keys.clear()
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


class _PgLock:
    def __init__(self, session: _PgSession, name: str):
        self.session, self.name, self.key = session, name, advisory_key(name)

    @property
    def held(self) -> bool:
        return self.key in self.session.keys

    def take(self) -> bool:
        return self.session.try_lock(self.key)

    def valid(self, margin_s: float = 0.0) -> bool:
        return self.held            # the session holds it; the keeper notices a loss

    def renew(self) -> bool:
        return self.session.alive() and self.held

    def release(self) -> None:
        self.session.unlock(self.key)


class _SqliteLease:
    def __init__(self, app: Flask, name: str, lease_s: float, renew_every_s: float):
        self.app, self.name, self.lease_s = app, name, lease_s
        # a renewal late by up to one period still leaves this much: the largest margin
        self.max_margin_s = max(0.0, lease_s - 2 * renew_every_s)
        self.valid_until = float("-inf")      # time.monotonic(): ours until then
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self.valid_until > time.monotonic()

    def valid(self, margin_s: float = 0.0) -> bool:
        return self.valid_until - min(margin_s, self.max_margin_s) > time.monotonic()

    def _taken_by_another(self, now: float) -> bool:
        """A read first: a process waiting for a busy lease does not queue for SQLite's
        one write lock every second."""
        with self.app.app_context(), _connection():
            row = execute("SELECT holder, expires_at FROM worker_lease WHERE name = ?",
                          (self.name,)).fetchone()
        return row is not None and row[0] != HOLDER and row[1] >= now

    def _write(self, take: bool) -> bool:
        began = time.monotonic()
        now = time.time()
        if take and self._taken_by_another(now):
            return False
        with self.app.app_context(), _connection(), write_tx():
            free = " OR expires_at < ?" if take else ""   # renewing: only while ours
            got = execute("UPDATE worker_lease SET holder = ?, expires_at = ? WHERE name = ? "
                          f"AND (holder = ?{free})",
                          (HOLDER, now + self.lease_s, self.name, HOLDER,
                           *([now] if take else []))
                          ).rowcount == 1
            if not got and take:
                got = execute("INSERT INTO worker_lease (name, holder, expires_at) "
                              "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                              (self.name, HOLDER, now + self.lease_s)).rowcount == 1
        self.valid_until = began + self.lease_s if got else float("-inf")
        return got

    def take(self) -> bool:
        with self._lock:
            return self.held or self._write(take=True)

    def renew(self) -> bool:
        with self._lock:
            if not self.held:
                return False
            try:
                return self._write(take=False)
            except Exception as err:  # noqa: BLE001 (kept until valid_until, retried next time)
                log_failure(log, f"renewing lease {self.name} failed", err)
                return self.held

    def release(self) -> None:
        with self._lock:
            if self.valid_until == float("-inf"):
                return
            self.valid_until = float("-inf")
            try:
                with self.app.app_context(), _connection(), write_tx():
                    execute("DELETE FROM worker_lease WHERE name = ? AND holder = ?",
                            (self.name, HOLDER))
            except Exception:  # noqa: BLE001 (it expires on its own)
                log.exception("releasing lease %s failed", self.name)


class _connection:
    """The thread's pooled connection for a few statements, closed after unless it was
    open already (peewee's connection_context closes it either way)."""

    def __enter__(self):
        self.opened = store_db.db.is_closed()
        if self.opened:
            store_db.db.connect()

    def __exit__(self, *exc):
        if self.opened and not store_db.db.is_closed():
            store_db.db.close()


class Leases:
    """This process's locks, and the keeper thread that renews them while held."""

    def __init__(self, app: Flask, stop: threading.Event):
        self.app, self.stop = app, stop
        self.pg = store_db.is_postgres()
        self._session = _PgSession() if self.pg else None
        self.lease_s = float(app.config["WAVEPACK"].jobs.lease_seconds)
        if not self.lease_s >= 1:
            raise ValueError(f"jobs.lease_seconds must be 1 or more, not {self.lease_s!r}")
        self.renew_every_s = self.lease_s / 5
        self._leases: dict[str, _PgLock | _SqliteLease] = {}
        self._keeper: threading.Thread | None = None

    def lease(self, name: str) -> Lease:
        if name not in self._leases:
            self._leases[name] = _PgLock(self._session, name) if self.pg else _SqliteLease(
                self.app, name, self.lease_s, self.renew_every_s)
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="wavepack-leases",
                                                daemon=True)
                self._keeper.start()
        return Lease(self._leases[name])

    def _keep(self) -> None:
        while not self.stop.wait(self.renew_every_s):
            if self._session is not None:            # one session holds every lock
                held = [n for n, lease in self._leases.items() if lease.held]
                if held and not self._session.alive():
                    log.warning("lost the locks %s with their session", ", ".join(held))
                continue
            for name, lease in list(self._leases.items()):
                if lease.held and not lease.renew():
                    log.warning("lost the lock %s", name)

    def close(self) -> None:
        """Release every lock this process holds (and close the PostgreSQL session)."""
        for lease in list(self._leases.values()):
            lease.release()
        if self._session is not None:
            with self._session._lock:
                if self._session.conn is not None:
                    self._session._drop()


class Lease:
    """One named lock, as a worker uses it."""

    def __init__(self, impl: _PgLock | _SqliteLease):
        self._impl = impl
        self.name = impl.name

    def hold(self, margin_s: float = 0.0) -> bool:
        """Take the lock if it is free (or confirm it is ours); True when this process
        holds it for at least `margin_s` more seconds. A database error is 'not held'."""
        try:
            return self._impl.take() and self._impl.valid(margin_s)
        except Exception as err:  # noqa: BLE001 (the database is away: not ours to use)
            log.warning("taking the lock %s failed: %s", self.name, err)
            return False

    def valid(self, margin_s: float = 0.0) -> bool:
        """Still held, for at least `margin_s` more seconds (no database round trip)."""
        return self._impl.valid(margin_s)

    @property
    def held(self) -> bool:
        return self._impl.held

    def release(self) -> None:
        self._impl.release()
