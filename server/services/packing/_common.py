"""What every packing use case shares: the packer, the session and its order lines as the
use cases read them, the guards every action passes, and the row-lock clause.

Internal to the package (callers use `server.services.packing`); the names carry no
underscore because the sibling modules import them.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass

from ... import clock
from ...domain import lifecycle, packcheck
from ...domain.errors import Conflict, Forbidden, NotFound
from ...store.bulk import select_in
from ...store.db import execute, is_postgres

LIVE = ("open", "held")
SHIPPED_STATES = (lifecycle.PACKED, lifecycle.SHIPPED, lifecycle.DELIVERED, lifecycle.CLOSED)


@dataclass(frozen=True)
class Packer:
    user_id: int
    badge: str
    role: str

    @property
    def actor(self) -> str:
        return f"user:{self.badge}"

    @property
    def supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


def packer_from(principal) -> Packer:
    """The packer a staff login is; an API token cannot pack (403 badge_required)."""
    if principal.user_id is None:
        raise Forbidden("packing needs a staff login (badge), not an API token",
                        code="badge_required")
    return Packer(principal.user_id, principal.badge, principal.role)


def naive(now: dt.datetime) -> dt.datetime:
    return clock.naive_utc(now)


def row_lock(alias: str = "") -> str:
    """` FOR UPDATE [OF alias]` on PostgreSQL; SQLite's write transaction already locks."""
    if not is_postgres():
        return ""
    return f" FOR UPDATE OF {alias}" if alias else " FOR UPDATE"


# ---- the session and its lines ------------------------------------------------------------

_SESSION = (
    "SELECT s.id, s.station, s.order_id, s.packer_id, s.state, s.carton, s.weight_g, "
    "s.hold_reason, o.ref, o.status, c.name, o.ship_name, o.ship_country, o.carrier, "
    "o.invoice_requested, w.code, o.ship_email, o.note, o.external_id, o.channel_id, "
    "o.carrier_service, s.hold_code, s.hold_params "
    "FROM pack_session s JOIN sales_order o ON o.id = s.order_id "
    "JOIN channel c ON c.id = o.channel_id LEFT JOIN warehouse w ON w.id = o.warehouse_id "
    "WHERE s.id = ?")


@dataclass
class SessionRow:
    """A pack session with the order facts the use cases read."""
    id: int
    station: str
    order_id: int
    packer_id: int
    state: str
    carton: str | None
    weight_g: int | None
    hold_reason: str
    ref: str
    order_status: str
    channel: str
    ship_name: str
    ship_country: str
    carrier: str
    invoice_requested: bool
    warehouse: str | None
    ship_email: str
    note: str
    external_id: str
    channel_id: int
    carrier_service: str
    hold_code: str = ""
    hold_params: str = ""


@dataclass
class OrderLine:
    """One order line with its product's catalogue facts and the units verified so far."""
    id: int
    line_no: int
    sku: str
    name: str
    quantity: int
    product_id: int | None
    image_url: str
    flags: tuple[str, ...]
    weight_g: int
    dims: tuple[int, int, int]
    gtins: frozenset[str]
    verified: int = 0


def load_session(session_id: int, *, lock: bool) -> SessionRow:
    row = execute(_SESSION + (row_lock("s") if lock else ""), (session_id,)).fetchone()
    if row is None:
        raise NotFound(f"no pack session {session_id}", code="not_found", field="session")
    return SessionRow(*row[:14], bool(row[14]), *row[15:])


def order_lines(s: SessionRow) -> list[OrderLine]:
    rows = execute(
        "SELECT ol.id, ol.line_no, ol.sku, COALESCE(p.name, ol.name), ol.quantity, "
        "ol.product_id, COALESCE(p.image_url, ''), COALESCE(p.flags, ''), "
        "COALESCE(p.weight_g, 0), COALESCE(p.length_mm, 0), COALESCE(p.width_mm, 0), "
        "COALESCE(p.height_mm, 0) FROM order_line ol LEFT JOIN product p ON p.id = ol.product_id "
        "WHERE ol.order_id = ? AND ol.quantity > 0 ORDER BY ol.line_no, ol.id",
        (s.order_id,)).fetchall()
    products = sorted({r[5] for r in rows if r[5] is not None})
    gtins: dict[int, set[str]] = defaultdict(set)
    if products:
        for pid, gtin in select_in("SELECT product_id, gtin FROM product_gtin "
                                   "WHERE product_id IN ({in})", products):
            gtins[pid].add(gtin)
    counts = dict(execute("SELECT order_line_id, COUNT(*) FROM pack_unit WHERE session_id = ? "
                          "AND qc_state <> 'failed' GROUP BY order_line_id", (s.id,)).fetchall())
    return [OrderLine(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                      tuple(f.strip() for f in r[7].replace("|", ",").split(",") if f.strip()),
                      r[8], (r[9], r[10], r[11]), frozenset(gtins.get(r[5], ())),
                      counts.get(r[0], 0)) for r in rows]


def pending_checks(session_id: int) -> list[tuple[int, int, list[str]]]:
    """(unit, order line, checks) of the units whose quality checks wait for an answer."""
    return [(r[0], r[1], json.loads(r[2] or "{}").get("checks", [])) for r in execute(
        "SELECT id, order_line_id, qc_detail FROM pack_unit WHERE session_id = ? "
        "AND qc_state = 'pending' ORDER BY id", (session_id,)).fetchall()]


def pack_lines(lines: list[OrderLine]) -> list[packcheck.PackLine]:
    return [packcheck.PackLine(ln.id, ln.sku, ln.gtins, ln.quantity, ln.verified,
                               packcheck.checks_for(ln.flags)) for ln in lines]


def wrong_scans(session_id: int) -> int:
    """Wrong items scanned since the session was last held (a release starts afresh)."""
    return execute("SELECT COUNT(*) FROM pack_scan sc JOIN pack_session s ON s.id = sc.session_id "
                   "WHERE sc.session_id = ? AND sc.verdict IN (?, ?) AND (s.held_at IS NULL OR "
                   "sc.received_at > s.held_at)",
                   (session_id, *sorted(packcheck.WRONG))).fetchone()[0]


# ---- guards ---------------------------------------------------------------------------------

def check_mine(packer: Packer, s: SessionRow) -> None:
    if s.packer_id != packer.user_id and not packer.supervisor:
        raise Forbidden(f"pack session {s.id} belongs to another packer", code="not_your_session")


def check_live(s: SessionRow) -> None:
    if s.state not in LIVE:
        raise Conflict(f"pack session {s.id} is {s.state}", code=f"session_{s.state}",
                       field="session")
