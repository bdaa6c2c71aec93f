"""Verifying the order at the bench: every scanned item is checked by the server against
the order (domain.packcheck), and units of flagged products wait for the packer's answer
to their quality checks. Too many wrong items, or a failed check, hold the session.

Item scans are exactly-once like the handheld's: `pack_scan.scan_id` is UNIQUE and keeps
the first answer; a replay gets it unchanged, the same id with other content is refused,
a racing duplicate loses on the constraint.
"""
from __future__ import annotations

import datetime as dt
import json

from ... import clock
from ...config import Config
from ...domain import packcheck
from ...domain.barcodes import parse_scan
from ...domain.errors import BadRequest, Conflict, NotFound
from ...store.db import execute, write_tx
from .. import audit, once
from ._common import (Packer, SessionRow, check_live, check_mine, load_session, naive,
                      order_lines, pack_lines, pending_checks, wrong_scans)
from .session import hold_session, in_session
from .view import session_view


def _when(value: object) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("scanned_at must be an ISO-8601 time", field="scanned_at") from None
    return clock.naive_utc(at) if at.tzinfo else at


def scan(packer: Packer, session_id: int, body: dict, *, settings: Config) -> dict:
    """Verify one scanned item against the order (module docstring of domain.packcheck)."""
    scan_id = once.check_scan_id(body.get("scan_id"), BadRequest)
    raw = body["raw"]
    scanned_at = _when(body.get("scanned_at"))
    request_hash = once.request_hash("pack.scan", {"session": session_id, "raw": raw},
                                     user_id=packer.user_id)
    parsed = parse_scan(raw)

    def work() -> dict:
        now = clock.now()
        with write_tx():
            s = load_session(session_id, lock=True)
            stored = once.stored("pack_scan", scan_id)
            if stored:
                return once.replay(stored, request_hash, Conflict)
            check_mine(packer, s)
            check_live(s)
            lines = order_lines(s)
            pending = pending_checks(s.id)
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
            verdict = packcheck.decide(pack_lines(lines), parsed, known_gtins=known,
                                       wave_gtins=wave, held=s.state == "held",
                                       qc_pending=bool(pending), today=now.date())
            at = naive(now)
            scan_row = execute(
                "INSERT INTO pack_scan (scan_id, session_id, user_id, station, kind, raw, gtin, "
                "lot, expiry, serial, order_line_id, verdict, counted, request_hash, response, "
                "scanned_at, received_at) VALUES (?, ?, ?, ?, 'item', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "'', ?, ?) RETURNING id",
                (scan_id, s.id, packer.user_id, s.station, raw, parsed.gtin,
                 (parsed.lot or None) and parsed.lot[:40],
                 parsed.expiry.isoformat() if parsed.expiry else None,
                 (parsed.serial or None) and parsed.serial[:40], verdict.line_id, verdict.code,
                 int(verdict.counted), request_hash, scanned_at, at)).fetchone()[0]
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
                     json.dumps({"checks": checks}) if checks else "", at)).fetchone()[0]
                qc = {"unit": unit, "checks": checks} if checks else None
            elif verdict.code in packcheck.WRONG:
                _hold_if_too_many_wrong(s, packer, now, settings=settings)
            execute("UPDATE pack_session SET updated_at = ? WHERE id = ?", (at, s.id))
            session = session_view(s.id, settings=settings)
            line = next((ln for ln in session["lines"] if ln["line"] == verdict.line_id), None)
            response = {"scan_id": scan_id, "ok": verdict.counted, "verdict": verdict.code,
                        "message": verdict.message, "line": line, "qc": qc,
                        "gtin": parsed.gtin, "session": session}
            execute("UPDATE pack_scan SET response = ? WHERE id = ?",
                    (json.dumps(response, ensure_ascii=False, default=str), scan_row))
            return response

    return once.once("pack_scan", scan_id, request_hash, work, Conflict)


def _hold_if_too_many_wrong(s: SessionRow, packer: Packer, now: dt.datetime, *,
                            settings: Config) -> None:
    limit = settings.packing.hold_after_wrong_scans
    if limit <= 0 or s.state != "open":
        return
    wrong = wrong_scans(s.id)
    if wrong >= limit:
        hold_session(s, packer, f"{wrong} wrong items scanned: check the tote",
                     "pack_wrong_items", now, "wrong_items", {"count": wrong})


def _unit_sku(unit_id: int) -> str:
    row = execute("SELECT ol.sku FROM pack_unit u JOIN order_line ol ON ol.id = "
                  "u.order_line_id WHERE u.id = ?", (unit_id,)).fetchone()
    return row[0] if row else ""


def answer_check(packer: Packer, session_id: int, body: dict, *, settings: Config) -> dict:
    """The packer's answer to a unit's quality checks: passed (with the serial or expiry
    asked for) or failed, which holds the session."""
    unit_id, passed = body["unit"], body["passed"]
    serial = (body.get("serial") or "").strip() or None
    expiry = body.get("expiry")
    note = (body.get("note") or "").strip()

    def act(s: SessionRow, now: dt.datetime) -> None:
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
                 expiry if passed_now else None, naive(now), unit_id))
        audit.write([audit.row(now, packer.actor, "pack.check", "pack_unit", unit_id, "pending",
                               "passed" if passed_now else "failed", detail)])
        if not passed_now:
            hold_session(s, packer, f"quality check failed on unit {unit_id}"
                         + (f": {note or detail_note}" if note or detail_note else ""),
                         "pack_check_failed", now,
                         "expired" if detail_note else "check_failed",
                         {"unit": unit_id, "sku": _unit_sku(unit_id), "note": note,
                          "expiry": expiry if detail_note else None})

    return in_session(packer, session_id, act, settings=settings)
