"""Named locks that one process holds among all the processes sharing the database: the
sender of a printer (`print:<url>`) is whichever process holds its lock.

- PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a connection of the
  lock's own, kept open while this process holds it. A process that dies, kill -9
  included, drops its connection and with it the lock, so another takes over at once.
- SQLite: a row of `worker_lease` (migration 0014) taken by a guarded UPDATE (free, or
  already ours) or an INSERT, renewed every RENEW_EVERY_S by the keeper thread while
  held, free to others once it has not been renewed for LEASE_S. The holder counts its
  lease as valid only until LEASE_S after the last renewal *began*, minus the margin the
  caller asks for, so it stops sending before anyone else may start.

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
from ..store.db import execute, write_tx

log = logging.getLogger(__name__)

LEASE_S = 15.0           # an SQLite lease not renewed for this long is free to others
RENEW_EVERY_S = 3.0      # the keeper renews (SQLite) or checks (PostgreSQL) this often
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


class _PgLock:
    def __init__(self, name: str):
        self.name, self.key = name, advisory_key(name)
        self.conn = None
        self._lock = threading.Lock()      # one connection, used by the worker and keeper

    @property
    def held(self) -> bool:
        return self.conn is not None

    def take(self) -> bool:
        with self._lock:
            if self.conn is not None:
                return True
            conn = dedicated_connection()
            try:
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
            except Exception:
                conn.close()
                raise
            if got:
                self.conn = conn
            else:
                conn.close()
            return bool(got)

    def valid(self, margin_s: float = 0.0) -> bool:
        return self.held            # the connection holds it; the keeper notices a loss

    def renew(self) -> bool:
        """Still ours: the session is alive (a dropped session has dropped the lock)."""
        with self._lock:
            if self.conn is None:
                return False
            try:
                self.conn.execute("SELECT 1").fetchone()
                return True
            except Exception:  # noqa: BLE001 (the lock went with the session)
                self._drop()
                return False

    def release(self) -> None:
        with self._lock:
            if self.conn is not None:
                try:
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                except Exception:  # noqa: BLE001 (closing the session releases it anyway)
                    pass
                self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


class _SqliteLease:
    def __init__(self, app: Flask, name: str):
        self.app, self.name = app, name
        self.valid_until = float("-inf")      # time.monotonic(): ours until then
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self.valid_until > time.monotonic()

    def valid(self, margin_s: float = 0.0) -> bool:
        return self.valid_until - margin_s > time.monotonic()

    def _write(self, take: bool) -> bool:
        began = time.monotonic()
        now = time.time()
        with self.app.app_context(), _connection(), write_tx():
            free = " OR expires_at < ?" if take else ""   # renewing: only while ours
            got = execute("UPDATE worker_lease SET holder = ?, expires_at = ? WHERE name = ? "
                          f"AND (holder = ?{free})",
                          (HOLDER, now + LEASE_S, self.name, HOLDER, *([now] if take else []))
                          ).rowcount == 1
            if not got and take:
                got = execute("INSERT INTO worker_lease (name, holder, expires_at) "
                              "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                              (self.name, HOLDER, now + LEASE_S)).rowcount == 1
        self.valid_until = began + LEASE_S if got else float("-inf")
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
            except Exception:  # noqa: BLE001 (kept until valid_until, retried next time)
                log.exception("renewing lease %s failed", self.name)
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
        self._leases: dict[str, _PgLock | _SqliteLease] = {}
        self._keeper: threading.Thread | None = None

    def lease(self, name: str) -> Lease:
        if name not in self._leases:
            self._leases[name] = _PgLock(name) if self.pg else _SqliteLease(self.app, name)
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="wavepack-leases",
                                                daemon=True)
                self._keeper.start()
        return Lease(self._leases[name])

    def _keep(self) -> None:
        while not self.stop.wait(RENEW_EVERY_S):
            for name, lease in list(self._leases.items()):
                if lease.held and not lease.renew():
                    log.warning("lost the lock %s", name)

    def close(self) -> None:
        """Release every lock this process holds."""
        for lease in list(self._leases.values()):
            lease.release()


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
        except Exception:  # noqa: BLE001 (the database is away: certainly not ours to use)
            log.exception("taking the lock %s failed", self.name)
            return False

    def valid(self, margin_s: float = 0.0) -> bool:
        """Still held, for at least `margin_s` more seconds (no database round trip)."""
        return self._impl.valid(margin_s)

    @property
    def held(self) -> bool:
        return self._impl.held

    def release(self) -> None:
        self._impl.release()
