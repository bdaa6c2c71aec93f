"""Packing as people do it.

pack_session.hold_code / hold_params: why a session is held, as a code and its parameters
(JSON), so that each station page words it in its own language; hold_reason keeps the
English sentence for the API and the audit. print_job.last_error_code /
last_error_params likewise say why a label waits or failed (the printer's faults, a label
that may have printed), next to the English last_error.

A parcel confirmed without weighing is stored as unweighed: shipment.weight_g may be
NULL (it held the expected weight before, which read like a scale reading).

PostgreSQL drops the NOT NULL. SQLite cannot, so the table is rebuilt from its own stored
definition (whatever columns earlier migrations added stay), with its rows and indexes;
peewee's SQLite migrator runs it with foreign keys off (they must be, for a rebuild), so
the references to it (outbox) are checked here before the migration commits."""
import re

from peewee import PostgresqlDatabase

from server.store.dialect import run_ddl

_NOT_NULL = re.compile(r"weight_g\s+INTEGER\s+NOT\s+NULL\s+DEFAULT\s+0", re.IGNORECASE)


HOLD = """
ALTER TABLE pack_session ADD COLUMN hold_code VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE pack_session ADD COLUMN hold_params TEXT NOT NULL DEFAULT '';
ALTER TABLE print_job ADD COLUMN last_error_code VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE print_job ADD COLUMN last_error_params TEXT NOT NULL DEFAULT ''
"""


def up(migrator, db):
    run_ddl(db, HOLD)
    if isinstance(db, PostgresqlDatabase):
        run_ddl(db, "ALTER TABLE shipment ALTER COLUMN weight_g DROP NOT NULL")
        return
    table = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'shipment'").fetchone()[0]
    indexes = [r[0] for r in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'shipment' "
        "AND sql IS NOT NULL").fetchall()]
    new, n = _NOT_NULL.subn("weight_g INTEGER", table, count=1)
    if n != 1:
        raise RuntimeError("shipment.weight_g is not what migration 0005 made")
    new = re.sub(r"^CREATE TABLE\s+\"?shipment\"?", "CREATE TABLE shipment_0010", new)
    db.execute_sql(new)
    db.execute_sql("INSERT INTO shipment_0010 SELECT * FROM shipment")
    db.execute_sql("DROP TABLE shipment")
    db.execute_sql("ALTER TABLE shipment_0010 RENAME TO shipment")
    for statement in indexes:
        db.execute_sql(statement)
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the shipment rebuild: {broken[:5]}")
