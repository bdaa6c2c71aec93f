"""The soak's report: the tests/bench table (what, n, median, p99, rate, ratio against the
bare PostgreSQL commit measured beside the load), errors by kind, the stored-once checks,
CPU and memory per process at start and end, the goals, and the command."""
from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys

from ..common import Row, loadavg, median, p99, server_versions
from .soak import P99_MAX_MS, WEB_RSS_MAX_MB, Result


def _ms_row(what: str, lat_ms: list[float], base_p99: float, rate: float | None = None,
            unit: str = "req/s") -> Row:
    m, q = median(lat_ms) / 1000, p99(lat_ms) / 1000
    ratio = f"p99 {q * 1000 / base_p99:.1f}× commit" if lat_ms and base_p99 else "-"
    return Row(what, "postgresql", len(lat_ms), m, q, rate, ratio, "", "ok (informative)",
               unit=unit)


def rows(res: Result) -> list[Row]:
    f, hh, lat = res.facts, res.facts["hh"], res.facts["lat"]
    floor = f["floor"]
    base = p99(floor.lat_ms)
    scans = [m.get("scan", {}) for m in res.server]
    n = sum(s.get("n", 0) for s in scans)
    s_med = max((s.get("median_ms", 0.0) for s in scans), default=float("nan"))
    s_p99 = max((s.get("p99_ms", 0.0) for s in scans), default=float("nan"))
    wall = res.wall or 1.0
    met = s_p99 <= P99_MAX_MS
    out = [Row(f"scan verdict, server side ({len(scans)} web processes: the larger median "
               "and p99)", "postgresql", n, s_med / 1000, s_p99 / 1000, hh["verdict_acks"] / wall,
               f"p99 {s_p99 / base:.1f}× commit" if base else "-", f"p99 ≤ {P99_MAX_MS:g} ms",
               "PASS" if met else "FAIL (above target)", unit="verdicts/s"),
           _ms_row("scan verdict, at the handheld (round trip through nginx)", hh["lat_ms"],
                   base, hh["verdict_acks"] / wall, "verdicts/s"),
           _ms_row("pack: open session by order ref", lat["open"], base),
           _ms_row("pack: item scan", lat["scan"], base),
           _ms_row("pack: confirm (round trip)", lat["confirm"], base),
           _ms_row("pack: confirm sent → label at the station's printer", f["label_ms"], base),
           _ms_row("storefront webhook orders/paid, signed (incl. re-deliveries)",
                   lat["webhook"], base, (f["webhooks"] + f["resent"]) / wall),
           _ms_row("carrier tracking events POST", lat["tracking"], base,
                   len(lat["tracking"]) / wall),
           _ms_row("console whoami", lat["console"], base),
           Row(f"baseline: PostgreSQL INSERT + COMMIT alone, {floor.RATE}/s beside the load",
               "postgresql", len(floor.lat_ms), median(floor.lat_ms) / 1000, base / 1000, None,
               "1.0 (baseline)", "", "ok (the floor)")]
    return out


def _cpu_pct(res: Result, name: str, a: int, b: int) -> str:
    s0, s1 = res.samples[a], res.samples[b]
    if name not in s0.cpu or name not in s1.cpu or s1.at <= s0.at:
        return "-"
    return f"{(s1.cpu[name] - s0.cpu[name]) / (s1.at - s0.at):.0%}"


def processes(res: Result) -> list[str]:
    """CPU (% of one core) over the first and the last sampling interval and the whole
    run; memory (RSS, PSS for PostgreSQL) at start, end, the largest seen, growth."""
    if len(res.samples) < 2:
        return ["(no samples)"]
    last = len(res.samples) - 1
    head = ["process", "CPU first", "CPU last", "CPU run", "MB start", "MB end", "MB max",
            "growth", "goal"]
    body = []
    for name in res.samples[-1].rss:
        rss = [s.rss.get(name, 0.0) for s in res.samples]
        goal = ""
        if name.startswith("web"):
            goal = f"≤ {WEB_RSS_MAX_MB:g} MB: " + ("PASS" if max(rss) <= WEB_RSS_MAX_MB
                                                     else "FAIL")
        body.append([name, _cpu_pct(res, name, 0, 1), _cpu_pct(res, name, last - 1, last),
                     _cpu_pct(res, name, 0, last), f"{rss[0]:.0f}", f"{rss[-1]:.0f}",
                     f"{max(rss):.0f}", f"{rss[-1] - rss[0]:+.0f}", goal])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) if i in (0, 8) else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(r, widths))) + " |"
    return [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(fmt(r) for r in body)]


def print_report(res: Result, argv: list[str], load_before: str, seconds: float) -> None:
    from ..run import _commit, _table
    p = res.params
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"wavepack soak (W8 load) — {when}, commit {_commit()}, Python "
          f"{platform.python_version()}, {server_versions()}, {os.cpu_count()} CPUs, load "
          f"average at start {load_before}, at end {loadavg()}\n")
    print(f"{p.minutes:g} min against `wavepack serve-prod` ({p.web_processes} web "
          f"processes, 1 worker, nginx; PostgreSQL, Redis): {p.handhelds} handhelds × 1 scan/"
          f"{p.period_s:g} s, {p.stations} pack stations × 1 order/{p.pack_every_s:g} s, "
          f"{p.consoles} consoles, webhooks {p.webhooks_per_s:g}/s, tracking events "
          f"{p.tracking_per_s:g}/s\n")
    table = rows(res)
    print(_table(table))
    print()
    f, hh = res.facts, res.facts["hh"]
    errors = sum(res.errors.values())
    print(f"errors: {errors}" + ("" if not errors else " — by kind:"))
    for kind, n in sorted(res.errors.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>7,}  {kind}")
    print("\nstored once:")
    for what, want, got in res.checks:
        print(f"  {'ok ' if want == got else 'NO '} {what}: expected {want:,}, found {got:,}")
    print("\nprocesses (CPU in % of one core over the first and last "
          f"{15:g} s sample and the whole run; memory RSS, PostgreSQL backends PSS):")
    for line in processes(res):
        print("  " + line)
    floor = f["floor"]
    ops = (hh["verdict_acks"] + f["webhooks"] + f["resent"] + len(f["lat"]["tracking"])
           + len(f["lat"]["open"]) + len(f["lat"]["scan"]) + len(f["lat"]["confirm"])
           + len(f["lat"]["console"]))
    s0, s1 = res.samples[0], res.samples[-1]
    server = sum(s1.cpu[k] - s0.cpu[k] for k in s1.cpu
                 if k.startswith(("web", "worker", "nginx", "postgres")) and k in s0.cpu)
    drivers = sum(f["driver_cpu"].values())
    print(f"\n- CPU per operation (every scan, request and console call: {ops:,}): the "
          f"stack (web, worker, nginx, PostgreSQL backends) {server / max(ops, 1) * 1000:.2f} "
          f"ms; a bare commit's backend {floor.cpu_s / max(len(floor.lat_ms), 1) * 1000:.2f} "
          f"ms (the floor)")
    print(f"- the load drivers used {drivers:.0f} CPU s in {res.wall:.0f} s "
          f"({drivers / max(res.wall, 1):.0%} of one core): "
          + ", ".join(f"{k} {v / max(res.wall, 1):.0%}" for k, v in f["driver_cpu"].items())
          + f"; sends started over 1 s late: {f['late'] + hh['late']:,}")
    per = "; ".join(f"web{i + 1}: n {m.get('scan', {}).get('n', 0):,}, median "
                    f"{m.get('scan', {}).get('median_ms')} ms, p99 "
                    f"{m.get('scan', {}).get('p99_ms')} ms, max {m.get('scan', {}).get('max_ms')} ms"
                    for i, m in enumerate(res.server))
    print(f"- server side per process (GET /api/v1/metrics/handheld on each): {per}")
    print(f"- verdicts {hh['verdict_acks']:,} ({hh['ok_items']:,} ok items); webhooks "
          f"{f['webhooks']:,} new + {f['resent']:,} re-deliveries; tracking events "
          f"{f['events']:,} (+ {f['event_resends']:,} requests sent again); pack confirms "
          f"{len(f['confirmed']):,}; seeding took {res.seed_s:.0f} s")
    for note in res.notes:
        print(f"- {note}")
    mem = [r for r in processes(res)[2:] if r.startswith("| web")]
    print("\ngoals: "
          f"p99 ≤ {P99_MAX_MS:g} ms server side: {table[0].verdict.split(' ')[0]}; "
          f"0 errors: {'PASS' if not errors else 'FAIL'}; stored once: "
          f"{'PASS' if not res.failed_checks else 'FAIL'}; memory ≤ {WEB_RSS_MAX_MB:g} MB "
          f"per web process: {'FAIL' if any('FAIL' in r for r in mem) else 'PASS'} "
          "(growth end − start in the table)")
    print(f"- total {seconds:.0f} s; the machine is shared (2 cores): figures are with "
          "whatever else ran, see the load averages above")
    exe = os.path.relpath(sys.executable)
    exe = sys.executable if exe.startswith("..") else exe
    print("\ncommand: " + shlex.join([exe, "-m", "tests.bench.load", *argv]))
