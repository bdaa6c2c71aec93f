"""Packing at the bench: a packer opens an order at a station, every item is verified by
the server, quality checks and holds, carton and weight, then one confirm that commits the
shipment, takes the stock out and queues the label. Protocol: docs/pack-api.md.

Each action is one write transaction that locks the session row first; its answer exists
only once that transaction has committed. Item scans are exactly-once like the handheld's:
`pack_scan.scan_id` is UNIQUE and keeps the first answer; a replay gets it unchanged, the
same id with other content is refused, a racing duplicate loses on the constraint.

Lock order: pack_session → sales_order → shipment → print_job → allocation/stock (the
stock rows, shared by every station, last and so held the shortest time).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, replace

from flask import current_app
from printers.labels import (LabelFont, ReturnsSlip, ShippingLabel, build_returns_slip,
                             build_shipping_label)

from .. import clock
from ..config_packing import Carrier, Station
from ..domain.carriers import CarrierService
from ..domain import lifecycle, packcheck
from ..domain.barcodes import parse_scan
from ..domain.cartons import (KNOWN_FLAGS, NoCartonFits, PackItem, check_weight,
                              pack_into, packing_instructions, plan_parcels, weight_tolerance)
from ..domain.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from ..domain.totes import parse_label
from ..domain.tracking import TrackingRangeExhausted, next_tracking
from ..store.bulk import select_in
from ..store.db import execute, is_postgres, write_tx
from . import audit, carrier_labels, once, outbox, pack_documents, print_queue, printer_state
from .exceptions import open_exception, resolve_for_order

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


def _cfg():
    return current_app.config["WAVEPACK"]


def _now() -> dt.datetime:
    return clock.now()


def _naive(now: dt.datetime) -> dt.datetime:
    return clock.naive_utc(now)


def _lock(alias: str = "") -> str:
    if not is_postgres():
        return ""
    return f" FOR UPDATE OF {alias}" if alias else " FOR UPDATE"


# ---- stations -------------------------------------------------------------------------

def station(name: str) -> Station:
    found = _cfg().setup.stations.get(name) if isinstance(name, str) else None
    if found is None:
        raise NotFound(f"no packing station {name!r} (stations: in config.yaml)",
                       code="unknown_station", field="station")
    return found


def _printer_view(st: Station) -> dict:
    state = printer_state.get(st.printer)
    url = _cfg().printers[st.printer]
    if state is None:
        return {"name": st.printer, "url": url, "state": "unknown", "detail": {},
                "checked_at": None}
    return {**state, "name": st.printer}


def stations() -> list[dict]:
    return [{"station": st.name, "warehouse": st.warehouse, "printer": _printer_view(st),
             "document_printer": st.document_printer or None}
            for st in _cfg().setup.stations.values()]


def station_view(name: str) -> dict:
    st = station(name)
    row = execute("SELECT id FROM pack_session WHERE station = ? AND state IN ('open', 'held') "
                  "ORDER BY id DESC LIMIT 1", (st.name,)).fetchone()
    last = execute("SELECT id FROM pack_session WHERE station = ? AND state = 'confirmed' "
                   "ORDER BY closed_at DESC, id DESC LIMIT 1", (st.name,)).fetchone()
    return {"station": st.name, "warehouse": st.warehouse, "printer": _printer_view(st),
            "document_printer": st.document_printer or None,
            "session": session_view(row[0]) if row else None,
            "last_confirmed": session_view(last[0]) if last else None,
            "jobs": print_queue.jobs_for_station(st.name, limit=10)}


# ---- reading a session ------------------------------------------------------------------

_SESSION = (
    "SELECT s.id, s.station, s.order_id, s.packer_id, s.state, s.carton, s.weight_g, "
    "s.hold_reason, o.ref, o.status, c.name, o.ship_name, o.ship_country, o.carrier, "
    "o.invoice_requested, w.code, o.ship_email, o.note, o.external_id, o.channel_id, "
    "o.carrier_service, s.hold_code, s.hold_params "
    "FROM pack_session s JOIN sales_order o ON o.id = s.order_id "
    "JOIN channel c ON c.id = o.channel_id LEFT JOIN warehouse w ON w.id = o.warehouse_id "
    "WHERE s.id = ?")


@dataclass
class _Session:
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
class _Line:
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


def _load(session_id: int, *, lock: bool) -> _Session:
    row = execute(_SESSION + (_lock("s") if lock else ""), (session_id,)).fetchone()
    if row is None:
        raise NotFound(f"no pack session {session_id}", code="not_found", field="session")
    return _Session(*row[:14], bool(row[14]), *row[15:])


def _lines(s: _Session) -> list[_Line]:
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
    return [_Line(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                  tuple(f.strip() for f in r[7].replace("|", ",").split(",") if f.strip()),
                  r[8], (r[9], r[10], r[11]), frozenset(gtins.get(r[5], ())),
                  counts.get(r[0], 0)) for r in rows]


def _pending(session_id: int) -> list[tuple[int, int, list[str]]]:
    return [(r[0], r[1], json.loads(r[2] or "{}").get("checks", [])) for r in execute(
        "SELECT id, order_line_id, qc_detail FROM pack_unit WHERE session_id = ? "
        "AND qc_state = 'pending' ORDER BY id", (session_id,)).fetchall()]


def _pack_lines(lines: list[_Line]) -> list[packcheck.PackLine]:
    return [packcheck.PackLine(ln.id, ln.sku, ln.gtins, ln.quantity, ln.verified,
                               packcheck.checks_for(ln.flags)) for ln in lines]


def _items(lines: list[_Line]) -> list[PackItem] | str:
    """The lines as PackItems, or why the carton cannot be chosen for them."""
    default_w = _cfg().packing.default_weight_g
    items = []
    for ln in lines:
        if min(ln.dims) <= 0:
            return f"the catalogue has no size for {ln.sku}: choose the carton"
        items.append(PackItem(ln.sku, *ln.dims, weight_g=ln.weight_g or default_w,
                              quantity=ln.quantity,
                              flags=frozenset(f for f in ln.flags if f in KNOWN_FLAGS)))
    return items


def _service_text(s: _Session) -> str | None:
    """The chosen carrier service as the station shows it ('PostNL Standaard pakket')."""
    setup = _cfg().setup
    svc = setup.service(s.carrier_service) if s.carrier_service else None
    if svc is None:
        return None
    carrier = setup.carriers.get(svc.carrier)
    return f"{carrier.label if carrier else svc.carrier} {svc.label}"


def _service_cartons(s: _Session) -> tuple:
    """The carton types, each held to the carrier service's parcel limit when it has one."""
    setup = _cfg().setup
    svc = setup.service(s.carrier_service) if s.carrier_service else None
    limit = svc.max_weight_g if svc else 0
    if not limit:
        return setup.cartons
    return tuple(replace(c, max_weight_g=min(c.max_weight_g, limit)) for c in setup.cartons)


def _carton(s: _Session, lines: list[_Line]) -> dict:
    """The carton(s): the smallest carton that takes the order, or several parcels when
    none does (plan_parcels); a carton the packer chose puts everything in that one."""
    cartons = _service_cartons(s)
    items = _items(lines)
    plan, error = [], None
    # the station pages word the error from its code and parameters (pack i18n.js)
    error_code, error_params = None, {}
    if not cartons:
        error = "no carton types are configured (cartons: in config.yaml)"
        error_code = "no_cartons"
    elif isinstance(items, str):
        error = items
        error_code = "no_size"
        error_params = {"sku": next(ln.sku for ln in lines if min(ln.dims) <= 0)}
    else:
        try:
            plan = plan_parcels(items, cartons)
        except NoCartonFits as err:
            error, error_code = err.message, err.code
    net = _net_weight(lines)
    warning = None
    if s.carton:
        chosen = next(c for c in cartons if c.name == s.carton)
        parcels = [{"parcel": 1, "carton": chosen.name, "tare_g": chosen.tare_g,
                    "gross_g": net + chosen.tare_g,
                    "units": {ln.sku: ln.quantity for ln in lines}}]
        if not isinstance(items, str) and pack_into(items, chosen) is None:
            warning = (f"the packer's plan finds no room for every unit in {chosen.name}: "
                       f"check they fit")
    else:
        parcels = []
        for k, result in enumerate(plan, start=1):
            units: dict[str, int] = {}
            for placed in result.placements:
                units[placed.sku] = units.get(placed.sku, 0) + 1
            parcels.append({"parcel": k, "carton": result.carton.name,
                            "tare_g": result.carton.tare_g, "gross_g": result.gross_weight_g,
                            "units": units})
    suggested = plan[0].carton.name if plan else None
    name = parcels[0]["carton"] if parcels else None
    carton = next((c for c in cartons if c.name == name), None)
    return {"suggested": suggested, "chosen": s.carton, "name": name,
            "options": [c.name for c in cartons],
            "dims_mm": list(carton.dims) if carton else None,
            "tare_g": sum(p["tare_g"] for p in parcels) if parcels else None,
            "fill_ratio": round(plan[0].fill_ratio, 3) if len(plan) == 1 and not s.carton
            else None,
            "parcels": parcels, "error": error, "error_code": error_code,
            "error_params": error_params, "warning": warning}


def _net_weight(lines: list[_Line]) -> int:
    """The items: catalogue weight, else packing.default_weight_g."""
    default_w = _cfg().packing.default_weight_g
    return sum((ln.weight_g or default_w) * ln.quantity for ln in lines)


def _expected_weight(lines: list[_Line], carton: dict) -> int:
    """Items plus every parcel's tare."""
    return _net_weight(lines) + (carton["tare_g"] or 0)


def _weight(s: _Session, lines: list[_Line], carton: dict) -> dict:
    cfg = _cfg().packing
    expected = _expected_weight(lines, carton)
    allowed = weight_tolerance(expected, tolerance_pct=cfg.weight_tolerance_pct,
                               tolerance_g=cfg.weight_tolerance_g)
    ok = None
    if s.weight_g is not None:
        ok = check_weight(expected, s.weight_g, tolerance_pct=cfg.weight_tolerance_pct,
                          tolerance_g=cfg.weight_tolerance_g).ok
    return {"expected_g": expected, "measured_g": s.weight_g, "tolerance_g": int(allowed),
            "ok": ok, "required": cfg.require_weight}


def _inserts(s: _Session) -> list[str]:
    sender = _cfg().setup.senders.get(s.warehouse or "")
    facts = {"always": True, "invoice_requested": s.invoice_requested,
             "international": bool(sender and sender.country and s.ship_country
                                   and sender.country.upper() != s.ship_country.upper()),
             "gift": "gift" in (s.note or "").lower()}
    out = []
    for code, when in _cfg().setup.inserts.items():
        if "first_order" in when and not any(facts.get(w) for w in when):
            facts["first_order"] = _first_order(s)
        if any(facts.get(w) for w in when):
            out.append(code)
    return out


def _first_order(s: _Session) -> bool:
    """No earlier order to the same e-mail address or phone number was packed."""
    email, phone = execute("SELECT ship_email, phone_key FROM sales_order WHERE id = ?",
                           (s.order_id,)).fetchone()
    if not email and not phone:
        return False
    states = ", ".join("?" for _ in SHIPPED_STATES)
    return execute(f"SELECT 1 FROM sales_order WHERE id <> ? AND status IN ({states}) AND "
                   f"((ship_email = ? AND ship_email <> '') OR (phone_key = ? AND "
                   f"phone_key <> '')) LIMIT 1",
                   (s.order_id, *SHIPPED_STATES, email or "", phone or "")).fetchone() is None


def _shipments_of(session_id: int) -> list[dict]:
    """The session's shipments, one per parcel, each with its label job."""
    out = []
    for (shipment_id,) in execute("SELECT id FROM shipment WHERE session_id = ? ORDER BY "
                                  "parcel_no", (session_id,)).fetchall():
        shipment = shipment_view(shipment_id)
        out.append({**shipment, "label": _job_view(shipment["label_job"])})
    return out


def _view(s: _Session, lines: list[_Line] | None = None) -> dict:
    lines = _lines(s) if lines is None else lines
    pending = _pending(s.id)
    by_line = {ln.id: ln for ln in lines}
    carton = _carton(s, lines)
    items = _items(lines)
    instructions = [] if isinstance(items, str) else [
        {"code": i.code, "material": i.material, "text": i.text, "skus": list(i.skus)}
        for i in packing_instructions(items)]
    shipments = _shipments_of(s.id)
    shipment = shipments[0] if shipments else None
    wrong = _wrong_scans(s.id)
    st = _cfg().setup.stations.get(s.station)
    return {
        "id": s.id, "station": s.station, "state": s.state,
        "order": {"id": s.order_id, "ref": s.ref, "status": s.order_status,
                  "channel": s.channel, "ship_name": s.ship_name,
                  "ship_country": s.ship_country, "carrier": s.carrier,
                  "carrier_service": _service_text(s)},
        "lines": [{"line": ln.id, "line_no": ln.line_no, "sku": ln.sku, "name": ln.name,
                   "image_url": ln.image_url, "gtins": sorted(ln.gtins),
                   "quantity": ln.quantity, "verified": ln.verified,
                   "remaining": max(ln.quantity - ln.verified, 0),
                   "checks": list(packcheck.checks_for(ln.flags)),
                   "flags": [f for f in ln.flags if f in KNOWN_FLAGS]} for ln in lines],
        "pending_qc": [{"unit": u, "line": lid, "sku": by_line[lid].sku if lid in by_line else "",
                        "checks": checks} for u, lid, checks in pending],
        "verified": packcheck.all_verified(_pack_lines(lines), len(pending)),
        "wrong_scans": wrong,
        "carton": carton, "instructions": instructions, "inserts": _inserts(s),
        "weight": _weight(s, lines, carton), "hold_reason": s.hold_reason,
        "hold": _hold_view(s),
        "shipment": shipment and {k: v for k, v in shipment.items() if k != "label"},
        "label_job": shipment["label"] if shipment else None,
        "shipments": shipments,
        "printer": _printer_view(st) if st else None,
    }


def _hold_view(s: _Session) -> dict | None:
    """Why the session is held, as a code and parameters (the page words it); null when
    it is not held. A hold from before codes were stored comes as `other` with its text."""
    if s.state != "held":
        return None
    if not s.hold_code:
        return {"code": "other", "params": {"reason": s.hold_reason}}
    return {"code": s.hold_code, "params": json.loads(s.hold_params or "{}")}


def _unit_sku(unit_id: int) -> str:
    row = execute("SELECT ol.sku FROM pack_unit u JOIN order_line ol ON ol.id = "
                  "u.order_line_id WHERE u.id = ?", (unit_id,)).fetchone()
    return row[0] if row else ""


def _job_view(job_id: int | None) -> dict | None:
    if job_id is None:
        return None
    job = print_queue.get_job(job_id)
    return job and {"id": job["id"], "state": job["state"], "last_error": job["last_error"],
                    "last_error_code": job["last_error_code"],
                    "last_error_params": job["last_error_params"],
                    "attempts": job["attempts"]}


def session_view(session_id: int) -> dict:
    return _view(_load(session_id, lock=False))


# ---- opening ----------------------------------------------------------------------------

def _order_for_scan(scan: str) -> int:
    text = scan.strip()
    if text.startswith("#") and text[1:].isdigit():
        row = execute("SELECT id FROM sales_order WHERE id = ?", (int(text[1:]),)).fetchone()
        if row:
            return row[0]
    rows = execute("SELECT id, status FROM sales_order WHERE ref = ? ORDER BY id",
                   (text,)).fetchall()
    if len(rows) > 1:
        rows = [r for r in rows if r[1] == lifecycle.PICKED] or rows
        if len(rows) > 1:
            raise Conflict(f"{len(rows)} orders carry the reference {text!r}: scan the order "
                           f"number (#id) from the packing slip", code="ambiguous_order",
                           field="scan")
    if rows:
        return rows[0][0]
    row = execute("SELECT order_id FROM tote WHERE barcode = ? ORDER BY id DESC LIMIT 1",
                  (text,)).fetchone()
    if row:
        return row[0]
    label = parse_label(text)
    if label is not None:
        return _order_on_cart(label.cart_id, label.slot)
    raise NotFound(f"no order or tote {text!r}", code="not_found", field="scan")


def _order_on_cart(cart_id: int, slot: int | None) -> int:
    """A tote slot label names its order; a cart label the first order of the cart (by
    slot) that is picked and not being packed."""
    if slot is not None:
        row = execute("SELECT order_id FROM tote WHERE cart_id = ? AND slot = ?",
                      (cart_id, slot)).fetchone()
        if row is None:
            raise NotFound(f"cart {cart_id} has no tote {slot}", code="not_found",
                           field="scan")
        return row[0]
    row = execute("SELECT tt.order_id FROM tote tt JOIN sales_order o ON o.id = tt.order_id "
                  "WHERE tt.cart_id = ? AND o.status = ? AND NOT EXISTS (SELECT 1 FROM "
                  "pack_session s WHERE s.order_id = o.id AND s.state IN ('open', 'held')) "
                  "ORDER BY tt.slot LIMIT 1", (cart_id, lifecycle.PICKED)).fetchone()
    if row is None:
        raise NotFound(f"no order of cart {cart_id} is waiting to be packed",
                       code="cart_empty", field="scan", detail={"cart": cart_id})
    return row[0]


def open_session(packer: Packer, station_name: str, scan: str) -> tuple[dict, bool]:
    """Open (or reopen) the packing of the order a tote / pick slip / order number names.
    Returns (session, created)."""
    st = station(station_name)
    now = _now()
    with write_tx():
        order_id = _order_for_scan(scan)
        order = execute("SELECT o.status, o.ref, w.code FROM sales_order o LEFT JOIN warehouse w "
                        "ON w.id = o.warehouse_id WHERE o.id = ?" + _lock("o"),
                        (order_id,)).fetchone()
        status, ref, warehouse = order
        live = execute("SELECT id, station, packer_id FROM pack_session WHERE order_id = ? AND "
                       "state IN ('open', 'held')", (order_id,)).fetchone()
        if live:
            if live[1] == st.name and (live[2] == packer.user_id or packer.supervisor):
                return session_view(live[0]), False
            raise Conflict(f"order {ref} is being packed at station {live[1]}",
                           code="already_packing", field="scan",
                           detail={"station": live[1], "session": live[0]})
        if status != lifecycle.PICKED:
            raise Conflict(f"order {ref} is {status}; only picked orders can be packed",
                           code="not_picked", field="scan", detail={"status": status})
        if warehouse and warehouse != st.warehouse:
            raise Conflict(f"order {ref} ships from warehouse {warehouse}, station {st.name} "
                           f"is in {st.warehouse}", code="wrong_warehouse", field="station")
        busy = execute("SELECT id FROM pack_session WHERE station = ? AND state = 'open'",
                       (st.name,)).fetchone()
        if busy:
            raise Conflict(f"station {st.name} is packing session {busy[0]}: confirm, hold or "
                           f"cancel it first", code="station_busy", field="station",
                           detail={"session": busy[0]})
        naive = _naive(now)
        session_id = execute(
            "INSERT INTO pack_session (station, order_id, packer_id, state, opened_by_scan, "
            "created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?) RETURNING id",
            (st.name, order_id, packer.user_id, scan[:120], naive, naive)).fetchone()[0]
        audit.write([audit.row(now, packer.actor, "pack.open", "pack_session", session_id, "",
                               "open", {"order": order_id, "station": st.name})])
        return session_view(session_id), True


# ---- scans ------------------------------------------------------------------------------

def _mine(packer: Packer, s: _Session) -> None:
    if s.packer_id != packer.user_id and not packer.supervisor:
        raise Forbidden(f"pack session {s.id} belongs to another packer", code="not_your_session")


def _live(s: _Session) -> None:
    if s.state not in LIVE:
        raise Conflict(f"pack session {s.id} is {s.state}", code=f"session_{s.state}",
                       field="session")


def _when(value: object) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("scanned_at must be an ISO-8601 time", field="scanned_at") from None
    return clock.naive_utc(at) if at.tzinfo else at


def scan(packer: Packer, session_id: int, body: dict) -> dict:
    """Verify one scanned item against the order (module docstring of domain.packcheck)."""
    scan_id = once.check_scan_id(body.get("scan_id"), BadRequest)
    raw = body["raw"]
    scanned_at = _when(body.get("scanned_at"))
    request_hash = once.request_hash("pack.scan", {"session": session_id, "raw": raw},
                                     user_id=packer.user_id)
    parsed = parse_scan(raw)

    def work() -> dict:
        now = _now()
        with write_tx():
            s = _load(session_id, lock=True)
            stored = once.stored("pack_scan", scan_id)
            if stored:
                return once.replay(stored, request_hash, Conflict)
            _mine(packer, s)
            _live(s)
            lines = _lines(s)
            pending = _pending(s.id)
            gtin = parsed.gtin
            known, wave = set(), set()
            if gtin and not any(gtin in ln.gtins for ln in lines):
                if execute("SELECT 1 FROM product_gtin WHERE gtin = ?", (gtin,)).fetchone():
                    known.add(gtin)
                if execute("SELECT 1 FROM pick_task t JOIN product_gtin g ON g.product_id = "
                           "t.product_id WHERE g.gtin = ? AND t.order_id <> ? AND t.wave_id IN "
                           "(SELECT wave_id FROM pick_task WHERE order_id = ?) LIMIT 1",
                           (gtin, s.order_id, s.order_id)).fetchone():
                    wave.add(gtin)
            verdict = packcheck.decide(_pack_lines(lines), parsed, known_gtins=known,
                                       wave_gtins=wave, held=s.state == "held",
                                       qc_pending=bool(pending), today=now.date())
            naive = _naive(now)
            scan_row = execute(
                "INSERT INTO pack_scan (scan_id, session_id, user_id, station, kind, raw, gtin, "
                "lot, expiry, serial, order_line_id, verdict, counted, request_hash, response, "
                "scanned_at, received_at) VALUES (?, ?, ?, ?, 'item', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "'', ?, ?) RETURNING id",
                (scan_id, s.id, packer.user_id, s.station, raw, parsed.gtin,
                 (parsed.lot or None) and parsed.lot[:40],
                 parsed.expiry.isoformat() if parsed.expiry else None,
                 (parsed.serial or None) and parsed.serial[:40], verdict.line_id, verdict.code,
                 int(verdict.counted), request_hash, scanned_at, naive)).fetchone()[0]
            qc = None
            if verdict.counted:
                checks = list(verdict.checks)
                unit = execute(
                    "INSERT INTO pack_unit (session_id, order_line_id, scan_id, gtin, lot, "
                    "expiry, serial, qc_state, qc_detail, created_at) VALUES (?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?) RETURNING id",
                    (s.id, verdict.line_id, scan_row, parsed.gtin,
                     (parsed.lot or None) and parsed.lot[:40],
                     parsed.expiry.isoformat() if parsed.expiry else None,
                     (parsed.serial or None) and parsed.serial[:40],
                     "pending" if checks else "none",
                     json.dumps({"checks": checks}) if checks else "", naive)).fetchone()[0]
                qc = {"unit": unit, "checks": checks} if checks else None
            elif verdict.code in packcheck.WRONG:
                _hold_if_too_many_wrong(s, packer, now)
            execute("UPDATE pack_session SET updated_at = ? WHERE id = ?", (naive, s.id))
            session = session_view(s.id)
            line = next((ln for ln in session["lines"] if ln["line"] == verdict.line_id), None)
            response = {"scan_id": scan_id, "ok": verdict.counted, "verdict": verdict.code,
                        "message": verdict.message, "line": line, "qc": qc,
                        "gtin": parsed.gtin, "session": session}
            execute("UPDATE pack_scan SET response = ? WHERE id = ?",
                    (json.dumps(response, ensure_ascii=False, default=str), scan_row))
            return response

    return once.once("pack_scan", scan_id, request_hash, work, Conflict)


def _wrong_scans(session_id: int) -> int:
    """Wrong items scanned since the session was last held (a release starts afresh)."""
    return execute("SELECT COUNT(*) FROM pack_scan sc JOIN pack_session s ON s.id = sc.session_id "
                   "WHERE sc.session_id = ? AND sc.verdict IN (?, ?) AND (s.held_at IS NULL OR "
                   "sc.received_at > s.held_at)",
                   (session_id, *sorted(packcheck.WRONG))).fetchone()[0]


def _hold_if_too_many_wrong(s: _Session, packer: Packer, now: dt.datetime) -> None:
    limit = _cfg().packing.hold_after_wrong_scans
    if limit <= 0 or s.state != "open":
        return
    wrong = _wrong_scans(s.id)
    if wrong >= limit:
        _hold(s, packer, f"{wrong} wrong items scanned: check the tote", "pack_wrong_items", now,
              "wrong_items", {"count": wrong})


def _hold(s: _Session, packer: Packer, reason: str, exception_type: str,
          now: dt.datetime, code: str, params: dict) -> None:
    """Hold the session: `reason` is the English sentence (API, audit, exception), `code`
    and `params` what the station pages word in their language (pack i18n `hold.<code>`)."""
    naive = _naive(now)
    execute("UPDATE pack_session SET state = 'held', hold_reason = ?, hold_code = ?, "
            "hold_params = ?, held_at = ?, updated_at = ? WHERE id = ?",
            (reason, code, json.dumps(params, ensure_ascii=False), naive, naive, s.id))
    open_exception(exception_type, f"order {s.ref} held at station {s.station}: {reason}",
                   order_id=s.order_id, detail={"session": s.id, "station": s.station},
                   now=naive, actor=packer.actor)
    audit.write([audit.row(now, packer.actor, "pack.hold", "pack_session", s.id, s.state,
                           "held", {"reason": reason})])
    s.state, s.hold_reason = "held", reason
    s.hold_code, s.hold_params = code, json.dumps(params, ensure_ascii=False)


def _action(packer: Packer, session_id: int, act) -> dict:
    """One locked write transaction on a live session of this packer; the session after."""
    now = _now()
    with write_tx():
        s = _load(session_id, lock=True)
        _mine(packer, s)
        _live(s)
        act(s, now)
        execute("UPDATE pack_session SET updated_at = ? WHERE id = ?", (_naive(now), s.id))
        return session_view(s.id)


def answer_check(packer: Packer, session_id: int, body: dict) -> dict:
    """The packer's answer to a unit's quality checks: passed (with the serial or expiry
    asked for) or failed, which holds the session."""
    unit_id, passed = body["unit"], body["passed"]
    serial = (body.get("serial") or "").strip() or None
    expiry = body.get("expiry")
    note = (body.get("note") or "").strip()

    def act(s: _Session, now: dt.datetime) -> None:
        row = execute("SELECT qc_state, qc_detail, serial FROM pack_unit WHERE id = ? AND "
                      "session_id = ?", (unit_id, s.id)).fetchone()
        if row is None:
            raise NotFound(f"no unit {unit_id} in session {s.id}", field="unit")
        if row[0] != "pending":
            raise Conflict(f"unit {unit_id} has no check waiting (it is {row[0]})",
                           code="no_check_pending", field="unit")
        checks = json.loads(row[1] or "{}").get("checks", [])
        if passed and "serial" in checks and not serial:
            raise BadRequest("this product needs its serial number", code="serial_required",
                             field="serial")
        if passed and "check_expiry" in checks:
            if not expiry:
                raise BadRequest("this product needs its expiry date", code="expiry_required",
                                 field="expiry")
            try:
                day = dt.date.fromisoformat(expiry)
            except ValueError:
                raise BadRequest("expiry must be a date like 2027-03-31", field="expiry") from None
            if day < now.date():
                passed_now = False
                detail_note = f"expired {day.isoformat()}"
            else:
                passed_now, detail_note = True, ""
        else:
            passed_now, detail_note = bool(passed), ""
        detail = {"checks": checks, "passed": passed_now, "note": note or detail_note,
                  "expiry": expiry, "by": packer.actor}
        execute("UPDATE pack_unit SET qc_state = ?, qc_detail = ?, serial = COALESCE(?, serial), "
                "expiry = COALESCE(?, expiry), checked_at = ? WHERE id = ?",
                ("passed" if passed_now else "failed", json.dumps(detail), serial,
                 expiry if passed_now else None, _naive(now), unit_id))
        audit.write([audit.row(now, packer.actor, "pack.check", "pack_unit", unit_id, "pending",
                               "passed" if passed_now else "failed", detail)])
        if not passed_now:
            _hold(s, packer, f"quality check failed on unit {unit_id}"
                  + (f": {note or detail_note}" if note or detail_note else ""),
                  "pack_check_failed", now,
                  "expired" if detail_note else "check_failed",
                  {"unit": unit_id, "sku": _unit_sku(unit_id), "note": note,
                   "expiry": expiry if detail_note else None})

    return _action(packer, session_id, act)


def weigh(packer: Packer, session_id: int, grams: int) -> dict:
    """Record the scale reading; outside the tolerance of the expected weight → held."""
    def act(s: _Session, now: dt.datetime) -> None:
        execute("UPDATE pack_session SET weight_g = ? WHERE id = ?", (grams, s.id))
        s.weight_g = grams
        lines = _lines(s)
        weight = _weight(s, lines, _carton(s, lines))
        audit.write([audit.row(now, packer.actor, "pack.weigh", "pack_session", s.id, "", grams,
                               weight)])
        if weight["ok"] is False and s.state == "open":
            _hold(s, packer, f"weighs {grams} g, expected {weight['expected_g']} g "
                  f"± {weight['tolerance_g']} g", "pack_weight", now,
                  "weight", {"grams": grams, "expected_g": weight["expected_g"],
                             "tolerance_g": weight["tolerance_g"]})

    return _action(packer, session_id, act)


def set_carton(packer: Packer, session_id: int, carton: str) -> dict:
    names = [c.name for c in _cfg().setup.cartons]
    if carton not in names:
        raise BadRequest(f"unknown carton {carton!r} (cartons: {', '.join(names)})",
                         code="unknown_carton", field="carton")

    chosen = next(c for c in _cfg().setup.cartons if c.name == carton)

    def act(s: _Session, now: dt.datetime) -> None:
        gross = chosen.tare_g + _net_weight(_lines(s))
        if gross > chosen.max_weight_g:
            raise Conflict(f"carton {carton} takes {chosen.max_weight_g} g; this order "
                           f"weighs {gross} g in it", code="carton_too_heavy", field="carton",
                           detail={"gross_g": gross, "max_weight_g": chosen.max_weight_g})
        execute("UPDATE pack_session SET carton = ? WHERE id = ?", (carton, s.id))
        audit.write([audit.row(now, packer.actor, "pack.carton", "pack_session", s.id,
                               s.carton or "", carton)])

    return _action(packer, session_id, act)


def hold(packer: Packer, session_id: int, reason: str) -> dict:
    def act(s: _Session, now: dt.datetime) -> None:
        if s.state == "held":
            raise Conflict(f"pack session {s.id} is already held", code="session_held")
        _hold(s, packer, reason, "pack_hold", now, "by_hand", {"reason": reason})

    return _action(packer, session_id, act)


def release(packer: Packer, session_id: int, note: str) -> dict:
    if not packer.supervisor:
        raise Forbidden("only a supervisor can release a held order", code="supervisor_only")

    def act(s: _Session, now: dt.datetime) -> None:
        if s.state != "held":
            raise Conflict(f"pack session {s.id} is not held", code="not_held")
        naive = _naive(now)
        execute("UPDATE pack_session SET state = 'open', hold_reason = '', hold_code = '', "
                "hold_params = '', released_by = ?, updated_at = ? WHERE id = ?",
                (packer.actor, naive, s.id))
        for kind in ("pack_wrong_items", "pack_check_failed", "pack_weight", "pack_hold"):
            resolve_for_order(s.order_id, kind, packer.actor, naive)
        audit.write([audit.row(now, packer.actor, "pack.release", "pack_session", s.id, "held",
                               "open", {"note": note, "reason": s.hold_reason})])

    return _action(packer, session_id, act)


def cancel(packer: Packer, session_id: int) -> dict:
    """Stop packing: the order stays picked, its verified units are forgotten."""
    def act(s: _Session, now: dt.datetime) -> None:
        execute("UPDATE pack_session SET state = 'cancelled', closed_at = ? WHERE id = ?",
                (_naive(now), s.id))
        audit.write([audit.row(now, packer.actor, "pack.cancel", "pack_session", s.id, s.state,
                               "cancelled")])

    return _action(packer, session_id, act)


# ---- confirm: shipment, stock out, label ----------------------------------------------

def _numbers(*ranges: tuple) -> list[str]:
    """The next number of each (scheme, range name), in one short transaction of their own
    (committed at once, so a range row is locked for two statements, not for a whole
    confirm). A confirm that fails after this leaves a gap: numbers are skipped at worst,
    never given twice."""
    numbers = []
    with write_tx():
        for scheme, name in ranges:
            row = execute("SELECT last_serial FROM number_range WHERE name = ?" + _lock(),
                          (name,)).fetchone()
            number, serial = next_tracking(scheme, row[0] if row else None)
            if row is None:
                execute("INSERT INTO number_range (name, last_serial) VALUES (?, ?)",
                        (name, serial))
            else:
                execute("UPDATE number_range SET last_serial = ? WHERE name = ?",
                        (serial, name))
            numbers.append(number)
    return numbers


def _font() -> LabelFont | None:
    path = _cfg().printing.label_font
    return LabelFont(path) if path else None


def _label(s: _Session, carrier: Carrier, service: CarrierService,
           bought: carrier_labels.Bought, sscc: str, weight_g: int, parcel: dict,
           parcels: int = 1):
    """The shipping label's builder, given the print job id (printed on the label): the
    carrier's own label when it made one, else ours, with a customs block for a parcel
    leaving its customs area."""
    if bought.label is not None:
        return lambda job_id: bought.label
    to, from_ = pack_documents.recipient(s.order_id), pack_documents.sender(s.warehouse)
    font = _font()
    k = parcel["parcel"]

    def zpl(job_id: int) -> str:
        label = build_shipping_label(ShippingLabel(
            sender=from_, recipient=to, order_number=s.ref, carrier=carrier.label,
            service=service.label or "-", tracking_number=bought.tracking, sscc=sscc,
            weight_g=max(weight_g, 1), parcel_index=k, parcel_count=parcels,
            job_id=job_id), font=font)
        return carrier_labels.with_customs(label, s.order_id, parcel["units"], weight_g)
    return zpl


def _returns_slip(s: _Session, rma: str):
    to, from_ = pack_documents.recipient(s.order_id), pack_documents.sender(s.warehouse)
    font = _font()

    def zpl(job_id: int) -> str:
        return build_returns_slip(ReturnsSlip(order_number=s.ref, rma_number=rma, customer=to,
                                              return_to=from_, job_id=job_id), font=font)
    return zpl


def _take_stock(s: _Session, packer: Packer, now: dt.datetime) -> None:
    """The packed units leave the warehouse: on hand and reserved both go down by each
    reservation, which is then closed."""
    rows = execute("SELECT a.id, a.stock_id, a.quantity FROM allocation a JOIN order_line ol "
                   "ON ol.id = a.order_line_id WHERE ol.order_id = ? ORDER BY a.stock_id",
                   (s.order_id,)).fetchall()
    naive = _naive(now)
    trail = []
    for aid, sid, qty in rows:
        changed = execute("UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ?, "
                          "updated_at = ? WHERE id = ? AND on_hand >= ? AND reserved >= ?",
                          (qty, qty, naive, sid, qty, qty)).rowcount
        if changed != 1:
            raise Conflict("stock records disagree with this order's reservations; nothing "
                           "was packed", code="stock_mismatch")
        execute("UPDATE pick_task SET allocation_id = NULL WHERE allocation_id = ?", (aid,))
        execute("DELETE FROM allocation WHERE id = ?", (aid,))
        trail.append(audit.row(now, packer.actor, "stock.ship", "stock", sid, "", "",
                               {"order": s.order_id, "quantity": qty}))
    execute("UPDATE order_line SET reserved = 0 WHERE order_id = ?", (s.order_id,))
    audit.write(trail)


@dataclass
class _Ready:
    """What a confirm needs, checked: the lines, carton, weight, station and carrier."""
    lines: list[_Line]
    carton: dict
    weight: dict
    station: Station
    carrier: Carrier
    service: CarrierService

    def grams(self, s: _Session) -> list[int]:
        """Each parcel's weight: its share of the scale reading, by its expected weight."""
        parcels, expected = self.carton["parcels"], self.weight["expected_g"]
        measured = s.weight_g if s.weight_g is not None else expected
        if len(parcels) == 1:
            return [measured]
        return [max(round(measured * p["gross_g"] / expected), 1) for p in parcels]


def _ready(s: _Session) -> _Ready:
    """Refuse a confirm that cannot go through (409 with the reason)."""
    cfg = _cfg()
    _live(s)
    if s.state == "held":
        raise Conflict(f"order {s.ref} is on hold: {s.hold_reason}", code="on_hold")
    if s.order_status != lifecycle.PICKED:      # e.g. cancelled by the storefront meanwhile
        raise Conflict(f"order {s.ref} is {s.order_status} now: do not ship it",
                       code=f"order_{s.order_status}", detail={"status": s.order_status})
    lines = _lines(s)
    pending = _pending(s.id)
    if not packcheck.all_verified(_pack_lines(lines), len(pending)):
        missing = [{"line": ln.id, "sku": ln.sku, "remaining": ln.quantity - ln.verified}
                   for ln in lines if ln.verified < ln.quantity]
        raise Conflict("every item must be verified before the label prints",
                       code="not_verified",
                       detail={"missing": missing, "pending_checks": len(pending)})
    carton = _carton(s, lines)
    if carton["name"] is None:
        raise Conflict(carton["error"] or "choose a carton", code="carton_required",
                       field="carton")
    if cfg.packing.require_weight and s.weight_g is None:
        raise Conflict("weigh the parcel first", code="weight_required", field="weight")
    st = cfg.setup.stations.get(s.station)
    if st is None:
        raise Conflict(f"station {s.station} is no longer configured", code="unknown_station")
    service, carrier = carrier_labels.service_for(s.order_id, s.ref)
    return _Ready(lines, carton, _weight(s, lines, carton), st, carrier, service)


def _confirmed(session_id: int) -> dict:
    view = session_view(session_id)
    return {"shipment": view["shipment"], "label_job": view["label_job"],
            "shipments": view["shipments"], "session": view}


def confirm(packer: Packer, session_id: int) -> tuple[dict, bool]:
    """Close the packing: refused until every line is verified (409 not_verified). One
    transaction: the shipment with its tracking number and SSCC, stock out, order packed,
    the label job queued for the station's printer. Returns (result, created); a confirmed
    session answers with its shipment again.

    The numbers are drawn first, in one short transaction of their own, after a check that
    the confirm can go through: the range rows are never locked for a whole confirm, so
    twenty stations confirming at once do not queue behind one row."""
    cfg = _cfg()
    s = _load(session_id, lock=False)
    _mine(packer, s)
    if s.state == "confirmed":
        return _confirmed(s.id), False
    first = _ready(s)
    carrier, service, count = first.carrier, first.service, len(first.carton["parcels"])
    grams = first.grams(s)
    try:
        local = service.adapter == "local"
        numbers = _numbers(*[carrier_labels.tracking_range(service, carrier)] * (count if local else 0),
                           *[(cfg.setup.sscc, "sscc")] * count)
    except TrackingRangeExhausted as err:
        raise Conflict(err.message, code="range_exhausted", detail=err.detail) from None
    ssccs = numbers[-count:]
    bought = [carrier_labels.Bought(n) for n in numbers[:count]] if local else \
        carrier_labels.buy(s.order_id, s.ref, s.warehouse, service, carrier,
                           first.carton["parcels"], grams)
    now = _now()
    with write_tx():
        s = _load(session_id, lock=True)
        if s.state == "confirmed":             # confirmed meanwhile: the numbers are skipped
            return _confirmed(s.id), False
        ready = _ready(s)
        parcels = ready.carton["parcels"]
        if ready.service.id != service.id or len(parcels) != count \
                or ready.grams(s) != grams:
            raise Conflict("the order changed while confirming: confirm again",
                           code="order_changed")
        st, naive = ready.station, _naive(now)
        url = cfg.printers[st.printer]
        inserts = _inserts(s)
        # a parcel confirmed without weighing is stored unweighed (weight_g NULL), never
        # as its expected weight; its label declares the expected weight (carriers need one)
        weighed = s.weight_g is not None
        trail, shipments = [], []
        lifecycle.check_move(s.order_status, lifecycle.PACKED)
        execute("UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                (lifecycle.PACKED, naive, s.order_id, s.order_status))
        for parcel, got, sscc, weight in zip(parcels, bought, ssccs, grams):
            k, tracking = parcel["parcel"], got.tracking
            stored = weight if weighed else None
            shipment_id = execute(
                "INSERT INTO shipment (order_id, session_id, station, carrier, service, "
                "carrier_service, tracking, sscc, carton, weight_g, expected_weight_g, "
                "parcel_no, parcel_count, state, created_by, created_at) VALUES (?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, 'packed', ?, ?) RETURNING id",
                (s.order_id, s.id, s.station, carrier.code, service.service, service.id,
                 tracking, sscc, parcel["carton"], stored, parcel["gross_g"], k, count,
                 packer.actor, naive)).fetchone()[0]
            _units_into_parcel(s.id, k, parcel["units"])
            try:
                job = print_queue.enqueue(
                    st.name, url, "label", f"order:{s.ref}"[:120],
                    _label(s, carrier, service, got, sscc, weight, parcel, count),
                    packer.actor)
                if k == 1 and "returns_slip" in inserts:
                    print_queue.enqueue(st.name, url, "returns", f"order:{s.ref}"[:120],
                                        _returns_slip(s, f"R{shipment_id}"), packer.actor)
            except ValueError as err:     # an address the label cannot carry: nothing kept
                raise Unprocessable(f"the shipping label cannot be made: {err}",
                                    code="bad_label") from None
            execute("UPDATE shipment SET label_job_id = ? WHERE id = ?", (job, shipment_id))
            shipments.append(shipment_id)
            trail.append(audit.row(now, packer.actor, "shipment.create", "shipment",
                                   shipment_id, "", "packed",
                                   {"tracking": tracking, "sscc": sscc, "carrier": carrier.code,
                                    "service": service.id, "label_job": job,
                                    "parcel": f"{k}/{count}", "weight_g": stored,
                                    "weighed": weighed}))
        execute("UPDATE pack_session SET state = 'confirmed', closed_at = ?, updated_at = ? "
                "WHERE id = ?", (naive, naive, s.id))
        # last: the stock rows are the ones every station shares, locked until commit
        _take_stock(s, packer, now)
        audit.write([
            audit.row(now, packer.actor, "order.status", "order", s.order_id, s.order_status,
                      lifecycle.PACKED), *trail,
            audit.row(now, packer.actor, "pack.confirm", "pack_session", s.id, "open",
                      "confirmed", {"parcels": count})])
    if pack_documents.declaration(s.order_id) is not None:
        inserts = [*inserts, "customs_declaration"]
    pack_documents.print_in_background(current_app._get_current_object(), st.document_printer,
                                       s.order_id, inserts, packer.actor)
    return _confirmed(s.id), True


def _units_into_parcel(session_id: int, parcel: int, units: dict[str, int]) -> None:
    """Record which verified units went into this parcel (the storefront is told each
    parcel's own lines)."""
    for sku, count in units.items():
        ids = [r[0] for r in execute(
            "SELECT u.id FROM pack_unit u JOIN order_line ol ON ol.id = u.order_line_id "
            "WHERE u.session_id = ? AND ol.sku = ? AND u.qc_state <> 'failed' AND "
            "u.parcel_no IS NULL ORDER BY u.id LIMIT ?", (session_id, sku, count)).fetchall()]
        for unit_id in ids:
            execute("UPDATE pack_unit SET parcel_no = ? WHERE id = ?", (parcel, unit_id))




# ---- shipments ---------------------------------------------------------------------------

_SHIPMENT = ("SELECT sh.id, sh.order_id, o.ref, sh.station, sh.carrier, sh.service, "
             "sh.tracking, sh.sscc, sh.carton, sh.weight_g, sh.expected_weight_g, sh.parcel_no, "
             "sh.parcel_count, sh.label_job_id, sh.state, sh.created_at, sh.shipped_at "
             "FROM shipment sh JOIN sales_order o ON o.id = sh.order_id ")


def _shipment_dict(r) -> dict:
    return {"id": r[0], "order_id": r[1], "order_ref": r[2], "station": r[3], "carrier": r[4],
            "service": r[5], "tracking": r[6], "sscc": r[7], "carton": r[8], "weight_g": r[9],
            "weighed": r[9] is not None, "expected_weight_g": r[10], "parcel": r[11], "parcels": r[12], "label_job": r[13],
            "state": r[14], "created_at": clock.aware_utc(r[15]).isoformat(),
            "shipped_at": clock.aware_utc(r[16]).isoformat() if r[16] else None}


def shipment_view(shipment_id: int) -> dict:
    row = execute(_SHIPMENT + "WHERE sh.id = ?", (shipment_id,)).fetchone()
    if row is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment")
    return _shipment_dict(row)


def shipments_for_order(order_id: int) -> list[dict]:
    return [_shipment_dict(r) for r in execute(_SHIPMENT + "WHERE sh.order_id = ? ORDER BY "
                                                "sh.parcel_no", (order_id,)).fetchall()]


def find_shipment(raw: str) -> int:
    """The shipment a scanned tracking number or SSCC (plain, or GS1 AI 00) names."""
    text = raw.strip().replace(" ", "").upper()
    parsed = parse_scan(raw)
    sscc = parsed.sscc or (text if text.isdigit() and len(text) == 18 else None)
    row = execute("SELECT id FROM shipment WHERE tracking = ? OR sscc = ?",
                  (text, sscc or text)).fetchone()
    if row is None:
        raise NotFound(f"no shipment with tracking number or SSCC {raw!r}", field="raw")
    return row[0]


def dispatch(actor: str, shipment_id: int) -> tuple[dict, bool]:
    """The parcel leaves with the carrier: shipment and order → shipped, and the
    fulfilment is queued for the storefront in the same transaction. Again → unchanged."""
    now = _now()
    with write_tx():
        row = execute("SELECT sh.state, sh.order_id, o.status, sh.label_job_id FROM shipment sh "
                      "JOIN sales_order o ON o.id = sh.order_id WHERE sh.id = ?" + _lock("sh"),
                      (shipment_id,)).fetchone()
        if row is None:
            raise NotFound(f"no shipment {shipment_id}", field="shipment")
        state, order_id, order_status, job = row
        if state == "shipped":
            return shipment_view(shipment_id), False
        if state != "packed":
            raise Conflict(f"shipment {shipment_id} is {state}", code=f"shipment_{state}")
        job_state = (print_queue.get_job(job) or {}).get("state") if job else None
        if job_state != "printed":
            raise Conflict(f"the label of shipment {shipment_id} is not printed yet "
                           f"({job_state or 'no label'})", code="label_not_printed")
        naive = _naive(now)
        execute("UPDATE shipment SET state = 'shipped', shipped_at = ? WHERE id = ?",
                (naive, shipment_id))
        trail = [audit.row(now, actor, "shipment.dispatch", "shipment", shipment_id, "packed",
                           "shipped")]
        if order_status == lifecycle.PACKED and not execute(
                "SELECT 1 FROM shipment WHERE order_id = ? AND state = 'packed'",
                (order_id,)).fetchone():
            execute("UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND "
                    "status = ?", (lifecycle.SHIPPED, naive, order_id, lifecycle.PACKED))
            trail.append(audit.row(now, actor, "order.status", "order", order_id,
                                   lifecycle.PACKED, lifecycle.SHIPPED))
        audit.write(trail)
        if outbox.enqueue_shipped(shipment_id, actor) is not None:
            outbox.wake()                  # delivered after this transaction commits
        result = shipment_view(shipment_id)
    return result, True


def packer_from(principal) -> Packer:
    if principal.user_id is None:
        raise Forbidden("packing needs a staff login (badge), not an API token",
                        code="badge_required")
    return Packer(principal.user_id, principal.badge, principal.role)


__all__ = ["Packer", "packer_from", "stations", "station_view", "open_session", "session_view",
           "scan", "answer_check", "weigh", "set_carton", "hold", "release", "cancel", "confirm",
           "dispatch", "find_shipment", "shipment_view", "shipments_for_order", "DomainError"]
