"""Audit rows: who (user, token or system), what, before → after, when. Written in the
same transaction as the change they describe."""
from __future__ import annotations

import datetime as dt
import json

from .. import clock
from ..store.bulk import insert_many

COLUMNS = ("at", "actor", "action", "entity", "entity_id", "before", "after", "detail")


def row(at: dt.datetime, actor: str, action: str, entity: str, entity_id: object,
        before: object = "", after: object = "", detail: object = "") -> tuple:
    """One audit row as a tuple for write()."""
    return (clock.naive_utc(at), actor, action, entity, str(entity_id), _text(before), _text(after),
            _text(detail))


def write(rows: list[tuple]) -> None:
    insert_many("audit", COLUMNS, rows)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))

