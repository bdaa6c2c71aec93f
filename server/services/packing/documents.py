"""Paper for the parcel: the addresses printed on labels and documents, the packing slip
and the invoice (PDF, printers/documents.py), printed on the station's document printer.

Which documents go into a parcel is the order's inserts (config `inserts:`, `inserts()`); a station
with a `document_printer` (a CUPS queue) prints them after the packing is confirmed, and
the pack page can always fetch them as PDF. A document that fails to print opens an
exception naming the order (the label, which must never be lost, is on the durable label
queue instead).

Drawing a PDF is CPU work (~0.4 s): it runs in the worker processes of server/offload.py,
never in the request's event loop, and what was drawn is kept by its content (the
document's every field, its kind and language), so reopening or reprinting an unchanged
document costs no drawing and any change to the order draws it anew (config `documents:`).
"""
from __future__ import annotations

import hashlib
import logging
import threading
from decimal import Decimal

from printers import documents as pdf_documents
from printers.documents import (CustomsDeclaration, CustomsLine, FontMissing, Invoice,
                                InvoiceLine, PackingSlip, SlipLine, build_document,
                                print_document)
from printers.labels import Address
from printers.status import PrinterError

from ... import clock, offload
from ...config import Config
from ...domain.customs import CustomsItem, Declaration, crosses_customs, declare
from ...domain.errors import Conflict, DomainError, NotFound
from ...domain.money import from_minor
from ...store.db import db, execute
from .. import carrier_gate
from ..exceptions import open_exception
from ._common import SHIPPED_STATES, SessionRow

log = logging.getLogger(__name__)
DOCUMENTS = ("packing_slip", "invoice", "customs_declaration")
CJK_COUNTRIES = frozenset({"CN", "TW", "HK", "MO", "SG"})


def address(name: str, lines: list[str], city: str, **rest: str) -> Address:
    """An Address for labels and documents; empty parts left out, never an empty name."""
    return Address(name=name or "-", lines=tuple(x for x in lines if x) or ("-",),
                   city=city or "-", **{k: v for k, v in rest.items() if v})


def recipient(order_id: int) -> Address:
    o = execute("SELECT ship_name, ship_address1, ship_address2, ship_city, ship_postcode, "
                "ship_region, ship_country, ship_phone FROM sales_order WHERE id = ?",
                (order_id,)).fetchone()
    if o is None:
        raise NotFound(f"no order {order_id}", field="order")
    return address(o[0], [o[1], o[2]], o[3], postal_code=o[4], region=o[5],
                   country=(o[6] or "").upper(), phone=o[7])


def sender(warehouse_code: str | None, *, settings: Config) -> Address:
    s = settings.setup.senders.get(warehouse_code or "")
    if s is None:
        raise Conflict(f"no sender address for warehouse {warehouse_code!r} (senders: in "
                       f"config.yaml)", code="no_sender")
    return address(s.name, list(s.lines), s.city, postal_code=s.postal_code, region=s.region,
                   country=s.country, phone=s.phone, company=s.company)


def _order(order_id: int):
    row = execute("SELECT o.ref, o.placed_at, o.currency, o.note, w.code, o.ship_country "
                  "FROM sales_order o LEFT JOIN warehouse w ON w.id = o.warehouse_id "
                  "WHERE o.id = ?", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"no order {order_id}", field="order")
    return row


def _lines(order_id: int):
    return execute("SELECT ol.sku, COALESCE(p.name, ol.name, ol.sku), ol.quantity, "
                   "ol.unit_price_minor FROM order_line ol LEFT JOIN product p ON "
                   "p.id = ol.product_id WHERE ol.order_id = ? AND ol.quantity > 0 "
                   "ORDER BY ol.line_no, ol.id", (order_id,)).fetchall()


def _language(country: str) -> str:
    return "zh-CN" if (country or "").upper() in CJK_COUNTRIES else "en"


def _share(items: list[CustomsItem], units: dict[str, int]) -> list[CustomsItem]:
    """The part of each line that went into one parcel (value and weight pro rata)."""
    out, left = [], dict(units)
    for item in items:
        n = min(left.get(item.sku, 0), item.quantity)
        if n <= 0:
            continue
        left[item.sku] -= n
        out.append(CustomsItem(item.sku, item.description, n, item.hs_code,
                               item.origin_country, item.value * n / item.quantity,
                               item.weight_g * n // item.quantity))
    return out


def declaration(order_id: int, units: dict[str, int] | None = None,
                gross_weight_g: int | None = None, *, settings: Config) -> Declaration | None:
    """The customs declaration of the order (or of one parcel's `units`), None when the
    parcel stays in its warehouse's customs area (or the warehouse's country is unknown)."""
    facts = carrier_gate.load_facts([order_id], items=False, settings=settings).get(order_id)
    if facts is None:
        raise NotFound(f"no order {order_id}", field="order")
    origin = carrier_gate.origin_country(facts.warehouse, settings=settings)
    if not origin or not crosses_customs(origin, facts.country):
        return None
    carrier_gate.load_items([facts], settings=settings)
    items = facts.items if units is None else _share(facts.items, units)
    net = sum(i.weight_g for i in items)
    return declare(items, currency=facts.currency, gross_weight_g=gross_weight_g or net,
                   origin=origin, destination=facts.country,
                   sdr_rates=settings.setup.customs.sdr_rates)


def _customs_document(order_id: int, ref: str, warehouse: str | None, *,
                      settings: Config) -> CustomsDeclaration:
    decl = declaration(order_id, settings=settings)
    if decl is None:
        raise Conflict(f"order {ref} stays in its customs area: no declaration",
                       code="no_customs_declaration")
    return CustomsDeclaration(
        form=decl.form, sender=sender(warehouse, settings=settings), ship_to=recipient(order_id),
        order_number=ref, date=clock.now().date(), currency=decl.currency,
        lines=tuple(CustomsLine(i.description[:200], i.quantity, i.hs_code, i.origin_country,
                                i.value, i.weight_g) for i in decl.items),
        gross_weight_g=decl.gross_weight_g)


def document(order_id: int, kind: str, *,
             settings: Config) -> PackingSlip | Invoice | CustomsDeclaration:
    """The packing slip, invoice or customs declaration of an order as data: everything
    its PDF shows."""
    if kind not in DOCUMENTS:
        raise NotFound(f"no document {kind!r} (documents: {', '.join(DOCUMENTS)})",
                       field="document")
    ref, placed_at, currency, note, warehouse, country = _order(order_id)
    day = (clock.aware_utc(placed_at) or clock.now()).date()
    try:
        if kind == "customs_declaration":
            return _customs_document(order_id, ref, warehouse, settings=settings)
        if kind == "packing_slip":
            return PackingSlip(sender=sender(warehouse, settings=settings), ship_to=recipient(order_id),
                               order_number=ref, order_date=day,
                               lines=tuple(SlipLine(sku, (name or sku)[:200], qty)
                                           for sku, name, qty, _ in _lines(order_id)),
                               note=(note or "")[:500])
        return Invoice(seller=sender(warehouse, settings=settings), buyer=recipient(order_id),
                       invoice_number=f"INV-{order_id}", invoice_date=clock.now().date(),
                       order_number=ref, currency=currency,
                       lines=tuple(InvoiceLine(sku, (name or sku)[:200],
                                               Decimal(from_minor(price or 0, currency)), qty)
                                   for sku, name, qty, price in _lines(order_id)))
    except ValueError as err:        # text the document cannot carry: say so, print nothing
        raise _cannot_make(kind, err) from None


def _cannot_make(kind: str, err: Exception) -> DomainError:
    return DomainError(f"the {kind.replace('_', ' ')} cannot be made: {err}",
                       code="bad_document", status=422)


class Renderer:
    """Draws documents in the worker pool (or in process with `documents.workers: 0`)
    and keeps the PDFs by content."""

    def __init__(self, pool: offload.WorkerPool | None, cache: offload.RenderCache | None):
        self.pool, self.cache = pool, cache

    @classmethod
    def for_settings(cls, settings: Config) -> "Renderer":
        """A renderer as config `documents:` asks (the pool, shared by every renderer of
        the process with the same settings, starts on the first PDF). The web layer keeps
        one per app."""
        cfg = settings.documents
        pool = None
        if cfg.workers > 0:
            pool = offload.shared_pool(offload.PoolSettings(
                workers=cfg.workers, timeout_seconds=cfg.timeout_seconds,
                worker_nice=cfg.worker_nice, max_jobs_per_worker=cfg.max_jobs_per_worker,
                start_method=cfg.start_method), warm=pdf_documents.warm_up)
        cache = offload.RenderCache(int(cfg.cache_mb * 1024 * 1024)) if cfg.cache_mb > 0 \
            else None
        return cls(pool, cache)

    def pdf(self, doc: PackingSlip | Invoice, language: str) -> bytes:
        def draw() -> bytes:
            if self.pool is None:
                return build_document(doc, language=language)
            return self.pool.run(build_document, doc, language=language)

        if self.cache is None:
            return draw()
        # repr of the frozen dataclasses: every field, Decimals and dates exactly
        key = hashlib.sha256(repr((language, doc)).encode("utf-8")).hexdigest()
        return self.cache.get_or_make(key, draw)


def render(order_id: int, kind: str, *, settings: Config, renderer: Renderer) -> bytes:
    """The PDF of one document of an order (kind: packing_slip | invoice |
    customs_declaration), drawn by `renderer` (in its worker pool, kept by content)."""
    doc = document(order_id, kind, settings=settings)
    try:
        return renderer.pdf(doc, _language(doc.buyer.country if isinstance(doc, Invoice)
                                             else doc.ship_to.country))
    except FontMissing as err:
        raise DomainError(str(err), code="font_missing", status=503) from None
    except offload.PoolUnavailable as err:
        raise DomainError(f"the {kind.replace('_', ' ')} cannot be drawn now: {err}",
                          code="documents_unavailable", status=503) from None
    except offload.JobTimeout as err:
        raise DomainError(f"the {kind.replace('_', ' ')} was not drawn in time ({err}); "
                          "try again", code="document_timeout", status=503) from None
    except ValueError as err:        # text the document cannot carry: say so, print nothing
        raise _cannot_make(kind, err) from None


def print_in_background(queue: str, order_id: int, kinds: list[str], actor: str, *,
                        settings: Config, renderer: Renderer) -> threading.Thread | None:
    """Print the order's documents on a CUPS queue after the confirm has committed, without
    holding up the packer; a failure opens a `document_print_failed` exception."""
    kinds = [k for k in kinds if k in DOCUMENTS]
    if not queue or not kinds:
        return None

    def run() -> None:
        with db.connection_context():
            for kind in kinds:
                try:
                    print_document(render(order_id, kind, settings=settings, renderer=renderer),
                                   f"cups://{queue}")
                except (DomainError, PrinterError, ValueError, OSError) as err:
                    log.warning("document %s of order %s not printed: %s", kind, order_id, err)
                    message = getattr(err, "message", None) or str(err)
                    naive = clock.naive_utc(clock.now())
                    open_exception("document_print_failed",
                                   f"{kind.replace('_', ' ')} of order {order_id} not printed on "
                                   f"{queue}: {message}", order_id=order_id,
                                   detail={"document": kind, "queue": queue}, now=naive,
                                   actor=actor)

    thread = threading.Thread(target=run, name=f"documents-{order_id}", daemon=True)
    thread.start()
    return thread


# ---- what goes into the parcel ---------------------------------------------------------

def inserts(s: SessionRow, *, settings: Config) -> list[str]:
    """The inserts of the session's order (config `inserts:`, each with the facts that
    call for it: always, invoice_requested, international, gift, first_order)."""
    sender_ = settings.setup.senders.get(s.warehouse or "")
    facts = {"always": True, "invoice_requested": s.invoice_requested,
             "international": bool(sender_ and sender_.country and s.ship_country
                                   and sender_.country.upper() != s.ship_country.upper()),
             "gift": "gift" in (s.note or "").lower()}
    out = []
    for code, when in settings.setup.inserts.items():
        if "first_order" in when and not any(facts.get(w) for w in when):
            facts["first_order"] = _first_order(s)
        if any(facts.get(w) for w in when):
            out.append(code)
    return out


def _first_order(s: SessionRow) -> bool:
    """No earlier order to the same e-mail address or phone number was packed."""
    email, phone = execute("SELECT ship_email, phone_key FROM sales_order WHERE id = ?",
                           (s.order_id,)).fetchone()
    if not email and not phone:
        return False
    states = ", ".join("?" for _ in SHIPPED_STATES)
    return execute(f"SELECT 1 FROM sales_order WHERE id <> ? AND status IN ({states}) AND "
                   f"((ship_email = ? AND ship_email <> '') OR (phone_key = ? AND "
                   f"phone_key <> '')) LIMIT 1",
                   (s.order_id, *SHIPPED_STATES, email or "", phone or "")).fetchone() is None


__all__ = ["DOCUMENTS", "Renderer", "address", "declaration", "document", "inserts",
           "print_in_background", "recipient", "render", "sender"]
