"""Users and API tokens for the supervisors' console: admin only (a supervisor is refused
with 403). The same service functions as `wavepack user …` and `wavepack token …`
(services/auth.py), so the rules (roles, the PIN rule, argon2id, revoking a disabled
user's sessions) are the CLI's."""
from __future__ import annotations

from flask import Blueprint, jsonify

from .. import settings
from ..domain.errors import Conflict, Unprocessable
from ..services import auth
from ..store.db import execute
from .common import flag_arg, json_body, require_staff

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/users")
def list_users():
    require_staff("admin")
    return jsonify({"users": auth.list_users()})


@bp.post("/users")
def add_user():
    p = require_staff("admin")
    body = json_body("AdminUser")
    auth.add_user(body["badge"], body["role"], body["pin"], body.get("name", ""),
                  actor=p.actor)
    return jsonify(_user(body["badge"])), 201


def _user(badge: str) -> dict:
    return next(u for u in auth.list_users() if u["badge"] == badge)


@bp.post("/users/<badge>/disable")
def disable_user(badge: str):
    p = require_staff("admin")
    if badge == p.badge:
        raise Conflict("you cannot disable yourself: another admin must", code="self")
    auth.set_user_active(badge, False, actor=p.actor)
    return jsonify(_user(badge))


@bp.post("/users/<badge>/enable")
def enable_user(badge: str):
    p = require_staff("admin")
    auth.set_user_active(badge, True, actor=p.actor)
    return jsonify(_user(badge))


@bp.post("/users/<badge>/pin")
def reset_pin(badge: str):
    p = require_staff("admin")
    body = json_body("AdminPin")
    auth.reset_pin(badge, body["pin"], actor=p.actor)
    return jsonify(_user(badge))


@bp.get("/tokens")
def list_tokens():
    require_staff("admin")
    return jsonify({"tokens": auth.list_tokens(include_revoked=flag_arg("include_revoked"))})


def _hours(value) -> float | None:
    """The schema's hours (a JSON number, read exactly as a Decimal) as timedelta takes them."""
    return None if value is None else float(value)


@bp.post("/tokens")
def create_token():
    p = require_staff("admin")
    body = json_body("AdminToken")
    kinds = [k for k in ("role", "channel", "carrier") if body.get(k)]
    if len(kinds) != 1:
        raise Unprocessable("give exactly one of role, channel or carrier", code="token_kind",
                            field="role")
    carrier = body.get("carrier")
    if carrier and carrier not in settings.current().setup.carriers:
        raise Unprocessable(f"no carrier {carrier!r} under carriers: in config",
                            code="unknown_carrier", field="carrier")
    raw = auth.create_token(channel=body.get("channel"), role=body.get("role"),
                            carrier=carrier, label=body.get("label", ""),
                            hours=_hours(body.get("hours")), actor=p.actor)
    tid = execute("SELECT id FROM api_token WHERE token_hash = ?",
                  (auth.token_hash(raw),)).fetchone()[0]
    [tok] = auth.list_tokens(token_id=tid)
    return jsonify({**tok, "token": raw}), 201


@bp.post("/tokens/<id:token_id>/revoke")
def revoke_token(token_id: int):
    p = require_staff("admin")
    if token_id == p.token_id:
        raise Conflict("this is the token you are using: log out instead", code="self")
    revoked = auth.revoke_token(token_id, actor=p.actor)
    [tok] = auth.list_tokens(include_revoked=True, token_id=token_id)
    return jsonify({**tok, "revoked_now": revoked})


# --- OpenAPI ------------------------------------------------------------------------------

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_USER = {
    "type": "object",
    "required": ["id", "badge", "name", "role", "active", "created_at", "sessions",
                 "last_login_at"],
    "properties": {"id": _ID, "badge": {"type": "string"}, "name": {"type": "string"},
                   "role": {"type": "string", "enum": list(auth.ROLES)},
                   "active": {"type": "boolean"}, "created_at": _TIME,
                   "sessions": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                                "description": "open (unrevoked, unexpired) tokens"},
                   "last_login_at": _TIME},
}
_TOKEN = {
    "type": "object",
    "required": ["id", "kind", "role", "label", "channel", "badge", "carrier", "created_at",
                 "expires_at", "revoked_at", "active"],
    "properties": {"id": _ID, "kind": {"type": "string", "enum": ["staff", "channel",
                                                                   "carrier"]},
                   "role": {"type": "string"}, "label": {"type": "string"},
                   "channel": {"type": ["string", "null"]},
                   "badge": {"type": ["string", "null"],
                             "description": "a badge login's user"},
                   "carrier": {"type": ["string", "null"]},
                   "created_at": _TIME, "expires_at": _TIME, "revoked_at": _TIME,
                   "active": {"type": "boolean"}},
}

RESPONSE_SCHEMAS = {
    "AdminUserOut": _USER, "AdminTokenOut": _TOKEN,
    "AdminUserList": {"type": "object", "required": ["users"],
                      "properties": {"users": {"type": "array", "items": _USER}}},
    "AdminTokenList": {"type": "object", "required": ["tokens"],
                       "properties": {"tokens": {"type": "array", "items": _TOKEN}}},
    "AdminTokenCreated": {**_TOKEN, "required": [*_TOKEN["required"], "token"],
                          "properties": {**_TOKEN["properties"], "token": {
                              "type": "string",
                              "description": "the secret: shown this once, never again"}}},
    "AdminTokenRevoked": {**_TOKEN, "required": [*_TOKEN["required"], "revoked_now"],
                          "properties": {**_TOKEN["properties"],
                                         "revoked_now": {"type": "boolean"}}},
}


def openapi_paths() -> dict:
    from .openapi import _json_body, _ok, _query, _responses, ref
    badge = {"name": "badge", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
    token_id = {"name": "token_id", "in": "path", "required": True,
                "schema": {"type": "integer", "format": "int64", "minimum": 1,
                           "maximum": 2**63 - 1}}

    def user_action(op: str, summary: str, body: str | None) -> dict:
        item = {"tags": ["admin"], "operationId": op, "summary": summary,
                "parameters": [badge],
                "responses": _responses(_ok(200, "the user after it", ref("AdminUserOut")),
                                        401, 403, 404, 409, 413, 415, 422)}
        if body:
            item["requestBody"] = _json_body(body)
        return {"post": item}

    return {
        "/api/v1/admin/users": {
            "get": {"tags": ["admin"], "operationId": "listUsers",
                    "summary": "Every user with their open sessions (admin)",
                    "responses": _responses(_ok(200, "the users", ref("AdminUserList")),
                                            401, 403)},
            "post": {"tags": ["admin"], "operationId": "addUser",
                     "summary": "Add a user who logs in with badge and PIN (admin)",
                     "requestBody": _json_body("AdminUser"),
                     "responses": _responses(_ok(201, "added", ref("AdminUserOut")),
                                             400, 401, 403, 413, 415, 422)},
        },
        "/api/v1/admin/users/{badge}/disable": user_action(
            "disableUser", "Disable a user: logins refused, every session revoked (admin; "
            "not yourself: 409)", None),
        "/api/v1/admin/users/{badge}/enable": user_action(
            "enableUser", "Let a disabled user log in again (admin)", None),
        "/api/v1/admin/users/{badge}/pin": user_action(
            "resetPin", "Set a user's new PIN, at least 4 digits; a lockout is lifted "
            "(admin)", "AdminPin"),
        "/api/v1/admin/tokens": {
            "get": {"tags": ["admin"], "operationId": "listTokens",
                    "summary": "API tokens and login sessions, newest first; never a secret "
                               "(admin)",
                    "parameters": [_query("include_revoked", "true: revoked ones too",
                                          {"type": "string", "enum": ["true", "false"]})],
                    "responses": _responses(_ok(200, "the tokens", ref("AdminTokenList")),
                                            400, 401, 403)},
            "post": {"tags": ["admin"], "operationId": "createToken",
                     "summary": "Create a staff, channel or carrier token; its secret is in "
                                "this answer only (admin)",
                     "requestBody": _json_body("AdminToken"),
                     "responses": _responses(_ok(201, "created", ref("AdminTokenCreated")),
                                             400, 401, 403, 404, 413, 415, 422)},
        },
        "/api/v1/admin/tokens/{token_id}/revoke": {"post": {
            "tags": ["admin"], "operationId": "revokeToken",
            "summary": "Revoke a token (admin; not the one you use: 409)",
            "parameters": [token_id],
            "responses": _responses(_ok(200, "the token after it", ref("AdminTokenRevoked")),
                                    400, 401, 403, 404, 409),
        }},
    }
