"""The whole way on SQLite and PostgreSQL: an order picked, packed, labelled and
dispatched at the dock (the real floor), then its carrier's events: the sweep's clock
starts at dispatch, and `delivered` moves the order to delivered."""
from __future__ import annotations

import datetime as dt

import pytest

from server import clock
from server.services import auth, tracking
from server.store.db import db, execute

from .test_migration_0010 import _shipped
from ..floor import station_floor


@pytest.fixture
def floor(db_url, tmp_path):
    yield station_floor(db_url, tmp_path)
    clock.set_clock(None)


def test_a_dispatched_parcel_is_followed_until_delivered(floor):
    ship = _shipped(floor)
    app = floor.app
    with app.app_context(), db.connection_context():
        quiet, shipped = execute("SELECT quiet_since, shipped_at FROM shipment WHERE id = ?",
                                 (ship["id"],)).fetchone()
        assert quiet == shipped is not None
        carrier_token = auth.create_token(carrier=ship["carrier"])
        later = clock.aware_utc(shipped) + dt.timedelta(days=30)
        assert tracking.sweep(settings=app.config["WAVEPACK"], now=later)["lost"] == 1
    at = (clock.aware_utc(shipped) + dt.timedelta(days=31)).isoformat()
    r = floor.api("post", "/api/v1/tracking-events", carrier_token, json={"events": [
        {"event_id": "dlv-1", "tracking_number": ship["tracking"], "status": "delivered",
         "occurred_at": at, "location": "front door"}]})
    assert r.get_json() == {"accepted": 1, "duplicates": 0, "unknown": []}
    view = floor.api("get", f"/api/v1/shipments/{ship['tracking']}",
                     floor.tokens["k1"]).get_json()
    assert view["order_status"] == "delivered" and view["flag"] is None
    assert view["events"][0]["location"] == "front door"
