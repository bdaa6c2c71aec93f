"""Config: config.yaml defaults, environment overrides with the field's own type, layouts."""
import pytest

from server.config import load_config


def test_environment_overrides_keep_each_settings_type():
    cfg = load_config(env={"WAVEPACK_JOBS_EXPIRE_UNPAID_EVERY_MINUTES": "0.5",
                           "WAVEPACK_JOBS_AUTO_WAVE_EVERY_MINUTES": "2.5",
                           "WAVEPACK_AUTH_MAX_FAILED_LOGINS": "3",
                           "WAVEPACK_PICKING_REQUIRE_TOTE_SCAN": "true"})
    assert cfg.jobs.expire_unpaid_every_minutes == 0.5
    assert cfg.jobs.auto_wave_every_minutes == 2.5
    assert cfg.auth.max_failed_logins == 3
    assert cfg.picking.require_tote_scan is True


def test_the_message_queue_comes_from_socketio_message_queue_or_its_own_setting():
    assert load_config(env={}).server.message_queue == ""
    assert load_config(env={}).server.message_queue_channel == "wavepack"
    assert load_config(env={}).server.proxy_hops == 0
    url = "redis://127.0.0.1:6379/0"
    assert load_config(env={"SOCKETIO_MESSAGE_QUEUE": url}).server.message_queue == url
    both = load_config(env={"SOCKETIO_MESSAGE_QUEUE": url,
                            "WAVEPACK_SERVER_MESSAGE_QUEUE": "redis://other:6379/1",
                            "WAVEPACK_SERVER_PROXY_HOPS": "1"})
    assert both.server.message_queue == "redis://other:6379/1"     # the specific one wins
    assert both.server.proxy_hops == 1


def test_layouts_are_checked_when_the_config_is_read():
    cfg = load_config(env={})
    assert cfg.layouts["main"].aisles == 10
    removed = load_config({"layouts": {"rtm": None}}, env={})
    assert "rtm" not in removed.layouts and "main" in removed.layouts
    with pytest.raises(ValueError, match="layouts.main"):
        load_config({"layouts": {"main": {"aisles": 0}}}, env={})
