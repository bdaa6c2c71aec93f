"""Every route and every Socket.IO event, called as every kind of caller (anonymous, channel
token, carrier token, picker, packer, supervisor, admin) against a seeded app on SQLite and
PostgreSQL (tests/security/table.py), must match the table in docs/security.md; and some
rules hold whatever the table says: only the listed routes are public, webhooks answer
signed calls only, a carrier token reaches nothing but tracking events, nothing answers 5xx."""
from __future__ import annotations

import pytest

from tests.conftest import PG_BASE
from tests.security import table

# What anyone may call without a token, and why. A new public route must be added here
# with its reason (and gets its row in docs/security.md by `make security-table`).
PUBLIC = {
    ("POST", "/api/v1/auth/badge"): "the badge login itself (rate limited, lockout)",
    ("GET", "/healthz"): "load balancer / service manager health check; no data",
    ("GET", "/docs"): "the API documentation",
    ("GET", "/openapi.json"): "the OpenAPI spec",
    **{("GET", rule): "a page's static files (no data: the page logs in to call the API)"
       for page in ("handheld", "pack", "returns", "exceptions", "console")
       for rule in (f"/{page}", f"/{page}/", f"/{page}/<path:name>")},
    ("GET", "/common/<path:name>"): "the scripts the pages share",
    ("GET", "/"): "the landing page: what this server is, links to the pages",
    ("GET", "/home/<path:name>"): "the landing page's static files",
    ("GET", "/api/v1/about"): "name and version for the landing page; the demo logins only "
                              "when the server runs the demo (`serve --demo`)",
}
CARRIER_ONLY = {("POST", "/api/v1/tracking-events")}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def probed(request):
    if request.param == "sqlite":
        return table.probe()
    schema = request.getfixturevalue("pg_schema")
    return table.probe(f"{PG_BASE}?schema={schema}")


def test_routes_and_events_match_the_table_in_docs_security(probed):
    rows, _ = probed
    wrong = table.differences(rows, table.documented())
    assert not wrong, (f"docs/security.md's route table is out of date ({len(wrong)}):\n  "
                       + "\n  ".join(wrong)
                       + f"\nRun `{table.COMMAND}` and review the roles it writes.")


def test_no_route_or_event_answers_a_server_error_or_sets_a_cookie(probed):
    _, problems = probed
    assert not problems, "\n".join(problems)


def test_only_the_public_routes_answer_without_a_token(probed):
    rows, _ = probed
    public = {(r.where, r.what) for r in rows if r.kind == "http" and "anonymous" in r.allowed}
    assert public == set(PUBLIC), (
        f"answer without a token but are not in PUBLIC: {sorted(public - set(PUBLIC))}; "
        f"in PUBLIC but need a token: {sorted(set(PUBLIC) - public)}")
    sockets = [r for r in rows if r.kind != "http" and "anonymous" in r.allowed]
    assert sockets == []


def test_webhooks_answer_no_token_of_any_kind(probed):
    rows, _ = probed
    hooks = [r for r in rows if r.kind == "http" and r.what.startswith("/webhooks/")]
    assert len(hooks) >= 3
    assert [(r.what, r.allowed) for r in hooks if r.allowed] == []


def test_machine_tokens_reach_only_their_own_routes(probed):
    rows, _ = probed
    carrier = {(r.where, r.what) for r in rows if "carrier" in r.allowed} - set(PUBLIC)
    assert carrier == CARRIER_ONLY
    assert not [r for r in rows if r.kind != "http" and {"channel", "carrier"} & set(r.allowed)]
    staff_only = [r for r in rows if r.kind == "http" and "channel" in r.allowed
                  and not r.what.startswith(("/api/v1/orders", "/api/v1/returns",
                                             "/api/v1/shipments"))
                  and (r.where, r.what) not in PUBLIC]
    assert staff_only == []


def test_the_table_reads_back_what_it_writes():
    rows = [table.Row("http", "GET", "/a|b/<id:x>", ("supervisor", "admin")),
            table.Row("socket", "/ns", "connect", tuple(table.CALLERS)),
            table.Row("http", "POST", "/webhooks/x/<channel>", ())]
    text = f"intro\n{table.BEGIN}\n{table.render(rows)}\n{table.END}\nafter"
    assert table.differences(rows, table.documented(text)) == []
    changed = [table.Row("http", "GET", "/a|b/<id:x>", ("admin",)), *rows[1:]]
    assert table.differences(changed, table.documented(text)) == [
        "http GET /a|b/<id:x>: the table says 'supervisor, admin', the app allows 'admin'"]
    assert table.differences(rows[1:], table.documented(text)) == [
        "a row for http GET /a|b/<id:x>, which the app no longer has"]
    assert table.differences(rows, {})[0].startswith("no row for http GET /a|b/<id:x>")
