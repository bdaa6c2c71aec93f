"""Login rate limits (memory and Redis storage), replenishment alerts, the audit trail."""
import datetime as dt
import uuid


from server import clock
from server.services import auth, stock as stock_svc
from server.store import db as store_db
from server.store.models import Audit, ReplenTask, WmsException
from server.settings import current

from ..at_once import at_once
from ..conftest import make_app, need, redis_up
from ..factories import seed


def _hammer(app, n):
    client = app.test_client()
    return [client.post("/api/v1/auth/badge", json={"badge": f"nobody{i}", "pin": "0000"})
            for i in range(n)]


def test_login_attempts_are_rate_limited(db_url):
    app = make_app(db_url, auth={"login_rate_limit": "5 per minute",
                                 "rate_limit_prefix": f"t{uuid.uuid4().hex}"})
    answers = _hammer(app, 7)
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 2
    assert answers[-1].get_json()["error"]["code"] == "too_many_requests"


def test_behind_a_proxy_each_forwarded_client_has_its_own_limit(db_url):
    """With server.proxy_hops the limit is per X-Forwarded-For client (nginx's address is
    every client's); without it the header is ignored, so it cannot dodge the limit."""
    limits = {"login_rate_limit": "2 per minute", "rate_limit_prefix": f"t{uuid.uuid4().hex}"}

    def codes(app, clients):
        c = app.test_client()
        return [c.post("/api/v1/auth/badge", json={"badge": f"nobody{i}", "pin": "0000"},
                       headers={"X-Forwarded-For": ip}).status_code
                for i, ip in enumerate(clients)]

    proxied = make_app(db_url, auth=limits, server={"proxy_hops": 1})
    assert codes(proxied, ["203.0.113.1"] * 3 + ["203.0.113.2"] * 2) == \
        [401, 401, 429, 401, 401]
    direct = make_app(db_url, auth={**limits, "rate_limit_prefix": f"t{uuid.uuid4().hex}"})
    assert codes(direct, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [401, 401, 429]


def test_rate_limit_is_shared_through_redis(db_url):
    need(redis_up(), "Redis at 127.0.0.1:6379")
    cfg = {"login_rate_limit": "4 per minute", "rate_limit_storage": "redis://127.0.0.1:6379",
           "rate_limit_prefix": f"t{uuid.uuid4().hex}"}
    one = make_app(db_url, auth=cfg)
    two = make_app(db_url, auth=cfg)      # a second process's view of the same limits
    codes = [r.status_code for r in _hammer(one, 2) + _hammer(two, 3)]
    assert codes == [401, 401, 401, 401, 429]


def test_replenishment_alert_opens_below_minimum_and_closes_on_refill(app, dbconn):
    seed(app, stock=10, skus=("WP-TEE-BLK-M",))
    with app.app_context():
        now = clock.now()
        with store_db.write_tx():
            stock_svc.change_stock("main", "A-01-02-3", "WP-TEE-BLK-M", set_to=10, min_qty=5,
                                   actor="test", now=now, reason="count")
        from server.services import channels, intake
        from ..factories import draft
        ch = channels.ref(channels.get_channel("api"))
        from server.jobs import replenish_worker
        replenish_worker._take()
        intake.import_orders(ch, [draft("R1", [("WP-TEE-BLK-M", 4)])], "test", settings=current())
        replenish_worker.run_once(app)    # the worker's round after the commits' wake-ups
        assert ReplenTask.select().count() == 0       # 6 available, minimum 5
        intake.import_orders(ch, [draft("R2", [("WP-TEE-BLK-M", 3)])], "test", settings=current())
        replenish_worker.run_once(app)
        intake.import_orders(ch, [draft("R3", [("WP-TEE-BLK-M", 1)])], "test", settings=current())
        replenish_worker.run_once(app)
        alerts = list(WmsException.select().where(WmsException.type == "replenishment_needed"))
        assert len(alerts) == 1 and alerts[0].state == "open"   # one alert, not one per order
        assert "WP-TEE-BLK-M" in alerts[0].message
        assert ReplenTask.select().count() == 1
        stock_svc.receive([("main", "A-01-02-3", "WP-TEE-BLK-M", 20)], "test", settings=current())
        replenish_worker.run_once(app)
        assert WmsException.get_by_id(alerts[0].id).state == "resolved"
        assert ReplenTask.get().state == "cancelled"        # refilled by the receipt


def test_every_state_change_and_stock_movement_is_audited(app):
    seed(app, stock=3, skus=("WP-TEE-BLK-M",))
    with app.app_context(), store_db.db.connection_context():
        token = auth.create_token(channel="api")
    client = app.test_client()
    order = {"ref": "AUD-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
             "paid": True, "ship_to": {"name": "A", "phone": "+447700900101",
                                       "address1": "1 St", "city": "Leeds", "postcode": "LS1 1AA",
                                       "country": "GB"},
             "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 2, "unit_price": "5.00"}]}
    h = {"Authorization": f"Bearer {token}"}
    oid = client.post("/api/v1/orders", json=order, headers=h).get_json()["id"]
    client.post(f"/api/v1/orders/{oid}/cancel", headers=h)
    with app.app_context(), store_db.db.connection_context():
        rows = list(Audit.select().where(Audit.action.in_(
            ["order.received", "order.status", "stock.reserve", "stock.release"]))
            .order_by(Audit.id))
    assert [(r.action, r.before, r.after) for r in rows] == [
        ("stock.reserve", '{"available":3}', '{"available":1}'),
        ("order.status", "received", "ready"),
        ("order.received", "", "received"),
        ("stock.release", '{"available":1}', '{"available":3}'),
        ("order.status", "ready", "cancelled"),
    ]
    assert all(r.actor.startswith("token:") and "channel:api" in r.actor for r in rows)


def _burst(app, badge, n, pin="0000"):
    """`n` logins for `badge` sent at the same moment, each from its own thread and client."""
    return at_once(n, lambda _i: app.test_client().post(
        "/api/v1/auth/badge", json={"badge": badge, "pin": pin}))


def test_a_burst_of_wrong_pins_checks_at_most_the_limit_and_locks(db_url, monkeypatch):
    """19 wrong PINs at once: on PostgreSQL each read failed_logins = 0 and all 19 were
    checked, the badge never locked. Now at most max_failed_logins PINs are ever checked
    and the badge is locked, for a known and an unknown badge alike."""
    import threading
    import time
    app = make_app(db_url, auth={"login_rate_limit": "1000 per minute",
                                 "rate_limit_prefix": f"t{uuid.uuid4().hex}"})
    with app.app_context(), store_db.db.connection_context():
        auth.add_user("B7", "picker", "4321")
    checked: list[str] = []
    lock = threading.Lock()
    real_verify = auth._verify

    def slow_verify(pin_hash, pin):
        with lock:
            checked.append(pin)
        time.sleep(0.2)    # widen the race: every request is past its read before any writes
        return real_verify(pin_hash, pin)

    monkeypatch.setattr(auth, "_verify", slow_verify)
    for badge in ("B7", "NO-SUCH-BADGE"):
        checked.clear()
        answers = _burst(app, badge, 19)
        codes = sorted((r.status_code, r.get_json()["error"]["code"]) for r in answers)
        assert len(checked) <= 5, (badge, len(checked))
        assert codes.count((401, "bad_credentials")) == len(checked)
        assert codes.count((429, "locked")) == 19 - len(checked)
        # locked: even the right PIN is refused, without being checked
        right = app.test_client().post("/api/v1/auth/badge", json={"badge": badge, "pin": "4321"})
        assert (right.status_code, right.get_json()["error"]["code"]) == (429, "locked")
        assert len(checked) <= 5


def test_an_unknown_badge_answers_like_a_known_one_through_the_lockout(db_url):
    app = make_app(db_url, auth={"login_rate_limit": "1000 per minute",
                                 "rate_limit_prefix": f"t{uuid.uuid4().hex}"})
    with app.app_context(), store_db.db.connection_context():
        auth.add_user("B8", "picker", "4321")
    client = app.test_client()

    def answers(badge):
        out = []
        for _ in range(7):
            r = client.post("/api/v1/auth/badge", json={"badge": badge, "pin": "0000"})
            out.append((r.status_code, r.get_json()))
        return out

    known, unknown = answers("B8"), answers("B9-UNKNOWN")
    assert known == unknown
    assert [s for s, _ in known] == [401] * 5 + [429] * 2
    # the lock expires for both alike, and then the right PIN works for the real badge
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=16)
    clock.set_clock(lambda: later)
    try:
        assert client.post("/api/v1/auth/badge", json={"badge": "B9-UNKNOWN", "pin": "0000"}
                           ).status_code == 401
        ok = client.post("/api/v1/auth/badge", json={"badge": "B8", "pin": "4321"})
        assert ok.status_code == 200
    finally:
        clock.set_clock(None)


def test_logins_work_with_redis_unreachable_and_limits_hold_in_memory(db_url, caplog):
    """Redis configured but down: every login answered 500 and the server started without
    a word. Now the start says so, logins are answered, the limit holds from memory."""
    import logging
    from ..conftest import free_port
    closed = f"redis://127.0.0.1:{free_port()}"        # nothing listens there
    with caplog.at_level(logging.WARNING):
        app = make_app(db_url, auth={"login_rate_limit": "3 per minute",
                                     "rate_limit_storage": closed,
                                     "rate_limit_prefix": f"t{uuid.uuid4().hex}"})
    assert any("unreachable" in r.getMessage() and closed in r.getMessage()
               for r in caplog.records if r.name == "server.api.limits")
    assert "unreachable" in app.extensions["wavepack.rate_limit_warning"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        codes = [r.status_code for r in _hammer(app, 5)]
    assert codes == [401, 401, 401, 429, 429]
    assert any(r.name == "server.api.limits" for r in caplog.records)
    health = app.test_client().get("/healthz").get_json()
    assert health["rate_limits"]["storage"] == "memory (fallback)"
    assert health["rate_limits"]["fallbacks"] >= 1
    with app.app_context(), store_db.db.connection_context():
        auth.add_user("R1", "picker", "1234")
    # a new client address: its own limit, and a right PIN logs in
    ok = app.test_client().post("/api/v1/auth/badge", json={"badge": "R1", "pin": "1234"},
                                environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert ok.status_code == 200, ok.get_json()


def test_serve_says_when_the_rate_limit_redis_is_unreachable(tmp_path):
    """... and the Socket.IO message queue's: a warning, no traceback, and it serves."""
    from ..conftest import free_port, wavepack_serve
    closed = f"redis://127.0.0.1:{free_port()}"
    make_app(f"sqlite:///{tmp_path}/wavepack.db")    # serve takes an existing database only
    with wavepack_serve(tmp_path, "--async-mode", "threading",
                        WAVEPACK_AUTH_RATE_LIMIT_STORAGE=closed, SOCKETIO_MESSAGE_QUEUE=closed,
                        WAVEPACK_JOBS_ENABLED="false") as served:
        assert f"warning: rate-limit storage {closed} is unreachable" in served.banner
        assert f"warning: Socket.IO message queue {closed} is unreachable" in served.banner
        assert "Traceback" not in served.banner
        import requests
        assert requests.get(f"{served.base}/healthz", timeout=10).status_code == 200
