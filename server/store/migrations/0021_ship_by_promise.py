"""The ship-by promise (issue 14 §4). sales_order.ship_by exists since 0003 (a storefront
may send one); intake now computes it from the channel's cut-off time and working days when
the storefront sends none. ship_by_source says which: '' (none), 'storefront' or 'promise'.
at_risk_at: when the at-risk sweep found the order not picked N hours before its ship-by
(it is flagged once). The partial index serves that sweep: only orders not yet picked,
with a ship-by, not yet flagged are in it, so shipped history costs the sweep nothing."""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE sales_order ADD COLUMN ship_by_source VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE sales_order ADD COLUMN at_risk_at {ts};
UPDATE sales_order SET ship_by_source = 'storefront' WHERE ship_by IS NOT NULL;
CREATE INDEX sales_order_ship_by_open ON sales_order (ship_by)
    WHERE at_risk_at IS NULL AND ship_by IS NOT NULL AND status IN ({open})
"""
# orders not yet picked (services/notify.py NOT_PICKED; the sweep's query repeats this
# predicate word for word, so that both databases use the index)
OPEN = ("'received', 'awaiting_payment', 'on_hold', 'ready', 'backordered', 'waved', "
        "'picking'")


def up(migrator, db):
    run_ddl(db, DDL.replace("{open}", OPEN))
