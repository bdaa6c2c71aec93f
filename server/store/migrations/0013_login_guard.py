"""Badge login attempts counted in their own table, for known and unknown badges alike:
one row per badge text, claimed by one guarded UPDATE before the PIN is checked, so that
concurrent guesses cannot all read a count of 0 (they did on PostgreSQL), and an unknown
badge locks exactly like a real one (the lockout no longer tells which badges exist).
The counts kept on app_user so far are carried over; those columns are no longer used."""
from server.store.dialect import run_ddl

DDL = """
CREATE TABLE login_guard (
    badge VARCHAR(64) NOT NULL PRIMARY KEY,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked_until {ts},
    last_attempt_at {ts} NOT NULL);
CREATE INDEX login_guard_last_attempt ON login_guard (last_attempt_at);
INSERT INTO login_guard (badge, attempts, locked_until, last_attempt_at)
    SELECT badge, failed_logins, locked_until, created_at FROM app_user
    WHERE failed_logins > 0 OR locked_until IS NOT NULL
"""


def up(migrator, db):
    run_ddl(db, DDL)
