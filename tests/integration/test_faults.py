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
    app = make_app(pg_url, picking=fs.BIG_TOTES)
    rounds, burst = 2, 15
    floor, badges = fs.scan_floor(app, pickers=3, units=rounds * burst)
    with Cluster(tmp_path, pg_url, webs=2, worker=False, nginx=nginx,
                 config=_picking_overlay()) as cl:
        figures = fs.kill_web_during_scans(cl, app, floor, badges, rounds=rounds,
                                           burst=burst, queue_dir=tmp_path, say=lambda _: None)
    assert figures["rounds"] == rounds and figures["duplicates"] == 0
    assert figures["acked"] == figures["stored"] == figures["sent"] == 3 * (1 + rounds * burst)
    assert figures["counted"] == 3 * rounds * burst
