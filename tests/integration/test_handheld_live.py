"""The /handheld protocol against a REAL `wavepack serve` process (gevent), with the
python-socketio client over websocket, on SQLite and PostgreSQL (tests/live.py).

tests/integration/test_picking.py checks the rules through Flask-SocketIO's in-process
test client; these check what only a real server shows: the transport (origin check,
websocket), concurrent connections racing on one scan_id, a connection cut or the
server killed (SIGKILL) in the middle of a cart, and the state read back over HTTP.
"""
from __future__ import annotations

import json
import threading

import pytest

from ..floor import PRODUCTS, UNSTOCKED, sid
from .. import live as _live
from ..live import Refused

live_floor, live_async_mode = _live.live_floor, _live.live_async_mode    # the fixtures

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: loc for sku, _, loc, _ in PRODUCTS}
EXPIRED_SOCK = f"]C101{GTIN['SOCK'].rjust(14, '0')}17010101" + "10LOT1"
EVIL = "http://evil.example"
PIPELINED = 4               # of each racing client's 100 sends, sent without waiting
ACK_WAIT_S = 120            # a liveness bound (a lost ack fails the test), not a timing


def scan(hh, raw: str, **kw) -> dict:
    return hh.call("scan", {"scan_id": kw.pop("scan_id", None) or sid(), "raw": raw, **kw})


def scan_rows(lf, scan_id: str | None = None) -> int:
    if scan_id is None:
        return lf.query("SELECT COUNT(*) FROM scan")[0][0]
    return lf.query("SELECT COUNT(*) FROM scan WHERE scan_id = ?", (scan_id,))[0][0]


def counted(lf) -> int:
    return lf.query("SELECT COALESCE(SUM(counted), 0) FROM scan")[0][0]


def wave_of(live) -> dict:
    status, body = live.http("GET", "/api/v1/waves")
    assert status == 200, body
    [wave] = [w for w in body["waves"] if w["status"] != "cancelled"]
    return wave


# ---- 1. who may connect ----------------------------------------------------------------------

def test_connect_needs_a_picker_token_and_the_servers_own_origin(live_floor):
    live = live_floor.start()
    with pytest.raises(Refused) as none:
        live.connect(None)                                     # no auth at all
    assert none.value.code == "unauthenticated", none.value.data
    with pytest.raises(Refused) as bad:
        live.connect(None, token="wps_not-a-real-token")
    assert bad.value.code == "unauthenticated", bad.value.data
    with pytest.raises(Refused) as packer:
        live.connect("k1")
    assert packer.value.code == "forbidden", packer.value.data

    # a page from another site: refused by the transport, before Socket.IO speaks
    with pytest.raises(Refused) as evil:
        live.connect("p1", origin=EVIL)
    assert evil.value.code is None and not isinstance(evil.value.data, dict), evil.value.data
    handshake = "/socket.io/?EIO=4&transport=polling"
    status, body = live.http("GET", handshake, headers={"Origin": EVIL})
    assert status == 400, body
    status, body = live.http("GET", handshake, headers={"Origin": live.url})
    assert status == 200 and isinstance(body, str) and body.startswith("0{"), body

    hh = live.connect("p1", origin=live.url)
    assert hh.connected
    me = hh.call("whoami")
    assert me["ok"] and me["user"] == {"badge": "p1", "role": "picker", "device": "HH-p1"}
    assert me["settings"] == {"require_location_scan": True, "require_tote_scan": False,
                              "confirm_tote": True}
    assert scan_rows(live_floor) == 0


# ---- 2. every verdict ------------------------------------------------------------------------

def test_every_verdict_over_the_wire_and_the_order_line_picked(live_floor):
    a = live_floor.floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    b = live_floor.floor.order("B-1", (("TEE", 1),))
    live_floor.floor.wave(totes=4)
    live = live_floor.start()
    hh = live.connect("p1")
    first = hh.call("task.next")
    task = first["task"]
    assert first["cart"]["tasks_left"] == 3
    assert (task["location"], task["quantity"], task["needs"]) == (BIN["SOCK"], 2, "location")

    got = scan(hh, GTIN["SOCK"])                       # an item before its location
    assert (got["ok"], got["verdict"], got["remaining"]) == (False, "scan_location_first", 2)
    assert got["expected"] == {"scan": "location", "task_id": task["task_id"],
                               "location": BIN["SOCK"]}
    assert scan(hh, "Z-99-01-1")["verdict"] == "wrong_location"
    assert scan(hh, "NOT A CODE")["verdict"] == "unknown_barcode"
    got = scan(hh, BIN["SOCK"])
    assert (got["ok"], got["verdict"], got["next"]["needs"]) == (True, "ok", "item")
    assert scan(hh, GTIN["TEE"])["verdict"] == "not_in_task"      # another task of the cart
    assert scan(hh, UNSTOCKED[1])["verdict"] == "wrong_item"      # known, in no task
    got = scan(hh, EXPIRED_SOCK)
    assert (got["ok"], got["verdict"], got["remaining"]) == (False, "expired_lot", 2)
    order = live.order(a)
    assert order["lines"][0]["picked"] == 0 and order["status"] == "waved"

    got = scan(hh, GTIN["SOCK"], symbology="EAN13")
    assert (got["ok"], got["verdict"], got["remaining"], got["next"]["picked"]) \
        == (True, "ok", 1, 1)
    order = live.order(a)
    assert order["status"] == "picking"
    assert [ln["picked"] for ln in order["lines"]] == [1, 0]
    got = scan(hh, GTIN["SOCK"])
    assert got["ok"] and got["remaining"] == 0 and got["next"]["sku"] != "SOCK"
    # over_pick cannot be reached over the wire: a task is closed the moment it is full,
    # and a unit named for the closed task is refused (nothing stored, nothing counted)
    closed = scan(hh, GTIN["SOCK"], task=task["task_id"])
    assert closed["ok"] is False and closed["error"]["code"] == "task_closed"
    assert [ln["picked"] for ln in live.order(a)["lines"]] == [2, 0]

    nxt = got["next"]
    while nxt is not None:
        assert scan(hh, nxt["location"])["verdict"] == "ok"
        for _ in range(nxt["remaining"]):
            got = scan(hh, GTIN[nxt["sku"]])
            assert got["verdict"] == "ok", got
        nxt = got["next"]
    order_a, order_b = live.order(a), live.order(b)
    assert order_a["status"] == "picked" and [ln["picked"] for ln in order_a["lines"]] == [2, 1]
    assert order_b["status"] == "picked" and [ln["picked"] for ln in order_b["lines"]] == [1]
    wave = wave_of(live)
    assert wave["status"] == "done" and wave["carts"][0]["status"] == "done"
    stored = dict(live_floor.query("SELECT verdict, COUNT(*) FROM scan GROUP BY verdict"))
    assert stored == {"scan_location_first": 1, "wrong_location": 1, "unknown_barcode": 1,
                      "not_in_task": 1, "wrong_item": 1, "expired_lot": 1, "ok": 3 + 2 + 2}
    assert counted(live_floor) == 4
    assert hh.call("task.next") == {"ok": True, "task": None, "cart": None}


# ---- 3. one scan_id, a thousand times, racing --------------------------------------------

@pytest.mark.parametrize("live_async_mode", ["gevent", "threading"])
def test_a_thousand_racing_replays_of_one_scan_count_it_once(live_floor):
    """Under gevent (production) and Werkzeug's threads (the fallback: real parallelism)."""
    a = live_floor.floor.order("A-1", (("SOCK", 3),))
    live_floor.floor.wave()
    live = live_floor.start()
    lead = live.connect("p1")
    task = lead.call("task.next")["task"]
    assert scan(lead, task["location"])["ok"]
    message = {"scan_id": sid(), "raw": GTIN["SOCK"], "symbology": "EAN13"}
    # ten connections of the same handheld (a replay counts only from the sender's device)
    clients = [live.connect("p1") for _ in range(10)]
    start = threading.Barrier(len(clients))
    acks: list[dict] = []
    lock = threading.Lock()
    all_in = threading.Event()
    failures: list[BaseException] = []

    def got(ack: dict) -> None:
        with lock:
            acks.append(ack)
            if len(acks) == 1000:
                all_in.set()

    def client(hh) -> None:
        try:
            start.wait()
            # back to back on one connection without waiting, then one at a time. (Not
            # all 100 at once: each event in flight may hold one of the server's pooled
            # database connections, and PostgreSQL's 100 are shared with the other test
            # workers.)
            for _ in range(PIPELINED):
                hh.emit("scan", dict(message), got)
            for _ in range(100 - PIPELINED):
                got(hh.call("scan", dict(message)))
        except BaseException as err:         # reported below, not lost in the thread
            failures.append(err)
            all_in.set()

    threads = [threading.Thread(target=client, args=(hh,)) for hh in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all_in.wait(ACK_WAIT_S) and not failures, (len(acks), failures)
    assert len(acks) == 1000
    first = acks[0]
    distinct = {json.dumps(ack, sort_keys=True) for ack in acks}
    assert len(distinct) == 1, (distinct, "".join(live.output[-60:]))
    assert (first["ok"], first["verdict"], first["scan_id"], first["remaining"]) \
        == (True, "ok", message["scan_id"], 2)
    assert all(ack == first for ack in acks), [ack for ack in acks if ack != first][:3]
    assert [ln["picked"] for ln in live.order(a)["lines"]] == [1]
    assert scan_rows(live_floor, message["scan_id"]) == 1
    assert counted(live_floor) == 1
    # the next unit, with a new scan_id, is counted: the task was not left stuck
    nxt = scan(lead, GTIN["SOCK"])
    assert nxt["ok"] and nxt["remaining"] == 1
    assert [ln["picked"] for ln in live.order(a)["lines"]] == [2]


@pytest.mark.parametrize("live_async_mode", ["gevent", "threading"])
def test_six_pickers_scanning_at_once_count_every_unit_once(live_floor):
    """Six pickers pick their own carts at the same moment, back to back: on PostgreSQL
    their scans share transactions (group commit), on SQLite each has its own. Every ack
    is a verdict, every unit counted once, every order picked, the handling metrics saw
    every scan."""
    from server.services import auth
    from server.store.db import db
    floor = live_floor.floor
    badges = [f"p{n}" for n in range(1, 7)]
    with floor.app.app_context(), db.connection_context():
        for badge in badges[2:]:
            user_id = auth.add_user(badge, "picker", "1234", f"Picker {badge}")
            floor.tokens[badge] = auth.create_token(role="picker", label=f"login {badge}",
                                                    hours=12, user_id=user_id)
    skus = list(GTIN)
    orders = [floor.order(f"M-{n}", ((skus[n % 4], 2), (skus[(n + 1) % 4], 1)))
              for n in range(len(badges))]
    floor.wave(totes=1)                                    # an order per cart
    live = live_floor.start()
    acks: dict[str, list[dict]] = {b: [] for b in badges}
    failures: list[BaseException] = []
    start = threading.Barrier(len(badges))

    def picker(badge: str) -> None:
        try:
            hh = live.connect(badge)
            task = hh.call("task.next")["task"]
            start.wait()
            while task is not None:
                for raw in [task["location"]] + [GTIN[task["sku"]]] * task["remaining"]:
                    ack = scan(hh, raw)
                    acks[badge].append(ack)
                    assert ack.get("verdict") == "ok", ack
                task = ack["next"]
        except BaseException as err:         # reported below, not lost in the thread
            failures.append(err)

    threads = [threading.Thread(target=picker, args=(b,)) for b in badges]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ACK_WAIT_S)
    assert not failures, failures
    total = sum(len(a) for a in acks.values())
    assert all(acks.values())                              # each picker had a cart
    assert total == 6 * (2 + 3)                            # 2 bins + 3 units per order
    for order_id in orders:
        got = live.order(order_id)
        assert got["status"] == "picked", got
        assert [ln["picked"] for ln in got["lines"]] == [ln["quantity"] for ln in got["lines"]]
    assert scan_rows(live_floor) == total and counted(live_floor) == 6 * 3
    status, seen = live.http("GET", "/api/v1/metrics/handheld")
    assert status == 200 and seen["scan"]["n"] == total and seen["scan"]["errors"] == 0, seen


# ---- 4. the connection cut in the middle of a cart ------------------------------------------

def test_server_killed_and_connection_cut_mid_cart_count_every_unit_once(live_floor):
    a = live_floor.floor.order("A-1", (("SOCK", 3), ("MUG", 2)))
    live_floor.floor.wave()
    live = live_floor.start()
    hh = live.connect("p1", reconnect=True)
    task = hh.call("task.next")["task"]
    assert task["sku"] == "SOCK" and task["quantity"] == 3
    # the handheld's queue: every scan keeps its scan_id until its ack is seen
    queue = [{"scan_id": sid(), "raw": BIN["SOCK"]}] + \
        [{"scan_id": sid(), "raw": GTIN["SOCK"]} for _ in range(3)]
    acked: dict[str, dict] = {}
    for msg in queue[:2]:                                # location and unit 1: acked
        acked[msg["scan_id"]] = hh.call("scan", msg)
    assert [ack["verdict"] for ack in acked.values()] == ["ok", "ok"]
    in_flight = queue[2]
    hh.emit("scan", in_flight, lambda ack: acked.setdefault(in_flight["scan_id"], ack))
    drops = hh.drops
    live.kill()                                          # SIGKILL, unit 2 in flight
    hh.wait_dropped(drops)
    # unit 3 is scanned while the server is down: it stays in the queue, never sent
    live.restart()
    hh.wait_connected()
    for msg in queue:                                    # the client resends everything
        got = hh.call("scan", msg)
        if msg["scan_id"] in acked:
            assert got == acked[msg["scan_id"]], (got, acked[msg["scan_id"]])
        assert got["ok"] and got["verdict"] == "ok", got
    order = live.order(a)
    assert [ln["picked"] for ln in order["lines"]] == [3, 0]
    assert scan_rows(live_floor) == 4 and counted(live_floor) == 3

    # the second task: the network drops (the server stays up); the handheld reconnects
    # and resends; then the app restarts (a new connection) and resends again
    nxt = hh.call("task.next")["task"]
    assert nxt["sku"] == "MUG" and nxt["remaining"] == 2
    loc, unit1, unit2 = ({"scan_id": sid(), "raw": raw}
                         for raw in (BIN["MUG"], GTIN["MUG"], GTIN["MUG"]))
    before = [hh.call("scan", loc), hh.call("scan", unit1)]
    assert [ack["verdict"] for ack in before] == ["ok", "ok"]
    hh.cut()
    hh.wait_connected()
    assert [hh.call("scan", loc), hh.call("scan", unit1)] == before
    hh.close()
    again = live.connect("p1", device="HH-p1")
    assert [again.call("scan", loc), again.call("scan", unit1)] == before
    last = again.call("scan", unit2)
    assert (last["ok"], last["remaining"], last["next"]) == (True, 0, None)
    order = live.order(a)
    assert order["status"] == "picked"
    assert [ln["picked"] for ln in order["lines"]] == [3, 2]
    assert scan_rows(live_floor) == 7 and counted(live_floor) == 5
    wave = wave_of(live)
    assert wave["status"] == "done" and [c["status"] for c in wave["carts"]] == ["done"]
    assert again.call("task.next") == {"ok": True, "task": None, "cart": None}


# ---- 5. another picker's task -------------------------------------------------------------------

def test_a_picker_cannot_scan_or_short_another_pickers_task(live_floor):
    a = live_floor.floor.order("A-1", (("SOCK", 2),))
    live_floor.floor.wave()
    live = live_floor.start()
    one, two = live.connect("p1"), live.connect("p2")
    task = one.call("task.next")["task"]
    assert two.call("task.next") == {"ok": True, "task": None, "cart": None}
    got = scan(two, task["location"], task=task["task_id"])
    assert got["ok"] is False and got["error"]["code"] == "not_your_task", got
    assert scan(one, task["location"])["ok"]                  # the owner confirms the bin
    got = scan(two, GTIN["SOCK"], task=task["task_id"])       # ...and the other scans a unit
    assert got["ok"] is False and got["error"]["code"] == "not_your_task", got
    got = two.call("short", {"scan_id": sid(), "task": task["task_id"], "found": 0})
    assert got["ok"] is False and got["error"]["code"] == "not_your_task", got
    assert [ln["picked"] for ln in live.order(a)["lines"]] == [0]
    assert live.order(a)["status"] == "waved"
    assert scan_rows(live_floor) == 1 and counted(live_floor) == 0   # the owner's location
    mine = scan(one, GTIN["SOCK"])
    assert mine["ok"] and mine["remaining"] == 1
    assert [ln["picked"] for ln in live.order(a)["lines"]] == [1]


# ---- 6. short pick --------------------------------------------------------------------------

def test_short_pick_over_the_wire_backorders_and_replays(live_floor):
    a = live_floor.floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    live_floor.floor.wave()
    live = live_floor.start()
    hh = live.connect("p1")
    task = hh.call("task.next")["task"]
    assert task["sku"] == "SOCK"
    assert scan(hh, task["location"])["ok"] and scan(hh, GTIN["SOCK"])["ok"]
    bad = hh.call("short", {"scan_id": sid(), "task": task["task_id"], "found": 0})
    assert bad["ok"] is False and bad["error"]["code"] == "bad_found", bad
    short = {"scan_id": sid(), "task": task["task_id"], "found": 1, "reason": "bin empty"}
    sh = hh.call("short", short)
    assert (sh["ok"], sh["short"], sh["backordered"], sh["reallocated"], sh["remaining"]) \
        == (True, 1, 1, [], 0), sh
    assert sh["scan_id"] == short["scan_id"] and sh["next"]["sku"] == "MUG"
    assert hh.call("short", short) == sh                       # replay, same connection
    other = live.connect("p1")
    assert other.call("short", short) == sh                    # replay, another connection
    clash = other.call("short", {**short, "reason": "something else"})
    assert clash["ok"] is False and clash["error"]["code"] == "scan_id_conflict", clash
    spare = live.connect("p1", device="HH-p1-spare")          # not the device that sent it
    clash = spare.call("short", short)
    assert clash["ok"] is False and clash["error"]["code"] == "scan_id_conflict", clash
    order = live.order(a)
    assert [(ln["picked"], ln["backordered"]) for ln in order["lines"]] == [(1, 1), (0, 0)]

    nxt = sh["next"]
    assert scan(hh, nxt["location"])["ok"]
    last = scan(hh, GTIN["MUG"])
    assert (last["ok"], last["next"]) == (True, None)
    order = live.order(a)
    assert order["status"] == "backordered"
    assert [(ln["picked"], ln["backordered"]) for ln in order["lines"]] == [(1, 1), (1, 0)]
    status, stock = live.http("GET", "/api/v1/stock?sku=SOCK")
    assert status == 200, stock
    at = {r["location"]: r for r in stock["locations"]}
    # nothing is written off (this used to cut the bin to the one unit found): the bin keeps
    # its 20 on hand, reserved only for the unit picked, blocked until it is counted
    sock = at[BIN["SOCK"]]
    assert (sock["on_hand"], sock["reserved"], sock["available"], sock["blocked"]) \
        == (20, 1, 0, "count_pending")
    assert sh["notice"]["code"] == "short.backordered" and sh["count"]
    kinds = live_floor.query("SELECT kind, COUNT(*) FROM scan GROUP BY kind ORDER BY kind")
    assert kinds == [("pick", 4), ("short", 1)]
    types = sorted(r[0] for r in live_floor.query("SELECT type FROM wms_exception"))
    assert types == ["short_pick", "stock_discrepancy"]
    assert wave_of(live)["status"] == "done"

    # the bin's count over the wire: 18 in the bin + the unit in the tote; replayed alike
    counter = live.connect("p2")
    count = counter.call("count.next")["count"]
    assert (count["count_id"], count["location"]) == (sh["count"], BIN["SOCK"])
    submit = {"scan_id": sid(), "count": count["count_id"], "location": BIN["SOCK"],
              "lines": [{"barcode": GTIN["SOCK"], "quantity": 18}]}
    done = counter.call("count.submit", submit)
    assert done["ok"] and done["lines"][0]["variance"] == -1, done
    assert counter.call("count.submit", submit) == done
    assert live.connect("p2").call("count.submit", submit) == done   # replay, new connection
    clash = hh.call("count.submit", submit)                  # another picker's scan_id
    assert clash["ok"] is False and clash["error"]["code"] == "scan_id_conflict", clash
    status, stock = live.http("GET", "/api/v1/stock?sku=SOCK")
    sock = {r["location"]: r for r in stock["locations"]}[BIN["SOCK"]]
    # the count freed the bin: the backordered sock is reserved from it again
    assert (sock["on_hand"], sock["reserved"], sock["blocked"]) == (19, 2, None)
    order = live.order(a)
    assert order["status"] == "ready"                          # to be waved for the rest
    assert (order["lines"][0]["reserved"], order["lines"][0]["backordered"]) == (2, 0)
    assert live_floor.query("SELECT state FROM wms_exception WHERE type = "
                            "'stock_discrepancy'") == [("resolved",)]
