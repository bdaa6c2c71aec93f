"""Packing stations, shipments and the storefront outbox.

pack_session: one packer at one station packing one order. At most one live (open or
held) session per order: a partial UNIQUE index, so two stations can never pack the same
order at once. pack_scan keeps every scan at the bench like `scan` does for picking
(scan_id UNIQUE, first answer in `response`, replayed unchanged). pack_unit is one
verified unit (its serial/lot/expiry, and its quality check when the product asks for
one). number_range hands out tracking and SSCC serials (one row per range, bumped inside
the shipment's transaction, so a number is never given twice). shipment: one parcel,
tracking and SSCC UNIQUE. outbox: one message per shipment and kind to the storefront,
UNIQUE (shipment, kind) so a fulfilment is queued once. printer_status: the last state
each print worker read from its printer, for the station pages.
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE sales_order ADD COLUMN invoice_requested {bool} NOT NULL DEFAULT {false};
CREATE TABLE pack_session (
    id {pk}, station VARCHAR(64) NOT NULL,
    order_id BIGINT NOT NULL REFERENCES sales_order(id),
    packer_id BIGINT NOT NULL REFERENCES app_user(id),
    state VARCHAR(16) NOT NULL DEFAULT 'open',
    opened_by_scan VARCHAR(120) NOT NULL DEFAULT '',
    carton VARCHAR(64), weight_g INTEGER,
    hold_reason TEXT NOT NULL DEFAULT '', held_at {ts}, released_by VARCHAR(120),
    created_at {ts} NOT NULL, updated_at {ts} NOT NULL, closed_at {ts},
    CONSTRAINT pack_session_state CHECK (state IN ('open', 'held', 'confirmed', 'cancelled')));
CREATE UNIQUE INDEX pack_session_live ON pack_session (order_id) WHERE state IN ('open', 'held');
CREATE INDEX pack_session_station ON pack_session (station, state, id);
CREATE TABLE pack_scan (
    id {pk}, scan_id VARCHAR(64) NOT NULL UNIQUE,
    session_id BIGINT NOT NULL REFERENCES pack_session(id),
    user_id BIGINT REFERENCES app_user(id), station VARCHAR(64) NOT NULL,
    kind VARCHAR(16) NOT NULL, raw TEXT NOT NULL,
    gtin VARCHAR(14), lot VARCHAR(40), expiry VARCHAR(10), serial VARCHAR(40),
    order_line_id BIGINT REFERENCES order_line(id),
    verdict VARCHAR(24) NOT NULL, counted INTEGER NOT NULL DEFAULT 0,
    request_hash CHAR(64) NOT NULL, response TEXT NOT NULL,
    scanned_at {ts}, received_at {ts} NOT NULL);
CREATE INDEX pack_scan_session ON pack_scan (session_id, id);
CREATE TABLE pack_unit (
    id {pk}, session_id BIGINT NOT NULL REFERENCES pack_session(id),
    order_line_id BIGINT NOT NULL REFERENCES order_line(id),
    scan_id BIGINT NOT NULL REFERENCES pack_scan(id),
    gtin VARCHAR(14), lot VARCHAR(40), expiry VARCHAR(10), serial VARCHAR(40),
    qc_state VARCHAR(16) NOT NULL DEFAULT 'none', qc_detail TEXT NOT NULL DEFAULT '',
    created_at {ts} NOT NULL, checked_at {ts},
    CONSTRAINT pack_unit_qc CHECK (qc_state IN ('none', 'pending', 'passed', 'failed')));
CREATE INDEX pack_unit_session ON pack_unit (session_id, order_line_id);
CREATE TABLE number_range (
    name VARCHAR(64) NOT NULL PRIMARY KEY, last_serial BIGINT NOT NULL);
CREATE TABLE shipment (
    id {pk}, order_id BIGINT NOT NULL REFERENCES sales_order(id),
    session_id BIGINT REFERENCES pack_session(id), station VARCHAR(64) NOT NULL,
    carrier VARCHAR(64) NOT NULL, service VARCHAR(120) NOT NULL DEFAULT '',
    tracking VARCHAR(64) NOT NULL UNIQUE, sscc CHAR(18) NOT NULL UNIQUE,
    carton VARCHAR(64) NOT NULL DEFAULT '', weight_g INTEGER NOT NULL DEFAULT 0,
    expected_weight_g INTEGER NOT NULL DEFAULT 0,
    parcel_no INTEGER NOT NULL DEFAULT 1, parcel_count INTEGER NOT NULL DEFAULT 1,
    label_job_id BIGINT REFERENCES print_job(id),
    state VARCHAR(16) NOT NULL DEFAULT 'packed',
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL, shipped_at {ts},
    UNIQUE (order_id, parcel_no),
    CONSTRAINT shipment_state CHECK (state IN ('packed', 'shipped', 'cancelled')));
CREATE TABLE outbox (
    id {pk}, channel_id BIGINT NOT NULL REFERENCES channel(id),
    shipment_id BIGINT NOT NULL REFERENCES shipment(id),
    kind VARCHAR(32) NOT NULL, payload TEXT NOT NULL,
    state VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at {ts} NOT NULL,
    last_error TEXT NOT NULL DEFAULT '', last_status INTEGER, remote_id VARCHAR(120),
    created_at {ts} NOT NULL, updated_at {ts} NOT NULL, sent_at {ts},
    UNIQUE (shipment_id, kind),
    CONSTRAINT outbox_state CHECK (state IN ('pending', 'sending', 'sent', 'failed')));
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
CREATE TABLE printer_status (
    name VARCHAR(64) NOT NULL PRIMARY KEY, url VARCHAR(255) NOT NULL,
    state VARCHAR(24) NOT NULL, detail TEXT NOT NULL DEFAULT '',
    checked_at {ts} NOT NULL)
"""


def up(migrator, db):
    run_ddl(db, DDL)
