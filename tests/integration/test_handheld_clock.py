"""A handheld whose clock is hours off (issue 16, section 2): the server's clock is what
the audit trail, the scan's received_at, the exceptions' SLAs and the order's history
keep; the handheld's `scanned_at` is stored as it reported it, and used for nothing else.
On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

from server import clock

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, build_floor, sid

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}


def _rows(app, sql: str, params: tuple = ()) -> list[tuple]:
    from server.store.db import db, execute
    with app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(sql, params).fetchall()]


def _utc(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_a_handheld_hours_off_leaves_the_servers_time_in_the_audit_trail(db_url):
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app)
    floor.order("CLK-1", [("SOCK", 3)])
    floor.wave()
    hh = floor.socket("p1")
    task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
    ahead = clock.now() + dt.timedelta(hours=5, minutes=7)       # its clock runs fast
    behind = clock.now() - dt.timedelta(hours=9)                  # another's, slow and naive
    before = clock.now()
    sent = [({"scan_id": sid(), "raw": task["location"],
              "scanned_at": ahead.isoformat().replace("+00:00", "Z")}, ahead),
            ({"scan_id": sid(), "raw": GTIN["SOCK"],
              "scanned_at": behind.replace(tzinfo=None).isoformat()}, behind)]
    for msg, _ in sent:
        ack = hh.emit("scan", msg, namespace="/handheld", callback=True)
        assert ack["ok"] and ack["verdict"] == "ok", ack
    # a short with its clock ahead: the exception's SLA runs from the server's time
    short = hh.emit("short", {"scan_id": sid(), "task": task["task_id"], "found": 1,
                              "reason": "bin empty", "scanned_at": ahead.isoformat()},
                    namespace="/handheld", callback=True)
    assert short["ok"], short
    after = clock.now()

    def server_time(value) -> bool:
        return before - dt.timedelta(seconds=1) <= _utc(value) <= after + dt.timedelta(seconds=1)

    scans = {r[0]: r[1:] for r in _rows(app, "SELECT scan_id, scanned_at, received_at FROM scan")}
    for msg, reported in sent:
        scanned_at, received_at = scans[msg["scan_id"]]
        assert server_time(received_at), (received_at, before, after)
        # kept as reported, to the second
        assert abs((_utc(scanned_at) - reported).total_seconds()) < 1, (scanned_at, reported)
    audit = _rows(app, "SELECT at, action FROM audit WHERE at >= ?",
                  (clock.naive_utc(before - dt.timedelta(seconds=1)),))
    assert audit, "the scans wrote no audit rows"
    late = _rows(app, "SELECT at, action FROM audit WHERE at > ?",
                 (clock.naive_utc(after + dt.timedelta(seconds=1)),))
    assert late == [], late              # nothing stamped with the handheld's fast clock
    assert all(server_time(at) for at, _ in audit), audit
    opened = _rows(app, "SELECT type, created_at, due_at FROM wms_exception")
    assert opened, "the short opened no exception"
    for kind, created_at, due_at in opened:
        assert server_time(created_at), (kind, created_at)
        assert due_at is None or _utc(due_at) >= _utc(created_at), (kind, due_at)
    hh.disconnect(namespace="/handheld")
