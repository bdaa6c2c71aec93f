"""Replenishment end to end, on SQLite and PostgreSQL: pick-face levels set by a supervisor;
an order taking a face below its min (not at it) opens one task and one
`replenishment_needed` exception through the after-commit event and the worker; the task is
done by handheld scans (source, target, quantity) over /handheld, stock moves atomically
and the exception closes itself; wrong source / target / item and too many units are
refused with clear codes and change nothing; a retried move counts once; with no reserve
the need becomes a purchase suggestion (JSON and CSV); the console hears it all."""
from __future__ import annotations

import csv
import io
import threading
import time

import pytest

from server import clock
from server.jobs import replenish_worker
from server.store.db import db, execute

from ..conftest import make_app
from ..exception_checks import raised
from ..floor import PICK_CFG, SPARE_BIN, build_floor, gtin14, sid
from .test_console import NS as CONSOLE, _console, _received
from .test_picking import ack

FACE = "A-03-02-1"            # SOCK's pick face in tests/floor.py
MUG_FACE = "B-10-04-2"
SOCK_GTIN = "9506000210216"


@pytest.fixture
def floor(db_url):
    """The small floor, SOCK with 30 more units in a reserve bin (SPARE_BIN)."""
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app, spare=30)
    replenish_worker._take()            # nothing left over from another test's app
    yield floor
    clock.set_clock(None)


def query(floor, statement: str, params: tuple = ()) -> list[tuple]:
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def levels(floor, *faces, token=None):
    return floor.api("post", "/api/v1/replenishment/levels", token, json={"levels": [
        {"warehouse": "main", "location": loc, "sku": sku, "min_qty": low, "max_qty": high}
        for loc, sku, low, high in faces]})


def work(floor) -> dict:
    """What the worker does with the stock rows the last commits announced."""
    return replenish_worker.run_once(floor.app)


def on_hand(floor, sku: str) -> dict[str, tuple[int, int]]:
    r = floor.api("get", f"/api/v1/stock?sku={sku}")
    return {row["location"]: (row["on_hand"], row["reserved"])
            for row in r.get_json()["locations"]}


def tasks(floor, state="open") -> list[dict]:
    r = floor.api("get", f"/api/v1/replenishment/tasks?state={state}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["tasks"]


def move(hh, task_id, source, target, quantity, scan_id=None, **extra):
    return ack(hh, "replenish.move", {"scan_id": scan_id or sid(), "task": task_id,
                                      "source": source, "target": target,
                                      "quantity": quantity, **extra})


def test_alert_at_the_threshold_task_done_by_scans_stock_moved_alert_closed(floor):
    r = levels(floor, (FACE, "SOCK", 10, 40))
    assert r.status_code == 200, r.get_json()
    [face] = r.get_json()["levels"]
    assert (face["location"], face["min_qty"], face["max_qty"], face["available"],
            face["below_min"]) == (FACE, 10, 40, 20, False)
    con = _console(floor.app, floor.supervisor)

    floor.order("R-1", (("SOCK", 10),))            # available 10 = min: not below it
    assert work(floor) == {"opened": [], "closed": []}
    assert tasks(floor) == []
    floor.order("R-2", (("SOCK", 1),))             # available 9 < min 10
    opened = work(floor)["opened"]
    assert len(opened) == 1
    assert work(floor) == {"opened": [], "closed": []}          # once per face
    assert replenish_worker.run_once(floor.app, sweep=True)["opened"] == []
    [task] = tasks(floor)
    assert (task["id"], task["location"], task["sku"], task["available_at_open"],
            task["suggested"], task["remaining"], task["reserve_available"]) \
        == (opened[0], FACE, "SOCK", 9, 20, 20, 30)       # up to max 40 on hand
    exc = raised(floor.app, "replenishment_needed", "bin", ref=f"{FACE} SOCK")
    assert task["exception"] == exc["id"]
    [alert] = floor.api("get", "/api/v1/replenishment/alerts").get_json()["alerts"]
    assert (alert["id"], alert["task"], alert["available"], alert["min_qty"]) \
        == (exc["id"], task["id"], 9, 10)
    pushed = _received(con, "replenishment.changed")
    assert pushed and pushed[0]["action"] == "opened" and pushed[0]["task"] == task["id"]
    assert pushed[0]["warehouse"] == "main"

    hh = floor.socket("p1")
    got = ack(hh, "replenish.next")
    assert got["ok"], got
    t = got["task"]
    assert (t["task_id"], t["target"], t["sku"], t["remaining"], t["suggested"]) \
        == (task["id"], FACE, "SOCK", 20, {"source": SPARE_BIN, "quantity": 20})
    assert t["gtins"] == [gtin14(SOCK_GTIN)]
    before = on_hand(floor, "SOCK")

    retried = sid()
    done = move(hh, t["task_id"], SPARE_BIN.lower(), FACE, 20, scan_id=retried,
                barcode=SOCK_GTIN)
    assert done["ok"] and done["done"], done
    assert (done["moved"], done["source"], done["target"], done["target_on_hand"],
            done["target_available"]) == (20, SPARE_BIN, FACE, 40, 29)
    after = on_hand(floor, "SOCK")
    assert after[FACE] == (before[FACE][0] + 20, before[FACE][1])
    assert after[SPARE_BIN] == (before[SPARE_BIN][0] - 20, before[SPARE_BIN][1])
    # the lost ack's retry: the first answer, nothing moved twice
    again = move(hh, t["task_id"], SPARE_BIN.lower(), FACE, 20, scan_id=retried,
                 barcode=SOCK_GTIN)
    assert again == done
    assert on_hand(floor, "SOCK") == after
    assert query(floor, "SELECT COUNT(*), SUM(quantity) FROM replen_move") == [(1, 20)]
    assert query(floor, "SELECT COUNT(*) FROM scan WHERE kind = 'replenish'") == [(1,)]
    # the task is done and the alert closed itself
    [closed] = tasks(floor, "done")
    assert (closed["moved"], closed["close_reason"]) == (20, "refilled")
    assert raised(floor.app, "replenishment_needed", "bin", state="resolved")["id"] \
        == exc["id"]
    assert floor.api("get", "/api/v1/replenishment/alerts").get_json()["alerts"] == []
    detail = floor.api("get", f"/api/v1/replenishment/tasks/{task['id']}").get_json()
    assert [(m["from"], m["to"], m["quantity"]) for m in detail["moves"]] \
        == [(SPARE_BIN, FACE, 20)]
    actions = [r[0] for r in query(floor, "SELECT action FROM audit ORDER BY id")]
    assert {"stock.replenish_out", "stock.replenish_in", "replenishment.open",
            "replenishment.done", "exception.resolve"} <= set(actions)
    assert [p["action"] for p in _received(con, "replenishment.changed")] == ["done"]
    assert ack(hh, "replenish.next") == {"ok": True, "task": None}
    assert work(floor) == {"opened": [], "closed": []}


def test_wrong_source_target_item_and_too_many_units_are_refused(floor):
    with floor.app.app_context(), db.connection_context():
        from server.services import stock as stock_svc
        from server.store import db as store_db
        with store_db.write_tx():      # a second reserve bin with 3 units free
            stock_svc.change_stock("main", "J-01-01-1", "SOCK", set_to=3, actor="test",
                                   now=clock.now(), reason="count")
    levels(floor, (FACE, "SOCK", 25, 50))          # 20 available < 25 at once
    assert work(floor)["opened"]
    hh = floor.socket("p1")
    t = ack(hh, "replenish.next")["task"]
    assert t["remaining"] == 30 and t["sources"] == [
        {"location": SPARE_BIN, "available": 30}, {"location": "J-01-01-1", "available": 3}]
    before = on_hand(floor, "SOCK")
    for (src, tgt, n, extra), code, field in (
            ((SPARE_BIN, "B-10-04-2", 5, {}), "wrong_target", "target"),
            (("B-10-04-2", FACE, 5, {}), "wrong_source", "source"),      # holds no SOCK
            ((FACE, FACE, 5, {}), "wrong_source", "source"),
            (("no-such-bin", FACE, 5, {}), "wrong_source", "source"),
            ((SPARE_BIN, FACE, 31, {}), "over_quantity", "quantity"),
            (("J-01-01-1", FACE, 4, {}), "not_enough_at_source", "quantity"),
            ((SPARE_BIN, FACE, 0, {}), "bad_quantity", "quantity"),
            ((SPARE_BIN, FACE, 5, {"barcode": "9506000220017"}), "wrong_item", "barcode"),
    ):
        got = move(hh, t["task_id"], src, tgt, n, **extra)
        assert got["ok"] is False, got
        assert (got["error"]["code"], got["error"]["field"]) == (code, field), got
        assert got["error"]["message"]
    assert on_hand(floor, "SOCK") == before
    assert query(floor, "SELECT COUNT(*) FROM replen_move") == [(0,)]
    # another replenisher cannot take a task someone holds
    other = move(floor.socket("p2"), t["task_id"], SPARE_BIN, FACE, 5)
    assert other["error"]["code"] == "not_your_task"
    # a move that leaves the face still below min keeps the task open, with what is left
    part = move(hh, t["task_id"], "J-01-01-1", FACE, 3)
    assert part["ok"] and not part["done"] and part["task"]["remaining"] == 27, part
    assert part["task"]["suggested"] == {"source": SPARE_BIN, "quantity": 27}
    assert tasks(floor)[0]["moved"] == 3
    assert raised(floor.app, "replenishment_needed", "bin")["state"] == "open"
    fin = move(hh, t["task_id"], SPARE_BIN, FACE, 27)
    assert fin["done"] and fin["target_on_hand"] == 50
    closed = move(hh, t["task_id"], SPARE_BIN, FACE, 1)
    assert closed["error"]["code"] == "task_closed"


def test_moved_stock_goes_to_backorders_and_never_below_reserved_at_the_source(floor):
    """The reserve holds units reserved for orders: only the free ones move."""
    floor.order("R-1", (("SOCK", 45),))       # 20 at the face, 25 from the reserve bin
    assert on_hand(floor, "SOCK") == {FACE: (20, 20), SPARE_BIN: (30, 25)}
    levels(floor, (FACE, "SOCK", 5, 40))
    assert work(floor)["opened"]
    hh = floor.socket("p1")
    t = ack(hh, "replenish.next")["task"]
    assert t["suggested"] == {"source": SPARE_BIN, "quantity": 5}
    too_many = move(hh, t["task_id"], SPARE_BIN, FACE, 6)
    assert too_many["error"]["code"] == "not_enough_at_source"
    backorder = floor.order("R-2", (("SOCK", 3),))      # waits: 5 free, but a later order
    assert floor.order_json(backorder)["status"] in ("ready", "backordered")
    got = move(hh, t["task_id"], SPARE_BIN, FACE, 2)
    assert got["ok"], got
    assert on_hand(floor, "SOCK")[SPARE_BIN][0] >= on_hand(floor, "SOCK")[SPARE_BIN][1]


def test_no_reserve_makes_a_purchase_suggestion_until_stock_arrives(floor):
    levels(floor, (MUG_FACE, "MUG", 15, 30))
    floor.order("R-1", (("MUG", 6),))              # 14 available < 15; no MUG in reserve
    [tid] = work(floor)["opened"]
    hh = floor.socket("p1")
    assert ack(hh, "replenish.next") == {"ok": True, "task": None}   # nothing to move
    r = floor.api("get", "/api/v1/replenishment/purchase-suggestions")
    assert r.status_code == 200
    [s] = r.get_json()["suggestions"]
    assert (s["warehouse"], s["sku"], s["locations"], s["needed"], s["reserve_available"],
            s["quantity"]) == ("main", "MUG", [MUG_FACE], 10, 0, 10)   # up to max 30
    r = floor.api("get", "/api/v1/replenishment/purchase-suggestions.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(x["sku"], x["quantity"], x["locations"]) for x in rows] == [("MUG", "10", MUG_FACE)]
    # goods arrive in a reserve bin: no purchase needed any more, the task can be done
    r = floor.api("post", "/api/v1/stock/receipts", json={"lines": [
        {"warehouse": "main", "location": "K-01-01-1", "sku": "MUG", "quantity": 4}]})
    assert r.status_code in (200, 201), r.get_json()
    [s] = floor.api("get", "/api/v1/replenishment/purchase-suggestions").get_json()["suggestions"]
    assert (s["needed"], s["reserve_available"], s["quantity"]) == (10, 4, 6)
    t = ack(hh, "replenish.next")["task"]
    assert t["task_id"] == tid and t["suggested"] == {"source": "K-01-01-1", "quantity": 4}
    got = move(hh, tid, "K-01-01-1", MUG_FACE, 4)
    assert got["ok"] and got["done"], got           # back above min: 18 available
    assert floor.api("get", "/api/v1/replenishment/purchase-suggestions").get_json() \
        == {"suggestions": []}


def test_a_face_refilled_otherwise_closes_its_task_and_a_cancelled_one_stays_closed(floor):
    levels(floor, (FACE, "SOCK", 25, 40))
    [tid] = work(floor)["opened"]
    r = floor.api("post", "/api/v1/stock/receipts", json={"lines": [
        {"warehouse": "main", "location": FACE, "sku": "SOCK", "quantity": 10}]})
    assert r.status_code in (200, 201)
    assert work(floor)["closed"] == [tid]
    [t] = tasks(floor, "cancelled")
    assert (t["id"], t["close_reason"], t["moved"]) == (tid, "refilled", 0)
    assert raised(floor.app, "replenishment_needed", "bin", state="resolved")
    # below again: a new task; a supervisor cancels it; the sweep leaves it cancelled
    levels(floor, (FACE, "SOCK", 35, 40))
    [tid2] = work(floor)["opened"]
    r = floor.api("post", f"/api/v1/replenishment/tasks/{tid2}/cancel")
    assert r.status_code == 200 and r.get_json()["state"] == "cancelled"
    assert raised(floor.app, "replenishment_needed", "bin", state="dismissed")
    assert floor.api("post", f"/api/v1/replenishment/tasks/{tid2}/cancel").status_code == 409
    assert floor.api("get", "/api/v1/replenishment/tasks").get_json() == {"tasks": []}  # open
    assert floor.api("post", "/api/v1/replenishment/tasks/999999/cancel").status_code == 404
    time.sleep(0.01)
    assert replenish_worker.run_once(floor.app, sweep=True)["opened"] == []
    floor.order("R-1", (("SOCK", 1),))        # the face's stock changes: it is needed again
    assert len(work(floor)["opened"]) == 1


def test_levels_are_checked_and_only_supervisors_reach_the_routes(floor):
    bad = levels(floor, (FACE, "SOCK", 10, 5))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "bad_levels"
    unknown = levels(floor, (FACE, "NO-SUCH", 1, 5))
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_sku"
    r = floor.api("post", "/api/v1/replenishment/levels", json={"levels": [
        {"warehouse": "main", "location": FACE, "sku": "SOCK", "min_qty": -1}]})
    assert r.status_code == 422
    assert query(floor, "SELECT min_qty, max_qty FROM stock WHERE min_qty > 0 OR max_qty > 0") \
        == []
    # a new face: a location that held none of the SKU
    r = levels(floor, ("E-02-01-1", "CAP", 2, 8))
    assert r.status_code == 200
    assert r.get_json()["levels"][0]["on_hand"] == 0
    listed = floor.api("get", "/api/v1/replenishment/levels?below=true").get_json()["levels"]
    assert [(f["location"], f["sku"]) for f in listed] == [("E-02-01-1", "CAP")]
    for badge in ("p1", "k1"):
        token = floor.tokens[badge]
        for method, path in (("get", "/api/v1/replenishment/tasks"),
                             ("get", "/api/v1/replenishment/alerts"),
                             ("get", "/api/v1/replenishment/levels"),
                             ("get", "/api/v1/replenishment/purchase-suggestions"),
                             ("get", "/api/v1/replenishment/purchase-suggestions.csv"),
                             ("post", "/api/v1/replenishment/tasks/1/cancel")):
            assert floor.api(method, path, token).status_code == 403, (badge, path)
        assert levels(floor, (FACE, "SOCK", 1, 5), token=token).status_code == 403
    anon = floor.app.test_client().get("/api/v1/replenishment/tasks")
    assert anon.status_code == 401
    assert floor.api("get", "/api/v1/replenishment/tasks?state=bogus").status_code == 400


def test_the_stock_csv_sets_min_and_max(floor):
    from server.services import csv_import
    with floor.app.app_context(), db.connection_context():
        out = csv_import.import_stock_csv(
            b"warehouse,location,sku,quantity,min_qty,max_qty\n"
            b"main,A-03-02-1,SOCK,20,8,30\nmain,B-10-04-2,MUG,20,9,4\n", "test",
            settings=floor.app.config["WAVEPACK"])
    assert out["imported"] == 1 and out["rejected"][0]["field"] == "max_qty"
    assert query(floor, "SELECT min_qty, max_qty FROM stock WHERE min_qty > 0") == [(8, 30)]


def test_the_worker_opens_the_task_after_the_commit_by_itself(floor):
    """The live path: the reservation's commit wakes the worker thread, which opens the
    task (no test call in between); the console hears it."""
    levels(floor, (FACE, "SOCK", 10, 40))
    con = _console(floor.app, floor.supervisor)
    stop = threading.Event()
    rounds = replenish_worker.rounds
    thread = replenish_worker.start(floor.app, stop)
    try:
        deadline = time.monotonic() + 10
        while replenish_worker.rounds == rounds and time.monotonic() < deadline:
            time.sleep(0.02)       # the start-up sweep is over: only a wake-up can do it now
        floor.order("R-1", (("SOCK", 11),))
        while time.monotonic() < deadline and not tasks(floor):
            time.sleep(0.05)
        assert [t["available_at_open"] for t in tasks(floor)] == [9]
        assert any(p["action"] == "opened" for p in _received(con, "replenishment.changed"))
    finally:
        stop.set()
        thread.join(10)
    con.disconnect(namespace=CONSOLE)


def test_config_levels_fill_only_faces_with_none_set(db_url):
    """`replenishment.levels` at start: a face with no levels gets them, one a supervisor
    set keeps its own, an unknown SKU is skipped."""
    from server.services import replenishment
    app = make_app(db_url, picking=PICK_CFG, replenishment={"levels": {
        f"main/{FACE}/SOCK": {"min": 3, "max": 9}, f"main/{MUG_FACE}/MUG": {"min": 4},
        "main/A-01-01-1/NO-SUCH": {"min": 1}}})
    floor = build_floor(app)
    levels(floor, (MUG_FACE, "MUG", 7, 11))
    with app.app_context(), db.connection_context():
        assert replenishment.apply_config_levels(app.config["WAVEPACK"]) == 1
        assert replenishment.apply_config_levels(app.config["WAVEPACK"]) == 0   # set now
    got = {(f["location"], f["sku"]): (f["min_qty"], f["max_qty"])
           for f in floor.api("get", "/api/v1/replenishment/levels").get_json()["levels"]}
    assert got == {(FACE, "SOCK"): (3, 9), (MUG_FACE, "MUG"): (7, 11)}
    clock.set_clock(None)
