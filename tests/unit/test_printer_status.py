"""~HS reply parsing: the three STX…ETX frames, faults, and malformed replies."""
from __future__ import annotations

import pytest

from printers.drivers import BadPrinterUrl, CupsDriver, FileDriver, TcpDriver, open_printer
from printers.status import (
    PrinterStatus,
    StatusParseError,
    format_host_status,
    parse_host_status,
    reply_complete,
    split_frames,
)

# a ready printer, as the ZPL II guide lays the frames out (label length 1218 dots,
# tear-off mode, 7 labels left in the batch, 2 graphics stored)
READY = (b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n"
         b"\x02001,0,0,0,1,2,6,0,00000007,1,002\x03\r\n"
         b"\x021234,0\x03\r\n")


def hs(one: str = "030,0,0,1218,000,0,0,0,000,0,0,0",
       two: str = "001,0,0,0,1,2,6,0,00000007,1,002", three: str = "1234,0") -> bytes:
    return b"".join(b"\x02" + f.encode() + b"\x03\r\n" for f in (one, two, three))


def test_ready_printer():
    status = parse_host_status(READY)
    assert status.ready and status.faults == []
    assert status.label_length_dots == 1218
    assert status.labels_remaining == 7
    assert status.graphics_stored == 2
    assert status.thermal_transfer and status.print_mode == "2"


@pytest.mark.parametrize(("one", "two", "fault"), [
    ("030,1,0,1218,000,0,0,0,000,0,0,0", None, "paper_out"),
    ("030,0,1,1218,000,0,0,0,000,0,0,0", None, "paused"),
    ("030,0,0,1218,000,1,0,0,000,0,0,0", None, "buffer_full"),
    ("030,0,0,1218,000,0,0,0,000,1,0,0", None, "corrupt_ram"),
    ("030,0,0,1218,000,0,0,0,000,0,1,0", None, "under_temperature"),
    ("030,0,0,1218,000,0,0,0,000,0,0,1", None, "over_temperature"),
    (None, "001,0,1,0,1,2,6,0,00000000,1,000", "head_open"),
    (None, "001,0,0,1,1,2,6,0,00000000,1,000", "ribbon_out"),
])
def test_each_fault_flag(one, two, fault):
    kwargs = {k: v for k, v in (("one", one), ("two", two)) if v is not None}
    status = parse_host_status(hs(**kwargs))
    assert status.faults == [fault]
    assert not status.ready


def test_several_faults_most_urgent_first():
    status = parse_host_status(hs(one="030,1,1,1218,003,0,0,1,000,0,0,0",
                                  two="001,0,1,0,0,2,6,0,00000000,1,000"))
    assert status.faults == ["paper_out", "head_open", "paused"]
    assert status.formats_in_buffer == 3 and status.partial_format


def test_partial_format_and_label_waiting_are_state_not_faults():
    status = parse_host_status(hs(one="030,0,0,1218,000,0,0,1,000,0,0,0",
                                  two="001,0,0,0,0,1,6,1,00000001,1,000"))
    assert status.partial_format and status.label_waiting
    assert status.ready


def test_extra_fields_from_newer_firmware_are_ignored():
    status = parse_host_status(hs(one="030,0,1,1218,000,0,0,0,000,0,0,0,9,9",
                                  three="1234,0,1"))
    assert status.faults == ["paused"]


def test_bytes_around_and_between_frames_are_skipped():
    assert parse_host_status(b"\r\n" + READY.replace(b"\r\n", b"") + b"\r\n").ready


@pytest.mark.parametrize("reply", [
    b"",                                          # nothing
    READY[:READY.index(b"\x021234")],             # two frames
    READY + b"\x021234,0\x03",                    # four frames
    READY[:-5],                                   # last frame without ETX
    READY.replace(b"\x03", b"", 1),               # STX inside a frame
    hs(one="030,0,0,1218,000,0,0,0"),             # frame 1 short
    hs(two="001,0,0,0"),                          # frame 2 short
    hs(three="1234"),                             # frame 3 short
    hs(one="030,2,0,1218,000,0,0,0,000,0,0,0"),   # flag not 0/1
    hs(one="030,x,0,1218,000,0,0,0,000,0,0,0"),
    hs(one="030,0,0,12a8,000,0,0,0,000,0,0,0"),   # label length not digits
    hs(two="001,0,0,0,1,2,6,0,-0000007,1,002"),   # labels remaining not digits
    READY.replace(b"1234", b"12\xff4"),           # not ASCII
])
def test_malformed_replies_raise(reply):
    with pytest.raises(StatusParseError):
        parse_host_status(reply)


def test_split_frames_and_completeness():
    assert split_frames(READY) == ["030,0,0,1218,000,0,0,0,000,0,0,0",
                                   "001,0,0,0,1,2,6,0,00000007,1,002", "1234,0"]
    assert reply_complete(READY)
    assert not reply_complete(READY[:-4])


def test_formatted_status_parses_back():
    state = PrinterStatus(paper_out=True, head_open=True, formats_in_buffer=2,
                          partial_format=True, labels_remaining=12, label_length_dots=1218)
    again = parse_host_status(format_host_status(state))
    assert again.faults == ["paper_out", "head_open"]
    assert (again.formats_in_buffer, again.labels_remaining, again.partial_format) == (2, 12, True)


def test_queue_faults_add_to_flags():
    status = PrinterStatus(paused=True).with_faults("queue_stopped", message="jammed")
    assert status.faults == ["paused", "queue_stopped"]
    assert status.to_dict()["message"] == "jammed"
    assert status.to_dict()["ready"] is False


@pytest.mark.parametrize(("url", "kind", "attrs"), [
    ("tcp://10.0.0.7:9101", TcpDriver, {"host": "10.0.0.7", "port": 9101}),
    ("tcp://printer-3", TcpDriver, {"host": "printer-3", "port": 9100}),
    ("cups://label1", CupsDriver, {"queue": "label1"}),
    ("file:///tmp/labels.zpl", FileDriver, {}),
])
def test_open_printer_by_scheme(url, kind, attrs):
    printer = open_printer(url, timeout=1.5)
    assert isinstance(printer, kind)
    for name, value in attrs.items():
        assert getattr(printer, name) == value


@pytest.mark.parametrize("url", ["http://x", "tcp://", "tcp://h:port", "cups://",
                                 "cups://a b", "file://host/x", "label1", ""])
def test_open_printer_rejects_bad_urls(url):
    with pytest.raises(BadPrinterUrl):
        open_printer(url)
