"""PROTOCOL's error table: one exception type, keyed by the stable reason."""

from collections.abc import Mapping, Sequence
from typing import Any

# reason -> (HTTP status, ZIM error code or None, default message)
ERRORS: dict[str, tuple[int, int | None, str]] = {
    "invalid_argument": (400, None, "The request is malformed or a field is out of range."),
    "unauthenticated": (401, None, "No valid session or token."),
    "csrf_failed": (403, None, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken."),
    "call_not_found": (404, 6000276, "No such call, or you are not a member of it."),
    "not_found": (404, None, "No such endpoint."),
    "method_not_allowed": (405, None, "This endpoint does not take that method."),
    "too_many_participants": (400, 6000272, "The call would exceed the participant limit."),
    "no_invitee_registered": (400, 6000281, "None of the invitees can be invited."),
    "not_caller": (403, 6000273, "Only the caller can cancel."),
    "not_invited": (403, 6000274, "Only an invitee can accept or reject."),
    "already_accepted": (409, 6000271, "An invitee already accepted: the call can no longer be cancelled."),
    "invalid_state": (409, None, "Your state in this call does not allow that operation."),
    "not_advanced_mode": (409, 6000286, "That operation needs an advanced-mode call."),
    "call_ended": (409, 6000276, "The call has ended."),
    "already_in_call": (409, 6000270, "You are already in a call that is still going on."),
    "rate_limited": (429, None, "Too many requests: slow down."),
    "group_not_found": (404, None, "No such group, or you are not a member of it."),
}


class CallError(Exception):
    """A refused operation. Raised before anything is written, or inside the
    transaction that is then rolled back, so a refusal never changes state."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        if reason not in ERRORS:
            raise ValueError(f"unknown error reason {reason!r}")
        self.reason = reason
        self.status, self.code, default = ERRORS[reason]
        self.message = message or default
        super().__init__(f"{reason}: {self.message}")

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "message": self.message}


def invalid_argument(validation_errors: Sequence[Mapping[str, Any]]) -> CallError:
    """`invalid_argument` naming the fields a schema refused (HTTP and WebSocket alike)."""
    parts = []
    for e in validation_errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "payload", "query"))
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    return CallError("invalid_argument", "; ".join(parts) or "invalid request")
