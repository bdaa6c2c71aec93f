import json

from server.domain import lifecycle
from server.services import channels, intake, orders, stock as stock_svc
from server.store.models import Audit, Order, Stock, WmsException
from server.settings import current

from ..factories import draft, seed
from ..exception_checks import raised


def _import(app, drafts, **kw):
    with app.app_context():
        ch = channels.ref(channels.get_channel("api"))
        return intake.import_orders(ch, drafts, "test", **kw, settings=current())


def test_order_is_reserved_and_ready(app, dbconn):
    seed(app, stock=5)
    [res] = _import(app, [draft("A1", [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)])])
    assert res.outcome == "created" and res.status == lifecycle.READY
    with app.app_context():
        body = orders.to_dict(orders.load(res.order_id), settings=current())
        assert [(ln["sku"], ln["reserved"]) for ln in body["lines"]] == [
            ("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)]
        assert body["warehouse"] == "main"
        tee = stock_svc.stock_for_sku("WP-TEE-BLK-M")["locations"][0]
        assert (tee["on_hand"], tee["reserved"], tee["available"]) == (5, 2, 3)
    assert Audit.select().where(Audit.action == "stock.reserve").count() == 2


def test_duplicate_is_reported_not_stored_twice(app, dbconn):
    seed(app)
    first = _import(app, [draft("D1")])[0]
    again = _import(app, [draft("D1"), draft("D1")])
    assert [r.outcome for r in again] == ["duplicate", "duplicate"]
    assert again[0].order_id == first.order_id


def test_short_stock_backorders_then_arrival_reserves(app, dbconn):
    seed(app, stock=1)
    [res] = _import(app, [draft("B1", [("WP-TEE-BLK-M", 3)])])
    assert res.status == lifecycle.BACKORDERED
    with app.app_context():
        line = orders.to_dict(orders.load(res.order_id), settings=current())["lines"][0]
        assert (line["reserved"], line["backordered"]) == (1, 2)
        stock_svc.receive([("main", "A-01-02-3", "WP-TEE-BLK-M", 5)], "test", settings=current())
        body = orders.to_dict(orders.load(res.order_id), settings=current())
        assert body["status"] == lifecycle.READY
        assert (body["lines"][0]["reserved"], body["lines"][0]["backordered"]) == (3, 0)
    for s in Stock.select():
        assert 0 <= s.reserved <= s.on_hand


def test_invalid_order_stored_with_reasons_and_exception(app, dbconn):
    seed(app)
    [res] = _import(app, [draft("I1", [("NOPE", 1), ("WP-TEE-BLK-M", 0)])])
    assert res.status == lifecycle.INVALID
    codes = {p["code"] for p in res.problems}
    assert codes == {"unknown_sku", "bad_quantity"}
    assert WmsException.select().where(WmsException.type == "invalid_order").count() == 1
    raised(app, "invalid_order", "order", ref="I1")
    assert sum(s.reserved for s in Stock.select()) == 0


def test_unpaid_waits_and_risky_is_held(app, dbconn):
    seed(app)
    unpaid, risky = _import(app, [draft("U1", paid=False),
                                  draft("R1", [("WP-TEE-BLK-M", 101)])])
    assert unpaid.status == lifecycle.AWAITING_PAYMENT
    assert risky.status == lifecycle.ON_HOLD and "101" in risky.hold_reasons[0]
    with app.app_context():
        released = orders.release_hold(risky.order_id, "user:sup", settings=current())
    assert released["status"] == lifecycle.BACKORDERED   # only 100 in stock


def test_cancel_releases_stock_and_hands_it_to_backorders(app, dbconn):
    seed(app, stock=2)
    a, b = _import(app, [draft("C1", [("WP-TEE-BLK-M", 2)]), draft("C2", [("WP-TEE-BLK-M", 1)])])
    assert (a.status, b.status) == (lifecycle.READY, lifecycle.BACKORDERED)
    with app.app_context():
        assert orders.cancel(a.order_id, "test",
                             settings=current())["status"] == lifecycle.CANCELLED
        assert orders.to_dict(orders.load(b.order_id),
                              settings=current())["status"] == lifecycle.READY


def test_dry_run_writes_nothing(app, dbconn):
    seed(app)
    res = _import(app, [draft("X1")], dry_run=True)
    assert res[0].outcome == "created"
    assert _import(app, [draft("X1")])[0].outcome == "created"


def test_csv_import_stores_bad_addresses_invalid_with_the_problem_list(app, dbconn):
    from server.services import csv_import
    seed(app)
    head = ("order_ref,channel,sku,quantity,unit_price,currency,ship_name,ship_phone,"
            "ship_address1,ship_city,ship_postcode,ship_country,placed_at\n")
    rows = ("C-BAD,phone,WP-TEE-BLK-M,1,10.00,GBP,Ann,555,1 Road,Leeds,XXXX,GB,"
            "2025-06-01T10:00:00Z\n"
            "C-OK,phone,WP-TEE-BLK-M,1,10.00,GBP,Ann,07700 900123,1 Road,Leeds,ls11aa,gb,"
            "2025-06-01T10:00:00Z\n")
    with app.app_context():
        ch = channels.get_channel("api")
        report = csv_import.import_orders_csv((head + rows).encode(), ch, "test",
                                              settings=current()).to_dict()
    assert (report["created"], report["rejected"]) == (2, 0)
    bad = Order.get(Order.ref == "C-BAD")
    expected = [("ship_to.phone", "bad_phone"), ("ship_to.postcode", "bad_postcode")]
    assert bad.status == lifecycle.INVALID
    assert [(p["field"], p["code"]) for p in json.loads(bad.problems)] == expected
    exc = WmsException.get(WmsException.order == bad.id)
    assert [(p["field"], p["code"]) for p in json.loads(exc.detail)] == expected
    good = Order.get(Order.ref == "C-OK")
    assert (good.status, good.ship_phone, good.ship_postcode, good.ship_country) == (
        lifecycle.READY, "+447700900123", "LS1 1AA", "GB")


def test_refuse_invalid_stores_nothing(app, dbconn):
    seed(app)
    before = Audit.select().count()
    [res] = _import(app, [draft("R1", [("NOPE", 1)], country="ZZ")], refuse_invalid=True)
    assert res.outcome == "rejected" and res.order_id is None
    assert {p["code"] for p in res.problems} == {"unknown_sku", "bad_country"}
    assert Order.select().count() == 0 and WmsException.select().count() == 0
    assert Audit.select().count() == before
