"""Which carrier service ships an order: the warehouse's own services, chosen through an
explicit table of the storefronts' shipping methods, never by guessing from words.

A warehouse lists the services it ships with (carrier, service code, the countries or
zones each serves, a weight limit). A storefront names its shipping method in its own way
(Shopify `shipping_lines[].code`/`title`, WooCommerce `method_id:instance_id`/`method_title`,
native `carrier` + `service`); `method_keys` turns that into normalised keys, and the
mapping table of the channel kind names, for a key, the services that may carry it (the
first that the order's warehouse has and that serves the address and weight wins).

An order that names no method gets the warehouse's first service, in configured order,
that serves its destination and weight; an express order (priority above 0) looks at the
express services first, a standard one never gets an express service by default.

Anything else is not guessed: a method the table does not know, or whose services the
warehouse lacks or cannot take to that address, is `carrier_unmapped` and the caller holds
the order for a supervisor. Pure: no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .allocation import Zone, address_zone
from .tracking import TrackingScheme

UNMAPPED = "carrier_unmapped"
_SPACES = re.compile(r"\s+")


def normalise_key(text: object) -> str:
    """A shipping method key as the mapping table holds it: case-folded, trimmed, inner
    white space one blank ('  DHL   Express ' → 'dhl express')."""
    return _SPACES.sub(" ", str(text or "")).strip().casefold()


@dataclass(frozen=True)
class CarrierService:
    """One way a warehouse ships: a carrier's service to some countries or zones."""
    id: str                          # unique over all warehouses, e.g. 'rtm-postnl-standard'
    warehouse: str                   # warehouse code
    carrier: str                     # carrier code under `carriers:`
    service: str                     # the carrier's own service code ('TPN', 'P', '3085')
    label: str                       # printed on the label ('Tracked 48', 'Express Worldwide')
    countries: frozenset[str] = frozenset()   # ISO codes served …
    zones: frozenset[str] = frozenset()       # … or whole zones (zones: in config.yaml)
    max_weight_g: int = 0            # the heaviest parcel it takes; 0 = no limit
    express: bool = False
    tracking: TrackingScheme | None = None    # None: the carrier's own range
    adapter: str = "local"           # local (own number ranges) | karrio
    karrio_service: str = ""         # the karrio service name, for adapter karrio

    def serves(self, country: str, postcode: str, zones: Sequence[Zone]) -> bool:
        """True when the service takes parcels to this address."""
        country = (country or "").upper()
        if country in self.countries:
            return True
        zone = address_zone(country, postcode, zones)
        return zone is not None and zone.name in self.zones


@dataclass(frozen=True)
class ShippingRequest:
    """What the choice needs to know of an order."""
    channel_kind: str                # shopify | woocommerce | native
    method_keys: tuple[str, ...]     # normalised, most specific first; () = names none
    country: str
    postcode: str
    weight_g: int                    # the lightest parcel it can go in: its heaviest unit
    express: bool = False            # (heavier orders go in several parcels)


@dataclass(frozen=True)
class Choice:
    service: CarrierService | None
    source: str                      # mapped | rule | supervisor | none
    reason: str = ""                 # why none (empty when a service was chosen)
    detail: dict = field(default_factory=dict, compare=False)


def method_keys(*texts: object) -> tuple[str, ...]:
    """The normalised, non-empty, distinct keys of these texts, in the order given."""
    out: list[str] = []
    for text in texts:
        key = normalise_key(text)
        if key and key not in out:
            out.append(key)
    return tuple(out)


def fits(svc: CarrierService, req: ShippingRequest, zones: Sequence[Zone]) -> str:
    """'' when the service can take this order, else why not."""
    if not svc.serves(req.country, req.postcode, zones):
        return f"{svc.id} does not serve {req.country or 'an address without a country'}"
    if svc.max_weight_g and req.weight_g > svc.max_weight_g:
        return (f"{svc.id} takes parcels up to {svc.max_weight_g} g; one unit of the order "
                f"weighs {req.weight_g} g")
    return ""


def choose_service(warehouse: str, services: Sequence[CarrierService],
                   mapping: Mapping[str, Mapping[str, tuple[str, ...]]],
                   req: ShippingRequest, zones: Sequence[Zone]) -> Choice:
    """The carrier service for an order shipped from `warehouse` (see the module doc).

    `services` are all configured services (any warehouse), `mapping` is channel kind →
    normalised method key → service ids in preference order."""
    own = [s for s in services if s.warehouse == warehouse]
    if req.method_keys:
        return _mapped(warehouse, own, mapping.get(req.channel_kind, {}), req, zones)
    return _by_rule(warehouse, own, req, zones)


def _mapped(warehouse: str, own: list[CarrierService], table: Mapping[str, tuple[str, ...]],
            req: ShippingRequest, zones: Sequence[Zone]) -> Choice:
    key = next((k for k in req.method_keys if k in table), None)
    if key is None:
        return Choice(None, "none", UNMAPPED,
                      {"message": f"shipping method {req.method_keys[0]!r} of a "
                                  f"{req.channel_kind} order is not in shipping_methods."
                                  f"{req.channel_kind}", "method": list(req.method_keys)})
    by_id = {s.id: s for s in own}
    why = []
    for sid in table[key]:
        svc = by_id.get(sid)
        if svc is None:
            why.append(f"{sid} is not a service of warehouse {warehouse}")
            continue
        problem = fits(svc, req, zones)
        if not problem:
            return Choice(svc, "mapped", detail={"method": key})
        why.append(problem)
    return Choice(None, "none", UNMAPPED,
                  {"message": f"shipping method {key!r} maps to no service warehouse "
                              f"{warehouse} can use: " + "; ".join(why),
                   "method": key, "candidates": list(table[key])})


def _by_rule(warehouse: str, own: list[CarrierService], req: ShippingRequest,
             zones: Sequence[Zone]) -> Choice:
    tiers = ([s for s in own if s.express], [s for s in own if not s.express]) if req.express \
        else ([s for s in own if not s.express],)
    for tier in tiers:
        for svc in tier:
            if not fits(svc, req, zones):
                return Choice(svc, "rule", detail={"rule": "express" if svc.express else
                                                   "destination"})
    kind = "express or standard" if req.express else "standard"
    return Choice(None, "none", UNMAPPED,
                  {"message": f"the order names no shipping method and warehouse {warehouse} "
                              f"has no {kind} service to {req.country or '?'} for "
                              f"{req.weight_g} g"})


def find_service(services: Sequence[CarrierService], warehouse: str, carrier: str,
                 service: str) -> CarrierService | None:
    """The warehouse's service a supervisor names by carrier code and service (its code, its
    id or its label, compared normalised)."""
    want = normalise_key(service)
    for svc in services:
        if svc.warehouse == warehouse and normalise_key(svc.carrier) == normalise_key(carrier) \
                and want in (normalise_key(svc.service), normalise_key(svc.id),
                             normalise_key(svc.label)):
            return svc
    return None
