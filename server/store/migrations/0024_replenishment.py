"""Replenishment: a pick face's minimum and maximum, and the tasks that refill it.

stock.max_qty: the pick face's capacity for the SKU (0: not set). A stock row with
min_qty > 0 is a pick face of its SKU (a location holding several SKUs has a row, and so a
min and max, per SKU); a row with neither min nor max set is reserve stock.
replen_task: one refill of one pick face (stock row = location + SKU). At most ONE open
task per stock row, enforced by a partial UNIQUE index (both databases support it), so a
check that runs twice (two workers, a retry, the periodic sweep) never makes two.
exception_id: the `replenishment_needed` exception (the alert) opened with it, which closes
itself when the location is back at or above its minimum.
replen_move: each move done on a handheld (source stock row, target stock row, units, the
scan_id that made it; the scan itself is a row of `scan`, kind 'replenish', exactly once).
The partial index on stock serves the sweep: pick faces below their minimum.
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE stock ADD COLUMN max_qty INTEGER NOT NULL DEFAULT 0;
CREATE INDEX stock_pick_face ON stock (warehouse_id, product_id) WHERE min_qty > 0;

CREATE TABLE replen_task (
    id {pk}, warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    location_id BIGINT NOT NULL REFERENCES location(id),
    product_id BIGINT NOT NULL REFERENCES product(id),
    stock_id BIGINT NOT NULL REFERENCES stock(id),
    state VARCHAR(16) NOT NULL DEFAULT 'open',
    min_qty INTEGER NOT NULL, max_qty INTEGER NOT NULL,
    available_at_open INTEGER NOT NULL, suggested INTEGER NOT NULL,
    moved INTEGER NOT NULL DEFAULT 0,
    exception_id BIGINT REFERENCES wms_exception(id),
    assigned_to BIGINT REFERENCES app_user(id), assigned_at {ts},
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL,
    closed_by VARCHAR(120) NOT NULL DEFAULT '', closed_at {ts},
    close_reason VARCHAR(32) NOT NULL DEFAULT '', updated_at {ts} NOT NULL,
    CONSTRAINT replen_task_state CHECK (state IN ('open', 'done', 'cancelled')),
    CONSTRAINT replen_task_qty CHECK (suggested >= 0 AND moved >= 0));
CREATE UNIQUE INDEX replen_task_one_open ON replen_task (stock_id) WHERE state = 'open';
CREATE INDEX replen_task_state ON replen_task (state, warehouse_id, id);

CREATE TABLE replen_move (
    id {pk}, task_id BIGINT NOT NULL REFERENCES replen_task(id),
    from_stock_id BIGINT NOT NULL REFERENCES stock(id),
    to_stock_id BIGINT NOT NULL REFERENCES stock(id),
    quantity INTEGER NOT NULL, scan_id VARCHAR(64) NOT NULL UNIQUE,
    moved_by VARCHAR(120) NOT NULL, moved_at {ts} NOT NULL,
    CONSTRAINT replen_move_qty CHECK (quantity > 0));
CREATE INDEX replen_move_task ON replen_move (task_id, id)
"""


def up(migrator, db):
    run_ddl(db, DDL)
