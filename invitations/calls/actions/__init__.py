"""PROTOCOL's call operations, the only writers of call state, by moment:

- invite.py: callInvite (invitees resolved, glare merged);
- answer.py: callCancel, callAccept, callReject;
- membership.py: advanced mode's callingInvite, callJoin, callQuit, callEnd, and the operator's end.

Deadlines (timeouts, members away, the sweep) are in calls/deadlines.py, groups in calls/groups.py.
"""

from invitations.calls.actions.answer import (
    call_accept,
    call_cancel,
    call_reject,
    cancel_invitees,
)
from invitations.calls.actions.invite import call_invite
from invitations.calls.actions.membership import (
    call_end,
    call_end_by_operator,
    call_join,
    call_quit,
    calling_invite,
)

__all__ = [
    "call_accept",
    "call_cancel",
    "call_end",
    "call_end_by_operator",
    "call_invite",
    "call_join",
    "call_quit",
    "call_reject",
    "calling_invite",
    "cancel_invitees",
]
