"""What every endpoint needs: the caller, role checks, a validated JSON body."""
from __future__ import annotations

from typing import Any

from flask import g, request

from ..domain.errors import (BadRequest, DomainError, Forbidden, InvalidOrder, Unauthorized,
                             Unprocessable)
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


def json_body(schema: str, *, invalid_order: bool = False) -> Any:
    """The request body, parsed and checked against the named schema. A body that fails
    it is a 422 `schema` with every error in `detail`, or, with `invalid_order`, an
    InvalidOrder with every error in `problems` (POST /orders: one shape for all refusals)."""
    ctype = (request.mimetype or "").lower()
    if ctype != "application/json":
        raise DomainError("Content-Type must be application/json", code="unsupported_media_type",
                          status=415)
    body = parse_json(request.get_data(cache=True))
    problems = schema_problems(schema, body)
    if problems and invalid_order:
        raise InvalidOrder(problems)
    if problems:
        first = problems[0]
        raise Unprocessable(first["message"], code="schema", field=first["field"] or None,
                            detail=[{"field": p["field"] or None, "message": p["message"]}
                                    for p in problems])
    return body


# jsonschema keyword → the problem code a client sees
_SCHEMA_CODES = {"required": "missing", "additionalProperties": "unknown_field",
                 "type": "wrong_type", "maxLength": "too_long", "minLength": "missing",
                 "minimum": "out_of_range", "maximum": "out_of_range",
                 "exclusiveMinimum": "out_of_range", "exclusiveMaximum": "out_of_range",
                 "maxItems": "too_many", "minItems": "too_few", "enum": "not_allowed",
                 "pattern": "bad_format", "format": "bad_format"}


def schema_problems(schema: str, body: Any, limit: int = 50) -> list[dict]:
    """Every way `body` fails the schema (up to `limit`), as {"field", "code", "message"}
    with paths like 'lines[2].quantity'; a missing or unknown property is named itself."""
    out = []
    for err in sorted(validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, dict):
            path += [name for name in err.validator_value
                     if name not in err.instance and repr(name) in err.message][:1]
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = err.schema.get("properties", {})
            path += sorted(str(k) for k in err.instance if k not in known)[:1]
        message = err.message if len(err.message) < 300 else err.message[:300] + "…"
        out.append({"field": field_path(path), "code": _SCHEMA_CODES.get(err.validator, "invalid"),
                    "message": message})
        if len(out) == limit:
            break
    return out


def field_path(parts) -> str:
    """['lines', 2, 'quantity'] → 'lines[2].quantity' ('' for the body itself)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


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


def flag_arg(name: str) -> bool:
    """A true/false query parameter (absent: false)."""
    raw = (request.args.get(name) or "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise BadRequest(f"{name} must be true or false", field=name)
