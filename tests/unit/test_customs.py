"""Customs: areas, the CN22/CN23 rule, the label's customs block and the declaration PDF."""
import datetime as dt
import subprocess
from decimal import Decimal

import pytest

from printers.customs import CustomsItemLine, CustomsSummary, customs_block, with_customs_block
from printers.documents import CustomsDeclaration, CustomsLine, build_customs_declaration
from printers.labels import Address, ShippingLabel, build_shipping_label
from server.domain.customs import (CustomsItem, crosses_customs, customs_area, declare,
                                   missing_data, normalise_country, normalise_hs_code, to_sdr)

RATES = {"GBP": Decimal("1.05"), "EUR": Decimal("1.21")}


def item(sku="TEE", value="20.00", qty=1, weight=200, hs="610910", origin="PT"):
    return CustomsItem(sku, f"Cotton {sku}", qty, hs, origin, Decimal(value), weight)


@pytest.mark.parametrize("origin, dest, crosses", [
    ("GB", "NL", True), ("NL", "US", True), ("NL", "DE", False), ("NL", "GB", True),
    ("GB", "GB", False), ("GB", "JE", True), ("FR", "NO", True), ("NL", "", True)])
def test_customs_areas(origin, dest, crosses):
    assert crosses_customs(origin, dest) is crosses
    assert customs_area("de") == "EU" and customs_area("CH") == "CH"


def test_cn22_up_to_300_sdr_and_2_kg_else_cn23():
    small = declare([item(value="300.00")], currency="GBP", gross_weight_g=1500, origin="GB",
                    destination="US", sdr_rates=RATES)
    assert small.form == "CN22" and small.value_sdr == Decimal("285.71")
    assert declare([item(value="320.00")], currency="GBP", gross_weight_g=500, origin="GB",
                   destination="US", sdr_rates=RATES).form == "CN23"          # 304.76 SDR
    assert declare([item()], currency="GBP", gross_weight_g=2001, origin="GB",
                   destination="US", sdr_rates=RATES).form == "CN23"          # over 2 kg
    assert declare([item()], currency="CHF", gross_weight_g=100, origin="GB",
                   destination="US", sdr_rates=RATES).form == "CN23"          # no rate known
    assert to_sdr(Decimal("121"), "eur", RATES) == Decimal("100.00")


def test_missing_data_and_normalising():
    assert missing_data([item(), item("MUG", hs=""), item("CAP", origin="")]) == ["MUG", "CAP"]
    assert normalise_hs_code("6109.10.00") == "61091000" and normalise_hs_code("") == ""
    assert normalise_country(" pt ") == "PT"
    for bad in ("6109", "61091000001", "61O910"):
        with pytest.raises(ValueError, match="HS code"):
            normalise_hs_code(bad)
    with pytest.raises(ValueError, match="two letters"):
        normalise_country("PRT")


def _summary(n_items=2, form="CN22"):
    return CustomsSummary(form=form, origin="GB", destination="NL", currency="GBP",
                          value=Decimal("45.5"), weight_g=900,
                          items=tuple(CustomsItemLine(f"61091{i}", "PT", i + 1)
                                      for i in range(n_items)))


def test_label_customs_block_sits_before_the_end_of_the_label():
    label = build_shipping_label(ShippingLabel(
        sender=Address(name="wavepack", lines=("Unit 4",), city="Leeds", country="GB"),
        recipient=Address(name="Jan", lines=("Kade 1",), city="Rotterdam", country="NL"),
        order_number="A-1", carrier="Royal Mail", service="International Tracked",
        tracking_number="RR100000015GB", sscc="050123450000000015", weight_g=900,
        job_id="1"))
    block = customs_block(_summary())
    zpl = with_customs_block(label, block)
    assert zpl.startswith(label[:label.rfind("^XZ")]) and zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    for text in ("CUSTOMS CN22", "Sale of goods GB>NL", "3 pcs GBP 45.50 0.90 kg",
                 "HS 610910 PT x1", "HS 610911 PT x2"):
        assert text in block
    many = customs_block(_summary(5, "CN23"))
    assert "CUSTOMS CN23" in many and "+3 more lines" in many and "HS 610912" not in many
    with pytest.raises(ValueError, match="HS code"):
        CustomsSummary(form="CN22", origin="GB", destination="NL", currency="GBP",
                       value=Decimal(1), weight_g=1, items=(CustomsItemLine("", "PT", 1),))
    with pytest.raises(ValueError, match="no \\^XZ"):
        with_customs_block("^XA", block)


def test_customs_declaration_pdf():
    decl = CustomsDeclaration(
        form="CN23", sender=Address(name="wavepack Rotterdam", lines=("Waalhaven 12",),
                                    city="Rotterdam", country="NL"),
        ship_to=Address(name="Ann Smith", lines=("1 Main St",), city="Boston", country="US"),
        order_number="#1001", date=dt.date(2026, 12, 7), currency="EUR",
        lines=(CustomsLine("Organic Cotton Tee", 2, "610910", "PT", Decimal("40.00"), 360),
               CustomsLine("Stoneware Mug", 1, "691200", "GB", Decimal("18.5"), 410)),
        gross_weight_g=1100)
    pdf = build_customs_declaration(decl)
    assert pdf.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    for expected in ("Customs declaration", "CN23", "#1001", "NL → US", "610910", "691200",
                     "Organic Cotton Tee", "40.00", "18.50", "Total value: 58.50 EUR",
                     "Gross weight: 1.100 kg", "Net weight: 0.770 kg", "certify"):
        assert expected in text, expected
    with pytest.raises(ValueError, match="HS code"):
        CustomsLine("Tee", 1, "61", "PT", Decimal(1), 1)
    with pytest.raises(ValueError, match="CN22 or CN23"):
        CustomsDeclaration(form="CN99", sender=decl.sender, ship_to=decl.ship_to,
                           order_number="1", date=decl.date, currency="EUR", lines=decl.lines,
                           gross_weight_g=1)
