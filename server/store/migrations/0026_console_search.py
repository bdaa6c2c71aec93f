"""The supervisors' console (issue 15 §1): order search and stock adjustments.

Indexes for order search (services/order_history.py), each answering one kind of query
by its own index with a keyset (`id < cursor ORDER BY id DESC`): an order's ref, the
customer's e-mail (lower-cased) and name (lower-cased, by prefix: byte order, COLLATE "C"
on PostgreSQL so that a range of the index is exactly the names that start with the
prefix), the SKU of a line (order_line (sku, order_id)). Tracking numbers
(shipment.tracking UNIQUE), phone keys (sales_order_phone) and return tracking numbers
already have one. audit (entity, entity_id, id) replaces audit (entity, entity_id): a
bin's movements page by audit id within one stock row (SQLite had the rowid in the index
already; PostgreSQL sorted every row of the entity). print_job (reference): an order's label and document jobs, for its
timeline.

stock_adjustment: a supervisor's correction of one bin's stock with a reason code and a
note; client_key UNIQUE makes a retried request answer the first result and change
nothing again. The audit row (stock.adjust) is written with it."""
from peewee import PostgresqlDatabase

from server.store.dialect import run_ddl

DDL = """
CREATE INDEX sales_order_ref ON sales_order (ref, id);
CREATE INDEX sales_order_email ON sales_order (lower(ship_email), id);
CREATE INDEX sales_order_name ON sales_order (lower(ship_name){collate_c}, id);
CREATE INDEX audit_entity_seq ON audit (entity, entity_id, id);
DROP INDEX audit_entity;
CREATE INDEX print_job_reference ON print_job (reference, id);
CREATE INDEX order_line_sku ON order_line (sku, order_id);
CREATE TABLE stock_adjustment (
    id {pk}, client_key VARCHAR(120) NOT NULL UNIQUE, request_hash CHAR(64) NOT NULL,
    warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    location_id BIGINT NOT NULL REFERENCES location(id),
    product_id BIGINT NOT NULL REFERENCES product(id),
    stock_id BIGINT NOT NULL REFERENCES stock(id),
    before_qty INTEGER NOT NULL, after_qty INTEGER NOT NULL,
    reason VARCHAR(32) NOT NULL, note TEXT NOT NULL DEFAULT '',
    orders_reserved INTEGER NOT NULL DEFAULT 0,
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL);
CREATE INDEX stock_adjustment_stock ON stock_adjustment (stock_id, id)
"""


def up(migrator, db):
    collate = ' COLLATE "C"' if isinstance(db, PostgresqlDatabase) else ""
    run_ddl(db, DDL.replace("{collate_c}", collate))
