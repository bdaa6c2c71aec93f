"""The session object the station pages show (docs/pack-api.md, "The session object"),
and a station with its live session, last confirmed one and recent labels."""
from __future__ import annotations

import json

from ...config import Config
from ...domain import packcheck
from ...domain.cartons import KNOWN_FLAGS, packing_instructions
from ...store.db import execute
from .. import print_queue
from . import documents
from ._common import (OrderLine, SessionRow, load_session, order_lines, pack_lines,
                      pending_checks, wrong_scans)
from .parcels import carton_plan, pack_items, weight_check
from .shipments import shipments_of_session
from .stations import printer_view, station


def session_view(session_id: int, *, settings: Config) -> dict:
    """The session as the station page shows it."""
    return _view(load_session(session_id, lock=False), settings=settings)


def station_view(name: str, *, settings: Config) -> dict:
    """The station: its printers, its live (open or held) session, the last session it
    confirmed (with shipment and label, for a reloaded page) and its recent print jobs."""
    st = station(name, settings=settings)
    row = execute("SELECT id FROM pack_session WHERE station = ? AND state IN ('open', 'held') "
                  "ORDER BY id DESC LIMIT 1", (st.name,)).fetchone()
    last = execute("SELECT id FROM pack_session WHERE station = ? AND state = 'confirmed' "
                   "ORDER BY closed_at DESC, id DESC LIMIT 1", (st.name,)).fetchone()
    return {"station": st.name, "warehouse": st.warehouse,
            "printer": printer_view(st, settings=settings),
            "document_printer": st.document_printer or None,
            "session": session_view(row[0], settings=settings) if row else None,
            "last_confirmed": session_view(last[0], settings=settings) if last else None,
            "jobs": print_queue.jobs_for_station(st.name, limit=10)}


def _view(s: SessionRow, *, settings: Config) -> dict:
    lines = order_lines(s)
    pending = pending_checks(s.id)
    by_line = {ln.id: ln for ln in lines}
    carton = carton_plan(s, lines, settings=settings)
    items = pack_items(lines, settings=settings)
    instructions = [] if isinstance(items, str) else [
        {"code": i.code, "material": i.material, "text": i.text, "skus": list(i.skus)}
        for i in packing_instructions(items)]
    shipments = shipments_of_session(s.id)
    shipment = shipments[0] if shipments else None
    st = settings.setup.stations.get(s.station)
    return {
        "id": s.id, "station": s.station, "state": s.state,
        "order": {"id": s.order_id, "ref": s.ref, "status": s.order_status,
                  "channel": s.channel, "ship_name": s.ship_name,
                  "ship_country": s.ship_country, "carrier": s.carrier,
                  "carrier_service": _service_text(s, settings=settings)},
        "lines": [_line_view(ln) for ln in lines],
        "pending_qc": [{"unit": u, "line": lid, "sku": by_line[lid].sku if lid in by_line else "",
                        "checks": checks} for u, lid, checks in pending],
        "verified": packcheck.all_verified(pack_lines(lines), len(pending)),
        "wrong_scans": wrong_scans(s.id),
        "carton": carton, "instructions": instructions,
        "inserts": documents.inserts(s, settings=settings),
        "weight": weight_check(s, lines, carton, settings=settings),
        "hold_reason": s.hold_reason,
        "hold": _hold_view(s),
        "shipment": shipment and {k: v for k, v in shipment.items() if k != "label"},
        "label_job": shipment["label"] if shipment else None,
        "shipments": shipments,
        "printer": printer_view(st, settings=settings) if st else None,
    }


def _line_view(ln: OrderLine) -> dict:
    return {"line": ln.id, "line_no": ln.line_no, "sku": ln.sku, "name": ln.name,
            "image_url": ln.image_url, "gtins": sorted(ln.gtins),
            "quantity": ln.quantity, "verified": ln.verified,
            "remaining": max(ln.quantity - ln.verified, 0),
            "checks": list(packcheck.checks_for(ln.flags)),
            "flags": [f for f in ln.flags if f in KNOWN_FLAGS]}


def _service_text(s: SessionRow, *, settings: Config) -> str | None:
    """The chosen carrier service as the station shows it ('PostNL Standaard pakket')."""
    setup = settings.setup
    svc = setup.service(s.carrier_service) if s.carrier_service else None
    if svc is None:
        return None
    carrier = setup.carriers.get(svc.carrier)
    return f"{carrier.label if carrier else svc.carrier} {svc.label}"


def _hold_view(s: SessionRow) -> dict | None:
    """Why the session is held, as a code and parameters (the page words it); null when
    it is not held. A hold from before codes were stored comes as `other` with its text."""
    if s.state != "held":
        return None
    if not s.hold_code:
        return {"code": "other", "params": {"reason": s.hold_reason}}
    return {"code": s.hold_code, "params": json.loads(s.hold_params or "{}")}
