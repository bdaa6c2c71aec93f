"""A packing slip and an invoice printed through a real, private CUPS (the `cups` fixture of
test_printers.py: its own cupsd, config, socket and spool) on a raw queue whose device is
`socket://` to a plain TCP listener standing in for a document printer. (FIELD-NOTES: the
`file:` backend writes nothing for raw queues.)

With CI=true a missing cupsd/lpadmin or CJK font fails (need()); locally those tests skip.
"""
from __future__ import annotations

import datetime as dt
import socket
import subprocess
import threading
from decimal import Decimal

import pytest

from printers.documents import (
    FontMissing,
    Invoice,
    InvoiceLine,
    PackingSlip,
    SlipLine,
    build_invoice,
    build_packing_slip,
    find_fonts,
    print_document,
)
from printers.labels import Address
from printers.status import PrinterFault
from tests.conftest import need
from tests.integration import test_printers
from tests.integration.test_printers import add_queue, queued_jobs

# the private cupsd of test_printers.py (a module-scoped fixture: this module gets its own)
cups, cups_env = test_printers.cups, test_printers.cups_env

SENDER = Address("Wavepack", ("1 Dock Road",), "Leeds", "LS1 1AA", country="GB")
SHIP_TO = Address("王小明", ("上海市浦东新区世纪大道100号",), "上海", "200120", country="CN")


class DocumentPrinter:
    """A TCP listener that keeps the bytes of each connection (one CUPS job each)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.arrived = threading.Condition()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            chunks = []
            with conn:
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            with self.arrived:
                self.jobs.append(b"".join(chunks))
                self.arrived.notify_all()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def document_printer():
    printer = DocumentPrinter()
    yield printer
    printer.close()


@pytest.fixture(scope="module")
def fonts():
    try:
        return find_fonts()
    except FontMissing as err:
        need(False, f"a CJK font (Debian fonts-noto-cjk or fonts-wqy-zenhei): {err}")


def packing_slip_pdf(fonts) -> bytes:
    slip = PackingSlip(SENDER, SHIP_TO, 2**64 - 1, dt.date(2026, 11, 23),
                       (SlipLine("TEA-GRN-100", "绿茶 Green tea", 3),), 1, 1)
    return build_packing_slip(slip, page_size="A4", fonts=fonts)


def test_packing_slip_and_invoice_reach_the_printer_byte_for_byte(cups_env, document_printer,
                                                                  fonts):
    add_queue(cups_env, "docs1", document_printer.port)
    slip = packing_slip_pdf(fonts)
    invoice = build_invoice(Invoice(
        SENDER, SHIP_TO, "INV-1", dt.date(2026, 11, 23), 2**64 - 1, "CNY",
        (InvoiceLine("TEA-GRN-100", "绿茶", Decimal("19.99"), 3),)), fonts=fonts)

    first = print_document(slip, "cups://docs1", timeout=20)
    second = print_document(invoice, "cups://docs1", timeout=20)

    assert first.job_id.startswith("docs1-") and second.job_id.startswith("docs1-")
    assert first.job_id != second.job_id
    assert first.bytes_sent == len(slip) and first.status_after.ready
    assert queued_jobs(cups_env, "docs1") == ""          # print_document waited for CUPS
    assert document_printer.jobs == [slip, invoice]       # raw queue: the PDFs unchanged
    assert all(job.startswith(b"%PDF-") for job in document_printer.jobs)


def test_stopped_queue_prints_nothing(cups_env, document_printer, fonts):
    add_queue(cups_env, "docs2", document_printer.port)
    subprocess.run(["cupsdisable", "-r", "paper jam in tray 2", "docs2"], env=cups_env,
                   check=True)
    with pytest.raises(PrinterFault) as err:
        print_document(packing_slip_pdf(fonts), "cups://docs2", timeout=10)
    assert err.value.faults == ["queue_stopped"] and "paper jam" in str(err.value)
    assert queued_jobs(cups_env, "docs2") == "" and document_printer.jobs == []


def test_rejecting_queue_is_a_fault(cups_env, document_printer, fonts):
    add_queue(cups_env, "docs3", document_printer.port)
    subprocess.run(["cupsreject", "docs3"], env=cups_env, check=True)
    with pytest.raises(PrinterFault) as err:
        print_document(packing_slip_pdf(fonts), "cups://docs3", timeout=10)
    assert "queue_rejecting" in err.value.faults
    assert document_printer.jobs == []


def test_missing_queue_is_a_fault(cups_env, fonts):
    with pytest.raises(PrinterFault, match="does not exist"):
        print_document(packing_slip_pdf(fonts), "cups://nosuchdocs", timeout=10)


def test_printer_that_never_answers_gets_the_job_cancelled(cups_env, fonts):
    """The device refuses connections: not reported printed, and cancelled so that it
    cannot come out later next to a retried one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]      # bound, never listening: connection refused
        add_queue(cups_env, "docs4", port)
        with pytest.raises(PrinterFault, match="cancelled"):
            print_document(packing_slip_pdf(fonts), "cups://docs4", timeout=3)
    assert queued_jobs(cups_env, "docs4") == ""
