"""Customer notifications travel through the outbox (issue 14 §4): a message may concern
an order (or a return) without a shipment, so outbox.shipment_id may be NULL; outbox.order_id
names the order, and outbox.dedupe_key (UNIQUE) makes each notification exactly once:
'<kind>:<object id>' (e.g. 'notify.received:order:42', 'notify.shipped:shipment:7').

PostgreSQL drops the NOT NULL. SQLite cannot: the table is rebuilt from its own stored
definition (columns added by other migrations stay) with its rows and indexes, as 0010 did
for shipment; references to outbox are checked before the migration commits. Either step
is skipped when an earlier migration already did it."""
import re

from peewee import PostgresqlDatabase

from server.store.dialect import rebuild_sqlite_table, run_ddl

_NOT_NULL = re.compile(r"shipment_id\s+BIGINT\s+NOT\s+NULL", re.IGNORECASE)


def _columns(db, postgres: bool) -> set[str]:
    if postgres:
        return {r[0] for r in db.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'outbox' "
            "AND table_schema = current_schema()").fetchall()}
    return {r[1] for r in db.execute_sql("PRAGMA table_info(outbox)").fetchall()}


def up(migrator, db):
    postgres = isinstance(db, PostgresqlDatabase)
    have = _columns(db, postgres)
    if "order_id" not in have:
        run_ddl(db, "ALTER TABLE outbox ADD COLUMN order_id BIGINT REFERENCES sales_order(id)")
    if "dedupe_key" not in have:
        run_ddl(db, "ALTER TABLE outbox ADD COLUMN dedupe_key VARCHAR(200)")
    run_ddl(db, "CREATE UNIQUE INDEX outbox_dedupe_key ON outbox (dedupe_key)")
    if postgres:
        run_ddl(db, "ALTER TABLE outbox ALTER COLUMN shipment_id DROP NOT NULL")
        return
    rebuild_sqlite_table(db, "outbox", _nullable)


def _nullable(stored: str) -> str | None:
    new, n = _NOT_NULL.subn("shipment_id BIGINT", stored, count=1)
    return new if n == 1 else None          # None: already nullable
