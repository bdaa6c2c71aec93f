"""Waves API (supervisor or admin): plan a draft wave, release it to pickers, cancel it."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..services import waves
from .common import int_arg, json_body, require_staff

bp = Blueprint("waves", __name__, url_prefix="/api/v1")


@bp.post("/waves")
def create_wave():
    p = require_staff("supervisor", "admin")
    body = json_body("WaveRequest")
    cfg = settings.current()
    wave = waves.plan_wave(body["warehouse"],
                           body.get("max_orders", cfg.picking.max_orders_per_wave),
                           body.get("totes", cfg.picking.totes_per_cart), p.actor, settings=cfg)
    return jsonify(wave), 201


@bp.get("/waves")
def list_waves():
    require_staff("supervisor", "admin")
    status = request.args.get("status") or None
    items, cursor = waves.list_waves(status, int_arg("cursor", 0, 0, 2**62),
                                     int_arg("limit", 20, 1, 100))
    return jsonify({"waves": items, "next_cursor": cursor})


@bp.get("/waves/<id:wave_id>")
def get_wave(wave_id: int):
    require_staff("supervisor", "admin")
    return jsonify(waves.wave_dict(wave_id))


@bp.post("/waves/<id:wave_id>/release")
def release_wave(wave_id: int):
    p = require_staff("supervisor", "admin")
    return jsonify(waves.release(wave_id, p.actor))


@bp.post("/waves/<id:wave_id>/cancel")
def cancel_wave(wave_id: int):
    p = require_staff("supervisor", "admin")
    return jsonify(waves.cancel(wave_id, p.actor))


@bp.get("/metrics/handheld")
def handheld_metrics():
    """Server-side handling time per handheld event (median, p99) over the last events of
    this process; ?reset=1 starts a new window (benchmarks)."""
    require_staff("supervisor", "admin")
    from ..sockets import metrics
    return jsonify(metrics.snapshot(reset=request.args.get("reset") == "1"))
