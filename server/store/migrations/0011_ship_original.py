"""The address as the customer typed it: intake normalises the country, postcode and phone
(upper case, the country's postcode layout, E.164) and keeps here, as a JSON object, the
original text of every field it changed ('' when nothing changed)."""
from server.store.dialect import run_ddl

DDL = "ALTER TABLE sales_order ADD COLUMN ship_original TEXT NOT NULL DEFAULT ''"


def up(migrator, db):
    run_ddl(db, DDL)
