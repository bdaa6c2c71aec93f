"""Shopify and WooCommerce order payloads → OrderDraft, checked against the README fixtures."""
from __future__ import annotations

import copy
import csv
import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.errors import Unprocessable
from server.domain.storefronts import shopify, woocommerce
from server.domain.validation import validate_order

from tests.conftest import STOREFRONTS
UTC = dt.timezone.utc


def _load(name: str) -> dict:
    return json.loads((STOREFRONTS / name).read_bytes())


SHOPIFY = _load("shopify/orders-paid.json")
WOO = _load("woocommerce/order-created.json")


@pytest.fixture(scope="module")
def known_skus() -> frozenset[str]:
    with (STOREFRONTS / "native" / "catalogue.csv").open(encoding="utf-8", newline="") as fh:
        skus = frozenset(row["sku"] for row in csv.DictReader(fh))
    assert len(skus) == 13
    return skus


def shop(**changes) -> dict:
    payload = copy.deepcopy(SHOPIFY)
    payload.update(changes)
    return payload


def woo(**changes) -> dict:
    payload = copy.deepcopy(WOO)
    payload.update(changes)
    return payload


# ---------------------------------------------------------------- Shopify

def test_shopify_fixture_ids_are_exact():
    draft = shopify.parse_order(SHOPIFY)
    assert draft.external_id == "1858075858435891816"
    assert draft.external_id != str(int(float(1858075858435891816)))
    assert [ln.external_id for ln in draft.lines] == [
        "2477315348721065057", "2341395275755514558", "1527822961595603173"]
    assert draft.ref == "#1001"
    assert draft.extra["order_number"] == 1001
    assert draft.extra["admin_graphql_api_id"] == "gid://shopify/Order/1858075858435891816"


def test_shopify_fixture_lines_and_money(known_skus):
    draft = shopify.parse_order(SHOPIFY)
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.line_total) for ln in draft.lines] == [
        ("WP-TEE-BLK-M", 2, Decimal("24.00"), Decimal("48.00")),
        ("WP-MUG-350-SAGE", 1, Decimal("16.50"), Decimal("16.50")),
        ("WP-BOTL-750-STL", 1, Decimal("28.00"), Decimal("28.00")),
    ]
    assert all(ln.currency == "GBP" for ln in draft.lines)
    assert draft.lines[0].name == "Organic Cotton Tee - Black / M"
    assert draft.total == Decimal("96.45")
    assert draft.shipping == Decimal("3.95")
    assert draft.discount == 0
    assert draft.currency == "GBP"
    assert draft.carrier == "Royal Mail Tracked 48"
    assert draft.payment_method == "shopify_payments"
    assert validate_order(draft, known_skus=known_skus) == []


def test_shopify_fixture_status_dates_and_address():
    draft = shopify.parse_order(SHOPIFY)
    assert draft.paid is True and draft.cancelled is False
    assert draft.source == "shopify"
    assert draft.placed_at == dt.datetime(2025, 6, 12, 8, 41, 3, tzinfo=UTC)
    assert draft.placed_at.utcoffset() == dt.timedelta(hours=1)
    assert draft.source_updated_at == dt.datetime(2025, 6, 12, 8, 41, 6, tzinfo=UTC)
    addr = draft.ship_to
    assert (addr.name, addr.address1, addr.address2, addr.city, addr.postcode, addr.country,
            addr.phone, addr.region, addr.email) == (
        "Amelia Hart", "14 Wharf Street", "Flat 3", "Leeds", "LS2 7EQ", "GB",
        "+447700900123", "", "amelia.hart@example.com")


@pytest.mark.parametrize("status,paid", [
    ("pending", False), ("authorized", False), ("paid", True), ("partially_refunded", True),
    ("refunded", False), ("voided", False), (None, False)])
def test_shopify_financial_status(status, paid):
    assert shopify.parse_order(shop(financial_status=status)).paid is paid


def test_shopify_cancelled():
    draft = shopify.parse_order(shop(cancelled_at="2025-06-13T10:00:00+01:00",
                                     cancel_reason="customer"))
    assert draft.cancelled is True


@pytest.mark.parametrize("bad", [1.858075858435892e18, 4127.0, True, False, "abc", "12a", "",
                                 None, -5, "-5", " 12", [1], 10 ** 20])
def test_shopify_bad_order_id(bad):
    with pytest.raises(Unprocessable) as err:
        shopify.parse_order(shop(id=bad))
    assert err.value.field == "id"


def test_shopify_digit_string_id_is_kept_as_text():
    assert shopify.parse_order(shop(id="1858075858435891816")).external_id == \
        "1858075858435891816"


@pytest.mark.parametrize("bad", [2.5e18, True, "x1"])
def test_shopify_bad_line_id(bad):
    payload = shop()
    payload["line_items"][1]["id"] = bad
    with pytest.raises(Unprocessable) as err:
        shopify.parse_order(payload)
    assert err.value.field == "line_items[1].id"


def test_shopify_bad_price_names_the_line():
    payload = shop()
    payload["line_items"][2]["price"] = "28,00"
    with pytest.raises(Unprocessable) as err:
        shopify.parse_order(payload)
    assert err.value.field == "line_items[2].price"


@pytest.mark.parametrize("payload,field", [
    ([], "body"), ("{}", "body"), (None, "body"),
    ({k: v for k, v in SHOPIFY.items() if k != "line_items"}, "line_items"),
    ({**SHOPIFY, "line_items": {"0": {}}}, "line_items"),
    ({**SHOPIFY, "line_items": [None]}, "line_items[0]"),
    ({k: v for k, v in SHOPIFY.items() if k not in ("created_at", "processed_at")},
     "created_at"),
    ({**SHOPIFY, "created_at": "12/06/2025 09:41"}, "created_at"),
])
def test_shopify_unprocessable_payloads(payload, field):
    with pytest.raises(Unprocessable) as err:
        shopify.parse_order(payload)
    assert err.value.field == field


def test_shopify_created_at_falls_back_to_processed_at():
    payload = shop()
    del payload["created_at"]
    assert shopify.parse_order(payload).placed_at == dt.datetime(2025, 6, 12, 8, 41, 2,
                                                                 tzinfo=UTC)


def test_shopify_skips_unshipped_lines_but_keeps_the_total_consistent(known_skus):
    payload = shop()
    gift = copy.deepcopy(payload["line_items"][1])
    gift.update(id=1111111111111111111, sku="", gift_card=True, requires_shipping=False,
                price="10.00", quantity=1, current_quantity=1)
    payload["line_items"].append(gift)
    payload["total_price"] = payload["current_total_price"] = "106.45"
    draft = shopify.parse_order(payload)
    assert len(draft.lines) == 3
    assert draft.extra["charges"]["items_not_shipped"] == "10.00"
    assert validate_order(draft, known_skus=known_skus) == []


def test_shopify_removed_line_is_skipped_and_total_check_is_dropped(known_skus):
    payload = shop(current_total_price="68.45")
    payload["line_items"][2]["current_quantity"] = 0
    draft = shopify.parse_order(payload)
    assert [ln.sku for ln in draft.lines] == ["WP-TEE-BLK-M", "WP-MUG-350-SAGE"]
    assert draft.total is None
    assert draft.extra["total_price"] == "96.45"
    assert draft.extra["current_total_price"] == "68.45"
    assert validate_order(draft, known_skus=known_skus) == []


def test_shopify_current_quantity_wins():
    payload = shop()
    payload["line_items"][0]["current_quantity"] = 1
    assert shopify.parse_order(payload).lines[0].quantity == 1


def test_shopify_taxes_excluded_and_discounts_still_balance(known_skus):
    # US-style order: prices ex tax, 10.00 off the tee line, free shipping (3.95 off).
    payload = shop(taxes_included=False, total_tax="7.40", total_discounts="13.95")
    payload["line_items"][0]["discount_allocations"] = [{"amount": "10.00"}]
    ship = payload["shipping_lines"][0]
    ship["discount_allocations"] = [{"amount": "3.95"}]
    ship["discounted_price"] = "0.00"
    payload["total_price"] = payload["current_total_price"] = str(
        Decimal("92.50") - Decimal("10.00") + Decimal("0.00") + Decimal("7.40"))
    draft = shopify.parse_order(payload)
    assert draft.discount == Decimal("13.95")
    assert draft.shipping == Decimal("3.95") + Decimal("7.40")
    assert draft.extra["charges"] == {"shipping": "3.95", "tax": "7.40"}
    assert validate_order(draft, known_skus=known_skus) == []


def test_shopify_duties_are_a_charge(known_skus):
    payload = shop(original_total_duties_set={"shop_money": {"amount": "4.10",
                                                             "currency_code": "GBP"}},
                   total_price="100.55", current_total_price="100.55")
    draft = shopify.parse_order(payload)
    assert draft.extra["charges"]["duties"] == "4.10"
    assert validate_order(draft, known_skus=known_skus) == []


def test_shopify_address_falls_back_to_billing_as_a_whole():
    payload = shop(shipping_address=None)
    payload["billing_address"]["address2"] = "Flat 9"
    assert shopify.parse_order(payload).ship_to.address2 == "Flat 9"
    payload = shop()
    payload["shipping_address"]["address2"] = None
    payload["billing_address"]["address2"] = "Flat 9"     # a different flat: never mixed in
    assert shopify.parse_order(payload).ship_to.address2 == ""


def test_shopify_phone_fallback_chain():
    payload = shop(phone=None)
    payload["shipping_address"]["phone"] = None
    payload["billing_address"]["phone"] = None
    payload["customer"]["phone"] = None
    assert shopify.parse_order(payload).ship_to.phone == "+447700900123"   # default_address
    payload["customer"]["phone"] = "+447700900999"
    assert shopify.parse_order(payload).ship_to.phone == "+447700900999"
    payload["phone"] = "+447700900111"
    assert shopify.parse_order(payload).ship_to.phone == "+447700900111"


def test_shopify_name_from_first_and_last():
    payload = shop()
    payload["shipping_address"]["name"] = None
    assert shopify.parse_order(payload).ship_to.name == "Amelia Hart"


def test_shopify_cjk_text_survives():
    payload = shop()
    payload["shipping_address"].update(name="王小明", address1="浦东新区世纪大道100号",
                                       address2="环球金融中心 25楼", city="上海市",
                                       zip="200120", country_code="CN")
    payload["line_items"][0]["name"] = "有機棉T恤 - 黑色 / M"
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    draft = shopify.parse_order(json.loads(body))
    assert draft.ship_to.name == "王小明"
    assert draft.ship_to.address1 == "浦东新区世纪大道100号"
    assert draft.ship_to.address2 == "环球金融中心 25楼"
    assert draft.ship_to.city == "上海市"
    assert draft.lines[0].name == "有機棉T恤 - 黑色 / M"


def test_shopify_out_of_order_deliveries_can_be_ordered():
    older = shopify.parse_order(shop(updated_at="2025-06-12T09:41:06+01:00"))
    newer = shopify.parse_order(shop(updated_at="2025-06-12T08:45:00Z"))
    assert older.source_updated_at < newer.source_updated_at
    assert shopify.parse_order(shop(updated_at=None)).source_updated_at is None


@settings(max_examples=200, deadline=None)
@given(order_id=st.integers(min_value=0, max_value=2 ** 64 - 1),
       line_id=st.integers(min_value=0, max_value=2 ** 64 - 1))
def test_any_64_bit_id_round_trips_exactly(order_id, line_id):
    payload = shop(id=order_id)
    payload["line_items"][0]["id"] = line_id
    draft = shopify.parse_order(json.loads(json.dumps(payload)))
    assert draft.external_id == str(order_id)
    assert draft.lines[0].external_id == str(line_id)


# ---------------------------------------------------------------- WooCommerce

def test_woo_fixture_lines_are_gross(known_skus):
    draft = woocommerce.parse_order(WOO)
    assert draft.external_id == "4127" and draft.ref == "4127"
    assert [(ln.sku, ln.quantity, ln.line_total, ln.unit_price, ln.external_id)
            for ln in draft.lines] == [
        ("WP-HOOD-GRY-L", 1, Decimal("55.00"), Decimal("55.00"), "1181"),
        ("WP-TOTE-NAT", 2, Decimal("25.00"), Decimal("12.50"), "1182"),
        ("WP-CAND-200-FIG", 1, Decimal("18.00"), Decimal("18.00"), "1183"),
    ]
    assert draft.lines[0].name == "Heavyweight Hoodie - Grey, L"
    assert draft.shipping == Decimal("3.90")
    assert draft.discount == 0
    assert draft.total == Decimal("101.90")
    assert draft.extra["coupon_discount"] == "0.00"
    assert validate_order(draft, known_skus=known_skus) == []


def test_woo_fixture_order_fields():
    draft = woocommerce.parse_order(WOO)
    assert draft.paid is True and draft.cancelled is False
    assert draft.currency == "GBP"
    assert draft.payment_method == "stripe"
    assert draft.carrier == "Royal Mail Tracked 48"
    assert draft.source == "woocommerce"
    assert draft.extra["status"] == "processing"
    assert draft.placed_at == dt.datetime(2025, 6, 12, 9, 2, 41, tzinfo=UTC)
    assert draft.source_updated_at == dt.datetime(2025, 6, 12, 9, 2, 45, tzinfo=UTC)
    addr = draft.ship_to
    assert (addr.name, addr.address1, addr.city, addr.postcode, addr.country, addr.email) == (
        "Daniel Okafor", "22 Castle Street", "Edinburgh", "EH2 3AH", "GB",
        "daniel.okafor@example.org")
    assert addr.phone == "+447700900456"                      # shipping.phone is empty


def test_woo_never_reads_the_float_price():
    payload = woo()
    for line in payload["line_items"]:
        line["price"] = 999999.123456789
    assert woocommerce.parse_order(payload) == woocommerce.parse_order(WOO)


@pytest.mark.parametrize("status,paid,cancelled", [
    ("pending", False, False), ("on-hold", False, False), ("processing", True, False),
    ("completed", True, False), ("cancelled", False, True), ("refunded", False, True),
    ("failed", False, True), ("trash", False, True), ("checkout-draft", False, False),
    ("PROCESSING", True, False)])
def test_woo_status_mapping(status, paid, cancelled):
    draft = woocommerce.parse_order(woo(status=status))
    assert (draft.paid, draft.cancelled) == (paid, cancelled)


@pytest.mark.parametrize("bad", [4127.0, True, "abc", None, "", -1])
def test_woo_bad_ids(bad):
    with pytest.raises(Unprocessable) as err:
        woocommerce.parse_order(woo(id=bad))
    assert err.value.field == "id"
    with pytest.raises(Unprocessable):
        woocommerce.event_key(woo(id=bad), "order.created")


def test_woo_bad_line_id_and_quantity():
    payload = woo()
    payload["line_items"][0]["id"] = 1181.0
    with pytest.raises(Unprocessable) as err:
        woocommerce.parse_order(payload)
    assert err.value.field == "line_items[0].id"
    payload = woo()
    payload["line_items"][1]["quantity"] = 2.0
    with pytest.raises(Unprocessable) as err:
        woocommerce.parse_order(payload)
    assert err.value.field == "line_items[1].quantity"


def test_woo_missing_line_items():
    with pytest.raises(Unprocessable) as err:
        woocommerce.parse_order({k: v for k, v in WOO.items() if k != "line_items"})
    assert err.value.field == "line_items"


def test_woo_coupons_and_fees_balance(known_skus):
    # 10 % coupon on the hoodie (net 41.25 + tax 8.25 = 49.50 instead of 55.00) and a
    # 1.50 + 0.30 gift-wrap fee.
    payload = woo(discount_total="4.58", discount_tax="0.92", total="98.20")
    payload["line_items"][0].update(total="41.25", total_tax="8.25")
    payload["fee_lines"] = [{"id": 1190, "name": "Gift wrap", "total": "1.50",
                             "total_tax": "0.30"}]
    draft = woocommerce.parse_order(payload)
    assert draft.discount == 0
    assert draft.extra["coupon_discount"] == "5.50"
    assert draft.shipping == Decimal("5.70")
    assert draft.lines[0].unit_price == Decimal("49.50")
    assert validate_order(draft, known_skus=known_skus) == []


def test_woo_unit_price_is_quantized():
    payload = woo(total="101.90")
    payload["line_items"][1].update(quantity=3, total="20.83", total_tax="4.17")
    assert woocommerce.parse_order(payload).lines[1].unit_price == Decimal("8.3333")


def test_woo_shipping_address_falls_back_to_billing_when_absent():
    payload = woo()
    payload["shipping"] = {k: "" for k in payload["shipping"]}
    payload["billing"]["address_2"] = "Flat 2"
    addr = woocommerce.parse_order(payload).ship_to
    assert (addr.name, addr.address1, addr.address2, addr.city, addr.phone) == (
        "Daniel Okafor", "22 Castle Street", "Flat 2", "Edinburgh", "+447700900456")
    payload = woo()
    payload["billing"]["address_2"] = "Flat 2"                 # not mixed into shipping
    assert woocommerce.parse_order(payload).ship_to.address2 == ""


def test_woo_company_when_no_person():
    payload = woo()
    payload["shipping"].update(first_name="", last_name="", company="Okafor Ltd")
    assert woocommerce.parse_order(payload).ship_to.name == "Okafor Ltd"


def test_woo_cjk_text_survives():
    payload = woo()
    payload["shipping"].update(first_name="陳", last_name="大文", address_1="忠孝東路四段100號",
                               address_2="12樓", city="臺北市", postcode="106", country="TW",
                               state="TPE")
    payload["line_items"][2]["name"] = "大豆蠟燭 200 克 - 無花果"
    # WooCommerce writes non-ASCII as \\uXXXX: the same text must come back.
    draft = woocommerce.parse_order(json.loads(json.dumps(payload, ensure_ascii=True)))
    assert draft.ship_to.name == "陳 大文"
    assert draft.ship_to.address1 == "忠孝東路四段100號"
    assert (draft.ship_to.city, draft.ship_to.region, draft.ship_to.country) == (
        "臺北市", "TPE", "TW")
    assert draft.lines[2].name == "大豆蠟燭 200 克 - 無花果"


def test_woo_dates_are_utc_and_out_of_order_updates_compare():
    first = woocommerce.parse_order(woo(date_modified_gmt="2025-06-12T09:05:00"))
    second = woocommerce.parse_order(woo(date_modified_gmt="2025-06-12T09:02:45"))
    assert second.source_updated_at < first.source_updated_at
    assert first.source_updated_at.tzinfo is not None
    assert first.source_updated_at.utcoffset() == dt.timedelta(0)


def test_woo_placed_at_fallback_and_missing():
    payload = woo(date_created_gmt=None)
    assert woocommerce.parse_order(payload).placed_at == dt.datetime(2025, 6, 12, 10, 2, 41,
                                                                     tzinfo=UTC)
    payload = woo(date_created_gmt=None, date_created=None)
    with pytest.raises(Unprocessable) as err:
        woocommerce.parse_order(payload)
    assert err.value.field == "date_created_gmt"


def test_woo_event_key():
    assert woocommerce.event_key(WOO, "order.created") == \
        "4127:2025-06-12T09:02:45:order.created"
    assert woocommerce.event_key(woo(date_modified_gmt="2025-06-12T09:03:00"),
                                 "order.created") != woocommerce.event_key(WOO, "order.created")
    assert woocommerce.event_key(WOO, "order.updated") != \
        woocommerce.event_key(WOO, "order.created")
