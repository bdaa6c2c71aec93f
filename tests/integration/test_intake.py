from server.domain import lifecycle
from server.services import channels, intake, orders, stock as stock_svc
from server.store.models import Audit, Stock, WmsException

from ..factories import draft, seed


def _import(app, drafts, **kw):
    with app.app_context():
        ch = channels.ref(channels.get_channel("api"))
        return intake.import_orders(ch, drafts, "test", **kw)


def test_order_is_reserved_and_ready(app, dbconn):
    seed(app, stock=5)
    [res] = _import(app, [draft("A1", [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)])])
    assert res.outcome == "created" and res.status == lifecycle.READY
    with app.app_context():
        body = orders.to_dict(orders.load(res.order_id))
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
        line = orders.to_dict(orders.load(res.order_id))["lines"][0]
        assert (line["reserved"], line["backordered"]) == (1, 2)
        stock_svc.receive([("main", "A-01-02-3", "WP-TEE-BLK-M", 5)], "test")
        body = orders.to_dict(orders.load(res.order_id))
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
    assert sum(s.reserved for s in Stock.select()) == 0


def test_unpaid_waits_and_risky_is_held(app, dbconn):
    seed(app)
    unpaid, risky = _import(app, [draft("U1", paid=False),
                                  draft("R1", [("WP-TEE-BLK-M", 101)])])
    assert unpaid.status == lifecycle.AWAITING_PAYMENT
    assert risky.status == lifecycle.ON_HOLD and "101" in risky.hold_reasons[0]
    with app.app_context():
        released = orders.release_hold(risky.order_id, "user:sup")
    assert released["status"] == lifecycle.BACKORDERED   # only 100 in stock


def test_cancel_releases_stock_and_hands_it_to_backorders(app, dbconn):
    seed(app, stock=2)
    a, b = _import(app, [draft("C1", [("WP-TEE-BLK-M", 2)]), draft("C2", [("WP-TEE-BLK-M", 1)])])
    assert (a.status, b.status) == (lifecycle.READY, lifecycle.BACKORDERED)
    with app.app_context():
        assert orders.cancel(a.order_id, "test")["status"] == lifecycle.CANCELLED
        assert orders.to_dict(orders.load(b.order_id))["status"] == lifecycle.READY


def test_dry_run_writes_nothing(app, dbconn):
    seed(app)
    res = _import(app, [draft("X1")], dry_run=True)
    assert res[0].outcome == "created"
    assert _import(app, [draft("X1")])[0].outcome == "created"
