"""Scan verdicts (server.domain.verdicts): every code, the rule order and the setting."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from server.domain.barcodes import parse_scan
from server.domain.verdicts import (
    VERDICT_CODES,
    PickTask,
    Verdict,
    decide,
)

TODAY = date(2026, 1, 15)
TASK_GTIN = "04006381333931"          # EAN-13 4006381333931
TASK_GTIN_2 = "00012345678905"        # a second GTIN of the same SKU (UPC-A 012345678905)
OTHER_TASK_GTIN = "05901234123457"    # EAN-13 5901234123457, on another task of the cart
KNOWN_ELSEWHERE = "09501101530003"    # GTIN-13 9501101530003: in the catalogue, no task
KNOWN = frozenset({TASK_GTIN, TASK_GTIN_2, OTHER_TASK_GTIN, KNOWN_ELSEWHERE})
OTHERS = frozenset({OTHER_TASK_GTIN})


def _task(**kw: object) -> PickTask:
    base = PickTask(task_id=7, location="A-03-02-1",
                    skus_gtins=frozenset({TASK_GTIN, TASK_GTIN_2}), sku="SKU-1",
                    quantity=2, picked=0, location_confirmed=True)
    return replace(base, **kw)  # type: ignore[arg-type]


def _decide(raw: str, task: PickTask | None = None, **kw: object) -> Verdict:
    args: dict[str, object] = {"known_gtins": KNOWN, "other_task_gtins": OTHERS,
                               "today": TODAY}
    args.update(kw)
    return decide(task or _task(), parse_scan(raw), **args)  # type: ignore[arg-type]


def test_right_location_confirms() -> None:
    v = _decide("A-03-02-1", _task(location_confirmed=False))
    assert (v.code, v.ok, v.location_confirmed, v.count) == ("ok", True, True, 0)
    assert v.expected["scan"] == "item" and v.expected["sku"] == "SKU-1"


def test_location_compared_in_canonical_form() -> None:
    assert _decide("a-3-2-1", _task(location_confirmed=False)).code == "ok"


def test_other_location_is_wrong_location() -> None:
    v = _decide("B-01-01-1", _task(location_confirmed=False))
    assert (v.code, v.location_confirmed, v.count) == ("wrong_location", False, 0)
    assert v.expected == {"scan": "location", "task_id": 7, "location": "A-03-02-1"}


def test_wrong_location_keeps_an_earlier_confirmation() -> None:
    v = _decide("B-01-01-1", _task(location_confirmed=True))
    assert (v.code, v.location_confirmed) == ("wrong_location", True)


def test_item_before_location_is_scan_location_first() -> None:
    # its own verdict: the unit may be right, the bin was not scanned (not a wrong bin)
    v = _decide("4006381333931", _task(location_confirmed=False))
    assert (v.code, v.count, v.location_confirmed) == ("scan_location_first", 0, False)
    assert v.expected["location"] == "A-03-02-1" and v.expected["scan"] == "location"


def test_item_of_task_is_ok_and_counts_one() -> None:
    v = _decide("4006381333931")
    assert (v.code, v.count, v.location_confirmed) == ("ok", 1, True)
    assert v.expected["remaining"] == 1 and v.expected["gtins"] == sorted(
        {TASK_GTIN, TASK_GTIN_2})


def test_any_gtin_of_the_sku_is_ok() -> None:
    assert _decide("012345678905").code == "ok"


def test_gs1_item_with_future_expiry_is_ok() -> None:
    v = _decide("]C1010400638133393117270630" + "10LOT7")
    assert (v.code, v.count) == ("ok", 1)


def test_full_line_is_over_pick() -> None:
    v = _decide("4006381333931", _task(picked=2))
    assert (v.code, v.count) == ("over_pick", 0)


def test_expired_lot() -> None:
    v = _decide("(01)04006381333931(17)251231(10)OLD", _task(picked=2))
    assert (v.code, v.count) == ("expired_lot", 0)     # reported before over_pick


def test_expiry_today_is_not_expired() -> None:
    assert _decide("(01)04006381333931(17)260115").code == "ok"


def test_product_of_another_task_is_not_in_task() -> None:
    v = _decide("5901234123457")
    assert (v.code, v.count) == ("not_in_task", 0)
    assert v.expected["sku"] == "SKU-1"


def test_product_of_a_finished_task_is_over_pick() -> None:
    v = _decide("9501101530003", done_task_gtins={KNOWN_ELSEWHERE})
    assert (v.code, v.count) == ("over_pick", 0)
    # a product still open elsewhere on the cart is not_in_task, even if done once too
    assert _decide("5901234123457", done_task_gtins={OTHER_TASK_GTIN}).code == "not_in_task"


def test_known_product_of_no_task_is_wrong_item() -> None:
    assert _decide("9501101530003").code == "wrong_item"


def test_sscc_is_wrong_item() -> None:
    assert _decide("376104250021234569").code == "wrong_item"


@pytest.mark.parametrize("raw", [
    "hello", "", "4006381333932",        # text, nothing, bad check digit
    "4012345678901",                     # valid GTIN, not in the catalogue
    "(10)ABC",                           # GS1 without a GTIN
])
def test_unknown_barcode(raw: str) -> None:
    v = _decide(raw)
    assert (v.code, v.count) == ("unknown_barcode", 0)


def test_unknown_barcode_before_location_rule() -> None:
    assert _decide("hello", _task(location_confirmed=False)).code == "unknown_barcode"


def test_task_gtins_count_as_known_even_if_catalogue_misses_them() -> None:
    assert _decide("4006381333931", known_gtins=frozenset()).code == "ok"


def test_setting_off_allows_item_without_location() -> None:
    task = _task(location_confirmed=False)
    v = _decide("4006381333931", task, require_location_scan=False)
    assert (v.code, v.count, v.location_confirmed) == ("ok", 1, False)
    assert _decide("5901234123457", task, require_location_scan=False).code == "not_in_task"
    # location scans are still checked when they are not required
    assert _decide("A-03-02-1", task, require_location_scan=False).location_confirmed
    assert _decide("B-01-01-1", task, require_location_scan=False).code == "wrong_location"


def test_every_code_is_reachable() -> None:
    seen = {_decide(raw, task).code for raw, task in [
        ("A-03-02-1", _task()), ("B-01-01-1", _task()), ("9501101530003", _task()),
        ("4006381333931", _task(picked=2)), ("nope", _task()),
        ("(01)04006381333931(17)251231", _task()), ("5901234123457", _task()),
        ("4006381333931", _task(location_confirmed=False))]}
    assert seen == VERDICT_CODES
