"""PROTOCOL's numeric enums and the member transition table, as data.

Nothing outside invitations/calls/actions/ assigns a state; Operation.move asks
`can_transition` and moves to `target_state`.
"""

from enum import IntEnum


class CallUserState(IntEnum):
    UNKNOWN = -1
    INVITING = 0
    ACCEPTED = 1
    REJECTED = 2
    CANCELLED = 3
    RECEIVED = 5
    TIMEOUT = 6
    QUIT = 7
    NOT_YET_RECEIVED = 9


class CallState(IntEnum):
    STARTED = 1
    ENDED = 2


class CallMode(IntEnum):
    GENERAL = 0
    ADVANCED = 1


S = CallUserState

# An invitee waiting for an answer.
PENDING = frozenset({S.INVITING, S.RECEIVED, S.NOT_YET_RECEIVED})
# Members who still hear about the call (PROTOCOL's event recipients).
ACTIVE = PENDING | {S.ACCEPTED}
# States a member leaves the call with; callingInvite/callJoin may bring them back.
LEFT = frozenset({S.REJECTED, S.CANCELLED, S.TIMEOUT, S.QUIT})


# Operations that move a member's state.
INVITE = "invite"
DELIVER = "deliver"
NOT_RECEIVED = "not_received"
ACCEPT = "accept"
REJECT = "reject"
CANCEL = "cancel"
EXPIRE = "expire"
JOIN = "join"
QUIT = "quit"

# operation -> states it may start from -> state it ends in
TRANSITIONS: dict[str, tuple[frozenset[CallUserState], CallUserState]] = {
    INVITE: (frozenset({S.UNKNOWN}) | LEFT, S.INVITING),
    DELIVER: (frozenset({S.INVITING, S.NOT_YET_RECEIVED}), S.RECEIVED),
    NOT_RECEIVED: (frozenset({S.INVITING}), S.NOT_YET_RECEIVED),
    ACCEPT: (PENDING, S.ACCEPTED),
    REJECT: (PENDING, S.REJECTED),
    CANCEL: (PENDING, S.CANCELLED),
    EXPIRE: (PENDING, S.TIMEOUT),
    JOIN: (frozenset({S.UNKNOWN, S.ACCEPTED}) | PENDING | LEFT, S.ACCEPTED),
    QUIT: (frozenset({S.ACCEPTED}), S.QUIT),
}


def can_transition(operation: str, state: int) -> bool:
    return state in TRANSITIONS[operation][0]


def target_state(operation: str) -> CallUserState:
    return TRANSITIONS[operation][1]


def state_label(state: int | None) -> str:
    """PROTOCOL's name of a member state: NotYetReceived, not NOT_YET_RECEIVED ("" for none)."""
    if state is None:
        return ""
    try:
        name = CallUserState(state).name
    except ValueError:
        return str(state)
    return "".join(part.title() for part in name.split("_"))
