"""The return policy, the station's verdicts and the return life cycle (pure)."""
from __future__ import annotations

import datetime as dt

import pytest

from server.config import build_config
from server.domain import returns as rd
from server.domain.storefronts import returns as sf

NOW = dt.datetime(2025, 6, 13, tzinfo=dt.UTC)
LINES = [rd.OrderLineFacts(1, "TEE", 2, 0), rd.OrderLineFacts(2, "TEE", 1, 1),
         rd.OrderLineFacts(3, "MUG", 1, 0, ("hygiene",))]


def check(asked, policy=rd.ReturnPolicy(), started=NOW - dt.timedelta(days=1)):
    return rd.check_request(policy, started=started, now=NOW,
                            asked=[rd.Asked(*a) for a in asked], lines=LINES)


def test_quantities_spread_over_lines_and_never_above_shipped_minus_returned():
    granted, problems = check([("TEE", 2, "small")])
    assert problems == [] and [(g.order_line_id, g.quantity) for g in granted] == [(1, 2)]
    assert [p["code"] for p in check([("TEE", 4)])[1]] == ["over_quantity"]
    granted, problems = check([("TEE", 1), ("TEE", 2)])    # line 2's unit came back already
    assert [(g.order_line_id, g.quantity) for g in granted] == [(1, 1)]
    assert [(p["field"], p["code"]) for p in problems] == [("lines[1].quantity", "over_quantity")]


def test_window_from_delivery_or_shipment_and_every_problem_at_once():
    policy = rd.ReturnPolicy(window_days=30, not_returnable_flags=("hygiene",),
                             not_returnable_skus=("GIFT-*",))
    started = rd.window_start(policy, shipped_at=NOW - dt.timedelta(days=40),
                              delivered_at=NOW - dt.timedelta(days=20))
    assert started == NOW - dt.timedelta(days=20)
    assert rd.window_start(rd.ReturnPolicy(window_from="shipment"), shipped_at=NOW,
                           delivered_at=NOW + dt.timedelta(days=1)) == NOW
    _, problems = check([("MUG", 1), ("SOCK", 1), ("TEE", 0)], policy,
                        started=NOW - dt.timedelta(days=31))
    assert [(p["field"], p["code"]) for p in problems] == [
        ("order", "outside_window"), ("lines[0].sku", "not_returnable"),
        ("lines[1].sku", "not_in_order"), ("lines[2].quantity", "out_of_range")]
    assert [p["code"] for p in check([("TEE", 1)], started=None)[1]] == ["not_shipped"]
    assert policy.returnable("GIFT-CARD", ()) is not None


def test_scan_verdicts():
    lines = [rd.LineState(1, "TEE", 2, 1), rd.LineState(2, "MUG", 1, 1)]
    assert rd.scan_verdict(None, lines) == ("unknown_barcode", None)
    assert rd.scan_verdict("TEE", lines)[0] == "ok"
    assert rd.scan_verdict("MUG", lines)[0] == "over_return"
    assert rd.scan_verdict("SOCK", lines) == ("not_in_return", None)


@pytest.mark.parametrize("kind,current,new,ok", [
    ("refund", "authorised", "received", True), ("refund", "received", "closed", True),
    ("refund", "received", "in_repair", False), ("repair", "received", "closed", False),
    ("repair", "received", "in_repair", True), ("repair", "in_repair", "repaired", True),
    ("repair", "repaired", "shipped_back", True), ("repair", "in_repair", "shipped_back", False),
    ("exchange", "closed", "cancelled", False), ("exchange", "authorised", "cancelled", True)])
def test_life_cycle(kind, current, new, ok):
    assert rd.can_move(kind, current, new) is ok


def test_config_per_channel_and_bad_config_refused():
    cfg = build_config({"returns": {"policy": {"window_days": 14},
                                    "channels": {"eu": {"window_from": "shipment"}}}})
    assert cfg.returns.policy_for("eu") == rd.ReturnPolicy(14, "shipment")
    assert cfg.returns.policy_for("other").window_days == 14
    for bad in ({"policy": {"window_days": -1}}, {"policy": {"window_from": "order"}},
                {"policy": {"colour": 1}}, {"label_printer": "nope"},
                {"policy": {"not_returnable_skus": "GIFT-*"}}):
        with pytest.raises(ValueError):
            build_config({"returns": bad})


def test_storefront_payloads():
    ret = sf.shopify_return({"id": 5, "order": {"id": 77}, "return_line_items": [
        {"quantity": 1, "return_reason": "defective",
         "fulfillment_line_item": {"line_item": {"id": 9}}}]})
    assert (ret.external_id, ret.order_external_id, ret.lines) == (
        "return:5", "77", (sf.ReturnedLine("9", 1, "defective"),))
    ours = sf.shopify_refund({"id": 6, "order_id": 77, "note": "Refund for return RMA0000012",
                              "refund_line_items": [{"line_item_id": 9, "quantity": 1}]})
    assert ours.ours and ours.external_id == "refund:6"
    [part, whole] = sf.woo_refunds({"id": 3, "total": "20.00", "line_items": [
        {"id": 1, "quantity": 2}], "refunds": [{"id": 8, "total": "-5.00"},
                                              {"id": 9, "total": "-20.00"}]})
    assert part.lines == () and whole.lines == (sf.ReturnedLine("1", 2),)
