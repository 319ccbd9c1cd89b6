"""The only writer of call state: one function per PROTOCOL operation.

Each operation runs in one transaction that locks the Call row (every writer
of a call's members locks it first, so the row lock serializes them), checks
the transition table, writes CallUser and CallEvent rows, and hands its
events and jobs to `transaction.on_commit`. A refusal raises CallError before
anything is written or inside the transaction, which then rolls back.
"""
from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import ratelimit, scheduling, states
from .errors import CallError
from .events import Outbox, event_frame, push_presence_on_commit
from .models import ApiToken, Call, CallEvent, CallUser, Connection, ServerProcess, UserPresence
from .tokens import hash_token
from .states import ACTIVE, PENDING, CallMode, CallState, CallUserState as S

logger = logging.getLogger(__name__)
User = get_user_model()

MAX_INVITEES = settings.CALL_MAX_PARTICIPANTS - 1


def ms(at: datetime | None) -> int:
    return int(at.timestamp() * 1000) if at else 0


def member_dict(member: CallUser, with_reason: bool = False) -> dict[str, Any]:
    info = {"userID": member.user.username, "state": member.state, "extendedData": member.extended_data}
    if with_reason and member.reason:
        info["reason"] = member.reason
    return info


@dataclass
class _Operation:
    """What one locked operation on one call changes and sends."""

    call: Call
    members: list[CallUser]
    actor: Any
    device_id: str
    now: datetime
    extended_data: str = ""
    changed: list[CallUser] = field(default_factory=list)
    outbox: Outbox = field(default_factory=Outbox)
    seq_taken: bool = False
    # Writes are collected and made in finish(): one row per member however
    # often it moved, and the log in one INSERT.
    log: list[CallEvent] = field(default_factory=list)
    after_save: list[Callable[[], None]] = field(default_factory=list)
    # Set when many calls are handled in one transaction: writes go there.
    batch: _Batch | None = None

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
        """Move one member along the transition table and log it."""
        if self.batch is not None and operation not in _BATCHABLE:
            raise RuntimeError(f"{operation} changes fields a batch does not write")
        if not states.can_transition(operation, member.state):
            raise CallError("invalid_state", f"{member.user.username} is {S(member.state).name}; cannot {operation}")
        before = member.state
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
        self.log.append(CallEvent(
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
        ))
        if member not in self.changed:
            self.changed.append(member)

    def finish(self, *, operated_by: str | None = None) -> None:
        """End the call if the mode's rule says so, save it, queue the events."""
        call = self.call
        if call.state == CallState.STARTED and self._should_end():
            self.end(operated_by=operated_by if operated_by is not None else self._operator_name())
        if self.seq_taken and self.changed:
            recipients = set(self.active_user_ids()) | {m.user_id for m in self.changed}
            data = {"callID": call.call_id, "callUserList": [member_dict(m, True) for m in self.changed]}
            frame = event_frame("callUserStateChanged", call.seq, data)
            # state changes go before the end notice
            for uid in recipients:
                self.outbox.frames[uid].insert(self._state_change_slot(uid), frame)
        if self.batch is not None:
            if self.seq_taken:
                self.batch.add(self)
            return
        # Registered first, so after commit the events go out before the jobs are scheduled.
        self.outbox.send_on_commit()
        if self.seq_taken:
            self._save()

    def _save(self) -> None:
        call = self.call
        if call.pk is None:
            call.save()
        else:
            call.save(update_fields=["seq", "state", "ended_at", "ended_by"])
        new = [m for m in self.changed if m._state.adding]
        for member in self.changed:
            if not member._state.adding:
                member.save()
        CallUser.objects.bulk_create(new)
        CallEvent.objects.bulk_create(self.log)
        for hook in self.after_save:
            hook()

    def _state_change_slot(self, user_id: int) -> int:
        frames = self.outbox.frames[user_id]
        ended = [i for i, f in enumerate(frames) if f.get("event") == "callInvitationEnded"]
        return ended[0] if ended else len(frames)

    def _operator_name(self) -> str:
        return getattr(self.actor, "username", "") or ""

    def _should_end(self) -> bool:
        if self.pending():
            return False
        if self.call.mode == CallMode.GENERAL:
            return True
        return not any(m.state == S.ACCEPTED for m in self.members)

    def end(self, *, operated_by: str) -> None:
        call = self.call
        call.state = CallState.ENDED
        call.ended_at = self.now
        if self.actor is not None and getattr(self.actor, "pk", None):
            call.ended_by_id = self.actor.pk
        self.log.append(CallEvent(
            call=call,
            seq=self.seq(),
            kind="call_ended",
            actor=self.actor if getattr(self.actor, "pk", None) else None,
            device_id=self.device_id,
            extended_data=self.extended_data,
            created_at=self.now,
        ))
        data = {
            "callID": call.call_id,
            "caller": call.caller.username,
            "operatedUserID": operated_by,
            "extendedData": self.extended_data,
            "mode": call.mode,
            "endTime": ms(call.ended_at),
        }
        self.outbox.add(self.active_user_ids(), event_frame("callInvitationEnded", call.seq, data))


def _lock_call(call_id: str) -> Call:
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text, and no call has one
        raise CallError("call_not_found")
    try:
        return Call.objects.select_for_update(of=("self",)).select_related("caller").get(call_id=call_id)
    except Call.DoesNotExist:
        raise CallError("call_not_found") from None


def _members(call: Call) -> list[CallUser]:
    return list(CallUser.objects.filter(call=call).select_related("user", "inviter").order_by("pk"))


def _open(call_id: str, user: Any, device_id: str, extended_data: str = "") -> tuple[_Operation, CallUser | None]:
    call = _lock_call(call_id)
    op = _Operation(call=call, members=_members(call), actor=user, device_id=device_id, now=timezone.now(),
                    extended_data=extended_data)
    return op, op.member_of(user)


def _require_member(op: _Operation, member: CallUser | None) -> CallUser:
    if member is None:
        raise CallError("call_not_found")
    return member


def _require_started(op: _Operation) -> None:
    if op.call.state != CallState.STARTED:
        raise CallError("call_ended")


def _require_advanced(op: _Operation) -> None:
    if op.call.mode != CallMode.ADVANCED:
        raise CallError("not_advanced_mode")


def _open_as_accepted_member(call_id: str, user: Any, device_id: str, extended_data: str,
                             action: str) -> tuple[_Operation, CallUser]:
    """An advanced, running call and the user's Accepted membership in it."""
    op, member = _open(call_id, user, device_id, extended_data)
    member = _require_member(op, member)
    _require_advanced(op)
    _require_started(op)
    if member.state != S.ACCEPTED:
        raise CallError("invalid_state", f"only an Accepted member can {action}")
    return op, member


def _require_pending_in_time(op: _Operation, member: CallUser) -> None:
    if member.state not in PENDING:
        raise CallError("invalid_state", f"you are {S(member.state).name}, not a pending invitee")
    if member.deadline and member.deadline <= op.now:
        raise CallError("invalid_state", "the invitation has timed out")


def _online_user_ids(user_ids: Iterable[int]) -> set[int]:
    return set(Connection.objects.filter(user_id__in=list(user_ids)).values_list("user_id", flat=True))


def _resolve_invitees(op: _Operation, invitees: list[str]) -> tuple[list[Any], list[dict[str, str]]]:
    """Users who can be invited now, and errorInvitees for the others."""
    names = list(dict.fromkeys(invitees))
    if len(invitees) > MAX_INVITEES:  # counted as sent: a list of 10 is too long even with repeats
        raise CallError("too_many_participants", f"at most {MAX_INVITEES} invitees at once")
    found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    ok: list[Any] = []
    errors: list[dict[str, str]] = []
    for name in names:
        user = found.get(name)
        member = op.member_of(user) if user else None
        if user is None:
            errors.append({"userID": name, "reason": "user_not_found"})
        elif (member is not None and not states.can_transition(states.INVITE, member.state)) or (
            member is None and user.pk == op.call.caller_id  # callInvite: the caller is not a member row yet
        ):
            errors.append({"userID": name, "reason": "already_in_call_member"})
        else:
            ok.append(user)
    if not ok:
        raise CallError("no_invitee_registered", "none of the invitees can be invited: "
                        + ", ".join(f"{e['userID']} ({e['reason']})" for e in errors))
    new_users = [u for u in ok if op.member_of(u) is None]
    if len(op.members) + len(new_users) > settings.CALL_MAX_PARTICIPANTS:
        raise CallError("too_many_participants", f"a call has at most {settings.CALL_MAX_PARTICIPANTS} members")
    return ok, errors


def _invite(op: _Operation, users: list[Any], *, inviter: Any, timeout: int, not_received_check: bool,
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
        member.accepted_at = member.responded_at = member.quit_at = None
        member.device_id = ""
        op.move(member, states.INVITE, extended_data="")
        if user.pk in online:
            op.move(member, states.DELIVER)
        invited.append(member)
    # One job each for the whole operation: each job handles everything due at its time.
    op.after_save.append(lambda: scheduling.schedule_expiry(deadline))
    unreached = [m for m in invited if m.state == S.INVITING]
    if not_received_check and unreached:
        op.after_save.append(lambda: scheduling.schedule_not_received_check(op.now, unreached[0].pk))
    call = op.call
    received = {
        "callID": call.call_id,
        "mode": call.mode,
        "caller": call.caller.username,
        "inviter": inviter.username,
        "timeout": timeout,
        "deadline": ms(deadline),
        "createTime": ms(call.created_at),
        "extendedData": invitation_data,
        "callUserList": [member_dict(m) for m in op.members],
    }
    if push_config:
        received["pushConfig"] = push_config
    op.outbox.add([m.user_id for m in invited], event_frame("callInvitationReceived", op.seq(), received))
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
) -> dict[str, Any]:
    """callInvite: create a call with the user as caller (Accepted)."""
    ratelimit.invitation_attempt(user)
    with transaction.atomic():
        # Serializes one user's concurrent callInvite/callJoin for the already_in_call check.
        User.objects.select_for_update().filter(pk=user.pk).exists()
        if CallUser.objects.filter(user=user, state=S.ACCEPTED, call__state=CallState.STARTED).exists():
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
        op = _Operation(call=call, members=[], actor=user, device_id=device_id, now=now, extended_data=extended_data)
        users, errors = _resolve_invitees(op, invitees)
        online = _online_user_ids([user.pk] + [u.pk for u in users])
        call.watch_caller_presence = user.pk in online
        caller = CallUser(call=call, user=user, state=S.UNKNOWN)
        op.members.append(caller)
        op.move(caller, states.JOIN)
        _invite(op, users, inviter=user, timeout=timeout, not_received_check=enable_not_received_check,
                push_config=push_config, online=online)
        created = {
            "callID": call.call_id,
            "mode": call.mode,
            "caller": user.username,
            "extendedData": extended_data,
            "timeout": timeout,
            "createTime": ms(now),
            "callUserList": [member_dict(m) for m in op.members],
        }
        op.outbox.frames[user.pk].insert(0, event_frame("callInvitationCreated", op.seq(), created))
        op.finish()
    return {"callID": call.call_id, "timeout": timeout, "errorInvitees": errors, "createTime": ms(now)}


def call_cancel(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    invitees: list[str] | None = None,
    extended_data: str = "",
    push_config: dict | None = None,
) -> dict[str, Any]:
    """callCancel: the caller withdraws the invitation of some or all pending invitees."""
    with transaction.atomic():
        op, member = _open(call_id, user, device_id, extended_data)
        _require_member(op, member)
        _require_started(op)
        if op.call.caller_id != user.pk:
            raise CallError("not_caller")
        if any(m.accepted_at for m in op.members if m.user_id != op.call.caller_id):
            raise CallError("already_accepted")
        errors: list[dict[str, str]] = []
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
                    errors.append({"userID": name, "reason": "user_not_found"})
                elif target.state not in PENDING:
                    errors.append({"userID": name, "reason": "invalid_state"})
                else:
                    targets.append(target)
        _cancel(op, targets, reason="caller_cancel", push_config=push_config)
        op.finish()
    return {"callID": call_id, "errorInvitees": errors}


def _cancel(op: _Operation, targets: list[CallUser], *, reason: str, push_config: dict | None = None) -> None:
    for target in targets:
        op.move(target, states.CANCEL, reason=reason, extended_data=op.extended_data)
    if targets:
        data = {
            "callID": op.call.call_id,
            "inviter": op.call.caller.username,
            "mode": op.call.mode,
            "extendedData": op.extended_data,
        }
        if push_config:
            data["pushConfig"] = push_config
        op.outbox.add([t.user_id for t in targets], event_frame("callInvitationCancelled", op.seq(), data))


def _answer(*, user: Any, call_id: str, device_id: str, extended_data: str, operation: str, reason: str) -> dict:
    with transaction.atomic():
        op, member = _open(call_id, user, device_id, extended_data)
        member = _require_member(op, member)
        _require_started(op)
        if member.inviter_id is None:
            raise CallError("not_invited")
        _require_pending_in_time(op, member)
        op.move(member, operation, reason=reason, extended_data=extended_data)
        op.finish()
    return {"callID": call_id}


def call_accept(*, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "") -> dict[str, Any]:
    """callAccept: a pending invitee joins the call."""
    return _answer(user=user, call_id=call_id, device_id=device_id, extended_data=extended_data,
                   operation=states.ACCEPT, reason="")


def call_reject(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "", reason: str = "declined"
) -> dict[str, Any]:
    """callReject: a pending invitee declines (reason `declined` or `busy`)."""
    return _answer(user=user, call_id=call_id, device_id=device_id, extended_data=extended_data,
                   operation=states.REJECT, reason=reason)


def calling_invite(
    *,
    user: AbstractBaseUser,
    call_id: str,
    device_id: str = "",
    invitees: list[str],
    timeout: int = settings.CALL_DEFAULT_TIMEOUT_SECONDS,
    extended_data: str = "",
    push_config: dict | None = None,
) -> dict[str, Any]:
    """callingInvite: an Accepted member of an advanced call invites more users."""
    ratelimit.invitation_attempt(user)
    with transaction.atomic():
        op, _ = _open_as_accepted_member(call_id, user, device_id, extended_data, "invite")
        users, errors = _resolve_invitees(op, invitees)
        _invite(op, users, inviter=user, timeout=timeout, not_received_check=False, push_config=push_config)
        op.finish()
    return {"callID": call_id, "timeout": timeout, "errorInvitees": errors}


def call_join(*, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "") -> dict[str, Any]:
    """callJoin: enter an advanced call, or move it to this device."""
    with transaction.atomic():
        op, member = _open(call_id, user, device_id, extended_data)
        if member is None and op.call.mode != CallMode.ADVANCED:
            raise CallError("call_not_found")  # only an advanced call is open to non-members: others learn nothing
        _require_advanced(op)
        _require_started(op)
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
        return {
            "callID": call_id,
            "createTime": ms(op.call.created_at),
            "joinTime": ms(op.now),
            "callUserList": [member_dict(m) for m in op.members],
        }


def call_quit(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "",
    push_config: dict | None = None,
) -> dict[str, Any]:
    """callQuit: an Accepted member leaves an advanced call."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "quit")
        accepted_at = member.accepted_at
        op.move(member, states.QUIT, extended_data=extended_data)
        op.finish(operated_by=user.username)
        return {"callID": call_id, "createTime": ms(op.call.created_at), "acceptTime": ms(accepted_at),
                "quitTime": ms(op.now)}


def call_end(
    *, user: AbstractBaseUser, call_id: str, device_id: str = "", extended_data: str = "",
    push_config: dict | None = None,
) -> dict[str, Any]:
    """callEnd: an Accepted member ends an advanced call for everyone."""
    with transaction.atomic():
        op, member = _open_as_accepted_member(call_id, user, device_id, extended_data, "end the call")
        op.end(operated_by=user.username)
        op.finish()
        return {"callID": call_id, "createTime": ms(op.call.created_at), "acceptTime": ms(member.accepted_at),
                "endTime": ms(op.now)}


def call_end_by_operator(*, operator: AbstractBaseUser, call_id: str, extended_data: str = "") -> dict[str, Any]:
    """An operator (admin) ends a call of either mode; the log names the operator."""
    with transaction.atomic():
        op, _ = _open(call_id, operator, "admin", extended_data)
        _require_started(op)
        op.end(operated_by=operator.username)
        op.finish()
        return {"callID": call_id, "endTime": ms(op.now)}


# --- deadlines, delivery and presence -------------------------------------------------------


BATCH_SIZE = 200
# Operations that change only state, reason and extendedData (what _Batch.flush writes).
_BATCHABLE = frozenset({states.EXPIRE, states.CANCEL, states.DELIVER, states.NOT_RECEIVED})


@dataclass
class _Batch:
    """The writes and events of many operations, made in a few statements."""

    ops: list[_Operation] = field(default_factory=list)
    outbox: Outbox = field(default_factory=Outbox)

    def add(self, op: _Operation) -> None:
        self.ops.append(op)
        for user_id, frames in op.outbox.frames.items():
            self.outbox.frames[user_id].extend(frames)

    def flush(self) -> None:
        if not self.ops:
            return
        # Each operation took exactly one seq under its lock: seq + 1 in SQL, and
        # one UPDATE per outcome (bulk_update's CASE grows with rows x fields).
        outcomes: dict[tuple[int, Any, Any], list[int]] = defaultdict(list)
        for op in self.ops:
            outcomes[(op.call.state, op.call.ended_at, op.call.ended_by_id)].append(op.call.pk)
        for (state, ended_at, ended_by_id), pks in outcomes.items():
            Call.objects.filter(pk__in=pks).update(seq=F("seq") + 1, state=state, ended_at=ended_at,
                                                   ended_by_id=ended_by_id)
        # Batched operations (expire, deliver, not-received, cancel) change only
        # these three fields, and share a few values: one UPDATE per value.
        same: dict[tuple[int, str, str], list[int]] = defaultdict(list)
        for op in self.ops:
            for m in op.changed:
                same[(m.state, m.reason, m.extended_data)].append(m.pk)
        for (state, reason, extended_data), pks in same.items():
            CallUser.objects.filter(pk__in=pks).update(state=state, reason=reason, extended_data=extended_data)
        CallEvent.objects.bulk_create([row for op in self.ops for row in op.log])
        self.outbox.send_on_commit()
        for op in self.ops:
            for hook in op.after_save:
                hook()


def _each_call_locked(call_pks: Iterable[int], work: Callable[[_Operation], int], *,
                      skip_locked: bool = False) -> int:
    """Run work(op) for each running call, BATCH_SIZE calls per transaction,
    each call under its row lock. With skip_locked, a call another
    transaction holds is left for the next run (sweeps and jobs share work)."""
    done = 0
    pks = sorted(set(call_pks))
    for start in range(0, len(pks), BATCH_SIZE):
        with transaction.atomic():
            calls = list(Call.objects.select_for_update(skip_locked=skip_locked, of=("self",))
                         .select_related("caller").filter(pk__in=pks[start:start + BATCH_SIZE],
                                                          state=CallState.STARTED).order_by("pk"))
            members: dict[int, list[CallUser]] = defaultdict(list)
            for member in CallUser.objects.filter(call__in=calls).select_related("user", "inviter").order_by("pk"):
                members[member.call_id].append(member)
            batch = _Batch()
            now = timezone.now()
            for call in calls:
                op = _Operation(call=call, members=members[call.pk], actor=None, device_id="", now=now, batch=batch)
                done += work(op)
                op.finish()  # operatedUserID: the acting user if any (caller_offline), else ""
            batch.flush()
    return done


def invitations_expire_due(*, call_id: str | None = None, user: Any = None) -> int:
    """Time out every pending invitee whose deadline has passed; returns how many."""
    due = CallUser.objects.filter(state__in=list(PENDING), deadline__lte=timezone.now(), call__state=CallState.STARTED)
    if call_id is not None:
        if "\x00" in call_id:  # no such call (and PostgreSQL refuses NUL in text)
            return 0
        due = due.filter(call__call_id=call_id)
    if user is not None:
        due = due.filter(call__members__user=user)

    def expire(op: _Operation) -> int:
        overdue = [m for m in op.pending() if m.deadline and m.deadline <= op.now]
        for member in overdue:
            op.move(member, states.EXPIRE, reason="timeout")
            op.outbox.add([member.user_id], event_frame("callInvitationTimeout", op.seq(),
                                                        {"callID": op.call.call_id, "mode": op.call.mode}))
        return len(overdue)

    if call_id is not None or user is not None:  # a read path: this call, now
        return _each_call_locked(due.values_list("call_id", flat=True), expire)
    total = 0
    for _ in range(50):  # bounded: a job or sweep must return
        pks = list(due.values_list("call_id", flat=True)[:BATCH_SIZE * 5])
        done = _each_call_locked(pks, expire, skip_locked=True) if pks else 0
        total += done
        if not done:
            break
    return total


def invitations_mark_not_received() -> int:
    """enableNotReceivedCheck: invitees still Inviting after the check delay."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    due = CallUser.objects.filter(state=S.INVITING, not_received_check=True, invited_at__lte=cutoff,
                                  call__state=CallState.STARTED)

    def mark(op: _Operation) -> int:
        late = [m for m in op.members if m.state == S.INVITING and m.not_received_check and m.invited_at <= cutoff
                and not (m.deadline and m.deadline <= op.now)]
        for member in late:
            op.move(member, states.NOT_RECEIVED)
        return len(late)

    return _each_call_locked(due.values_list("call_id", flat=True)[:1000], mark, skip_locked=True)


def invitations_deliver(*, user: AbstractBaseUser) -> int:
    """A device of `user` connected: its waiting invitations become Received."""
    waiting = CallUser.objects.filter(user=user, state__in=[S.INVITING, S.NOT_YET_RECEIVED],
                                      deadline__gt=timezone.now(), call__state=CallState.STARTED)

    def deliver(op: _Operation) -> int:
        mine = [m for m in op.members if m.user_id == user.pk and m.state in (S.INVITING, S.NOT_YET_RECEIVED)
                and m.deadline and m.deadline > op.now]
        for member in mine:
            op.move(member, states.DELIVER)
        return len(mine)

    return _each_call_locked(waiting.values_list("call_id", flat=True), deliver)


def callers_offline_cancel(*, user_id: int | None = None) -> int:
    """Cancel calls whose caller has been without a device for the heartbeat timeout."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    calls = Call.objects.filter(state=CallState.STARTED, watch_caller_presence=True,
                                caller__presence__last_offline_at__lte=cutoff).exclude(
        caller__connections__isnull=False)
    if user_id is not None:
        calls = calls.filter(caller_id=user_id)

    def cancel(op: _Operation) -> int:
        caller_id = op.call.caller_id
        if Connection.objects.filter(user_id=caller_id).exists():
            return 0
        if any(m.accepted_at for m in op.members if m.user_id != caller_id):
            return 0
        targets = op.pending()
        if not targets:
            return 0
        op.actor = op.call.caller
        _cancel(op, targets, reason="caller_offline")
        if op.call.mode == CallMode.ADVANCED:
            # the caller is gone and nobody answered: nothing is left of the call
            op.end(operated_by=op.call.caller.username)
        return len(targets)

    return _each_call_locked(calls.values_list("pk", flat=True)[:1000], cancel)


def connection_open(*, user: AbstractBaseUser, device_id: str, channel_name: str, server_id: str) -> None:
    """Register a WebSocket and deliver the invitations waiting for the user."""
    with transaction.atomic():
        first = not Connection.objects.filter(user=user).exists()
        Connection.objects.create(user=user, device_id=device_id, channel_name=channel_name, server_id=server_id,
                                  connected_at=timezone.now())
        if first:
            push_presence_on_commit(user.username, True)
    invitations_deliver(user=user)


def connection_close(*, channel_name: str) -> None:
    """Forget a WebSocket; the user's last one starts the caller-offline clock."""
    with transaction.atomic():
        connection = Connection.objects.select_related("user").filter(channel_name=channel_name).first()
        if connection is None:
            return
        connection.delete()
        _user_went_offline_if_last(connection.user, timezone.now())


def _user_went_offline_if_last(user: Any, at: datetime) -> None:
    if Connection.objects.filter(user=user).exists():
        return
    UserPresence.objects.update_or_create(user=user, defaults={"last_offline_at": at})
    push_presence_on_commit(user.username, False)
    if Call.objects.filter(caller=user, state=CallState.STARTED, watch_caller_presence=True).exists():
        scheduling.schedule_caller_offline_check(user.pk, at)


def server_process_heartbeat(*, server_id: str, host: str, pid: int) -> None:
    now = timezone.now()
    ServerProcess.objects.update_or_create(
        server_id=server_id, defaults={"host": host, "pid": pid, "last_seen": now}, create_defaults={
            "host": host, "pid": pid, "last_seen": now, "started_at": now})


def server_process_stopped(*, server_id: str) -> None:
    """A web process shuts down cleanly: its connections are gone."""
    _drop_server_process(server_id, timezone.now())


def server_processes_reap() -> int:
    """Drop the connections of web processes that stopped proving they live (killed)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALL_SERVER_STALE_SECONDS)
    stale = list(ServerProcess.objects.filter(last_seen__lt=cutoff).values_list("server_id", "last_seen"))
    for server_id, last_seen in stale:
        _drop_server_process(server_id, last_seen)
    return len(stale)


def _drop_server_process(server_id: str, offline_at: datetime) -> None:
    with transaction.atomic():
        users = list(User.objects.filter(connections__server_id=server_id).distinct())
        ServerProcess.objects.filter(server_id=server_id).delete()  # cascades to its connections
        for user in users:
            _user_went_offline_if_last(user, offline_at)


def sweep() -> dict[str, int]:
    """Everything a lost or late job would have done. Safe to run anywhere, any time."""
    return {
        "reaped_servers": server_processes_reap(),
        "expired": invitations_expire_due(),
        "not_received": invitations_mark_not_received(),
        "caller_offline": callers_offline_cancel(),
    }


# --- tokens -------------------------------------------------------------------------------------


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new bearer token; only its hash is kept, so the token is shown once."""
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=hash_token(raw))
    return raw


def api_token_revoke(*, user: AbstractBaseUser, raw_token: str) -> bool:
    """Revoke one of the user's tokens, given the token itself; False if it is not theirs."""
    return ApiToken.objects.filter(user=user, key_hash=hash_token(raw_token), revoked=False).update(revoked=True) > 0
