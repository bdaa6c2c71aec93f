"""One reason an order cannot be fulfilled as sent: the field at fault, a stable code, words."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str          # a path into the order: 'ship_to.country', 'lines[2].quantity'
    code: str           # stable, for machines: 'bad_country', 'unknown_sku', 'missing'
    message: str        # for the person who fixes the order

    def to_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}
