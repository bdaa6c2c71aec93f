"""Cartons and weight: the packer overrides the suggested carton, and the scale reading is
checked against the expected weight (a reading outside the tolerance holds the session).
What the parcels should be is worked out in `parcels`."""
from __future__ import annotations

import datetime as dt

from ...config import Config
from ...domain.errors import BadRequest, Conflict
from ...store.db import execute
from .. import audit
from ._common import Packer, SessionRow, order_lines
from .parcels import carton_plan, net_weight, weight_check
from .session import hold_session, in_session


def weigh(packer: Packer, session_id: int, grams: int, *, settings: Config) -> dict:
    """Record the scale reading; outside the tolerance of the expected weight → held."""
    def act(s: SessionRow, now: dt.datetime) -> None:
        execute("UPDATE pack_session SET weight_g = ? WHERE id = ?", (grams, s.id))
        s.weight_g = grams
        lines = order_lines(s)
        weight = weight_check(s, lines, carton_plan(s, lines, settings=settings),
                              settings=settings)
        audit.write([audit.row(now, packer.actor, "pack.weigh", "pack_session", s.id, "", grams,
                               weight)])
        if weight["ok"] is False and s.state == "open":
            hold_session(s, packer, f"weighs {grams} g, expected {weight['expected_g']} g "
                         f"± {weight['tolerance_g']} g", "pack_weight", now,
                         "weight", {"grams": grams, "expected_g": weight["expected_g"],
                                    "tolerance_g": weight["tolerance_g"]})

    return in_session(packer, session_id, act, settings=settings)


def set_carton(packer: Packer, session_id: int, carton: str, *, settings: Config) -> dict:
    """The packer's carton instead of the suggested one: everything goes in it (409
    carton_too_heavy over its weight limit)."""
    names = [c.name for c in settings.setup.cartons]
    if carton not in names:
        raise BadRequest(f"unknown carton {carton!r} (cartons: {', '.join(names)})",
                         code="unknown_carton", field="carton")

    chosen = next(c for c in settings.setup.cartons if c.name == carton)

    def act(s: SessionRow, now: dt.datetime) -> None:
        gross = chosen.tare_g + net_weight(order_lines(s), settings=settings)
        if gross > chosen.max_weight_g:
            raise Conflict(f"carton {carton} takes {chosen.max_weight_g} g; this order "
                           f"weighs {gross} g in it", code="carton_too_heavy", field="carton",
                           detail={"gross_g": gross, "max_weight_g": chosen.max_weight_g})
        execute("UPDATE pack_session SET carton = ? WHERE id = ?", (carton, s.id))
        audit.write([audit.row(now, packer.actor, "pack.carton", "pack_session", s.id,
                               s.carton or "", carton)])

    return in_session(packer, session_id, act, settings=settings)
