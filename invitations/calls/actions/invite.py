"""callInvite: a new call, its invitees resolved and refused where PROTOCOL says, glare merged.

Each operation runs in one transaction around one locked Operation
(calls/operation.py); a refusal raises CallError before anything is written or
inside the transaction, which then rolls back.
"""

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from invitations.accounts import ratelimit
from invitations.accounts.tenancy import tenant_of, usernames_for
from invitations.calls import payloads, states
from invitations.calls.errors import CallError
from invitations.calls.operation import (
    Operation,
    lock_calls_with_members,
)
from invitations.calls.payloads import ms
from invitations.calls.reads import InviteeFacts, InviteReads, in_call, invite_reads
from invitations.calls.reads import invitee_facts as read_invitee_facts
from invitations.calls.states import PENDING, CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser
from invitations.worker import scheduling

MAX_INVITEES = settings.CALL_MAX_PARTICIPANTS - 1


def invitee_facts(user_ids: list[str], *, inviter: Any, group: Any, caller_id: int | None) -> InviteeFacts:
    """The active users of the inviter's tenant by userID, which of them are in the group
    (None: no group; a group call invites only its group's members), and who of them (and
    the caller, if given) is online."""
    usernames = list(usernames_for(tenant_of(inviter), user_ids).values())
    return read_invitee_facts(usernames, group_pk=group.pk if group is not None else None, caller_id=caller_id)


def require_invitee_count(invitees: list[str]) -> None:
    if len(invitees) > MAX_INVITEES:  # counted as sent: a list of 10 is too long even with repeats
        raise CallError("too_many_participants", f"at most {MAX_INVITEES} invitees at once")


def invitees_resolve(
    op: Operation, invitees: list[str], *, online_user_only: bool = False, facts: InviteeFacts | None = None
) -> tuple[list[Any], list[payloads.ErrorInvitee]]:
    """Users who can be invited now, and errorInvitees for the others. Invitees are userIDs of
    the inviter's tenant: a userID of another tenant finds nobody (user_not_found)."""
    names = list(dict.fromkeys(invitees))
    require_invitee_count(invitees)
    if facts is None:
        facts = invitee_facts(
            names, inviter=op.actor, group=op.call.group if op.call.group_id else None, caller_id=None
        )
    found, in_group = facts.found, facts.in_group  # by username
    usernames = usernames_for(tenant_of(op.actor), names)
    online = facts.online if online_user_only else None
    ok: list[Any] = []
    errors: list[payloads.ErrorInvitee] = []
    for name in names:
        user = found.get(usernames.get(name, ""))
        member = op.member_of(user) if user else None
        if user is None:
            errors.append(payloads.ErrorInvitee(userID=name, reason="user_not_found"))
        elif in_group is not None and user.pk not in in_group:
            errors.append(payloads.ErrorInvitee(userID=name, reason="not_group_member"))
        elif (member is not None and not states.can_transition(states.INVITE, member.state)) or (
            member is None and user.pk == op.call.caller_id  # callInvite: the caller is not a member row yet
        ):
            errors.append(payloads.ErrorInvitee(userID=name, reason="already_in_call_member"))
        elif online is not None and user.pk not in online:  # onlineUserOnly: not invited, no push
            errors.append(payloads.ErrorInvitee(userID=name, reason="user_offline"))
        else:
            ok.append(user)
    if not ok:
        raise CallError(
            "no_invitee_registered",
            "none of the invitees can be invited: " + ", ".join(f"{e['userID']} ({e['reason']})" for e in errors),
        )
    new_users = [u for u in ok if op.member_of(u) is None]
    # callInvite resolves before the caller has a member row: count the caller too
    caller_to_come = 0 if op.member_of(op.call.caller) is not None else 1
    if len(op.members) + caller_to_come + len(new_users) > settings.CALL_MAX_PARTICIPANTS:
        raise CallError("too_many_participants", f"a call has at most {settings.CALL_MAX_PARTICIPANTS} members")
    return ok, errors


def invitees_ring(
    op: Operation,
    users: list[Any],
    *,
    inviter: Any,
    timeout: int,
    not_received_check: bool,
    push_config: dict | None,
    online: set[int],
    dnd: set[int],
) -> list[CallUser]:
    """Invite users into op.call; online invitees are delivered at once, those in
    do-not-disturb (`dnd`) silently."""
    # timeout 0 (Tencent's): no deadline and no expiry job; an answer, a cancel, the caller going
    # offline or the end of the call ends it
    deadline = op.now + timedelta(seconds=timeout) if timeout else None
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
        if user.pk in dnd:
            op.silent_invitee_ids.append(user.pk)
        invited.append(member)
    # One job each for the whole operation: each job handles everything due at its time.
    if deadline is not None:
        op.after_save.append(lambda: scheduling.schedule_expiry(deadline))
    unreached = [m for m in invited if m.state == S.INVITING]
    if not_received_check and unreached:
        op.after_save.append(lambda: scheduling.schedule_not_received_check(op.now, unreached[0].pk))
    # Built from an invitee's row, as on connect; the invitees of one operation share
    # inviter, deadline and data, so one frame serves them all (encoded once), and one
    # more the silent ones.
    for silent in (False, True):
        told = [m for m in invited if (m.user_id in dnd) == silent]
        if told:
            data = payloads.invitation_received(op.call, told[0], op.members, silent=silent)
            op.frames.add([m.user_id for m in told], payloads.event_frame("callInvitationReceived", op.seq(), data))
    return invited


def call_invite(
    *,
    user: User,
    device_id: str = "",
    invitees: list[str],
    timeout: int = settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    mode: int = CallMode.GENERAL,
    extended_data: str = "",
    enable_not_received_check: bool = False,
    push_config: dict | None = None,
    group_id: str = "",
    online_user_only: bool = False,
) -> payloads.InviteAnswer:
    """callInvite: create a call with the user as caller (Accepted); or, on glare (the one
    invitee is calling this user right now), accept that call instead."""
    ratelimit.invitation_attempt(user, invitees=len(set(invitees)))
    with transaction.atomic():
        names = list(dict.fromkeys(invitees))
        other_name = names[0] if len(names) == 1 and len(invitees) <= MAX_INVITEES else None
        reads = _invite_reads(user=user, group_id=group_id, other_user_id=other_name, user_ids=names)
        group = reads.group
        if reads.in_call:
            raise CallError("already_in_call")
        facts = reads.facts
        if reads.candidates:
            merged = _glare_accept(
                user=user, candidates=reads.candidates, device_id=device_id, extended_data=extended_data
            )
            if merged is not None:
                return payloads.InviteAnswer(
                    callID=merged.call_id,
                    timeout=timeout,
                    errorInvitees=[],
                    createTime=ms(merged.created_at),
                    merged=True,
                )
            # the call that rang may have been answered while the glare check waited for its lock
            _refuse_if_in_call(user)
            facts = None  # read again, after the wait
        if facts is None:
            facts = invitee_facts(names, inviter=user, group=group, caller_id=user.pk)
        now = timezone.now()
        call = Call(
            call_id=secrets.token_urlsafe(16),  # 128 random bits
            caller=user,
            mode=mode,
            extended_data=extended_data,
            push_config=push_config,
            created_at=now,
            group=group,
        )
        op = Operation(
            call=call, members=[], actor=user, device_id=device_id, now=now, extended_data=extended_data, created=True
        )
        users, errors = invitees_resolve(op, invitees, online_user_only=online_user_only, facts=facts)
        online = facts.online
        call.watch_caller_presence = user.pk in online
        caller = CallUser(call=call, user=user, state=S.UNKNOWN)
        op.members.append(caller)
        op.move(caller, states.JOIN)
        invitees_ring(
            op,
            users,
            inviter=user,
            timeout=timeout,
            not_received_check=enable_not_received_check,
            push_config=push_config,
            online=online,
            dnd=facts.dnd,
        )
        created = payloads.invitation_created(call, op.members, timeout=timeout)
        op.frames.frames[user.pk].insert(0, payloads.event_frame("callInvitationCreated", op.seq(), created))
        op.finish()
    return payloads.InviteAnswer(callID=call.call_id, timeout=timeout, errorInvitees=errors, createTime=ms(now))


def _invite_reads(*, user: Any, group_id: str, other_user_id: str | None, user_ids: list[str]) -> InviteReads:
    """callInvite's reads before the call is made, in this order: the group check; the
    user's row and the one invitee's (for glare) locked in pk order; glare's candidate
    calls; already in a call; the invitees (facts, left None here when there are
    candidates: they are read after the glare check's wait)."""
    if group_id and "\x00" in group_id:  # PostgreSQL refuses NUL in text, and no group has one
        raise CallError("group_not_found")
    # Both users' rows are locked in pk order before any call row (no operation locks a user
    # row after a call row): two crossing invites serialize there, and the second sees the
    # first one's call; one user's callInvites serialize there for already_in_call. NO KEY
    # UPDATE: inserting an event or member row takes KEY SHARE on its user, and an operation
    # doing that under its call lock must not wait for this lock. The candidates are read
    # before already-in-call: the user's own callAccept of the other's call takes no user
    # lock, so it can commit between the two reads; read in this order, it is either seen as
    # Accepted by the second read, or the candidate is still there and the glare check waits
    # for its lock, then finds it answered (and refuses).
    tenant = tenant_of(user)  # the invitees, the glare partner and the group: all of the user's tenant
    usernames = usernames_for(tenant, user_ids)
    other_name = usernames.get(other_user_id) if other_user_id is not None else None
    reads = invite_reads(
        user_id=user.pk, tenant=tenant, group_id=group_id, other_name=other_name, names=list(usernames.values())
    )
    if reads.group_missing:
        raise CallError("group_not_found")
    if reads.candidates:
        reads.facts = None
    return reads


def _refuse_if_in_call(user: Any) -> None:
    if in_call(user.pk):
        raise CallError("already_in_call")


def _glare_accept(*, user: Any, candidates: list[int], device_id: str, extended_data: str) -> Call | None:
    """Glare: if `user` is a pending invitee of one of the candidate calls (Started calls
    the one invitee placed that ring `user`), accept the newest as callAccept would, and
    return it; else None.

    Runs with both users' rows locked. The candidate calls are then locked together in
    pk order (the order the sweeps use) and re-checked under their lock."""
    calls, members = lock_calls_with_members(candidates, started_only=False)
    now = timezone.now()
    for call in reversed(calls):  # the newest first
        op = Operation(
            call=call, members=members[call.pk], actor=user, device_id=device_id, now=now, extended_data=extended_data
        )
        member = op.member_of(user)
        if (
            call.state != CallState.STARTED
            or member is None
            or member.state not in PENDING
            or (member.deadline and member.deadline <= now)
        ):
            continue
        op.move(member, states.ACCEPT, extended_data=extended_data)
        op.finish()
        return call
    return None
