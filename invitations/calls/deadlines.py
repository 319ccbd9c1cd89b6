"""Deadlines: timeouts, the not-received check, the caller-offline rule, the
members-away rule, and the sweep that redoes whatever a lost or late job missed.

Each handles many calls in batches (operations.each_call_locked), every call
under its row lock, so a doubled, late or early run is harmless.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.db.models import Exists, OuterRef
from django.utils import timezone

from invitations.calls import payloads, states
from invitations.calls.actions.answer import cancel_invitees
from invitations.calls.operation import BATCH_SIZE, Operation, each_call_locked
from invitations.calls.states import PENDING, CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.delivery.push import push_requeue_due
from invitations.delivery.webhooks import webhook_requeue_due
from invitations.media.rooms import media_task_requeue_due, rooms_destroy_due
from invitations.media.servers import servers_check
from invitations.models import Call, CallUser, Connection, DeviceAway
from invitations.realtime.presence import server_processes_reap

logger = logging.getLogger(__name__)


def _expire(op: Operation) -> int:
    """Time out the call's pending invitees whose deadline has passed, re-checked under its lock."""
    overdue = [m for m in op.pending() if m.deadline and m.deadline <= op.now]
    for member in overdue:
        op.move(member, states.EXPIRE, reason="timeout")
        frame = payloads.event_frame("callInvitationTimeout", op.seq(), payloads.invitation_timeout(op.call))
        op.frames.add([member.user_id], frame)
    return len(overdue)


def _expire_in_streams(pks: list[int], streams: int) -> int:
    """Expire these calls in `streams` transactions at a time, each on its own
    thread and connection over its own share of the calls: one stream's
    database round trips and event publishing overlap another's work."""

    def stream(share: list[int]) -> int:
        try:
            return each_call_locked(share, _expire, skip_locked=True)
        finally:
            connections.close_all()  # this thread's connection goes back (to the pool)

    shares = [share for share in (pks[i::streams] for i in range(streams)) if share]
    with ThreadPoolExecutor(len(shares), thread_name_prefix="expire") as pool:
        return sum(pool.map(stream, shares))


def invitations_expire_due(
    *, call_id: str | None = None, user: object = None, group_id: str | None = None, streams: int = 1
) -> int:
    """Time out every pending invitee whose deadline has passed; returns how many.

    `streams` > 1 splits a large burst over that many concurrent transactions;
    the row locks (SKIP LOCKED) and the re-check keep any two from expiring the
    same invitation."""
    due = CallUser.objects.filter(state__in=list(PENDING), deadline__lte=timezone.now(), call__state=CallState.STARTED)
    if call_id is not None:
        if "\x00" in call_id:  # no such call (and PostgreSQL refuses NUL in text)
            return 0
        due = due.filter(call__call_id=call_id)
    if user is not None:
        due = due.filter(call__members__user=user)
    if group_id is not None:
        due = due.filter(call__group__group_id=group_id)

    if call_id is not None or user is not None or group_id is not None:  # a read path: these calls, now
        return each_call_locked(due.values_list("call_id", flat=True), _expire)
    if connection.in_atomic_block:  # other threads would not see its rows
        streams = 1
    total = 0
    for _ in range(50):  # bounded: a job or sweep must return
        pks = sorted(set(due.values_list("call_id", flat=True)[: BATCH_SIZE * 5]))
        if not pks:
            break
        if streams > 1 and len(pks) > BATCH_SIZE // 4:
            done = _expire_in_streams(pks, streams)
        else:
            done = each_call_locked(pks, _expire, skip_locked=True)
        total += done
        if not done:
            break
    return total


def invitations_mark_not_received() -> int:
    """enableNotReceivedCheck: invitees still Inviting after the check delay."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    due = CallUser.objects.filter(
        state=S.INVITING, not_received_check=True, invited_at__lte=cutoff, call__state=CallState.STARTED
    )

    def mark(op: Operation) -> int:
        late = [
            m
            for m in op.members
            if m.state == S.INVITING
            and m.not_received_check
            and m.invited_at <= cutoff
            and not (m.deadline and m.deadline <= op.now)
        ]
        for member in late:
            op.move(member, states.NOT_RECEIVED)
        return len(late)

    return each_call_locked(due.values_list("call_id", flat=True)[:1000], mark, skip_locked=True)


def callers_offline_cancel(*, user_id: int | None = None) -> int:
    """Cancel calls whose caller has been without a device for the heartbeat timeout."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    calls = Call.objects.filter(
        state=CallState.STARTED, watch_caller_presence=True, caller__presence__last_offline_at__lte=cutoff
    ).exclude(caller__connections__isnull=False)
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


def _caller_offline_applies(op: Operation, member: CallUser) -> bool:
    """The caller of a call nobody answered, with no device at all: the
    caller-offline rule cancels its invitees (callers_offline_cancel)."""
    call = op.call
    return (
        member.user_id == call.caller_id
        and call.watch_caller_presence
        and bool(op.pending())
        and not any(m.accepted_at for m in op.members if m.user_id != call.caller_id)
        and not Connection.objects.filter(user_id=call.caller_id).exists()
    )


def _quit_away(op: Operation, cutoff) -> int:
    """Under the call's lock: each Accepted member whose call device has been
    away since `cutoff` or before, and is still not connected, becomes Quit
    (offline); the call ends if no Accepted member is left, or (general mode)
    no pending invitee."""
    with_device = [m for m in op.members if m.state == S.ACCEPTED and m.device_id]
    if not with_device:
        return 0
    user_ids = [m.user_id for m in with_device]
    away = set(DeviceAway.objects.filter(user_id__in=user_ids, since__lte=cutoff).values_list("user_id", "device_id"))
    # a reconnect committed before this read keeps the member; one after it finds the member Quit
    connected = set(Connection.objects.filter(user_id__in=user_ids).values_list("user_id", "device_id"))
    gone = [
        m
        for m in with_device
        if (m.user_id, m.device_id) in away
        and (m.user_id, m.device_id) not in connected
        and not _caller_offline_applies(op, m)
    ]
    for member in gone:
        op.actor, op.device_id = member.user, member.device_id
        op.move(member, states.QUIT, reason="offline")
    if gone and op.call.state == CallState.STARTED:
        accepted_left = any(m.state == S.ACCEPTED for m in op.members)
        if not accepted_left or (op.call.mode == CallMode.GENERAL and not op.pending()):
            op.end(operated_by=gone[-1].user.username)
    return len(gone)


def members_away_quit(*, user_id: int | None = None) -> int:
    """Accepted members whose call device has been away for the heartbeat
    timeout become Quit (offline). Without `user_id` (the sweep) it also starts
    the clock for call devices found without a socket and without a clock (a
    close that raced the accept, a process that died), and forgets clocks that
    no running call needs."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    same_device = {"user_id": OuterRef("user_id"), "device_id": OuterRef("device_id")}
    accepted = CallUser.objects.filter(state=S.ACCEPTED, call_running=True).exclude(device_id="")
    if user_id is None:
        orphans = (
            accepted.filter(call__state=CallState.STARTED)
            .exclude(Exists(Connection.objects.filter(**same_device)))
            .exclude(Exists(DeviceAway.objects.filter(**same_device)))
            .values_list("user_id", "device_id")
            .distinct()[:1000]
        )
        DeviceAway.objects.bulk_create(
            [DeviceAway(user_id=u, device_id=d, since=now) for u, d in orphans], ignore_conflicts=True
        )
    due = accepted.filter(
        Exists(DeviceAway.objects.filter(**same_device, since__lte=cutoff)), call__state=CallState.STARTED
    )
    if user_id is not None:
        due = due.filter(user_id=user_id)

    def quit_away(op: Operation) -> int:
        return _quit_away(op, cutoff)

    done = each_call_locked(due.values_list("call_id", flat=True)[:1000], quit_away)
    if user_id is None:
        DeviceAway.objects.filter(since__lte=cutoff).exclude(
            Exists(accepted.filter(user_id=OuterRef("user_id"), device_id=OuterRef("device_id")))
        ).delete()
    return done


def sweep() -> dict[str, int]:
    """Everything a lost or late job would have done. Safe to run anywhere, any
    time. A step that fails is logged and the others still run."""
    result: dict[str, int] = {}
    steps = (
        ("reaped_servers", server_processes_reap),
        ("expired", invitations_expire_due),
        ("not_received", invitations_mark_not_received),
        ("caller_offline", callers_offline_cancel),
        ("members_away", members_away_quit),
        # outboxes: due messages whose job was lost, retries whose time came
        ("push_queued", push_requeue_due),
        ("webhooks_queued", webhook_requeue_due),
        # media rooms: rooms whose call's media is over, the servers' health, tasks to redo
        ("media_rooms_destroyed", rooms_destroy_due),
        ("media_servers_changed", servers_check),
        ("media_tasks_queued", media_task_requeue_due),
    )
    for name, step in steps:
        try:
            result[name] = step()
        except Exception:
            logger.exception("sweep: %s failed; going on with the other steps", name)
            result[name] = 0
    return result
