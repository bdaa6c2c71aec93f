"""Carrier services chosen through an explicit table, and customs data.

sales_order: `shipping_method` (the storefront's method as normalised keys, a JSON list,
most specific first), `carrier_service` (the id of the chosen service under
carrier_services: in config.yaml, '' until chosen), `carrier_source` (mapped | rule |
supervisor) and `hold_code` (why an on_hold order is held: risk_hold, carrier_unmapped,
customs_data_missing). product: `hs_code` and `origin_country` for customs declarations.
shipment: the service it went with.

Existing orders not yet packed get their stored carrier text as their method key, so the
table decides for them as for new ones; existing risk holds get hold_code risk_hold.
"""
import json
import re

from server.store.dialect import run_ddl

DDL = """
ALTER TABLE sales_order ADD COLUMN shipping_method TEXT NOT NULL DEFAULT '';
ALTER TABLE sales_order ADD COLUMN carrier_service VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE sales_order ADD COLUMN carrier_source VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE sales_order ADD COLUMN hold_code VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE product ADD COLUMN hs_code VARCHAR(10) NOT NULL DEFAULT '';
ALTER TABLE product ADD COLUMN origin_country VARCHAR(2) NOT NULL DEFAULT '';
ALTER TABLE shipment ADD COLUMN carrier_service VARCHAR(64) NOT NULL DEFAULT '';
UPDATE sales_order SET hold_code = 'risk_hold' WHERE status = 'on_hold' AND hold_reason <> ''
"""

_OPEN = ("received", "awaiting_payment", "on_hold", "invalid", "ready", "backordered",
         "waved", "picking", "picked")


def _key(text: str) -> str:      # as server.domain.carriers.normalise_key (frozen here)
    return re.sub(r"\s+", " ", text).strip().casefold()


def up(migrator, db):
    run_ddl(db, DDL)
    marks = ", ".join(["%s" if db.param == "%s" else "?"] * len(_OPEN))
    rows = db.execute_sql(f"SELECT id, carrier FROM sales_order WHERE carrier <> '' "
                          f"AND status IN ({marks})", _OPEN).fetchall()
    mark = "%s" if db.param == "%s" else "?"
    for oid, carrier in rows:
        db.execute_sql(f"UPDATE sales_order SET shipping_method = {mark} WHERE id = {mark}",
                       (json.dumps([_key(carrier)], ensure_ascii=False), oid))
