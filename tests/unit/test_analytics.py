"""The analytics functions (server/domain/analytics.py) on hand-computed sets: no data, one
order, local days and weeks across a time-zone boundary, heat-map cells, reasons."""
from __future__ import annotations

import datetime as dt

from server.domain import analytics as an

UTC = dt.timezone.utc
LDN, NY = "Europe/London", "America/New_York"


def t(day: int, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, h, m, tzinfo=UTC)


def test_no_data():
    assert an.sales_trend([], LDN).summary == {"orders": 0, "units": 0, "revenue_minor": {}}
    assert an.product_ranking([]).tables["by_units"].rows == []
    assert an.return_rates([], {}).summary == {"sold": 0, "returned": 0, "return_rate": None}
    freq = an.purchase_frequency({})
    assert freq.summary["repeat_rate"] is None and freq.summary["orders_per_customer"] is None
    assert an.payment_share([]).tables["by_method"].rows == []
    heat = an.peak_hours([], [], LDN)
    assert heat.summary == {"orders": 0, "peak_orders": None, "scans": 0, "peak_scans": None}
    assert heat.tables["orders"].rows[0] == ["mon"] + [0] * 24


def test_one_order_in_the_trend_by_day_and_week():
    report = an.sales_trend([an.Sale(t(9, 12), "shop", "GBP", 1, 3, 4500)], LDN)
    assert report.tables["by_day"].rows == [["2026-12-09", "shop", "GBP", 1, 3, 4500]]
    assert report.tables["by_week"].rows == [["2026-12-07", "shop", "GBP", 1, 3, 4500]]
    assert report.summary == {"orders": 1, "units": 3, "revenue_minor": {"GBP": 4500}}


def test_days_and_weeks_are_local_and_currencies_never_mix():
    # 03:00 UTC on Monday 7 Dec is still Sunday the 6th in New York: the week before
    rows = [an.Sale(t(7, 3), "shop", "USD", 2, 2, 1000),
            an.Sale(t(7, 15), "shop", "USD", 1, 1, 500),
            an.Sale(t(7, 15), "eu", "EUR", 1, 4, 800)]
    ny = an.sales_trend(rows, NY)
    assert ny.tables["by_day"].rows == [["2026-12-06", "shop", "USD", 2, 2, 1000],
                                        ["2026-12-07", "eu", "EUR", 1, 4, 800],
                                        ["2026-12-07", "shop", "USD", 1, 1, 500]]
    assert [r[0] for r in ny.tables["by_week"].rows] == ["2026-11-30", "2026-12-07",
                                                         "2026-12-07"]
    assert ny.summary["revenue_minor"] == {"EUR": 800, "USD": 1500}
    ldn = an.sales_trend(rows, LDN)
    assert [r[0] for r in ldn.tables["by_day"].rows] == ["2026-12-07"] * 2


def test_product_ranking_by_units_and_by_revenue_per_currency():
    rows = [an.ProductSale("SOCK", "Socks", "GBP", 10, 5000, 6),
            an.ProductSale("SOCK", "Socks", "EUR", 2, 1200, 1),
            an.ProductSale("MUG", "Mug", "GBP", 4, 8000, 4),
            an.ProductSale("CAP", "Cap", "GBP", 4, 2000, 2)]
    report = an.product_ranking(rows, top=2)
    assert report.tables["by_units"].rows == [["SOCK", "Socks", 12, 7], ["CAP", "Cap", 4, 2]]
    assert report.tables["by_revenue"].rows == [["SOCK", "Socks", "EUR", 1200, 2],
                                                ["MUG", "Mug", "GBP", 8000, 4],
                                                ["SOCK", "Socks", "GBP", 5000, 10]]


def test_return_rate_per_product_and_reason():
    returned = [an.Returned("SOCK", "Too_small", 2), an.Returned("SOCK", "too small", 1),
                an.Returned("MUG", "WRONG_ITEM", 1), an.Returned("CAP", "", 1)]
    report = an.return_rates(returned, {"SOCK": 10, "MUG": 4, "TEE": 5})
    # highest rate first; a product returned but not sold in the range has no rate
    assert report.tables["by_product"].rows == [["SOCK", 10, 3, 0.3], ["MUG", 4, 1, 0.25],
                                                ["CAP", 0, 1, None], ["TEE", 5, 0, 0.0]]
    assert report.tables["by_reason"].rows == [["too small", 2, 3, 0.6],
                                               ["unspecified", 1, 1, 0.2],
                                               ["wrong item", 1, 1, 0.2]]
    assert report.summary == {"sold": 19, "returned": 5, "return_rate": round(5 / 19, 4)}


def test_purchase_frequency_bands():
    report = an.purchase_frequency({1: 6, 2: 2, 4: 1, 12: 1})
    assert report.summary == {"customers": 10, "orders": 6 + 4 + 4 + 12,
                              "repeat_customers": 4, "repeat_rate": 0.4,
                              "orders_per_customer": 2.6}
    assert report.tables["by_band"].rows == [["1", 6, 0.6], ["2", 2, 0.2], ["3-5", 1, 0.1],
                                             ["6-10", 0, 0.0], ["11+", 1, 0.1]]


def test_payment_share_groups_gateway_names():
    rows = [an.Payment("Shopify Payments", "shop", "GBP", 6, 6000),
            an.Payment("shopify  payments", "shop", "EUR", 2, 1000),
            an.Payment("", "api", "GBP", 1, 100), an.Payment("paypal", "woo", "GBP", 1, 50)]
    report = an.payment_share(rows)
    assert report.tables["by_method"].rows == [["shopify payments", 8, 0.8],
                                               ["paypal", 1, 0.1], ["unknown", 1, 0.1]]


def test_peak_hours_local_weekday_and_hour():
    # Monday 7 Dec 09:15 UTC = 09:15 London; Sunday 6 Dec 23:30 UTC = 18:30 New York (Sun)
    orders = [an.Activity(t(7, 9, 15), 3), an.Activity(t(7, 9, 45), 2),
              an.Activity(t(6, 23, 30), 1)]
    ldn = an.peak_hours(orders, [an.Activity(t(8, 14), 40)], LDN)
    assert ldn.tables["orders"].rows[0][1 + 9] == 5        # mon 09h
    assert ldn.tables["orders"].rows[6][1 + 23] == 1       # sun 23h
    assert ldn.summary["peak_orders"] == {"weekday": "mon", "hour": 9, "n": 5}
    assert ldn.summary["peak_scans"] == {"weekday": "tue", "hour": 14, "n": 40}
    ny = an.peak_hours(orders, [], NY)
    assert ny.tables["orders"].rows[6][1 + 18] == 1 and ny.tables["orders"].rows[0][1 + 4] == 5
