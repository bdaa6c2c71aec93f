"""Pick denials and cycle counts, on SQLite and PostgreSQL: a short pick writes nothing off
and blocks the bin; no new reservation lands on a blocked bin; a count (API or handheld)
sets on-hand by the variance, resolves the discrepancy and frees the bin; a count below
what is still to be picked moves the shortfall; a count racing picks loses nothing."""
from __future__ import annotations

import threading

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, SPARE_BIN, UNSTOCKED, build_floor, sid
from ..exception_checks import raised
from .test_picking import BIN, GTIN, ack, scan


@pytest.fixture
def floor(db_url):
    """The small floor of tests/floor.py, no spare bin."""
    from server import clock
    yield build_floor(make_app(db_url, picking=PICK_CFG), spare=0)
    clock.set_clock(None)


def stock_at(floor, sku: str) -> dict[str, dict]:
    r = floor.api("get", f"/api/v1/stock?sku={sku}")
    assert r.status_code == 200, r.get_json()
    return {row["location"]: row for row in r.get_json()["locations"]}


def query(floor, statement: str, params: tuple = ()) -> list[tuple]:
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def post_count(floor, location: str, lines, token=None, warehouse="main"):
    return floor.api("post", "/api/v1/counts", token,
                     json={"warehouse": warehouse, "location": location,
                           "lines": [{"sku": s, "quantity": n} for s, n in lines]})


def short_first_task(floor, found_units: int = 0) -> tuple[object, dict, dict]:
    """p1 takes the cart, scans the bin and `found_units` units, and shorts the rest."""
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    assert scan(hh, task["location"])["ok"]
    for _ in range(found_units):
        assert scan(hh, GTIN[task["sku"]])["ok"]
    sh = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": found_units})
    assert sh["ok"], sh
    return hh, task, sh


# ---- a short pick writes nothing off ----------------------------------------------------------

def test_a_short_pick_keeps_the_bins_on_hand_and_sends_it_for_count(floor):
    a = floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    hh, task, sh = short_first_task(floor, found_units=1)
    assert (sh["short"], sh["backordered"], sh["reallocated"]) == (2, 2, [])
    assert sh["notice"] == {"code": "short.backordered", "params": {
        "reserved": 0, "at": "", "backordered": 2, "location": BIN["SOCK"], "moves": []}}
    sock = stock_at(floor, "SOCK")[BIN["SOCK"]]
    # one unit of "0 of 1 found" used to write off the whole bin: now nothing moves but the
    # reservation of the missing units
    assert (sock["on_hand"], sock["reserved"], sock["available"], sock["blocked"]) \
        == (20, 1, 0, "count_pending")
    assert stock_at(floor, "MUG")[BIN["MUG"]]["blocked"] is None
    [count] = floor.api("get", "/api/v1/counts?state=open").get_json()["counts"]
    assert (count["id"], count["location"], count["reason"], count["pick_task"]) \
        == (sh["count"], BIN["SOCK"], "pick_short", task["task_id"])
    exc = query(floor, "SELECT type, state, count_task_id FROM wms_exception ORDER BY id")
    assert ("stock_discrepancy", "open", sh["count"]) in exc
    actions = [r[0] for r in query(floor, "SELECT action FROM audit ORDER BY id")]
    assert "stock.pick_denial" in actions and "stock.write_off" not in actions
    assert "location.block" in actions and "count.open" in actions
    assert floor.order_json(a)["lines"][0]["reserved"] == 1


def test_two_shorts_at_one_bin_share_one_count(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.order("B-1", (("SOCK", 1),))
    floor.wave(totes=1)                         # two carts, one order each
    _, _, first = short_first_task(floor)
    hh2 = floor.socket("p2")
    task = ack(hh2, "task.next")["task"]
    assert task["location"] == BIN["SOCK"]      # an existing task still leads to the bin
    second = ack(hh2, "short", {"scan_id": sid(), "task": task["task_id"], "found": 0})
    assert second["count"] == first["count"]
    assert len(floor.api("get", "/api/v1/counts?state=open").get_json()["counts"]) == 1
    r = post_count(floor, BIN["SOCK"], [("SOCK", 20)])
    assert r.status_code == 201, r.get_json()
    assert len(r.get_json()["exceptions_resolved"]) == 2


# ---- blocked bins take no new reservation ------------------------------------------------------

def test_no_new_reservation_lands_on_a_blocked_bin(db_url):
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app, spare=2)
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    _, _, sh = short_first_task(floor)
    # re-reserved from the spare bin, not the blocked one that still shows 19 unreserved
    assert [(r["location"], r["quantity"]) for r in sh["reallocated"]] == [(SPARE_BIN, 1)]
    assert sh["notice"]["code"] == "short.reserved"
    # new orders: one more unit left in the spare bin, then nothing open (backordered)
    b = floor.order("B-1", (("SOCK", 1),))
    c = floor.order("C-1", (("SOCK", 2),))
    assert floor.order_json(b)["status"] == "ready"
    assert floor.order_json(c)["status"] == "backordered"
    at = stock_at(floor, "SOCK")
    assert (at[BIN["SOCK"]]["reserved"], at[SPARE_BIN]["reserved"]) == (0, 2)
    # goods in elsewhere do not open the blocked bin either
    r = floor.api("post", "/api/v1/stock/receipts", json={"lines": [
        {"warehouse": "main", "location": "H-15-01-2", "sku": "SOCK", "quantity": 1}]})
    assert r.status_code == 201
    assert floor.order_json(c)["status"] == "backordered"
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["reserved"] == 0
    # the count frees the bin, and the waiting order gets its units from it
    r = post_count(floor, BIN["SOCK"], [("SOCK", 20)])
    assert r.status_code == 201 and r.get_json()["orders_reserved"] == 1
    assert floor.order_json(c)["status"] == "ready"
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["blocked"] is None


def test_the_reservation_guard_refuses_a_blocked_bin(floor):
    """The conditional UPDATE itself checks the bin (not only the choice before it)."""
    from server.services.reservation import OPEN_BIN
    from server.store.db import db, execute
    floor.api("post", "/api/v1/counts:schedule",
              json={"warehouse": "main", "sku": "SOCK"})
    with floor.app.app_context(), db.connection_context():
        sid_ = execute("SELECT s.id FROM stock s JOIN location l ON l.id = s.location_id "
                       "WHERE l.code = ?", (BIN["SOCK"],)).fetchone()[0]
        changed = execute("UPDATE stock SET reserved = reserved + 1 WHERE id = ? AND "
                          "on_hand - reserved >= 1 AND " + OPEN_BIN, (sid_,)).rowcount
    assert changed == 0


# ---- the count --------------------------------------------------------------------------------

def test_the_count_changes_on_hand_by_the_variance_and_only_then(floor):
    floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    _, _, sh = short_first_task(floor, found_units=1)
    before = stock_at(floor, "SOCK")[BIN["SOCK"]]
    assert before["on_hand"] == 20
    # the picker holds 1 unit in a tote (picked, not shipped): the bin itself holds 17
    r = post_count(floor, BIN["SOCK"], [("SOCK", 17)])
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["count_id"] == sh["count"] and got["location"] == BIN["SOCK"]
    assert got["lines"] == [{"sku": "SOCK", "on_hand_before": 20, "in_transit": 1,
                             "counted": 17, "on_hand": 18, "variance": -2, "reserved": 1,
                             "shortfall": 0}]
    assert len(got["exceptions_resolved"]) == 1
    # the bin is free again: the 2 units the order waits for are reserved from it at once
    assert got["orders_reserved"] == 1
    after = stock_at(floor, "SOCK")[BIN["SOCK"]]
    assert (after["on_hand"], after["reserved"], after["available"], after["blocked"]) \
        == (18, 3, 15, None)
    [count] = floor.api("get", "/api/v1/counts?state=done").get_json()["counts"]
    assert count["counted_by"] == "user:s1"
    assert floor.api("get", "/api/v1/counts?state=open").get_json()["counts"] == []
    audit = query(floor, "SELECT before, after, detail FROM audit WHERE action = 'stock.cycle_count'")
    assert len(audit) == 1 and '"variance":-2' in audit[0][2]
    assert query(floor, "SELECT state FROM wms_exception WHERE type = 'stock_discrepancy'") \
        == [("resolved",)]
    assert raised(floor.app, "stock_discrepancy", "bin", ref=BIN["SOCK"],
                  state="resolved")["resolution"] == "counted"
    # the same count again: on-hand stays, variance 0 (a resent request changes nothing)
    again = post_count(floor, BIN["SOCK"], [("SOCK", 17)]).get_json()
    assert again["lines"][0]["variance"] == 0 and again["count_id"] != got["count_id"]
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["on_hand"] == 18


def test_a_count_of_the_whole_bin_zeroes_what_it_does_not_list(floor):
    floor.api("post", "/api/v1/stock/receipts", json={"lines": [
        {"warehouse": "main", "location": BIN["SOCK"], "sku": "MUG", "quantity": 4}]})
    r = post_count(floor, BIN["SOCK"], [("SOCK", 5), ("SOCK", 3), ("OTHER", 2)])
    assert r.status_code == 201, r.get_json()
    lines = {ln["sku"]: ln for ln in r.get_json()["lines"]}
    assert (lines["SOCK"]["on_hand"], lines["SOCK"]["variance"]) == (8, -12)   # 5 + 3
    assert (lines["MUG"]["on_hand"], lines["MUG"]["variance"]) == (0, -4)      # not listed
    assert (lines["OTHER"]["on_hand"], lines["OTHER"]["variance"]) == (2, 2)   # found there
    assert stock_at(floor, "OTHER")[BIN["SOCK"]]["on_hand"] == 2


def test_a_count_below_what_is_still_to_pick_moves_the_shortfall(floor):
    """Never on-hand below reserved: the least urgent reservations give up the units the
    bin does not have; on an open task they are re-reserved or backordered like a short."""
    a = floor.order("A-1", (("SOCK", 5),), priority=5)
    floor.wave()                                 # A has an open task for 5 at the bin
    b = floor.order("B-1", (("SOCK", 4),))       # reserved, not on a wave
    c = floor.order("C-1", (("SOCK", 3),))       # newest: gives up first
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["reserved"] == 12
    r = post_count(floor, BIN["SOCK"], [("SOCK", 7)])
    got = r.get_json()
    assert r.status_code == 201, got
    assert got["lines"][0] == {"sku": "SOCK", "on_hand_before": 20, "in_transit": 0,
                               "counted": 7, "on_hand": 7, "variance": -13, "reserved": 7,
                               "shortfall": 5}
    assert got["backordered"] == 5 and got["reallocated"] == []
    assert floor.order_json(c)["status"] == "backordered"
    raised(floor.app, "short_pick", "order", subject_id=b, ref="B-1")   # backordered by a count
    assert floor.order_json(c)["lines"][0]["backordered"] == 3
    assert floor.order_json(b)["lines"][0]["reserved"] == 2
    assert floor.order_json(a)["lines"][0]["reserved"] == 5     # the urgent one keeps all
    sock = stock_at(floor, "SOCK")[BIN["SOCK"]]
    assert (sock["on_hand"], sock["reserved"]) == (7, 7)
    # now below even the waved order: its open task loses the units it cannot find
    r = post_count(floor, BIN["SOCK"], [("SOCK", 3)])
    got = r.get_json()
    assert got["lines"][0]["shortfall"] == 4 and got["backordered"] == 4
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    assert (task["quantity"], task["remaining"]) == (5, 3)
    assert floor.order_json(a)["lines"][0]["backordered"] == 2
    assert floor.order_json(b)["status"] == "backordered"
    sock = stock_at(floor, "SOCK")[BIN["SOCK"]]
    assert (sock["on_hand"], sock["reserved"]) == (3, 3)


def test_a_count_shortfall_on_a_task_is_re_reserved_from_another_bin(db_url):
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app, spare=4)
    a = floor.order("A-1", (("SOCK", 5),))
    floor.wave()
    r = post_count(floor, BIN["SOCK"], [("SOCK", 2)])
    got = r.get_json()
    assert [(x["location"], x["quantity"], x["order"]) for x in got["reallocated"]] \
        == [(SPARE_BIN, 3, "A-1")]
    assert got["backordered"] == 0
    hh = floor.socket("p1")
    first = ack(hh, "task.next")
    assert first["task"]["remaining"] == 2 and first["cart"]["tasks_left"] == 2
    assert floor.order_json(a)["lines"][0]["reserved"] == 5


# ---- the API refuses bad counts and changes nothing --------------------------------------------

@pytest.mark.parametrize("body, status, code", [
    ({"warehouse": "nowhere", "location": BIN["SOCK"], "lines": []}, 404, "unknown_warehouse"),
    ({"warehouse": "main", "location": "Z-99-09-9", "lines": []}, 404, "unknown_location"),
    ({"warehouse": "main", "location": "not a bin", "lines": []}, 404, "unknown_location"),
    ({"warehouse": "main", "location": BIN["SOCK"],
      "lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "unknown_sku"),
    ({"warehouse": "main", "location": BIN["SOCK"],
      "lines": [{"sku": "SOCK", "quantity": -1}]}, 422, "schema"),
    ({"warehouse": "main", "location": BIN["SOCK"],
      "lines": [{"sku": "SOCK", "quantity": 1.5}]}, 422, "schema"),
    ({"warehouse": "main", "location": BIN["SOCK"]}, 422, "schema"),
    ({"warehouse": "main", "location": BIN["SOCK"], "lines": [], "x": 1}, 422, "schema"),
])
def test_bad_counts_are_refused_and_change_nothing(floor, body, status, code):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    short_first_task(floor)
    before = (stock_at(floor, "SOCK"), query(floor, "SELECT COUNT(*) FROM audit"),
              floor.api("get", "/api/v1/counts").get_json())
    r = floor.api("post", "/api/v1/counts", json=body)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == code
    after = (stock_at(floor, "SOCK"), query(floor, "SELECT COUNT(*) FROM audit"),
             floor.api("get", "/api/v1/counts").get_json())
    assert after == before


def test_counts_need_a_supervisor(floor):
    body = {"warehouse": "main", "location": BIN["SOCK"], "lines": [{"sku": "SOCK",
                                                                      "quantity": 1}]}
    for token in (floor.tokens["p1"], floor.tokens["k1"]):
        assert floor.api("post", "/api/v1/counts", token, json=body).status_code == 403
        assert floor.api("post", "/api/v1/counts:schedule", token,
                         json={"warehouse": "main", "sku": "SOCK"}).status_code == 403
        assert floor.api("get", "/api/v1/counts", token).status_code == 403
    assert floor.app.test_client().post("/api/v1/counts", json=body).status_code == 401
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["on_hand"] == 20
    assert query(floor, "SELECT COUNT(*) FROM count_task") == [(0,)]


# ---- scheduled counts --------------------------------------------------------------------------

def test_scheduled_counts_block_bins_until_counted(floor):
    r = floor.api("post", "/api/v1/counts:schedule",
                  json={"warehouse": "main", "from_location": "a-01-01-1",
                        "to_location": "D-20-01-1"})
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert [c["location"] for c in got["created"]] == [BIN["SOCK"], BIN["MUG"], BIN["TEE"]]
    assert got["already_open"] == []
    again = floor.api("post", "/api/v1/counts:schedule",
                      json={"warehouse": "main", "sku": "MUG"}).get_json()
    assert again["created"] == [] and [c["location"] for c in again["already_open"]] \
        == [BIN["MUG"]]
    assert stock_at(floor, "TEE")[BIN["TEE"]]["blocked"] == "count_pending"
    assert stock_at(floor, "CAP")[BIN["CAP"]]["blocked"] is None
    # an order for a blocked SKU waits; one for a free SKU is reserved
    assert floor.order_json(floor.order("A-1", (("TEE", 1),)))["status"] == "backordered"
    assert floor.order_json(floor.order("B-1", (("CAP", 1),)))["status"] == "ready"
    listed = floor.api("get", "/api/v1/counts?state=open").get_json()["counts"]
    assert [c["location"] for c in listed] == [BIN["SOCK"], BIN["MUG"], BIN["TEE"]]
    assert all(c["reason"] == "scheduled" for c in listed)
    for body, code in (
            ({"warehouse": "main", "from_location": "D-20-01-1", "to_location": "A-01-01-1"},
             "bad_range"),
            ({"warehouse": "main", "from_location": "X", "to_location": "A-01-01-1"},
             "bad_location"),
            ({"warehouse": "main", "sku": "NOPE"}, "unknown_sku"),
            ({"warehouse": "main", "sku": "SOCK", "from_location": "A-01-01-1"}, "schema"),
            ({"warehouse": "main"}, "schema"),
            ({"warehouse": "main", "from_location": "Z-01-01-1", "to_location": "Z-02-01-1"},
             "no_bins")):
        r = floor.api("post", "/api/v1/counts:schedule", json=body)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == code, (body, r.json)
    assert floor.api("post", "/api/v1/counts:schedule",
                     json={"warehouse": "nowhere", "sku": "SOCK"}).status_code == 404
    assert floor.api("get", "/api/v1/counts?state=nope").status_code == 400
    assert len(floor.api("get", "/api/v1/counts?state=open").get_json()["counts"]) == 3


def test_a_scheduled_count_can_be_cancelled_a_short_picks_cannot(floor):
    made = floor.api("post", "/api/v1/counts:schedule",
                     json={"warehouse": "main", "sku": "MUG"}).get_json()["created"][0]
    waiting = floor.order("W-1", (("MUG", 1),))
    assert floor.order_json(waiting)["status"] == "backordered"
    r = floor.api("post", f"/api/v1/counts/{made['count_id']}/cancel")
    assert r.status_code == 200 and r.get_json()["state"] == "cancelled", r.get_json()
    assert stock_at(floor, "MUG")[BIN["MUG"]]["blocked"] is None
    assert floor.order_json(waiting)["status"] == "ready"         # the bin serves it again
    again = floor.api("post", f"/api/v1/counts/{made['count_id']}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "count_closed"
    assert floor.api("post", "/api/v1/counts/99999/cancel").status_code == 404
    assert floor.api("post", f"/api/v1/counts/{made['count_id']}/cancel",
                     floor.tokens["p1"]).status_code == 403
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    _, _, sh = short_first_task(floor)
    r = floor.api("post", f"/api/v1/counts/{sh['count']}/cancel")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "count_required"
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["blocked"] == "count_pending"


# ---- the handheld's count mode -----------------------------------------------------------------

def test_count_mode_on_the_handheld_with_replays(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    hh, _, sh = short_first_task(floor)
    counter, other = floor.socket("p2"), floor.socket("s1")
    got = ack(counter, "count.next")
    assert got["ok"] and got["count"]["count_id"] == sh["count"]
    assert got["count"]["location"] == BIN["SOCK"] and got["count"]["reason"] == "pick_short"
    assert [s["sku"] for s in got["count"]["skus"]] == ["SOCK"]
    assert "quantity" not in got["count"]["skus"][0]                # a blind count
    assert ack(counter, "count.next") == got                        # still theirs
    assert ack(other, "count.next") == {"ok": True, "count": None}  # nobody else's
    count_id = got["count"]["count_id"]
    good = {"scan_id": sid(), "count": count_id, "location": BIN["SOCK"].lower(),
            "lines": [{"barcode": GTIN["SOCK"], "quantity": 12}, {"sku": "SOCK", "quantity": 3},
                      {"barcode": UNSTOCKED[1], "quantity": 1}]}
    for bad, code in (
            ({**good, "location": BIN["MUG"]}, "wrong_location"),
            ({**good, "lines": [{"barcode": "0000", "quantity": 1}]}, "unknown_sku"),
            ({**good, "lines": [{"sku": "SOCK", "quantity": -2}]}, "bad_quantity"),
            ({**good, "lines": [{"sku": "SOCK", "barcode": "x", "quantity": 1}]},
             "bad_request"),
            ({**good, "count": 99999}, "no_count"),
            ({**good, "scan_id": "short"}, "bad_request"),
            ({**good, "extra": 1}, "bad_request")):
        refused = ack(counter, "count.submit", {**bad, "scan_id": bad["scan_id"] if
                                                bad["scan_id"] == "short" else sid()})
        assert refused["ok"] is False and refused["error"]["code"] == code, (bad, refused)
    stolen = ack(other, "count.submit", {**good, "scan_id": sid()})
    assert stolen["error"]["code"] == "not_your_count"
    assert stock_at(floor, "SOCK")[BIN["SOCK"]]["on_hand"] == 20     # nothing changed yet
    done = ack(counter, "count.submit", good)
    assert done["ok"] and done["count"] == count_id and done["scan_id"] == good["scan_id"]
    lines = {ln["sku"]: ln for ln in done["lines"]}
    assert (lines["SOCK"]["counted"], lines["SOCK"]["variance"]) == (15, -5)
    assert lines["OTHER"]["on_hand"] == 1
    # replays: the same answer, counted once; other content under the same id is refused
    assert ack(counter, "count.submit", good) == done
    assert ack(floor.socket("p2"), "count.submit", good) == done
    clash = ack(counter, "count.submit", {**good, "lines": [{"sku": "SOCK", "quantity": 1}]})
    assert clash["error"]["code"] == "scan_id_conflict"
    sock = stock_at(floor, "SOCK")[BIN["SOCK"]]
    assert (sock["on_hand"], sock["blocked"]) == (15, None)
    assert query(floor, "SELECT COUNT(*) FROM audit WHERE action = 'stock.cycle_count'") == [(2,)]
    assert query(floor, "SELECT kind, task_id FROM scan WHERE kind = 'count'") \
        == [("count", None)]
    closed = ack(counter, "count.submit", {**good, "scan_id": sid()})
    assert closed["error"]["code"] == "count_closed"
    assert ack(counter, "count.next") == {"ok": True, "count": None}


def test_the_handheld_takes_scheduled_counts_in_order(floor):
    floor.api("post", "/api/v1/counts:schedule",
              json={"warehouse": "main", "from_location": "A-01-01-1",
                    "to_location": "B-99-01-1"})
    hh = floor.socket("p1")
    seen = []
    while (got := ack(hh, "count.next"))["count"] is not None:
        c = got["count"]
        seen.append(c["location"])
        sku = c["skus"][0]["sku"]
        done = ack(hh, "count.submit", {"scan_id": sid(), "count": c["count_id"],
                                        "location": c["location"],
                                        "lines": [{"sku": sku, "quantity": 20}]})
        assert done["ok"] and done["lines"][0]["variance"] == 0, done
    assert seen == [BIN["SOCK"], BIN["MUG"]]
    assert floor.api("get", "/api/v1/counts?state=open").get_json()["counts"] == []


def test_a_short_picks_count_comes_before_older_scheduled_ones(floor):
    floor.api("post", "/api/v1/counts:schedule", json={"warehouse": "main", "sku": "MUG"})
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    _, _, sh = short_first_task(floor)
    counter = floor.socket("p2")
    assert ack(counter, "count.next")["count"]["count_id"] == sh["count"]


# ---- a count racing picks of the same bin ------------------------------------------------------

def _race(app, pickers, counter, extra=()) -> tuple[list, list]:
    """Run `pickers` (until they end) beside `counter(stop)`, `extra` and a monitor that
    reads every stock row's committed state; returns (errors raised, bad states seen:
    reserved above on-hand or not what the bin's reservations hold)."""
    from server.store.db import db, execute
    stop, errors, bad = threading.Event(), [], []

    def run(fn, *args):
        try:
            with app.app_context():
                fn(*args)
        except BaseException as err:     # noqa: BLE001 (reported by the test)
            errors.append(repr(err))
        finally:
            if not db.is_closed():
                db.close()

    def monitor(_stop):
        while not stop.is_set():
            with db.connection_context():
                for on_hand, reserved, held in execute(
                        "SELECT s.on_hand, s.reserved, (SELECT COALESCE(SUM(a.quantity), 0) "
                        "FROM allocation a WHERE a.stock_id = s.id) FROM stock s"):
                    if not 0 <= reserved <= on_hand or reserved != held:
                        bad.append((on_hand, reserved, held))
            stop.wait(0.01)

    first = [threading.Thread(target=run, args=(fn,)) for fn in pickers]
    rest = [threading.Thread(target=run, args=(fn, stop)) for fn in (counter, monitor)] + \
        [threading.Thread(target=run, args=(fn,)) for fn in extra]
    for t in first + rest:
        t.start()
    for t in first:
        t.join()
    stop.set()
    for t in rest:
        t.join()
    return errors, bad


def test_a_count_racing_picks_of_the_same_bin_loses_nothing(db_url):
    """Pickers scan units out of a bin while a supervisor counts it again and again and
    new orders reserve from it: reserved <= on_hand at every moment seen, every count
    starts from the previous count's figure (no update lost between them), and the book
    ends as the last count plus every unit picked since."""
    from server.services import counts, picking
    from server.settings import of
    from server.store.db import db, execute
    app = make_app(db_url, picking={**PICK_CFG, "require_location_scan": False})
    floor = build_floor(app, stock=200)
    for i in range(12):
        floor.order(f"R-{i}", (("SOCK", 2),))
    floor.wave(totes=6)                              # two carts of 6 orders
    with app.app_context(), db.connection_context():
        users = dict(execute("SELECT badge, id FROM app_user").fetchall())

    def picker(badge):
        who = picking.Picker(users[badge], badge, "picker", f"HH-{badge}")
        task = picking.next_task(who, settings=of(app))["task"]
        while task is not None:
            got = picking.record_scan(who, {"scan_id": sid(), "raw": GTIN["SOCK"]},
                                      settings=of(app),
                                      committer=app.extensions.get("wavepack.group_commit"))
            assert got["verdict"] == "ok", got
            task = got["next"]

    def counter(stop):
        n = 0
        while not stop.is_set() or n < 3:
            got = counts.record_count("main", BIN["SOCK"], [("SOCK", 150)], "user:s1",
                                      settings=of(app))
            assert got["lines"][0]["on_hand"] == 150 + got["lines"][0]["in_transit"]
            n += 1

    def orders():
        for i in range(6):
            floor.order(f"N-{i}", (("SOCK", 1),))

    errors, bad = _race(app, [lambda: picker("p1"), lambda: picker("p2")], counter, [orders])
    assert errors == [] and bad == []
    lines = query(floor, "SELECT cl.on_hand_before, cl.on_hand_after, cl.in_transit, "
                         "cl.counted FROM count_line cl JOIN stock s ON s.id = cl.stock_id "
                         "JOIN location l ON l.id = s.location_id JOIN product p ON "
                         "p.id = s.product_id WHERE l.code = ? AND p.sku = 'SOCK' "
                         "ORDER BY cl.id", (BIN["SOCK"],))
    assert len(lines) >= 3
    assert lines[0][0] == 200
    for prev, cur in zip(lines, lines[1:]):
        assert cur[0] == prev[1], (prev, cur)           # nothing lost between two counts
        assert cur[2] >= prev[2]                         # units picked only ever grow
    picked = query(floor, "SELECT COALESCE(SUM(a.picked), 0) FROM allocation a JOIN stock s "
                          "ON s.id = a.stock_id JOIN location l ON l.id = s.location_id "
                          "WHERE l.code = ?", (BIN["SOCK"],))[0][0]
    assert picked == 24
    [(on_hand, reserved)] = query(floor, "SELECT s.on_hand, s.reserved FROM stock s JOIN "
                                  "location l ON l.id = s.location_id JOIN product p ON "
                                  "p.id = s.product_id WHERE l.code = ? AND p.sku = 'SOCK'",
                                  (BIN["SOCK"],))
    assert on_hand == lines[-1][1] and reserved <= on_hand
    final = counts_api_count(floor)
    assert final["on_hand"] == 150 + 24 and final["in_transit"] == 24


def counts_api_count(floor) -> dict:
    r = post_count(floor, BIN["SOCK"], [("SOCK", 150)])
    assert r.status_code == 201, r.get_json()
    return r.get_json()["lines"][0]


def test_a_count_racing_short_picks_of_the_same_bin_keeps_the_books(db_url):
    """Pickers short task after task at one bin while it is counted again and again: no
    short changes on-hand (each count starts where the last one ended), the bin's reserved
    always equals its reservations and never passes on-hand, every unit of every order is
    reserved or backordered, and nothing fails (no deadlock between the two paths)."""
    from server.services import counts, picking
    from server.settings import of
    from server.store.db import db, execute
    app = make_app(db_url, picking={**PICK_CFG, "require_location_scan": False})
    floor = build_floor(app, stock=100)
    for i in range(8):
        floor.order(f"S-{i}", (("SOCK", 2),))
    floor.wave(totes=1)                              # eight carts of one order each
    with app.app_context(), db.connection_context():
        users = dict(execute("SELECT badge, id FROM app_user").fetchall())

    def picker(badge):
        who = picking.Picker(users[badge], badge, "picker", f"HH-{badge}")
        while (task := picking.next_task(who, settings=of(app))["task"]) is not None:
            got = picking.short_pick(who, {"scan_id": sid(), "task": task["task_id"],
                                           "found": 0}, settings=of(app))
            assert got["ok"], got

    def counter(stop):
        n = 0
        while not stop.is_set() or n < 3:
            counts.record_count("main", BIN["SOCK"], [("SOCK", 100)], "user:s1", settings=of(app))
            n += 1

    errors, bad = _race(app, [lambda: picker("p1"), lambda: picker("p2")], counter)
    assert errors == [] and bad == []
    lines = query(floor, "SELECT cl.on_hand_before, cl.on_hand_after, cl.in_transit "
                         "FROM count_line cl JOIN stock s ON s.id = cl.stock_id JOIN location l "
                         "ON l.id = s.location_id WHERE l.code = ? ORDER BY cl.id",
                  (BIN["SOCK"],))
    assert lines[0][0] == 100 and all(ln[:3] == (100, 100, 0) for ln in lines), lines
    [(on_hand, reserved, held)] = query(
        floor, "SELECT s.on_hand, s.reserved, (SELECT COALESCE(SUM(a.quantity), 0) FROM "
               "allocation a WHERE a.stock_id = s.id) FROM stock s JOIN location l ON "
               "l.id = s.location_id JOIN product p ON p.id = s.product_id "
               "WHERE l.code = ? AND p.sku = 'SOCK'", (BIN["SOCK"],))
    assert on_hand == 100 and reserved == held <= on_hand
    assert query(floor, "SELECT COUNT(*) FROM order_line WHERE reserved + backordered "
                        "<> quantity") == [(0,)]
    shorts = query(floor, "SELECT COUNT(*) FROM scan WHERE kind = 'short'")[0][0]
    assert shorts == 8
