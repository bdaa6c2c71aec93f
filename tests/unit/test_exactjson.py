"""The exact-JSON reader's Unicode edge: lone surrogates refused (naming where) or, for
signed deliveries, replaced; real characters, escaped pairs included, pass untouched."""
import pytest

from server.domain.errors import BadRequest
from server.domain.exactjson import parse_json, refuse_lone_surrogates


@pytest.mark.parametrize("raw, field", [
    (b'{"note": "a \\ud800 b"}', "note"),
    (b'{"a": [1, {"b": "x\\udfff"}]}', "a.1.b"),
    (b'["ok", "\\ud83d"]', "1"),
    (b'"\\ud800"', None),
    (b'{"k": {"\\udc00x": "fine"}}', "k.\ufffdx"),      # a key: named, still encodable
])
def test_a_lone_surrogate_is_refused_naming_where(raw, field):
    with pytest.raises(BadRequest) as err:
        parse_json(raw)
    assert err.value.code == "invalid_unicode" and err.value.field == field
    assert field is None or field.encode("utf-8")          # the answer can be sent


def test_real_characters_pass_and_replacing_keeps_the_rest():
    assert parse_json(b'{"a": "\\ud83d\\ude00 \\u00e9 \xc3\xa9"}') == {"a": "\U0001F600 é é"}
    assert parse_json(b'{"n": "x\\ud800y", "k": [1, "\\udc00"]}', replace_bad_unicode=True) \
        == {"n": "x\ufffdy", "k": [1, "\ufffd"]}
    refuse_lone_surrogates({"scan_id": "abc", "raw": "]C101", "task": 3, "ok": None})
    with pytest.raises(BadRequest):
        refuse_lone_surrogates({"raw": ["x", "\ud800"]})
