"""Set-at-a-time writes for the hot paths (bulk intake, reservation): plain SQL,
multi-row VALUES with RETURNING, and executemany. Same SQL on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Iterator, Sequence

from .db import db, executemany, sql

MAX_PARAMS = 30000  # below SQLite's 32766 and PostgreSQL's 65535


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def insert_returning(table: str, columns: Sequence[str], rows: Sequence[Sequence],
                     returning: Sequence[str], *, ignore_conflicts: bool = False) -> list[tuple]:
    """INSERT many rows, return the `returning` columns of the rows actually inserted
    (with ignore_conflicts, rows stopped by a UNIQUE constraint are simply absent)."""
    if not rows:
        return []
    out: list[tuple] = []
    per = max(1, MAX_PARAMS // len(columns))
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    tail = (" ON CONFLICT DO NOTHING" if ignore_conflicts else "") + \
        f" RETURNING {', '.join(returning)}"
    for part in _chunks(rows, per):
        params = [v for row in part for v in row]
        cur = db.execute_sql(sql(head + ", ".join([one] * len(part)) + tail), params)
        out.extend(tuple(r) for r in cur.fetchall())
    return out


def insert_many(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    if rows:
        executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' * len(columns))})", list(rows))


def select_in(statement: str, values: Sequence, *, before: Sequence = (),
              after: Sequence = ()) -> list[tuple]:
    """Run `statement` with `{in}` replaced by a placeholder list, in chunks of values."""
    out: list[tuple] = []
    per = MAX_PARAMS - len(before) - len(after)
    for part in _chunks(list(values), per):
        q = statement.replace("{in}", ", ".join("?" * len(part)))
        out.extend(tuple(r) for r in db.execute_sql(sql(q), [*before, *part, *after]).fetchall())
    return out
