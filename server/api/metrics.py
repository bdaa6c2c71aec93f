"""GET /metrics: operations metrics in Prometheus's text format (server/telemetry.py has
the counters and the multi-process setup; docs/deploy.md "Metrics" the scrape config).

Who may read it: a bearer token of kind `metrics` (`wavepack token create --metrics`: it
reads this and nothing else), a supervisor's or an admin's; or, without a token, an
address under `metrics.allow_from`. Anyone else gets 401 (no or a bad token) or 403.

Besides the counters every process writes, a scrape reads from the database (cheap
indexed counts, services/ops.py): queue depths and ages, open exceptions by type, printers
by state; and says whether the database answered (`wavepack_database_up`) and what runs
(`wavepack_build_info`). Webhook deliveries refused with an error are counted here, after
the response is made, from its error code.
"""
from __future__ import annotations

import ipaddress
import logging
import platform
import time
from importlib import metadata

from flask import Blueprint, Flask, Response, request

from .. import settings, telemetry
from ..domain.errors import Forbidden
from ..services import ops
from ..store import db as store_db
from ..store.migrate import schema_version
from .common import caller

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
ROLES = ("supervisor", "admin")


def _version() -> str:
    try:
        return metadata.version("wavepack")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()


@bp.get("/metrics")
def scrape():
    """The metrics of every process of this deployment, in Prometheus's text format."""
    _require_scraper()
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Processes())
    registry.register(_Database())
    return Response(generate_latest(registry), status=200, mimetype=None,
                    content_type=CONTENT_TYPE_LATEST)


def _require_scraper() -> None:
    networks = settings.current().metrics.networks()
    if networks and request.remote_addr:
        try:
            addr = ipaddress.ip_address(request.remote_addr)
        except ValueError:
            addr = None
        if addr is not None and any(addr in net for net in networks):
            return
    who = caller()                                   # 401 without a valid token
    if who.kind != "metrics" and not who.is_staff(*ROLES):
        raise Forbidden("GET /metrics needs a metrics token (wavepack token create "
                        "--metrics) or a supervisor's or admin's")


class _Processes:
    """The counters and histograms of every process (this one's, or the directory's)."""

    def collect(self):
        yield from telemetry.registry().collect()


class _Database:
    """Read at scrape time; a database that does not answer is `wavepack_database_up 0`
    and the rest of the scrape still comes back (an alert needs the 0, not a 500)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
        info = InfoMetricFamily("wavepack_build", "What this server runs")
        info.add_metric([], {"version": VERSION, "python": platform.python_version(),
                             "database": store_db.kind()})
        yield info
        started = time.perf_counter()
        try:
            depths = ops.queue_depths()
            exceptions = ops.open_exceptions()
            printers = ops.printers_by_state()
            version = schema_version()
            up = 1
        except Exception as err:  # noqa: BLE001 (the scrape says so instead of failing)
            log.warning("metrics: database not read: %s", err)
            up = 0
        took = time.perf_counter() - started
        yield GaugeMetricFamily("wavepack_database_up", "1 when the scrape's database "
                                "queries answered", value=up)
        yield GaugeMetricFamily("wavepack_scrape_database_seconds", "Time the scrape's "
                                "database queries took", value=took)
        if not up:
            return
        yield GaugeMetricFamily("wavepack_schema_version", "Schema version of the database",
                                value=version)
        depth = GaugeMetricFamily("wavepack_queue_depth", "Rows waiting in a work queue "
                                  "(inbox: webhook deliveries to apply; outbox: storefront "
                                  "updates to send; print: labels to print)",
                                  labels=["queue", "state"])
        age = GaugeMetricFamily("wavepack_queue_oldest_age_seconds", "Age of the oldest "
                                "row waiting in a queue (0 when none waits)",
                                labels=["queue", "state"])
        for d in depths:
            depth.add_metric([d.queue, d.state], d.count)
            age.add_metric([d.queue, d.state], d.oldest_age_s)
        yield depth
        yield age
        opened = GaugeMetricFamily("wavepack_exceptions_open", "Exceptions open or "
                                   "acknowledged, by type and severity",
                                   labels=["type", "severity"])
        for type_, severity, n in exceptions:
            opened.add_metric([type_, severity], n)
        yield opened
        printer = GaugeMetricFamily("wavepack_printers", "Printers by the state their "
                                    "worker last recorded", labels=["state"])
        for state, n in printers:
            printer.add_metric([state], n)
        yield printer


def _count_webhook_rejection(response: Response) -> Response:
    """A webhook delivery answered with an error: counted by webhook and error code."""
    if response.status_code >= 400 and request.path.startswith("/webhooks/"):
        rule = request.url_rule
        parts = rule.rule.split("/") if rule is not None else []
        source = parts[2] if len(parts) > 2 else "unknown"
        cause = f"http_{response.status_code}"
        if response.is_json:
            body = response.get_json(silent=True)
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                cause = error["code"][:64]
        telemetry.metrics().webhook_rejections.labels(source, cause).inc()
    return response


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_count_webhook_rejection)
    telemetry.install()


def openapi_paths() -> dict:
    """This blueprint's path item, for server/api/openapi.py's document."""
    errors = {str(s): {"$ref": f"#/components/responses/{name}"}
              for s, name in ((400, "BadRequest"), (401, "Unauthorized"), (403, "Forbidden"))}
    return {"/metrics": {"get": {
        "tags": ["health"], "operationId": "metrics",
        "summary": "Operations metrics in Prometheus's text format (a metrics token, a "
                   "supervisor or an admin; or an address under metrics.allow_from)",
        "description": "Every process of the deployment added up (PROMETHEUS_MULTIPROC_DIR): "
                       "scans by verdict, the scan verdict latency histogram, labels printed "
                       "and print failures by reason, webhook refusals by cause, console "
                       "feed; read from the database at scrape time: queue depths and ages "
                       "(inbox, outbox, print), open exceptions by type, printers by state, "
                       "database up, build info. docs/deploy.md has the scrape config.",
        "responses": {"200": {"description": "the metrics", "content": {"text/plain": {
            "schema": {"type": "string"}}}}, **errors},
    }}}
