"""What every endpoint needs: the caller, role checks, a validated JSON body."""
from __future__ import annotations

from typing import Any

from flask import g, request

from ..domain.errors import BadRequest, DomainError, Forbidden, Unauthorized, Unprocessable
from ..services.auth import Principal, principal
from ..domain.exactjson import parse_json
from .schemas import validator


def caller() -> Principal:
    """The principal behind `Authorization: Bearer …`, or 401."""
    if "principal" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        p = principal(raw.strip()) if scheme.lower() == "bearer" else None
        if p is None:
            raise Unauthorized("a valid bearer token is required", code="unauthorized")
        g.principal = p
    return g.principal


def require_staff(*roles: str) -> Principal:
    p = caller()
    if not p.is_staff(*roles):
        raise Forbidden("this needs a staff token with role " + " or ".join(roles or ("staff",)))
    return p


def require_channel() -> Principal:
    p = caller()
    if p.kind != "channel":
        raise Forbidden("this needs a channel token")
    return p


def json_body(schema: str) -> Any:
    """The request body, parsed and checked against the named schema."""
    ctype = (request.mimetype or "").lower()
    if ctype != "application/json":
        raise DomainError("Content-Type must be application/json", code="unsupported_media_type",
                          status=415)
    body = parse_json(request.get_data(cache=True))
    errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or None
        raise Unprocessable(err.message if len(err.message) < 300 else err.message[:300] + "…",
                            code="schema", field=where,
                            detail=[{"field": ".".join(str(p) for p in e.absolute_path) or None,
                                     "message": e.message[:300]} for e in errors[:20]])
    return body


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise BadRequest(f"{name} must be an integer", field=name) from err
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", field=name)
    return value
