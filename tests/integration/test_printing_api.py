"""Printing API (server/api/printing.py) on SQLite and PostgreSQL: printers with their live
state, a job's state, its label as a PNG, and the explicit, audited reprint; roles, error
bodies, nothing changed by a refused request, and answers that match openapi_paths()."""
from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from printers import preview
from printers.fake import FakePrinter
from printers.labels import Address, SsccLabel, build_sscc_label
from printers.status import PrinterStatus
from server.api import openapi, printing
from server.services import auth, channels, print_queue, printer_state
from server.store.db import db, execute

from ..conftest import make_app, need

SSCC = "106141411234567897"
SENDER = Address("Wavepack Ltd", ("12 Dock Road",), "Leeds", "LS1 1AA", country="GB")


@pytest.fixture
def printer():
    with FakePrinter() as fake:
        yield fake


@pytest.fixture
def api(db_url, printer):
    """The app with two configured printers (label-1 the fake, label-2 never read) and the
    printing blueprint (registered here until server/api registers it)."""
    app = make_app(db_url, printers={"label-1": {"url": printer.url},
                                     "label-2": {"url": "tcp://127.0.0.1:9"}})
    if "printing" not in app.blueprints:
        app.register_blueprint(printing.bp)
    yield app
    if not db.is_closed():
        db.close()


def _in(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


@pytest.fixture
def headers(api) -> dict[str, dict[str, str]]:
    out = {role: {"Authorization": "Bearer " + _in(api, auth.create_token, role=role)}
           for role in ("picker", "packer", "supervisor", "admin")}
    _in(api, channels.add_channel, "api", "native")
    out["channel"] = {"Authorization": "Bearer " + _in(api, auth.create_token, channel="api")}
    return out


def _job(api, printer, ref="1001"):
    return _in(api, print_queue.enqueue, "PACK-1", printer.url, "sscc", ref,
               lambda n: build_sscc_label(SsccLabel(SSCC, SENDER, job_id=n)), "packer:ann")


def _print(api, printer):
    return _in(api, print_queue.send_next, printer.url, timeout=2.0)


def _count(api, sql, params=()):
    return _in(api, lambda: execute(sql, params).fetchone()[0])


def _error(resp, status, code, field=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body["error"]) >= {"code", "message", "field"}
    assert body["error"]["code"] == code and body["error"]["field"] == field
    return body


def _validate(path: str, method: str, status: int, body) -> None:
    """The answer matches the response schema openapi_paths() documents."""
    op = printing.openapi_paths()[path][method]
    response = op["responses"][str(status)]
    if "$ref" in response:
        return      # the shared error responses: checked by _error()
    schema = copy.deepcopy(response["content"]["application/json"]["schema"])
    Draft202012Validator(schema).validate(body)


# -- roles -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/printers"), ("get", "/api/v1/printers/label-1"),
    ("get", "/api/v1/print-jobs/1"), ("get", "/api/v1/print-jobs/1/preview.png"),
    ("post", "/api/v1/print-jobs/1/reprint"),
])
def test_roles(api, headers, method, path):
    client = api.test_client()
    _error(getattr(client, method)(path), 401, "unauthorized")
    for who in ("picker", "channel"):
        _error(getattr(client, method)(path, headers=headers[who], json={"reason": "x"}),
               403, "forbidden")
    assert getattr(client, method)(path, headers=headers["packer"],
                                   json={"reason": "x"}).status_code in (200, 404)


# -- printers --------------------------------------------------------------------------

def test_printers_with_live_state_and_open_jobs(api, headers, printer):
    _in(api, printer_state.record, "label-1", printer.url, PrinterStatus(paper_out=True))
    _job(api, printer)
    client = api.test_client()
    resp = client.get("/api/v1/printers", headers=headers["packer"])
    assert resp.status_code == 200
    body = resp.get_json()
    _validate("/api/v1/printers", "get", 200, body)
    one, two = body["printers"]
    assert (one["name"], one["state"], one["faults"]) == ("label-1", "paper_out", ["paper_out"])
    assert one["detail"]["paper_out"] is True and one["jobs"] == {"queued": 1, "sending": 0}
    assert (two["name"], two["state"], two["stale"]) == ("label-2", "unknown", True)
    assert body["status_every_s"] == printer_state.STATUS_EVERY_S

    resp = client.get("/api/v1/printers/label-1", headers=headers["supervisor"])
    assert resp.status_code == 200 and resp.get_json()["state"] == "paper_out"
    _validate("/api/v1/printers/{name}", "get", 200, resp.get_json())
    _error(client.get("/api/v1/printers/nope", headers=headers["admin"]), 404, "not_found",
           "name")


# -- jobs ------------------------------------------------------------------------------

def test_print_job_state_attempts_and_reason(api, headers, printer):
    printer.paused = True
    job_id = _job(api, printer)
    assert _print(api, printer).state == "queued"
    client = api.test_client()
    resp = client.get(f"/api/v1/print-jobs/{job_id}", headers=headers["packer"])
    assert resp.status_code == 200
    job = resp.get_json()
    _validate("/api/v1/print-jobs/{job_id}", "get", 200, job)
    assert (job["id"], job["state"], job["attempts"], job["station"], job["reference"],
            job["reprint_of"], job["printer"]) == (job_id, "queued", 0, "PACK-1", "1001",
                                                   None, "label-1")
    assert job["created_at"].endswith("+00:00") and "T" in job["created_at"]   # both DBs
    assert "paused" in job["last_error"]
    _error(client.get(f"/api/v1/print-jobs/{job_id + 50}", headers=headers["packer"]),
           404, "not_found", "job_id")
    assert client.get("/api/v1/print-jobs/0", headers=headers["packer"]).status_code == 404
    assert client.get("/api/v1/print-jobs/abc", headers=headers["packer"]).status_code == 404


def test_preview_is_the_label_as_sent(api, headers, printer):
    need(preview.renderer_dir() is not None, "zpl-renderer-js (make setup)")
    job_id = _job(api, printer)
    client = api.test_client()
    resp = client.get(f"/api/v1/print-jobs/{job_id}/preview.png", headers=headers["packer"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "image/png" and resp.data.startswith(b"\x89PNG\r\n\x1a\n")
    import cv2
    import numpy as np
    import zxingcpp
    image = cv2.imdecode(np.frombuffer(resp.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert {(r.text, r.symbology_identifier) for r in zxingcpp.read_barcodes(image)} == \
        {(f"(00){SSCC}", "]C1")}
    _error(client.get(f"/api/v1/print-jobs/{job_id + 1}/preview.png",
                      headers=headers["packer"]), 404, "not_found", "job_id")


def test_preview_without_the_renderer_is_503(api, headers, printer, monkeypatch, tmp_path):
    monkeypatch.setattr(preview, "_shared", preview.Renderer(node=str(tmp_path / "no-node")))
    job_id = _job(api, printer)
    resp = api.test_client().get(f"/api/v1/print-jobs/{job_id}/preview.png",
                                 headers=headers["packer"])
    body = _error(resp, 503, "renderer_unavailable")
    assert "Node.js" in body["error"]["message"]


# -- reprint ---------------------------------------------------------------------------

def test_reprint_is_refused_while_queued_then_audited_with_the_reason(api, headers, printer):
    job_id = _job(api, printer)
    client = api.test_client()
    url = f"/api/v1/print-jobs/{job_id}/reprint"
    _error(client.post(url, headers=headers["packer"], json={"reason": "torn"}),
           409, "not_printed_yet", "job_id")
    assert _print(api, printer).state == "printed"

    resp = client.post(url, headers=headers["packer"], json={"reason": " label torn "})
    assert resp.status_code == 201, resp.get_json()
    new = resp.get_json()
    _validate("/api/v1/print-jobs/{job_id}/reprint", "post", 201, new)
    assert (new["reprint_of"], new["state"], new["station"], new["kind"]) == \
        (job_id, "queued", "PACK-1", "sscc")
    detail = _in(api, lambda: execute(
        "SELECT actor, detail FROM audit WHERE action = 'print_job.reprint' AND entity_id = ?",
        (str(job_id),)).fetchall())
    assert len(detail) == 1 and detail[0][0]         # who asked
    assert '"reason":"label torn"' in detail[0][1] and f'"new_job":{new["id"]}' in detail[0][1]
    assert _print(api, printer).state == "printed"
    assert len(printer.jobs) == 2 and f"REPRINT job {new['id']} of {job_id}".encode() \
        in printer.jobs[1]
    _error(client.post("/api/v1/print-jobs/999999/reprint", headers=headers["packer"],
                       json={"reason": "x"}), 404, "not_found", "job_id")


@pytest.mark.parametrize("body, status, code, field", [
    ({}, 422, "reason_required", "reason"),
    ({"reason": ""}, 422, "reason_required", "reason"),
    ({"reason": "   "}, 422, "reason_required", "reason"),
    ({"reason": 7}, 422, "reason_required", "reason"),
    ({"reason": "x" * 501}, 422, "schema", "reason"),
    ({"reason": "ok", "copies": 2}, 422, "schema", "copies"),
    (["reason"], 422, "schema", None),
])
def test_bad_reprint_requests_change_nothing(api, headers, printer, body, status, code, field):
    job_id = _job(api, printer)
    assert _print(api, printer).state == "printed"
    before = _count(api, "SELECT COUNT(*) FROM audit")
    resp = api.test_client().post(f"/api/v1/print-jobs/{job_id}/reprint",
                                  headers=headers["supervisor"], json=body)
    _error(resp, status, code, field)
    assert _count(api, "SELECT COUNT(*) FROM print_job") == 1
    assert _count(api, "SELECT COUNT(*) FROM audit") == before


def test_reprint_wants_json(api, headers, printer):
    job_id = _job(api, printer)
    assert _print(api, printer).state == "printed"
    client = api.test_client()
    url = f"/api/v1/print-jobs/{job_id}/reprint"
    _error(client.post(url, headers=headers["packer"], data="reason=torn",
                       content_type="application/x-www-form-urlencoded"),
           415, "unsupported_media_type")
    resp = client.post(url, headers=headers["packer"], data="{not json",
                       content_type="application/json")
    assert resp.status_code == 400 and "error" in resp.get_json()
    assert _count(api, "SELECT COUNT(*) FROM print_job") == 1


# -- the OpenAPI description ---------------------------------------------------------------

def test_openapi_paths_fit_the_document(api):
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
    spec = copy.deepcopy(openapi.build_spec())
    paths = printing.openapi_paths()
    assert set(paths) == {"/api/v1/printers", "/api/v1/printers/{name}",
                          "/api/v1/print-jobs/{job_id}", "/api/v1/print-jobs/{job_id}/preview.png",
                          "/api/v1/print-jobs/{job_id}/reprint"}
    spec["paths"].update(paths)
    OPENAPI_31_VALIDATOR.validate(spec)
    rules = {str(r) for r in api.url_map.iter_rules() if r.endpoint.startswith("printing.")}
    documented = {p.replace("{job_id}", "<id:job_id>").replace("{name}", "<name>")
                  for p in paths}
    assert rules == documented


def test_blueprint_on_a_fresh_app_without_printers(db_url):
    """No printers configured: an empty list, not an error."""
    app = make_app(db_url)
    if "printing" not in app.blueprints:
        app.register_blueprint(printing.bp)
    try:
        token = _in(app, auth.create_token, role="packer")
        resp = app.test_client().get("/api/v1/printers",
                                     headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.get_json()["printers"] == []
    finally:
        if not db.is_closed():
            db.close()

