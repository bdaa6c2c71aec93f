"""Cycle counts: a short pick no longer writes stock off; the bin is blocked for new
reservations (`location.blocked`, NULL when free) and counted instead.

count_task: one per count of one bin (a whole-bin count: every SKU there). At most one
OPEN count task per location, enforced by a partial UNIQUE index (both databases support
it), so two short picks at the same bin, or a short and a scheduled count, share one task.
count_line: what a finished count found, per SKU: the book figures before, the units
counted in the bin, the units picked from it but not yet shipped (still on its books), the
new on-hand and the variance, and how many reserved units the bin could not cover.
wms_exception.count_task_id: the count that settles a stock discrepancy (several short
picks at one bin share one count, which resolves all their exceptions).
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE location ADD COLUMN blocked VARCHAR(32);

CREATE TABLE count_task (
    id {pk}, warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    location_id BIGINT NOT NULL REFERENCES location(id),
    state VARCHAR(16) NOT NULL DEFAULT 'open', reason VARCHAR(32) NOT NULL,
    pick_task_id BIGINT REFERENCES pick_task(id),
    assigned_to BIGINT REFERENCES app_user(id), assigned_at {ts},
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL,
    counted_by VARCHAR(120), counted_at {ts},
    CONSTRAINT count_task_state CHECK (state IN ('open', 'done', 'cancelled')));
CREATE UNIQUE INDEX count_task_one_open ON count_task (location_id) WHERE state = 'open';
CREATE INDEX count_task_state ON count_task (state, warehouse_id, id);

CREATE TABLE count_line (
    id {pk}, count_task_id BIGINT NOT NULL REFERENCES count_task(id),
    stock_id BIGINT NOT NULL REFERENCES stock(id), sku VARCHAR(64) NOT NULL,
    on_hand_before INTEGER NOT NULL, reserved_before INTEGER NOT NULL,
    in_transit INTEGER NOT NULL, counted INTEGER NOT NULL, on_hand_after INTEGER NOT NULL,
    variance INTEGER NOT NULL, shortfall INTEGER NOT NULL DEFAULT 0,
    UNIQUE (count_task_id, stock_id),
    CONSTRAINT count_line_counted CHECK (counted >= 0));

ALTER TABLE wms_exception ADD COLUMN count_task_id BIGINT REFERENCES count_task(id)
"""


def up(migrator, db):
    run_ddl(db, DDL)
