"""Migration 0010 on a database that already holds parcels, on SQLite and PostgreSQL:
shipment.weight_g becomes nullable (SQLite: the table rebuilt from its own definition),
pack_session gains hold_code/hold_params and print_job last_error_code/last_error_params,
with every row, index and foreign key kept."""
from __future__ import annotations

import re

import pytest

from ..floor import PRODUCTS, sid, station_floor

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
NAME = "0010_pack_floor"


@pytest.fixture
def floor(db_url, tmp_path):
    from server import clock
    yield station_floor(db_url, tmp_path)
    clock.set_clock(None)


def _shipped(floor) -> dict:
    """One order picked, packed (weighed), its label printed and dispatched: a shipment
    row and the outbox row that references it."""
    from server.jobs import print_worker
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():   # the shop wants to be told
        db.execute_sql("UPDATE channel SET callback_url = 'http://127.0.0.1:9/hook', "
                       "secret = 'shh' WHERE name = 'api'")
    floor.order("M-1", (("SOCK", 1),))
    floor.wave()
    floor.pick_all()
    api = lambda m, p, **kw: floor.api(m, p, floor.tokens["k1"], **kw)  # noqa: E731
    s = api("post", "/api/v1/pack/sessions", json={"station": "pack-1", "scan": "M-1"}
            ).get_json()
    api("post", f"/api/v1/pack/sessions/{s['id']}/scan", json={"scan_id": sid(),
                                                                "raw": GTIN["SOCK"]})
    grams = s["weight"]["expected_g"] + 7
    api("post", f"/api/v1/pack/sessions/{s['id']}/weight", json={"grams": grams})
    ship = api("post", f"/api/v1/pack/sessions/{s['id']}/confirm").get_json()["shipment"]
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    r = api("post", f"/api/v1/shipments/{ship['id']}/dispatch")
    assert r.status_code == 200, r.get_json()
    assert ship["weight_g"] == grams
    return ship


def _as_before_0010(db, postgres: bool) -> None:
    """Put the schema back as 0009 left it (the data stays)."""
    if postgres:
        db.execute_sql("ALTER TABLE shipment ALTER COLUMN weight_g SET NOT NULL")
    else:
        table = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'shipment'"
                               ).fetchone()[0]
        indexes = [r[0] for r in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'shipment' "
            "AND sql IS NOT NULL").fetchall()]
        old = table.replace("weight_g INTEGER,", "weight_g INTEGER NOT NULL DEFAULT 0,", 1)
        assert old != table
        db.execute_sql("PRAGMA foreign_keys = OFF")     # outside a transaction, as a rebuild must
        with db.atomic():
            db.execute_sql(re.sub(r'^CREATE TABLE\s+"?shipment"?', "CREATE TABLE shipment_old",
                                  old))
            db.execute_sql("INSERT INTO shipment_old SELECT * FROM shipment")
            db.execute_sql("DROP TABLE shipment")
            db.execute_sql("ALTER TABLE shipment_old RENAME TO shipment")
            for statement in indexes:
                db.execute_sql(statement)
        db.execute_sql("PRAGMA foreign_keys = ON")
    for table, column in (("pack_session", "hold_code"), ("pack_session", "hold_params"),
                          ("print_job", "last_error_code"), ("print_job", "last_error_params")):
        db.execute_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute_sql("DELETE FROM schema_migration WHERE name = %s" if postgres else
                   "DELETE FROM schema_migration WHERE name = ?", (NAME,))


def test_0010_keeps_every_parcel_and_its_outbox_row(floor, db_url):
    from peewee import IntegrityError

    from server.store import migrate
    from server.store.db import db
    ship = _shipped(floor)
    postgres = db_url.startswith("postgres")
    with floor.app.app_context(), db.connection_context():
        _as_before_0010(db, postgres)
        with pytest.raises(IntegrityError), db.atomic():
            db.execute_sql("UPDATE shipment SET weight_g = NULL")
        assert migrate.upgrade() == [NAME]
        rows = db.execute_sql("SELECT id, weight_g, tracking, state FROM shipment").fetchall()
        assert [tuple(r) for r in rows] == [(ship["id"], ship["weight_g"], ship["tracking"],
                                         "shipped")]
        assert db.execute_sql("SELECT shipment_id FROM outbox").fetchall()[0][0] == ship["id"]
        if not postgres:
            assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        # NULL is now allowed; the UNIQUE tracking number still holds
        with db.atomic():
            db.execute_sql("UPDATE shipment SET weight_g = NULL")
        with pytest.raises(IntegrityError), db.atomic():
            db.execute_sql(
                "INSERT INTO shipment (order_id, station, carrier, tracking, sscc, "
                "created_by, created_at) SELECT order_id, station, carrier, tracking, "
                "'000000000000000000', created_by, created_at FROM shipment")
        assert tuple(db.execute_sql("SELECT hold_code, hold_params FROM pack_session"
                                    ).fetchall()[0]) == ("", "")
        assert {tuple(r) for r in db.execute_sql(
            "SELECT last_error_code, last_error_params FROM print_job").fetchall()} == {("", "")}
    got = floor.api("get", f"/api/v1/shipments/{ship['id']}", floor.tokens["k1"]).get_json()
    assert (got["weight_g"], got["weighed"]) == (None, False)
