"""webhook_event becomes a durable inbox: the raw body is kept with a state, so a delivery
is acknowledged as soon as it is recorded and applied by a worker (and retried if that
fails) instead of inside the storefront's request."""
from peewee import PostgresqlDatabase

STATEMENTS = [
    "ALTER TABLE webhook_event ADD COLUMN body TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE webhook_event ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'done'",
    "ALTER TABLE webhook_event ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE webhook_event ADD COLUMN last_error TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE webhook_event ADD COLUMN available_at {ts}",
    "ALTER TABLE webhook_event ADD COLUMN processed_at {ts}",
    "CREATE INDEX webhook_event_pending ON webhook_event (state, id)",
]


def up(migrator, db):
    ts = "TIMESTAMP" if isinstance(db, PostgresqlDatabase) else "DATETIME"
    for statement in STATEMENTS:
        db.execute_sql(statement.format(ts=ts))
