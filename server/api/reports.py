"""Reports: GET /api/v1/reports/{name} (supervisor or admin) as JSON, or one of its tables
as CSV (`format=csv` or `Accept: text/csv`). The reports themselves are in
services/reports.py; /api/v1/reports/exceptions (W4) stays in api/exceptions.py."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, jsonify, request

from ..domain.errors import Unprocessable
from ..services import reports
from .common import require_staff

SUPERVISORS = ("supervisor", "admin")
FORMATS = ("json", "csv")
# a cell a spreadsheet would run as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

bp = Blueprint("reports", __name__, url_prefix="/api/v1")


def _arg(name: str, max_len: int) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise Unprocessable(f"{name} is longer than {max_len} characters", field=name)
    if not raw.isprintable():
        raise Unprocessable(f"{name} holds a control character", field=name)
    return raw


def _wants_csv() -> bool:
    fmt = _arg("format", 8)
    if fmt is not None:
        if fmt not in FORMATS:
            raise Unprocessable("format must be json or csv", field="format")
        return fmt == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv" and request.accept_mimetypes["text/csv"] > \
        request.accept_mimetypes["application/json"]


def csv_cell(value: object) -> object:
    """A value as a CSV cell: numbers as they are, None empty, text that a spreadsheet
    would read as a formula behind a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = str(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_csv(columns: list[str], rows: list[list]) -> str:
    """RFC 4180 CSV (CRLF, quoted where needed) with a byte-order mark, so that a
    spreadsheet opens non-Latin names (zh-CN SKUs) as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return "\ufeff" + out.getvalue()


@bp.get("/reports/<name>")
def report(name: str):
    require_staff(*SUPERVISORS)
    reports.check_name(name[:64])
    as_csv = _wants_csv()
    table = _arg("table", 64)
    settings = current_app.config["WAVEPACK"]
    sc = reports.scope(settings, start=_arg("from", 40), end=_arg("to", 40),
                       warehouse=_arg("warehouse", 64), channel=_arg("channel", 120))
    body = reports.run(settings, name, sc)
    if table is not None and table not in body["tables"]:
        raise Unprocessable(f"report {name} has no table {table!r}; tables: "
                            f"{', '.join(body['tables'])}", field="table")
    if not as_csv:
        return jsonify(body)
    table = table or next(iter(body["tables"]))
    t = body["tables"][table]
    day = lambda iso: iso[:10]  # noqa: E731
    filename = f"{name}-{table}-{day(body['from'])}-{day(body['to'])}.csv"
    return Response(table_csv(t["columns"], t["rows"]), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- OpenAPI ------------------------------------------------------------------------------

RESPONSE_SCHEMAS = {
    "Report": {
        "type": "object",
        "required": ["report", "kind", "title", "from", "to", "timezone", "warehouse",
                     "channel", "summary", "tables"],
        "properties": {
            "report": {"type": "string", "enum": list(reports.REPORTS)},
            "kind": {"type": "string", "enum": ["kpi", "analytics"]},
            "title": {"type": "string"},
            "from": {"type": "string", "format": "date-time",
                     "description": "start of the range (UTC), included"},
            "to": {"type": "string", "format": "date-time",
                   "description": "end of the range (UTC), excluded"},
            "timezone": {"type": "string", "description": "the IANA zone days are counted "
                                                          "in (config reports:)"},
            "warehouse": {"type": ["string", "null"]},
            "channel": {"type": ["string", "null"]},
            "summary": {"type": "object", "description": "the headline figures; rates are "
                                                         "0..1 or null when nothing counted"},
            "tables": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["columns", "rows"],
                "properties": {"columns": {"type": "array", "items": {"type": "string"}},
                               "rows": {"type": "array", "items": {"type": "array"}}}}},
        },
    },
}


def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _query, _responses, ref
    ok = {"200": {"description": "the report (JSON), or one of its tables as CSV",
                  "content": {"application/json": {"schema": ref("Report")},
                              "text/csv": {"schema": {"type": "string"}}}}}
    return {"/api/v1/reports/{name}": {"get": {
        "tags": ["reports"], "operationId": "getReport",
        "summary": "A KPI or analytics report over a date range, per warehouse and channel "
                   "(supervisor or admin)",
        "description": "Days, weeks and hours are the warehouse's local ones (config "
                       "`reports:`). Unknown report, warehouse, channel or table, a bad or "
                       "reversed range, or one over 366 days: 422 naming the field.",
        "parameters": [
            {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(reports.REPORTS)}},
            _query("from", "a local date (2026-12-01) or ISO 8601 time; default: 29 days "
                   "before `to`", {"type": "string", "maxLength": 40}),
            _query("to", "a local date, included whole, or an ISO 8601 time, excluded; "
                   "default: today", {"type": "string", "maxLength": 40}),
            _query("warehouse", "a warehouse code (default: all)",
                   {"type": "string", "maxLength": 64}),
            _query("channel", "a channel name (default: all)",
                   {"type": "string", "maxLength": 120}),
            _query("format", "csv: one table as CSV (also with Accept: text/csv)",
                   {"type": "string", "enum": list(FORMATS)}),
            _query("table", "the table to export as CSV (default: the first)",
                   {"type": "string", "maxLength": 64}),
        ],
        "responses": _responses(ok, 400, 401, 403, 422),
    }}}
