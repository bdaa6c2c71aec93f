"""Initial schema: catalogue, warehouses, stock, channels, users, tokens, orders,
reservations, webhook dedupe, idempotency keys, audit, exceptions, alerts.

Written as DDL, not from the models, so that it stays frozen as the models grow.
CHECK (reserved <= on_hand) makes the database itself refuse an oversell.
"""
from server.store.dialect import run_ddl

TABLES = """
CREATE TABLE warehouse (
    id {pk}, code VARCHAR(32) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL,
    zone VARCHAR(32) NOT NULL DEFAULT '', created_at {ts} NOT NULL);

CREATE TABLE location (
    id {pk}, warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    code VARCHAR(32) NOT NULL, pick_seq INTEGER NOT NULL DEFAULT 0, created_at {ts} NOT NULL,
    UNIQUE (warehouse_id, code));

CREATE TABLE product (
    id {pk}, sku VARCHAR(64) NOT NULL UNIQUE, name VARCHAR(300) NOT NULL,
    weight_g INTEGER NOT NULL DEFAULT 0, length_mm INTEGER NOT NULL DEFAULT 0,
    width_mm INTEGER NOT NULL DEFAULT 0, height_mm INTEGER NOT NULL DEFAULT 0,
    flags VARCHAR(200) NOT NULL DEFAULT '', image_url VARCHAR(500) NOT NULL DEFAULT '',
    created_at {ts} NOT NULL);

CREATE TABLE product_gtin (
    id {pk}, product_id BIGINT NOT NULL REFERENCES product(id), gtin CHAR(14) NOT NULL UNIQUE);

CREATE TABLE stock (
    id {pk}, warehouse_id BIGINT NOT NULL REFERENCES warehouse(id),
    location_id BIGINT NOT NULL REFERENCES location(id),
    product_id BIGINT NOT NULL REFERENCES product(id),
    on_hand INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0,
    min_qty INTEGER NOT NULL DEFAULT 0, updated_at {ts} NOT NULL,
    UNIQUE (location_id, product_id),
    CONSTRAINT stock_no_oversell CHECK (reserved >= 0 AND reserved <= on_hand));
CREATE INDEX stock_product_wh ON stock (product_id, warehouse_id);

CREATE TABLE channel (
    id {pk}, name VARCHAR(64) NOT NULL UNIQUE, kind VARCHAR(16) NOT NULL,
    secret VARCHAR(200) NOT NULL DEFAULT '', previous_secret VARCHAR(200) NOT NULL DEFAULT '',
    secret_rotated_at {ts}, allow_split {bool} NOT NULL DEFAULT {false},
    currency VARCHAR(3) NOT NULL DEFAULT '', base_url VARCHAR(500) NOT NULL DEFAULT '',
    api_key VARCHAR(200) NOT NULL DEFAULT '', api_secret VARCHAR(200) NOT NULL DEFAULT '',
    callback_url VARCHAR(500) NOT NULL DEFAULT '', last_pulled_at {ts},
    created_at {ts} NOT NULL);

CREATE TABLE app_user (
    id {pk}, badge VARCHAR(64) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL DEFAULT '',
    role VARCHAR(16) NOT NULL, pin_hash VARCHAR(200) NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0, locked_until {ts},
    active {bool} NOT NULL DEFAULT {true}, created_at {ts} NOT NULL);

CREATE TABLE api_token (
    id {pk}, token_hash CHAR(64) NOT NULL UNIQUE, kind VARCHAR(16) NOT NULL,
    channel_id BIGINT REFERENCES channel(id), user_id BIGINT REFERENCES app_user(id),
    role VARCHAR(16) NOT NULL DEFAULT '', label VARCHAR(200) NOT NULL DEFAULT '',
    created_at {ts} NOT NULL, expires_at {ts}, revoked_at {ts});

CREATE TABLE sales_order (
    id {pk}, channel_id BIGINT NOT NULL REFERENCES channel(id),
    external_id VARCHAR(64) NOT NULL, ref VARCHAR(64) NOT NULL,
    status VARCHAR(24) NOT NULL, hold_reason TEXT NOT NULL DEFAULT '',
    warehouse_id BIGINT REFERENCES warehouse(id),
    currency VARCHAR(16) NOT NULL, paid {bool} NOT NULL DEFAULT {false},
    payment_method VARCHAR(64) NOT NULL DEFAULT '', priority INTEGER NOT NULL DEFAULT 0,
    placed_at {ts} NOT NULL,
    ship_name VARCHAR(200) NOT NULL DEFAULT '', ship_phone VARCHAR(40) NOT NULL DEFAULT '',
    ship_email VARCHAR(200) NOT NULL DEFAULT '',
    ship_address1 VARCHAR(300) NOT NULL DEFAULT '', ship_address2 VARCHAR(300) NOT NULL DEFAULT '',
    ship_city VARCHAR(120) NOT NULL DEFAULT '', ship_region VARCHAR(120) NOT NULL DEFAULT '',
    ship_postcode VARCHAR(20) NOT NULL DEFAULT '', ship_country VARCHAR(64) NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '', carrier VARCHAR(120) NOT NULL DEFAULT '',
    source VARCHAR(64) NOT NULL DEFAULT '',
    total_minor BIGINT, shipping_minor BIGINT NOT NULL DEFAULT 0,
    discount_minor BIGINT NOT NULL DEFAULT 0, problems TEXT NOT NULL DEFAULT '',
    phone_key VARCHAR(40) NOT NULL DEFAULT '', address_key VARCHAR(80) NOT NULL DEFAULT '',
    source_updated_at {ts}, created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    UNIQUE (channel_id, external_id));
CREATE INDEX sales_order_status ON sales_order (status, id);
CREATE INDEX sales_order_channel ON sales_order (channel_id, id);
CREATE INDEX sales_order_phone ON sales_order (phone_key, placed_at);
CREATE INDEX sales_order_address ON sales_order (address_key, placed_at);

CREATE TABLE order_line (
    id {pk}, order_id BIGINT NOT NULL REFERENCES sales_order(id),
    line_no INTEGER NOT NULL, sku VARCHAR(64) NOT NULL,
    product_id BIGINT REFERENCES product(id), name VARCHAR(300) NOT NULL DEFAULT '',
    external_id VARCHAR(64) NOT NULL DEFAULT '', quantity INTEGER NOT NULL,
    unit_price_minor BIGINT NOT NULL DEFAULT 0, line_total_minor BIGINT NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0, backordered INTEGER NOT NULL DEFAULT 0,
    picked INTEGER NOT NULL DEFAULT 0,
    UNIQUE (order_id, line_no));
CREATE INDEX order_line_backordered ON order_line (product_id, backordered);

CREATE TABLE allocation (
    id {pk}, order_line_id BIGINT NOT NULL REFERENCES order_line(id),
    stock_id BIGINT NOT NULL REFERENCES stock(id), quantity INTEGER NOT NULL,
    UNIQUE (order_line_id, stock_id),
    CONSTRAINT allocation_positive CHECK (quantity > 0));
CREATE INDEX allocation_stock ON allocation (stock_id);

CREATE TABLE webhook_event (
    id {pk}, channel_id BIGINT NOT NULL REFERENCES channel(id),
    event_key VARCHAR(200) NOT NULL, topic VARCHAR(64) NOT NULL DEFAULT '',
    outcome VARCHAR(200) NOT NULL DEFAULT '', received_at {ts} NOT NULL,
    UNIQUE (channel_id, event_key));

CREATE TABLE idempotency_key (
    id {pk}, channel_id BIGINT NOT NULL REFERENCES channel(id), key VARCHAR(200) NOT NULL,
    request_hash CHAR(64) NOT NULL, state VARCHAR(16) NOT NULL,
    status_code INTEGER, response_body TEXT, created_at {ts} NOT NULL,
    UNIQUE (channel_id, key));

CREATE TABLE audit (
    id {pk}, at {ts} NOT NULL, actor VARCHAR(120) NOT NULL, action VARCHAR(64) NOT NULL,
    entity VARCHAR(32) NOT NULL, entity_id VARCHAR(64) NOT NULL,
    before TEXT NOT NULL DEFAULT '', after TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_entity ON audit (entity, entity_id);

CREATE TABLE wms_exception (
    id {pk}, type VARCHAR(64) NOT NULL, order_id BIGINT REFERENCES sales_order(id),
    owner_role VARCHAR(16) NOT NULL DEFAULT 'supervisor', state VARCHAR(16) NOT NULL DEFAULT 'open',
    message TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
    created_at {ts} NOT NULL, resolved_at {ts}, resolved_by VARCHAR(120) NOT NULL DEFAULT '');
CREATE INDEX wms_exception_state ON wms_exception (state, id);

CREATE TABLE alert (
    id {pk}, kind VARCHAR(32) NOT NULL, warehouse_id BIGINT REFERENCES warehouse(id),
    location_id BIGINT REFERENCES location(id), product_id BIGINT REFERENCES product(id),
    state VARCHAR(16) NOT NULL DEFAULT 'open', message TEXT NOT NULL DEFAULT '',
    created_at {ts} NOT NULL, closed_at {ts});
CREATE INDEX alert_open ON alert (kind, state, location_id, product_id);
"""


def up(migrator, db):
    run_ddl(db, TABLES)
