"""The durable print queue: one row per label sent to a printer.

A job is committed (`queued`) before a byte goes to the printer. `sending` means a worker
has claimed it and its bytes may be on the way; `accepted_at` is set (and committed) once
the printer took every byte, so after a crash a `sending` job tells whether the printer
can hold it (accepted) or may have got part of it (not accepted). `reprint_of` links an explicit, audited
reprint to the job it repeats.
"""
from server.store.dialect import run_ddl

DDL = """
CREATE TABLE print_job (
    id {pk}, station VARCHAR(64) NOT NULL, printer_url VARCHAR(255) NOT NULL,
    kind VARCHAR(16) NOT NULL, reference VARCHAR(120) NOT NULL DEFAULT '',
    zpl TEXT NOT NULL, state VARCHAR(16) NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
    created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    accepted_at {ts}, printed_at {ts},
    reprint_of BIGINT REFERENCES print_job(id), created_by VARCHAR(120) NOT NULL,
    CONSTRAINT print_job_state CHECK (state IN ('queued', 'sending', 'printed', 'failed')));
CREATE INDEX print_job_queue ON print_job (state, printer_url, id);
CREATE INDEX print_job_station ON print_job (station, id)
"""


def up(migrator, db):
    run_ddl(db, DDL)
