"""`wavepack worker --only`: which kinds of background work a process runs."""
import pytest

from server.jobs.runner import KINDS, parse_only


def test_no_only_runs_every_kind():
    assert parse_only(None) == KINDS == ("print", "outbox", "inbox", "jobs")


def test_only_keeps_the_kinds_named_in_one_order():
    assert parse_only("jobs, PRINT") == ("print", "jobs")
    assert parse_only("inbox,inbox") == ("inbox",)


@pytest.mark.parametrize("bad", ["", ",", "printer", "print,mail", "print;outbox"])
def test_a_bad_only_names_what_is_wrong(bad):
    with pytest.raises(ValueError, match="--only takes a comma-separated list of print, "
                                         "outbox, inbox, jobs"):
        parse_only(bad)
