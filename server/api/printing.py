"""Printing API for the pack stations (packer, supervisor, admin): the printers with their
live state, a print job's state, its label as a PNG preview, and an explicit, audited
reprint. openapi_paths() describes these operations for /openapi.json."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from printers import preview

from ..domain.errors import DomainError, NotFound, Unprocessable
from ..domain.exactjson import parse_json
from ..services import print_queue, printer_state
from .common import require_staff

bp = Blueprint("printing", __name__, url_prefix="/api/v1")

ROLES = ("packer", "supervisor", "admin")
REASON_MAX = 500
_PREVIEW_ERRORS = {preview.RendererMissing: 503, preview.PreviewTimeout: 503,
                   preview.BadZpl: 422}


def _printers() -> dict[str, str]:
    return dict(current_app.config["WAVEPACK"].printers or {})


def _with_queue(printer: dict, open_jobs: dict[str, dict[str, int]]) -> dict:
    return {**printer, "jobs": open_jobs.get(printer["url"], {"queued": 0, "sending": 0})}


@bp.get("/printers")
def list_printers():
    require_staff(*ROLES)
    printers = printer_state.for_printers(_printers())
    open_jobs = print_queue.open_jobs_by_printer()
    return jsonify({"printers": [_with_queue(p, open_jobs) for p in printers],
                    "status_every_s": printer_state.STATUS_EVERY_S})


@bp.get("/printers/<name>")
def get_printer(name: str):
    require_staff(*ROLES)
    printer = printer_state.one_printer(name, _printers().get(name))
    if printer is None:
        raise NotFound(f"no printer named {name!r}", field="name")
    return jsonify(_with_queue(printer, print_queue.open_jobs_by_printer()))


def _job_or_404(job_id: int) -> dict:
    job = print_queue.get_job(job_id)
    if job is None:
        raise NotFound(f"no print job {job_id}", field="job_id")
    return job


def _job_out(job: dict) -> dict:
    names = sorted(n for n, url in _printers().items() if url == job["printer_url"])
    return {**job, "printer": names[0] if names else None}


@bp.get("/print-jobs/<id:job_id>")
def get_print_job(job_id: int):
    require_staff(*ROLES)
    return jsonify(_job_out(_job_or_404(job_id)))


@bp.get("/print-jobs/<id:job_id>/preview.png")
def print_job_preview(job_id: int):
    """The job's label exactly as sent (its id on it), drawn by zpl-renderer-js."""
    require_staff(*ROLES)
    zpl = print_queue.job_zpl(job_id)
    if zpl is None:
        raise NotFound(f"no print job {job_id}", field="job_id")
    try:
        png = preview.render_png(zpl)
    except preview.PreviewError as err:
        status = next((s for cls, s in _PREVIEW_ERRORS.items() if isinstance(err, cls)), 503)
        raise DomainError(str(err), code=err.code, status=status) from err
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=3600"   # a job's label never changes
    return resp


def _reprint_reason() -> str:
    if (request.mimetype or "").lower() != "application/json":
        raise DomainError("Content-Type must be application/json",
                          code="unsupported_media_type", status=415)
    body = parse_json(request.get_data(cache=True))
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object", code="schema")
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise Unprocessable(f"unknown field {unknown[0]!r}", code="schema", field=unknown[0])
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise Unprocessable("say why the label is printed again (reason)",
                            code="reason_required", field="reason")
    if len(reason) > REASON_MAX:
        raise Unprocessable(f"reason must be at most {REASON_MAX} characters",
                            code="schema", field="reason")
    return reason.strip()


@bp.post("/print-jobs/<id:job_id>/reprint")
def reprint_job(job_id: int):
    """A new job with the same label (marked REPRINT), audited with who and why; refused
    (409 not_printed_yet) while the original can still print."""
    p = require_staff(*ROLES)
    reason = _reprint_reason()
    new_id = print_queue.reprint(job_id, p.actor, reason)
    job = print_queue.get_job(new_id)
    return jsonify(_job_out(job)), 201


# --- OpenAPI ------------------------------------------------------------------------------

_STR, _BOOL = {"type": "string"}, {"type": "boolean"}
_INT = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_NULL_STR = {"type": ["string", "null"]}
JOB_STATES = ["queued", "sending", "printed", "failed"]

PRINTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "url", "state", "faults", "detail", "checked_at", "age_s", "stale",
                 "last_state", "reason", "jobs"],
    "properties": {
        "name": _STR, "url": _STR,
        "state": {"type": "string", "description": "ready, paper_out, head_open, ribbon_out, "
                  "paused, buffer_full, offline, error, a CUPS queue fault, or unknown "
                  "(never read, or older than 3 status polls)", "examples": ["paper_out"]},
        "faults": {"type": "array", "items": _STR},
        "detail": {"type": "object", "description": "the parsed ~HS flags, or the reason"},
        "checked_at": {"type": ["string", "null"], "format": "date-time"},
        "age_s": {"type": ["number", "null"]}, "stale": _BOOL,
        "last_state": _NULL_STR, "reason": _STR,
        "jobs": {"type": "object", "required": ["queued", "sending"],
                 "properties": {"queued": _INT, "sending": _INT}},
    },
}
PRINT_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "station", "printer_url", "printer", "kind", "reference", "state",
                 "attempts", "last_error", "created_at", "updated_at", "accepted_at",
                 "printed_at", "reprint_of", "created_by"],
    "properties": {
        "id": _INT, "station": _STR, "printer_url": _STR, "printer": _NULL_STR,
        "kind": {"type": "string", "enum": list(print_queue.KINDS)},
        "reference": _STR, "state": {"type": "string", "enum": JOB_STATES},
        "attempts": _INT, "last_error": {"type": ["string", "null"],
                                         "description": "the printer's reason"},
        "created_at": _STR, "updated_at": _STR, "accepted_at": _NULL_STR,
        "printed_at": _NULL_STR,
        "reprint_of": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**63 - 1},
        "created_by": _STR,
        "last_error_code": {"type": "string", "description": "why the label waits or failed, "
                            "for a page to word: printer_not_ready, accepted_waiting, "
                            "status_unknown, cut_format_resent, unconfirmed ('' when none)"},
        "last_error_params": {"type": "object", "description": "its parameters: faults "
                              "(the printer's fault codes), job, attempts"},
    },
}
REPRINT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["reason"], "additionalProperties": False,
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX,
                              "pattern": r"\S"}},
}


def _err(status: int) -> dict:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
             409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
             422: "Unprocessable"}
    return {"$ref": f"#/components/responses/{names[status]}"}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_paths() -> dict:
    """The path items of this blueprint, for server/api/openapi.py's document."""
    job_id = {"name": "job_id", "in": "path", "required": True,
              "schema": {"type": "integer", "format": "int64", "minimum": 1,
                         "maximum": 2**63 - 1}}
    name = {"name": "name", "in": "path", "required": True,
            "description": "the printer's name in the config (`printers:`)",
            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
    unavailable = _json("the label renderer (Node.js + zpl-renderer-js) is not installed "
                        "or did not answer in time", {"$ref": "#/components/schemas/Error"})
    tags = ["printing"]
    return {
        "/api/v1/printers": {"get": {
            "tags": tags, "operationId": "listPrinters",
            "summary": "The configured printers with their live state (packer, supervisor, "
                       "admin)",
            "description": "The state is the last status the print worker read; it asks an "
                           "idle printer every `status_every_s` seconds.",
            "responses": {"200": _json("the printers", {
                "type": "object", "required": ["printers", "status_every_s"],
                "properties": {"printers": {"type": "array", "items": PRINTER_SCHEMA},
                               "status_every_s": {"type": "number"}}}),
                **{str(s): _err(s) for s in (400, 401, 403)}},
        }},
        "/api/v1/printers/{name}": {
            "parameters": [name],
            "get": {"tags": tags, "operationId": "getPrinter",
                    "summary": "One printer's live state",
                    "responses": {"200": _json("the printer", PRINTER_SCHEMA),
                                  **{str(s): _err(s) for s in (400, 401, 403, 404)}}},
        },
        "/api/v1/print-jobs/{job_id}": {
            "parameters": [job_id],
            "get": {"tags": tags, "operationId": "getPrintJob",
                    "summary": "A print job: state, attempts, the printer's reason",
                    "responses": {"200": _json("the job", PRINT_JOB_SCHEMA),
                                  **{str(s): _err(s) for s in (400, 401, 403, 404)}}},
        },
        "/api/v1/print-jobs/{job_id}/preview.png": {
            "parameters": [job_id],
            "get": {"tags": tags, "operationId": "previewPrintJob",
                    "summary": "The job's label as sent, drawn as a PNG (4×6 in, 203 dpi)",
                    "responses": {
                        "200": {"description": "the label",
                                "content": {"image/png": {"schema": {
                                    "type": "string", "contentMediaType": "image/png"}}}},
                        **{str(s): _err(s) for s in (400, 401, 403, 404, 422)},
                        "503": unavailable}},
        },
        "/api/v1/print-jobs/{job_id}/reprint": {
            "parameters": [job_id],
            "post": {
                "tags": tags, "operationId": "reprintPrintJob",
                "summary": "Print a printed or failed job's label again (audited with the "
                           "reason); the copy is marked REPRINT",
                "description": "409 `not_printed_yet` while the job is queued or sending: "
                               "it may still print, and a copy would be a double.",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": REPRINT_SCHEMA}}},
                "responses": {"201": _json("the new, queued job", PRINT_JOB_SCHEMA),
                              **{str(s): _err(s)
                                 for s in (400, 401, 403, 404, 409, 413, 415, 422)}},
            },
        },
    }


__all__ = ["bp", "openapi_paths"]
