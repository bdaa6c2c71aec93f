"""number_range hands out tracking numbers, SSCCs and RMA numbers (store/db.py
bump_number_range). A range nobody used yet may be opened by two transactions at once —
the first confirms of a day at twenty stations (the soak, tests/bench/load, saw it: one
confirm answered 500 on the range's primary key): both get a number, one after the
other, and none is given twice."""
from __future__ import annotations

import threading
import time


def _step(last):
    serial = (last or 0) + 1
    return serial, serial


def _bump(app, name):
    from server.store.db import bump_number_range, db, write_tx
    with app.app_context(), db.connection_context(), write_tx():
        return bump_number_range(name, _step)


def test_numbers_of_a_range_follow_one_another(app):
    assert [_bump(app, "t") for _ in range(3)] == [1, 2, 3]
    assert _bump(app, "other") == 1


def test_a_new_range_opened_by_two_transactions_at_once_gives_each_a_number(app, db_url):
    if not db_url.startswith("postgres"):
        # SQLite: one writer at a time (write transactions are IMMEDIATE), no such race
        assert [_bump(app, "t"), _bump(app, "t")] == [1, 2]
        return
    import psycopg
    base, schema = db_url.split("?")[0], db_url.split("schema=")[1]
    got: list = []
    with psycopg.connect(base) as other:
        other.execute(f'SET search_path TO "{schema}"')
        # the other transaction opened the range and has not committed yet
        other.execute("INSERT INTO number_range (name, last_serial) VALUES ('t', 1)")

        def mine():
            try:
                got.append(_bump(app, "t"))
            except Exception as err:  # noqa: BLE001 - reported below
                got.append(err)
        t = threading.Thread(target=mine)
        t.start()
        time.sleep(0.5)                 # ours waits on the other's uncommitted row
        assert got == [] and t.is_alive()
        other.commit()
    t.join(10)
    assert got == [2], got
    assert _bump(app, "t") == 3
