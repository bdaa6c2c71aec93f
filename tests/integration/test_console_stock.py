"""The console's stock views and adjustments (issue 15 §1), on SQLite and PostgreSQL: a
bin's SKUs with on hand / reserved / available and a pending count, its movements newest
first in keyset pages, adjustments with a reason (counted or delta) that are audited,
idempotent by client key, never below what is reserved (409, nothing changed), and hand
new stock to backorders; refusals and bad input change nothing."""
from __future__ import annotations

import uuid

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, build_floor
from .test_picking import BIN

SOCK = BIN["SOCK"]


@pytest.fixture
def floor(db_url):
    return build_floor(make_app(db_url, picking=PICK_CFG))


def key() -> str:
    return str(uuid.uuid4())


def bin_of(floor, location=SOCK, token=None) -> dict:
    r = floor.api("get", "/api/v1/stock/bin", token,
                  query_string={"warehouse": "main", "location": location})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def item(floor, sku="SOCK", location=SOCK) -> dict:
    return next(i for i in bin_of(floor, location)["items"] if i["sku"] == sku)


def adjust(floor, token=None, **body):
    body.setdefault("client_key", key())
    body.setdefault("warehouse", "main")
    body.setdefault("location", SOCK)
    body.setdefault("sku", "SOCK")
    body.setdefault("reason", "damaged")
    return floor.api("post", "/api/v1/stock/adjustments", token, json=body)


def rows(floor, statement, params=()):
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def test_a_bin_shows_each_sku_and_what_is_available(floor):
    floor.order("S-1", (("SOCK", 3),))
    got = bin_of(floor)
    assert (got["warehouse"], got["location"], got["blocked"], got["count_pending"]) \
        == ("main", SOCK, None, None)
    [sock] = got["items"]
    assert (sock["sku"], sock["on_hand"], sock["reserved"], sock["available"]) \
        == ("SOCK", 20, 3, 17)
    # without the warehouse: the code names one bin
    r = floor.api("get", "/api/v1/stock/bin", query_string={"location": SOCK})
    assert r.status_code == 200 and r.get_json()["location"] == SOCK


def test_a_short_pick_shows_the_bin_blocked_with_its_count(floor):
    from .test_counts import short_first_task
    floor.order("S-1", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor, found_units=1)
    got = bin_of(floor)
    assert got["blocked"] == "count_pending" and got["count_pending"]["id"] >= 1
    assert got["items"][0]["available"] == 0


def test_adjust_by_delta_and_by_count_with_reason_audit_and_movements(floor):
    r = adjust(floor, delta=-2, reason="damaged", note="crushed box")
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert (got["before"], got["after"], got["delta"], got["reason"], got["note"],
            got["replayed"], got["created_by"]) == (20, 18, -2, "damaged", "crushed box",
                                                    False, "user:s1")
    assert got["stock"]["on_hand"] == 18
    r = adjust(floor, counted=25, reason="found")
    assert r.status_code == 201 and (r.get_json()["before"], r.get_json()["after"]) == (18, 25)
    assert item(floor)["on_hand"] == 25
    trail = rows(floor, "SELECT action, before, after, detail FROM audit "
                        "WHERE action = 'stock.adjust' ORDER BY id")
    assert [(a, b, c) for a, b, c, _ in trail] == [
        ("stock.adjust", '{"on_hand":20}', '{"on_hand":18}'),
        ("stock.adjust", '{"on_hand":18}', '{"on_hand":25}')]
    assert '"reason":"damaged"' in trail[0][3] and '"note":"crushed box"' in trail[0][3]
    moves = floor.api("get", "/api/v1/stock/bin/movements",
                      query_string={"warehouse": "main", "location": SOCK}).get_json()
    assert [m["action"] for m in moves["movements"]][:2] == ["stock.adjust", "stock.adjust"]
    assert moves["movements"][0]["detail"]["reason"] == "found"
    assert moves["movements"][0]["sku"] == "SOCK"


def test_movements_page_by_keyset(floor):
    for _ in range(5):
        assert adjust(floor, delta=1, reason="found").status_code == 201
    seen, cursor = [], None
    while True:
        qs = {"warehouse": "main", "location": SOCK, "limit": 2}
        if cursor:
            qs["cursor"] = cursor
        page = floor.api("get", "/api/v1/stock/bin/movements", query_string=qs).get_json()
        seen += [m["id"] for m in page["movements"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 6


def test_a_retry_with_the_same_key_changes_nothing_and_answers_the_same(floor):
    k = key()
    first = adjust(floor, client_key=k, delta=-3, reason="lost")
    assert first.status_code == 201
    again = adjust(floor, client_key=k, delta=-3, reason="lost")
    assert again.status_code == 200
    a, b = first.get_json(), again.get_json()
    assert b["replayed"] is True and {**a, "replayed": True, "stock": None} \
        == {**b, "stock": None}
    assert item(floor)["on_hand"] == 17
    assert len(rows(floor, "SELECT id FROM stock_adjustment")) == 1
    assert len(rows(floor, "SELECT id FROM audit WHERE action = 'stock.adjust'")) == 1
    other = adjust(floor, client_key=k, delta=-4, reason="lost")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "client_key_conflict"
    assert item(floor)["on_hand"] == 17


def test_never_below_reserved_409_and_nothing_changes(floor):
    floor.order("S-1", (("SOCK", 15),))
    assert item(floor)["reserved"] == 15
    for body in ({"counted": 14}, {"delta": -6}, {"counted": 0}):
        r = adjust(floor, reason="count_correction", **body)
        assert r.status_code == 409, r.get_json()
        err = r.get_json()["error"]
        assert err["code"] == "below_reserved" and err["detail"]["reserved"] == 15
    assert item(floor)["on_hand"] == 20
    assert rows(floor, "SELECT id FROM stock_adjustment") == []
    assert adjust(floor, counted=15, reason="count_correction").status_code == 201


def test_more_stock_goes_to_backorders_first(floor):
    oid = floor.order("S-BIG", (("MUG", 25),))
    assert floor.order_json(oid)["status"] == "backordered"
    r = adjust(floor, location=BIN["MUG"], sku="MUG", delta=5, reason="found")
    assert r.status_code == 201 and r.get_json()["orders_reserved"] == 1
    assert floor.order_json(oid)["status"] == "ready"
    assert item(floor, "MUG", BIN["MUG"])["reserved"] == 25


BAD = [
    ({"delta": 0}, 422, "delta"),
    ({"delta": 1, "counted": 3}, 422, "counted"),
    ({}, 422, "counted"),
    ({"delta": 1, "reason": "because"}, 422, "reason"),
    ({"delta": 1, "reason": "other"}, 422, "note"),
    ({"delta": 1, "sku": "NOPE"}, 422, "sku"),
    ({"delta": 1, "location": "Z-99-99-9"}, 404, "location"),
    ({"delta": 1, "location": "not a bin!"}, 422, "location"),
    ({"delta": 1, "client_key": "short"}, 422, "client_key"),
    ({"counted": -1}, 422, "counted"),
    ({"delta": 1, "extra": 1}, 422, "extra"),
]


def test_bad_adjustments_are_refused_and_change_nothing(floor):
    for body, status, field in BAD:
        r = adjust(floor, **body)
        assert r.status_code == status, (body, r.get_json())
        assert r.get_json()["error"]["field"] == field, body
    assert item(floor)["on_hand"] == 20
    assert rows(floor, "SELECT id FROM stock_adjustment") == []
    assert rows(floor, "SELECT id FROM audit WHERE action = 'stock.adjust'") == []


def test_bad_bin_queries(floor):
    for qs, status in (({}, 400), ({"location": "Z-99-99-9"}, 404),
                       ({"location": SOCK, "warehouse": "nope"}, 404),
                       ({"location": SOCK, "cursor": "x"}, 400)):
        r = floor.api("get", "/api/v1/stock/bin/movements", query_string=qs)
        assert r.status_code == status, (qs, r.get_json())


REFUSED = [("get", "/api/v1/stock/bin?location=" + SOCK),
           ("get", "/api/v1/stock/bin/movements?location=" + SOCK),
           ("post", "/api/v1/stock/adjustments")]


def test_pickers_packers_and_strangers_are_refused(floor):
    for method, path in REFUSED:
        body = {"json": {"client_key": key(), "location": SOCK, "sku": "SOCK", "delta": 1,
                         "reason": "found"}} if method == "post" else {}
        for badge in ("p1", "k1"):
            r = floor.api(method, path, floor.tokens[badge], **body)
            assert r.status_code == 403
        assert getattr(floor.app.test_client(), method)(path, **body).status_code == 401
    assert item(floor)["on_hand"] == 20
