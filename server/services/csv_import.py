"""CSV imports (orders, catalogue, stock) with a report per line: all-or-nothing per
order, line numbers and reasons for everything refused."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import clock
from ..config import Config
from ..domain.errors import DomainError, Unprocessable
from ..domain.native import parse_catalogue_csv, parse_orders_csv, parse_stock_csv
from ..store import db as store_db
from ..store.models import Channel
from . import channels, intake, stock


@dataclass
class ImportReport:
    created: int = 0
    duplicate: int = 0
    rejected: int = 0
    invalid: int = 0
    lines: list[dict] = field(default_factory=list)   # one entry per order or refused row

    def to_dict(self) -> dict:
        return {"created": self.created, "duplicate": self.duplicate, "rejected": self.rejected,
                "invalid": self.invalid, "report": self.lines}


def default_channel() -> Channel:
    ch = Channel.select().where(Channel.kind == "native").order_by(Channel.id).first()
    if ch is None:
        raise Unprocessable("no native channel: add one with `wavepack channel add NAME "
                            "--kind native`", code="no_channel", field="channel")
    return ch


def import_orders_csv(data: bytes, channel: Channel, actor: str, *, dry_run: bool = False,
                      progress: Callable[[int], None] | None = None,
                      settings: Config) -> ImportReport:
    parsed = parse_orders_csv(_no_nul(data), pause=intake.let_others_run)
    report = ImportReport()
    rejected_refs: dict[str, list] = {}
    for err in parsed.errors:
        rejected_refs.setdefault(err.order_ref, []).append(err)
    for ref, errs in rejected_refs.items():
        report.rejected += 1
        report.lines.append({"order_ref": ref, "lines": sorted({e.line for e in errs}),
                             "outcome": "rejected",
                             "reasons": [{"line": e.line, "field": e.field, "message": e.message}
                                         for e in errs]})
    ref = channels.ref(channel)
    # no full garbage collection until the parsed file and the results are gone (it would
    # walk them all, the whole server stopped: see intake.young_gc_only)
    with intake.young_gc_only(len(parsed.orders) >= intake.YOUNG_GC_FROM):
        # one import: its contact tally and its chunks span the whole file
        results = intake.import_orders(ref, [o.draft for o in parsed.orders], actor,
                                       dry_run=dry_run, progress=progress, settings=settings)
        for n, res in enumerate(results, 1):
            _count(report, res, list(parsed.orders[res.index].lines))
            if n % intake.PAUSE_EVERY == 0:
                intake.let_others_run()
        report.lines.sort(key=lambda r: r["lines"][0] if r["lines"] else 0)
        del parsed, results
    return report


def _count(report: ImportReport, res: intake.IntakeResult, lines: list[int]) -> None:
    entry = {"order_ref": res.ref, "lines": lines, "outcome": res.outcome, "id": res.order_id,
             "status": res.status}
    if res.outcome == "created":
        report.created += 1
        if res.problems:
            report.invalid += 1
            entry["reasons"] = res.problems
        if res.hold_reasons:
            entry["hold_reasons"] = res.hold_reasons
    elif res.outcome == "duplicate":
        report.duplicate += 1
    else:
        report.rejected += 1
        entry["reasons"] = res.problems
    report.lines.append(entry)


def import_catalogue_csv(data: bytes, actor: str, warehouse: str = "main") -> dict:
    """Products (and, where a location is given, that bin in `warehouse`)."""
    parsed = parse_catalogue_csv(_no_nul(data))
    specs = [stock.ProductSpec(sku=r.sku, name=r.name, gtins=tuple(r.gtins),
                               weight_g=r.unit_weight_g, length_mm=r.length_mm or 0,
                               width_mm=r.width_mm or 0, height_mm=r.height_mm or 0,
                               flags=",".join(r.flags), image_url=r.image_url,
                               hs_code=r.hs_code or None,
                               origin_country=r.origin_country or None)
             for r in parsed.rows]
    if specs:
        stock.upsert_products(specs, actor)
        now = clock.now()
        with store_db.write_tx():
            wh = stock.warehouse_by_code(warehouse)
            for r in parsed.rows:
                if r.location:
                    stock.ensure_location(wh, r.location, now)
    return {"imported": len(specs), "rejected": [_err(e) for e in parsed.errors]}


def import_stock_csv(data: bytes, actor: str, *, settings: Config) -> dict:
    """Stock counts: each row sets on_hand at a location (creating the bin if new); stock
    that is now free goes to waiting backorders. A bad row is reported and skipped."""
    parsed = parse_stock_csv(_no_nul(data))
    rejected = [_err(e) for e in parsed.errors]
    done = 0
    now = clock.now()
    for r in parsed.rows:
        try:
            with store_db.write_tx():
                row = stock.change_stock(r.warehouse, r.location, r.sku, set_to=r.quantity,
                                         min_qty=r.min_qty, max_qty=r.max_qty, actor=actor,
                                         now=now, reason="count")
                stock.reserve_backorders([row.product_id], actor, now, settings=settings)
            done += 1
        except DomainError as err:  # unknown warehouse or SKU, count below reserved …
            rejected.append({"line": r.line, "field": err.field, "message": err.message})
    return {"imported": done, "rejected": sorted(rejected, key=lambda e: e["line"])}


def _err(e) -> dict:
    return {"line": e.line, "field": e.field, "message": e.message}


def _no_nul(data: bytes) -> bytes:
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise Unprocessable(f"line {line}: the file contains a NUL byte (is it really CSV?)",
                            code="nul_character", field="file")
    return data
