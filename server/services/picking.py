"""Picking on the floor: the picker's next task, every scan verified, short picks, totes.

One function per thing a picker does; each runs in one write transaction and returns
the acknowledgement to send, which exists only once that transaction has committed.
Protocol and meanings: docs/handheld-protocol.md. A pick scan is decided once, as a
ScanPlan (its verdict and guarded statements), which run_alone runs here and
services/scan_pg.py runs pipelined or in a group commit on PostgreSQL. Settings come as an
argument (`settings: Config`); a stored pick scan is announced as `scan.recorded`.

Exactly once: every scan/short/tote scan carries the client's scan_id, stored UNIQUE with
the first answer. A replay (same id, same content) gets that answer back unchanged and
changes nothing; a racing duplicate loses on the UNIQUE constraint and is answered the
same way. Refusals of bad input (error acks) are not stored and change nothing.

Lock order (so that two pickers never deadlock): pick_task → tote → allocation →
order_line → sales_order → stock → cart → wave.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from peewee import IntegrityError

from .. import clock, events
from ..config import Config, PickingConfig
from ..domain import lifecycle
from ..domain.barcodes import ParsedScan, parse_scan
from ..domain.errors import Conflict, DomainError, Forbidden
from ..domain.totes import tote_label
from ..domain.verdicts import OK, PickTask, Verdict, decide
from ..store import db as store_db
from ..store.bulk import insert_returning
from ..store.db import execute, is_postgres
from ..store.guarded import Guarded
from . import audit, once
from .exceptions import open_exception
from .reservation import OPEN_BIN, lock_stock, stock_levels_changed

MAX_RAW = 512
MAX_TOTE = 64


@dataclass(frozen=True)
class Picker:
    """Who is scanning, from the socket's login token."""
    user_id: int
    badge: str
    role: str
    device: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.badge}" + (f"@{self.device}" if self.device else "")


class AckError(DomainError):
    """Bad input from a handheld: an `ok: false` ack with a code; nothing changed."""
    code, status = "bad_request", 400


def handheld_settings(settings: Config) -> dict:
    """What the handheld must know of the picking settings (the whoami ack)."""
    cfg = settings.picking
    return {"require_location_scan": cfg.require_location_scan,
            "require_tote_scan": cfg.require_tote_scan, "confirm_tote": cfg.confirm_tote}


def _lock() -> str:
    return " FOR UPDATE OF t" if is_postgres() else ""


# ---- input checks -----------------------------------------------------------------------

def _scan_id(msg: dict) -> str:
    return once.check_scan_id(msg.get("scan_id"), AckError)


def _text(msg: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = msg.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or "\x00" in value:
        raise AckError(f"{name} must be text of 1 to {limit} characters", field=name)
    return value


def _int(msg: dict, name: str, required: bool) -> int | None:
    value = msg.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 63:
        raise AckError(f"{name} must be a whole number of 0 or more", field=name)
    return value


def _when(msg: dict) -> dt.datetime | None:
    value = msg.get("scanned_at")
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AckError("scanned_at must be an ISO-8601 time", field="scanned_at") from None
    if not 1900 <= at.year <= 9000:
        raise AckError("scanned_at is out of range", field="scanned_at")
    return clock.naive_utc(at) if at.tzinfo else at


def _only(msg: object, allowed: set[str]) -> dict:
    if not isinstance(msg, dict):
        raise AckError("the event's data must be a JSON object")
    extra = sorted(set(msg) - allowed)
    if extra:
        raise AckError(f"unknown field {extra[0]!r}", field=extra[0])
    return msg


_hash = once.request_hash


# ---- stored answers (services/once.py, on the `scan` table) ---------------------------------

def _stored(scan_id: str) -> tuple[str, str] | None:
    return once.stored("scan", scan_id)


def replay(stored: tuple[str, str], request_hash: str) -> dict:
    return once.replay(stored, request_hash, AckError)


def exactly_once(scan_id: str, request_hash: str, work) -> dict:
    """Run `work()`, which answers a known scan_id from its stored row (checked inside
    the transaction, after the task's row lock) or stores the new one; a racing
    duplicate that loses on the UNIQUE constraint gets the winner's answer."""
    return once.once("scan", scan_id, request_hash, work, AckError)


_SCAN_COLUMNS = ("scan_id", "kind", "user_id", "device", "task_id", "cart_id", "raw",
                 "symbology", "gtin", "lot", "expiry", "serial", "verdict", "counted",
                 "request_hash", "response", "scanned_at", "received_at")


def _scan_row(scan_id, kind, picker, task, raw, symbology, parsed, verdict, counted,
              request_hash, response, scanned_at, now) -> tuple:
    p = parsed or ParsedScan("unknown", raw)
    return (scan_id, kind, picker.user_id, picker.device[:64], task.id if task else None,
            task.cart_id if task else None, raw, (symbology or "")[:32], p.gtin,
            (p.lot or None) and p.lot[:40], p.expiry.isoformat() if p.expiry else None,
            (p.serial or None) and p.serial[:40], verdict, counted, request_hash,
            json.dumps(response, ensure_ascii=False), scanned_at, clock.naive_utc(now))


SCAN_RECORDED = "scan.recorded"   # after the commit that stored a pick scan's verdict


def scan_recorded(scan_id: str, kind: str, picker: Picker, task: _Task, verdict: str,
                  counted: int) -> None:
    """Announce a stored scan (held until its transaction commits; at once after a COMMIT
    made outside write_tx, as the PostgreSQL path does). Consoles and metrics subscribe."""
    events.publish(SCAN_RECORDED, scan_id=scan_id, user_id=picker.user_id, user=picker.badge,
                   device=picker.device, warehouse=task.warehouse, order_id=task.order_id,
                   order_ref=task.order_ref, task_id=task.id, cart_id=task.cart_id,
                   sku=task.sku, location=task.location, verdict=verdict, counted=counted,
                   kind=kind)


def _store_scan(*args) -> None:
    """Store a scan row with its answer (arguments as _scan_row's)."""
    execute(f"INSERT INTO scan ({', '.join(_SCAN_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_SCAN_COLUMNS))})", _scan_row(*args))


# ---- tasks ----------------------------------------------------------------------------------

# One statement loads everything a verdict and its answer need (the replay check and the
# cart's unbound totes included: no round trip of their own).
_TASK = (
    "SELECT t.id, t.wave_id, t.cart_id, tt.id, tt.slot, tt.barcode, o.ref, t.order_id, "
    "o.status, t.location_code, t.sku, p.name, p.image_url, t.product_id, t.quantity, "
    "t.picked, t.short, t.seq, t.status, t.location_confirmed, c.picker_id, "
    "t.order_line_id, t.allocation_id, t.stock_id, "
    "(SELECT MAX(x.seq) FROM pick_task x WHERE x.cart_id = t.cart_id "
    "AND x.status <> 'cancelled'), "
    "(SELECT {agg}(g.gtin, ',') FROM product_gtin g WHERE g.product_id = t.product_id), "
    "(SELECT COUNT(*) FROM tote u WHERE u.cart_id = t.cart_id AND u.barcode IS NULL), "
    "{stop}, {stored}, (SELECT w.code FROM warehouse w WHERE w.id = o.warehouse_id) "
    "FROM pick_task t JOIN tote tt ON tt.id = t.tote_id "
    "JOIN sales_order o ON o.id = t.order_id JOIN product p ON p.id = t.product_id "
    "JOIN cart c ON c.id = t.cart_id ")


# the stored answer of a scan_id, read in the same statement as the task (a replay check
# without its own round trip; a duplicate committed after this statement's snapshot is
# still caught by the UNIQUE constraint, see _once)
_STORED = "(SELECT s.request_hash || '|' || s.response FROM scan s WHERE s.scan_id = ?)"


# the stop: every open task of the cart at the task's bin (one visit per bin), as JSON
_STOP_FROM = ("FROM pick_task x JOIN tote xt ON xt.id = x.tote_id JOIN sales_order xo ON "
              "xo.id = x.order_id JOIN product xp ON xp.id = x.product_id WHERE x.cart_id = "
              "t.cart_id AND x.location_code = t.location_code AND x.status = 'open'")
_STOP_FIELDS = ("'task_id', x.id, 'seq', x.seq, 'tote', xt.slot, 'tote_barcode', xt.barcode, "
                "'order', xo.ref, 'sku', x.sku, 'name', xp.name, 'quantity', x.quantity, "
                "'picked', x.picked, 'remaining', x.quantity - x.picked - x.short, "
                "'confirmed', x.location_confirmed")
_STOP_PG = f"(SELECT json_agg(json_build_object({_STOP_FIELDS}) ORDER BY x.seq) {_STOP_FROM})"
_STOP_SQLITE = f"(SELECT json_group_array(json_object({_STOP_FIELDS})) {_STOP_FROM})"


def _task_sql(with_stored: bool) -> str:
    pg = is_postgres()
    return _TASK.format(agg="string_agg" if pg else "group_concat",
                        stop=_STOP_PG if pg else _STOP_SQLITE,
                        stored=_STORED if with_stored else "NULL")


@dataclass(frozen=True)
class _Task:
    id: int
    wave_id: int
    cart_id: int
    tote_id: int
    slot: int
    tote_barcode: str | None
    order_ref: str
    order_id: int
    order_status: str
    location: str
    sku: str
    name: str
    image_url: str
    product_id: int
    quantity: int
    picked: int
    short: int
    seq: int
    status: str
    location_confirmed: bool
    picker_id: int | None
    line_id: int
    allocation_id: int | None
    stock_id: int
    of: int                      # tasks on the cart (the last route position)
    gtins: frozenset[str]        # of the task's product
    unbound: int                 # totes of the cart without a barcode yet
    stop: tuple[dict, ...] = ()  # the cart's open tasks at this bin, route order (this one too)
    stored: str | None = None    # "request_hash|response" of the scan_id asked about, if any
    warehouse: str | None = None  # the order's warehouse code

    @property
    def remaining(self) -> int:
        return self.quantity - self.picked - self.short


def _task(where: str, params: tuple, lock: bool = False, scan_id: str | None = None
          ) -> _Task | None:
    row = execute(_task_sql(scan_id is not None) + where + (_lock() if lock else ""),
                  ((scan_id,) if scan_id is not None else ()) + tuple(params)).fetchone()
    return _task_of(row)


def _task_of(row: tuple | None) -> _Task | None:
    if row is None:
        return None
    row = list(row)
    row[19] = bool(row[19])
    row[25] = frozenset(row[25].split(",")) if row[25] else frozenset()
    stop = row[27]
    if isinstance(stop, str):          # SQLite: JSON text; PostgreSQL: already parsed
        stop = json.loads(stop)
    row[27] = tuple(sorted(stop or (), key=lambda m: m["seq"]))
    return _Task(*row)


def _current_cart(user_id: int) -> int | None:
    row = execute("SELECT id FROM cart WHERE picker_id = ? AND status = 'picking' "
                  "ORDER BY id LIMIT 1", (user_id,)).fetchone()
    return row[0] if row else None


def _first_open(cart_id: int, lock: bool = False) -> _Task | None:
    return _task("WHERE t.cart_id = ? AND t.status = 'open' ORDER BY t.seq LIMIT 1",
                 (cart_id,), lock)


def _unbound_totes(task: _Task, cfg: PickingConfig) -> int:
    """Totes still to bind before picking (0 unless the config asks for tote scans)."""
    if not cfg.require_tote_scan:
        return 0
    return task.unbound


def _payload(task: _Task | None, cfg: PickingConfig) -> dict | None:
    """The task as the handheld shows it (docs/handheld-protocol.md)."""
    if task is None or task.status != "open":
        return None
    if _unbound_totes(task, cfg):
        needs = "tote"
    elif cfg.require_location_scan and not task.location_confirmed:
        needs = "location"
    else:
        needs = "item"
    return {"task_id": task.id, "wave": task.wave_id, "cart": task.cart_id, "tote": task.slot,
            "tote_barcode": task.tote_barcode, "order": task.order_ref,
            "order_id": task.order_id, "location": task.location, "sku": task.sku,
            "name": task.name, "image_url": task.image_url,
            "gtins": sorted(task.gtins),
            "quantity": task.quantity, "picked": task.picked, "remaining": task.remaining,
            "position": task.seq, "of": task.of, "location_confirmed": task.location_confirmed,
            "needs": needs, "stop": _stop(task)}


def _stop(task: _Task) -> dict:
    """One visit per bin: the cart's open tasks at this task's bin, each with its tote and
    units still to take (this task as it is now: the stop was read before this scan's
    write), e.g. "take 4: tote 1 ×2, tote 3 ×1, tote 5 ×1"."""
    members = []
    for m in task.stop:
        if m["task_id"] == task.id:
            m = {**m, "picked": task.picked, "remaining": task.remaining}
        if m["remaining"] > 0:
            members.append({k: m[k] for k in ("task_id", "tote", "tote_barcode", "order", "sku",
                                              "name", "quantity", "picked", "remaining")})
    if not any(m["task_id"] == task.id for m in members) and task.remaining > 0:
        members.insert(0, {"task_id": task.id, "tote": task.slot,
                           "tote_barcode": task.tote_barcode, "order": task.order_ref,
                           "sku": task.sku, "name": task.name, "quantity": task.quantity,
                           "picked": task.picked, "remaining": task.remaining})
    return {"location": task.location, "units": sum(m["remaining"] for m in members),
            "tasks": members}


def _stop_confirmed(task: _Task) -> bool:
    """Every open task of the stop has its bin confirmed (so a bin scan writes nothing)."""
    return task.location_confirmed and all(m["confirmed"] for m in task.stop)


def _cart_summary(cart_id: int) -> dict:
    row = execute("SELECT wave_id FROM cart WHERE id = ?", (cart_id,)).fetchone()
    totes = execute("SELECT t.slot, o.ref, t.barcode FROM tote t JOIN sales_order o ON "
                    "o.id = t.order_id WHERE t.cart_id = ? ORDER BY t.slot",
                    (cart_id,)).fetchall()
    left = execute("SELECT COUNT(*) FROM pick_task WHERE cart_id = ? AND status = 'open'",
                   (cart_id,)).fetchone()[0]
    return {"id": cart_id, "wave": row[0],
            "totes": [{"slot": s, "order": ref, "barcode": b} for s, ref, b in totes],
            "tasks_left": left}


def _claim_cart(picker: Picker, warehouse: str | None, now: dt.datetime) -> int | None:
    """Give the picker the oldest unclaimed cart of a released (or running) wave."""
    q = ("SELECT c.id, c.wave_id FROM cart c JOIN wave w ON w.id = c.wave_id "
         "JOIN warehouse h ON h.id = w.warehouse_id WHERE c.status = 'open' "
         "AND c.picker_id IS NULL AND w.status IN ('released', 'picking')")
    params: tuple = ()
    if warehouse:
        q += " AND h.code = ?"
        params = (warehouse,)
    q += " ORDER BY w.id, c.seq LIMIT 1"
    if is_postgres():
        q += " FOR UPDATE OF c SKIP LOCKED"
    row = execute(q, params).fetchone()
    if row is None:
        return None
    cart_id, wave_id = row
    naive = clock.naive_utc(now)
    claimed = execute("UPDATE cart SET picker_id = ?, status = 'picking', claimed_at = ? "
                      "WHERE id = ? AND picker_id IS NULL", (picker.user_id, naive, cart_id))
    if claimed.rowcount != 1:
        return None
    execute("UPDATE wave SET status = 'picking' WHERE id = ? AND status = 'released'",
            (wave_id,))
    audit.write([audit.row(now, picker.actor, "cart.claim", "cart", cart_id, "open", "picking",
                           {"wave": wave_id})])
    return cart_id


def next_task(picker: Picker, msg: object = None, *, settings: Config) -> dict:
    """The picker's current task; claims a cart when the picker has none."""
    msg = _only(msg or {}, {"warehouse"})
    warehouse = _text(msg, "warehouse", 32, required=False)
    now = clock.now()
    with store_db.write_tx():
        cart_id = _current_cart(picker.user_id)
        task = _first_open(cart_id) if cart_id is not None else None
        if cart_id is not None and task is None:
            # its last tasks were cancelled (orders cancelled): close it, take another
            row = execute("SELECT wave_id FROM cart WHERE id = ?", (cart_id,)).fetchone()
            trail: list[tuple] = []
            _close_cart_if_done(cart_id, row[0], picker, now, trail)
            audit.write(trail)
            cart_id = None
        if cart_id is None:
            cart_id = _claim_cart(picker, warehouse, now)
            task = _first_open(cart_id) if cart_id is not None else None
        if cart_id is None:
            return {"ok": True, "task": None, "cart": None}
        return {"ok": True, "task": _payload(task, settings.picking),
                "cart": _cart_summary(cart_id)}


# the picker's current stop: the bin of their first open task (one statement the
# database runs once, not per candidate row); a product scan goes to the stop's first task
# that takes that product, else to the first task as without a stop
_STOP_WHERE = ("AND t.location_code = (SELECT y.location_code FROM pick_task y JOIN cart yc "
               "ON yc.id = y.cart_id WHERE yc.picker_id = ? AND yc.status = 'picking' AND "
               "y.status = 'open' ORDER BY yc.id, y.seq LIMIT 1) ")
_STOP_MATCH = ("CASE WHEN EXISTS (SELECT 1 FROM product_gtin g WHERE g.product_id = "
               "t.product_id AND g.gtin = ?) THEN 0 ELSE 1 END, ")


def _target_where(picker: Picker, task_ref: int | None, gtin: str | None = None
                  ) -> tuple[str, tuple]:
    """Which task a message is for: the named one, else the picker's current one (for a
    product scan: the task of the current stop that takes that product, if any)."""
    if task_ref is not None:
        return "WHERE t.id = ?", (task_ref,)
    where = "WHERE c.picker_id = ? AND c.status = 'picking' AND t.status = 'open' "
    if gtin:
        return (where + _STOP_WHERE + "ORDER BY c.id, " + _STOP_MATCH + "t.seq LIMIT 1",
                (picker.user_id, picker.user_id, gtin))
    return where + "ORDER BY c.id, t.seq LIMIT 1", (picker.user_id,)


def _target(picker: Picker, task_ref: int | None, scan_id: str, gtin: str | None = None
            ) -> tuple[_Task | None, tuple[str, str] | None]:
    """The task a scan is for, locked, and the stored answer of `scan_id` if it is a
    replay."""
    where, params = _target_where(picker, task_ref, gtin)
    return _with_stored(_task(where, params, lock=True, scan_id=scan_id), scan_id)


def target_select(picker: Picker, task_ref: int | None, scan: ScanIn) -> tuple[str, tuple]:
    """The locking SELECT of the task a pick scan is for, with the stored answer of its
    scan_id ('?' placeholders; its row goes to locate)."""
    where, params = _target_where(picker, task_ref, scan.parsed.gtin)
    return _task_sql(True) + where + _lock(), (scan.scan_id, *params)


def locate(row: tuple | None, scan_id: str) -> tuple[_Task | None, tuple[str, str] | None]:
    """The task of target_select's row, and the stored answer if the scan is a replay."""
    return _with_stored(_task_of(row), scan_id)


def _with_stored(task: _Task | None, scan_id: str
                 ) -> tuple[_Task | None, tuple[str, str] | None]:
    if task is None:
        return None, _stored(scan_id)
    stored = task.stored
    return task, ((stored[:64], stored[65:]) if stored else None)


def _on_task(picker: Picker, task_ref: int | None, scan_id: str, request_hash: str,
             act: Callable[[_Task | None, dt.datetime], dict], cfg: PickingConfig,
             gtin: str | None = None) -> dict:
    """One write transaction for a message about a task (scan, short): lock the task, answer
    a replay from its stored row, else `act` (which checks the task is the picker's and
    open, and stores the scan row with its answer)."""
    def work() -> dict:
        now = clock.now()
        with store_db.write_tx():
            task, stored = _target(picker, task_ref, scan_id, gtin)
            if stored:
                return replay(stored, request_hash)
            return act(task, now)

    return exactly_once(scan_id, request_hash, work)


def _check_task(picker: Picker, task: _Task | None, cfg: PickingConfig) -> _Task:
    if task is None:
        raise AckError("no task to scan for: ask for task.next first", code="no_task")
    if task.picker_id != picker.user_id:
        raise Forbidden(f"task {task.id} belongs to another picker's cart",
                        code="not_your_task")
    if task.status != "open":
        raise Conflict(f"task {task.id} is {task.status}", code="task_closed")
    if _unbound_totes(task, cfg):
        raise Conflict("scan the cart's totes first", code="tote_required")
    return task


# ---- scan -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanIn:
    """A pick scan as the handheld sent it, checked (record_scan's input to a plan)."""
    scan_id: str
    raw: str
    symbology: str | None
    parsed: ParsedScan
    scanned_at: dt.datetime | None
    request_hash: str


def record_scan(picker: Picker, msg: object, *, settings: Config,
                committer: GroupCommitter | None = None) -> dict:
    """Verify one scan against the task and count it; the verdict ack. On PostgreSQL (not
    inside a caller's transaction) the scan goes through `committer` (group commit) or
    services/scan_pg.py alone; else through run_alone. Every path runs the same ScanPlan."""
    msg = _only(msg, {"scan_id", "raw", "symbology", "scanned_at", "task"})
    scan_id = _scan_id(msg)
    raw = _text(msg, "raw", MAX_RAW)
    symbology = _text(msg, "symbology", 32, required=False)
    scanned_at = _when(msg)
    task_ref = _int(msg, "task", required=False)
    request_hash = _hash("scan", {"raw": raw, "symbology": symbology, "task": task_ref},
                         user_id=picker.user_id, device=picker.device)
    scan = ScanIn(scan_id, raw, symbology, parse_scan(raw, symbology), scanned_at,
                  request_hash)
    cfg = settings.picking
    if is_postgres() and store_db.db.transaction_depth() == 0:
        if committer is not None:
            return committer.submit(picker, task_ref, scan, cfg)
        from . import scan_pg     # its module imports this one
        return exactly_once(scan_id, request_hash, lambda: scan_pg.scan_one(picker, task_ref, scan,
                                                                     cfg))
    return _on_task(picker, task_ref, scan_id, request_hash,
                    lambda task, now: run_alone(ScanPlan(picker, task, scan, now, cfg)), cfg,
                    scan.parsed.gtin)


class GroupCommitter(Protocol):
    """services/scan_pg.GroupCommit, as record_scan uses it."""

    def submit(self, picker: Picker, task_ref: int | None, scan: ScanIn,
               cfg: PickingConfig) -> dict: ...


# The statements of an accepted scan, in lock order (pick_task → allocation → order_line →
# sales_order → cart → wave). The guard: the task's own row, still open with room for the
# units (cannot fail under the row lock; refuses rather than over-counts if it does).
_PICK_UPDATE = ("UPDATE pick_task SET picked = picked + ?, location_confirmed = ?, status = ?, "
                "updated_at = ? WHERE id = ? AND status = 'open' AND picked + short + ? <= "
                "quantity")
# a bin scan confirms the bin for every open task of the cart there (the whole stop)
_CONFIRM_UPDATE = ("UPDATE pick_task SET location_confirmed = ?, updated_at = ? WHERE "
                   "cart_id = ? AND location_code = ? AND status = 'open'")
_ALLOCATION_PICKED = "UPDATE allocation SET picked = picked + ? WHERE id = ?"
_LINE_PICKED = "UPDATE order_line SET picked = picked + ? WHERE id = ?"
_ORDER_STATUS = "UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND status = ?"
# what the answer to a task's last unit reads after the writes
_ORDER_UNPICKED = "SELECT 1 FROM order_line WHERE order_id = ? AND picked < quantity"
_NEXT_OPEN = "WHERE t.cart_id = ? AND t.status = 'open' ORDER BY t.seq LIMIT 1"


class ScanPlan:
    """One pick scan of a task, decided: its verdict and the statements that record it, the
    one description every executor runs (run_alone below; services/scan_pg.py pipelined
    and in a group commit).

    - `writes` (store/guarded.py): the guard (the task's UPDATE, for units) and the writes
      it guards: allocation, order line, the order waved → picking (a bin scan: the stop's
      confirmation, unguarded); when the scan leaves its task open, its audit rows and
      scan row too. A refused verdict writes only its scan row.
    - `reads`: after a task's last unit, what the answer reads after those writes: is the
      order picked, the cart's next open task (none: the cart is done).
    - `finish(unpicked, following)`: given those rows, the order picked and, after the
      cart's last task, the cart (and maybe its wave) closed by close_cart_if_done's own
      statements, run at once (once a cart); returns the rest, unguarded: the order's
      status, audit rows and scan row. `response` is the ack from then on.
    """

    def __init__(self, picker: Picker, task: _Task | None, scan: ScanIn, now: dt.datetime,
                 cfg: PickingConfig):
        self.task = task = _check_task(picker, task, cfg)
        self.picker, self.scan, self.now, self.cfg = picker, scan, now, cfg
        self.verdict = verdict = _judge(task, scan.parsed, now, cfg)
        self.trail: list[tuple] = []
        self.writes = writes = Guarded()
        self.response: dict | None = None
        naive = clock.naive_utc(now)
        after = task
        if verdict.code == OK and verdict.count == 0:
            if not _stop_confirmed(task):     # the whole stop: not one row, so no guard
                writes.update(_CONFIRM_UPDATE, (True, naive, task.cart_id, task.location))
            after = replace(task, location_confirmed=verdict.location_confirmed)
        elif verdict.code == OK:
            after = _picked(task, verdict.location_confirmed, verdict.count)
            writes.guard_with(_PICK_UPDATE, (verdict.count, verdict.location_confirmed,
                                             after.status, naive, task.id, verdict.count))
            if task.allocation_id is not None:
                writes.update(_ALLOCATION_PICKED, (verdict.count, task.allocation_id))
            writes.update(_LINE_PICKED, (verdict.count, task.line_id))
            if task.order_status == lifecycle.WAVED:
                writes.update(*self._status_move(lifecycle.WAVED, lifecycle.PICKING))
        self.after = after
        self.reads: list[tuple[str, tuple]] = []
        if after.status == "done":
            self.reads = [(_ORDER_UNPICKED, (task.order_id,)),
                          (_task_sql(False) + _NEXT_OPEN, (task.cart_id,))]
        else:
            self._record(writes, _payload(after, cfg))

    def _status_move(self, old: str, new: str) -> tuple[str, tuple]:
        """The order status UPDATE (its audit row added to the trail)."""
        update, row = _status_change(self.task.order_id, old, new, self.picker.actor, self.now)
        self.trail.append(row)
        return update

    def finish(self, unpicked: tuple | None, following: tuple | None) -> Guarded:
        """After a task's last unit, given the rows of `reads` (see the class)."""
        task = self.task
        status = lifecycle.PICKING if task.order_status == lifecycle.WAVED else task.order_status
        picked = None
        if status == lifecycle.PICKING and unpicked is None:
            picked = self._status_move(status, lifecycle.PICKED)
        next_task = _task_of(following)
        rest = Guarded()
        if next_task is None:        # the cart's last task: close it (and maybe its wave)
            if picked:
                execute(*picked)
            _close_cart_if_done(task.cart_id, task.wave_id, self.picker, self.now, self.trail)
        elif picked:
            rest.update(*picked)
        self._record(rest, _payload(next_task, self.cfg))
        return rest

    def _record(self, writes: Guarded, next_task: dict | None) -> None:
        """The answer, and the audit and scan rows that go with it."""
        s, v = self.scan, self.verdict
        self.response = {"scan_id": s.scan_id,
                         **_response(v, self.task, self.after, next_task, self.cfg)}
        writes.insert("audit", audit.COLUMNS, self.trail)
        writes.insert("scan", _SCAN_COLUMNS, [
            _scan_row(s.scan_id, "pick", self.picker, self.task, s.raw, s.symbology, s.parsed,
                      v.code, v.count, s.request_hash, self.response, s.scanned_at, self.now)])

    def changed_under(self) -> Conflict:
        """The error of a scan whose guard matched nothing (so nothing of it was written)."""
        return Conflict(f"task {self.task.id} changed under this scan", code="task_closed")

    def announce(self) -> None:
        """scan.recorded; call it inside the scan's write transaction, or after its COMMIT."""
        scan_recorded(self.scan.scan_id, "pick", self.picker, self.task, self.verdict.code,
                      self.verdict.count)
        audit.announce(self.trail, self.task.warehouse)   # order/cart/wave moves: no query


def run_alone(plan: ScanPlan) -> dict:
    """A plan run one statement after another inside the caller's write transaction
    (SQLite; PostgreSQL inside a transaction): the guard's row count decides."""
    if not plan.writes.run():
        raise plan.changed_under()
    if plan.reads:
        plan.finish(*(execute(q, p).fetchone() for q, p in plan.reads)).run()
    plan.announce()
    return plan.response


def _response(verdict: Verdict, task: _Task, after: _Task, next_task: dict | None,
              cfg: PickingConfig) -> dict:
    answer = {"ok": verdict.code == OK, "verdict": verdict.code, "expected": verdict.expected,
              "task": task.id, "remaining": after.remaining, "next": next_task}
    if verdict.count:
        answer["put"] = _put(task, after, verdict.count, cfg)
    return answer


def _put(task: _Task, after: _Task, count: int, cfg: PickingConfig) -> dict:
    """Where the unit(s) just counted go: the task's tote; after its last unit the handheld
    asks for the tote to be confirmed (`picking.confirm_tote`) before the next task."""
    done = after.status == "done"
    return {"task_id": task.id, "units": count, "tote": task.slot,
            "tote_barcode": task.tote_barcode, "order": task.order_ref,
            "label": tote_label(task.cart_id, task.slot, task.tote_barcode),
            "task_done": done, "confirm": done and cfg.confirm_tote}


def _judge(task: _Task, parsed: ParsedScan, now: dt.datetime, cfg: PickingConfig) -> Verdict:
    """The verdict on a scan of `task` (a GTIN that is not the task's is looked up)."""
    own = task.gtins
    gtin = parsed.gtin
    known: set[str] = set()
    other: set[str] = set()
    done: set[str] = set()
    if gtin and gtin not in own:
        if execute("SELECT 1 FROM product_gtin WHERE gtin = ?", (gtin,)).fetchone():
            known.add(gtin)
            states = {r[0] for r in execute(
                "SELECT t.status FROM pick_task t JOIN product_gtin g ON g.product_id = "
                "t.product_id WHERE t.cart_id = ? AND t.id <> ? AND g.gtin = ? "
                "AND t.status IN ('open', 'done')", (task.cart_id, task.id, gtin)).fetchall()}
            if "open" in states:
                other.add(gtin)
            elif "done" in states:
                done.add(gtin)
    view = PickTask(task.id, task.location, own, task.sku, task.quantity - task.short,
                    task.picked, task.location_confirmed)
    return decide(view, parsed, known_gtins=known, other_task_gtins=other,
                  done_task_gtins=done, require_location_scan=cfg.require_location_scan,
                  today=now.date())


def _picked(task: _Task, confirmed: bool, count: int) -> _Task:
    """The task after `count` units of an accepted scan."""
    done = task.picked + count + task.short >= task.quantity
    return replace(task, picked=task.picked + count, location_confirmed=confirmed,
                   status="done" if done else "open")


def _status_change(order_id: int, old: str, new: str, actor: str, now: dt.datetime
                   ) -> tuple[tuple[str, tuple], tuple]:
    """An order's status move, checked: its UPDATE (statement, parameters) and audit row."""
    lifecycle.check_move(old, new)
    return ((_ORDER_STATUS, (new, clock.naive_utc(now), order_id, old)),
            audit.row(now, actor, "order.status", "order", order_id, old, new))


def _order_status(order_id: int, old: str, new: str, picker: Picker, now: dt.datetime,
                  trail: list) -> None:
    update, row = _status_change(order_id, old, new, picker.actor, now)
    execute(*update)
    trail.append(row)


def _close_cart_if_done(cart_id: int, wave_id: int, picker: Picker, now: dt.datetime,
                        trail: list) -> None:
    if execute("SELECT 1 FROM pick_task WHERE cart_id = ? AND status = 'open'",
               (cart_id,)).fetchone():
        return
    naive = clock.naive_utc(now)
    execute("UPDATE cart SET status = 'done', done_at = ? WHERE id = ? AND status = 'picking'",
            (naive, cart_id))
    execute("UPDATE tote SET active_barcode = NULL WHERE cart_id = ?", (cart_id,))
    trail.append(audit.row(now, picker.actor, "cart.done", "cart", cart_id, "picking", "done"))
    if not execute("SELECT 1 FROM cart WHERE wave_id = ? AND status IN ('open', 'picking')",
                   (wave_id,)).fetchone():
        execute("UPDATE wave SET status = 'done', done_at = ? WHERE id = ? "
                "AND status IN ('released', 'picking')", (naive, wave_id))
        trail.append(audit.row(now, picker.actor, "wave.done", "wave", wave_id, "picking",
                               "done"))


# ---- short pick ---------------------------------------------------------------------------

def short_pick(picker: Picker, msg: object, *, settings: Config) -> dict:
    """The bin does not hold the rest of the task (a pick denial): the missing units leave
    the reservation (re-reserved elsewhere in the warehouse, a new task on the same cart
    and tote, or backordered) and the bin is blocked for new reservations and sent for a
    cycle count. Nothing is written off: a picker who cannot find a unit has not counted
    the bin; the count (services/counts.py) sets its on-hand."""
    msg = _only(msg, {"scan_id", "task", "found", "reason", "scanned_at"})
    scan_id = _scan_id(msg)
    task_ref = _int(msg, "task", required=True)
    found = _int(msg, "found", required=True)
    reason = _text(msg, "reason", 200, required=False) or ""
    scanned_at = _when(msg)
    request_hash = _hash("short", {"task": task_ref, "found": found, "reason": reason},
                         user_id=picker.user_id, device=picker.device)

    cfg = settings.picking

    def act(task: _Task | None, now: dt.datetime) -> dict:
        task = _check_task(picker, task, cfg)
        if found != task.picked:
            raise AckError(f"found ({found}) must equal the units already scanned on "
                           f"this task ({task.picked}): scan each unit found first",
                           code="bad_found", field="found")
        response = {"scan_id": scan_id, **_short(picker, task, reason, now, cfg)}
        _store_scan(scan_id, "short", picker, task, f"short:{found}", None, None, "short", 0,
                    request_hash, response, scanned_at, now)
        return response

    return _on_task(picker, task_ref, scan_id, request_hash, act, cfg)


def _short(picker: Picker, task: _Task, reason: str, now: dt.datetime, cfg: PickingConfig
           ) -> dict:
    from .counts import request_count     # counts imports this module
    missing = task.remaining
    trail: list[tuple] = []
    # the product's stock rows first (as a count and a reservation lock them), then the
    # task's reservation: the same lock order everywhere stock moves between bins
    lock_stock([task.product_id])
    execute("UPDATE pick_task SET short = short + ?, status = 'short', updated_at = ? "
            "WHERE id = ? AND status = 'open'", (missing, clock.naive_utc(now), task.id))
    unreserve(task, missing, now)
    wh_id, loc_id = execute("SELECT s.warehouse_id, s.location_id FROM stock s WHERE s.id = ?",
                            (task.stock_id,)).fetchone()
    count_id = request_count(wh_id, loc_id, "pick_short", picker.actor, now,
                             pick_task_id=task.id)
    trail.append(audit.row(now, picker.actor, "stock.pick_denial", "stock", task.stock_id,
                           "", "", {"task": task.id, "sku": task.sku, "location": task.location,
                                    "missing": missing, "written_off": 0, "count": count_id,
                                    "reason": reason}))
    open_exception("stock_discrepancy",
                   f"{task.sku} at {task.location}: {missing} unit(s) not found; the bin is "
                   f"blocked until count {count_id} is done",
                   order_id=task.order_id, now=now, actor=picker.actor, count_task_id=count_id,
                   subject=("bin", loc_id, task.location),
                   detail={"task": task.id, "location": task.location, "sku": task.sku,
                           "missing": missing, "reason": reason, "count": count_id})
    audit.write(trail)
    new_tasks, backordered = reassign_units(task, missing, picker.actor, now)
    return {"ok": True, "task": task.id, "short": missing,
            "reallocated": [{"task_id": tid, "location": loc, "quantity": n}
                            for tid, loc, n in new_tasks],
            "backordered": backordered, "remaining": 0, "count": count_id,
            "notice": short_notice(task.location, new_tasks, backordered),
            "next": _payload(_first_open(task.cart_id), cfg)}


def short_notice(location: str, new_tasks: list[tuple[int, str, int]], backordered: int
                 ) -> dict:
    """What the handheld says after a short, as a code and its parameters (the page words
    it in the picker's language): `short.reserved`, `short.backordered` or `short.split`."""
    moved: dict[str, int] = {}
    for _, loc, n in new_tasks:
        moved[loc] = moved.get(loc, 0) + n
    reserved = sum(moved.values())
    code = ("short.split" if reserved and backordered else
            "short.reserved" if reserved else "short.backordered")
    return {"code": code, "params": {
        "reserved": reserved, "at": ", ".join(moved), "backordered": backordered,
        "location": location, "moves": [{"location": k, "quantity": v} for k, v in moved.items()]}}


def unreserve(task: _Task, units: int, now: dt.datetime) -> None:
    """`units` of the task's reservation leave its bin: the allocation, the order line's
    reserved and the bin's reserved go down (on-hand stays: nothing is written off)."""
    if task.allocation_id is not None:
        left = execute("SELECT quantity FROM allocation WHERE id = ?",
                       (task.allocation_id,)).fetchone()[0] - units
        if left > 0:
            execute("UPDATE allocation SET quantity = ? WHERE id = ?", (left, task.allocation_id))
        else:
            execute("UPDATE pick_task SET allocation_id = NULL WHERE allocation_id = ?",
                    (task.allocation_id,))
            execute("DELETE FROM allocation WHERE id = ?", (task.allocation_id,))
    execute("UPDATE order_line SET reserved = reserved - ? WHERE id = ?", (units, task.line_id))
    changed = execute("UPDATE stock SET reserved = reserved - ?, updated_at = ? "
                      "WHERE id = ? AND reserved >= ?",
                      (units, clock.naive_utc(now), task.stock_id, units)).rowcount
    if changed != 1:
        raise Conflict("the bin's stock record disagrees with its reservation; nothing written",
                       code="stock_mismatch")


class _Who:
    """Who acts, for the audit rows of a change made outside a picker's scan (a count)."""

    def __init__(self, actor: str):
        self.actor = actor


def reassign_units(task: _Task, missing: int, actor: str, now: dt.datetime
                   ) -> tuple[list[tuple[int, str, int]], int]:
    """Units of `task` its bin cannot give (already unreserved there): re-reserve them for
    the same order line from other open bins of the warehouse (new tasks on the same cart
    and tote) or backorder them (a short_pick exception; the order becomes backordered).
    Inside the write transaction, the product's stock rows locked. Returns the new tasks
    (id, location, units) and the units backordered."""
    who = _Who(actor)
    trail: list[tuple] = []
    moved = _reallocate(task, missing, now)
    new_tasks = _new_tasks(task, moved, now)
    got = sum(n for _, _, n in moved)
    backordered = missing - got
    if backordered:
        execute("UPDATE order_line SET backordered = backordered + ? WHERE id = ?",
                (backordered, task.line_id))
        open_exception("short_pick", f"{task.sku}: {backordered} unit(s) short for order "
                       f"{task.order_ref}; backordered", order_id=task.order_id, now=now,
                       actor=actor,
                       detail={"task": task.id, "sku": task.sku, "backordered": backordered})
        status = execute("SELECT status FROM sales_order WHERE id = ?",
                         (task.order_id,)).fetchone()[0]
        if status == lifecycle.WAVED:
            _order_status(task.order_id, status, lifecycle.PICKING, who, now, trail)
            status = lifecycle.PICKING
        if status == lifecycle.PICKING:
            _order_status(task.order_id, status, lifecycle.BACKORDERED, who, now, trail)
    _close_cart_if_done(task.cart_id, task.wave_id, who, now, trail)
    audit.write(trail)
    stock_levels_changed([task.stock_id] + [sid for _, sid, _ in moved])
    return new_tasks, backordered


def _reallocate(task: _Task, missing: int, now: dt.datetime) -> list[tuple[str, int, int]]:
    """Reserve up to `missing` units of the task's product from other open (not blocked)
    bins of the same warehouse (pick sequence order); returns (location, stock id, units)."""
    wh = execute("SELECT warehouse_id FROM sales_order WHERE id = ?",
                 (task.order_id,)).fetchone()[0]
    rows = [r for r in lock_stock([task.product_id])
            if r.warehouse_id == wh and r.stock_id != task.stock_id and r.available > 0
            and not r.blocked]
    rows.sort(key=lambda r: (r.pick_seq, r.stock_id))
    moved, need = [], missing
    naive = clock.naive_utc(now)
    for r in rows:
        if need == 0:
            break
        n = min(need, r.available)
        changed = execute("UPDATE stock SET reserved = reserved + ?, updated_at = ? "
                          "WHERE id = ? AND on_hand - reserved >= ? AND " + OPEN_BIN,
                          (n, naive, r.stock_id, n)).rowcount
        if changed != 1:
            continue
        moved.append((r.location, r.stock_id, n))
        need -= n
    if moved:
        execute("UPDATE order_line SET reserved = reserved + ? WHERE id = ?",
                (missing - need, task.line_id))
    return moved


def _new_tasks(task: _Task, moved: list[tuple[str, int, int]], now: dt.datetime
               ) -> list[tuple[int, str, int]]:
    """Allocation rows and pick tasks (same cart and tote, at the end of the route) for
    units re-reserved after a short pick."""
    out = []
    naive = clock.naive_utc(now)
    seq = execute("SELECT MAX(seq) FROM pick_task WHERE cart_id = ?",
                  (task.cart_id,)).fetchone()[0]
    for location, stock_id, n in moved:
        existing = execute("SELECT id FROM allocation WHERE order_line_id = ? AND stock_id = ?",
                           (task.line_id, stock_id)).fetchone()
        if existing:
            execute("UPDATE allocation SET quantity = quantity + ? WHERE id = ?",
                    (n, existing[0]))
            alloc_id = existing[0]
        else:
            alloc_id = insert_returning("allocation", ("order_line_id", "stock_id", "quantity"),
                                        [(task.line_id, stock_id, n)], ("id",))[0][0]
        seq += 1
        tid = insert_returning(
            "pick_task", ("wave_id", "cart_id", "tote_id", "order_id", "order_line_id",
                          "allocation_id", "stock_id", "location_code", "product_id", "sku",
                          "seq", "quantity", "updated_at"),
            [(task.wave_id, task.cart_id, task.tote_id, task.order_id, task.line_id, alloc_id,
              stock_id, location, task.product_id, task.sku, seq, n, naive)], ("id",))[0][0]
        out.append((tid, location, n))
    return out


# ---- totes ----------------------------------------------------------------------------------

def tote_scan(picker: Picker, msg: object, *, settings: Config) -> dict:
    """Bind a tote barcode to the next unbound slot of the picker's cart."""
    msg = _only(msg, {"scan_id", "raw", "scanned_at"})
    scan_id = _scan_id(msg)
    raw = _text(msg, "raw", MAX_TOTE).strip()
    scanned_at = _when(msg)
    request_hash = _hash("tote", {"raw": raw}, user_id=picker.user_id, device=picker.device)
    if parse_scan(raw).kind != "unknown":
        raise AckError(f"{raw!r} is a location or product barcode, not a tote",
                       code="bad_tote_barcode", field="raw")

    def work() -> dict:
        now = clock.now()
        with store_db.write_tx():
            cart_id = _current_cart(picker.user_id)
            stored = _stored(scan_id)
            if stored:
                return replay(stored, request_hash)
            if cart_id is None:
                raise AckError("no cart: ask for task.next first", code="no_task")
            if execute("SELECT 1 FROM tote WHERE active_barcode = ?", (raw,)).fetchone():
                raise Conflict(f"tote {raw} is already on an open cart", code="tote_in_use",
                               field="raw")
            free = execute("SELECT t.id, t.slot, o.ref FROM tote t JOIN sales_order o ON "
                           "o.id = t.order_id WHERE t.cart_id = ? AND t.barcode IS NULL "
                           "ORDER BY t.slot LIMIT 1", (cart_id,)).fetchone()
            if free is None:
                raise Conflict("every tote of this cart is bound already", code="no_free_tote")
            tote_id, slot, ref = free
            execute("UPDATE tote SET barcode = ?, active_barcode = ?, bound_at = ? WHERE id = ?",
                    (raw, raw, clock.naive_utc(now), tote_id))
            audit.write([audit.row(now, picker.actor, "tote.bind", "tote", tote_id, "", raw,
                                   {"cart": cart_id, "slot": slot})])
            task = _first_open(cart_id)
            response = {"scan_id": scan_id, "ok": True,
                        "tote": {"slot": slot, "barcode": raw, "order": ref},
                        "next": _payload(task, settings.picking)}
            _store_scan(scan_id, "tote", picker, task, raw, None, None, "ok", 0, request_hash,
                        response, scanned_at, now)
            return response

    try:
        return exactly_once(scan_id, request_hash, work)
    except IntegrityError:   # the same barcode bound by a racing request
        raise Conflict(f"tote {raw} is already on an open cart", code="tote_in_use",
                       field="raw") from None
