"""Faults in the production runtime (issue 16, section 2), short versions: web processes
(`wavepack serve --no-workers`) behind nginx, a `wavepack worker`, PostgreSQL and Redis
reached through TCP proxies the test cuts (tests/tcp_proxy.py; the machine's own services
are never stopped). `make soak-faults` runs the same scenarios for many rounds
(tests/bench/faults.py). With CI=true a missing nginx, PostgreSQL or Redis fails."""
from __future__ import annotations

import pytest

from ..conftest import PG_BASE, make_app, need, need_nginx, redis_up
from ..fault_cluster import Cluster
from .. import fault_scenarios as fs



@pytest.fixture
def pg_url(request):
    need(redis_up(), "Redis at 127.0.0.1:6379")
    schema = request.getfixturevalue("pg_schema")
    return f"{PG_BASE}?schema={schema}"


def _picking_overlay(extra: str = "") -> str:
    return ("picking: {require_location_scan: true, require_tote_scan: false, "
            "tote_volume_l: 100000, plan_time_budget_s: 0.2}\n"
            "jobs: {enabled: false}\n" + extra)


def test_kill_9_of_the_web_process_during_scan_bursts_loses_and_doubles_nothing(
        tmp_path, pg_url):
    nginx = need_nginx()
    app = make_app(pg_url, picking=fs.BIG_TOTES, risk=fs.RISK)
    rounds, burst = 2, 15
    floor, badges = fs.scan_floor(app, pickers=3, units=rounds * burst)
    with Cluster(tmp_path, pg_url, webs=2, worker=False, nginx=nginx,
                 config=_picking_overlay()) as cl:
        figures = fs.kill_web_during_scans(cl, app, floor, badges, rounds=rounds,
                                           burst=burst, queue_dir=tmp_path, say=lambda _: None)
    assert figures["rounds"] == rounds and figures["duplicates"] == 0
    assert figures["acked"] == figures["stored"] == figures["sent"] == 3 * (1 + rounds * burst)
    assert figures["counted"] == 3 * rounds * burst


def test_postgresql_away_answers_503_holds_the_handhelds_and_recovers_without_a_restart(
        tmp_path, pg_url):
    from printers.fake import FakePrinter
    nginx = need_nginx()
    app = make_app(pg_url, picking=fs.BIG_TOTES, risk=fs.RISK)
    rounds, burst = 2, 6
    floor, badges = fs.scan_floor(app, pickers=2, units=rounds * burst)
    with FakePrinter() as printer:
        config = _picking_overlay(
            f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
            "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n")
        with Cluster(tmp_path, pg_url, webs=2, worker=True, nginx=nginx, config=config) as cl:
            figures = fs.postgres_away(cl, app, floor, badges, printer, rounds=rounds,
                                       burst=burst, outage_s=3.0, queue_dir=tmp_path,
                                       say=print)
    assert figures["duplicates"] == 0 and figures["server_errors"] == 0
    assert figures["acked"] == figures["stored"] == figures["sent"]
    assert figures["counted"] == 2 * rounds * burst


def test_redis_away_the_floor_goes_on_and_consoles_are_told_their_view_is_partial(
        tmp_path, pg_url):
    from printers.fake import FakePrinter
    nginx = need_nginx()
    app = make_app(pg_url, picking=fs.BIG_TOTES, risk=fs.RISK)
    rounds, burst = 2, 4
    floor, badges = fs.scan_floor(app, pickers=2, units=rounds * (burst + 1), packed=rounds)
    with FakePrinter() as printer:
        config = _picking_overlay(
            f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
            "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n" + fs.STATIONS_YAML)
        with Cluster(tmp_path, pg_url, webs=2, worker=True, nginx=nginx, config=config) as cl:
            figures = fs.redis_away(cl, app, floor, badges, printer, rounds=rounds,
                                    burst=burst, outage_s=3.0, queue_dir=tmp_path, say=print)
    assert figures["duplicates"] == 0 and figures["acked"] == figures["sent"]
    assert figures["labels"] == 3 * rounds          # a label, its reprint, a packed order


def test_worker_killed_mid_print_and_mid_outbox_loses_nothing_and_sends_nothing_twice(
        tmp_path, pg_url):
    from printers.fake import FakePrinter
    from ..fake_storefront import FakeStorefront
    app = make_app(pg_url)
    with FakePrinter() as printer, FakeStorefront() as shop:
        fs.storefront_channels(app, shop)
        config = (f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
                  "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n"
                  "jobs: {enabled: true, outbox_poll_seconds: 0.2, lease_seconds: 4}\n"
                  "outbox: {timeout_seconds: 40, lease_seconds: 3}\n")
        with Cluster(tmp_path, pg_url, webs=0, worker=True, config=config) as cl:
            figures = fs.worker_killed(cl, app, printer, shop, rounds=2, labels=12,
                                       say=print)
    assert figures["printed_twice"] == 0 and figures["outbox_applied_twice"] == 0
    assert figures["failed_unconfirmed"] <= 2
