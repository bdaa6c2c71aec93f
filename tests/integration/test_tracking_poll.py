"""Karrio tracking polls, on SQLite and PostgreSQL: open shipments of a carrier service
connected through karrio are asked for at the (fake) UPS API and their events recorded
once; local services and delivered shipments are not asked."""
from __future__ import annotations

import pytest

from server import clock
from server.services import channels, tracking
from server.settings import current
from server.store.db import execute

from ..conftest import make_app
from ..factories import seed
from ..fake_carrier import FakeUps
from . import test_tracking as tt
from .test_webhooks import ctx


@pytest.fixture
def ups():
    with FakeUps() as fake:
        yield fake


@pytest.fixture
def app(db_url, monkeypatch, ups):
    monkeypatch.setenv("UPS_CLIENT_ID", "client")
    monkeypatch.setenv("UPS_CLIENT_SECRET", "secret")
    app = make_app(db_url, carriers={"ups": {"karrio": {
        "carrier_name": "ups", "test": True,
        "settings": {"account_number": "9A1B2C", "account_country_code": "GB",
                     "server_url": ups.url},
        "secrets": {"client_id": "UPS_CLIENT_ID", "client_secret": "UPS_CLIENT_SECRET"}}}},
        carrier_services={"main": {"ups-express": {
            "carrier": "ups", "service": "65", "label": "Express Saver", "express": True,
            "zones": ["uk", "eu", "us", "apac"], "max_weight_g": 70000, "adapter": "karrio",
            "karrio_service": "ups_worldwide_saver"}}})
    seed(app)
    clock.set_clock(lambda: tt.NOW)
    with ctx(app):
        channels.add_channel("shop", "native", secret="s")
    yield app
    clock.set_clock(None)


def poll(app):
    with ctx(app):
        return tracking.poll_karrio(settings=current())


def test_karrio_connected_shipments_are_polled_and_recorded_once(app, ups):
    [tn] = tt.ship(app, carrier="ups", service="ups-express")
    [local] = tt.ship(app)                                 # royal mail: no karrio
    assert poll(app) == {"polled": 1, "accepted": 1, "failed": 0}
    assert poll(app) == {"polled": 1, "accepted": 0, "failed": 0}   # the same event again
    asked = [r["path"] for r in ups.requests if "/track/" in r["path"]]
    assert asked and all(tn in p for p in asked) and not any(local in p for p in asked)
    with ctx(app):
        view = tracking.shipment_timeline(tn)
    assert view["tracking_status"] == "in_transit"
    [event] = view["events"]
    assert event["location"] == "Rotterdam" and event["detail"] == "Departed from Facility"
    assert event["occurred_at"] == "2026-12-07T10:15:00+00:00" and event["source"] == "ups"


def test_an_unreachable_carrier_is_counted_and_nothing_written(app, ups, monkeypatch):
    tt.ship(app, carrier="ups", service="ups-express")
    monkeypatch.delenv("UPS_CLIENT_SECRET")
    assert poll(app) == {"polled": 0, "accepted": 0, "failed": 1}
    with ctx(app):
        assert execute("SELECT COUNT(*) FROM tracking_event").fetchone()[0] == 0


def test_delivered_shipments_are_not_polled(app, ups, client):
    [tn] = tt.ship(app, carrier="ups", service="ups-express")
    tt.post(client, tt.token(app, carrier="ups"), tt.ev("d", tn, "delivered", tt.NOW))
    assert poll(app) == {"polled": 0, "accepted": 0, "failed": 0}
