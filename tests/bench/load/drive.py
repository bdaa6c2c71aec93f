"""The soak's load driver: one process under gevent's monkey patching running some of the
simulated clients of a warehouse day against the production front (nginx):

    python -m gevent.monkey --module tests.bench.load.drive CONFIG.json

CONFIG names the front (`host`, `port`), `duration_s`, and the actors this process runs:
`handhelds` (tokens: each a picker on /handheld scanning real pick tasks, one scan every
`period_s` ± 25 %: tests/bench/scans_load.py's Handheld), `consoles` (supervisor tokens on
/console counting what is pushed), `stations` (a packer each packing one order every
`pack_every_s` through the pack REST flow to a confirm), `storefront` (signed Shopify
`orders/paid` webhooks at `rate` a second, every `resend_every`-th sent again: a
re-delivery) and `carrier` (tracking events at `rate` a second with a carrier token).
Every client connects from an address of its own in 127.0.0.0/8: nginx balances by the
client's address (`hash $remote_addr`), and a warehouse's devices have one each.

Prints `ready` once every client is connected, waits for `go` on stdin, runs for
duration_s, then prints one JSON line: each actor kind's latencies (ms), answers and
errors by kind, and the CPU seconds this process used.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import socket
import sys
import time
import uuid
from collections import Counter

import gevent
import gevent.pool
import requests
import socketio
from gevent.os import tp_read
from requests.adapters import HTTPAdapter

from ..scans_load import ACK_TIMEOUT, NS, Handheld

CONNECT_AT_ONCE = 25
HTTP_TIMEOUT = 30.0


def source(kind: int, index: int) -> str:
    """The loopback address client `index` of actor kind `kind` connects from."""
    return f"127.{kind}.{index // 250}.{index % 250 + 1}"


def bound_socket(host: str, port: int, src: str) -> socket.socket:
    """A TCP connection to the front from `src` (python-socketio's WebSocket transport
    takes a connected socket: websocket-client's `socket` option)."""
    sock = socket.socket()
    sock.bind((src, 0))
    sock.settimeout(30)
    sock.connect((host, port))
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _SourceAdapter(HTTPAdapter):
    def __init__(self, src: str):
        self.src = src
        super().__init__(pool_connections=1, pool_maxsize=4)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.src, 0)
        super().init_poolmanager(*args, **kwargs)


def http_session(src: str, token: str | None = None) -> requests.Session:
    s = requests.Session()
    s.mount("http://", _SourceAdapter(src))
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def _bad(errors: Counter, what: str, r: requests.Response | None, err: Exception | None = None,
         samples: list | None = None) -> None:
    """Count a failed request by kind: `what status code` (the body's error code)."""
    if r is None:
        kind = f"{what}: {type(err).__name__}"
        detail = str(err)[:200]
    else:
        try:
            code = r.json().get("error", {}).get("code", "")
        except ValueError:
            code = ""
        kind = f"{what}: HTTP {r.status_code} {code}".rstrip()
        detail = r.text[:200]
    errors[kind] += 1
    if samples is not None and len(samples) < 10:
        samples.append(f"{kind}: {detail}")


# ---- handhelds ---------------------------------------------------------------------------

class SoakHandheld(Handheld):
    """scans_load's handheld, connected from an address of its own; an unplanned
    disconnect is counted."""

    def __init__(self, index: int, token: str, cfg: dict, out: dict):
        super().__init__(index, token, cfg, out)
        self.ending = False

    def connect(self) -> None:
        sock = bound_socket(self.cfg["host"], self.cfg["port"], source(1, self.index))
        self.sio = socketio.Client(reconnection=False,
                                   websocket_extra_options={"socket": sock})

        @self.sio.on("disconnect", namespace=NS)
        def _gone(*_):
            if not self.ending:
                self.out["errors"]["handheld disconnected"] += 1
        super().connect()


# ---- consoles ----------------------------------------------------------------------------

class Console:
    def __init__(self, index: int, token: str, cfg: dict, out: dict):
        self.index, self.token, self.cfg, self.out = index, token, cfg, out
        self.ending = False
        self.got: Counter = Counter()

    def connect(self) -> None:
        sock = bound_socket(self.cfg["host"], self.cfg["port"], source(5, self.index))
        self.sio = socketio.Client(reconnection=False, websocket_extra_options={"socket": sock})
        for name in ("scan.recorded", "print_job.queued", "outbox.queued"):
            self.sio.on(name, lambda data, name=name: self.got.update([name]),
                        namespace="/console")

        @self.sio.on("disconnect", namespace="/console")
        def _gone(*_):
            if not self.ending:
                self.out["errors"]["console disconnected"] += 1
        self.sio.connect(self.cfg["url"], namespaces=["/console"], transports=["websocket"],
                         auth={"token": self.token, "warehouse": "main"}, wait_timeout=30)

    def run(self, start: float, deadline: float) -> None:
        """Asks whoami every 30 s (a page checking its session) until the deadline."""
        at = start + 1 + self.index
        while True:
            gevent.sleep(max(0.0, min(at, deadline) - time.perf_counter()))
            if time.perf_counter() >= deadline:
                return
            t0 = time.perf_counter()
            try:
                ack = self.sio.call("whoami", {}, namespace="/console", timeout=ACK_TIMEOUT)
                self.out["lat_ms"].append((time.perf_counter() - t0) * 1000)
                if not ack.get("ok"):
                    self.out["errors"][f"console whoami: {ack.get('error', {}).get('code')}"] += 1
            except Exception as err:  # noqa: BLE001 - counted as an error of its kind
                self.out["errors"][f"console whoami: {type(err).__name__}"] += 1
            at += 30


# ---- pack stations -------------------------------------------------------------------------

def pack_station(cfg: dict, index: int, token: str, refs: list[str], out: dict,
                 start: float, deadline: float) -> None:
    """Station pack-(index+1): one order every pack_every_s (the stations' slots spread
    over the period): open by the order's reference, scan each unit, confirm."""
    http = http_session(source(2, index), token)
    base, every = cfg["url"], cfg["pack_every_s"]
    station = f"pack-{index + 1}"
    errors = out["errors"]
    for k, ref in enumerate(refs):
        at = start + (index / max(1, cfg["n_stations"])) * every + k * every
        if at >= deadline:
            return
        if time.perf_counter() >= deadline:
            errors["pack orders not started by the end (station held up)"] += 1
            continue
        gevent.sleep(max(0.0, at - time.perf_counter()))
        try:
            t0 = time.perf_counter()
            r = http.post(f"{base}/api/v1/pack/sessions", json={"station": station, "scan": ref},
                          timeout=HTTP_TIMEOUT)
            out["open_ms"].append((time.perf_counter() - t0) * 1000)
            if r.status_code != 201:
                _bad(errors, "pack open", r, samples=out["samples"])
                continue
            session = r.json()
            for line in session["lines"]:
                for _ in range(line["remaining"]):
                    t0 = time.perf_counter()
                    r = http.post(f"{base}/api/v1/pack/sessions/{session['id']}/scan",
                                  json={"scan_id": str(uuid.uuid4()), "raw": line["gtins"][0]},
                                  timeout=HTTP_TIMEOUT)
                    out["scan_ms"].append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200 or r.json().get("verdict") != "ok":
                        _bad(errors, "pack scan", r, samples=out["samples"])
            wall, t0 = time.time(), time.perf_counter()
            r = http.post(f"{base}/api/v1/pack/sessions/{session['id']}/confirm",
                          timeout=HTTP_TIMEOUT)
            out["confirm_ms"].append((time.perf_counter() - t0) * 1000)
            if r.status_code != 201:
                _bad(errors, "pack confirm", r, samples=out["samples"])
                continue
            ship = r.json()["shipment"]
            out["confirmed"].append({"ref": ref, "station": station, "job": ship["label_job"],
                                     "tracking": ship["tracking"], "at": wall})
        except requests.RequestException as err:
            _bad(errors, "pack", None, err, out["samples"])


# ---- storefront and carrier ----------------------------------------------------------------

def paced(rate: float, start: float, deadline: float, senders: int, send) -> int:
    """Call send(n, sender) for n = 0, 1, … at `rate` a second from `senders` greenlets (each
    sending one request at a time) until the deadline; a send that starts more than a
    second after its slot counts as late. Slots still unsent at the deadline are not sent
    (the load stops with the clock): their number is returned, the rate not delivered."""
    missed = [0]

    def sender(k: int) -> None:
        n = k
        while True:
            at = start + n / rate
            if at >= deadline:
                return
            if time.perf_counter() >= deadline:
                missed[0] += len(range(n, math.ceil((deadline - start) * rate), senders))
                return
            gevent.sleep(max(0.0, at - time.perf_counter()))
            send(n, k, time.perf_counter() - at > 1.0)
            n += senders
    gevent.joinall([gevent.spawn(sender, k) for k in range(senders)])
    return missed[0]


def storefront(cfg: dict, out: dict, start: float, deadline: float) -> None:
    from ..webhooks import delivery
    sf = cfg["storefront"]
    template = json.loads(open(sf["fixture"], "rb").read())
    sessions = [http_session(source(3, k)) for k in range(sf["senders"])]
    url = f"{cfg['url']}/webhooks/shopify/{sf['channel']}"
    errors = out["errors"]

    def post(body: bytes, headers: dict, k: int, dup: bool) -> None:
        t0 = time.perf_counter()
        try:
            r = sessions[k].post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
        except requests.RequestException as err:
            _bad(errors, "webhook", None, err, out["samples"])
            return
        out["lat_ms"].append((time.perf_counter() - t0) * 1000)
        got = r.json() if r.headers.get("Content-Type", "").startswith("application/json") \
            else {}
        if r.status_code != 200:
            _bad(errors, "webhook", r, samples=out["samples"])
        elif dup and not got.get("duplicate"):
            errors["webhook re-delivery not answered duplicate"] += 1
        elif not dup and got.get("outcome") not in ("queued", "created"):
            errors[f"webhook outcome {got.get('outcome')}"] += 1
        else:
            out["resent" if dup else "sent"] += 1

    def send(n: int, k: int, late: bool) -> None:
        out["late"] += late
        body, headers = delivery(template, sf["first"] + n)
        headers["X-Shopify-Hmac-Sha256"] = _sign(body, sf["secret"])
        post(body, headers, k, False)
        if sf["resend_every"] and n % sf["resend_every"] == sf["resend_every"] - 1:
            post(body, headers, k, True)           # the shop did not hear our 200: again

    missed = paced(sf["rate"], start, deadline, sf["senders"], send)
    if missed:
        errors["webhooks not sent by the end (senders held up by slow answers)"] += missed


def _sign(body: bytes, secret: str) -> str:
    from ..webhooks import sign
    return sign(body, secret)


STATUSES = ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]


def carrier(cfg: dict, out: dict, start: float, deadline: float) -> None:
    """Event n: shipment n % S's step n // S (so each parcel's events arrive in order),
    `batch` events a request; every resend_every-th request is sent again."""
    c = cfg["carrier"]
    sessions = [http_session(source(4, k), c["token"]) for k in range(c["senders"])]
    url = f"{cfg['url']}/api/v1/tracking-events"
    numbers, batch = c["tracking"], c["batch"]
    errors = out["errors"]
    first_at = time.time()        # occurred_at: a minute apart per step, from now

    def event(n: int) -> dict:
        s, step = n % len(numbers), n // len(numbers)
        at = dt.datetime.fromtimestamp(first_at + step * 60, dt.timezone.utc)
        return {"event_id": f"{c['prefix']}-{n}", "tracking_number": numbers[s],
                "status": STATUSES[min(step, len(STATUSES) - 1)], "occurred_at": at.isoformat(),
                "location": "Leeds hub"}

    def post(events: list[dict], k: int, again: bool) -> None:
        t0 = time.perf_counter()
        try:
            r = sessions[k].post(url, json={"events": events}, timeout=HTTP_TIMEOUT)
        except requests.RequestException as err:
            _bad(errors, "tracking", None, err, out["samples"])
            return
        out["lat_ms"].append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            _bad(errors, "tracking", r, samples=out["samples"])
            return
        got = r.json()
        if got.get("unknown"):
            errors["tracking unknown numbers"] += len(got["unknown"])
        want = (0, len(events)) if again else (len(events), 0)
        if (got.get("accepted"), got.get("duplicates")) != want:
            errors["tracking accepted/duplicates not as sent"] += 1
            if len(out["samples"]) < 10:
                out["samples"].append(f"tracking {events[0]['event_id']} again={again}: {got}")
        if again:
            out["resent"] += 1
        else:
            out["sent"] += len(events)

    def send(n: int, k: int, late: bool) -> None:
        out["late"] += late
        events = [event(n * batch + i) for i in range(batch)]
        post(events, k, False)
        if c["resend_every"] and n % c["resend_every"] == c["resend_every"] - 1:
            post(events, k, True)

    missed = paced(c["rate"] / batch, start, deadline, c["senders"], send)
    if missed:
        errors["tracking requests not sent by the end (senders held up)"] += missed


# ---- the process ---------------------------------------------------------------------------

def _new_out(*lists: str) -> dict:
    out: dict = {k: [] for k in lists}
    out.update(errors=Counter(), samples=[])
    return out


def main() -> int:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    cfg["url"] = f"http://{cfg['host']}:{cfg['port']}"
    hh_out = {"lat_ms": [], "verdict_acks": 0, "ok_items": 0, "timeouts": 0, "task_next": 0,
              "out_of_work": 0, "late": 0, "errors": Counter(), "verdicts": {},
              "connect_failed": 0, "odd": []}
    console_out = _new_out("lat_ms")
    station_out = _new_out("open_ms", "scan_ms", "confirm_ms", "confirmed")
    shop_out = {**_new_out("lat_ms"), "sent": 0, "resent": 0, "late": 0}
    carrier_out = {**_new_out("lat_ms"), "sent": 0, "resent": 0, "late": 0}
    hh_cfg = {**cfg, **cfg.get("handheld_cfg", {})}
    hands = [SoakHandheld(i + cfg.get("first", 0), t, hh_cfg, hh_out)
             for i, t in enumerate(cfg.get("handhelds", []))]
    consoles = [Console(i, t, cfg, console_out) for i, t in enumerate(cfg.get("consoles", []))]
    pool = gevent.pool.Pool(CONNECT_AT_ONCE)

    def connect(client):
        try:
            client.connect()
        except Exception as err:  # noqa: BLE001
            client.out["errors"][f"connect failed: {type(err).__name__}"] += 1
            print(f"connect failed: {type(err).__name__}: {err}", file=sys.stderr)
    pool.map(connect, hands + consoles)
    print("ready", flush=True)
    line = b""
    while not line.endswith(b"\n"):
        chunk = tp_read(0, 64)
        if not chunk:
            return 1
        line += chunk
    start, cpu0 = time.perf_counter(), time.process_time()
    deadline = start + cfg["duration_s"]
    jobs = [gevent.spawn(h.run, start, deadline) for h in hands if h.sio.connected]
    jobs += [gevent.spawn(c.run, start, deadline) for c in consoles if c.sio.connected]
    for i, (token, refs) in enumerate(cfg.get("stations", [])):
        jobs.append(gevent.spawn(pack_station, cfg, i, token, refs, station_out, start,
                                 deadline))
    if cfg.get("storefront"):
        jobs.append(gevent.spawn(storefront, cfg, shop_out, start, deadline))
    if cfg.get("carrier"):
        jobs.append(gevent.spawn(carrier, cfg, carrier_out, start, deadline))
    gevent.joinall(jobs)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    for h in hands:
        h.ending = True
    # pushes still on their way to the consoles (a scan acked just before the deadline)
    gevent.sleep(cfg.get("drain_s", 3.0))
    for c in consoles:
        c.ending = True
    console_out["got"] = [dict(c.got) for c in consoles]
    hh_out["errors"] = dict(hh_out["errors"])
    for o in (console_out, station_out, shop_out, carrier_out):
        o["errors"] = dict(o["errors"])
    print(json.dumps({"handhelds": hh_out, "consoles": console_out, "stations": station_out,
                      "storefront": shop_out, "carrier": carrier_out, "wall_s": wall,
                      "cpu_s": cpu, "pid": os.getpid()}), flush=True)
    # a clean disconnect waits on each socket's close handshake one after another
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
