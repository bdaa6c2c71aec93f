"""The exception queue: one life cycle for every kind of exception,
open → acknowledged → resolved | dismissed, with a severity (low < medium < high <
critical), the object it concerns (subject_kind order | shipment | bin | printer | channel |
return, its id and a human reference), an owner (a role, or `user:<badge>`), a due time
from the type's SLA (config `exceptions:`), the next time it escalates while overdue, the
resolution code and the times of each step. Notes are rows of wms_exception_note (author,
time, text).

Rows stored before this migration keep their state (open or resolved); their owner is
their owner_role and an order's exception names its order as subject. Indexes serve the
queue's list (newest first, by id, filtered by state, type, severity or owner) and the
escalation job (active rows whose next escalation is due)."""
from server.store.dialect import run_ddl

DDL = """
ALTER TABLE wms_exception ADD COLUMN severity VARCHAR(16) NOT NULL DEFAULT 'medium';
ALTER TABLE wms_exception ADD COLUMN subject_kind VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE wms_exception ADD COLUMN subject_id BIGINT;
ALTER TABLE wms_exception ADD COLUMN subject_ref VARCHAR(200) NOT NULL DEFAULT '';
ALTER TABLE wms_exception ADD COLUMN owner VARCHAR(120) NOT NULL DEFAULT 'supervisor';
ALTER TABLE wms_exception ADD COLUMN due_at {ts};
ALTER TABLE wms_exception ADD COLUMN escalate_at {ts};
ALTER TABLE wms_exception ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wms_exception ADD COLUMN created_by VARCHAR(120) NOT NULL DEFAULT '';
ALTER TABLE wms_exception ADD COLUMN acknowledged_at {ts};
ALTER TABLE wms_exception ADD COLUMN acknowledged_by VARCHAR(120) NOT NULL DEFAULT '';
ALTER TABLE wms_exception ADD COLUMN resolution VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE wms_exception ADD COLUMN updated_at {ts};

UPDATE wms_exception SET owner = owner_role, updated_at = COALESCE(resolved_at, created_at);
UPDATE wms_exception SET subject_kind = 'order', subject_id = order_id,
    subject_ref = COALESCE((SELECT o.ref FROM sales_order o WHERE o.id = wms_exception.order_id), '')
    WHERE order_id IS NOT NULL;
UPDATE wms_exception SET resolution = 'resolved' WHERE state = 'resolved';

CREATE TABLE wms_exception_note (
    id {pk}, exception_id BIGINT NOT NULL REFERENCES wms_exception(id),
    author VARCHAR(120) NOT NULL, at {ts} NOT NULL, note TEXT NOT NULL);
CREATE INDEX wms_exception_note_exc ON wms_exception_note (exception_id, id);

CREATE INDEX wms_exception_type ON wms_exception (type, state, id);
CREATE INDEX wms_exception_severity ON wms_exception (severity, state, id);
CREATE INDEX wms_exception_owner ON wms_exception (owner, state, id);
CREATE INDEX wms_exception_due ON wms_exception (state, due_at, id);
CREATE INDEX wms_exception_escalate ON wms_exception (escalate_at);
CREATE INDEX wms_exception_subject ON wms_exception (subject_kind, subject_id, state);
CREATE INDEX wms_exception_subject_ref ON wms_exception (subject_kind, subject_ref, state);
CREATE INDEX wms_exception_order ON wms_exception (order_id, type, state);
CREATE INDEX wms_exception_count ON wms_exception (count_task_id, state)
"""


def up(migrator, db):
    run_ddl(db, DDL)
