"""product_gtin by product: every pick task and pack session reads a product's GTINs, and
without this index each such read scanned the whole table (one row per barcode of the
catalogue)."""
from server.store.dialect import run_ddl

DDL = "CREATE INDEX product_gtin_product ON product_gtin (product_id)"


def up(migrator, db):
    run_ddl(db, DDL)
