"""Stock adjustments by a supervisor: the reason codes and what a request must say.
Pure: no database (services/adjustments.py applies them)."""
from __future__ import annotations

import hashlib
import json

# why a bin's stock is corrected by hand (EN/zh-CN words in static/console/panels/stock.js)
REASONS = ("count_correction", "damaged", "expired", "lost", "found", "theft",
           "returned_to_supplier", "other")
NOTE_REQUIRED = ("other",)      # a reason that says nothing by itself needs a note


def target(on_hand: int, *, counted: int | None, delta: int | None) -> int:
    """The bin's on-hand after the adjustment: what was counted, or on-hand plus delta."""
    return counted if counted is not None else on_hand + (delta or 0)


def request_hash(fields: dict) -> str:
    """What a client key stands for: a retry with the same key must say the same."""
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
