"""The packing part of config.yaml: stations, cartons, carriers with their tracking ranges,
the SSCC range, sender addresses and inserts. Read once by server.config.build_config;
every mistake is a ValueError naming the key, so a bad config stops `wavepack serve`
before a packer sees anything.

    stations:   {pack-1: {warehouse: main, printer: label-1, document_printer: docs-1}}
    cartons:    {S: {length_mm: 250, width_mm: 180, height_mm: 100, max_weight_g: 5000, tare_g: 120}}
    carriers:   {royal-mail: {label: Royal Mail, tracking: {kind: s10, service_indicator: RR,
                              country: GB, range: {start: 10000000, end: 19999999}}}}
    carrier_services, shipping_methods, customs: see server/config_carriers.py
    sscc:       {extension_digit: "0", company_prefix: "5012345", range: {start: 1, end: 999999999}}
    senders:    {main: {name: ..., lines: [...], city: ..., postal_code: ..., country: GB, phone: ...}}
    inserts:    {invoice: {when: [invoice_requested, international]}, returns_slip: {when: [always]}}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .config_checks import entries as _entries, keys as _keys, mapping as _mapping
from .config_carriers import (CustomsSetup, KarrioAccount, carrier_services, customs_setup,
                              karrio_account, shipping_methods)
from .domain.cartons import CartonType, cartons_by_size
from .domain.carriers import CarrierService
from .domain.tracking import TrackingScheme, scheme_from_mapping

# Conditions an insert can name; any one that holds adds the insert to the order.
INSERT_CONDITIONS = ("always", "invoice_requested", "international", "first_order", "gift")
KNOWN_INSERTS = ("invoice", "packing_slip", "returns_slip", "promo_card", "gift_note")


@dataclass(frozen=True)
class Station:
    name: str
    warehouse: str
    printer: str                 # a name under `printers:`
    document_printer: str = ""   # a CUPS queue name for packing slips and invoices ("" = none)


@dataclass(frozen=True)
class Carrier:
    """A carrier account: its name on the label, its tracking number range and, for the
    karrio adapter, the connector and its settings."""
    code: str
    label: str                   # printed on the label
    tracking: TrackingScheme
    karrio: KarrioAccount | None = None


@dataclass(frozen=True)
class Sender:
    name: str
    lines: tuple[str, ...]
    city: str
    postal_code: str = ""
    region: str = ""
    country: str = ""
    phone: str = ""
    company: str = ""


@dataclass(frozen=True)
class PackingSetup:
    stations: Mapping[str, Station] = field(default_factory=dict)
    cartons: tuple[CartonType, ...] = ()
    carriers: Mapping[str, Carrier] = field(default_factory=dict)
    sscc: TrackingScheme | None = None
    senders: Mapping[str, Sender] = field(default_factory=dict)
    inserts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # insert → conditions
    services: tuple[CarrierService, ...] = ()          # every warehouse's carrier services
    shipping_methods: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    customs: CustomsSetup = field(default_factory=CustomsSetup)

    def service(self, service_id: str) -> CarrierService | None:
        """The configured carrier service with this id (None if it was removed)."""
        return next((s for s in self.services if s.id == service_id), None)


def _stations(raw: Any, printers: Mapping[str, str]) -> dict[str, Station]:
    out = {}
    for name, where, value in _entries(raw, "stations"):
        _keys(value, where, {"warehouse", "printer", "document_printer"}, {"warehouse", "printer"})
        printer = str(value["printer"])
        if printer not in printers:
            raise ValueError(f"config {where}: printer {printer!r} is not under printers:")
        if len(name) > 64:
            raise ValueError(f"config {where}: a station name has at most 64 characters")
        out[name] = Station(name=name, warehouse=str(value["warehouse"]),
                                 printer=printer,
                                 document_printer=str(value.get("document_printer") or ""))
    return out


def _cartons(raw: Any) -> tuple[CartonType, ...]:
    cartons = []
    for name, where, value in _entries(raw, "cartons"):
        _keys(value, where, {"length_mm", "width_mm", "height_mm", "max_weight_g", "tare_g"},
              {"length_mm", "width_mm", "height_mm", "max_weight_g"})
        try:
            cartons.append(CartonType(name=name, **value))
        except ValueError as err:
            raise ValueError(f"config {where}: {err}") from err
    return tuple(cartons_by_size(cartons)) if cartons else ()


def _carriers(raw: Any) -> dict[str, Carrier]:
    out = {}
    for code, where, value in _entries(raw, "carriers"):
        if "match" in value or "default" in value:
            raise ValueError(f"config {where}: carriers are no longer chosen by words (match, "
                             "default): list each warehouse's services under carrier_services: "
                             "and map storefront shipping methods under shipping_methods:")
        _keys(value, where, {"label", "tracking", "karrio"}, {"tracking"})
        try:
            scheme = scheme_from_mapping({"name": code, **_mapping(value["tracking"], where)})
        except ValueError as err:
            raise ValueError(f"config {where}.tracking: {err}") from err
        if scheme.kind == "sscc":
            raise ValueError(f"config {where}.tracking: an SSCC range goes under sscc:")
        out[code] = Carrier(code=code, label=str(value.get("label") or code), tracking=scheme,
                            karrio=karrio_account(value.get("karrio"), f"{where}.karrio"))
    return out


def _sscc(raw: Any) -> TrackingScheme | None:
    if raw is None:
        return None
    value = _mapping(raw, "sscc")
    try:
        return scheme_from_mapping({"name": "sscc", "kind": "sscc", **value})
    except ValueError as err:
        raise ValueError(f"config sscc: {err}") from err


def _senders(raw: Any) -> dict[str, Sender]:
    out = {}
    for code, where, value in _entries(raw, "senders"):
        _keys(value, where, {"name", "lines", "city", "postal_code", "region", "country",
                             "phone", "company"}, {"name", "lines", "city"})
        lines = value["lines"]
        if isinstance(lines, str) or not lines:
            raise ValueError(f"config {where}.lines must be a list of address lines")
        out[code] = Sender(name=str(value["name"]), lines=tuple(str(x) for x in lines),
                                city=str(value["city"]),
                                **{k: str(value.get(k) or "") for k in
                                   ("postal_code", "region", "country", "phone", "company")})
    return out


def _inserts(raw: Any) -> dict[str, tuple[str, ...]]:
    out = {}
    for code, where, value in _entries(raw, "inserts"):
        if code not in KNOWN_INSERTS:
            raise ValueError(f"config {where}: unknown insert (known: {', '.join(KNOWN_INSERTS)})")
        _keys(value, where, {"when"}, {"when"})
        when = value["when"]
        when = (when,) if isinstance(when, str) else tuple(when or ())
        bad = [w for w in when if w not in INSERT_CONDITIONS]
        if bad or not when:
            raise ValueError(f"config {where}.when: conditions are "
                             f"{', '.join(INSERT_CONDITIONS)}; got {list(when)}")
        out[code] = when
    return out


def packing_setup(raw: Mapping[str, Any], printers: Mapping[str, str]) -> PackingSetup:
    """The PackingSetup from the raw config (sections stations, cartons, carriers, sscc,
    senders, inserts, carrier_services, shipping_methods, customs), checked against the
    configured printers and carriers."""
    carriers = _carriers(raw.get("carriers"))
    services = carrier_services(raw.get("carrier_services"), carriers)
    return PackingSetup(stations=_stations(raw.get("stations"), printers),
                        cartons=_cartons(raw.get("cartons")), carriers=carriers,
                        sscc=_sscc(raw.get("sscc")), senders=_senders(raw.get("senders")),
                        inserts=_inserts(raw.get("inserts")), services=services,
                        shipping_methods=shipping_methods(raw.get("shipping_methods"), services),
                        customs=customs_setup(raw.get("customs")))


SECTIONS = ("stations", "cartons", "carriers", "sscc", "senders", "inserts", "carrier_services",
            "shipping_methods", "customs")
