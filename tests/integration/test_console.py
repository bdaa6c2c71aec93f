"""The /console namespace: supervisors and admins only, one room per warehouse (or all),
fed after commit by the event hook; through Redis an event made by one app (process)
reaches a console connected to another (SQLite and PostgreSQL, Flask-SocketIO test client;
tests/integration/test_nginx_cluster.py does it with real processes behind nginx)."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import socketio
from flask_socketio import ConnectionRefusedError

from server import clock, events
from server.sockets import console
from server.store.db import db, write_tx
from server.store.models import ApiToken

from ..conftest import make_app, need
from ..floor import PICK_CFG, build_floor, sid
from .test_auth_limits import _redis_up

NS = "/console"


def _scan(warehouse="main", **kw):
    return {"scan_id": 1, "user_id": 1, "user": "p1", "device": "HH-1", "warehouse": warehouse,
            "order_id": 7, "order_ref": "R-7", "task_id": 3, "cart_id": 2, "sku": "SOCK",
            "location": "A-03-02-1", "verdict": "ok", "counted": True, "kind": "item", **kw}


def _console(app, token, **auth):
    return app.extensions["socketio"].test_client(app, namespace=NS,
                                                  auth={"token": token, **auth})


def _received(client, name, within_s=5.0, want=1) -> list:
    """The payloads of `name` pushed to this console, waiting for `want` of them."""
    stash = client.__dict__.setdefault("_stash", [])     # what other calls have not taken
    deadline = time.monotonic() + within_s
    while True:
        # (what came before a disconnect stays readable in the client's queue)
        stash += [p for p in client.queue if p["namespace"] == NS]
        client.queue = [p for p in client.queue if p["namespace"] != NS]
        got = [m["args"][0] for m in stash if m["name"] == name]
        if len(got) >= want or time.monotonic() >= deadline:
            stash[:] = [m for m in stash if m["name"] != name]
            return got
        time.sleep(0.05)


@pytest.fixture
def floor(db_url):
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app)
    with app.app_context(), db.connection_context():
        from server.services import auth
        auth.add_user("a1", "admin", "1234")
        floor.tokens["a1"] = auth.create_token(role="admin", hours=1)
        from server.services.setup import add_warehouse
        add_warehouse("rtm", "Rotterdam", "eu")
    yield floor
    clock.set_clock(None)


def test_scans_reach_the_consoles_of_their_warehouse_after_commit(floor):
    here = _console(floor.app, floor.tokens["s1"], warehouse="main")
    every = _console(floor.app, floor.tokens["a1"])
    there = _console(floor.app, floor.tokens["s1"], warehouse="rtm")
    assert all(c.is_connected(NS) for c in (here, every, there))
    assert here.emit("whoami", callback=True, namespace=NS)["room"] == "warehouse:main"
    with floor.app.app_context(), db.connection_context():
        with write_tx():
            events.publish("scan.recorded", **_scan(scan_id=1))
            assert _received(here, "scan.recorded", within_s=0.2) == []   # not before commit
        try:
            with write_tx():
                events.publish("scan.recorded", **_scan(scan_id=2))
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        events.publish("print_job.queued", printer_url="tcp://x:9100", job_id=5)
    assert _received(here, "scan.recorded") == [_scan(scan_id=1)]
    assert _received(every, "scan.recorded") == [_scan(scan_id=1)]
    assert _received(here, "print_job.queued") == [{"printer_url": "tcp://x:9100", "job_id": 5}]
    assert _received(there, "print_job.queued") == [{"printer_url": "tcp://x:9100",
                                                     "job_id": 5}]
    assert _received(there, "scan.recorded", within_s=0.3) == []      # another warehouse
    # switching warehouse moves the console to that room
    assert there.emit("watch", {"warehouse": "main"}, callback=True, namespace=NS)["ok"]
    assert there.emit("watch", {"warehouse": "nowhere"}, callback=True,
                      namespace=NS)["error"]["code"] == "unknown_warehouse"
    events.publish("scan.recorded", **_scan(scan_id=3))
    assert _received(there, "scan.recorded") == [_scan(scan_id=3)]


def test_a_handheld_scan_reaches_the_console(floor):
    floor.order("C-1", [("SOCK", 1)])
    floor.wave()
    watcher = _console(floor.app, floor.tokens["s1"], warehouse="main")
    hh = floor.socket("p1")
    task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
    got = hh.emit("scan", {"scan_id": sid(), "raw": task["location"]}, namespace="/handheld",
                  callback=True)
    assert got["verdict"] == "ok", got
    [seen] = _received(watcher, "scan.recorded")
    assert (seen["user"], seen["device"], seen["warehouse"], seen["location"],
            seen["verdict"], seen["order_ref"]) == ("p1", "HH-p1", "main", task["location"],
                                                    "ok", "C-1")


def test_pickers_packers_and_strangers_are_refused_with_a_reason(floor):
    for badge in ("p1", "k1"):
        assert not _console(floor.app, floor.tokens[badge]).is_connected(NS)
    assert not _console(floor.app, "nope").is_connected(NS)
    assert not _console(floor.app, floor.tokens["s1"], warehouse="nowhere").is_connected(NS)
    with floor.app.test_request_context():
        for auth, code in (({"token": floor.tokens["p1"]}, "forbidden"),
                           ({"token": floor.tokens["k1"]}, "forbidden"),
                           ({"token": "nope"}, "unauthenticated"),
                           ({}, "unauthenticated"),
                           ({"token": floor.tokens["s1"], "warehouse": 5}, "bad_request"),
                           ({"token": floor.tokens["s1"], "warehouse": "nowhere"},
                            "unknown_warehouse")):
            with pytest.raises(ConnectionRefusedError) as err:
                console._connect(auth)
            assert err.value.error_args["data"]["code"] == code, auth
    with floor.app.test_request_context():
        with pytest.raises(ConnectionRefusedError) as err:
            console._connect({"token": floor.tokens["p1"]})
    assert err.value.error_args["message"] == \
        "a picker cannot open the console: supervisors and admins only"


def test_a_revoked_console_session_is_ended(floor, monkeypatch):
    monkeypatch.setattr(console, "SESSION_RECHECK_S", 0.2)
    watcher = _console(floor.app, floor.tokens["s1"])
    stays = _console(floor.app, floor.tokens["a1"])
    assert watcher.is_connected(NS)
    with floor.app.app_context(), db.connection_context():
        ApiToken.update(revoked_at=clock.now()).where(
            ApiToken.role == "supervisor").execute()
    ended = _received(watcher, "session.ended")
    assert ended and ended[0]["code"] == "session_expired"
    deadline = time.monotonic() + 5
    while watcher.is_connected(NS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not watcher.is_connected(NS) and stays.is_connected(NS)


def test_through_redis_an_event_of_one_process_reaches_a_console_on_another(db_url):
    """Two apps on one Redis channel stand for two processes: the console is on the first;
    the event hook of this process feeds the newest app (the second), whose emit travels
    through Redis."""
    need(_redis_up(), "Redis at 127.0.0.1:6379")
    server = {"message_queue": "redis://127.0.0.1:6379/0",
              "message_queue_channel": f"wavepack-test-{uuid.uuid4().hex}"}
    one = make_app(db_url, picking=PICK_CFG, server=server)
    assert one.extensions["wavepack.message_queue_warning"] is None
    two = make_app(db_url, picking=PICK_CFG, server=server)
    floor = build_floor(two)           # after both: make_app empties a PostgreSQL schema
    assert console._feed is two.extensions["wavepack.console"]
    # Flask-SocketIO's test client refuses a message queue: the first app is served for real
    from werkzeug.serving import make_server
    served = make_server("127.0.0.1", 0, one, threaded=True)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    got: list = []
    watcher = socketio.Client(reconnection=False)
    watcher.on("scan.recorded", got.append, namespace=NS)
    try:
        watcher.connect(f"http://127.0.0.1:{served.server_port}", namespaces=[NS],
                        transports=["websocket"], wait_timeout=10,
                        auth={"token": floor.tokens["s1"], "warehouse": "main"})
        time.sleep(0.3)                 # the first app's Redis subscriber is listening
        events.publish("scan.recorded", **_scan(scan_id=9))
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == [_scan(scan_id=9)]
    finally:
        watcher.disconnect()
        served.shutdown()


def test_an_unreachable_message_queue_is_said_not_crashed(db_url):
    app = make_app(db_url, server={"message_queue": "redis://:secret@127.0.0.1:1/0",
                                   "message_queue_channel": f"t-{uuid.uuid4().hex}"})
    warning = app.extensions["wavepack.message_queue_warning"]
    assert "redis://127.0.0.1:1/0 is unreachable" in warning and "secret" not in warning
    assert app.test_client().get("/healthz").status_code == 200


def test_a_message_queue_that_is_not_redis_is_refused(db_url):
    with pytest.raises(ValueError, match="server.message_queue must be a redis://"):
        make_app(db_url, server={"message_queue": "amqp://127.0.0.1"})
