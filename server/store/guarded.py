"""Guarded statements: a short list of writes whose first (the guard, a conditional UPDATE
of one row) decides whether the others happen. Written once, run two ways:

- `run()`: one statement after another on this thread's connection, the guard's row
  count deciding (SQLite; PostgreSQL inside a caller's transaction);
- `statement()`: ONE statement for PostgreSQL, data-modifying CTEs each run only when the
  guard matched (`WHERE EXISTS (SELECT 1 FROM w0)`), so a mismatch writes nothing; the
  final SELECT names them in order, so they run in the order they were added. `matched()`
  reads the guard's verdict from that statement's cursor.

The services/picking.py scan plan is made of these; its executors are there (alone) and
in services/scan_pg.py (pipelined, group commit).
"""
from __future__ import annotations

from .bulk import insert_many
from .db import execute, sql


class Guarded:
    def __init__(self) -> None:
        self.guard: tuple[str, tuple] | None = None
        # ("update", sql, params) or ("insert", table, (columns, rows)), in order
        self.steps: list[tuple[str, str, tuple]] = []

    def guard_with(self, update: str, params: tuple) -> None:
        """The UPDATE the others depend on: it must change exactly one row."""
        assert self.guard is None and not self.steps, "the guard comes first"
        self.guard = (update, tuple(params))

    def update(self, update: str, params: tuple) -> None:
        self.steps.append(("update", update, tuple(params)))

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if rows:
            self.steps.append(("insert", table, (tuple(columns), list(rows))))

    def __bool__(self) -> bool:
        return self.guard is not None or bool(self.steps)

    # ---- one after another --------------------------------------------------------------

    def run(self) -> bool:
        """Run every statement; False (and nothing after the guard run) when the guard
        matched no row."""
        if self.guard is not None and execute(*self.guard).rowcount != 1:
            return False
        for kind, what, params in self.steps:
            if kind == "update":
                execute(what, params)
                continue
            columns, rows = params
            if len(rows) == 1:
                execute(f"INSERT INTO {what} ({', '.join(columns)}) VALUES "
                        f"({', '.join('?' * len(columns))})", rows[0])
            else:
                insert_many(what, columns, rows)
        return True

    # ---- one statement (PostgreSQL) -----------------------------------------------------

    def _if_guarded(self, where: bool) -> str:
        if self.guard is None:
            return ""
        return (" AND " if where else " WHERE ") + "EXISTS (SELECT 1 FROM w0)"

    def statement(self) -> tuple[str, tuple]:
        """The whole list as one statement (the driver's placeholders)."""
        parts: list[str] = []
        values: list = []
        if self.guard is not None:
            parts.append(f"{self.guard[0]} RETURNING 1")
            values += self.guard[1]
        for kind, what, params in self.steps:
            if kind == "update":
                parts.append(f"{what}{self._if_guarded(True)} RETURNING 1")
                values += params
                continue
            columns, rows = params
            # INSERT … SELECT (not VALUES): the guard needs a WHERE; PostgreSQL types the
            # parameters from the target columns either way
            one = f"SELECT {', '.join('?' * len(columns))}{self._if_guarded(False)}"
            parts.append(f"INSERT INTO {what} ({', '.join(columns)}) "
                         f"{' UNION ALL '.join([one] * len(rows))} RETURNING 1")
            for row in rows:
                values += row
        if len(parts) == 1 and self.guard is None:
            return sql(parts[0].removesuffix(" RETURNING 1")), tuple(values)
        names = [f"w{i}" for i in range(len(parts))]
        with_ = ", ".join(f"{n} AS ({part})" for n, part in zip(names, parts))
        counts = ", ".join(f"(SELECT COUNT(*) FROM {n})" for n in names)
        return sql(f"WITH {with_} SELECT {counts}"), tuple(values)

    def matched(self, cursor) -> bool:
        """Whether the guard matched, from the cursor of statement() (True without one)."""
        return self.guard is None or cursor.fetchone()[0] == 1
