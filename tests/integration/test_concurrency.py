"""32 clients reserving the same SKU at once: never more reserved than on hand."""
import threading

from server.services import auth
from server.store.db import db
from server.store.models import Allocation, Order, OrderLine, Stock

from ..factories import seed

THREADS = 32
QUANTITIES = (2, 3, 4, 6)          # 25 orders a thread: 32 × 25 × 3.75 = 3,000 units wanted


def _order(ref: str, qty: int) -> dict:
    return {"ref": ref, "placed_at": "2025-06-02T09:12:00+00:00", "currency": "GBP",
            "paid": True, "ship_to": {"name": "N", "phone": f"+44770{abs(hash(ref)) % 10**7:07d}",
                                      "address1": f"{ref} Road", "city": "Leeds",
                                      "postcode": "LS1 1AA", "country": "GB"},
            "lines": [{"sku": "WP-TEE-BLK-M", "quantity": qty, "unit_price": "1.00"}]}


def test_no_oversell_under_32_concurrent_clients(app):
    seed(app, stock=1000, skus=("WP-TEE-BLK-M",))
    with app.app_context(), db.connection_context():
        token = auth.create_token(channel="api")
    statuses, errors, lock = [], [], threading.Lock()
    stop = threading.Event()
    seen_bad = []

    def monitor():
        # reads committed state over and over while the writers run
        with app.app_context(), db.connection_context():
            while not stop.is_set():
                for s in Stock.select():
                    if not 0 <= s.reserved <= s.on_hand:
                        seen_bad.append((s.reserved, s.on_hand))
                stop.wait(0.005)

    def client(n: int):
        with app.test_client() as c:
            for i in range(25):
                qty = QUANTITIES[(n + i) % 4]
                r = c.post("/api/v1/orders", json=_order(f"T{n}-{i}", qty),
                           headers={"Authorization": f"Bearer {token}"})
                with lock:
                    if r.status_code != 201:
                        errors.append((r.status_code, r.get_data(as_text=True)[:200]))
                    else:
                        statuses.append(r.get_json()["status"])

    mon = threading.Thread(target=monitor)
    mon.start()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    mon.join()
    assert errors == []
    assert seen_bad == []
    assert len(statuses) == THREADS * 25
    assert set(statuses) <= {"ready", "backordered"}
    with app.app_context(), db.connection_context():
        stock = Stock.get()
        assert stock.on_hand == 1000 and stock.reserved == 1000
        assert sum(a.quantity for a in Allocation.select()) == 1000
        for line in OrderLine.select():
            assert line.reserved + line.backordered == line.quantity
            status = Order.get_by_id(line.order_id).status
            assert (status == "ready") == (line.backordered == 0)
        assert sum(ln.quantity for ln in OrderLine.select()) == 3000


def test_no_oversell_across_16_processes(app, db_url):
    """Processes, not threads: no shared lock, no GIL; only the database keeps them apart."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    seed(app, stock=1000, skus=("WP-TEE-BLK-M",))
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.integration.reserve_worker", db_url,
                               f"P{n}", "50"], cwd=root, env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in range(16)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, outputs
    with app.app_context(), db.connection_context():
        stock = Stock.get()
        assert stock.on_hand == 1000 and stock.reserved == 1000
        assert sum(a.quantity for a in Allocation.select()) == 1000
        assert Order.select().count() == 800
        wanted = 16 * sum(QUANTITIES[i % 4] for i in range(50))    # 2,960 units for 1,000
        assert sum(ln.quantity for ln in OrderLine.select()) == wanted
        for line in OrderLine.select():
            assert line.reserved + line.backordered == line.quantity
