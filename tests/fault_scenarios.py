"""The fault runs of W8 (issue 16, section 2), each a function of a running cluster
(tests/fault_cluster.py) and a number of rounds: the suite runs them short
(tests/integration/test_faults.py), `make soak-faults` long (tests/bench/faults.py).
Each returns its figures (a dict) and asserts what must hold; nothing here is timed as a
pass/fail, the times are reported.
"""
# ruff: noqa: B023 (every lambda here is called at once by until(), within its iteration)
from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from handheld.client import Delivery, HandheldClient

from .fault_cluster import Cluster
from .floor import PICK_CFG, PRODUCTS, Floor, build_floor, gtin14

BIG_TOTES = {**PICK_CFG, "tote_volume_l": 100_000}    # one order per cart, however many units
# orders of hundreds of units of one product are the run's, not a risk to hold
RISK = {"max_order_value": "100000000", "max_sku_quantity": 100_000,
        "max_orders_per_contact_per_hour": 1000, "max_discount_share": "0.5"}
FAST_CLIENT = {"backoff": (0.1, 1.0), "ack_timeout": 10.0, "connect_timeout": 5.0}


def until(check, within_s: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within_s:.0f} s for {what}")
        time.sleep(step)


def add_pickers(floor: Floor, n: int) -> list[str]:
    """Pickers p1..pn with session tokens (build_floor makes p1 and p2)."""
    from server.services import auth
    from server.store.db import db
    badges = [f"p{i + 1}" for i in range(n)]
    with floor.app.app_context(), db.connection_context():
        for badge in badges:
            if badge not in floor.tokens:
                uid = auth.add_user(badge, "picker", "1234", f"Picker {badge}")
                floor.tokens[badge] = auth.create_token(role="picker", label=f"login {badge}",
                                                        hours=12, user_id=uid)
    return badges


STATIONS = {"pack-1": {"warehouse": "main", "printer": "label-1"}}
STATIONS_YAML = "stations:\n  pack-1: {warehouse: main, printer: label-1}\n"


def scan_floor(app, pickers: int, units: int, packed: int = 0) -> tuple[Floor, list[str]]:
    """A floor with one released cart per picker, each one order of `units` of one
    product; before them `packed` one-unit orders PK-1… picked and waiting to be packed."""
    floor = build_floor(app, stock=units * pickers + packed)
    badges = add_pickers(floor, pickers)
    if packed:
        for i in range(packed):
            floor.order(f"PK-{i + 1}", [("TEE", 1)])
        floor.wave(totes=4)
        floor.pick_all()
    for i in range(pickers):
        sku = PRODUCTS[i % len(PRODUCTS)][0]
        floor.order(f"F-{i + 1}", [(sku, units)])
    floor.wave(totes=1, max_orders=pickers)
    return floor, badges


def query(app, sql: str, params: tuple = ()) -> list[tuple]:
    from server.store.db import db, execute
    with app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(sql, params).fetchall()]


# ---- handhelds ------------------------------------------------------------------------

@dataclass
class Picker:
    """One handheld: the Python client (durable queue, replays until acked) and every ack
    it saw, with the time it arrived."""
    badge: str
    client: HandheldClient
    acks: list[tuple[float, Delivery]] = field(default_factory=list)
    task: dict | None = None
    located: bool = False

    def on_ack(self, delivery: Delivery) -> None:
        self.acks.append((time.monotonic(), delivery))


def handhelds(url: str, floor: Floor, badges: list[str], queue_dir: Path) -> list[Picker]:
    pickers = []
    for badge in badges:
        picker = Picker(badge, None)  # type: ignore[arg-type]
        picker.client = HandheldClient(url, floor.tokens[badge], f"HH-{badge}",
                                       queue_dir / f"{badge}.sqlite3", on_ack=picker.on_ack,
                                       **FAST_CLIENT)
        picker.client.start()
        pickers.append(picker)
    for picker in pickers:
        assert picker.client.wait_connected(60), f"{picker.badge} did not connect"
        got = picker.client.task_next(timeout=30)
        assert got["ok"] and got["task"], got
        picker.task = got["task"]
    return pickers


def queue_burst(picker: Picker, units: int) -> list[str]:
    """The picker scans the bin (once per task) then `units` units, into its queue."""
    task = picker.task
    assert task is not None
    ids = []
    if not picker.located:
        ids.append(picker.client.scan(task["location"]))
        picker.located = True
    gtin = gtin14(next(g for s, g, _, _ in PRODUCTS if s == task["sku"]))
    ids += [picker.client.scan(gtin) for _ in range(units)]
    return ids


def close_all(pickers: list[Picker]) -> None:
    for picker in pickers:
        picker.client.close()


def acked_ids(pickers: list[Picker], before: float | None = None) -> set[str]:
    return {d.scan_id for p in pickers for at, d in p.acks
            if before is None or at < before}


def check_scans_once(app, pickers: list[Picker], sent: list[str]) -> dict:
    """Every scan sent is stored once, every acked one among them, units counted once:
    the order lines' picked units equal the counted unit scans, each of its own scan_id."""
    rows = query(app, "SELECT scan_id, counted, verdict FROM scan")
    stored = [r[0] for r in rows]
    assert len(stored) == len(set(stored)), "a scan_id stored twice"
    missing = set(sent) - set(stored)
    assert not missing, f"{len(missing)} scans sent and never stored"
    acked = acked_ids(pickers)
    assert acked == set(sent), f"{len(set(sent) - acked)} scans never acknowledged"
    bad = [(p.badge, d.ack) for p in pickers for _, d in p.acks
           if not (isinstance(d.ack, dict) and d.ack.get("ok"))]
    assert not bad, bad[:5]
    ours = set(sent)                     # the handhelds' scans (not a pre-picked floor's)
    counted = sum(r[1] for r in rows if r[0] in ours)
    picked = query(app, "SELECT COALESCE(SUM(ol.picked), 0) FROM order_line ol JOIN "
                   "sales_order o ON o.id = ol.order_id WHERE o.ref LIKE ?", ("F-%",))[0][0]
    units = sum(1 for p in pickers for _, d in p.acks if d.payload["raw"] != p.task["location"])
    assert counted == picked == units, (counted, picked, units)
    return {"sent": len(sent), "acked": len(acked), "stored": len(stored), "counted": counted,
            "duplicates": len(stored) - len(set(stored))}


# ---- 1. kill -9 of a web process during scan bursts -------------------------------------

def serving_handhelds(cl: Cluster) -> str:
    """The web process holding the handhelds' sockets (nginx hashes one client address to
    one process): the one whose log has the latest /handheld event."""
    latest, name = -1.0, ""
    for proc_name, proc in cl.procs.items():
        if not proc_name.startswith("web") or not proc.alive:
            continue
        text = proc.output
        at = max(text.rfind("/handheld scan"), text.rfind("/handheld task.next"))
        if at >= 0 and (name == "" or len(text) - at < latest):
            latest, name = len(text) - at, proc_name
    assert name, "no web process has served a handheld"
    return name


def kill_web_during_scans(cl: Cluster, app, floor: Floor, badges: list[str], *,
                          rounds: int, burst: int, queue_dir: Path,
                          say=print) -> dict:
    """Each round every handheld queues a burst of scans; while they stream, the web
    process holding their sockets is killed (kill -9) and started again. The clients
    reconnect (through nginx, to the other process) and replay what was not acked."""
    pickers = handhelds(cl.front, floor, badges, queue_dir)
    sent: list[str] = []
    recover: list[float] = []
    acked_before_kill = 0
    rng = random.Random(16)
    try:
        for n in range(rounds):
            before = len(acked_ids(pickers))
            for picker in pickers:
                sent += queue_burst(picker, burst)
            # kill somewhere in the first half of the burst, at a random point
            at = rng.randint(1, burst * len(pickers) // 2)
            until(lambda: len(acked_ids(pickers)) - before >= at,
                  60, "the burst to start being acked", 0.005)
            victim = serving_handhelds(cl)
            killed_at = time.monotonic()
            cl.kill(victim)
            acked_before_kill += len(acked_ids(pickers, before=killed_at)) - before
            until(lambda: any(at > killed_at for p in pickers for at, _ in p.acks), 60,
                  "the first ack after the kill")
            recover.append(min(at for p in pickers for at, _ in p.acks if at > killed_at)
                           - killed_at)
            for picker in pickers:
                assert picker.client.wait_drained(120), f"{picker.badge}: queue not drained"
            cl.restart(victim)
            say(f"round {n + 1}/{rounds}: {victim} killed; first ack after "
                f"{recover[-1]:.2f} s; {len(acked_ids(pickers))} acked so far")
        figures = check_scans_once(app, pickers, sent)
    finally:
        close_all(pickers)
    figures.update(rounds=rounds, acked_before_kills=acked_before_kill,
                   recover_median_s=round(statistics.median(recover), 2),
                   recover_max_s=round(max(recover), 2))
    return figures


def new_scan_id() -> str:
    return str(uuid.uuid4())


def http(method: str, url: str, token: str, **kw) -> requests.Response:
    return requests.request(method, url, headers={"Authorization": f"Bearer {token}"},
                            timeout=30, **kw)


def run_in_thread(fn, *args) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


# ---- 2. PostgreSQL away during traffic -----------------------------------------------------

def expect_unavailable(resp: requests.Response, what: str) -> None:
    """A 503 with the JSON error `database_unavailable` (never a 500, never HTML)."""
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), what
    assert resp.json()["error"]["code"] == "database_unavailable", (what, resp.text[:300])
    assert resp.headers.get("Retry-After"), what


def enqueue_label(app, printer_url: str, ref: str) -> int:
    from server.services import print_queue
    from server.store.db import db
    with app.app_context(), db.connection_context():
        return print_queue.enqueue("pack-1", printer_url, "label", ref,
                                   "^XA^FO50,50^A0N,40,40^FD" + ref + " job {job_id}^FS^XZ", "fault-test")


def job_states(app, ids: list[int]) -> dict[int, str]:
    rows = query(app, "SELECT id, state FROM print_job WHERE id IN (%s)"
                 % ",".join(str(int(i)) for i in ids)) if ids else []
    return dict(rows)


def postgres_away(cl: Cluster, app, floor: Floor, badges: list[str], printer, *,
                  rounds: int, burst: int, outage_s: float, queue_dir: Path,
                  say=print) -> dict:
    """Each round: the handhelds stream scans, PostgreSQL is cut (every connection reset,
    new ones refused) for `outage_s`, a label is queued meanwhile (by this process, which
    reaches PostgreSQL directly); REST answers 503 `database_unavailable`, socket events
    get that error ack, a new socket is refused with it; then the link comes back and
    everything recovers without a restart: REST, the handhelds' queues, the worker's label."""
    from .live import Handheld, Refused
    pickers = handhelds(cl.front, floor, badges, queue_dir)
    sup = floor.tokens["s1"]
    probe = Handheld(cl.front, sup, "HH-probe")
    sent: list[str] = []
    labels: list[int] = []
    rest_back, queues_back, label_back = [], [], []
    answered: dict[int, int] = {}
    try:
        for n in range(rounds):
            for picker in pickers:
                sent += queue_burst(picker, burst // 2)
            time.sleep(0.3)
            cl.pg.cut()
            cut_at = time.monotonic()
            for picker in pickers:                      # scanned while the database is away
                sent += queue_burst(picker, burst - burst // 2)
            label = enqueue_label(app, printer.url, f"outage {n}")
            labels.append(label)
            got = probe.call("task.next", timeout=30)
            assert got.get("error", {}).get("code") == "database_unavailable", got
            for method, path, body in (("GET", "/api/v1/orders", None),
                                       ("GET", f"/api/v1/print-jobs/{label}", None),
                                       ("POST", "/api/v1/waves", {"warehouse": "main"})):
                resp = http(method, cl.front + path, sup, json=body)
                expect_unavailable(resp, f"{method} {path}")
                answered[503] = answered.get(503, 0) + 1
            resp = requests.post(cl.front + "/api/v1/auth/badge", timeout=30,
                                 json={"badge": "p1", "pin": "1234"})
            expect_unavailable(resp, "POST /api/v1/auth/badge")
            health = requests.get(cl.front + "/healthz", timeout=30)
            expect_unavailable(health, "GET /healthz")
            try:
                Handheld(cl.front, floor.tokens["p1"], "HH-late").close()
                raise AssertionError("a socket connected while the database was away")
            except Refused as refused:
                assert refused.code == "database_unavailable", refused.data
            time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
            assert all(p.client.queue.pending_count() for p in pickers), \
                "a handheld drained its queue with the database away"
            cl.pg.restore()
            back_at = time.monotonic()
            until(lambda: http("GET", cl.front + "/api/v1/orders", sup).status_code == 200,
                  60, "REST to answer again", 0.02)
            rest_back.append(time.monotonic() - back_at)
            for picker in pickers:
                assert picker.client.wait_drained(120), f"{picker.badge}: queue not drained"
            queues_back.append(time.monotonic() - back_at)
            until(lambda: job_states(app, [label]).get(label) == "printed", 60,
                  "the label queued during the outage to print")
            label_back.append(time.monotonic() - back_at)
            assert probe.call("task.next", timeout=30)["ok"]
            say(f"round {n + 1}/{rounds}: PostgreSQL cut {outage_s:.1f} s; REST back in "
                f"{rest_back[-1]:.2f} s, handheld queues drained in {queues_back[-1]:.2f} s, "
                f"the label printed in {label_back[-1]:.2f} s")
        figures = check_scans_once(app, pickers, sent)
    finally:
        probe.close()
        close_all(pickers)
    time.sleep(0.5)                                   # a second send would have come by now
    on_printer = [job.decode() for job in printer.jobs]
    for n in range(rounds):
        assert sum(f"outage {n} job" in job for job in on_printer) == 1, on_printer
    assert all(p.alive for p in cl.procs.values()), "a process died"
    (queue_dir / "cluster.log").write_text(cl.output(), encoding="utf-8")
    errors = [line for line in cl.output().splitlines()
              if " 500 " in line or "Traceback" in line]
    figures.update(rounds=rounds, outage_s=outage_s, rest_503s=answered.get(503, 0),
                   rest_back_max_s=round(max(rest_back), 2),
                   queues_back_max_s=round(max(queues_back), 2),
                   label_back_max_s=round(max(label_back), 2), server_errors=len(errors))
    assert not errors, errors[:10]
    return figures


# ---- 3. Redis away: the floor goes on, the consoles' live view says it is partial -----------

class Console:
    """A /console client straight to one web process, recording what is pushed to it."""

    def __init__(self, url: str, token: str) -> None:
        import socketio
        self.got: list[tuple[float, str, dict]] = []
        self.sio = socketio.Client(reconnection=False)
        for name in ("scan.recorded", "print_job.queued", "feed.status"):
            self.sio.on(name, lambda data, name=name: self.got.append(
                (time.monotonic(), name, data)), namespace="/console")
        self.sio.connect(url, namespaces=["/console"], transports=["websocket"],
                         wait_timeout=10, auth={"token": token, "warehouse": "main"})

    def seen(self, name: str, after: float = 0.0) -> list[dict]:
        return [d for at, n, d in self.got if n == name and at >= after]

    def whoami(self) -> dict:
        return self.sio.call("whoami", {}, namespace="/console", timeout=15)

    def close(self) -> None:
        self.sio.disconnect()


def pack_order(front: str, token: str, ref: str) -> int:
    """Pack one picked one-unit TEE order at pack-1 over REST; the label job's id."""
    opened = http("POST", front + "/api/v1/pack/sessions", token,
                  json={"station": "pack-1", "scan": ref})
    assert opened.status_code == 201, opened.text
    session = opened.json()["id"]
    scanned = http("POST", f"{front}/api/v1/pack/sessions/{session}/scan", token,
                   json={"scan_id": new_scan_id(), "raw": gtin14(
                       next(g for s, g, _, _ in PRODUCTS if s == "TEE"))})
    assert scanned.status_code == 200 and scanned.json()["verdict"] == "ok", scanned.text
    done = http("POST", f"{front}/api/v1/pack/sessions/{session}/confirm", token)
    assert done.status_code == 201, done.text
    return done.json()["label_job"]["id"]


def redis_away(cl: Cluster, app, floor: Floor, badges: list[str], printer, *,
               rounds: int, burst: int, outage_s: float, queue_dir: Path,
               say=print, packing: bool = True) -> dict:
    """Each round Redis is cut for `outage_s`: the handhelds' scans are acked as ever,
    logins (rate limits fall back to memory) and REST writes answer, labels print once;
    each process tells its consoles the live view is partial (feed.status, whoami, healthz)
    and still pushes its own events to them; when Redis is back they are told so and
    events cross processes again."""
    sup = floor.tokens["s1"]
    webs = sorted(n for n in cl.procs if n.startswith("web"))
    consoles = {name: Console(cl.url(name), sup) for name in webs}
    pickers = handhelds(cl.front, floor, badges, queue_dir)
    sent: list[str] = []
    told_down, told_back, crossing_back, scan_acks = [], [], [], []
    labels: list[int] = []
    try:
        for name, console in consoles.items():
            assert console.whoami()["feed"]["live"] == "all", name
        for n in range(rounds):
            cl.redis.cut()
            cut_at = time.monotonic()
            for name, console in consoles.items():
                until(lambda c=console: any(d["message_queue"] == "down" for d in
                                            c.seen("feed.status", cut_at)), 30,
                      f"{name}'s consoles to be told Redis is down")
            told_down.append(time.monotonic() - cut_at)
            for name, console in consoles.items():
                feed = console.whoami()["feed"]
                assert (feed["message_queue"], feed["live"]) == ("down", "this_process"), feed
                assert feed["message"], feed
                health = requests.get(cl.url(name) + "/healthz", timeout=30)
                assert health.status_code == 200 and \
                    health.json()["message_queue"] == "down", health.text
            # the floor goes on: scans acked, a login, a REST write, a label printed once
            before = time.monotonic()
            ids = [i for p in pickers for i in queue_burst(p, burst)]
            sent += ids
            for picker in pickers:
                assert picker.client.wait_drained(60), f"{picker.badge}: queue not drained"
            scan_acks.append(time.monotonic() - before)
            login = requests.post(cl.front + "/api/v1/auth/badge", timeout=30,
                                  json={"badge": "p1", "pin": "1234"})
            assert login.status_code == 200, login.text
            if packing:                    # a packer packs an order and its label prints
                labels.append(pack_order(cl.front, floor.tokens["k1"], f"PK-{n + 1}"))
                until(lambda: job_states(app, labels[-1:]).get(labels[-1]) == "printed", 30,
                      "the packed order's label to print with Redis away")
            label = enqueue_label(app, printer.url, f"redis {n}")
            labels.append(label)
            until(lambda: job_states(app, [label]).get(label) == "printed", 30,
                  "a label to print with Redis away")
            reprint = http("POST", f"{cl.front}/api/v1/print-jobs/{label}/reprint", sup,
                           json={"reason": "torn"})
            assert reprint.status_code == 201, reprint.text
            labels.append(reprint.json()["id"])
            until(lambda: job_states(app, labels[-1:]).get(labels[-1]) == "printed", 30,
                  "the reprint to print with Redis away")
            # the process holding the handhelds still pushes its own scans to its consoles
            holder = serving_handhelds(cl)
            mine = {d["scan_id"] for d in consoles[holder].seen("scan.recorded", before)}
            assert set(ids) <= mine, f"{len(set(ids) - mine)} scans not pushed on {holder}"
            time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
            cl.redis.restore()
            back_at = time.monotonic()
            for name, console in consoles.items():
                until(lambda c=console: any(d["message_queue"] == "ok" for d in
                                            c.seen("feed.status", back_at)), 30,
                      f"{name}'s consoles to be told Redis is back")
            told_back.append(time.monotonic() - back_at)
            # events cross processes again: a scan reaches the consoles of every process
            probe = [i for p in pickers[:1] for i in queue_burst(p, 1)]
            sent += probe
            until(lambda: all(probe[0] in {d["scan_id"] for d in c.seen("scan.recorded")}
                              for c in consoles.values()), 60,
                  "a scan to reach the consoles of every process again")
            crossing_back.append(time.monotonic() - back_at)
            say(f"round {n + 1}/{rounds}: Redis cut {outage_s:.1f} s; consoles told in "
                f"{told_down[-1]:.2f} s; {len(ids)} scans acked in {scan_acks[-1]:.2f} s; "
                f"consoles told it is back in {told_back[-1]:.2f} s; events cross "
                f"processes again after {crossing_back[-1]:.2f} s")
        for picker in pickers:
            assert picker.client.wait_drained(60)
        figures = check_scans_once(app, pickers, sent)
    finally:
        (queue_dir / "cluster.log").write_text(cl.output(), encoding="utf-8")
        close_all(pickers)
        for console in consoles.values():
            console.close()
    time.sleep(0.5)
    # each label, its reprint (which shows the original's text, marked REPRINT) and each
    # packed order's label once
    assert len(printer.jobs) == len(labels), (len(printer.jobs), labels)
    assert set(job_states(app, labels).values()) == {"printed"}
    (queue_dir / "cluster.log").write_text(cl.output(), encoding="utf-8")
    errors = [line for line in cl.output().splitlines()
              if " 500 " in line or "Traceback" in line]
    assert not errors, errors[:10]
    figures.update(rounds=rounds, outage_s=outage_s, labels=len(labels),
                   told_down_max_s=round(max(told_down), 2),
                   told_back_max_s=round(max(told_back), 2),
                   crossing_back_max_s=round(max(crossing_back), 2),
                   scans_during_outage_max_s=round(max(scan_acks), 2))
    return figures


# ---- 4. the worker killed mid-print and mid-outbox ------------------------------------------

def storefront_channels(app, shop) -> None:
    """A Shopify and a native channel on the fake storefront (test_outbox's `wh`)."""
    from server.services import channels
    from .factories import seed
    from .integration.test_webhooks import ctx
    seed(app)
    with ctx(app):
        channels.add_channel("shop", "shopify", secret="s", base_url=shop.base_url,
                             api_secret=shop.token)
        channels.add_channel("cb", "native", secret=shop.signing_secret,
                             callback_url=shop.callback_url)


def outbox_rows(app) -> list[tuple]:
    return query(app, "SELECT id, state, attempts FROM outbox ORDER BY id")


def printer_job_ids(printer) -> list[int]:
    import re
    return [int(m.group(1)) for j in printer.jobs for m in [re.search(rb"kill \d+ job (\d+)", j)]
            if m]


def worker_killed(cl: Cluster, app, printer, shop, *, rounds: int, labels: int,
                  say=print) -> dict:
    """Each round: labels queued and a storefront message (Shopify and native in turn)
    queued; the worker is killed (kill -9) while a label is on its way to the printer, and
    again while the storefront holds its answer to a delivery it has applied; started
    again (as systemd would), it settles both. No label is printed twice; a label in
    doubt is failed `unconfirmed` with an exception, never resent blindly; every storefront
    update arrives exactly once (Shopify is asked first, the native receiver dedupes on
    the delivery id the retry repeats)."""
    from .integration.test_outbox import ORDER_ID, ship
    printer.delay_s = 0.02                          # a label takes a few reads
    ids: list[int] = []
    shipments: dict[str, int] = {}
    settle_print, settle_outbox, restarts = [], [], []
    for n in range(rounds):
        batch = [enqueue_label(app, printer.url, f"kill {n}") for _ in range(labels)]
        ids += batch
        until(lambda: len([i for i in printer_job_ids(printer) if i in batch]) >= labels // 3,
              60, "a few labels of the round to print", 0.005)
        cl.kill("worker")
        killed_at = time.monotonic()
        restarts.append(cl.restart("worker"))
        until(lambda: not {s for s in job_states(app, batch).values()} & {"queued", "sending"},
              90, "the round's labels to settle")
        settle_print.append(time.monotonic() - killed_at)
        # the outbox: killed while the storefront holds its answer to an applied delivery
        channel = ("shop", "cb")[n % 2]
        shop.mode, shop.slow_s = "slow", 30.0
        before = len(shop.requests)
        shipments[channel + str(n)] = ship(app, shop, channel, ORDER_ID + 1000 + n)
        until(lambda: any(r["method"] != "GET" for r in shop.requests[before:]), 60,
              "the worker to deliver to the storefront")
        cl.kill("worker")
        killed_at = time.monotonic()
        shop.mode = "up"
        shop._release.set()
        restarts.append(cl.restart("worker"))
        until(lambda: all(state == "sent" for _, state, _ in outbox_rows(app)), 90,
              "the storefront message to be sent after the restart")
        settle_outbox.append(time.monotonic() - killed_at)
        say(f"round {n + 1}/{rounds}: worker killed mid-print (restarts take "
            f"{restarts[-2]:.1f} s), labels settled in "
            f"{settle_print[-1]:.2f} s; killed mid-outbox ({channel}), message sent in "
            f"{settle_outbox[-1]:.2f} s")
    time.sleep(1.0)                                 # a second send would have come by now
    on_printer = printer_job_ids(printer)
    assert len(on_printer) == len(set(on_printer)), "a label printed twice"
    states = job_states(app, ids)
    printed = [i for i, s in states.items() if s == "printed"]
    failed = [i for i, s in states.items() if s == "failed"]
    assert sorted(printed + failed) == sorted(ids), states       # none left behind
    assert set(printed) <= set(on_printer)
    reasons = query(app, "SELECT id, last_error_code FROM print_job WHERE state = 'failed'")
    assert all(code == "unconfirmed" for _, code in reasons), reasons
    flagged = query(app, "SELECT COUNT(*) FROM wms_exception WHERE type = 'print_unconfirmed'")
    assert flagged[0][0] == len(failed), (flagged, failed)
    # each shipment told exactly once: one Shopify fulfilment, one native delivery applied
    for key in shipments:
        if key.startswith("shop"):
            made = shop.fulfillments(ORDER_ID + 1000 + int(key.removeprefix("shop")))
            assert len(made) == 1, made
    native = [k for k in shipments if k.startswith("cb")]
    assert len(shop.deliveries) == len(native), shop.deliveries
    rows = outbox_rows(app)
    assert [state for _, state, _ in rows] == ["sent"] * len(shipments)
    return {"rounds": rounds, "labels": len(ids), "printed": len(printed),
            "failed_unconfirmed": len(failed), "printed_twice": 0,
            "outbox_messages": len(shipments), "outbox_applied_twice": 0,
            "outbox_resends": sum(a - 1 for _, _, a in rows),
            "labels_settled_max_s": round(max(settle_print), 2),
            "outbox_settled_max_s": round(max(settle_outbox), 2),
            "worker_restart_max_s": round(max(restarts), 2)}
