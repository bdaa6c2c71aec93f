"""The durable print queue: labels are committed as jobs before a byte is sent, and a job
is marked printed only after the printer took every byte and reported no fault.

States: queued → sending → printed | failed (and sending → queued when it is known that
the printer cannot print what it got). One worker per printer (server/jobs/print_worker)
calls send_next(); PostgreSQL claims with FOR UPDATE SKIP LOCKED, SQLite under its
BEGIN IMMEDIATE write lock, so two workers never claim one job.

Sending (send_next):
- a fault or no answer before the bytes went out (print_checked's first status check):
  nothing was sent → back to `queued`, last_error = the printer's reason; not an attempt:
  a label waits as long as the printer is paused, out of paper or switched off;
- the printer took every byte (`accepted_at` committed) but then reports a fault or does
  not answer: the label is in the printer (it prints on resume) → stays `sending`, never
  resent; it becomes `printed` once the printer is ready with no format waiting;
- cut while sending (connection dropped, timeout): the job is checked by the rule below.
After `max_attempts` tries that began sending a job is `failed` and an exception is opened.

The rule for a job found in `sending` (at worker start-up after a crash, or cut mid-send),
check_sending(): the printer's status is asked first; ZPL printers do not report which
jobs they printed, so only a status that shows the label *cannot* have printed allows a
resend:
1. printer offline / silent → stays `sending` (reason shown), checked again next round;
2. `accepted_at` set (every byte was taken) → never resent: `printed` once the printer is
   ready with no formats in its buffer and no partial format, else it waits (reason shown);
3. not accepted and the printer reports a partial format (our format was cut before its
   ^XZ; a ZPL printer discards it) → back to `queued`, resent;
4. not accepted and no partial format → it may have printed: `failed` (never resent
   automatically) with an exception `print_unconfirmed` naming the job id, which is printed
   on every label; a person looks for that label and, if it is missing, calls reprint().
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import Callable

from printers.drivers import DEFAULT_TIMEOUT_S, open_printer, print_checked
from printers.status import PrinterError, PrinterStatus

from .. import clock
from ..domain.errors import DomainError
from .. import events
from ..store.db import execute, is_postgres, write_tx
from . import audit, exceptions

log = logging.getLogger(__name__)
KINDS = ("label", "sscc", "returns", "cart", "tote")
PLACEHOLDER = "{job_id}"
MAX_ATTEMPTS = 5
_ERROR_MAX = 2000
_FIELDS = ("id", "station", "printer_url", "kind", "reference", "state", "attempts",
           "last_error", "created_at", "updated_at", "accepted_at", "printed_at", "reprint_of",
           "created_by", "last_error_code", "last_error_params")

# what the worker is told of every status read (services/printer_state records it)
StatusListener = Callable[[PrinterStatus | PrinterError], None]

# jobs this process is sending right now: check_sending() leaves them alone
_in_flight: set[int] = set()
_in_flight_lock = threading.Lock()


@dataclass(frozen=True)
class SendOutcome:
    """What one send_next() did: `state` is the job's state after it ('idle': no job)."""

    job_id: int | None
    state: str
    error: str = ""

    @property
    def printer_trouble(self) -> bool:
        """The printer would not (or may not) print: the worker backs off."""
        return self.job_id is not None and self.state != "printed"


def _now() -> dt.datetime:
    return clock.now().astimezone(dt.timezone.utc).replace(tzinfo=None)


def _bad(message: str, code: str, field: str) -> DomainError:
    return DomainError(message, code=code, field=field)


def _check_zpl(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _bad("the label has no ZPL", "empty_zpl", "zpl")
    upper = text.upper()
    if "^XA" not in upper or "^XZ" not in upper:
        raise _bad("ZPL must hold at least one ^XA…^XZ format", "bad_zpl", "zpl")
    return text


PRINT_JOB_QUEUED = "print_job.queued"   # after commit: {printer_url, job_id}
PRINT_JOB_PRINTED = "print_job.printed"     # after commit: {job_id}
# after commit, a try that did not print: {job_id, reason, fault} with reason
# printer_not_ready (fault: the printer's first fault), cut_format, unconfirmed, max_attempts
PRINT_JOB_TROUBLE = "print_job.trouble"


def enqueue(station: str, printer_url: str, kind: str, reference: str,
            zpl: str | Callable[[int], str], actor: str, *, reprint_of: int | None = None) -> int:
    """Commit a queued print job and return its id; nothing is sent here.

    The job id goes on the label: `zpl` is either a callable given the new job id (e.g. a
    printers.labels builder with job_id=...) or text with a `{job_id}` placeholder.
    Bad input (unknown printer URL, unknown kind, empty ZPL, no place for the job id)
    raises ValueError/DomainError and stores nothing."""
    open_printer(printer_url)                      # BadPrinterUrl (a ValueError) if unknown
    if not isinstance(station, str) or not station.strip() or len(station) > 64:
        raise _bad("station must be 1-64 characters", "bad_station", "station")
    if kind not in KINDS:
        raise _bad(f"kind must be one of {', '.join(KINDS)}", "bad_kind", "kind")
    if not isinstance(reference, str) or len(reference) > 120:
        raise _bad("reference must be text of at most 120 characters", "bad_reference",
                   "reference")
    if not callable(zpl):
        _check_zpl(zpl)
        if PLACEHOLDER not in zpl:
            raise _bad("the label must show the job id: put {job_id} in the ZPL",
                       "job_id_missing", "zpl")
    now = _now()
    with write_tx():
        job_id = execute(
            "INSERT INTO print_job (station, printer_url, kind, reference, zpl, state, "
            "created_at, updated_at, reprint_of, created_by) "
            "VALUES (?, ?, ?, ?, '', 'queued', ?, ?, ?, ?) RETURNING id",
            (station, printer_url, kind, reference, now, now, reprint_of, actor)).fetchone()[0]
        text = _check_zpl(zpl(job_id) if callable(zpl) else zpl.replace(PLACEHOLDER, str(job_id)))
        execute("UPDATE print_job SET zpl = ? WHERE id = ?", (text, job_id))
        audit.write([audit.row(now, actor, "print_job.enqueue", "print_job", job_id, "",
                               "queued", {"station": station, "printer": printer_url,
                                          "kind": kind, "reference": reference,
                                          "reprint_of": reprint_of})])
        events.publish(PRINT_JOB_QUEUED, printer_url=printer_url, job_id=job_id)
    return job_id


def reprint(job_id: int, actor: str, reason: str = "") -> int:
    """An explicit, audited reprint of a printed or failed job: a new queued job
    (reprint_of = job_id) with the same label and a REPRINT line naming both job ids.
    Returns the new job's id. A job still queued or sending is refused (409). The new job
    and the audit row (with `reason`) commit together."""
    with write_tx():
        row = execute("SELECT station, printer_url, kind, reference, zpl, state FROM print_job "
                      "WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise DomainError(f"no print job {job_id}", code="not_found", status=404,
                              field="job_id")
        station, url, kind, reference, zpl, state = row
        if state not in ("printed", "failed"):   # it will still print: a copy is a double
            raise DomainError(f"print job {job_id} is {state}, not printed or failed yet",
                              code="not_printed_yet", status=409, field="job_id")
        cut = zpl.upper().rfind("^XZ")
        # bottom right, beside the job number: clear of the sender and address blocks
        marked = (zpl[:cut] + f"^FO380,1188^A0N,24,24^FDREPRINT job {{job_id}} of {job_id}^FS"
                  + zpl[cut:])
        new_id = enqueue(station, url, kind, reference, marked, actor, reprint_of=job_id)
        audit.write([audit.row(_now(), actor, "print_job.reprint", "print_job", job_id, "",
                               "", {"new_job": new_id, "reason": reason})])
    return new_id


def _claim(printer_url: str) -> tuple[int, str] | None:
    """The oldest queued job of this printer, now `sending` (committed), or None."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    with write_tx():
        row = execute("SELECT id, zpl FROM print_job WHERE state = 'queued' AND "
                      "printer_url = ? ORDER BY id LIMIT 1" + skip_locked,
                      (printer_url,)).fetchone()
        if row is None:
            return None
        claimed = execute("UPDATE print_job SET state = 'sending', accepted_at = NULL, "
                          "updated_at = ? WHERE id = ? AND state = 'queued'",
                          (_now(), row[0])).rowcount
    return (row[0], row[1]) if claimed == 1 else None


class _Watched:
    """The driver, telling `on_status` of every status read (the printer's live state)."""

    def __init__(self, driver, on_status: StatusListener | None):
        self.driver, self.url, self.on_status = driver, driver.url, on_status

    def status(self) -> PrinterStatus:
        try:
            status = self.driver.status()
        except PrinterError as err:
            _tell(self.on_status, err)
            raise
        _tell(self.on_status, status)
        return status

    def send(self, data: bytes):
        return self.driver.send(data)


def _tell(on_status: StatusListener | None, seen: PrinterStatus | PrinterError) -> None:
    """Report a status read; a failure to record it never changes what is printed."""
    if on_status is None:
        return
    try:
        on_status(seen)
    except Exception:  # noqa: BLE001
        log.exception("recording the printer's status failed")


class _Tracked:
    """The driver, noting whether sending began and committing `accepted_at` as soon as
    the printer took every byte (so a crash after that is never resent)."""

    def __init__(self, driver, job_id: int):
        self.driver, self.job_id, self.url = driver, job_id, driver.url
        self.send_started = self.accepted = False

    def status(self):
        return self.driver.status()

    def send(self, data: bytes):
        self.send_started = True
        result = self.driver.send(data)
        self.accepted = True
        with write_tx():
            execute("UPDATE print_job SET accepted_at = ?, updated_at = ? WHERE id = ?",
                    (_now(), _now(), self.job_id))
        return result


def send_next(printer_url: str, *, max_attempts: int = MAX_ATTEMPTS,
              timeout: float = DEFAULT_TIMEOUT_S,
              on_status: StatusListener | None = None) -> SendOutcome:
    """Claim the oldest queued job of `printer_url` and print it (status, send, status).
    `on_status` is told of every status read (or the PrinterError raised instead)."""
    printer = _Watched(open_printer(printer_url, timeout), on_status)
    claimed = _claim(printer_url)
    if claimed is None:
        return SendOutcome(None, "idle")
    job_id, zpl = claimed
    tracked = _Tracked(printer, job_id)
    with _in_flight_lock:
        _in_flight.add(job_id)
    try:
        print_checked(tracked, zpl.encode("utf-8"))
    except PrinterError as err:
        reason = str(err)
        faults = {"faults": list(getattr(err, "faults", None) or [err.code])}
        if not tracked.send_started:               # nothing left: waits for the printer
            return _wait_for_printer(job_id, reason, faults)
        if tracked.accepted:                       # the printer holds it: wait, never resend
            return _keep_sending(job_id, f"accepted by the printer, not yet printed: {reason}",
                                 "accepted_waiting", faults)
        return _check_job(printer, job_id, False, max_attempts, cause=reason)
    finally:
        with _in_flight_lock:
            _in_flight.discard(job_id)
    return _mark_printed(job_id)


def check_sending(printer_url: str, *, max_attempts: int = MAX_ATTEMPTS,
                  timeout: float = DEFAULT_TIMEOUT_S,
                  on_status: StatusListener | None = None) -> list[SendOutcome]:
    """Settle the jobs of this printer left in `sending` (see the rule in the module
    docstring): at worker start-up after a crash, and every round for labels the printer
    accepted while faulted. Jobs this process is sending right now are left alone."""
    rows = execute("SELECT id, accepted_at FROM print_job WHERE state = 'sending' AND "
                   "printer_url = ? ORDER BY id", (printer_url,)).fetchall()
    with _in_flight_lock:
        rows = [r for r in rows if r[0] not in _in_flight]
    if not rows:
        return []
    printer = _Watched(open_printer(printer_url, timeout), on_status)
    return [_check_job(printer, job_id, accepted is not None, max_attempts)
            for job_id, accepted in rows]


def _check_job(printer, job_id: int, accepted: bool, max_attempts: int,
               cause: str = "") -> SendOutcome:
    prefix = f"{cause}; " if cause else ""
    try:
        status = printer.status()
    except PrinterError as err:                    # rule 1: cannot tell yet
        return _keep_sending(job_id, f"{prefix}printer status unknown, checked again: {err}",
                             "status_unknown", {"faults": [err.code]})
    if accepted:                                   # rule 2
        waiting = status.formats_in_buffer or status.partial_format
        if status.ready and not waiting:
            return _mark_printed(job_id)
        why = ", ".join(status.faults) or "formats waiting in the printer's buffer"
        return _keep_sending(job_id, f"{prefix}accepted by the printer, waiting: {why}",
                             "accepted_waiting",
                             {"faults": list(status.faults) or ["formats_waiting"]})
    if status.partial_format:                      # rule 3: a cut format never prints
        return _retry_later(job_id, f"{prefix}the printer discarded the cut format; resent",
                            max_attempts)
    return _unconfirmed(job_id, f"{prefix}may have printed: look for a label showing job "
                                f"{job_id}; reprint it if there is none")   # rule 4


# Why a job waits or failed, for the station pages to word in their language (the English
# `last_error` stays for the API, the audit and the exceptions): a code and its parameters.
_ERROR_CODE = ", last_error_code = ?, last_error_params = ? "


def _coded(code: str, params: dict | None) -> tuple[str, str]:
    return code, json.dumps(params or {})


def _keep_sending(job_id: int, reason: str, code: str, params: dict) -> SendOutcome:
    with write_tx():
        execute("UPDATE print_job SET last_error = ?, updated_at = ?" + _ERROR_CODE +
                "WHERE id = ? AND state = 'sending'",
                (reason[:_ERROR_MAX], _now(), *_coded(code, params), job_id))
    return SendOutcome(job_id, "sending", reason)


def _wait_for_printer(job_id: int, reason: str, faults: dict) -> SendOutcome:
    """The printer was not ready (a fault it reported, or no answer) before a byte went
    out: the job goes back to `queued` with the reason for the station, and this is not an
    attempt — a label waits as long as the paper is out, it never fails for it."""
    with write_tx():
        execute("UPDATE print_job SET state = 'queued', last_error = ?, updated_at = ?" +
                _ERROR_CODE + "WHERE id = ? AND state = 'sending'",
                (reason[:_ERROR_MAX], _now(), *_coded("printer_not_ready", faults), job_id))
        events.publish(PRINT_JOB_TROUBLE, job_id=job_id, reason="printer_not_ready",
                       fault=(faults.get("faults") or [""])[0])
    return SendOutcome(job_id, "queued", reason)


def _retry_later(job_id: int, reason: str, max_attempts: int) -> SendOutcome:
    now = clock.now()
    with write_tx():
        row = execute("SELECT attempts, station, reference, printer_url FROM print_job "
                      "WHERE id = ?", (job_id,)).fetchone()
        attempts = row[0] + 1
        state = "failed" if attempts >= max_attempts else "queued"
        execute("UPDATE print_job SET state = ?, attempts = ?, last_error = ?, "
                "accepted_at = NULL, updated_at = ?" + _ERROR_CODE + "WHERE id = ? AND "
                "state = 'sending'", (state, attempts, reason[:_ERROR_MAX], _now(),
                                      *_coded("cut_format_resent", {"attempts": attempts}),
                                      job_id))
        events.publish(PRINT_JOB_TROUBLE, job_id=job_id, reason="cut_format", fault="")
        if state == "failed":
            events.publish(PRINT_JOB_TROUBLE, job_id=job_id, reason="max_attempts", fault="")
            audit.write([audit.row(now, "job:print", "print_job.fail", "print_job", job_id,
                                   "sending", "failed", {"attempts": attempts})])
            exceptions.open_exception(
                "print_failed", f"print job {job_id} ({row[2]}) at station {row[1]} failed "
                f"{attempts} times: {reason}", detail={"job_id": job_id}, now=now,
                actor="job:print", subject=_printer_subject(row[3]))
    return SendOutcome(job_id, state, reason)


def _unconfirmed(job_id: int, reason: str) -> SendOutcome:
    now = clock.now()
    with write_tx():
        row = execute("SELECT station, reference, printer_url FROM print_job WHERE id = ?",
                      (job_id,)).fetchone()
        execute("UPDATE print_job SET state = 'failed', last_error = ?, updated_at = ?" +
                _ERROR_CODE + "WHERE id = ? AND state = 'sending'",
                (reason[:_ERROR_MAX], _now(), *_coded("unconfirmed", {"job": job_id}), job_id))
        audit.write([audit.row(now, "job:print", "print_job.unconfirmed", "print_job",
                               job_id, "sending", "failed", reason)])
        events.publish(PRINT_JOB_TROUBLE, job_id=job_id, reason="unconfirmed", fault="")
        exceptions.open_exception(
            "print_unconfirmed", f"print job {job_id} ({row[1]}) at station {row[0]}: "
            f"{reason}", detail={"job_id": job_id}, now=now, actor="job:print",
            subject=_printer_subject(row[2]))
    return SendOutcome(job_id, "failed", reason)


def _printer_subject(printer_url: str) -> tuple[str, None, str]:
    """The exception's subject: the printer, by the name its worker records it under (its
    URL if none did)."""
    got = execute("SELECT name FROM printer_status WHERE url = ? ORDER BY name LIMIT 1",
                  (printer_url,)).fetchone()
    return ("printer", None, got[0] if got else printer_url)


def _mark_printed(job_id: int) -> SendOutcome:
    now = clock.now()
    with write_tx():
        done = execute("UPDATE print_job SET state = 'printed', printed_at = ?, "
                       "last_error = '', last_error_code = '', last_error_params = '', "
                       "updated_at = ? WHERE id = ? AND state = 'sending'",
                       (_now(), _now(), job_id)).rowcount
        if done != 1:
            raise RuntimeError(f"print job {job_id} was no longer sending")
        audit.write([audit.row(now, "job:print", "print_job.printed", "print_job", job_id,
                               "sending", "printed")])
        events.publish(PRINT_JOB_PRINTED, job_id=job_id)
    return SendOutcome(job_id, "printed")


def get_job(job_id: int) -> dict | None:
    row = execute(f"SELECT {', '.join(_FIELDS)} FROM print_job WHERE id = ?",
                  (job_id,)).fetchone()
    return _as_dict(row) if row else None


def job_zpl(job_id: int) -> str | None:
    """The ZPL of a job exactly as sent (its id on the label), or None for an unknown job."""
    row = execute("SELECT zpl FROM print_job WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def jobs_for_station(station: str, limit: int = 50) -> list[dict]:
    """The station's newest jobs first, with state and the printer's reason (last_error)."""
    rows = execute(f"SELECT {', '.join(_FIELDS)} FROM print_job WHERE station = ? "
                   "ORDER BY id DESC LIMIT ?", (station, limit)).fetchall()
    return [_as_dict(r) for r in rows]


def open_jobs_by_printer() -> dict[str, dict[str, int]]:
    """printer URL → {"queued": n, "sending": n} for printers with unfinished jobs."""
    out: dict[str, dict[str, int]] = {}
    for url, state, count in execute(
            "SELECT printer_url, state, COUNT(*) FROM print_job WHERE state IN "
            "('queued', 'sending') GROUP BY printer_url, state").fetchall():
        out.setdefault(url, {"queued": 0, "sending": 0})[state] = count
    return out


def printer_urls_with_work() -> list[str]:
    """Printers that have queued or sending jobs (the worker pool starts one per URL)."""
    return [r[0] for r in execute("SELECT DISTINCT printer_url FROM print_job WHERE state "
                                  "IN ('queued', 'sending') ORDER BY printer_url").fetchall()]


def _as_dict(row) -> dict:
    data = dict(zip(_FIELDS, row))
    data["last_error_params"] = json.loads(data["last_error_params"] or "{}")
    for key in ("created_at", "updated_at", "accepted_at", "printed_at"):
        if data[key] is not None:          # SQLite hands some back as text: one format
            data[key] = clock.aware_utc(data[key]).isoformat()
    return data


__all__ = ["KINDS", "MAX_ATTEMPTS", "SendOutcome", "StatusListener", "check_sending",
           "enqueue", "get_job", "job_zpl", "jobs_for_station", "open_jobs_by_printer",
           "printer_urls_with_work",
           "reprint", "send_next"]
