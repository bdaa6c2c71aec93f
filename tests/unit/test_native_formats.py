"""Native JSON orders and the CSV imports (orders, catalogue, stock) against the fixtures."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.domain.errors import Unprocessable
from server.domain.native import (CatalogueCsvRow, CsvError, StockCsvRow, parse_catalogue_csv,
                                  parse_native_order, parse_orders_csv, parse_stock_csv)
from server.domain.orders import Address, OrderDraft
from server.domain.validation import validate_order
from tests.conftest import STOREFRONTS

NATIVE = STOREFRONTS / "native"
ORDERS = (NATIVE / "orders.csv").read_bytes()
CATALOGUE = (NATIVE / "catalogue.csv").read_bytes()
HEADER = ORDERS.split(b"\n", 1)[0].decode()
SKUS = frozenset(line.split(",", 1)[0] for line in CATALOGUE.decode().splitlines()[1:])


def by_ref(result):
    return {o.draft.ref: o for o in result.orders}


def replace_line(data: bytes, line: int, old: str, new: str) -> bytes:
    """The file with `old` replaced by `new` on physical line `line` (1-based)."""
    lines = data.decode().split("\n")
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "\n".join(lines).encode()


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


ROW = ("{ref},phone,WP-TEE-BLK-M,1,24.00,GBP,Oliver Bennett,+447700900101,27 Granby Street,"
       "Leicester,LE1 6EJ,GB,2025-06-02T09:12:00+01:00")


# -------------------------------------------------------------------- orders.csv fixture

def test_fixture_parses_to_20_orders_and_32_lines():
    result = parse_orders_csv(ORDERS)
    assert result.errors == [] and result.rejected == []
    assert len(result.orders) == 20
    assert sum(len(o.draft.lines) for o in result.orders) == 32
    assert [o.draft.ref for o in result.orders] == [f"WP-N-{n}" for n in range(10001, 10021)]
    for order in result.orders:
        assert len(order.lines) == len(order.draft.lines)
        assert order.draft.external_id == order.draft.ref
        assert order.draft.paid is True


def test_fixture_line_numbers_are_physical_lines():
    orders = by_ref(parse_orders_csv(ORDERS))
    assert orders["WP-N-10001"].lines == (2,)
    assert orders["WP-N-10002"].lines == (3, 4)
    assert orders["WP-N-10003"].lines == (5, 6, 7)
    assert orders["WP-N-10020"].lines == (32, 33)
    every = sorted(n for o in orders.values() for n in o.lines)
    assert every == list(range(2, 34))


def test_fixture_prices_are_exact_decimals():
    orders = by_ref(parse_orders_csv(ORDERS))
    b2b = orders["WP-N-10003"].draft
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in b2b.lines] == [
        ("WP-TOTE-NAT", 40, Decimal("9.80")),
        ("WP-NOTE-A5-DOT", 60, Decimal("6.20")),
        ("WP-MUG-350-CHAR", 24, Decimal("11.00")),
    ]
    assert str(b2b.lines[0].unit_price) == "9.80"
    assert orders["WP-N-10014"].draft.lines[1].unit_price == Decimal("8.25")
    total = sum(ln.unit_price * ln.quantity for ln in orders["WP-N-10008"].draft.lines)
    assert total == Decimal("1188.00")
    assert all(ln.currency is None for o in orders.values() for ln in o.draft.lines)


def test_fixture_cjk_names_and_addresses_intact():
    orders = by_ref(parse_orders_csv(ORDERS))
    zhang = orders["WP-N-10006"].draft
    assert zhang.ship_to == Address(name="张伟", phone="+8613800138000",
                                    address1="朝阳区建国路93号万达广场8号楼1203室",
                                    city="北京市", postcode="100022", country="CN")
    assert zhang.currency == "CNY" and zhang.source == "showroom"
    chen = orders["WP-N-10011"].draft
    assert chen.ship_to.name == "陳怡君"
    assert chen.ship_to.address1 == "信義區松仁路100號8樓"
    assert chen.ship_to.city == "臺北市"
    assert (chen.ship_to.postcode, chen.ship_to.country, chen.currency) == ("110", "TW", "USD")
    assert orders["WP-N-10004"].draft.ship_to.name == "Siobhán Ní Bhriain"
    assert orders["WP-N-10007"].draft.ship_to.name == "Margaret O'Neill"


def test_fixture_b2b_orders_have_two_or_three_lines():
    orders = parse_orders_csv(ORDERS).orders
    b2b = {o.draft.ref: len(o.draft.lines) for o in orders if o.draft.source == "b2b"}
    assert b2b == {"WP-N-10003": 3, "WP-N-10008": 3, "WP-N-10014": 2, "WP-N-10020": 2}
    assert {o.draft.source for o in orders} == {"phone", "email", "b2b", "showroom"}


def test_fixture_placed_at_keeps_its_offset():
    orders = by_ref(parse_orders_csv(ORDERS))
    placed = orders["WP-N-10008"].draft.placed_at
    assert placed.utcoffset() == dt.timedelta(hours=-4)
    assert placed.astimezone(dt.timezone.utc) == dt.datetime(2025, 6, 5, 14, 15,
                                                             tzinfo=dt.timezone.utc)


def test_fixture_drafts_pass_validation():
    assert len(SKUS) == 13
    for order in parse_orders_csv(ORDERS).orders:
        assert validate_order(order.draft, known_skus=SKUS) == [], order.draft.ref


def test_default_paid_applies_when_there_is_no_paid_column():
    assert all(not o.draft.paid for o in parse_orders_csv(ORDERS, default_paid=False).orders)


@pytest.mark.parametrize("variant", ["bom", "crlf", "bom+crlf"])
def test_bom_and_crlf_parse_identically(variant):
    data = ORDERS
    if "crlf" in variant:
        data = data.replace(b"\n", b"\r\n")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    plain, other = parse_orders_csv(ORDERS), parse_orders_csv(data)
    assert other.errors == []
    assert [(o.draft, o.lines) for o in other.orders] == [(o.draft, o.lines) for o in plain.orders]


# ------------------------------------------------------------------- quoting and layout

def test_quoted_fields_with_commas_quotes_and_newlines():
    multi = ('A-1,b2b,WP-TOTE-NAT,40,9.80,GBP,"Harbour & Co, ""Goods""",+447700900103,'
             '"Unit 4\nEastgate Trade Park, Bay 2",Norwich,NR1 1QP,GB,2025-06-03T08:30:00+01:00')
    data = csv_bytes(multi, multi.replace("WP-TOTE-NAT,40", "WP-CAP-NVY,2"), ROW.format(ref="B-1"))
    result = parse_orders_csv(data)
    assert result.errors == []
    orders = by_ref(result)
    a = orders["A-1"]
    assert a.draft.ship_to.name == 'Harbour & Co, "Goods"'
    assert a.draft.ship_to.address1 == "Unit 4\nEastgate Trade Park, Bay 2"
    assert a.lines == (2, 4)            # each row spans two physical lines
    assert orders["B-1"].lines == (6,)


def test_quoted_newline_with_crlf_keeps_line_numbers():
    multi = ('A-1,phone,WP-CAP-NVY,1,18.00,GBP,"Jo\r\nSmith",+447700900115,17 Gillygate,York,'
             'YO31 7EA,GB,2025-06-10T11:02:00+01:00')
    data = csv_bytes(multi, ROW.format(ref="B-1")).replace(b"\n", b"\r\n").replace(
        b"\r\r\n", b"\r\n")
    orders = by_ref(parse_orders_csv(data))
    assert orders["A-1"].lines == (2,) and orders["B-1"].lines == (4,)
    assert orders["A-1"].draft.ship_to.name == "Jo\r\nSmith"


def test_blank_lines_are_skipped_and_counted():
    data = csv_bytes("", ROW.format(ref="A-1"), "", "", ROW.format(ref="B-1"), "")
    orders = by_ref(parse_orders_csv(data))
    assert orders["A-1"].lines == (3,) and orders["B-1"].lines == (6,)


def test_rows_of_one_order_need_not_be_adjacent():
    other = ROW.format(ref="A-1").replace("WP-TEE-BLK-M,1", "WP-CAP-NVY,3")
    data = csv_bytes(ROW.format(ref="A-1"), ROW.format(ref="B-1"), other)
    result = parse_orders_csv(data)
    assert [o.draft.ref for o in result.orders] == ["A-1", "B-1"]
    a = by_ref(result)["A-1"]
    assert a.lines == (2, 4)
    assert [(ln.sku, ln.quantity) for ln in a.draft.lines] == [("WP-TEE-BLK-M", 1),
                                                               ("WP-CAP-NVY", 3)]


def test_header_names_ignore_case_spaces_and_column_order():
    names = HEADER.split(",")
    header = ",".join(f" {n.upper()} " for n in reversed(names))
    row = ",".join(reversed(ROW.format(ref="A-1").split(",")))
    [order] = parse_orders_csv(csv_bytes(row, header=header)).orders
    assert order.draft.ship_to.city == "Leicester" and order.draft.lines[0].quantity == 1


def test_trailing_empty_cells_are_ignored():
    [order] = parse_orders_csv(csv_bytes(ROW.format(ref="A-1") + ",,")).orders
    assert order.draft.ref == "A-1"


# --------------------------------------------------------------------- row errors

@pytest.mark.parametrize("old, new, field, words", [
    ("WP-NOTE-A5-DOT,60,", "WP-NOTE-A5-DOT,six,", "quantity", "not a whole number"),
    ("WP-NOTE-A5-DOT,60,", "WP-NOTE-A5-DOT,6.0,", "quantity", "not a whole number"),
    ("WP-NOTE-A5-DOT,60,", "WP-NOTE-A5-DOT,,", "quantity", "not a whole number"),
    (",6.20,", ",6,20,", "", "14 cells, the header 13"),
    (",6.20,", ",£6.20,", "unit_price", "not a decimal amount"),
    (",6.20,", ",6.2e1,", "unit_price", "not a decimal amount"),
    (",6.20,", ",,", "unit_price", "not a decimal amount"),
    ("WP-NOTE-A5-DOT,", ",", "sku", "sku is empty"),
])
def test_bad_row_drops_only_its_order(old, new, field, words):
    data = replace_line(ORDERS, 6, old, new)          # 2nd row of WP-N-10003
    result = parse_orders_csv(data)
    assert len(result.orders) == 19
    assert sum(len(o.draft.lines) for o in result.orders) == 29
    assert "WP-N-10003" not in by_ref(result)
    assert result.rejected == ["WP-N-10003"]
    [error] = result.errors
    assert (error.line, error.order_ref, error.field) == (6, "WP-N-10003", field)
    assert words in error.message


@pytest.mark.parametrize("placed_at, words", [
    ("2025-06-02T09:12:00", "no UTC offset"),
    ("2025-06-02", "no UTC offset"),
    ("02/06/2025 09:12", "not an ISO 8601"),
    ("", "not an ISO 8601"),
])
def test_bad_placed_at_drops_the_order(placed_at, words):
    data = replace_line(ORDERS, 2, "2025-06-02T09:12:00+01:00", placed_at)
    result = parse_orders_csv(data)
    assert result.rejected == ["WP-N-10001"] and len(result.orders) == 19
    [error] = result.errors
    assert (error.line, error.field) == (2, "placed_at") and words in error.message


def test_placed_at_with_z_is_utc():
    data = csv_bytes(ROW.format(ref="A-1").replace("09:12:00+01:00", "08:12:00Z"))
    [order] = parse_orders_csv(data).orders
    assert order.draft.placed_at == dt.datetime(2025, 6, 2, 8, 12, tzinfo=dt.timezone.utc)


def test_currency_differing_between_rows_of_one_order():
    data = replace_line(ORDERS, 4, ",16.50,GBP,", ",16.50,EUR,")    # 2nd row of WP-N-10002
    result = parse_orders_csv(data)
    assert result.rejected == ["WP-N-10002"] and len(result.orders) == 19
    [error] = result.errors
    assert error == CsvError(line=4, order_ref="WP-N-10002", field="currency",
                             message=error.message)
    assert "'EUR'" in error.message and "'GBP'" in error.message and "line 3" in error.message


def test_order_level_case_differences_are_not_mismatches():
    data = replace_line(ORDERS, 4, ",16.50,GBP,", ",16.50,gbp,")
    assert parse_orders_csv(data).errors == []


def test_other_order_level_mismatch_names_its_column():
    data = replace_line(ORDERS, 7, "Norwich", "Norwich East")       # 3rd row of WP-N-10003
    [error] = parse_orders_csv(data).errors
    assert (error.line, error.field, error.order_ref) == (7, "ship_city", "WP-N-10003")


def test_several_bad_rows_give_several_errors_sorted_by_line():
    data = replace_line(ORDERS, 33, "WP-MUG-350-CHAR,30,", "WP-MUG-350-CHAR,x,")
    data = replace_line(data, 2, ",24.00,", ",abc,")
    data = replace_line(data, 16, ",9.00,USD", ",9.00,EUR")
    result = parse_orders_csv(data)
    assert [(e.line, e.order_ref, e.field) for e in result.errors] == [
        (2, "WP-N-10001", "unit_price"), (16, "WP-N-10008", "currency"),
        (33, "WP-N-10020", "quantity")]
    assert result.rejected == ["WP-N-10001", "WP-N-10008", "WP-N-10020"]
    assert len(result.orders) == 17


def test_empty_order_ref_is_an_error_without_dropping_others():
    data = csv_bytes(ROW.format(ref=""), ROW.format(ref="A-1"))
    result = parse_orders_csv(data)
    assert [o.draft.ref for o in result.orders] == ["A-1"]
    assert [(e.line, e.field) for e in result.errors] == [(2, "order_ref")]


def test_zero_and_negative_quantities_parse_and_fail_validation():
    data = csv_bytes(ROW.format(ref="A-1").replace("WP-TEE-BLK-M,1,", "WP-TEE-BLK-M,0,"),
                     ROW.format(ref="B-1").replace("WP-TEE-BLK-M,1,", "WP-TEE-BLK-M,-1,"))
    result = parse_orders_csv(data)
    assert result.errors == []
    assert [o.draft.lines[0].quantity for o in result.orders] == [0, -1]
    for order in result.orders:
        assert [p.code for p in validate_order(order.draft, SKUS)] == ["bad_quantity"]


def test_unknown_sku_and_missing_phone_are_left_to_validation():
    row = ROW.format(ref="A-1").replace("WP-TEE-BLK-M", "NOPE").replace("+447700900101", "")
    [order] = parse_orders_csv(csv_bytes(row)).orders
    codes = {p.code for p in validate_order(order.draft, SKUS)}
    assert codes == {"unknown_sku", "missing_phone"}


# --------------------------------------------------------------------- optional columns

def test_optional_columns():
    header = HEADER + (",paid,payment_method,priority,note,ship_address2,ship_email,"
                       "ship_region,total,shipping,carrier")
    extra = ',no,invoice,5,"Leave at door, please",Flat 2,o@example.com,Leics,27.95,3.95,DPD'
    other = ROW.format(ref="A-1").replace("WP-TEE-BLK-M,1,24.00", "WP-CAP-NVY,0,0") + extra
    [order] = parse_orders_csv(csv_bytes(ROW.format(ref="A-1") + extra, other,
                                         header=header)).orders
    d = order.draft
    assert (d.paid, d.payment_method, d.priority, d.note, d.carrier) == (
        False, "invoice", 5, "Leave at door, please", "DPD")
    assert (d.total, d.shipping, d.discount) == (Decimal("27.95"), Decimal("3.95"), Decimal(0))
    assert (d.ship_to.address2, d.ship_to.email, d.ship_to.region) == (
        "Flat 2", "o@example.com", "Leics")


@pytest.mark.parametrize("paid, expected", [("true", True), ("1", True), ("YES", True),
                                            ("false", False), ("0", False), ("No", False),
                                            ("", True)])
def test_paid_column_values(paid, expected):
    data = csv_bytes(ROW.format(ref="A-1") + "," + paid, header=HEADER + ",paid")
    [order] = parse_orders_csv(data).orders
    assert order.draft.paid is expected


@pytest.mark.parametrize("column, value", [("paid", "maybe"), ("priority", "high"),
                                           ("total", "12,50"), ("shipping", "free")])
def test_bad_optional_value_drops_the_order(column, value):
    data = csv_bytes(ROW.format(ref="A-1") + f',"{value}"', ROW.format(ref="B-1") + ",",
                     header=HEADER + "," + column)
    result = parse_orders_csv(data)
    assert [o.draft.ref for o in result.orders] == ["B-1"]
    assert [(e.line, e.field) for e in result.errors] == [(2, column)]


# --------------------------------------------------------------------- whole-file refusals

def test_missing_required_column_is_unprocessable():
    header = HEADER.replace(",ship_phone", "")
    row = ROW.format(ref="A-1").replace(",+447700900101", "")
    with pytest.raises(Unprocessable, match="ship_phone") as info:
        parse_orders_csv(csv_bytes(row, header=header))
    assert info.value.field == "ship_phone"
    assert info.value.detail == {"missing_columns": ["ship_phone"]}


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"\xef\xbb\xbf", "empty"),
    (b" \r\n\n", "empty"),
    (ORDERS.replace("张伟".encode(), "张伟".encode("gb18030")), "not UTF-8"),
    ((HEADER + "\n").encode("utf-16"), "not UTF-8"),
    (csv_bytes('A-1,phone,"WP-CAP-NVY,1,18.00', ROW.format(ref="B-1")), "malformed CSV"),
    (csv_bytes(ROW.format(ref="A-1")).replace(b"order_ref,", b"order_ref,sku,"), "repeats"),
])
def test_unusable_files_are_unprocessable(data, words):
    with pytest.raises(Unprocessable, match=words):
        parse_orders_csv(data)


def test_non_utf8_message_gives_the_line():
    data = ORDERS.replace("张伟".encode(), "张伟".encode("gb18030"))
    with pytest.raises(Unprocessable, match="line 11"):
        parse_orders_csv(data)


def test_header_only_file_has_no_orders():
    result = parse_orders_csv((HEADER + "\n").encode())
    assert result.orders == [] and result.errors == []


@pytest.mark.slow
def test_100k_orders_parse_whole():
    rows = [HEADER]
    for n in range(100_000):
        rows.append(ROW.format(ref=f"P-{n}"))
        if n % 2:
            rows.append(ROW.format(ref=f"P-{n}").replace("WP-TEE-BLK-M,1,", "WP-CAP-NVY,2,"))
    data = ("\n".join(rows) + "\n").encode()
    result = parse_orders_csv(data)      # its speed is measured by `make bench` (intake)
    assert len(result.orders) == 100_000 and result.errors == []
    assert result.orders[-1].lines == (len(rows) - 1, len(rows))


# ------------------------------------------------------------------------ native JSON

def native_payload(**changes) -> dict:
    payload = {
        "ref": "WP-N-10006", "placed_at": "2025-06-04T16:40:00+08:00", "currency": "cny",
        "paid": True, "payment_method": "card",
        "ship_to": {"name": "张伟", "phone": "+8613800138000",
                    "address1": "朝阳区建国路93号万达广场8号楼1203室", "address2": "",
                    "city": "北京市", "postcode": "100022", "country": "cn"},
        "lines": [{"sku": "WP-TEE-WHT-M", "quantity": 2, "unit_price": "199.00"},
                  {"sku": "WP-SOCK-3PK-M", "quantity": 1, "unit_price": 119.00}],
    }
    payload.update(changes)
    return payload


def test_native_order_matches_the_csv_draft():
    draft = parse_native_order(native_payload())
    csv_draft = by_ref(parse_orders_csv(ORDERS))["WP-N-10006"].draft
    assert draft.payment_method == "card" and csv_draft.source == "showroom"
    assert draft == OrderDraft(**{**csv_draft.__dict__, "payment_method": "card", "source": ""})
    assert draft.lines[1].unit_price == Decimal("119.0")
    assert validate_order(draft, SKUS) == []


def test_native_order_optional_fields():
    draft = parse_native_order(native_payload(
        priority=3, note="gift", carrier="SF Express", total="517", shipping=0, discount="0.00",
        ship_to={**native_payload()["ship_to"], "region": "北京", "email": "z@example.com"},
        lines=[{"sku": "WP-TEE-WHT-M", "quantity": 2, "unit_price": 199.1, "currency": "cny"}]))
    assert (draft.priority, draft.note, draft.carrier) == (3, "gift", "SF Express")
    assert (draft.total, draft.shipping, draft.discount) == (Decimal(517), 0, Decimal("0.00"))
    assert draft.lines[0].unit_price == Decimal("199.1") and draft.lines[0].currency == "CNY"
    assert (draft.ship_to.region, draft.ship_to.email) == ("北京", "z@example.com")
    assert draft.currency == "CNY" and draft.ship_to.country == "CN"


def test_native_order_defaults():
    payload = native_payload()
    del payload["paid"], payload["payment_method"]
    draft = parse_native_order(payload)
    assert (draft.paid, draft.priority, draft.total, draft.shipping) == (False, 0, None, 0)


@pytest.mark.parametrize("changes, field", [
    ({"ref": ""}, "ref"),
    ({"ref": 10006}, "ref"),
    ({"placed_at": "2025-06-04T16:40:00"}, "placed_at"),
    ({"placed_at": "yesterday"}, "placed_at"),
    ({"placed_at": None}, "placed_at"),
    ({"currency": None}, "currency"),
    ({"paid": "yes"}, "paid"),
    ({"priority": "1"}, "priority"),
    ({"priority": True}, "priority"),
    ({"priority": 2 ** 40}, "priority"),
    ({"total": "12,50"}, "total"),
    ({"shipping": True}, "shipping"),
    ({"ship_to": None}, "ship_to"),
    ({"ship_to": {"name": 5}}, "ship_to.name"),
    ({"lines": None}, "lines"),
    ({"lines": ["x"]}, "lines[0]"),
    ({"lines": [{"sku": "A", "quantity": 1}]}, "lines[0].unit_price"),
    ({"lines": [{"sku": "A", "quantity": 1.5, "unit_price": 1}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "A", "quantity": "1", "unit_price": 1}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "", "quantity": 1, "unit_price": 1}]}, "lines[0].sku"),
    ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "NaN"}]}, "lines[0].unit_price"),
])
def test_native_order_refusals_name_the_field(changes, field):
    with pytest.raises(Unprocessable) as info:
        parse_native_order(native_payload(**changes))
    assert info.value.field == field
    assert info.value.status == 422


def test_native_order_must_be_an_object():
    with pytest.raises(Unprocessable):
        parse_native_order([])          # type: ignore[arg-type]


def test_native_business_problems_are_left_to_validation():
    draft = parse_native_order(native_payload(lines=[], ship_to={"country": "China"}))
    codes = {p.code for p in validate_order(draft, SKUS)}
    assert {"no_lines", "bad_country", "missing_phone", "missing_name"} <= codes


# -------------------------------------------------------------------------- catalogue

def test_catalogue_fixture():
    result = parse_catalogue_csv(CATALOGUE)
    assert result.errors == []
    assert len(result.rows) == 13 and {r.sku for r in result.rows} == SKUS
    first = result.rows[0]
    assert first == CatalogueCsvRow(line=2, sku="WP-TEE-BLK-M", gtins=("09506000210018",),
                                    name="Organic Cotton Tee - Black / M", unit_weight_g=180,
                                    location="A-01-02-3")
    assert first.gtin == "09506000210018"
    assert all(len(r.gtin) == 14 and r.gtin.startswith("09506000") for r in result.rows)
    source = CATALOGUE.decode().splitlines()[1:]
    assert [r.location for r in result.rows] == [line.rsplit(",", 1)[1] for line in source]
    assert [r.line for r in result.rows] == list(range(2, 15))


def test_catalogue_bad_check_digit_reports_its_line():
    data = CATALOGUE.replace(b"9506000220024", b"9506000220025")       # line 11
    result = parse_catalogue_csv(data)
    assert len(result.rows) == 12
    [error] = result.errors
    assert (error.line, error.order_ref, error.field) == (11, "WP-MUG-350-CHAR", "gtin")
    assert "check digit 5, expected 4" in error.message


CAT_HEADER = ("sku,gtin,name,unit_weight_g,location,length_mm,width_mm,height_mm,flags,"
              "image_url,min_qty")


def test_catalogue_optional_columns_and_several_gtins():
    data = csv_bytes("S-1, 9506000210018 | 036000291452 ,Tee,180,a-1-2-3,300,200,20,"
                     "fragile|liquid,https://img.example/s1.png,4",
                     "S-2,,Mystery,0,,,,,,,", header=CAT_HEADER)
    result = parse_catalogue_csv(data)
    assert result.errors == []
    one, two = result.rows
    assert one.gtins == ("09506000210018", "00036000291452")
    assert (one.location, one.length_mm, one.width_mm, one.height_mm, one.min_qty) == (
        "A-01-02-3", 300, 200, 20, 4)
    assert one.flags == ("fragile", "liquid") and one.image_url == "https://img.example/s1.png"
    assert (two.gtins, two.gtin, two.location, two.length_mm, two.flags) == ((), "", "", None, ())


@pytest.mark.parametrize("row, field, words", [
    ("S-9,12345,X,10,A-01-01-1", "gtin", "5 digits"),
    ("S-9,036000291452|95060002100X,X,10,A-01-01-1", "gtin", "digits only"),
    (",,X,10,A-01-01-1", "sku", "empty"),
    ("S-9,,X,,A-01-01-1", "unit_weight_g", "empty"),
    ("S-9,,X,-5,A-01-01-1", "unit_weight_g", "negative"),
    ("S-9,,X,1.5,A-01-01-1", "unit_weight_g", "whole number"),
    ("S-9,,X,10,A-01-01", "location", "bad location"),
    ("WP-CAP-NVY,,X,10,A-01-01-1", "sku", "already on line 9"),
    ("S-9,9506000210414,X,10,A-01-01-1", "gtin", "already belongs to SKU 'WP-CAP-NVY'"),
    ("S-9,,X,10", "", "4 cells, the header 5"),
])
def test_catalogue_row_errors(row, field, words):
    result = parse_catalogue_csv(CATALOGUE + (row + "\n").encode())
    assert len(result.rows) == 13
    [error] = result.errors
    assert (error.line, error.field) == (15, field) and words in error.message


def test_catalogue_missing_column_is_unprocessable():
    with pytest.raises(Unprocessable, match="unit_weight_g"):
        parse_catalogue_csv(b"sku,gtin,name,location\nS-1,,X,A-01-01-1\n")


# ------------------------------------------------------------------------------ stock

def test_stock_rows():
    data = (b"warehouse,location,sku,quantity,min_qty\n"
            b"LDS,A-01-02-3,WP-TEE-BLK-M,40,5\n"
            b"LDS,a-1-2-4,WP-TEE-BLK-L,0,\n"
            b"LDS,A-01-02-3,WP-TEE-BLK-M,3,\n"
            b"LDS,A-01-02-5,WP-TEE-BLK-M,-3,\n"
            b"LDS,,WP-CAP-NVY,3,\n"
            b",B-01-01-1,,x,\n")
    result = parse_stock_csv(data)
    assert result.rows == [
        StockCsvRow(line=2, warehouse="LDS", location="A-01-02-3", sku="WP-TEE-BLK-M",
                    quantity=40, min_qty=5),
        StockCsvRow(line=3, warehouse="LDS", location="A-01-02-4", sku="WP-TEE-BLK-L",
                    quantity=0, min_qty=None)]
    assert [(e.line, e.order_ref, e.field) for e in result.errors] == [
        (4, "WP-TEE-BLK-M", "sku"), (5, "WP-TEE-BLK-M", "quantity"),
        (6, "WP-CAP-NVY", "location"), (7, "", "warehouse"), (7, "", "sku"),
        (7, "", "quantity")]
    assert "already on line 2" in result.errors[0].message


def test_stock_missing_column_is_unprocessable():
    with pytest.raises(Unprocessable, match="quantity"):
        parse_stock_csv(b"warehouse,location,sku\nLDS,A-01-01-1,S\n")
