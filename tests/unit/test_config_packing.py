"""The packing part of config.yaml: stations, cartons, carriers, SSCC, senders, inserts."""
import pytest

from server.config import load_config
from server.domain.tracking import next_tracking, validate_tracking

PRINTER = {"printers": {"label-1": {"url": "file:///tmp/wavepack-label-1.zpl"}}}


def test_shipped_defaults_are_complete_and_valid():
    cfg = load_config(env={})
    setup = cfg.setup
    assert [c.name for c in setup.cartons] == ["XS", "S", "M", "L"]     # smallest first
    assert {s.warehouse for s in setup.services} == {"main", "rtm"}
    assert setup.shipping_methods["shopify"]["postnl"] == ("postnl-standard", "postnl-eu")
    assert all(s.carrier in setup.carriers for s in setup.services)
    for carrier in setup.carriers.values():                              # every range issues
        number, serial = next_tracking(carrier.tracking, None)
        assert validate_tracking(carrier.tracking, number) == serial
    assert setup.sscc is not None and setup.sscc.kind == "sscc"
    assert set(setup.senders) == {"main", "rtm"}
    assert setup.inserts["invoice"] == ("invoice_requested", "international")
    assert cfg.packing.weight_tolerance_pct == 5.0 and cfg.packing.require_weight is False


def test_a_station_binds_a_configured_printer():
    cfg = load_config({**PRINTER, "stations": {"pack-1": {"warehouse": "main",
                                                         "printer": "label-1"}}}, env={})
    assert cfg.setup.stations["pack-1"].printer == "label-1"
    assert cfg.setup.stations["pack-1"].document_printer == ""
    with pytest.raises(ValueError, match="stations.pack-2: printer 'nope'"):
        load_config({**PRINTER, "stations": {"pack-2": {"warehouse": "main",
                                                       "printer": "nope"}}}, env={})
    with pytest.raises(ValueError, match="stations.pack-3: missing printer"):
        load_config({**PRINTER, "stations": {"pack-3": {"warehouse": "main"}}}, env={})


@pytest.mark.parametrize("overlay, message", [
    ({"cartons": {"S": {"length_mm": 0}}}, r"cartons.S: .*length_mm"),
    ({"cartons": {"Z": {"length_mm": 1, "width_mm": 1, "height_mm": 1, "max_weight_g": 10,
                        "colour": "brown"}}}, r"cartons.Z: unknown keys colour"),
    ({"carriers": {"ups": {"match": ["ups"]}}}, "no longer chosen by words"),
    ({"carrier_services": {"main": {"x": {"carrier": "nope", "service": "1",
                                          "countries": ["GB"]}}}}, "carrier 'nope' is not"),
    ({"carrier_services": {"main": {"x": {"carrier": "ups", "service": "1"}}}},
     "name the countries or zones"),
    ({"carrier_services": {"main": {"x": {"carrier": "ups", "service": "1",
                                          "countries": [False]}}}}, "quote NO"),
    ({"carrier_services": {"rtm": {"rm-tracked-48": {"carrier": "ups", "service": "1",
                                                     "countries": ["NL"]}}}}, "used twice"),
    ({"carrier_services": {"main": {"x": {"carrier": "ups", "service": "1", "adapter": "karrio",
                                          "countries": ["GB"]}}}}, "needs carriers.ups.karrio"),
    ({"shipping_methods": {"shopify": {"Fast": ["no-such-service"]}}}, "unknown service"),
    ({"shipping_methods": {"ebay": {"fast": ["ups-express"]}}}, "channel kinds are"),
    ({"shipping_methods": {"shopify": {"UPS  Express": ["ups-express"]}}}, "listed twice"),
    ({"customs": {"sdr_rates": {"GBP": "x"}}}, "not a number"),
    ({"carriers": {"ups": {"karrio": {"carrier_name": "ups", "secrets": {"key": "lower"}}}}},
     "environment variables"),
    ({"carriers": {"x": {"tracking": {"kind": "sscc", "extension_digit": "0",
                                      "company_prefix": "5012345",
                                      "range": {"start": 1, "end": 9}}}}}, "goes under sscc"),
    ({"carriers": {"x": {"tracking": {"kind": "morse", "range": [1, 2]}}}}, r"carriers.x.tracking"),
    ({"inserts": {"flyer": {"when": ["always"]}}}, "inserts.flyer: unknown insert"),
    ({"inserts": {"invoice": {"when": ["tuesday"]}}}, "inserts.invoice.when"),
    ({"senders": {"main": {"lines": "one line"}}}, r"senders.main"),
    ({"sscc": {"extension_digit": "0", "company_prefix": "12", "range": [5, 1]}}, "config sscc"),
    ({"packing": {"colour": 1}}, "unknown config key packing.colour"),
])
def test_mistakes_are_named(overlay, message):
    with pytest.raises(ValueError, match=message):
        load_config(overlay, env={})
