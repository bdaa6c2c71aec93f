"""The `/console` namespace: a live feed of the floor for supervisors (docs/console-protocol.md).

Connect with auth={"token": T, "warehouse": "main"} (warehouse optional: none = every
warehouse); T is a supervisor's or an admin's (POST /api/v1/auth/badge or an API token
of that role). Pickers and packers are refused at connect (`forbidden`).

A console sits in one room: `warehouse:<code>` or `all`. The after-commit event hook
(server/events.py) feeds it: `scan.recorded` goes to its warehouse's room and to `all`;
`print_job.queued`, `outbox.queued` and `exception.escalated` (an overdue exception's
severity went up; they carry no warehouse) to every console; `order.status`,
`wave.changed` and `exception.changed` (from the audit trail, services/audit.announce) and
`printer.state` likewise, to their warehouse's room when they carry one;
`replenishment.changed` (a replenishment task opened, moved, done or cancelled) to its
warehouse's room and `all`. The
subscriber only puts the event on a queue; one sender per process emits them, so a scan's
ack never waits for Redis, and a Redis that is down costs the handhelds nothing.

With the Socket.IO message queue (server.message_queue), `socketio.emit` publishes through
Redis: an event committed in any process (a web process, `wavepack worker`) reaches the
consoles connected to every process. Without it, only this process's consoles hear it.

A console's login is checked again every SESSION_RECHECK_S seconds by the sender; an
expired or revoked one gets `session.ended` and is disconnected.
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room, leave_room

from .. import clock, events, logs, telemetry
from ..domain.errors import DomainError
from ..domain.exactjson import refuse_lone_surrogates
from ..services import auth, stock
from ..services.audit import EXCEPTION_CHANGED, ORDER_STATUS, WAVE_CHANGED
from ..services.exceptions import EXCEPTION_ESCALATED
from ..services.outbox import OUTBOX_QUEUED
from ..services.picking import SCAN_RECORDED
from ..services.print_queue import PRINT_JOB_QUEUED
from ..services.printer_state import PRINTER_STATE
from ..services.replenishment import REPLENISHMENT_CHANGED
from ..store import db as store_db
from . import connect
from .connect import refuse as _refuse

log = logging.getLogger(__name__)
NAMESPACE = "/console"
ROLES = ("supervisor", "admin")
ALL = "all"
PUSHED = (SCAN_RECORDED, PRINT_JOB_QUEUED, OUTBOX_QUEUED, EXCEPTION_ESCALATED, ORDER_STATUS,
          WAVE_CHANGED, EXCEPTION_CHANGED, PRINTER_STATE, REPLENISHMENT_CHANGED)

SESSION_RECHECK_S = 5.0     # how stale a revoked or expired console login may be seen
QUEUE_MAX = 10_000          # events waiting for the sender; beyond it they are dropped
MQ_CHECK_S = 2.0            # how often the sender asks the message queue's Redis
FEED_STATUS = "feed.status"     # pushed to this process's consoles when the queue changes


def room(warehouse: str | None) -> str:
    return f"warehouse:{warehouse}" if warehouse else ALL


@dataclass
class _Console:
    token: str
    user_id: int | None              # None: a role token of no user (`wavepack token`)
    actor: str                       # how logs name it: user:B17, token:3(admin)
    badge: str
    role: str
    warehouse: str | None
    expires_at: dt.datetime | None


class _Feed:
    """One app's consoles and the sender that pushes events to them."""

    def __init__(self, sio: SocketIO, app: Flask) -> None:
        self.sio, self.app = sio, app
        self.queued: queue.Queue = queue.Queue(maxsize=QUEUE_MAX)
        self.consoles: dict[str, _Console] = {}       # socket id → who (this process only)
        self.mq_url = app.config["WAVEPACK"].server.message_queue
        self.shared = bool(self.mq_url)
        self.running = False
        self.dropped = 0
        # GET /metrics: events waiting for the sender, events emitted
        self.depth = telemetry.metrics().console_queue
        self.emitted = telemetry.metrics().console_events.labels("emitted")
        # the message queue as last seen: "ok", "down", or "none" (one process, no queue)
        self.mq = "none" if not self.shared else \
            "down" if app.extensions.get("wavepack.message_queue_warning") else "ok"
        self.mq_since = clock.now()
        self.mq_checked = 0.0
        self._redis = None

    def push(self, event: events.Event) -> None:
        """The event hook's subscriber: queue it for the sender (never blocks)."""
        if not self.shared and not self.consoles:
            return                  # nobody can hear it: no console here, no other process
        try:
            self.queued.put_nowait(event)
            self.depth.set(self.queued.qsize())
        except queue.Full:
            self.dropped += 1
            telemetry.metrics().console_events.labels("dropped").inc()
            if self.dropped % 1000 == 1:
                log.warning("console feed: %d events dropped (the sender cannot keep up)",
                            self.dropped)
        self.start()

    def start(self) -> None:
        if not self.running:
            self.running = True
            self.sio.start_background_task(self._run)

    def _run(self) -> None:
        checked = time.monotonic()
        while _feed is self:
            try:
                event = self.queued.get(timeout=MQ_CHECK_S if self.shared else
                                        SESSION_RECHECK_S)
            except queue.Empty:
                event = None
            if event is not None:
                self.depth.set(self.queued.qsize())
                self.emit(event)
            if self.shared and time.monotonic() - self.mq_checked >= MQ_CHECK_S:
                self.check_message_queue()
            if time.monotonic() - checked >= SESSION_RECHECK_S:
                checked = time.monotonic()
                self.recheck_sessions()
        self.running = False

    # -- the message queue's health: consoles are told when their live view is partial --
    def status(self) -> dict:
        """What consoles (whoami, feed.status) and /healthz are told about the live feed:
        `message_queue` "ok" | "down" | "none"; `live` "all" (events of every process
        reach this console) or "this_process" (Redis is down: only what this process
        commits, until it is back; reload over REST for the rest)."""
        down = self.mq == "down"
        return {"message_queue": self.mq, "live": "this_process" if down else "all",
                "since": self.mq_since.isoformat(),
                "message": ("the message queue (Redis) cannot be reached: this view shows "
                            "only what this server process records; scanning, packing and "
                            "printing go on") if down else ""}

    def check_message_queue(self) -> str:
        """Ask Redis (a PING with a 1 s timeout); on a change, log it and push
        `feed.status` to this process's consoles (not through Redis: it may be down)."""
        import redis
        self.mq_checked = time.monotonic()
        try:
            if self._redis is None:
                self._redis = redis.Redis.from_url(self.mq_url, socket_connect_timeout=1.0,
                                                   socket_timeout=1.0)
            self._redis.ping()
            # whole again only once this process's subscriber hears the queue
            manager = self.sio.server.manager
            now = "down" if getattr(manager, "subscribed", None) is False else "ok"
        except Exception as err:  # noqa: BLE001 (any failure to answer means: down)
            now = "down"
            if self.mq != "down":
                log.warning("console feed: message queue unreachable (%s): consoles see "
                            "this process's events only", str(err).splitlines()[0] if
                            str(err) else type(err).__name__)
        if now != self.mq:
            if now == "ok":
                log.info("console feed: message queue back; consoles see every process")
            self.mq, self.mq_since = now, clock.now()
            try:
                self.sio.server.emit(FEED_STATUS, self.status(), namespace=NAMESPACE,
                                     ignore_queue=True)
            except Exception:  # noqa: BLE001 (the next change says it again)
                log.exception("console feed: could not push feed.status")
        return now

    def emit(self, event: events.Event) -> None:
        warehouse = event.data.get("warehouse")
        to = [room(warehouse), ALL] if warehouse else None     # None: every console
        try:
            self.sio.emit(event.name, dict(event.data), namespace=NAMESPACE, to=to)
            self.emitted.inc()
        except Exception:  # noqa: BLE001 (a lost push must not stop the feed)
            log.exception("console feed: could not emit %s", event.name)

    def recheck_sessions(self) -> None:
        """End the consoles whose login expired, was revoked or whose user was disabled."""
        if not self.consoles:
            return
        ended = []
        try:
            with self.app.app_context(), store_db.db.connection_context():
                for sid, who in list(self.consoles.items()):
                    if who.expires_at is not None and clock.now() >= who.expires_at:
                        ended.append(sid)
                        continue
                    now = auth.principal(who.token)
                    if now is None or now.user_id != who.user_id:
                        ended.append(sid)
        except Exception as err:  # noqa: BLE001 (the next round asks again)
            log.warning("console feed: sessions not checked: %s", err)
            return
        for sid in ended:
            if self.consoles.pop(sid, None) is not None:
                telemetry.metrics().console_connections.dec()
            self.sio.emit("session.ended", {"code": "session_expired",
                                            "message": "the session has ended (expired, "
                                            "revoked or user disabled); log in again"},
                          namespace=NAMESPACE, to=sid)
            self.sio.server.disconnect(sid, namespace=NAMESPACE)


# the feed the event hook pushes to: the newest app's (a process serves one app; tests
# build many, and two feeds both emitting through Redis would push every event twice)
_feed: _Feed | None = None


def _on_connect(auth_data: Any = None) -> bool:
    started = time.perf_counter()
    try:
        who = _connect(auth_data)
    except ConnectionRefusedError as refused:
        data = refused.args[1] if len(refused.args) > 1 else {}
        logs.socket_event("connect", NAMESPACE, {"ok": False, "code": data.get("code")},
                          time.perf_counter() - started, None)
        raise
    feed = _app_feed()
    feed.consoles[request.sid] = who
    telemetry.metrics().console_connections.inc()
    join_room(room(who.warehouse), namespace=NAMESPACE)
    feed.start()                       # it also rechecks the sessions
    logs.socket_event("connect", NAMESPACE, {"ok": True}, time.perf_counter() - started,
                      who.actor)
    return True


def _connect(auth_data: Any) -> _Console:
    data = auth_data if isinstance(auth_data, dict) else {}
    token, warehouse = connect.token_of(data), data.get("warehouse") or None
    if warehouse is not None and (not isinstance(warehouse, str) or len(warehouse) > 64):
        raise _refuse("bad_request", "warehouse must be a warehouse code")

    def known_warehouse(who: auth.Principal) -> None:
        if who.is_staff(*ROLES) and warehouse is not None:
            stock.warehouse_by_code(warehouse)

    who = connect.principal(token, [warehouse], known_warehouse)
    if who is None or who.kind != "staff":
        raise _refuse("unauthenticated", "unknown, expired or revoked token")
    if who.role not in ROLES:
        raise _refuse("forbidden", f"a {who.role} cannot open the console: supervisors "
                      "and admins only")
    return _Console(token, who.user_id, who.actor, who.badge, who.role, warehouse,
                    who.expires_at)


def _app_feed() -> _Feed:
    """The feed of the app handling this socket (tests build many apps in one process)."""
    return current_app.extensions["wavepack.console"]


def _on_disconnect(*_args) -> None:
    who = _app_feed().consoles.pop(request.sid, None)
    if who is not None:
        telemetry.metrics().console_connections.dec()
    logs.socket_event("disconnect", NAMESPACE, {"ok": True}, 0.0,
                      who.actor if who else None)


def _logged(event: str, fn):
    def handle(*args: Any) -> dict:
        started = time.perf_counter()
        answer = fn(*args)
        who = _app_feed().consoles.get(request.sid)
        logs.socket_event(event, NAMESPACE, answer, time.perf_counter() - started,
                          who.actor if who else None)
        return answer
    handle.__name__ = f"console_{fn.__name__.strip('_')}"
    return handle


def _whoami(*_args) -> dict:
    who = _app_feed().consoles.get(request.sid)
    if who is None:
        return {"ok": False, "error": {"code": "unauthenticated",
                                       "message": "connect again with a token",
                                       "field": None}}
    try:                    # the warehouses a console may watch (its picker of them)
        with store_db.db.connection_context():
            warehouses = [{"code": c, "name": n} for c, n in store_db.execute(
                "SELECT code, name FROM warehouse ORDER BY code").fetchall()]
    except Exception as err:  # noqa: BLE001 (the answer stands without them)
        log.warning("console whoami: warehouses not read: %s", err)
        warehouses = []
    return {"ok": True, "user": {"badge": who.badge, "role": who.role},
            "warehouse": who.warehouse, "room": room(who.warehouse), "events": list(PUSHED),
            "warehouses": warehouses, "feed": _app_feed().status()}


def _watch(data: Any = None, *_rest) -> dict:
    """Switch the console to another warehouse ({"warehouse": "main"}) or to all (null)."""
    who = _app_feed().consoles.get(request.sid)
    if who is None:
        return _whoami()
    warehouse = data.get("warehouse") if isinstance(data, dict) else None
    if warehouse is not None and (not isinstance(warehouse, str) or not warehouse
                                  or len(warehouse) > 64):
        return {"ok": False, "error": {"code": "bad_request", "field": "warehouse",
                                       "message": "warehouse must be a code or null"}}
    if warehouse is not None:
        try:
            refuse_lone_surrogates(warehouse)
            with store_db.db.connection_context():
                stock.warehouse_by_code(warehouse)
        except DomainError as err:
            return {"ok": False, "error": {"code": err.code, "message": err.message,
                                           "field": err.field}}
    leave_room(room(who.warehouse), namespace=NAMESPACE)
    who.warehouse = warehouse
    join_room(room(warehouse), namespace=NAMESPACE)
    return _whoami()


def register(sio: SocketIO, app: Flask) -> None:
    """The namespace's handlers, and this app's feed on the event hook."""
    global _feed
    _feed = app.extensions["wavepack.console"] = _Feed(sio, app)
    sio.on("connect", namespace=NAMESPACE)(_on_connect)
    sio.on("disconnect", namespace=NAMESPACE)(_on_disconnect)
    sio.on("whoami", namespace=NAMESPACE)(_logged("whoami", _whoami))
    sio.on("watch", namespace=NAMESPACE)(_logged("watch", _watch))
    for name in PUSHED:
        events.subscribe(name, _push)


def _push(event: events.Event) -> None:
    if _feed is not None:
        _feed.push(event)
