"""`wavepack plan-wave`: batch orders onto carts for a layout file, against FCFS carts."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from .cli import main
from .cli_route import load_layout_file
from .domain.batching import OrderPicks, fcfs_batches, plan_batches, select_orders

ORDER_KEYS = {"order", "locations", "priority", "express", "cutoff"}
# A wrong type in the file is bad input like any other: ValueError, which the Cli group
# prints as `error: …` (TypeError would be a traceback), hence the TRY004 waivers.


def _order(n: int, item: Any) -> OrderPicks:
    """One entry of the orders file; ValueError says which entry is wrong and why."""
    where = f"orders[{n}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object with order and locations")  # noqa: TRY004
    unknown = sorted(str(k) for k in item if k not in ORDER_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s): {', '.join(unknown)}")
    ref, locations = item.get("order"), item.get("locations")
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"{where}.order must be a non-empty string")
    if not isinstance(locations, list) or not all(isinstance(c, str) for c in locations):
        raise ValueError(f"{where}.locations must be a list of location codes")
    priority, express = item.get("priority", 0), item.get("express", False)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"{where}.priority must be a whole number")  # noqa: TRY004
    if not isinstance(express, bool):
        raise ValueError(f"{where}.express must be true or false")  # noqa: TRY004
    cutoff = item.get("cutoff")
    try:
        when = None if cutoff is None else datetime.fromisoformat(cutoff)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}.cutoff must be an ISO date-time") from err
    return OrderPicks(ref, tuple(locations), priority, when, express)


def load_orders_file(path: str) -> list[OrderPicks]:
    """Read `[{"order": ref, "locations": [...]}, ...]`; ValueError/OSError when bad."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err.__class__.__name__})") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: must be a list of orders")  # noqa: TRY004
    try:
        return [_order(n, item) for n, item in enumerate(data)]
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


@main.command(name="plan-wave")
@click.option("--layout", "layout_file", required=True, metavar="FILE.yaml",
              help="YAML file holding the warehouse layout block")
@click.option("--orders", "orders_file", required=True, metavar="FILE.json",
              help='JSON list of {"order": ref, "locations": [LOC, ...]}')
@click.option("--totes", required=True, type=int, help="totes per cart (one order each)")
@click.option("--max-orders", type=int, default=None,
              help="keep only the most urgent orders (priority, express, cutoff)")
@click.option("--seed", type=int, default=0, show_default=True, help="search seed")
def plan_wave(layout_file: str, orders_file: str, totes: int, max_orders: int | None,
              seed: int) -> None:
    """Print the carts of a wave as JSON: orders, pick sequence and walk per cart, with
    the total walk and that of first-come-first-served carts."""
    if totes < 1:
        # ValueError, not UsageError: the Cli group turns it into `error: …` and exit 1
        raise ValueError(f"--totes must be at least 1, not {totes}")
    layout = load_layout_file(layout_file)
    orders = load_orders_file(orders_file)
    plan = plan_batches(layout, orders, totes, max_orders=max_orders, seed=seed)
    kept, _ = select_orders(orders, max_orders)
    fcfs = fcfs_batches(layout, kept, totes)
    click.echo(json.dumps({
        "batches": [{"orders": list(b.orders), "sequence": list(b.route.sequence),
                     "length_m": round(b.route.length_m, 6)} for b in plan.batches],
        "total_length_m": round(plan.total_length_m, 6),
        "fcfs_total_length_m": round(fcfs.total_length_m, 6)}))
