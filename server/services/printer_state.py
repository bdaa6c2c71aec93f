"""Live printer state for the pack station pages: the last status each print worker read
from its printer (table printer_status, one row per configured printer name).

The worker records every status it reads (before and after each label, and every
STATUS_EVERY_S seconds while idle), so a station sees "paper out" within seconds even
with no jobs. A row older than STALE_FACTOR × the poll interval means nobody is watching
that printer (no worker, or it hangs): it is reported as `unknown` with `stale: true`
and the last state read kept in `last_state`.

States: ready | paper_out | head_open | ribbon_out | paused | buffer_full |
under_temperature | over_temperature | corrupt_ram (the printer's ~HS flags, most urgent
first) | queue_stopped | queue_rejecting | job_held | queue_missing (CUPS) | offline (no
connection or no ~HS reply) | error (anything else) | unknown (stale or never read).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from printers.status import PrinterError, PrinterFault, PrinterOffline, PrinterStatus

from .. import clock, events
from ..store.db import execute, write_tx
from . import exceptions

STATUS_EVERY_S = 5.0      # how often an idle worker asks its printer (print_worker)
STALE_FACTOR = 3          # a state older than this many poll intervals is `unknown`
_STATE_MAX = 24           # printer_status.state is VARCHAR(24)
_DETAIL_MAX = 4000
_FIELDS = "name, url, state, detail, checked_at"
PRINTER_STATE = "printer.state"   # after the commit that changed a printer's state


def describe(status_or_error: PrinterStatus | BaseException) -> tuple[str, dict]:
    """(state, detail) of one status read: a parsed ~HS status, or the error raised instead."""
    if isinstance(status_or_error, PrinterStatus):
        faults = status_or_error.faults
        state = faults[0] if faults else "ready"
        return state[:_STATE_MAX], status_or_error.to_dict()
    err = status_or_error
    reason = str(err) or type(err).__name__
    if isinstance(err, PrinterFault):
        faults = list(err.faults) or ["error"]
        detail = err.status.to_dict() if err.status is not None else {"faults": faults}
        return faults[0][:_STATE_MAX], {**detail, "online": True, "ready": False,
                                         "reason": reason, "code": err.code}
    state = "offline" if isinstance(err, PrinterOffline) else "error"
    code = err.code if isinstance(err, PrinterError) else type(err).__name__
    return state, {"online": False, "ready": False, "faults": [state], "reason": reason,
                   "code": code}


def record(name: str, url: str, status_or_error: PrinterStatus | BaseException, *,
           now: dt.datetime | None = None) -> dict:
    """Upsert the printer's row with what was just read (a PrinterStatus, or the
    PrinterError raised instead of one) and return it as get() would."""
    state, detail = describe(status_or_error)
    text = json.dumps(detail, sort_keys=True)
    if len(text) > _DETAIL_MAX:
        detail = {k: detail[k] for k in ("online", "ready", "faults", "code") if k in detail}
        detail["reason"] = str(status_or_error)[:1000]
        text = json.dumps(detail, sort_keys=True)
    at = now or clock.now()
    checked = clock.naive_utc(at)
    with write_tx():
        before = execute("SELECT state FROM printer_status WHERE name = ?", (name,)).fetchone()
        execute("INSERT INTO printer_status (name, url, state, detail, checked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET url = excluded.url, "
                "state = excluded.state, detail = excluded.detail, "
                "checked_at = excluded.checked_at", (name, url, state, text, checked))
        _fault_exception(name, state, detail, at)
        if before is None or before[0] != state:     # a change, not every status read
            events.publish(PRINTER_STATE, printer=name, url=url, state=state,
                           previous=before[0] if before else None,
                           faults=list(detail.get("faults") or []), at=at.isoformat())
    return _as_dict((name, url, state, text, checked), STATUS_EVERY_S, at)


PRINTER_FAULT = "printer_fault"


def _fault_exception(name: str, state: str, detail: dict, now: dt.datetime) -> None:
    """A printer that cannot print raises one printer_fault exception (until it is worked or
    the printer is ready again); a printer that comes back ready closes it by itself."""
    if state == "ready":
        exceptions.resolve_for_subject("printer", (PRINTER_FAULT,), "job:print", now,
                                       ref=name, resolution="recovered")
    elif state != "unknown" and not exceptions.active_exists("printer", PRINTER_FAULT,
                                                             ref=name):
        exceptions.open_exception(PRINTER_FAULT, f"printer {name} cannot print: {state}"
                                  + (f" ({detail['reason']})" if detail.get("reason") else ""),
                                  detail={"state": state, **detail}, now=now,
                                  actor="job:print", subject=("printer", None, name))


def get(name: str, *, status_every_s: float = STATUS_EVERY_S,
        now: dt.datetime | None = None) -> dict | None:
    """The printer's last state read ({name, url, state, faults, detail, checked_at,
    age_s, stale, last_state}), or None if none was ever recorded."""
    row = execute(f"SELECT {_FIELDS} FROM printer_status WHERE name = ?", (name,)).fetchone()
    return _as_dict(row, status_every_s, now) if row else None


def all(*, status_every_s: float = STATUS_EVERY_S,  # noqa: A001 (the service's verb)
        now: dt.datetime | None = None) -> list[dict]:
    """Every recorded printer by name, each as get() gives it."""
    rows = execute(f"SELECT {_FIELDS} FROM printer_status ORDER BY name").fetchall()
    return [_as_dict(r, status_every_s, now) for r in rows]


def for_printers(printers: Mapping[str, str], *, status_every_s: float = STATUS_EVERY_S,
                 now: dt.datetime | None = None) -> list[dict]:
    """The configured printers (name → URL) by name, each with its live state; one never
    read (or read under another URL before the config changed) is `unknown`."""
    known = {r["name"]: r for r in all(status_every_s=status_every_s, now=now)}
    return [_current(name, url, known.get(name)) for name, url in sorted(printers.items())]


def one_printer(name: str, url: str | None, *, status_every_s: float = STATUS_EVERY_S,
                now: dt.datetime | None = None) -> dict | None:
    """A configured printer's live state (`url` from the config), or the recorded row of an
    unconfigured name (url None); None when the name is neither."""
    row = get(name, status_every_s=status_every_s, now=now)
    if url is None:
        return row
    return _current(name, url, row)


def _current(name: str, url: str, row: dict | None) -> dict:
    if row is not None and row["url"] == url:
        return row
    return {"name": name, "url": url, "state": "unknown", "faults": [], "detail": {},
            "checked_at": None, "age_s": None, "stale": True,
            "last_state": None, "reason": "no status read from this printer yet"}


def _as_dict(row, status_every_s: float, now: dt.datetime | None) -> dict:
    name, url, state, text, checked_at = row
    checked = clock.aware_utc(checked_at)
    at = now or clock.now()
    age = max(0.0, (at - checked).total_seconds())
    try:
        detail = json.loads(text) if text else {}
    except ValueError:
        detail = {"reason": text}
    stale = age > STALE_FACTOR * status_every_s
    out = {"name": name, "url": url, "state": "unknown" if stale else state,
           "faults": list(detail.get("faults", [])), "detail": detail,
           "checked_at": checked.isoformat(), "age_s": round(age, 3), "stale": stale,
           "last_state": state, "reason": detail.get("reason") or detail.get("message") or ""}
    if stale:
        out["reason"] = (f"no status for {age:.0f} s (the print worker should read it every "
                         f"{status_every_s:g} s); last read: {state}")
    return out


__all__ = ["STALE_FACTOR", "STATUS_EVERY_S", "all", "describe", "for_printers", "get",
           "one_printer", "record"]
