"""The one typed settings object: `server.config.Config`, built once by the app factory
(config.yaml, WAVEPACK_CONFIG, environment) and kept on the app.

Services take it as an argument (`settings: Config`) and never read flask's current_app;
the layers that call them (api/, sockets/, jobs/, the CLI) fetch it here.
"""
from __future__ import annotations

from flask import Flask, current_app

from .config import Config

Settings = Config


def of(app: Flask) -> Config:
    """The settings of `app`."""
    return app.config["WAVEPACK"]


def current() -> Config:
    """The settings of the app handling this request, socket event or job."""
    return current_app.config["WAVEPACK"]
