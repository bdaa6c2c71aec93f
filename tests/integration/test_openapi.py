"""/openapi.json is a valid OpenAPI 3.1 document, /docs shows it, and the API keeps the
promises the document makes: schemathesis generates requests for every operation and no
answer is a 5xx, an undocumented status, or a body that breaks its response schema.

Runs on SQLite and on PostgreSQL (the `db_url` fixture)."""
from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from server.api import openapi
from server.api.schemas import SCHEMAS
from server.services import auth, channels, intake
from server.store.db import db
from server.settings import current

from ..factories import draft, seed

PATHS = (
    "/api/v1/replenishment/levels", "/api/v1/replenishment/tasks",
    "/api/v1/replenishment/tasks/{task_id}", "/api/v1/replenishment/tasks/{task_id}/cancel",
    "/api/v1/replenishment/alerts", "/api/v1/replenishment/purchase-suggestions",
    "/api/v1/replenishment/purchase-suggestions.csv",
    "/healthz", "/metrics", "/api/v1/auth/badge", "/api/v1/orders", "/api/v1/orders/{order_id}",
    "/api/v1/orders/{order_id}/cancel", "/api/v1/orders/{order_id}/release",
    "/api/v1/orders/{order_id}/carrier",
    "/api/v1/orders:import", "/api/v1/stock", "/api/v1/stock/receipts",
    "/api/v1/waves", "/api/v1/waves/{wave_id}", "/api/v1/waves/{wave_id}/release",
    "/api/v1/waves/{wave_id}/cancel", "/api/v1/metrics/handheld", "/webhooks/shopify/{channel}", "/webhooks/woocommerce/{channel}",
    "/api/v1/pack/stations", "/api/v1/pack/stations/{station}", "/api/v1/pack/sessions",
    "/api/v1/pack/stations/{station}/queue", "/api/v1/pack/stations/{station}/labels",
    "/api/v1/pack/sessions/{session_id}",
    *(f"/api/v1/pack/sessions/{{session_id}}/{action}" for action in (
        "scan", "qc", "weight", "carton", "hold", "release", "confirm", "cancel")),
    "/api/v1/shipments/{shipment_id}", "/api/v1/shipments/{shipment_id}/dispatch",
    "/api/v1/shipments/dispatch", "/api/v1/pack/sessions/{session_id}/documents/{kind}.pdf",
    "/api/v1/printers", "/api/v1/printers/{name}", "/api/v1/print-jobs/{job_id}",
    "/api/v1/print-jobs/{job_id}/preview.png", "/api/v1/print-jobs/{job_id}/reprint",
    "/api/v1/outbox", "/api/v1/outbox/{outbox_id}/retry",
    "/api/v1/counts", "/api/v1/counts:schedule", "/api/v1/counts/{count_id}/cancel",
    "/api/v1/tracking-events", "/api/v1/shipments/{tracking_number}",
    "/webhooks/tracking/{feed}",
    "/api/v1/returns", "/api/v1/returns/find", "/api/v1/returns/unannounced",
    "/api/v1/returns/{return_id}",
    *(f"/api/v1/returns/{{return_id}}/{action}" for action in (
        "cancel", "label", "receive", "scan", "close", "repair")),
    "/api/v1/returns/{return_id}/lines/{line_id}/disposition",
    "/api/v1/exceptions", "/api/v1/exceptions/{exception_id}", "/api/v1/reports/exceptions",
    "/api/v1/reports/{name}",
    *(f"/api/v1/exceptions/{{exception_id}}/{action}" for action in (
        "ack", "assign", "resolve", "dismiss", "notes")),
    "/api/v1/floor", "/api/v1/about",
    "/api/v1/orders/search", "/api/v1/orders/{order_id}/timeline", "/api/v1/stock/bin",
    "/api/v1/stock/bin/movements", "/api/v1/stock/adjustments", "/api/v1/admin/users",
    *(f"/api/v1/admin/users/{{badge}}/{action}" for action in ("disable", "enable", "pin")),
    "/api/v1/admin/tokens", "/api/v1/admin/tokens/{token_id}/revoke",
)

# Which tokens make sense for an operation; hypothesis draws one per example, so both a
# channel's and a supervisor's view (and the 403s between them) are exercised.
TOKENS_FOR: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/v1/orders"): ("channel",),
    ("GET", "/api/v1/stock"): ("supervisor",),
    ("POST", "/api/v1/stock/receipts"): ("supervisor",),
    ("POST", "/api/v1/orders/{order_id}/release"): ("supervisor", "channel"),
    ("POST", "/api/v1/orders/{order_id}/carrier"): ("supervisor", "channel"),
    ("POST", "/api/v1/tracking-events"): ("carrier", "supervisor"),
    ("POST", "/api/v1/stock/adjustments"): ("supervisor", "packer"),
}
# users and tokens: an admin's (and a supervisor's, refused with 403)
ADMIN_PATHS = ("/api/v1/admin/",)
ADMIN_TOKENS = ("admin", "supervisor")
DEFAULT_TOKENS = ("channel", "supervisor")
# The bench and the printers act for a badge-holding user: a packer's session token is
# what reaches their code (a bare supervisor API token is refused with 403 badge_required).
STAFF_PATHS = (
    "/api/v1/replenishment/levels", "/api/v1/replenishment/tasks",
    "/api/v1/replenishment/tasks/{task_id}", "/api/v1/replenishment/tasks/{task_id}/cancel",
    "/api/v1/replenishment/alerts", "/api/v1/replenishment/purchase-suggestions",
    "/api/v1/replenishment/purchase-suggestions.csv","/api/v1/pack", "/api/v1/shipments", "/api/v1/print-jobs", "/api/v1/printers")
STAFF_TOKENS = ("packer", "supervisor")
MAX_EXAMPLES = 30

ORDER = {
    "ref": "SEED-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP", "paid": True,
    "ship_to": {"name": "Oliver Bennett", "phone": "+447700900101", "address1": "27 Granby St",
                "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"},
    "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 2, "unit_price": "24.00"}],
}


@pytest.fixture
def api_app(app: Flask) -> Flask:
    """The app with the OpenAPI blueprint (registered here if register_blueprints lacks it)."""
    if "openapi" not in app.blueprints:
        app.register_blueprint(openapi.bp)
    return app


@pytest.fixture
def tokens(api_app: Flask) -> dict[str, str]:
    """A seeded warehouse, a channel and a supervisor token, and orders in several states
    (ready, on hold, invalid, backordered) so that order ids the fuzzer picks exist."""
    seed(api_app)
    with api_app.app_context(), db.connection_context():
        packer = auth.add_user("K1", "packer", "1234", "Pam Packer")
        raw = {"channel": auth.create_token(channel="api"),
               "supervisor": auth.create_token(role="supervisor"),
               "packer": auth.create_token(role="packer", label="login K1", hours=12,
                                           user_id=packer),
               "carrier": auth.create_token(carrier="royal-mail"),
               "admin": auth.create_token(role="admin")}
    client = api_app.test_client()
    bearer = {"Authorization": f"Bearer {raw['channel']}"}
    variants = [
        {},                                                              # ready
        {"lines": [{"sku": "WP-MUG-350-SAGE", "quantity": 101, "unit_price": "1.00"}]},  # hold
        {"lines": [{"sku": "WP-TOTE-NAT", "quantity": 99, "unit_price": "1.00"},
                   {"sku": "WP-TOTE-NAT", "quantity": 50, "unit_price": "1.00"}]},  # short
        {"paid": False},                                                 # awaiting payment
        {"carrier": "Carrier Pigeon"},                                   # carrier_unmapped
    ]
    for i, extra in enumerate(variants):
        resp = client.post("/api/v1/orders", json={**ORDER, "ref": f"SEED-{i}", **extra},
                           headers=bearer)
        assert resp.status_code == 201, resp.get_json()
    # an invalid order comes from a storefront or a CSV (the API refuses one with a 422)
    with api_app.app_context(), db.connection_context():
        [res] = intake.import_orders(channels.ref(channels.get_channel("api")),
                                     [draft("SEED-INVALID", [("NO-SUCH-SKU", 1)])], "test",
                                     settings=current())
    assert res.status == "invalid"
    return raw


def test_spec_is_valid_openapi_31(api_app: Flask) -> None:
    spec = api_app.test_client().get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    OPENAPI_31_VALIDATOR.validate(spec)   # the official OAS 3.1 meta-schema (via schemathesis)
    schemathesis.openapi.from_dict(spec).validate()
    for component in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(component)   # each component is a valid JSON Schema
    assert set(PATHS) == set(spec["paths"])


def test_spec_documents_auth_and_errors(api_app: Flask) -> None:
    spec = api_app.test_client().get("/openapi.json").get_json()
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert spec["security"] == [{"bearer": []}]
    post = spec["paths"]["/api/v1/orders"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= post["parameters"][0].items()
    assert {"400", "401", "403", "409", "413", "415", "422"} <= set(post["responses"])
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    upload = spec["paths"]["/api/v1/orders:import"]["post"]["requestBody"]["content"]
    assert "file" in upload["multipart/form-data"]["schema"]["properties"]
    # request bodies are the very schemas the API validates with, not copies that can drift
    assert json.loads(json.dumps(SCHEMAS)).items() <= spec["components"]["schemas"].items()


def test_docs_page_is_self_contained_and_lists_every_path(api_app: Flask) -> None:
    resp = api_app.test_client().get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    for path in PATHS:
        assert path in html, path
    for schema_name in ("NativeOrder", "Order", "Error", "ImportReport"):
        assert f'id="schema-{schema_name}"' in html
    lowered = html.lower()
    assert "<script src" not in lowered and "<link" not in lowered   # nothing from a CDN


def _fuzz(operation: Any, mode: GenerationMode, checks: list, tokens: dict[str, str]
          ) -> str | None:
    """Run one operation's generated requests; the failure report, or None."""
    roles = TOKENS_FOR.get((operation.method.upper(), operation.path)) or (
        STAFF_TOKENS if operation.path.startswith(STAFF_PATHS) else
        ADMIN_TOKENS if operation.path.startswith(ADMIN_PATHS) else DEFAULT_TOKENS)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), role=st.sampled_from(roles))
    def run(case: Any, role: str) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {tokens[role]}"},
                               checks=checks)

    try:
        run()
    except Unsatisfiable:   # nothing to get wrong: no parameters, no body (GET /healthz)
        return None
    except (Exception, BaseExceptionGroup) as err:  # shrunk already; report every operation
        return f"{mode} {operation.label}: {err}"
    return None


def test_api_keeps_its_documented_promises(api_app: Flask, tokens: dict[str, str]) -> None:
    """Valid requests: no 5xx, only documented statuses, content types and bodies.
    Invalid requests (negative mode): still never a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api_app)
    positive = [not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance]
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        failures.append(_fuzz(operation, GenerationMode.POSITIVE, positive, tokens))
        failures.append(_fuzz(operation, GenerationMode.NEGATIVE, [not_a_server_error], tokens))
    failures = [f for f in failures if f]
    assert not failures, "\n\n".join(failures)
