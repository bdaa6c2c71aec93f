"""An open /handheld socket outlives neither its token nor its user: expired, revoked or
disabled, the next event is answered `session_expired` and the socket is closed (SQLite
and PostgreSQL, Flask-SocketIO test client)."""
from __future__ import annotations

import datetime as dt
import time

from click.testing import CliRunner

from server import clock
from server.cli import main
from server.sockets import handheld
from server.store.db import db
from server.store.models import ApiToken, User

from ..floor import sid
from .test_picking import ack, floor  # noqa: F401 (floor is a fixture)


def _closed_soon(client, within_s=5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not client.is_connected("/handheld"):
            return True
        time.sleep(0.05)
    return False


def _ended(answer) -> bool:
    return answer["ok"] is False and answer["error"]["code"] == "session_expired"


def test_an_expired_token_ends_the_open_socket(floor):  # noqa: F811
    hh = floor.socket("p1")
    assert ack(hh, "task.next")["ok"]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=13)   # sessions last 12 h
    clock.set_clock(lambda: later)
    assert floor.api("get", "/api/v1/waves", floor.tokens["p1"]).status_code == 401
    assert _ended(ack(hh, "task.next"))
    assert _ended(ack(hh, "scan", {"scan_id": sid(), "raw": "A-01-01-1"}))
    assert _closed_soon(hh)


def test_disabling_a_user_ends_their_socket_at_the_next_event(floor):  # noqa: F811
    hh, other = floor.socket("p1"), floor.socket("p2")
    assert ack(hh, "whoami")["ok"] and ack(other, "whoami")["ok"]
    with floor.app.app_context():
        result = CliRunner().invoke(main, ["user", "disable", "p1"])
    assert result.exit_code == 0, result.output
    assert "disabled" in result.output
    # at once in this process, without waiting for the session cache to expire
    assert _ended(ack(hh, "scan", {"scan_id": sid(), "raw": "A-01-01-1"}))
    assert _closed_soon(hh)
    assert ack(other, "task.next")["ok"]                    # another picker carries on
    assert floor.api("get", "/api/v1/waves", floor.tokens["p1"]).status_code == 401
    r = floor.app.test_client().post("/api/v1/auth/badge", json={"badge": "p1", "pin": "1234"})
    assert r.status_code == 401
    with floor.app.app_context(), db.connection_context():
        assert not User.get(User.badge == "p1").active
        assert ApiToken.select().where(ApiToken.revoked_at.is_null(False)).count() == 1
    # enabled again: a new login works, the old token stays revoked
    with floor.app.app_context():
        assert CliRunner().invoke(main, ["user", "enable", "p1"]).exit_code == 0
    r = floor.app.test_client().post("/api/v1/auth/badge", json={"badge": "p1", "pin": "1234"})
    assert r.status_code == 200
    assert floor.api("get", "/api/v1/waves", floor.tokens["p1"]).status_code == 401


def test_a_token_revoked_elsewhere_ends_the_socket_within_the_recheck(floor, monkeypatch):  # noqa: F811
    """Another process revoked it (here: a direct UPDATE, no in-process signal): the socket
    answers from its cached session until the recheck is due, then ends."""
    hh = floor.socket("p1")
    assert ack(hh, "task.next")["ok"]
    with floor.app.app_context(), db.connection_context():
        ApiToken.update(revoked_at=clock.now()).execute()
    monkeypatch.setattr(handheld, "SESSION_RECHECK_S", 0.0)
    assert _ended(ack(hh, "task.next"))
    assert _closed_soon(hh)


def test_unknown_user_cannot_be_disabled(floor):  # noqa: F811
    with floor.app.app_context():
        result = CliRunner().invoke(main, ["user", "disable", "nobody"])
    assert result.exit_code == 1 and "error: no user with badge 'nobody'" in result.output
