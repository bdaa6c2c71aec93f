"""The handheld's Socket.IO client (namespace `/handheld`, docs/handheld-protocol.md).

Every message that changes something (`scan`, `short`, `tote.scan`, `tote.confirm`) gets
its scan_id here, goes into the durable `OfflineQueue` first, and only then to the server. One
background sender thread owns the connection and sends the queue *head* — one message
at a time, waiting for its ack — so the server sees scans strictly in the order they
were taken, and scans queued while offline go out (in order) before any newer one.

A message leaves the queue only when its ack arrives (`mark_done` keeps the ack):

* a verdict ack or an error ack (`{"ok": false, "error": {...}}`) is final: error acks
  mean "bad input, nothing changed, nothing stored", and sending the same content again
  would get the same refusal. A server failure shows up as *no* ack, not as an error ack.
* no ack — a timeout, a dropped connection, a server restart — means "unknown": the same
  message is sent again with the SAME scan_id. The server answers a known scan_id with
  its first verdict and counts nothing again (python-socketio has no connection-state
  recovery, FIELD-NOTES), so a resend is always safe.

The connection is re-made with exponential back-off (with jitter, so a warehouse of
handhelds does not reconnect in lock-step after a server restart). A connect *refused*
by the server (bad/expired token, wrong role) stops the sender: retrying the same token
cannot succeed, and the scans stay queued for a later `send` with a fresh token. A
refusal with `database_unavailable` is "not now": retried with the same back-off.

`task_next()` and `whoami()` only read, so they are not queued: they need a connection.
"""
from __future__ import annotations

import ast
import json
import logging
import os
import random
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import socketio
from socketio import exceptions as sio_exceptions

from handheld.queue import OfflineQueue, QueuedMessage
from handheld.sink import scan_message, utc_now

NAMESPACE = "/handheld"
QUEUED_EVENTS = ("scan", "short", "tote.scan", "tote.confirm")
# Error acks that mean "the server did not handle this, nothing stored" rather than an
# answer about the scan: `internal` (a server fault, retried with back-off) and
# `unauthenticated` (the connection lost its login: connect again, then resend),
# `database_unavailable` (retried like `internal`) and `session_expired` (the login ended:
# the reconnect is refused and the client stops, the message still queued).
RETRY_ERROR_CODES = frozenset({"internal", "unauthenticated", "database_unavailable",
                               "session_expired"})
# Connect refusals that mean "not now" rather than "never": the server is there but cannot
# reach its database; the client connects again with back-off, its queue kept.
RETRY_REFUSAL_CODES = frozenset({"database_unavailable"})
DEFAULT_ACK_TIMEOUT_S = 10.0
DEFAULT_BACKOFF_S = (0.5, 30.0)

log = logging.getLogger(__name__)


class HandheldError(RuntimeError):
    """A handheld client failure with a one-line, user-facing message."""


class LoginError(HandheldError):
    """Badge login refused (401), rate-limited (429) or the server not reachable."""


class ServerUnreachable(HandheldError):
    """No connection to the server (network, server down): worth retrying later."""


class ConnectRefused(HandheldError):
    """The server refused the connect (`unauthenticated`, `forbidden`): do not retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"connection refused by server: {code}: {message}")
        self.code = code
        self.message = message


class AckTimeout(HandheldError):
    """No ack within the timeout (the server may still have processed the message)."""


def default_queue_path() -> Path:
    """~/.local/share/wavepack-handheld/queue.sqlite3 (or under $XDG_DATA_HOME)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wavepack-handheld" / "queue.sqlite3"


def login(url: str, badge: str, pin: str, *, timeout: float = 10.0) -> dict:
    """`POST /api/v1/auth/badge`: the server's answer (`token`, `role`, `expires_at`...)."""
    body = json.dumps({"badge": badge, "pin": pin}).encode()
    req = urllib.request.Request(
        url.rstrip("/") + "/api/v1/auth/badge", data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read().decode())
    except urllib.error.HTTPError as err:
        raise LoginError(_http_error_text(err)) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise LoginError(f"cannot reach {url}: {reason}") from err
    except ValueError as err:
        raise LoginError(f"login answer from {url} is not JSON") from err
    if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
        raise LoginError(f"login answer from {url} has no token")
    return answer


def _http_error_text(err: urllib.error.HTTPError) -> str:
    what = {401: "bad badge or PIN", 429: "too many attempts, try again later"}.get(
        err.code, f"login failed (HTTP {err.code})")
    try:
        detail = json.loads(err.read().decode()).get("error", {}).get("message")
    except (ValueError, AttributeError, OSError):
        detail = None
    return f"{what}: {detail}" if detail else what


@dataclass(frozen=True)
class Delivery:
    """A queued message and the ack the server answered it with."""
    event: str
    scan_id: str
    payload: dict
    ack: object

    def as_json(self) -> dict:
        """What the CLI prints: `{"event", "scan_id", "ack"}` (error acks carry no
        scan_id themselves)."""
        return {"event": self.event, "scan_id": self.scan_id, "ack": self.ack}


class HandheldClient:
    """Queue-first Socket.IO client for one picker's handheld (see the module doc).

    `on_ack(delivery)` is called from the sender thread for every ack, in queue order;
    `on_error(exc)` once if the server refuses the connect."""

    def __init__(self, url: str, token: str, device: str | None = None,
                 queue_path: str | Path | None = None, *,
                 ack_timeout: float = DEFAULT_ACK_TIMEOUT_S,
                 backoff: tuple[float, float] = DEFAULT_BACKOFF_S,
                 connect_timeout: float = 5.0,
                 on_ack: Callable[[Delivery], None] | None = None,
                 on_error: Callable[[HandheldError], None] | None = None) -> None:
        self.url = url
        self.queue = OfflineQueue(queue_path or default_queue_path())
        self._auth = {"token": token} | ({"device": device} if device else {})
        self._ack_timeout = ack_timeout
        self._backoff_min, self._backoff_max = backoff
        self._on_ack = on_ack
        self._on_error = on_error
        self.fatal: HandheldError | None = None

        self._sio = socketio.Client(reconnection=False, request_timeout=connect_timeout)
        self._sio.on("connect", self._handle_connect, namespace=NAMESPACE)
        self._sio.on("disconnect", self._handle_disconnect, namespace=NAMESPACE)
        self._sio.on("connect_error", self._handle_connect_error, namespace=NAMESPACE)
        self._state = threading.Condition()    # guards the fields below, wakes the sender
        self._connected = False
        self._refusal: object = None
        self._waiters: set[threading.Event] = set()
        self._stop = False
        self._emit_lock = threading.Lock()     # Client.emit is not thread safe
        self._connect_lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._internal_delay = self._backoff_min
        self._closer: threading.Thread | None = None

    # -- messages that change something: queued first ------------------------------

    def scan(self, raw: str, symbology: str | None = None, *, task: int | None = None) -> str:
        """Queue a `scan` (barcode text as read); its scan_id."""
        message = scan_message(raw, symbology)
        if task is not None:
            message["task"] = task
        return self.enqueue("scan", message)

    def short(self, task: int, found: int, reason: str | None = None) -> str:
        """Queue a `short` (the bin holds only `found` units of `task`); its scan_id."""
        message: dict[str, object] = {"scan_id": _new_scan_id(), "task": task,
                                      "found": found, "scanned_at": utc_now().isoformat()}
        if reason:
            message["reason"] = reason
        return self.enqueue("short", message)

    def tote_scan(self, raw: str) -> str:
        """Queue a `tote.scan` (bind tote barcode `raw` to the next slot); its scan_id."""
        return self.enqueue("tote.scan", {"scan_id": _new_scan_id(), "raw": raw,
                                          "scanned_at": utc_now().isoformat()})

    def tote_confirm(self, task: int, raw: str | None = None) -> str:
        """Queue a `tote.confirm`: the units of finished `task` are in its tote, `raw` the
        tote or slot label scanned (None: confirmed by hand); its scan_id."""
        return self.enqueue("tote.confirm", {"scan_id": _new_scan_id(), "task": task,
                                             "raw": raw, "scanned_at": utc_now().isoformat()})

    def enqueue(self, event: str, message: dict) -> str:
        """Queue a ready-made protocol message (it must carry its scan_id) and wake the
        sender. Fields that are None are left out (the protocol's optional fields)."""
        if event not in QUEUED_EVENTS:
            raise ValueError(f"{event!r} is not a queued event ({', '.join(QUEUED_EVENTS)})")
        payload = {k: v for k, v in message.items() if v is not None}
        self.queue.put(event, payload)
        with self._state:
            self._state.notify_all()
        return str(payload["scan_id"])

    # -- reads: not queued ---------------------------------------------------------

    def whoami(self, timeout: float | None = None) -> dict:
        """The logged-in user and the picking settings (needs a connection)."""
        return self._read("whoami", timeout)

    def task_next(self, warehouse: str | None = None, timeout: float | None = None) -> dict:
        """The picker's current task and cart (needs a connection); `warehouse` limits
        which carts may be claimed."""
        return self._read("task.next", timeout, {"warehouse": warehouse} if warehouse else {})

    def cart_summary(self, cart: int, timeout: float | None = None) -> dict:
        """A finished cart's orders, units, shorts and the pack stations to take it to
        (needs a connection)."""
        return self._read("cart.summary", timeout, {"cart": cart})

    def _read(self, event: str, timeout: float | None, data: dict | None = None) -> dict:
        timeout = self._ack_timeout if timeout is None else timeout
        if not self.wait_connected(timeout):
            raise self.fatal or ServerUnreachable(f"not connected to {self.url}")
        return self._call(event, data or {}, timeout)

    # -- connection ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        with self._state:
            return self._connected

    def connect(self) -> None:
        """Connect now (once). Raises ConnectRefused or ServerUnreachable."""
        with self._connect_lock:
            if self.connected:
                return
            if self.fatal is not None:
                raise self.fatal
            if self._closer is not None:     # let a previous disconnect finish first
                self._closer.join(timeout=5.0)
            with self._state:
                self._refusal = None
            failure: list[Exception | None] = []

            def attempt() -> None:
                try:
                    # WebSocket only: the whole session is one TCP connection, so behind
                    # nginx and several server processes it stays on one process (long
                    # polling is many requests, which a balancer may spread)
                    self._sio.connect(self.url, auth=self._auth, namespaces=[NAMESPACE],
                                      transports=["websocket"], wait_timeout=5)
                    failure.append(None)
                except Exception as err:     # noqa: BLE001 - any failure: try again later
                    failure.append(err)
                with self._state:
                    self._state.notify_all()

            # After a refusal python-socketio closes the WebSocket, and that close can wait
            # seconds for the server's close frame: the refusal is known before, so it is
            # reported at once and the close finishes in the background.
            threading.Thread(target=attempt, name="handheld-connect", daemon=True).start()
            with self._state:
                self._state.wait_for(lambda: failure or self._refusal is not None
                                     or self._stop)
                refusal = self._refusal
            if refusal is None and not failure:
                raise ServerUnreachable("client closed while connecting")
            if refusal is not None:
                code, message = _refusal_code(refusal)
                if code in RETRY_REFUSAL_CODES:
                    raise ServerUnreachable(f"{self.url} refused for now: {code}: {message}")
                self.fatal = ConnectRefused(code, message)
                raise self.fatal
            if failure[0] is not None:
                raise ServerUnreachable(f"cannot reach {self.url}: {failure[0]}")

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected (False on timeout or a refused connect)."""
        with self._state:
            return self._state.wait_for(
                lambda: self._connected or self.fatal is not None or self._stop, timeout
            ) and self._connected

    def start(self) -> HandheldClient:
        """Start the background sender (connects, replays the queue, sends new scans)."""
        if self._sender is None:
            self._sender = threading.Thread(target=self._run, name="handheld-sender",
                                            daemon=True)
            self._sender.start()
        return self

    def wait_drained(self, timeout: float) -> bool:
        """Wait until every queued message has its ack. False on timeout or when the
        server refused the connect (the messages stay queued)."""
        with self._state:
            self._state.wait_for(
                lambda: self.fatal is not None or self.queue.pending_count() == 0, timeout)
            return self.fatal is None and self.queue.pending_count() == 0

    def close(self) -> None:
        """Stop the sender, disconnect, close the queue (queued messages stay on disk)."""
        with self._state:
            self._stop = True
            for waiter in self._waiters:
                waiter.set()
            self._state.notify_all()
        if self._sender is not None:
            self._sender.join(timeout=self._ack_timeout + 10)
        if self.fatal is not None:
            self.queue.close()      # a refused connect is closed by its own thread
            return
        self._drop_connection()
        self.queue.close()

    def _drop_connection(self) -> None:
        # The disconnect packet goes out at once; the WebSocket close handshake after it
        # can wait up to 3 s for a server that never answers it: not worth holding for.
        self._closer = threading.Thread(target=self._disconnect_quietly,
                                        name="handheld-close", daemon=True)
        self._closer.start()
        self._closer.join(timeout=0.5)

    def _disconnect_quietly(self) -> None:
        try:
            self._sio.disconnect()
        except Exception:     # noqa: BLE001 - best effort on the way out
            log.debug("disconnect failed", exc_info=True)

    def __enter__(self) -> HandheldClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sender thread ---------------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff_min
        while not self._stopping():
            if not self.connected:
                try:
                    self.connect()
                    delay = self._backoff_min
                except ConnectRefused as err:
                    self._give_up(err)
                    return
                except ServerUnreachable as err:
                    log.info("%s; retrying in %.1f s", err, delay)
                    self._sleep(delay * (0.5 + random.random() / 2))
                    delay = min(delay * 2, self._backoff_max)
                    continue
            head = self.queue.next_pending()
            if head is None:
                with self._state:
                    self._state.wait_for(lambda: self._stop or not self._connected
                                         or self.queue.pending_count() > 0, 5.0)
                continue
            self._send(head)

    def _send(self, head: QueuedMessage) -> None:
        try:
            ack = self._call(head.event, head.payload, self._ack_timeout)
        except (AckTimeout, ServerUnreachable) as err:
            log.info("no ack for %s %s (%s): sending it again", head.event, head.scan_id, err)
            return
        code = _error_code(ack)
        if code in RETRY_ERROR_CODES:
            self._retry_later(head, code)
            return
        self._internal_delay = self._backoff_min
        self.queue.mark_done(head.scan_id, ack)
        if self._on_ack is not None:
            try:
                self._on_ack(Delivery(head.event, head.scan_id, head.payload, ack))
            except Exception:     # noqa: BLE001 - a failing printer must not stop the sender
                log.exception("on_ack failed for %s", head.scan_id)
        with self._state:
            self._state.notify_all()

    def _retry_later(self, head: QueuedMessage, code: str) -> None:
        # The server did not handle the message (nothing stored): it stays first in line.
        log.info("%s error ack for %s %s: sending it again", code, head.event, head.scan_id)
        if code in ("unauthenticated", "session_expired"):
            # the server lost this connection's login (e.g. restarted under a live socket):
            # connect again, which logs in again (or is refused: then we stop)
            self._drop_connection()
            return
        self._sleep(self._internal_delay * (0.5 + random.random() / 2))
        self._internal_delay = min(self._internal_delay * 2, self._backoff_max)

    def _call(self, event: str, data: dict, timeout: float) -> object:
        # Client.call would wait out its whole timeout after a disconnect; this waits for
        # the ack OR the disconnect, whichever comes first.
        done = threading.Event()
        answer: list[tuple] = []

        def callback(*args: object) -> None:
            answer.append(args)
            done.set()

        with self._state:
            if not self._connected:
                raise ServerUnreachable("not connected")
            self._waiters.add(done)
        try:
            with self._emit_lock:
                self._sio.emit(event, data, namespace=NAMESPACE, callback=callback)
            done.wait(timeout)
        except (sio_exceptions.BadNamespaceError, sio_exceptions.DisconnectedError) as err:
            raise ServerUnreachable(f"connection lost: {err}") from err
        finally:
            with self._state:
                self._waiters.discard(done)
        if answer:
            args = answer[0]
            return args[0] if len(args) == 1 else list(args) if args else None
        if not self.connected:
            raise ServerUnreachable("connection lost while waiting for the ack")
        raise AckTimeout(f"no ack for {event} within {timeout:g} s")

    def _give_up(self, err: HandheldError) -> None:
        with self._state:
            self._state.notify_all()
        if self._on_error is not None:
            self._on_error(err)

    def _stopping(self) -> bool:
        with self._state:
            return self._stop

    def _sleep(self, seconds: float) -> None:
        with self._state:
            self._state.wait_for(lambda: self._stop, seconds)

    # -- socket.io handlers (called on the client's reader thread) -------------------

    def _handle_connect(self) -> None:
        with self._state:
            self._connected = True
            self._state.notify_all()

    def _handle_disconnect(self, reason: object = None) -> None:
        with self._state:
            self._connected = False
            for waiter in self._waiters:
                waiter.set()
            self._state.notify_all()

    def _handle_connect_error(self, data: object = None, *extra: object) -> None:
        # Called with the server's refusal data when the namespace connect is refused on
        # an open connection (a decision: not retried), and when the transport failed
        # (an outage, perhaps with a proxy's JSON error page: retried).
        if isinstance(data, dict) and self._sio.eio.state == "connected":
            with self._state:
                self._refusal = data
                self._state.notify_all()


def _error_code(ack: object) -> str | None:
    """The code of an error ack, None for anything else."""
    if isinstance(ack, dict) and ack.get("ok") is False and isinstance(ack.get("error"), dict):
        code = ack["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def _refusal_code(data: object) -> tuple[str, str]:
    """(code, message) from a refusal: `{"code", "message"}` as the protocol says, or as
    python-socketio wraps it: `ConnectionRefusedError(msg, {"code", ...})` arrives as
    `{"message": msg, "data": {...}}`, and `ConnectionRefusedError({"code", ...})` as
    `{"message": "<the dict's repr>"}`."""
    if not isinstance(data, dict):
        return "refused", str(data)
    inner = data.get("data")
    text = data.get("message")
    if not isinstance(inner, dict) and isinstance(text, str) and text.startswith("{"):
        try:
            inner = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            inner = None
    if isinstance(inner, dict) and "code" in inner:
        data = inner
    code = data.get("code") or "refused"
    message = data.get("message") or "connection rejected by server"
    return str(code), str(message)


def _new_scan_id() -> str:
    return str(uuid.uuid4())
