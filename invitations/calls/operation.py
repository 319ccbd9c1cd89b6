"""The operation machinery: one locked operation on one call, and batches of many.

Every writer of a call's members locks the Call row first (`open_operation`,
`each_call_locked`), so the row lock serializes them. An `Operation` moves
members along the transition table (states.py), and `finish()` applies the
mode's end rule, writes the rows, queues the frames for after commit, and
hands an `OperationRecord` (what the operation did) to the registered
handlers, inside the same transaction.

The locked reads and the writes go through reads.py and writes.py, one round
trip each. A record handler (push, webhooks, media; records.py) does its work
in the writes' round trip: the record is made before the writes, the handler
answers with its statements (INSERT ... SELECT of its outbox rows), they run
after the operation's own, and the handler's `then` gets their rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from invitations.accounts.tenancy import tenant_of, user_id_of
from invitations.calls import payloads, reads, sql, states, writes
from invitations.calls.errors import CallError
from invitations.calls.records import HandlerWrites, MemberChange, OperationRecord, handler_statements, handlers_then
from invitations.calls.states import ACTIVE, PENDING, CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallEvent, CallUser
from invitations.realtime.publish import PendingFrames

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# What an operation may change on a Call (the end of the call, and its seq).
CALL_FIELDS = ["seq", "state", "ended_at", "ended_by"]
# Every field move() writes on an existing member: what a batch writes back
# (end() clears call_running on every member).
MOVE_FIELDS = list(sql.MOVE_FIELDS)


# Called with the records of each write, inside its transaction, before its rows
# are written (a new call's pk is set once they are): a handler answers with the
# statements that write its outbox rows, or None, so they commit (or roll back)
# with the operation.
RecordHandler = Callable[[list[OperationRecord]], "HandlerWrites | None"]
_record_handlers: list[RecordHandler] = []


def register_record_handler(handler: RecordHandler) -> RecordHandler:
    if handler not in _record_handlers:
        _record_handlers.append(handler)
    return handler


def _handler_writes(records: list[OperationRecord]) -> list[HandlerWrites]:
    return [w for w in (handler(records) for handler in _record_handlers) if w is not None]


# --- one operation ----------------------------------------------------------------------------


@dataclass
class Operation:
    """What one locked operation on one call changes and sends."""

    call: Call
    members: list[CallUser]
    actor: Any
    device_id: str
    now: datetime
    extended_data: str = ""
    # callQuit / callEnd: carried into the state-change and end frames they send
    push_config: dict | None = None
    created: bool = False
    changed: list[CallUser] = field(default_factory=list)
    frames: PendingFrames = field(default_factory=PendingFrames)
    seq_taken: bool = False
    offline_invitee_ids: list[int] = field(default_factory=list)
    silent_invitee_ids: list[int] = field(default_factory=list)
    operated_by: str | None = None
    # Writes are collected and made in finish(): one row per member however
    # often it moved, and the log in one INSERT.
    log: list[CallEvent] = field(default_factory=list)
    after_save: list[Callable[[], None]] = field(default_factory=list)
    # Set when many calls are handled in one transaction: writes go there.
    batch: Batch | None = None
    _first_state: dict[int, int] = field(default_factory=dict)

    def seq(self) -> int:
        if not self.seq_taken:
            self.call.seq += 1
            self.seq_taken = True
        return self.call.seq

    def member_of(self, user: Any) -> CallUser | None:
        return next((m for m in self.members if m.user_id == user.pk), None)

    def pending(self) -> list[CallUser]:
        return [m for m in self.members if m.state in PENDING]

    def active_user_ids(self) -> list[int]:
        return [m.user_id for m in self.members if m.state in ACTIVE]

    def move(self, member: CallUser, operation: str, *, reason: str = "", extended_data: str | None = None) -> None:
        """Move one member along the transition table and log it (writes only MOVE_FIELDS)."""
        if not states.can_transition(operation, member.state):
            raise CallError("invalid_state", f"{user_id_of(member.user)} is {S(member.state).name}; cannot {operation}")
        before = member.state
        self._first_state.setdefault(id(member), before)
        member.state = states.target_state(operation)
        member.reason = reason
        if extended_data is not None:
            member.extended_data = extended_data
        if operation in (states.ACCEPT, states.JOIN):
            member.accepted_at = member.accepted_at or self.now
            member.responded_at = member.responded_at or self.now
            member.device_id = self.device_id
        elif operation == states.REJECT:
            member.responded_at = self.now
            member.device_id = self.device_id
        elif operation == states.QUIT:
            member.quit_at = self.now
        self.log.append(
            CallEvent(
                call=self.call,
                seq=self.seq(),
                user=member.user,
                actor=self.actor,
                device_id=self.device_id,
                from_state=before,
                to_state=member.state,
                reason=reason,
                extended_data=member.extended_data,
                created_at=self.now,
            )
        )
        if member not in self.changed:
            self.changed.append(member)

    def end(self, *, operated_by: str) -> None:
        call = self.call
        call.state = CallState.ENDED
        call.ended_at = self.now
        for member in self.members:  # written for every member of the call (writes.py)
            member.call_running = False
        self.operated_by = operated_by
        if self.actor is not None and getattr(self.actor, "pk", None):
            call.ended_by_id = self.actor.pk
        self.log.append(
            CallEvent(
                call=call,
                seq=self.seq(),
                kind="call_ended",
                actor=self.actor if getattr(self.actor, "pk", None) else None,
                device_id=self.device_id,
                extended_data=self.extended_data,
                created_at=self.now,
            )
        )
        data = payloads.invitation_ended(
            call, operated_by=operated_by, extended_data=self.extended_data, push_config=self.push_config
        )
        self.frames.add(self.active_user_ids(), payloads.event_frame("callInvitationEnded", call.seq, data))

    def finish(self, *, operated_by: str | None = None) -> None:
        """End the call if the mode's rule says so, save it, queue the events."""
        call = self.call
        if call.state == CallState.STARTED and self._should_end():
            self.end(operated_by=operated_by if operated_by is not None else self._operator_name())
        if self.seq_taken and self.changed:
            recipients = set(self.active_user_ids()) | {m.user_id for m in self.changed}
            data = payloads.user_state_changed(call, self.changed, push_config=self.push_config)
            frame = payloads.event_frame("callUserStateChanged", call.seq, data)
            # state changes go before the end notice
            for uid in recipients:
                self.frames.frames[uid].insert(self._state_change_slot(uid), frame)
        if self.batch is not None:
            if self.seq_taken:
                self.batch.add(self)
            return
        # Registered first, so after commit the events go out before the jobs are scheduled.
        self.frames.send_on_commit()
        if not self.seq_taken:
            return
        # the record is known before the writes: the handlers' rows go in the same round trip
        answers = _handler_writes([self.record()])
        rows = writes.save_operation(self, handler_statements(answers))
        self._after_save()
        handlers_then(answers, rows)

    def record(self) -> OperationRecord:
        return OperationRecord(
            call=self.call,
            seq=self.call.seq,
            created=self.created,
            changes=tuple(
                MemberChange(
                    member=m,
                    user_id=m.user_id,
                    username=m.user.username,
                    from_state=self._first_state.get(id(m), m.state),
                    to_state=m.state,
                    reason=m.reason,
                )
                for m in self.changed
            ),
            ended=self.ended_now(),
            operated_by=self.operated_by,
            offline_invitee_ids=tuple(self.offline_invitee_ids),
            members=tuple(self.members),
            silent_invitee_ids=tuple(self.silent_invitee_ids),
        )

    def _after_save(self) -> None:
        for hook in self.after_save:
            hook()

    def ended_now(self) -> bool:
        """Whether this operation ended the call."""
        return self.call.state == CallState.ENDED and self.operated_by is not None

    def _state_change_slot(self, user_id: int) -> int:
        frames = self.frames.frames[user_id]
        ended = [i for i, f in enumerate(frames) if f.get("event") == "callInvitationEnded"]
        return ended[0] if ended else len(frames)

    def _operator_name(self) -> str:
        return user_id_of(self.actor) if getattr(self.actor, "pk", None) else ""

    def _should_end(self) -> bool:
        if self.pending():
            return False
        if self.call.mode == CallMode.GENERAL:
            return True
        return not any(m.state == S.ACCEPTED for m in self.members)


# --- opening one call under its lock ----------------------------------------------------------


def lock_call_with_members(call_id: str) -> tuple[Call, list[CallUser]]:
    """The call locked (with caller and group), then its members with users and inviters, in pk order."""
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text, and no call has one
        raise CallError("call_not_found")
    found = reads.lock_call_with_members(call_id)  # one round trip
    if found is None:
        raise CallError("call_not_found")
    return found


def lock_calls_with_members(
    pks: list[int], *, started_only: bool, skip_locked: bool = False
) -> tuple[list[Call], dict[int, list[CallUser]]]:
    """Calls by pk locked in pk order (those another transaction holds skipped if asked),
    then the members of each, in pk order."""
    return reads.lock_calls_with_members(pks, started_only=started_only, skip_locked=skip_locked)


def open_operation(
    call_id: str,
    user: Any,
    device_id: str,
    extended_data: str = "",
    push_config: dict | None = None,
    *,
    any_tenant: bool = False,
) -> tuple[Operation, CallUser | None]:
    """The call locked, its members loaded, and the user's membership (None if not a member).
    A call of another tenant than the user's is not found (accounts/tenancy.py): no
    operation crosses apps; only the site's operators (`any_tenant`) reach every call."""
    call, members = lock_call_with_members(call_id)
    if not any_tenant and tenant_of(call.caller) != tenant_of(user):
        raise CallError("call_not_found")
    op = Operation(
        call=call,
        members=members,
        actor=user,
        device_id=device_id,
        now=timezone.now(),
        extended_data=extended_data,
        push_config=push_config,
    )
    return op, op.member_of(user)


def require_member(member: CallUser | None) -> CallUser:
    if member is None:
        raise CallError("call_not_found")
    return member


def require_started(op: Operation) -> None:
    if op.call.state != CallState.STARTED:
        raise CallError("call_ended")


def require_advanced(op: Operation) -> None:
    if op.call.mode != CallMode.ADVANCED:
        raise CallError("not_advanced_mode")


# --- many calls in one transaction ------------------------------------------------------------


@dataclass
class Batch:
    """The writes and events of many operations, made in a few statements.

    It writes back CALL_FIELDS of each call and MOVE_FIELDS of each changed
    member (everything move() and end() change), so any operation on existing
    members can be batched; new member rows (callInvite, callJoin) are not
    made here, and the operations that make them never run in a batch.
    """

    ops: list[Operation] = field(default_factory=list)
    frames: PendingFrames = field(default_factory=PendingFrames)

    def add(self, op: Operation) -> None:
        self.ops.append(op)
        for user_id, frames in op.frames.frames.items():
            self.frames.frames[user_id].extend(frames)

    def flush(self) -> None:
        if not self.ops:
            return
        # the statements and the handlers' rows, one round trip
        answers = _handler_writes([op.record() for op in self.ops])
        rows = writes.flush_batch(self, handler_statements(answers))
        self.frames.send_on_commit()
        for op in self.ops:
            op._after_save()
        handlers_then(answers, rows)


def each_call_locked(call_pks: Iterable[int], work: Callable[[Operation], int], *, skip_locked: bool = False) -> int:
    """Run work(op) for each running call, BATCH_SIZE calls per transaction,
    each call under its row lock. With skip_locked, a call another
    transaction holds is left for the next run (sweeps and jobs share work).

    One bad call must not block the others: a batch that fails is rolled back
    and retried one call per transaction; a call that fails alone is logged
    and skipped (it stays as it was, and is tried again on the next run)."""
    done = 0
    pks = sorted(set(call_pks))
    for start in range(0, len(pks), BATCH_SIZE):
        chunk = pks[start : start + BATCH_SIZE]
        try:
            done += _locked_batch(chunk, work, skip_locked)
            continue
        except Exception:
            if len(chunk) == 1:
                _log_skipped(chunk[0], work)
                continue
            logger.warning(
                "%s: a batch of %d calls failed; retrying them one at a time",
                getattr(work, "__name__", "work"),
                len(chunk),
                exc_info=True,
            )
        for pk in chunk:
            try:
                done += _locked_batch([pk], work, skip_locked)
            except Exception:
                _log_skipped(pk, work)
    return done


def _log_skipped(pk: int, work: Callable[[Operation], int]) -> None:
    call_id = Call.objects.filter(pk=pk).values_list("call_id", flat=True).first()
    logger.error(
        "%s: skipping call %s (pk %s), it fails on its own; left as it was",
        getattr(work, "__name__", "work"),
        call_id,
        pk,
        exc_info=True,
    )


def _locked_batch(pks: list[int], work: Callable[[Operation], int], skip_locked: bool) -> int:
    """work(op) for these calls in one transaction; the count once committed."""
    done = 0
    with transaction.atomic():
        calls, members = lock_calls_with_members(pks, started_only=True, skip_locked=skip_locked)
        batch = Batch()
        now = timezone.now()
        for call in calls:
            op = Operation(call=call, members=members[call.pk], actor=None, device_id="", now=now, batch=batch)
            done += work(op)
            op.finish()  # operatedUserID: the acting user if any (caller_offline), else ""
        batch.flush()
    return done
