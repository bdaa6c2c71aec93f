"""The browser apps in static/ (handheld and pack station pages; dashboard later), served by
the server itself so that `make run` needs nothing else."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, send_from_directory

STATIC = Path(__file__).resolve().parent.parent.parent / "static"

bp = Blueprint("pages", __name__)


@bp.get("/handheld")
def handheld_root():
    return redirect("/handheld/", code=308)


@bp.get("/handheld/")
@bp.get("/handheld/<path:name>")
def handheld(name: str = "index.html"):
    """static/handheld/<name> (404 for anything outside that folder)."""
    return send_from_directory(STATIC / "handheld", name, max_age=0)


@bp.get("/pack")
def pack_root():
    return redirect("/pack/", code=308)


@bp.get("/pack/")
@bp.get("/pack/<path:name>")
def pack(name: str = "index.html"):
    """static/pack/<name>: the packing station page (404 for anything outside that folder)."""
    return send_from_directory(STATIC / "pack", name, max_age=0)
