"""The ship-by promise (domain/promise.py) on cases worked out by hand: 2026-12-07 is a
Monday; Europe/London moves to BST on Sunday 2026-03-29 and back on Sunday 2026-10-25."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from server.domain.promise import PromiseRule, rule_from_mapping, ship_by, ship_day

LONDON = PromiseRule(cutoff=dt.time(14), dispatch=dt.time(18), timezone="Europe/London")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize("received, promised", [
    (utc(2026, 12, 7, 10, 0), utc(2026, 12, 7, 18, 0)),     # Monday before the cut-off
    (utc(2026, 12, 7, 13, 59), utc(2026, 12, 7, 18, 0)),    # a minute before
    (utc(2026, 12, 7, 14, 0), utc(2026, 12, 8, 18, 0)),     # at the cut-off: tomorrow
    (utc(2026, 12, 11, 15, 0), utc(2026, 12, 14, 18, 0)),   # Friday after → Monday
    (utc(2026, 12, 12, 9, 0), utc(2026, 12, 14, 18, 0)),    # Saturday morning → Monday
    (utc(2026, 12, 13, 23, 0), utc(2026, 12, 14, 18, 0)),   # Sunday night → Monday
])
def test_cut_off_and_weekend(received, promised):
    assert ship_by(LONDON, received) == promised


def test_holidays_are_skipped():
    xmas = PromiseRule(timezone="Europe/London",
                       holidays=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)}))
    # Thursday 24th after the cut-off: Fri 25 holiday, weekend, Mon 28 holiday → Tue 29
    assert ship_by(xmas, utc(2026, 12, 24, 15, 0)) == utc(2026, 12, 29, 18, 0)
    # received on the holiday itself, before the cut-off time: not that day either
    assert ship_by(xmas, utc(2026, 12, 25, 9, 0)) == utc(2026, 12, 29, 18, 0)
    assert ship_by(xmas, utc(2026, 12, 24, 9, 0)) == utc(2026, 12, 24, 18, 0)


def test_the_cut_off_is_local_time_across_a_date_line():
    shanghai = PromiseRule(timezone="Asia/Shanghai")       # UTC+8, no DST
    # Monday 23:30 UTC is Tuesday 07:30 in Shanghai: ships Tuesday 18:00 local = 10:00 UTC
    assert ship_by(shanghai, utc(2026, 12, 7, 23, 30)) == utc(2026, 12, 8, 10, 0)
    assert ship_day(shanghai, utc(2026, 12, 7, 23, 30)) == dt.date(2026, 12, 8)
    # Monday 05:59 UTC = 13:59 local, before; 06:00 UTC = 14:00 local, after
    assert ship_by(shanghai, utc(2026, 12, 7, 5, 59)) == utc(2026, 12, 7, 10, 0)
    assert ship_by(shanghai, utc(2026, 12, 7, 6, 0)) == utc(2026, 12, 8, 10, 0)
    # Friday 20:00 UTC is Saturday 04:00 in Shanghai: Monday
    assert ship_by(shanghai, utc(2026, 12, 11, 20, 0)) == utc(2026, 12, 14, 10, 0)


def test_daylight_saving_changes():
    # Friday 27 March 15:00 GMT, after the cut-off; clocks go forward on Sunday 29:
    # Monday 30 March 18:00 BST = 17:00 UTC
    assert ship_by(LONDON, utc(2026, 3, 27, 15, 0)) == utc(2026, 3, 30, 17, 0)
    # Friday 23 October 12:30 UTC = 13:30 BST: before the cut-off, ships 18:00 BST = 17:00 UTC
    assert ship_by(LONDON, utc(2026, 10, 23, 12, 30)) == utc(2026, 10, 23, 17, 0)
    # 13:30 UTC = 14:30 BST: after (a UTC reading would say before); clocks go back on
    # Sunday 25: Monday 26 October 18:00 GMT = 18:00 UTC
    assert ship_by(LONDON, utc(2026, 10, 23, 13, 30)) == utc(2026, 10, 26, 18, 0)


def test_handling_days_and_weekend_work():
    slow = PromiseRule(timezone="UTC", handling_days=2)
    assert ship_by(slow, utc(2026, 12, 10, 9, 0)) == utc(2026, 12, 14, 18, 0)   # Thu → Mon
    six = PromiseRule(timezone="UTC", weekdays=frozenset(range(6)))
    assert ship_by(six, utc(2026, 12, 11, 15, 0)) == utc(2026, 12, 12, 18, 0)   # Fri → Sat


def test_rule_from_config():
    raw = yaml.safe_load("cutoff: 14:30\ndispatch: '19:00'\ntimezone: Europe/Amsterdam\n"
                         "weekdays: [mon, tue, wed, thu, fri, saturday]\n"
                         "holidays: [2026-12-25]\nhandling_days: 1\n")
    rule = rule_from_mapping(raw)
    assert rule.cutoff == dt.time(14, 30) and rule.dispatch == dt.time(19)
    assert rule.weekdays == frozenset(range(6))
    assert rule.holidays == frozenset({dt.date(2026, 12, 25)})
    assert rule.handling_days == 1


@pytest.mark.parametrize("raw, words", [
    ({"timezone": "Mars/Olympus"}, "time zone"),
    ({"weekdays": ["mon", "funday"]}, "funday"),
    ({"weekdays": []}, "at least one"),
    ({"cutoff": "25:00"}, "time of day"),
    ({"cutoff": "18:00", "dispatch": "12:00"}, "before the cut-off"),
    ({"holidays": ["christmas"]}, "holidays"),
    ({"colour": "red"}, "unknown keys"),
])
def test_bad_rules_are_refused(raw, words):
    with pytest.raises(ValueError, match=words):
        rule_from_mapping(raw)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        ship_by(LONDON, dt.datetime(2026, 12, 7, 10, 0))
