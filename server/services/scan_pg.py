"""Pick scans on PostgreSQL: pipelined transactions, and group commit.

A pick scan is one plan (picking.ScanPlan: the guard UPDATE and the writes it guards, the
reads after a task's last unit, the rest) run by one of three executors: picking.run_alone
(one statement after another: SQLite, or PostgreSQL inside a caller's transaction, ~8
round trips a scan, each a wake-up of this server and of a PostgreSQL backend) and the two
here. Alone on PostgreSQL the plan goes through psycopg's pipeline: BEGIN travels with the
locking SELECT; the plan's writes become ONE statement (store/guarded.py: data-modifying
CTEs, each run only when the guard matched, so a mismatch writes nothing) travelling with
COMMIT. A scan that completes its task sends the plan's reads (is the order picked, the
cart's next open task) with its writes, then the rest (order status, audit rows, scan
row) and COMMIT make a third round trip. Closing a cart (once a cart) runs
picking's own statements. The statements, their order (and so the lock order), the
guards and the answers are the plan's, whichever executor runs it.

Group commit (`picking.group_commit`, on by default): scans waiting at the same moment
are verified in ONE transaction by a committer (a thread, a greenlet under gevent; up to
four, each with its connection): BEGIN and every scan's locking SELECT in one round trip;
every scan's writes, with the reads that follow a task's last unit, in a second; the rest
of those and COMMIT in a third. Each verdict is decided exactly as above; a scan alone is
a batch of one; every ack follows the COMMIT that holds its scan row, and so does its
scan.recorded event. A batch takes one scan per picker, scan_id, task, order and cart (the
next waits for the next batch, so each decision sees the one before it); anything
unexpected (a UNIQUE race with another process, a lost connection, a deadlock) rolls the
whole batch back and each scan is then run on its own, as without group commit.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import psycopg
from peewee import IntegrityError

from .. import clock
from ..config import PickingConfig
from ..domain.errors import DomainError
from ..store import db as store_db
from ..store.db import sql
from .picking import Picker, ScanIn, ScanPlan, exactly_once, locate, replay, target_select

log = logging.getLogger(__name__)


# ---- one scan -------------------------------------------------------------------------------

def scan_one(picker: Picker, task_ref: int | None, scan: ScanIn, cfg: PickingConfig) -> dict:
    """record_scan's transaction on PostgreSQL (see above); a UNIQUE violation comes out
    as peewee's IntegrityError, as from the generic path (exactly_once answers it)."""
    conn = store_db.db.connection()
    try:
        return _scan_tx(conn, picker, task_ref, scan, cfg)
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
    statement, params = target_select(picker, task_ref, scan)
    return sql(statement), params


def _send(conn, plan: ScanPlan) -> tuple:
    """Inside an open pipeline: the plan's writes (one statement) and its reads, if any.
    Their cursors, for _finish (or the writes' for Guarded.matched)."""
    return (conn.execute(*plan.writes.statement()),
            *(conn.execute(sql(q), p) for q, p in plan.reads))


def _finish(plan: ScanPlan, sent: tuple) -> tuple[str, tuple]:
    """After _send of a plan with reads: the guard checked (its error if it matched
    nothing: nothing of the scan was written) and the statement of the rest."""
    writes, *reads = sent
    if not plan.writes.matched(writes):
        raise plan.changed_under()
    return plan.finish(*(c.fetchone() for c in reads)).statement()


def _scan_tx(conn, picker: Picker, task_ref: int | None, scan: ScanIn,
             cfg: PickingConfig) -> dict:
    now = clock.now()
    with conn.pipeline():
        conn.execute("BEGIN")
        row = conn.execute(*_select(picker, task_ref, scan)).fetchone()
    task, stored = locate(row, scan.scan_id)
    if stored:
        answer = replay(stored, scan.request_hash)
        conn.execute("COMMIT")
        return answer
    plan = ScanPlan(picker, task, scan, now, cfg)
    with conn.pipeline():
        sent = _send(conn, plan)
        if not plan.reads:
            conn.execute("COMMIT")
    if plan.reads:
        rest = _finish(plan, sent)
        with conn.pipeline():
            conn.execute(*rest)
            conn.execute("COMMIT")
    elif not plan.writes.matched(sent[0]):
        raise plan.changed_under()     # nothing was written: every write is guarded
    plan.announce()
    return plan.response


# ---- group commit ---------------------------------------------------------------------------

class _Waiting:
    """A scan waiting for its batch: filled with its answer or its error, then `done`."""

    __slots__ = ("picker", "task_ref", "scan", "cfg", "done", "answer", "error")

    def __init__(self, picker: Picker, task_ref: int | None, scan: ScanIn, cfg: PickingConfig):
        self.picker, self.task_ref, self.scan, self.cfg = picker, task_ref, scan, cfg
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
    in two batches at once, so each is decided after the one before it committed.
    `on_batch(seconds)` is told how long each batch took (the sockets layer records it)."""

    IDLE_SECONDS = 5.0      # a committer stops after this long without a scan

    def __init__(self, max_batch: int = 16, committers: int = 4,
                 on_batch: Callable[[float], None] | None = None):
        self.max_batch = max_batch
        self.max_workers = committers
        self.on_batch = on_batch
        self.cond = threading.Condition()
        self.queue: list[_Waiting] = []
        self.busy: set[int] = set()      # pickers with a scan in a batch being committed
        self.workers = 0                 # committers running …
        self.idle = 0                    # … and of them waiting for scans
        self.batches = 0

    def submit(self, picker: Picker, task_ref: int | None, scan: ScanIn,
               cfg: PickingConfig) -> dict:
        """The scan's answer once the batch holding it committed (or its error)."""
        item = _Waiting(picker, task_ref, scan, cfg)
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
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._commit(batch)
            except BaseException as err:  # never leave a handheld without its ack
                store_db.log_failure(log, "scan batch failed", err)
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
                        item.resolve(exactly_once(
                            item.scan.scan_id, item.scan.request_hash,
                            lambda item=item: scan_one(item.picker, item.task_ref, item.scan,
                                                       item.cfg)))
                    except BaseException as err:
                        item.resolve(error=err)
        finally:
            if self.on_batch is not None:
                self.on_batch(time.perf_counter() - started)


def _batch_tx(conn, batch: list[_Waiting]) -> tuple[dict, list[_Waiting]]:
    """One transaction for the batch, in three round trips: BEGIN and the locking
    SELECTs; every scan's plan (its writes, with the reads of those that finish their
    task); for those, the rest (order status, audit and scan rows), and COMMIT (with the
    second round trip when no scan finishes its task). Returns each scan's (answer, error)
    and the scans to run on their own after it: one whose task, order or cart another
    scan of the batch touches (normally a cart is one picker's, an order on one cart; this
    keeps each decision's reads true whatever the data)."""
    now = clock.now()
    with conn.pipeline():
        conn.execute("BEGIN")
        cursors = [conn.execute(*_select(i.picker, i.task_ref, i.scan)) for i in batch]
    rows = [c.fetchone() for c in cursors]
    results: dict[_Waiting, tuple[dict | None, BaseException | None]] = {}
    alone: list[_Waiting] = []
    touched: set[tuple[str, int]] = set()
    plans: list[tuple[_Waiting, ScanPlan]] = []
    for item, row in zip(batch, rows):
        task, stored = locate(row, item.scan.scan_id)
        if task is not None:
            keys = {("task", task.id), ("order", task.order_id), ("cart", task.cart_id)}
            if keys & touched:
                alone.append(item)
                continue
            touched |= keys
        try:
            if stored:
                results[item] = (replay(stored, item.scan.request_hash), None)
                continue
            plans.append((item, ScanPlan(item.picker, task, item.scan, now, item.cfg)))
        except DomainError as err:
            results[item] = (None, err)
    finishing = any(plan.reads for _, plan in plans)
    with conn.pipeline():
        sent = [_send(conn, plan) for _, plan in plans]
        if not finishing:
            conn.execute("COMMIT")
    rest: list[tuple[str, tuple]] = []
    for (item, plan), got in zip(plans, sent):
        try:
            if plan.reads:
                rest.append(_finish(plan, got))
            elif not plan.writes.matched(got[0]):   # nothing of it was written
                raise plan.changed_under()
        except DomainError as err:
            results[item] = (None, err)
    if finishing:
        with conn.pipeline():
            for statement in rest:
                conn.execute(*statement)
            conn.execute("COMMIT")
    for item, plan in plans:
        if results.setdefault(item, (plan.response, None))[1] is None:
            plan.announce()
    return results, alone
