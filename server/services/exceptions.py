"""The exception queue: every failure a person must act on, one table and one life cycle.

    open → acknowledged → resolved | dismissed      (open → resolved | dismissed directly too)

An exception has a type, a severity (low < medium < high < critical), the object it
concerns (subject: order, shipment, bin, printer, channel or return, with its id and a
human reference), an owner (a role, or `user:<badge>`), a due time from its type's SLA
(config `exceptions:`), notes (wms_exception_note), a resolution code and the time of each
step. Every source raises through open_exception (or open_many, for a batch); sources
that settle by themselves close theirs (resolve_for_order, resolve_for_count,
resolve_for_subject). Every change is audited.

An exception still active past its due time is overdue; escalate_overdue (a scheduled job)
raises its severity one step once per SLA period overdue and publishes
"exception.escalated" after the commit (the supervisors' console hears it).
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Iterable, Sequence

from .. import clock, events
from ..config import Config
from ..config_exceptions import SEVERITIES, ExceptionsConfig, valid_owner
from ..domain.errors import BadRequest, BadTransition, Forbidden, NotFound
from ..store.bulk import insert_returning, select_in
from ..store.db import execute, write_tx
from . import audit

STATES = ("open", "acknowledged", "resolved", "dismissed")
ACTIVE = ("open", "acknowledged")
SUBJECT_KINDS = ("order", "shipment", "bin", "printer", "channel", "return")
EXCEPTION_ESCALATED = "exception.escalated"
NOTE_MAX = 4000
PAGE_MAX = 200

Subject = tuple  # (kind, id | None, ref)

# the SLA table used when a caller passes no settings (the running app's: install())
_installed = ExceptionsConfig()


def install(cfg: ExceptionsConfig) -> None:
    """The SLA table of this process (the app factory installs its config's), for the
    callers of open_exception that pass no settings."""
    global _installed
    _installed = cfg


def _slas(settings: Config | None) -> ExceptionsConfig:
    return settings.exceptions if settings is not None else _installed


_ACTIVE_SQL = "state IN ('open', 'acknowledged')"

_COLUMNS = ("type", "order_id", "owner_role", "state", "message", "detail", "created_at",
            "count_task_id", "severity", "subject_kind", "subject_id", "subject_ref", "owner",
            "due_at", "escalate_at", "created_by", "updated_at")


def _row(type_: str, message: str, *, order_id: int | None, detail: object, owner_role: str,
         at: dt.datetime, actor: str, count_task_id: int | None, severity: str | None,
         subject: Subject | None, owner: str | None, slas: ExceptionsConfig) -> tuple:
    sla = slas.sla(type_)
    severity = severity or sla.severity
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r}")
    if owner is None:
        owner = sla.owner if owner_role == "supervisor" else owner_role
    if subject is None and order_id is not None:
        subject = ("order", order_id, "")
    kind, sid, ref = subject if subject is not None else ("", None, "")
    if kind and kind not in SUBJECT_KINDS:
        raise ValueError(f"subject kind {kind!r}")
    if kind == "order" and not ref and sid is not None:
        got = execute("SELECT ref FROM sales_order WHERE id = ?", (sid,)).fetchone()
        ref = got[0] if got else ""
    due = at + sla.period
    text = json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else ""
    role = owner if owner in ("picker", "packer", "supervisor", "admin") else owner_role
    return (type_, order_id, role[:16], "open", message, text, at, count_task_id, severity,
            kind, sid, str(ref or "")[:200], owner[:120], due, due, actor[:120], at)


def open_exception(type_: str, message: str, *, order_id: int | None = None,
                   detail: object = None, owner_role: str = "supervisor",
                   now: dt.datetime, actor: str = "system",
                   count_task_id: int | None = None, severity: str | None = None,
                   subject: Subject | None = None, owner: str | None = None,
                   settings: Config | None = None) -> int:
    """Open one exception (inside the caller's transaction) and return its id. Severity,
    owner and due time come from the type's SLA unless given; the subject defaults to the
    order when one is named."""
    return open_many([dict(type_=type_, message=message, order_id=order_id, detail=detail,
                           owner_role=owner_role, count_task_id=count_task_id,
                           severity=severity, subject=subject, owner=owner)],
                     now=now, actor=actor, settings=settings)[0]


def open_many(items: Sequence[dict], *, now: dt.datetime, actor: str = "system",
              settings: Config | None = None) -> list[int]:
    """Open several exceptions at once (an import's invalid orders, a batch of holds):
    each item has the keyword arguments of open_exception (type_, message, order_id, …).
    Returns their ids in order."""
    if not items:
        return []
    at = clock.naive_utc(now)
    slas = _slas(settings)
    rows = [_row(i["type_"], i.get("message", ""), order_id=i.get("order_id"),
                 detail=i.get("detail"), owner_role=i.get("owner_role") or "supervisor",
                 at=at, actor=actor, count_task_id=i.get("count_task_id"),
                 severity=i.get("severity"), subject=i.get("subject"), owner=i.get("owner"),
                 slas=slas) for i in items]
    ids = [r[0] for r in insert_returning("wms_exception", _COLUMNS, rows, ("id",))]
    audit.write([audit.row(now, actor, "exception.open", "exception", eid, "", "open",
                           {"type": r[0], "order": r[1], "severity": r[8],
                            "subject": [r[9], r[10], r[11]], "owner": r[12]})
                 for eid, r in zip(ids, rows)])
    return ids


# ---- closing by themselves -------------------------------------------------------------------

def _close(ids: list[int], actor: str, now: dt.datetime, resolution: str,
           detail: dict | None = None, state: str = "resolved") -> list[int]:
    if not ids:
        return []
    at = clock.naive_utc(now)
    got = select_in("SELECT id, state FROM wms_exception WHERE id IN ({in}) AND "
                    + _ACTIVE_SQL, ids)
    before = dict(got)
    execute_ids = sorted(before)
    if not execute_ids:
        return []
    for chunk in (execute_ids[i:i + 500] for i in range(0, len(execute_ids), 500)):
        marks = ", ".join("?" for _ in chunk)
        execute(f"UPDATE wms_exception SET state = ?, resolved_at = ?, resolved_by = ?, "
                f"resolution = ?, escalate_at = NULL, updated_at = ? "
                f"WHERE id IN ({marks}) AND {_ACTIVE_SQL}",
                (state, at, actor[:120], resolution[:64], at, *chunk))
    audit.write([audit.row(now, actor, f"exception.{'resolve' if state == 'resolved' else 'dismiss'}",
                           "exception", i, before[i], state,
                           {"resolution": resolution, **(detail or {})}) for i in execute_ids])
    return execute_ids


def resolve_for_order(order_id: int, type_: str, actor: str, now: dt.datetime,
                      resolution: str = "released") -> list[int]:
    """Resolve the order's active exceptions of this type (a hold released); their ids."""
    ids = [r[0] for r in execute(
        "SELECT id FROM wms_exception WHERE order_id = ? AND type = ? AND " + _ACTIVE_SQL,
        (order_id, type_)).fetchall()]
    return _close(ids, actor, now, resolution)


def resolve_for_count(count_task_id: int, actor: str, now: dt.datetime,
                      detail: object = None) -> list[int]:
    """Resolve the active exceptions a cycle count settles (stock discrepancies at its bin);
    returns their ids."""
    ids = [r[0] for r in execute(
        "SELECT id FROM wms_exception WHERE count_task_id = ? AND " + _ACTIVE_SQL
        + " ORDER BY id", (count_task_id,)).fetchall()]
    return _close(ids, actor, now, "counted", {"count": count_task_id, **(detail or {})})


def resolve_for_subject(kind: str, types: Iterable[str], actor: str, now: dt.datetime, *,
                        subject_id: int | None = None, ref: str | None = None,
                        resolution: str = "recovered") -> list[int]:
    """Resolve the active exceptions of these types about one subject (by id or by ref):
    a printer that is ready again, an outbox message finally sent."""
    types = list(types)
    where, params = "subject_kind = ? AND type IN (%s) AND " % ", ".join("?" for _ in types) \
        + _ACTIVE_SQL, [kind, *types]
    if subject_id is not None:
        where += " AND subject_id = ?"
        params.append(subject_id)
    if ref is not None:
        where += " AND subject_ref = ?"
        params.append(ref)
    ids = [r[0] for r in execute("SELECT id FROM wms_exception WHERE " + where, params)]
    return _close(ids, actor, now, resolution)


def active_exists(kind: str, type_: str, *, subject_id: int | None = None,
                  ref: str | None = None) -> bool:
    where, params = "subject_kind = ? AND type = ? AND " + _ACTIVE_SQL, [kind, type_]
    if subject_id is not None:
        where += " AND subject_id = ?"
        params.append(subject_id)
    if ref is not None:
        where += " AND subject_ref = ?"
        params.append(ref)
    return execute("SELECT 1 FROM wms_exception WHERE " + where + " LIMIT 1",
                   params).fetchone() is not None


# ---- what people do --------------------------------------------------------------------------

_FIELDS = ("id", "type", "severity", "state", "subject_kind", "subject_id", "subject_ref",
           "owner", "due_at", "created_at", "resolution", "message", "detail", "order_id",
           "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "updated_at",
           "escalations", "created_by")
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM wms_exception"


def _iso(value) -> str | None:
    t = clock.aware_utc(value)
    return t.isoformat() if t is not None else None


def _view(row: Sequence, notes: list[dict], now: dt.datetime) -> dict:
    r = dict(zip(_FIELDS, row))
    due = clock.aware_utc(r["due_at"])
    try:
        detail = json.loads(r["detail"]) if r["detail"] else None
    except ValueError:
        detail = r["detail"]
    return {
        "id": r["id"], "type": r["type"], "severity": r["severity"], "state": r["state"],
        "subject": {"kind": r["subject_kind"] or None, "id": r["subject_id"],
                    "ref": r["subject_ref"] or None},
        "owner": r["owner"], "due_at": _iso(due),
        "overdue": r["state"] in ACTIVE and due is not None and due < now,
        "created_at": _iso(r["created_at"]), "notes": notes,
        "resolution": r["resolution"] or None,
        "message": r["message"], "detail": detail, "order_id": r["order_id"],
        "created_by": r["created_by"], "escalations": r["escalations"],
        "acknowledged_at": _iso(r["acknowledged_at"]),
        "acknowledged_by": r["acknowledged_by"] or None,
        "resolved_at": _iso(r["resolved_at"]), "resolved_by": r["resolved_by"] or None,
        "updated_at": _iso(r["updated_at"]),
    }


def _notes(ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        for eid, author, at, note in select_in(
                "SELECT exception_id, author, at, note FROM wms_exception_note "
                "WHERE exception_id IN ({in}) ORDER BY exception_id, id", ids):
            out[eid].append({"author": author, "at": _iso(at), "note": note})
    return out


def get(exception_id: int, *, now: dt.datetime | None = None) -> dict:
    row = execute(_SELECT + " WHERE id = ?", (exception_id,)).fetchone()
    if row is None:
        raise NotFound(f"no exception {exception_id}", code="no_exception")
    return _view(row, _notes([exception_id])[exception_id], now or clock.now())


def parse_cursor(raw: str | None) -> int | None:
    """The list's keyset cursor: the last id of the previous page (opaque to clients)."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) < 1:
        raise BadRequest("cursor is not one this server gave", field="cursor",
                         code="bad_cursor")
    return int(raw)


def list_exceptions(*, state: str | None = None, type_: str | None = None,
                    severity: str | None = None, owner: str | None = None,
                    overdue: bool = False, cursor: int | None = None, limit: int = 50,
                    now: dt.datetime | None = None) -> tuple[list[dict], str | None]:
    """One page of the queue, newest first, and the cursor of the next page (None at the
    end). Filters are ANDed; overdue = active and past its due time."""
    now = now or clock.now()
    where, params = [], []
    for column, value in (("state", state), ("type", type_), ("severity", severity),
                          ("owner", owner)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if overdue:
        where.append(_ACTIVE_SQL + " AND due_at < ?")
        params.append(clock.naive_utc(now))
    if cursor is not None:
        where.append("id < ?")
        params.append(cursor)
    limit = max(1, min(limit, PAGE_MAX))
    rows = execute(_SELECT + (" WHERE " + " AND ".join(where) if where else "")
                   + " ORDER BY id DESC LIMIT ?", (*params, limit + 1)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    notes = _notes([r[0] for r in rows])
    page = [_view(r, notes[r[0]], now) for r in rows]
    return page, (str(rows[-1][0]) if more and rows else None)


def _load_for_update(exception_id: int) -> dict:
    from ..store.db import is_postgres
    row = execute(_SELECT + " WHERE id = ?" + (" FOR UPDATE" if is_postgres() else ""),
                  (exception_id,)).fetchone()
    if row is None:
        raise NotFound(f"no exception {exception_id}", code="no_exception")
    return dict(zip(_FIELDS, row))


def _refuse(e: dict, action: str) -> None:
    raise BadTransition(f"exception {e['id']} is {e['state']}: it cannot be {action}",
                        code="bad_transition")


def _add_note(exception_id: int, author: str, note: str, at: dt.datetime) -> None:
    execute("INSERT INTO wms_exception_note (exception_id, author, at, note) "
            "VALUES (?, ?, ?, ?)", (exception_id, author[:120], at, note[:NOTE_MAX]))


def acknowledge(exception_id: int, actor: str, *, now: dt.datetime | None = None) -> dict:
    now = now or clock.now()
    at = clock.naive_utc(now)
    with write_tx():
        e = _load_for_update(exception_id)
        if e["state"] != "open":
            _refuse(e, "acknowledged")
        execute("UPDATE wms_exception SET state = 'acknowledged', acknowledged_at = ?, "
                "acknowledged_by = ?, updated_at = ? WHERE id = ?",
                (at, actor[:120], at, exception_id))
        audit.write([audit.row(now, actor, "exception.ack", "exception", exception_id,
                               "open", "acknowledged")])
    return get(exception_id, now=now)


def assign(exception_id: int, owner: str, actor: str, *, now: dt.datetime | None = None) -> dict:
    if not valid_owner(owner):
        raise BadRequest("owner is a role (picker, packer, supervisor, admin) or user:<badge>",
                         field="owner", code="bad_owner")
    now = now or clock.now()
    at = clock.naive_utc(now)
    with write_tx():
        e = _load_for_update(exception_id)
        if e["state"] not in ACTIVE:
            _refuse(e, "assigned")
        if owner.startswith("user:") and execute(
                "SELECT 1 FROM app_user WHERE badge = ?", (owner[5:],)).fetchone() is None:
            raise BadRequest(f"no user with badge {owner[5:]}", field="owner",
                             code="unknown_user")
        execute("UPDATE wms_exception SET owner = ?, updated_at = ? WHERE id = ?",
                (owner, at, exception_id))
        audit.write([audit.row(now, actor, "exception.assign", "exception", exception_id,
                               e["owner"], owner)])
    return get(exception_id, now=now)


def close(exception_id: int, actor: str, *, state: str, resolution: str, note: str = "",
          now: dt.datetime | None = None) -> dict:
    """Resolve (with a resolution code) or dismiss one exception by hand, with a note."""
    now = now or clock.now()
    at = clock.naive_utc(now)
    with write_tx():
        e = _load_for_update(exception_id)
        if e["state"] not in ACTIVE:
            _refuse(e, state)
        if note:
            _add_note(exception_id, actor, note, at)
        _close([exception_id], actor, now, resolution, {"note": note} if note else None,
               state=state)
    return get(exception_id, now=now)


def add_note(exception_id: int, note: str, actor: str, *, role: str,
             now: dt.datetime | None = None) -> dict:
    """A note on an exception. Supervisors and admins note any; a picker or packer only
    their own (owned by them, or raised by them)."""
    now = now or clock.now()
    at = clock.naive_utc(now)
    with write_tx():
        e = _load_for_update(exception_id)
        raised_by = e["created_by"].split("@", 1)[0]     # user:B17@HH-3: the user, any device
        if role not in ("supervisor", "admin") and actor not in (e["owner"], raised_by):
            raise Forbidden(f"exception {exception_id} is not yours", code="not_yours")
        _add_note(exception_id, actor, note, at)
        execute("UPDATE wms_exception SET updated_at = ? WHERE id = ?", (at, exception_id))
        audit.write([audit.row(now, actor, "exception.note", "exception", exception_id,
                               e["state"], e["state"], {"note": note[:NOTE_MAX]})])
    return get(exception_id, now=now)


# ---- escalation ------------------------------------------------------------------------------

def _next_escalation(due: dt.datetime, period: dt.timedelta, now: dt.datetime) -> dt.datetime:
    """The first multiple of the SLA period after `due` that is later than `now`."""
    periods = int((now - due) / period) + 1
    return due + period * max(periods, 1)


def escalate_overdue(*, settings: Config | None = None, now: dt.datetime | None = None,
                     limit: int = 1000) -> list[int]:
    """Raise the severity of every active exception whose escalation is due, one step (up
    to critical) once per SLA period overdue; "exception.escalated" is published for each
    after the commit. Returns their ids."""
    now = now or clock.now()
    at = clock.naive_utc(now)
    slas = _slas(settings)
    done = []
    with write_tx():
        rows = execute(
            "SELECT id, type, severity, escalate_at, owner, subject_kind, subject_id, "
            "subject_ref, due_at, escalations FROM wms_exception WHERE escalate_at <= ? AND "
            + _ACTIVE_SQL + " ORDER BY escalate_at, id LIMIT ?", (at, limit)).fetchall()
        trail = []
        for eid, type_, severity, esc_at, owner, kind, sid, ref, due, count in rows:
            esc_at = clock.naive_utc(clock.aware_utc(esc_at))
            level = SEVERITIES.index(severity) if severity in SEVERITIES else 1
            up = SEVERITIES[min(level + 1, len(SEVERITIES) - 1)]
            nxt = _next_escalation(esc_at, slas.sla(type_).period, at)
            if execute("UPDATE wms_exception SET severity = ?, escalations = escalations + 1, "
                       "escalate_at = ?, updated_at = ? WHERE id = ? AND escalate_at = ? AND "
                       + _ACTIVE_SQL, (up, nxt, at, eid, esc_at)).rowcount != 1:
                continue
            done.append(eid)
            trail.append(audit.row(now, "job:escalate", "exception.escalate", "exception", eid,
                                   severity, up, {"escalations": count + 1}))
            events.publish(EXCEPTION_ESCALATED, exception_id=eid, type=type_, severity=up,
                           previous=severity, owner=owner,
                           subject={"kind": kind or None, "id": sid, "ref": ref or None},
                           due_at=_iso(due), escalations=count + 1)
        audit.write(trail)
    return done


# ---- the weekly summary ----------------------------------------------------------------------

def report(start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> dict:
    """Exceptions opened in [start, end) by type and cause (resolution): counts, median time
    to resolve (seconds, of those closed) and how many were (or are) overdue."""
    now = now or clock.now()
    rows = execute("SELECT type, state, resolution, created_at, resolved_at, due_at "
                   "FROM wms_exception WHERE created_at >= ? AND created_at < ? ORDER BY id",
                   (clock.naive_utc(start), clock.naive_utc(end))).fetchall()
    by_type: dict[str, dict] = {}
    for type_, state, resolution, created, resolved, due in rows:
        t = by_type.setdefault(type_, {"type": type_, "opened": 0, "open": 0,
                                       "resolved": 0, "dismissed": 0, "overdue": 0,
                                       "_times": [], "_causes": {}})
        t["opened"] += 1
        t["open" if state in ACTIVE else state] += 1
        created, resolved, due = map(clock.aware_utc, (created, resolved, due))
        late = due is not None and ((resolved or now) > due if state not in ACTIVE
                                    else now > due)
        t["overdue"] += late
        if state not in ACTIVE:
            cause = t["_causes"].setdefault(resolution or state, {
                "resolution": resolution or state, "count": 0, "overdue": 0, "_times": []})
            cause["count"] += 1
            cause["overdue"] += late
            if resolved is not None:
                took = (resolved - created).total_seconds()
                t["_times"].append(took)
                cause["_times"].append(took)
    out = []
    for t in sorted(by_type.values(), key=lambda t: (-t["opened"], t["type"])):
        causes = [{"resolution": c["resolution"], "count": c["count"], "overdue": c["overdue"],
                   "median_resolve_seconds": _median(c["_times"])}
                  for c in sorted(t.pop("_causes").values(),
                                  key=lambda c: (-c["count"], c["resolution"]))]
        out.append({**{k: v for k, v in t.items() if not k.startswith("_")},
                    "median_resolve_seconds": _median(t["_times"]), "causes": causes})
    return {"from": start.isoformat(), "to": end.isoformat(), "types": out,
            "total": {"opened": len(rows), "overdue": sum(t["overdue"] for t in out),
                      "open": sum(t["open"] for t in out)}}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None

