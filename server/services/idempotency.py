"""Idempotency-Key for API writes: the first response is kept and replayed; the same key
with a different body is refused (422); a request still running under that key gets 409."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from .. import clock
from ..domain.errors import Conflict, Unprocessable
from ..store import db as store_db
from ..store.db import execute

STALE = dt.timedelta(minutes=5)   # a claim this old was left by a crashed request


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(channel_id: int, key: str, digest: str) -> Replay | None:
    """Take the key for this request (None), or say what to answer instead."""
    if not key or len(key) > 200:
        raise Unprocessable("Idempotency-Key must be 1–200 characters", field="Idempotency-Key")
    now = clock.now().astimezone(dt.timezone.utc).replace(tzinfo=None)
    with store_db.write_tx():
        got = execute("INSERT INTO idempotency_key (channel_id, key, request_hash, state, "
                      "created_at) VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT DO NOTHING "
                      "RETURNING id", (channel_id, key, digest, now)).fetchone()
        if got:
            return None
        row = execute("SELECT request_hash, state, status_code, response_body, created_at FROM "
                      "idempotency_key WHERE channel_id = ? AND key = ?",
                      (channel_id, key)).fetchone()
        stored_hash, state, status, body, created = row
        if stored_hash != digest:
            raise Unprocessable("this Idempotency-Key was used with a different request",
                                code="idempotency_key_reused", field="Idempotency-Key")
        if state == "done":
            return Replay(status, json.loads(body))
        created = created if isinstance(created, dt.datetime) else \
            dt.datetime.fromisoformat(str(created))
        if now - created.replace(tzinfo=None) < STALE:
            raise Conflict("a request with this Idempotency-Key is still being processed",
                           code="idempotency_key_in_progress", field="Idempotency-Key")
        execute("UPDATE idempotency_key SET created_at = ? WHERE channel_id = ? AND key = ?",
                (now, channel_id, key))
        return None


def finish(channel_id: int, key: str, status: int, body: dict) -> None:
    """Record the answer (call inside the transaction that made the change)."""
    execute("UPDATE idempotency_key SET state = 'done', status_code = ?, response_body = ? "
            "WHERE channel_id = ? AND key = ?",
            (status, json.dumps(body, ensure_ascii=False), channel_id, key))


def abandon(channel_id: int, key: str) -> None:
    """Forget a claim whose request failed before it changed anything (so a retry may run)."""
    with store_db.write_tx():
        execute("DELETE FROM idempotency_key WHERE channel_id = ? AND key = ? "
                "AND state = 'in_progress'", (channel_id, key))
