"""The karrio adapter against karrio's real UPS connector, its HTTP answered by a fake UPS
API on 127.0.0.1 (no network): the label bought, its tracking number, customs sent, rates,
tracking, a refusal and an unreachable carrier."""
from decimal import Decimal

import pytest

from server.carrier_adapters import (CarrierError, CustomsLine, KarrioAdapter, LocalAdapter,
                                     ParcelRequest, Party, adapter_for)
from server.config_carriers import KarrioAccount
from server.domain.carriers import CarrierService

from ..fake_carrier import LABEL_ZPL, FakeUps

SERVICE = CarrierService(id="ups-express", warehouse="main", carrier="ups", service="65",
                         label="Express Saver", countries=frozenset({"NL"}), adapter="karrio",
                         karrio_service="ups_worldwide_saver")
ENV = {"UPS_CLIENT_ID": "client", "UPS_CLIENT_SECRET": "secret"}
PARCEL = ParcelRequest(
    reference="#1001/1",
    shipper=Party("wavepack", ("Unit 4", "Fulfilment Park"), "Milton Keynes", "MK1 1AA", "GB",
                  phone="+441908000000"),
    recipient=Party("Jan de Vries", ("Kade 1",), "Rotterdam", "3011 AA", "NL",
                    phone="+31100000000"),
    weight_g=900, dims_mm=(300, 200, 100), currency="GBP",
    customs=(CustomsLine("Organic Cotton Tee", 2, Decimal("40.00"), 360, "610910", "PT",
                         "TEE"),))


def account(url: str, **kw) -> KarrioAccount:
    return KarrioAccount(carrier_name="ups", test=True,
                         settings={"account_number": "9A1B2C", "account_country_code": "GB",
                                   "server_url": url, **kw},
                         secrets={"client_id": "UPS_CLIENT_ID",
                                  "client_secret": "UPS_CLIENT_SECRET"})


@pytest.fixture
def ups():
    with FakeUps() as fake:
        yield fake


def test_a_label_is_bought_with_the_carriers_tracking_number(ups):
    adapter = adapter_for(SERVICE, account(ups.url), draw=lambda: "unused", environ=ENV)
    assert isinstance(adapter, KarrioAdapter)
    made = adapter.create_shipment(PARCEL)
    assert made.tracking_number == "1ZFAKE0000000001"
    assert made.label == LABEL_ZPL.encode() and made.label_format == "ZPL"
    by_path = {r["path"].split("/")[2]: r for r in ups.requests}
    token, ship = by_path["v1"], by_path["shipments"]
    assert token["path"] == "/security/v1/oauth/token"                 # the env secrets:
    assert token["headers"]["authorization"] == "Basic Y2xpZW50OnNlY3JldA=="   # client:secret
    assert ship["path"].endswith("/ship") and ship["headers"]["authorization"] == \
        "Bearer fake-token"
    body = ship["body"]["ShipmentRequest"]["Shipment"]
    assert body["Service"]["Code"] == "65"
    assert body["ShipTo"]["Address"]["CountryCode"] == "NL"
    assert body["Shipper"]["ShipperNumber"] == "9A1B2C"
    assert "610910" in str(ship["body"]) and "Organic Cotton Tee" in str(ship["body"])


def test_rates_and_tracking(ups):
    adapter = KarrioAdapter(SERVICE, account(ups.url), environ=ENV)
    [rate] = adapter.rates(PARCEL)
    assert (rate.amount, rate.currency, rate.days) == (Decimal("12.4"), "GBP", 2)
    [event] = adapter.track("1ZFAKE0000000001")
    assert event.code == "DP" and event.location == "Rotterdam"
    assert event.description == "Departed from Facility"


def test_a_refusal_and_an_unreachable_carrier_are_carrier_errors(ups):
    adapter = KarrioAdapter(SERVICE, account(ups.url), environ=ENV)
    ups.refuse_next = True
    with pytest.raises(CarrierError, match="invalid shipper number") as err:
        adapter.create_shipment(PARCEL)
    assert err.value.code == "carrier_error"
    dead = KarrioAdapter(SERVICE, account("http://127.0.0.1:9"), environ=ENV)
    with pytest.raises(CarrierError) as err:
        dead.create_shipment(PARCEL)
    assert err.value.code in ("carrier_unavailable", "carrier_error")


def test_missing_secrets_and_unknown_connectors_are_named():
    with pytest.raises(CarrierError, match="UPS_CLIENT_ID") as err:
        KarrioAdapter(SERVICE, account("http://127.0.0.1:9"), environ={}).gateway()
    assert err.value.code == "carrier_unconfigured"
    nope = KarrioAccount(carrier_name="no_such_carrier", settings={})
    with pytest.raises(CarrierError, match="no_such_carrier"):
        KarrioAdapter(SERVICE, nope, environ={}).gateway()


def test_the_local_adapter_draws_from_our_range():
    numbers = iter(["RR100000015GB", "RR100000029GB"])
    local = adapter_for(CarrierService(id="rm", warehouse="main", carrier="royal-mail",
                                       service="TPN", label="Tracked 48",
                                       countries=frozenset({"GB"})), None,
                        draw=lambda: next(numbers))
    assert isinstance(local, LocalAdapter)
    assert [local.create_shipment(PARCEL).tracking_number for _ in range(2)] == \
        ["RR100000015GB", "RR100000029GB"]
    assert local.create_shipment is not None and local.rates(PARCEL) == [] and \
        local.track("x") == []
