"""The exception queue, on SQLite and PostgreSQL: exceptions raised by the real code paths
that detect them (never inserted), with their subject, owner and due time from the SLA in
config; the life cycle open → acknowledged → resolved | dismissed through the API (409 on
an invalid transition, roles, notes); list filters and keyset cursor; bad input (400/422,
nothing changed); overdue escalation with a settable clock; the weekly report."""
from __future__ import annotations

import datetime as dt

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, build_floor, sid
from .test_picking import BIN, GTIN, ack, scan

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def floor(db_url):
    from server import clock
    clock.set_clock(lambda: T0)
    yield build_floor(make_app(db_url, picking=PICK_CFG), spare=0)
    clock.set_clock(None)


def query(floor, statement: str, params: tuple = ()) -> list[tuple]:
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def listed(floor, qs: str = "", token=None) -> dict:
    r = floor.api("get", "/api/v1/exceptions" + qs, token)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def short_first_task(floor, found: int = 0):
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    assert scan(hh, task["location"])["ok"]
    for _ in range(found):
        assert scan(hh, GTIN[task["sku"]])["ok"]
    sh = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": found})
    assert sh["ok"], sh
    return task, sh


def test_a_short_pick_raises_a_discrepancy_on_the_bin_and_a_short_pick_on_the_order(floor):
    a = floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    task, sh = short_first_task(floor, found=1)
    page = listed(floor)
    by_type = {e["type"]: e for e in page["exceptions"]}
    assert page["next_cursor"] is None
    disc, short = by_type["stock_discrepancy"], by_type["short_pick"]
    assert disc["subject"] == {"kind": "bin", "id": disc["subject"]["id"], "ref": BIN["SOCK"]}
    assert (disc["severity"], disc["owner"], disc["state"]) == ("medium", "supervisor", "open")
    assert disc["due_at"] == (T0 + dt.timedelta(hours=24)).isoformat()
    assert short["subject"] == {"kind": "order", "id": a, "ref": "A-1"}
    assert (short["severity"], short["due_at"]) == ("high", (T0 + dt.timedelta(hours=4)).isoformat())
    assert not short["overdue"] and short["notes"] == [] and short["resolution"] is None


def post(floor, eid: int, action: str, body=None, token=None):
    return floor.api("post", f"/api/v1/exceptions/{eid}/{action}", token,
                     **({"json": body} if body is not None else {}))


def audit_of(floor, eid: int) -> list[tuple]:
    return query(floor, "SELECT action, before, after FROM audit WHERE entity = 'exception' "
                        "AND entity_id = ? ORDER BY id", (str(eid),))


def test_a_supervisor_works_an_exception_open_to_resolved_and_bad_moves_are_409(floor):
    floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor)
    short = listed(floor, "?type=short_pick")["exceptions"][0]
    eid = short["id"]
    r = post(floor, eid, "ack")
    assert r.status_code == 200 and r.get_json()["state"] == "acknowledged"
    assert post(floor, eid, "ack").status_code == 409
    r = post(floor, eid, "assign", {"owner": "user:s1"})
    assert r.status_code == 200 and r.get_json()["owner"] == "user:s1"
    r = post(floor, eid, "notes", {"note": "looked at the bin"})
    assert r.status_code == 201 and [n["note"] for n in r.get_json()["notes"]] \
        == ["looked at the bin"]
    r = post(floor, eid, "resolve", {"resolution": "restocked", "note": "found in B-02"})
    body = r.get_json()
    assert r.status_code == 200, body
    assert (body["state"], body["resolution"], body["resolved_by"]) == ("resolved", "restocked",
                                                                        "user:s1")
    assert [n["author"] for n in body["notes"]] == ["user:s1", "user:s1"]
    for action, payload in (("ack", None), ("resolve", {"resolution": "x"}),
                            ("dismiss", {"note": "no"}), ("assign", {"owner": "supervisor"})):
        r = post(floor, eid, action, payload)
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "bad_transition"
    assert [a[0] for a in audit_of(floor, eid)] == [
        "exception.open", "exception.ack", "exception.assign", "exception.note",
        "exception.resolve"]
    disc = listed(floor, "?type=stock_discrepancy")["exceptions"][0]
    r = post(floor, disc["id"], "dismiss", {"note": "a double"})
    assert r.status_code == 200 and (r.get_json()["state"], r.get_json()["resolution"]) \
        == ("dismissed", "dismissed")
    assert post(floor, 10**12, "ack").status_code == 404


def test_roles_pickers_note_only_their_own(floor):
    floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor)           # raised by p1
    eid = listed(floor, "?type=short_pick")["exceptions"][0]["id"]
    for badge in ("p1", "p2", "k1"):
        tok = floor.tokens[badge]
        assert floor.api("get", "/api/v1/exceptions", tok).status_code == 403
        for action, payload in (("ack", None), ("resolve", {"resolution": "x"}),
                                ("dismiss", {"note": "n"}), ("assign", {"owner": "picker"})):
            assert post(floor, eid, action, payload, tok).status_code == 403
    assert post(floor, eid, "notes", {"note": "the bin was empty"}, floor.tokens["p1"]) \
        .status_code == 201
    r = post(floor, eid, "notes", {"note": "not mine"}, floor.tokens["p2"])
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_yours"
    assert post(floor, eid, "assign", {"owner": "user:k1"}).status_code == 200
    assert post(floor, eid, "notes", {"note": "now mine"}, floor.tokens["k1"]).status_code == 201
    notes = floor.api("get", f"/api/v1/exceptions/{eid}").get_json()["notes"]
    assert [(n["author"], n["note"]) for n in notes] == [
        ("user:p1", "the bin was empty"), ("user:k1", "now mine")]
    assert floor.api("get", "/api/v1/exceptions", "nonsense").status_code == 401


def test_filters_cursor_and_bad_input(floor):
    for i in range(3):
        floor.order(f"A-{i}", (("SOCK", 1), ("MUG", 1)))
    floor.wave()
    hh = floor.socket("p1")
    while True:          # short every task: a discrepancy per bin, a short pick per line
        task = ack(hh, "task.next")["task"]
        if task is None:
            break
        assert scan(hh, task["location"])["ok"]
        assert ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": 0})["ok"]
    everything = listed(floor, "?limit=200")["exceptions"]
    assert len(everything) >= 5
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    seen, cursor = [], ""
    while True:
        page = listed(floor, f"?limit=2&cursor={cursor}")
        seen += [e["id"] for e in page["exceptions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    shorts = listed(floor, "?type=short_pick")["exceptions"]
    assert shorts and {e["type"] for e in shorts} == {"short_pick"}
    assert {e["severity"] for e in listed(floor, "?severity=high")["exceptions"]} == {"high"}
    post(floor, shorts[0]["id"], "ack")
    assert [e["id"] for e in listed(floor, "?state=acknowledged")["exceptions"]] \
        == [shorts[0]["id"]]
    post(floor, shorts[0]["id"], "assign", {"owner": "admin"})
    assert [e["id"] for e in listed(floor, "?owner=admin&state=acknowledged")["exceptions"]] \
        == [shorts[0]["id"]]
    assert listed(floor, "?overdue=true")["exceptions"] == []
    before = query(floor, "SELECT id, state, owner, severity FROM wms_exception ORDER BY id")
    for qs in ("?state=closed", "?severity=urgent", "?overdue=maybe", "?cursor=abc",
               "?cursor=-1", "?limit=0", "?limit=x", "?cursor=99999999999999999999"):
        r = floor.api("get", "/api/v1/exceptions" + qs)
        assert r.status_code == 400, qs
        assert r.get_json()["error"]["field"] in ("state", "severity", "overdue", "cursor",
                                                  "limit")
    eid = shorts[1]["id"]
    for action, payload in (("assign", {"owner": "boss"}), ("assign", {"owner": "user:nobody"}),
                            ("assign", {}), ("resolve", {"resolution": "Bad Code"}),
                            ("resolve", {"note": "x"}), ("dismiss", {"note": ""}),
                            ("notes", {"note": "x", "extra": 1}), ("resolve", [1])):
        r = post(floor, eid, action, payload)
        assert r.status_code in (400, 422), (action, payload, r.get_json())
        assert "error" in r.get_json()
    assert query(floor, "SELECT id, state, owner, severity FROM wms_exception ORDER BY id") \
        == before
    assert query(floor, "SELECT count(*) FROM wms_exception_note") == [(0,)]


def test_overdue_exceptions_escalate_once_per_period_and_tell_the_consoles(floor):
    from server import clock
    from server.jobs import scheduler
    from .test_console import NS, _console, _received
    floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor)
    short = listed(floor, "?type=short_pick")["exceptions"][0]      # high, 4 h
    disc = listed(floor, "?type=stock_discrepancy")["exceptions"][0]  # medium, 24 h
    console = _console(floor.app, floor.tokens["s1"])
    assert console.is_connected(NS)
    from server.services import auth
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        floor.supervisor = auth.create_token(role="supervisor")   # outlives the clock jumps

    def run_at(hours: float) -> None:
        clock.set_clock(lambda: T0 + dt.timedelta(hours=hours))
        assert scheduler.run_job(floor.app, "exception-escalate",
                                 scheduler._escalate_exceptions)

    def state(eid: int) -> tuple:
        e = floor.api("get", f"/api/v1/exceptions/{eid}").get_json()
        assert "severity" in e, e
        return e["severity"], e["escalations"], e["overdue"]

    run_at(3.9)
    assert state(short["id"]) == ("high", 0, False)
    assert _received(console, "exception.escalated", within_s=0.3) == []
    run_at(4.1)
    assert state(short["id"]) == ("critical", 1, True)
    assert state(disc["id"]) == ("medium", 0, False)
    [event] = _received(console, "exception.escalated")
    assert (event["exception_id"], event["type"], event["severity"], event["previous"],
            event["owner"], event["subject"]["kind"]) == (short["id"], "short_pick", "critical",
                                                         "high", "supervisor", "order")
    assert [e["id"] for e in listed(floor, "?overdue=true")["exceptions"]] == [short["id"]]
    run_at(4.5)            # the same overdue period: nothing more
    assert state(short["id"]) == ("critical", 1, True)
    assert _received(console, "exception.escalated", within_s=0.3) == []
    run_at(8.2)            # the next period: once more, severity stays at the top
    assert state(short["id"]) == ("critical", 2, True)
    assert len(_received(console, "exception.escalated")) == 1
    assert post(floor, disc["id"], "ack").status_code == 200
    run_at(24.5)           # acknowledged is still overdue
    assert state(disc["id"]) == ("high", 1, True)
    assert post(floor, disc["id"], "resolve", {"resolution": "counted"}).status_code == 200
    run_at(60)
    assert state(disc["id"]) == ("high", 1, False)      # closed: never again
    assert [a[1:] for a in audit_of(floor, short["id"]) if a[0] == "exception.escalate"] \
        == [("high", "critical")] + [("critical", "critical")] * 3   # 8.2 h, 24.5 h, 60 h:
    # several periods missed between two runs escalate once, not once for each
    # one process runs a tick: the second claim of the same tick is refused
    assert scheduler.claim_tick(floor.app, "exception-escalate", 123456, 300)
    assert not scheduler.claim_tick(floor.app, "exception-escalate", 123456, 300)
