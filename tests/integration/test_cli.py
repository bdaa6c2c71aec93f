"""The operator CLI, run as a user runs it: the `wavepack` script in a subprocess."""
import os
import subprocess

import pytest

from ..conftest import STOREFRONTS, console_script

WAVEPACK = console_script("wavepack")


@pytest.fixture
def cli(db_url, tmp_path):
    from ..conftest import make_app
    make_app(db_url)   # a fresh (emptied) database at this URL
    env = {**os.environ, "DATABASE_URL": db_url, "WAVEPACK_SERVER_DATA_DIR": str(tmp_path)}

    def run(*args, ok=True):
        proc = subprocess.run([WAVEPACK, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        if ok is True:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        elif ok is False:
            assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
        return proc
    return run


def test_setup_and_import_flow(cli, tmp_path):
    assert "database ready" in cli("init-db").stdout
    cli("warehouse", "add", "rtm", "--name", "Rotterdam", "--zone", "eu")
    cli("channel", "add", "phone-orders", "--kind", "native")
    cli("channel", "add", "shop", "--kind", "shopify", "--url", "https://shop.example",
        "--access-token", "shpat_test")
    cli("user", "add", "B7", "--role", "supervisor", "--pin", "4321")
    out = cli("import", "catalogue", str(STOREFRONTS / "native" / "catalogue.csv")).stdout
    assert "imported 13 products, rejected 0" in out
    stock = tmp_path / "stock.csv"
    rows = (STOREFRONTS / "native" / "catalogue.csv").read_text().splitlines()[1:]
    stock.write_text("warehouse,location,sku,quantity\n" + "".join(
        f"main,{r.split(',')[4]},{r.split(',')[0]},200\n" for r in rows))
    assert "imported 13 stock rows" in cli("import", "stock", str(stock)).stdout
    orders = str(STOREFRONTS / "native" / "orders.csv")
    dry = cli("import", "orders", orders, "--dry-run").stdout
    assert "would have created 20" in dry
    out = cli("import", "orders", orders, "--channel", "phone-orders").stdout
    assert "created 20 (invalid 0), duplicate 0, rejected 0" in out
    out = cli("import", "orders", orders).stdout
    assert "created 0 (invalid 0), duplicate 20, rejected 0" in out
    token = cli("token", "create", "--channel", "phone-orders").stdout.strip().splitlines()[-1]
    assert token.startswith("wpc_") and len(token) > 40
    staff = cli("token", "create", "--role", "supervisor").stdout.strip().splitlines()[-1]
    assert staff.startswith("wps_")


def test_bad_input_exits_non_zero_with_one_line(cli, tmp_path):
    cli("init-db")
    cases = [
        ("channel", "add", "x", "--kind", "ebay"),
        ("user", "add", "B1", "--role", "picker", "--pin", "12"),
        ("token", "create", "--channel", "nope"),
        ("token", "create"),
        ("warehouse", "add", "main", "--name", "again"),
        ("import", "orders", str(tmp_path / "missing.csv")),
        ("channel", "add", "w", "--kind", "woocommerce", "--access-token", "shpat_x"),
    ]
    for args in cases:
        proc = cli(*args, ok=False)
        assert proc.stderr.strip(), args
        assert "Traceback" not in proc.stderr, args
    bad = tmp_path / "bad.csv"
    bad.write_text("order_ref,sku\nA,B\n")
    proc = cli("import", "orders", str(bad), ok=False)   # no native channel, bad header
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


def test_import_reports_rejected_lines(cli, tmp_path):
    cli("init-db")
    cli("channel", "add", "csv", "--kind", "native")
    cli("import", "catalogue", str(STOREFRONTS / "native" / "catalogue.csv"))
    text = (STOREFRONTS / "native" / "orders.csv").read_text()
    lines = text.splitlines()
    lines[4] = lines[4].replace(",40,", ",forty,")     # WP-N-10003, first of its rows
    f = tmp_path / "orders.csv"
    f.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    proc = cli("import", "orders", str(f), ok=False)
    assert "line 5 (WP-N-10003)" in proc.stdout
    assert "created 19 (invalid 0), duplicate 0, rejected 1" in proc.stdout


def test_flask_cli_reaches_the_same_commands(db_url, tmp_path):
    from ..conftest import make_app
    make_app(db_url)
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.run([console_script("flask"), "--app", "server",
                           "init-db"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "database ready" in proc.stdout
