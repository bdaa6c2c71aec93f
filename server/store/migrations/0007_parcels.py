"""Orders packed in several parcels: each verified unit records the parcel it went into
(NULL for units of sessions confirmed before this), so that a parcel's shipment and its
storefront fulfilment list exactly its own units."""
from server.store.dialect import run_ddl

DDL = "ALTER TABLE pack_unit ADD COLUMN parcel_no INTEGER"


def up(migrator, db):
    run_ddl(db, DDL)
