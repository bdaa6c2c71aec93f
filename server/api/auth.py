"""Badge login for handhelds, pack stations and supervisors."""
from __future__ import annotations

from flask import Blueprint, jsonify

from .. import settings
from ..services import auth
from .common import json_body

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/badge")
def badge_login():
    body = json_body("BadgeLogin")
    return jsonify(auth.login_badge(body["badge"], body["pin"], settings=settings.current()))
