"""W9 #7 (OWASP API3, object property level): each role reads only the order fields its
work needs. Pickers and packers could list every channel's orders with the customer's
phone and email; now a picker gets the goods and their locations, a packer also the
shipping address of an order live on its own bench, never a phone, an email or a price."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, build_floor

CONTACT = ("phone", "email")
PRIVATE = ("ship_to", "total", "payment_method", "note", "currency", "external_id", "channel",
           "paid", "placed_at")


@pytest.fixture
def floor(db_url, tmp_path):
    app = make_app(db_url, picking=PICK_CFG,
                   printers={"label-1": {"url": f"file://{tmp_path}/labels.zpl"}},
                   stations={"pack-1": {"warehouse": "main", "printer": "label-1"}})
    floor = build_floor(app)
    from server.services import auth, channels
    from server.store.db import db
    with app.app_context(), db.connection_context():
        floor.tokens["admin"] = auth.create_token(
            role="admin", label="t", hours=1, user_id=auth.add_user("a1", "admin", "1234", "A"))
        floor.tokens["k2"] = auth.create_token(
            role="packer", label="t", hours=1, user_id=auth.add_user("k2", "packer", "1234", "K"))
        channels.add_channel("other", "native")
        floor.tokens["api"] = auth.create_token(channel="api", label="t")
        floor.tokens["other"] = auth.create_token(channel="other", label="t")
    return floor


def _get(floor, who, path):
    return floor.api("get", path, floor.tokens[who])


def _no_private(body: dict) -> None:
    assert not set(PRIVATE) & set(body), body
    for line in body["lines"]:
        assert "unit_price" not in line and "external_id" not in line, line


def test_each_role_reads_what_its_work_needs(floor):
    oid = floor.order("V-1", [("SOCK", 2), ("MUG", 1)], phone="+447700900555")
    floor.wave(totes=4)
    floor.pick_all()
    full = {who: _get(floor, who, f"/api/v1/orders/{oid}") for who in ("s1", "admin", "api")}
    for who, r in full.items():
        assert r.status_code == 200, (who, r.get_json())
        assert r.get_json()["ship_to"]["phone"] == "+447700900555", who
        assert "email" in r.get_json()["ship_to"], who
    assert _get(floor, "other", f"/api/v1/orders/{oid}").status_code == 404

    picker = _get(floor, "p1", f"/api/v1/orders/{oid}").get_json()
    _no_private(picker)
    assert [(ln["sku"], ln["quantity"], ln["picked"]) for ln in picker["lines"]] == [
        ("SOCK", 2, 2), ("MUG", 1, 1)]
    for who in ("p1", "k1", "k2"):         # lists: the goods, no customer, no prices
        listed = _get(floor, who, "/api/v1/orders").get_json()["orders"]
        assert [o["ref"] for o in listed] == ["V-1"]
        _no_private(listed[0])

    # the packer sees the address (no phone, no email) once the order is on its bench
    _no_private(_get(floor, "k1", f"/api/v1/orders/{oid}").get_json())
    r = floor.api("post", "/api/v1/pack/sessions", floor.tokens["k1"],
                  json={"station": "pack-1", "scan": "V-1"})
    assert r.status_code in (200, 201), r.get_json()
    bench = _get(floor, "k1", f"/api/v1/orders/{oid}").get_json()
    assert bench["ship_to"]["address1"] == "V-1 Test Street"
    assert not set(CONTACT) & set(bench["ship_to"])
    _no_private({k: v for k, v in bench.items() if k != "ship_to"})
    # …and another packer, not at that bench, does not
    _no_private(_get(floor, "k2", f"/api/v1/orders/{oid}").get_json())


def test_a_picker_sees_where_the_goods_are(floor):
    oid = floor.order("V-2", [("TEE", 3)])
    body = _get(floor, "p1", f"/api/v1/orders/{oid}").get_json()
    assert body["lines"][0]["locations"] == [{"location": "D-20-01-1", "quantity": 3}]
    assert body["status"] == "ready" and body["warehouse"] == "main"
