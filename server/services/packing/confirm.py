"""Confirm: the packing is closed in one write transaction that commits the shipment(s)
with tracking numbers and SSCCs, takes the stock out, moves the order to packed and queues
the labels on the station's printer; the order's documents print after the commit.

Lock order: pack_session → sales_order → shipment → print_job → allocation/stock (the
stock rows, shared by every station, last and so held the shortest time).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ... import clock
from ...config import Config
from ...config_packing import Carrier, Station
from ...domain import lifecycle, packcheck
from ...domain.carriers import CarrierService
from ...domain.errors import Conflict, Unprocessable
from ...domain.tracking import TrackingRangeExhausted, next_tracking
from ...store.db import bump_number_range, execute, write_tx
from .. import audit, print_queue
from . import documents, labels
from ._common import (OrderLine, Packer, SessionRow, check_live, check_mine, load_session,
                      naive, order_lines, pack_lines, pending_checks)
from .parcels import carton_plan, weight_check
from .view import session_view


@dataclass
class _Ready:
    """What a confirm needs, checked: the lines, carton, weight, station and carrier."""
    lines: list[OrderLine]
    carton: dict
    weight: dict
    station: Station
    carrier: Carrier
    service: CarrierService

    def grams(self, s: SessionRow) -> list[int]:
        """Each parcel's weight: its share of the scale reading, by its expected weight."""
        parcels, expected = self.carton["parcels"], self.weight["expected_g"]
        measured = s.weight_g if s.weight_g is not None else expected
        if len(parcels) == 1:
            return [measured]
        return [max(round(measured * p["gross_g"] / expected), 1) for p in parcels]


def _ready(s: SessionRow, *, settings: Config) -> _Ready:
    """Refuse a confirm that cannot go through (409 with the reason)."""
    check_live(s)
    if s.state == "held":
        raise Conflict(f"order {s.ref} is on hold: {s.hold_reason}", code="on_hold")
    if s.order_status != lifecycle.PICKED:      # e.g. cancelled by the storefront meanwhile
        raise Conflict(f"order {s.ref} is {s.order_status} now: do not ship it",
                       code=f"order_{s.order_status}", detail={"status": s.order_status})
    lines = order_lines(s)
    pending = pending_checks(s.id)
    if not packcheck.all_verified(pack_lines(lines), len(pending)):
        missing = [{"line": ln.id, "sku": ln.sku, "remaining": ln.quantity - ln.verified}
                   for ln in lines if ln.verified < ln.quantity]
        raise Conflict("every item must be verified before the label prints",
                       code="not_verified",
                       detail={"missing": missing, "pending_checks": len(pending)})
    carton = carton_plan(s, lines, settings=settings)
    if carton["name"] is None:
        raise Conflict(carton["error"] or "choose a carton", code="carton_required",
                       field="carton")
    if settings.packing.require_weight and s.weight_g is None:
        raise Conflict("weigh the parcel first", code="weight_required", field="weight")
    st = settings.setup.stations.get(s.station)
    if st is None:
        raise Conflict(f"station {s.station} is no longer configured", code="unknown_station")
    service, carrier = labels.service_for(s.order_id, s.ref, settings=settings)
    return _Ready(lines, carton, weight_check(s, lines, carton, settings=settings), st,
                  carrier, service)


def _confirmed(session_id: int, *, settings: Config) -> dict:
    view = session_view(session_id, settings=settings)
    return {"shipment": view["shipment"], "label_job": view["label_job"],
            "shipments": view["shipments"], "session": view}


def _numbers(*ranges: tuple) -> list[str]:
    """The next number of each (scheme, range name), in one short transaction of their own
    (committed at once, so a range row is locked for two statements, not for a whole
    confirm). A confirm that fails after this leaves a gap: numbers are skipped at worst,
    never given twice."""
    numbers = []
    with write_tx():
        for scheme, name in ranges:
            numbers.append(bump_number_range(
                name, lambda last, scheme=scheme: next_tracking(scheme, last)))
    return numbers


def confirm(packer: Packer, session_id: int, *, settings: Config,
            renderer: documents.Renderer) -> tuple[dict, bool]:
    """Close the packing: refused until every line is verified (409 not_verified). One
    transaction: the shipment with its tracking number and SSCC, stock out, order packed,
    the label job queued for the station's printer; after it commits, the order's documents
    print on the station's document printer (drawn by `renderer`). Returns (result,
    created); a confirmed session answers with its shipment again.

    The numbers are drawn first, in one short transaction of their own, after a check that
    the confirm can go through: the range rows are never locked for a whole confirm, so
    twenty stations confirming at once do not queue behind one row."""
    s = load_session(session_id, lock=False)
    check_mine(packer, s)
    if s.state == "confirmed":
        return _confirmed(s.id, settings=settings), False
    first = _ready(s, settings=settings)
    carrier, service, count = first.carrier, first.service, len(first.carton["parcels"])
    grams = first.grams(s)
    try:
        local = service.adapter == "local"
        numbers = _numbers(*[labels.tracking_range(service, carrier)] * (count if local else 0),
                           *[(settings.setup.sscc, "sscc")] * count)
    except TrackingRangeExhausted as err:
        raise Conflict(err.message, code="range_exhausted", detail=err.detail) from None
    ssccs = numbers[-count:]
    bought = [labels.Bought(n) for n in numbers[:count]] if local else \
        labels.buy(s.order_id, s.ref, s.warehouse, service, carrier,
                   first.carton["parcels"], grams, settings=settings)
    now = clock.now()
    with write_tx():
        s = load_session(session_id, lock=True)
        if s.state == "confirmed":             # confirmed meanwhile: the numbers are skipped
            return _confirmed(s.id, settings=settings), False
        ready = _ready(s, settings=settings)
        parcels = ready.carton["parcels"]
        if ready.service.id != service.id or len(parcels) != count \
                or ready.grams(s) != grams:
            raise Conflict("the order changed while confirming: confirm again",
                           code="order_changed")
        st = ready.station
        inserts = documents.inserts(s, settings=settings)
        _record_parcels(s, packer, now, ready, zip(parcels, bought, ssccs, grams),
                        inserts=inserts, settings=settings)
    if documents.declaration(s.order_id, settings=settings) is not None:
        inserts = [*inserts, "customs_declaration"]
    documents.print_in_background(st.document_printer, s.order_id, inserts, packer.actor,
                                  settings=settings, renderer=renderer)
    return _confirmed(s.id, settings=settings), True


def _record_parcels(s: SessionRow, packer: Packer, now: dt.datetime, ready: _Ready,
                    parcels, *, inserts: list[str], settings: Config) -> None:
    """Inside the confirm's transaction: order packed, one shipment and label job per
    parcel (with the returns slip on the first), session confirmed, stock out."""
    at, count = naive(now), len(ready.carton["parcels"])
    carrier, service = ready.carrier, ready.service
    url = settings.printers[ready.station.printer]
    # a parcel confirmed without weighing is stored unweighed (weight_g NULL), never
    # as its expected weight; its label declares the expected weight (carriers need one)
    weighed = s.weight_g is not None
    trail = []
    lifecycle.check_move(s.order_status, lifecycle.PACKED)
    execute("UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            (lifecycle.PACKED, at, s.order_id, s.order_status))
    for parcel, got, sscc, weight in parcels:
        k, tracking = parcel["parcel"], got.tracking
        stored = weight if weighed else None
        shipment_id = execute(
            "INSERT INTO shipment (order_id, session_id, station, carrier, service, "
            "carrier_service, tracking, sscc, carton, weight_g, expected_weight_g, "
            "parcel_no, parcel_count, state, created_by, created_at) VALUES (?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, 'packed', ?, ?) RETURNING id",
            (s.order_id, s.id, s.station, carrier.code, service.service, service.id,
             tracking, sscc, parcel["carton"], stored, parcel["gross_g"], k, count,
             packer.actor, at)).fetchone()[0]
        _units_into_parcel(s.id, k, parcel["units"])
        try:
            job = print_queue.enqueue(
                ready.station.name, url, "label", f"order:{s.ref}"[:120],
                labels.shipping_label(s, carrier, service, got, sscc, weight, parcel, count,
                                      settings=settings),
                packer.actor)
            if k == 1 and "returns_slip" in inserts:
                print_queue.enqueue(ready.station.name, url, "returns", f"order:{s.ref}"[:120],
                                    labels.returns_slip(s, f"R{shipment_id}", settings=settings),
                                    packer.actor)
        except ValueError as err:     # an address the label cannot carry: nothing kept
            raise Unprocessable(f"the shipping label cannot be made: {err}",
                                code="bad_label") from None
        execute("UPDATE shipment SET label_job_id = ? WHERE id = ?", (job, shipment_id))
        trail.append(audit.row(now, packer.actor, "shipment.create", "shipment",
                               shipment_id, "", "packed",
                               {"tracking": tracking, "sscc": sscc, "carrier": carrier.code,
                                "service": service.id, "label_job": job,
                                "parcel": f"{k}/{count}", "weight_g": stored,
                                "weighed": weighed}))
    execute("UPDATE pack_session SET state = 'confirmed', closed_at = ?, updated_at = ? "
            "WHERE id = ?", (at, at, s.id))
    # last: the stock rows are the ones every station shares, locked until commit
    _take_stock(s, packer, now)
    audit.write([
        audit.row(now, packer.actor, "order.status", "order", s.order_id, s.order_status,
                  lifecycle.PACKED), *trail,
        audit.row(now, packer.actor, "pack.confirm", "pack_session", s.id, "open",
                  "confirmed", {"parcels": count})])


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


def _take_stock(s: SessionRow, packer: Packer, now: dt.datetime) -> None:
    """The packed units leave the warehouse: on hand and reserved both go down by each
    reservation, which is then closed."""
    rows = execute("SELECT a.id, a.stock_id, a.quantity FROM allocation a JOIN order_line ol "
                   "ON ol.id = a.order_line_id WHERE ol.order_id = ? ORDER BY a.stock_id",
                   (s.order_id,)).fetchall()
    at = naive(now)
    trail = []
    for aid, sid, qty in rows:
        changed = execute("UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ?, "
                          "updated_at = ? WHERE id = ? AND on_hand >= ? AND reserved >= ?",
                          (qty, qty, at, sid, qty, qty)).rowcount
        if changed != 1:
            raise Conflict("stock records disagree with this order's reservations; nothing "
                           "was packed", code="stock_mismatch")
        execute("UPDATE pick_task SET allocation_id = NULL WHERE allocation_id = ?", (aid,))
        execute("DELETE FROM allocation WHERE id = ?", (aid,))
        trail.append(audit.row(now, packer.actor, "stock.ship", "stock", sid, "", "",
                               {"order": s.order_id, "quantity": qty}))
    execute("UPDATE order_line SET reserved = 0 WHERE order_id = ?", (s.order_id,))
    audit.write(trail)
