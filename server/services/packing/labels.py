"""Shipping labels for a confirm: the order's carrier service, its tracking numbers (from
our own ranges, or bought from the carrier through its adapter) and the label's customs
block for parcels that leave their customs area.

Called by services.packing before its write transaction: a carrier's API is never called
while rows are locked. A label bought for a confirm that then fails is left unused (the
carrier bills only labels that are scanned at the depot; voiding is the carrier's
`cancel` and not done here).
"""
from __future__ import annotations

from dataclasses import dataclass
from flask import current_app

from printers.customs import CustomsItemLine, CustomsSummary, customs_block, with_customs_block

from ..carrier_adapters import CarrierError, KarrioAdapter, ParcelRequest, Party, customs_lines
from ..config_packing import Carrier
from ..domain.carriers import CarrierService
from ..domain.customs import Declaration
from ..domain.errors import Conflict
from . import carrier_gate, pack_documents


@dataclass(frozen=True)
class Bought:
    """One parcel's tracking number, and the carrier's own label when it made one."""
    tracking: str
    label: str | None = None             # the carrier's ZPL, printed as it is


def service_for(order_id: int, ref: str) -> tuple[CarrierService, Carrier]:
    """The order's carrier service and account, or 409 carrier_unmapped / no_carrier."""
    setup = current_app.config["WAVEPACK"].setup
    svc, choice = carrier_gate.service_of(order_id)
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
        carrier: Carrier, parcels: list[dict], grams: list[int]) -> list[Bought]:
    """The carrier's tracking number and label for each parcel, bought through karrio
    (services with `adapter: karrio`; local services draw from our ranges instead)."""
    if carrier.karrio is None:
        raise Conflict(f"service {svc.id} uses karrio but carriers.{carrier.code} has no "
                       "karrio account", code="carrier_unconfigured")
    adapter = KarrioAdapter(svc, carrier.karrio)
    shipper = _party(pack_documents.sender(warehouse))
    recipient = _party(pack_documents.recipient(order_id))
    out = []
    for parcel, weight in zip(parcels, grams):
        decl = pack_documents.declaration(order_id, parcel["units"], weight)
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


def with_customs(zpl: str, order_id: int, units: dict[str, int], grams: int) -> str:
    """Our label with its customs block when the parcel leaves its customs area."""
    found = summary(pack_documents.declaration(order_id, units, grams))
    return with_customs_block(zpl, customs_block(found)) if found else zpl
