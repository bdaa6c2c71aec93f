"""Printer status: the `~HS` (host status) reply of a ZPL printer, parsed.

`~HS` answers three frames, each `<STX>fields<ETX><CR><LF>` (ZPL II Programming Guide,
"~HS Host Status Return"):

    1  aaa,b,c,dddd,eee,f,g,h,iii,j,k,l
       interface settings, paper out, paused, label length (dots), formats in the
       receive buffer, buffer full, diagnostic mode, partial format in progress,
       unused, corrupt RAM, under temperature, over temperature
    2  mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www
       function settings, unused, head up (open), ribbon out, thermal transfer mode,
       print mode, print width mode, label waiting (peel-off), labels remaining in
       batch, format while printing, graphics stored
    3  xxxx,y
       password, static RAM installed

Some printers answer nothing at all when faulted: no reply within the timeout is
"offline" (`PrinterOffline`), never "ready". Fields past the documented ones (newer
firmware) are ignored; missing or non-numeric ones make the reply malformed.
"""
from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass, field, replace

STX, ETX = b"\x02", b"\x03"
HS_COMMAND = b"~HS"
FRAME_FIELDS = (12, 11, 2)   # documented field count of frames 1, 2, 3

# flag -> fault name, in the order the station shows them
_FAULT_FLAGS = (
    ("paper_out", "paper_out"),
    ("head_open", "head_open"),
    ("ribbon_out", "ribbon_out"),
    ("paused", "paused"),
    ("buffer_full", "buffer_full"),
    ("under_temperature", "under_temperature"),
    ("over_temperature", "over_temperature"),
    ("corrupt_ram", "corrupt_ram"),
)


class PrinterError(Exception):
    """A printer could not be used; `code` is stable for callers and the station UI."""

    code = "printer_error"


class BadPrinterUrl(PrinterError, ValueError):
    code = "bad_printer_url"


class StatusParseError(PrinterError, ValueError):
    """The ~HS reply is not three well-formed frames."""

    code = "bad_status_reply"


class PrinterOffline(PrinterError):
    """No connection, or no (complete) reply within the timeout."""

    code = "offline"


class PrinterFault(PrinterError):
    """The printer answered and reports faults (paper out, paused, a stopped queue...)."""

    code = "fault"

    def __init__(self, message: str, faults: list[str], status: PrinterStatus | None = None):
        super().__init__(message)
        self.faults = list(faults)
        self.status = status


@dataclass(frozen=True)
class PrinterStatus:
    """One parsed ~HS reply (or, for queues and files, the equivalent state)."""

    paper_out: bool = False
    paused: bool = False
    label_length_dots: int = 0
    formats_in_buffer: int = 0
    buffer_full: bool = False
    diagnostic_mode: bool = False
    partial_format: bool = False
    corrupt_ram: bool = False
    under_temperature: bool = False
    over_temperature: bool = False
    head_open: bool = False
    ribbon_out: bool = False
    thermal_transfer: bool = False
    print_mode: str = ""
    label_waiting: bool = False
    labels_remaining: int = 0
    graphics_stored: int = 0
    # faults that are not ~HS flags (a stopped CUPS queue, a held job) and why
    extra_faults: tuple[str, ...] = field(default=())
    message: str = ""

    @property
    def faults(self) -> list[str]:
        """What stops the printer from printing now, most urgent first."""
        flags = [name for attr, name in _FAULT_FLAGS if getattr(self, attr)]
        return flags + list(self.extra_faults)

    @property
    def ready(self) -> bool:
        return not self.faults

    def with_faults(self, *faults: str, message: str = "") -> PrinterStatus:
        kept = tuple(f for f in self.extra_faults if f not in faults)
        return replace(self, extra_faults=kept + tuple(faults),
                       message="; ".join(m for m in (self.message, message) if m))

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra_faults")
        return {"online": True, "ready": self.ready, "faults": self.faults, **data}


def split_frames(reply: bytes) -> list[str]:
    """The text of each complete STX…ETX frame; bytes between frames (CR LF) are skipped."""
    frames: list[str] = []
    pos = 0
    while True:
        start = reply.find(STX, pos)
        if start < 0:
            return frames
        end = reply.find(ETX, start + 1)
        if end < 0:
            raise StatusParseError("~HS reply: frame without ETX (reply cut short)")
        inner = reply[start + 1:end]
        if STX in inner:
            raise StatusParseError("~HS reply: STX inside a frame")
        try:
            frames.append(inner.decode("ascii"))
        except UnicodeDecodeError as err:
            raise StatusParseError("~HS reply: non-ASCII bytes in a frame") from err
        pos = end + 1


def reply_complete(reply: bytes) -> bool:
    """True once three frames have arrived (what a reader waits for)."""
    return reply.count(ETX) >= 3


def _fields(frame: str, number: int) -> list[str]:
    fields = [f.strip() for f in frame.split(",")]
    want = FRAME_FIELDS[number - 1]
    if len(fields) < want:
        raise StatusParseError(
            f"~HS frame {number}: {len(fields)} fields, expected {want}: {frame!r}")
    return fields


def _flag(value: str, name: str) -> bool:
    if value not in ("0", "1"):
        raise StatusParseError(f"~HS {name} flag is {value!r}, expected 0 or 1")
    return value == "1"


def _number(value: str, name: str) -> int:
    if not value.isdigit():
        raise StatusParseError(f"~HS {name} is {value!r}, expected digits")
    return int(value)


def parse_host_status(reply: bytes) -> PrinterStatus:
    """Parse the three ~HS frames. Raises StatusParseError on anything malformed."""
    frames = split_frames(reply)
    if len(frames) != 3:
        raise StatusParseError(f"~HS reply has {len(frames)} frames, expected 3")
    f1, f2 = _fields(frames[0], 1), _fields(frames[1], 2)
    _fields(frames[2], 3)
    return PrinterStatus(
        paper_out=_flag(f1[1], "paper out"),
        paused=_flag(f1[2], "pause"),
        label_length_dots=_number(f1[3], "label length"),
        formats_in_buffer=_number(f1[4], "formats in buffer"),
        buffer_full=_flag(f1[5], "buffer full"),
        diagnostic_mode=_flag(f1[6], "diagnostic mode"),
        partial_format=_flag(f1[7], "partial format"),
        corrupt_ram=_flag(f1[9], "corrupt RAM"),
        under_temperature=_flag(f1[10], "under temperature"),
        over_temperature=_flag(f1[11], "over temperature"),
        head_open=_flag(f2[2], "head up"),
        ribbon_out=_flag(f2[3], "ribbon out"),
        thermal_transfer=_flag(f2[4], "thermal transfer"),
        print_mode=f2[5],
        label_waiting=_flag(f2[7], "label waiting"),
        labels_remaining=_number(f2[8], "labels remaining"),
        graphics_stored=_number(f2[10], "graphics stored"),
    )


def format_host_status(status: PrinterStatus) -> bytes:
    """The ~HS reply a printer in this state sends (the fake printer answers with it)."""
    b = lambda v: "1" if v else "0"  # noqa: E731
    s = status
    one = (f"030,{b(s.paper_out)},{b(s.paused)},{s.label_length_dots:04d},"
           f"{s.formats_in_buffer:03d},{b(s.buffer_full)},{b(s.diagnostic_mode)},"
           f"{b(s.partial_format)},000,{b(s.corrupt_ram)},{b(s.under_temperature)},"
           f"{b(s.over_temperature)}")
    two = (f"001,0,{b(s.head_open)},{b(s.ribbon_out)},{b(s.thermal_transfer)},"
           f"{s.print_mode or '2'},6,{b(s.label_waiting)},{s.labels_remaining:08d},1,"
           f"{s.graphics_stored:03d}")
    three = "1234,0"
    return b"".join(STX + f.encode("ascii") + ETX + b"\r\n" for f in (one, two, three))


def query_status(host: str, port: int, timeout: float) -> PrinterStatus:
    """Connect, send ~HS, read the three frames. No (complete) reply in `timeout`
    seconds, or no connection: PrinterOffline."""
    deadline = time.monotonic() + timeout
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        raise PrinterOffline(f"printer {where} unreachable: {err}") from err
    reply = b""
    try:
        sock.sendall(HS_COMMAND)
        while not reply_complete(reply):
            left = deadline - time.monotonic()
            if left <= 0:
                raise PrinterOffline(f"printer {where}: no ~HS reply within {timeout:g} s")
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                raise PrinterOffline(f"printer {where} closed the connection before "
                                     "answering ~HS")
            reply += chunk
    except TimeoutError as err:
        raise PrinterOffline(f"printer {where}: no ~HS reply within {timeout:g} s") from err
    except OSError as err:
        raise PrinterOffline(f"printer {where}: {err}") from err
    finally:
        sock.close()
    return parse_host_status(reply)
