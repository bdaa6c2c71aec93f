"""The fault runs of W8 (issue 16, section 2), each a function of a running cluster
(tests/fault_cluster.py) and a number of rounds: the suite runs them short
(tests/integration/test_faults.py), `make soak-faults` long (tests/bench/faults.py).
Each returns its figures (a dict) and asserts what must hold; nothing here is timed as a
pass/fail, the times are reported.
"""
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


def scan_floor(app, pickers: int, units: int) -> tuple[Floor, list[str]]:
    """A floor with one released cart per picker, each one order of `units` of one product."""
    floor = build_floor(app, stock=units * pickers)
    badges = add_pickers(floor, pickers)
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
    counted = sum(r[1] for r in rows)
    picked = query(app, "SELECT COALESCE(SUM(picked), 0) FROM order_line")[0][0]
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
            target = burst * len(pickers)
            # kill somewhere in the first half of the burst, at a random point
            until(lambda: len(acked_ids(pickers)) - before >= rng.randint(1, target // 2),
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
