"""What the parcels of a session should be: the carton(s) the order's units go in, chosen
by the packing plan or by the packer, and what they should weigh with their tare. Read by
the session view, by the carton and weight actions and by the confirm."""
from __future__ import annotations

from dataclasses import replace

from ...config import Config
from ...domain.cartons import (KNOWN_FLAGS, NoCartonFits, PackItem, check_weight, pack_into,
                               plan_parcels, weight_tolerance)
from ._common import OrderLine, SessionRow


def pack_items(lines: list[OrderLine], *, settings: Config) -> list[PackItem] | str:
    """The lines as PackItems, or why the carton cannot be chosen for them."""
    default_w = settings.packing.default_weight_g
    items = []
    for ln in lines:
        if min(ln.dims) <= 0:
            return f"the catalogue has no size for {ln.sku}: choose the carton"
        items.append(PackItem(ln.sku, *ln.dims, weight_g=ln.weight_g or default_w,
                              quantity=ln.quantity,
                              flags=frozenset(f for f in ln.flags if f in KNOWN_FLAGS)))
    return items


def service_cartons(s: SessionRow, *, settings: Config) -> tuple:
    """The carton types, each held to the carrier service's parcel limit when it has one."""
    setup = settings.setup
    svc = setup.service(s.carrier_service) if s.carrier_service else None
    limit = svc.max_weight_g if svc else 0
    if not limit:
        return setup.cartons
    return tuple(replace(c, max_weight_g=min(c.max_weight_g, limit)) for c in setup.cartons)


def carton_plan(s: SessionRow, lines: list[OrderLine], *, settings: Config) -> dict:
    """The carton(s): the smallest carton that takes the order, or several parcels when
    none does (plan_parcels); a carton the packer chose puts everything in that one."""
    cartons = service_cartons(s, settings=settings)
    items = pack_items(lines, settings=settings)
    plan, error = [], None
    # the station pages word the error from its code and parameters (pack i18n.js)
    error_code, error_params = None, {}
    if not cartons:
        error = "no carton types are configured (cartons: in config.yaml)"
        error_code = "no_cartons"
    elif isinstance(items, str):
        error = items
        error_code = "no_size"
        error_params = {"sku": next(ln.sku for ln in lines if min(ln.dims) <= 0)}
    else:
        try:
            plan = plan_parcels(items, cartons)
        except NoCartonFits as err:
            error, error_code = err.message, err.code
    net = net_weight(lines, settings=settings)
    warning = None
    if s.carton:
        chosen = next(c for c in cartons if c.name == s.carton)
        parcels = [{"parcel": 1, "carton": chosen.name, "tare_g": chosen.tare_g,
                    "gross_g": net + chosen.tare_g,
                    "units": {ln.sku: ln.quantity for ln in lines}}]
        if not isinstance(items, str) and pack_into(items, chosen) is None:
            warning = (f"the packer's plan finds no room for every unit in {chosen.name}: "
                       f"check they fit")
    else:
        parcels = []
        for k, result in enumerate(plan, start=1):
            units: dict[str, int] = {}
            for placed in result.placements:
                units[placed.sku] = units.get(placed.sku, 0) + 1
            parcels.append({"parcel": k, "carton": result.carton.name,
                            "tare_g": result.carton.tare_g, "gross_g": result.gross_weight_g,
                            "units": units})
    suggested = plan[0].carton.name if plan else None
    name = parcels[0]["carton"] if parcels else None
    carton = next((c for c in cartons if c.name == name), None)
    return {"suggested": suggested, "chosen": s.carton, "name": name,
            "options": [c.name for c in cartons],
            "dims_mm": list(carton.dims) if carton else None,
            "tare_g": sum(p["tare_g"] for p in parcels) if parcels else None,
            "fill_ratio": round(plan[0].fill_ratio, 3) if len(plan) == 1 and not s.carton
            else None,
            "parcels": parcels, "error": error, "error_code": error_code,
            "error_params": error_params, "warning": warning}


def net_weight(lines: list[OrderLine], *, settings: Config) -> int:
    """The items: catalogue weight, else packing.default_weight_g."""
    default_w = settings.packing.default_weight_g
    return sum((ln.weight_g or default_w) * ln.quantity for ln in lines)


def weight_check(s: SessionRow, lines: list[OrderLine], carton: dict, *,
                 settings: Config) -> dict:
    """The expected weight (items plus every parcel's tare), the tolerance around it and
    whether the scale reading, if there is one, is within it."""
    cfg = settings.packing
    expected = net_weight(lines, settings=settings) + (carton["tare_g"] or 0)
    allowed = weight_tolerance(expected, tolerance_pct=cfg.weight_tolerance_pct,
                               tolerance_g=cfg.weight_tolerance_g)
    ok = None
    if s.weight_g is not None:
        ok = check_weight(expected, s.weight_g, tolerance_pct=cfg.weight_tolerance_pct,
                          tolerance_g=cfg.weight_tolerance_g).ok
    return {"expected_g": expected, "measured_g": s.weight_g, "tolerance_g": int(allowed),
            "ok": ok, "required": cfg.require_weight}
