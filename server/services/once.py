"""Exactly-once scans: the client's scan_id is stored UNIQUE with the first answer.

A replay (same id, same content, same user and device) is answered from the stored row and
changes nothing; the same id with other content or from someone else is refused; a racing duplicate that loses on the UNIQUE
constraint is answered with the winner's row. Used by picking (`scan`) and packing
(`pack_scan`): both tables have scan_id, request_hash and response.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from peewee import IntegrityError

from ..domain.errors import DomainError
from ..store.db import execute

SCAN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TABLES = ("scan", "pack_scan")


def check_scan_id(value: object, error: type[DomainError]) -> str:
    if not isinstance(value, str) or not SCAN_ID.match(value):
        raise error("scan_id must be 8-64 characters of A-Z a-z 0-9 - _ (a UUID)",
                    field="scan_id")
    return value


def request_hash(kind: str, content: dict, *, user_id: int | None, device: str = "") -> str:
    """What a scan_id stands for: the scan's content AND who sent it from which device. A
    replay must come from the same user and device; the same scan_id from anyone else is
    a scan_id_conflict, never the first sender's stored ack (which handed picker B picker
    A's answer, task and next pick included)."""
    return hashlib.sha256(json.dumps([kind, content, user_id, device], sort_keys=True,
                                     ensure_ascii=False, default=str).encode()).hexdigest()


def stored(table: str, scan_id: str) -> tuple[str, str] | None:
    assert table in TABLES
    row = execute(f"SELECT request_hash, response FROM {table} WHERE scan_id = ?",
                  (scan_id,)).fetchone()
    return (row[0], row[1]) if row else None


def replay(found: tuple[str, str], request_hash_: str, error: type[DomainError]) -> dict:
    if found[0] != request_hash_:
        raise error("this scan_id was already used for a different scan",
                    code="scan_id_conflict", field="scan_id")
    return json.loads(found[1])


def once(table: str, scan_id: str, request_hash_: str, work: Callable[[], dict],
         error: type[DomainError]) -> dict:
    """Run `work()` (which answers a known scan_id itself, inside its transaction, or
    stores the new one); a racing duplicate that loses on the UNIQUE constraint gets the
    winner's answer."""
    try:
        return work()
    except IntegrityError:
        found = stored(table, scan_id)
        if found is None:
            raise
        return replay(found, request_hash_, error)
