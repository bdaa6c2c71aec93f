"""Who is asking: staff by badge + PIN (argon2id), channels and staff by API token
(random, stored as SHA-256), failed logins counted with a lockout."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from .. import clock
from ..offload import beside_the_loop
from ..domain.errors import NotFound, TooManyRequests, Unauthorized, Unprocessable
from ..store import db as store_db
from ..store.db import execute
from ..store.models import ApiToken, Channel, User
from . import audit

ROLES = ("picker", "packer", "supervisor", "admin")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-pin")


@dataclass(frozen=True)
class Principal:
    kind: str                  # channel | staff
    role: str                  # channel, picker, packer, supervisor, admin
    token_id: int
    channel_id: int | None = None
    channel_name: str = ""
    user_id: int | None = None
    badge: str = ""

    @property
    def actor(self) -> str:
        """How the audit names this caller."""
        if self.kind == "channel":
            return f"token:{self.token_id}(channel:{self.channel_name})"
        return f"user:{self.badge}" if self.badge else f"token:{self.token_id}({self.role})"

    def is_staff(self, *roles: str) -> bool:
        return self.kind == "staff" and (not roles or self.role in roles)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def add_user(badge: str, role: str, pin: str, name: str = "") -> int:
    if role not in ROLES:
        raise Unprocessable(f"role must be one of {', '.join(ROLES)}", field="role")
    if not badge.strip():
        raise Unprocessable("badge is empty", field="badge")
    if len(pin) < 4 or not pin.isdigit():
        raise Unprocessable("PIN must be at least 4 digits", field="pin")
    now = clock.now()
    pin_hash = beside_the_loop(_hasher.hash, pin)     # before the write lock, not in it
    with store_db.write_tx():
        if User.get_or_none(User.badge == badge):
            raise Unprocessable(f"badge {badge!r} already exists", code="duplicate", field="badge")
        user = User.create(badge=badge, role=role, pin_hash=pin_hash, name=name,
                           created_at=now)
        audit.write([audit.row(now, "cli", "user.add", "user", user.id, "", role)])
    return user.id


def create_token(*, channel: str | None = None, role: str | None = None, label: str = "",
                 hours: float | None = None, user_id: int | None = None,
                 actor: str = "cli") -> str:
    """A new API token for a channel or a staff role; only its hash is kept."""
    now = clock.now()
    if bool(channel) == bool(role):
        raise Unprocessable("give either a channel or a staff role", field="channel")
    raw = _new_token("wpc" if channel else "wps")
    with store_db.write_tx():
        ch = None
        if channel:
            ch = Channel.get_or_none(Channel.name == channel)
            if ch is None:
                raise NotFound(f"no channel {channel!r}", field="channel")
        elif role not in ROLES:
            raise Unprocessable(f"role must be one of {', '.join(ROLES)}", field="role")
        tok = ApiToken.create(token_hash=token_hash(raw), kind="channel" if ch else "staff",
                              channel=ch, user=user_id, role=role or "channel", label=label,
                              created_at=now,
                              expires_at=now + dt.timedelta(hours=hours) if hours else None)
        audit.write([audit.row(now, actor, "token.create", "token", tok.id, "",
                               channel or role, {"label": label})])
    return raw


def principal(raw: str | None) -> Principal | None:
    """The caller behind a bearer token, or None when the token is unknown, revoked or expired."""
    if not raw:
        return None
    row = execute(
        "SELECT t.id, t.kind, t.role, t.expires_at, t.revoked_at, c.id, c.name, u.id, u.badge, "
        "u.active FROM api_token t LEFT JOIN channel c ON c.id = t.channel_id "
        "LEFT JOIN app_user u ON u.id = t.user_id WHERE t.token_hash = ?",
        (token_hash(raw),)).fetchone()
    if row is None:
        return None
    tid, kind, role, expires, revoked, cid, cname, uid, badge, active = row
    if revoked is not None or (uid is not None and not active):
        return None
    if expires is not None and clock.aware_utc(expires) <= clock.now():
        return None
    return Principal(kind=kind, role=role, token_id=tid, channel_id=cid,
                     channel_name=cname or "", user_id=uid, badge=badge or "")


def login_badge(badge: str, pin: str) -> dict:
    """Badge + PIN → a session token. Too many failures lock the badge for a while;
    the answer for an unknown badge and a wrong PIN is the same."""
    cfg = current_app.config["WAVEPACK"].auth
    now = clock.now()
    # The PIN check (argon2: ~0.1 s of CPU, over 1 s on a busy machine) runs before the
    # write transaction, which it held through (every writer queued behind a login), and
    # beside the event loop (server/offload.py), which it stopped.
    seen = User.get_or_none(User.badge == badge)
    _refuse_locked(seen, now)
    checked = seen.pin_hash if seen else _DUMMY_HASH
    pin_ok = _verify(checked, pin)
    with store_db.write_tx():
        user = User.get_or_none(User.badge == badge)
        _refuse_locked(user, now)
        if user is not None and user.pin_hash != checked:     # changed meanwhile: again
            pin_ok = _verify(user.pin_hash, pin)
        ok = pin_ok and user is not None and user.active
        if not ok:
            if user is not None:
                fails = user.failed_logins + 1
                locked = now + dt.timedelta(minutes=cfg.lockout_minutes) \
                    if fails >= cfg.max_failed_logins else None
                User.update(failed_logins=0 if locked else fails, locked_until=locked).where(
                    User.id == user.id).execute()
                audit.write([audit.row(now, f"badge:{badge}", "login.failed", "user", user.id,
                                       "", "locked" if locked else fails)])
            ok_fail = Unauthorized("badge or PIN not recognised", code="bad_credentials")
        else:
            User.update(failed_logins=0, locked_until=None).where(User.id == user.id).execute()
            ok_fail = None
    if ok_fail:
        raise ok_fail
    raw = create_token(role=user.role, label=f"login {badge}", hours=cfg.session_hours,
                       user_id=user.id, actor=f"user:{badge}")
    return {"token": raw, "role": user.role, "badge": badge,
            "expires_at": (now + dt.timedelta(hours=cfg.session_hours)).isoformat()}


def _refuse_locked(user, now: dt.datetime) -> None:
    if user is not None and user.locked_until and user.locked_until > now:
        raise TooManyRequests("too many failed logins; badge locked, try again later",
                              code="locked")


def _verify(pin_hash: str, pin: str) -> bool:
    try:
        return beside_the_loop(_hasher.verify, pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
