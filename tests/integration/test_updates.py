"""apply_update: a storefront's newer view of an order, applied as far as its status allows."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest

from server.domain.errors import Unprocessable
from server.domain.orders import Address
from server.services import channels, intake, updates
from server.store.db import execute
from server.store.models import Audit, Order, OrderLine, WmsException
from server.settings import current

from ..factories import UTC, draft, seed
from ..exception_checks import raised
from .test_webhooks import ctx

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _apply(app, d) -> str:
    with ctx(app):
        return updates.apply_update(channels.ref(channels.get_channel("api")), d, "test",
                                    settings=current())


def _v(d, minutes: int, **changes):
    """The same order as the storefront saw it `minutes` after T0, with `changes`."""
    return replace(d, source_updated_at=T0 + dt.timedelta(minutes=minutes), **changes)


def _order(app, ref: str) -> Order:
    with ctx(app):
        return Order.get(Order.external_id == ref)


def _lines(app, ref: str) -> list[tuple]:
    with ctx(app):
        oid = Order.get(Order.external_id == ref).id
        return [(ln.sku, ln.quantity, ln.reserved, ln.backordered) for ln in
                OrderLine.select().where(OrderLine.order == oid).order_by(OrderLine.line_no)]


def _stock(app, sku: str) -> int:
    with ctx(app):
        return execute("SELECT COALESCE(SUM(s.reserved), 0) FROM stock s JOIN product p "
                       "ON p.id = s.product_id WHERE p.sku = ?", (sku,)).fetchone()[0]


def _set_status(app, ref: str, status: str) -> None:
    with ctx(app):
        execute("UPDATE sales_order SET status = ? WHERE external_id = ?", (status, ref))


def _exceptions(app) -> list[str]:
    with ctx(app):
        return [e.type for e in WmsException.select().order_by(WmsException.id)]


def test_created_then_unchanged_then_stale(app):
    seed(app)
    d = _v(draft("U1"), 0)
    assert _apply(app, d) == "created"
    assert _apply(app, d) == "unchanged"
    assert _apply(app, _v(d, 5, note="newer")) == "updated"
    assert _apply(app, _v(d, 1, note="older")) == "stale"
    order = _order(app, "U1")
    assert order.note == "newer"
    assert order.source_updated_at == T0 + dt.timedelta(minutes=5)


def test_lines_replaced_while_editable_and_stock_follows(app):
    seed(app, stock=5)
    d = _v(draft("L1", [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)]), 0)
    _apply(app, d)
    assert (_stock(app, "WP-TEE-BLK-M"), _stock(app, "WP-MUG-350-SAGE")) == (2, 1)
    new = _v(draft("L1", [("WP-TEE-BLK-M", 3), ("WP-TOTE-NAT", 1)]), 5)
    assert _apply(app, new) == "updated"
    assert _lines(app, "L1") == [("WP-TEE-BLK-M", 3, 3, 0), ("WP-TOTE-NAT", 1, 1, 0)]
    assert (_stock(app, "WP-TEE-BLK-M"), _stock(app, "WP-MUG-350-SAGE"),
            _stock(app, "WP-TOTE-NAT")) == (3, 0, 1)
    assert _order(app, "L1").status == "ready"
    with ctx(app):
        row = Audit.get(Audit.action == "order.updated")
        assert json.loads(row.before)["lines"] == [["WP-TEE-BLK-M", 2], ["WP-MUG-350-SAGE", 1]]
        assert json.loads(row.after)["lines"] == [["WP-TEE-BLK-M", 3], ["WP-TOTE-NAT", 1]]


def test_same_lines_in_another_order_are_unchanged(app):
    seed(app)
    _apply(app, _v(draft("L2", [("WP-TEE-BLK-M", 1), ("WP-TOTE-NAT", 2)]), 0))
    assert _apply(app, _v(draft("L2", [("WP-TOTE-NAT", 2), ("WP-TEE-BLK-M", 1)]), 1)) \
        == "unchanged"


def test_fewer_units_free_stock_for_a_backorder(app):
    seed(app, stock=3)
    _apply(app, _v(draft("F1", [("WP-TEE-BLK-M", 3)]), 0))
    _apply(app, _v(draft("F2", [("WP-TEE-BLK-M", 2)]), 0))
    assert _order(app, "F2").status == "backordered"
    assert _apply(app, _v(draft("F1", [("WP-TEE-BLK-M", 1)]), 5)) == "updated"
    assert _order(app, "F1").status == "ready"
    assert _order(app, "F2").status == "ready"
    assert _stock(app, "WP-TEE-BLK-M") == 3


def test_lines_changed_after_picking_is_an_exception(app):
    seed(app)
    _apply(app, _v(draft("P1", [("WP-TEE-BLK-M", 1)]), 0))
    _set_status(app, "P1", "picking")
    assert _apply(app, _v(draft("P1", [("WP-TEE-BLK-M", 4)]), 5, note="more")) == "exception"
    assert _lines(app, "P1") == [("WP-TEE-BLK-M", 1, 1, 0)]
    assert _exceptions(app) == ["lines_changed_after_pick"]
    raised(app, "lines_changed_after_pick", "order", ref="P1")
    assert _order(app, "P1").note == "more"          # what does not touch the parcel applies


def test_paid_flip_settles_and_a_risk_hold_survives_payment(app):
    seed(app)
    _apply(app, _v(draft("M1", paid=False), 0))
    assert _order(app, "M1").status == "awaiting_payment"
    assert _apply(app, _v(draft("M1", paid=True), 5)) == "updated"
    assert _order(app, "M1").status == "ready"
    _apply(app, _v(draft("M2", [("WP-TEE-BLK-M", 101)], paid=False), 0))  # over the limit
    assert _order(app, "M2").status == "awaiting_payment" and _order(app, "M2").hold_reason
    raised(app, "risk_hold", "order", ref="M2")
    assert _apply(app, _v(draft("M2", [("WP-TEE-BLK-M", 101)], paid=True), 5)) == "updated"
    assert _order(app, "M2").status == "on_hold"
    # paid stays paid: a refund is after-sales work, not an unpaid order
    assert _apply(app, _v(draft("M1", paid=False), 6)) == "unchanged"
    assert _order(app, "M1").paid is True


def test_invalid_update_is_an_exception_and_keeps_the_order(app):
    seed(app)
    _apply(app, _v(draft("V1"), 0))
    assert _apply(app, _v(draft("V1", [("NO-SUCH-SKU", 1)]), 5)) == "exception"
    assert _lines(app, "V1") == [("WP-TEE-BLK-M", 1, 1, 0)]
    assert _exceptions(app) == ["invalid_update"]
    raised(app, "invalid_update", "order", ref="V1")
    assert _apply(app, _v(draft("V1", [("NO-SUCH-SKU", 1)]), 5)) == "exception"
    assert _exceptions(app) == ["invalid_update"]       # the same problem once


def test_an_invalid_order_fixed_by_the_storefront_becomes_ready(app):
    seed(app)
    with ctx(app):
        ch = channels.ref(channels.get_channel("api"))
        [res] = intake.import_orders(ch, [_v(draft("I1", [("NO-SUCH-SKU", 1)]), 0)], "test",
                                     settings=current())
    assert res.status == "invalid"
    assert _apply(app, _v(draft("I1", [("NO-SUCH-SKU", 2)]), 3)) == "unchanged"
    assert _exceptions(app) == ["invalid_order"]        # no second exception for it
    assert _apply(app, _v(draft("I1", [("WP-MUG-350-SAGE", 2)]), 5)) == "updated"
    order = _order(app, "I1")
    assert (order.status, order.problems) == ("ready", "")
    assert _lines(app, "I1") == [("WP-MUG-350-SAGE", 2, 2, 0)]
    with ctx(app):
        assert WmsException.get(WmsException.type == "invalid_order").state == "resolved"


def test_cancel_releases_and_after_pack_is_an_exception(app):
    seed(app)
    _apply(app, _v(draft("C1", [("WP-TEE-BLK-M", 2)]), 0))
    _apply(app, _v(draft("C2", [("WP-TOTE-NAT", 1)]), 0))
    assert _apply(app, _v(draft("C1", [("WP-TEE-BLK-M", 2)]), 5, cancelled=True)) == "cancelled"
    assert _order(app, "C1").status == "cancelled" and _stock(app, "WP-TEE-BLK-M") == 0
    _set_status(app, "C2", "packed")
    assert _apply(app, _v(draft("C2", [("WP-TOTE-NAT", 1)]), 5, cancelled=True)) == "exception"
    assert _order(app, "C2").status == "packed" and _stock(app, "WP-TOTE-NAT") == 1
    assert _exceptions(app) == ["cancel_after_pack"]
    raised(app, "cancel_after_pack", "order", ref="C2")
    # a cancelled order stays cancelled; paid news for it is for a person to look at
    assert _apply(app, _v(draft("C1", [("WP-TEE-BLK-M", 2)]), 9)) == "unchanged"
    with ctx(app):
        execute("UPDATE sales_order SET paid = ? WHERE external_id = 'C1'", (False,))
    assert _apply(app, _v(draft("C1", [("WP-TEE-BLK-M", 2)]), 10)) == "exception"
    assert _exceptions(app)[-1] == "paid_after_cancel"
    raised(app, "paid_after_cancel", "order", ref="C1")


def test_address_change_updates_keys_and_waved_lines_change_is_an_exception(app):
    seed(app)
    d = _v(draft("A1"), 0)
    _apply(app, d)
    moved = Address(name="Ann Test", phone="+447700900999", address1="2 New Road",
                    city="York", postcode="YO1 7HH", country="GB")
    assert _apply(app, _v(d, 5, ship_to=moved)) == "updated"
    order = _order(app, "A1")
    assert (order.ship_address1, order.ship_city, order.phone_key) == (
        "2 New Road", "York", "447700900999")
    assert order.status == "ready" and _stock(app, "WP-TEE-BLK-M") == 1
    _set_status(app, "A1", "waved")
    changed = _v(d, 9, ship_to=moved, lines=draft("A1", [("WP-TEE-BLK-M", 2)]).lines)
    assert _apply(app, changed) == "exception"
    assert _exceptions(app) == ["lines_changed_after_wave"]
    raised(app, "lines_changed_after_wave", "order")


def test_an_order_no_table_can_hold_is_refused_before_writing(app):
    seed(app)
    _apply(app, _v(draft("S1"), 0))
    too_long = _v(draft("S1"), 5, note="fine", carrier="C" * 500)
    with pytest.raises(Unprocessable) as err:
        _apply(app, too_long)
    assert err.value.field == "carrier"
    assert _order(app, "S1").note == ""


def test_a_new_shipping_method_chooses_the_carrier_again_until_waved(app):
    seed(app)
    d = draft("M-1", placed_at=T0, source_updated_at=T0, shipping_method=("ups express",))
    assert _apply(app, d) == "created"
    assert _order(app, "M-1").carrier_service == "ups-express"
    assert _apply(app, _v(d, 1, shipping_method=("carrier pigeon",))) == "updated"
    o = _order(app, "M-1")
    assert (o.status, o.hold_code, o.carrier_service) == ("on_hold", "carrier_unmapped", "")
    _set_status(app, "M-1", "waved")
    assert _apply(app, _v(d, 2, shipping_method=("royal mail",))) == "exception"
    assert _order(app, "M-1").shipping_method == '["carrier pigeon"]'
    assert "carrier_changed_after_wave" in _exceptions(app)
    raised(app, "carrier_changed_after_wave", "order")
