"""callCancel, callAccept, callReject: the caller withdraws, an invitee answers."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from invitations.accounts.tenancy import user_id_of
from invitations.calls import payloads, states
from invitations.calls.errors import CallError
from invitations.calls.operation import (
    Operation,
    open_operation,
    require_member,
    require_started,
)
from invitations.calls.states import PENDING
from invitations.calls.states import CallUserState as S
from invitations.models import CallUser

MAX_INVITEES = settings.CALL_MAX_PARTICIPANTS - 1


def call_cancel(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    invitees: list[str] | None = None,
    extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.CancelAnswer:
    """callCancel: the caller withdraws the invitation of some or all pending invitees."""
    with transaction.atomic():
        op, member = open_operation(call_id, user, device_id, extended_data)
        require_member(member)
        require_started(op)
        if op.call.caller_id != user.pk:
            raise CallError("not_caller")
        if any(m.accepted_at for m in op.members if m.user_id != op.call.caller_id):
            raise CallError("already_accepted")
        errors: list[payloads.ErrorInvitee] = []
        if invitees is None:
            targets = op.pending()
            if not targets:
                raise CallError("invalid_state", "no invitee is pending")
        else:
            targets = []
            by_name = {user_id_of(m.user): m for m in op.members}
            for name in dict.fromkeys(invitees):
                target = by_name.get(name)
                if target is None:
                    errors.append(payloads.ErrorInvitee(userID=name, reason="user_not_found"))
                elif target.state not in PENDING:
                    errors.append(payloads.ErrorInvitee(userID=name, reason="invalid_state"))
                else:
                    targets.append(target)
        cancel_invitees(op, targets, reason="caller_cancel", push_config=push_config)
        op.finish()
    return payloads.CancelAnswer(callID=call_id, errorInvitees=errors)


def cancel_invitees(op: Operation, targets: list[CallUser], *, reason: str, push_config: dict | None = None) -> None:
    """Cancel these pending invitees (the caller's cancel, or the caller gone offline)."""
    for target in targets:
        op.move(target, states.CANCEL, reason=reason, extended_data=op.extended_data)
    if targets:
        data = payloads.invitation_cancelled(op.call, extended_data=op.extended_data, push_config=push_config)
        op.frames.add([t.user_id for t in targets], payloads.event_frame("callInvitationCancelled", op.seq(), data))


def _answer(
    *, user: Any, call_id: str, device_id: str, extended_data: str, operation: str, reason: str
) -> payloads.CallIDAnswer:
    with transaction.atomic():
        op, member = open_operation(call_id, user, device_id, extended_data)
        member = require_member(member)
        require_started(op)
        if member.inviter_id is None:
            raise CallError("not_invited")
        if member.state not in PENDING:
            raise CallError("invalid_state", f"you are {S(member.state).name}, not a pending invitee")
        if member.deadline and member.deadline <= op.now:
            raise CallError("invalid_state", "the invitation has timed out")
        op.move(member, operation, reason=reason, extended_data=extended_data)
        op.finish()
    return payloads.CallIDAnswer(callID=call_id)


def call_accept(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = ""
) -> payloads.CallIDAnswer:
    """callAccept: a pending invitee joins the call."""
    return _answer(
        user=user, call_id=call_id, device_id=device_id, extended_data=extended_data, operation=states.ACCEPT, reason=""
    )


def call_reject(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "", reason: str = "declined"
) -> payloads.CallIDAnswer:
    """callReject: a pending invitee declines (reason `declined` or `busy`)."""
    return _answer(
        user=user,
        call_id=call_id,
        device_id=device_id,
        extended_data=extended_data,
        operation=states.REJECT,
        reason=reason,
    )
