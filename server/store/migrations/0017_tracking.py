"""Following the parcel: carrier tokens, tracking events, delivery.

api_token.carrier: the carrier a `carrier` token speaks for (kind 'carrier'; such a token
may only post tracking events). tracking_event: one carrier scan of a parcel, UNIQUE
(carrier, event_id) so a carrier (or feed) resending an event stores it once; `carrier` is
the token's carrier or `feed:NAME` for an AfterShip / 17TRACK feed. shipment: the state
of its latest event by occurred_at (`tracking_status`, `last_event_at`; events arriving
out of order never move it back), `quiet_since` (the last event, or the dispatch) and
`tracking_flag` ('' | delayed | lost) for the delay/loss sweep, `delivered_at`.
sales_order.delivered_at: when the (last) parcel was delivered.

`shipment_sweep` is a partial index over the shipments still travelling (shipped, neither
delivered nor returned), so the sweep reads only those that went quiet too long.
"""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE api_token ADD COLUMN carrier VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE shipment ADD COLUMN tracking_status VARCHAR(24) NOT NULL DEFAULT '';
ALTER TABLE shipment ADD COLUMN last_event_at {ts};
ALTER TABLE shipment ADD COLUMN quiet_since {ts};
ALTER TABLE shipment ADD COLUMN tracking_flag VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE shipment ADD COLUMN delivered_at {ts};
ALTER TABLE sales_order ADD COLUMN delivered_at {ts};
UPDATE shipment SET quiet_since = shipped_at WHERE state = 'shipped';
CREATE TABLE tracking_event (
    id {pk}, carrier VARCHAR(64) NOT NULL, event_id VARCHAR(128) NOT NULL,
    shipment_id BIGINT NOT NULL REFERENCES shipment(id),
    status VARCHAR(24) NOT NULL, occurred_at {ts} NOT NULL,
    location VARCHAR(300) NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
    received_at {ts} NOT NULL,
    UNIQUE (carrier, event_id),
    CONSTRAINT tracking_event_status CHECK (status IN ('picked_up', 'in_transit',
        'out_for_delivery', 'delivered', 'failed_attempt', 'returned_to_sender', 'exception')));
CREATE INDEX tracking_event_shipment ON tracking_event (shipment_id, occurred_at, id);
CREATE INDEX shipment_sweep ON shipment (tracking_flag, quiet_since, carrier_service)
    WHERE state = 'shipped' AND tracking_status NOT IN ('delivered', 'returned_to_sender')
"""


def up(migrator, db):
    run_ddl(db, DDL)
