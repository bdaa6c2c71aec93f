"""The `exceptions:` section of config.yaml: SLA, severity and owner per type over the
defaults; a mistake stops the server at start with the key named."""
from __future__ import annotations

import pytest

from server.config import load_config


def test_the_shipped_config_gives_each_type_its_sla_and_the_rest_the_default():
    cfg = load_config(env={}).exceptions
    assert (cfg.sla("short_pick").sla_hours, cfg.sla("short_pick").severity) == (4.0, "high")
    assert cfg.sla("no_such_type") == cfg.default
    assert cfg.escalate_every_minutes == 5


def test_an_overlay_sets_a_type_and_the_default():
    cfg = load_config({"exceptions": {"default": {"sla_hours": 2, "owner": "admin"},
                                      "types": {"new_kind": {"severity": "low"}}}},
                      env={}).exceptions
    assert (cfg.sla("new_kind").sla_hours, cfg.sla("new_kind").severity,
            cfg.sla("new_kind").owner) == (2.0, "low", "admin")
    assert cfg.sla("other").owner == "admin"


@pytest.mark.parametrize("section, words", [
    ({"types": {"short_pick": {"sla_hours": 0}}}, "exceptions.types.short_pick.sla_hours"),
    ({"types": {"short_pick": {"sla_hours": "soon"}}}, "sla_hours"),
    ({"types": {"short_pick": {"severity": "urgent"}}}, "exceptions.types.short_pick.severity"),
    ({"types": {"short_pick": {"owner": "boss"}}}, "exceptions.types.short_pick.owner"),
    ({"types": {"short_pick": {"sla": 3}}}, "unknown keys sla"),
    ({"types": {"Bad-Type": {"sla_hours": 3}}}, "exceptions.types.Bad-Type"),
    ({"default": {"severity": "none"}}, "exceptions.default.severity"),
    ({"escalate_every_minutes": -1}, "escalate_every_minutes"),
    ({"sla_hours": 3}, "unknown keys sla_hours"),
    ({"types": ["short_pick"]}, "exceptions.types must be a mapping"),
])
def test_a_bad_section_is_refused_naming_the_key(section, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        load_config({"exceptions": section}, env={})
