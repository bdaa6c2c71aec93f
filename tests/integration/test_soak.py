"""The soak's short version (tests/bench/load; `make soak` runs the long one): the
production stack (`wavepack serve-prod`: nginx, two web processes, a worker, PostgreSQL,
Redis) under every kind of client at once for half a minute: 30 handhelds scanning real
pick tasks, 2 pack stations confirming orders to labels on fake printers, a console, a
storefront's signed webhooks (some delivered twice) and a carrier's tracking events (some
posted twice). Correctness, not timings: no error of any kind (ack, HTTP, disconnect,
server log, nginx 5xx, queue left undrained) and everything sent stored exactly once —
scans, console pushes, shipments, labels at their own station's printer, webhook
deliveries and the orders they made, tracking events. With CI=true a missing nginx,
PostgreSQL or Redis fails the test (need())."""
from __future__ import annotations

from tests.bench.load.soak import Params, run

from ..conftest import _pg_available, need, need_nginx, redis_up


def test_a_short_soak_through_the_production_stack_has_no_error_and_stores_all_once():
    need_nginx()
    need(redis_up(), "Redis at 127.0.0.1:6379")
    need(_pg_available(), "PostgreSQL at 127.0.0.1:5432 (database test)")
    res = run(Params(minutes=0.5, handhelds=30, stations=2, pack_every_s=10, consoles=1,
                     webhooks_per_s=6, resend_every=5, tracking_per_s=4, tracking_batch=2,
                     web_processes=2, handheld_procs=1))
    assert res.errors == {}, res.errors
    assert res.failed_checks == [], res.failed_checks
    f = res.facts
    # the load did happen, of every kind (a check of nothing would pass as well)
    assert f["hh"]["verdict_acks"] >= 100, f["hh"]
    assert len(f["confirmed"]) >= 4 and f["webhooks"] >= 100 and f["resent"] >= 20
    assert f["events"] >= 50 and f["event_resends"] >= 5
    assert [c["scan.recorded"] for c in f["consoles_got"]] == [f["hh"]["verdict_acks"]]
    names = {what for what, _, _ in res.checks}
    assert {"scan rows stored = verdict acks", "labels at their station's printer exactly once",
            "webhook deliveries applied as new orders", "tracking events stored once"} <= names
    # each web process served handhelds: nginx spread the devices' addresses over both
    assert all(m.get("scan", {}).get("n", 0) > 0 for m in res.server), res.server
