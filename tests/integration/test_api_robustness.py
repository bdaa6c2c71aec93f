"""Regression tests for 5xx answers found by fuzzing the API (tests/integration/test_openapi.py).

Each test pins one request that made the server fail. What the fix answers is up to the
fix (store it, or refuse it with a 4xx), but never a 5xx, and never a half-done change.
A bug not fixed yet is a strict xfail: when the fix lands the test passes, the xfail turns
red, and the marker goes.
"""
from __future__ import annotations

import datetime as dt
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.services import auth
from server.store.db import db
from server.store.models import Location, Order, Stock

from ..factories import seed

ORDER = {
    "ref": "R-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP", "paid": True,
    "ship_to": {"name": "Oliver Bennett", "phone": "+447700900101", "address1": "27 Granby St",
                "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"},
    "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 1, "unit_price": "24.00"}],
}
CSV_HEAD = ("order_ref,channel,sku,quantity,unit_price,currency,ship_name,ship_phone,"
            "ship_address1,ship_city,ship_postcode,ship_country,placed_at\n")

# Instants at the edge of datetime's range: converting to UTC, or looking an hour back for
# "orders to the same contact" (services/intake._recent_contacts), leaves years 1..9999.
EDGE_TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:59:59Z", "0001-01-01T03:00:00+05:00",
              "9999-12-31T23:00:00-05:00"]


def _tokens(app: Flask) -> dict[str, str]:
    with app.app_context(), db.connection_context():
        return {"channel": auth.create_token(channel="api"),
                "supervisor": auth.create_token(role="supervisor")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _orders() -> int:
    with db.connection_context():
        return Order.select().count()


@pytest.mark.parametrize("placed_at", EDGE_TIMES)
def test_order_placed_at_the_edge_of_time_is_not_a_server_error(
        app: Flask, client: FlaskClient, placed_at: str) -> None:
    """POST /api/v1/orders with {"placed_at": "0001-01-01T00:00:00Z", …} answered 500."""
    seed(app)
    token = _tokens(app)["channel"]
    resp = client.post("/api/v1/orders", json={**ORDER, "placed_at": placed_at},
                       headers=_bearer(token))
    assert resp.status_code < 500, resp.get_json()
    if resp.status_code == 201:   # stored: it reads back as the same instant
        got = client.get(f"/api/v1/orders/{resp.get_json()['id']}", headers=_bearer(token))
        sent = dt.datetime.fromisoformat(placed_at.replace("Z", "+00:00"))
        assert dt.datetime.fromisoformat(got.get_json()["placed_at"]) == sent
    else:                         # refused: nothing stored
        assert resp.status_code == 422 and _orders() == 0


@pytest.mark.parametrize("dry_run", ["", "?dry_run=1"])
def test_csv_order_placed_at_the_edge_of_time_is_not_a_server_error(
        app: Flask, client: FlaskClient, dry_run: str) -> None:
    """POST /api/v1/orders:import, a CSV row with placed_at 0001-01-01T00:00:00Z: 500."""
    seed(app)
    token = _tokens(app)["channel"]
    csv = CSV_HEAD + ("C-1,web,WP-TEE-BLK-M,1,24.00,GBP,Ann Test,+447700900101,1 Test St,"
                      "Leeds,LS1 1AA,GB,0001-01-01T00:00:00Z\n")
    resp = client.post(f"/api/v1/orders:import{dry_run}", headers=_bearer(token),
                       data={"file": (io.BytesIO(csv.encode()), "orders.csv")})
    assert resp.status_code < 500, resp.get_json()


def test_stock_beyond_a_32_bit_count_is_not_a_server_error(
        request: pytest.FixtureRequest, app: Flask, client: FlaskClient, db_url: str) -> None:
    """POST /api/v1/stock/receipts {"lines": [{"warehouse": "main", "location": "A-01-02-3",
    "sku": "WP-TEE-BLK-M", "quantity": 100}]} onto 2,147,483,600 on hand (the sum passes
    2^31 - 1): 500 on PostgreSQL, where stock.on_hand is INTEGER; SQLite stores it. (Through
    the API alone: one receipt of 2,148 lines × 1,000,000 units does the same.)"""
    start = 2**31 - 48
    seed(app, stock=start)
    token = _tokens(app)["supervisor"]
    line = {"warehouse": "main", "location": "A-01-02-3", "sku": "WP-TEE-BLK-M", "quantity": 100}
    resp = client.post("/api/v1/stock/receipts", json={"lines": [line]}, headers=_bearer(token))
    assert resp.status_code < 500, resp.get_json()
    with db.connection_context():
        on_hand = (Stock.select(Stock.on_hand).join(Location)
                   .where(Location.code == "A-01-02-3").scalar())
    if resp.status_code == 201:   # stored: the count is exact
        assert on_hand == start + 100
    else:                         # refused: nothing received
        assert resp.status_code == 422 and on_hand == start
