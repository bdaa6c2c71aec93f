"""The console's order search and order timeline (issue 15 §1), on SQLite and PostgreSQL:
search by ref, tracking number, SKU, e-mail, phone and the start of a name, keyset pages
that neither skip nor repeat; the timeline of an order taken through intake, wave,
handheld picking (scans with picker and device, a short), packing, label, dispatch and a
tracking event; refusals (picker, packer, channel, no token) and bad input."""
from __future__ import annotations

import pytest

from ..floor import PICK_CFG, build_floor, sid
from ..conftest import make_app
from .test_picking import BIN, ack, scan
from .test_picking import GTIN


@pytest.fixture
def floor(db_url, tmp_path):
    from ..floor import station_floor
    return station_floor(db_url, tmp_path)


def search(floor, q: str, token=None, **params):
    r = floor.api("get", "/api/v1/orders/search", token, query_string={"q": q, **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def refs(page) -> list[str]:
    return [o["ref"] for o in page["orders"]]


def test_search_finds_orders_by_each_kind_of_key(floor):
    a = floor.order("WEB-1001", (("SOCK", 1),), phone="+447700900123")
    b = floor.order("WEB-1002", (("MUG", 2), ("SOCK", 1)))
    floor.order("WEB-1003", (("TEE", 1),))
    assert refs(search(floor, "WEB-1002")) == ["WEB-1002"]
    assert refs(search(floor, "web-1002")) == ["WEB-1002"]       # refs as typed, upper-cased
    by_sku = search(floor, "SOCK")
    assert refs(by_sku) == ["WEB-1002", "WEB-1001"]                # newest first
    assert by_sku["orders"][0]["matched"] == ["sku"]
    assert refs(search(floor, "mug")) == ["WEB-1002"]
    assert refs(search(floor, "+44 7700 900123")) == ["WEB-1001"]
    assert search(floor, "+44 7700 900123")["orders"][0]["matched"] == ["phone"]
    assert search(floor, "NOTHING-LIKE-IT") == {"orders": [], "next_cursor": None}
    order = floor.order_json(a)
    email = order["ship_to"]["email"]
    name = order["ship_to"]["name"]
    if email:
        assert a in [o["id"] for o in search(floor, email.upper())["orders"]]
    got = search(floor, name[:3].lower())
    assert a in [o["id"] for o in got["orders"]] and "name" in got["orders"][-1]["matched"]
    assert b in [o["id"] for o in got["orders"]]
