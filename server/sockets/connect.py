"""What every namespace's connect does with its `auth`: the token read, refused with a
reason the client can show (`connect_error` data = {"code", "message"})."""
from __future__ import annotations

from typing import Any, Callable

from flask_socketio import ConnectionRefusedError

from ..domain.errors import DomainError
from ..domain.exactjson import refuse_lone_surrogates
from ..services import auth
from ..store import db as store_db


def refuse(code: str, message: str) -> ConnectionRefusedError:
    """A refused connect: the client's connect_error has message = the text and
    data = {"code", "message"} (python-socketio puts a second argument in `data`)."""
    return ConnectionRefusedError(message, {"code": code, "message": message})


def token_of(data: dict) -> str:
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > 200:
        raise refuse("unauthenticated", "connect with auth={'token': ...}")
    return token


def principal(token: str, texts: list[Any],
              check: Callable[[auth.Principal], None] | None = None) -> auth.Principal | None:
    """Who the token belongs to (None: unknown, expired or revoked), after the connect's
    other texts are checked; `check(who)` runs on the same database connection and may
    raise a DomainError, which becomes the refusal."""
    try:
        refuse_lone_surrogates([token, *texts])
        with store_db.db.connection_context():
            who = auth.principal(token)
            if who is not None and check is not None:
                check(who)
    except DomainError as err:
        raise refuse(err.code, err.message) from None
    except Exception as err:
        if store_db.is_unavailable(err):
            raise refuse("database_unavailable", "the database cannot be reached just now; "
                         "connect again shortly") from None
        raise
    return who
