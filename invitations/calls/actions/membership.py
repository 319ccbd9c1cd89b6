"""Advanced mode: callingInvite (members invite more), callJoin, callQuit, callEnd,
and the operator's end."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from invitations.accounts import ratelimit
from invitations.accounts.tenancy import tenant_of, user_id_of
from invitations.calls import payloads, states
from invitations.calls.actions.invite import (
    invitee_facts,
    invitees_resolve,
    invitees_ring,
)
from invitations.calls.errors import CallError
from invitations.calls.operation import (
    Operation,
    open_operation,
    require_advanced,
    require_member,
    require_started,
)
from invitations.calls.payloads import ms
from invitations.calls.states import CallMode
from invitations.calls.states import CallUserState as S
from invitations.models import CallUser

MAX_INVITEES = settings.CALL_MAX_PARTICIPANTS - 1


def calling_invite(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    invitees: list[str],
    timeout: int = settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    extended_data: str = "",
    push_config: dict | None = None,
    online_user_only: bool = False,
) -> payloads.InviteAnswer:
    """callingInvite: an Accepted member of an advanced call invites more users."""
    ratelimit.invitation_attempt(user, invitees=len(set(invitees)))
    with transaction.atomic():
        op, _ = _open_as_accepted_member(call_id, user, device_id, extended_data, "invite")
        facts = None  # a list longer than MAX_INVITEES is refused in invitees_resolve, before any read
        if len(invitees) <= MAX_INVITEES:
            facts = invitee_facts(
                list(dict.fromkeys(invitees)),
                inviter=user,
                caller_id=None,
                group=op.call.group if op.call.group_id else None,
            )
        users, errors = invitees_resolve(op, invitees, online_user_only=online_user_only, facts=facts)
        invitees_ring(
            op,
            users,
            inviter=user,
            timeout=timeout,
            not_received_check=False,
            push_config=push_config,
            online=facts.online,
        )  # facts is None only for a list invitees_resolve refused
        op.finish()
    return payloads.InviteAnswer(callID=call_id, timeout=timeout, errorInvitees=errors)


def _open_as_accepted_member(
    call_id: str, user: Any, device_id: str, extended_data: str, action: str, push_config: dict | None = None
) -> tuple[Operation, CallUser]:
    """An advanced, running call and the user's Accepted membership in it."""
    op, member = open_operation(call_id, user, device_id, extended_data, push_config)
    member = require_member(member)
    require_advanced(op)
    require_started(op)
    if member.state != S.ACCEPTED:
        raise CallError("invalid_state", f"only an Accepted member can {action}")
    return op, member


def call_join(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = ""
) -> payloads.JoinAnswer:
    """callJoin: enter an advanced call, or move it to this device."""
    with transaction.atomic():
        op, member = open_operation(call_id, user, device_id, extended_data)
        if op.call.group_id and not op.call.group.members.filter(pk=user.pk).exists():
            raise CallError("call_not_found")  # a group call is open to its group's members only
        if member is None and op.call.mode != CallMode.ADVANCED:
            raise CallError("call_not_found")  # only an advanced call is open to non-members: others learn nothing
        require_advanced(op)
        require_started(op)
        if member is None:
            if len(op.members) >= settings.CALL_MAX_PARTICIPANTS:
                raise CallError("too_many_participants")
            member = CallUser(call=op.call, user=user, state=S.UNKNOWN)
            op.members.append(member)
            op.move(member, states.JOIN, extended_data=extended_data)
        elif member.state == S.ACCEPTED:
            if member.device_id == device_id:
                raise CallError("invalid_state", "already in the call on this device")
            op.move(member, states.JOIN, reason="device_moved", extended_data=extended_data)
        else:
            member.accepted_at = None
            op.move(member, states.JOIN, extended_data=extended_data)
        op.finish()
        return payloads.JoinAnswer(
            callID=call_id,
            createTime=ms(op.call.created_at),
            joinTime=ms(op.now),
            callUserList=[payloads.member(m) for m in op.members],
        )


def call_quit(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.QuitAnswer:
    """callQuit: an Accepted member leaves an advanced call."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "quit", push_config)
        accepted_at = member.accepted_at
        op.move(member, states.QUIT, extended_data=extended_data)
        op.finish(operated_by=user_id_of(user))
        return payloads.QuitAnswer(
            callID=call_id, createTime=ms(op.call.created_at), acceptTime=ms(accepted_at), quitTime=ms(op.now)
        )


def call_end(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.EndAnswer:
    """callEnd: an Accepted member ends an advanced call for everyone."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "end the call", push_config)
        op.end(operated_by=user_id_of(user))
        op.finish()
        return payloads.EndAnswer(
            callID=call_id, createTime=ms(op.call.created_at), acceptTime=ms(member.accepted_at), endTime=ms(op.now)
        )


def call_end_by_operator(
    *, operator: AbstractBaseUser, call_id: str, extended_data: str = ""
) -> payloads.OperatorEndAnswer:
    """An operator (admin) ends a call of either mode; the log names the operator."""
    with transaction.atomic():
        op, _ = open_operation(call_id, operator, "admin", extended_data, any_tenant=True)
        require_started(op)
        # an operator of the site is no userID of an app's: its calls say "" (as for a deadline)
        op.end(operated_by=user_id_of(operator) if tenant_of(operator) == tenant_of(op.call.caller) else "")
        op.finish()
        return payloads.OperatorEndAnswer(callID=call_id, endTime=ms(op.now))
