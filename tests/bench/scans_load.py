"""Load generator for the scan benchmark (tests/bench/scans.py): simulated handhelds, each a
python-socketio client on /handheld, in one process under gevent's monkey patching:

    python -m gevent.monkey --module tests.bench.scans_load CONFIG.json

CONFIG: {"url", "tokens": [...], "mode": "steady"|"saturation", "period_s", "duration_s",
"wrong_gtins": [...], "wrong_every": n, "seed"}. Connects every handheld and asks each
for task.next, prints `ready`, waits for `go` on stdin, then scans for duration_s: the
location of its task, then its items (the GTIN of the task's product), one scan per
period_s ± 25 % (steady) or back to back (saturation). Every wrong_every-th item scan is
the GTIN of another product (wrong_item; not_in_task or over_pick when that product is on
the same cart, in an open or a done task; stored like any other). A right scan refused is
reported with what was shown and sent.
When the cart is done (`next` null) it asks task.next again (a new cart). Prints one JSON
line of results: client round trips of scans (ms), verdict acks, error acks, timeouts,
the CPU seconds this generator used while scanning.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid

import gevent
import gevent.pool
import socketio
from gevent.os import tp_read

NS = "/handheld"
ACK_TIMEOUT = 30.0
CONNECT_AT_ONCE = 25


class Handheld:
    def __init__(self, index: int, token: str, cfg: dict, out: dict):
        self.index, self.token, self.cfg, self.out = index, token, cfg, out
        self.sio = socketio.Client(reconnection=False)
        self.task: dict | None = None
        self.rnd = random.Random(cfg["seed"] * 100_003 + index)
        self.items = 0

    def connect(self) -> None:
        self.sio.connect(self.cfg["url"], namespaces=[NS], transports=["websocket"],
                         auth={"token": self.token, "device": f"BENCH-{self.index:04d}"},
                         wait_timeout=30)
        self.next_task()

    def next_task(self) -> None:
        ack = self.sio.call("task.next", {}, namespace=NS, timeout=ACK_TIMEOUT)
        self.out["task_next"] += 1
        if not ack.get("ok"):
            self.out["errors"][ack.get("error", {}).get("code", "?")] += 1
            self.task = None
        else:
            self.task = ack["task"]

    def scan_once(self) -> bool:
        """One scan of the current task; False when there is no work left."""
        if self.task is None:
            self.next_task()
            if self.task is None:
                self.out["out_of_work"] += 1
                return False
        task = self.task
        item = task["needs"] == "item"
        raw = task["location"]
        if item:
            self.items += 1
            if self.items % self.cfg["wrong_every"] == 0:
                raw = self.rnd.choice(self.cfg["wrong_gtins"])
                while raw in task["gtins"]:
                    raw = self.rnd.choice(self.cfg["wrong_gtins"])
            else:
                raw = task["gtins"][0]
        msg = {"scan_id": str(uuid.uuid4()), "raw": raw, "task": task["task_id"]}
        t0 = time.perf_counter()
        try:
            ack = self.sio.call("scan", msg, namespace=NS, timeout=ACK_TIMEOUT)
        except socketio.exceptions.TimeoutError:
            self.out["timeouts"] += 1
            self.task = None
            return True
        self.out["lat_ms"].append((time.perf_counter() - t0) * 1000.0)
        if "error" in ack:
            self.out["errors"][ack["error"].get("code", "?")] += 1
            self.task = None          # ask the server what to do next
            return True
        self.out["verdict_acks"] += 1
        if ack["verdict"] != "ok" and raw in (task["location"], task["gtins"][0]) \
                and len(self.out["odd"]) < 5:      # the right scan, refused: say why
            self.out["odd"].append({"sent": msg, "task": task, "ack": ack})
        self.out["verdicts"][ack["verdict"]] = self.out["verdicts"].get(ack["verdict"], 0) + 1
        if ack["verdict"] == "ok" and item:
            self.out["ok_items"] += 1
        self.task = ack["next"]       # null: the cart is done, task.next claims another
        return True

    def run(self, start: float, deadline: float) -> None:
        period = self.cfg["period_s"]
        if period <= 0:
            while time.perf_counter() < deadline and self.scan_once():
                pass
            return
        at = start + self.rnd.uniform(0, period)
        while True:
            wait = min(at, deadline) - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
            if time.perf_counter() >= deadline or not self.scan_once():
                return
            at += period * self.rnd.uniform(0.75, 1.25)
            self.out["late"] += time.perf_counter() > at


def main() -> int:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    from collections import Counter
    out = {"lat_ms": [], "verdict_acks": 0, "ok_items": 0, "timeouts": 0, "task_next": 0,
           "out_of_work": 0, "late": 0, "errors": Counter(), "verdicts": {}, "connect_failed": 0,
           "odd": []}
    hands = [Handheld(i + cfg["first"], t, cfg, out) for i, t in enumerate(cfg["tokens"])]
    pool = gevent.pool.Pool(CONNECT_AT_ONCE)

    def connect(h):
        try:
            h.connect()
        except Exception as err:  # noqa: BLE001
            out["connect_failed"] += 1
            print(f"connect failed: {type(err).__name__}: {err}", file=sys.stderr)
    pool.map(connect, hands)
    print("ready", flush=True)
    line = b""
    while not line.endswith(b"\n"):
        chunk = tp_read(0, 64)
        if not chunk:
            return 1
        line += chunk
    start, cpu0 = time.perf_counter(), time.process_time()
    deadline = start + cfg["duration_s"]
    gevent.joinall([gevent.spawn(h.run, start, deadline) for h in hands if h.sio.connected])
    out["wall_s"] = time.perf_counter() - start
    out["cpu_s"] = time.process_time() - cpu0
    out["errors"] = dict(out["errors"])
    print(json.dumps(out), flush=True)
    # a clean sio.disconnect() waits on each socket's close handshake, one after another
    # (over a minute for 300): the process exits and the server sees the sockets close
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
