"""Printer drivers against the fake ZPL printer (every mode), through the library and the
`wavepack-print` console script, and a real private CUPS (its own cupsd, config, socket
and spool; no system daemon) with a raw queue pointing at the fake printer.

With CI=true a missing cupsd/lpadmin fails (need()); locally those tests skip.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from printers.drivers import open_printer, print_checked
from printers.fake import FakePrinter
from printers.status import PrinterFault, PrinterOffline
from tests.conftest import console_script, need

LABEL = "^XA^CI28^FO50,50^A0N,40,40^FD收件人 王小明 ^FS^BCN,100,Y,N,N^FD1Z999AA10123456784^FS^XZ"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def label(n: int = 1) -> bytes:
    return LABEL.replace("王小明", f"王小明 {n}").encode("utf-8")


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = console_script("wavepack-print")
    need(Path(script).exists(), "the wavepack-print console script (make setup)")
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def printer():
    with FakePrinter() as fake:
        yield fake


@pytest.fixture
def zpl_file(tmp_path):
    path = tmp_path / "label.zpl"
    path.write_bytes(label())
    return path


# -- TCP driver, library -------------------------------------------------------------------

def test_ready_printer_takes_each_format_once(printer):
    result = print_checked(open_printer(printer.url, timeout=5), label(1) + label(2))
    assert result.bytes_sent == len(label(1) + label(2))
    assert printer.jobs == [label(1), label(2)]
    assert printer.printed == [label(1), label(2)]


@pytest.mark.parametrize("fault", ["paused", "paper_out", "head_open"])
def test_faulted_printer_gets_nothing(printer, fault):
    setattr(printer, fault, True)
    with pytest.raises(PrinterFault) as err:
        print_checked(open_printer(printer.url, timeout=5), label())
    assert err.value.faults == [fault]
    assert printer.jobs == []
    printer.resume()
    print_checked(open_printer(printer.url, timeout=5), label())
    assert printer.jobs == [label()] and printer.printed == [label()]


def test_job_sent_while_paused_waits_in_the_buffer_until_resume(printer):
    driver = open_printer(printer.url, timeout=5)
    printer.paused = True
    driver.send(label())                    # the raw send, past the status check
    state = driver.status()
    assert state.faults == ["paused"] and state.formats_in_buffer == 1
    assert printer.printed == []
    printer.resume()
    assert printer.printed == [label()] and driver.status().ready


def test_silent_printer_is_offline(printer):
    printer.silent = True
    driver = open_printer(printer.url, timeout=0.5)
    with pytest.raises(PrinterOffline, match="no ~HS reply"):
        driver.status()
    with pytest.raises(PrinterOffline):
        print_checked(driver, label())
    assert printer.jobs == [] and printer.status_requests >= 2


def test_unreachable_printer_is_offline():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]      # bound, never listening: refused
        with pytest.raises(PrinterOffline, match="unreachable"):
            open_printer(f"tcp://127.0.0.1:{port}", timeout=1).status()


def test_slow_printer_within_the_timeout_prints_once(printer):
    printer.delay_s = 0.2
    print_checked(open_printer(printer.url, timeout=5), label())
    assert printer.jobs == [label()]


def test_slow_printer_past_the_timeout_is_offline_and_gets_nothing(printer):
    printer.delay_s = 1.5
    with pytest.raises(PrinterOffline):
        print_checked(open_printer(printer.url, timeout=0.3), label())
    assert printer.jobs == []


def test_connection_dropped_mid_job(printer):
    printer.drop_after = 16
    driver = open_printer(printer.url, timeout=5)
    with pytest.raises(PrinterOffline, match="dropped"):
        print_checked(driver, label() * 20)
    assert printer.jobs == [] and printer.dropped == 1
    assert driver.status().partial_format
    printer.drop_after = None
    print_checked(driver, label())
    assert printer.jobs == [label()]
    assert not driver.status().partial_format


def test_file_driver_appends(tmp_path):
    out = tmp_path / "labels.zpl"
    driver = open_printer(f"file://{out}")
    print_checked(driver, label(1))
    print_checked(driver, label(2))
    assert out.read_bytes() == label(1) + label(2)
    with pytest.raises(PrinterOffline):
        open_printer(f"file://{tmp_path}/missing/x.zpl").status()


# -- the console script ------------------------------------------------------------------

def test_cli_status_ready(printer):
    done = cli("status", printer.url)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["ready"] is True and state["faults"] == [] and state["online"] is True
    assert state["label_length_dots"] == 1218


@pytest.mark.parametrize("fault", ["paused", "paper_out", "head_open"])
def test_cli_status_and_send_on_a_fault(printer, zpl_file, fault):
    setattr(printer, fault, True)
    done = cli("status", printer.url)
    assert done.returncode == 1
    assert json.loads(done.stdout)["faults"] == [fault]
    done = cli("send", printer.url, str(zpl_file))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: not sent") and fault in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert printer.jobs == []


def test_cli_send_prints_once(printer, zpl_file):
    done = cli("send", printer.url, str(zpl_file))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["printed"] is True
    assert printer.jobs == [label()]


def test_cli_silent_printer_exit_2(printer, zpl_file):
    printer.silent = True
    done = cli("status", printer.url, "--timeout", "0.5")
    assert done.returncode == 2
    assert json.loads(done.stdout)["faults"] == ["offline"]
    done = cli("send", printer.url, str(zpl_file), "--timeout", "0.5")
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert printer.jobs == []


def test_cli_slow_printer(printer, zpl_file):
    printer.delay_s = 0.2
    assert cli("send", printer.url, str(zpl_file)).returncode == 0
    printer.delay_s = 1.5
    assert cli("status", printer.url, "--timeout", "0.3").returncode == 2
    assert printer.jobs == [label()]


def test_cli_dropped_connection_then_retry(printer, tmp_path):
    big = tmp_path / "big.zpl"
    big.write_bytes(label() * 20)
    printer.drop_after = 16
    done = cli("send", printer.url, str(big))
    assert done.returncode == 2, done.stdout
    assert "dropped" in done.stderr and done.stdout == ""
    assert json.loads(cli("status", printer.url).stdout)["partial_format"] is True
    printer.drop_after = None
    assert cli("send", printer.url, str(big)).returncode == 0
    assert printer.jobs == [label()] * 20


def test_cli_file_url(tmp_path, zpl_file):
    out = tmp_path / "out.zpl"
    assert cli("status", f"file://{out}").returncode == 0
    assert cli("send", f"file://{out}", str(zpl_file)).returncode == 0
    assert out.read_bytes() == label()


@pytest.mark.parametrize("args", [
    ("status", "http://printer"),
    ("status", "tcp://"),
    ("send", "tcp://127.0.0.1:9", "/nonexistent/label.zpl"),
    ("send",),
    ("frobnicate",),
    (),
])
def test_cli_bad_input_is_one_error_line(args):
    done = cli(*args)
    assert done.returncode == 64
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_fake_printer_runs_as_a_module(tmp_path, zpl_file):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "printers.fake", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "fake ZPL printer on" in proc.stdout.readline()
        assert cli("send", f"tcp://127.0.0.1:{port}", str(zpl_file)).returncode == 0
        assert proc.stdout.readline().startswith("job 1: ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- a real, private CUPS ----------------------------------------------------------------

CUPSD_CONF = """\
Listen {dir}/cups.sock
LogLevel warn
Browsing No
DefaultShared No
ErrorPolicy stop-printer
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""
CUPS_FILES_CONF = """\
FileDevice Yes
ServerRoot {dir}
RequestRoot {dir}/spool
TempDir {dir}/spool/tmp
StateDir {dir}/state
CacheDir {dir}/cache
ErrorLog {dir}/log/error_log
AccessLog {dir}/log/access_log
PageLog {dir}/log/page_log
"""


@pytest.fixture(scope="module")
def cups():
    """A private cupsd on a Unix socket in a fresh directory; yields the environment
    (CUPS_SERVER) that points lpr/lpstat/lpadmin at it."""
    tools = {t: shutil.which(t, path=SBIN_PATH) for t in ("cupsd", "lpadmin", "lpr", "lpstat")}
    need(all(tools.values()), "CUPS (Debian cups cups-bsd: "
         + ", ".join(t for t, p in tools.items() if not p) + " missing)")
    # under /tmp, world-traversable: when cupsd runs as root its backends run as `lp`
    # and must read the spool (pytest's tmp dirs are 0700)
    root = Path(tempfile.mkdtemp(prefix="wp-cups-"))
    root.chmod(0o755)
    for sub in ("spool/tmp", "state", "cache", "log"):
        (root / sub).mkdir(parents=True)
    (root / "cupsd.conf").write_text(CUPSD_CONF.format(dir=root))
    files = CUPS_FILES_CONF.format(dir=root)
    if os.geteuid() == 0:
        files += "Group lp\nSystemGroup root\n"
    (root / "cups-files.conf").write_text(files)
    env = {**os.environ, "CUPS_SERVER": str(root / "cups.sock"), "LC_ALL": "C",
           "PATH": SBIN_PATH}
    log = (root / "log" / "cupsd.out").open("w")
    proc = subprocess.Popen([tools["cupsd"], "-f", "-c", str(root / "cupsd.conf"),
                             "-s", str(root / "cups-files.conf")],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        while "scheduler is running" not in subprocess.run(
                ["lpstat", "-r"], capture_output=True, text=True, env=env).stdout:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("private cupsd did not start: "
                            + (root / "log" / "cupsd.out").read_text()
                            + _read(root / "log" / "error_log"), pytrace=False)
            time.sleep(0.05)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture
def cups_env(cups, monkeypatch):
    """The private CUPS for code in this process (zebra runs lpr with our environment)."""
    for key in ("CUPS_SERVER", "LC_ALL", "PATH"):
        monkeypatch.setenv(key, cups[key])
    return cups


def add_queue(env: dict, name: str, port: int) -> None:
    done = subprocess.run(["lpadmin", "-p", name, "-E", "-v", f"socket://127.0.0.1:{port}"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def queued_jobs(env: dict, queue: str) -> str:
    return subprocess.run(["lpstat", "-W", "not-completed", "-o", queue],
                          capture_output=True, text=True, env=env).stdout


def test_cups_zebra_driver_and_cli_deliver_the_bytes(cups_env, printer, zpl_file):
    from zebra import Zebra

    add_queue(cups_env, "label1", printer.port)
    Zebra("label1").output(label(1))                        # the package alone
    assert printer.wait_for_jobs(1) == [label(1)]

    job = open_printer("cups://label1", timeout=10).send(label(2))   # the driver
    assert job and job.startswith("label1-")
    assert queued_jobs(cups_env, "label1") == ""            # send() waited for CUPS
    assert printer.jobs == [label(1), label(2)]

    done = cli("send", "cups://label1", str(zpl_file), "--timeout", "10", env=cups_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["job_id"].startswith("label1-")
    assert printer.jobs == [label(1), label(2), label()]      # byte for byte, UTF-8 kept
    assert queued_jobs(cups_env, "label1") == ""


def test_cups_status_reads_the_device_behind_the_queue(cups_env, printer, zpl_file):
    add_queue(cups_env, "label2", printer.port)
    assert cli("status", "cups://label2", env=cups_env).returncode == 0
    printer.paper_out = True
    done = cli("status", "cups://label2", env=cups_env)
    assert done.returncode == 1 and json.loads(done.stdout)["faults"] == ["paper_out"]
    done = cli("send", "cups://label2", str(zpl_file), env=cups_env)
    assert done.returncode == 1 and "paper_out" in done.stderr
    assert printer.jobs == [] and queued_jobs(cups_env, "label2") == ""


def test_cups_stopped_queue_is_a_fault(cups_env, printer, zpl_file):
    add_queue(cups_env, "label3", printer.port)
    subprocess.run(["cupsdisable", "-r", "jammed at station 4", "label3"], env=cups_env,
                   check=True)
    done = cli("status", "cups://label3", env=cups_env)
    assert done.returncode == 1
    state = json.loads(done.stdout)
    assert state["faults"] == ["queue_stopped"] and "jammed" in state["message"]
    done = cli("send", "cups://label3", str(zpl_file), env=cups_env)
    assert done.returncode == 1 and "queue_stopped" in done.stderr
    assert printer.jobs == [] and queued_jobs(cups_env, "label3") == ""


def test_cups_rejecting_queue_lpr_failure_is_caught(cups_env, printer):
    """zebra ignores lpr's exit code: the driver notices that no job was queued."""
    add_queue(cups_env, "label4", printer.port)
    subprocess.run(["cupsreject", "label4"], env=cups_env, check=True)
    with pytest.raises(PrinterFault) as err:
        open_printer("cups://label4", timeout=5).send(label())
    assert "queue_rejecting" in err.value.faults
    assert printer.jobs == []


def test_cups_missing_queue(cups_env, zpl_file):
    done = cli("send", "cups://nosuchqueue", str(zpl_file), env=cups_env)
    assert done.returncode == 1 and "does not exist" in done.stderr


def test_cups_job_that_cannot_be_delivered_is_cancelled(cups_env):
    """The device never answers: the job is not reported printed, and it is cancelled
    so that it cannot come out later next to a retried one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]     # bound, never listening: connection refused
        add_queue(cups_env, "label5", port)
        with pytest.raises(PrinterFault, match="cancelled"):
            open_printer("cups://label5", timeout=1).send(label())
        assert queued_jobs(cups_env, "label5") == ""
