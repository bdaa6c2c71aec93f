"""Flask-SocketIO namespaces: thin layers that check the caller, call a service and
return its answer as the ack (/handheld), or push what happened to supervisors (/console).

With `server.message_queue` (Redis) every process of a deployment shares one Socket.IO
message queue: an emit in any of them (a web process, `wavepack worker`) reaches the
sockets connected to all of them. A connection itself stays on one process: the clients
use the WebSocket transport only, and nginx pins anything else by client address
(deploy/nginx/wavepack.conf)."""
from __future__ import annotations

import gc
import logging
import sys

from urllib.parse import urlsplit

from flask import Flask
import socketio
from flask_socketio import SocketIO

log = logging.getLogger(__name__)

# a Redis that does not answer must not hold a start-up or an emit for long
REDIS_CONNECT_TIMEOUT_S = 1.0
# the message queue's subscriber tries again this often at most while Redis is away
SUBSCRIBE_RETRY_MAX_S = 2.0


def async_mode(configured: str) -> str:
    """`auto`: gevent when this process runs under gevent's monkey patching (as
    `wavepack serve` does), threading otherwise (tests, the flask CLI)."""
    if configured != "auto":
        return configured
    if "gevent.monkey" in sys.modules:
        from gevent import monkey
        if monkey.is_module_patched("socket"):
            return "gevent"
    return "threading"


def init_sockets(app: Flask) -> SocketIO:
    """One SocketIO server per app (tests build many apps in one process)."""
    cfg = app.config["WAVEPACK"].server
    origins = [o.strip() for o in cfg.allowed_origins.split(",") if o.strip()]
    queue = {}
    if cfg.message_queue:
        queue["client_manager"] = message_queue(cfg.message_queue, cfg.message_queue_channel)
        app.extensions["wavepack.message_queue_warning"] = check_message_queue(
            cfg.message_queue)
    sio = SocketIO(app, async_mode=async_mode(cfg.async_mode), **queue,
                   cors_allowed_origins=origin_check(origins), json=app.json,
                   max_http_buffer_size=64 * 1024, ping_interval=10, ping_timeout=10,
                   # the handlers keep who is connected themselves; Flask-SocketIO's own
                   # per-socket copy of the Flask session would be saved on every event
                   manage_session=False)
    from . import console, handheld
    handheld.register(sio, app)
    console.register(sio, app)
    if sio.async_mode == "gevent":
        cooperative_postgres_waits()
        untracked_greenlets()
        settle_heap()
    return sio


def origin_check(allowed: list[str]):
    """Which browser origins may open a Socket.IO connection (every namespace: the check is
    the Engine.IO handshake, before any namespace): the server's own, as the request
    reached it (scheme from X-Forwarded-Proto only behind `server.proxy_hops`, where
    ProxyFix set it; the Host header, which nginx passes on), and those listed in
    `server.allowed_origins`. A page from any other site cannot drive a handheld or read
    the console feed; clients that send no Origin (the Python handheld client, scripts)
    are not browsers and are judged by their token alone. python-engineio's own default
    (None) also believed X-Forwarded-Host and -Proto from anyone, and a list replaced the
    server's own origin instead of adding to it."""
    extra = frozenset(o.rstrip("/") for o in allowed)

    def allowed_origin(origin: str | None, environ: dict) -> bool:
        if not origin:      # asked for CORS headers of a request without Origin: none
            return False
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == own or origin.rstrip("/") in extra

    return allowed_origin


def redacted(url: str) -> str:
    """A Redis URL fit for a message: without its password."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def message_queue(url: str, channel: str):
    """python-socketio's Redis client manager on `channel`. Only the connect has a timeout:
    the subscriber's connection sits idle between events, and a read timeout would drop it."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"server.message_queue must be a redis://, rediss:// or unix:// URL, "
                         f"not {redacted(url)!r}")
    return _RedisManager(url, channel=channel, redis_options={
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S, "socket_keepalive": True,
        "health_check_interval": 30})


class _RedisManager(socketio.RedisManager):
    """python-socketio's Redis manager with two changes to its subscriber. Its own
    back-off doubles 1, 2, 4 … 60 s, so after Redis came back this process stayed deaf to
    the other processes' events for as long again as the outage, up to a minute (the
    Redis fault test saw a scan made 1 s after the return miss another process's
    consoles): here it tries at most every SUBSCRIBE_RETRY_MAX_S. And `subscribed` says
    whether this process hears the queue now, so consoles are told their view is whole
    again only when it is (sockets/console.py), not when Redis merely answers a PING."""

    subscribed: bool | None = None     # None: not started yet (the first connect starts it)

    def _redis_listen_with_retries(self):  # pragma: no cover (needs Redis: faults)
        import time
        retry_s = 0.25
        while True:
            try:
                self._redis_connect()
                pubsub = self.pubsub      # ours: a publish may connect afresh meanwhile
                pubsub.subscribe(self.channel)
                self.subscribed, retry_s = True, 0.25
                yield from pubsub.listen()
            except Exception as exc:  # noqa: BLE001 (any failure: subscribe again)
                if self.subscribed:
                    log.warning("message queue: subscription lost (%s); subscribing "
                                "again", str(exc).splitlines()[0] if str(exc) else
                                type(exc).__name__)
            self.subscribed = False
            time.sleep(retry_s)
            retry_s = min(retry_s * 2, SUBSCRIBE_RETRY_MAX_S)


def check_message_queue(url: str) -> str | None:
    """A warning when the message queue's Redis does not answer now (None when it does).
    The server still starts: handheld scans need no Redis, and the queue's subscriber keeps
    trying, so pushes to consoles on other processes resume once Redis is back."""
    import redis
    try:
        redis.Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
                             socket_timeout=REDIS_CONNECT_TIMEOUT_S).ping()
        return None
    except Exception as err:   # noqa: BLE001 (any failure to answer means: unreachable)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        message = (f"Socket.IO message queue {redacted(url)} is unreachable ({first}): "
                   f"console events reach only the consoles on the process that made them "
                   f"until Redis answers")
        log.warning(message)
        return message


def untracked_greenlets() -> None:
    """gevent records, for every greenlet it spawns, the spawning greenlet and its stack
    (~40 frame objects: python-socketio spawns one greenlet per event), for debugging
    output this server never prints; off, a spawn is cheaper and leaves less garbage."""
    import gevent
    gevent.config.track_greenlet_tree = False


def cooperative_postgres_waits() -> None:
    """psycopg's waits through gevent's own I/O watchers, taking readiness that is already
    there without a trip through the hub. Under gevent's patches psycopg picks `wait_poll`,
    which builds gevent's Python emulation of poll() (watchers, a Timeout, a result object)
    for every wait and switches to the hub even for a socket that is writable at once: a
    pipelined scan makes ~11 such waits (measured in process under gevent: 1.64 ms of CPU
    per scan with wait_poll, 1.00 ms with this)."""
    import select
    import time

    from gevent import monkey
    from gevent.socket import wait_read, wait_readwrite, wait_write
    from psycopg import errors, waiting

    if getattr(waiting.wait, "_wavepack", False):
        return
    poll = monkey.get_original("select", "poll")      # the real one: a zero-timeout look
    masks = {waiting.WAIT_R: select.POLLIN, waiting.WAIT_W: select.POLLOUT,
             waiting.WAIT_RW: select.POLLIN | select.POLLOUT}
    block = {waiting.WAIT_R: wait_read, waiting.WAIT_W: wait_write,
             waiting.WAIT_RW: wait_readwrite}
    ready_r, ready_w, ready_none = waiting.READY_R, waiting.READY_W, waiting.READY_NONE

    def ready_now(fileno: int, state) -> int:
        poller = poll()
        poller.register(fileno, masks[state])
        events = poller.poll(0)
        if not events:
            return ready_none
        ev = events[0][1]
        ready = (ready_r if ev & select.POLLIN else 0) | (ready_w if ev & select.POLLOUT else 0)
        if not ready:      # POLLERR / POLLHUP / POLLNVAL alone
            raise errors.OperationalError("connection socket closed")
        return ready

    def wait(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
        """psycopg's wait protocol (as psycopg.waiting.wait_poll) on gevent."""
        deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            state = next(gen)
            while True:
                ready = ready_now(fileno, state)
                if not ready:
                    wait_s = interval if interval and interval > 0 else None
                    if deadline is not None:
                        wait_s = max(0.0, min(wait_s or 1e9, deadline - time.monotonic()))
                    try:
                        block[state](fileno, timeout=wait_s)
                        ready = ready_now(fileno, state)
                    except TimeoutError:
                        ready = ready_none
                state = gen.send(ready)
                if deadline is not None and time.monotonic() >= deadline:
                    raise errors._WaitTimeout("wait timeout expired")
        except StopIteration as stop:
            return stop.value

    wait._wavepack = True  # type: ignore[attr-defined]
    waiting.wait = wait


def settle_heap() -> None:
    """Move everything alive after start-up (modules, the app, its config: ~100,000
    objects) out of the garbage collector's sight. Each full collection walked them all,
    ~50-110 ms of a stopped server every ~10 s under 300 handhelds, which alone made the
    scan p99. Only for a serving process (gevent mode): frozen objects that die later
    are not collected if they form cycles, which a test process building many apps would
    leak."""
    gc.collect()
    gc.freeze()
