"""The `/handheld` namespace (docs/handheld-protocol.md).

Connect with auth={"token": T, "device": "..."}; T comes from POST /api/v1/auth/badge.
Flask-SocketIO runs no before/after_request hooks for socket events, so each handler
opens its own (pooled) database connection. The handler's return value is the ack;
every service call commits before it returns, so an ack always follows the commit.

Connect and disconnect go through Flask-SocketIO (they need the request: origin, auth).
The events are registered on the python-socketio server underneath, with only an app
context: Flask-SocketIO would build a Flask request context (request object, URL match,
session cookie, teardown hooks) for every event, ~0.1-0.15 ms of the server's CPU per
scan, and the handlers use nothing of it but the socket id, which python-socketio passes.

A socket outlives nothing it was opened with: every event checks the session first. The
token's expiry is compared with the clock each time; whether the token was revoked or its
user disabled is read again at most every SESSION_RECHECK_S seconds (one indexed query), at
once when this process disabled a user. An ended session gets the `session_expired` error
ack and the socket is disconnected a moment later (after that ack is on its way).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO

from .. import clock, logs, settings
from ..domain.errors import DomainError
from ..domain.exactjson import refuse_lone_surrogates
from ..config import Config
from ..services import auth, counts, pick_put, picking, replenishment
from ..services.scan_pg import GroupCommit
from ..store import db as store_db
from .. import telemetry
from . import connect, metrics
from .connect import refuse as _refuse

log = logging.getLogger(__name__)
NAMESPACE = "/handheld"
ROLES = ("picker", "supervisor", "admin")

SESSION_RECHECK_S = 3.0      # how stale a revocation/deactivation may be seen, at most
DISCONNECT_AFTER_S = 0.5     # the session_expired ack leaves before the disconnect

_pickers: dict[str, picking.Picker] = {}    # socket id → who is connected on it


@dataclass
class _Session:
    token: str
    user_id: int
    expires_at: dt.datetime | None
    checked_at: float                # time.monotonic() of the last look at the database
    generation: int                  # auth.sessions_generation() at that look
    ended: bool = False


_sessions: dict[str, _Session] = {}       # socket id → the login behind it


def _error(code: str, message: str, field: str | None = None) -> dict:
    return {"ok": False, "error": {"code": code, "message": message, "field": field}}


def _on_connect(auth_data: Any = None) -> bool:
    started = time.perf_counter()
    try:
        _connect(auth_data)
    except ConnectionRefusedError as refused:
        data = refused.args[1] if len(refused.args) > 1 else {}
        logs.socket_event("connect", NAMESPACE, {"ok": False, "code": data.get("code")},
                          time.perf_counter() - started, None)
        raise
    logs.socket_event("connect", NAMESPACE, {"ok": True}, time.perf_counter() - started,
                      _user(request.sid))
    return True


def _user(sid: str) -> str | None:
    picker = _pickers.get(sid)
    return f"user:{picker.badge}" if picker else None


def _connect(auth_data: Any) -> None:
    data = auth_data if isinstance(auth_data, dict) else {}
    token, device = connect.token_of(data), data.get("device") or ""
    if not isinstance(device, str) or len(device) > 64:
        raise _refuse("bad_request", "device must be text of up to 64 characters")
    who = connect.principal(token, [device])
    if who is None or who.kind != "staff" or who.user_id is None:
        raise _refuse("unauthenticated", "unknown, expired or revoked token")
    if who.role not in ROLES:
        raise _refuse("forbidden", f"a {who.role} cannot pick")
    _sessions[request.sid] = _Session(token, who.user_id, who.expires_at, time.monotonic(),
                                      auth.sessions_generation())
    _pickers[request.sid] = picking.Picker(who.user_id, who.badge, who.role, device)


def _on_disconnect(*_args) -> None:
    logs.socket_event("disconnect", NAMESPACE, {"ok": True}, 0.0, _user(request.sid))
    _pickers.pop(request.sid, None)
    _sessions.pop(request.sid, None)


def _session_live(sid: str) -> bool:
    """Whether the login behind this socket still holds. Almost always answered from
    memory (the scan path): the database is asked again only when the last look is
    SESSION_RECHECK_S old or this process has disabled a user since."""
    session = _sessions.get(sid)
    if session is None or session.ended:
        return False
    if session.expires_at is not None and clock.now() >= session.expires_at:
        return False
    generation = auth.sessions_generation()
    if time.monotonic() - session.checked_at < SESSION_RECHECK_S \
            and session.generation == generation:
        return True
    # on a connection given back at once: the scan that follows waits for its group commit
    # holding none (see _answer); one held through that wait is one the committers lack,
    # and with a pool's worth of scans waiting they all wait out the pool timeout
    with store_db.db.connection_context():
        who = auth.principal(session.token)
    if who is None or who.user_id != session.user_id:
        return False
    session.expires_at, session.checked_at = who.expires_at, time.monotonic()
    session.generation = generation
    return True


def _end_session(sio: SocketIO, sid: str) -> dict:
    """The session_expired ack; the socket is disconnected once it is sent."""
    session = _sessions.get(sid)
    if session is not None and not session.ended:
        session.ended = True

        def drop() -> None:
            sio.sleep(DISCONNECT_AFTER_S)
            sio.server.disconnect(sid, namespace=NAMESPACE)

        sio.start_background_task(drop)
    return _error("session_expired", "the session has ended (expired, revoked or user "
                  "disabled); log in again")


def _handler(sio: SocketIO, app: Flask, event: str,
             fn: Callable[[picking.Picker, Any], dict]) -> Callable[..., dict]:
    def handle(sid: str, *args: Any) -> dict:
        started = time.perf_counter()
        # one argument is the event's data; none or several get the bad_request ack
        data = args[0] if len(args) == 1 else (args or None)
        with app.app_context():
            answer = _answer(sio, fn, sid, data)
        took = time.perf_counter() - started
        metrics.record(event, took, "error" not in answer)
        _prometheus(event, took, answer)
        logs.socket_event(event, NAMESPACE, answer, took, _user(sid))
        return answer
    handle.__name__ = f"handheld_{fn.__name__}"
    return handle


def _prometheus(event: str, took: float, answer: dict) -> None:
    """GET /metrics: the scan's verdict latency, and error acks by event and code."""
    m = telemetry.metrics()
    error = answer.get("error")
    if error is not None:
        m.handheld_errors.labels(event, str(error.get("code") or "")).inc()
    elif event == "scan":
        m.scan_seconds.observe(took)


def _answer(sio: SocketIO, fn: Callable[[picking.Picker, Any], dict], sid: str,
            data: Any) -> dict:
    picker = _pickers.get(sid)
    if picker is None:
        return _error("unauthenticated", "connect again with a token")
    # the pooled connection is taken at the first query, not here: a scan waiting for its
    # group commit (services/scan_pg.py) holds none, or with many handhelds waiting the
    # committer itself could find the pool empty
    try:
        if not _session_live(sid):
            return _end_session(sio, sid)
        refuse_lone_surrogates(data)     # python-socketio decoded it: the JSON edge is here
        return fn(picker, data)
    except DomainError as err:
        return _error(err.code, err.message, err.field)
    except Exception as err:   # never a dead ack: the handheld keeps the scan and retries
        if store_db.is_unavailable(err):
            log.warning("handheld event: database unavailable")
            return _error("database_unavailable", "the database cannot be reached just now; "
                          "nothing was recorded, retry shortly")
        log.exception("handheld event failed")
        return _error("internal", "the server could not handle this; it is safe to retry")
    finally:
        if not store_db.db.is_closed():
            store_db.db.close()


def _whoami(picker: picking.Picker, _data: Any, *, settings: Config) -> dict:
    return {"ok": True, "user": {"badge": picker.badge, "role": picker.role,
                                 "device": picker.device},
            "settings": picking.handheld_settings(settings)}


def _with_settings(app: Flask, fn: Callable[..., dict]) -> Callable[[picking.Picker, Any], dict]:
    """`fn(picker, data, settings=…)` as a handler: the app's settings read per event."""
    return lambda picker, data: fn(picker, data, settings=settings.of(app))


def _scan_handler(app: Flask) -> Callable[[picking.Picker, Any], dict]:
    """record_scan with the app's settings and, on PostgreSQL with `picking.group_commit`,
    its group committer (made here: its batch times go to metrics as `scan.batch`)."""
    committer = None
    if store_db.is_postgres() and settings.of(app).picking.group_commit:
        committer = GroupCommit(on_batch=lambda seconds: metrics.record("scan.batch", seconds))
        app.extensions["wavepack.group_commit"] = committer
    return lambda picker, data: picking.record_scan(picker, data, settings=settings.of(app),
                                                    committer=committer)


def _with_settings(app: Flask, fn: Callable[..., dict]) -> Callable[[picking.Picker, Any], dict]:
    """`fn(picker, data, settings=…)` as a handler: the app's settings read per event."""
    return lambda picker, data: fn(picker, data, settings=settings.of(app))


def register(sio: SocketIO, app: Flask) -> None:

    sio.on("connect", namespace=NAMESPACE)(_on_connect)
    sio.on("disconnect", namespace=NAMESPACE)(_on_disconnect)
    for event, fn in (("whoami", _with_settings(app, _whoami)),
                      ("task.next", _with_settings(app, picking.next_task)),
                      ("scan", _scan_handler(app)),
                      ("short", _with_settings(app, picking.short_pick)),
                      ("tote.scan", _with_settings(app, picking.tote_scan)),
                      ("tote.confirm", pick_put.confirm_put),
                      ("cart.summary", _with_settings(app, pick_put.cart_summary)),
                      # count mode: cycle counts of bins (services/counts.py)
                      ("count.next", counts.next_count),
                      ("count.submit", _with_settings(app, counts.submit_count)),
                      # replenish mode: refill pick faces from reserve (services/replenishment.py)
                      ("replenish.next", replenishment.next_task),
                      ("replenish.move", _with_settings(app, replenishment.move))):
        # on python-socketio's server itself: no Flask request context per event
        sio.server.on(event, _handler(sio, app, event, fn), namespace=NAMESPACE)
