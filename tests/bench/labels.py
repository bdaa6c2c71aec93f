"""Label build benchmark: ZPL of the shipping label, SSCC label and returns slip.

    python -m tests.bench.labels

Each row times one call N times (after a warm-up) and reports median and p99. The baseline,
measured in the same run, is a plain ``str.format`` of the same shipping layout with the raw
values: no validation, no escaping, no Jinja. Target (issue W3): label build <= 5 ms median.
A Chinese address without a font on the printer is drawn with Pillow and sent as ^GF graphics
(issue W7): its own row, target <= 50 ms median (one label per parcel packed), fewer calls.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from printers.labels import (
    Address, LabelFont, ReturnsSlip, ShippingLabel, SsccLabel, build_returns_slip,
    build_shipping_label, build_sscc_label, make_sscc, zpl_text,
)

from .common import median, p99, print_rows

N = 3000
WARMUP = 200
TARGET = 0.005      # seconds, median of a label build
DRAWN_TARGET = 0.050   # seconds, median of a label whose CJK lines are drawn as graphics
N_DRAWN = 300

SENDER = Address("Wavepack Ltd", ("12 Dock Road", "Unit 4"), "Leeds", "LS1 1AA", country="GB")
RECIPIENT = Address("王小明 ^ Jo~hn_Doe", ("浦东新区 世纪大道100号", "5楼 501室"), "上海市",
                    "200120", region="上海", country="CN", phone="+86 138 0000 0000",
                    company="某某贸易有限公司")
LATIN = Address("John Doe ^ Jo~hn_Doe", ("12 Century Avenue", "Floor 5, Room 501"), "Shanghai",
                "200120", region="Shanghai", country="CN", phone="+86 138 0000 0000",
                company="Acme Trading Co. Ltd")
SSCC = make_sscc(1, "0614141", 123456789)

PLAIN = ("^XA^CI28^PW812^LL1218^FO30,40^A0N,22,22^FD{s0}^FS^FO30,64^A0N,22,22^FD{s1}^FS"
         "^FO30,88^A0N,22,22^FD{s2}^FS^FO30,248^A0N,42,42^FD{name}^FS"
         "^FO30,296^A0N,30,30^FD{r0}^FS^FO30,330^A0N,30,30^FD{r1}^FS^FO30,364^A0N,30,30^FD{r2}^FS"
         "^FO30,398^A0N,30,30^FD{r3}^FS^FO30,432^A0N,30,30^FD{phone}^FS"
         "^FO30,584^A0N,40,40^FD{carrier}^FS^FO30,630^A0N,30,30^FD{service}^FS"
         "^FO540,584^A0N,40,40^FD{n} / {m}^FS^FO540,630^A0N,30,30^FD{weight}^FS"
         "^FO30,668^A0N,28,28^FDOrder {order}^FS^FO60,742^BY3,3.0,140^BCN,140,Y,N,N,A"
         "^FD{tracking}^FS^FO90,966^BY4,3.0,180^BCN,180,N,N,N,N^FD>;>800{sscc}^FS"
         "^FO30,1152^A0N,30,30^FD(00) {sscc}^FS^FO30,1192^A0N,18,18^FDjob {job}^FS^XZ")


def shipping(recipient: Address = LATIN) -> ShippingLabel:
    return ShippingLabel(SENDER, recipient, 18446744073709551615, "DHL", "Express 12:00",
                         "1Z999AA10123456784", SSCC, 1234, 1, 2, job_id="pj-123456")


def plain_fill() -> str:
    r = LATIN
    return PLAIN.format(s0=SENDER.name, s1=SENDER.lines[0], s2=SENDER.city, name=r.name,
                        r0=r.company, r1=r.lines[0], r2=r.lines[1], r3=r.city, phone=r.phone,
                        carrier="DHL", service="Express 12:00", n=1, m=2, weight="1.234 kg",
                        order=18446744073709551615, tracking="1Z999AA10123456784", sscc=SSCC,
                        job="pj-123456")


def escape_only() -> list[str]:
    r = LATIN
    return [zpl_text(t) for t in (SENDER.name, *SENDER.lines, SENDER.city, r.name, r.company,
                                  *r.lines, r.city, r.phone, "DHL", "Express 12:00")]


def timed(fn: Callable[[], Any], n: int = N) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def rows() -> list[dict[str, Any]]:
    """what, n, median, p99, unit, ratio (vs the plain format fill), note."""
    label, chinese = shipping(), shipping(RECIPIENT)
    font = LabelFont("E:NOTOSC.TTF")
    sscc_label = SsccLabel(SSCC, SENDER, description="Pallet 3 of 7", item_count=48, job_id=77)
    slip = ReturnsSlip(18446744073709551615, "RMA-2026-0001", LATIN, SENDER,
                       reason="too big", job_id=78)
    cases: list[tuple[str, Callable[[], Any], float | None]] = [
        ("baseline: str.format, raw values", plain_fill, None),
        ("escape customer fields only (zpl_text)", escape_only, None),
        ("shipping label, Latin address: build_shipping_label",
         lambda: build_shipping_label(label), TARGET),
        ("shipping label, Chinese address, CJK font on printer (text)",
         lambda: build_shipping_label(chinese, font), TARGET),
        ("shipping label, Chinese address drawn as ^GF (no printer font)",
         lambda: build_shipping_label(chinese), DRAWN_TARGET),
        ("shipping label: dataclasses + build", lambda: build_shipping_label(shipping()), TARGET),
        ("SSCC label: build_sscc_label", lambda: build_sscc_label(sscc_label), TARGET),
        ("returns slip: build_returns_slip", lambda: build_returns_slip(slip), TARGET),
    ]
    base = None
    out = []
    for what, fn, target in cases:
        n = N if target != DRAWN_TARGET else N_DRAWN
        times = timed(fn, n)
        med = median(times)
        base = base if base is not None else med
        note = ""
        if target is not None:
            note = (f"target <= {target * 1000:.0f} ms median: "
                    + ("ok" if med <= target else "MISSED"))
        out.append({"what": what, "n": n, "median": med, "p99": p99(times), "unit": "s",
                    "ratio": med / base, "note": note})
    return out


def main() -> int:
    """Print the table and the command that produced it; exit 1 if a build misses the target."""
    table = rows()
    print_rows(table, f"ratio: vs the plain str.format baseline of the same run; {N} calls "
               f"each after {WARMUP} warm-up calls", "tests.bench.labels")
    return 1 if any("MISSED" in r["note"] for r in table) else 0


if __name__ == "__main__":
    sys.exit(main())
