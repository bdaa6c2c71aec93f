"""Background work shared by several processes (`wavepack worker`, `serve` with its
embedded workers): `worker_lease` holds a named lease on SQLite (one sender per printer:
taken by a guarded UPDATE or INSERT, renewed while held, free again once `expires_at`, in
epoch seconds, has passed; PostgreSQL uses session advisory locks instead), and `job_tick`
decides which process runs a scheduled job's tick (the INSERT that lands runs it), on both
databases."""
from server.store.dialect import run_ddl

DDL = """
CREATE TABLE worker_lease (
    name VARCHAR(200) NOT NULL PRIMARY KEY,
    holder VARCHAR(200) NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE job_tick (
    job VARCHAR(64) NOT NULL,
    tick BIGINT NOT NULL,
    holder VARCHAR(200) NOT NULL,
    started_at {ts} NOT NULL,
    PRIMARY KEY (job, tick))
"""


def up(migrator, db):
    run_ddl(db, DDL)
