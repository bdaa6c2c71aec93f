"""Shipping labels for a confirm: the order's carrier service, its tracking numbers (from
our own ranges, or bought from the carrier through its adapter), the label itself (the
carrier's, or ours with a customs block for parcels that leave their customs area) and the
returns slip; `label_font` for every label a station prints.

Services and numbers are bought by the confirm before its write transaction: a carrier's
API is never called while rows are locked. A label bought for a confirm that then fails is left unused (the
carrier bills only labels that are scanned at the depot; voiding is the carrier's
`cancel` and not done here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from printers.customs import CustomsItemLine, CustomsSummary, customs_block, with_customs_block
from printers.labels import (LabelFont, ReturnsSlip, ShippingLabel, build_returns_slip,
                             build_shipping_label)

from ...carrier_adapters import CarrierError, KarrioAdapter, ParcelRequest, Party, customs_lines
from ...config import Config
from ...config_packing import Carrier
from ...domain.carriers import CarrierService
from ...domain.customs import Declaration
from ...domain.errors import Conflict
from .. import carrier_gate
from . import documents
from ._common import SessionRow

# a label's ZPL, given the id of its print job (printed on the label)
LabelBuilder = Callable[[int], str]


@dataclass(frozen=True)
class Bought:
    """One parcel's tracking number, and the carrier's own label when it made one."""
    tracking: str
    label: str | None = None             # the carrier's ZPL, printed as it is


def service_for(order_id: int, ref: str, *, settings: Config
                ) -> tuple[CarrierService, Carrier]:
    """The order's carrier service and account, or 409 carrier_unmapped / no_carrier."""
    setup = settings.setup
    svc, choice = carrier_gate.service_of(order_id, settings=settings)
    if svc is None:
        raise Conflict(f"order {ref} has no carrier service: "
                       f"{choice.detail.get('message', 'none configured')}; a supervisor "
                       f"assigns one (POST /api/v1/orders/{order_id}/carrier)",
                       code="carrier_unmapped")
    carrier = setup.carriers.get(svc.carrier)
    if carrier is None or setup.sscc is None:
        raise Conflict(f"carrier {svc.carrier} or the SSCC range is not configured (carriers: "
                       "and sscc: in config.yaml)", code="no_carrier")
    return svc, carrier


def tracking_range(svc: CarrierService, carrier: Carrier) -> tuple:
    """(scheme, number_range name) the service's local numbers come from."""
    if svc.tracking is not None:
        return svc.tracking, f"tracking:{svc.id}"
    return carrier.tracking, f"tracking:{carrier.code}"


def _party(address) -> Party:
    return Party(name=address.name, lines=tuple(address.lines), city=address.city,
                 postal_code=address.postal_code or "", country=address.country or "",
                 phone=address.phone or "", company=address.company or "",
                 region=address.region or "")


def buy(order_id: int, ref: str, warehouse: str | None, svc: CarrierService,
        carrier: Carrier, parcels: list[dict], grams: list[int], *,
        settings: Config) -> list[Bought]:
    """The carrier's tracking number and label for each parcel, bought through karrio
    (services with `adapter: karrio`; local services draw from our ranges instead)."""
    if carrier.karrio is None:
        raise Conflict(f"service {svc.id} uses karrio but carriers.{carrier.code} has no "
                       "karrio account", code="carrier_unconfigured")
    adapter = KarrioAdapter(svc, carrier.karrio)
    shipper = _party(documents.sender(warehouse, settings=settings))
    recipient = _party(documents.recipient(order_id))
    out = []
    for parcel, weight in zip(parcels, grams):
        decl = documents.declaration(order_id, parcel["units"], weight, settings=settings)
        request = ParcelRequest(reference=f"{ref}/{parcel['parcel']}", shipper=shipper,
                                recipient=recipient, weight_g=weight,
                                currency=decl.currency if decl else "",
                                customs=customs_lines(decl.items) if decl else ())
        try:
            made = adapter.create_shipment(request)
        except CarrierError as err:
            raise Conflict(f"{carrier.label} did not make the label: {err.message}",
                           code=err.code, detail={"carrier": carrier.code}) from None
        if made.label is not None and (made.label_format or "").upper() != "ZPL":
            raise Conflict(f"{carrier.label} answered a {made.label_format} label; label "
                           "printers take ZPL (set label_type: ZPL)", code="label_format")
        out.append(Bought(made.tracking_number,
                          made.label.decode("utf-8", "replace") if made.label else None))
    return out


def summary(decl: Declaration | None) -> CustomsSummary | None:
    if decl is None or not decl.items:
        return None
    return CustomsSummary(form=decl.form, origin=decl.origin, destination=decl.destination,
                          currency=decl.currency, value=decl.total_value,
                          weight_g=decl.gross_weight_g,
                          items=tuple(CustomsItemLine(i.hs_code, i.origin_country, i.quantity)
                                      for i in decl.items))


def with_customs(zpl: str, order_id: int, units: dict[str, int], grams: int, *,
                 settings: Config) -> str:
    """Our label with its customs block when the parcel leaves its customs area."""
    found = summary(documents.declaration(order_id, units, grams, settings=settings))
    return with_customs_block(zpl, customs_block(found)) if found else zpl


def label_font(settings: Config) -> LabelFont | None:
    """The font for text the printer's own fonts lack (printing.label_font), if set."""
    path = settings.printing.label_font
    return LabelFont(path) if path else None


def shipping_label(s: SessionRow, carrier: Carrier, service: CarrierService, bought: Bought,
                   sscc: str, weight_g: int, parcel: dict, parcels: int = 1, *,
                   settings: Config) -> LabelBuilder:
    """The shipping label's builder: the carrier's own label when it made one, else ours,
    with a customs block for a parcel leaving its customs area."""
    if bought.label is not None:
        return lambda job_id: bought.label
    to = documents.recipient(s.order_id)
    from_ = documents.sender(s.warehouse, settings=settings)
    font = label_font(settings)
    k = parcel["parcel"]

    def zpl(job_id: int) -> str:
        label = build_shipping_label(ShippingLabel(
            sender=from_, recipient=to, order_number=s.ref, carrier=carrier.label,
            service=service.label or "-", tracking_number=bought.tracking, sscc=sscc,
            weight_g=max(weight_g, 1), parcel_index=k, parcel_count=parcels,
            job_id=job_id), font=font)
        return with_customs(label, s.order_id, parcel["units"], weight_g, settings=settings)
    return zpl


def returns_slip(s: SessionRow, rma: str, *, settings: Config) -> LabelBuilder:
    """The returns slip's builder (the `returns_slip` insert), printed with the label."""
    to = documents.recipient(s.order_id)
    from_ = documents.sender(s.warehouse, settings=settings)
    font = label_font(settings)

    def zpl(job_id: int) -> str:
        return build_returns_slip(ReturnsSlip(order_number=s.ref, rma_number=rma, customer=to,
                                              return_to=from_, job_id=job_id), font=font)
    return zpl
