"""Pick scans on PostgreSQL: pipelined transactions, and group commit.

The generic path (picking._on_task) costs ~8 round trips a scan (BEGIN, the locking
SELECT, one statement per counted write, the scan row, COMMIT), each a wake-up of this
server and of a PostgreSQL backend. On PostgreSQL the same transaction goes through
psycopg's pipeline: BEGIN travels with the locking SELECT; the counted writes and the scan
row become ONE statement (data-modifying CTEs, each run only when the task's own guarded
UPDATE matched, so a mismatch writes nothing) travelling with COMMIT. A scan that
completes its task also reads what the generic path reads after its writes (is the order
picked, the cart's next open task): those reads travel with the writes, then the order's
status, the audit rows, the scan row and COMMIT make a third round trip. Closing a cart
(once a cart) runs the generic statements. The statements, their order (and so the lock
order), the guards and the answers are the generic path's; SQLite keeps that path.

Group commit (`picking.group_commit`, on by default): scans waiting at the same moment
are verified in ONE transaction by a committer (a thread, a greenlet under gevent; up to
four, each with its connection): BEGIN and every scan's locking SELECT in one round trip;
every scan's writes, with the reads that follow a task's last unit, in a second; the order
status, audit and scan rows of those and COMMIT in a third. Each verdict is decided exactly
as above; a scan alone is a batch of one; every ack follows the COMMIT that holds its scan
row. A batch takes one scan per picker, scan_id, task, order and cart (the next waits for
the next batch, so each decision sees the one before it); anything unexpected (a UNIQUE
race with another process, a lost connection, a deadlock) rolls the whole batch back and
each scan is then run on its own, as without group commit.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, replace

import psycopg
from flask import Flask
from peewee import IntegrityError

from .. import clock
from ..domain import lifecycle
from ..domain.barcodes import ParsedScan
from ..domain.errors import DomainError
from ..domain.verdicts import OK
from ..sockets import metrics
from ..store import db as store_db
from ..store.db import execute, sql
from . import audit, picking
from .picking import (_ALLOCATION_PICKED, _CONFIRM_UPDATE, _LINE_PICKED, _ORDER_STATUS,
                      _ORDER_UNPICKED, _PICK_UPDATE, _SCAN_COLUMNS, Picker, _changed_under,
                      _check_task, _close_cart_if_done, _confirm_params, _judge, _lock, _once,
                      _payload, _picked, _replay, _response, _scan_row, _stop_confirmed, _Task,
                      _target_where, _task_of, _task_sql, scan_recorded)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanIn:
    scan_id: str
    raw: str
    symbology: str | None
    parsed: ParsedScan
    scanned_at: dt.datetime | None
    request_hash: str


class _Writes:
    """Writes sent as one statement: the first (the task's UPDATE, when there is one)
    guards the others, which are data-modifying CTEs with `WHERE EXISTS` on it; the
    final SELECT names them in order, so they run in the order they were added."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list = []
        self.guarded = False

    def guard(self, update: str, params: tuple) -> None:
        assert not self.parts, "the guard comes first"
        self.parts.append(f"{update} RETURNING 1")
        self.params += params
        self.guarded = True

    def _if_guarded(self, where: bool) -> str:
        if not self.guarded:
            return ""
        return (" AND " if where else " WHERE ") + "EXISTS (SELECT 1 FROM w0)"

    def update(self, update: str, params: tuple) -> None:
        self.parts.append(f"{update}{self._if_guarded(True)} RETURNING 1")
        self.params += params

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        # INSERT … SELECT (not VALUES): the guard needs a WHERE; PostgreSQL types the
        # parameters from the target columns either way
        one = f"SELECT {', '.join('?' * len(columns))}{self._if_guarded(False)}"
        self.parts.append(f"INSERT INTO {table} ({', '.join(columns)}) "
                          f"{' UNION ALL '.join([one] * len(rows))} RETURNING 1")
        for row in rows:
            self.params += row

    def statement(self) -> tuple[str, tuple]:
        if len(self.parts) == 1 and not self.guarded:
            return sql(self.parts[0].removesuffix(" RETURNING 1")), tuple(self.params)
        names = [f"w{i}" for i in range(len(self.parts))]
        with_ = ", ".join(f"{n} AS ({part})" for n, part in zip(names, self.parts))
        counts = ", ".join(f"(SELECT COUNT(*) FROM {n})" for n in names)
        return sql(f"WITH {with_} SELECT {counts}"), tuple(self.params)


# ---- one scan -------------------------------------------------------------------------------

def scan_one(picker: Picker, task_ref: int | None, scan: ScanIn) -> dict:
    """record_scan's transaction on PostgreSQL (see above); a UNIQUE violation comes out
    as peewee's IntegrityError, as from the generic path (_once answers it)."""
    conn = store_db.db.connection()
    try:
        return _scan_tx(conn, picker, task_ref, scan)
    except psycopg.errors.UniqueViolation as err:
        _rollback(conn)
        raise IntegrityError(str(err)) from err
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:   # a broken connection: the pool drops it on checkout
            pass


def _select(picker: Picker, task_ref: int | None, scan: ScanIn) -> tuple[str, tuple]:
    where, params = _target_where(picker, task_ref, scan.parsed.gtin)
    return sql(_task_sql(True) + where + _lock()), (scan.scan_id, *params)


def _scan_tx(conn, picker: Picker, task_ref: int | None, scan: ScanIn) -> dict:
    now = clock.now()
    with conn.pipeline():
        conn.execute("BEGIN")
        row = conn.execute(*_select(picker, task_ref, scan)).fetchone()
    task, stored = picking._with_stored(_task_of(row), scan.scan_id)
    if stored:
        answer = _replay(stored, scan.request_hash)
        conn.execute("COMMIT")
        return answer
    step = _Step(picker, _check_task(picker, task), scan, now)
    if step.after.status == "done":
        with conn.pipeline():
            reads = step.queue_with_reads(conn)
        last = step.finish_done(reads)
        with conn.pipeline():
            conn.execute(*last)
            conn.execute("COMMIT")
        step.announce()
        return step.response
    statement = step.statement()
    with conn.pipeline():
        counts = conn.execute(*statement)
        conn.execute("COMMIT")
    if step.writes.guarded and counts.fetchone()[0] != 1:
        raise _changed_under(step.task)   # nothing was written: every write is guarded
    step.announce()
    return step.response


class _Step:
    """One accepted scan's verdict and writes (a scan of `task`, already checked)."""

    def __init__(self, picker: Picker, task: _Task, scan: ScanIn, now: dt.datetime):
        self.picker, self.task, self.scan, self.now = picker, task, scan, now
        self.verdict = verdict = _judge(task, scan.parsed, now)
        self.trail: list[tuple] = []
        self.writes = writes = _Writes()
        self.response: dict | None = None
        naive = clock.naive_utc(now)
        after = task
        if verdict.code == OK and verdict.count == 0:
            if not _stop_confirmed(task):     # the whole stop: not one row, so no guard
                writes.update(_CONFIRM_UPDATE, _confirm_params(task, naive))
            after = replace(task, location_confirmed=verdict.location_confirmed)
        elif verdict.code == OK:
            after = _picked(task, verdict.location_confirmed, verdict.count)
            writes.guard(_PICK_UPDATE, (verdict.count, verdict.location_confirmed,
                                        after.status, naive, task.id, verdict.count))
            if task.allocation_id is not None:
                writes.update(_ALLOCATION_PICKED, (verdict.count, task.allocation_id))
            writes.update(_LINE_PICKED, (verdict.count, task.line_id))
            if task.order_status == lifecycle.WAVED:
                writes.update(*self._status_move(lifecycle.WAVED, lifecycle.PICKING))
        self.after = after

    def _status_move(self, old: str, new: str) -> tuple[str, tuple]:
        """The order status UPDATE (its audit row added to the trail)."""
        lifecycle.check_move(old, new)
        self.trail.append(audit.row(self.now, self.picker.actor, "order.status", "order",
                                    self.task.order_id, old, new))
        return _ORDER_STATUS, (new, clock.naive_utc(self.now), self.task.order_id, old)

    def announce(self) -> None:
        """After the COMMIT that holds this scan's row: the scan.recorded event."""
        scan_recorded(self.scan.scan_id, "pick", self.picker, self.task, self.verdict.code,
                      self.verdict.count)

    def _row(self) -> tuple:
        s, v = self.scan, self.verdict
        return _scan_row(s.scan_id, "pick", self.picker, self.task, s.raw, s.symbology,
                         s.parsed, v.code, v.count, s.request_hash, self.response,
                         s.scanned_at, self.now)

    def statement(self) -> tuple[str, tuple]:
        """A scan that leaves its task open: its writes, audit rows and scan row."""
        self.response = {"scan_id": self.scan.scan_id,
                         **_response(self.verdict, self.task, self.after,
                                     _payload(self.after))}
        self.writes.insert("audit", audit.COLUMNS, self.trail)
        self.writes.insert("scan", _SCAN_COLUMNS, [self._row()])
        return self.writes.statement()

    def queue_with_reads(self, conn) -> tuple:
        """The last unit of a task, inside an open pipeline: this scan's writes and the
        reads that follow them in _apply (order picked? the cart's next open task).
        Returns their cursors for finish_done."""
        counts = conn.execute(*self.writes.statement())
        unpicked = conn.execute(sql(_ORDER_UNPICKED), (self.task.order_id,))
        following = conn.execute(sql(_task_sql(False) + "WHERE t.cart_id = ? AND "
                                     "t.status = 'open' ORDER BY t.seq LIMIT 1"),
                                 (self.task.cart_id,))
        return counts, unpicked, following

    def finish_done(self, reads: tuple) -> tuple[str, tuple]:
        """After queue_with_reads: the order's status, the cart closed when this was its
        last task, the answer; the statement that writes the rest (audit, scan row)."""
        counts, unpicked, following = reads
        if counts.fetchone()[0] != 1:
            raise _changed_under(self.task)
        task = self.task
        status = lifecycle.PICKING if task.order_status == lifecycle.WAVED else task.order_status
        picked = None
        if status == lifecycle.PICKING and unpicked.fetchone() is None:
            picked = self._status_move(status, lifecycle.PICKED)
        next_task = _task_of(following.fetchone())
        last = _Writes()
        if next_task is None:        # the cart's last task: close it (and maybe its wave)
            if picked:
                execute(*picked)
            _close_cart_if_done(task.cart_id, task.wave_id, self.picker, self.now, self.trail)
        elif picked:
            last.update(*picked)
        self.response = {"scan_id": self.scan.scan_id,
                         **_response(self.verdict, task, self.after, _payload(next_task))}
        last.insert("audit", audit.COLUMNS, self.trail)
        last.insert("scan", _SCAN_COLUMNS, [self._row()])
        return last.statement()


# ---- group commit ---------------------------------------------------------------------------

class _Waiting:
    """A scan waiting for its batch: filled with its answer or its error, then `done`."""

    __slots__ = ("picker", "task_ref", "scan", "done", "answer", "error")

    def __init__(self, picker: Picker, task_ref: int | None, scan: ScanIn):
        self.picker, self.task_ref, self.scan = picker, task_ref, scan
        self.done = threading.Event()
        self.answer: dict | None = None
        self.error: BaseException | None = None

    def resolve(self, answer: dict | None = None, error: BaseException | None = None) -> None:
        self.answer, self.error = answer, error
        self.done.set()


class GroupCommit:
    """The committers of one app: scans queue here and are verified in batches of up to
    16. Up to four committers (a connection each, started as scans wait), so that one
    batch's round trips to PostgreSQL overlap other batches' decisions in Python (the scan
    bench, 48 handhelds back to back on 2 cores: one committer with batches of up to 64
    ~850 verdicts/s, two of 16 ~920, four of 16 ~930, six ~840); a picker's scans are never
    in two batches at once, so each is decided after the one before it committed."""

    IDLE_SECONDS = 5.0      # a committer stops after this long without a scan

    def __init__(self, app: Flask, max_batch: int = 16, committers: int = 4):
        self.app = app
        self.max_batch = max_batch
        self.max_workers = committers
        self.cond = threading.Condition()
        self.queue: list[_Waiting] = []
        self.busy: set[int] = set()      # pickers with a scan in a batch being committed
        self.workers = 0                 # committers running …
        self.idle = 0                    # … and of them waiting for scans
        self.batches = 0

    def submit(self, picker: Picker, task_ref: int | None, scan: ScanIn) -> dict:
        """The scan's answer once the batch holding it committed (or its error)."""
        item = _Waiting(picker, task_ref, scan)
        with self.cond:
            self.queue.append(item)
            if self.idle == 0 and self.workers < self.max_workers:
                self.workers += 1
                threading.Thread(target=self._run, name="scan-group-commit",
                                 daemon=True).start()
            else:
                self.cond.notify()
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.answer

    def _take(self) -> list[_Waiting]:
        """The next batch: queue order, one scan per picker, per scan_id and per named
        task, none of a picker whose scan another committer holds; the others stay
        queued in their order."""
        batch: list[_Waiting] = []
        left: list[_Waiting] = []
        pickers, ids, tasks = set(self.busy), set(), set()
        for item in self.queue:
            if (len(batch) >= self.max_batch or item.picker.user_id in pickers
                    or item.scan.scan_id in ids or (item.task_ref is not None
                                                    and item.task_ref in tasks)):
                left.append(item)
                continue
            batch.append(item)
            pickers.add(item.picker.user_id)
            ids.add(item.scan.scan_id)
            if item.task_ref is not None:
                tasks.add(item.task_ref)
        self.queue = left
        self.busy.update(item.picker.user_id for item in batch)
        return batch

    def _next_batch(self) -> list[_Waiting] | None:
        """Wait for a batch; None when there was nothing to do for IDLE_SECONDS."""
        with self.cond:
            batch = self._take()
            while not batch:
                self.idle += 1
                woken = self.cond.wait(self.IDLE_SECONDS)
                self.idle -= 1
                if not woken and not self.queue:
                    self.workers -= 1
                    return None
                batch = self._take()
            return batch

    def _run(self) -> None:
        with self.app.app_context():
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    self._commit(batch)
                except BaseException as err:  # never leave a handheld without its ack
                    log.exception("scan batch failed")
                    for item in batch:
                        if not item.done.is_set():
                            item.resolve(error=err)
                finally:
                    with self.cond:
                        self.busy.difference_update(item.picker.user_id for item in batch)
                        self.cond.notify_all()

    def _commit(self, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        self.batches += 1
        try:
            with store_db.db.connection_context():
                conn = store_db.db.connection()
                try:
                    results, alone = _batch_tx(conn, batch)
                except Exception as err:
                    _rollback(conn)
                    if len(batch) > 1:
                        log.info("scan batch of %d rolled back (%s): each scan on its own",
                                 len(batch), type(err).__name__)
                    results, alone = {}, batch
                for item, (answer, error) in results.items():
                    item.resolve(answer, error)
                for item in alone:
                    try:
                        item.resolve(_once(item.scan.scan_id, item.scan.request_hash,
                                           lambda item=item: scan_one(item.picker, item.task_ref,
                                                                      item.scan)))
                    except BaseException as err:
                        item.resolve(error=err)
        finally:   # GET /api/v1/metrics/handheld: scan.batch n = batches, the time of each
            metrics.record("scan.batch", time.perf_counter() - started)


def _batch_tx(conn, batch: list[_Waiting]) -> tuple[dict, list[_Waiting]]:
    """One transaction for the batch, in three round trips: BEGIN and the locking
    SELECTs; the writes (with, for scans that finish their task, the reads after them);
    for those, the order's status, audit and scan rows, and COMMIT. Returns each scan's
    (answer, error) and the scans to run on their own after it: one whose task, order or
    cart another scan of the batch touches (normally a cart is one picker's, an order on
    one cart; this keeps each decision's reads true whatever the data)."""
    now = clock.now()
    with conn.pipeline():
        conn.execute("BEGIN")
        cursors = [conn.execute(*_select(i.picker, i.task_ref, i.scan)) for i in batch]
    rows = [c.fetchone() for c in cursors]
    results: dict[_Waiting, tuple[dict | None, BaseException | None]] = {}
    alone: list[_Waiting] = []
    touched: set[tuple[str, int]] = set()
    decided: list[tuple[_Waiting, _Step]] = []
    pending: list[tuple[_Waiting, _Step, tuple[str, tuple], bool]] = []
    finishing: list[tuple[_Waiting, _Step]] = []
    for item, row in zip(batch, rows):
        task, stored = picking._with_stored(_task_of(row), item.scan.scan_id)
        if task is not None:
            keys = {("task", task.id), ("order", task.order_id), ("cart", task.cart_id)}
            if keys & touched:
                alone.append(item)
                continue
            touched |= keys
        try:
            if stored:
                results[item] = (_replay(stored, item.scan.request_hash), None)
                continue
            step = _Step(item.picker, _check_task(item.picker, task), item.scan, now)
        except DomainError as err:
            results[item] = (None, err)
            continue
        if step.after.status == "done":
            finishing.append((item, step))
        else:
            pending.append((item, step, step.statement(), True))
        decided.append((item, step))
    if finishing:
        with conn.pipeline():
            sent = [conn.execute(*s) for _, _, s, _ in pending]
            reads = [step.queue_with_reads(conn) for _, step in finishing]
        _check_sent(pending, sent, results)
        pending = []
        for (item, step), got in zip(finishing, reads):
            try:
                pending.append((item, step, step.finish_done(got), False))
            except DomainError as err:       # its guard: nothing of it was written
                results[item] = (None, err)
    with conn.pipeline():
        sent = [conn.execute(*s) for _, _, s, _ in pending]
        conn.execute("COMMIT")
    _check_sent(pending, sent, results)
    for item, step in decided:
        if results.setdefault(item, (step.response, None))[1] is None:
            step.announce()
    return results, alone


def _check_sent(pending: list, cursors: list, results: dict) -> None:
    """A statement whose guard matched nothing wrote nothing: its scan gets the error."""
    for (item, step, _, guarded), cur in zip(pending, cursors):
        if guarded and step.writes.guarded and cur.fetchone()[0] != 1:
            results[item] = (None, _changed_under(step.task))
