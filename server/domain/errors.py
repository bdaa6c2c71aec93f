"""Domain errors with stable codes. One handler in api/ turns them into JSON error bodies."""
from __future__ import annotations


class DomainError(Exception):
    """A refusal with a stable `code`, an HTTP status and, where it applies, the field at fault."""

    code = "domain_error"
    status = 422

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None, detail: object = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field
        self.detail = detail

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "field": self.field}
        if self.detail is not None:
            body["detail"] = self.detail
        return {"error": body}


class BadRequest(DomainError):
    code, status = "bad_request", 400


class Unauthorized(DomainError):
    code, status = "unauthorized", 401


class Forbidden(DomainError):
    code, status = "forbidden", 403


class NotFound(DomainError):
    code, status = "not_found", 404


class Conflict(DomainError):
    code, status = "conflict", 409


class Unprocessable(DomainError):
    code, status = "unprocessable", 422


class TooManyRequests(DomainError):
    code, status = "too_many_requests", 429


class BadTransition(DomainError):
    code, status = "bad_transition", 409


class InsufficientStock(DomainError):
    code, status = "insufficient_stock", 409


class InvalidOrder(Unprocessable):
    """An order refused with every reason at once: `problems` is a list of
    {"field", "code", "message"} (field paths like 'lines[2].quantity'); `field` is the
    first one's. The body: {"error": {"code": "invalid_order", "message", "field",
    "problems"}}."""
    code = "invalid_order"

    def __init__(self, problems: list[dict], message: str | None = None):
        if not problems:
            raise ValueError("an invalid order needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        if message is None:
            more = len(self.problems) - 1
            message = f"{first['field']}: {first['message']}" if first.get("field") \
                else first["message"]
            if more:
                message += f" (and {more} more problem{'s' if more > 1 else ''}: see problems)"
        super().__init__(message, field=first.get("field") or None)

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["error"]["problems"] = self.problems
        return body
