"""Deadlines: timeouts, the not-received check, the caller-offline rule, and
the sweep that redoes whatever a lost or late job missed.

Each handles many calls in batches (operations.each_call_locked), every call
under its row lock, so a doubled, late or early run is harmless.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .. import payloads, states
from ..models import Call, CallUser, Connection
from ..states import PENDING, CallMode, CallState, CallUserState as S
from . import sql
from .calls import cancel_invitees
from .operations import BATCH_SIZE, Operation, each_call_locked
from .presence import server_processes_reap


def _expire_overdue(op: Operation) -> int:
    overdue = [m for m in op.pending() if m.deadline and m.deadline <= op.now]
    for member in overdue:
        op.move(member, states.EXPIRE, reason="timeout")
        frame = payloads.event_frame("callInvitationTimeout", op.seq(), payloads.invitation_timeout(op.call))
        op.frames.add([member.user_id], frame)
    return len(overdue)


def invitations_expire_due(*, call_id: str | None = None, user: object = None) -> int:
    """Time out every pending invitee whose deadline has passed; returns how many."""
    if (call_id is not None or user is not None) and sql.fast():  # a read asks first: one raw statement
        if call_id is not None and "\x00" in call_id:
            return 0
        pks = sql.due_call_ids(user_id=getattr(user, "pk", None), call_id=call_id)
        return each_call_locked(pks, _expire_overdue) if pks else 0
    due = CallUser.objects.filter(state__in=list(PENDING), deadline__lte=timezone.now(), call__state=CallState.STARTED)
    if call_id is not None:
        if "\x00" in call_id:  # no such call (and PostgreSQL refuses NUL in text)
            return 0
        due = due.filter(call__call_id=call_id)
    if user is not None:
        due = due.filter(call__members__user=user)

    expire = _expire_overdue
    if call_id is not None or user is not None:  # a read path: this call, now
        return each_call_locked(due.values_list("call_id", flat=True), expire)
    total = 0
    for _ in range(50):  # bounded: a job or sweep must return
        pks = list(due.values_list("call_id", flat=True)[:BATCH_SIZE * 5])
        done = each_call_locked(pks, expire, skip_locked=True) if pks else 0
        total += done
        if not done:
            break
    return total


def invitations_mark_not_received() -> int:
    """enableNotReceivedCheck: invitees still Inviting after the check delay."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    due = CallUser.objects.filter(state=S.INVITING, not_received_check=True, invited_at__lte=cutoff,
                                  call__state=CallState.STARTED)

    def mark(op: Operation) -> int:
        late = [m for m in op.members if m.state == S.INVITING and m.not_received_check and m.invited_at <= cutoff
                and not (m.deadline and m.deadline <= op.now)]
        for member in late:
            op.move(member, states.NOT_RECEIVED)
        return len(late)

    return each_call_locked(due.values_list("call_id", flat=True)[:1000], mark, skip_locked=True)


def callers_offline_cancel(*, user_id: int | None = None) -> int:
    """Cancel calls whose caller has been without a device for the heartbeat timeout."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    calls = Call.objects.filter(state=CallState.STARTED, watch_caller_presence=True,
                                caller__presence__last_offline_at__lte=cutoff).exclude(
        caller__connections__isnull=False)
    if user_id is not None:
        calls = calls.filter(caller_id=user_id)

    def cancel(op: Operation) -> int:
        caller_id = op.call.caller_id
        if Connection.objects.filter(user_id=caller_id).exists():
            return 0
        if any(m.accepted_at for m in op.members if m.user_id != caller_id):
            return 0
        targets = op.pending()
        if not targets:
            return 0
        op.actor = op.call.caller
        cancel_invitees(op, targets, reason="caller_offline")
        if op.call.mode == CallMode.ADVANCED:
            # the caller is gone and nobody answered: nothing is left of the call
            op.end(operated_by=op.call.caller.username)
        return len(targets)

    return each_call_locked(calls.values_list("pk", flat=True)[:1000], cancel)


def sweep() -> dict[str, int]:
    """Everything a lost or late job would have done. Safe to run anywhere, any time."""
    return {
        "reaped_servers": server_processes_reap(),
        "expired": invitations_expire_due(),
        "not_received": invitations_mark_not_received(),
        "caller_offline": callers_offline_cancel(),
    }
