import datetime as dt

from server import clock
from server.jobs import expiry, scheduler
from server.services import channels, intake, orders
from server.store.models import Stock
from server.settings import current

from ..factories import draft, seed


def test_unpaid_orders_expire_and_release_stock(app, dbconn):
    seed(app, stock=5, skus=("WP-TEE-BLK-M",))
    t0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    clock.set_clock(lambda: t0)
    with app.app_context():
        ch = channels.ref(channels.get_channel("api"))
        old, paid = intake.import_orders(ch, [draft("OLD", [("WP-TEE-BLK-M", 3)], paid=False),
                                              draft("PAID", [("WP-TEE-BLK-M", 2)])], "test",
                                              settings=current())
        assert old.status == "awaiting_payment"
        assert Stock.get().reserved == 5          # unpaid orders hold their stock too
        clock.set_clock(lambda: t0 + dt.timedelta(hours=71))
        assert expiry.cancel_unpaid() == 0
        clock.set_clock(lambda: t0 + dt.timedelta(hours=73))
        late = intake.import_orders(ch, [draft("LATE", [("WP-TEE-BLK-M", 1)], paid=False)],
                                    "test", settings=current())[0]
        assert expiry.cancel_unpaid() == 1
        assert orders.load(old.order_id).status == "cancelled"
        assert orders.load(paid.order_id).status == "ready"
        assert orders.load(late.order_id).status == "awaiting_payment"
        assert Stock.get().reserved == 3             # 2 for PAID, 1 for LATE


def test_scheduler_job_failure_is_contained(app):
    def boom(_app):
        raise RuntimeError("printer on fire")
    assert scheduler.run_job(app, "boom", boom) is False
    assert scheduler.run_job(app, "ok", lambda _app: None) is True
