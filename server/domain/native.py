"""Our own formats: the native JSON order body and the CSV imports (orders, catalogue, stock).

Parsers only turn bytes or JSON into drafts and rows. They refuse what cannot be read
(Unprocessable for a whole body or file, CsvError for one CSV row) and leave business
rules — unknown SKU, quantity below 1, missing phone — to `validation.validate_order`.
"""
from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Callable, Iterator

from .errors import InvalidOrder, Unprocessable
from .gtin import normalize_gtin
from .locations import parse_location
from .money import parse_amount
from .carriers import method_keys
from .customs import normalise_country, normalise_hs_code
from .orders import Address, LineDraft, OrderDraft

_DIGITS = frozenset("0123456789")
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INT32 = 2 ** 31
_TRUE = frozenset(("true", "1", "yes", "y"))
_FALSE = frozenset(("false", "0", "no", "n"))


# ---------------------------------------------------------------------------- results

@dataclass(frozen=True)
class CsvError:
    """One refused CSV row (or one field of it). `line` is the physical line the row starts on.

    `order_ref` is the order's ref in an orders file and the row's SKU in a catalogue or
    stock file ('' when the row has none).
    """
    line: int
    order_ref: str
    field: str
    message: str

    def to_dict(self) -> dict:
        return {"line": self.line, "order_ref": self.order_ref, "field": self.field,
                "message": self.message}


@dataclass(frozen=True)
class CsvOrder:
    draft: OrderDraft
    lines: tuple[int, ...]      # physical line of each draft line's row (header = line 1)


@dataclass
class CsvOrders:
    orders: list[CsvOrder]
    errors: list[CsvError]
    rejected: list[str] = field(default_factory=list)   # refs of orders dropped for errors


@dataclass(frozen=True)
class CatalogueCsvRow:
    line: int
    sku: str
    gtins: tuple[str, ...]      # GTIN-14s, in file order; may be empty
    name: str
    unit_weight_g: int
    location: str               # canonical location code, or ''
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    flags: tuple[str, ...] = ()
    image_url: str = ""
    min_qty: int | None = None
    hs_code: str = ""           # customs tariff code, digits ('' = keep what is stored)
    origin_country: str = ""    # ISO country of origin ('' = keep what is stored)

    @property
    def gtin(self) -> str:
        """The first (primary) GTIN-14, or ''."""
        return self.gtins[0] if self.gtins else ""


@dataclass(frozen=True)
class StockCsvRow:
    line: int
    warehouse: str
    location: str               # canonical location code
    sku: str
    quantity: int
    min_qty: int | None = None
    max_qty: int | None = None        # a pick face's capacity (replenishment up to it)


@dataclass
class CsvRows:
    rows: list
    errors: list[CsvError]


# ------------------------------------------------------------------- scalar parsing

def _int_text(text: str) -> int:
    """An integer written in ASCII digits with an optional sign (no '1_000', no '２')."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not _DIGITS.issuperset(body):
        raise ValueError(f"{text!r} is not a whole number")
    return int(text)


def _amount_text(text: str) -> Decimal:
    """A CSV amount: plain decimal with '.', optional sign; no exponent, no separators."""
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"{text!r} is not a decimal amount like 12.50")
    return parse_amount(text)


def parse_timestamp(text: str) -> dt.datetime:
    """ISO 8601 date-time with a UTC offset ('Z' accepted); the offset is kept as given."""
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from err
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset (write e.g. +01:00 or Z)")
    return value


def _flag_text(text: str, default: bool) -> bool:
    low = text.lower()
    if not low:
        return default
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true/false/1/0/yes/no")


# --------------------------------------------------------------------- native JSON

def _json_str(obj: dict, key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise Unprocessable(f"{where} is required", field=where, code="missing")
        return ""
    if not isinstance(value, str):
        raise Unprocessable(f"{where} must be a string", field=where, code="wrong_type")
    value = value.strip()
    if required and not value:
        raise Unprocessable(f"{where} must not be empty", field=where, code="missing")
    return value


def _json_int(obj: dict, key: str, where: str, default: int | None = None) -> int:
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if value is None:
        raise Unprocessable(f"{where} is required", field=where, code="missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unprocessable(f"{where} must be a whole number", field=where, code="wrong_type")
    if not -_INT32 <= value < _INT32:
        raise Unprocessable(f"{where} is out of range", field=where, code="out_of_range")
    return value


def _json_amount(obj: dict, key: str, where: str, default: Decimal | None) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return default
    try:
        return parse_amount(value)
    except ValueError:
        raise Unprocessable(f"{where} must be a decimal amount, not {value!r}",
                            field=where, code="bad_amount") from None


class _Problems:
    """Collects every field that cannot be read, so a body is refused once, with all."""

    def __init__(self) -> None:
        self.found: list[dict] = []

    def take(self, read, *args, default=None, **kwargs):
        """read(*args, **kwargs), or `default` with its refusal noted."""
        try:
            return read(*args, **kwargs)
        except Unprocessable as err:
            self.found.append({"field": err.field or "", "code": err.code,
                               "message": err.message})
            return default

    def raise_any(self) -> None:
        if self.found:
            raise InvalidOrder(self.found)


def _json_address(payload: dict, problems: _Problems) -> Address:
    ship = payload.get("ship_to")
    if not isinstance(ship, dict):
        code = "missing" if ship is None else "wrong_type"
        problems.take(_refuse, "ship_to must be an object", "ship_to", code)
        return Address()
    text = {key: problems.take(_json_str, ship, key, f"ship_to.{key}", default="")
            for key in ("name", "phone", "address1", "address2", "city", "postcode",
                        "country", "region", "email")}
    text["country"] = text["country"].upper()
    return Address(**text)


def _refuse(message: str, where: str, code: str) -> None:
    raise Unprocessable(message, field=where, code=code)


def _json_line(raw: object, i: int, problems: _Problems) -> LineDraft | None:
    where = f"lines[{i}]"
    if not isinstance(raw, dict):
        return problems.take(_refuse, f"{where} must be an object", where, "wrong_type")
    before = len(problems.found)
    sku = problems.take(_json_str, raw, "sku", f"{where}.sku", required=True)
    quantity = problems.take(_json_int, raw, "quantity", f"{where}.quantity")
    unit_price = problems.take(_json_amount, raw, "unit_price", f"{where}.unit_price", None)
    if unit_price is None and len(problems.found) == before:
        problems.take(_refuse, f"{where}.unit_price is required", f"{where}.unit_price",
                      "missing")
    currency = problems.take(_json_str, raw, "currency", f"{where}.currency", default="")
    name = problems.take(_json_str, raw, "name", f"{where}.name", default="")
    if len(problems.found) > before:
        return None
    return LineDraft(sku=sku, quantity=quantity, unit_price=unit_price,
                     currency=currency.upper() or None, name=name)


def _json_placed_at(payload: dict) -> dt.datetime:
    text = _json_str(payload, "placed_at", "placed_at", required=True)
    try:
        return parse_timestamp(text)
    except ValueError as err:
        raise Unprocessable(f"placed_at: {err}", field="placed_at", code="bad_time") from None


def parse_native_order(payload: dict) -> OrderDraft:
    """The JSON body of POST /api/v1/orders as an OrderDraft.

    Raises InvalidOrder (an Unprocessable, 422) listing every field that cannot be read,
    each with its path (e.g. 'lines[1].quantity') and a code: `missing`, `wrong_type`,
    `out_of_range`, `bad_amount`, `bad_time` (a placed_at or ship_by without a UTC offset,
    or not a date-time). `paid` defaults to False. Business rules (unknown SKU, country,
    phone, postcode…) are validation's, not the parser's.
    """
    if not isinstance(payload, dict):
        raise Unprocessable("the order must be a JSON object", code="wrong_type")
    problems = _Problems()
    take = problems.take
    ref = take(_json_str, payload, "ref", "ref", required=True)
    placed_at = take(_json_placed_at, payload)
    currency = take(_json_str, payload, "currency", "currency", required=True)
    paid = take(_json_flag, payload, "paid")
    ship_to = _json_address(payload, problems)
    raw_lines = payload.get("lines")
    lines: list = []
    if isinstance(raw_lines, list):
        lines = [_json_line(raw, i, problems) for i, raw in enumerate(raw_lines)]
    else:
        take(_refuse, "lines must be a list", "lines",
             "missing" if raw_lines is None else "wrong_type")
    carrier = take(_json_str, payload, "carrier", "carrier")
    service = take(_json_str, payload, "service", "service")
    fields = {
        "payment_method": take(_json_str, payload, "payment_method", "payment_method"),
        "priority": take(_json_int, payload, "priority", "priority", 0),
        "note": take(_json_str, payload, "note", "note"),
        "total": take(_json_amount, payload, "total", "total", None),
        "shipping": take(_json_amount, payload, "shipping", "shipping", Decimal(0)),
        "discount": take(_json_amount, payload, "discount", "discount", Decimal(0)),
        "carrier": carrier,
        "shipping_method": native_method_keys(carrier or "", service or ""),
        "ship_by": take(_json_time, payload, "ship_by"),
        "invoice_requested": take(_json_flag, payload, "invoice"),
    }
    problems.raise_any()
    return OrderDraft(external_id=ref, ref=ref, placed_at=placed_at, currency=currency.upper(),
                      paid=paid, ship_to=ship_to, lines=tuple(lines), **fields)


def native_method_keys(carrier: str, service: str) -> tuple[str, ...]:
    """The shipping method keys of a native order: 'carrier service', then 'carrier'."""
    if not (carrier or "").strip():
        return method_keys(service)
    return method_keys(f"{carrier} {service}" if (service or "").strip() else "", carrier)


def _json_flag(payload: dict, name: str) -> bool:
    """An optional true/false field (absent = false)."""
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise Unprocessable(f"{name} must be true or false", field=name, code="wrong_type")
    return value


def _json_time(payload: dict, name: str) -> dt.datetime | None:
    """An optional ISO-8601 time field (with offset)."""
    raw = _json_str(payload, name, name)
    if not raw:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError as err:
        raise Unprocessable(f"{name}: {err}", field=name, code="bad_time") from None


# -------------------------------------------------------------------- CSV plumbing

def _decode(data: bytes) -> str:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise Unprocessable("the file must be bytes")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = bytes(data)[:err.start].count(b"\n") + 1
        raise Unprocessable(f"the file is not UTF-8 (bad byte at offset {err.start}, "
                            f"line {line}); save it as UTF-8 CSV") from None
    if not text.strip():
        raise Unprocessable("the file is empty")
    return text


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big file becomes many small objects.

    The parsers make no reference cycles, but full collections re-scan every object
    built so far and took about half the time on 100,000 orders. The collector is
    switched back on only if it was on. Used as a decorator on the CSV parsers.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Table:
    """A CSV file opened for reading: header positions and the data rows with line numbers."""

    def __init__(self, data: bytes, required: tuple[str, ...], what: str):
        self._reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
        self._prev = 0
        header = self._header(what)
        self.width = len(header)
        self.index = {name: i for i, name in enumerate(header) if name}
        missing = [name for name in required if name not in self.index]
        if missing:
            raise Unprocessable(f"the {what} file lacks the column(s) {', '.join(missing)}",
                                field=missing[0], detail={"missing_columns": missing})

    def _next(self) -> list[str] | None:
        try:
            cells = next(self._reader, None)
        except csv.Error as err:
            raise Unprocessable(f"malformed CSV in the row starting on line {self._prev + 1}: "
                                f"{err} (check the quotes)") from None
        return cells

    def _header(self, what: str) -> list[str]:
        cells = self._next()
        while cells is not None and not any(c.strip() for c in cells):
            self._prev = self._reader.line_num
            cells = self._next()
        if cells is None:
            raise Unprocessable(f"the {what} file has no header row")
        self._prev = self._reader.line_num
        header = [c.strip().lower() for c in cells]
        dupes = sorted({h for h in header if h and header.count(h) > 1})
        if dupes:
            raise Unprocessable(f"the {what} file repeats the column(s) {', '.join(dupes)}",
                                field=dupes[0])
        return header

    def rows(self) -> Iterator[tuple[int, list[str], str]]:
        """(line, stripped cells, problem) per data row; blank rows skipped.

        `problem` is '' or a message about the number of cells (then the cells are as
        read); trailing empty cells beyond the header are dropped silently. Good rows get
        one extra '' cell at index `width`, which `getter` uses for absent columns.
        """
        width, reader = self.width, self._reader
        while True:
            cells = self._next()
            if cells is None:
                return
            line, self._prev = self._prev + 1, reader.line_num
            if len(cells) != width:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) < width or any(c.strip() for c in cells[width:]):
                    yield line, [c.strip() for c in cells], (
                        f"the row has {len(cells)} cells, the header {width} "
                        f"(an unquoted comma or a missing cell?)")
                    continue
                cells = cells[:width]
            cells = [c.strip() for c in cells]
            if any(cells):
                cells.append("")
                yield line, cells, ""

    def getter(self, names: tuple[str, ...]):
        """A function: good row cells -> tuple of the cells of `names` ('' when absent)."""
        idx = [self.index.get(n, self.width) for n in names]
        if len(idx) == 1:
            return lambda cells: (cells[idx[0]],)
        return itemgetter(*idx)

    def cell(self, cells: list[str], name: str) -> str:
        """One cell by column name ('' when the column or the cell is absent)."""
        i = self.index.get(name)
        return cells[i] if i is not None and i < len(cells) else ""


# ------------------------------------------------------------------------ orders CSV

_ORDER_REQUIRED = ("order_ref", "channel", "sku", "quantity", "unit_price", "currency",
                   "ship_name", "ship_phone", "ship_address1", "ship_city", "ship_postcode",
                   "ship_country", "placed_at")
# Columns that describe the order, so must repeat unchanged on every row of one order_ref.
_ORDER_LEVEL = ("channel", "currency", "placed_at", "ship_name", "ship_phone",
                "ship_address1", "ship_address2", "ship_city", "ship_postcode", "ship_country",
                "ship_region", "ship_email", "paid", "payment_method", "priority", "note",
                "total", "shipping", "discount", "carrier", "service")
_CASE_FREE = frozenset(("channel", "currency", "ship_country", "paid"))


def _flag(text: str) -> bool:
    return _flag_text(text, False)


def _bounded_int(text: str) -> int:
    value = _int_text(text)
    if not -_INT32 <= value < _INT32:
        raise ValueError(f"{text!r} is out of range")
    return value


# (column, parser, value when the cell is empty); an empty 'paid' takes default_paid.
_ORDER_PARSERS = (("placed_at", parse_timestamp, None), ("paid", _flag, None),
                  ("priority", _bounded_int, 0), ("total", _amount_text, None),
                  ("shipping", _amount_text, Decimal(0)), ("discount", _amount_text, Decimal(0)))


class _Group:
    """The rows of one order_ref seen so far."""
    __slots__ = ("first_line", "head", "fields", "lines", "line_nos", "failed")

    def __init__(self, first_line: int):
        self.first_line = first_line
        self.head: tuple[str, ...] | None = None
        self.fields: dict = {}
        self.lines: list[LineDraft] = []
        self.line_nos: list[int] = []
        self.failed = False


def _order_fields(head: tuple[str, ...], errs: list, default_paid: bool) -> dict:
    """Parse the order-level cells of an order's first row; problems go to `errs`."""
    fields: dict = dict(zip(_ORDER_LEVEL, head))
    for name, parse, empty in _ORDER_PARSERS:
        text = fields[name]
        if not text and name != "placed_at":
            fields[name] = default_paid if name == "paid" else empty
            continue
        try:
            fields[name] = parse(text)
        except ValueError as err:
            errs.append((name, f"{name}: {err}"))
    return fields


def _mismatches(group: _Group, head: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for name, first, value in zip(_ORDER_LEVEL, group.head, head):
        if value == first or (name in _CASE_FREE and value.lower() == first.lower()):
            continue
        out.append((name, f"{name} {value!r} differs from {first!r} on line {group.first_line} "
                          f"of the same order; every row of an order must repeat it"))
    return out


def _order_row(group: _Group, head: tuple[str, ...], item: tuple[str, str, str], line: int,
               default_paid: bool) -> list[tuple[str, str]]:
    """Add one good row to its order; return its problems as (field, message) pairs."""
    errs: list[tuple[str, str]] = []
    if group.head is None:
        group.head, group.first_line = head, line
        group.fields = _order_fields(head, errs, default_paid)
    elif head != group.head:
        errs.extend(_mismatches(group, head))
    sku, qty_text, price_text = item
    if not sku:
        errs.append(("sku", "sku is empty"))
    try:
        quantity = _bounded_int(qty_text)
    except ValueError as err:
        errs.append(("quantity", f"quantity: {err}"))
    try:
        unit_price = _amount_text(price_text)
    except ValueError as err:
        errs.append(("unit_price", f"unit_price: {err}"))
    if not errs and not group.failed:
        group.lines.append(LineDraft(sku=sku, quantity=quantity, unit_price=unit_price))
        group.line_nos.append(line)
    return errs


def _csv_draft(ref: str, f: dict, lines: list[LineDraft]) -> OrderDraft:
    ship = Address(name=f["ship_name"], phone=f["ship_phone"], address1=f["ship_address1"],
                   address2=f["ship_address2"], city=f["ship_city"],
                   postcode=f["ship_postcode"], country=f["ship_country"].upper(),
                   region=f["ship_region"], email=f["ship_email"])
    return OrderDraft(external_id=ref, ref=ref, placed_at=f["placed_at"],
                      currency=f["currency"].upper(), paid=f["paid"], ship_to=ship,
                      lines=tuple(lines), payment_method=f["payment_method"],
                      priority=f["priority"], note=f["note"], total=f["total"],
                      shipping=f["shipping"], discount=f["discount"], carrier=f["carrier"],
                      shipping_method=native_method_keys(f["carrier"], f["service"]),
                      source=f["channel"].lower())


PAUSE_ROWS = 500


@_gc_paused()
def parse_orders_csv(data: bytes, *, default_paid: bool = True,
                     pause: Callable[[], None] | None = None) -> CsvOrders:
    """Orders from our CSV import format (one row per order line; see native/orders.csv).

    All-or-nothing per order: a row that cannot be read (bad quantity, price, placed_at,
    paid, empty sku, wrong number of cells, order-level cells that differ from the
    order's first row) gets a CsvError and its whole order is dropped (listed in
    `rejected`); rows of one order_ref need not be adjacent. Orders come out in order of
    first appearance, errors sorted by line. Raises Unprocessable when the file itself
    is unusable: not UTF-8, empty, a required column missing, broken quoting.
    `pause` is called every PAUSE_ROWS rows (the server lets other work run there).
    """
    table = _Table(data, _ORDER_REQUIRED, "orders")
    head_of, item_of = table.getter(_ORDER_LEVEL), table.getter(("sku", "quantity", "unit_price"))
    groups: dict[str, _Group] = {}
    errors: list[CsvError] = []
    for line, cells, problem in table.rows():
        if pause and line % PAUSE_ROWS == 0:
            pause()
        ref = table.cell(cells, "order_ref")
        if problem or not ref:
            errors.append(CsvError(line, ref, "" if problem else "order_ref",
                                   problem or "order_ref is empty"))
            if ref:
                groups.setdefault(ref, _Group(line)).failed = True
            continue
        group = groups.get(ref)
        if group is None:
            group = groups[ref] = _Group(line)
        problems = _order_row(group, head_of(cells), item_of(cells), line, default_paid)
        if problems:
            group.failed = True
            errors.extend(CsvError(line, ref, name, msg) for name, msg in problems)
    orders: list[CsvOrder] = []
    rejected: list[str] = []
    for n, (ref, group) in enumerate(groups.items(), 1):
        if pause and n % PAUSE_ROWS == 0:
            pause()
        if group.failed:
            rejected.append(ref)
        else:
            orders.append(CsvOrder(_csv_draft(ref, group.fields, group.lines),
                                   tuple(group.line_nos)))
    errors.sort(key=lambda e: e.line)
    return CsvOrders(orders=orders, errors=errors, rejected=rejected)


# --------------------------------------------------------------- catalogue and stock

def _count(text: str, name: str, errs: list, *, required: bool) -> int | None:
    """A non-negative whole number cell; '' gives None unless required."""
    if not text:
        if required:
            errs.append((name, f"{name} is empty"))
        return None
    try:
        value = _bounded_int(text)
    except ValueError as err:
        errs.append((name, f"{name}: {err}"))
        return None
    if value < 0:
        errs.append((name, f"{name} must not be negative, not {value}"))
    return value


def _location(text: str, errs: list, *, required: bool) -> str:
    if not text:
        if required:
            errs.append(("location", "location is empty"))
        return ""
    try:
        return parse_location(text).code
    except ValueError as err:
        errs.append(("location", str(err)))
        return ""


def _gtins(text: str, errs: list) -> tuple[str, ...]:
    out: list[str] = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        try:
            gtin = normalize_gtin(part)
        except ValueError as err:
            errs.append(("gtin", str(err)))
            continue
        if gtin not in out:
            out.append(gtin)
    return tuple(out)


def _catalogue_row(table: _Table, cells: list[str], line: int,
                   errs: list) -> CatalogueCsvRow:
    get = table.cell
    sku = get(cells, "sku")
    if not sku:
        errs.append(("sku", "sku is empty"))
    return CatalogueCsvRow(
        line=line, sku=sku, gtins=_gtins(get(cells, "gtin"), errs), name=get(cells, "name"),
        unit_weight_g=_count(get(cells, "unit_weight_g"), "unit_weight_g", errs, required=True),
        location=_location(get(cells, "location"), errs, required=False),
        length_mm=_count(get(cells, "length_mm"), "length_mm", errs, required=False),
        width_mm=_count(get(cells, "width_mm"), "width_mm", errs, required=False),
        height_mm=_count(get(cells, "height_mm"), "height_mm", errs, required=False),
        flags=tuple(f.strip() for f in get(cells, "flags").split("|") if f.strip()),
        image_url=get(cells, "image_url"),
        min_qty=_count(get(cells, "min_qty"), "min_qty", errs, required=False),
        hs_code=_checked(normalise_hs_code, get(cells, "hs_code"), "hs_code", errs),
        origin_country=_checked(normalise_country, get(cells, "origin_country"),
                                "origin_country", errs))


def _checked(check, text: str, name: str, errs: list) -> str:
    try:
        return check(text)
    except ValueError as err:
        errs.append((name, str(err)))
        return ""


@_gc_paused()
def parse_catalogue_csv(data: bytes) -> CsvRows:
    """Catalogue rows (sku,gtin,name,unit_weight_g,location + optional length_mm, width_mm,
    height_mm, flags, image_url, min_qty, hs_code, origin_country) as CatalogueCsvRow.
    hs_code is 6 to 10 digits (dots and spaces dropped), origin_country two letters.

    `gtin` may be empty or several codes joined by '|'; each becomes a GTIN-14. `flags`
    are '|'-separated too. A row with any problem, a repeated SKU, or a GTIN already given
    to another SKU is left out with a CsvError (order_ref = the row's SKU).
    """
    table = _Table(data, ("sku", "gtin", "name", "unit_weight_g", "location"), "catalogue")
    rows: list[CatalogueCsvRow] = []
    errors: list[CsvError] = []
    sku_line: dict[str, int] = {}
    gtin_owner: dict[str, tuple[str, int]] = {}
    for line, cells, problem in table.rows():
        if problem:
            errors.append(CsvError(line, table.cell(cells, "sku"), "", problem))
            continue
        errs: list[tuple[str, str]] = []
        row = _catalogue_row(table, cells, line, errs)
        if row.sku in sku_line:
            errs.append(("sku", f"SKU {row.sku!r} already on line {sku_line[row.sku]}"))
        for gtin in row.gtins:
            owner = gtin_owner.get(gtin)
            if owner:
                errs.append(("gtin", f"GTIN {gtin} already belongs to SKU {owner[0]!r} "
                                     f"on line {owner[1]}"))
        if errs:
            errors.extend(CsvError(line, row.sku, name, msg) for name, msg in errs)
            continue
        sku_line[row.sku] = line
        gtin_owner.update((gtin, (row.sku, line)) for gtin in row.gtins)
        rows.append(row)
    return CsvRows(rows=rows, errors=errors)


@_gc_paused()
def parse_stock_csv(data: bytes) -> CsvRows:
    """Stock rows (warehouse,location,sku,quantity + optional min_qty, max_qty: a pick face's
    replenishment levels) as StockCsvRow.

    quantity is a whole number ≥ 0; location must parse (stored canonical). A row with a
    problem, or repeating an earlier (warehouse, location, sku), is left out with a CsvError.
    """
    table = _Table(data, ("warehouse", "location", "sku", "quantity"), "stock")
    rows: list[StockCsvRow] = []
    errors: list[CsvError] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, cells, problem in table.rows():
        sku = table.cell(cells, "sku")
        if problem:
            errors.append(CsvError(line, sku, "", problem))
            continue
        errs: list[tuple[str, str]] = []
        warehouse = table.cell(cells, "warehouse")
        if not warehouse:
            errs.append(("warehouse", "warehouse is empty"))
        if not sku:
            errs.append(("sku", "sku is empty"))
        location = _location(table.cell(cells, "location"), errs, required=True)
        quantity = _count(table.cell(cells, "quantity"), "quantity", errs, required=True)
        min_qty = _count(table.cell(cells, "min_qty"), "min_qty", errs, required=False)
        max_qty = _count(table.cell(cells, "max_qty"), "max_qty", errs, required=False)
        if max_qty and min_qty is not None and max_qty < min_qty:
            errs.append(("max_qty", f"max_qty {max_qty} is below min_qty {min_qty}"))
        key = (warehouse, location, sku)
        if not errs and key in seen:
            errs.append(("sku", f"{sku!r} at {warehouse}/{location} already on line {seen[key]}"))
        if errs:
            errors.extend(CsvError(line, sku, name, msg) for name, msg in errs)
            continue
        seen[key] = line
        rows.append(StockCsvRow(line=line, warehouse=warehouse, location=location, sku=sku,
                                quantity=quantity, min_qty=min_qty, max_qty=max_qty))
    return CsvRows(rows=rows, errors=errors)
