"""Packing API (packer, supervisor, admin): stations, pack sessions, shipments.
The flow and the session object: docs/pack-api.md."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from .. import settings
from ..services import pack_queue, packing
from ..services.packing import documents
from .common import json_body, require_staff

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}   # every integer bounded (OverflowError on SQLite)

bp = Blueprint("pack", __name__, url_prefix="/api/v1")
ROLES = ("packer", "supervisor", "admin")


def _packer() -> packing.Packer:
    return packing.packer_from(require_staff(*ROLES))


def documents_renderer(app: Flask | None = None) -> documents.Renderer:
    """The app's document renderer, built on first use from its settings (its worker pool
    starts on the first PDF): one per app, so its cache is the app's."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("wavepack.documents")
    if found is None:
        found = app.extensions.setdefault("wavepack.documents",
                                          documents.Renderer.for_settings(settings.of(app)))
    return found


@bp.get("/pack/stations")
def list_stations():
    require_staff(*ROLES)
    return jsonify({"stations": packing.stations(settings=settings.current())})


@bp.get("/pack/stations/<station>")
def get_station(station: str):
    require_staff(*ROLES)
    return jsonify(packing.station_view(station, settings=settings.current()))


@bp.get("/pack/stations/<station>/queue")
def station_queue(station: str):
    require_staff(*ROLES)
    return jsonify(pack_queue.queue(station, settings=settings.current()))


@bp.post("/pack/stations/<station>/labels")
def station_label(station: str):
    packer = _packer()
    return jsonify(pack_queue.print_label(packer, station, json_body("PackLabel"),
                                          settings=settings.current())), 201


@bp.post("/pack/sessions")
def open_session():
    packer = _packer()
    body = json_body("PackOpen")
    session, created = packing.open_session(packer, body["station"], body["scan"],
                                            settings=settings.current())
    return jsonify(session), 201 if created else 200


@bp.get("/pack/sessions/<id:session_id>")
def get_session(session_id: int):
    require_staff(*ROLES)
    return jsonify(packing.session_view(session_id, settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/scan")
def scan(session_id: int):
    packer = _packer()
    return jsonify(packing.scan(packer, session_id, json_body("PackScan"),
                                settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/qc")
def quality_check(session_id: int):
    packer = _packer()
    return jsonify(packing.answer_check(packer, session_id, json_body("PackCheck"),
                                        settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/weight")
def weight(session_id: int):
    packer = _packer()
    return jsonify(packing.weigh(packer, session_id, json_body("PackWeight")["grams"],
                                 settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/carton")
def carton(session_id: int):
    packer = _packer()
    return jsonify(packing.set_carton(packer, session_id, json_body("PackCarton")["carton"],
                                      settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/hold")
def hold(session_id: int):
    packer = _packer()
    return jsonify(packing.hold(packer, session_id, json_body("PackHold")["reason"],
                                settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/release")
def release(session_id: int):
    packer = _packer()
    return jsonify(packing.release(packer, session_id, json_body("PackRelease").get("note", ""),
                                   settings=settings.current()))


@bp.post("/pack/sessions/<id:session_id>/confirm")
def confirm(session_id: int):
    packer = _packer()
    result, created = packing.confirm(packer, session_id, settings=settings.current(),
                                      renderer=documents_renderer())
    return jsonify(result), 201 if created else 200


@bp.post("/pack/sessions/<id:session_id>/cancel")
def cancel(session_id: int):
    packer = _packer()
    return jsonify(packing.cancel(packer, session_id, settings=settings.current()))


@bp.get("/pack/sessions/<id:session_id>/documents/<kind>.pdf")
def document(session_id: int, kind: str):
    """The packing slip or invoice of the session's order, as PDF."""
    require_staff(*ROLES)
    cfg = settings.current()
    order_id = packing.session_view(session_id, settings=cfg)["order"]["id"]
    pdf = documents.render(order_id, kind, settings=cfg, renderer=documents_renderer())
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{kind}-{order_id}.pdf"'})


@bp.get("/shipments/<id:shipment_id>")
def get_shipment(shipment_id: int):
    # an all-digit tracking number (DPD, DHL Express …) looks like an id: when a shipment
    # has it as its tracking number, it is that shipment's timeline (api/tracking.py)
    from ..services.tracking import has_tracking_number
    from .tracking import timeline_for_caller
    if has_tracking_number(str(shipment_id)):
        return jsonify(timeline_for_caller(str(shipment_id)))
    require_staff(*ROLES)
    return jsonify(packing.shipment_view(shipment_id))


@bp.post("/shipments/dispatch")
def dispatch_scanned():
    p = require_staff(*ROLES)
    shipment_id = packing.find_shipment(json_body("Dispatch")["raw"])
    shipment, _ = packing.dispatch(p.actor, shipment_id, settings=settings.current())
    return jsonify(shipment)


@bp.post("/shipments/<id:shipment_id>/dispatch")
def dispatch(shipment_id: int):
    p = require_staff(*ROLES)
    shipment, _ = packing.dispatch(p.actor, shipment_id, settings=settings.current())
    return jsonify(shipment)


# ---- OpenAPI ----------------------------------------------------------------------------

def openapi_paths() -> dict:
    """The path items of this blueprint for /openapi.json."""
    from .openapi import _json_body, _ok, _responses, ref
    sid = {"name": "session_id", "in": "path", "required": True,
           "schema": {"type": "integer", "format": "int64", "minimum": 1,
                       "maximum": 2**63 - 1}}
    shid = {"name": "shipment_id", "in": "path", "required": True,
            "schema": {"type": "integer", "format": "int64", "minimum": 1,
                       "maximum": 2**63 - 1}}
    session_ok = _ok(200, "the session (docs/pack-api.md)", ref("PackSession"))

    def op(op_id: str, summary: str, ok: dict, *errors: int, body: str | None = None,
           tag: str = "packing") -> dict:
        item = {"tags": [tag], "operationId": op_id, "summary": summary,
                "responses": _responses(ok, 400, 401, 403, *errors)}
        if body:
            item["requestBody"] = _json_body(body)
        return item

    def on_session(name: str, op_id: str, summary: str, *errors: int, body: str | None = None,
                   ok: dict | None = None) -> tuple[str, dict]:
        return (f"/api/v1/pack/sessions/{{session_id}}/{name}",
                {"parameters": [sid], "post": op(op_id, summary, ok or session_ok, 404, 409,
                                                 *errors, body=body)})

    return {
        "/api/v1/pack/stations": {"get": op(
            "listStations", "Packing stations with their label printer's live state",
            _ok(200, "stations", {"type": "object"}))},
        "/api/v1/pack/stations/{station}": {
            "parameters": [{"name": "station", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 64}}],
            "get": op("getStation", "A station: printer state, open session, recent labels",
                      _ok(200, "the station", {"type": "object"}), 404)},
        "/api/v1/pack/stations/{station}/queue": {
            "parameters": [{"name": "station", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 64}}],
            "get": op("getPackQueue", "The orders picked and waiting in the station's "
                      "warehouse, most urgent first: cart, totes, order, age, ship-by, and "
                      "the station packing it if one is (docs/pack-api.md)",
                      _ok(200, "the queue", ref("PackQueue")), 404)},
        "/api/v1/pack/stations/{station}/labels": {
            "parameters": [{"name": "station", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 64}}],
            "post": op("printCartLabel", "Print a cart label or a tote label on the station's "
                       "label printer (201 with the print job); 409 `wrong_warehouse`",
                       _ok(201, "the print job", {"type": "object", "required": ["job"]}),
                       404, 409, 415, 422, body="PackLabel")},
        "/api/v1/pack/sessions": {"post": op(
            "openPackSession", "Open the packing of the order a tote, a cart or tote label "
            "(CART-12, CART-12-3), order reference or #order-id names (201; 200 when this "
            "packer reopens it). 409 `not_picked`, `already_packing`, `station_busy`, "
            "`wrong_warehouse`; 404 `not_found`, `cart_empty`",
            {**_ok(201, "the new session", ref("PackSession")), **session_ok}, 404, 409, 415,
            422, body="PackOpen")},
        "/api/v1/pack/sessions/{session_id}": {
            "parameters": [sid],
            "get": op("getPackSession", "One pack session", session_ok, 404)},
        **dict([
            on_session("scan", "packScan", "Verify one scanned item: verdict ok, wrong_item, "
                       "not_in_order, over_pack, unknown_barcode, expired_lot, qc_pending, "
                       "on_hold; a replayed scan_id gets its first answer", 415, 422,
                       body="PackScan", ok=_ok(200, "the verdict", {"type": "object"})),
            on_session("qc", "packCheck", "Answer a unit's quality checks (a failure holds "
                       "the order)", 415, 422, body="PackCheck"),
            on_session("weight", "packWeight", "The scale reading (outside the tolerance: "
                       "held)", 415, 422, body="PackWeight"),
            on_session("carton", "packCarton", "Choose another carton (409 "
                       "`carton_too_heavy` over its weight limit)", 415, 422,
                       body="PackCarton"),
            on_session("hold", "packHold", "Hold the order for a supervisor", 415, 422,
                       body="PackHold"),
            on_session("release", "packRelease", "Release a held order (supervisor, admin)",
                       415, 422, body="PackRelease"),
            on_session("confirm", "packConfirm", "Every line verified → shipment, stock out, "
                       "order packed, label queued (201); 409 `not_verified`, `on_hold`, "
                       "`weight_required`, `carton_required`; again → the same shipment (200)",
                       ok={**_ok(201, "shipment, label job, session", {"type": "object"}),
                           **_ok(200, "already confirmed", {"type": "object"})}),
            on_session("cancel", "packCancel", "Stop packing; the order stays picked"),
        ]),
        "/api/v1/pack/sessions/{session_id}/documents/{kind}.pdf": {
            "parameters": [sid, {"name": "kind", "in": "path", "required": True,
                                 "schema": {"type": "string",
                                            "enum": ["packing_slip", "invoice",
                                                     "customs_declaration"]}}],
            "get": op("packDocument", "The order's packing slip, invoice or customs "
                      "declaration (409 no_customs_declaration when the parcel stays in its "
                      "customs area) as PDF, drawn in the document workers and kept by content "
                      "(README \"Documents and the worker pool\")",
                      {"200": {"description": "the PDF",
                               "content": {"application/pdf": {"schema": {
                                   "type": "string", "format": "binary"}}}},
                       "503": {"description": "`documents_unavailable` (the workers stopped "
                                              "twice), `document_timeout` or `font_missing`; "
                                              "the error body says which",
                               "content": {"application/json": {"schema": {
                                   "$ref": "#/components/schemas/Error"}}}}}, 404, 409, 422)},
        "/api/v1/shipments/{shipment_id}": {
            "parameters": [shid],
            "get": op("getShipment", "One shipment", _ok(200, "the shipment", ref("Shipment")),
                      404, tag="shipments")},
        "/api/v1/shipments/{shipment_id}/dispatch": {
            "parameters": [shid],
            "post": op("dispatchShipment", "The parcel left: shipment and order shipped, the "
                       "fulfilment queued for the storefront (409 `label_not_printed`)",
                       _ok(200, "the shipment", ref("Shipment")), 404, 409, tag="shipments")},
        "/api/v1/shipments/dispatch": {"post": op(
            "dispatchScanned", "Dispatch by the scanned tracking number or SSCC",
            _ok(200, "the shipment", ref("Shipment")), 404, 409, 415, 422, body="Dispatch",
            tag="shipments")},
    }


RESPONSE_SCHEMAS = {
    "PackQueue": {"type": "object", "required": ["station", "warehouse", "orders"],
                  "properties": {
                      "station": {"type": "string"}, "warehouse": {"type": "string"},
                      "truncated": {"type": "boolean"},
                      "orders": {"type": "array", "items": {
                          "type": "object",
                          "required": ["order_id", "order", "totes", "ship_by", "age_s"],
                          "properties": {
                              "order_id": {"type": "integer", **_INT64}, "order": {"type": "string"},
                              "ship_by": {"type": ["string", "null"]},
                              "picked_at": {"type": ["string", "null"]},
                              "age_s": {"type": ["integer", "null"], **_INT64},
                              "units": {"type": "integer", **_INT64},
                              "cart": {"type": ["integer", "null"], **_INT64},
                              "tote": {"type": ["integer", "null"], **_INT64},
                              "packing_at": {"type": ["string", "null"]},
                              "totes": {"type": "array", "items": {"type": "object"}}}}}},
                  "description": "docs/pack-api.md, 'Pack queue'"},
    "PackSession": {"type": "object", "required": ["id", "station", "state", "order", "lines",
                                                   "verified"],
                    "description": "docs/pack-api.md, 'The session object'"},
    "Shipment": {"type": "object", "required": ["id", "order_id", "tracking", "sscc", "carrier",
                                                "state"],
                 "properties": {"id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                                "order_id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                                "tracking": {"type": "string"}, "sscc": {"type": "string"},
                                "carrier": {"type": "string"},
                                "state": {"type": "string",
                                          "enum": ["packed", "shipped", "cancelled"]}}},
}
