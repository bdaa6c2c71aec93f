"""Secrets only from the environment: a config file (config.yaml or the WAVEPACK_CONFIG
overlay) holding one is refused at start, and `wavepack` says which setting and where its
value belongs; the same values from the environment are taken."""
from __future__ import annotations

import subprocess

import pytest

from server.config import DEFAULT_FILE, load_config, refuse_secrets
from tests.conftest import console_script

PG = "postgresql://wavepack:hunter2@db.internal:5432/wavepack"


@pytest.mark.parametrize("text, setting", [
    ("secret_key: abc123\n", "secret_key"),
    (f"database:\n  url: {PG}\n", "database.url"),
    ("server:\n  message_queue: redis://:s3cret@redis.internal:6379/0\n",
     "server.message_queue"),
    ("auth:\n  rate_limit_storage: redis://user:pw@redis.internal:6379\n",
     "auth.rate_limit_storage"),
    ("carriers:\n  ups:\n    karrio:\n      settings: {password: plain-text}\n",
     "carriers.ups.karrio.settings.password"),
    ("notify:\n  targets:\n    shop: {url: 'https://u:p@shop.example/hook'}\n",
     "notify.targets.shop.url"),
])
def test_a_config_file_holding_a_secret_is_refused(tmp_path, text, setting):
    overlay = tmp_path / "site.yaml"
    overlay.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_config(env={"WAVEPACK_CONFIG": str(overlay)})
    assert f"config {setting} in {overlay}" in str(err.value)
    assert "environment" in str(err.value)
    assert "hunter2" not in str(err.value) and "s3cret" not in str(err.value)


def test_the_same_secrets_from_the_environment_are_taken(tmp_path):
    overlay = tmp_path / "site.yaml"
    overlay.write_text("carriers:\n  ups:\n    label: UPS\n    karrio:\n"
                       "      carrier_name: ups\n      secrets: {password: WAVEPACK_UPS_PW}\n"
                       "tracking:\n  feeds:\n    aftership: {kind: aftership, "
                       "secret_env: WAVEPACK_AFTERSHIP_SECRET}\n", encoding="utf-8")
    cfg = load_config(env={"WAVEPACK_CONFIG": str(overlay), "DATABASE_URL": PG,
                           "WAVEPACK_SECRET_KEY": "k" * 32,
                           "SOCKETIO_MESSAGE_QUEUE": "redis://:s3cret@redis.internal:6379/0"})
    assert cfg.database_url == PG and cfg.secret_key == "k" * 32
    assert cfg.server.message_queue.startswith("redis://:s3cret@")


def test_the_shipped_config_yaml_holds_no_secret():
    import yaml
    refuse_secrets(yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8")), "config.yaml")


def test_wavepack_refuses_to_start_with_a_secret_in_its_config(tmp_path):
    overlay = tmp_path / "site.yaml"
    overlay.write_text("secret_key: abc123\n", encoding="utf-8")
    proc = subprocess.run([console_script("wavepack"), "init-db"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "WAVEPACK_CONFIG": str(overlay),
                               "WAVEPACK_SERVER_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "secret_key" in out and "WAVEPACK_SECRET_KEY" in out, out
    assert "Traceback" not in out, out
