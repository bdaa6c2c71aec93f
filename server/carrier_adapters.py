"""Carrier adapters: how a carrier service gets its tracking number and label, its rates
and its tracking events.

Two adapters, chosen per carrier service in config.yaml (`adapter: local | karrio`):

- ``LocalAdapter``: the carrier account's own number range (drawn from the store by the
  caller) and our own 4x6 ZPL label. No network; the default.
- ``KarrioAdapter``: the carrier's API through karrio (https://karrio.io; PyPI `karrio`
  plus one connector per carrier, e.g. `karrio-ups`, `karrio-dhl-express`). It buys the
  label (ZPL or PDF) and returns the carrier's own tracking number; rates and tracking
  come from the carrier too. Secrets are read from the environment variables the account
  names. `server_url` (settings) points a connector at another host: a proxy, a sandbox
  mirror, or the local fake carrier the tests run.

Adapters raise CarrierError (code carrier_error / carrier_unavailable) with the carrier's
own messages; the caller turns it into a 502 / 409 answer and changes nothing.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Protocol, Sequence

from .config_carriers import KarrioAccount
from .domain.carriers import CarrierService
from .domain.errors import DomainError


class CarrierError(DomainError):
    """The carrier refused or could not be reached; nothing was bought."""

    code, status = "carrier_error", 502


@dataclass(frozen=True)
class Party:
    name: str
    lines: tuple[str, ...]
    city: str
    postal_code: str
    country: str
    phone: str = ""
    email: str = ""
    company: str = ""
    region: str = ""


@dataclass(frozen=True)
class CustomsLine:
    description: str
    quantity: int
    value: Decimal
    weight_g: int
    hs_code: str
    origin_country: str
    sku: str = ""


@dataclass(frozen=True)
class ParcelRequest:
    """One parcel to ship: who, where, how heavy, what is inside when declared."""
    reference: str
    shipper: Party
    recipient: Party
    weight_g: int
    dims_mm: tuple[int, int, int] = (0, 0, 0)
    currency: str = ""
    customs: tuple[CustomsLine, ...] = ()


@dataclass(frozen=True)
class CreatedShipment:
    tracking_number: str
    label: bytes | None = None            # None: we print our own label
    label_format: str | None = None       # ZPL | PDF
    carrier_reference: str = ""           # the carrier's shipment id (to void it)
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rate:
    service: str
    amount: Decimal
    currency: str
    days: int | None = None


@dataclass(frozen=True)
class TrackEvent:
    at: str
    code: str
    description: str
    location: str = ""
    status: str = ""        # karrio's status of the event (TrackerStatus name), when it says


class CarrierAdapter(Protocol):
    def create_shipment(self, parcel: ParcelRequest) -> CreatedShipment: ...
    def rates(self, parcel: ParcelRequest) -> list[Rate]: ...
    def track(self, tracking_number: str) -> list[TrackEvent]: ...


class LocalAdapter:
    """Numbers from the account's own range (`draw` is the store's next number), our own
    label. Rates and tracking events are the carrier's business: none here."""

    def __init__(self, service: CarrierService, draw: Callable[[], str]):
        self.service, self._draw = service, draw

    def create_shipment(self, parcel: ParcelRequest) -> CreatedShipment:
        return CreatedShipment(tracking_number=self._draw())

    def rates(self, parcel: ParcelRequest) -> list[Rate]:
        return []

    def track(self, tracking_number: str) -> list[TrackEvent]:
        return []


# ---- karrio --------------------------------------------------------------------------------

def _settings(account: KarrioAccount, environ) -> dict:
    settings = {k: v for k, v in account.settings.items() if k != "server_url"}
    for name, env in account.secrets.items():
        value = environ.get(env)
        if not value:
            raise CarrierError(f"environment variable {env} (carriers.*.karrio.secrets.{name}) "
                               "is not set", code="carrier_unconfigured", status=409)
        settings[name] = value
    return {**settings, "test_mode": account.test}


def _point_at(settings_obj, url: str) -> None:
    """Send this connector's requests to `url` instead of the carrier's host: karrio
    connectors derive the host from a read-only `server_url` property, so the instance
    gets a subclass that answers `url`."""
    cls = type(settings_obj)
    moved = type(cls.__name__, (cls,), {"server_url": property(lambda self: url)})
    settings_obj.__class__ = moved


def _messages(messages) -> str:
    return "; ".join(f"{m.code or ''} {m.message or ''}".strip() for m in messages or []) \
        or "no answer"


class KarrioAdapter:
    """A karrio connector for one carrier service (see the module doc)."""

    def __init__(self, service: CarrierService, account: KarrioAccount, environ=None):
        self.service, self.account = service, account
        self._environ = os.environ if environ is None else environ
        self._gateway = None

    def gateway(self):
        if self._gateway is None:
            try:
                import karrio.sdk as karrio
                gateway = karrio.gateway[self.account.carrier_name].create(
                    _settings(self.account, self._environ))
            except CarrierError:
                raise
            except Exception as err:   # no such connector installed, bad settings
                raise CarrierError(f"karrio connector {self.account.carrier_name!r} cannot "
                                   f"start: {err}", code="carrier_unconfigured",
                                   status=409) from None
            url = self.account.settings.get("server_url")
            if url:
                _point_at(gateway.settings, str(url).rstrip("/"))
            self._gateway = gateway
        return self._gateway

    def _request(self, parcel: ParcelRequest, *, with_service: bool = True) -> dict:
        def address(p: Party) -> dict:
            return {"person_name": p.name, "company_name": p.company or None,
                    "address_line1": p.lines[0] if p.lines else "",
                    "address_line2": " ".join(p.lines[1:]) or None, "city": p.city,
                    "postal_code": p.postal_code, "country_code": p.country,
                    "state_code": p.region or None, "phone_number": p.phone or None,
                    "email": p.email or None}
        length, width, height = parcel.dims_mm
        box = {"weight": max(parcel.weight_g, 1) / 1000, "weight_unit": "KG"}
        if length and width and height:
            box.update(length=length / 10, width=width / 10, height=height / 10,
                       dimension_unit="CM")
        body = {"shipper": address(parcel.shipper), "recipient": address(parcel.recipient),
                "parcels": [box], "reference": parcel.reference,
                "label_type": self.account.label_type, "options": {}}
        if with_service:
            body["service"] = self.service.karrio_service or self.service.service
        if parcel.customs:
            body["customs"] = {
                "content_type": "merchandise", "incoterm": "DDU",
                "commodities": [{"title": c.description[:35], "description": c.description,
                                 "quantity": c.quantity, "sku": c.sku or None,
                                 "hs_code": c.hs_code, "origin_country": c.origin_country,
                                 "value_amount": float(c.value / max(c.quantity, 1)),
                                 "value_currency": parcel.currency,
                                 "weight": c.weight_g / max(c.quantity, 1) / 1000,
                                 "weight_unit": "KG"} for c in parcel.customs]}
        return body

    def create_shipment(self, parcel: ParcelRequest) -> CreatedShipment:
        import karrio.sdk as karrio
        from karrio.core.models import ShipmentRequest
        try:
            details, messages = karrio.Shipment.create(
                ShipmentRequest(**self._request(parcel))).from_(self.gateway()).parse()
        except CarrierError:
            raise
        except Exception as err:        # connection refused, timeout, a bad answer
            raise CarrierError(f"{self.account.carrier_name}: {err}",
                               code="carrier_unavailable") from None
        if details is None or not details.tracking_number:
            raise CarrierError(f"{self.account.carrier_name} refused the shipment: "
                               f"{_messages(messages)}")
        label = base64.b64decode(details.docs.label) if details.docs and details.docs.label \
            else None
        return CreatedShipment(tracking_number=details.tracking_number, label=label,
                               label_format=details.label_type or self.account.label_type,
                               carrier_reference=details.shipment_identifier or "",
                               meta=dict(details.meta or {}))

    def rates(self, parcel: ParcelRequest) -> list[Rate]:
        import karrio.sdk as karrio
        from karrio.core.models import RateRequest
        body = self._request(parcel, with_service=False)
        body.pop("label_type"), body.pop("customs", None)
        body["services"] = [self.service.karrio_service or self.service.service]
        try:
            found, messages = karrio.Rating.fetch(RateRequest(**body)).from_(
                self.gateway()).parse()
        except Exception as err:
            raise CarrierError(f"{self.account.carrier_name}: {err}",
                               code="carrier_unavailable") from None
        if not found and messages:
            raise CarrierError(f"{self.account.carrier_name}: {_messages(messages)}")
        return [Rate(service=r.service, amount=Decimal(str(r.total_charge)),
                     currency=r.currency, days=r.transit_days) for r in found]

    def track(self, tracking_number: str) -> list[TrackEvent]:
        import karrio.sdk as karrio
        from karrio.core.models import TrackingRequest
        try:
            found, messages = karrio.Tracking.fetch(
                TrackingRequest(tracking_numbers=[tracking_number])).from_(
                self.gateway()).parse()
        except Exception as err:
            raise CarrierError(f"{self.account.carrier_name}: {err}",
                               code="carrier_unavailable") from None
        if not found and messages:
            raise CarrierError(f"{self.account.carrier_name}: {_messages(messages)}")
        out = []
        for t in found:
            for i, e in enumerate(t.events or []):
                # karrio lists the newest first; the tracker's own status names the newest
                status = getattr(e, "status", None) or (t.status if i == 0 else "") or ""
                # karrio's ISO timestamp when the connector gives one, else date and time
                at = getattr(e, "timestamp", None) or f"{e.date or ''}T{e.time or ''}".strip("T")
                out.append(TrackEvent(at=at,
                                      code=e.code or "", description=e.description or "",
                                      location=e.location or "", status=str(status)))
        return out


def adapter_for(service: CarrierService, account: KarrioAccount | None,
                draw: Callable[[], str], environ=None) -> CarrierAdapter:
    """The adapter a carrier service is configured with."""
    if service.adapter == "karrio":
        if account is None:
            raise CarrierError(f"service {service.id} uses karrio but its carrier has no "
                               "karrio account", code="carrier_unconfigured", status=409)
        return KarrioAdapter(service, account, environ)
    return LocalAdapter(service, draw)


def customs_lines(items: Sequence) -> tuple[CustomsLine, ...]:
    """domain.customs items as the adapters' customs lines."""
    return tuple(CustomsLine(description=i.description, quantity=i.quantity, value=i.value,
                             weight_g=i.weight_g, hs_code=i.hs_code,
                             origin_country=i.origin_country, sku=i.sku) for i in items)
