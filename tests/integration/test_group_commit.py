"""Group commit of pick scans on PostgreSQL (server/services/scan_pg.py): scans waiting
together are verified in one transaction, each exactly as alone, and each answered only
after the COMMIT holding its row; a failure rolls the batch back and runs each alone."""
from __future__ import annotations

import threading
import time

import pytest

from ..conftest import PG_BASE, make_app
from ..floor import PICK_CFG, PRODUCTS, build_floor, sid

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
PICKERS = 6


@pytest.fixture
def floor(pg_schema):
    from server import clock
    from server.services import auth
    from server.store.db import db
    app = make_app(f"{PG_BASE}?schema={pg_schema}", picking=PICK_CFG)
    floor = build_floor(app)
    with app.app_context(), db.connection_context():
        for n in range(3, PICKERS + 1):
            user_id = auth.add_user(f"p{n}", "picker", "1234", f"Picker {n}")
            floor.tokens[f"p{n}"] = auth.create_token(role="picker", label=f"login p{n}",
                                                      hours=12, user_id=user_id)
    # one order, one cart per picker; a cart each claimed over /handheld
    skus = ["SOCK", "MUG", "TEE", "CAP", "SOCK", "MUG"]
    floor.orders = [floor.order(f"G-{n}", ((sku, 1),)) for n, sku in enumerate(skus, 1)]
    floor.wave(totes=1)
    floor.tasks = {}
    for n in range(1, PICKERS + 1):
        hh = floor.socket(f"p{n}")
        got = hh.emit("task.next", {}, namespace="/handheld", callback=True)
        floor.tasks[f"p{n}"] = got["task"]
        hh.disconnect(namespace="/handheld")
    yield floor
    clock.set_clock(None)


def _picker(floor, badge):
    from server.services import auth, picking
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        who = auth.principal(floor.tokens[badge])
    return picking.Picker(who.user_id, who.badge, who.role, f"HH-{badge}")


def _together(floor, scans):
    """Submit (badge, message) scans from threads while the committer is held back, then
    let it run: they queue up and go as batches. Returns the answers (or errors) in order
    and the committer."""
    from server.services import picking
    from server.domain.errors import DomainError
    from server.settings import of
    committer = floor.app.extensions["wavepack.group_commit"]
    pickers = {badge: _picker(floor, badge) for badge, _ in scans}
    answers: list = [None] * len(scans)
    committer.IDLE_SECONDS = 0.05          # the last round's committer stops soon
    committer.max_workers = 1
    deadline = time.monotonic() + 10
    while True:
        with committer.cond:
            if not committer.workers:
                committer.workers = 1      # submit() queues without starting a committer
                break
        assert time.monotonic() < deadline
        time.sleep(0.01)

    def one(k, badge, msg):
        with floor.app.app_context():
            try:
                answers[k] = picking.record_scan(pickers[badge], msg, settings=of(floor.app),
                                                 committer=committer)
            except DomainError as err:
                answers[k] = {"error": err.code}
            except Exception as err:      # noqa: BLE001 — reported to the test
                answers[k] = {"raised": repr(err)}

    threads = []
    for k, (badge, msg) in enumerate(scans):   # queued in this order
        threads.append(threading.Thread(target=one, args=(k, badge, msg)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while len(committer.queue) < k + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(committer.queue) == k + 1
    before = committer.batches
    threading.Thread(target=committer._run, daemon=True).start()
    for t in threads:
        t.join(30)
    return answers, committer.batches - before


def _sql(floor, query, *params):
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in db.execute_sql(query, params).fetchall()]


def test_scans_waiting_together_share_one_transaction_and_answer_as_alone(floor):
    tasks = floor.tasks
    # round 1: every picker's bin, p2's second scan (waits for the next batch), a wrong item
    first = {b: sid() for b in tasks}
    scans = [(b, {"scan_id": first[b], "raw": tasks[b]["location"]}) for b in tasks]
    scans.append(("p2", {"scan_id": sid(), "raw": GTIN[tasks["p2"]["sku"]]}))
    answers, batches = _together(floor, scans)
    assert batches == 2, batches            # p2's item scan could not join p2's bin scan
    assert [a["verdict"] for a in answers] == ["ok"] * (PICKERS + 1), answers
    assert answers[-1]["remaining"] == 0 and answers[-1]["next"] is None   # p2's cart done
    assert _sql(floor, "SELECT COUNT(*) FROM scan") == [(PICKERS + 1,)]
    round1 = answers

    # round 2: the last unit of every other task (task, cart, wave maybe, order picked),
    # a replay of p1's bin scan, a wrong item, and a scan from a picker with no task
    wrong = next(g for s, g in GTIN.items() if s != tasks["p3"]["sku"])
    scans = [(b, {"scan_id": sid(), "raw": GTIN[tasks[b]["sku"]]})
             for b in tasks if b not in ("p2", "p3")]
    scans += [("p3", {"scan_id": sid(), "raw": wrong}),
              ("p2", {"scan_id": sid(), "raw": GTIN["SOCK"]}),
              ("p1", {"scan_id": first["p1"], "raw": tasks["p1"]["location"]})]
    answers, batches = _together(floor, scans)
    assert batches == 2
    verdicts = [a.get("verdict", a.get("error")) for a in answers]
    assert verdicts == ["ok"] * (PICKERS - 2) + ["wrong_item", "no_task", "ok"], answers
    assert answers[-1] == round1[0]               # the replay: its first answer, unchanged
    assert answers[-1]["remaining"] == 1          # the first answer of that scan_id, again
    assert all(a["next"] is None for a in answers[:PICKERS - 2])   # each cart's only task
    states = _sql(floor, "SELECT o.ref, o.status, l.picked FROM sales_order o "
                         "JOIN order_line l ON l.order_id = o.id ORDER BY o.ref")
    assert states == [(f"G-{n}", "waved" if n == 3 else "picked", 0 if n == 3 else 1)
                      for n in range(1, PICKERS + 1)], states
    # each order moved waved → picking (→ picked) once: no duplicate audit rows
    moves = _sql(floor, "SELECT entity_id, before, after FROM audit WHERE "
                        "action = 'order.status' AND after IN ('picking', 'picked') "
                        "ORDER BY entity_id, id")
    assert len(moves) == len(set(moves))
    assert _sql(floor, "SELECT COUNT(*) FROM cart WHERE status = 'done'") == [(PICKERS - 1,)]
    # every acknowledged scan has its row, the replay none of its own
    assert _sql(floor, "SELECT COUNT(*) FROM scan") == [(2 * PICKERS,)]


def test_a_failure_in_a_batch_rolls_it_back_and_each_scan_runs_alone(floor, monkeypatch):
    from server.services import picking
    real = picking.ScanPlan.__init__
    boom = sid()

    def plan(self, picker, task, scan, now, cfg):
        if scan.scan_id == boom:
            raise RuntimeError("this scan's plan fails")
        real(self, picker, task, scan, now, cfg)

    monkeypatch.setattr(picking.ScanPlan, "__init__", plan)
    from server import events
    heard: list = []
    stop = events.subscribe(picking.SCAN_RECORDED, lambda e: heard.append(e.data["scan_id"]))
    tasks = floor.tasks
    scans = [(b, {"scan_id": boom if b == "p3" else sid(), "raw": tasks[b]["location"]})
             for b in tasks]
    try:
        answers, batches = _together(floor, scans)
    finally:
        stop()
    # the rolled-back batch announced nothing; each scan run again alone, once
    assert sorted(heard) == sorted(m["scan_id"] for b, m in scans if b != "p3")
    assert batches == 1
    for badge, answer in zip(tasks, answers):
        if badge == "p3":
            assert "RuntimeError" in answer["raised"]
        else:
            assert answer["verdict"] == "ok", answer
    # the batch's writes were rolled back and made again alone: each exactly once
    assert _sql(floor, "SELECT COUNT(*), COUNT(DISTINCT scan_id) FROM scan") == [
        (PICKERS - 1, PICKERS - 1)]
    assert _sql(floor, "SELECT COUNT(*) FROM scan WHERE scan_id = %s", boom) == [(0,)]
    confirmed = _sql(floor, "SELECT COUNT(*) FROM pick_task WHERE location_confirmed")
    assert confirmed == [(PICKERS - 1,)]


def test_a_unit_before_its_bin_gets_the_same_verdict_in_a_batch(floor):
    """scan_location_first (not wrong_location) through group commit, as alone; then the
    bin and the unit, whose answer names the tote it goes to (put), as alone."""
    tasks = floor.tasks
    scans = [(b, {"scan_id": sid(), "raw": GTIN[tasks[b]["sku"]]}) for b in tasks]
    answers, batches = _together(floor, scans)
    assert batches == 1
    assert [(a["ok"], a["verdict"], a["remaining"]) for a in answers] == \
        [(False, "scan_location_first", 1)] * PICKERS, answers
    assert all(a["expected"]["scan"] == "location" and "put" not in a for a in answers)
    answers, _ = _together(floor, [(b, {"scan_id": sid(), "raw": tasks[b]["location"]})
                                   for b in tasks])
    assert [a["verdict"] for a in answers] == ["ok"] * PICKERS
    assert _sql(floor, "SELECT COUNT(*) FROM pick_task WHERE location_confirmed") == [
        (PICKERS,)]
    answers, _ = _together(floor, [(b, {"scan_id": sid(), "raw": GTIN[tasks[b]["sku"]]})
                                   for b in tasks])
    assert [a["verdict"] for a in answers] == ["ok"] * PICKERS, answers
    for badge, a in zip(tasks, answers):
        assert a["put"] == {"task_id": tasks[badge]["task_id"], "units": 1,
                            "tote": tasks[badge]["tote"], "tote_barcode": None,
                            "order": tasks[badge]["order"],
                            "label": f"CART-{tasks[badge]['cart']}-{tasks[badge]['tote']}",
                            "task_done": True, "confirm": True}
    verdicts = dict(_sql(floor, "SELECT verdict, COUNT(*) FROM scan GROUP BY verdict"))
    assert verdicts == {"scan_location_first": PICKERS, "ok": 2 * PICKERS}


def test_scans_waiting_for_their_commit_hold_no_pooled_connection(floor, monkeypatch):
    """A scan that rechecks its session (every SESSION_RECHECK_S; at one scan every 4 s,
    nearly every scan) gives that connection back before it waits for its batch: with a
    pool's worth of such scans waiting, the committers would find the pool empty and every
    scan would wait out the pool timeout (seen in the soak, tests/bench/load)."""
    from server.sockets import handheld
    from server.store.db import db
    pool = db.obj
    monkeypatch.setattr(pool, "_max_connections", 3)       # fewer than the waiting scans
    monkeypatch.setattr(pool, "_wait_timeout", 2)
    monkeypatch.setattr(handheld, "SESSION_RECHECK_S", 0.0)
    committer = floor.app.extensions["wavepack.group_commit"]
    committer.max_workers = 1
    with committer.cond:
        committer.workers += 1                 # submit() queues without starting a committer
    sockets = [floor.socket(b) for b in floor.tasks]
    sids = {p.badge: sid_ for sid_, p in handheld._pickers.items()}
    handler = floor.app.extensions["socketio"].server.handlers["/handheld"]["scan"]
    answers: dict = {}

    def scan(badge):
        task = floor.tasks[badge]
        answers[badge] = handler(sids[badge], {"scan_id": sid(), "raw": task["location"],
                                               "task": task["task_id"]})
    threads = [threading.Thread(target=scan, args=(b,)) for b in floor.tasks]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(committer.queue) < PICKERS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(committer.queue) == PICKERS, answers     # all waiting, none refused
    assert len(pool._in_use) == 0                      # … and holding no connection
    threading.Thread(target=committer._run, daemon=True).start()
    for t in threads:
        t.join(30)
    assert {b: a.get("verdict") for b, a in answers.items()} == \
        {b: "ok" for b in floor.tasks}, answers
    for s in sockets:
        s.disconnect(namespace="/handheld")
