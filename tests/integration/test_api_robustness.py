"""Regression tests for 5xx answers found by fuzzing the API (tests/integration/test_openapi.py).

Each test pins one request that made the server fail. What the fix answers is up to the
fix (store it, or refuse it with a 4xx), but never a 5xx, and never a half-done change.
A bug not fixed yet is a strict xfail: when the fix lands the test passes, the xfail turns
red, and the marker goes.
"""
from __future__ import annotations

import datetime as dt
import io
import re

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


# Every operation with a JSON request body (webhooks aside: signed deliveries are stored
# with the bad text replaced, tests/integration/test_inbox.py); checked against the spec.
JSON_ROUTES = [
    "/api/v1/auth/badge", "/api/v1/stock/receipts", "/api/v1/orders",
    "/api/v1/orders/1/cancel", "/api/v1/waves", "/api/v1/pack/sessions",
    "/api/v1/pack/sessions/1/scan", "/api/v1/pack/sessions/1/qc",
    "/api/v1/pack/sessions/1/weight", "/api/v1/pack/sessions/1/carton",
    "/api/v1/pack/sessions/1/hold", "/api/v1/pack/sessions/1/release",
    "/api/v1/shipments/dispatch", "/api/v1/print-jobs/1/reprint",
    "/api/v1/counts", "/api/v1/counts:schedule", "/api/v1/orders/1/carrier",
    "/api/v1/pack/stations/1/labels", "/api/v1/tracking-events",
    *(f"/api/v1/exceptions/1/{action}" for action in ("assign", "resolve", "dismiss", "notes")),
    "/api/v1/returns", "/api/v1/returns/unannounced", "/api/v1/returns/1/scan",
    "/api/v1/returns/1/repair", "/api/v1/returns/1/lines/1/disposition",
    "/api/v1/replenishment/levels", "/api/v1/stock/adjustments", "/api/v1/admin/users",
    "/api/v1/admin/users/1/pin", "/api/v1/admin/tokens",
]
LONE_SURROGATE = b'{"note": "a \\ud800 b", "badge": "B\\udfff", "reason": "\\ud83d"}'


def _row_counts() -> dict[str, int]:
    from server.store import db as store_db
    if store_db.is_postgres():
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    with db.connection_context():
        tables = [r[0] for r in db.execute_sql(sql).fetchall()]
        return {t: db.execute_sql(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_the_route_list_covers_every_json_body_in_the_spec(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    documented = {path for path, ops in spec["paths"].items() for op in ops.values()
                  if isinstance(op, dict) and "application/json" in
                  op.get("requestBody", {}).get("content", {})
                  and not path.startswith("/webhooks/")}
    listed = {p.replace("/1/", "/{x}/") for p in JSON_ROUTES}
    assert {re.sub(r"\{[a-z_]+\}", "{x}", p) for p in documented} == listed


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_lone_surrogate_is_refused_at_the_json_edge(app: Flask, client: FlaskClient,
                                                      path: str) -> None:
    """`"\\ud800"` is a valid JSON escape but no Unicode character: storing it failed
    with a 500 on ten endpoints. Refused as a 400 before anything is looked at or written."""
    seed(app)
    with app.app_context(), db.connection_context():
        packer = auth.add_user("K1", "packer", "1234")
        tokens = [auth.create_token(channel="api"), auth.create_token(role="supervisor"),
                  auth.create_token(role="packer", hours=1, user_id=packer),
                  auth.create_token(role="admin"), auth.create_token(carrier="royal-mail")]
    before = _row_counts()
    for token in tokens:        # the first caller this route lets through
        resp = client.post(path, data=LONE_SURROGATE, content_type="application/json",
                           headers=_bearer(token))
        if resp.status_code not in (401, 403):
            break
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"]["code"] == "invalid_unicode"
    assert resp.get_json()["error"]["field"] in ("note", "badge", "reason")
    assert _row_counts() == before


def test_a_lone_surrogate_in_a_socket_event_gets_an_error_ack(app: Flask) -> None:
    with app.app_context(), db.connection_context():
        uid = auth.add_user("P1", "picker", "1234")
        token = auth.create_token(role="picker", hours=1, user_id=uid)
    sio = app.extensions["socketio"]
    hh = sio.test_client(app, namespace="/handheld", auth={"token": token, "device": "HH"})
    before = _row_counts()
    for event, data in (("scan", {"scan_id": "abcdefgh-1", "raw": "A-01\ud800"}),
                        ("short", {"scan_id": "abcdefgh-2", "found": 0, "note": "\udc00"}),
                        ("tote.scan", {"scan_id": "abcdefgh-3", "raw": "\ud800"})):
        got = hh.emit(event, data, namespace="/handheld", callback=True)
        assert got["ok"] is False and got["error"]["code"] == "invalid_unicode", (event, got)
    assert hh.emit("whoami", {}, namespace="/handheld", callback=True)["ok"]
    assert _row_counts() == before
    bad = sio.test_client(app, namespace="/handheld", auth={"token": token, "device": "\ud800"})
    assert not bad.is_connected("/handheld")


def _unbounded_integers(node, path="") -> list[str]:
    found = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            if "minimum" not in node or "maximum" not in node:
                found.append(path or "/")
        for key, value in node.items():
            found += _unbounded_integers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _unbounded_integers(value, f"{path}/{i}")
    return found


def test_every_integer_in_the_spec_is_bounded(client: FlaskClient) -> None:
    """A QC `unit` of 2^63 reached SQLite and failed with OverflowError (500): an integer
    without a maximum lets any size through validation. None is left unbounded."""
    spec = client.get("/openapi.json").get_json()
    assert _unbounded_integers(spec) == []
    assert _unbounded_integers({"a": {"type": "integer", "minimum": 0}}) == ["/a"]


@pytest.mark.parametrize("unit", [2**63, 2**64, 10**30])
def test_a_qc_unit_beyond_64_bits_is_refused(app: Flask, client: FlaskClient, unit: int) -> None:
    with app.app_context(), db.connection_context():
        packer = auth.add_user("K1", "packer", "1234")
        token = auth.create_token(role="packer", hours=1, user_id=packer)
    resp = client.post("/api/v1/pack/sessions/1/qc", data=f'{{"unit": {unit}, "passed": true}}',
                       content_type="application/json", headers=_bearer(token))
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["field"] == "unit"
