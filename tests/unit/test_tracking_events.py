"""Tracking vocabulary and feeds (pure): times, ordering, AfterShip / 17TRACK signatures
and status maps, karrio statuses, and the tracking: config."""
import base64
import datetime as dt
import hashlib
import hmac

import pytest

from server.config_tracking import TrackingRule, tracking_config
from server.domain import tracking_events as te


def test_times_need_an_offset_and_come_out_utc():
    assert te.parse_time("2026-03-02T10:00:00+01:00") == dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    assert te.parse_time("2026-03-02T09:00:00Z").tzinfo is not None
    for bad in ("2026-03-02T09:00:00", "yesterday", "", None, 5):
        with pytest.raises(ValueError):
            te.parse_time(bad)


def test_latest_is_by_time_then_rank():
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    a = te.TrackingEvent("1", "T", te.IN_TRANSIT, at + dt.timedelta(hours=2))
    b = te.TrackingEvent("2", "T", te.PICKED_UP, at)
    c = te.TrackingEvent("3", "T", te.DELIVERED, at + dt.timedelta(hours=2))
    assert te.latest([a, b]) is a and te.latest([b, c, a]) is c and te.latest([]) is None


def test_aftership_signature():
    body, secret = b'{"msg": {}}', "s3cret"
    good = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert te.aftership_signature_ok(body, good, secret)
    assert not te.aftership_signature_ok(body + b" ", good, secret)
    assert not te.aftership_signature_ok(body, good, "other")
    assert not te.aftership_signature_ok(body, None, secret)
    assert not te.aftership_signature_ok(body, good, "")


def test_17track_sign():
    body, key = b'{"event":"TRACKING_UPDATED"}', "k"
    good = hashlib.sha256(body + b"/k").hexdigest()
    assert te.seventeen_sign_ok(body, good, key) and te.seventeen_sign_ok(body, good.upper(), key)
    assert not te.seventeen_sign_ok(body, hashlib.sha256(body).hexdigest(), key)
    assert not te.seventeen_sign_ok(body, good, "other") and not te.seventeen_sign_ok(body, "", key)


@pytest.mark.parametrize("tag, subtag, ours", [
    ("InTransit", "InTransit_001", te.IN_TRANSIT), ("InTransit", "InTransit_002", te.PICKED_UP),
    ("OutForDelivery", None, te.OUT_FOR_DELIVERY), ("AttemptFail", None, te.FAILED_ATTEMPT),
    ("Delivered", "Delivered_001", te.DELIVERED), ("Exception", "Exception_011",
                                                   te.RETURNED_TO_SENDER),
    ("Exception", "Exception_004", te.EXCEPTION), ("InfoReceived", None, None),
    ("Pending", None, None), ("Whatever", None, None)])
def test_aftership_tags(tag, subtag, ours):
    assert te.aftership_status(tag, subtag) == ours


@pytest.mark.parametrize("stage, sub, ours", [
    ("PickedUp", None, te.PICKED_UP), ("Departure", None, te.IN_TRANSIT),
    ("OutForDelivery", None, te.OUT_FOR_DELIVERY), ("Delivered", None, te.DELIVERED),
    ("Returned", None, te.RETURNED_TO_SENDER), ("", "DeliveryFailure_Other", te.FAILED_ATTEMPT),
    ("", "Exception_Returning", te.RETURNED_TO_SENDER), ("InfoReceived", None, None)])
def test_17track_stages(stage, sub, ours):
    assert te.seventeen_status(stage, sub) == ours


def test_karrio_statuses():
    assert te.karrio_status("delivered") == te.DELIVERED
    assert te.karrio_status("in_transit") == te.IN_TRANSIT
    assert te.karrio_status("pending") is None and te.karrio_status(None) is None


def test_feed_bodies_missing_their_number_are_refused():
    with pytest.raises(ValueError):
        te.parse_aftership({"msg": {}})
    with pytest.raises(ValueError):
        te.parse_17track({"data": {}})


def test_tracking_config():
    cfg = tracking_config({"delayed_after_hours": 24, "services": {"x": {"lost_after_days": 3}},
                           "feeds": {"as": {"kind": "aftership", "secret_env": "AS_SECRET"}}})
    assert cfg.rule("x") == TrackingRule(24.0, 3.0)
    assert cfg.rule("other") == TrackingRule(24.0, 10.0)
    assert cfg.feeds["as"].secret_env == "AS_SECRET"
    for bad in ({"nope": 1}, {"delayed_after_hours": 0}, {"services": {"x": {"lost_after_days": 1,
                                                                             "delayed_after_hours": 30}}},
                {"feeds": {"as": {"kind": "shipstation", "secret_env": "X"}}},
                {"feeds": {"as": {"kind": "aftership", "secret_env": "not an env"}}},
                {"feeds": {"as": {"kind": "aftership"}}}, {"sweep_limit": 0}):
        with pytest.raises(ValueError):
            tracking_config(bad)


def test_tracking_services_must_be_configured_carrier_services():
    from server.config import load_config
    assert load_config({"tracking": {"services": {"ups-express": {"lost_after_days": 3}}}},
                       env={}).tracking.rule("ups-express").lost_after_days == 3
    with pytest.raises(ValueError, match="no-such-service"):
        load_config({"tracking": {"services": {"no-such-service": {"lost_after_days": 3}}}},
                    env={})
