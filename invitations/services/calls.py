"""PROTOCOL's call operations: callInvite, callCancel, callAccept, callReject,
callingInvite, callJoin, callQuit, callEnd, and the operator's end.

Each runs in one transaction around one locked Operation (operations.py); a
refusal raises CallError before anything is written or inside the
transaction, which then rolls back.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .. import payloads, ratelimit, scheduling, states
from ..errors import CallError
from ..models import Call, CallUser, Connection
from ..payloads import ms
from ..states import PENDING, CallMode, CallState, CallUserState as S
from . import sql
from .operations import Operation, open_operation, require_advanced, require_member, require_started

User = get_user_model()

MAX_INVITEES = settings.CALL_MAX_PARTICIPANTS - 1


# --- invitations --------------------------------------------------------------------------------


def _online_user_ids(user_ids: Iterable[int]) -> set[int]:
    return set(Connection.objects.filter(user_id__in=list(user_ids)).values_list("user_id", flat=True))


def _resolve_invitees(op: Operation, invitees: list[str],
                      found: dict[str, Any] | None = None) -> tuple[list[Any], list[payloads.ErrorInvitee]]:
    """Users who can be invited now, and errorInvitees for the others (`found`: the
    active users by username, when already read)."""
    names = list(dict.fromkeys(invitees))
    if len(invitees) > MAX_INVITEES:  # counted as sent: a list of 10 is too long even with repeats
        raise CallError("too_many_participants", f"at most {MAX_INVITEES} invitees at once")
    if found is None:
        found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    ok: list[Any] = []
    errors: list[payloads.ErrorInvitee] = []
    for name in names:
        user = found.get(name)
        member = op.member_of(user) if user else None
        if user is None:
            errors.append(payloads.ErrorInvitee(userID=name, reason="user_not_found"))
        elif (member is not None and not states.can_transition(states.INVITE, member.state)) or (
            member is None and user.pk == op.call.caller_id  # callInvite: the caller is not a member row yet
        ):
            errors.append(payloads.ErrorInvitee(userID=name, reason="already_in_call_member"))
        else:
            ok.append(user)
    if not ok:
        raise CallError("no_invitee_registered", "none of the invitees can be invited: "
                        + ", ".join(f"{e['userID']} ({e['reason']})" for e in errors))
    new_users = [u for u in ok if op.member_of(u) is None]
    if len(op.members) + len(new_users) > settings.CALL_MAX_PARTICIPANTS:
        raise CallError("too_many_participants", f"a call has at most {settings.CALL_MAX_PARTICIPANTS} members")
    return ok, errors


def _invite(op: Operation, users: list[Any], *, inviter: Any, timeout: int, not_received_check: bool,
            push_config: dict | None, online: set[int] | None = None) -> list[CallUser]:
    """Invite users into op.call; online invitees are delivered at once."""
    online = _online_user_ids(u.pk for u in users) if online is None else online
    deadline = op.now + timedelta(seconds=timeout)
    # callInvite's invitees get the call's extendedData, callingInvite's the inviter's
    invitation_data = op.call.extended_data if inviter.pk == op.call.caller_id else op.extended_data
    invited = []
    for user in users:
        member = op.member_of(user)
        if member is None:
            member = CallUser(call=op.call, user=user, state=S.UNKNOWN)
            op.members.append(member)
        member.inviter = inviter
        member.invited_at = op.now
        member.deadline = deadline
        member.not_received_check = not_received_check
        member.invitation_extended_data = invitation_data
        member.invitation_push_config = push_config or None
        member.accepted_at = member.responded_at = member.quit_at = None
        member.device_id = ""
        op.move(member, states.INVITE, extended_data="")
        if user.pk in online:
            op.move(member, states.DELIVER)
        else:
            op.offline_invitee_ids.append(user.pk)
        invited.append(member)
    # One job each for the whole operation: each job handles everything due at its time.
    op.after_save.append(lambda: scheduling.schedule_expiry(deadline))
    unreached = [m for m in invited if m.state == S.INVITING]
    if not_received_check and unreached:
        op.after_save.append(lambda: scheduling.schedule_not_received_check(op.now, unreached[0].pk))
    # Built from an invitee's row, as on connect; the invitees of one operation share
    # inviter, deadline and data, so one frame serves them all (encoded once).
    data = payloads.invitation_received(op.call, invited[0], op.members)
    op.frames.add([m.user_id for m in invited], payloads.event_frame("callInvitationReceived", op.seq(), data))
    return invited


def call_invite(
    *,
    user: AbstractBaseUser,
    device_id: str = "",
    invitees: list[str],
    timeout: int = settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    mode: int = CallMode.GENERAL,
    extended_data: str = "",
    enable_not_received_check: bool = False,
    push_config: dict | None = None,
) -> payloads.InviteAnswer:
    """callInvite: create a call with the user as caller (Accepted)."""
    ratelimit.invitation_attempt(user)
    with transaction.atomic():
        # The caller's row locked first: it serializes one user's concurrent callInvite/callJoin
        # for the already_in_call check; then the invitees and who is online (sql.py).
        busy, found, online = sql.invite_checks(user, list(dict.fromkeys(invitees))[:MAX_INVITEES + 1])
        if busy:
            raise CallError("already_in_call")
        now = timezone.now()
        call = Call(
            call_id=secrets.token_urlsafe(16),  # 128 random bits
            caller=user,
            mode=mode,
            extended_data=extended_data,
            push_config=push_config,
            created_at=now,
        )
        op = Operation(call=call, members=[], actor=user, device_id=device_id, now=now, extended_data=extended_data,
                       created=True)
        users, errors = _resolve_invitees(op, invitees, found)
        call.watch_caller_presence = user.pk in online
        caller = CallUser(call=call, user=user, state=S.UNKNOWN)
        op.members.append(caller)
        op.move(caller, states.JOIN)
        _invite(op, users, inviter=user, timeout=timeout, not_received_check=enable_not_received_check,
                push_config=push_config, online=online)
        created = payloads.invitation_created(call, op.members, timeout=timeout)
        op.frames.frames[user.pk].insert(0, payloads.event_frame("callInvitationCreated", op.seq(), created))
        op.finish()
    return payloads.InviteAnswer(callID=call.call_id, timeout=timeout, errorInvitees=errors, createTime=ms(now))


def calling_invite(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    invitees: list[str],
    timeout: int = settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.InviteAnswer:
    """callingInvite: an Accepted member of an advanced call invites more users."""
    ratelimit.invitation_attempt(user)
    with transaction.atomic():
        op, _ = _open_as_accepted_member(call_id, user, device_id, extended_data, "invite")
        users, errors = _resolve_invitees(op, invitees)
        _invite(op, users, inviter=user, timeout=timeout, not_received_check=False, push_config=push_config)
        op.finish()
    return payloads.InviteAnswer(callID=call_id, timeout=timeout, errorInvitees=errors)


# --- cancel, accept, reject ---------------------------------------------------------------------


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
            by_name = {m.user.username: m for m in op.members}
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


def _answer(*, user: Any, call_id: str, device_id: str, extended_data: str, operation: str,
            reason: str) -> payloads.CallIDAnswer:
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


def call_accept(*, user: AbstractBaseUser, call_id: str, device_id: str = "",
                extended_data: str = "") -> payloads.CallIDAnswer:
    """callAccept: a pending invitee joins the call."""
    return _answer(user=user, call_id=call_id, device_id=device_id, extended_data=extended_data,
                   operation=states.ACCEPT, reason="")


def call_reject(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "", reason: str = "declined"
) -> payloads.CallIDAnswer:
    """callReject: a pending invitee declines (reason `declined` or `busy`)."""
    return _answer(user=user, call_id=call_id, device_id=device_id, extended_data=extended_data,
                   operation=states.REJECT, reason=reason)


# --- advanced mode: join, quit, end -------------------------------------------------------------


def _open_as_accepted_member(call_id: str, user: Any, device_id: str, extended_data: str, action: str,
                             push_config: dict | None = None) -> tuple[Operation, CallUser]:
    """An advanced, running call and the user's Accepted membership in it."""
    op, member = open_operation(call_id, user, device_id, extended_data, push_config)
    member = require_member(member)
    require_advanced(op)
    require_started(op)
    if member.state != S.ACCEPTED:
        raise CallError("invalid_state", f"only an Accepted member can {action}")
    return op, member


def call_join(*, user: AbstractBaseUser, call_id: str, device_id: str = "",
              extended_data: str = "") -> payloads.JoinAnswer:
    """callJoin: enter an advanced call, or move it to this device."""
    with transaction.atomic():
        op, member = open_operation(call_id, user, device_id, extended_data)
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
        return payloads.JoinAnswer(callID=call_id, createTime=ms(op.call.created_at), joinTime=ms(op.now),
                                   callUserList=[payloads.member(m) for m in op.members])


def call_quit(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.QuitAnswer:
    """callQuit: an Accepted member leaves an advanced call."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "quit", push_config)
        accepted_at = member.accepted_at
        op.move(member, states.QUIT, extended_data=extended_data)
        op.finish(operated_by=user.username)
        return payloads.QuitAnswer(callID=call_id, createTime=ms(op.call.created_at), acceptTime=ms(accepted_at),
                                   quitTime=ms(op.now))


def call_end(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "",
    push_config: dict | None = None,
) -> payloads.EndAnswer:
    """callEnd: an Accepted member ends an advanced call for everyone."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "end the call", push_config)
        op.end(operated_by=user.username)
        op.finish()
        return payloads.EndAnswer(callID=call_id, createTime=ms(op.call.created_at),
                                  acceptTime=ms(member.accepted_at), endTime=ms(op.now))


def call_end_by_operator(*, operator: AbstractBaseUser, call_id: str,
                         extended_data: str = "") -> payloads.OperatorEndAnswer:
    """An operator (admin) ends a call of either mode; the log names the operator."""
    with transaction.atomic():
        op, _ = open_operation(call_id, operator, "admin", extended_data)
        require_started(op)
        op.end(operated_by=operator.username)
        op.finish()
        return payloads.OperatorEndAnswer(callID=call_id, endTime=ms(op.now))
