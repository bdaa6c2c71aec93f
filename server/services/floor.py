"""The floor now, for the supervisors' console (GET /api/v1/floor): orders by state (the
funnel), the waves that are running with their carts' progress, the pickers active in the
last hour (where, lines and units per hour, error verdicts), the packing stations with
their printers' state and print queues, the backorders, the orders whose ship-by is at
risk, and the open exceptions by severity.

One snapshot is a fixed number of indexed, set-at-a-time statements whatever the size of
the floor (no query per wave, cart, picker or station). The console loads it on connect
and reconnect and after the pushes it hears (docs/console-protocol.md)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..store.bulk import select_in
from ..store.db import execute, is_postgres
from . import printer_state, print_queue
from .notify import NOT_PICKED
from .stock import warehouse_by_code

# the funnel: the states an order passes through on the floor, in order
FUNNEL = (lifecycle.RECEIVED, lifecycle.AWAITING_PAYMENT, lifecycle.READY, lifecycle.WAVED,
          lifecycle.PICKING, lifecycle.PICKED, lifecycle.PACKED)
# beside it: orders that wait for someone
WAITING = (lifecycle.ON_HOLD, lifecycle.BACKORDERED, lifecycle.INVALID)
ACTIVE_WAVES = ("draft", "released", "picking")
PICKER_WINDOW = dt.timedelta(hours=1)     # "active": scanned within it; rates are per it
LIST_MAX = 50                             # rows of each list (at risk, backorders, waves)
SEVERITIES = ("critical", "high", "medium", "low")


def _iso(value: Any) -> str | None:
    t = clock.aware_utc(value)
    return t.astimezone(dt.UTC).isoformat(timespec="seconds") if t else None


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def snapshot(warehouse: str | None, *, settings: Config, now: dt.datetime | None = None) -> dict:
    """The floor of one warehouse (its code) or of all (None); NotFound for an unknown one."""
    now = now or clock.now()
    wh_id = warehouse_by_code(warehouse).id if warehouse else None
    return {"warehouse": warehouse, "at": _iso(now),
            "orders": _orders(wh_id, now, settings),
            "waves": _waves(wh_id),
            "pickers": _pickers(wh_id, now),
            "stations": _stations(warehouse, settings, now),
            "backorders": _backorders(wh_id),
            "exceptions": _exceptions(now)}


def _where_wh(wh_id: int | None, column: str = "warehouse_id") -> tuple[str, tuple]:
    return (f" AND {column} = ?", (wh_id,)) if wh_id is not None else ("", ())


def _orders(wh_id: int | None, now: dt.datetime, settings: Config) -> dict:
    """Counts by state (the funnel and the waiting), shipped today, and ship-by at risk:
    not picked yet, ship-by within `notifications.at_risk_hours` (or already flagged)."""
    wh, params = _where_wh(wh_id)
    counted = FUNNEL + WAITING
    rows = execute(f"SELECT status, COUNT(*) FROM sales_order WHERE status IN "
                   f"({_in(counted)}){wh} GROUP BY status", params).fetchall()
    by_status = {s: 0 for s in counted}
    by_status.update({s: n for s, n in rows})
    day = clock.naive_utc(now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0,
                                                         microsecond=0))
    swh, sparams = _where_wh(wh_id, "o.warehouse_id")
    shipped = execute("SELECT COUNT(DISTINCT s.order_id) FROM shipment s JOIN sales_order o "
                      f"ON o.id = s.order_id WHERE s.shipped_at >= ?{swh}",
                      (day, *sparams)).fetchone()[0]
    horizon = clock.naive_utc(now + dt.timedelta(hours=settings.notify.at_risk_hours))
    risk_where = (f"FROM sales_order o WHERE o.status IN ({_in(NOT_PICKED)}) "
                  f"AND o.ship_by IS NOT NULL AND (o.ship_by <= ? OR o.at_risk_at IS NOT NULL)"
                  f"{swh}")
    risk_count = execute(f"SELECT COUNT(*) {risk_where}", (horizon, *sparams)).fetchone()[0]
    at_risk = [{"order_id": oid, "ref": ref, "status": status, "ship_by": _iso(ship_by),
                "flagged_at": _iso(flagged),
                "overdue": clock.aware_utc(ship_by) <= now}
               for oid, ref, status, ship_by, flagged in execute(
                   f"SELECT o.id, o.ref, o.status, o.ship_by, o.at_risk_at {risk_where} "
                   "ORDER BY o.ship_by, o.id LIMIT ?", (horizon, *sparams, LIST_MAX)).fetchall()]
    return {"funnel": [{"status": s, "count": by_status[s]} for s in FUNNEL],
            "waiting": {s: by_status[s] for s in WAITING},
            "shipped_today": shipped,
            "at_risk": {"count": risk_count, "hours": settings.notify.at_risk_hours,
                        "orders": at_risk}}


def _waves(wh_id: int | None) -> list[dict]:
    """The draft, released and running waves, oldest first, each with its carts: who picks
    them, units picked, short and to pick (two statements for every wave and cart)."""
    wh, params = _where_wh(wh_id, "w.warehouse_id")
    waves = execute(
        "SELECT w.id, h.code, w.status, w.created_at, w.released_at FROM wave w "
        f"JOIN warehouse h ON h.id = w.warehouse_id WHERE w.status IN ({_in(ACTIVE_WAVES)})"
        f"{wh} ORDER BY w.id LIMIT ?", (*params, LIST_MAX)).fetchall()
    if not waves:
        return []
    carts: dict[int, list[dict]] = {}
    for (cid, wave_id, seq, status, badge, name, quantity, picked, short, tasks,
         open_tasks) in select_in(
            "SELECT c.id, c.wave_id, c.seq, c.status, u.badge, u.name, "
            "COALESCE(SUM(t.quantity), 0), COALESCE(SUM(t.picked), 0), "
            "COALESCE(SUM(t.short), 0), COUNT(t.id), "
            "COALESCE(SUM(CASE WHEN t.status = 'open' THEN 1 ELSE 0 END), 0) FROM cart c "
            "LEFT JOIN app_user u ON u.id = c.picker_id LEFT JOIN pick_task t ON "
            "t.cart_id = c.id AND t.status <> 'cancelled' WHERE c.wave_id IN ({in}) "
            "GROUP BY c.id, c.wave_id, c.seq, c.status, u.badge, u.name ORDER BY c.wave_id, c.seq",
            [w[0] for w in waves]):
        carts.setdefault(wave_id, []).append({
            "cart_id": cid, "seq": seq, "status": status,
            "picker": {"badge": badge, "name": name} if badge else None,
            "units": quantity, "picked": picked, "short": short, "tasks": tasks,
            "open_tasks": open_tasks})
    out = []
    for wave_id, code, status, created, released in waves:
        mine = carts.get(wave_id, [])
        units = sum(c["units"] for c in mine)
        done = sum(c["picked"] + c["short"] for c in mine)
        out.append({"wave_id": wave_id, "warehouse": code, "status": status,
                    "created_at": _iso(created), "released_at": _iso(released),
                    "units": units, "picked": sum(c["picked"] for c in mine),
                    "short": sum(c["short"] for c in mine),
                    "progress": round(done / units, 3) if units else 0.0, "carts": mine})
    return out


def _pickers(wh_id: int | None, now: dt.datetime) -> list[dict]:
    """Everyone who made a pick scan in the last hour: scans, units, lines finished (tasks
    whose unit counted), error verdicts, and where they are (their last scan's bin). One
    pass over the hour's scans (by picker and verdict), then their last scans by id."""
    since = clock.naive_utc(now - PICKER_WINDOW)
    # SQLite's planner prefers a skip-scan of scan_user (every picker's every scan): it is
    # told to read the hour from scan_received (migration 0027)
    scans = "scan s" if is_postgres() else "scan s INDEXED BY scan_received"
    if wh_id is None:           # every warehouse: the scans alone
        source, params = f"FROM {scans} WHERE s.received_at >= ?", (since,)
    else:                       # the warehouse of the scan's wave
        source = (f"FROM {scans} JOIN cart c ON c.id = s.cart_id JOIN wave w ON "
                  "w.id = c.wave_id WHERE s.received_at >= ? AND w.warehouse_id = ?")
        params = (since, wh_id)
    totals: dict[int, dict] = {}
    for uid, verdict, scans, units, lines, last_id in execute(
            "SELECT s.user_id, s.verdict, COUNT(*), COALESCE(SUM(s.counted), 0), "
            "COUNT(DISTINCT CASE WHEN s.counted > 0 THEN s.task_id END), MAX(s.id) "
            f"{source} AND s.kind = 'pick' AND s.user_id IS NOT NULL "
            "GROUP BY s.user_id, s.verdict", params).fetchall():
        t = totals.setdefault(uid, {"scans": 0, "units": 0, "lines": 0, "errors": 0,
                                    "verdicts": {}, "last": 0})
        t["scans"] += scans
        t["units"] += units
        t["lines"] += lines          # a unit counts under an accepted verdict only
        t["last"] = max(t["last"], last_id)
        if verdict != "ok":
            t["errors"] += scans
            t["verdicts"][verdict] = scans
    if not totals:
        return []
    last = {uid: (badge, name, device, loc, verdict, at, cart) for uid, badge, name, device, loc,
            verdict, at, cart in select_in(
                "SELECT s.user_id, u.badge, u.name, s.device, t.location_code, s.verdict, "
                "s.received_at, s.cart_id FROM scan s JOIN app_user u ON u.id = s.user_id "
                "LEFT JOIN pick_task t ON t.id = s.task_id WHERE s.id IN ({in})",
                [t["last"] for t in totals.values()])}
    hours = PICKER_WINDOW.total_seconds() / 3600
    out = []
    for uid, t in totals.items():
        badge, name, device, loc, verdict, at, cart = last.get(uid, ("", "", "", "", "", None,
                                                                     None))
        scans, errors = t["scans"], t["errors"]
        out.append({"user_id": uid, "badge": badge, "name": name, "device": device,
                    "location": loc or "", "cart_id": cart, "last_verdict": verdict,
                    "last_scan_at": _iso(at), "scans": scans, "units": t["units"],
                    "lines": t["lines"], "lines_per_hour": round(t["lines"] / hours, 1),
                    "units_per_hour": round(t["units"] / hours, 1), "errors": errors,
                    "error_rate": round(errors / scans, 3) if scans else 0.0,
                    "verdicts": t["verdicts"]})
    out.sort(key=lambda p: p["last_scan_at"] or "", reverse=True)
    return out


def _stations(warehouse: str | None, settings: Config, now: dt.datetime) -> list[dict]:
    """The configured packing stations (of the warehouse), each with its open and held
    pack sessions, its label printer's live state and that printer's print queue."""
    stations = [st for st in settings.setup.stations.values()
                if warehouse is None or st.warehouse == warehouse]
    if not stations:
        return []
    names = [st.name for st in stations]
    sessions: dict[str, dict[str, int]] = {}
    for station, state, n in select_in(
            "SELECT station, state, COUNT(*) FROM pack_session WHERE state IN ('open', 'held') "
            "AND station IN ({in}) GROUP BY station, state", names):
        sessions.setdefault(station, {})[state] = n
    printers = dict(settings.printers or {})
    wanted = {st.printer: printers.get(st.printer, "") for st in stations}
    states = {p["name"]: p for p in printer_state.for_printers(wanted, now=now)}
    queues = print_queue.open_jobs_by_printer()
    out = []
    for st in sorted(stations, key=lambda s: s.name):
        p = states.get(st.printer, {})
        url = wanted.get(st.printer, "")
        out.append({"station": st.name, "warehouse": st.warehouse,
                    "open_sessions": sessions.get(st.name, {}).get("open", 0),
                    "held_sessions": sessions.get(st.name, {}).get("held", 0),
                    "printer": {"name": st.printer, "state": p.get("state", "unknown"),
                                "faults": p.get("faults", []), "stale": p.get("stale", True),
                                "checked_at": p.get("checked_at"),
                                "jobs": queues.get(url, {"queued": 0, "sending": 0})}})
    return out


def _backorders(wh_id: int | None) -> dict:
    """Backordered orders and the SKUs they wait for (most units missing first)."""
    wh, params = _where_wh(wh_id, "o.warehouse_id")
    skus = [{"sku": sku, "units": units, "orders": orders} for sku, units, orders in execute(
        "SELECT l.sku, SUM(l.backordered), COUNT(DISTINCT l.order_id) FROM sales_order o "
        "JOIN order_line l ON l.order_id = o.id WHERE o.status = 'backordered' "
        f"AND l.backordered > 0{wh} GROUP BY l.sku ORDER BY 2 DESC, l.sku LIMIT ?",
        (*params, LIST_MAX)).fetchall()]
    orders = execute(f"SELECT COUNT(*) FROM sales_order o WHERE o.status = 'backordered'{wh}",
                     params).fetchone()[0]
    return {"orders": orders, "skus": skus}


def _exceptions(now: dt.datetime) -> dict:
    """Open and acknowledged exceptions by severity, and how many are overdue."""
    by = {s: 0 for s in SEVERITIES}
    for severity, n in execute("SELECT severity, COUNT(*) FROM wms_exception WHERE state IN "
                               "('open', 'acknowledged') GROUP BY severity").fetchall():
        by[severity] = by.get(severity, 0) + n
    overdue = execute("SELECT COUNT(*) FROM wms_exception WHERE state IN ('open', "
                      "'acknowledged') AND due_at < ?", (clock.naive_utc(now),)).fetchone()[0]
    return {"open": sum(by.values()), "by_severity": by, "overdue": overdue}
