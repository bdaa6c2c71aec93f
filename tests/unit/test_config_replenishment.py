"""config.yaml's `replenishment:` section: levels keyed warehouse/location/sku, checked."""
import pytest

from server.config import load_config
from server.config_replenishment import Level, check_levels, replenishment_config
from server.domain import replenishment as rules


def test_the_shipped_config_has_the_section_and_the_exception_sla():
    cfg = load_config(env={})
    assert cfg.replenishment.sweep_every_seconds == 30 and cfg.replenishment.levels == ()
    assert cfg.exceptions.sla("replenishment_needed").sla_hours == 2


def test_levels_are_read_with_canonical_locations():
    cfg = replenishment_config({"sweep_every_seconds": 5, "levels": {
        "main/a-1-2-3/SOCK": {"min": 4, "max": 10}, "rtm/B-01-01-1/MUG": {"min": 2},
        "gone/A-01-01-1/X": None}})
    assert cfg.levels == (Level("main", "A-01-02-3", "SOCK", 4, 10),
                          Level("rtm", "B-01-01-1", "MUG", 2, 0))


@pytest.mark.parametrize("raw, says", [
    ({"levels": {"main/A-01-01-1": {"min": 1}}}, "warehouse/location/sku"),
    ({"levels": {"main/nowhere/S": {"min": 1}}}, "bad location"),
    ({"levels": {"main/A-01-01-1/S": {"max": 1}}}, "missing min"),
    ({"levels": {"main/A-01-01-1/S": {"min": 5, "max": 2}}}, "at least min"),
    ({"levels": {"main/A-01-01-1/S": {"min": -1}}}, "whole number"),
    ({"levels": {"main/A-01-01-1/S": {"min": 1, "each": 2}}}, "unknown keys"),
    ({"sweep_every_seconds": -1}, "0 = off"),
    ({"sweep": 1}, "unknown keys"),
])
def test_a_bad_section_names_its_key(raw, says):
    with pytest.raises(ValueError, match=says):
        replenishment_config(raw)


def test_check_levels_and_the_refill_rules():
    assert check_levels(0, 0) is None and check_levels(3, 0) is None
    assert check_levels(True, 0) and check_levels(5, 4)
    assert rules.below_min(10, 1, 10) and not rules.below_min(10, 0, 10)
    assert not rules.below_min(0, 0, 0)                  # no min: not a pick face
    assert rules.refill_quantity(20, 11, 10, 40) == 20    # up to max on hand
    assert rules.refill_quantity(40, 35, 10, 40) == 5     # max full, still back to min
    assert rules.refill_quantity(3, 0, 10, 0) == 7        # no max: back to min
    got = rules.order_sources([rules.Source(3, "B", 5), rules.Source(1, "A", 5),
                               rules.Source(2, "C", 9), rules.Source(4, "D", 0)])
    assert [s.location for s in got] == ["C", "A", "B"]  # largest, then oldest; empty out


def test_purchase_suggestions_are_the_shortfall_per_warehouse_and_sku():
    needs = [rules.Need("main", "S", "Sock", "A-01-01-1", 10, 2),
             rules.Need("main", "S", "Sock", "A-01-01-2", 5, 1),
             rules.Need("main", "M", "Mug", "B-01-01-1", 4, 3),
             rules.Need("rtm", "S", "Sock", "A-01-01-1", 3, 4)]
    got = rules.purchase_suggestions(needs, {("main", "S"): 6, ("main", "M"): 4})
    assert [(s.warehouse, s.sku, s.needed, s.reserve_available, s.quantity, s.locations,
             s.since) for s in got] == [
        ("main", "S", 15, 6, 9, ("A-01-01-1", "A-01-01-2"), 1),
        ("rtm", "S", 3, 0, 3, ("A-01-01-1",), 4)]
