"""Migration 0009 on a database that already has orders (SQLite and PostgreSQL): orders not
yet packed get their stored carrier text as their shipping-method key, existing risk holds
get hold_code risk_hold, packed orders and products keep working with empty new columns."""
from __future__ import annotations

import datetime as dt
import json
import uuid

ROWS = [  # ref, status, hold_reason, carrier
    ("OPEN-1", "ready", "", "  Royal Mail   Tracked 48 "),
    ("HELD-1", "on_hold", "order value 6000 GBP is above 5000", "DPD"),
    ("DONE-1", "shipped", "", "UPS"),
    ("NONE-1", "ready", "", ""),
]


def test_existing_orders_are_migrated(db_url, tmp_path):
    from playhouse.migrations import Runner

    from server.store.db import db, open_database
    from server.store.migrate import MIGRATIONS_DIR, upgrade
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/m9.db"
    else:    # a schema of its own, still empty: this test starts below the newest version
        url = db_url.split("?schema=")[0] + f"?schema=m9_{uuid.uuid4().hex[:8]}"
    before = db.obj
    db.initialize(open_database(url, pool_size=2))   # no app: create_app would upgrade
    try:
        _migrate_and_check(db, Runner, MIGRATIONS_DIR, upgrade)
    finally:
        db.obj.close_all() if hasattr(db.obj, "close_all") else None
        db.initialize(before)
    if not url.startswith("sqlite"):
        import psycopg
        schema = url.split("?schema=")[1]
        with psycopg.connect(url.split("?schema=")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _migrate_and_check(db, Runner, MIGRATIONS_DIR, upgrade) -> None:
    with db.connection_context():
        Runner(db.obj, directory=str(MIGRATIONS_DIR),
               table_name="schema_migration").up(target="0007_parcels")
        now = dt.datetime(2026, 12, 1, 12, 0)
        db.execute_sql("INSERT INTO channel (name, kind, created_at) VALUES ('api', 'native', "
                       f"{db.param})", (now,))
        db.execute_sql(f"INSERT INTO product (sku, name, created_at) VALUES ('P1', 'Mug', "
                       f"{db.param})", (now,))
        for ref, status, hold, carrier in ROWS:
            db.execute_sql(
                "INSERT INTO sales_order (channel_id, external_id, ref, status, hold_reason, "
                "currency, placed_at, carrier, created_at, updated_at) VALUES "
                f"(1, {db.param}, {db.param}, {db.param}, {db.param}, 'GBP', {db.param}, "
                f"{db.param}, {db.param}, {db.param})",
                (ref, ref, status, hold, now, carrier, now, now))
        assert "0009_carrier_services" in upgrade()
        got = {r[0]: r[1:] for r in db.execute_sql(
            "SELECT ref, shipping_method, carrier_service, hold_code FROM sales_order")}
        assert got["OPEN-1"] == (json.dumps(["royal mail tracked 48"]), "", "")
        assert got["HELD-1"] == (json.dumps(["dpd"]), "", "risk_hold")
        assert got["DONE-1"] == ("", "", "")           # already shipped: nothing to choose
        assert got["NONE-1"] == ("", "", "")           # named none: the rules choose
        assert db.execute_sql("SELECT sku, hs_code, origin_country FROM product").fetchall() \
            == [("P1", "", "")]                          # customs data to be imported
