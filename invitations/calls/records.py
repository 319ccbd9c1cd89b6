"""What an operation did, and a record handler's answer: the seam for work that commits
with an operation.

An operation (operation.py) hands an `OperationRecord` to each registered record
handler (push, webhooks, media) inside its transaction, before its rows are written.
A handler answers with `HandlerWrites`: statements (its outbox rows, INSERT ... SELECT)
that run after the operation's own writes in the same round trip, and what to do with
their rows after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from invitations.calls.roundtrip import Rows, Statement
from invitations.models import Call, CallUser


@dataclass(frozen=True)
class MemberChange:
    """One member's move in one operation: its state before the operation and after."""

    member: CallUser
    user_id: int
    username: str  # the Django username (an app's user: `<userID>#<appID>`), not a payload's userID
    from_state: int
    to_state: int
    reason: str


@dataclass(frozen=True)
class OperationRecord:
    """What one operation on one call did, known once its rows are written."""

    call: Call
    seq: int
    created: bool  # callInvite: the call is new
    changes: tuple[MemberChange, ...]
    ended: bool
    operated_by: str | None  # who ended the call ("" for a deadline); None when it did not end
    offline_invitee_ids: tuple[int, ...]  # invited by this operation with no device connected
    members: tuple[CallUser, ...] = ()  # all the call's members after the operation, in pk order
    silent_invitee_ids: tuple[int, ...] = ()  # invited by this operation while in do-not-disturb


@dataclass
class HandlerWrites:
    """A record handler's answer: statements run after the operation's own writes, in
    the same round trip, and what to do with their rows (each statement's) after."""

    statements: list[Statement]
    then: Callable[[list[Rows]], None]


def handler_statements(writes: list[HandlerWrites]) -> list[Statement]:
    """The handlers' statements, in order, for the writes' round trip."""
    return [statement for w in writes for statement in w.statements]


def handlers_then(writes: list[HandlerWrites], rows: list[Rows]) -> None:
    """Each handler's `then` with its own statements' rows (`rows`: theirs, in order)."""
    remaining = iter(rows)
    for w in writes:
        w.then([next(remaining) for _ in w.statements])
