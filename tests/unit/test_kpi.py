"""The KPI functions (server/domain/kpi.py) on small hand-computed sets: no data, one
order, a time-zone boundary, an order spanning midnight, weights, overlapping faults."""
from __future__ import annotations

import datetime as dt

from server.domain import kpi

UTC = dt.timezone.utc
LDN, SH = "Europe/London", "Asia/Shanghai"


def t(day: int, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, h, m, tzinfo=UTC)


def test_no_data_gives_empty_tables_and_no_rates():
    for report in (kpi.order_accuracy([], LDN), kpi.on_time_shipping([], LDN),
                   kpi.pick_accuracy([], LDN), kpi.short_picks([], LDN)):
        assert all(t.rows == [] for t in report.tables.values())
        rates = [v for k, v in report.summary.items()
                 if k in ("accuracy", "on_time_rate", "pick_accuracy", "short_rate")]
        assert rates == [None]
    ct = kpi.cycle_time([])
    assert ct.summary["bottleneck"] is None
    assert [r[1:] for r in ct.tables["by_stage"].rows] == [[0, None, None]] * 6
    people = kpi.people_performance([], "picker")
    assert people.summary == {"pickers": 0, "lines": 0, "active_hours": 0,
                              "lines_per_hour": None, "scans": 0, "errors": 0,
                              "error_rate": None}
    assert kpi.turnover([], 30).summary["turnover"] is None
    assert kpi.printer_uptime([], [], t(1, 0), t(2, 0), t(3, 0)).summary["uptime"] is None


def test_one_order_shipped_with_a_wrong_item_at_packing_is_not_accurate():
    one = [kpi.ShippedOrder(t(7, 10), "shop", wrong_at_packing=True, promised=True,
                            on_time=True)]
    acc = kpi.order_accuracy(one, LDN)
    assert acc.summary == {"shipped": 1, "accurate": 0, "accuracy": 0.0,
                           "wrong_at_packing": 1, "wrong_item_returns": 0}
    assert acc.tables["by_day"].rows == [["2026-12-07", 1, 0, 0.0, 1, 0]]
    on_time = kpi.on_time_shipping(one, LDN)
    assert on_time.summary == {"promised": 1, "on_time": 1, "on_time_rate": 1.0, "late": 0,
                               "without_promise": 0}


def test_accuracy_weights_and_channels():
    rows = [kpi.ShippedOrder(t(7, 9), "shop", n=7),
            kpi.ShippedOrder(t(7, 9), "shop", wrong_item_return=True, n=2),
            kpi.ShippedOrder(t(7, 9), "woo", wrong_at_packing=True, wrong_item_return=True),
            kpi.ShippedOrder(t(8, 9), "woo", promised=True, on_time=False, n=3)]
    acc = kpi.order_accuracy(rows, LDN)
    # 13 shipped; 7 + 3 accurate; the one wrong twice counts once
    assert acc.summary["shipped"] == 13 and acc.summary["accurate"] == 10
    assert acc.summary["accuracy"] == round(10 / 13, 4)
    assert acc.tables["by_channel"].rows == [["shop", 9, 7, round(7 / 9, 4), 0, 2],
                                             ["woo", 4, 3, 0.75, 1, 1]]
    late = kpi.on_time_shipping(rows, LDN)
    assert late.summary == {"promised": 3, "on_time": 0, "on_time_rate": 0.0, "late": 3,
                            "without_promise": 10}


def test_the_local_day_decides_across_a_time_zone_boundary():
    # 23:30 UTC on 6 Dec: still the 6th in London, already the 7th in Shanghai (UTC+8)
    rows = [kpi.ShippedOrder(t(6, 23, 30), "shop"), kpi.ShippedOrder(t(7, 0, 30), "shop")]
    assert [r[0] for r in kpi.order_accuracy(rows, LDN).tables["by_day"].rows] == [
        "2026-12-06", "2026-12-07"]
    assert kpi.order_accuracy(rows, SH).tables["by_day"].rows == [
        ["2026-12-07", 2, 2, 1.0, 0, 0]]
    # summer time: 23:30 UTC on 1 July is 00:30 on the 2nd in London (BST, UTC+1)
    summer = dt.datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    assert kpi.local_day(summer, LDN) == dt.date(2026, 7, 2)
    assert kpi.local_day(summer.replace(month=12), LDN) == dt.date(2026, 12, 1)


def test_an_order_spanning_midnight_counts_its_stages_whole():
    # received 23:50 local on the 6th, shipped 00:20 on the 7th, delivered two days later
    m = {"received": t(6, 23, 50), "reserved": t(6, 23, 51), "waved": t(6, 23, 58),
         "picked": t(7, 0, 5), "packed": t(7, 0, 12), "shipped": t(7, 0, 20),
         "delivered": t(9, 10, 20)}
    durations = kpi.stage_durations(m)
    assert durations == [("received_to_reserved", 60.0), ("reserved_to_waved", 420.0),
                         ("waved_to_picked", 420.0), ("picked_to_packed", 420.0),
                         ("packed_to_shipped", 480.0),
                         ("shipped_to_delivered", (2 * 24 * 60 + 600) * 60.0)]
    report = kpi.cycle_time([kpi.StageDuration(s, "shop", secs) for s, secs in durations])
    assert report.summary["bottleneck"] == "shipped_to_delivered"
    assert report.summary["stages"]["packed_to_shipped"] == {
        "orders": 1, "median_seconds": 480.0, "p90_seconds": 480.0}
    # a missing milestone ends the stages that need it; a re-waved order (waved after it
    # was picked) leaves that stage out rather than count it negative
    assert kpi.stage_durations({"received": t(6, 1), "waved": t(6, 2)}) == []
    assert [s for s, _ in kpi.stage_durations({**m, "waved": t(7, 1)})] == [
        "received_to_reserved", "reserved_to_waved", "picked_to_packed", "packed_to_shipped",
        "shipped_to_delivered"]


def test_cycle_time_median_and_p90_are_weighted_nearest_rank():
    rows = [kpi.StageDuration("picked_to_packed", "shop", 60, n=5),
            kpi.StageDuration("picked_to_packed", "shop", 120, n=4),
            kpi.StageDuration("picked_to_packed", "woo", 3600, n=1),
            kpi.StageDuration("waved_to_picked", "shop", 300, n=10)]
    report = kpi.cycle_time(rows)
    stages = report.summary["stages"]
    # 10 values: 60×5, 120×4, 3600: rank 5 → 60, rank 9 → 120
    assert stages["picked_to_packed"] == {"orders": 10, "median_seconds": 60,
                                          "p90_seconds": 120}
    assert report.summary["bottleneck"] == "waved_to_picked"
    assert ["woo", "picked_to_packed", 1, 3600, 3600] in report.tables["by_channel"].rows
    assert kpi.percentile([(1, 1), (2, 1), (3, 1), (4, 1)], 0.5) == 2
    assert kpi.percentile([(5, 0)], 0.5) is None


def test_pick_accuracy_and_short_rate_from_quarter_hour_counters():
    rows = [kpi.PickStat(t(7, 8), "", "shop", scans=12, errors=2, tasks=5, first=4,
                         first_ok=3, shorts=1, units=9),
            kpi.PickStat(t(7, 8, 15), "", "woo", scans=3, tasks=2, first=2, first_ok=2),
            kpi.PickStat(t(8, 8), "", "shop", scans=1, errors=1, tasks=1, first=1)]
    acc = kpi.pick_accuracy(rows, LDN)
    assert acc.summary == {"tasks": 7, "first_scan_ok": 5, "pick_accuracy": round(5 / 7, 4)}
    assert acc.tables["by_day"].rows == [["2026-12-07", 6, 5, round(5 / 6, 4)],
                                         ["2026-12-08", 1, 0, 0.0]]
    short = kpi.short_picks(rows, LDN)
    assert short.summary == {"tasks": 8, "shorts": 1, "short_rate": 0.125}


def test_people_lines_per_active_hour_and_error_rate():
    rows = [kpi.PersonWork("p1", "Ann", lines=30, scans=100, errors=5, quarters=6),
            kpi.PersonWork("p2", "Bo", lines=50, scans=80, errors=0, quarters=8),
            kpi.PersonWork("p1", "Ann", lines=6, scans=10, errors=0, quarters=2)]
    report = kpi.people_performance(rows, "picker")
    assert report.tables["by_picker"].rows == [
        ["p2", "Bo", 50, 2.0, 25.0, 80, 0, 0.0],
        ["p1", "Ann", 36, 2.0, 18.0, 110, 5, round(5 / 110, 4)]]
    assert report.summary["lines_per_hour"] == 21.5 and report.summary["pickers"] == 2


def test_turnover_uses_the_average_of_start_and_end_stock():
    report = kpi.turnover([kpi.SkuFlow("SOCK", "Socks", shipped=30, on_hand=15),
                           kpi.SkuFlow("MUG", "Mug", shipped=0, on_hand=40),
                           kpi.SkuFlow("CAP", "Cap", shipped=5, on_hand=0)], days=30)
    # SOCK: start 45, end 15, average 30 → 1.0; 1 a day → 15 days of cover
    # CAP: start 5, end 0, average 2.5 → 2.0; nothing left → 0 days
    assert report.tables["by_sku"].rows == [["CAP", "Cap", 5, 0, 2.0, 0.0],
                                            ["SOCK", "Socks", 30, 15, 1.0, 15.0],
                                            ["MUG", "Mug", 0, 40, 0.0, None]]


def test_printer_uptime_merges_overlapping_faults_and_clips_to_the_range():
    start, end = t(7, 0), t(8, 0)
    faults = [kpi.Fault("label-1", t(6, 22), t(7, 2)),        # 2 h inside (begun before)
              kpi.Fault("label-1", t(7, 1), t(7, 3)),         # overlaps: 1 more hour
              kpi.Fault("label-2", t(7, 18), None)]           # still open: until now
    report = kpi.printer_uptime(["label-1", "label-2", "docs"], faults, start, end,
                                now=t(7, 21))
    rows = {r[0]: r[1:] for r in report.tables["by_printer"].rows}
    span = 21 * 3600   # the range so far
    assert rows["label-1"] == [1, 3 * 3600, round(1 - 3 / 21, 4)]
    assert rows["label-2"] == [1, 3 * 3600, round(1 - 3 / 21, 4)]
    assert rows["docs"] == [0, 0, 1.0]
    assert report.summary["uptime"] == round((3 * span - 6 * 3600) / (3 * span), 4)


def test_return_reasons_are_normalised():
    assert kpi.is_wrong_item_reason("WRONG_ITEM")
    assert kpi.is_wrong_item_reason("Wrong-item sent")
    assert not kpi.is_wrong_item_reason("Too small")
    assert kpi.normalise_reason("  Size   too_small ") == "size too small"
    assert kpi.normalise_reason("") == "unspecified"
