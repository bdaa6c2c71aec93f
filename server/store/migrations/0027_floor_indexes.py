"""The supervisors' floor view (GET /api/v1/floor, services/floor.py) reads the last hour of
pick scans for every picker at once: without an index on scan.received_at that read would
scan every scan ever stored (scan_user leads with the user)."""
from server.store.dialect import run_ddl

DDL = "CREATE INDEX scan_received ON scan (received_at)"


def up(migrator, db):
    run_ddl(db, DDL)
