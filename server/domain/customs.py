"""Customs: whether a parcel leaves its warehouse's customs area, what each line declares,
and which UPU form (CN22 or CN23) the declaration takes. Pure: no I/O.

Customs areas: the 27 EU member states are one customs union; every other country is its
own area (GB since 2021, NO, CH, US …). A parcel from an area to another needs a
declaration: per line a description, HS code, country of origin, quantity, value and
weight, from the catalogue.

Form rule (UPU Convention, Letter Post Regulations art. RL 241 and Parcel Post art. RC 152):
CN22 for contents worth up to 300 SDR; above that, CN23. We also give CN23 to parcels over
2 kg gross (the letter-post limit a CN22 belongs to) and to values in a currency without a
configured SDR rate (unknown value is treated as high: the fuller form is never wrong).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

EU = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
                "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES",
                "SE"})
CN22_MAX_SDR = Decimal(300)
CN22_MAX_GROSS_G = 2000
MISSING = "customs_data_missing"

_HS = re.compile(r"[0-9]{6,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")


def customs_area(country: str) -> str:
    """'EU' for an EU member state, else the country code itself."""
    cc = (country or "").strip().upper()
    return "EU" if cc in EU else cc


def crosses_customs(origin: str, destination: str) -> bool:
    """True when a parcel from `origin` to `destination` leaves a customs area (GB → NL,
    NL → US, NL → GB; not NL → DE). An unknown origin or destination counts as crossing."""
    if not origin or not destination:
        return True
    return customs_area(origin) != customs_area(destination)


def normalise_hs_code(value: object) -> str:
    """An HS / tariff code as digits ('6109.10.00' → '61091000'); '' for none. Raises
    ValueError for anything that is not 6 to 10 digits."""
    text = re.sub(r"[\s.]", "", str(value or ""))
    if not text:
        return ""
    if not _HS.fullmatch(text):
        raise ValueError(f"an HS code has 6 to 10 digits, not {value!r}")
    return text


def normalise_country(value: object) -> str:
    """An ISO 3166 alpha-2 country of origin ('gb' → 'GB'); '' for none."""
    text = str(value or "").strip().upper()
    if text and not _COUNTRY.fullmatch(text):
        raise ValueError(f"a country of origin is two letters (ISO 3166), not {value!r}")
    return text


@dataclass(frozen=True)
class CustomsItem:
    sku: str
    description: str
    quantity: int
    hs_code: str
    origin_country: str
    value: Decimal                 # for all units of the line, in the order's currency
    weight_g: int                  # for all units of the line


def missing_data(items: Sequence[CustomsItem]) -> list[str]:
    """SKUs whose HS code or country of origin the catalogue lacks."""
    return [i.sku for i in items if not i.hs_code or not i.origin_country]


@dataclass(frozen=True)
class Declaration:
    form: str                      # CN22 | CN23
    items: tuple[CustomsItem, ...]
    currency: str
    total_value: Decimal
    total_weight_g: int            # the items' net weight
    gross_weight_g: int
    value_sdr: Decimal | None      # None: no rate for the currency
    origin: str
    destination: str
    category: str = "sale of goods"

    @property
    def units(self) -> int:
        return sum(i.quantity for i in self.items)


def to_sdr(value: Decimal, currency: str, sdr_rates: Mapping[str, Decimal]) -> Decimal | None:
    """`value` in SDR: rates are units of the currency per SDR (GBP ≈ 1.05)."""
    rate = sdr_rates.get((currency or "").upper())
    if not rate:
        return None
    return (value / rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def declare(items: Sequence[CustomsItem], *, currency: str, gross_weight_g: int, origin: str,
            destination: str, sdr_rates: Mapping[str, Decimal]) -> Declaration:
    """The declaration of a parcel's contents with its form (see the module doc)."""
    total = sum((i.value for i in items), Decimal(0))
    sdr = to_sdr(total, currency, sdr_rates)
    small = sdr is not None and sdr <= CN22_MAX_SDR and gross_weight_g <= CN22_MAX_GROSS_G
    return Declaration(form="CN22" if small else "CN23", items=tuple(items),
                       currency=currency.upper(), total_value=total,
                       total_weight_g=sum(i.weight_g for i in items),
                       gross_weight_g=gross_weight_g, value_sdr=sdr,
                       origin=origin.upper(), destination=destination.upper())
