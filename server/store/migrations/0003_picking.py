"""Pick waves: waves, carts, totes, pick tasks and every handheld scan.

scan.scan_id is UNIQUE: a handheld's retry can never be counted twice, and the first
answer is kept (`response`) so that a replay gets it back unchanged.
tote.active_barcode holds the barcode only while its cart is open and is UNIQUE: one
physical tote cannot be bound to two open carts (NULLs never collide, on either database).
allocation.picked counts the units of a reservation already picked, so that an order
waved again (after a short pick was re-reserved) is only asked for the rest.
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE allocation ADD COLUMN picked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sales_order ADD COLUMN ship_by {ts};

CREATE TABLE wave (
    id {pk}, warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    status VARCHAR(16) NOT NULL, totes INTEGER NOT NULL, max_orders INTEGER,
    length_m DOUBLE PRECISION NOT NULL DEFAULT 0, fcfs_length_m DOUBLE PRECISION NOT NULL DEFAULT 0,
    sshape_length_m DOUBLE PRECISION NOT NULL DEFAULT 0, skipped TEXT NOT NULL DEFAULT '[]',
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL,
    released_at {ts}, done_at {ts}, cancelled_at {ts});
CREATE INDEX wave_status ON wave (status, id);

CREATE TABLE cart (
    id {pk}, wave_id BIGINT NOT NULL REFERENCES wave(id), seq INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'open', picker_id BIGINT REFERENCES app_user(id),
    length_m DOUBLE PRECISION NOT NULL DEFAULT 0, sshape_length_m DOUBLE PRECISION NOT NULL DEFAULT 0,
    route TEXT NOT NULL DEFAULT '[]', claimed_at {ts}, done_at {ts},
    UNIQUE (wave_id, seq));
CREATE INDEX cart_picker ON cart (picker_id, status);
CREATE INDEX cart_open ON cart (status, wave_id, seq);

CREATE TABLE tote (
    id {pk}, cart_id BIGINT NOT NULL REFERENCES cart(id), slot INTEGER NOT NULL,
    order_id BIGINT NOT NULL REFERENCES sales_order(id),
    barcode VARCHAR(64), active_barcode VARCHAR(64) UNIQUE, bound_at {ts},
    UNIQUE (cart_id, slot));

CREATE TABLE pick_task (
    id {pk}, wave_id BIGINT NOT NULL REFERENCES wave(id),
    cart_id BIGINT NOT NULL REFERENCES cart(id), tote_id BIGINT NOT NULL REFERENCES tote(id),
    order_id BIGINT NOT NULL REFERENCES sales_order(id),
    order_line_id BIGINT NOT NULL REFERENCES order_line(id),
    allocation_id BIGINT REFERENCES allocation(id), stock_id BIGINT NOT NULL REFERENCES stock(id),
    location_code VARCHAR(32) NOT NULL, product_id BIGINT NOT NULL REFERENCES product(id),
    sku VARCHAR(64) NOT NULL, seq INTEGER NOT NULL, quantity INTEGER NOT NULL,
    picked INTEGER NOT NULL DEFAULT 0, short INTEGER NOT NULL DEFAULT 0,
    status VARCHAR(16) NOT NULL DEFAULT 'open',
    location_confirmed {bool} NOT NULL DEFAULT {false}, updated_at {ts} NOT NULL,
    CONSTRAINT pick_task_counts CHECK (picked >= 0 AND picked + short <= quantity));
CREATE INDEX pick_task_cart ON pick_task (cart_id, status, seq);
CREATE INDEX pick_task_order ON pick_task (order_id, status);

CREATE TABLE scan (
    id {pk}, scan_id VARCHAR(64) NOT NULL UNIQUE, kind VARCHAR(16) NOT NULL,
    user_id BIGINT REFERENCES app_user(id), device VARCHAR(64) NOT NULL DEFAULT '',
    task_id BIGINT REFERENCES pick_task(id), cart_id BIGINT REFERENCES cart(id),
    raw TEXT NOT NULL, symbology VARCHAR(32) NOT NULL DEFAULT '',
    gtin VARCHAR(14), lot VARCHAR(40), expiry VARCHAR(10), serial VARCHAR(40),
    verdict VARCHAR(24) NOT NULL, counted INTEGER NOT NULL DEFAULT 0,
    request_hash CHAR(64) NOT NULL, response TEXT NOT NULL,
    scanned_at {ts}, received_at {ts} NOT NULL);
CREATE INDEX scan_user ON scan (user_id, received_at);
CREATE INDEX scan_task ON scan (task_id)
"""


def up(migrator, db):
    run_ddl(db, DDL)
