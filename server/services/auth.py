"""Who is asking: staff by badge + PIN (argon2id), channels and staff by API token
(random, stored as SHA-256), login attempts counted with a lockout (login_guard)."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import Case

from .. import clock
from ..config import Config
from ..offload import beside_the_loop
from ..domain.errors import NotFound, TooManyRequests, Unauthorized, Unprocessable
from ..store import db as store_db
from ..store.db import execute
from ..store.models import ApiToken, Channel, LoginGuard, User
from . import audit

ROLES = ("picker", "packer", "supervisor", "admin")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-pin")


@dataclass(frozen=True)
class Principal:
    kind: str                  # channel | staff | carrier | metrics
    role: str                  # channel, carrier, metrics, picker, packer, supervisor, admin
    token_id: int
    channel_id: int | None = None
    channel_name: str = ""
    user_id: int | None = None
    badge: str = ""
    expires_at: dt.datetime | None = None     # aware UTC; None = does not expire
    carrier: str = ""          # kind carrier: the carrier (carriers: in config) it speaks for

    @property
    def actor(self) -> str:
        """How the audit names this caller."""
        if self.kind == "channel":
            return f"token:{self.token_id}(channel:{self.channel_name})"
        if self.kind == "carrier":
            return f"token:{self.token_id}(carrier:{self.carrier})"
        if self.kind == "metrics":
            return f"token:{self.token_id}(metrics)"
        return f"user:{self.badge}" if self.badge else f"token:{self.token_id}({self.role})"

    def is_staff(self, *roles: str) -> bool:
        return self.kind == "staff" and (not roles or self.role in roles)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def check_pin(pin: str) -> None:
    """The PIN rule (the CLI, the console and every other way in): at least 4 digits."""
    if not isinstance(pin, str) or len(pin) < 4 or not pin.isdigit() or len(pin) > 64:
        raise Unprocessable("PIN must be at least 4 digits (digits only)", code="bad_pin",
                            field="pin")


def add_user(badge: str, role: str, pin: str, name: str = "", actor: str = "cli") -> int:
    if role not in ROLES:
        raise Unprocessable(f"role must be one of {', '.join(ROLES)}", field="role")
    if not badge.strip():
        raise Unprocessable("badge is empty", field="badge")
    check_pin(pin)
    now = clock.now()
    pin_hash = beside_the_loop(_hasher.hash, pin)     # before the write lock, not in it
    with store_db.write_tx():
        if User.get_or_none(User.badge == badge):
            raise Unprocessable(f"badge {badge!r} already exists", code="duplicate", field="badge")
        user = User.create(badge=badge, role=role, pin_hash=pin_hash, name=name,
                           created_at=now)
        audit.write([audit.row(now, actor, "user.add", "user", user.id, "", role)])
    return user.id


def reset_pin(badge: str, pin: str, actor: str = "cli") -> None:
    """A new PIN for a user (argon2id, as add_user). Their open sessions stay: a forgotten
    PIN is not a stolen one (disable the user to end them). A lockout is lifted."""
    check_pin(pin)
    pin_hash = beside_the_loop(_hasher.hash, pin)     # before the write lock, not in it
    now = clock.now()
    with store_db.write_tx():
        user = User.get_or_none(User.badge == badge)
        if user is None:
            raise NotFound(f"no user with badge {badge!r}", field="badge")
        User.update(pin_hash=pin_hash, failed_logins=0, locked_until=None).where(
            User.id == user.id).execute()
        LoginGuard.delete().where(LoginGuard.badge == badge).execute()
        audit.write([audit.row(now, actor, "user.reset_pin", "user", user.id)])


def list_users() -> list[dict]:
    """Every user with their open session count (badge order)."""
    now = clock.naive_utc(clock.now())
    rows = execute(
        "SELECT u.id, u.badge, u.name, u.role, u.active, u.created_at, "
        "(SELECT COUNT(*) FROM api_token t WHERE t.user_id = u.id AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > ?)), "
        "(SELECT MAX(t.created_at) FROM api_token t WHERE t.user_id = u.id) "
        "FROM app_user u ORDER BY u.badge", (now,)).fetchall()
    return [{"id": uid, "badge": badge, "name": name, "role": role, "active": bool(active),
             "created_at": _iso(created), "sessions": sessions, "last_login_at": _iso(last)}
            for uid, badge, name, role, active, created, sessions, last in rows]


def list_tokens(*, include_revoked: bool = False, token_id: int | None = None) -> list[dict]:
    """API tokens, newest first (the last 1000; or the one with `token_id`); never their
    secret (only its hash is kept anyway). Badge login sessions are listed with their user."""
    sql = ("SELECT t.id, t.kind, t.role, t.label, c.name, u.badge, t.carrier, t.created_at, "
           "t.expires_at, t.revoked_at FROM api_token t LEFT JOIN channel c ON c.id = "
           "t.channel_id LEFT JOIN app_user u ON u.id = t.user_id WHERE 1 = 1")
    params: tuple = ()
    if not include_revoked:
        sql += " AND t.revoked_at IS NULL"
    if token_id is not None:
        sql += " AND t.id = ?"
        params = (token_id,)
    now = clock.now()
    out = []
    for tid, kind, role, label, channel, badge, carrier, created, expires, revoked in execute(
            sql + " ORDER BY t.id DESC LIMIT 1000", params).fetchall():
        expires_at = clock.aware_utc(expires)
        out.append({"id": tid, "kind": kind, "role": role, "label": label,
                    "channel": channel, "badge": badge, "carrier": carrier or None,
                    "created_at": _iso(created), "expires_at": _iso(expires),
                    "revoked_at": _iso(revoked),
                    "active": revoked is None and (expires_at is None or expires_at > now)})
    return out


def revoke_token(token_id: int, actor: str = "cli") -> bool:
    """Revoke one token (at once for REST; an open handheld socket at its next event).
    False when it was revoked already."""
    now = clock.now()
    with store_db.write_tx():
        tok = ApiToken.get_or_none(ApiToken.id == token_id)
        if tok is None:
            raise NotFound(f"no token {token_id}", field="token_id")
        if tok.revoked_at is not None:
            return False
        ApiToken.update(revoked_at=clock.naive_utc(now)).where(ApiToken.id == tok.id).execute()
        audit.write([audit.row(now, actor, "token.revoke", "token", tok.id, "", "revoked",
                               {"label": tok.label})])
    _sessions_generation[0] += 1
    return True


def _iso(value) -> str | None:
    t = clock.aware_utc(value)
    return t.isoformat() if t is not None else None


def create_token(*, channel: str | None = None, role: str | None = None, label: str = "",
                 hours: float | None = None, user_id: int | None = None,
                 actor: str = "cli", carrier: str | None = None,
                 metrics: bool = False) -> str:
    """A new API token for a channel, a staff role, a carrier (which may only post
    tracking events; the caller checks the carrier is configured) or a metrics scraper
    (which may only read GET /metrics); only its hash is kept."""
    now = clock.now()
    if sum(map(bool, (channel, role, carrier, metrics))) != 1:
        raise Unprocessable("give one of a channel, a staff role, a carrier or metrics",
                            field="channel")
    if carrier:
        return _create_carrier_token(carrier, label, hours, actor, now)
    if metrics:
        return _create_metrics_token(label, hours, actor, now)
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


def _create_carrier_token(carrier: str, label: str, hours: float | None, actor: str,
                          now: dt.datetime) -> str:
    if len(carrier) > 64 or not carrier.strip():
        raise Unprocessable("a carrier name is 1 to 64 characters", field="carrier")
    raw = _new_token("wpk")
    with store_db.write_tx():
        tok = ApiToken.create(token_hash=token_hash(raw), kind="carrier", role="carrier",
                              carrier=carrier, label=label, created_at=now,
                              expires_at=now + dt.timedelta(hours=hours) if hours else None)
        audit.write([audit.row(now, actor, "token.create", "token", tok.id, "",
                               f"carrier:{carrier}", {"label": label})])
    return raw


def _create_metrics_token(label: str, hours: float | None, actor: str,
                          now: dt.datetime) -> str:
    """A token for Prometheus: it reads GET /metrics and nothing else (no endpoint takes
    its kind), so a leaked scrape config exposes counts, never orders or stock."""
    raw = _new_token("wpm")
    with store_db.write_tx():
        tok = ApiToken.create(token_hash=token_hash(raw), kind="metrics", role="metrics",
                              label=label, created_at=now,
                              expires_at=now + dt.timedelta(hours=hours) if hours else None)
        audit.write([audit.row(now, actor, "token.create", "token", tok.id, "", "metrics",
                               {"label": label})])
    return raw


def principal(raw: str | None) -> Principal | None:
    """The caller behind a bearer token, or None when the token is unknown, revoked or expired."""
    if not raw:
        return None
    row = execute(
        "SELECT t.id, t.kind, t.role, t.expires_at, t.revoked_at, c.id, c.name, u.id, u.badge, "
        "u.active, t.carrier FROM api_token t LEFT JOIN channel c ON c.id = t.channel_id "
        "LEFT JOIN app_user u ON u.id = t.user_id WHERE t.token_hash = ?",
        (token_hash(raw),)).fetchone()
    if row is None:
        return None
    tid, kind, role, expires, revoked, cid, cname, uid, badge, active, carrier = row
    if revoked is not None or (uid is not None and not active):
        return None
    expires = clock.aware_utc(expires) if expires is not None else None
    if expires is not None and expires <= clock.now():
        return None
    return Principal(kind=kind, role=role, token_id=tid, channel_id=cid,
                     channel_name=cname or "", user_id=uid, badge=badge or "",
                     expires_at=expires, carrier=carrier or "")


# Bumped when this process disables a user: whoever caches sessions (the /handheld
# namespace) checks them all again at once instead of waiting for its cache to expire.
_sessions_generation = [0]


def sessions_generation() -> int:
    return _sessions_generation[0]


def set_user_active(badge: str, active: bool, actor: str = "cli") -> None:
    """Disable or enable a user. Disabling also revokes every token of the user, so open
    sessions end (REST at once, open handheld sockets at their next event)."""
    now = clock.now()
    with store_db.write_tx():
        user = User.get_or_none(User.badge == badge)
        if user is None:
            raise NotFound(f"no user with badge {badge!r}", field="badge")
        User.update(active=active).where(User.id == user.id).execute()
        revoked = 0
        if not active:
            revoked = ApiToken.update(revoked_at=clock.naive_utc(now)).where(
                (ApiToken.user == user.id) & ApiToken.revoked_at.is_null()).execute()
        audit.write([audit.row(now, actor, "user.enable" if active else "user.disable",
                               "user", user.id, bool(user.active), active,
                               {"tokens_revoked": revoked} if revoked else "")])
    if not active:
        _sessions_generation[0] += 1


def login_badge(badge: str, pin: str, *, settings: Config) -> dict:
    """Badge + PIN → a session token. Too many failures lock the badge for a while.

    The attempt is counted BEFORE the PIN is checked, by one guarded write (see
    _claim_attempt), so at most `max_failed_logins` checks can run for a badge between two
    lockouts however many arrive at once. Unknown badges are counted and locked the same
    way and their PIN is checked against a dummy hash: the answers (codes, statuses,
    timing) do not tell which badges exist."""
    cfg = settings.auth
    now = clock.now()

    attempt = _claim_attempt(badge, now, cfg.max_failed_logins, cfg.lockout_minutes)
    if attempt is None:
        raise TooManyRequests("too many failed logins; badge locked, try again later",
                              code="locked")
    user = User.get_or_none(User.badge == badge)
    # the PIN check (argon2: ~0.1 s of CPU, over 1 s on a busy machine) runs outside any
    # write transaction and beside the event loop (server/offload.py), which it stopped
    ok = _verify(user.pin_hash if user else _DUMMY_HASH, pin) and user is not None \
        and user.active
    with store_db.write_tx():
        if ok:
            LoginGuard.delete().where(LoginGuard.badge == badge).execute()
        else:
            locked = attempt >= cfg.max_failed_logins
            audit.write([audit.row(now, f"badge:{badge}", "login.failed", "user",
                                   user.id if user else "", "", "locked" if locked else attempt,
                                   "" if user else "unknown badge")])
    if not ok:
        raise Unauthorized("badge or PIN not recognised", code="bad_credentials")
    raw = create_token(role=user.role, label=f"login {badge}", hours=cfg.session_hours,
                       user_id=user.id, actor=f"user:{badge}")
    return {"token": raw, "role": user.role, "badge": badge,
            "expires_at": (now + dt.timedelta(hours=cfg.session_hours)).isoformat()}


_PURGE_EVERY_S = 600.0
_FORGET_AFTER = dt.timedelta(days=1)
_last_purge = [0.0]


def _claim_attempt(badge: str, now: dt.datetime, max_attempts: int,
                   lockout_minutes: float) -> int | None:
    """Count one login attempt for `badge` and return its number since the last success or
    lockout, or None while the badge is locked. One conditional UPDATE does it (the row lock
    on PostgreSQL, BEGIN IMMEDIATE on SQLite serialise concurrent claims), and the attempt
    that reaches the limit sets the lock in the same write: no count can be lost between a
    read and a write, and a process dying while it checks the PIN leaves a lock that
    expires rather than a badge stuck half-counted."""
    at = clock.naive_utc(now)
    until = clock.naive_utc(now + dt.timedelta(minutes=lockout_minutes))
    g = LoginGuard
    count = Case(None, [(g.locked_until.is_null(), g.attempts + 1)], 1)   # an expired lock: 1
    with store_db.write_tx():
        g.insert(badge=badge, attempts=0, last_attempt_at=at).on_conflict_ignore().execute()
        claimed = g.update(
            attempts=count, last_attempt_at=at,
            locked_until=Case(None, [(count >= max_attempts, until)], None),
        ).where((g.badge == badge) & (g.locked_until.is_null() | (g.locked_until <= at))
                ).execute()
        attempt = g.select(g.attempts).where(g.badge == badge).scalar() if claimed else None
        if time.monotonic() - _last_purge[0] > _PURGE_EVERY_S:
            # rows of badges nobody tried for a day (the unknown ones would pile up)
            _last_purge[0] = time.monotonic()
            g.delete().where((g.last_attempt_at < at - _FORGET_AFTER)
                             & (g.locked_until.is_null() | (g.locked_until <= at))).execute()
    return attempt


def _verify(pin_hash: str, pin: str) -> bool:
    try:
        return beside_the_loop(_hasher.verify, pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
