"""Carrier service choice (domain.carriers) on the shipped config: the three failures seen
(PostNL got Royal Mail, "DHL Express" got UPS, Rotterdam printed UK services for a Dutch
address), the exact table, the rules for orders naming no method, and holds."""
import json
from pathlib import Path

import pytest

from server.config import load_config
from server.domain.carriers import (UNMAPPED, ShippingRequest, choose_service, find_service,
                                    method_keys, normalise_key)
from server.domain.native import native_method_keys, parse_native_order
from server.domain.storefronts import shopify, woocommerce

DATA = Path(__file__).resolve().parents[1] / "data" / "storefronts"
CFG = load_config(env={})
SETUP = CFG.setup


def choose(warehouse, kind, keys, country, weight=500, express=False, postcode=""):
    req = ShippingRequest(kind, tuple(keys), country, postcode, weight, express)
    return choose_service(warehouse, SETUP.services, SETUP.shipping_methods, req, CFG.zones)


def test_postnl_gets_postnl_not_royal_mail():
    got = choose("rtm", "shopify", ["postnl"], "NL")
    assert (got.service.carrier, got.service.service, got.source) == ("postnl", "3085", "mapped")
    # and an EU address from Rotterdam gets PostNL's EU parcel, the next service listed
    assert choose("rtm", "shopify", ["postnl"], "BE").service.id == "postnl-eu"
    # from Leeds, PostNL is no service of the warehouse: held, not Royal Mail
    held = choose("main", "shopify", ["postnl"], "GB")
    assert held.service is None and held.reason == UNMAPPED
    assert "not a service of warehouse main" in held.detail["message"]


def test_dhl_express_is_dhl_not_ups():
    got = choose("rtm", "woocommerce", method_keys("DHL Express"), "DE")
    assert got.service.carrier == "dhl-express" and got.service.express
    # no word matching: "Express" alone, or "UPS Express Saver", map to nothing
    assert choose("rtm", "woocommerce", ["express"], "DE").service is None
    assert choose("main", "shopify", ["ups express saver"], "DE").service is None


def test_rotterdam_with_a_dutch_address_gets_a_dutch_service():
    for keys in ([], ["standard"]):                    # named by rule, or through the table
        got = choose("rtm", "shopify", keys, "NL", postcode="3011 AD")
        assert got.service.warehouse == "rtm" and got.service.carrier == "postnl", keys
    # the same method from Leeds to a UK address is Royal Mail
    assert choose("main", "shopify", ["standard"], "GB").service.id == "rm-tracked-48"


def test_rules_for_orders_naming_no_method():
    assert choose("main", "native", [], "GB").service.id == "rm-tracked-48"     # first listed
    assert choose("main", "native", [], "DE").service.id == "rm-international"
    # too heavy a unit for Royal Mail's 2 kg international parcels: no standard service
    heavy = choose("main", "native", [], "DE", weight=5000)
    assert heavy.service is None and "no standard service" in heavy.detail["message"]
    # a priority order looks at express services first, then standard ones
    assert choose("main", "native", [], "DE", weight=5000, express=True).service.id == \
        "ups-express"
    assert choose("rtm", "native", [], "NL", express=True).service.id == "dhl-express-nl"
    assert choose("rtm", "native", [], "JP").service is None      # no standard service to JP
    assert choose("rtm", "native", [], "XX").service is None      # served nowhere


def test_the_table_is_exact_and_normalised():
    assert normalise_key("  DHL \t Express ") == "dhl express"
    assert method_keys("", "Royal Mail Tracked 48", "royal mail tracked 48") == \
        ("royal mail tracked 48",)
    assert choose("main", "shopify", method_keys("ROYAL  MAIL Tracked 48"), "GB").service.id \
        == "rm-tracked-48"
    # the first key the table knows wins (a specific code before a generic title)
    assert choose("main", "woocommerce", ["flat_rate:9", "royal mail tracked 48"],
                  "GB").service.id == "rm-tracked-48"
    # another channel kind's table is not looked at
    assert choose("main", "woocommerce", ["standard"], "GB").service is None
    unknown = choose("main", "shopify", ["carrier pigeon"], "GB")
    assert unknown.reason == UNMAPPED and "not in shipping_methods.shopify" in \
        unknown.detail["message"]


def test_storefront_methods_become_keys():
    order = shopify.parse_order(json.loads((DATA / "shopify" / "orders-paid.json").read_text()))
    assert order.shipping_method == ("royal mail tracked 48",)
    woo = woocommerce.parse_order(json.loads(
        (DATA / "woocommerce" / "order-created.json").read_text()))
    assert woo.shipping_method == ("flat_rate:3", "royal mail tracked 48", "flat_rate")
    assert native_method_keys("PostNL", "Standaard") == ("postnl standaard", "postnl")
    assert native_method_keys("", "") == ()
    native = parse_native_order({"ref": "N-1", "placed_at": "2026-01-01T00:00:00Z",
                                 "currency": "EUR", "ship_to": {"country": "NL"},
                                 "carrier": "DHL Express", "service": "Worldwide",
                                 "lines": [{"sku": "A", "quantity": 1, "unit_price": "1"}]})
    assert native.shipping_method == ("dhl express worldwide", "dhl express")
    assert choose("rtm", "native", native.shipping_method, "NL").service.id == "dhl-express-nl"


def test_a_supervisor_names_a_service_by_code_id_or_label():
    assert find_service(SETUP.services, "rtm", "PostNL", "3085").id == "postnl-standard"
    assert find_service(SETUP.services, "rtm", "postnl", "postnl-eu").id == "postnl-eu"
    assert find_service(SETUP.services, "rtm", "postnl", "EPS pakket").id == "postnl-eu"
    assert find_service(SETUP.services, "main", "postnl", "3085") is None    # not in Leeds


@pytest.mark.parametrize("country, zone_served", [("NO", True), ("CH", True), ("US", True),
                                                  ("GB", False)])
def test_services_serve_countries_and_zones(country, zone_served):
    svc = SETUP.service("rm-international")
    assert svc.serves(country, "", CFG.zones) is zone_served
