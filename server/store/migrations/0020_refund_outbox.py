"""The refund signal goes through the storefront outbox (issue 14 §3).

outbox.return_id: the return whose refund a message announces (NULL for shipment
messages). A refund message keeps the shipment_id of the order's (first) shipped parcel,
so the table keeps its NOT NULL shipment_id and its UNIQUE (shipment_id, kind): its kind
is `refund:<return id>`, one per return, and a partial UNIQUE index on return_id makes a
second refund message for one return impossible whatever its kind says. No table rebuild.
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE outbox ADD COLUMN return_id BIGINT REFERENCES return_request(id);
CREATE UNIQUE INDEX outbox_return ON outbox (return_id) WHERE return_id IS NOT NULL
"""


def up(migrator, db):
    run_ddl(db, DDL)
