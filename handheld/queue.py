"""The handheld's durable offline queue: every scan is written here before it is sent.

A scan is taken once and must reach the server once, whatever happens in between (no
network in aisle 14, the server restarting, the device rebooting). So each message
(`scan`, `short`, `tote.scan`, `tote.confirm`) is stored in a local SQLite file *first* and
leaves the pending list only when the server's ack has arrived (`mark_done`, which keeps
the ack).

* WAL and ``synchronous=FULL``: a `put` that returned is on disk, a power cut included.
* ``scan_id`` is UNIQUE: putting a scan_id again is a no-op (the first payload wins), so
  a caller that retries a `put` cannot queue a scan twice.
* `pending()` is in insertion order (an AUTOINCREMENT sequence, never reused): the
  server must see scans in the order they were taken (the second unit of a task only
  counts after the location scan).
* One connection guarded by a lock: safe from any number of threads. Several processes
  on one file are serialised by SQLite's own locking (``BEGIN IMMEDIATE``, busy timeout).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id   TEXT NOT NULL UNIQUE,
    event     TEXT NOT NULL,
    payload   TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    ack       TEXT,
    done_at   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE done_at IS NULL;
"""


class QueueError(ValueError):
    """A message the queue cannot hold (no scan_id, not JSON), or an unreadable file."""


@dataclass(frozen=True)
class QueuedMessage:
    """One queued protocol message: its place in the queue, event name and payload."""
    seq: int
    scan_id: str
    event: str
    payload: dict


class OfflineQueue:
    """Durable, ordered, de-duplicated outbox of protocol messages in one SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE)
            self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise QueueError(f"cannot open queue file {self.path}: {err}") from err

    # -- writing ---------------------------------------------------------------------

    def put(self, event: str, payload: dict) -> bool:
        """Queue `payload` for `event`. True if queued, False if its scan_id was known."""
        scan_id = payload.get("scan_id") if isinstance(payload, dict) else None
        if not isinstance(scan_id, str) or not scan_id:
            raise QueueError("a queued message needs a non-empty string scan_id")
        if not isinstance(event, str) or not event:
            raise QueueError("a queued message needs an event name")
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise QueueError(f"payload is not JSON: {err}") from err
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO outbox (scan_id, event, payload, queued_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scan_id) DO NOTHING",
                (scan_id, event, body, _now()))
            return cur.rowcount == 1

    def mark_done(self, scan_id: str, ack: object) -> bool:
        """Store the server's `ack` for `scan_id` and take it off the pending list.

        True if it was pending; False if unknown or already done (the first ack is
        kept: it is the server's verdict of record)."""
        body = json.dumps(ack, ensure_ascii=False)
        with self._write() as db:
            cur = db.execute(
                "UPDATE outbox SET ack = ?, done_at = ? WHERE scan_id = ? AND done_at IS NULL",
                (body, _now(), scan_id))
            return cur.rowcount == 1

    # -- reading ---------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[QueuedMessage]:
        """Messages without an ack, oldest first (at most `limit`)."""
        sql = "SELECT seq, scan_id, event, payload FROM outbox WHERE done_at IS NULL ORDER BY seq"
        params: tuple = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [QueuedMessage(seq, sid, event, json.loads(body))
                for seq, sid, event, body in rows]

    def next_pending(self) -> QueuedMessage | None:
        """The oldest message still waiting for its ack, or None."""
        rows = self.pending(limit=1)
        return rows[0] if rows else None

    def ack_for(self, scan_id: str) -> object | None:
        """The stored ack of `scan_id` (None while pending or when unknown)."""
        with self._lock:
            row = self._db.execute("SELECT ack FROM outbox WHERE scan_id = ?",
                                   (scan_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def counts(self) -> dict[str, int]:
        """``{"pending": n, "done": m}``."""
        with self._lock:
            pending, done = self._db.execute(
                "SELECT COUNT(*) FILTER (WHERE done_at IS NULL),"
                " COUNT(*) FILTER (WHERE done_at IS NOT NULL) FROM outbox").fetchone()
        return {"pending": pending, "done": done}

    def pending_count(self) -> int:
        """How many messages still wait for their ack."""
        return self.counts()["pending"]

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (the queue cannot be used afterwards)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> OfflineQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front: another process writing the same
        # file makes us wait (busy timeout) instead of failing half-way through.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).isoformat()
