"""Returns, exchanges and repairs (issue 14 §3).

return_request: one return merchandise authorisation (RMA UNIQUE) against an order (NULL for
an unannounced parcel nobody could match), from the API, a storefront webhook (`source`,
`external_id`: the storefront's own return / refund id, UNIQUE per channel when given) or
the returns station. kind refund | exchange | repair; status authorised → received →
closed, a repair received → in_repair → repaired → shipped_back, cancelled at any time
before closing. `return_tracking` is the barcode of the returns label we printed (NULL
until one is); `exchange_lines` the requested replacement lines (JSON), `exchange_order_id`
the outbound order made from them; `refund_outbox_id` the refund signal queued on close;
`exception_id` the exception an unannounced parcel opened.

return_line: what was authorised (quantity) and what came back (received), per SKU, the
order line it returns (NULL: an extra item found in the parcel, quantity 0), its grade
(resellable | damaged | missing_parts) and disposition (restock | quarantine | repair |
scrap), with the restock location and how many units were disposed of.
"""
from server.store.dialect import run_ddl

DDL = """
CREATE TABLE return_request (
    id {pk}, rma VARCHAR(32) NOT NULL UNIQUE,
    order_id BIGINT REFERENCES sales_order(id), channel_id BIGINT REFERENCES channel(id),
    kind VARCHAR(16) NOT NULL, status VARCHAR(16) NOT NULL DEFAULT 'authorised',
    reason TEXT NOT NULL DEFAULT '', source VARCHAR(16) NOT NULL DEFAULT 'api',
    external_id VARCHAR(64) NOT NULL DEFAULT '',
    return_tracking VARCHAR(64) UNIQUE, label_job_id BIGINT REFERENCES print_job(id),
    exchange_lines TEXT NOT NULL DEFAULT '', exchange_order_id BIGINT REFERENCES sales_order(id),
    refund_minor BIGINT, refund_outbox_id BIGINT REFERENCES outbox(id),
    exception_id BIGINT REFERENCES wms_exception(id),
    unannounced {bool} NOT NULL DEFAULT {false},
    created_by VARCHAR(120) NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    received_by VARCHAR(120) NOT NULL DEFAULT '', received_at {ts}, closed_at {ts},
    CONSTRAINT return_request_kind CHECK (kind IN ('refund', 'exchange', 'repair')),
    CONSTRAINT return_request_status CHECK (status IN ('authorised', 'received', 'in_repair',
        'repaired', 'shipped_back', 'closed', 'cancelled')));
CREATE INDEX return_request_order ON return_request (order_id, status);
CREATE INDEX return_request_status ON return_request (status, id);
CREATE UNIQUE INDEX return_request_external ON return_request (channel_id, external_id)
    WHERE external_id <> '';

CREATE TABLE return_line (
    id {pk}, return_id BIGINT NOT NULL REFERENCES return_request(id),
    line_no INTEGER NOT NULL, order_line_id BIGINT REFERENCES order_line(id),
    sku VARCHAR(64) NOT NULL, product_id BIGINT REFERENCES product(id),
    quantity INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',
    received INTEGER NOT NULL DEFAULT 0, grade VARCHAR(16) NOT NULL DEFAULT '',
    disposition VARCHAR(16) NOT NULL DEFAULT '', location_id BIGINT REFERENCES location(id),
    disposed INTEGER NOT NULL DEFAULT 0, disposed_by VARCHAR(120) NOT NULL DEFAULT '',
    disposed_at {ts},
    UNIQUE (return_id, line_no),
    CONSTRAINT return_line_quantities CHECK (quantity >= 0 AND received >= 0
        AND disposed >= 0 AND disposed <= received),
    CONSTRAINT return_line_grade CHECK (grade IN ('', 'resellable', 'damaged', 'missing_parts')),
    CONSTRAINT return_line_disposition CHECK (disposition IN ('', 'restock', 'quarantine',
        'repair', 'scrap')));
CREATE INDEX return_line_order_line ON return_line (order_line_id)
"""


def up(migrator, db):
    run_ddl(db, DDL)
