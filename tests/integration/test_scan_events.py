"""The `scan.recorded` event (server/events.py) of the pick-scan path: one per stored
verdict, accepted or refused, after its commit, on every path (SQLite; PostgreSQL one scan
at a time and through group commit); none for a replay, an error ack, a racing duplicate
or a scan whose transaction rolled back."""
from __future__ import annotations

import threading

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, UNSTOCKED, build_floor, sid

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: loc for sku, _, loc, _ in PRODUCTS}


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-one"])
def floor(request, tmp_path):
    """SQLite; PostgreSQL with group commit (the default); PostgreSQL one scan at a time."""
    from server import clock
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/wavepack.db"
    else:
        from ..conftest import PG_BASE
        url = f"{PG_BASE}?schema={request.getfixturevalue('pg_schema')}"
    app = make_app(url, picking={**PICK_CFG, "group_commit": request.param != "postgresql-one"})
    yield build_floor(app)
    clock.set_clock(None)


@pytest.fixture
def heard():
    from server import events
    from server.services.picking import SCAN_RECORDED
    got: list = []
    lock = threading.Lock()

    def listen(event):
        with lock:
            got.append(event.data)

    stop = events.subscribe(SCAN_RECORDED, listen)
    yield got
    stop()


def _ack(hh, event, data=None):
    return hh.emit(event, data if data is not None else {}, namespace="/handheld",
                   callback=True)


def test_one_event_per_stored_verdict_and_none_for_a_replay_or_an_error(floor, heard):
    order_id = floor.order("E-1", (("SOCK", 2),))
    floor.wave(totes=1)
    hh = floor.socket("p1")
    task = _ack(hh, "task.next")["task"]
    assert heard == []                                  # task.next records no scan
    scans = [(sid(), UNSTOCKED[1]),                     # refused: wrong_item… before the bin
             (sid(), BIN["SOCK"]),                      # accepted: the bin
             (sid(), GTIN["SOCK"]),                     # accepted: a unit
             (sid(), GTIN["MUG"])]                      # refused: wrong_item
    answers = [_ack(hh, "scan", {"scan_id": s, "raw": raw}) for s, raw in scans]
    verdicts = [a["verdict"] for a in answers]
    assert verdicts == ["scan_location_first", "ok", "ok", "wrong_item"], answers
    # a replay (same scan_id, same content) and an error ack (bad input) add nothing
    assert _ack(hh, "scan", {"scan_id": scans[2][0], "raw": GTIN["SOCK"]}) == answers[2]
    assert _ack(hh, "scan", {"scan_id": sid(), "raw": GTIN["SOCK"], "task": 10 ** 9}
                )["error"]["code"] == "no_task"
    assert _ack(hh, "scan", {"scan_id": sid(), "raw": ""})["error"]["code"] == "bad_request"
    # the last unit: task, order and cart done in the same transaction
    last_id = sid()
    last = _ack(hh, "scan", {"scan_id": last_id, "raw": GTIN["SOCK"]})
    assert last["verdict"] == "ok" and last["next"] is None
    scans.append((last_id, GTIN["SOCK"]))
    verdicts.append("ok")
    assert [e["scan_id"] for e in heard] == [s for s, _ in scans]
    assert [e["verdict"] for e in heard] == verdicts
    assert [e["counted"] for e in heard] == [0, 0, 1, 0, 1]
    first = heard[2]
    assert first == {"scan_id": scans[2][0], "user_id": first["user_id"], "user": "p1",
                     "device": "HH-p1", "warehouse": "main", "order_id": order_id,
                     "order_ref": "E-1", "task_id": task["task_id"], "cart_id": task["cart"],
                     "sku": "SOCK", "location": BIN["SOCK"], "verdict": "ok", "counted": 1,
                     "kind": "pick"}
    assert isinstance(first["user_id"], int)


def test_no_event_for_a_scan_whose_transaction_rolled_back(floor, heard):
    """record_scan inside a write transaction that then fails: its scan row and its event
    go together (on PostgreSQL inside a transaction the scan takes the generic path)."""
    from server.services import picking
    from server.settings import of
    from server.store import db as store_db
    from server.store.db import db, execute
    from ..integration.test_group_commit import _picker
    floor.order("E-1", (("SOCK", 1),))
    floor.wave(totes=1)
    hh = floor.socket("p1")
    task = _ack(hh, "task.next")["task"]
    picker = _picker(floor, "p1")
    with floor.app.app_context(), db.connection_context():
        with pytest.raises(RuntimeError), store_db.write_tx():
            got = picking.record_scan(picker, {"scan_id": sid(), "raw": task["location"]},
                                      settings=of(floor.app))
            assert got["verdict"] == "ok"
            raise RuntimeError("after the scan, the transaction fails")
        assert execute("SELECT COUNT(*) FROM scan").fetchone()[0] == 0
    assert heard == []
    assert _ack(hh, "scan", {"scan_id": sid(), "raw": task["location"]})["verdict"] == "ok"
    assert len(heard) == 1


def test_a_racing_duplicate_is_answered_from_the_winner_without_an_event(floor, heard,
                                                                          monkeypatch):
    """A scan_id stored by another process after this scan's read (the stored answer hidden
    from the read): its insert loses on UNIQUE, the transaction rolls back, the winner's
    answer goes out, and only the winner's event was heard."""
    from server.services import picking
    floor.order("E-1", (("SOCK", 2),))
    floor.wave(totes=1)
    hh = floor.socket("p1")
    task = _ack(hh, "task.next")["task"]
    same = sid()
    first = _ack(hh, "scan", {"scan_id": same, "raw": task["location"]})
    assert first["verdict"] == "ok" and len(heard) == 1
    real = picking._with_stored
    monkeypatch.setattr(picking, "_with_stored",
                        lambda task, scan_id: (real(task, scan_id)[0], None))
    assert _ack(hh, "scan", {"scan_id": same, "raw": task["location"]}) == first
    assert len(heard) == 1
