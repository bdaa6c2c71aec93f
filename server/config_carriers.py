"""The carrier part of config.yaml beyond the carrier accounts: each warehouse's carrier
services, the storefront shipping-method table, customs settings and karrio accounts.

    carrier_services:
      main:                                   # warehouse code
        rm-tracked-48: {carrier: royal-mail, service: TPN, label: Tracked 48,
                        countries: [GB, IM, JE, GG], max_weight_g: 20000}
        ups-express:   {carrier: ups, service: "65", label: Express Saver, express: true,
                        zones: [uk, eu, us, apac], adapter: karrio, karrio_service: ups_express_saver}
    shipping_methods:                         # channel kind → method key → service ids
      shopify:     {royal mail tracked 48: [rm-tracked-48, rm-international]}
      woocommerce: {"flat_rate:3": rm-tracked-48}
      native:      {postnl: [rtm-postnl-standard, rtm-postnl-eu]}
    customs: {sdr_rates: {GBP: "1.05", EUR: "1.21", USD: "1.33"}}
    carriers: {dhl-express: {..., karrio: {carrier_name: dhl_express, test: true,
                              settings: {site_id: wavepack, account_number: "950000000"},
                              secrets: {password: WAVEPACK_DHL_EXPRESS_PASSWORD}}}}

Keys of shipping_methods are normalised (case, spaces) the way orders' keys are, so the
table is exact but not fussy about capitals. A mistake is a ValueError naming the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from .config_checks import entries, keys, mapping
from .domain.carriers import CarrierService, normalise_key
from .domain.tracking import scheme_from_mapping

CHANNEL_KINDS = ("shopify", "woocommerce", "native")
ADAPTERS = ("local", "karrio")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class KarrioAccount:
    """A karrio connector and its settings; secrets are named environment variables, read
    when a label is bought (never kept in config.yaml)."""
    carrier_name: str                           # karrio's name: dhl_express, ups, royalmail …
    test: bool = True                           # the carrier's sandbox
    settings: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)   # setting → env variable
    label_type: str = "ZPL"                     # ZPL | PDF


@dataclass(frozen=True)
class CustomsSetup:
    # currency units per SDR (IMF rate); a currency without one always gets a CN23
    sdr_rates: Mapping[str, Decimal] = field(default_factory=dict)


def karrio_account(raw: Any, where: str) -> KarrioAccount | None:
    if raw is None:
        return None
    value = mapping(raw, where)
    keys(value, where, {"carrier_name", "test", "settings", "secrets", "label_type"},
         {"carrier_name"})
    secrets = {str(k): str(v) for k, v in mapping(value.get("secrets"), f"{where}.secrets").items()}
    bad = [v for v in secrets.values() if not _ENV_NAME.fullmatch(v)]
    if bad:
        raise ValueError(f"config {where}.secrets: values name environment variables "
                         f"(A-Z, 0-9, _), not {bad[0]!r}")
    label_type = str(value.get("label_type") or "ZPL").upper()
    if label_type not in ("ZPL", "PDF"):
        raise ValueError(f"config {where}.label_type is ZPL or PDF")
    return KarrioAccount(carrier_name=str(value["carrier_name"]),
                         test=bool(value.get("test", True)),
                         settings={str(k): v for k, v in
                                   mapping(value.get("settings"), f"{where}.settings").items()},
                         secrets=secrets, label_type=label_type)


def _codes(raw: Any, where: str, upper: bool) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, str) or not isinstance(raw, (list, tuple)):
        raise ValueError(f"config {where} must be a list")
    if any(isinstance(x, bool) for x in raw):
        raise ValueError(f"config {where}: quote NO, YES, ON and OFF (YAML reads them as "
                         "true/false)")
    out = {str(x).strip().upper() if upper else str(x).strip() for x in raw}
    if upper and any(not _COUNTRY.fullmatch(c) for c in out):
        raise ValueError(f"config {where}: countries are ISO codes of two letters")
    return frozenset(out)


def _service(sid: str, warehouse: str, where: str, value: Mapping,
             carriers: Mapping[str, Any]) -> CarrierService:
    keys(value, where, {"carrier", "service", "label", "countries", "zones", "max_weight_g",
                        "express", "tracking", "adapter", "karrio_service"},
         {"carrier", "service"})
    carrier = str(value["carrier"])
    if carrier not in carriers:
        raise ValueError(f"config {where}: carrier {carrier!r} is not under carriers:")
    countries = _codes(value.get("countries"), f"{where}.countries", upper=True)
    zones = _codes(value.get("zones"), f"{where}.zones", upper=False)
    if not countries and not zones:
        raise ValueError(f"config {where}: name the countries or zones it serves")
    weight = value.get("max_weight_g", 0)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
        raise ValueError(f"config {where}.max_weight_g must be a whole number of grams")
    adapter = str(value.get("adapter") or "local")
    if adapter not in ADAPTERS:
        raise ValueError(f"config {where}.adapter is one of {', '.join(ADAPTERS)}")
    if adapter == "karrio" and carriers[carrier].karrio is None:
        raise ValueError(f"config {where}: adapter karrio needs carriers.{carrier}.karrio")
    scheme = None
    if value.get("tracking") is not None:
        try:
            scheme = scheme_from_mapping({"name": sid, **mapping(value["tracking"], where)})
        except ValueError as err:
            raise ValueError(f"config {where}.tracking: {err}") from err
    return CarrierService(id=sid, warehouse=warehouse, carrier=carrier,
                          service=str(value["service"]),
                          label=str(value.get("label") or value["service"]),
                          countries=countries, zones=zones, max_weight_g=weight,
                          express=bool(value.get("express", False)), tracking=scheme,
                          adapter=adapter, karrio_service=str(value.get("karrio_service") or ""))


def carrier_services(raw: Any, carriers: Mapping[str, Any]) -> tuple[CarrierService, ...]:
    """Every warehouse's services, in configured order (the order rules prefer)."""
    out: list[CarrierService] = []
    for warehouse, where, block in entries(raw, "carrier_services"):
        for sid, swhere, value in entries(block, where):
            if any(s.id == sid for s in out):
                raise ValueError(f"config {swhere}: service id {sid!r} is used twice (ids "
                                 "are unique over all warehouses)")
            out.append(_service(str(sid), str(warehouse), swhere, value, carriers))
    return tuple(out)


def shipping_methods(raw: Any, services: tuple[CarrierService, ...]
                     ) -> dict[str, dict[str, tuple[str, ...]]]:
    """channel kind → normalised method key → service ids, each id a configured service."""
    known = {s.id for s in services}
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind, table in mapping(raw, "shipping_methods").items():
        where = f"shipping_methods.{kind}"
        if kind not in CHANNEL_KINDS:
            raise ValueError(f"config {where}: channel kinds are {', '.join(CHANNEL_KINDS)}")
        rows: dict[str, tuple[str, ...]] = {}
        for key, ids in mapping(table, where).items():
            norm = normalise_key(key)
            ids = (ids,) if isinstance(ids, str) else tuple(ids or ())
            if not norm or not ids:
                raise ValueError(f"config {where}.{key}: a method key maps to service ids")
            if norm in rows:
                raise ValueError(f"config {where}: {key!r} is listed twice (keys compare "
                                 "without case and extra spaces)")
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise ValueError(f"config {where}.{key}: unknown service {unknown[0]!r} (not "
                                 "under carrier_services:)")
            rows[norm] = tuple(str(i) for i in ids)
        out[kind] = rows
    return out


def customs_setup(raw: Any) -> CustomsSetup:
    value = mapping(raw, "customs")
    keys(value, "customs", {"sdr_rates"}, set())
    rates = {}
    for cur, rate in mapping(value.get("sdr_rates"), "customs.sdr_rates").items():
        try:
            rates[str(cur).upper()] = Decimal(str(rate))
        except InvalidOperation:
            raise ValueError(f"config customs.sdr_rates.{cur}: {rate!r} is not a number") \
                from None
        if rates[str(cur).upper()] <= 0:
            raise ValueError(f"config customs.sdr_rates.{cur} must be above 0")
    return CustomsSetup(sdr_rates=rates)
