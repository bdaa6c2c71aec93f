"""Reports (issue W5 §3-4): three fact tables the database keeps up to date itself, so a
report over a million scans reads a few thousand rows.

order_stage: one row per order with the time of each milestone (received, reserved,
waved, picked, packed, shipped, delivered), from the order's audit trail: a trigger on
`audit` notes every `order.received` / `order.status` row in the same transaction.
Re-waving and re-picking (after a short pick) keep the latest time; the others the first.

pick_stat / pack_stat: per quarter hour (bucket = epoch seconds / 900), person,
warehouse and channel, the counters of the pick scans (a trigger on `scan`: scans, non-ok
verdicts, tasks started, first pick scans and the ok ones, short picks, units) and of
the pack bench scans (a trigger on `pack_scan`: scans, non-ok verdicts, order lines
verified, units). A scan row is never updated, and a replayed scan is never inserted
(scan_id UNIQUE), so the counters are exact. "First" is decided against the task's own
earlier scans, which its row lock orders.

Triggers, not service code: every writer of these rows (the SQLite plan, the pipelined
PostgreSQL path, bulk intake) is covered without touching it, in its own transaction.
Existing rows are counted in by this migration (set at a time: backfill()). Indexes for
the reports that read the base tables (orders by placed time, returns by creation, an
order's pack sessions and their wrong items) close it.
"""
from peewee import PostgresqlDatabase

from server.store.dialect import run_ddl

TABLES = """
CREATE TABLE order_stage (
    order_id BIGINT NOT NULL PRIMARY KEY,
    received_at {ts}, reserved_at {ts}, waved_at {ts}, picked_at {ts}, packed_at {ts},
    shipped_at {ts}, delivered_at {ts});
CREATE INDEX order_stage_received ON order_stage (received_at);
CREATE INDEX order_stage_shipped ON order_stage (shipped_at);
CREATE TABLE pick_stat (
    bucket BIGINT NOT NULL, user_id BIGINT NOT NULL, warehouse_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    scans INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    tasks INTEGER NOT NULL DEFAULT 0, first INTEGER NOT NULL DEFAULT 0,
    first_ok INTEGER NOT NULL DEFAULT 0, shorts INTEGER NOT NULL DEFAULT 0,
    units INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, user_id, warehouse_id, channel_id));
CREATE TABLE pack_stat (
    bucket BIGINT NOT NULL, user_id BIGINT NOT NULL, warehouse_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    scans INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    lines INTEGER NOT NULL DEFAULT 0, units INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, user_id, warehouse_id, channel_id));
CREATE INDEX sales_order_placed ON sales_order (placed_at);
CREATE INDEX return_request_created ON return_request (created_at);
CREATE INDEX scan_task_kind ON scan (task_id, kind, id);
CREATE INDEX pack_scan_line ON pack_scan (session_id, order_line_id, id);
CREATE INDEX pack_session_order ON pack_session (order_id);
CREATE INDEX pack_scan_wrong_item ON pack_scan (session_id) WHERE verdict = 'wrong_item'
"""

# The trigger bodies: one inserted row (NEW) → its upsert. The same text in both dialects
# but for the quarter-hour bucket and the cast of audit.entity_id.
BUCKET = {"sqlite": "CAST(strftime('%s', {t}.received_at) AS INTEGER) / 900",
          "postgresql": "CAST(floor(extract(epoch FROM {t}.received_at) / 900) AS BIGINT)"}
BIGINT = {"sqlite": "INTEGER", "postgresql": "BIGINT"}

STAGE_WHEN = ("NEW.entity = 'order' AND NEW.action IN ('order.received', 'order.status')")
STAGE = """
INSERT INTO order_stage (order_id, received_at, reserved_at, waved_at, picked_at, packed_at,
                         shipped_at, delivered_at)
SELECT CAST(NEW.entity_id AS {bigint}),
    CASE WHEN NEW.action = 'order.received' THEN NEW.at END,
    CASE WHEN NEW.after = 'ready' THEN NEW.at END,
    CASE WHEN NEW.after = 'waved' THEN NEW.at END,
    CASE WHEN NEW.after = 'picked' THEN NEW.at END,
    CASE WHEN NEW.after = 'packed' THEN NEW.at END,
    CASE WHEN NEW.after = 'shipped' THEN NEW.at END,
    CASE WHEN NEW.after = 'delivered' THEN NEW.at END
WHERE NEW.entity_id <> ''
ON CONFLICT (order_id) DO UPDATE SET
    received_at = COALESCE(order_stage.received_at, excluded.received_at),
    reserved_at = COALESCE(order_stage.reserved_at, excluded.reserved_at),
    waved_at = COALESCE(excluded.waved_at, order_stage.waved_at),
    picked_at = COALESCE(excluded.picked_at, order_stage.picked_at),
    packed_at = COALESCE(order_stage.packed_at, excluded.packed_at),
    shipped_at = COALESCE(order_stage.shipped_at, excluded.shipped_at),
    delivered_at = COALESCE(order_stage.delivered_at, excluded.delivered_at)"""

PICK_WHEN = "NEW.task_id IS NOT NULL AND NEW.kind IN ('pick', 'short')"
_NO_EARLIER = ("NOT EXISTS (SELECT 1 FROM scan e WHERE e.task_id = NEW.task_id AND "
               "e.kind IN {kinds} AND e.id < NEW.id)")
PICK = """
INSERT INTO pick_stat (bucket, user_id, warehouse_id, channel_id, scans, errors, tasks, first,
                       first_ok, shorts, units)
SELECT {bucket}, COALESCE(NEW.user_id, 0), COALESCE(o.warehouse_id, 0), o.channel_id,
    CASE WHEN NEW.kind = 'pick' THEN 1 ELSE 0 END,
    CASE WHEN NEW.kind = 'pick' AND NEW.verdict <> 'ok' THEN 1 ELSE 0 END,
    CASE WHEN {first_any} THEN 1 ELSE 0 END,
    CASE WHEN NEW.kind = 'pick' AND {first_pick} THEN 1 ELSE 0 END,
    CASE WHEN NEW.kind = 'pick' AND NEW.verdict = 'ok' AND {first_pick} THEN 1 ELSE 0 END,
    CASE WHEN NEW.kind = 'short' THEN 1 ELSE 0 END,
    CASE WHEN NEW.kind = 'pick' THEN NEW.counted ELSE 0 END
FROM pick_task t JOIN sales_order o ON o.id = t.order_id WHERE t.id = NEW.task_id
ON CONFLICT (bucket, user_id, warehouse_id, channel_id) DO UPDATE SET
    scans = pick_stat.scans + excluded.scans, errors = pick_stat.errors + excluded.errors,
    tasks = pick_stat.tasks + excluded.tasks, first = pick_stat.first + excluded.first,
    first_ok = pick_stat.first_ok + excluded.first_ok,
    shorts = pick_stat.shorts + excluded.shorts, units = pick_stat.units + excluded.units"""

PACK_WHEN = "NEW.session_id IS NOT NULL"
PACK = """
INSERT INTO pack_stat (bucket, user_id, warehouse_id, channel_id, scans, errors, lines, units)
SELECT {bucket}, COALESCE(NEW.user_id, 0), COALESCE(o.warehouse_id, 0), o.channel_id, 1,
    CASE WHEN NEW.verdict <> 'ok' THEN 1 ELSE 0 END,
    CASE WHEN NEW.counted > 0 AND NEW.order_line_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pack_scan e WHERE e.session_id = NEW.session_id
        AND e.order_line_id = NEW.order_line_id AND e.counted > 0 AND e.id < NEW.id)
        THEN 1 ELSE 0 END,
    NEW.counted
FROM pack_session s JOIN sales_order o ON o.id = s.order_id WHERE s.id = NEW.session_id
ON CONFLICT (bucket, user_id, warehouse_id, channel_id) DO UPDATE SET
    scans = pack_stat.scans + excluded.scans, errors = pack_stat.errors + excluded.errors,
    lines = pack_stat.lines + excluded.lines, units = pack_stat.units + excluded.units"""


def triggers(dialect: str) -> list[tuple[str, str, str, str]]:
    """(name, table, condition, body) of the three triggers."""
    bucket = BUCKET[dialect].format(t="NEW")
    pick = PICK.format(bucket=bucket,
                       first_any=_NO_EARLIER.format(kinds="('pick', 'short')"),
                       first_pick=_NO_EARLIER.format(kinds="('pick')"))
    return [("audit_order_stage", "audit", STAGE_WHEN, STAGE.format(bigint=BIGINT[dialect])),
            ("scan_pick_stat", "scan", PICK_WHEN, pick),
            ("pack_scan_pack_stat", "pack_scan", PACK_WHEN, PACK.format(bucket=bucket))]


def create_triggers(db, dialect: str) -> None:
    for name, table, when, body in triggers(dialect):
        if dialect == "postgresql":
            db.execute_sql(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                           f"BEGIN {body}; RETURN NULL; END $$")
            db.execute_sql(f"CREATE TRIGGER {name} AFTER INSERT ON {table} FOR EACH ROW "
                           f"WHEN ({when}) EXECUTE FUNCTION {name}()")
        else:
            db.execute_sql(f"CREATE TRIGGER {name} AFTER INSERT ON {table} WHEN {when} "
                           f"BEGIN {body}; END")


# Counting in rows already there: the same counters, set at a time ("first" by row_number
# over the task's scans in id order). Also used by the report benchmark after it loads
# rows with the triggers off.
BACKFILL_STAGE = """
INSERT INTO order_stage (order_id, received_at, reserved_at, waved_at, picked_at, packed_at,
                         shipped_at, delivered_at)
SELECT CAST(entity_id AS {bigint}),
    MIN(CASE WHEN action = 'order.received' THEN at END),
    MIN(CASE WHEN after = 'ready' THEN at END), MAX(CASE WHEN after = 'waved' THEN at END),
    MAX(CASE WHEN after = 'picked' THEN at END), MIN(CASE WHEN after = 'packed' THEN at END),
    MIN(CASE WHEN after = 'shipped' THEN at END),
    MIN(CASE WHEN after = 'delivered' THEN at END)
FROM audit WHERE entity = 'order' AND action IN ('order.received', 'order.status')
    AND entity_id <> ''
GROUP BY CAST(entity_id AS {bigint})"""
BACKFILL_PICK = """
INSERT INTO pick_stat (bucket, user_id, warehouse_id, channel_id, scans, errors, tasks, first,
                       first_ok, shorts, units)
SELECT bucket, user_id, warehouse_id, channel_id, SUM(scans), SUM(errors), SUM(tasks),
       SUM(first), SUM(first_ok), SUM(shorts), SUM(units)
FROM (SELECT {bucket} AS bucket, COALESCE(x.user_id, 0) AS user_id,
        COALESCE(o.warehouse_id, 0) AS warehouse_id, o.channel_id AS channel_id,
        CASE WHEN x.kind = 'pick' THEN 1 ELSE 0 END AS scans,
        CASE WHEN x.kind = 'pick' AND x.verdict <> 'ok' THEN 1 ELSE 0 END AS errors,
        CASE WHEN x.any_rank = 1 THEN 1 ELSE 0 END AS tasks,
        CASE WHEN x.kind = 'pick' AND x.kind_rank = 1 THEN 1 ELSE 0 END AS first,
        CASE WHEN x.kind = 'pick' AND x.kind_rank = 1 AND x.verdict = 'ok' THEN 1 ELSE 0 END
            AS first_ok,
        CASE WHEN x.kind = 'short' THEN 1 ELSE 0 END AS shorts,
        CASE WHEN x.kind = 'pick' THEN x.counted ELSE 0 END AS units
      FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.task_id ORDER BY s.id) AS any_rank,
                   ROW_NUMBER() OVER (PARTITION BY s.task_id, s.kind ORDER BY s.id) AS kind_rank
            FROM scan s WHERE s.task_id IS NOT NULL AND s.kind IN ('pick', 'short')) x
      JOIN pick_task t ON t.id = x.task_id JOIN sales_order o ON o.id = t.order_id) y
GROUP BY bucket, user_id, warehouse_id, channel_id"""
BACKFILL_PACK = """
INSERT INTO pack_stat (bucket, user_id, warehouse_id, channel_id, scans, errors, lines, units)
SELECT bucket, user_id, warehouse_id, channel_id, COUNT(*), SUM(errors), SUM(lines),
       SUM(units)
FROM (SELECT {bucket} AS bucket, COALESCE(x.user_id, 0) AS user_id,
        COALESCE(o.warehouse_id, 0) AS warehouse_id, o.channel_id AS channel_id,
        CASE WHEN x.verdict <> 'ok' THEN 1 ELSE 0 END AS errors,
        CASE WHEN x.counted > 0 AND x.order_line_id IS NOT NULL AND x.line_rank = 1
             THEN 1 ELSE 0 END AS lines,
        x.counted AS units
      FROM (SELECT p.*, ROW_NUMBER() OVER (PARTITION BY p.session_id, p.order_line_id,
                                           p.counted > 0 ORDER BY p.id) AS line_rank
            FROM pack_scan p) x
      JOIN pack_session s ON s.id = x.session_id JOIN sales_order o ON o.id = s.order_id) y
GROUP BY bucket, user_id, warehouse_id, channel_id"""


def backfill(db, dialect: str) -> None:
    """Count every existing audit, scan and pack_scan row in (into empty fact tables)."""
    bucket = BUCKET[dialect].format(t="x")
    db.execute_sql(BACKFILL_STAGE.format(bigint=BIGINT[dialect]))
    db.execute_sql(BACKFILL_PICK.format(bucket=bucket))
    db.execute_sql(BACKFILL_PACK.format(bucket=bucket))


def up(migrator, db):
    dialect = "postgresql" if isinstance(db, PostgresqlDatabase) else "sqlite"
    run_ddl(db, TABLES)
    backfill(db, dialect)
    create_triggers(db, dialect)
