"""W9: a big CSV import neither rescans every earlier order per new one (same-contact
orders were quadratic) nor holds the server while it runs (one 100,000-row import froze
every request and scan for 847 s)."""
from __future__ import annotations

import datetime as dt
import gc
import json
import re
import threading
import urllib.request

import pytest

from server.services import csv_import, intake
from server.store import db as store_db
from server.store.models import Channel
from server.settings import current

from ..conftest import make_app, wavepack_serve
from ..factories import seed

HEAD = ("order_ref,channel,sku,quantity,unit_price,currency,ship_name,ship_phone,"
        "ship_address1,ship_city,ship_postcode,ship_country,placed_at")


def _csv(n: int, *, phone=lambda i: "+447700900101", minutes=lambda i: i) -> bytes:
    t0 = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.timezone.utc)
    rows = [HEAD] + [
        f"R-{i:06d},web,WP-TEE-BLK-M,1,24.00,GBP,Ann Test {i},{phone(i)},{i} Granby Street,"
        f"Leicester,LE1 6EJ,GB,{(t0 + dt.timedelta(minutes=minutes(i))).isoformat()}"
        for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def _native_channel():
    return Channel.get(Channel.kind == "native")


def test_same_contact_rule_holds_across_chunks_reading_stored_orders_once(db_url, monkeypatch):
    """Orders to one phone, 20 minutes apart, imported in chunks of 4: each order counts the
    ones in the hour before it (stored earlier or earlier in this file) — the 4th within an
    hour is held with a limit of 3 — and stored orders are read once for the whole file."""
    app = make_app(db_url, risk={"max_orders_per_contact_per_hour": 3},
                   intake={"bulk_chunk_orders": 4})
    reads = []
    real = intake._stored_contacts
    monkeypatch.setattr(intake, "_stored_contacts", lambda *a: reads.append(a) or real(*a))
    seed(app, stock=1000)
    with app.app_context(), store_db.db.connection_context():
        ch = _native_channel()
        # two earlier orders to the same phone, already stored, 10 and 30 min before the file
        before = _csv(2, minutes=lambda i: -30 + 20 * i).replace(b"R-0000", b"S-0000")
        csv_import.import_orders_csv(before, ch, "test", settings=current())
        reads.clear()
        report = csv_import.import_orders_csv(_csv(12, minutes=lambda i: 20 * i), ch, "test",
                                              settings=current())
    assert len(reads) == 1                       # one read of stored contacts per import
    held = [r["order_ref"] for r in report.lines if r.get("hold_reasons")]
    # R-0 (0 min) has S-0 (-30) and S-1 (-10) in its hour: the 3rd, not held; R-1 (+20) has
    # S-0, S-1 and R-0: the 4th → held; every later one has the three before it in its hour
    assert held == [f"R-{i:06d}" for i in range(1, 12)], held
    assert report.created == 12


def test_an_import_never_lets_others_run_inside_its_transaction(db_url, monkeypatch):
    """Between chunks the import yields (to every ready greenlet under gevent) and only
    there, with no transaction open; a chunk shrinks toward intake.max_write_ms."""
    app = make_app(db_url, intake={"max_write_ms": 0.001})
    seed(app, stock=1000)
    seen = []
    monkeypatch.setattr(intake, "let_others_run",
                        lambda: seen.append(store_db.db.transaction_depth()))
    sizes = []
    real = intake._with_retries
    monkeypatch.setattr(intake, "_with_retries",
                        lambda ch, part, *a: sizes.append(len(part)) or real(ch, part, *a))
    with app.app_context(), store_db.db.connection_context():
        report = csv_import.import_orders_csv(
            _csv(200, phone=lambda i: f"+4477009{i:05d}"), _native_channel(), "test",
            settings=current())
    assert report.created == 200 and sum(sizes) == 200
    if db_url.startswith("postgres"):        # no one write lock: fixed chunks after the first
        assert sizes == [intake.MIN_CHUNK, intake.PG_CHUNK, 200 - intake.MIN_CHUNK
                         - intake.PG_CHUNK], sizes
    else:                                    # each chunk over 0.001 ms: the smallest ones
        assert sizes[0] == intake.MIN_CHUNK and set(sizes) == {intake.MIN_CHUNK}, sizes
    assert len(seen) >= len(sizes) - 1 and set(seen) == {0}


def test_server_answers_while_a_big_import_runs(tmp_path, db_url):
    """A real `wavepack serve` (gevent): /healthz keeps answering while a 4,000-order CSV
    import is in flight (before the fix the import held the event loop: no answer at all
    until it ended). Counted, not timed: answers that came back before the import did."""
    pg = db_url.startswith("postgres")
    if pg:
        make_app(db_url)
    with wavepack_serve(tmp_path / "data", "--demo", db_url=db_url if pg else None) as srv:
        token = re.search(r"demo-api channel: (wpc_\S+)", srv.banner).group(1)
        body = _csv(4000, phone=lambda i: f"+4477009{i:05d}")
        boundary = "wpbound"
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"o.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() + body + \
            f"\r\n--{boundary}--\r\n".encode()
        done = threading.Event()
        result = {}

        def upload():
            req = urllib.request.Request(
                srv.base + "/api/v1/orders:import", data=form, method="POST",
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": f"multipart/form-data; boundary={boundary}"})
            with urllib.request.urlopen(req, timeout=600) as resp:
                result["status"], result["body"] = resp.status, json.loads(resp.read())
            done.set()

        t = threading.Thread(target=upload)
        t.start()
        answered_during = 0
        while not done.is_set():
            with urllib.request.urlopen(srv.base + "/healthz", timeout=600) as resp:
                assert resp.status == 200
            if not done.is_set():
                answered_during += 1
        t.join()
    assert result["status"] == 201 and result["body"]["created"] == 4000
    assert answered_during >= 3, answered_during


def test_a_big_import_runs_no_full_garbage_collection(db_url, monkeypatch):
    """A full collection walks every object alive, with 100,000 orders the import's own
    drafts (~250 ms of CPU, every request and scan of the server stopped): while a big
    import runs, automatic collection is off and only the young generations are collected,
    between parts; it is back on once the import and its report are done, also after
    an import that failed."""
    app = make_app(db_url)
    seed(app, stock=1000)
    monkeypatch.setattr(intake, "YOUNG_GC_FROM", 50)
    generations, enabled, counting = [], [], []
    real = intake._with_retries
    monkeypatch.setattr(intake, "_with_retries",
                        lambda *a: enabled.append(gc.isenabled()) or real(*a))
    count = csv_import._count       # the report of the results: still without full ones
    monkeypatch.setattr(csv_import, "_count",
                        lambda *a: counting.append(gc.isenabled()) or count(*a))

    def seen(phase, info):
        if phase == "start":
            generations.append(info["generation"])
    assert gc.isenabled()
    gc.callbacks.append(seen)
    try:
        with app.app_context(), store_db.db.connection_context():
            report = csv_import.import_orders_csv(
                _csv(200, phone=lambda i: f"+4477009{i:05d}"), _native_channel(), "test",
                settings=current())
    finally:
        gc.callbacks.remove(seen)
    assert report.created == 200 and gc.isenabled()
    assert len(enabled) > 1 and not any(enabled), enabled       # off in every chunk …
    assert len(counting) == 200 and not any(counting)           # … and in the report
    # young ones between parts (and none full: a gen-0 one may come before or after)
    assert 2 not in generations and generations.count(1) >= len(enabled) - 1, generations

    def broken(*a):
        assert not gc.isenabled()
        raise RuntimeError("database gone")
    monkeypatch.setattr(intake, "_with_retries", broken)
    with app.app_context(), store_db.db.connection_context(), \
            pytest.raises(RuntimeError, match="database gone"):
        csv_import.import_orders_csv(_csv(60, phone=lambda i: f"+4477010{i:05d}"),
                                     _native_channel(), "test", settings=current())
    assert gc.isenabled()
